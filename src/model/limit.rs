//! Per-provider rate limits (`[providers.NAME] requests_per_minute, max_concurrent`): one
//! [`Limiter`] per provider, shared by every model of that provider in the process, so nested
//! fan-outs cannot multiply past the limits. Each HTTP attempt (retries too) takes a slot.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::OptionFuture;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Caps the requests in flight and spaces request starts evenly (`60 s / requests_per_minute`).
/// Each caller reserves the next start under a lock, so waiters start in the order they came
/// (not `governor`: its `until_ready` waiters re-check on a timer thread of their own, in no
/// order, for about the same lines).
#[derive(Debug)]
pub struct Limiter {
    concurrent: Option<Semaphore>,
    interval: Option<Duration>,
    next_start: Mutex<Option<Instant>>,
}

impl Limiter {
    /// A limiter, or `None` when neither limit is set.
    #[must_use]
    pub fn new(requests_per_minute: Option<u32>, max_concurrent: Option<u32>) -> Option<Self> {
        (requests_per_minute.is_some() || max_concurrent.is_some()).then(|| Self {
            concurrent: max_concurrent.map(|n| Semaphore::new(n.max(1) as usize)),
            interval: requests_per_minute.map(|n| Duration::from_secs(60) / n.max(1)),
            next_start: Mutex::new(None),
        })
    }

    /// Waits for a start time and a free slot (held while a request is in flight, freed when
    /// dropped; `None` without a concurrency limit).
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        if let Some(interval) = self.interval {
            let start = {
                let mut next = crate::sync::lock(&self.next_start);
                let now = Instant::now();
                let start = next.map_or(now, |n| n.max(now));
                *next = Some(start + interval);
                start
            };
            tokio::time::sleep_until(start).await;
        }
        // The semaphore is never closed.
        let permit = OptionFuture::from(self.concurrent.as_ref().map(Semaphore::acquire)).await;
        permit.and_then(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limits_no_limiter() {
        assert!(Limiter::new(None, None).is_none());
    }

    #[tokio::test]
    async fn starts_are_spaced_by_the_rate() {
        // 6,000 a minute: one every 10 ms.
        let limiter = Limiter::new(Some(6000), None).unwrap();
        let begin = Instant::now();
        for _ in 0..3 {
            drop(limiter.acquire().await);
        }
        // The first starts at once, then one every 10 ms.
        let elapsed = begin.elapsed();
        assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let limiter = Limiter::new(None, Some(2)).unwrap();
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(20), limiter.acquire()).await;
        assert!(third.is_err());
        drop(a);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), limiter.acquire())
                .await
                .is_ok()
        );
    }
}
