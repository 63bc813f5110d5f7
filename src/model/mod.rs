//! Models: the `Model` trait every provider implements, the provider-neutral request and
//! response types, and model-id resolution (`provider:model`).
//!
//! Providers are pure wire code: they turn a [`ModelRequest`] into an HTTP request and a
//! response (or SSE stream) back into a [`ModelResponse`]. They never print, never read global
//! state and never execute tools; the worker run loop does that.

use std::borrow::Cow;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use encoded::Encoded;
pub use encoded::Messages;

pub mod anthropic;
pub mod cassette;
mod encoded;
pub mod fallback;
pub mod http;
pub mod http_model;
pub mod limit;
pub mod openai;
pub mod prices;
pub mod providers;
pub mod retry;
pub mod sse;
pub mod test;
pub mod wire;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One message of a conversation (the system prompt travels separately in [`ModelRequest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Message {
    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            parts: vec![Part::Text(text.into())],
        }
    }
    /// An assistant message holding one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            parts: vec![Part::Text(text.into())],
        }
    }
    /// The concatenated text parts of this message: borrowed when there is at most one (a
    /// tool loop reads every message's text every turn).
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        });
        match (texts.next(), texts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(one), None) => Cow::Borrowed(one),
            (Some(a), Some(b)) => Cow::Owned([a, b].into_iter().chain(texts).collect()),
        }
    }
}

/// A piece of a message. Assistant messages hold text and tool calls; user messages hold text,
/// attachments and tool results. Serialized (traces, cassettes) as `{"type": ..., "value": ...}`:
/// an internal tag cannot hold the bare string of `Text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Part {
    Text(String),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Attachment(Attachment),
    /// A reasoning block of an assistant message as the provider sent it (Anthropic `thinking`
    /// with its signature, or `redacted_thinking`): sent back unchanged on the same wire,
    /// dropped on the others.
    Thinking(Value),
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id (any shape); echoed back in the matching [`ToolResult`].
    pub id: String,
    pub name: String,
    /// Parsed JSON arguments (an object for well-behaved models).
    pub arguments: Value,
}

/// The result of running a tool call, sent back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    pub content: String,
    /// True when the tool failed or was denied; the content says why.
    pub is_error: bool,
}

/// A file sent to the model (PDF or image).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Path relative to the project root, for messages and traces.
    pub path: String,
    /// MIME type, e.g. `application/pdf`, `image/png`.
    pub media_type: String,
    /// Base64-encoded file content.
    pub data_base64: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// How the model must use tools on this request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    #[default]
    Auto,
    Required,
    None,
    /// Force this tool.
    Tool(String),
}

/// How hard the model should think before answering (frontmatter `reasoning:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reasoning {
    Low,
    Medium,
    High,
    /// A thinking budget in tokens.
    Tokens(u32),
}

impl Reasoning {
    /// The thinking budget in tokens (Anthropic): low 1024, medium 4096, high 16384.
    #[must_use]
    pub fn budget_tokens(self) -> u32 {
        match self {
            Reasoning::Low => 1024,
            Reasoning::Medium => 4096,
            Reasoning::High => 16384,
            Reasoning::Tokens(n) => n,
        }
    }

    /// The effort level (OpenAI `reasoning_effort`): a budget maps to the nearest level.
    #[must_use]
    pub fn effort(self) -> &'static str {
        let n = self.budget_tokens();
        // Nearest on a log scale: the midpoints of 1024–4096 and 4096–16384.
        if n < 2048 {
            "low"
        } else if n < 8192 {
            "medium"
        } else {
            "high"
        }
    }
}

/// Everything a provider needs for one round trip.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelRequest {
    /// Model name without the provider prefix (e.g. `claude-haiku-4-5`).
    pub model: String,
    pub system: String,
    pub messages: Messages,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    /// When set, the final answer must be JSON matching this schema (native structured output).
    pub output_schema: Option<Value>,
    /// Name for the output schema (the worker name), used by wire formats that need one.
    pub output_name: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<i64>,
    /// False when the model should make at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    /// Mark the system prompt, the last tool and the last message as cacheable (Anthropic
    /// `cache_control`; other wires cache on their own).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache: bool,
    /// Thinking effort or budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
}

/// Token counts of one round trip (or a sum of them). Input excludes cache reads and writes,
/// which are counted apart (they are priced apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Every token counted.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.input_tokens += rhs.input_tokens;
        self.output_tokens += rhs.output_tokens;
        self.cache_read_tokens += rhs.cache_read_tokens;
        self.cache_write_tokens += rhs.cache_write_tokens;
    }
}

/// `max_tokens` sent on every wire when neither the worker nor `[defaults] max_tokens` sets
/// one. Without a limit a local server (llama-server, Ollama) generates until its context is
/// full: a small model that loops took minutes for one reply. 4,096 tokens (about 3,000 words)
/// is what Anthropic requests always carried here and what peers default to, so a long answer
/// from a hosted model is not cut off by surprise; a reply that needs more fails loudly, naming
/// this limit, instead of running on. A worker whose answers are short says so with its own
/// `max_tokens` (the bundled `filename_cleaner` sets 128), which also bounds a local model's
/// runaway to seconds (docs/workers.md).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    #[default]
    Stop,
    ToolCalls,
    /// Hit `max_tokens`.
    Length,
    Other(String),
}

impl FinishReason {
    /// The stop reason as traces, `-v` and the run log name it (`stop`, `tool_calls`,
    /// `length`, or the provider's own word).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Length => "length",
            FinishReason::Other(s) => s,
        }
    }
}

/// A member of a fallback chain that was skipped before a reply: which model, and why the
/// chain moved on from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    /// Full id of the model the chain moved on from.
    pub from: String,
    /// Full id of the model tried next.
    pub to: String,
    /// Why: the error that member ended with, or its answers failing the output schema.
    pub reason: String,
}

/// One model reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// Text of the reply (may be empty when only tool calls were made). With an output
    /// schema this is the JSON text of the structured answer.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// Reasoning blocks a provider wants back in the following requests (Anthropic extended
    /// thinking with tools), opaque here; kept in the assistant message as [`Part::Thinking`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thinking: Vec<Value>,
    pub usage: Usage,
    pub finish: FinishReason,
    /// Members of a fallback chain skipped before this reply, in order (empty without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Fallback>,
}

impl ModelResponse {
    /// The id of the model that served this reply from `model`: the last member a fallback
    /// chain moved on to, else `model` itself.
    #[must_use]
    pub fn served<'a>(&'a self, model: &'a dyn Model) -> &'a str {
        self.fallbacks.last().map_or(model.id(), |f| f.to.as_str())
    }
}

/// Incremental output while a reply streams in; passed to a [`StreamSink`].
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    ToolCallStart { name: String },
}

/// Receives stream events (e.g. to show text live with `-v`). Providers call it; they never print.
pub type StreamSink<'a> = &'a (dyn Fn(StreamEvent) + Send + Sync);

/// Errors a model call can end with.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("missing API key: set the `{var}` environment variable")]
    MissingKey { var: String },
    #[error("{provider} returned HTTP {status}: {message}")]
    Http {
        provider: String,
        status: u16,
        message: String,
        retryable: bool,
        /// The server's `retry-after` hint, if it sent one.
        retry_after: Option<std::time::Duration>,
    },
    #[error("could not reach {provider} at {url}: {message}")]
    Connect {
        provider: String,
        url: String,
        message: String,
    },
    #[error("{provider} request timed out after {secs} s")]
    Timeout { provider: String, secs: u64 },
    #[error("invalid response from {provider}: {message}")]
    Protocol { provider: String, message: String },
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        attempts: u32,
        last: Box<ModelError>,
    },
    #[error(
        "every model of the fallback chain failed ({}); the last: {last}",
        crate::suggest::quoted(tried)
    )]
    Fallback {
        tried: Vec<String>,
        last: Box<ModelError>,
    },
    #[error("{0}")]
    Other(String),
}

impl ModelError {
    /// Whether retrying the same request may succeed (429, 5xx, overload, connection errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::Http { retryable, .. } => *retryable,
            ModelError::Connect { .. } | ModelError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The server's `retry-after` hint of an HTTP error.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ModelError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A chat model. Implementations: the offline `test` model, `script:` models, and HTTP
/// providers (`anthropic`, `openai`, `ollama`, named compatible endpoints).
pub trait Model: Send + Sync {
    /// The full model id, e.g. `anthropic:claude-haiku-4-5`.
    fn id(&self) -> &str;
    /// One round trip. `sink` receives stream events when the provider streams.
    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>>;

    /// What to try after this model when its answers keep failing the output schema: the
    /// rest of a fallback chain.
    fn next_in_chain(&self) -> Option<SharedModel> {
        None
    }
}

/// A shared model handle.
pub type SharedModel = Arc<dyn Model>;
