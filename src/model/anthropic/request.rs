//! Builds the Messages API request body from a [`ModelRequest`], written from borrowed, typed
//! blocks straight into bytes, so a long tool loop does not rebuild (and drop) a
//! `serde_json::Value` tree of the whole conversation every turn. Structured output uses a
//! forced tool: the schema becomes the `input_schema` of an extra tool the model must call
//! with its final answer.

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::encoded::{Resume, encoding, frame};
use crate::model::wire::with_instruction;
use crate::model::{
    Attachment, DEFAULT_MAX_TOKENS, Encoded, Message, ModelError, ModelRequest, Part, Reasoning,
    Role, ToolChoice,
};

/// Name of the tool that carries a structured answer.
const OUTPUT_TOOL: &str = "final_result";

/// The name of the structured-output tool for `request`, when it has an output schema
/// (`final_result`, or `final_result_output` if a real tool already has that name).
pub fn output_tool_name(request: &ModelRequest) -> Option<String> {
    request.output_schema.as_ref()?;
    let clashes = request.tools.iter().any(|t| t.name == OUTPUT_TOOL);
    Some(if clashes {
        format!("{OUTPUT_TOOL}_output")
    } else {
        OUTPUT_TOOL.to_owned()
    })
}

fn system_prompt(system: &str, output_tool: Option<&str>) -> String {
    match output_tool {
        None => system.to_owned(),
        Some(tool) => {
            let instruction = format!(
                "When you have your final answer, call the `{tool}` tool with it as the input. \
                 Do not give the final answer as plain text."
            );
            with_instruction(system, instruction)
        }
    }
}

/// The `tool_choice` of a request that offers tools. While `thinking`, the API takes only
/// `auto` and `none` (the system prompt still asks for the output tool).
fn tool_choice(request: &ModelRequest, output_tool: Option<&str>, thinking: bool) -> Value {
    let mut choice = match (&request.tool_choice, output_tool) {
        (ToolChoice::None, None) => return json!({"type": "none"}),
        _ if thinking => json!({"type": "auto"}),
        (ToolChoice::Tool(name), _) => json!({"type": "tool", "name": name}),
        // The answer must come through the output tool: no real tools, or none allowed.
        (ToolChoice::None, Some(out)) => json!({"type": "tool", "name": out}),
        (_, Some(out)) if request.tools.is_empty() => json!({"type": "tool", "name": out}),
        (ToolChoice::Auto, Some(_)) | (ToolChoice::Required, _) => json!({"type": "any"}),
        (ToolChoice::Auto, None) => json!({"type": "auto"}),
    };
    if request.parallel_tool_calls == Some(false) {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    choice
}

fn attachment(a: &Attachment) -> Result<Value, ModelError> {
    let media = a.media_type.as_str();
    let base64 = |kind| json!({"type": kind, "source": {"type": "base64", "media_type": media, "data": a.data_base64}});
    if media.starts_with("image/") {
        return Ok(base64("image"));
    }
    if media == "application/pdf" {
        return Ok(base64("document"));
    }
    if media.starts_with("text/") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&a.data_base64)
            .map_err(|e| {
                ModelError::Other(format!("attachment `{}` is not valid base64: {e}", a.path))
            })?;
        let text = String::from_utf8_lossy(&bytes);
        return Ok(
            json!({"type": "document", "title": a.path, "source": {"type": "text", "media_type": "text/plain", "data": text}}),
        );
    }
    Err(ModelError::Other(format!(
        "attachment `{}` has type `{media}`, which the Anthropic API does not accept; attach PDFs, images or text files",
        a.path
    )))
}

/// The description of the forced output tool.
const OUTPUT_TOOL_DESCRIPTION: &str =
    "Give your final answer by calling this tool; its input is the answer.";

/// The fields after `messages`.
#[derive(Serialize)]
struct Tail<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

/// `{"type": "ephemeral"}`: a prompt-cache breakpoint; everything up to and including the
/// block that carries it is cached.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<Value>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        is_error: bool,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
    #[serde(untagged)]
    Raw(Value),
}

static EMPTY_OBJECT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(serde_json::Map::new()));

/// The bytes of `POST /v1/messages` for `request`.
pub fn encode_request(
    request: &ModelRequest,
    model: &str,
    stream: bool,
) -> Result<bytes::Bytes, ModelError> {
    let output_tool = output_tool_name(request);
    // The real tools, then the output tool.
    let output = output_tool.as_deref().zip(request.output_schema.as_ref());
    let mut tools: Vec<Tool<'_>> = request
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.description.as_str(), &t.parameters))
        .chain(output.map(|(name, schema)| (name, OUTPUT_TOOL_DESCRIPTION, schema)))
        .map(|(name, description, input_schema)| Tool {
            name,
            description,
            input_schema,
            cache_control: None,
        })
        .collect();
    // Three of the four breakpoints the API allows: system, tools, conversation so far.
    if request.cache
        && let Some(tool) = tools.last_mut()
    {
        tool.cache_control = Some(ephemeral());
    }
    let budget = request.reasoning.map(Reasoning::budget_tokens);
    // While thinking the API wants `max_tokens` above the thinking budget and no temperature.
    let max_tokens = match (request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS), budget) {
        (n, Some(budget)) if n <= budget => budget + DEFAULT_MAX_TOKENS,
        (n, _) => n,
    };
    let choice =
        (!tools.is_empty()).then(|| tool_choice(request, output_tool.as_deref(), budget.is_some()));
    // The fields before `messages`; the system prompt is a plain string, or one text block
    // carrying a cache breakpoint.
    let mut head = json!({"model": model, "max_tokens": max_tokens});
    let system = system_prompt(&request.system, output_tool.as_deref());
    if !system.is_empty() {
        head["system"] = if request.cache {
            json!([{"type": "text", "text": system, "cache_control": ephemeral()}])
        } else {
            Value::String(system)
        };
    }
    let tail = Tail {
        tool_choice: choice,
        tools,
        temperature: request.temperature.filter(|_| budget.is_none()),
        thinking: budget.map(|b| json!({"type": "enabled", "budget_tokens": b})),
        stream: stream.then_some(true),
    };
    let (start, end) = frame(&head, &tail).map_err(encoding)?;
    let cache = request.cache;
    request.messages.kept_body(
        "anthropic",
        encode_message,
        (&start, true, &end),
        |buf, from, messages, encoded| write_turns(buf, from, messages, encoded, cache),
    )
}

/// One message's blocks (tool results first), each encoded on its own.
fn encode_message(message: &Message) -> Result<Encoded, ModelError> {
    let blocks = blocks(message)?;
    let results = blocks
        .iter()
        .take_while(|b| matches!(b, Block::ToolResult { .. }))
        .count();
    let mut encoded = Encoded {
        results,
        ..Encoded::default()
    };
    for block in blocks {
        serde_json::to_writer(&mut encoded.bytes, &block).map_err(encoding)?;
        encoded.ends.push(encoded.bytes.len());
    }
    Ok(encoded)
}

/// The turns of the `messages` array from encoded messages, continuing at `from`:
/// consecutive messages of one role merge into one turn, tool results first; with `cache`, the last block carries a cache breakpoint. Returns where the last
/// turn starts: a later message of its role merges into it and the breakpoint moves on, so
/// a later turn rewrites it (everything before it stays).
fn write_turns(
    out: &mut bytes::BytesMut,
    from: Resume,
    messages: &[Message],
    encoded: &[Encoded],
    cache: bool,
) -> Resume {
    let size: usize = encoded.iter().map(|e| e.bytes.len() + 32).sum();
    out.reserve(size + 64);
    // Each turn: its role, its first message (index into `messages`) and its blocks.
    let mut turns: Vec<(Role, usize, Vec<&[u8]>)> = Vec::new();
    let mut results_in_turn = 0;
    for (i, (message, e)) in messages.iter().zip(encoded).enumerate() {
        if e.ends.is_empty() {
            continue;
        }
        let same = matches!(turns.last(), Some((role, _, _)) if *role == message.role);
        if !same {
            turns.push((message.role, i, Vec::new()));
            results_in_turn = 0;
        }
        let Some((_, _, blocks)) = turns.last_mut() else {
            continue;
        };
        let mut all = e.blocks();
        let results: Vec<&[u8]> = all.by_ref().take(e.results).collect();
        let n = results.len();
        blocks.splice(results_in_turn..results_in_turn, results);
        results_in_turn += n;
        blocks.extend(all);
    }
    let mut resume = Resume { count: 0, ..from };
    let last_turn = turns.len().saturating_sub(1);
    for (t, (role, first, blocks)) in turns.iter().enumerate() {
        if t == last_turn {
            resume = Resume {
                count: *first,
                end: out.len(),
                empty: from.empty && t == 0,
            };
        }
        if t > 0 || !from.empty {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(match role {
            Role::User => b"{\"role\":\"user\",\"content\":[",
            Role::Assistant => b"{\"role\":\"assistant\",\"content\":[",
        });
        for (i, block) in blocks.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(block);
        }
        out.extend_from_slice(b"]}");
    }
    if cache && !turns.is_empty() {
        // The last block (an object) takes the breakpoint: `}]}` ends it and its turn.
        out.truncate(out.len() - 3);
        out.extend_from_slice(b",\"cache_control\":{\"type\":\"ephemeral\"}}]}");
    }
    resume
}

fn blocks(message: &Message) -> Result<Vec<Block<'_>>, ModelError> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for part in &message.parts {
        match part {
            // The API rejects empty text blocks.
            Part::Text(text) if text.is_empty() => {}
            Part::Text(text) => rest.push(Block::Text { text }),
            Part::ToolCall(c) => {
                let input = if c.arguments.is_object() {
                    &c.arguments
                } else {
                    &*EMPTY_OBJECT
                };
                rest.push(Block::ToolUse {
                    id: &c.id,
                    name: &c.name,
                    input,
                });
            }
            Part::ToolResult(r) => results.push(Block::ToolResult {
                tool_use_id: &r.call_id,
                content: &r.content,
                is_error: r.is_error,
            }),
            Part::Attachment(a) => rest.push(Block::Raw(attachment(a)?)),
            // Sent back as the API sent it, signature included, before the turn's text.
            Part::Thinking(block) => rest.push(Block::Raw(block.clone())),
        }
    }
    results.extend(rest);
    Ok(results)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
