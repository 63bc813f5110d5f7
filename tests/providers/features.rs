//! Issue 20 on the wire: prompt-cache breakpoints and cache-token accounting, reasoning
//! fields, and fallback chains (which errors move on, which stop), for both wire formats.

use llm_do::model::fallback::FallbackModel;
use llm_do::model::{Message, ModelRequest, Reasoning, SharedModel, Usage};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::*;

const ANTHROPIC_PATH: &str = "/v1/messages";
const OPENAI_PATH: &str = "/v1/chat/completions";

fn anthropic_reply(usage: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "done"}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": usage,
    }))
}

fn openai_reply(usage: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "c1", "object": "chat.completion", "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"},
                     "finish_reason": "stop"}],
        "usage": usage,
    }))
}

async fn mount(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

/// A three-message conversation with two tools.
fn conversation(cache: bool) -> ModelRequest {
    ModelRequest {
        system: "You add numbers.".into(),
        messages: vec![
            Message::user("add 1 and 2"),
            Message::assistant("3"),
            Message::user("and 3 and 4?"),
        ]
        .into(),
        tools: vec![tool("add"), tool("mul")],
        cache,
        ..ModelRequest::default()
    }
}

fn sent(server_requests: &[wiremock::Request]) -> Vec<String> {
    server_requests
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn anthropic_cache_breakpoints_and_cache_tokens() {
    let server = MockServer::start().await;
    mount(
        &server,
        ANTHROPIC_PATH,
        anthropic_reply(json!({
            "input_tokens": 12, "output_tokens": 3,
            "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 2500,
        })),
    )
    .await;
    let model = model("anthropic:claude-haiku-4-5", &server, false);
    let reply = model.complete(&conversation(true), None).await.unwrap();
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 3,
            cache_read_tokens: 2500,
            cache_write_tokens: 1500,
        }
    );
    model.complete(&conversation(false), None).await.unwrap();
    let bodies = bodies(&server).await;
    let ephemeral = json!({"type": "ephemeral"});
    let cached = &bodies[0];
    assert_eq!(
        cached["system"],
        json!([{"type": "text", "text": "You add numbers.", "cache_control": ephemeral}])
    );
    assert_eq!(cached["tools"][0].get("cache_control"), None);
    assert_eq!(cached["tools"][1]["cache_control"], ephemeral);
    assert_eq!(
        cached["messages"][2]["content"],
        json!([{"type": "text", "text": "and 3 and 4?", "cache_control": ephemeral}])
    );
    let breakpoints = sent(&server.received_requests().await.unwrap())[0]
        .matches("cache_control")
        .count();
    assert_eq!(breakpoints, 3, "system, last tool, last message");
    // Off: the system prompt is a plain string and nothing is marked.
    assert_eq!(bodies[1]["system"], "You add numbers.");
    assert!(!bodies[1].to_string().contains("cache_control"));
}

#[tokio::test]
async fn openai_caches_on_its_own_and_reports_cached_tokens() {
    let server = MockServer::start().await;
    mount(
        &server,
        OPENAI_PATH,
        openai_reply(json!({
            "prompt_tokens": 3000, "completion_tokens": 5, "total_tokens": 3005,
            "prompt_tokens_details": {"cached_tokens": 2048},
        })),
    )
    .await;
    let model = model("openai:gpt-4.1", &server, false);
    let reply = model.complete(&conversation(true), None).await.unwrap();
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 3000 - 2048,
            output_tokens: 5,
            cache_read_tokens: 2048,
            cache_write_tokens: 0,
        }
    );
    let body = &sent(&server.received_requests().await.unwrap())[0];
    assert!(!body.contains("cache_control"), "{body}");
}

#[tokio::test]
async fn reasoning_on_both_wires() {
    let server = MockServer::start().await;
    mount(
        &server,
        ANTHROPIC_PATH,
        anthropic_reply(json!({"input_tokens": 1, "output_tokens": 1})),
    )
    .await;
    mount(
        &server,
        OPENAI_PATH,
        openai_reply(json!({"prompt_tokens": 1, "completion_tokens": 1})),
    )
    .await;
    let request = |reasoning| ModelRequest {
        messages: vec![Message::user("think")].into(),
        temperature: Some(0.5),
        reasoning: Some(reasoning),
        ..ModelRequest::default()
    };
    let anthropic = model("anthropic:claude-sonnet-4-5", &server, false);
    let openai = model("openai:o4-mini", &server, false);
    anthropic
        .complete(&request(Reasoning::High), None)
        .await
        .unwrap();
    anthropic
        .complete(&request(Reasoning::Tokens(3000)), None)
        .await
        .unwrap();
    openai
        .complete(&request(Reasoning::Low), None)
        .await
        .unwrap();
    openai
        .complete(&request(Reasoning::Tokens(20_000)), None)
        .await
        .unwrap();
    let bodies = bodies(&server).await;
    assert_eq!(
        bodies[0]["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(
        bodies[0]["max_tokens"],
        16384 + llm_do::model::DEFAULT_MAX_TOKENS
    );
    assert_eq!(bodies[0].get("temperature"), None);
    assert_eq!(bodies[1]["thinking"]["budget_tokens"], 3000);
    assert_eq!(bodies[2]["reasoning_effort"], "low");
    assert_eq!(bodies[3]["reasoning_effort"], "high");
}

/// `anthropic:` always answers `status` on one server; `openai:` answers on another.
async fn chain_after(status: u16) -> (MockServer, MockServer, SharedModel) {
    let first = MockServer::start().await;
    mount(
        &first,
        ANTHROPIC_PATH,
        ResponseTemplate::new(status).set_body_json(json!({
            "type": "error", "error": {"type": "overloaded_error", "message": "busy"}
        })),
    )
    .await;
    let second = MockServer::start().await;
    mount(
        &second,
        OPENAI_PATH,
        openai_reply(json!({"prompt_tokens": 1, "completion_tokens": 1})),
    )
    .await;
    let models: Vec<SharedModel> = vec![
        model("anthropic:claude-haiku-4-5", &first, false),
        model("openai:gpt-4.1", &second, false),
    ];
    (first, second, FallbackModel::shared(models).unwrap())
}

fn request() -> ModelRequest {
    ModelRequest {
        // What the run loop sends: the first member's API name.
        model: "claude-haiku-4-5".into(),
        messages: vec![Message::user("hi")].into(),
        ..ModelRequest::default()
    }
}

#[tokio::test]
async fn fallback_moves_on_after_retries_at_overload_and_5xx() {
    for status in [429, 529, 500, 503] {
        let (first, second, chain) = chain_after(status).await;
        let req = request();
        let reply = chain.complete(&req, None).await.unwrap();
        assert_eq!(
            (reply.text.as_str(), reply.served(&*chain)),
            ("done", "openai:gpt-4.1")
        );
        // The settings retry three times before the chain moves on.
        assert_eq!(
            first.received_requests().await.unwrap().len(),
            3,
            "{status}"
        );
        let sent = bodies(&second).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0]["model"], "gpt-4.1",
            "the next model gets its own name"
        );
    }
}

#[tokio::test]
async fn fallback_stops_at_400_and_401() {
    for status in [400, 401] {
        let (first, second, chain) = chain_after(status).await;
        let err = chain.complete(&request(), None).await.unwrap_err();
        assert!(err.to_string().contains(&status.to_string()), "{err}");
        assert_eq!(first.received_requests().await.unwrap().len(), 1);
        assert!(second.received_requests().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn fallback_moves_on_when_a_server_is_unreachable() {
    let (_first, second, _) = chain_after(200).await;
    // Nothing listens on the first address (a closed port).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut s = settings(&second, false);
    s = s.with_env(std::collections::HashMap::from([
        ("ANTHROPIC_BASE_URL".to_owned(), format!("http://{closed}")),
        ("ANTHROPIC_API_KEY".to_owned(), ANTHROPIC_KEY.to_owned()),
        ("OPENAI_BASE_URL".to_owned(), format!("{}/v1", second.uri())),
        ("OPENAI_API_KEY".to_owned(), OPENAI_KEY.to_owned()),
    ]));
    let models: Vec<SharedModel> = vec![
        llm_do::model::providers::resolve("anthropic:claude-haiku-4-5", &s).unwrap(),
        llm_do::model::providers::resolve("openai:gpt-4.1", &s).unwrap(),
    ];
    let chain = FallbackModel::shared(models).unwrap();
    let req = request();
    let reply = chain.complete(&req, None).await.unwrap();
    assert_eq!(reply.served(&*chain), "openai:gpt-4.1");
}
