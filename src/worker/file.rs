//! The `.worker` file format (DESIGN §3): YAML frontmatter between `---` lines, then the
//! system prompt. Parsing is strict and every error points at file:line:col.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::model::ToolChoice;

/// A toolset name as written in the frontmatter, with its byte span in the file (for errors
/// such as an unknown toolset).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsetRef {
    pub name: String,
    /// Byte offset and length in [`WorkerSpec::text`].
    pub span: (usize, usize),
}

/// A few-shot example: sent as a prior user/assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub input: Value,
    pub output: Value,
}

/// A parsed, validated worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    /// Registered name (frontmatter `name`, default: the file stem).
    pub name: String,
    pub description: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub toolsets: Vec<ToolsetRef>,
    /// Input JSON Schema (shorthand already expanded). Default: `{input: string}`.
    pub input: Value,
    /// Output JSON Schema (shorthand already expanded), when the worker returns structured data.
    pub output: Option<Value>,
    pub examples: Vec<Example>,
    /// Input fields whose values are paths of files to attach.
    pub attachments: Vec<String>,
    /// Model round trips per run (default 20).
    pub max_turns: u32,
    pub tool_choice: ToolChoice,
    pub seed: Option<i64>,
    /// The body: the system prompt.
    pub instructions: String,
    /// Where the worker came from (`None` for inline workers).
    pub path: Option<PathBuf>,
    /// The whole file text (for diagnostics).
    pub text: Arc<str>,
    /// Byte span of the `name` value (or of the frontmatter start), for duplicate-name errors.
    pub name_span: (usize, usize),
}
