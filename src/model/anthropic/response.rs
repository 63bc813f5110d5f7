//! Parses Messages API replies: a whole `message` object, or the SSE event sequence
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`)
//! accumulated by [`StreamState`]. A call of the structured-output tool becomes the reply's
//! text (its input as JSON) instead of a tool call.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::sse::{Flow, SseHandler, protocol};
use crate::model::wire::{parse_arguments, truncated_tool_call};
use crate::model::{FinishReason, ModelError, ModelResponse, StreamEvent, ToolCall, Usage};

/// The block types of extended thinking. With tools, the API wants an assistant turn's thinking
/// blocks sent back unchanged (signature included) in the requests that follow it.
const THINKING: &str = "thinking";
const REDACTED_THINKING: &str = "redacted_thinking";

/// The string `value[key]`, empty when absent.
fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Takes the counts present in a `usage` object (`message_start` carries the input side,
/// `message_delta` the output); cache reads and writes are kept apart from input.
fn add_usage(usage: &mut Usage, value: Option<&Value>) {
    let Some(value) = value else { return };
    // `output_tokens` is cumulative in `message_delta`, so it replaces too.
    for (key, count) in [
        ("input_tokens", &mut usage.input_tokens),
        ("cache_read_input_tokens", &mut usage.cache_read_tokens),
        ("cache_creation_input_tokens", &mut usage.cache_write_tokens),
        ("output_tokens", &mut usage.output_tokens),
    ] {
        if let Some(n) = value.get(key).and_then(Value::as_u64).filter(|n| *n > 0) {
            *count = n;
        }
    }
}

/// An `error` event or body: overload, rate limits and API errors are retryable.
pub fn error_event(body: &Value, provider: &str) -> ModelError {
    let error = body.get("error").unwrap_or(body);
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or(kind)
        .to_owned();
    let status = match kind {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        _ => return protocol(provider, format!("the server reported `{kind}`: {message}")),
    };
    ModelError::Http {
        provider: provider.to_owned(),
        status,
        message: format!("{kind}: {message}"),
        retryable: true,
        retry_after: None,
    }
}

/// One content block being assembled.
#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    /// A `thinking` block (its text and signature arrive as deltas) or a `redacted_thinking`
    /// one (whole at its start), kept as the block to send back.
    Thinking(Value),
    Other,
}

/// Accumulates a streamed reply.
#[derive(Debug, Default)]
pub struct StreamState {
    provider: String,
    output_tool: Option<String>,
    text: String,
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    stop: Option<String>,
    done: bool,
}

impl StreamState {
    /// Empty state for a stream from `provider`; `output_tool` names the structured-output tool.
    pub fn new(provider: &str, output_tool: Option<String>) -> Self {
        Self {
            provider: provider.to_owned(),
            output_tool,
            ..Self::default()
        }
    }

    fn push_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.text.push_str(text);
            out.push(StreamEvent::TextDelta(text.to_owned()));
        }
    }

    fn block_start(&mut self, index: u64, block: &Value, out: &mut Vec<StreamEvent>) {
        let entry = match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                self.push_text(str_at(block, "text"), out);
                Block::Text
            }
            Some("tool_use") => {
                let name = str_at(block, "name").to_owned();
                if self.output_tool.as_deref() != Some(name.as_str()) {
                    out.push(StreamEvent::ToolCallStart { name: name.clone() });
                }
                // A non-streamed block holds its whole `input`; a streamed one starts with
                // `{}` and gets it as `input_json_delta`s.
                let json = match block.get("input") {
                    Some(Value::Object(map)) if map.is_empty() => String::new(),
                    Some(input) => input.to_string(),
                    None => String::new(),
                };
                Block::Tool {
                    id: str_at(block, "id").to_owned(),
                    name,
                    json,
                }
            }
            Some(THINKING | REDACTED_THINKING) => Block::Thinking(block.clone()),
            _ => Block::Other,
        };
        self.blocks.insert(index, entry);
    }

    fn block_delta(&mut self, index: u64, delta: &Value, out: &mut Vec<StreamEvent>) {
        match delta.get("type").and_then(Value::as_str) {
            Some("text_delta") => self.push_text(str_at(delta, "text"), out),
            Some("input_json_delta") => {
                if let Some(Block::Tool { json, .. }) = self.blocks.get_mut(&index) {
                    json.push_str(str_at(delta, "partial_json"));
                }
            }
            // A `thinking_delta` extends the block's `thinking`, a `signature_delta` its
            // `signature`.
            Some(kind @ ("thinking_delta" | "signature_delta")) => {
                let key = kind.trim_end_matches("_delta");
                if let (Some(Block::Thinking(Value::Object(block))), Some(part)) = (
                    self.blocks.get_mut(&index),
                    delta.get(key).and_then(Value::as_str),
                ) {
                    let field = block
                        .entry(key)
                        .or_insert_with(|| Value::String(String::new()));
                    if let Value::String(s) = field {
                        s.push_str(part);
                    }
                }
            }
            // Future delta types carry nothing the reply keeps.
            _ => {}
        }
    }
}

impl SseHandler for StreamState {
    fn on_event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let json: Value = serde_json::from_str(data).map_err(|e| {
            protocol(
                &self.provider,
                format!("malformed `{event}` event ({e}): {data}"),
            )
        })?;
        let kind = json.get("type").and_then(Value::as_str).unwrap_or(event);
        let index = json.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => add_usage(
                &mut self.usage,
                json.get("message").and_then(|m| m.get("usage")),
            ),
            "content_block_start" => self.block_start(
                index,
                json.get("content_block").unwrap_or(&Value::Null),
                out,
            ),
            "content_block_delta" => {
                self.block_delta(index, json.get("delta").unwrap_or(&Value::Null), out)
            }
            "message_delta" => {
                if let Some(stop) = json
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop = Some(stop.to_owned());
                }
                add_usage(&mut self.usage, json.get("usage"));
            }
            "message_stop" => {
                self.done = true;
                return Ok(Flow::Done);
            }
            "error" => return Err(error_event(&json, &self.provider)),
            // `ping`, `content_block_stop` and unknown events need nothing.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// Parses a non-streamed `message` object: its content blocks go through
    /// [`StreamState::block_start`], as if each had just started.
    fn whole(mut self, body: &Value) -> Result<ModelResponse, ModelError> {
        if body.get("type").and_then(Value::as_str) == Some("error") {
            return Err(error_event(body, &self.provider));
        }
        let content = body
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| protocol(&self.provider, "the response has no `content`"))?;
        for (index, block) in (0..).zip(content) {
            self.block_start(index, block, &mut Vec::new());
        }
        add_usage(&mut self.usage, body.get("usage"));
        self.stop = body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.done = true;
        self.finish()
    }

    /// The reply: a structured answer when the output tool was called, an error when
    /// `max_tokens` cut a tool call short or when the reply says it stopped to use tools but
    /// holds no `tool_use` block (taken as an empty answer, that would end the run silently).
    fn finish(self) -> Result<ModelResponse, ModelError> {
        let provider = self.provider.as_str();
        if !self.done {
            return Err(protocol(
                provider,
                "stream ended early (no `message_stop`); the connection was probably cut",
            ));
        }
        let (mut calls, mut thinking) = (Vec::new(), Vec::new());
        for block in self.blocks.into_values() {
            match block {
                Block::Tool { id, name, json } => calls.push(ToolCall {
                    id,
                    name,
                    arguments: parse_arguments(&json),
                }),
                Block::Thinking(block) => thinking.push(block),
                Block::Text | Block::Other => {}
            }
        }
        let (stop, output_tool) = (self.stop.as_deref(), self.output_tool.as_deref());
        let reply = |text, tool_calls, finish| ModelResponse {
            text,
            tool_calls,
            thinking,
            usage: self.usage,
            finish,
            fallbacks: Vec::new(),
        };
        if stop == Some("max_tokens")
            && let Some(call) = calls.last()
        {
            // A cut-off structured answer is a cut-off answer (the run loop says so, naming
            // the worker's `max_tokens`); a cut-off call of a real tool is an error here.
            if output_tool == Some(call.name.as_str()) {
                let text = match &call.arguments {
                    Value::String(raw) => raw.clone(),
                    whole => whole.to_string(),
                };
                return Ok(reply(text, Vec::new(), FinishReason::Length));
            }
            return Err(truncated_tool_call(provider, &call.name));
        }
        if stop == Some("tool_use") && calls.is_empty() {
            return Err(protocol(
                provider,
                "stop_reason is `tool_use` but the reply has no `tool_use` content block",
            ));
        }
        if let Some(answer) = output_tool.and_then(|name| calls.iter().find(|c| c.name == name)) {
            let text = serde_json::to_string(&answer.arguments).unwrap_or_default();
            return Ok(reply(text, Vec::new(), FinishReason::Stop));
        }
        let finish = match stop {
            Some("max_tokens") => FinishReason::Length,
            Some("tool_use") => FinishReason::ToolCalls,
            _ if !calls.is_empty() => FinishReason::ToolCalls,
            None | Some("end_turn" | "stop_sequence") => FinishReason::Stop,
            Some(other) => FinishReason::Other(other.to_owned()),
        };
        Ok(reply(self.text, calls, finish))
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
