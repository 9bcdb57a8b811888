//! Conformance: what workers report besides finishes (`mark_started`, `renew_leases`) and
//! what the scheduler, API and dashboard read (`next_due_at`, `set_paused`, `job_versions`,
//! `count_runs`, `list_runs`, `run_counts`, `read_logs`, `get_run`).

use super::{at, finish, manual, queued_id, sample_spec};
use crate::*;
use jobworks_domain::{AttemptId, AttemptState, RunId, RunState};

/// `mark_started` records pid and start time of running attempts in one call and leaves
/// attempts that are no longer running alone.
pub async fn mark_started_records_pids<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("started"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job), manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claims = store
        .claim("w", &crate::ClaimScope::Pool, 3, 60_000, at(1), at(1))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 3);
    store
        .finish_attempts(vec![finish(&claims[2], "w", AttemptState::Failed, at(2))])
        .await
        .expect("finish");
    store
        .mark_started(vec![
            (claims[0].attempt_id, Some(101), at(2)),
            (claims[1].attempt_id, None, at(3)),
            (claims[2].attempt_id, Some(103), at(4)),
        ])
        .await
        .expect("mark started");
    let attempt = |i: usize| {
        let run = claims[i].run_id;
        async move {
            let detail = store.get_run(run).await.expect("run");
            assert_eq!(detail.attempts.len(), 1);
            detail.attempts[0].clone()
        }
    };
    let first = attempt(0).await;
    assert_eq!((first.pid, first.started_at), (Some(101), Some(at(2))));
    assert_eq!(first.state, AttemptState::Running);
    let second = attempt(1).await;
    assert_eq!((second.pid, second.started_at), (None, Some(at(3))));
    let ended = attempt(2).await;
    assert_eq!(
        (ended.pid, ended.started_at),
        (Some(42), Some(at(2))),
        "an ended attempt keeps what its finish recorded"
    );
    store
        .mark_started(Vec::new())
        .await
        .expect("an empty batch is fine");
}

/// `renew_leases` extends leases its worker holds, says `held: false` for attempts it does
/// not hold (another worker's, lost, finished, unknown) and reports pending cancels.
pub async fn renew_leases_held_lost_and_cancelled<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("leased"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job), manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let mine = store
        .claim("w1", &crate::ClaimScope::Pool, 2, 10_000, at(1), at(1))
        .await
        .expect("claim");
    let theirs = store
        .claim("w2", &crate::ClaimScope::Pool, 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    store
        .request_cancel(mine[1].run_id, "by test", at(2))
        .await
        .expect("cancel");
    let ids = [
        mine[0].attempt_id,
        mine[1].attempt_id,
        theirs.attempt_id,
        AttemptId(9_999),
    ];
    let status = store
        .renew_leases("w1", &ids, 30_000, at(5))
        .await
        .expect("renew");
    let by_id = |id: AttemptId| {
        status
            .iter()
            .find(|s| s.attempt_id == id)
            .unwrap_or_else(|| panic!("no status for {id:?}: {status:?}"))
            .clone()
    };
    let held = by_id(mine[0].attempt_id);
    assert!(held.held && !held.cancel_requested, "{held:?}");
    let cancelling = by_id(mine[1].attempt_id);
    assert!(
        cancelling.held && cancelling.cancel_requested,
        "{cancelling:?}"
    );
    assert!(
        !by_id(theirs.attempt_id).held,
        "another worker's lease is not held"
    );
    if let Some(unknown) = status.iter().find(|s| s.attempt_id == AttemptId(9_999)) {
        assert!(!unknown.held, "an unknown attempt is not held");
    }
    let detail = store.get_run(mine[0].run_id).await.expect("run");
    assert_eq!(
        detail.attempts[0].lease_expires_at,
        Some(at(35)),
        "renewed to now + lease_ms"
    );
    let other = store.get_run(theirs.run_id).await.expect("run");
    assert_eq!(
        other.attempts[0].lease_expires_at,
        Some(at(11)),
        "another worker's renewal leaves the lease alone"
    );

    // w2 never renewed: its lease expires and is reaped, then it is not held
    let lost = store
        .expire_leases(at(12), &|_, _| None)
        .await
        .expect("expire");
    assert_eq!(lost.len(), 1, "only w2's lease expired: {lost:?}");
    assert_eq!(lost[0].run_state, RunState::Failed);
    let after = store
        .renew_leases("w2", &[theirs.attempt_id], 30_000, at(12))
        .await
        .expect("renew");
    assert!(!after[0].held);
    store
        .finish_attempts(vec![finish(
            &mine[0],
            "w1",
            AttemptState::Succeeded,
            at(13),
        )])
        .await
        .expect("finish");
    let finished = store
        .renew_leases("w1", &[mine[0].attempt_id], 30_000, at(14))
        .await
        .expect("renew");
    assert!(!finished[0].held, "a finished attempt holds no lease");
}

/// `set_paused` (with `JobNotFound`), `next_due_at` (none in a new store, the earliest active
/// schedule, paused and manual-only jobs ignored) and `job_versions` (`JobNotFound`).
pub async fn schedules_pause_and_next_due<S: Store>(store: &S) {
    assert_eq!(store.next_due_at().await.expect("next"), None);
    store
        .apply_job(&sample_spec("late"), Some(at(120)), at(0))
        .await
        .expect("apply");
    store
        .apply_job(&sample_spec("early"), Some(at(60)), at(0))
        .await
        .expect("apply");
    let mut manual_only = sample_spec("manual");
    manual_only.trigger = None;
    store
        .apply_job(&manual_only, None, at(0))
        .await
        .expect("apply");
    assert_eq!(store.next_due_at().await.expect("next"), Some(at(60)));
    let paused = store
        .set_paused("early", true, None, at(1))
        .await
        .expect("pause");
    assert!(paused.paused);
    assert!(store.get_job("early").await.expect("get").paused);
    assert_eq!(
        store.next_due_at().await.expect("next"),
        Some(at(120)),
        "a paused job is not due"
    );
    let due: Vec<String> = store
        .due_schedules(at(600), 10)
        .await
        .expect("due")
        .into_iter()
        .map(|d| d.spec.schedule_header().name.to_owned())
        .collect();
    assert_eq!(due, ["late"]);
    store
        .set_paused("early", false, Some(at(90)), at(2))
        .await
        .expect("resume");
    assert_eq!(store.next_due_at().await.expect("next"), Some(at(90)));
    let due = store.due_schedules(at(600), 1).await.expect("due");
    assert_eq!(due.len(), 1, "at most `limit`");
    assert_eq!(due[0].next_fire_at, at(90), "earliest first");
    assert!(matches!(
        store.set_paused("nope", true, None, at(3)).await,
        Err(StoreError::JobNotFound(_))
    ));
    assert!(matches!(
        store.job_versions("nope").await,
        Err(StoreError::JobNotFound(_))
    ));
    let versions = store.job_versions("early").await.expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(
        (versions[0].version, versions[0].created_at),
        (1, at(0)),
        "pausing is not a new version"
    );
}

/// `count_runs` counts what `list_runs` filters (job, states, since/until, before_id),
/// ignoring `limit`; `run_counts` lists every state and counts ready runs at `now`.
pub async fn count_and_list_runs_with_filters<S: Store>(store: &S) {
    let a = store
        .apply_job(&sample_spec("a"), None, at(0))
        .await
        .expect("apply");
    let b = store
        .apply_job(&sample_spec("b"), None, at(0))
        .await
        .expect("apply");
    let mut ids = Vec::new();
    for t in 0..5 {
        let out = store
            .enqueue_runs(vec![manual(&a), manual(&b)], at(t * 10))
            .await
            .expect("enqueue");
        ids.extend(out.iter().map(queued_id));
    }
    let claims = store
        .claim("w", &crate::ClaimScope::Pool, 3, 60_000, at(50), at(50))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 3);
    store
        .finish_attempts(vec![
            finish(&claims[0], "w", AttemptState::Succeeded, at(51)),
            finish(&claims[1], "w", AttemptState::Failed, at(51)),
        ])
        .await
        .expect("finish");
    let filter = |f: RunFilter| RunFilter { limit: 100, ..f };
    let count = |f: RunFilter| async move { store.count_runs(&f).await.expect("count") };
    assert_eq!(count(RunFilter::default()).await, 10);
    let only_a = RunFilter {
        job: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(count(only_a.clone()).await, 5);
    let listed = store
        .list_runs(&filter(only_a.clone()))
        .await
        .expect("list");
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|r| r.job_name == "a"));
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let ended = RunFilter {
        states: vec![RunState::Succeeded, RunState::Failed],
        ..Default::default()
    };
    assert_eq!(count(ended).await, 2);
    let running = RunFilter {
        states: vec![RunState::Running],
        ..Default::default()
    };
    assert_eq!(count(running).await, 1);
    let window = RunFilter {
        since: Some(at(10)),
        until: Some(at(30)),
        ..Default::default()
    };
    assert_eq!(count(window).await, 4, "queued at 10 s and 20 s, both jobs");
    let page = RunFilter {
        limit: 3,
        ..Default::default()
    };
    let first = store.list_runs(&page).await.expect("page");
    assert_eq!(first.len(), 3);
    assert_eq!(count(page.clone()).await, 10, "limit is ignored");
    let rest = RunFilter {
        before_id: Some(first[2].id),
        ..page
    };
    assert_eq!(count(rest.clone()).await, 7);
    let second = store.list_runs(&rest).await.expect("page 2");
    assert!(second.iter().all(|r| r.id < first[2].id));
    assert_eq!(second.len(), 3);
    assert_eq!(
        count(RunFilter {
            job: Some("nope".into()),
            ..Default::default()
        })
        .await,
        0
    );

    let mut retry = finish(&claims[2], "w", AttemptState::Failed, at(52));
    retry.retry_at = Some(at(100));
    store.finish_attempts(vec![retry]).await.expect("retry");
    let counts = store.run_counts(at(60)).await.expect("counts");
    for state in RunState::ALL {
        assert!(
            counts.by_state.iter().any(|(s, _)| *s == state),
            "{state:?} listed"
        );
    }
    let of = |state: RunState| {
        counts
            .by_state
            .iter()
            .find(|(s, _)| *s == state)
            .map(|(_, n)| *n)
            .unwrap_or_default()
    };
    assert_eq!(
        (
            of(RunState::Queued),
            of(RunState::Running),
            of(RunState::Succeeded),
            of(RunState::Failed)
        ),
        (8, 0, 1, 1)
    );
    assert_eq!(counts.ready, 7, "the retry waits until 100 s");
    assert_eq!(store.run_counts(at(100)).await.expect("counts").ready, 8);
}

/// `read_logs` pages with `after_seq` and `limit`, reads only its run's lines, and returns
/// nothing past the end or for a run without lines.
pub async fn read_logs_pages_per_run<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("pages"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claims = store
        .claim("w", &crate::ClaimScope::Pool, 2, 60_000, at(1), at(1))
        .await
        .expect("claim");
    let line = |c: &Claim, text: String| NewLogLine {
        attempt_id: c.attempt_id,
        run_id: c.run_id,
        at: at(2),
        stream: LogStream::System,
        text,
    };
    // interleave the two runs' lines in one batch
    let lines: Vec<NewLogLine> = (0..10)
        .flat_map(|i| {
            [
                line(&claims[0], format!("a{i}")),
                line(&claims[1], format!("b{i}")),
            ]
        })
        .collect();
    let seqs = store.append_logs(lines).await.expect("append");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing");
    let mut after = 0;
    let mut texts = Vec::new();
    loop {
        let page = store
            .read_logs(claims[0].run_id, after, 3)
            .await
            .expect("read");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = last.seq;
        assert_eq!(page[0].stream, LogStream::System);
        assert_eq!(page[0].attempt_id, claims[0].attempt_id);
        assert_eq!(page[0].task, None, "a job run's lines have no task");
        texts.extend(page.into_iter().map(|l| l.text));
    }
    let expected: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    assert_eq!(texts, expected, "only this run's lines, in order");
    assert!(
        store
            .read_logs(claims[1].run_id, seqs[19], 10)
            .await
            .expect("read")
            .is_empty(),
        "nothing past the end"
    );
    assert!(
        store
            .read_logs(RunId(9_999), 0, 10)
            .await
            .expect("read")
            .is_empty()
    );
}

/// `get_run` of a run retried once: its `main` task, both attempts oldest first with what
/// their finishes recorded, and every transition in order with its attempt; `RunNotFound`
/// for an unknown run.
pub async fn get_run_details<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("detail"), None, at(0))
        .await
        .expect("apply");
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&job)], at(0))
            .await
            .expect("enqueue")[0],
    );
    let first = store
        .claim("w", &crate::ClaimScope::Pool, 1, 60_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    let mut failed = finish(&first, "w", AttemptState::Failed, at(2));
    failed.retry_at = Some(at(3));
    failed.error = Some("exit 1".into());
    store.finish_attempts(vec![failed]).await.expect("finish");
    let second = store
        .claim("w", &crate::ClaimScope::Pool, 1, 60_000, at(3), at(3))
        .await
        .expect("claim")
        .remove(0);
    store
        .finish_attempts(vec![finish(&second, "w", AttemptState::Succeeded, at(4))])
        .await
        .expect("finish");

    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.id, run);
    assert_eq!(detail.run.kind, DefinitionKind::Job);
    assert_eq!(detail.run.job_name, "detail");
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(detail.run.attempts, 2);
    assert_eq!(
        (detail.run.queued_at, detail.run.ended_at),
        (at(0), Some(at(4)))
    );
    assert_eq!(detail.tasks.len(), 1);
    assert_eq!(detail.tasks[0].task.as_str(), "main");
    assert_eq!(detail.tasks[0].attempts, 2);
    let attempts: Vec<(i64, AttemptState, Option<i32>)> = detail
        .attempts
        .iter()
        .map(|a| (a.attempt_no, a.state, a.exit_code))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, AttemptState::Failed, Some(1)),
            (2, AttemptState::Succeeded, Some(0))
        ]
    );
    let a = &detail.attempts[0];
    assert_eq!((a.id, a.worker.as_str()), (first.attempt_id, "w"));
    assert_eq!((a.claimed_at, a.ended_at), (at(1), Some(at(2))));
    assert_eq!(a.error.as_deref(), Some("exit 1"));
    assert_eq!(
        (a.user_cpu_ms, a.system_cpu_ms, a.max_rss_bytes),
        (Some(1), Some(1), Some(1024))
    );
    let events: Vec<(Option<&str>, &str)> = detail
        .events
        .iter()
        .map(|e| (e.from_state.as_deref(), e.to_state.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (None, "queued"),
            (Some("queued"), "running"),
            (Some("running"), "queued"),
            (Some("queued"), "running"),
            (Some("running"), "succeeded"),
        ]
    );
    assert!(detail.events.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(detail.events[4].attempt_id, Some(second.attempt_id));
    assert!(matches!(
        store.get_run(RunId(9_999)).await,
        Err(StoreError::RunNotFound(9_999))
    ));
}
