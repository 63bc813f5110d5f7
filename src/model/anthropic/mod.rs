//! The Anthropic Messages wire format (`POST {base}/v1/messages`), used for `anthropic:` and
//! Anthropic-compatible endpoints. Request building and reply parsing are pure functions in
//! the submodules; [`AnthropicModel`] only adds HTTP, retries and streaming.

mod request;
mod response;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use request::{DEFAULT_MAX_TOKENS, build_request, output_tool_name};
pub use response::{StreamState, parse_response};

use super::http::{self, Endpoint, Failure, RetryPolicy};
use super::openai::is_plain_json;
use super::{Model, ModelError, ModelRequest, ModelResponse, StreamSink, sse};

/// The API version this wire code speaks.
pub const API_VERSION: &str = "2023-06-01";

/// A model reached through an Anthropic-compatible Messages endpoint.
#[derive(Debug, Clone)]
pub struct AnthropicModel {
    id: String,
    name: String,
    client: reqwest::Client,
    endpoint: Endpoint,
    retry: RetryPolicy,
    stream: bool,
}

impl AnthropicModel {
    /// A model with full id `id` (e.g. `anthropic:claude-haiku-4-5`) whose API name is `name`,
    /// sending to `endpoint` (its URL is the full `/v1/messages` URL). With `stream`, replies
    /// are requested as SSE and text deltas go to the sink as they arrive.
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
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = &self.endpoint.key {
            headers.insert(HeaderName::from_static("x-api-key"), key.header("")?);
        }
        Ok(headers)
    }

    async fn attempt(
        &self,
        body: &Value,
        model: &str,
        output_tool: Option<&str>,
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
            let state = StreamState::new(provider, output_tool.map(str::to_owned));
            return sse::drive(Box::pin(bytes), state, sink, provider).await;
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
            let excerpt = http::provider_message(&String::from_utf8_lossy(&bytes));
            sse::protocol(
                provider,
                format!("the response is not JSON ({e}): {excerpt}"),
            )
        })?;
        parse_response(&json, provider, output_tool)
    }
}

impl Model for AnthropicModel {
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
            let body = build_request(request, model, self.stream)?;
            let output_tool = output_tool_name(request);
            http::send_with_retries(&self.retry, || {
                self.attempt(&body, model, output_tool.as_deref(), sink)
            })
            .await
        })
    }
}
