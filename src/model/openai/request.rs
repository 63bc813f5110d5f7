//! Builds the Chat Completions request body from a [`ModelRequest`].

use serde_json::{Value, json};

use crate::model::{Attachment, ToolChoice};

pub(super) fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::openai::LengthField;
    use crate::model::{
        Message, ModelError, ModelRequest, Part, Role, ToolCall, ToolDef, ToolResult,
    };

    /// The JSON body of `POST /chat/completions` as a value: the bytes sent, decoded.
    fn build_request(
        request: &ModelRequest,
        model: &str,
        stream: bool,
    ) -> Result<Value, ModelError> {
        let bytes =
            super::super::encode_request(request, model, stream, LengthField::MaxTokens).unwrap();
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
        let body = |field| -> Value {
            serde_json::from_slice(
                &super::super::encode_request(&request(), "m", false, field).unwrap(),
            )
            .unwrap()
        };
        let openai = body(LengthField::of("openai"));
        assert_eq!(
            (openai.get("max_tokens"), &openai["max_completion_tokens"]),
            (None, &json!(100))
        );
        let local = body(LengthField::of("ollama"));
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
