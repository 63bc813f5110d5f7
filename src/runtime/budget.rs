//! Budgets of one run (DESIGN §15): `[limits] max_cost_usd`, `max_tokens`, `max_requests` and
//! `max_worker_runs`, shared by every branch of every fan-out in the process. The seam charges
//! a worker run before it starts; the run loop charges each model request before it is sent
//! and its usage and cost once the reply is in. Exceeding a limit is a run-ending error naming
//! it; what was logged or written stays.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::call::CallError;
use crate::model::Usage;
pub use crate::settings::Limits;

/// Worker runs per run when `max_worker_runs` is not set: enough for any real program, and a
/// wall against fan-out that multiplies past `max_depth` × `max_turns`.
pub const DEFAULT_MAX_WORKER_RUNS: u64 = 10_000;

/// What a run has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub worker_runs: u64,
    pub requests: u64,
    pub usage: Usage,
    /// Dollars of the requests whose model has a price.
    pub cost: f64,
    /// Requests to models without a price (their cost is unknown).
    pub unpriced: u64,
}

/// The counters of one run against its limits.
#[derive(Debug, Default)]
pub struct Budget {
    limits: Limits,
    worker_runs: AtomicU64,
    requests: AtomicU64,
    spent: Mutex<Spent>,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// A worker run is about to start.
    ///
    /// # Errors
    ///
    /// [`CallError::Budget`] past `max_worker_runs`.
    pub fn start_worker(&self) -> Result<(), CallError> {
        let n = self.worker_runs.fetch_add(1, Ordering::Relaxed) + 1;
        let max = self
            .limits
            .max_worker_runs
            .unwrap_or(DEFAULT_MAX_WORKER_RUNS);
        if n > max {
            return Err(exceeded("max_worker_runs", max.to_string(), n.to_string()));
        }
        Ok(())
    }

    /// A model request is about to be sent; refused when a limit is already spent.
    ///
    /// # Errors
    ///
    /// [`CallError::Budget`] past `max_requests`, or when tokens or cost already reached
    /// their limits.
    pub fn start_request(&self) -> Result<(), CallError> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = self.limits.max_requests
            && n > max
        {
            return Err(exceeded("max_requests", max.to_string(), n.to_string()));
        }
        self.check_spent()
    }

    /// A reply came back using `usage`, costing `cost` (`None`: the model has no price).
    ///
    /// # Errors
    ///
    /// [`CallError::Budget`] when tokens or cost went past their limits.
    pub fn charge(&self, usage: Usage, cost: Option<f64>) -> Result<(), CallError> {
        {
            let mut spent = crate::sync::lock(&self.spent);
            spent.requests += 1;
            spent.usage += usage;
            match cost {
                Some(c) => spent.cost += c,
                None => spent.unpriced += 1,
            }
        }
        self.check_spent()
    }

    fn check_spent(&self) -> Result<(), CallError> {
        let spent = self.spent();
        if let Some(max) = self.limits.max_tokens
            && spent.usage.total() > max
        {
            return Err(exceeded(
                "max_tokens",
                max.to_string(),
                spent.usage.total().to_string(),
            ));
        }
        if let Some(max) = self.limits.max_cost_usd
            && spent.cost > max
        {
            return Err(exceeded(
                "max_cost_usd",
                crate::model::prices::dollars(max),
                crate::model::prices::dollars(spent.cost),
            ));
        }
        Ok(())
    }

    /// What the run has used so far.
    pub fn spent(&self) -> Spent {
        let mut spent = *crate::sync::lock(&self.spent);
        spent.worker_runs = self.worker_runs.load(Ordering::Relaxed);
        spent
    }
}

fn exceeded(limit: &'static str, max: String, used: String) -> CallError {
    CallError::Budget { limit, max, used }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_stops_the_run_naming_itself() {
        let b = Budget::new(Limits {
            max_requests: Some(2),
            ..Limits::default()
        });
        b.start_request().unwrap();
        b.start_request().unwrap();
        let e = b.start_request().unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exceeded: `max_requests` is 2 and this run reached 3"
        );
        let b = Budget::new(Limits {
            max_tokens: Some(10),
            max_cost_usd: Some(0.5),
            ..Limits::default()
        });
        let usage = Usage {
            input_tokens: 6,
            output_tokens: 6,
            ..Usage::default()
        };
        assert!(matches!(
            b.charge(usage, Some(0.1)),
            Err(CallError::Budget {
                limit: "max_tokens",
                ..
            })
        ));
        let b = Budget::new(Limits {
            max_cost_usd: Some(0.5),
            ..Limits::default()
        });
        b.charge(Usage::default(), Some(0.4)).unwrap();
        assert!(matches!(
            b.charge(Usage::default(), Some(0.2)),
            Err(CallError::Budget {
                limit: "max_cost_usd",
                ..
            })
        ));
        assert_eq!(b.spent().requests, 2);
        let b = Budget::new(Limits {
            max_worker_runs: Some(1),
            ..Limits::default()
        });
        b.start_worker().unwrap();
        assert!(b.start_worker().is_err());
    }
}
