//! The OpenAI Chat Completions wire format (`POST {base}/chat/completions`), used for
//! `openai:`, `ollama:` and every OpenAI-compatible endpoint (vLLM, llama.cpp, LiteLLM,
//! OpenRouter). Request building and reply parsing are pure functions in the submodules;
//! [`OpenAiModel`] only adds HTTP, retries and streaming.

mod request;
mod response;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::Value;

pub use request::build_request;
pub use response::{StreamState, parse_response};

use super::http::{self, Endpoint, Failure, RetryPolicy};
use super::{Model, ModelError, ModelRequest, ModelResponse, StreamSink, sse};

/// A model reached through an OpenAI-compatible Chat Completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    id: String,
    name: String,
    client: reqwest::Client,
    endpoint: Endpoint,
    retry: RetryPolicy,
    stream: bool,
}

impl OpenAiModel {
    /// A model with full id `id` (e.g. `openai:gpt-4o`) whose API name is `name`, sending to
    /// `endpoint` (its URL is the full `/chat/completions` URL). With `stream`, replies are
    /// requested as SSE and text deltas go to the sink as they arrive.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        client: reqwest::Client,
        endpoint: Endpoint,
        retry: RetryPolicy,
        stream: bool,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            client,
            endpoint,
            retry,
            stream,
        }
    }

    fn headers(&self) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.endpoint.key {
            headers.insert(AUTHORIZATION, key.header("Bearer ")?);
        }
        Ok(headers)
    }

    async fn attempt(
        &self,
        body: &Value,
        model: &str,
        sink: Option<StreamSink<'_>>,
    ) -> Result<ModelResponse, Failure> {
        let provider = self.endpoint.provider.as_str();
        let response = http::post(
            &self.client,
            &self.endpoint,
            self.headers()?,
            body,
            model,
            &self.retry,
        )
        .await?;
        if self.stream && !is_plain_json(response.headers()) {
            let bytes = response
                .bytes_stream()
                .map_err(|e| http::transport_error(&e, &self.endpoint, &self.retry));
            return sse::drive(Box::pin(bytes), StreamState::new(provider), sink, provider).await;
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| http::transport_error(&e, &self.endpoint, &self.retry))?;
        http::log_body(
            &self.endpoint,
            "reply from",
            &String::from_utf8_lossy(&bytes),
        );
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            sse::protocol(
                provider,
                format!(
                    "the response is not JSON ({e}): {}",
                    http::provider_message(&String::from_utf8_lossy(&bytes))
                ),
            )
        })?;
        parse_response(&json, provider)
    }
}

/// Whether a response to a streaming request is plain JSON (a server that ignores
/// `stream: true`); anything else, whatever its content type, is read as SSE.
pub(crate) fn is_plain_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

impl Model for OpenAiModel {
    fn id(&self) -> &str {
        &self.id
    }

    /// Uses `request.model` when set, else the model name this handle was resolved with.
    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let model = if request.model.is_empty() {
                self.name.as_str()
            } else {
                request.model.as_str()
            };
            let body = build_request(request, model, self.stream);
            http::send_with_retries(&self.retry, || self.attempt(&body, model, sink)).await
        })
    }
}
