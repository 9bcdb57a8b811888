//! Keeping every descendant of an attempt inside it, and measuring the attempt's own memory.
//!
//! Two mechanisms, chosen once per process by [`init_isolation`] (or at the first attempt):
//! - **cgroup v2 per attempt** where the host delegates one (the server can create child
//!   cgroups of its own cgroup and move processes into them, e.g. root, or a systemd unit with
//!   `Delegate=yes`). The child moves itself into its attempt's cgroup before it runs the task's
//!   program (`/bin/sh -c 'echo 0 >cgroup.procs && exec "$@"'`), so every process it ever forks
//!   is inside; at the attempt's end `cgroup.kill` kills them all, whatever session, group or
//!   environment they have.
//! - **child subreaper** elsewhere ([`crate::subreaper`]): escaped processes reparent to the
//!   server and are killed once their attempt has ended.
//!
//! Both add to the process group kill and the attempt-tag sweep, which stay.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::cgroup::{self, AttemptCgroup, CgroupParent};
use crate::subreaper;

/// The shell script a contained child runs first: enter the cgroup named by `$0` (its
/// `cgroup.procs`), then become the task's program.
const ENTER_CGROUP: &str = "echo 0 >\"$0\" || exit 126; exec \"$@\"";

/// How attempts' descendants are contained in this process, as chosen by [`init_isolation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// One cgroup v2 per attempt, children of this directory (`.../jobworks-<server pid>`).
    Cgroup {
        /// Parent directory of the attempt cgroups.
        dir: PathBuf,
    },
    /// This process is a child subreaper; orphans of ended attempts are killed and reaped.
    Subreaper,
    /// Neither is available: process group and attempt tag only (a process that leaves the
    /// group and clears its environment can survive its attempt).
    ProcessGroupOnly,
}

enum Mode {
    Cgroup(CgroupParent),
    Subreaper,
    ProcessGroupOnly,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Chooses how attempts are contained, once per process: a cgroup v2 per attempt when
/// `use_cgroups` and the host delegates one, else the child subreaper, else process groups
/// only. Later calls (and attempts started before any call, which choose with `use_cgroups =
/// true`) keep the first choice. Call it at server start, before attempts run. Blocking (it
/// probes the cgroup with one short `/bin/sh`), and it kills processes left in the attempt
/// cgroups of servers that died.
pub fn init_isolation(use_cgroups: bool) -> Isolation {
    describe(MODE.get_or_init(|| choose(use_cgroups)))
}

fn choose(use_cgroups: bool) -> Mode {
    if use_cgroups && let Some(parent) = cgroup::detect() {
        return Mode::Cgroup(parent);
    }
    if subreaper::become_subreaper() {
        Mode::Subreaper
    } else {
        Mode::ProcessGroupOnly
    }
}

fn describe(mode: &Mode) -> Isolation {
    match mode {
        Mode::Cgroup(parent) => Isolation::Cgroup {
            dir: parent.dir().to_owned(),
        },
        Mode::Subreaper => Isolation::Subreaper,
        Mode::ProcessGroupOnly => Isolation::ProcessGroupOnly,
    }
}

fn mode() -> &'static Mode {
    MODE.get_or_init(|| choose(true))
}

/// How one attempt is contained.
#[derive(Debug)]
pub(crate) enum Containment {
    /// In its own cgroup.
    Cgroup(AttemptCgroup),
    /// Its orphans are found through the subreaper registry.
    Subreaper,
    /// Process group only.
    ProcessGroupOnly,
}

impl Containment {
    /// The containment for a new attempt (a cgroup that cannot be created falls back to the
    /// process group, with a warning).
    pub(crate) fn for_attempt() -> Self {
        match mode() {
            Mode::Cgroup(parent) => match parent.create_attempt() {
                Ok(cgroup) => Self::Cgroup(cgroup),
                Err(error) => {
                    tracing::warn!(%error, "cannot create an attempt cgroup; process group only");
                    Self::ProcessGroupOnly
                }
            },
            Mode::Subreaper => Self::Subreaper,
            Mode::ProcessGroupOnly => Self::ProcessGroupOnly,
        }
    }

    /// `(program, args)` to spawn for the task's `program` and `args`: through the cgroup
    /// entry script when in a cgroup, unchanged otherwise.
    pub(crate) fn command(&self, program: &str, args: &[String]) -> (String, Vec<String>) {
        match self {
            Self::Cgroup(cgroup) => {
                let mut wrapped = vec![
                    "-c".to_owned(),
                    ENTER_CGROUP.to_owned(),
                    cgroup.procs_file().to_string_lossy().into_owned(),
                    program.to_owned(),
                ];
                wrapped.extend(args.iter().cloned());
                ("/bin/sh".to_owned(), wrapped)
            }
            _ => (program.to_owned(), args.to_vec()),
        }
    }

    /// Spawns with `spawn`, registering the leader when the subreaper needs it.
    pub(crate) fn spawn(
        &self,
        spawn: impl FnOnce() -> std::io::Result<std::process::Child>,
    ) -> std::io::Result<std::process::Child> {
        match self {
            Self::Subreaper => subreaper::spawn_registered(spawn, std::process::Child::id),
            _ => spawn(),
        }
    }

    /// The pids to sample for peak memory besides the leader.
    pub(crate) fn members(&self) -> Vec<u32> {
        match self {
            Self::Cgroup(cgroup) => cgroup.pids(),
            _ => Vec::new(),
        }
    }

    /// Called once the leader `leader` exited (unreaped) and its group was killed: kills what
    /// is left of the attempt elsewhere. Returns the pids killed besides the leader. Blocking.
    pub(crate) fn leader_exited(&self, leader: u32) -> Vec<u32> {
        let mut killed = match self {
            Self::Cgroup(cgroup) => cgroup.kill(),
            Self::Subreaper => subreaper::attempt_ended(leader),
            Self::ProcessGroupOnly => Vec::new(),
        };
        // members of the leader's group were killed with it and may not have exited yet:
        // only processes that had left the group escaped
        killed.retain(|&pid| pid != leader && !in_group_or_gone(pid, leader));
        killed
    }

    /// Undoes [`Containment::for_attempt`] when the spawn failed.
    pub(crate) fn discard(&self) {
        if let Self::Cgroup(cgroup) = self {
            cgroup.kill_and_remove();
        }
    }

    /// Called once the leader is reaped: removes the cgroup, forgets the subreaper's record.
    pub(crate) fn leader_reaped(&self, leader: u32) {
        match self {
            Self::Cgroup(cgroup) => cgroup.remove(),
            Self::Subreaper => subreaper::leader_reaped(leader),
            Self::ProcessGroupOnly => {}
        }
    }

    /// Whether the program is run through the entry script (which cannot report a missing
    /// program as a spawn error: see [`program_exists`]).
    pub(crate) fn wraps(&self) -> bool {
        matches!(self, Self::Cgroup(_))
    }
}

/// Whether `program` names an executable file the way `execvp` finds it: a path containing
/// `/` (relative to `working_dir`), or a name looked up in `path` (the child's `PATH`; the
/// server's when `None`).
pub(crate) fn program_exists(
    program: &str,
    path: Option<&str>,
    working_dir: Option<&Path>,
) -> bool {
    if program.contains('/') {
        let candidate = match working_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        return executable(&candidate);
    }
    let from_env = std::env::var("PATH").ok();
    let search = path.or(from_env.as_deref()).unwrap_or("/usr/bin:/bin");
    search
        .split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .any(|dir| executable(&Path::new(dir).join(program)))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Peak resident set size of process `pid` since its last `exec` (`VmHWM` of
/// `/proc/PID/status`), in bytes; `None` when it is gone or a zombie.
pub(crate) fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Whether `pid` is in process group `group`, or already gone.
fn in_group_or_gone(pid: u32, group: u32) -> bool {
    let (Ok(pid), Ok(group)) = (i32::try_from(pid), i32::try_from(group)) else {
        return false;
    };
    match nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))) {
        Ok(pgid) => pgid.as_raw() == group,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\tsh\nVmPeak:\t    2600 kB\nVmHWM:\t    1234 kB\nVmRSS:\t     900 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tzombie\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn finds_programs_like_execvp() {
        assert!(program_exists("sh", Some("/nonexistent:/bin"), None));
        assert!(!program_exists("sh", Some("/nonexistent"), None));
        assert!(program_exists("/bin/sh", Some(""), None));
        assert!(program_exists("./sh", None, Some(Path::new("/bin"))));
        assert!(!program_exists("./sh", None, Some(Path::new("/"))));
        // a directory or a file without an execute bit is not a program
        assert!(!program_exists("/bin", None, None));
        assert!(!program_exists("/proc/self/status", None, None));
    }
}
