//! The script CPU limit: the CPU time one evaluation spends on its own thread.
//!
//! The operation counter does not see work done inside one operation, and some of that work
//! grows with the data: Rhai walks a whole array to check its size limit after every `push`,
//! so an array grown in a loop costs time quadratic in its length while the operation count
//! stays linear. The engine's progress hook therefore also checks the thread's CPU clock
//! against `[limits] max_cpu_seconds`. Time spent waiting (on a model, a tool, a fan-out
//! running on other threads) uses no CPU on this thread and does not count.

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// The thread's CPU clock when the outermost evaluation on this thread began.
    static START: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The calling thread's CPU time; `None` where the platform has no per-thread clock.
fn thread_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        use nix::time::{ClockId, clock_gettime};
        clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
            .ok()
            .map(Duration::from)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Marks an evaluation running on this thread; the outermost one starts the clock and stops it
/// when dropped. Nested evaluations (a `call()` of a fn on the same thread) share its clock.
#[must_use = "the evaluation's clock stops when the guard drops"]
pub struct Evaluation {
    outermost: bool,
}

impl Drop for Evaluation {
    fn drop(&mut self) {
        if self.outermost {
            START.with(|s| s.set(None));
        }
    }
}

/// Start (or join) the CPU clock of the evaluation about to run on this thread.
pub fn evaluation() -> Evaluation {
    START.with(|s| {
        if s.get().is_some() {
            Evaluation { outermost: false }
        } else {
            s.set(thread_cpu());
            Evaluation { outermost: true }
        }
    })
}

/// Whether the evaluation running on this thread has used more than `limit` of CPU.
pub fn over(limit: Duration) -> bool {
    START
        .with(|s| s.get())
        .is_some_and(|start| thread_cpu().is_some_and(|now| now.saturating_sub(start) > limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let begin = thread_cpu().unwrap();
        while thread_cpu().unwrap() - begin < d {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn the_outermost_evaluation_owns_the_clock() {
        assert!(!over(Duration::ZERO), "no evaluation, no limit");
        let outer = evaluation();
        spin(Duration::from_millis(5));
        {
            let _inner = evaluation();
            assert!(
                over(Duration::from_millis(1)),
                "a nested evaluation keeps the clock"
            );
        }
        assert!(
            over(Duration::from_millis(1)),
            "leaving the nested one does not reset it"
        );
        drop(outer);
        assert!(!over(Duration::ZERO));
    }

    #[test]
    fn waiting_uses_no_cpu() {
        let _e = evaluation();
        std::thread::sleep(Duration::from_millis(30));
        assert!(!over(Duration::from_millis(20)));
    }
}
