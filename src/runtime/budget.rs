//! Budgets of one run (DESIGN §15): `[limits] max_cost_usd`, `max_tokens`, `max_requests` and
//! `max_worker_runs`, shared by every branch of every fan-out in the process. The seam charges
//! a worker run before it starts. A model request **reserves** its worst case before it is
//! sent ([`Budget::reserve`]: its input estimated from its size, its output at its
//! `max_tokens`, priced by the price table), so fan-out never has more in flight than the
//! budget can pay for: a request that does not fit waits for requests in flight to settle, and
//! is refused when nothing is in flight. When the reply is in, the reservation is replaced by
//! the real usage and cost ([`Reservation::settle`]). Exceeding a limit is a run-ending error
//! naming it and what was actually spent; what was logged or written stays.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::call::CallError;
use crate::model::prices::Price;
use crate::model::{ModelRequest, Usage};
pub use crate::settings::Limits;

/// Worker runs per run when `max_worker_runs` is not set: enough for any real program, and a
/// wall against fan-out that multiplies past `max_depth` × `max_turns`.
pub const DEFAULT_MAX_WORKER_RUNS: u64 = 10_000;

/// Output tokens reserved for a request that sets no `max_tokens`: the largest default reply
/// of the providers llm-do speaks to. A request with its own `max_tokens` reserves that.
pub const ASSUMED_MAX_TOKENS: u64 = 4096;

/// Bytes of a serialized request counted as one input token when reserving. Tokenizers
/// average about four bytes of English per token; three keeps the estimate on the high side
/// (and the JSON around the text adds more).
pub const BYTES_PER_TOKEN: u64 = 3;

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

/// The most one model request can use: what it reserves before it is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    /// Input and output tokens.
    pub tokens: u64,
    /// Dollars at those tokens; `None` when the model has no price (its cost is unknown and
    /// only its tokens are reserved).
    pub cost: Option<f64>,
}

impl Estimate {
    /// The worst case of `request` at `price`: its serialized size as input tokens
    /// ([`BYTES_PER_TOKEN`]) and [`output_ceiling`] output tokens.
    #[must_use]
    pub fn of(request: &ModelRequest, price: Option<&Price>) -> Self {
        let bytes = serde_json::to_vec(request).map_or(0, |v| v.len() as u64);
        let usage = Usage {
            input_tokens: bytes.div_ceil(BYTES_PER_TOKEN),
            output_tokens: output_ceiling(request),
            ..Usage::default()
        };
        Self {
            tokens: usage.total(),
            cost: price.map(|p| crate::model::prices::cost(&usage, p)),
        }
    }
}

/// The output tokens a request may use: its `max_tokens`, else [`ASSUMED_MAX_TOKENS`].
#[must_use]
pub fn output_ceiling(request: &ModelRequest) -> u64 {
    request.max_tokens.map_or(ASSUMED_MAX_TOKENS, u64::from)
}

/// Spent plus what the requests in flight have reserved.
#[derive(Debug, Default)]
struct Ledger {
    spent: Spent,
    reserved_tokens: u64,
    reserved_cost: f64,
    in_flight: u64,
}

/// The counters of one run against its limits.
#[derive(Debug, Default)]
pub struct Budget {
    limits: Limits,
    worker_runs: AtomicU64,
    requests: AtomicU64,
    ledger: Mutex<Ledger>,
    /// Woken each time a reservation settles or is released.
    settled: tokio::sync::Notify,
}

/// A request's reservation: released when dropped (the request failed or was cancelled),
/// replaced by the real charge by [`Reservation::settle`].
#[must_use = "a reservation is released when dropped"]
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    estimate: Estimate,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.estimate, None);
    }
}

impl Reservation<'_> {
    /// The reply came back using `usage`, costing `cost` (`None`: the model has no price):
    /// the reservation is replaced by that charge.
    ///
    /// # Errors
    ///
    /// [`CallError::Budget`] when tokens or cost went past their limits (the request used
    /// more than estimated).
    pub fn settle(self, usage: Usage, cost: Option<f64>) -> Result<(), CallError> {
        let budget = self.budget;
        budget.release(self.estimate, Some((usage, cost)));
        std::mem::forget(self);
        budget.check_spent()
    }
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether requests must be estimated: a token or cost limit is set.
    pub fn reserves(&self) -> bool {
        self.limits.max_tokens.is_some() || self.limits.max_cost_usd.is_some()
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

    /// A model request with worst case `estimate` is about to be sent: count it, then reserve
    /// the estimate, waiting while requests in flight hold what it needs. Cancel by dropping
    /// the future.
    ///
    /// # Errors
    ///
    /// [`CallError::Budget`] past `max_requests`, or when the estimate cannot fit in what is
    /// left of `max_tokens` or `max_cost_usd` even with nothing in flight.
    pub async fn reserve(&self, estimate: Estimate) -> Result<Reservation<'_>, CallError> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = self.limits.max_requests
            && n > max
        {
            return Err(exceeded("max_requests", max.to_string(), n.to_string()));
        }
        loop {
            // Registered before the ledger is read, so a settle in between is not missed.
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut ledger = crate::sync::lock(&self.ledger);
                let ahead = (
                    ledger.reserved_tokens + estimate.tokens,
                    ledger.reserved_cost + estimate.cost.unwrap_or(0.0),
                );
                // What it reports as used is what was spent, never the reservations.
                match passed(&self.limits, &ledger.spent, ahead, Some(estimate)) {
                    None => {
                        ledger.reserved_tokens += estimate.tokens;
                        ledger.reserved_cost += estimate.cost.unwrap_or(0.0);
                        ledger.in_flight += 1;
                        return Ok(Reservation {
                            budget: self,
                            estimate,
                        });
                    }
                    // It cannot fit: nothing is in flight to free a reservation.
                    Some(e) if ledger.in_flight == 0 => return Err(e),
                    // It fits once requests in flight settle (they may use less than reserved).
                    Some(_) => {}
                }
            }
            notified.await;
        }
    }

    /// Take `estimate` off the reservations, charging `charge` when the request completed.
    fn release(&self, estimate: Estimate, charge: Option<(Usage, Option<f64>)>) {
        {
            let mut ledger = crate::sync::lock(&self.ledger);
            ledger.reserved_tokens = ledger.reserved_tokens.saturating_sub(estimate.tokens);
            ledger.reserved_cost = (ledger.reserved_cost - estimate.cost.unwrap_or(0.0)).max(0.0);
            ledger.in_flight = ledger.in_flight.saturating_sub(1);
            if ledger.in_flight == 0 {
                // No drift from float sums once nothing is reserved.
                ledger.reserved_cost = 0.0;
                ledger.reserved_tokens = 0;
            }
            if let Some((usage, cost)) = charge {
                let spent = &mut ledger.spent;
                spent.requests += 1;
                spent.usage += usage;
                match cost {
                    Some(c) => spent.cost += c,
                    None => spent.unpriced += 1,
                }
            }
        }
        self.settled.notify_waiters();
    }

    fn check_spent(&self) -> Result<(), CallError> {
        passed(&self.limits, &self.spent(), (0, 0.0), None).map_or(Ok(()), Err)
    }

    /// What the run has used so far (settled requests only, not reservations).
    pub fn spent(&self) -> Spent {
        let mut spent = crate::sync::lock(&self.ledger).spent;
        spent.worker_runs = self.worker_runs.load(Ordering::Relaxed);
        spent
    }
}

/// The first of `max_tokens` and `max_cost_usd` that `spent` passes with `ahead` more tokens
/// and dollars (reserved, and the request `next` about to be sent, which the error names; its
/// cost is not checked when its model has no price).
fn passed(
    limits: &Limits,
    spent: &Spent,
    ahead: (u64, f64),
    next: Option<Estimate>,
) -> Option<CallError> {
    use crate::model::prices::dollars;
    if let Some(max) = limits.max_tokens
        && spent.usage.total() + ahead.0 > max
    {
        return Some(CallError::Budget {
            limit: "max_tokens",
            max: max.to_string(),
            used: spent.usage.total().to_string(),
            next: next.map(|e| format!("{} tokens", e.tokens)),
        });
    }
    if let Some(max) = limits.max_cost_usd
        && next.is_none_or(|e| e.cost.is_some())
        && spent.cost + ahead.1 > max
    {
        return Some(CallError::Budget {
            limit: "max_cost_usd",
            max: dollars(max),
            used: dollars(spent.cost),
            next: next.and_then(|e| e.cost).map(dollars),
        });
    }
    None
}

fn exceeded(limit: &'static str, max: String, used: String) -> CallError {
    CallError::Budget {
        limit,
        max,
        used,
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    fn est(tokens: u64, cost: f64) -> Estimate {
        Estimate {
            tokens,
            cost: Some(cost),
        }
    }

    /// Reserve and settle at once, in a small runtime.
    fn spend(b: &Budget, e: Estimate, used: Usage, cost: f64) -> Result<(), CallError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { b.reserve(e).await?.settle(used, Some(cost)) })
    }

    #[test]
    fn each_limit_stops_the_run_naming_itself() {
        let b = Budget::new(Limits {
            max_requests: Some(2),
            ..Limits::default()
        });
        spend(&b, est(1, 0.0), usage(1, 0), 0.0).unwrap();
        spend(&b, est(1, 0.0), usage(1, 0), 0.0).unwrap();
        let e = spend(&b, est(1, 0.0), usage(1, 0), 0.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exceeded: `max_requests` is 2 and this run reached 3"
        );
        // A request that used more than it reserved still ends the run when it settles.
        let b = Budget::new(Limits {
            max_tokens: Some(10),
            max_cost_usd: Some(0.5),
            ..Limits::default()
        });
        let e = spend(&b, est(5, 0.1), usage(6, 6), 0.1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exceeded: `max_tokens` is 10 and this run reached 12"
        );
        let b = Budget::new(Limits {
            max_worker_runs: Some(1),
            ..Limits::default()
        });
        b.start_worker().unwrap();
        assert!(b.start_worker().is_err());
    }

    #[test]
    fn a_request_that_could_overspend_is_refused_before_it_is_sent() {
        let b = Budget::new(Limits {
            max_cost_usd: Some(0.5),
            ..Limits::default()
        });
        spend(&b, est(10, 0.2), usage(5, 5), 0.15).unwrap();
        spend(&b, est(10, 0.2), usage(5, 5), 0.15).unwrap();
        // $0.30 spent: a request that could cost $0.25 would overshoot $0.50.
        let e = spend(&b, est(10, 0.25), usage(5, 5), 0.15).unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exceeded: `max_cost_usd` is $0.5000 and this run reached $0.3000; its next request could use up to $0.2500"
        );
        assert_eq!(b.spent().requests, 2);
        assert!((b.spent().cost - 0.3).abs() < 1e-9);
        let b = Budget::new(Limits {
            max_tokens: Some(100),
            ..Limits::default()
        });
        let e = spend(&b, est(4200, 0.0), usage(1, 1), 0.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exceeded: `max_tokens` is 100 and this run reached 0; its next request could use up to 4200 tokens"
        );
    }

    #[test]
    fn reservations_hold_room_until_they_settle_or_drop() {
        let limits = Limits {
            max_cost_usd: Some(0.5),
            ..Limits::default()
        };
        let b = Budget::new(limits);
        let now = |e| b.reserve(e).now_or_never().map(Result::unwrap);
        assert!(now(est(1, 0.2)).is_some());
        let held = (now(est(1, 0.2)), now(est(1, 0.2)));
        // Room for $0.10 while two requests hold $0.40: wait for them.
        assert!(now(est(1, 0.2)).is_none());
        assert!(now(est(1, 0.1)).is_some());
        // A model without a price reserves no dollars.
        let unpriced = Estimate {
            tokens: 1,
            cost: None,
        };
        assert!(now(unpriced).is_some());
        drop(held);
        let b = Budget::new(limits);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let first = b.reserve(est(1, 0.3)).await.unwrap();
            // The second waits while the first holds $0.30 ...
            let second = b.reserve(est(1, 0.3));
            tokio::pin!(second);
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(1), second.as_mut())
                    .await
                    .is_err()
            );
            // ... and goes once the first is released (its request failed).
            drop(first);
            second
                .await
                .unwrap()
                .settle(usage(1, 1), Some(0.1))
                .unwrap();
        });
        assert!((b.spent().cost - 0.1).abs() < 1e-9);
    }

    #[test]
    fn an_estimate_is_the_request_size_and_its_max_tokens() {
        let mut request = ModelRequest {
            max_tokens: Some(100),
            ..ModelRequest::default()
        };
        let bytes = serde_json::to_vec(&request).unwrap().len() as u64;
        let price = Price {
            input: 1_000_000.0,
            output: 2_000_000.0,
            cache_read: None,
            cache_write: None,
        };
        let e = Estimate::of(&request, Some(&price));
        let input = bytes.div_ceil(BYTES_PER_TOKEN);
        assert_eq!(e.tokens, input + 100);
        #[allow(clippy::cast_precision_loss)]
        let want = input as f64 + 200.0;
        assert!((e.cost.unwrap() - want).abs() < 1e-6);
        request.max_tokens = None;
        assert_eq!(output_ceiling(&request), ASSUMED_MAX_TOKENS);
        assert_eq!(Estimate::of(&request, None).cost, None);
    }
}
