//! Fan-out end to end (DESIGN §4): `call_all`, `parallel` and `try_call_all` against the mock
//! model server of the benchmark harness, which counts requests in flight and notices requests
//! whose client went away. Assertions are on counts, never on timings.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock::{MockServer, Script};
use crate::util::{Run, Test};

/// Greets through the OpenAI wire; `echo_a` does the same through the Anthropic wire.
const ECHO: &str = "---\nmodel: mock:m\n---\nEcho.\n";
const ECHO_ANTHROPIC: &str = "---\nmodel: mocka:m\n---\nEcho.\n";
const ADD: &str = "fn add(a, b) { a + b }\n";

async fn server() -> MockServer {
    let script = Script {
        latency: Duration::from_millis(100),
        ..Script::default()
    };
    MockServer::start("127.0.0.1:0", script)
        .await
        .expect("mock server")
}

/// A project whose `mock` (OpenAI wire) and `mocka` (Anthropic wire) providers point at
/// `server`, with `max_parallel` concurrent calls.
fn project(server: &MockServer, max_parallel: u32) -> Test {
    let url = server.url();
    Test::new()
        .config(&format!(
            "[limits]\nmax_parallel = {max_parallel}\n\n[providers.mock]\nbase_url = \"{url}/v1\"\nwire = \"openai\"\n\n[providers.mocka]\nbase_url = \"{url}\"\nwire = \"anthropic\"\n"
        ))
        .worker("echo", ECHO)
        .worker("echo_a", ECHO_ANTHROPIC)
        .script("math", ADD)
}

async fn run(t: Test, script: &str) -> Run {
    let t = t.file("main.rhai", script).args(&["main.rhai", "--json"]);
    tokio::task::spawn_blocking(move || t.run())
        .await
        .expect("run")
}

/// The mock's counters once nothing is in flight (clients that went away are noticed
/// asynchronously, so wait for them to settle).
async fn settled(server: &MockServer) -> Value {
    for _ in 0..1000 {
        let stats = server.stats.snapshot();
        if stats["in_flight"] == 0 {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("requests still in flight: {}", server.stats.snapshot());
}

#[tokio::test(flavor = "multi_thread")]
async fn results_come_back_in_input_order() {
    let server = server().await;
    // Earlier items answer later, so completion order is the reverse of input order.
    let script = r#"
        let r = call_all([
            ["echo", "delay_ms=300 first"],
            ["echo_a", "delay_ms=200 second"],
            ["add", #{a: 1, b: 2}],
            ["echo", "delay_ms=0 fourth"],
        ]);
        let p = parallel([|| call("echo", "delay_ms=200 p1"), || 2, || call("echo_a", "delay_ms=0 p3")]);
        #{r: r, p: p}
    "#;
    let out = run(project(&server, 8), script).await;
    out.status(0);
    assert_eq!(
        out.json(),
        json!({
            "r": ["reply to: delay_ms=300 first", "reply to: delay_ms=200 second", 3, "reply to: delay_ms=0 fourth"],
            "p": ["reply to: delay_ms=200 p1", 2, "reply to: delay_ms=0 p3"],
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fan_out_is_bounded_by_max_parallel() {
    let server = server().await;
    let script = r#"call_all(["a", "b", "c", "d", "e", "f"].map(|x| ["echo", x]))"#;
    let out = run(project(&server, 2), script).await;
    out.status(0);
    assert_eq!(out.json().as_array().unwrap().len(), 6);
    let stats = settled(&server).await;
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["max_in_flight"], 2, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_models_tool_calls_to_workers_run_concurrently_within_the_bound() {
    let server = server().await;
    // One turn asking for four `echo` calls at once, then the final answer.
    let outer = "---\nmodel: mock:m\ntoolsets: [echo]\n---\nDelegate.\n";
    let t = project(&server, 3).worker("outer", outer).args(&[
        "run",
        "outer",
        "tools=1 calls=4 tool=echo",
    ]);
    let out = tokio::task::spawn_blocking(move || t.run()).await.unwrap();
    out.status(0);
    assert_eq!(out.stdout, "reply to: tools=1 calls=4 tool=echo\n");
    let stats = settled(&server).await;
    // Two turns of `outer` plus four `echo` runs, at most three of them at once.
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["max_in_flight"], 3, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_error_cancels_the_siblings_requests() {
    let server = server().await;
    let script = r#"call_all([
        ["echo", "delay_ms=60000 slow one"],
        ["echo", "status=400 await_in_flight=3 fails"],
        ["echo", "delay_ms=60000 slow two"],
    ])"#;
    let out = run(project(&server, 8), script).await;
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x `call_all` item 1 (`echo`) failed: model `mock:m` failed in worker `echo`: mock returned HTTP
         | 400: mock status 400
          ,-[main.rhai:1:1]
        1 | call_all([
          : |
          : `-- here
        2 |         ["echo", "delay_ms=60000 slow one"],
          `----
        "#);
    let stats = settled(&server).await;
    // Only the failing request got an answer; both slow ones were abandoned mid-wait.
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["completed"], 1, "{stats}");
    assert_eq!(stats["dropped"], 2, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_closure_cancels_a_sibling_closures_worker_call() {
    let server = server().await;
    let script = r#"parallel([
        || call("echo", "delay_ms=60000 slow"),
        || { try { call("echo", "status=400 await_in_flight=2") } catch { throw "closure failed" } },
    ])"#;
    let out = run(project(&server, 8), script).await;
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x `parallel` closure 1 failed: closure failed
          ,-[main.rhai:3:75]
        2 |         || call("echo", "delay_ms=60000 slow"),
        3 |         || { try { call("echo", "status=400 await_in_flight=2") } catch { throw "closure failed" } },
          :                                                                           |
          :                                                                           `-- here
        4 |     ])
          `----
        "#);
    let stats = settled(&server).await;
    assert_eq!(stats["completed"], 1, "{stats}");
    assert_eq!(stats["dropped"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn try_call_all_collects_errors_beside_results() {
    let server = server().await;
    let script = r#"try_call_all([
        ["echo", "fine"],
        ["echo_a", "status=400"],
        ["add", #{a: 2, b: 3}],
        ["ecoh", "typo"],
        ["add", #{a: 1}],
    ])"#;
    let out = run(project(&server, 8), script).await;
    out.status(0);
    let v = out.json();
    assert_eq!(v[0], json!({"ok": "reply to: fine"}));
    assert!(v[1]["error"].as_str().unwrap().contains("HTTP 400"), "{v}");
    assert_eq!(v[2], json!({"ok": 5}));
    let unknown = v[3]["error"].as_str().unwrap();
    assert!(unknown.contains("unknown function or worker `ecoh`") && unknown.contains("echo"));
    assert!(
        v[4]["error"]
            .as_str()
            .unwrap()
            .contains("missing argument `b`")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_the_whole_fan_out_with_exit_130() {
    let server = server().await;
    let t = project(&server, 8).file(
        "main.rhai",
        r#"call_all([["echo", "delay_ms=60000 a"], ["echo_a", "delay_ms=60000 b"]])"#,
    );
    let mut child = t
        .command(&["main.rhai"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn llm-do");
    // Wait until both requests are in flight, then interrupt.
    for _ in 0..3000 {
        if server.stats.snapshot()["in_flight"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats.snapshot()["in_flight"], 2);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let code = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .unwrap();
    assert_eq!(code.code(), Some(130));
    let stats = settled(&server).await;
    assert_eq!(stats["completed"], 0, "{stats}");
    assert_eq!(stats["dropped"], 2, "{stats}");
}
