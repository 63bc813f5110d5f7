//! Helpers shared by the provider tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use llm_do::config::{ProviderConfig, Wire};
use llm_do::model::http::{RetryPolicy, client};
use llm_do::model::providers::{ProviderSettings, resolve};
use llm_do::model::{
    Attachment, Message, ModelError, ModelRequest, ModelResponse, Part, Role, SharedModel,
    StreamEvent, ToolCall, ToolDef, ToolResult,
};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

pub const OPENAI_KEY: &str = "sk-test-openai-123";
pub const ANTHROPIC_KEY: &str = "sk-ant-test-456";

/// A 1x1 PNG and the start of a PDF, as sent by the attachment tests.
pub const PNG_BYTES: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
pub const PDF_BYTES: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

/// Settings whose built-in providers point at `server`, with fast retries and a `llama`
/// named provider (OpenAI wire, no key).
pub fn settings(server: &MockServer, stream: bool) -> ProviderSettings {
    let uri = server.uri();
    let env = HashMap::from([
        ("OPENAI_BASE_URL".to_owned(), format!("{uri}/v1")),
        ("OPENAI_API_KEY".to_owned(), OPENAI_KEY.to_owned()),
        ("ANTHROPIC_BASE_URL".to_owned(), uri.clone()),
        ("ANTHROPIC_API_KEY".to_owned(), ANTHROPIC_KEY.to_owned()),
    ]);
    let providers = BTreeMap::from([(
        "llama".to_owned(),
        ProviderConfig {
            base_url: format!("{uri}/v1"),
            api_key_env: None,
            wire: Some(Wire::Openai),
            requests_per_minute: None,
            max_concurrent: None,
        },
    )]);
    let mut settings = ProviderSettings::new(client(), providers).with_env(env);
    settings.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        request_timeout: Duration::from_secs(10),
    };
    settings.stream = stream;
    settings
}

pub fn model(id: &str, server: &MockServer, stream: bool) -> SharedModel {
    resolve(id, &settings(server, stream)).expect("model resolves")
}

/// The JSON bodies of every request the server received, in order.
pub async fn bodies(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON request body"))
        .collect()
}

/// A 200 response carrying `text` as an SSE stream.
pub fn sse(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text.as_bytes().to_vec(), "text/event-stream")
}

pub fn tool(name: &str) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: format!("Run {name}."),
        parameters: json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
    }
}

/// The first turn of the tool-loop tests.
pub fn first_request() -> ModelRequest {
    ModelRequest {
        system: "You add numbers.".into(),
        messages: vec![Message::user("add 1 and 2 twice")].into(),
        tools: vec![tool("add")],
        max_tokens: Some(256),
        ..ModelRequest::default()
    }
}

/// The second turn: `reply`'s tool calls answered with results `3` and `5`.
pub fn second_request(first: &ModelRequest, reply: &ModelResponse) -> ModelRequest {
    let mut request = first.clone();
    let mut assistant = Vec::new();
    if !reply.text.is_empty() {
        assistant.push(Part::Text(reply.text.clone()));
    }
    assistant.extend(reply.tool_calls.iter().cloned().map(Part::ToolCall));
    request.messages.push(Message {
        role: Role::Assistant,
        parts: assistant,
    });
    let results = reply
        .tool_calls
        .iter()
        .zip(["3", "5"])
        .map(|(call, content): (&ToolCall, &str)| {
            Part::ToolResult(ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: content.into(),
                is_error: false,
            })
        })
        .collect();
    request.messages.push(Message {
        role: Role::User,
        parts: results,
    });
    request
}

/// A user message with the PNG and PDF attached.
pub fn attachment_request() -> ModelRequest {
    use base64::Engine as _;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    ModelRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![
                Part::Text("describe these".into()),
                Part::Attachment(Attachment {
                    path: "input/dot.png".into(),
                    media_type: "image/png".into(),
                    data_base64: encode(PNG_BYTES),
                }),
                Part::Attachment(Attachment {
                    path: "input/deck.pdf".into(),
                    media_type: "application/pdf".into(),
                    data_base64: encode(PDF_BYTES),
                }),
            ],
        }]
        .into(),
        ..ModelRequest::default()
    }
}

/// Runs `request` with a sink and returns the reply and the events it received.
pub async fn complete_streaming(
    model: &SharedModel,
    request: &ModelRequest,
) -> (Result<ModelResponse, ModelError>, Vec<StreamEvent>) {
    let seen = Mutex::new(Vec::new());
    let sink = |e: StreamEvent| seen.lock().unwrap().push(e);
    let reply = model.complete(request, Some(&sink)).await;
    (reply, seen.into_inner().unwrap())
}
