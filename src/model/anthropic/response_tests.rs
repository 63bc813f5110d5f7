use futures_util::stream;
use serde_json::json;

use super::*;
use crate::model::sse::{drive, ragged_chunks};

fn parse_response(
    body: &Value,
    provider: &str,
    output_tool: Option<&str>,
) -> Result<ModelResponse, ModelError> {
    StreamState::new(provider, output_tool.map(str::to_owned)).whole(body)
}

#[test]
fn parses_text_tool_calls_and_usage() {
    let body = json!({
        "type": "message", "role": "assistant", "model": "claude",
        "content": [
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"a": 2}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7},
    });
    let reply = parse_response(&body, "anthropic", None).unwrap();
    assert_eq!(reply.text, "Let me add.");
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[1].arguments, json!({"a": 2}));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 10,
            output_tokens: 7,
            cache_read_tokens: 5,
            cache_write_tokens: 0,
        }
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);
}

#[test]
fn output_tool_call_is_the_structured_answer() {
    let body = json!({
        "content": [{"type": "tool_use", "id": "t", "name": "final_result", "input": {"score": 3}}],
        "stop_reason": "tool_use",
    });
    let reply = parse_response(&body, "anthropic", Some("final_result")).unwrap();
    assert_eq!(reply.text, r#"{"score":3}"#);
    assert!(reply.tool_calls.is_empty());
    assert_eq!(reply.finish, FinishReason::Stop);
}

#[test]
fn max_tokens_with_pending_tool_is_an_error() {
    let body = json!({"content": [{"type": "tool_use", "id": "t", "name": "write", "input": {}}], "stop_reason": "max_tokens"});
    let message = parse_response(&body, "anthropic", None)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`write`") && message.contains("`max_tokens`"),
        "{message}"
    );
    let body = json!({"content": [{"type": "text", "text": "long"}], "stop_reason": "max_tokens"});
    assert_eq!(
        parse_response(&body, "anthropic", None).unwrap().finish,
        FinishReason::Length
    );
}

/// A realistic Messages stream: text, two tool_use blocks with split `input_json_delta`s.
pub const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Adding \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"now é.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"add\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"ping_host\",\"input\":{}}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

async fn run(
    text: &str,
    output_tool: Option<&str>,
) -> (Result<ModelResponse, ModelError>, Vec<StreamEvent>) {
    let seen = std::sync::Mutex::new(Vec::new());
    let sink = |e: StreamEvent| seen.lock().unwrap().push(e);
    let state = StreamState::new("anthropic", output_tool.map(str::to_owned));
    let reply = drive(
        stream::iter(ragged_chunks(text.as_bytes())),
        state,
        Some(&sink),
        "anthropic",
    )
    .await;
    (reply, seen.into_inner().unwrap())
}

#[tokio::test]
async fn stream_accumulates_text_and_tool_calls() {
    let (reply, events) = run(ANTHROPIC_STREAM, None).await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, "Adding now é.");
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[0].id, "toolu_a");
    assert_eq!(reply.tool_calls[0].arguments, json!({"a": 1}));
    assert_eq!(reply.tool_calls[1].arguments, json!({}));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 25,
            output_tokens: 89,
            ..Usage::default()
        }
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta("Adding ".into()),
            StreamEvent::TextDelta("now é.".into()),
            StreamEvent::ToolCallStart { name: "add".into() },
            StreamEvent::ToolCallStart {
                name: "ping_host".into()
            },
        ]
    );
}

#[tokio::test]
async fn streamed_output_tool_is_the_answer() {
    let (reply, events) = run(
        &ANTHROPIC_STREAM.replace("\"add\"", "\"final_result\""),
        Some("final_result"),
    )
    .await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, r#"{"a":1}"#);
    assert!(reply.tool_calls.is_empty());
    assert!(!events.contains(&StreamEvent::ToolCallStart {
        name: "final_result".into()
    }));
}

#[tokio::test]
async fn cut_streams_and_overload_errors_are_reported() {
    let cut = &ANTHROPIC_STREAM[..ANTHROPIC_STREAM.find("event: message_delta").unwrap()];
    let message = run(cut, None).await.0.unwrap_err().to_string();
    assert!(message.contains("stream ended early"), "{message}");

    let text = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let failure = run(text, None).await.0.unwrap_err();
    assert!(failure.is_retryable());
    assert!(failure.to_string().contains("Overloaded"));
    let text = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}\n\n";
    assert!(!run(text, None).await.0.unwrap_err().is_retryable());
}

#[test]
fn tool_use_without_a_tool_use_block_is_an_error() {
    for content in [
        json!([]),
        json!([{"type": "text", "text": "I'll call a tool."}]),
    ] {
        let body = json!({"content": content, "stop_reason": "tool_use"});
        let err = parse_response(&body, "anthropic", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid response from anthropic: stop_reason is `tool_use` but the reply has no `tool_use` content block"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn a_streamed_tool_use_without_a_tool_use_block_is_an_error() {
    let text = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Calling.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let message = run(text, None).await.0.unwrap_err().to_string();
    assert!(message.contains("no `tool_use` content block"), "{message}");
}

#[test]
fn thinking_blocks_are_kept_whole_beside_text_and_tool_calls() {
    let thinking = json!({"type": "thinking", "thinking": "Add first.", "signature": "sig=="});
    let redacted = json!({"type": "redacted_thinking", "data": "opaque"});
    let body = json!({"content": [
        thinking,
        redacted,
        {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}},
    ], "stop_reason": "tool_use"});
    let reply = parse_response(&body, "anthropic", None).unwrap();
    assert_eq!(reply.thinking, [thinking, redacted]);
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.text, "");
}

#[tokio::test]
async fn a_streamed_thinking_block_gathers_its_text_and_signature() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Add \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"first.\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig==\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"add\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": 1}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let (reply, events) = run(stream, None).await;
    let reply = reply.unwrap();
    assert_eq!(
        reply.thinking,
        [
            json!({"type": "thinking", "thinking": "Add first.", "signature": "sig=="}),
            json!({"type": "redacted_thinking", "data": "opaque"}),
        ]
    );
    assert_eq!(reply.tool_calls[0].arguments, json!({"a": 1}));
    // Thinking is not streamed as reply text.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::TextDelta(_))),
        "{events:?}"
    );
}

/// A whole reply's blocks go through the stream's block state: a `tool_use` input arrives whole
/// (kept as it is, an empty or missing one as `{}`); a streamed block that starts with its
/// whole input and gets no deltas keeps it too.
#[tokio::test]
async fn tool_inputs_arrive_whole_or_as_deltas() {
    let body = json!({
        "type": "message",
        "content": [
            {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1, "b": [2]}},
            {"type": "tool_use", "id": "t2", "name": "now", "input": {}},
            {"type": "tool_use", "id": "t3", "name": "now"},
        ],
        "stop_reason": "tool_use",
    });
    let reply = parse_response(&body, "anthropic", None).unwrap();
    let arguments: Vec<Value> = reply.tool_calls.into_iter().map(|c| c.arguments).collect();
    assert_eq!(
        arguments,
        vec![json!({"a": 1, "b": [2]}), json!({}), json!({})]
    );
    let stream = concat!(
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"add\",\"input\":{\"a\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let (reply, _) = run(stream, None).await;
    assert_eq!(reply.unwrap().tool_calls[0].arguments, json!({"a": 1}));
}
