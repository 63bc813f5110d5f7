//! MCP servers as toolsets, end to end against a real stdio MCP server (the
//! `mcp_echo_server` example: `echo`, `fail` returns an error result, `crash` exits).

use std::path::PathBuf;

use crate::util::Test;

/// `target/debug/examples/mcp_echo_server`, next to this test binary's `deps/` directory.
fn server() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join("mcp_echo_server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --example mcp_echo_server`",
        path.display()
    );
    path
}

fn config(extra: &str) -> String {
    format!(
        "[mcp.echo]\ncommand = {:?}\n{extra}",
        server().display().to_string()
    )
}

/// A scripted model calling one tool per turn, then answering with every tool result it saw.
const MODEL: &str = r#"
fn m(request) {
    let calls = [
        #{name: "echo_echo", args: #{text: "one"}},
        #{name: "echo_fail", args: #{text: "two"}},
        #{name: "echo_crash", args: #{}},
        #{name: "echo_echo", args: #{text: "again"}},
    ];
    if request.turn < calls.len() {
        return #{tool_calls: [calls[request.turn]]};
    }
    let seen = [];
    for msg in request.messages {
        if msg.tool_results != () { for r in msg.tool_results { seen.push(r.content); } }
    }
    seen.reduce(|acc, s| if acc == () { s } else { acc + "\n" + s })
}
"#;

fn project(extra_config: &str) -> Test {
    Test::new()
        .config(&config(extra_config))
        .script("model", MODEL)
        .worker(
            "scripted",
            "---\nmodel: script:m\ntoolsets: [mcp.echo]\n---\nUse the tools.\n",
        )
}

#[test]
fn the_test_model_calls_every_listed_tool() {
    let t = Test::new()
        .config(&config(
            "\n[[approvals]]\ntool = \"mcp.echo.*\"\ndecision = \"approve\"\n",
        ))
        .worker(
            "w",
            "---\nmodel: test\ntoolsets: [mcp.echo.echo, mcp.echo.fail]\n---\nUse the tools.\n",
        );
    let out = t.run_with(&["run", "w", "hi", "-v"]);
    out.status(0);
    // Tools run in name order; the answer is the last tool result.
    assert!(out.stdout.contains("failed on hi"), "{}", out.stdout);
    // Spans name the tool by its full name, as `call()` reaches it.
    assert!(out.stderr.contains("✓ mcp.echo.echo"), "{}", out.stderr);
    assert!(out.stderr.contains("✗ mcp.echo.fail"), "{}", out.stderr);
}

#[test]
fn results_errors_and_a_crash_reach_the_model() {
    let t = project("\n[[approvals]]\ntool = \"mcp.echo.*\"\ndecision = \"approve\"\n");
    let out = t.run_with(&["run", "scripted", "go"]);
    out.status(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "echo: one", "{}", out.stdout);
    assert_eq!(
        lines[1], "error: `mcp.echo.fail` failed: failed on two",
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("error: mcp server `echo` stopped while running `crash`"),
        "{}",
        out.stdout
    );
    // The crashed server is started again on its next use.
    assert_eq!(lines[3], "echo: again", "{}", out.stdout);
}

#[test]
fn without_approval_the_model_sees_a_denial() {
    let out = project("").run_with(&["run", "scripted", "go"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @r#"
        denied: `mcp.echo.echo` requires approval and there is no terminal to ask; rerun with `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = "mcp.echo.echo"` with `decision = "approve"`
        denied: `mcp.echo.fail` requires approval and there is no terminal to ask; rerun with `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = "mcp.echo.fail"` with `decision = "approve"`
        denied: `mcp.echo.crash` requires approval and there is no terminal to ask; rerun with `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = "mcp.echo.crash"` with `decision = "approve"`
        denied: `mcp.echo.echo` requires approval and there is no terminal to ask; rerun with `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = "mcp.echo.echo"` with `decision = "approve"`
        "#);
    assert_eq!(out.stdout.matches("denied: ").count(), 4, "{}", out.stdout);
}

#[test]
fn scripts_call_mcp_tools_by_name() {
    let t = Test::new().config(&config("")).script(
        "main",
        r#"
let a = call("mcp.echo.echo", #{text: "hi"});
print(a);
try { call("mcp.echo.fail", #{text: "x"}); } catch (e) { print(`caught: ${e}`); }
try { call("mcp.echo.nope", #{}); } catch (e) { print(`caught: ${e}`); }
"#,
    );
    let out = t.run_with(&["scripts/main.rhai"]);
    out.status(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "echo: hi", "{}", out.stdout);
    assert!(lines[1].contains("failed on x"), "{}", out.stdout);
    assert!(
        lines[2].contains("mcp server `echo` has no tool `nope`"),
        "{}",
        out.stdout
    );
}

#[test]
fn call_all_and_try_call_all_reach_mcp_tools_like_call() {
    let t = Test::new().config(&config("")).script(
        "main",
        r#"
let r = call_all([["mcp.echo.echo", #{text: "a"}], ["mcp.echo.echo", #{text: "b"}]]);
print(r[0] + " / " + r[1]);
let t = try_call_all([["mcp.echo.fail", #{text: "x"}], ["mcp.nope.echo", #{}]]);
print(t[0].error);
print(t[1].error);
"#,
    );
    let out = t.run_with(&["scripts/main.rhai", "-v"]);
    out.status(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "echo: a / echo: b", "{}", out.stdout);
    assert_eq!(
        lines[1], "`mcp.echo.fail` failed: failed on x",
        "{}",
        out.stdout
    );
    assert!(lines[2].contains("`nope`"), "{}", out.stdout);
    // The fan-out's calls are traced like `call()`'s.
    assert_eq!(
        out.stderr.matches("▶ builtin mcp.echo.echo").count(),
        2,
        "{}",
        out.stderr
    );
}

/// A server that never answers holds a script's `call()` only until `timeout_secs`.
#[test]
fn a_server_that_never_answers_times_out() {
    let t = Test::new()
        .config(&config(
            "timeout_secs = 1
",
        ))
        .script(
            "main",
            "let r = \"\"; try { call(\"mcp.echo.hang\", #{}); } catch (e) { r = e; } r",
        );
    let out = t.run_with(&["scripts/main.rhai"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @"`mcp.echo.hang` did not answer within 1 s (`timeout_secs` in `[mcp.echo]`); the server was stopped");
}

#[test]
fn a_server_that_cannot_start_is_named() {
    let t = Test::new()
        .config("[mcp.broken]\ncommand = \"/nonexistent/mcp-server\"\n")
        .script("main", "call(\"mcp.broken.x\", #{})\n");
    let out = t.run_with(&["scripts/main.rhai"]);
    assert_ne!(out.status, 0);
    insta::assert_snapshot!(out.stderr, @r#"
         x mcp server `broken` failed to start: cannot run `/nonexistent/mcp-server`: No such file or
         | directory (os error 2)
          ,-[scripts/main.rhai:1:6]
        1 | call("mcp.broken.x", #{})
          :      |
          :      `-- here
          `----
        "#);
}

#[test]
fn unknown_keys_in_an_mcp_table_are_rejected() {
    let t = Test::new()
        .config("[mcp.echo]\ncomand = \"x\"\n")
        .worker("w", "---\nmodel: test\n---\nHi.\n");
    let out = t.run_with(&["check"]);
    assert_ne!(out.status, 0);
    insta::assert_snapshot!(out.stderr, @r#"
         x unknown key `comand` in `[mcp.echo]`
          ,-[llm-do.toml:2:1]
        1 | [mcp.echo]
        2 | comand = "x"
          : ^^^|^^
          :    `-- here
          `----
         help: did you mean `command`?
        "#);
}

#[test]
fn llm_do_run_calls_an_mcp_tool() {
    let t = Test::new().config(&config(""));
    let out = t.run_with(&["run", "mcp.echo.echo", "--input-json", r#"{"text": "x"}"#]);
    out.status(0);
    assert_eq!(out.stdout.trim(), "echo: x");
}

#[test]
fn a_worker_naming_a_missing_tool_fails_naming_the_server() {
    let t = Test::new().config(&config("")).worker(
        "w",
        "---\nmodel: test\ntoolsets: [mcp.echo.nope]\n---\nHi.\n",
    );
    let out = t.run_with(&["run", "w", "hi"]);
    assert_ne!(out.status, 0);
    insta::assert_snapshot!(out.stderr, @"error: mcp server `echo` has no tool `nope`; its tools are: big, crash, echo, fail, hang");
}

#[test]
fn a_toolset_naming_an_undeclared_server_is_a_load_error() {
    let t = Test::new().worker("w", "---\nmodel: test\ntoolsets: [mcp.nope]\n---\nHi.\n");
    let out = t.run_with(&["check"]);
    assert_ne!(out.status, 0);
    insta::assert_snapshot!(out.stderr, @r"
         x unknown toolset `mcp.nope` in worker `w`
          ,-[workers/w.worker:3:12]
        2 | model: test
        3 | toolsets: [mcp.nope]
          :            ^^^^|^^^
          :                `-- not a builtin set, fn, module or worker
        4 | ---
          `----
         help: toolsets are builtin sets (fs_ro, fs, shell), Rhai fns, script modules, workers or
               `mcp.NAME` servers from `llm-do.toml`
        ");
}

/// A minimal streamable HTTP MCP server on wiremock: JSON responses (no SSE), one tool
/// `whoami` answering with the `Authorization` header it received.
fn http_mcp_reply(req: &wiremock::Request) -> wiremock::ResponseTemplate {
    use serde_json::{Value, json};
    use wiremock::ResponseTemplate;
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return ResponseTemplate::new(400);
    };
    let Some(id) = body.get("id").cloned() else {
        return ResponseTemplate::new(202); // a notification
    };
    let result = match body["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": body["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mock", "version": "1.0.0"}
        }),
        "tools/list" => json!({"tools": [{
            "name": "whoami",
            "description": "Who is calling.",
            "inputSchema": {"type": "object", "properties": {}}
        }]}),
        "tools/call" => {
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)")
                .to_owned();
            json!({"content": [{"type": "text", "text": auth}]})
        }
        _ => return ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}})),
    };
    ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamable_http_server_gets_headers_from_the_environment() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(http_mcp_reply)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    let cfg = format!(
        "[mcp.remote]\nurl = \"{}/mcp\"\nheaders_env = {{ Authorization = \"REMOTE_AUTH\" }}\n",
        server.uri()
    );
    let t = Test::new()
        .config(&cfg)
        .env("REMOTE_AUTH", "Bearer s3cret")
        .script("main", "print(call(\"mcp.remote.whoami\", #{}));\n");
    let out = tokio::task::spawn_blocking(move || t.run_with(&["scripts/main.rhai"]))
        .await
        .unwrap();
    out.status(0);
    assert_eq!(out.stdout.trim(), "Bearer s3cret");
}

/// A unique `sleep` duration, to find a process among the machine's.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{nanos}")
}

/// The echo server started through `sh -c "BEFORE & exec SERVER"`: `BEFORE` runs in the
/// background as the server's own child.
fn config_with_child(before: &str, extra: &str) -> String {
    format!(
        "[mcp.echo]\ncommand = \"sh\"\nargs = [\"-c\", {:?}]\n{extra}",
        format!("{before} & exec {}", server().display())
    )
}

/// Wait (at most 20 s) until no process runs `cmdline`.
#[track_caller]
fn gone(cmdline: &str) {
    let start = std::time::Instant::now();
    while crate::hostile::running(cmdline) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "`{cmdline}` outlived llm-do"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 29: what an MCP server starts runs in its process group and goes with it: after
/// llm-do exits, the server's own child is gone too.
#[test]
fn a_servers_children_do_not_outlive_llm_do() {
    if !std::path::Path::new("/proc/self/cmdline").exists() {
        return;
    }
    let sleep = unique("sleep 300.");
    let t = Test::new()
        .config(&config_with_child(&sleep, ""))
        .script("main", "call(\"mcp.echo.echo\", #{text: \"hi\"})\n");
    // Output discarded: a child left running would hold a captured stderr open forever.
    let child = t.spawn_quiet(&["scripts/main.rhai"]);
    let out = crate::hostile::wait_or_kill(child, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{:?}", out.status);
    gone(&sleep);
}

/// Issue 29: a server flooding stderr neither hangs llm-do nor leaves its flood running.
#[test]
fn a_server_flooding_stderr_is_bounded_and_stopped() {
    if !std::path::Path::new("/proc/self/cmdline").exists() {
        return;
    }
    let flood = unique("yes flood-");
    let t = Test::new()
        .config(&config_with_child(&format!("{flood} >&2"), ""))
        .script("main", "call(\"mcp.echo.echo\", #{text: \"hi\"})\n");
    let child = t.spawn_quiet(&["scripts/main.rhai"]);
    let out = crate::hostile::wait_or_kill(child, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{:?}", out.status);
    gone(&flood);
}

/// Issue 29: a result over the size limit fails the call at once, naming the limit, instead of
/// being dropped while the call waits for its timeout; the server restarts on its next use.
#[test]
fn an_oversized_result_is_an_error_at_once() {
    // Well under the timeout: the error comes at once, not when the call times out.
    let t = Test::new().config(&config("timeout_secs = 30\n")).script(
        "main",
        "let r = \"\"; try { call(\"mcp.echo.big\", #{bytes: 17000000}); } catch (e) { r = e; }\nprint(r);\ncall(\"mcp.echo.echo\", #{text: \"again\"})\n",
    );
    let out = t.run_with(&["scripts/main.rhai"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "mcp server `echo` answered `big` with a message over 16 MiB; the server was stopped\necho: again\n"
    );
}

/// Issue 29: `timeout_secs = 0` would fail every call: refused when the project loads.
#[test]
fn a_zero_timeout_is_refused_at_load() {
    let t = Test::new()
        .config(&config("timeout_secs = 0\n"))
        .script("main", "1\n");
    let out = t.run_with(&["check"]);
    out.status(2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "  x `timeout_secs` of mcp server `echo` must be at least 1",
            "   ,-[llm-do.toml:3:16]"
        ],
        "{}",
        out.stderr
    );
}

/// Issue 29: a server that does not answer within `timeout_secs` is stopped whole, its own
/// children included, while llm-do goes on.
#[test]
fn a_timed_out_server_is_stopped_with_its_children() {
    if !std::path::Path::new("/proc/self/cmdline").exists() {
        return;
    }
    let sleep = unique("sleep 300.");
    let t = Test::new()
        .config(&config_with_child(&sleep, "timeout_secs = 1\n"))
        .script(
            "main",
            "try { call(\"mcp.echo.hang\", #{}); } catch (e) { write_text(\"timed-out\", e); }\nsleep(60000);\n",
        );
    let mut child = t.spawn_quiet(&["scripts/main.rhai"]);
    let marker = t.path().join("timed-out");
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the call never timed out"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    gone(&sleep);
    assert!(
        child.try_wait().unwrap().is_none(),
        "llm-do is still running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let message = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        message,
        "`mcp.echo.hang` did not answer within 1 s (`timeout_secs` in `[mcp.echo]`); the server was stopped"
    );
}
