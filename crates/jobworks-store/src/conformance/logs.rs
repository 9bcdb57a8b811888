//! Conformance: log lines: append, read back, page.

use super::{at, manual, sample_spec};
use crate::*;

/// Logs append and read back in order, resumable by sequence number.
pub async fn logs_round_trip<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("logs"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claim = store
        .claim("w", &crate::ClaimScope::Pool, 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    let lines: Vec<NewLogLine> = (0..400)
        .map(|i| NewLogLine {
            attempt_id: claim.attempt_id,
            run_id: claim.run_id,
            at: at(2),
            stream: if i % 2 == 0 {
                LogStream::Stdout
            } else {
                LogStream::Stderr
            },
            text: format!("line {i} ✓"),
        })
        .collect();
    let seqs = store.append_logs(lines).await.expect("append");
    assert_eq!(seqs.len(), 400, "one sequence number per line");
    let first = store.read_logs(claim.run_id, 0, 100).await.expect("read");
    assert_eq!(first.len(), 100);
    assert_eq!(first[0].text, "line 0 ✓");
    assert_eq!(first[1].stream, LogStream::Stderr);
    let rest = store
        .read_logs(claim.run_id, first[99].seq, 1000)
        .await
        .expect("read");
    assert_eq!(rest.len(), 300);
    assert_eq!(rest[299].text, "line 399 ✓");
    // the returned numbers are the stored lines' own, in the order given
    let stored: Vec<i64> = first.iter().chain(&rest).map(|l| l.seq).collect();
    assert_eq!(seqs, stored);
}
