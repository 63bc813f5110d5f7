//! A shell tool's child as one unit: it runs in its own process group, so everything it starts
//! (short of daemons that leave the group with `setsid`) can be signalled together, and a
//! terminal's Ctrl-C reaches llm-do alone, which then decides what to stop.
//!
//! [`ProcessGroup`] is a guard: dropped while armed (the tool call was cancelled and its future
//! dropped), it sends SIGTERM to the whole group at once and SIGKILL a moment later from a
//! short-lived thread, so cancellation never waits for the child. [`ProcessGroup::stop`] is the
//! awaited version used on timeout.

use std::time::Duration;

use tokio::process::Child;

/// How long a group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_millis(100);

/// The process group of a spawned child (its pid: the child is the group leader).
#[derive(Debug)]
pub struct ProcessGroup {
    /// `None` once disarmed, or when the child had no pid (already reaped).
    id: Option<u32>,
}

impl ProcessGroup {
    /// The group led by `child`, which must have been spawned with
    /// [`put_in_own_group`]. Armed: dropping it kills the group.
    pub fn of(child: &Child) -> Self {
        Self { id: child.id() }
    }

    /// Stop the group now: SIGTERM, up to [`GRACE`] for the leader to exit, then SIGKILL to
    /// whatever is left, and reap the leader. Disarms the guard.
    pub async fn stop(&mut self, child: &mut Child) {
        if let Some(id) = self.id.take() {
            signal(id, Sig::Term);
            let _ = tokio::time::timeout(GRACE, child.wait()).await;
            signal(id, Sig::Kill);
        }
        // Without a group (or on platforms without groups) at least the child goes.
        let _ = child.kill().await;
    }

    /// The child exited normally: kill what it left running in its group, and disarm.
    pub fn finish(&mut self) {
        if let Some(id) = self.id.take() {
            signal(id, Sig::Kill);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            signal(id, Sig::Term);
            // A thread, not a task: the runtime may be shutting down, and nothing may wait.
            let _ = std::thread::Builder::new()
                .name("llm-do-kill".into())
                .spawn(move || {
                    std::thread::sleep(GRACE);
                    signal(id, Sig::Kill);
                });
        }
    }
}

/// Make `command` start its child as the leader of a new process group.
pub fn put_in_own_group(command: &mut tokio::process::Command) {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(not(unix))]
    let _ = command;
}

#[derive(Debug, Clone, Copy)]
enum Sig {
    Term,
    Kill,
}

/// Send `sig` to the process group `id`; errors (the group is gone) are ignored.
#[cfg(unix)]
fn signal(id: u32, sig: Sig) {
    use nix::sys::signal::{Signal, killpg};
    let Ok(raw) = i32::try_from(id) else { return };
    let sig = match sig {
        Sig::Term => Signal::SIGTERM,
        Sig::Kill => Signal::SIGKILL,
    };
    let _ = killpg(nix::unistd::Pid::from_raw(raw), sig);
}

#[cfg(not(unix))]
fn signal(_id: u32, _sig: Sig) {}
