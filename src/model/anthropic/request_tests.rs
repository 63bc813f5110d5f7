use serde_json::{Value, json};

use super::*;
use crate::model::DEFAULT_MAX_TOKENS;
use crate::model::{Message, Part, Role, ToolCall, ToolDef, ToolResult};

/// The JSON body of `POST /v1/messages` as a value: the bytes sent, decoded.
fn build_request(request: &ModelRequest, model: &str, stream: bool) -> Result<Value, ModelError> {
    let bytes = encode_request(request, model, stream)?;
    Ok(serde_json::from_slice(&bytes).unwrap())
}

fn tool(name: &str) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: format!("{name} it."),
        parameters: json!({"type": "object"}),
    }
}

fn result(id: &str, content: &str, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: id.into(),
        name: "add".into(),
        content: content.into(),
        is_error,
    })
}

#[test]
fn builds_a_tool_conversation_with_merged_turns() {
    let request = ModelRequest {
        system: "be brief".into(),
        messages: vec![
            Message::user("hi"),
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Text(String::new()),
                    Part::ToolCall(ToolCall {
                        id: "t1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1}),
                    }),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![result("t1", "2", false)],
            },
            Message {
                role: Role::User,
                parts: vec![Part::Text("and?".into()), result("t2", "boom", true)],
            },
        ]
        .into(),
        tools: vec![tool("add")],
        temperature: Some(0.0),
        parallel_tool_calls: Some(false),
        ..ModelRequest::default()
    };
    let body = build_request(&request, "claude-x", false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-x",
            "max_tokens": DEFAULT_MAX_TOKENS,
            "system": "be brief",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "2", "is_error": false},
                    {"type": "tool_result", "tool_use_id": "t2", "content": "boom", "is_error": true},
                    {"type": "text", "text": "and?"},
                ]},
            ],
            "tools": [{"name": "add", "description": "add it.", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "temperature": 0.0,
        })
    );
}

#[test]
fn tool_choices_map_to_the_api() {
    let choice = |c: ToolChoice, tools: Vec<ToolDef>, schema: bool| {
        let request = ModelRequest {
            tool_choice: c,
            tools,
            output_schema: schema.then(|| json!({"type": "object"})),
            messages: vec![Message::user("x")].into(),
            ..ModelRequest::default()
        };
        build_request(&request, "m", false).unwrap()["tool_choice"].clone()
    };
    assert_eq!(
        choice(ToolChoice::Required, vec![tool("a")], false),
        json!({"type": "any"})
    );
    assert_eq!(
        choice(ToolChoice::None, vec![tool("a")], false),
        json!({"type": "none"})
    );
    assert_eq!(
        choice(ToolChoice::Tool("a".into()), vec![tool("a")], false),
        json!({"type": "tool", "name": "a"})
    );
    assert_eq!(choice(ToolChoice::Auto, vec![], false), Value::Null);
    assert_eq!(
        choice(ToolChoice::Auto, vec![], true),
        json!({"type": "tool", "name": "final_result"})
    );
    assert_eq!(
        choice(ToolChoice::Auto, vec![tool("a")], true),
        json!({"type": "any"})
    );
    assert_eq!(
        choice(ToolChoice::None, vec![tool("a")], true),
        json!({"type": "tool", "name": "final_result"})
    );
}

#[test]
fn structured_output_adds_a_forced_tool() {
    let request = ModelRequest {
        system: "judge".into(),
        output_schema: Some(
            json!({"type": "object", "properties": {"score": {"type": "integer"}}}),
        ),
        tools: vec![tool("final_result")],
        messages: vec![Message::user("x")].into(),
        max_tokens: Some(50),
        ..ModelRequest::default()
    };
    assert_eq!(
        output_tool_name(&request).as_deref(),
        Some("final_result_output")
    );
    let body = build_request(&request, "m", true).unwrap();
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["stream"], true);
    assert_eq!(body["tools"][1]["name"], "final_result_output");
    assert_eq!(
        body["tools"][1]["input_schema"]["properties"]["score"]["type"],
        "integer"
    );
    let system = body["system"].as_str().unwrap();
    assert!(
        system.starts_with("judge\n\n") && system.contains("`final_result_output`"),
        "{system}"
    );
}

#[test]
fn attachments_become_blocks() {
    let attach = |path: &str, media: &str, data: &str| {
        Part::Attachment(Attachment {
            path: path.into(),
            media_type: media.into(),
            data_base64: data.into(),
        })
    };
    let request = ModelRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![
                attach("a.png", "image/png", "QUJD"),
                attach("d.pdf", "application/pdf", "JVBE"),
                attach("n.txt", "text/plain", "aGk="),
            ],
        }]
        .into(),
        ..ModelRequest::default()
    };
    let body = build_request(&request, "m", false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "title": "n.txt", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}},
        ])
    );
    let bad = ModelRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![attach("x.docx", "application/msword", "QQ==")],
        }]
        .into(),
        ..ModelRequest::default()
    };
    let err = build_request(&bad, "m", false).unwrap_err().to_string();
    assert!(
        err.contains("`x.docx`") && err.contains("`application/msword`"),
        "{err}"
    );
}

/// Malformed tool arguments become `{}`, consecutive user turns merge with tool results
/// first, empty text blocks and empty turns are dropped.
#[test]
fn encodes_awkward_conversations() {
    use crate::model::Attachment;
    let call = |id: &str, args: Value| {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: "add".into(),
            arguments: args,
        })
    };
    let base = ModelRequest {
        system: "be brief".into(),
        messages: vec![
            Message::user("hi"),
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Text("calling".into()),
                    call("c1", json!({"a": 1})),
                    call("c2", json!("{bad")),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![result("c1", "2", false), result("c2", "bad args", true)],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::Text("and".into()),
                    result("c3", "late", false),
                    Part::Text(String::new()),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::Attachment(Attachment {
                        path: "deck.pdf".into(),
                        media_type: "application/pdf".into(),
                        data_base64: "JVBE".into(),
                    }),
                    Part::Attachment(Attachment {
                        path: "p.png".into(),
                        media_type: "image/png".into(),
                        data_base64: "iVBO".into(),
                    }),
                ],
            },
            Message::assistant(""),
        ]
        .into(),
        tools: vec![tool("add")],
        tool_choice: ToolChoice::Required,
        temperature: Some(0.2),
        max_tokens: Some(300),
        parallel_tool_calls: Some(false),
        ..ModelRequest::default()
    };
    let body = build_request(&base, "m", false).unwrap();
    let types = |turn: &Value| -> Vec<String> {
        turn["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_string())
            .collect()
    };
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{body}");
    assert_eq!(
        messages[1]["content"][2],
        json!({"type": "tool_use", "id": "c2", "name": "add", "input": {}})
    );
    assert_eq!(
        types(&messages[2]),
        [
            "tool_result",
            "tool_result",
            "tool_result",
            "text",
            "document",
            "image"
        ]
    );
    assert_eq!(messages[2]["content"][2]["tool_use_id"], "c3");
}

#[test]
fn cache_breakpoints_mark_system_last_tool_and_last_block() {
    let ephemeral = json!({"type": "ephemeral"});
    let request = ModelRequest {
        system: "long prompt".into(),
        messages: vec![
            Message::user("one"),
            Message::assistant("two"),
            Message::user("three"),
        ]
        .into(),
        tools: vec![tool("a"), tool("b")],
        cache: true,
        ..ModelRequest::default()
    };
    let body = build_request(&request, "m", false).unwrap();
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "long prompt", "cache_control": ephemeral}])
    );
    assert!(body["tools"][0].get("cache_control").is_none());
    assert_eq!(body["tools"][1]["cache_control"], ephemeral);
    assert!(
        body["messages"][0]["content"][0]
            .get("cache_control")
            .is_none()
    );
    assert_eq!(
        body["messages"][2]["content"],
        json!([{"type": "text", "text": "three", "cache_control": ephemeral}])
    );
    // With structured output the last tool is the output tool.
    let request = ModelRequest {
        output_schema: Some(json!({"type": "object"})),
        ..request
    };
    let body = build_request(&request, "m", false).unwrap();
    assert_eq!(body["tools"][2]["name"], "final_result");
    assert_eq!(body["tools"][2]["cache_control"], ephemeral);
    assert!(body["tools"][1].get("cache_control").is_none());
    // Off: a plain system string, no breakpoint anywhere.
    let plain = ModelRequest {
        cache: false,
        ..request
    };
    let bytes = String::from_utf8(encode_request(&plain, "m", false).unwrap().to_vec()).unwrap();
    assert!(!bytes.contains("cache_control"), "{bytes}");
}

#[test]
fn reasoning_enables_thinking_with_room_for_the_answer() {
    let request = ModelRequest {
        messages: vec![Message::user("hi")].into(),
        temperature: Some(0.2),
        reasoning: Some(crate::model::Reasoning::Medium),
        output_schema: Some(json!({"type": "object"})),
        ..ModelRequest::default()
    };
    let body = build_request(&request, "m", false).unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    // `max_tokens` must exceed the budget; thinking takes no temperature and no forced tool.
    assert_eq!(body["max_tokens"], 4096 + DEFAULT_MAX_TOKENS);
    assert!(body.get("temperature").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    let request = ModelRequest {
        reasoning: Some(crate::model::Reasoning::Tokens(2000)),
        max_tokens: Some(9000),
        output_schema: None,
        ..request
    };
    let body = build_request(&request, "m", false).unwrap();
    assert_eq!(body["thinking"]["budget_tokens"], 2000);
    assert_eq!(body["max_tokens"], 9000);
    let body = build_request(&ModelRequest::default(), "m", false).unwrap();
    assert!(body.get("thinking").is_none());
}
