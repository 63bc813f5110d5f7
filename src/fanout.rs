//! Bounded, ordered, cancellable fan-out: the executor behind `call_all`, `try_call_all`,
//! `parallel` (DESIGN §4) and a worker's concurrent tool calls.
//!
//! Jobs are lazy futures. At most `limit` run at once (`buffer_unordered`: nested fan-outs each
//! get their own bound, so a running branch can never deadlock waiting for its own children).
//! Results come back in input order; a failure is seen as soon as it happens, not after the
//! jobs before it (why not `buffered`). On a failure that stops the fan-out the remaining
//! futures are dropped (in-flight HTTP requests with them) and the fan-out's [`CancelScope`] is
//! cancelled so branches evaluating Rhai on blocking threads stop at their next progress check.

use std::future::Future;
use std::pin::Pin;

use futures_util::{StreamExt, stream};

use crate::call::CallError;
use crate::cancel::{Cancel, CancelScope};

/// A lazy branch of a fan-out: a worker run, a fn call or a closure.
pub type Job = Pin<Box<dyn Future<Output = Result<rhai::Dynamic, CallError>> + Send>>;

/// What a failing branch does to its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The first error cancels the others and is returned (`call_all`, `parallel`).
    CancelSiblings,
    /// Errors are collected beside the successes (`try_call_all`); only aborts and
    /// interrupts still stop everything.
    Collect,
}

/// The failure that stopped a fan-out: which job, and why.
#[derive(Debug)]
pub struct Stopped {
    /// Index of the job in input order.
    pub index: usize,
    pub error: CallError,
}

/// Whether an error ends the whole call tree whatever the fan-out mode.
pub fn is_fatal(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Aborted
            | CallError::Cancelled
            | CallError::Budget { .. }
            | CallError::WorkerBudget { .. }
    )
}

/// Run `jobs` at most `limit` at a time inside `scope` (a fresh child scope of the caller's),
/// stopping on Ctrl-C (`process`). Returns each job's result in input order; with
/// [`OnError::CancelSiblings`] every returned result is `Ok`.
pub async fn run_ordered<T, F>(
    jobs: Vec<F>,
    limit: u32,
    on_error: OnError,
    scope: &CancelScope,
    process: &Cancel,
) -> Result<Vec<Result<T, CallError>>, Stopped>
where
    F: Future<Output = Result<T, CallError>>,
{
    let n = jobs.len();
    // `buffer_unordered` starts the jobs in input order, at most `limit` in flight.
    let mut running = stream::iter(jobs.into_iter().enumerate())
        .map(|(index, job)| async move { (index, job.await) })
        .buffer_unordered(usize::try_from(limit).unwrap_or(usize::MAX).max(1));
    let mut results: Vec<Option<Result<T, CallError>>> = (0..n).map(|_| None).collect();
    loop {
        let next = tokio::select! {
            biased;
            () = process.cancelled() => None,
            () = scope.cancelled() => None,
            next = running.next() => Some(next),
        };
        let Some(next) = next else {
            scope.cancel();
            return Err(Stopped {
                index: 0,
                error: CallError::Cancelled,
            });
        };
        let Some((index, result)) = next else { break };
        match result {
            Err(error) if on_error == OnError::CancelSiblings || is_fatal(&error) => {
                scope.cancel();
                return Err(Stopped { index, error });
            }
            other => results[index] = Some(other),
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(CallError::Cancelled)))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn job(
        i: usize,
        live: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    ) -> Result<usize, CallError> {
        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        // Later jobs finish first, so ordering is not an accident of completion order.
        for _ in 0..(10 - i) {
            tokio::task::yield_now().await;
        }
        live.fetch_sub(1, Ordering::SeqCst);
        if i == 7 {
            Err(CallError::Tool(format!("job {i} failed")))
        } else {
            Ok(i * 10)
        }
    }

    #[tokio::test]
    async fn results_keep_input_order_and_the_bound_holds() {
        let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (0..6).map(|i| job(i, live.clone(), peak.clone())).collect();
        let scope = CancelScope::default().child();
        let out = run_ordered(jobs, 2, OnError::CancelSiblings, &scope, &Cancel::default())
            .await
            .unwrap();
        let values: Vec<usize> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, vec![0, 10, 20, 30, 40, 50]);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert!(!scope.is_cancelled());
    }

    #[tokio::test]
    async fn the_first_error_cancels_the_scope_and_names_its_index() {
        let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (0..9).map(|i| job(i, live.clone(), peak.clone())).collect();
        let scope = CancelScope::default().child();
        let stop = run_ordered(jobs, 3, OnError::CancelSiblings, &scope, &Cancel::default())
            .await
            .unwrap_err();
        assert_eq!(stop.index, 7);
        assert!(scope.is_cancelled());
    }

    #[tokio::test]
    async fn collect_mode_keeps_errors_beside_successes() {
        let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (5..9).map(|i| job(i, live.clone(), peak.clone())).collect();
        let out = run_ordered(
            jobs,
            8,
            OnError::Collect,
            &CancelScope::default().child(),
            &Cancel::default(),
        )
        .await
        .unwrap();
        assert_eq!(out[0].as_ref().unwrap(), &50);
        assert!(out[2].is_err());
        assert_eq!(out[3].as_ref().unwrap(), &80);
    }

    #[tokio::test]
    async fn fatal_errors_stop_even_collect_mode() {
        let jobs = vec![
            Box::pin(async { Ok(1) }) as std::pin::Pin<Box<dyn Future<Output = _>>>,
            Box::pin(async { Err(CallError::Aborted) }),
        ];
        let stop = run_ordered(
            jobs,
            2,
            OnError::Collect,
            &CancelScope::default().child(),
            &Cancel::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(stop.error, CallError::Aborted));
    }

    #[tokio::test]
    async fn a_cancelled_process_stops_pending_jobs() {
        let process = Cancel::default();
        process.cancel();
        let jobs = vec![std::future::pending::<Result<(), CallError>>()];
        let stop = run_ordered(
            jobs,
            1,
            OnError::Collect,
            &CancelScope::default().child(),
            &process,
        )
        .await
        .unwrap_err();
        assert!(matches!(stop.error, CallError::Cancelled));
    }
}
