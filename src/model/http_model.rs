//! One HTTP model type for every wire family: request body in, retries, then either an SSE
//! stream or a JSON body out. What differs between Anthropic and OpenAI (headers, body
//! building, reply parsing, stream state) is a [`WireFormat`].

use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::TryStreamExt;
use futures_util::future::{BoxFuture, OptionFuture};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use super::http::{self, Endpoint, Failure, RetryPolicy};
use super::limit::Limiter;
use super::sse::{self, SseHandler};
use super::{Model, ModelError, ModelRequest, ModelResponse, StreamSink};

/// The parts of a wire format that differ between provider families. All pure.
pub trait WireFormat: Send + Sync + 'static {
    /// The reply parser: a streamed reply's events, or a whole JSON body.
    type Reply: SseHandler + Send;
    /// Auth and version headers.
    fn headers(endpoint: &Endpoint) -> Result<HeaderMap, ModelError>;
    /// The request body (JSON bytes) for `endpoint`, encoded straight from the request: a
    /// tool loop resends the whole conversation every turn.
    fn encode(
        request: &ModelRequest,
        model: &str,
        stream: bool,
        endpoint: &Endpoint,
    ) -> Result<bytes::Bytes, ModelError>;
    /// A parser for the reply from `provider` to `request`.
    fn reply(provider: &str, request: &ModelRequest) -> Self::Reply;
}

/// A model reached over HTTP through wire format `W`.
#[derive(Debug)]
pub struct HttpModel<W> {
    id: String,
    name: String,
    client: reqwest::Client,
    endpoint: Endpoint,
    retry: RetryPolicy,
    stream: bool,
    /// The provider's rate limits, shared with every model of that provider.
    limiter: Option<Arc<Limiter>>,
    wire: PhantomData<fn() -> W>,
}

impl<W: WireFormat> HttpModel<W> {
    /// A model with full id `id` (e.g. `openai:gpt-4o`) whose API name is `name`, sending to
    /// `endpoint` (the full request URL). With `stream`, replies are requested as SSE and text
    /// deltas go to the sink as they arrive.
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
            limiter: None,
            wire: PhantomData,
        }
    }

    /// Every attempt of this model waits for a slot of `limiter`.
    #[must_use]
    pub fn with_limiter(mut self, limiter: Option<Arc<Limiter>>) -> Self {
        self.limiter = limiter;
        self
    }

    async fn attempt(
        &self,
        body: &bytes::Bytes,
        model: &str,
        request: &ModelRequest,
        sink: Option<StreamSink<'_>>,
    ) -> Result<ModelResponse, Failure> {
        let provider = self.endpoint.provider.as_str();
        let reply = W::reply(provider, request);
        // Held until the reply is read (or the stream ends).
        let _slot = OptionFuture::from(self.limiter.as_ref().map(|l| l.acquire())).await;
        let response = http::post(
            &self.client,
            &self.endpoint,
            W::headers(&self.endpoint)?,
            body,
            model,
            &self.retry,
        )
        .await?;
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

impl<W: WireFormat> Model for HttpModel<W> {
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
            let body = W::encode(request, model, self.stream, &self.endpoint)?;
            let secret = self.endpoint.key.as_ref().map(http::ApiKey::expose);
            http::send_with_retries(&self.retry, || self.attempt(&body, model, request, sink))
                .await
                .map_err(|e| http::redact_error(e, secret))
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
