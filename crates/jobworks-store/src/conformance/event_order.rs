//! Conformance: one run's timestamps are monotonic, also for a tick fired ahead of its time.

use super::{at, finish, sample_spec};
use crate::*;
use chrono::Duration;
use jobworks_domain::{AttemptState, TriggerKind};

/// A tick fired 15 ms ahead of its time and claimed 10 ms ahead (the scheduler's and the
/// dispatcher's look-ahead) keeps `queued_at ≤ started_at ≤ ended_at`, its events stamped in
/// order with `queued` first at `queued_at`, and its attempt inside the run's span.
pub async fn early_ticks_keep_event_order<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("early"), Some(at(60)), at(0))
        .await
        .expect("apply");
    let tick = at(60);
    let fired_at = tick - Duration::milliseconds(15);
    let run = NewRun {
        job_id: job.job_id,
        job_version: job.version,
        trigger: TriggerKind::Schedule,
        scheduled_at: Some(tick),
        params: serde_json::json!({}),
        triggered_by: "scheduler".into(),
        skip_reason: None,
        max_active: None,
    };
    store
        .fire_ticks(job.job_id, tick, Some(at(120)), vec![run], fired_at, None)
        .await
        .expect("fire")
        .expect("cas holds");
    let claimed_at = tick - Duration::milliseconds(10);
    let claims = store
        .claim(
            "w1",
            &crate::ClaimScope::Pool,
            1,
            10_000,
            claimed_at,
            tick + Duration::milliseconds(20),
        )
        .await
        .expect("claim");
    assert_eq!(
        claims.len(),
        1,
        "a run due within the look-ahead is claimed"
    );
    store
        .mark_started(vec![(claims[0].attempt_id, Some(42), tick)])
        .await
        .expect("start");
    let ended_at = tick + Duration::milliseconds(3);
    store
        .finish_attempts(vec![finish(
            &claims[0],
            "w1",
            AttemptState::Succeeded,
            ended_at,
        )])
        .await
        .expect("finish");
    let detail = store.get_run(claims[0].run_id).await.expect("run");
    let run = &detail.run;
    let started = run.started_at.expect("started");
    let ended = run.ended_at.expect("ended");
    assert_eq!(
        run.queued_at, fired_at,
        "queued_at is when the tick was fired"
    );
    assert!(run.queued_at <= started, "queued after start: {detail:?}");
    assert!(started <= ended, "started after end: {detail:?}");
    for attempt in &detail.attempts {
        let attempt_started = attempt.started_at.expect("attempt started");
        assert!(started <= attempt_started, "attempt before run: {detail:?}");
        assert!(
            attempt.ended_at.is_some_and(|end| end <= ended),
            "attempt after run: {detail:?}"
        );
    }
    assert_eq!(detail.events[0].to_state, "queued", "{detail:?}");
    assert_eq!(detail.events[0].at, run.queued_at, "{detail:?}");
    assert!(
        detail
            .events
            .windows(2)
            .all(|pair| pair[0].at <= pair[1].at),
        "events out of order: {:?}",
        detail.events
    );
}
