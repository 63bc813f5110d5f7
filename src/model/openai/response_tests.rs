use futures_util::stream;
use serde_json::json;

use super::*;
use crate::model::sse::{drive, ragged_chunks};

fn parse_response(body: &Value, provider: &str) -> Result<ModelResponse, ModelError> {
    StreamState::new(provider).whole(body)
}

#[test]
fn parses_text_tool_calls_and_usage() {
    let body = json!({
        "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}},
            {"id": "b", "type": "function", "function": {"name": "add", "arguments": "{oops"}},
        ]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    });
    let reply = parse_response(&body, "openai").unwrap();
    assert_eq!(reply.text, "");
    assert_eq!(reply.tool_calls[0].arguments, json!({"a": 1}));
    assert_eq!(reply.tool_calls[1].arguments, json!("{oops"));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        }
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);

    let body = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]});
    let reply = parse_response(&body, "openai").unwrap();
    assert_eq!(
        (reply.text.as_str(), reply.finish),
        ("hi", FinishReason::Stop)
    );
}

/// llama.cpp: a complete tool call, then text until `length` (seen against llama-server).
#[test]
fn a_complete_tool_call_survives_a_length_finish() {
    let body = json!({"choices": [{"message": {"content": "7,']8", "tool_calls": [
        {"id": "ns4c3jnq2rkIIkAj9Qoqjoc0tUpLe83Z", "type": "function", "function": {"name": "record", "arguments": "{ \"approve\": true }"}}
    ]}, "finish_reason": "length"}], "timings": {"prompt_n": 187}});
    let reply = parse_response(&body, "local").unwrap();
    assert_eq!(reply.tool_calls[0].arguments, json!({"approve": true}));
    assert_eq!(reply.tool_calls[0].id, "ns4c3jnq2rkIIkAj9Qoqjoc0tUpLe83Z");
}

#[test]
fn truncated_tool_arguments_are_an_error() {
    let body = json!({"choices": [{"message": {"tool_calls": [
        {"id": "a", "function": {"name": "write", "arguments": "{\"con"}}
    ]}, "finish_reason": "length"}]});
    let err = parse_response(&body, "openai").unwrap_err().to_string();
    assert!(
        err.contains("`max_tokens`") && err.contains("`write`"),
        "{err}"
    );
}

#[test]
fn body_errors_are_classified() {
    let err = parse_response(
        &json!({"error": {"message": "Overloaded", "type": "overloaded_error"}}),
        "p",
    )
    .unwrap_err();
    assert!(err.is_retryable());
    let err = parse_response(
        &json!({"error": {"message": "bad", "type": "invalid_request_error"}}),
        "p",
    )
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("bad"));
    assert!(parse_response(&json!({"object": "x"}), "p").is_err());
}

/// A realistic OpenAI stream: role chunk, text, two parallel tool calls with split arguments,
/// finish, usage chunk with empty choices, `[DONE]`.
pub const OPENAI_STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me \"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"check é.\"},\"finish_reason\":null}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\": \"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"mul\",\"arguments\":\"{\\\"x\\\"\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\": 2}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}\n\n",
    "data: [DONE]\n\n",
);

async fn run(text: &str) -> (Result<ModelResponse, ModelError>, Vec<StreamEvent>) {
    let seen = std::sync::Mutex::new(Vec::new());
    let sink = |e: StreamEvent| seen.lock().unwrap().push(e);
    let reply = drive(
        stream::iter(ragged_chunks(text.as_bytes())),
        StreamState::new("openai"),
        Some(&sink),
        "openai",
    )
    .await;
    (reply, seen.into_inner().unwrap())
}

#[tokio::test]
async fn stream_accumulates_text_and_parallel_tool_calls() {
    let (reply, events) = run(OPENAI_STREAM).await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, "Let me check é.");
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(
        (
            reply.tool_calls[0].id.as_str(),
            reply.tool_calls[0].name.as_str()
        ),
        ("call_a", "add")
    );
    assert_eq!(reply.tool_calls[0].arguments, json!({"a": 1}));
    assert_eq!(reply.tool_calls[1].arguments, json!({"x": 2}));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 34,
            ..Usage::default()
        }
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta("Let me ".into()),
            StreamEvent::TextDelta("check é.".into()),
            StreamEvent::ToolCallStart { name: "add".into() },
            StreamEvent::ToolCallStart { name: "mul".into() },
        ]
    );
}

#[tokio::test]
async fn llama_cpp_quirks_are_tolerated() {
    let text = concat!(
        "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"created\":1,\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
        "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"created\":1}\n\n",
        "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],\"created\":1,\"timings\":{\"prompt_n\":5,\"predicted_ms\":1.5}}\n\n",
        "data: {\"choices\":[],\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":5,\"total_tokens\":6},\"timings\":{\"prompt_n\":5}}\n\n",
        "data: [DONE]\n\n",
    );
    let (reply, _) = run(text).await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, "Hi");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 5,
            output_tokens: 1,
            ..Usage::default()
        }
    );
    assert_eq!(reply.finish, FinishReason::Stop);
}

#[tokio::test]
async fn cut_streams_and_stream_errors_are_reported() {
    let cut = &OPENAI_STREAM[..OPENAI_STREAM.find("\"index\":1").unwrap()];
    let (reply, _) = run(cut).await;
    let message = reply.unwrap_err().to_string();
    assert!(message.contains("stream ended early"), "{message}");

    let text = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"upstream overloaded\",\"code\":502}}\n\n";
    let (reply, _) = run(text).await;
    let failure = reply.unwrap_err();
    assert!(failure.is_retryable());
    assert!(failure.to_string().contains("upstream overloaded"));
}

#[tokio::test]
async fn stream_without_indexes_and_length_with_pending_call() {
    let text = concat!(
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"x\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"y\",\"function\":{\"name\":\"g\",\"arguments\":{\"b\":2}}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let reply = run(text).await.0.unwrap();
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[0].arguments, json!({"a": 1}));
    assert_eq!(reply.tool_calls[1].arguments, json!({"b": 2}));

    let text = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
    let message = run(text).await.0.unwrap_err().to_string();
    assert!(message.contains("`max_tokens`"), "{message}");
}

#[test]
fn a_null_or_missing_message_is_an_error_not_an_empty_reply() {
    for body in [
        json!({"choices": [{"message": null, "finish_reason": "stop"}]}),
        json!({"choices": [{"index": 0, "finish_reason": "stop"}]}),
    ] {
        let err = parse_response(&body, "openai").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid response from openai: the reply has no message: `choices[0].message` is null or missing (finish_reason `stop`)"
        );
        assert!(!err.is_retryable());
    }
}

#[test]
fn a_reply_without_choices_is_an_error() {
    for body in [
        json!({"choices": []}),
        json!({"choices": null}),
        json!({"id": "x", "usage": {"prompt_tokens": 1}}),
    ] {
        let err = parse_response(&body, "openai").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid response from openai: the response has no `choices`"
        );
    }
}

#[tokio::test]
async fn a_stream_without_choices_is_an_error() {
    let text = concat!(
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":0}}\n\n",
        "data: [DONE]\n\n",
    );
    let message = run(text).await.0.unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid response from openai: the stream has no `choices`: no text, no tool calls, no finish_reason"
    );
}

/// A whole reply's tool calls go through the stream's call state: arguments sent as an object
/// (not a JSON string) are kept, and a call without an id gets one by its position.
#[test]
fn whole_reply_tool_calls_read_like_streamed_ones() {
    let body = json!({
        "choices": [{"message": {"role": "assistant", "content": "", "tool_calls": [
            {"id": "", "type": "function", "function": {"name": "add", "arguments": {"a": 1}}},
            {"type": "function", "function": {"name": "mul", "arguments": null}},
        ]}, "finish_reason": "tool_calls"}],
    });
    let reply = parse_response(&body, "local").unwrap();
    assert_eq!(
        reply.tool_calls,
        vec![
            ToolCall {
                id: "call_0".into(),
                name: "add".into(),
                arguments: json!({"a": 1}),
            },
            ToolCall {
                id: "call_1".into(),
                name: "mul".into(),
                arguments: json!({}),
            },
        ]
    );
    assert_eq!(reply.finish, FinishReason::ToolCalls);
}
