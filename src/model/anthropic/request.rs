//! Builds the Messages API request body from a [`ModelRequest`]. Structured output uses a
//! forced tool: the schema becomes the `input_schema` of an extra tool the model must call
//! with its final answer.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::model::{Attachment, ModelError, ModelRequest, ToolChoice};

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

/// The `tool_choice` of a request that offers tools. While `thinking`, the API takes only
/// `auto` and `none` (the system prompt still asks for the output tool).
pub(super) fn tool_choice(
    request: &ModelRequest,
    output_tool: Option<&str>,
    thinking: bool,
) -> Value {
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

pub(super) fn attachment(a: &Attachment) -> Result<Value, ModelError> {
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

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
