//! HTTP plumbing shared by the wire providers: the one `reqwest::Client`, sending one attempt,
//! and the mapping of HTTP failures to [`ModelError`]s that tell the user what to fix. The
//! retry policy lives in [`super::retry`] and is re-exported here.
//!
//! API keys never appear in errors or `Debug` output: [`ApiKey`] redacts itself, auth headers
//! are marked sensitive, and provider messages are scrubbed of the key before they are kept.
//! A password in a base URL (`https://user:key@host/v1`) is hidden wherever the URL is shown
//! ([`shown_url`]). Credentials never cross origins: the client follows redirects only within
//! the origin of the request ([`same_origin_redirects`]); any other redirect is an error.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::ModelError;
pub use super::retry::{RetryPolicy, retry_after, send_with_retries};

/// How long to wait for a TCP/TLS connection before giving up on one attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest provider message kept in an error (bodies can be whole HTML pages).
const MAX_DETAIL_CHARS: usize = 500;
/// Most redirects followed within one origin.
const MAX_REDIRECTS: usize = 10;

/// Builds the shared HTTP client. Build it once per process and pass clones around: clones
/// share one connection pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("llm-do/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(same_origin_redirects))
        .build()
        .unwrap_or_default()
}

/// The redirect policy: follow a redirect only to the origin (scheme, host, port) of the first
/// request, at most [`MAX_REDIRECTS`] times. A redirect elsewhere is not followed, so the auth
/// headers (`authorization`, `x-api-key`) never reach another server; the 3xx response comes
/// back and [`post`] reports it.
pub fn same_origin_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .first()
        .is_some_and(|first| first.origin() == attempt.url().origin());
    if !same_origin {
        attempt.stop()
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
    } else {
        attempt.follow()
    }
}

/// `url` as it may be shown in messages and logs: a user name and password in it (which
/// become a basic-auth header) are replaced by `<redacted>`.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            let text = parsed.to_string();
            match text.split_once("://") {
                Some((scheme, rest)) => format!("{scheme}://<redacted>@{rest}"),
                None => text,
            }
        }
        Ok(_) => url.to_owned(),
        // Not a URL: hide everything between `://` and a `@` anyway.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}<redacted>{}", &url[..start + 3], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// An API key read from an environment variable. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The secret: read only for the auth header and for redaction, in this module.
    value: String,
    /// The environment variable the key came from.
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

impl Endpoint {
    /// The URL as messages and logs show it (credentials in it redacted, see [`shown_url`]).
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// Every secret a server could echo back: the key, and a password in the URL (as written,
    /// percent-decoded, and inside the basic-auth header value it becomes).
    pub fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        let mut secrets: Vec<String> = self.key.iter().map(|k| k.value.clone()).collect();
        if let Ok(url) = reqwest::Url::parse(&self.url)
            && let Some(password) = url.password()
        {
            let decode = |s| percent_encoding::percent_decode_str(s).decode_utf8_lossy();
            let decoded = decode(password).into_owned();
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{decoded}", decode(url.username())));
            secrets.extend([password.to_owned(), decoded, basic]);
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }
}

/// The `tracing` target of `-vvv` HTTP events (request bodies, statuses, response bodies).
pub const LOG_TARGET: &str = "llm_do::http";

/// `-vvv`: log a body at TRACE level with the endpoint's key redacted. Headers are never
/// logged. Costs one check when no subscriber listens.
pub fn log_body(endpoint: &Endpoint, what: &str, body: &[u8]) {
    // Checked before any work: bodies grow with the conversation and this runs per request.
    if tracing::enabled!(target: LOG_TARGET, tracing::Level::TRACE) {
        let body = redact_all(&String::from_utf8_lossy(body), &endpoint.secrets());
        tracing::trace!(target: LOG_TARGET, "{what} {}: {body}", endpoint.shown_url());
    }
}

/// Sends one attempt of a JSON POST (`body` is the encoded JSON) and returns the response when its status is a success.
/// Failures are classified (retryable or not) with the provider's message extracted.
/// Every attempt shares `body` (a reference count, not a copy of a body that grows with the
/// conversation).
pub async fn post(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    headers: HeaderMap,
    body: &bytes::Bytes,
    model: &str,
    policy: &RetryPolicy,
) -> Result<reqwest::Response, ModelError> {
    log_body(endpoint, "POST", body);
    let response = client
        .post(&endpoint.url)
        .headers(headers)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .timeout(policy.request_timeout)
        .send()
        .await
        .map_err(|e| transport_error(&e, endpoint, policy))?;
    let status = response.status().as_u16();
    tracing::trace!(target: LOG_TARGET, "HTTP {status} from {}", endpoint.shown_url());
    if response.status().is_success() {
        return Ok(response);
    }
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| String::from("(no location)"), shown_url);
        return Err(redirect_error(status, &location, endpoint));
    }
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let text = response.text().await.unwrap_or_default();
    log_body(endpoint, "error body from", text.as_bytes());
    Err(classify_status(status, &text, endpoint, model, retry_after))
}

/// Maps a `reqwest` transport error (connect, timeout, broken body) to a [`ModelError`].
pub fn transport_error(
    error: &reqwest::Error,
    endpoint: &Endpoint,
    policy: &RetryPolicy,
) -> ModelError {
    // A connect timeout is a connection problem, not the request timeout: check it first.
    if error.is_timeout() && !error.is_connect() {
        ModelError::Timeout {
            provider: endpoint.provider.clone(),
            secs: policy.request_timeout.as_secs(),
        }
    } else {
        // reqwest's message ends with ` for url (...)`; the error names the URL once, redacted.
        let mut message = error_chain(error);
        if let Some(url) = error.url() {
            message = message.replace(&format!(" for url ({url})"), "");
        }
        ModelError::Connect {
            provider: endpoint.provider.clone(),
            url: endpoint.shown_url(),
            message: redact_all(&message, &endpoint.secrets()),
        }
    }
}

/// A redirect the client did not follow (to another origin, or a 3xx without a usable
/// `Location`): not retryable, and it says which URL to configure instead.
fn redirect_error(status: u16, location: &str, endpoint: &Endpoint) -> ModelError {
    ModelError::Http {
        provider: endpoint.provider.clone(),
        status,
        message: format!(
            "`{}` redirected to `{location}`, another origin; llm-do does not follow redirects across origins, so credentials stay with the server you configured\nhint: if the new address is right, use it as the base URL",
            endpoint.shown_url()
        ),
        retryable: false,
        retry_after: None,
    }
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

/// Classifies a non-success HTTP status into an error that says what to do (`retry_after`:
/// the server's hint).
pub fn classify_status(
    status: u16,
    body: &str,
    endpoint: &Endpoint,
    model: &str,
    retry_after: Option<Duration>,
) -> ModelError {
    let detail = redact_all(&provider_message(body), &endpoint.secrets());
    let overloaded = status == 529 || detail.to_lowercase().contains("overloaded");
    let (message, retryable) = match status {
        401 | 403 => (auth_message(&detail, endpoint), false),
        404 => (
            format!(
                "model `{model}` not found at `{}` ({detail}); check the model name and the base URL",
                endpoint.shown_url()
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
        retry_after,
    }
}

fn auth_message(detail: &str, endpoint: &Endpoint) -> String {
    match (&endpoint.key, &endpoint.keyless_hint) {
        (Some(key), _) => format!(
            "authentication failed ({detail}); check the API key in `{}`",
            key.var
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
    crate::output::clip(&text, MAX_DETAIL_CHARS)
}

/// `text` with every occurrence of each of `secrets` replaced by `<redacted>`, longest first
/// (so a secret containing another is hidden whole).
pub fn redact_all(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    sorted.into_iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "<redacted>")
    })
}

/// `error` with every occurrence of each of `secrets` in its messages replaced by
/// `<redacted>`: the last line of defence for bodies and stream chunks a server echoes back
/// (some echo the whole request, auth header included), whatever path built the message.
pub fn redact_error(error: &mut ModelError, secrets: &[String]) {
    let clean = |text: &mut String| *text = redact_all(text, secrets);
    match error {
        ModelError::Http { message, .. }
        | ModelError::Protocol { message, .. }
        | ModelError::Other(message) => clean(message),
        ModelError::Connect { url, message, .. } => {
            clean(url);
            clean(message);
        }
        ModelError::Fallback { last, .. } | ModelError::RetriesExhausted { last, .. } => {
            redact_error(last, secrets);
        }
        ModelError::MissingKey { .. } | ModelError::Timeout { .. } => {}
    }
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

    fn http(error: ModelError) -> (u16, String, bool) {
        match error {
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
    fn errors_are_scrubbed_of_the_key_wherever_it_hides() {
        let secrets = ["sk-x".to_owned()];
        let inner = ModelError::Protocol {
            provider: "p".into(),
            message: "malformed stream chunk: {\"auth\":\"Bearer sk-x\"}".into(),
        };
        let mut error = ModelError::RetriesExhausted {
            attempts: 2,
            last: Box::new(inner),
        };
        redact_error(&mut error, &secrets);
        let text = error.to_string();
        assert!(
            !text.contains("sk-x") && text.contains("Bearer <redacted>"),
            "{text}"
        );
        let mut error = ModelError::Other("sk-x".into());
        redact_error(&mut error, &[]);
        assert_eq!(error.to_string(), "sk-x");
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
            None,
        ));
        assert_eq!(status, 401);
        assert!(!retryable);
        assert!(message.contains("`OPENAI_API_KEY`"), "{message}");
        assert!(!message.contains("sk-secret-123"), "{message}");
        assert!(!format!("{key:?}").contains("sk-secret"));
        assert!(format!("{:?}", key.header("Bearer ").unwrap()).contains("Sensitive"));
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            shown_url("https://user:sk-pass@host.example/v1"),
            "https://<redacted>@host.example/v1"
        );
        assert_eq!(shown_url("http://tok@h:8/x"), "http://<redacted>@h:8/x");
        assert_eq!(shown_url("https://host/v1"), "https://host/v1");
        assert_eq!(shown_url("weird://a:b@c d"), "weird://<redacted>@c d");
        let ep = Endpoint {
            url: "https://me:p%40ss@h/v1/chat/completions".into(),
            ..endpoint(Some(ApiKey::new("sk-k", "K")))
        };
        let body = "bad p%40ss p@ss sk-k bWU6cEBzcw== at https://me:p%40ss@h/v1";
        let (_, message, _) = http(classify_status(400, body, &ep, "m", None));
        assert_eq!(
            message,
            "bad <redacted> <redacted> <redacted> <redacted> at https://me:<redacted>@h/v1"
        );
        let (_, message, _) = http(classify_status(404, "{}", &ep, "m", None));
        assert!(
            message.contains("at `https://<redacted>@h/v1/chat/completions`"),
            "{message}"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let ep = endpoint(None);
        assert!(http(classify_status(429, "{}", &ep, "m", None)).2);
        assert!(http(classify_status(503, "", &ep, "m", None)).2);
        assert!(
            http(classify_status(
                529,
                r#"{"error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &ep,
                "m",
                None
            ))
            .2
        );
        let (_, message, retryable) = http(classify_status(
            404,
            r#"{"error":"nope"}"#,
            &ep,
            "gpt-9",
            None,
        ));
        assert!(!retryable && message.contains("`gpt-9`"), "{message}");
        let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        let (_, message, _) = http(classify_status(400, body, &ep, "gpt-4", None));
        assert!(
            message.starts_with("the conversation is too long"),
            "{message}"
        );
        let (_, message, retryable) = http(classify_status(
            400,
            r#"{"error":{"message":"bad schema"}}"#,
            &ep,
            "m",
            None,
        ));
        assert_eq!((message.as_str(), retryable), ("bad schema", false));
    }
}
