//! Builds the Chat Completions request body from a [`ModelRequest`], written from borrowed,
//! typed structs straight into bytes. A tool loop resends the whole conversation every turn;
//! building a `serde_json::Value` tree for it first (allocating and dropping every message)
//! was most of llm-do's CPU per round trip (docs/performance.md).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::encoded::{encoding, frame};
use crate::model::wire::{identifier, with_instruction};
use crate::model::{
    Attachment, Encoded, Message, ModelError, ModelRequest, Part, Role, ToolChoice, ToolDef,
};

/// The fields after `messages`, in the order they are sent.
#[derive(Serialize)]
struct Rest<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
}

/// One entry of `messages`, tagged by its `role`.
#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum Msg<'a> {
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
    Assistant {
        content: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<Call<'a>>,
    },
    System {
        content: Cow<'a, str>,
    },
    /// Text alone, or text and attachments as content parts.
    User {
        content: Content<'a>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Value>),
}

#[derive(Serialize)]
struct Call<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFn<'a>,
}

#[derive(Serialize)]
struct CallFn<'a> {
    name: &'a str,
    arguments: Cow<'a, str>,
}

/// A tool as `{"type": "function", "function": {name, description, parameters}}`.
#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolDef,
}

/// The bytes of `POST /chat/completions` for `request` to `provider`. Each message's bytes,
/// and the last body, are kept in the request's [`Messages`](crate::model::Messages): a turn
/// encodes only what it appends, and writes it over the last body's tail.
///
/// The length limit goes in `max_completion_tokens` for `openai` (OpenAI's own API, whose
/// reasoning models reject `max_tokens`), else in `max_tokens`: what OpenAI-compatible
/// servers (llama-server, Ollama, vLLM) read.
pub fn encode_request(
    request: &ModelRequest,
    model: &str,
    stream: bool,
    provider: &str,
) -> Result<bytes::Bytes, ModelError> {
    let completion_field = provider == "openai";
    let has_tools = !request.tools.is_empty();
    let rest = Rest {
        tools: request
            .tools
            .iter()
            .map(|function| Tool {
                kind: "function",
                function,
            })
            .collect(),
        tool_choice: has_tools.then(|| tool_choice(&request.tool_choice)),
        parallel_tool_calls: request.parallel_tool_calls.filter(|_| has_tools),
        response_format: format_sent(request).map(|schema| {
            let name = identifier(request.output_name.as_deref(), "output");
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": false}})
        }),
        temperature: request.temperature,
        max_tokens: request.max_tokens.filter(|_| !completion_field),
        max_completion_tokens: request.max_tokens.filter(|_| completion_field),
        seed: request.seed,
        reasoning_effort: request.reasoning.map(crate::model::Reasoning::effort),
        stream: stream.then_some(true),
        stream_options: stream.then(|| json!({"include_usage": true})),
    };
    let (mut head, tail) = frame(&BTreeMap::from([("model", model)]), &rest).map_err(encoding)?;
    let system = system(request);
    if let Some(system) = &system {
        serde_json::to_writer(&mut head, system).map_err(encoding)?;
    }
    let empty = system.is_none();
    request
        .messages
        .kept_body(
            "openai",
            encode_message,
            (&head, empty, &tail),
            crate::model::encoded::join,
        )
        .map_err(encoding)
}

/// The schema of the answer, when `response_format` is sent: always without tools, and with
/// tools only on a turn that offers none (`tool_choice: none`). Servers whose `response_format`
/// is a grammar (llama-server) never call a tool while it is there; the run loop turns to
/// `tool_choice: none` for the answer once the model has answered without a tool call.
fn format_sent(request: &ModelRequest) -> Option<&Value> {
    let schema = request.output_schema.as_ref()?;
    (request.tools.is_empty() || request.tool_choice == ToolChoice::None).then_some(schema)
}

/// The system message: the worker's prompt and, when tools and an output schema meet (the
/// schema is then not always in `response_format`), the schema of the answer.
fn system(request: &ModelRequest) -> Option<Msg<'_>> {
    let content = match &request.output_schema {
        Some(schema) if !request.tools.is_empty() => {
            let instruction = format!(
                "When you have your final answer, reply with only a JSON value matching this \
                 JSON Schema:\n{schema}"
            );
            Cow::Owned(with_instruction(&request.system, instruction))
        }
        _ if request.system.is_empty() => return None,
        _ => Cow::Borrowed(request.system.as_str()),
    };
    Some(Msg::System { content })
}

/// One message's entries (a user message with tool results is several), comma-separated.
fn encode_message(message: &Message) -> Result<Encoded, serde_json::Error> {
    let mut entries = Vec::new();
    match message.role {
        Role::User => user(message, &mut entries),
        Role::Assistant => entries.push(assistant(message)),
    }
    let mut bytes = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        serde_json::to_writer(&mut bytes, entry)?;
    }
    Ok(Encoded::fragment(bytes))
}

fn user<'a>(message: &'a Message, out: &mut Vec<Msg<'a>>) {
    let mut has_text = false;
    let mut has_attachment = false;
    for part in &message.parts {
        match part {
            Part::ToolResult(r) => out.push(Msg::Tool {
                tool_call_id: &r.call_id,
                content: &r.content,
            }),
            Part::Text(_) => has_text = true,
            Part::Attachment(_) => has_attachment = true,
            Part::ToolCall(_) | Part::Thinking(_) => {}
        }
    }
    if has_attachment {
        let content = message
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(json!({"type": "text", "text": t})),
                Part::Attachment(a) => Some(attachment(a)),
                _ => None,
            })
            .collect();
        out.push(Msg::User {
            content: Content::Parts(content),
        });
    } else if has_text {
        out.push(Msg::User {
            content: Content::Text(message.text()),
        });
    }
}

fn assistant(message: &Message) -> Msg<'_> {
    let tool_calls: Vec<Call<'_>> = message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(Call {
                id: &c.id,
                kind: "function",
                function: CallFn {
                    name: &c.name,
                    arguments: match &c.arguments {
                        Value::String(raw) => Cow::Borrowed(raw.as_str()),
                        other => Cow::Owned(other.to_string()),
                    },
                },
            }),
            _ => None,
        })
        .collect();
    let text = message.text();
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    Msg::Assistant {
        content,
        tool_calls,
    }
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn attachment(a: &Attachment) -> Value {
    let data_url = format!("data:{};base64,{}", a.media_type, a.data_base64);
    if a.media_type.starts_with("image/") {
        json!({"type": "image_url", "image_url": {"url": data_url}})
    } else {
        let filename = a.path.rsplit(['/', '\\']).next().unwrap_or(&a.path);
        json!({"type": "file", "file": {"filename": filename, "file_data": data_url}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Message, ModelError, ModelRequest, Part, Role, ToolCall, ToolDef, ToolResult,
    };

    /// The JSON body of `POST /chat/completions` as a value: the bytes sent, decoded.
    fn build_request(
        request: &ModelRequest,
        model: &str,
        stream: bool,
    ) -> Result<Value, ModelError> {
        let bytes = encode_request(request, model, stream, "ollama").unwrap();
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

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
            ]
            .into(),
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
        let body = build_request(&request(), "gpt-4o", false).unwrap();
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
            messages: vec![Message::user("x")].into(),
            ..ModelRequest::default()
        };
        let body = build_request(&req, "m", true).unwrap();
        assert_eq!(
            body["response_format"]["json_schema"]["name"],
            "pitch_evaluator"
        );
        assert_eq!(body["response_format"]["json_schema"]["strict"], false);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
        assert_eq!(body["messages"], json!([{"role": "user", "content": "x"}]));
    }

    /// With tools, `response_format` goes only with a turn that offers none (on llama-server
    /// it is a grammar that wins over tools); the schema is then in the system prompt.
    #[test]
    fn tools_and_output_schema_share_the_request() {
        let schema = json!({"type": "object", "properties": {"sum": {"type": "integer"}}});
        let mut req = ModelRequest {
            output_schema: Some(schema.clone()),
            output_name: Some("sum".into()),
            tool_choice: ToolChoice::Auto,
            ..request()
        };
        let body = build_request(&req, "m", false).unwrap();
        assert!(body.get("response_format").is_none(), "{body}");
        assert_eq!(
            body["messages"][0]["content"],
            format!(
                "be brief\n\nWhen you have your final answer, reply with only a JSON value matching this JSON Schema:\n{schema}"
            )
        );
        req.tool_choice = ToolChoice::None;
        let body = build_request(&req, "m", false).unwrap();
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["tool_choice"], "none");
    }

    #[test]
    fn the_length_limit_field_depends_on_the_provider() {
        let body = |provider| -> Value {
            serde_json::from_slice(&encode_request(&request(), "m", false, provider).unwrap())
                .unwrap()
        };
        let openai = body("openai");
        assert_eq!(
            (openai.get("max_tokens"), &openai["max_completion_tokens"]),
            (None, &json!(100))
        );
        let local = body("ollama");
        assert_eq!(
            (&local["max_tokens"], local.get("max_completion_tokens")),
            (&json!(100), None)
        );
    }

    #[test]
    fn reasoning_maps_to_the_nearest_effort() {
        use crate::model::Reasoning;
        for (reasoning, effort) in [
            (Reasoning::Low, "low"),
            (Reasoning::Medium, "medium"),
            (Reasoning::High, "high"),
            (Reasoning::Tokens(1500), "low"),
            (Reasoning::Tokens(6000), "medium"),
            (Reasoning::Tokens(10_000), "high"),
        ] {
            let req = ModelRequest {
                reasoning: Some(reasoning),
                ..request()
            };
            let body = build_request(&req, "m", false).unwrap();
            assert_eq!(body["reasoning_effort"], effort, "{reasoning:?}");
        }
        let body = build_request(&request(), "m", false).unwrap();
        assert!(body.get("reasoning_effort").is_none());
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
            }]
            .into(),
            ..ModelRequest::default()
        };
        let body = build_request(&req, "m", false).unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                {"type": "file", "file": {"filename": "d.pdf", "file_data": "data:application/pdf;base64,QUJD"}},
            ])
        );
    }

    /// Malformed arguments go back verbatim, several text parts are joined, an empty user
    /// message is kept.
    #[test]
    fn encodes_awkward_messages() {
        let mut rich = request();
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
        let body = build_request(&rich, "m", false).unwrap();
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(
            messages[4],
            json!({"role": "assistant", "content": "two parts", "tool_calls": [
                {"id": "c2", "type": "function", "function": {"name": "add", "arguments": "{not json"}}
            ]})
        );
        assert_eq!(messages[5], json!({"role": "user", "content": ""}));
    }
}
