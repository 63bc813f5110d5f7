//! The Anthropic Messages wire format (`POST {base}/v1/messages`), used for `anthropic:` and
//! Anthropic-compatible endpoints. Request building and reply parsing are pure functions in
//! the submodules; [`HttpModel`](super::http_model::HttpModel) sends them.

mod request;
mod response;

pub use request::{encode_request, output_tool_name};
pub use response::StreamState;

/// The API version this wire code speaks.
pub const API_VERSION: &str = "2023-06-01";
