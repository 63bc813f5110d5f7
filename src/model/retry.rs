//! Retrying model requests: the [`RetryPolicy`] (bounded attempts, exponential backoff with
//! jitter, on `backon`), the server's `retry-after` hint, and [`send_with_retries`], which
//! reruns a whole attempt (request and response or stream) while its error is retryable.

use std::future::Future;
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::HeaderMap;

use super::ModelError;
use crate::env_vars;

/// When and how often a failed model request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles on each further retry.
    pub base_delay: Duration,
    /// Upper bound of any single delay, `retry-after` included.
    pub max_delay: Duration,
    /// Limit of one whole attempt, response body (or stream) included.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delays between attempts: the base delay doubling on each retry, capped at
    /// `max_delay`, each with jitter in `[d/2, d)` (`backon` adds up to the delay again, so it
    /// starts from half of both).
    pub fn backoff(&self) -> ExponentialBuilder {
        let retries = self.max_attempts.max(1) - 1;
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay.min(self.max_delay) / 2)
            .with_max_delay(self.max_delay / 2)
            .with_max_times(usize::try_from(retries).unwrap_or(usize::MAX))
            .with_jitter()
    }

    /// The delay before a retry: the server's `retry-after` hint when it sent one (capped at
    /// `max_delay`), else the backoff's.
    pub fn delay(&self, backoff: Duration, retry_after: Option<Duration>) -> Duration {
        retry_after.map_or(backoff, |hint| hint.min(self.max_delay))
    }

    /// The default policy with overrides read through `env`: `LLM_DO_HTTP_TIMEOUT_SECS`,
    /// `LLM_DO_RETRY_BASE_MS` and `LLM_DO_RETRY_ATTEMPTS`. A value that is not a positive
    /// whole number (or `0` for the base delay) leaves that default in place.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str| env(name).and_then(|v| v.trim().parse::<u64>().ok());
        let mut policy = Self::default();
        if let Some(secs) = number(env_vars::LLM_DO_HTTP_TIMEOUT_SECS).filter(|s| *s > 0) {
            policy.request_timeout = Duration::from_secs(secs);
        }
        if let Some(ms) = number(env_vars::LLM_DO_RETRY_BASE_MS) {
            policy.base_delay = Duration::from_millis(ms);
        }
        if let Some(n) = number(env_vars::LLM_DO_RETRY_ATTEMPTS).filter(|n| *n > 0) {
            policy.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
        policy
    }
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, or `policy.max_attempts`
/// is reached (then [`ModelError::RetriesExhausted`] wraps the last error).
///
/// A streamed attempt that fails mid-way (e.g. an `overloaded_error` event) is rerun from the
/// start, so a stream sink may see the beginning of the text again.
pub async fn send_with_retries<T, F, Fut>(policy: &RetryPolicy, attempt: F) -> Result<T, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ModelError>>,
{
    let max_attempts = policy.max_attempts.max(1);
    attempt
        .retry(policy.backoff())
        .when(ModelError::is_retryable)
        .adjust(|e, next| next.map(|d| policy.delay(d, e.retry_after())))
        .await
        .map_err(|e| match e {
            last if last.is_retryable() && max_attempts > 1 => ModelError::RetriesExhausted {
                attempts: max_attempts,
                last: Box::new(last),
            },
            error => error,
        })
}

/// The server's requested delay: `retry-after-ms` (milliseconds), else `retry-after` in
/// seconds or as an HTTP date (relative to `now`).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return finite_secs(ms / 1000.0);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return finite_secs(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn finite_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn policy_reads_overrides_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(RetryPolicy::from_env(vars(&[])), RetryPolicy::default());
        let policy = RetryPolicy::from_env(vars(&[
            ("LLM_DO_HTTP_TIMEOUT_SECS", "2"),
            ("LLM_DO_RETRY_BASE_MS", " 5 "),
            ("LLM_DO_RETRY_ATTEMPTS", "1"),
        ]));
        assert_eq!(policy.request_timeout, Duration::from_secs(2));
        assert_eq!(policy.base_delay, Duration::from_millis(5));
        assert_eq!(policy.max_attempts, 1);
        let policy = RetryPolicy::from_env(vars(&[
            ("LLM_DO_HTTP_TIMEOUT_SECS", "0"),
            ("LLM_DO_RETRY_BASE_MS", "soon"),
            ("LLM_DO_RETRY_ATTEMPTS", "-3"),
        ]));
        assert_eq!(policy, RetryPolicy::default());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_attempts: 6,
            ..RetryPolicy::default()
        };
        let ms = Duration::from_millis;
        for _ in 0..50 {
            let delays: Vec<Duration> = policy.backoff().build().collect();
            assert_eq!(delays.len(), 5, "one delay before each retry");
            assert!(delays[0] >= ms(50) && delays[0] <= ms(100), "{delays:?}");
            assert!(delays[1] >= ms(100) && delays[1] <= ms(200), "{delays:?}");
            assert!(delays[2..].iter().all(|d| *d >= ms(150) && *d <= ms(300)));
        }
        assert_eq!(policy.delay(ms(80), None), ms(80));
        assert_eq!(policy.delay(ms(80), Some(Duration::from_secs(9))), ms(300));
        assert_eq!(policy.delay(ms(80), Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn retry_after_parses_seconds_ms_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(5));
        headers.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(5)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_millis(250)));
        headers.insert("retry-after-ms", HeaderValue::from_static("nonsense"));
        headers.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[tokio::test]
    async fn retries_stop_on_success_or_fatal_error_or_budget() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let retryable = || ModelError::Http {
            provider: "p".into(),
            status: 500,
            message: "x".into(),
            retryable: true,
            retry_after: None,
        };
        let mut calls = 0;
        let result = send_with_retries(&policy, || {
            calls += 1;
            let outcome = if calls < 3 {
                Err(retryable())
            } else {
                Ok(calls)
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.unwrap(), 3);

        let mut calls = 0;
        let result: Result<(), _> = send_with_retries(&policy, || {
            calls += 1;
            async { Err(retryable()) }
        })
        .await;
        assert!(matches!(
            result,
            Err(ModelError::RetriesExhausted { attempts: 4, .. })
        ));
        assert_eq!(calls, 4);

        let mut calls = 0;
        let result: Result<(), _> = send_with_retries(&policy, || {
            calls += 1;
            async { Err(ModelError::Other("fatal".into())) }
        })
        .await;
        assert!(matches!(result, Err(ModelError::Other(_))));
        assert_eq!(calls, 1);
    }
}
