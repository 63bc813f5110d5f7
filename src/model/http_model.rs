//! One HTTP model type for every wire family: request body in, retries, then either an SSE
//! stream or a JSON body out. What differs between Anthropic and OpenAI (headers, body
//! building, reply parsing) is chosen by the provider's [`Wire`].

use std::sync::Arc;

use futures_util::TryStreamExt;
use futures_util::future::{BoxFuture, OptionFuture};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::http::{self, Endpoint, RetryPolicy};
use super::limit::Limiter;
use super::providers::Wire;
use super::sse::{self, SseHandler};
use super::{Model, ModelError, ModelRequest, ModelResponse, StreamSink, anthropic, openai};

/// A model reached over HTTP, speaking `wire`.
#[derive(Debug)]
pub struct HttpModel {
    /// The full id, e.g. `openai:gpt-4o`.
    pub(super) id: String,
    /// The API name, used when a request names no model.
    pub(super) name: String,
    pub(super) client: reqwest::Client,
    /// The full request URL and its credentials.
    pub(super) endpoint: Endpoint,
    pub(super) retry: RetryPolicy,
    /// Request SSE streams: text deltas go to the sink as they arrive.
    pub(super) stream: bool,
    /// The provider's rate limits, shared with every model of that provider.
    pub(super) limiter: Option<Arc<Limiter>>,
    pub(super) wire: Wire,
}

impl HttpModel {
    /// Auth and version headers of the wire.
    fn headers(&self) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        let key = self.endpoint.key.as_ref();
        match self.wire {
            Wire::Anthropic => {
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(anthropic::API_VERSION),
                );
                if let Some(key) = key {
                    headers.insert(HeaderName::from_static("x-api-key"), key.header("")?);
                }
            }
            Wire::Openai => {
                if let Some(key) = key {
                    headers.insert(AUTHORIZATION, key.header("Bearer ")?);
                }
            }
        }
        Ok(headers)
    }

    /// The request body (JSON bytes), encoded straight from the request: a tool loop resends
    /// the whole conversation every turn.
    fn encode(&self, request: &ModelRequest, model: &str) -> Result<bytes::Bytes, ModelError> {
        match self.wire {
            Wire::Anthropic => anthropic::encode_request(request, model, self.stream),
            Wire::Openai => {
                openai::encode_request(request, model, self.stream, &self.endpoint.provider)
            }
        }
    }

    async fn attempt(
        &self,
        body: &bytes::Bytes,
        model: &str,
        request: &ModelRequest,
        sink: Option<StreamSink<'_>>,
    ) -> Result<ModelResponse, ModelError> {
        let provider = self.endpoint.provider.as_str();
        // Held until the reply is read (or the stream ends).
        let _slot = OptionFuture::from(self.limiter.as_ref().map(|l| l.acquire())).await;
        let (client, endpoint, retry) = (&self.client, &self.endpoint, &self.retry);
        let response = http::post(client, endpoint, self.headers()?, body, model, retry).await?;
        match self.wire {
            Wire::Anthropic => {
                // The parser knows the name of the forced output tool, when the request asks
                // for structured output.
                let tool = anthropic::output_tool_name(request);
                let reply = anthropic::StreamState::new(provider, tool);
                self.read(response, reply, sink).await
            }
            Wire::Openai => {
                let reply = openai::StreamState::new(provider);
                self.read(response, reply, sink).await
            }
        }
    }

    /// The reply in `response`, parsed by `reply`: an SSE stream, or a whole JSON body.
    async fn read(
        &self,
        response: reqwest::Response,
        reply: impl SseHandler,
        sink: Option<StreamSink<'_>>,
    ) -> Result<ModelResponse, ModelError> {
        let provider = self.endpoint.provider.as_str();
        if self.stream && !is_plain_json(response.headers()) {
            let bytes = response
                .bytes_stream()
                .map_err(|e| http::transport_error(&e, &self.endpoint, &self.retry));
            return sse::drive(Box::pin(bytes), reply, sink, provider).await;
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| http::transport_error(&e, &self.endpoint, &self.retry))?;
        http::log_body(&self.endpoint, "reply from", &bytes);
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            let excerpt = http::provider_message(&String::from_utf8_lossy(&bytes));
            sse::protocol(
                provider,
                format!("the response is not JSON ({e}): {excerpt}"),
            )
        })?;
        reply.whole(&json)
    }
}

impl Model for HttpModel {
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
            let body = self.encode(request, model)?;
            let reply =
                http::send_with_retries(&self.retry, || self.attempt(&body, model, request, sink));
            reply.await.map_err(|mut e| {
                http::redact_error(&mut e, &self.endpoint.secrets());
                e
            })
        })
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
