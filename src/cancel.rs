//! Cancellation scopes of fan-out (DESIGN §4): each `call_all`/`parallel`/tool-call batch opens a
//! child [`CancelScope`] and cancels it when a branch fails, so its siblings stop while the rest
//! of the process keeps going. Ctrl-C stays with the process-wide [`Cancel`] of the runtime.
//!
//! A scope reaches running work two ways. Async work (a worker's model round trip) selects on
//! [`CancelScope::cancelled`] through the scope carried in its [`crate::call::CallCtx`]. Rhai
//! evaluation on a blocking thread cannot see its call context from the engine's `on_progress`
//! hook, so the thread's current scope is also kept in a thread-local ([`enter`]) that the hook
//! polls ([`current_is_cancelled`]).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// A cancellation flag for the running call tree (Ctrl-C). Not a [`CancellationToken`]: the
/// REPL clears it before each line, and the engine's progress hook reads it on every operation
/// (one atomic load; a token takes a lock).
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cancel {
    /// Cancel everything running now.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
    /// Clear the flag (the REPL does this before each line).
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }
    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// A node in the tree of fan-out scopes: a [`CancellationToken`] whose children are cancelled
/// with it. The default (root) scope has no token and is never cancelled here; the
/// process-wide Ctrl-C flag covers it.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct CancelScope(Option<CancellationToken>);

impl CancelScope {
    /// A new scope below this one: cancelled when it or any ancestor is.
    #[must_use]
    pub fn child(&self) -> CancelScope {
        let token = self
            .0
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        CancelScope(Some(token))
    }

    /// Cancel this scope and everything below it. The root scope ignores this.
    pub fn cancel(&self) {
        if let Some(token) = &self.0 {
            token.cancel();
        }
    }

    /// Whether this scope or an ancestor was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Resolves once this scope or an ancestor is cancelled; never for the root scope.
    pub async fn cancelled(&self) {
        match &self.0 {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<CancelScope> = const { RefCell::new(CancelScope(None)) };
}

/// Restores the previous thread scope when dropped.
#[must_use = "the scope is left when the guard drops"]
pub struct Entered(CancelScope);

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = std::mem::take(&mut self.0);
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Make `scope` the current thread's scope (for Rhai evaluation on this blocking thread) until
/// the guard drops.
pub fn enter(scope: CancelScope) -> Entered {
    Entered(CURRENT.with(|c| c.replace(scope)))
}

/// Whether the current thread's scope was cancelled (polled by the engine's progress hook).
pub fn current_is_cancelled() -> bool {
    CURRENT.with(|c| c.borrow().is_cancelled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_sees_its_parent_cancelled_but_not_the_reverse() {
        let root = CancelScope::default();
        let a = root.child();
        let b = a.child();
        b.cancel();
        assert!(b.is_cancelled() && !a.is_cancelled());
        let c = a.child();
        a.cancel();
        assert!(c.is_cancelled());
        root.cancel();
        assert!(!root.is_cancelled());
    }

    #[test]
    fn entering_a_scope_is_undone_by_the_guard() {
        let s = CancelScope::default().child();
        {
            let _g = enter(s.clone());
            assert!(!current_is_cancelled());
            s.cancel();
            assert!(current_is_cancelled());
        }
        assert!(!current_is_cancelled());
    }

    #[tokio::test]
    async fn cancelled_resolves_when_an_ancestor_is_cancelled() {
        let parent = CancelScope::default().child();
        let child = parent.child();
        let waiter = tokio::spawn({
            let child = child.clone();
            async move { child.cancelled().await }
        });
        parent.cancel();
        waiter.await.unwrap();
        assert!(child.is_cancelled());
    }
}
