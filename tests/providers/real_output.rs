//! Issue 31, what real model output produces and mocks did not, end to end through the binary
//! against wiremock speaking each wire: a reply cut off at `max_tokens` (never silent), the
//! default `max_tokens` sent on every wire, a forced `tool_choice` the model ignored, tools
//! together with `output:` (no `response_format` while tools are offered), and why a fallback
//! chain moved on (`-v`, `--trace`, the run log).

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Test, run};

const OPENAI: &str = "/v1/chat/completions";
const ANTHROPIC: &str = "/v1/messages";

fn openai(message: Value, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "c1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }))
}

fn openai_text(text: &str, finish: &str) -> ResponseTemplate {
    openai(json!({"role": "assistant", "content": text}), finish)
}

fn anthropic(content: Value, stop: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }))
}

/// Answers with `replies` in order, the last one for every request after.
async fn serve(at: &str, replies: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    let last = replies.len() - 1;
    for (i, reply) in replies.into_iter().enumerate() {
        let mock = Mock::given(method("POST"))
            .and(path(at))
            .respond_with(reply);
        let mock = if i < last {
            mock.up_to_n_times(1)
                .with_priority(u8::try_from(i + 1).unwrap())
        } else {
            mock.with_priority(u8::MAX)
        };
        mock.mount(&server).await;
    }
    server
}

/// A project whose `local` provider (OpenAI wire, no key) and `claude` provider (Anthropic
/// wire) point at `server`; `extra` is appended to llm-do.toml.
fn project(server: &MockServer, extra: &str) -> Test {
    let uri = server.uri();
    Test::new()
        .config(&format!(
            "[providers.local]\nbase_url = \"{uri}/v1\"\nwire = \"openai\"\n\
             [providers.claude]\nbase_url = \"{uri}\"\napi_key_env = \"CLAUDE_KEY\"\nwire = \"anthropic\"\n{extra}"
        ))
        .env("CLAUDE_KEY", "test-key")
        .env("LLM_DO_RETRY_BASE_MS", "1")
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

const SUM: &str = "---\nmodel: local:m\noutput:\n  sum: integer\n---\nAdd the numbers.\n";

/// Cut-off JSON was re-asked twice and ended as "not valid JSON: EOF while parsing", naming
/// neither the cut-off nor `max_tokens`. Now it fails at once, naming both.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_structured_answer_fails_at_once_naming_max_tokens() {
    let server = serve(OPENAI, vec![openai_text("{\"sum\": 4", "length")]).await;
    let t = project(&server, "").worker("sum", SUM);
    let (_t, out) = run(t, &["run", "sum", "1 and 3"]).await;
    out.status(1);
    assert_eq!(
        out.stderr,
        "error: worker `sum`: the reply of model `local:m` was cut off at `max_tokens` (4096 tokens, \
         the default); a cut-off structured answer is never valid JSON, so it is not re-asked\n  \
         hint: raise `max_tokens` in the worker's frontmatter or `[defaults] max_tokens` in llm-do.toml\n"
    );
    assert_eq!(bodies(&server).await.len(), 1, "no re-ask for a cut-off");
}

/// A cut-off text answer returned the truncated text with exit 0. Now it is an error by
/// default; `keep_cut_off: true` keeps it. Same on the Anthropic wire (`max_tokens`).
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_text_answer_fails_unless_the_worker_keeps_it() {
    for (wire, model, reply) in [
        (OPENAI, "local:m", openai_text("Once upon a", "length")),
        (
            ANTHROPIC,
            "claude:claude-haiku-4-5",
            anthropic(
                json!([{"type": "text", "text": "Once upon a"}]),
                "max_tokens",
            ),
        ),
    ] {
        let server = serve(wire, vec![reply]).await;
        let t = project(&server, "[defaults]\nmax_tokens = 3\n")
            .worker(
                "story",
                &format!("---\nmodel: {model}\n---\nTell a story.\n"),
            )
            .worker(
                "keeper",
                &format!("---\nmodel: {model}\nkeep_cut_off: true\n---\nTell a story.\n"),
            );
        let (t, out) = run(t, &["run", "story", "go"]).await;
        out.status(1);
        assert_eq!(
            out.stderr,
            format!(
                "error: worker `story`: the reply of model `{model}` was cut off at `max_tokens` (3 tokens, \
                 `[defaults] max_tokens`)\n  hint: raise `max_tokens` in the worker's frontmatter or \
                 `[defaults] max_tokens` in llm-do.toml, or set `keep_cut_off: true` to keep a cut-off text answer\n"
            )
        );
        let (_t, out) = run(t, &["run", "keeper", "go"]).await;
        out.status(0);
        assert_eq!(out.stdout, "Once upon a\n");
    }
}

/// On the Anthropic wire a structured answer is a forced tool: cut off inside it, the error
/// named the `final_result` tool (which the worker never wrote), not the worker's answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_structured_answer_on_the_anthropic_wire_names_max_tokens() {
    let server = serve(
        ANTHROPIC,
        vec![anthropic(
            json!([{"type": "tool_use", "id": "t1", "name": "final_result", "input": {}}]),
            "max_tokens",
        )],
    )
    .await;
    let t = project(&server, "").worker(
        "sum",
        "---\nmodel: claude:claude-haiku-4-5\nmax_tokens: 20\noutput:\n  sum: integer\n---\nAdd.\n",
    );
    let (_t, out) = run(t, &["run", "sum", "1 and 3"]).await;
    out.status(1);
    assert_eq!(
        out.stderr,
        "error: worker `sum`: the reply of model `claude:claude-haiku-4-5` was cut off at `max_tokens` \
         (20 tokens, the worker's `max_tokens`); a cut-off structured answer is never valid JSON, so it is \
         not re-asked\n  hint: raise `max_tokens` in the worker's frontmatter or `[defaults] max_tokens` in llm-do.toml\n"
    );
    assert_eq!(bodies(&server).await.len(), 1);
}

/// The stop reason of every reply is in `-v` (when it cut the reply off), the trace and the
/// run log.
#[tokio::test(flavor = "multi_thread")]
async fn the_stop_reason_is_in_v_the_trace_and_the_run_log() {
    let server = serve(OPENAI, vec![openai_text("Once upon a", "length")]).await;
    let t = project(&server, "").worker(
        "story",
        "---\nmodel: local:m\nkeep_cut_off: true\n---\nTell a story.\n",
    );
    let (t, out) = run(t, &["run", "story", "go", "-v", "--trace", "t.jsonl"]).await;
    out.status(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("stop reason"))
        .collect();
    assert_eq!(
        lines,
        ["  ← local:m: stop reason `length` (cut off at max_tokens)"]
    );
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let stops: Vec<Value> = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "model_response")
        .map(|e| e["stop"].clone())
        .collect();
    assert_eq!(stops, [json!("length")]);
    let (_t, out) = run(t, &["logs", "--json"]).await;
    out.status(0);
    let rows = out.json();
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "story"))
        .cloned()
        .unwrap_or_else(|| panic!("no row for `story` in {rows}"));
    assert_eq!(row["stop"], "length");
}

/// No `max_tokens` was sent on the OpenAI-compatible wire, so a local server generated until
/// its context was full. Now the default goes on every wire, `[defaults] max_tokens` replaces
/// it and the worker's own wins over both.
#[tokio::test(flavor = "multi_thread")]
async fn a_default_max_tokens_goes_on_every_wire() {
    let server = serve(OPENAI, vec![openai_text("hi", "stop")]).await;
    let anthropic_server = serve(
        ANTHROPIC,
        vec![anthropic(
            json!([{"type": "text", "text": "hi"}]),
            "end_turn",
        )],
    )
    .await;
    let plain = "---\nmodel: local:m\n---\nGreet.\n";
    let own = "---\nmodel: local:m\nmax_tokens: 50\n---\nGreet.\n";
    for (config, worker, sent) in [
        ("", plain, 4096),
        ("[defaults]\nmax_tokens = 300\n", plain, 300),
        ("[defaults]\nmax_tokens = 300\n", own, 50),
    ] {
        let t = project(&server, config).worker("greet", worker);
        let (_t, out) = run(t, &["run", "greet", "Ada"]).await;
        out.status(0);
        let last = bodies(&server).await.pop().unwrap();
        assert_eq!(last["max_tokens"], sent, "{config} {worker}");
    }
    // OpenAI's own API takes it as `max_completion_tokens` (its reasoning models reject
    // `max_tokens`).
    let t = project(&server, "")
        .env("OPENAI_BASE_URL", &format!("{}/v1", server.uri()))
        .env("OPENAI_API_KEY", "sk-test")
        .worker("greet", "---\nmodel: openai:gpt-4.1\n---\nGreet.\n");
    let (_t, out) = run(t, &["run", "greet", "Ada"]).await;
    out.status(0);
    let last = bodies(&server).await.pop().unwrap();
    assert_eq!(
        (last.get("max_tokens"), &last["max_completion_tokens"]),
        (None, &json!(4096))
    );
    let t = project(&anthropic_server, "[defaults]\nmax_tokens = 300\n").worker(
        "greet",
        "---\nmodel: claude:claude-haiku-4-5\n---\nGreet.\n",
    );
    let (_t, out) = run(t, &["run", "greet", "Ada"]).await;
    out.status(0);
    assert_eq!(bodies(&anthropic_server).await[0]["max_tokens"], 300);
}

const ADDER: &str = "---\nmodel: local:m\ntoolsets: [add]\ntool_choice: required\n---\nAdd.\n";
const ADD: &str = "/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n";

/// `tool_choice: required` answered in prose counted as success. Now it is asked again once
/// (still required), then it is an error.
#[tokio::test(flavor = "multi_thread")]
async fn required_tool_choice_answered_in_prose_is_re_asked_then_an_error() {
    let server = serve(OPENAI, vec![openai_text("It is 3.", "stop")]).await;
    let t = project(&server, "")
        .worker("adder", ADDER)
        .script("math", ADD);
    let (_t, out) = run(t, &["run", "adder", "1 and 2"]).await;
    out.status(1);
    assert_eq!(
        out.stderr,
        "error: worker `adder` has `tool_choice: required` but model `local:m` answered without calling \
         a tool (2 attempts)\n  hint: the model or its server may ignore tools (a llama-server chat template \
         without tools drops them); use a model that calls tools, or drop `tool_choice`\n"
    );
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["tool_choice"], "required");
    let messages = sent[1]["messages"].as_array().unwrap();
    assert_eq!(
        messages[messages.len() - 2..],
        [
            json!({"role": "assistant", "content": "It is 3."}),
            json!({"role": "user", "content": "You answered without calling a tool, but this step must call a tool. Call one of your tools now."}),
        ]
    );
}

/// The re-ask works when the model then calls the tool.
#[tokio::test(flavor = "multi_thread")]
async fn required_tool_choice_re_asked_once_can_succeed() {
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1,\"b\":2}"}},
    ]});
    let server = serve(
        OPENAI,
        vec![
            openai_text("It is 3.", "stop"),
            openai(call, "tool_calls"),
            openai_text("3", "stop"),
        ],
    )
    .await;
    let t = project(&server, "")
        .worker("adder", ADDER)
        .script("math", ADD);
    let (_t, out) = run(t, &["run", "adder", "1 and 2"]).await;
    out.status(0);
    assert_eq!(out.stdout, "3\n");
    let sent = bodies(&server).await;
    let choices: Vec<&Value> = sent.iter().map(|b| &b["tool_choice"]).collect();
    assert_eq!(
        choices,
        [&json!("required"), &json!("required"), &json!("auto")]
    );
}

/// With tools and `output:`, `response_format` went with every request; on llama-server it is
/// a grammar that wins over tools, so no tool was ever called. Now the tool turns carry the
/// schema in the system prompt and no `response_format`; an answer that fails the schema is
/// re-asked with `tool_choice: none` and `response_format`.
#[tokio::test(flavor = "multi_thread")]
async fn tools_with_output_send_response_format_only_on_the_answer_turn() {
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1,\"b\":2}"}},
    ]});
    let server = serve(
        OPENAI,
        vec![
            openai(call, "tool_calls"),
            openai_text("The sum is 3.", "stop"),
            openai_text("{\"sum\": 3}", "stop"),
        ],
    )
    .await;
    let t = project(&server, "")
        .worker(
            "sum",
            "---\nmodel: local:m\ntoolsets: [add]\noutput:\n  sum: integer\n---\nAdd the numbers.\n",
        )
        .script("math", ADD);
    let (_t, out) = run(t, &["run", "sum", "1 and 2"]).await;
    out.status(0);
    assert_eq!(out.json(), json!({"sum": 3}));
    let sent = bodies(&server).await;
    let shape: Vec<(bool, Value)> = sent
        .iter()
        .map(|b| (b.get("response_format").is_some(), b["tool_choice"].clone()))
        .collect();
    assert_eq!(
        shape,
        [
            (false, json!("auto")),
            (false, json!("auto")),
            (true, json!("none"))
        ]
    );
    let system = sent[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Add the numbers.\n\nWhen you have your final answer, reply with only a JSON value matching this JSON Schema:\n{"),
        "{system}"
    );
    assert_eq!(sent[2]["response_format"]["json_schema"]["name"], "sum");
}

/// A chain moved on without a word. Now `-v`, the trace and the run log say from which
/// model, to which, and why.
#[tokio::test(flavor = "multi_thread")]
async fn a_fallback_says_why_it_moved_on() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC))
        .respond_with(ResponseTemplate::new(529).set_body_json(
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(OPENAI))
        .respond_with(openai_text("hi", "stop"))
        .mount(&server)
        .await;
    let t = project(&server, "")
        .env("LLM_DO_RETRY_ATTEMPTS", "2")
        .worker(
            "greet",
            "---\nmodel: [claude:claude-haiku-4-5, local:m]\n---\nGreet.\n",
        );
    let (t, out) = run(t, &["run", "greet", "Ada", "-v", "--trace", "t.jsonl"]).await;
    out.status(0);
    assert_eq!(out.stdout, "hi\n");
    let why = "gave up after 2 attempts: claude returned HTTP 529: overloaded: Overloaded";
    let moved: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("fallback"))
        .collect();
    assert_eq!(
        moved,
        [format!(
            "  ↪ fallback claude:claude-haiku-4-5 → local:m: {why}"
        )]
    );
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let fallbacks: Vec<Value> = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "model_response")
        .map(|e| e["fallback"].clone())
        .collect();
    assert_eq!(
        fallbacks,
        [json!([{"from": "claude:claude-haiku-4-5", "to": "local:m", "reason": why}])]
    );
    let (_t, out) = run(t, &["logs", "--json"]).await;
    out.status(0);
    let rows = out.json();
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "greet"))
        .cloned()
        .unwrap_or_else(|| panic!("no row for `greet` in {rows}"));
    assert_eq!(
        row["fallback"],
        format!("claude:claude-haiku-4-5 → local:m: {why}")
    );
    assert_eq!(row["model"], "local:m");
}

/// Streamed, a cut-off reply says so on both wires: OpenAI `finish_reason: "length"` as
/// plain text, Anthropic `stop_reason: "max_tokens"` inside the structured-output tool (which
/// was an error naming `final_result`, a tool the worker never wrote).
#[tokio::test]
async fn a_streamed_cut_off_reply_says_so_on_both_wires() {
    use super::common::{complete_streaming, model, sse};
    use llm_do::model::{FinishReason, Message, ModelRequest};

    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "c", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let body = format!(
        "{}{}data: [DONE]\n\n",
        chunk(json!({"content": "Once upon"}), Value::Null),
        chunk(json!({}), json!("length"))
    );
    let server = serve(OPENAI, vec![sse(&body)]).await;
    let request = ModelRequest {
        messages: vec![Message::user("a story")].into(),
        max_tokens: Some(2),
        ..ModelRequest::default()
    };
    let (reply, _) = complete_streaming(&model("llama:m", &server, true), &request).await;
    let reply = reply.unwrap();
    assert_eq!(
        (reply.text.as_str(), reply.finish),
        ("Once upon", FinishReason::Length)
    );

    let events = [
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [], "model": "c", "stop_reason": null, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t1", "name": "final_result", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"sum\": "}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 2}}),
        json!({"type": "message_stop"}),
    ];
    let body: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    let server = serve(ANTHROPIC, vec![sse(&body)]).await;
    let request = ModelRequest {
        output_schema: Some(json!({"type": "object", "properties": {"sum": {"type": "integer"}}})),
        ..request
    };
    let claude = model("anthropic:claude-haiku-4-5", &server, true);
    let (reply, _) = complete_streaming(&claude, &request).await;
    let reply = reply.unwrap();
    assert_eq!(
        (reply.text.as_str(), reply.finish, reply.tool_calls.len()),
        ("{\"sum\": ", FinishReason::Length, 0)
    );
}
