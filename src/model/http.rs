//! HTTP plumbing shared by the wire providers: the one `reqwest::Client`, the retry policy
//! (exponential backoff with jitter, honouring `retry-after`), and the mapping of HTTP failures
//! to [`ModelError`]s that tell the user what to fix.
//!
//! API keys never appear in errors or `Debug` output: [`ApiKey`] redacts itself, auth headers
//! are marked sensitive, and provider messages are scrubbed of the key before they are kept.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::ModelError;

/// How long to wait for a TCP/TLS connection before giving up on one attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest provider message kept in an error (bodies can be whole HTML pages).
const MAX_DETAIL_CHARS: usize = 500;

/// Builds the shared HTTP client. Build it once per process and pass clones around: clones
/// share one connection pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("llm-do/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

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
    /// The delay before retry number `retry` (1 for the first retry): the server's
    /// `retry-after` when it sent one, else exponential backoff with jitter in `[d/2, d]`.
    /// Both are capped at `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(hint) = retry_after {
            return hint.min(self.max_delay);
        }
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let half = full / 2;
        let jitter_ms = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

/// A failed attempt: the error plus the server's `retry-after` hint, if any.
#[derive(Debug)]
pub struct Failure {
    pub error: ModelError,
    pub retry_after: Option<Duration>,
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, or `policy.max_attempts`
/// is reached (then [`ModelError::RetriesExhausted`] wraps the last error).
pub async fn send_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<T, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if !failure.error.is_retryable() || max_attempts == 1 {
            return Err(failure.error);
        }
        if attempts >= max_attempts {
            return Err(ModelError::RetriesExhausted {
                attempts,
                last: Box::new(failure.error),
            });
        }
        tokio::time::sleep(policy.delay(attempts, failure.retry_after)).await;
    }
}

/// An API key read from an environment variable. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    value: String,
    var: String,
}

impl ApiKey {
    /// A key `value` read from the environment variable `var`.
    pub fn new(value: impl Into<String>, var: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            var: var.into(),
        }
    }
    /// The secret itself, for building the auth header.
    pub fn expose(&self) -> &str {
        &self.value
    }
    /// The environment variable the key came from.
    pub fn var(&self) -> &str {
        &self.var
    }
    /// A header value holding `prefix` + the key, marked sensitive so `Debug` hides it.
    pub fn header(&self, prefix: &str) -> Result<HeaderValue, ModelError> {
        let mut value =
            HeaderValue::from_str(&format!("{prefix}{}", self.value)).map_err(|_| {
                ModelError::Other(format!(
                    "the API key in `{}` contains characters not allowed in an HTTP header",
                    self.var
                ))
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}: <redacted>)", self.var)
    }
}

/// Where a provider's requests go and how they authenticate.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Provider name used in messages (`openai`, `anthropic`, `ollama`, a config name).
    pub provider: String,
    /// Full URL of the endpoint (e.g. `https://api.openai.com/v1/chat/completions`).
    pub url: String,
    /// The key, when this provider uses one.
    pub key: Option<ApiKey>,
    /// Hint shown on 401/403 when no key is configured (e.g. "set `api_key_env` ...").
    pub keyless_hint: Option<String>,
}

/// Sends one attempt of a JSON POST and returns the response when its status is a success.
/// Failures are classified (retryable or not) with the provider's message extracted.
pub async fn post(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    headers: HeaderMap,
    body: &Value,
    model: &str,
    policy: &RetryPolicy,
) -> Result<reqwest::Response, Failure> {
    let response = client
        .post(&endpoint.url)
        .headers(headers)
        .json(body)
        .timeout(policy.request_timeout)
        .send()
        .await
        .map_err(|e| transport_error(&e, endpoint, policy))?;
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let text = response.text().await.unwrap_or_default();
    let mut failure = classify_status(status, &text, endpoint, model);
    failure.retry_after = retry_after;
    Err(failure)
}

/// Maps a `reqwest` transport error (connect, timeout, broken body) to a [`ModelError`].
pub fn transport_error(
    error: &reqwest::Error,
    endpoint: &Endpoint,
    policy: &RetryPolicy,
) -> Failure {
    let error = if error.is_timeout() {
        ModelError::Timeout {
            provider: endpoint.provider.clone(),
            secs: policy.request_timeout.as_secs(),
        }
    } else {
        ModelError::Connect {
            provider: endpoint.provider.clone(),
            url: endpoint.url.clone(),
            message: error_chain(error),
        }
    };
    error.into()
}

/// An error and its sources joined with `: ` (reqwest's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

/// Classifies a non-success HTTP status into an error that says what to do.
pub fn classify_status(status: u16, body: &str, endpoint: &Endpoint, model: &str) -> Failure {
    let secret = endpoint.key.as_ref().map(ApiKey::expose);
    let detail = redact(&provider_message(body), secret);
    let overloaded = status == 529 || detail.to_lowercase().contains("overloaded");
    let (message, retryable) = match status {
        401 | 403 => (auth_message(&detail, endpoint), false),
        404 => (
            format!(
                "model `{model}` not found at `{}` ({detail}); check the model name and the base URL",
                endpoint.url
            ),
            false,
        ),
        408 | 409 | 425 => (detail, true),
        429 => (format!("rate limited: {detail}"), true),
        _ if overloaded => (format!("overloaded: {detail}"), true),
        500..=599 => (format!("server error: {detail}"), true),
        _ if is_context_length(&detail) => (
            format!(
                "the conversation is too long for the context window of model `{model}`: {detail}"
            ),
            false,
        ),
        _ => (detail, false),
    };
    ModelError::Http {
        provider: endpoint.provider.clone(),
        status,
        message,
        retryable,
    }
    .into()
}

fn auth_message(detail: &str, endpoint: &Endpoint) -> String {
    match (&endpoint.key, &endpoint.keyless_hint) {
        (Some(key), _) => format!(
            "authentication failed ({detail}); check the API key in `{}`",
            key.var()
        ),
        (None, Some(hint)) => format!("authentication failed ({detail}); {hint}"),
        (None, None) => format!("authentication failed ({detail})"),
    }
}

/// Whether a provider message says the prompt exceeds the model's context window.
pub fn is_context_length(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "context_length_exceeded",
        "context length",
        "context window",
        "context size",
        "prompt is too long",
        "too many tokens",
        "maximum context",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The human message inside an error body: `{"error":{"message":..}}` (OpenAI, Anthropic),
/// `{"error":".."}` (Ollama), `{"message":..}`, or the raw text, shortened.
pub fn provider_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|json| {
        let error = json.get("error").unwrap_or(&json);
        match error {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => map
                .get("message")
                .or_else(|| map.get("detail"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        return String::from("no details in the response body");
    }
    shorten(&text, MAX_DETAIL_CHARS)
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `text` with every occurrence of `secret` replaced by `<redacted>`.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "<redacted>"),
        _ => text.to_owned(),
    }
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
    use super::*;

    fn endpoint(key: Option<ApiKey>) -> Endpoint {
        Endpoint {
            provider: "openai".into(),
            url: "http://x/v1/chat/completions".into(),
            key,
            keyless_hint: None,
        }
    }

    fn http(failure: Failure) -> (u16, String, bool) {
        match failure.error {
            ModelError::Http {
                status,
                message,
                retryable,
                ..
            } => (status, message, retryable),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = policy.delay(2, None);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            assert!(policy.delay(9, None) <= Duration::from_millis(300));
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(9))),
            Duration::from_millis(300)
        );
        assert_eq!(policy.delay(1, Some(Duration::ZERO)), Duration::ZERO);
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

    #[test]
    fn provider_messages_are_extracted() {
        assert_eq!(
            provider_message(r#"{"error":{"message":"bad thing","type":"x"}}"#),
            "bad thing"
        );
        assert_eq!(
            provider_message(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(provider_message("<html>oops</html>"), "<html>oops</html>");
        assert_eq!(provider_message(""), "no details in the response body");
        assert_eq!(
            provider_message(&"a".repeat(600)).chars().count(),
            MAX_DETAIL_CHARS + 1
        );
    }

    #[test]
    fn auth_errors_name_the_variable_and_hide_the_key() {
        let key = ApiKey::new("sk-secret-123", "OPENAI_API_KEY");
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-secret-123"}}"#;
        let (status, message, retryable) = http(classify_status(
            401,
            body,
            &endpoint(Some(key.clone())),
            "gpt",
        ));
        assert_eq!(status, 401);
        assert!(!retryable);
        assert!(message.contains("`OPENAI_API_KEY`"), "{message}");
        assert!(!message.contains("sk-secret-123"), "{message}");
        assert!(!format!("{key:?}").contains("sk-secret"));
        assert!(format!("{:?}", key.header("Bearer ").unwrap()).contains("Sensitive"));
    }

    #[test]
    fn statuses_are_classified() {
        let ep = endpoint(None);
        assert!(http(classify_status(429, "{}", &ep, "m")).2);
        assert!(http(classify_status(503, "", &ep, "m")).2);
        assert!(
            http(classify_status(
                529,
                r#"{"error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &ep,
                "m"
            ))
            .2
        );
        let (_, message, retryable) =
            http(classify_status(404, r#"{"error":"nope"}"#, &ep, "gpt-9"));
        assert!(!retryable && message.contains("`gpt-9`"), "{message}");
        let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        let (_, message, _) = http(classify_status(400, body, &ep, "gpt-4"));
        assert!(
            message.starts_with("the conversation is too long"),
            "{message}"
        );
        let (_, message, retryable) = http(classify_status(
            400,
            r#"{"error":{"message":"bad schema"}}"#,
            &ep,
            "m",
        ));
        assert_eq!((message.as_str(), retryable), ("bad schema", false));
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
        };
        let mut calls = 0;
        let result = send_with_retries(&policy, || {
            calls += 1;
            let outcome = if calls < 3 {
                Err(Failure::from(retryable()))
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
            async { Err(Failure::from(retryable())) }
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
            async { Err(Failure::from(ModelError::Other("fatal".into()))) }
        })
        .await;
        assert!(matches!(result, Err(ModelError::Other(_))));
        assert_eq!(calls, 1);
    }
}
