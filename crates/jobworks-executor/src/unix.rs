//! Linux process-group primitives: signalling a group, waiting for its leader without reaping,
//! and reaping it with `wait4` to get per-child resource usage.
// `wait4` has no safe wrapper in std or nix; its one call below is the crate's only unsafe code.
#![allow(unsafe_code)]

use std::io;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::isolation::Containment;
use crate::rusage::ResourceUsage;

/// How the group leader ended, with its resource usage.
#[derive(Debug, Clone)]
pub(crate) struct ExitInfo {
    /// Exit status when the process exited normally.
    pub(crate) exit_code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub(crate) signal: Option<i32>,
    /// CPU time.
    pub(crate) usage: ResourceUsage,
    /// Processes of the attempt outside its process group that were killed after the leader
    /// exited (see [`Containment::leader_exited`]).
    pub(crate) escaped: Vec<u32>,
}

/// The process group of one spawned child (pgid = the child's pid).
///
/// Signals go to the group only while its leader is unreaped: a zombie leader keeps its pid
/// (and so the group id) from being reused, which makes `killpg` safe against pid reuse. The
/// `reaped` flag, taken under the same lock as the signal, enforces that.
#[derive(Debug, Clone)]
pub(crate) struct ProcessGroup {
    pgid: Pid,
    reaped: Arc<Mutex<bool>>,
    containment: Arc<Containment>,
}

impl ProcessGroup {
    /// The group led by `pid`, which must be our unreaped child started with `process_group(0)`,
    /// contained by `containment`.
    pub(crate) fn new(pid: u32, containment: Arc<Containment>) -> Self {
        Self {
            pgid: Pid::from_raw(pid.cast_signed()),
            reaped: Arc::new(Mutex::new(false)),
            containment,
        }
    }

    /// The group id (= the leader's pid).
    pub(crate) fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Sends `signal` to every process in the group; false when the leader is already reaped or
    /// no process is left.
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        let reaped = self
            .reaped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !*reaped && killpg(self.pgid, signal).is_ok()
    }

    /// Blocks until the leader exits, then `SIGKILL`s whatever is left in its group and in its
    /// containment (cgroup or subreaper orphans: so no background process outlives the task and
    /// the output pipes reach end of file), then reaps the leader and returns its status and
    /// resource usage.
    ///
    /// Run it on a blocking thread. Errors are the OS errors of `waitid`/`wait4` (e.g. `ECHILD`
    /// if someone else reaped the child).
    pub(crate) fn wait_blocking(&self) -> io::Result<ExitInfo> {
        loop {
            match waitid(
                Id::Pid(self.pgid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
            ) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        let mut reaped = self
            .reaped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // ESRCH (nothing left in the group) is the normal case.
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let leader = self.pgid.as_raw().cast_unsigned();
        let escaped = self.containment.leader_exited(leader);
        let waited = wait4(self.pgid.as_raw());
        if waited.is_ok() {
            *reaped = true;
        }
        drop(reaped);
        self.containment.leader_reaped(leader);
        let (status, usage) = waited?;
        Ok(ExitInfo {
            exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            usage: ResourceUsage::from_rusage(&usage),
            escaped,
        })
    }
}

/// Reaps child `pid`, returning its raw wait status and resource usage; retries on `EINTR`.
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a C struct of integers only, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers refer to live, writable locals of exactly the types `wait4`
        // expects, and `wait4` does not keep them after returning.
        let result = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if result == pid {
            return Ok((status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
