//! The OpenAI Chat Completions wire format (`POST {base}/chat/completions`), used for
//! `openai:`, `ollama:` and every OpenAI-compatible endpoint (vLLM, llama.cpp, LiteLLM,
//! OpenRouter). Request building and reply parsing are pure functions in the submodules;
//! [`OpenAiWire`] plugs them into the shared [`HttpModel`].

mod request;
mod response;

use reqwest::header::{AUTHORIZATION, HeaderMap};

pub use request::{LengthField, encode_request};
pub use response::StreamState;

use super::http::Endpoint;
use super::http_model::{HttpModel, WireFormat};
use super::{ModelError, ModelRequest};

/// A model reached through an OpenAI-compatible Chat Completions endpoint.
pub type OpenAiModel = HttpModel<OpenAiWire>;

/// The Chat Completions wire format.
#[derive(Debug)]
pub struct OpenAiWire;

impl WireFormat for OpenAiWire {
    type Reply = StreamState;

    fn headers(endpoint: &Endpoint) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &endpoint.key {
            headers.insert(AUTHORIZATION, key.header("Bearer ")?);
        }
        Ok(headers)
    }

    fn encode(
        request: &ModelRequest,
        model: &str,
        stream: bool,
        endpoint: &Endpoint,
    ) -> Result<bytes::Bytes, ModelError> {
        encode_request(request, model, stream, LengthField::of(&endpoint.provider))
            .map_err(|e| ModelError::Other(format!("cannot encode the request: {e}")))
    }

    fn reply(provider: &str, _: &ModelRequest) -> StreamState {
        StreamState::new(provider)
    }
}
