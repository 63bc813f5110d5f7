//! The Anthropic Messages wire format (`POST {base}/v1/messages`), used for `anthropic:` and
//! Anthropic-compatible endpoints. Request building and reply parsing are pure functions in
//! the submodules; [`AnthropicWire`] plugs them into the shared
//! [`HttpModel`](super::http_model::HttpModel).

mod request;
mod response;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use request::encode_request;
use request::output_tool_name;
pub use response::StreamState;

use super::http::Endpoint;
use super::http_model::WireFormat;
use super::{ModelError, ModelRequest};

/// The API version this wire code speaks.
pub const API_VERSION: &str = "2023-06-01";

/// The Messages wire format.
#[derive(Debug)]
pub struct AnthropicWire;

impl WireFormat for AnthropicWire {
    type Reply = StreamState;

    fn headers(endpoint: &Endpoint) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = &endpoint.key {
            headers.insert(HeaderName::from_static("x-api-key"), key.header("")?);
        }
        Ok(headers)
    }

    fn encode(
        request: &ModelRequest,
        model: &str,
        stream: bool,
        _: &Endpoint,
    ) -> Result<bytes::Bytes, ModelError> {
        encode_request(request, model, stream)
    }

    /// The parser knows the name of the forced output tool, when the request asks for
    /// structured output.
    fn reply(provider: &str, request: &ModelRequest) -> StreamState {
        StreamState::new(provider, output_tool_name(request))
    }
}
