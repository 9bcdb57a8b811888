//! cgroup v2 per attempt: finding a delegated hierarchy, creating one child cgroup per attempt,
//! killing everything in it (`cgroup.kill`) and removing it.
//!
//! Layout: `<mount><our cgroup>/jobworks-<server pid>/<n>`, `n` counting attempts of this
//! server. A child enters its cgroup itself, before it runs the task's program (see
//! [`crate::isolation`]), so nothing it forks can be outside.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long [`AttemptCgroup::kill_and_remove`] waits for the killed processes to be gone.
const REMOVE_DEADLINE: Duration = Duration::from_secs(5);

/// The parent of this server's attempt cgroups.
#[derive(Debug)]
pub(crate) struct CgroupParent {
    dir: PathBuf,
    next: AtomicU64,
}

impl CgroupParent {
    /// The directory holding the attempt cgroups.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the next attempt's cgroup.
    pub(crate) fn create_attempt(&self) -> io::Result<AttemptCgroup> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(n.to_string());
        std::fs::create_dir(&dir)?;
        Ok(AttemptCgroup { dir })
    }
}

/// One attempt's cgroup.
#[derive(Debug)]
pub(crate) struct AttemptCgroup {
    dir: PathBuf,
}

impl AttemptCgroup {
    /// The `cgroup.procs` file a process writes `0` to in order to enter the cgroup.
    pub(crate) fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The pids in the cgroup now (empty when it cannot be read).
    pub(crate) fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.procs_file())
            .map(|text| parse_pids(&text))
            .unwrap_or_default()
    }

    /// Kills every process in the cgroup (`cgroup.kill`, Linux 5.14; else `SIGKILL` to each pid
    /// listed) and returns the pids that were in it.
    pub(crate) fn kill(&self) -> Vec<u32> {
        let found = self.pids();
        if std::fs::write(self.dir.join("cgroup.kill"), "1").is_err() {
            for &pid in &found {
                let _ = kill(Pid::from_raw(pid.cast_signed()), Signal::SIGKILL);
            }
        }
        found
    }

    /// Removes the cgroup once the killed processes are gone, waiting at most 5 s (killing
    /// again what is still listed). Blocking.
    pub(crate) fn remove(&self) {
        let deadline = Instant::now() + REMOVE_DEADLINE;
        let mut pause = Duration::from_micros(50);
        loop {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return,
                Err(error) if Instant::now() >= deadline => {
                    tracing::warn!(%error, dir = %self.dir.display(), "cannot remove an attempt cgroup");
                    return;
                }
                Err(_) => {
                    self.kill();
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    /// [`AttemptCgroup::kill`], then [`AttemptCgroup::remove`]; returns the pids killed.
    pub(crate) fn kill_and_remove(&self) -> Vec<u32> {
        let found = self.kill();
        self.remove();
        found
    }
}

/// Sets up this server's attempt cgroups when the host delegates a cgroup v2 hierarchy: finds
/// the cgroup2 mount and our cgroup in it, removes what servers that died left behind (their
/// processes are killed), creates `jobworks-<pid>` and checks that a process can move itself
/// into a child of it. `None` when any step fails (no cgroup2, not writable, no delegation).
pub(crate) fn detect() -> Option<CgroupParent> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = cgroup2_mount(&mountinfo)?;
    let own = own_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?)?;
    let base = mount.join(own.trim_start_matches('/'));
    remove_stale(&base);
    let dir = base.join(format!("jobworks-{}", std::process::id()));
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            tracing::debug!(%error, dir = %dir.display(), "no cgroup for attempts");
            return None;
        }
    }
    let parent = CgroupParent {
        dir,
        next: AtomicU64::new(0),
    };
    if probe(&parent) {
        Some(parent)
    } else {
        let _ = std::fs::remove_dir(&parent.dir);
        None
    }
}

/// Whether a child can enter an attempt cgroup the way tasks do.
fn probe(parent: &CgroupParent) -> bool {
    let Ok(cgroup) = parent.create_attempt() else {
        return false;
    };
    let entered = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "echo 0 >\"$0\"",
            &cgroup.procs_file().to_string_lossy(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    cgroup.kill_and_remove();
    entered
}

/// Kills and removes the attempt cgroups of servers (`jobworks-<pid>` next to ours) that no
/// longer run. A directory whose pid is alive is left alone, even if the pid was reused.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("jobworks-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        if let Ok(children) = std::fs::read_dir(&dir) {
            for child in children.flatten().filter(|child| child.path().is_dir()) {
                let killed = AttemptCgroup { dir: child.path() }.kill_and_remove();
                if !killed.is_empty() {
                    tracing::warn!(?killed, "killed processes left by a server that died");
                }
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// The mount point of the cgroup2 file system, from `/proc/self/mountinfo` text.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split(' ').next() == Some("cgroup2"))
            .then(|| before.split(' ').nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Our path in the cgroup2 hierarchy, from `/proc/self/cgroup` text (the `0::` line).
fn own_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_owned)
}

fn parse_pids(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mountinfo_and_own_cgroup() {
        let hybrid = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
33 25 0:28 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
34 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount("34 25 0:29 / /x rw - cgroup cgroup rw\n"),
            None
        );
        assert_eq!(
            own_cgroup("4:memory:/a\n0::/system.slice/jobworks.service\n").as_deref(),
            Some("/system.slice/jobworks.service")
        );
        assert_eq!(own_cgroup("4:memory:/a\n"), None);
        assert_eq!(parse_pids("12\n345\n\n"), [12, 345]);
    }
}
