//! Parses Chat Completions replies: an SSE stream of chunks accumulated by [`StreamState`], or
//! a whole JSON response read through the same state. Tolerates what OpenAI-compatible servers (llama.cpp,
//! vLLM, Ollama, LiteLLM) do differently: `content: null`, extra fields such as `timings`,
//! a usage-only chunk with empty `choices`, tool-call deltas without an `index`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::sse::{Flow, SseHandler, protocol};
use crate::model::wire::{parse_arguments, truncated_tool_call};
use crate::model::{FinishReason, ModelError, ModelResponse, StreamEvent, ToolCall, Usage};

/// A choice whose `message` is `null` or missing: an empty reply is not an answer.
fn no_message(choice: &Value, provider: &str) -> ModelError {
    let reason = match choice.get("finish_reason").and_then(Value::as_str) {
        Some(reason) => format!(" (finish_reason `{reason}`)"),
        None => String::new(),
    };
    protocol(
        provider,
        format!("the reply has no message: `choices[0].message` is null or missing{reason}"),
    )
}

/// The string at JSON pointer `path` of `value`.
fn str_at<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    value.pointer(path)?.as_str()
}

/// Message content as text: a string, `null`, or an array of `{type: text, text}` parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn usage(value: Option<&Value>) -> Usage {
    let count = |path| value.and_then(|u| u.pointer(path)?.as_u64()).unwrap_or(0);
    // `prompt_tokens` includes the cached ones, reported in `prompt_tokens_details`.
    let cached = count("/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: count("/prompt_tokens").saturating_sub(cached),
        output_tokens: count("/completion_tokens"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    }
}

fn finish_reason(reason: Option<&str>, has_calls: bool) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        // Some servers say `stop` even when they return tool calls.
        _ if has_calls => FinishReason::ToolCalls,
        None | Some("stop" | "eos" | "end_turn") => FinishReason::Stop,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// An `error` object inside a 200 response or a stream. Rate limits, overload and server
/// errors are retryable; anything else is reported as is.
pub fn body_error(error: &Value, provider: &str) -> ModelError {
    let message = match error {
        Value::String(s) => s.clone(),
        _ => str_at(error, "/message")
            .unwrap_or("unknown error")
            .to_owned(),
    };
    let kind = [str_at(error, "/type"), str_at(error, "/code")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let numeric = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok());
    let status = numeric.or_else(|| {
        let kind = kind.to_lowercase();
        if kind.contains("rate_limit") {
            Some(429)
        } else if kind.contains("overloaded") || message.to_lowercase().contains("overloaded") {
            Some(529)
        } else if kind.contains("server_error") {
            Some(500)
        } else {
            None
        }
    });
    match status {
        Some(status) => ModelError::Http {
            provider: provider.to_owned(),
            status,
            message,
            retryable: status == 429 || status >= 500,
            retry_after: None,
        },
        None => protocol(provider, format!("the server reported an error: {message}")),
    }
}

/// One tool call being assembled from stream deltas.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Accumulates a streamed reply (text deltas, tool-call deltas by `index`, usage, finish).
#[derive(Debug, Default)]
pub struct StreamState {
    provider: String,
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    usage: Usage,
    finish: Option<String>,
    done: bool,
    /// Whether any chunk had a choice (usage-only chunks have none).
    saw_choice: bool,
}

impl StreamState {
    /// Empty state for a stream from `provider`.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            ..Self::default()
        }
    }

    /// Where a streamed tool-call delta goes: its `index`; without one, a new id starts a new
    /// call and anything else continues the latest one.
    fn delta_index(&self, position: usize, delta: &Value) -> u64 {
        let id = str_at(delta, "/id").filter(|id| !id.is_empty());
        delta
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| match (id, self.calls.last_key_value()) {
                (None, Some((last, _))) => *last,
                (Some(id), Some((last, call))) if call.id == id => *last,
                (_, Some((last, _))) => last + 1,
                (_, None) => position as u64,
            })
    }

    /// Adds a delta (or a whole call) to the tool call at `index`.
    fn tool_delta(&mut self, index: u64, delta: &Value, out: &mut Vec<StreamEvent>) {
        let id = str_at(delta, "/id").filter(|id| !id.is_empty());
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id {
            call.id = id.to_owned();
        }
        if let Some(name) = str_at(delta, "/function/name").filter(|n| !n.is_empty()) {
            // The name arrives whole in the first delta; some servers repeat it later.
            if call.name.is_empty() {
                call.name = name.to_owned();
                out.push(StreamEvent::ToolCallStart {
                    name: name.to_owned(),
                });
            }
        }
        if let Some(piece) = delta.get("function").and_then(|f| f.get("arguments")) {
            match piece {
                Value::String(s) => call.arguments.push_str(s),
                Value::Null => {}
                // Some servers send the arguments as an object, not a JSON string.
                other => call.arguments.push_str(&other.to_string()),
            }
        }
    }
}

impl SseHandler for StreamState {
    fn on_event(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            protocol(
                &self.provider,
                format!("malformed stream chunk ({e}): {data}"),
            )
        })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(body_error(error, &self.provider));
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = usage(Some(u));
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(Flow::Continue);
        };
        self.saw_choice = true;
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            self.text.push_str(text);
            out.push(StreamEvent::TextDelta(text.to_owned()));
        }
        if let Some(deltas) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, d) in deltas.iter().enumerate() {
                self.tool_delta(self.delta_index(position, d), d, out);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(reason.to_owned());
        }
        Ok(Flow::Continue)
    }

    /// Parses a non-streamed `chat.completion` object: its message goes through the same
    /// state, each tool call as one whole delta.
    fn whole(mut self, body: &Value) -> Result<ModelResponse, ModelError> {
        let provider = self.provider.clone();
        if let Some(error) = body.get("error").filter(|e| !e.is_null()) {
            return Err(body_error(error, &provider));
        }
        let choice = body
            .get("choices")
            .and_then(|c| c.get(0))
            .ok_or_else(|| protocol(&provider, "the response has no `choices`"))?;
        let message = choice
            .get("message")
            .filter(|m| m.is_object())
            .ok_or_else(|| no_message(choice, &provider))?;
        self.text = content_text(message.get("content"));
        if self.text.is_empty()
            && let Some(refusal) = message.get("refusal").and_then(Value::as_str)
        {
            refusal.clone_into(&mut self.text);
        }
        let calls = message.get("tool_calls").and_then(Value::as_array);
        for (index, call) in (0..).zip(calls.into_iter().flatten()) {
            self.tool_delta(index, call, &mut Vec::new());
        }
        self.usage = usage(body.get("usage"));
        self.finish = str_at(choice, "/finish_reason").map(str::to_owned);
        (self.done, self.saw_choice) = (true, true);
        self.finish()
    }

    fn finish(self) -> Result<ModelResponse, ModelError> {
        if !self.done && self.finish.is_none() {
            return Err(protocol(
                &self.provider,
                "stream ended early (no `finish_reason` or `[DONE]`); the connection was probably cut",
            ));
        }
        if !self.saw_choice {
            return Err(protocol(
                &self.provider,
                "the stream has no `choices`: no text, no tool calls, no finish_reason",
            ));
        }
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .map(|(index, c)| ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{index}")
                } else {
                    c.id
                },
                name: c.name,
                arguments: parse_arguments(&c.arguments),
            })
            .collect();
        let finish = finish_reason(self.finish.as_deref(), !tool_calls.is_empty());
        // Cut off by `max_tokens`, a reply is an error only when its last tool call's
        // arguments are not a whole JSON object. llama.cpp, for one, finishes a complete tool
        // call and then keeps generating text until `length`: those calls are intact and kept.
        if let (FinishReason::Length, Some(call)) = (&finish, tool_calls.last())
            && !call.arguments.is_object()
        {
            return Err(truncated_tool_call(&self.provider, &call.name));
        }
        Ok(ModelResponse {
            text: self.text,
            tool_calls,
            usage: self.usage,
            finish,
            ..ModelResponse::default()
        })
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
