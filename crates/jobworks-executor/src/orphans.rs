//! Finding and killing processes left behind by attempts of a previous server run.

use std::collections::HashSet;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid, getpgrp};

/// Environment variable set on every task process to its attempt tag.
pub const ATTEMPT_ID_ENV: &str = "JOBWORKS_ATTEMPT_ID";

/// Kills processes left behind by earlier attempts, e.g. after the server crashed.
///
/// Scans `/proc/*/environ` for processes whose initial environment holds
/// `JOBWORKS_ATTEMPT_ID=<tag>` for one of `tags` (exact match; empty tags are ignored), and sends
/// `SIGKILL` to each such process's whole process group. A process in the caller's own process
/// group (or in group 0/1) is killed alone, never its group. Matching on the tag, not on a stored
/// pid, keeps this safe against pid reuse.
///
/// Returns the pids of the matching processes that were signalled, in `/proc` order. Processes
/// that cannot be read (other users' processes without privileges) are skipped silently. Blocking:
/// call it from `spawn_blocking` in async code.
pub fn sweep_orphans(tags: &[String]) -> Vec<u32> {
    let wanted: HashSet<Vec<u8>> = tags
        .iter()
        .filter(|tag| !tag.is_empty())
        .map(|tag| format!("{ATTEMPT_ID_ENV}={tag}").into_bytes())
        .collect();
    let mut killed = Vec::new();
    if wanted.is_empty() {
        return killed;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return killed;
    };
    let own_pid = std::process::id();
    // Find every match and its group first: killing a group while scanning would hide its
    // later members.
    let matches: Vec<(u32, Option<Pid>)> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own_pid && carries_tag(pid, &wanted))
        .map(|pid| (pid, getpgid(Some(Pid::from_raw(pid.cast_signed()))).ok()))
        .collect();
    let own_group = getpgrp();
    let mut killed_groups = HashSet::new();
    for (pid, group) in matches {
        let signalled = match group {
            Some(group) if group.as_raw() > 1 && group != own_group => {
                !killed_groups.insert(group) || killpg(group, Signal::SIGKILL).is_ok()
            }
            _ => kill(Pid::from_raw(pid.cast_signed()), Signal::SIGKILL).is_ok(),
        };
        if signalled {
            tracing::warn!(pid, "killed orphaned task process");
            killed.push(pid);
        }
    }
    killed
}

/// Whether `/proc/<pid>/environ` holds one of the `wanted` `NAME=value` entries.
fn carries_tag(pid: u32, wanted: &HashSet<Vec<u8>>) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
        environ
            .split(|&byte| byte == 0)
            .any(|variable| wanted.contains(variable))
    })
}

/// The processes on this host whose initial environment holds `JOBWORKS_ATTEMPT_ID=<tag>`
/// with a tag starting with `prefix` (e.g. `<installation>-`), as `(pid, tag)` in `/proc`
/// order; an empty prefix lists nothing. Only finds; the caller decides which tags are
/// orphans and passes them to [`sweep_orphans`]. Blocking, like [`sweep_orphans`].
pub fn tagged_processes(prefix: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    if prefix.is_empty() {
        return found;
    }
    let wanted = format!("{ATTEMPT_ID_ENV}={prefix}").into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let own_pid = std::process::id();
    for pid in entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own_pid)
    {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let tag = environ
            .split(|&byte| byte == 0)
            .find(|variable| variable.starts_with(&wanted))
            .and_then(|variable| std::str::from_utf8(&variable[ATTEMPT_ID_ENV.len() + 1..]).ok());
        if let Some(tag) = tag {
            found.push((pid, tag.to_string()));
        }
    }
    found
}
