//! Builds the Messages API request body from a [`ModelRequest`]. Structured output uses a
//! forced tool: the schema becomes the `input_schema` of an extra tool the model must call
//! with its final answer.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::model::{Attachment, Message, ModelError, ModelRequest, Part, Role, ToolChoice};

/// `max_tokens` is required by the Messages API; this is sent when the worker sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
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

/// The JSON body of `POST /v1/messages`. Fails only on an attachment type the API cannot take.
pub fn build_request(
    request: &ModelRequest,
    model: &str,
    stream: bool,
) -> Result<Value, ModelError> {
    let output_tool = output_tool_name(request);
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    let system = system_prompt(&request.system, output_tool.as_deref());
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    body.insert(
        "messages".into(),
        Value::Array(messages(&request.messages)?),
    );
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    if let (Some(name), Some(schema)) = (&output_tool, &request.output_schema) {
        tools.push(json!({
            "name": name,
            "description": super::encode::OUTPUT_TOOL_DESCRIPTION,
            "input_schema": schema,
        }));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
        body.insert(
            "tool_choice".into(),
            tool_choice(request, output_tool.as_deref()),
        );
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

pub(super) fn system_prompt(system: &str, output_tool: Option<&str>) -> String {
    match output_tool {
        None => system.to_owned(),
        Some(tool) => {
            let instruction = format!(
                "When you have your final answer, call the `{tool}` tool with it as the input. \
                 Do not give the final answer as plain text."
            );
            if system.is_empty() {
                instruction
            } else {
                format!("{system}\n\n{instruction}")
            }
        }
    }
}

pub(super) fn tool_choice(request: &ModelRequest, output_tool: Option<&str>) -> Value {
    let mut choice = match (&request.tool_choice, output_tool) {
        (ToolChoice::Tool(name), _) => json!({"type": "tool", "name": name}),
        // The answer must come through the output tool: no real tools, or none allowed.
        (ToolChoice::None, Some(out)) => json!({"type": "tool", "name": out}),
        (_, Some(out)) if request.tools.is_empty() => json!({"type": "tool", "name": out}),
        (ToolChoice::Auto, Some(_)) | (ToolChoice::Required, _) => json!({"type": "any"}),
        (ToolChoice::Auto, None) => json!({"type": "auto"}),
        (ToolChoice::None, None) => return json!({"type": "none"}),
    };
    if request.parallel_tool_calls == Some(false) {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    choice
}

/// Messages as content blocks, consecutive messages of one role merged (the API requires
/// alternating roles). In a user turn, tool results come first, as the API requires.
fn messages(messages: &[Message]) -> Result<Vec<Value>, ModelError> {
    let mut out: Vec<(Role, Vec<Value>)> = Vec::new();
    for message in messages {
        let blocks = blocks(message)?;
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((role, existing)) if *role == message.role => {
                let results = existing
                    .iter()
                    .take_while(|b| b["type"] == "tool_result")
                    .count();
                let (new_results, rest): (Vec<Value>, Vec<Value>) =
                    blocks.into_iter().partition(|b| b["type"] == "tool_result");
                existing.splice(results..results, new_results);
                existing.extend(rest);
            }
            _ => out.push((message.role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| {
            let role = if role == Role::User {
                "user"
            } else {
                "assistant"
            };
            json!({"role": role, "content": content})
        })
        .collect())
}

fn blocks(message: &Message) -> Result<Vec<Value>, ModelError> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for part in &message.parts {
        match part {
            // The API rejects empty text blocks.
            Part::Text(text) if text.is_empty() => {}
            Part::Text(text) => rest.push(json!({"type": "text", "text": text})),
            Part::ToolCall(c) => {
                let input = if c.arguments.is_object() { c.arguments.clone() } else { json!({}) };
                rest.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
            }
            Part::ToolResult(r) => results.push(json!({
                "type": "tool_result", "tool_use_id": r.call_id, "content": r.content, "is_error": r.is_error,
            })),
            Part::Attachment(a) => rest.push(attachment(a)?),
        }
    }
    results.extend(rest);
    Ok(results)
}

pub(super) fn attachment(a: &Attachment) -> Result<Value, ModelError> {
    let media = a.media_type.as_str();
    if media.starts_with("image/") {
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": a.data_base64}}),
        );
    }
    if media == "application/pdf" {
        return Ok(
            json!({"type": "document", "source": {"type": "base64", "media_type": media, "data": a.data_base64}}),
        );
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

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
