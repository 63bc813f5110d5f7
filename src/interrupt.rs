//! The signals that interrupt a run: Ctrl-C (SIGINT) everywhere and SIGTERM on Unix (what
//! `kill`, `timeout`, container runtimes and CI runners send). Both cancel the running call
//! tree the same way, so a terminated run stops between script operations, finishes any
//! atomic write in progress, and exits 130.

/// Run `work` to its end; a Ctrl-C meanwhile cancels `cancel` (and `work` then stops at its
/// next cancellation point). Ctrl-C is listened for before `work` starts, so an early one is
/// not missed.
pub async fn ctrl_c_cancels<T>(
    cancel: &crate::cancel::Cancel,
    work: impl std::future::Future<Output = T>,
) -> T {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let _ = futures_util::poll!(&mut interrupted);
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => out,
        Ok(()) = &mut interrupted => {
            cancel.cancel();
            work.await
        }
    }
}

/// Installed handlers for the interrupting signals.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Install the handlers now (inside a tokio runtime). From this point on the signals no
    /// longer kill the process; they are delivered to [`Signals::next`]. A handler that cannot
    /// be installed is skipped: that signal keeps its default action.
    #[cfg(unix)]
    pub fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Install the handlers now (inside a tokio runtime).
    #[cfg(not(unix))]
    pub fn install() -> Self {
        Self {}
    }

    /// Waits for the next SIGINT or SIGTERM; `false` when no signal can arrive any more.
    #[cfg(unix)]
    pub async fn next(&mut self) -> bool {
        async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
            match signal {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
        if self.interrupt.is_none() && self.terminate.is_none() {
            return false;
        }
        tokio::select! {
            got = recv(self.interrupt.as_mut()) => got.is_some(),
            got = recv(self.terminate.as_mut()) => got.is_some(),
        }
    }

    /// Waits for the next Ctrl-C; `false` when it cannot be watched.
    #[cfg(not(unix))]
    pub async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
