//! OpenAI Chat Completions wire format against wiremock.

use llm_do::model::{FinishReason, ModelError, ModelRequest, StreamEvent, ToolChoice, Usage};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::*;

fn completion(message: Value, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }))
}

async fn mount(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Mounts `first` for one request, then `then` for the rest.
async fn mount_then(server: &MockServer, first: ResponseTemplate, then: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    mount(server, then).await;
}

fn ok_text() -> ResponseTemplate {
    completion(json!({"role": "assistant", "content": "done"}), "stop")
}

#[tokio::test]
async fn tool_loop_with_parallel_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {OPENAI_KEY}").as_str()))
        .respond_with(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "add", "arguments": "{\"a\":2}"}},
            ]}),
            "tool_calls",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount(
        &server,
        completion(json!({"role": "assistant", "content": "3 and 5"}), "stop"),
    )
    .await;
    let model = model("openai:gpt-4o-mini", &server, false);

    let first = first_request();
    let reply = model.complete(&first, None).await.unwrap();
    assert_eq!(reply.finish, FinishReason::ToolCalls);
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[1].arguments, json!({"a": 2}));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 10,
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
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You add numbers."},
                {"role": "user", "content": "add 1 and 2 twice"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "add", "description": "Run add.",
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
            }}],
            "tool_choice": "auto",
            // OpenAI's own API: its reasoning models reject `max_tokens`.
            "max_completion_tokens": 256,
        })
    );
    assert_eq!(
        bodies[1]["messages"].as_array().unwrap()[2..],
        [
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "add", "arguments": "{\"a\":2}"}},
            ]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "3"}),
            json!({"role": "tool", "tool_call_id": "call_2", "content": "5"}),
        ]
    );
}

#[tokio::test]
async fn structured_output_uses_response_format() {
    let server = MockServer::start().await;
    mount(
        &server,
        completion(
            json!({"role": "assistant", "content": "{\"score\": 4}"}),
            "stop",
        ),
    )
    .await;
    let schema = json!({"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]});
    let request = ModelRequest {
        messages: vec![llm_do::model::Message::user("rate it")].into(),
        output_schema: Some(schema.clone()),
        output_name: Some("pitch_evaluator".into()),
        tool_choice: ToolChoice::Required,
        seed: Some(7),
        temperature: Some(0.2),
        ..ModelRequest::default()
    };
    let reply = model("openai:gpt-4o", &server, false)
        .complete(&request, None)
        .await
        .unwrap();
    assert_eq!(reply.text, "{\"score\": 4}");
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "pitch_evaluator", "schema": schema, "strict": false}})
    );
    assert_eq!(
        (body["seed"].clone(), body["temperature"].clone()),
        (json!(7), json!(0.2))
    );
    assert!(
        body.get("tool_choice").is_none(),
        "no tools, so no tool_choice"
    );
}

#[tokio::test]
async fn attachments_are_data_urls() {
    let server = MockServer::start().await;
    mount(&server, ok_text()).await;
    model("openai:gpt-4o", &server, false)
        .complete(&attachment_request(), None)
        .await
        .unwrap();
    let content = &bodies(&server).await[0]["messages"][0]["content"];
    let png = format!("data:image/png;base64,{}", base64_of(PNG_BYTES));
    let pdf = format!("data:application/pdf;base64,{}", base64_of(PDF_BYTES));
    assert_eq!(
        content,
        &json!([
            {"type": "text", "text": "describe these"},
            {"type": "image_url", "image_url": {"url": png}},
            {"type": "file", "file": {"filename": "deck.pdf", "file_data": pdf}},
        ])
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_retried() {
    let server = MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "0")
        .set_body_json(json!({"error": {"message": "Rate limit reached", "type": "requests"}}));
    mount_then(&server, limited, ok_text()).await;
    let reply = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap();
    assert_eq!(reply.text, "done");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn server_error_is_retried_and_retries_are_bounded() {
    let server = MockServer::start().await;
    mount_then(
        &server,
        ResponseTemplate::new(500).set_body_string("boom"),
        ok_text(),
    )
    .await;
    let reply = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap();
    assert_eq!(reply.text, "done");

    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(503).set_body_json(json!({"error": {"message": "try later"}})),
    )
    .await;
    let err = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ModelError::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("try later"), "{err}");
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn unauthorized_names_the_key_variable_without_leaking_it() {
    let server = MockServer::start().await;
    let body = json!({"error": {"message": format!("Incorrect API key provided: {OPENAI_KEY}"), "type": "invalid_request_error"}});
    mount(&server, ResponseTemplate::new(401).set_body_json(body)).await;
    let err = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`OPENAI_API_KEY`"), "{message}");
    assert!(
        !message.contains(OPENAI_KEY) && !format!("{err:?}").contains(OPENAI_KEY),
        "{message}"
    );
    assert_eq!(bodies(&server).await.len(), 1, "401 is not retried");
}

#[tokio::test]
async fn bad_request_shows_the_provider_message() {
    let server = MockServer::start().await;
    let body = json!({"error": {"message": "Invalid schema for function 'add'", "type": "invalid_request_error"}});
    mount(&server, ResponseTemplate::new(400).set_body_json(body)).await;
    let err = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai returned HTTP 400: Invalid schema for function 'add'"
    );

    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(404)
            .set_body_json(json!({"error": {"message": "The model `gpt-9` does not exist"}})),
    )
    .await;
    let err = model("openai:gpt-9", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("model `gpt-9` not found"), "{err}");
}

const STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Adding.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\": 2}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\": 1}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":17,\"total_tokens\":48}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn streamed_reply_with_split_tool_arguments() {
    let server = MockServer::start().await;
    mount(&server, sse(STREAM)).await;
    let model = model("openai:gpt-4o", &server, true);
    let (reply, events) = complete_streaming(&model, &first_request()).await;
    let reply = reply.unwrap();
    assert_eq!(reply.text, "Adding.");
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
            input_tokens: 31,
            output_tokens: 17,
            ..Usage::default()
        }
    );
    assert_eq!(events[0], StreamEvent::TextDelta("Adding.".into()));
    let body = &bodies(&server).await[0];
    assert_eq!(
        (body["stream"].clone(), body["stream_options"].clone()),
        (json!(true), json!({"include_usage": true}))
    );
}

#[tokio::test]
async fn cut_stream_is_an_error() {
    let server = MockServer::start().await;
    let cut = &STREAM[..STREAM.find("\"finish_reason\":\"tool_calls\"").unwrap()];
    mount(&server, sse(&cut[..cut.rfind("data:").unwrap()])).await;
    let (reply, _) =
        complete_streaming(&model("openai:gpt-4o", &server, true), &first_request()).await;
    let message = reply.unwrap_err().to_string();
    assert!(message.contains("stream ended early"), "{message}");
}

#[tokio::test]
async fn llama_cpp_stream_quirks_through_a_named_provider() {
    let server = MockServer::start().await;
    let text = concat!(
        "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"created\":1,\"id\":\"x\",\"model\":\"qwen\",\"object\":\"chat.completion.chunk\"}\n\n",
        "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"created\":1,\"object\":\"chat.completion.chunk\"}\n\n",
        "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],\"created\":1,\"timings\":{\"prompt_n\":9,\"prompt_ms\":3.2,\"predicted_n\":2,\"predicted_ms\":8.1}}\n\n",
        "data: {\"choices\":[],\"created\":1,\"usage\":{\"completion_tokens\":2,\"prompt_tokens\":9,\"total_tokens\":11},\"timings\":{\"prompt_n\":9}}\n\n",
        "data: [DONE]\n\n",
    );
    mount(&server, sse(text)).await;
    let model = model("llama:qwen3-8b", &server, true);
    let (reply, events) = complete_streaming(&model, &first_request()).await;
    let reply = reply.unwrap();
    assert_eq!(
        (reply.text.as_str(), reply.finish),
        ("Hello", FinishReason::Stop)
    );
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 9,
            output_tokens: 2,
            ..Usage::default()
        }
    );
    assert_eq!(events, [StreamEvent::TextDelta("Hello".into())]);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests[0].headers.get("authorization").is_none(),
        "keyless provider sends no key"
    );
}

#[tokio::test]
async fn unreachable_server_is_retried_then_reported() {
    let server = MockServer::start().await;
    let mut settings = settings(&server, false);
    // Nothing listens on a port we just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = [
        ("OPENAI_API_KEY", OPENAI_KEY.to_owned()),
        ("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1")),
    ];
    settings = settings.with_env(env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let model = llm_do::model::providers::resolve("openai:gpt-4o", &settings).unwrap();
    let err = model.complete(&first_request(), None).await.unwrap_err();
    let ModelError::RetriesExhausted { attempts: 3, last } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(**last, ModelError::Connect { .. }), "{last:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// Issue 17: a reply with `message: null`, or without choices, is not an empty answer.
#[tokio::test]
async fn a_null_message_or_no_choices_is_a_clear_error() {
    let server = MockServer::start().await;
    mount(&server, completion(Value::Null, "stop")).await;
    let err = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid response from openai: the reply has no message: `choices[0].message` is null or missing (finish_reason `stop`)"
    );
    // Not retried: the server answered, wrongly.
    assert_eq!(bodies(&server).await.len(), 1);

    let server = MockServer::start().await;
    let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": []});
    mount(&server, ResponseTemplate::new(200).set_body_json(body)).await;
    let err = model("openai:gpt-4o", &server, false)
        .complete(&first_request(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid response from openai: the response has no `choices`"
    );
}
