//! Fault injection: the real binary against providers that misbehave (a mock server, or a raw
//! socket we control for resets, stalls and truncated bodies). Every case ends in a clear
//! error with the right exit code, or in a handled retry; files written earlier stay intact
//! and no temporary files are left behind.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Run, Test, run};

/// Retries as fast as possible, so fault tests stay quick without changing what they test.
const FAST_RETRY: (&str, &str) = ("LLM_DO_RETRY_BASE_MS", "1");

/// An `llm-do.toml` pointing the provider `local` (OpenAI wire) at `base`.
pub fn config(base: &str) -> String {
    format!("[providers.local]\nbase_url = \"{base}/v1\"\nwire = \"openai\"\n")
}

/// A project with one worker `w` on `local:m` using `toolsets`.
fn project(base: &str, toolsets: &str, extra: &str) -> Test {
    let worker = format!("---\nmodel: local:m\ntoolsets: [{toolsets}]\n{extra}---\nDo it.\n");
    Test::new()
        .config(&config(base))
        .worker("w", &worker)
        .env(FAST_RETRY.0, FAST_RETRY.1)
}

/// A Chat Completions reply with final text.
pub fn text_reply(text: &str) -> Value {
    json!({"id": "c", "object": "chat.completion", "model": "m", "choices": [{"index": 0,
        "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]})
}

/// A Chat Completions reply calling `name` with raw `arguments` text.
pub fn tool_reply(name: &str, arguments: &str) -> Value {
    json!({"id": "c", "object": "chat.completion", "model": "m", "choices": [{"index": 0,
        "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "t1", "type": "function",
            "function": {"name": name, "arguments": arguments}}]}}]})
}

/// Mounts: the first `n` requests get `first`, every later one gets `then`.
async fn sequence(server: &MockServer, first: Value, n: u64, then: Value) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .up_to_n_times(n)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(then))
        .mount(server)
        .await;
}

/// The request bodies the mock received.
async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The content of the last `tool` message of a request body.
fn last_tool_result(body: &Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Temporary files anywhere under `dir` (atomic writes must never leave one behind).
pub fn temp_files(dir: &std::path::Path) -> Vec<String> {
    crate::util::tree(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap_or(p);
            name.starts_with(".tmp") || name.ends_with(".tmp")
        })
        .collect()
}

#[track_caller]
fn fails_with(out: &Run, code: i32, needles: &[&str]) {
    out.status(code);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "missing {needle:?} in\n{}",
            out.stderr
        );
    }
}

/// A raw HTTP server: each accepted connection's request is read whole, then `respond`
/// decides what happens to the socket. Returns the base URL and the connection counter.
pub fn raw_server(respond: fn(&mut TcpStream)) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                read_request(&mut stream);
                respond(&mut stream);
            });
        }
    });
    (base, count)
}

/// Holds the connection open without answering until the client gives up.
pub fn stall(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Reads one HTTP request (headers and a `content-length` body).
fn read_request(stream: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            return;
        }
    }
}

#[test]
fn a_server_that_closes_the_socket_is_retried_then_reported() {
    let (base, connections) = raw_server(|_| {});
    let out = project(&base, "", "").run_with(&["run", "w", "hi"]);
    fails_with(
        &out,
        1,
        &["gave up after 4 attempts", "could not reach local"],
    );
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[test]
fn a_stalled_server_times_out() {
    let (base, connections) = raw_server(stall);
    let out = project(&base, "", "")
        .env("LLM_DO_HTTP_TIMEOUT_SECS", "1")
        .env("LLM_DO_RETRY_ATTEMPTS", "2")
        .run_with(&["run", "w", "hi"]);
    fails_with(
        &out,
        1,
        &["gave up after 2 attempts", "timed out after 1 s"],
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_truncated_body_is_an_error_not_a_partial_answer() {
    let (base, _) = raw_server(|stream| {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(br#"{"id": "c", "choices": [{"index": 0, "mess"#);
    });
    let out = project(&base, "", "").run_with(&["run", "w", "hi"]);
    fails_with(&out, 1, &["gave up after 4 attempts", "local"]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test]
async fn an_invalid_json_body_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway says hi</html>"))
        .mount(&server)
        .await;
    let (_, out) = run(project(&server.uri(), "", ""), &["run", "w", "hi"]).await;
    fails_with(
        &out,
        1,
        &["invalid response from local", "not JSON", "gateway says hi"],
    );
    assert_eq!(
        bodies(&server).await.len(),
        1,
        "a malformed body is not retried"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_then_succeed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(text_reply("fine")))
        .mount(&server)
        .await;
    let (_, out) = run(project(&server.uri(), "", ""), &["run", "w", "hi"]).await;
    out.status(0);
    assert_eq!(out.stdout, "fine\n");
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn unknown_tools_and_bad_arguments_go_back_to_the_model() {
    let cases = [
        (
            "nope",
            "{}",
            "unknown tool `nope`; available tools: read_file, list_files",
        ),
        (
            "read_file",
            "{not json",
            "arguments for `read_file` must be a JSON object",
        ),
        (
            "read_file",
            "[1, 2]",
            "arguments for `read_file` must be a JSON object",
        ),
        ("read_file", r#"{"path": 42}"#, "error:"),
        (
            "read_file",
            r#"{"path": "a.txt", "max_chars": "lots"}"#,
            "error:",
        ),
        (
            "read_file",
            r#"{"path": "../../etc/passwd"}"#,
            "escapes the project root",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let server = MockServer::start().await;
        sequence(
            &server,
            tool_reply(tool, arguments),
            1,
            text_reply("recovered"),
        )
        .await;
        let t = project(&server.uri(), "fs_ro", "").file("a.txt", "hello");
        let (_, out) = run(t, &["run", "w", "hi"]).await;
        out.status(0);
        assert_eq!(out.stdout, "recovered\n");
        let sent = bodies(&server).await;
        assert_eq!(sent.len(), 2);
        let result = last_tool_result(&sent[1]);
        assert!(result.contains(expected), "{tool} {arguments}: {result}");
    }
}

#[tokio::test]
async fn an_endless_tool_loop_stops_at_max_turns() {
    let server = MockServer::start().await;
    let call = tool_reply("read_file", r#"{"path": "a.txt"}"#);
    sequence(&server, call.clone(), 1, call).await;
    let t = project(&server.uri(), "fs_ro", "max_turns: 3\n").file("a.txt", "x");
    let (_, out) = run(t, &["run", "w", "hi"]).await;
    fails_with(
        &out,
        1,
        &["worker `w` reached `max_turns` (3)", "raise `max_turns`"],
    );
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn a_model_that_keeps_calling_itself_stops_at_max_depth() {
    let server = MockServer::start().await;
    let call = tool_reply("w", r#"{"input": "again"}"#);
    sequence(&server, call.clone(), 1, call).await;
    let (_, out) = run(
        project(&server.uri(), "w", ""),
        &["run", "w", "hi", "--max-depth", "3"],
    )
    .await;
    fails_with(
        &out,
        1,
        &[
            "maximum worker depth 3 exceeded",
            "w > w > w > w",
            "--max-depth",
        ],
    );
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn a_ten_megabyte_reply_is_handled() {
    let server = MockServer::start().await;
    let big = "y".repeat(10 * 1024 * 1024);
    sequence(&server, text_reply(&big), 1, text_reply("unused")).await;
    let (_, out) = run(project(&server.uri(), "", ""), &["run", "w", "hi"]).await;
    out.status(0);
    assert_eq!(out.stdout.len(), big.len() + 1);
}

#[tokio::test]
async fn huge_tool_results_are_truncated_with_a_marker() {
    let server = MockServer::start().await;
    sequence(&server, tool_reply("huge", "{}"), 1, text_reply("done")).await;
    let lib = "/// Returns a lot.\nfn huge() { let s = \"\"; s.pad(300000, 'z'); s }\n";
    let t = project(&server.uri(), "huge", "").script("lib", lib);
    let (_, out) = run(t, &["run", "w", "hi"]).await;
    out.status(0);
    let result = last_tool_result(&bodies(&server).await[1]);
    assert!(
        result.ends_with("[... truncated: the result has 300000 characters]"),
        "{}",
        &result[result.len().saturating_sub(200)..]
    );
    assert!(result.len() < 101_000);
}

#[tokio::test]
async fn earlier_writes_survive_a_failing_provider_and_no_temp_files_remain() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .mount(&server)
        .await;
    let script = "write_text(\"out/partial.txt\", \"kept\");\nwrite_text(\"out/partial.txt\", \"kept twice\");\ncall(\"w\", \"x\");\nwrite_text(\"out/never.txt\", \"no\");\n";
    let t = project(&server.uri(), "", "").file("main.rhai", script);
    let (t, out) = run(t, &["main.rhai"]).await;
    fails_with(&out, 1, &["gave up after 4 attempts", "server error: down"]);
    let kept = std::fs::read_to_string(t.path().join("out/partial.txt")).unwrap();
    assert_eq!(kept, "kept twice");
    assert!(!t.path().join("out/never.txt").exists());
    assert_eq!(temp_files(t.path()), Vec::<String>::new());
}

#[test]
fn deep_recursion_beyond_the_limit_is_a_clear_error() {
    let script = "fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\ndepth(100000)";
    let out = Test::new()
        .file("main.rhai", script)
        .run_with(&["main.rhai"]);
    fails_with(&out, 1, &["main.rhai:2", "recursion is too deep"]);
}

#[test]
fn doubling_a_string_forever_stops_at_the_size_limit() {
    let script = "let s = \"x\";\nloop { s += s; }\n";
    let out = Test::new()
        .file("main.rhai", script)
        .run_with(&["main.rhai"]);
    fails_with(&out, 1, &["main.rhai"]);
    assert!(
        out.stderr.to_lowercase().contains("string"),
        "{}",
        out.stderr
    );
}

#[test]
fn growing_an_array_forever_stops_at_the_size_limit() {
    let script = "let a = [1];\nloop { a += a; }\n";
    let out = Test::new()
        .file("main.rhai", script)
        .run_with(&["main.rhai"]);
    fails_with(&out, 1, &["main.rhai:2", "Size of array/BLOB too large"]);
}

#[test]
fn builtins_leave_the_callers_variables_intact() {
    // Regression: builtins moved their arguments out, and Rhai passes a variable given as the
    // first argument by reference, so a second `write_text(p, ..)` saw `p` as `()`.
    let script = "let p = \"out/x.txt\";\nwrite_text(p, \"1\");\nwrite_text(p, \"2\");\nlet t = read_text(p);\n[p, t, read_text(p), exists(p)]\n";
    let t = Test::new().file("main.rhai", script);
    let out = t.run_with(&["main.rhai"]);
    out.status(0);
    assert_eq!(out.json(), json!(["out/x.txt", "2", "2", true]));
}
