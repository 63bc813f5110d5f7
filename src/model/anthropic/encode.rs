//! Request encoding: the request body written from borrowed,
//! typed blocks straight into bytes, so a long tool loop does not rebuild (and drop) a
//! `serde_json::Value` tree of the whole conversation every turn.

use serde::Serialize;
use serde_json::Value;

use super::request::{
    DEFAULT_MAX_TOKENS, attachment, output_tool_name, system_prompt, tool_choice,
};
use crate::model::{Message, ModelError, ModelRequest, Part, Role};

/// The description of the forced output tool (as in the `Value` builder).
pub(super) const OUTPUT_TOOL_DESCRIPTION: &str =
    "Give your final answer by calling this tool; its input is the answer.";

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    system: String,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
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
) -> Result<Vec<u8>, ModelError> {
    let output_tool = output_tool_name(request);
    let mut tools: Vec<Tool<'_>> = request
        .tools
        .iter()
        .map(|t| Tool {
            name: &t.name,
            description: &t.description,
            input_schema: &t.parameters,
        })
        .collect();
    if let (Some(name), Some(schema)) = (&output_tool, &request.output_schema) {
        tools.push(Tool {
            name,
            description: OUTPUT_TOOL_DESCRIPTION,
            input_schema: schema,
        });
    }
    let body = Body {
        model,
        max_tokens: request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: system_prompt(&request.system, output_tool.as_deref()),
        messages: turns(&request.messages)?,
        tool_choice: (!tools.is_empty()).then(|| tool_choice(request, output_tool.as_deref())),
        tools,
        temperature: request.temperature,
        stream: stream.then_some(true),
    };
    serde_json::to_vec(&body)
        .map_err(|e| ModelError::Other(format!("cannot encode the request: {e}")))
}

/// Messages as turns; consecutive messages of one role merge, tool results first.
fn turns(messages: &[Message]) -> Result<Vec<Turn<'_>>, ModelError> {
    let mut out: Vec<(Role, Vec<Block<'_>>)> = Vec::new();
    for message in messages {
        let blocks = blocks(message)?;
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((role, existing)) if *role == message.role => {
                let results = existing
                    .iter()
                    .take_while(|b| matches!(b, Block::ToolResult { .. }))
                    .count();
                let (new_results, rest): (Vec<_>, Vec<_>) = blocks
                    .into_iter()
                    .partition(|b| matches!(b, Block::ToolResult { .. }));
                existing.splice(results..results, new_results);
                existing.extend(rest);
            }
            _ => out.push((message.role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| Turn {
            role: if role == Role::User {
                "user"
            } else {
                "assistant"
            },
            content,
        })
        .collect())
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
        }
    }
    results.extend(rest);
    Ok(results)
}
