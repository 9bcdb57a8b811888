//! Without a cgroup: the server is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a process
//! that escapes its attempt's process group and session (`setsid`, a cleared environment) is
//! reparented to the server when its parent dies, instead of to init, and can be found.
//!
//! Attribution: the executor records each attempt's lifetime `[start, end]` (clock ticks since
//! boot, the unit of `/proc/PID/stat`'s start time). A child of the server that is not an
//! attempt's leader is an orphan of the attempts that were running when it started; it is
//! killed (and reaped) once all of those attempts have ended. With one attempt at a time that is
//! exactly its attempt's end; with overlapping attempts an orphan may live until the last
//! overlapping one ends. Processes that started while no attempt was running are never touched,
//! and the server's own children are never reaped by anything but their waiter (the registry
//! lock covers spawn and registration), so no exit status is stolen.

use std::collections::HashSet;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

/// Kernel clock ticks per second of `/proc` times (`USER_HZ`, fixed at 100 by the Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// Rounds of kill-and-rescan at an attempt's end: killing an orphan reparents its children.
const MAX_SWEEP_ROUNDS: usize = 16;

/// How long one sweep waits for the orphans it killed to exit.
const REAP_DEADLINE: Duration = Duration::from_secs(2);

/// One attempt's lifetime, keyed by its leader's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The leader (pgid) of the attempt.
    pub(crate) leader: u32,
    /// Tick at or before the spawn.
    pub(crate) start: u64,
    /// Tick at or after the leader's exit; `None` while it runs.
    pub(crate) end: Option<u64>,
}

/// A child of the server as seen in `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Child {
    /// Its pid.
    pub(crate) pid: u32,
    /// Its start time, ticks since boot.
    pub(crate) start: u64,
    /// Whether it is a zombie awaiting its reaper.
    pub(crate) zombie: bool,
}

/// What to do with a child of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Leave it: a leader, or not (or not yet) an orphan of ended attempts only.
    Keep,
    /// An orphan whose attempts have all ended: kill it, then reap it.
    Kill,
    /// A dead orphan of ended attempts: reap it.
    Reap,
}

/// The decision for one child given the recorded attempt spans (pure). One tick of slack on
/// either side covers the `/proc/uptime` rounding.
pub(crate) fn decide(child: &Child, spans: &[Span]) -> Action {
    if spans.iter().any(|span| span.leader == child.pid) {
        return Action::Keep;
    }
    let mut candidates = spans.iter().filter(|span| {
        span.start <= child.start.saturating_add(1)
            && span
                .end
                .is_none_or(|end| child.start <= end.saturating_add(1))
    });
    let mut any = false;
    let all_ended = candidates.all(|span| {
        any = true;
        span.end.is_some()
    });
    match (any && all_ended, child.zombie) {
        (false, _) => Action::Keep,
        (true, false) => Action::Kill,
        (true, true) => Action::Reap,
    }
}

/// Attempt spans of this process; the lock is held across a spawn and its registration.
static SPANS: Mutex<Vec<Span>> = Mutex::new(Vec::new());

/// Makes this process a child subreaper; false when the kernel refuses.
pub(crate) fn become_subreaper() -> bool {
    nix::sys::prctl::set_child_subreaper(true).is_ok()
}

/// Spawns with `spawn` and records the new leader's span, under the registry lock (a sweep
/// running at the same time cannot mistake the new child for an orphan).
pub(crate) fn spawn_registered<T>(
    spawn: impl FnOnce() -> io::Result<T>,
    pid_of: impl Fn(&T) -> u32,
) -> io::Result<T> {
    let mut spans = lock();
    let start = now_ticks();
    let spawned = spawn()?;
    spans.push(Span {
        leader: pid_of(&spawned),
        start,
        end: None,
    });
    Ok(spawned)
}

/// Records that `leader` exited (still unreaped) and kills and reaps the orphans that no
/// running attempt can own. Returns the pids killed. Blocking.
pub(crate) fn attempt_ended(leader: u32) -> Vec<u32> {
    let mut killed = Vec::new();
    for _ in 0..MAX_SWEEP_ROUNDS {
        // the span ends at each round's start, so what the orphans forked during the last
        // round (a fork loop) is theirs too, not an unknown process kept forever
        if let Some(span) = lock().iter_mut().find(|span| span.leader == leader) {
            span.end = Some(now_ticks());
        }
        let round = sweep_once();
        if round.is_empty() {
            break;
        }
        killed.extend(round);
    }
    killed
}

/// Forgets `leader` once its waiter reaped it, and the ended spans no running attempt overlaps.
pub(crate) fn leader_reaped(leader: u32) {
    let mut spans = lock();
    spans.retain(|span| span.leader != leader);
    let oldest_running = spans
        .iter()
        .filter(|span| span.end.is_none())
        .map(|span| span.start)
        .min();
    // an ended span matters only to orphans that started during it; those were dealt with at
    // its end unless a running attempt overlapped it
    spans.retain(|span| match (span.end, oldest_running) {
        (None, _) => true,
        (Some(end), Some(oldest)) => end.saturating_add(1) >= oldest,
        (Some(_), None) => false,
    });
}

/// One scan of our children: kill and reap orphans of ended attempts, reap their zombies.
fn sweep_once() -> Vec<u32> {
    // held over the scan and the kills: a leader spawned meanwhile is registered first
    let spans = lock();
    let children = children_of(std::process::id());
    let mut killed = Vec::new();
    let mut to_reap = HashSet::new();
    for child in &children {
        match decide(child, &spans) {
            Action::Keep => {}
            Action::Kill => {
                if kill(Pid::from_raw(child.pid.cast_signed()), Signal::SIGKILL).is_ok() {
                    killed.push(child.pid);
                    to_reap.insert(child.pid);
                }
            }
            Action::Reap => {
                to_reap.insert(child.pid);
            }
        }
    }
    drop(spans);
    // killed or dead children keep their pids until reaped: reaping outside the lock is safe
    reap(to_reap);
    if !killed.is_empty() {
        tracing::warn!(?killed, "killed processes that escaped their attempt");
    }
    killed
}

/// Reaps the given children (never anything else), waiting at most [`REAP_DEADLINE`].
fn reap(mut pids: HashSet<u32>) {
    let deadline = Instant::now() + REAP_DEADLINE;
    let mut pause = Duration::from_micros(100);
    while !pids.is_empty() && Instant::now() < deadline {
        pids.retain(|&pid| {
            match waitid(
                Id::Pid(Pid::from_raw(pid.cast_signed())),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
            ) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(Errno::EINTR) => true,
                // reaped, or not our child any more
                _ => false,
            }
        });
        if !pids.is_empty() {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

/// Children of `parent` from `/proc` (every process's stat is read: the cost of this mode).
fn children_of(parent: u32) -> Vec<Child> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (ppid, start, zombie) = parse_stat(&stat)?;
            (ppid == parent).then_some(Child { pid, start, zombie })
        })
        .collect()
}

/// `(ppid, start time in ticks, zombie)` from `/proc/PID/stat` text. The command name may
/// hold spaces and parentheses: fields are counted after its last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<(u32, u64, bool)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); ppid is field 4, starttime field 22
    let state = *fields.first()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start, state == "Z"))
}

/// Now, in ticks since boot (from `/proc/uptime`, which has the same origin as start times).
fn now_ticks() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |seconds| (seconds * TICKS_PER_SECOND).ceil() as u64)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Span>> {
    SPANS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(leader: u32, start: u64, end: Option<u64>) -> Span {
        Span { leader, start, end }
    }

    #[test]
    fn decides_by_attempt_lifetimes() {
        let spans = [
            span(100, 1_000, Some(1_500)),
            span(200, 1_200, None),
            span(300, 2_000, Some(2_100)),
        ];
        let child = |pid, start, zombie| Child { pid, start, zombie };
        let cases = [
            // a leader is never touched, even as a zombie
            (child(100, 1_000, true), Action::Keep),
            (child(200, 1_200, false), Action::Keep),
            // started during 100 only (ended): killed
            (child(7, 1_100, false), Action::Kill),
            (child(7, 1_100, true), Action::Reap),
            // started during 100 and 200 (running): kept until 200 ends
            (child(8, 1_300, false), Action::Keep),
            // started during 300 (ended) but also during 200 (running)
            (child(9, 2_101, false), Action::Keep),
            // during 200 only (running)
            (child(10, 1_900, false), Action::Keep),
            // before any attempt: not ours to judge
            (child(11, 500, false), Action::Keep),
            (child(11, 500, true), Action::Keep),
        ];
        for (child, action) in cases {
            assert_eq!(decide(&child, &spans), action, "{child:?}");
        }
        // once 200 ends, its overlapping orphan goes
        let ended = [span(100, 1_000, Some(1_500)), span(200, 1_200, Some(3_000))];
        assert_eq!(decide(&child(8, 1_300, false), &ended), Action::Kill);
        // within one tick of the end, not two
        assert_eq!(decide(&child(9, 3_001, false), &ended), Action::Kill);
        assert_eq!(decide(&child(9, 3_002, false), &ended), Action::Keep);
        assert_eq!(decide(&child(8, 1_300, false), &[]), Action::Keep);
    }

    #[test]
    fn parses_stat() {
        let stat = "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((17, 987_654, false)));
        let zombie = "9 (sh) Z 1 9 9 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 55 0 0";
        assert_eq!(parse_stat(zombie), Some((1, 55, true)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
