//! The scheduler: fires due cron and interval ticks into the durable queue.
//!
//! Each tick moves a job's `next_fire_at` and inserts its runs in one transaction
//! (`Store::fire_ticks`), so a tick is recorded before anything runs, fires at most once, and
//! a crash at any point loses nothing: the next start finds `next_fire_at` still due. Store
//! errors are retried with backoff and published to `/readyz`; the loop never stops silently.

use crate::health::Health;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use jobworks_domain::{ParamSpec, ScheduleHeader, TriggerKind, TriggerSpec};
use jobworks_schedule::{CronExpr, Schedule, TickPlan, parse_timezone, plan_ticks};
use jobworks_store::{DueSchedule, EnqueueOutcome, NewRun, Store, StoreError};
use jobworks_worker::{LOOKAHEAD, Running};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest sleep between checks, so schedules applied by other servers are seen.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Schedules handled per store read.
const DUE_BATCH: u32 = 500;

/// The schedule of a job or workflow, or `None` for manual-only and disabled ones.
///
/// Errors: a message when the stored expression or time zone no longer parses (for example
/// a time zone removed from the tz database).
pub fn schedule_of(
    spec: ScheduleHeader<'_>,
    default_tz: Tz,
    anchor: DateTime<Utc>,
) -> Result<Option<Schedule>, String> {
    if !spec.enabled {
        return Ok(None);
    }
    match spec.trigger {
        None => Ok(None),
        Some(TriggerSpec::Cron { expr }) => {
            let tz = match spec.timezone {
                Some(name) => parse_timezone(name).map_err(|e| e.to_string())?,
                None => default_tz,
            };
            let expr = CronExpr::parse(expr).map_err(|e| e.to_string())?;
            Ok(Some(Schedule::Cron { expr, tz }))
        }
        Some(TriggerSpec::Every { interval_ms }) => Ok(Some(Schedule::Interval {
            every: Duration::from_millis((*interval_ms).max(1)),
            anchor,
        })),
    }
}

/// The first fire time after `now` of a job's or workflow's schedule (for apply and resume).
pub fn first_fire(
    spec: ScheduleHeader<'_>,
    default_tz: Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule_of(spec, default_tz, now)
        .ok()
        .flatten()
        .and_then(|s| s.next_after(now))
}

/// The runs to insert for one due schedule, and its new `next_fire_at`: on-time ticks and
/// catch-up ticks become queued runs; ticks the misfire policy drops become skipped runs with
/// the reason, so none is silently absent.
pub fn plan_due(
    due: &DueSchedule,
    schedule: &Schedule,
    now: DateTime<Utc>,
    misfire_threshold: Duration,
) -> (Vec<NewRun>, Option<DateTime<Utc>>) {
    let header = due.spec.schedule_header();
    let plan: TickPlan = plan_ticks(
        schedule,
        due.next_fire_at,
        now,
        header.misfire,
        header.max_catchup,
        misfire_threshold,
    );
    let defaults = default_params(header.params);
    let mut runs: Vec<NewRun> = Vec::with_capacity(plan.fire.len() + plan.skipped.len());
    let policy = serde_json::to_value(header.misfire)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    for at in &plan.skipped {
        runs.push(NewRun {
            scheduled_at: Some(*at),
            skip_reason: Some(format!(
                "misfire policy {policy}: tick missed while the server was down or overloaded"
            )),
            ..NewRun::new(
                due.job_id,
                due.version,
                TriggerKind::Schedule,
                defaults.clone(),
                "scheduler",
            )
        });
    }
    if plan.skipped_overflow > 0 {
        tracing::warn!(
            job = %header.name,
            ticks = plan.skipped_overflow,
            "more missed ticks than are recorded individually"
        );
    }
    for at in &plan.fire {
        runs.push(NewRun {
            scheduled_at: Some(*at),
            ..NewRun::new(
                due.job_id,
                due.version,
                TriggerKind::Schedule,
                defaults.clone(),
                "scheduler",
            )
        });
    }
    runs.sort_by_key(|r| r.scheduled_at);
    (runs, plan.next_fire_at)
}

/// Parameter defaults as a JSON object (scheduled runs take every parameter's default).
pub fn default_params(params: &[ParamSpec]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in params {
        if let Some(v) = &p.default {
            map.insert(p.name.clone(), serde_json::to_value(v).unwrap_or_default());
        }
    }
    serde_json::Value::Object(map)
}

/// The scheduler actor: owns what it needs and runs until shutdown.
pub struct Scheduler {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where tick success and errors are published for `/readyz`.
    pub health: Arc<Health>,
    /// Zone for cron schedules that name none.
    pub default_tz: Tz,
    /// Ticks later than this are misfires.
    pub misfire_threshold: Duration,
    /// Notified when schedules change (apply, resume).
    pub wake: Arc<Notify>,
    /// Notified when runs were queued.
    pub dispatch: Arc<Notify>,
    /// Attempts running here, to stop runs replaced by a newer tick at once.
    pub running: Arc<Running>,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// Ticks fire only while this server leads, fenced with its epoch.
    pub leader: crate::leader::Leader,
}

impl Scheduler {
    /// Runs the scheduler until `shutdown`: while this server leads, fires due ticks fenced
    /// with its epoch; a `NotLeader` refusal deposes it at once, and it waits to lead again.
    pub async fn run(self, shutdown: CancellationToken) {
        let Scheduler {
            store,
            health,
            default_tz,
            misfire_threshold,
            wake,
            dispatch,
            running,
            clock,
            leader,
        } = self;
        let mut backoff = Duration::from_millis(100);
        let mut leading = leader.watch();
        loop {
            let Some(epoch) = *leading.borrow_and_update() else {
                if crate::leader::until_leading(&mut leading, &shutdown)
                    .await
                    .is_none()
                {
                    return;
                }
                continue;
            };
            let now = clock.now();
            // fire ticks up to LOOKAHEAD early: each run is durably queued with its tick as
            // not-before, and the dispatcher starts it exactly on time
            let horizon = now + LOOKAHEAD;
            let sleep = match tick(
                &*store,
                default_tz,
                misfire_threshold,
                Fire {
                    now,
                    horizon,
                    fence: epoch,
                },
                &dispatch,
                &running,
            )
            .await
            {
                Ok(next) => {
                    health.tick_ok(now);
                    backoff = Duration::from_millis(100);
                    match next.map(|at| at - LOOKAHEAD) {
                        Some(at) if at <= clock.now() => Duration::ZERO,
                        Some(at) => (at - clock.now())
                            .to_std()
                            .unwrap_or_default()
                            .min(MAX_SLEEP),
                        None => MAX_SLEEP,
                    }
                }
                Err(StoreError::NotLeader(stale)) => {
                    leader.deposed(stale);
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "scheduler tick failed");
                    health.tick_failed(e.to_string());
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    wait
                }
            };
            if sleep.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = wake.notified() => {}
                _ = leading.changed() => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// The two times of one scheduler pass.
#[derive(Clone, Copy, Debug)]
struct Fire {
    /// The wall clock when the pass began: what the queued runs and their `queued` events are
    /// stamped with, so a run fired ahead of its tick is queued before it starts.
    now: DateTime<Utc>,
    /// `now` plus [`LOOKAHEAD`]: ticks due by then are fired in this pass.
    horizon: DateTime<Utc>,
    /// The leader epoch every `fire_ticks` carries.
    fence: i64,
}

/// Fires every tick due by `fire.horizon`, stamped `fire.now`; returns the next due time.
async fn tick(
    store: &dyn Store,
    default_tz: Tz,
    misfire_threshold: Duration,
    fire: Fire,
    dispatch: &Notify,
    running: &Running,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Fire {
        now,
        horizon,
        fence,
    } = fire;
    loop {
        let due = store.due_schedules(horizon, DUE_BATCH).await?;
        let full = due.len() as u32 == DUE_BATCH;
        for d in &due {
            let schedule = match schedule_of(
                d.spec.schedule_header(),
                default_tz,
                d.schedule_anchor_at,
            ) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    store
                        .fire_ticks(d.job_id, d.next_fire_at, None, Vec::new(), now, Some(fence))
                        .await?;
                    continue;
                }
                Err(e) => {
                    tracing::error!(job = %d.spec.schedule_header().name, error = %e, "schedule no longer valid; job will not fire");
                    store
                        .fire_ticks(d.job_id, d.next_fire_at, None, Vec::new(), now, Some(fence))
                        .await?;
                    continue;
                }
            };
            // ticks are planned against the horizon (the look-ahead fires them early) but
            // stamped with the real clock: `queued_at` ≤ `scheduled_at` ≤ the process start
            let (runs, next) = plan_due(d, &schedule, horizon, misfire_threshold);
            let fired = store
                .fire_ticks(d.job_id, d.next_fire_at, next, runs, now, Some(fence))
                .await?;
            for outcome in fired.iter().flatten() {
                if let EnqueueOutcome::Queued { replaced, .. } = outcome {
                    // concurrency policy `replace`: stop the older runs now if they run here
                    // (elsewhere their workers see the pending cancel at the next renewal)
                    for old in replaced {
                        running.cancel_run(*old);
                    }
                    dispatch.notify_one();
                }
            }
        }
        if !full {
            break;
        }
    }
    store.next_due_at().await
}
