//! The OpenAI Chat Completions wire format (`POST {base}/chat/completions`), used for
//! `openai:`, `ollama:` and every OpenAI-compatible endpoint (vLLM, llama.cpp, LiteLLM,
//! OpenRouter). Request building and reply parsing are pure functions in the submodules;
//! [`HttpModel`](super::http_model::HttpModel) sends them.

mod request;
mod response;

pub use request::encode_request;
pub use response::StreamState;
