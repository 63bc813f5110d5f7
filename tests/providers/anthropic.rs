//! Anthropic Messages wire format against wiremock.

use llm_do::model::{FinishReason, Message, ModelError, ModelRequest, StreamEvent, Usage};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::*;

fn message(content: Value, stop: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 40, "output_tokens": 12},
    }))
}

async fn mount(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn mount_then(server: &MockServer, first: ResponseTemplate, then: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    mount(server, then).await;
}

fn ok_text() -> ResponseTemplate {
    message(json!([{"type": "text", "text": "done"}]), "end_turn")
}

#[tokio::test]
async fn tool_loop_with_parallel_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", ANTHROPIC_KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(message(
            json!([
                {"type": "text", "text": "I'll add both."},
                {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}},
                {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"a": 2}},
            ]),
            "tool_use",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount(
        &server,
        message(json!([{"type": "text", "text": "3 and 5"}]), "end_turn"),
    )
    .await;
    let model = model("anthropic:claude-haiku-4-5", &server, false);

    let first = first_request();
    let reply = model.complete(&first, None).await.unwrap();
    assert_eq!(reply.finish, FinishReason::ToolCalls);
    assert_eq!(reply.text, "I'll add both.");
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 40,
            output_tokens: 12,
            ..Usage::default()
        }
    );

    let second = second_request(&first, &reply);
    let reply = model.complete(&second, None).await.unwrap();
    assert_eq!(
        (reply.text.as_str(), reply.finish),
        ("3 and 5", FinishReason::Stop)
    );

    let bodies = bodies(&server).await;
    assert_eq!(
        bodies[0],
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 256,
            "system": "You add numbers.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "add 1 and 2 twice"}]}],
            "tools": [{"name": "add", "description": "Run add.",
                       "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
            "tool_choice": {"type": "auto"},
        })
    );
    assert_eq!(
        bodies[1]["messages"].as_array().unwrap()[1..],
        [
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "I'll add both."},
                {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}},
                {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"a": 2}},
            ]}),
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3", "is_error": false},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "5", "is_error": false},
            ]}),
        ]
    );
}

#[tokio::test]
async fn structured_output_is_a_forced_tool() {
    let server = MockServer::start().await;
    let answer = json!([{"type": "tool_use", "id": "toolu_9", "name": "final_result", "input": {"score": 4}}]);
    mount(&server, message(answer, "tool_use")).await;
    let schema = json!({"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]});
    let request = ModelRequest {
        system: "Rate pitches.".into(),
        messages: vec![Message::user("rate it")].into(),
        output_schema: Some(schema.clone()),
        output_name: Some("pitch_evaluator".into()),
        ..ModelRequest::default()
    };
    let reply = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&request, None)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&reply.text).unwrap(),
        json!({"score": 4})
    );
    assert!(reply.tool_calls.is_empty());
    assert_eq!(reply.finish, FinishReason::Stop);
    let body = &bodies(&server).await[0];
    assert_eq!(body["max_tokens"], llm_do::model::DEFAULT_MAX_TOKENS);
    assert_eq!(body["tools"][0]["name"], "final_result");
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "final_result"})
    );
    assert!(body["system"].as_str().unwrap().contains("`final_result`"));
}

#[tokio::test]
async fn attachments_are_base64_blocks() {
    let server = MockServer::start().await;
    mount(&server, ok_text()).await;
    model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&attachment_request(), None)
        .await
        .unwrap();
    use base64::Engine as _;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    assert_eq!(
        bodies(&server).await[0]["messages"][0]["content"],
        json!([
            {"type": "text", "text": "describe these"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": encode(PNG_BYTES)}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": encode(PDF_BYTES)}},
        ])
    );
}

#[tokio::test]
async fn rate_limits_and_overload_are_retried() {
    let server = MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "0")
        .set_body_json(
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        );
    mount_then(&server, limited, ok_text()).await;
    let reply = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap();
    assert_eq!(reply.text, "done");

    let server = MockServer::start().await;
    let overloaded = ResponseTemplate::new(529).set_body_json(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    mount_then(&server, overloaded, ok_text()).await;
    let reply = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap();
    assert_eq!(reply.text, "done");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    let error = ResponseTemplate::new(500).set_body_json(
        json!({"type": "error", "error": {"type": "api_error", "message": "Internal"}}),
    );
    mount_then(&server, error, ok_text()).await;
    let reply = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap();
    assert_eq!(reply.text, "done");
}

#[tokio::test]
async fn unauthorized_and_bad_requests_explain_themselves() {
    let server = MockServer::start().await;
    let body = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
    mount(&server, ResponseTemplate::new(401).set_body_json(body)).await;
    let err = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`ANTHROPIC_API_KEY`"), "{err}");
    assert!(!format!("{err:?}").contains(ANTHROPIC_KEY));

    let server = MockServer::start().await;
    let body = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages.0.content: Field required"}});
    mount(&server, ResponseTemplate::new(400).set_body_json(body)).await;
    let err = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "anthropic returned HTTP 400: messages.0.content: Field required"
    );

    let server = MockServer::start().await;
    let body = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}});
    mount(&server, ResponseTemplate::new(400).set_body_json(body)).await;
    let err = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("too long for the context window of model `claude-haiku-4-5`"),
        "{err}"
    );
}

const STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Adding \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"both.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"add\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\": 1}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"add\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": 2}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":60}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[tokio::test]
async fn streamed_reply_with_split_tool_input() {
    let server = MockServer::start().await;
    mount(&server, sse(STREAM)).await;
    let model = model("anthropic:claude-haiku-4-5", &server, true);
    let (reply, events) = complete_streaming(&model, &first_request()).await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, "Adding both.");
    assert_eq!(
        reply
            .tool_calls
            .iter()
            .map(|c| c.arguments.clone())
            .collect::<Vec<_>>(),
        [json!({"a": 1}), json!({"a": 2})]
    );
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 25,
            output_tokens: 60,
            ..Usage::default()
        }
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);
    assert_eq!(
        events[..2],
        [
            StreamEvent::TextDelta("Adding ".into()),
            StreamEvent::TextDelta("both.".into())
        ]
    );
    assert_eq!(bodies(&server).await[0]["stream"], true);
}

#[tokio::test]
async fn cut_stream_and_mid_stream_overload() {
    let server = MockServer::start().await;
    mount(
        &server,
        sse(&STREAM[..STREAM.find("event: message_delta").unwrap()]),
    )
    .await;
    let (reply, _) = complete_streaming(
        &model("anthropic:claude-haiku-4-5", &server, true),
        &first_request(),
    )
    .await;
    let message = reply.unwrap_err().to_string();
    assert!(message.contains("stream ended early"), "{message}");

    let server = MockServer::start().await;
    let overloaded = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    mount(&server, sse(overloaded)).await;
    let (reply, _) = complete_streaming(
        &model("anthropic:claude-haiku-4-5", &server, true),
        &first_request(),
    )
    .await;
    let err = reply.unwrap_err();
    assert!(
        matches!(err, ModelError::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Overloaded"), "{err}");
}

/// Issue 17: `stop_reason: tool_use` with no `tool_use` block is not an empty answer.
#[tokio::test]
async fn tool_use_without_blocks_is_a_clear_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        message(
            json!([{"type": "text", "text": "Let me check."}]),
            "tool_use",
        ),
    )
    .await;
    let err = model("anthropic:claude-haiku-4-5", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid response from anthropic: stop_reason is `tool_use` but the reply has no `tool_use` content block"
    );
}
