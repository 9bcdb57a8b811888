//! Self-fencing: a worker that cannot confirm its leases stops its attempts before the
//! control plane may give them to someone else, so an attempt and its replacement never run
//! at once (issue 9, "Node loss, partitions and edge links").
//!
//! The control plane declares an attempt lost once its lease (`lease`) runs out unrenewed and
//! then retries it elsewhere. Every attempt here remembers when its lease was last
//! *confirmed* held: the claim's answer, then the instant each successful renewal was *sent*
//! (the control plane extends the lease from when it handles the request, which is never
//! earlier, so the lease it holds runs at least until `confirmed + lease`). Once an attempt
//! has gone `max_disconnect` without a confirmation, the worker stops it (SIGTERM, SIGKILL
//! after the kill grace). Its process is therefore gone by
//! `confirmed + max_disconnect + kill_grace`, which the default keeps under
//! `confirmed + lease` by a margin of a sixth of the lease:
//!
//! * the margin absorbs the one-way delay of a claim's answer (a claim is confirmed when the
//!   answer arrives, after the control plane started the lease), the reaper's own clock
//!   running ahead (rate drift is a few hundred ppm at worst under NTP: 3 ms on a 10 s lease),
//!   and scheduling delays of the worker's timers; it does not absorb a wall-clock *step*
//!   on the control plane's host, which leases are measured on there;
//! * elapsed time here is measured on the monotonic clock, so a step of this host's wall
//!   clock neither delays nor hastens fencing, and a worker frozen for a while (SIGSTOP,
//!   a suspended VM) fences at once when it resumes.
//!
//! Renewals are sent every third of `max_disconnect` (so one lost renewal does not fence),
//! and a failed one is retried every twelfth of it. These functions decide; the pool does
//! the I/O (`Pool::keep_leases`).

use jobworks_domain::AttemptId;
use std::time::Duration;
use tokio::time::Instant;

/// The default `max_disconnect` for a lease of `lease` and a kill grace of `kill_grace`:
/// two thirds of the lease, shortened so that `max_disconnect + kill_grace` stays a sixth of
/// the lease under it (see the module doc), but never under a third of the lease (a kill
/// grace that long leaves no room: [`check_max_disconnect`] then warns).
///
/// The server's defaults (10 s lease, 5 s kill grace) give 3.33 s; a 30 s lease with a 5 s
/// grace gives 20 s.
pub fn default_max_disconnect(lease: Duration, kill_grace: Duration) -> Duration {
    let two_thirds = lease * 2 / 3;
    let room = lease.saturating_sub(lease / 6).saturating_sub(kill_grace);
    two_thirds.min(room).max(lease / 3)
}

/// Checks a `max_disconnect` against the lease and kill grace. `Ok(None)`: fine;
/// `Ok(Some(warning))`: allowed, but a process that ignores SIGTERM may outlive the lease
/// (`max_disconnect + kill_grace` over five sixths of the lease). Errors: zero, or not
/// shorter than the lease (the control plane could retry the attempt while it still runs
/// here), with the values in the message.
pub fn check_max_disconnect(
    max_disconnect: Duration,
    lease: Duration,
    kill_grace: Duration,
) -> Result<Option<String>, String> {
    if max_disconnect.is_zero() {
        return Err("max_disconnect must be longer than 0".into());
    }
    if max_disconnect >= lease {
        return Err(format!(
            "max_disconnect ({} ms) must be shorter than the lease ({} ms): the server \
             retries an attempt once its lease runs out, so the worker must stop it before",
            max_disconnect.as_millis(),
            lease.as_millis()
        ));
    }
    let limit = lease - lease / 6;
    if max_disconnect + kill_grace > limit {
        return Ok(Some(format!(
            "max_disconnect ({} ms) + kill grace ({} ms) is over five sixths of the lease \
             ({} ms): a task that ignores SIGTERM may still run when the server retries it; \
             shorten max_disconnect or the kill grace, or lengthen the lease",
            max_disconnect.as_millis(),
            kill_grace.as_millis(),
            limit.as_millis()
        )));
    }
    Ok(None)
}

/// How often leases are renewed: a third of `max_disconnect` (at least 10 ms), so a single
/// lost renewal leaves another chance before fencing.
pub fn renew_interval(max_disconnect: Duration) -> Duration {
    (max_disconnect / 3).max(Duration::from_millis(10))
}

/// How soon a failed renewal is tried again: a twelfth of `max_disconnect` (at least 10 ms).
pub fn retry_interval(max_disconnect: Duration) -> Duration {
    (max_disconnect / 12).max(Duration::from_millis(10))
}

/// The attempts among `confirmed` (attempt, instant its lease was last confirmed) that have
/// gone `max_disconnect` or longer without a confirmation at `now`, with how long each has.
pub fn due(
    confirmed: &[(AttemptId, Instant)],
    now: Instant,
    max_disconnect: Duration,
) -> Vec<(AttemptId, Duration)> {
    confirmed
        .iter()
        .filter_map(|&(attempt, at)| {
            let silent = now.saturating_duration_since(at);
            (silent >= max_disconnect).then_some((attempt, silent))
        })
        .collect()
}

/// When the next of `confirmed` comes due (its confirmation + `max_disconnect`); `None`
/// when nothing runs. Confirmations only move later and new attempts start after `now`, so
/// sleeping until this instant misses none.
pub fn next_due(confirmed: &[(AttemptId, Instant)], max_disconnect: Duration) -> Option<Instant> {
    confirmed.iter().map(|&(_, at)| at + max_disconnect).min()
}

/// Why a fenced attempt was stopped, for its end report and log: how long it went without
/// a confirmed renewal, against `max_disconnect`.
pub fn fenced_reason(silent: Duration, max_disconnect: Duration) -> String {
    format!(
        "self-fenced: no lease renewal confirmed for {} ms (max_disconnect {} ms); stopped so \
         the server can retry it elsewhere without a double run",
        silent.as_millis(),
        max_disconnect.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_default_leaves_the_kill_grace_and_a_sixth_under_the_lease() {
        for (lease, grace, want, warns) in [
            // server defaults: 10 - 10/6 - 5
            (10.0, 5.0, 10.0 - 10.0 / 6.0 - 5.0, false),
            // a long lease: two thirds
            (30.0, 5.0, 20.0, false),
            (30.0, 1.0, 20.0, false),
            // the test suite's short lease
            (2.0, 1.0, 2.0 / 3.0, false),
            (6.0, 1.0, 4.0, false),
            // a grace longer than the lease allows: a third, and a warning
            (10.0, 9.0, 10.0 / 3.0, true),
            (0.3, 0.0, 0.2, false),
        ] {
            let got = default_max_disconnect(s(lease), s(grace));
            assert!(
                (got.as_secs_f64() - want).abs() < 1e-6,
                "lease {lease} grace {grace}: {got:?}, want {want}"
            );
            assert!(got < s(lease));
            let checked = check_max_disconnect(got, s(lease), s(grace));
            assert_eq!(
                checked.as_ref().map(Option::is_some),
                Ok(warns),
                "lease {lease} grace {grace}: {checked:?}"
            );
        }
    }

    #[test]
    fn a_max_disconnect_must_be_under_the_lease_and_warns_when_the_grace_does_not_fit() {
        for (max, lease, grace, outcome) in [
            (3.0, 10.0, 5.0, "ok"),
            (8.0, 10.0, 0.0, "ok"),
            (8.0, 10.0, 1.0, "warn"),
            (10.0 / 3.0, 10.0, 9.0, "warn"),
            (9.9, 10.0, 0.0, "warn"),
            (10.0, 10.0, 0.0, "err"),
            (11.0, 10.0, 0.0, "err"),
            (0.0, 10.0, 0.0, "err"),
        ] {
            let got = check_max_disconnect(s(max), s(lease), s(grace));
            let kind = match &got {
                Ok(None) => "ok",
                Ok(Some(_)) => "warn",
                Err(_) => "err",
            };
            assert_eq!(kind, outcome, "{max} {lease} {grace}: {got:?}");
        }
        let e = check_max_disconnect(s(12.0), s(10.0), s(1.0)).expect_err("too long");
        assert!(e.contains("12000 ms") && e.contains("10000 ms"), "{e}");
    }

    #[test]
    fn renewals_come_three_times_per_max_disconnect() {
        for (max, every, retry) in [(3.0, 1.0, 0.25), (0.6, 0.2, 0.05), (0.012, 0.01, 0.01)] {
            assert_eq!(renew_interval(s(max)), s(every), "{max}");
            assert_eq!(retry_interval(s(max)), s(retry), "{max}");
        }
    }

    #[test]
    fn attempts_fence_once_max_disconnect_passed_since_their_confirmation() {
        let t0 = Instant::now();
        let (a, b, c) = (AttemptId(1), AttemptId(2), AttemptId(3));
        let confirmed = [(a, t0), (b, t0 + s(1.0)), (c, t0 + s(2.5))];
        let max = s(2.0);
        for (at, want) in [
            (0.0, vec![]),
            (1.999, vec![]),
            (2.0, vec![(a, 2.0)]),
            (3.5, vec![(a, 3.5), (b, 2.5)]),
            (10.0, vec![(a, 10.0), (b, 9.0), (c, 7.5)]),
        ] {
            let got = due(&confirmed, t0 + s(at), max);
            let want: Vec<_> = want.into_iter().map(|(id, d)| (id, s(d))).collect();
            assert_eq!(got, want, "at {at}");
        }
        // a confirmation later than `now` (a renewal sent after it was read) is not due
        assert!(due(&[(a, t0 + s(5.0))], t0, max).is_empty());
        assert_eq!(next_due(&confirmed, max), Some(t0 + s(2.0)));
        assert_eq!(next_due(&[], max), None);
    }

    #[test]
    fn the_reason_names_the_silence_and_the_limit() {
        let why = fenced_reason(Duration::from_millis(4210), Duration::from_millis(4000));
        assert!(why.starts_with("self-fenced: "), "{why}");
        assert!(
            why.contains("4210 ms") && why.contains("max_disconnect 4000 ms"),
            "{why}"
        );
    }
}
