//! `llm-do chat WORKER` and Rhai `chat()` (issue 21, DESIGN §16): a conversation with a worker
//! whose every request carries the turns before it, kept in the run log for `--continue`.
//! Driven through a pipe and a pseudo-terminal against a mock OpenAI-compatible server.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::faults::{config, text_reply};
use crate::util::{CLEARED, Test, run};

const HELPER: &str = "---\ndescription: Answers questions\nmodel: local:m\n---\nBe helpful.\n";

/// A project with the worker `helper` on the mock server at `base`, and a fn.
fn project(base: &str) -> Test {
    Test::new()
        .config(&config(base))
        .worker("helper", HELPER)
        .script("math", "fn add(a, b) { a + b }\n")
}

/// Mounts one reply per request, in order (each built by `reply`); later requests get an
/// error, so a test that makes too many fails loudly.
async fn replies(server: &MockServer, texts: &[&str], reply: fn(&str) -> ResponseTemplate) {
    for text in texts {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(reply(text))
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("no more replies"))
        .mount(server)
        .await;
}

/// A whole Chat Completions reply.
fn whole(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(text_reply(text))
}

/// A streamed (SSE) Chat Completions reply, in two chunks.
fn streamed(text: &str) -> ResponseTemplate {
    let (a, b) = text.split_at(text.len() / 2);
    let chunk = |content: &str| {
        let c = json!({"id": "c", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
        format!("data: {c}\n\n")
    };
    let end = json!({"id": "c", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let body = format!("{}{}data: {end}\n\ndata: [DONE]\n\n", chunk(a), chunk(b));
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
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

/// A request's messages as `(role, content)` pairs.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&m["role"]), text(&m["content"]))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(r, c)| ((*r).to_string(), (*c).to_string()))
        .collect()
}

/// The messages of the second request in the Ada conversation: the first turn, then the new
/// question.
fn ada_second_turn() -> Vec<(String, String)> {
    pairs(&[
        ("system", "Be helpful."),
        ("user", "hi, I am Ada"),
        ("assistant", "Hello, Ada."),
        ("user", "who am I?"),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_lines_are_turns_and_each_request_carries_the_turns_before_it() {
    let server = MockServer::start().await;
    replies(&server, &["Hello, Ada.", "You said you are Ada."], whole).await;
    let t = project(&server.uri()).stdin("hi, I am Ada\n\n  \nwho am I?\n");
    let (_t, out) = run(t, &["chat", "helper"]).await;
    out.status(0);
    assert_eq!(out.stdout, "Hello, Ada.\nYou said you are Ada.\n");
    assert_eq!(out.stderr, "");
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2, "blank lines are no turns");
    assert_eq!(
        messages(&bodies[0]),
        pairs(&[("system", "Be helpful."), ("user", "hi, I am Ada")])
    );
    assert_eq!(messages(&bodies[1]), ada_second_turn());
}

#[tokio::test(flavor = "multi_thread")]
async fn continue_resumes_the_newest_conversation_from_the_run_log() {
    let server = MockServer::start().await;
    replies(&server, &["Noted: blue.", "Blue.", "Hi."], whole).await;
    let t = project(&server.uri()).stdin("my colour is blue\n");
    let (t, out) = run(t, &["chat", "helper"]).await;
    out.status(0);
    let t = t.stdin("what is my colour?\n");
    let (t, out) = run(t, &["chat", "helper", "--continue"]).await;
    out.status(0);
    assert_eq!(out.stdout, "Blue.\n");
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @"continuing the conversation with `helper` of [TIME] (1 turn)");
    });
    let sent = bodies(&server).await;
    assert_eq!(
        messages(&sent[1]),
        pairs(&[
            ("system", "Be helpful."),
            ("user", "my colour is blue"),
            ("assistant", "Noted: blue."),
            ("user", "what is my colour?"),
        ])
    );
    // Without `--continue` a new conversation starts.
    let t = t.stdin("hello\n");
    let (t, out) = run(t, &["chat", "helper"]).await;
    out.status(0);
    assert_eq!(
        messages(&bodies(&server).await[2]),
        pairs(&[("system", "Be helpful."), ("user", "hello")])
    );
    // `--no-log` keeps nothing, and then says there is nothing to continue.
    let (_t, out) = run(t, &["chat", "helper", "--continue", "--no-log"]).await;
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: nothing to continue: the run log is off, so no conversation was kept\n  \
         hint: conversations are kept in the run log `.llm-do/log.db`: leave out `--no-log` \
         (and `[log] enabled = false` in llm-do.toml)\n"
    );
    assert_eq!(bodies(&server).await.len(), 3);
}

#[test]
fn continue_without_a_kept_conversation_says_so() {
    let t = project("http://127.0.0.1:9").stdin("hi\n");
    let out = t.run_with(&["chat", "helper", "--continue"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: nothing to continue: the run log holds no conversation with `helper`\n  \
         hint: start one with `llm-do chat helper`\n"
    );
    // A conversation held with `--no-log` is not kept.
    let out = t.run_with(&["chat", "helper", "--no-log", "--model", "test"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: hi\n");
    t.run_with(&["chat", "helper", "--continue"]).status(2);
}

#[test]
fn json_prints_one_object_per_turn() {
    let t = project("http://127.0.0.1:9").stdin("Ada\nBob\n");
    let out = t.run_with(&["chat", "helper", "--json", "--model", "test"]);
    out.status(0);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    let id = lines[0]["conversation"].as_str().unwrap();
    assert_eq!(
        lines[1],
        json!({"conversation": id, "turn": 2, "input": "Bob", "output": "test reply: Bob"})
    );
    assert_eq!(lines[0]["turn"], 1);
}

#[test]
fn an_unknown_worker_gets_did_you_mean() {
    let t = project("http://127.0.0.1:9");
    let out = t.run_with(&["chat", "helpr"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: unknown worker `helpr`\n  hint: did you mean `helper`?\n"
    );
    let out = t.run_with(&["chat", "add"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `add` is a fn, not a worker; only a worker holds a conversation\n"
    );
}

#[test]
fn a_failed_turn_from_a_pipe_ends_the_chat_with_its_error() {
    // Nothing listens on port 9: the model request fails.
    let t = project("http://127.0.0.1:9")
        .env("LLM_DO_RETRY_BASE_MS", "1")
        .stdin("hi\nagain\n");
    let out = t.run_with(&["chat", "helper"]);
    out.status(1);
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!(out.stderr, @r"
        error: model `local:m` failed in worker `helper`
          Caused by:
            gave up after 4 attempts: could not reach local at http://127.0.0.1:9/v1/chat/completions: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)
        ");
}

#[tokio::test(flavor = "multi_thread")]
async fn rhai_chat_keeps_its_history_across_sends() {
    let server = MockServer::start().await;
    replies(&server, &["Hello, Ada.", "You are Ada."], whole).await;
    let t = project(&server.uri()).file(
        "main.rhai",
        "let c = chat(\"helper\");\nlet a = c.send(\"hi, I am Ada\");\nlet b = c.send(\"who am I?\");\n\
         #{a: a, b: b, turns: c.turns, worker: c.worker, history: c.history}\n",
    );
    let (t, out) = run(t, &["main.rhai"]).await;
    out.status(0);
    assert_eq!(
        out.json(),
        json!({"a": "Hello, Ada.", "b": "You are Ada.", "turns": 2, "worker": "helper", "history": [
            {"role": "user", "text": "hi, I am Ada"},
            {"role": "assistant", "text": "Hello, Ada."},
            {"role": "user", "text": "who am I?"},
            {"role": "assistant", "text": "You are Ada."},
        ]})
    );
    let bodies = bodies(&server).await;
    assert_eq!(messages(&bodies[1]), ada_second_turn());
    // Each send is a worker call in the run log, like `call()`.
    let out = t.run_with(&["logs", "helper", "--json"]);
    out.status(0);
    assert_eq!(
        out.json().as_array().map(Vec::len),
        Some(2),
        "{}",
        out.stdout
    );
}

#[test]
fn rhai_chat_with_a_name_that_is_no_worker_fails_clearly() {
    let t = project("http://127.0.0.1:9")
        .file("a.rhai", "chat(\"helpr\")\n")
        .file("b.rhai", "let c = chat(\"add\");\n");
    let out = t.run_with(&["a.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x unknown worker `helpr` (did you mean `helper`?)
          ,-[a.rhai:1:1]
        1 | chat("helpr")
          : |
          : `-- here
          `----
        "#);
    let out = t.run_with(&["b.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x `add` is a fn, not a worker; only a worker holds a conversation
          ,-[b.rhai:1:9]
        1 | let c = chat("add");
          :         |
          :         `-- here
          `----
        "#);
}

/// `llm-do chat ARGS` in the project at `dir`, in a clean environment.
fn chat_command(dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-do"));
    cmd.arg("chat").args(args).current_dir(dir);
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("LLM_DO_RETRY_BASE_MS", "1");
    cmd
}

/// `llm-do chat ARGS` in the project at `dir` on a pseudo-terminal, at its first prompt.
fn spawn_chat(dir: &std::path::Path, args: &[&str]) -> rexpect::session::PtySession {
    let mut p = rexpect::session::spawn_command(chat_command(dir, args), Some(30_000))
        .expect("spawn llm-do chat");
    p.exp_string("`/exit` or Ctrl-D to end").expect("banner");
    p.exp_string("you> ").expect("first prompt");
    p
}

/// The exit code of the chat on `p` once its output ended.
fn exit_code(mut p: rexpect::session::PtySession) -> i32 {
    p.exp_eof().unwrap();
    match p.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

/// The interactive loop chat shares with the REPL (issue 32): lines arriving in one write are
/// turns in order; Ctrl-C at the prompt drops the line being typed, not the chat; Ctrl-D ends
/// it with 0. Chat keeps no history file (the REPL's is not touched).
#[test]
fn on_a_terminal_typed_ahead_lines_are_turns_and_ctrl_c_drops_only_the_typed_line() {
    let t = project("http://127.0.0.1:9");
    let history = t.path().join("history.txt");
    let mut cmd = chat_command(t.path(), &["helper", "--model", "test"]);
    cmd.env("LLM_DO_HISTORY", &history);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    p.exp_string("you> ").unwrap();
    p.send("one\rtwo\r").unwrap();
    p.flush().unwrap();
    p.exp_string("test reply: one").unwrap();
    p.exp_string("test reply: two").unwrap();
    p.exp_string("you> ").unwrap();
    p.send("never sent").unwrap();
    p.flush().unwrap();
    p.exp_string("never sent").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("you> ").unwrap();
    p.send_line("three").unwrap();
    let shown = p.exp_string("test reply: three").unwrap();
    assert!(!shown.contains("test reply: never"), "{shown:?}");
    p.exp_string("you> ").unwrap();
    p.send_control('d').unwrap();
    assert_eq!(exit_code(p), 0);
    assert!(!history.exists(), "chat wrote the REPL's history file");
}

/// `-q` leaves out the banner: the first thing shown is the prompt.
#[test]
fn on_a_terminal_quiet_starts_at_the_prompt() {
    let t = project("http://127.0.0.1:9");
    let cmd = chat_command(t.path(), &["helper", "--model", "test", "-q"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    let before = p.exp_string("you> ").unwrap();
    assert!(!before.contains("chat with"), "{before:?}");
    p.send_line("/exit").unwrap();
    assert_eq!(exit_code(p), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_replies_stream_and_empty_lines_are_ignored() {
    let server = MockServer::start().await;
    replies(&server, &["Hello, Ada.", "You are Ada."], streamed).await;
    let t = project(&server.uri());
    let dir = t.path().to_path_buf();
    let status = tokio::task::spawn_blocking(move || {
        let mut p = spawn_chat(&dir, &["helper"]);
        p.send_line("hi, I am Ada").unwrap();
        let shown = p.exp_string("you> ").unwrap();
        // Streamed once, not printed again at the end.
        assert_eq!(shown.matches("Hello, Ada.").count(), 1, "{shown:?}");
        p.send_line("").unwrap();
        p.exp_string("you> ").unwrap();
        p.send_line("who am I?").unwrap();
        p.exp_string("You are Ada.").unwrap();
        p.exp_string("you> ").unwrap();
        p.send_line("/exit").unwrap();
        p.exp_eof().unwrap();
        p.process().wait().unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2, "the empty line is no turn");
    assert_eq!(bodies[1]["stream"], true);
    assert_eq!(messages(&bodies[1]), ada_second_turn());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_the_reply_not_the_chat() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(streamed("Too late.").set_delay(Duration::from_secs(600)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    replies(&server, &["Quick."], streamed).await;
    let t = project(&server.uri());
    let dir = t.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut p = spawn_chat(&dir, &["helper"]);
        p.send_line("take your time").unwrap();
        // Let the request leave before interrupting it.
        std::thread::sleep(Duration::from_millis(500));
        p.send_control('c').unwrap();
        p.exp_string("interrupted").unwrap();
        p.exp_string("you> ").unwrap();
        p.send_line("be quick").unwrap();
        p.exp_string("Quick.").unwrap();
        p.exp_string("you> ").unwrap();
        // Ctrl-D ends the chat.
        p.send_control('d').unwrap();
        p.exp_eof().unwrap();
    })
    .await
    .unwrap();
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    // The cancelled turn is not part of the conversation.
    assert_eq!(
        messages(&bodies[1]),
        pairs(&[("system", "Be helpful."), ("user", "be quick")])
    );
}

/// Between turns from a pipe (waiting for the next line), Ctrl-C still ends the chat with 130.
#[cfg(unix)]
#[test]
fn ctrl_c_while_a_pipe_waits_for_the_next_line_exits_130() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let t = project("http://127.0.0.1:9");
    let mut child = t
        .command(&["chat", "helper", "--model", "test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "hi").unwrap();
    let mut reply = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut reply)
        .unwrap();
    assert_eq!(reply, "test reply: hi\n");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(130));
}

/// The error line a failed turn leaves on a terminal, where the chat goes on after it.
fn failed_turn_line(dir: &std::path::Path, args: &[&str]) -> String {
    let mut p = spawn_chat(dir, args);
    p.send_line("hi").unwrap();
    let (_, line) = p.exp_regex(r#"(error: |\{"error").*\r\n"#).unwrap();
    p.exp_string("you> ").unwrap();
    p.send_line("/exit").unwrap();
    p.exp_eof().unwrap();
    line.trim_end().to_string()
}

/// On a terminal a failed turn is said and the chat goes on; the line is the one every face
/// writes (`report::error_line`, issue 32), so `--error-format json` makes it a JSON object.
#[test]
fn on_a_terminal_a_failed_turn_is_one_error_line_in_the_error_format() {
    // Nothing listens on port 9: every model request fails.
    let t = project("http://127.0.0.1:9");
    let message = "model `local:m` failed in worker `helper`: gave up after 4 attempts: could \
                   not reach local at http://127.0.0.1:9/v1/chat/completions: error sending \
                   request: client error (Connect): tcp connect error: Connection refused (os \
                   error 111)";
    assert_eq!(
        failed_turn_line(t.path(), &["helper"]),
        format!("error: {message}")
    );
    assert_eq!(
        failed_turn_line(t.path(), &["helper", "--error-format", "json"]),
        json!({ "error": message }).to_string()
    );
}
