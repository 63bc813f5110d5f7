//! Builds the Chat Completions request body from a [`ModelRequest`].

use serde_json::{Map, Value, json};

use crate::model::wire::identifier;
use crate::model::{Attachment, Message, ModelRequest, Part, Role, ToolChoice};

/// The JSON body of `POST /chat/completions`. `model` is the model name to send.
pub fn build_request(request: &ModelRequest, model: &str, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages(request)));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        body.insert("tool_choice".into(), tool_choice(&request.tool_choice));
        if let Some(parallel) = request.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if let Some(schema) = &request.output_schema {
        let name = identifier(request.output_name.as_deref(), "output");
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": false}}),
        );
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(n) = request.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(seed) = request.seed {
        body.insert("seed".into(), json!(seed));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

pub(super) fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// The system prompt first, then each message; a user message's tool results become one
/// `tool` message each, placed before the rest of that message (they answer the preceding
/// assistant turn).
fn messages(request: &ModelRequest) -> Vec<Value> {
    let mut out = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        out.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        match message.role {
            Role::User => user_message(message, &mut out),
            Role::Assistant => out.push(assistant_message(message)),
        }
    }
    out
}

fn user_message(message: &Message, out: &mut Vec<Value>) {
    let mut content = Vec::new();
    let mut has_attachment = false;
    for part in &message.parts {
        match part {
            Part::ToolResult(r) => {
                out.push(json!({"role": "tool", "tool_call_id": r.call_id, "content": r.content}));
            }
            Part::Text(text) => content.push(json!({"type": "text", "text": text})),
            Part::Attachment(a) => {
                has_attachment = true;
                content.push(attachment(a));
            }
            // A tool call in a user message is malformed input; the API has no place for it.
            Part::ToolCall(_) => {}
        }
    }
    if content.is_empty() {
        return;
    }
    let content = if has_attachment {
        Value::Array(content)
    } else {
        json!(message.text())
    };
    out.push(json!({"role": "user", "content": content}));
}

pub(super) fn attachment(a: &Attachment) -> Value {
    let data_url = format!("data:{};base64,{}", a.media_type, a.data_base64);
    if a.media_type.starts_with("image/") {
        json!({"type": "image_url", "image_url": {"url": data_url}})
    } else {
        let filename = a.path.rsplit(['/', '\\']).next().unwrap_or(&a.path);
        json!({"type": "file", "file": {"filename": filename, "file_data": data_url}})
    }
}

fn assistant_message(message: &Message) -> Value {
    let text = message.text();
    let calls: Vec<Value> = message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": arguments_text(&c.arguments)},
            })),
            _ => None,
        })
        .collect();
    let mut out = Map::new();
    out.insert("role".into(), json!("assistant"));
    out.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    if !calls.is_empty() {
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(out)
}

/// Arguments as the JSON string the API expects; malformed arguments kept as a string are
/// sent back verbatim so the model sees what it wrote.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ToolCall, ToolDef, ToolResult};

    fn request() -> ModelRequest {
        ModelRequest {
            model: "gpt-4o".into(),
            system: "be brief".into(),
            messages: vec![
                Message::user("hi"),
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall(ToolCall {
                        id: "c1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1}),
                    })],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: "c1".into(),
                        name: "add".into(),
                        content: "2".into(),
                        is_error: false,
                    })],
                },
            ],
            tools: vec![ToolDef {
                name: "add".into(),
                description: "Add.".into(),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Tool("add".into()),
            temperature: Some(0.5),
            max_tokens: Some(100),
            seed: Some(7),
            parallel_tool_calls: Some(false),
            ..ModelRequest::default()
        }
    }

    #[test]
    fn builds_a_tool_conversation() {
        let body = build_request(&request(), "gpt-4o", false);
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "2"},
                ],
                "tools": [{"type": "function", "function": {"name": "add", "description": "Add.", "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "add"}},
                "parallel_tool_calls": false,
                "temperature": 0.5,
                "max_tokens": 100,
                "seed": 7,
            })
        );
    }

    #[test]
    fn streaming_and_structured_output_options() {
        let req = ModelRequest {
            output_schema: Some(json!({"type": "object"})),
            output_name: Some("pitch evaluator".into()),
            messages: vec![Message::user("x")],
            ..ModelRequest::default()
        };
        let body = build_request(&req, "m", true);
        assert_eq!(
            body["response_format"]["json_schema"]["name"],
            "pitch_evaluator"
        );
        assert_eq!(body["response_format"]["json_schema"]["strict"], false);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
        assert_eq!(body["messages"], json!([{"role": "user", "content": "x"}]));
    }

    #[test]
    fn attachments_become_content_parts() {
        let attach = |path: &str, media: &str| {
            Part::Attachment(Attachment {
                path: path.into(),
                media_type: media.into(),
                data_base64: "QUJD".into(),
            })
        };
        let req = ModelRequest {
            messages: vec![Message {
                role: Role::User,
                parts: vec![
                    Part::Text("see".into()),
                    attach("img/a.png", "image/png"),
                    attach("docs/d.pdf", "application/pdf"),
                ],
            }],
            ..ModelRequest::default()
        };
        let body = build_request(&req, "m", false);
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                {"type": "file", "file": {"filename": "d.pdf", "file_data": "data:application/pdf;base64,QUJD"}},
            ])
        );
    }

    /// The fast encoder writes exactly the JSON `build_request` builds.
    #[test]
    fn the_fast_encoder_matches_build_request() {
        use crate::model::Attachment;
        let mut rich = request();
        rich.messages.push(Message {
            role: Role::User,
            parts: vec![
                Part::Text("look".into()),
                Part::Attachment(Attachment {
                    path: "a/deck.pdf".into(),
                    media_type: "application/pdf".into(),
                    data_base64: "JVBE".into(),
                }),
                Part::Attachment(Attachment {
                    path: "p.png".into(),
                    media_type: "image/png".into(),
                    data_base64: "iVBO".into(),
                }),
            ],
        });
        rich.messages.push(Message {
            role: Role::Assistant,
            parts: vec![
                Part::Text("two ".into()),
                Part::Text("parts".into()),
                Part::ToolCall(ToolCall {
                    id: "c2".into(),
                    name: "add".into(),
                    arguments: json!("{not json"),
                }),
            ],
        });
        rich.messages.push(Message::user(""));
        rich.output_schema =
            Some(json!({"type": "object", "properties": {"a": {"type": "integer"}}}));
        rich.output_name = Some("my worker".into());
        let plain = ModelRequest {
            messages: vec![Message::user("x"), Message::assistant("y")],
            ..ModelRequest::default()
        };
        for req in [request(), rich, plain] {
            for stream in [false, true] {
                let fast: Value = serde_json::from_slice(
                    &crate::model::openai::encode_request(&req, "m", stream).unwrap(),
                )
                .unwrap();
                assert_eq!(fast, build_request(&req, "m", stream));
            }
        }
    }
}
