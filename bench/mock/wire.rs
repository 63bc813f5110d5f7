//! What the mock model answers: reading a Chat Completions or Messages request, and building
//! the reply in the same wire format. Stateless: the turn is the number of assistant messages
//! already in the conversation, and per-conversation settings come from directives
//! (`key=value` words) in the first user message, so concurrent conversations never interfere.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// Which API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Chat Completions (`POST .../chat/completions`).
    OpenAi,
    /// Anthropic Messages (`POST .../messages`).
    Anthropic,
}

/// Defaults for every conversation (command-line flags of the mock).
#[derive(Debug, Clone)]
pub struct Script {
    /// Delay before each reply.
    pub latency: Duration,
    /// Turns answered with tool calls before the final text answer.
    pub tool_turns: u32,
    /// Tool calls per tool turn.
    pub calls_per_turn: u32,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            tool_turns: 0,
            calls_per_turn: 1,
        }
    }
}

/// The mock's decision for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Wait until this many requests are in flight (this one included) before the delay, so
    /// tests can order events without timing: `await_in_flight=N`.
    pub await_in_flight: u64,
    pub delay: Duration,
    /// HTTP status; anything but 200 sends an error body.
    pub status: u16,
    pub body: Value,
}

/// Answer `request` (a parsed JSON body) arriving on `wire`.
pub fn reply(wire: Wire, request: &Value, defaults: &Script) -> Reply {
    let messages = request["messages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let first_user = messages
        .iter()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
    let d = Directives::parse(&first_user, defaults);
    if d.status != 200 {
        let body = json!({"error": {"type": "mock_error", "message": format!("mock status {}", d.status)}});
        return Reply {
            await_in_flight: d.await_in_flight,
            delay: d.delay,
            status: d.status,
            body,
        };
    }
    let tools = tools_of(wire, request);
    let tool = d
        .tool
        .as_deref()
        .and_then(|name| tools.iter().find(|(n, _)| n == name))
        .or_else(|| tools.first());
    let calls: Vec<(String, String, Value)> = match tool {
        Some((name, schema)) if turn < d.tool_turns as usize => (0..d.calls_per_turn)
            .map(|j| {
                (
                    format!("call_{turn}_{j}"),
                    name.clone(),
                    arguments_for(schema),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let text = format!("reply to: {first_user}");
    let model = request["model"].clone();
    let body = match wire {
        Wire::OpenAi => openai_body(model, &text, &calls),
        Wire::Anthropic => anthropic_body(model, &text, &calls),
    };
    Reply {
        await_in_flight: d.await_in_flight,
        delay: d.delay,
        status: 200,
        body,
    }
}

/// Per-conversation settings read from the first user message.
#[derive(Debug, Clone, PartialEq)]
struct Directives {
    await_in_flight: u64,
    delay: Duration,
    status: u16,
    tool_turns: u32,
    calls_per_turn: u32,
    tool: Option<String>,
}

impl Directives {
    fn parse(text: &str, defaults: &Script) -> Self {
        let mut d = Directives {
            await_in_flight: 0,
            delay: defaults.latency,
            status: 200,
            tool_turns: defaults.tool_turns,
            calls_per_turn: defaults.calls_per_turn,
            tool: None,
        };
        for (key, value) in text.split_whitespace().filter_map(|w| w.split_once('=')) {
            match key {
                "delay_ms" => d.delay = value.parse().map_or(d.delay, Duration::from_millis),
                "await_in_flight" => d.await_in_flight = value.parse().unwrap_or(0),
                "status" => d.status = value.parse().unwrap_or(d.status),
                "tools" => d.tool_turns = value.parse().unwrap_or(d.tool_turns),
                "calls" => d.calls_per_turn = value.parse().unwrap_or(d.calls_per_turn),
                "tool" => d.tool = Some(value.to_string()),
                _ => {}
            }
        }
        d
    }
}

/// The text of a message's `content` (a string or an array of text blocks).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Tool names and argument schemas offered in the request.
fn tools_of(wire: Wire, request: &Value) -> Vec<(String, Value)> {
    let tools = request["tools"].as_array().map_or(&[][..], Vec::as_slice);
    tools
        .iter()
        .filter_map(|t| {
            let (name, schema) = match wire {
                Wire::OpenAi => (&t["function"]["name"], &t["function"]["parameters"]),
                Wire::Anthropic => (&t["name"], &t["input_schema"]),
            };
            Some((name.as_str()?.to_string(), schema.clone()))
        })
        .collect()
}

/// Arguments filling every required property of `schema` with a value of its type.
fn arguments_for(schema: &Value) -> Value {
    let mut args = Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let value = match schema["properties"][name]["type"].as_str() {
            Some("integer") => json!(1),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("x"),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

fn openai_body(model: Value, text: &str, calls: &[(String, String, Value)]) -> Value {
    let (message, finish) = if calls.is_empty() {
        (json!({"role": "assistant", "content": text}), "stop")
    } else {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
            .collect();
        (
            json!({"role": "assistant", "content": null, "tool_calls": calls}),
            "tool_calls",
        )
    };
    json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

fn anthropic_body(model: Value, text: &str, calls: &[(String, String, Value)]) -> Value {
    let (content, stop) = if calls.is_empty() {
        (vec![json!({"type": "text", "text": text})], "end_turn")
    } else {
        let blocks = calls
            .iter()
            .map(|(id, name, args)| json!({"type": "tool_use", "id": id, "name": name, "input": args}))
            .collect();
        (blocks, "tool_use")
    };
    json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai_request(user: &str, assistants: usize) -> Value {
        let mut messages = vec![json!({"role": "user", "content": user})];
        messages.extend((0..assistants).map(|_| json!({"role": "assistant", "content": "t"})));
        json!({"model": "m", "messages": messages, "tools": [{"type": "function", "function": {"name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}]})
    }

    #[test]
    fn tool_turns_then_text_with_directives() {
        let script = Script::default();
        let r = reply(
            Wire::OpenAi,
            &openai_request("tools=2 calls=3 delay_ms=5", 1),
            &script,
        );
        assert_eq!(r.delay, Duration::from_millis(5));
        let calls = r.body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0]["function"]["arguments"], "{\"a\":1}");
        let r = reply(Wire::OpenAi, &openai_request("tools=2", 2), &script);
        assert_eq!(
            r.body["choices"][0]["message"]["content"],
            "reply to: tools=2"
        );
    }

    #[test]
    fn anthropic_replies_use_tool_use_blocks_and_status_directives_fail() {
        let request = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "tools=1"}]}],
            "tools": [{"name": "read", "input_schema": {"type": "object"}}]});
        let r = reply(Wire::Anthropic, &request, &Script::default());
        assert_eq!(r.body["content"][0]["type"], "tool_use");
        assert_eq!(r.body["stop_reason"], "tool_use");
        let failing = json!({"messages": [{"role": "user", "content": "status=400"}]});
        assert_eq!(
            reply(Wire::Anthropic, &failing, &Script::default()).status,
            400
        );
    }
}
