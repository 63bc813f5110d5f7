//! Budgets (DESIGN §15): each `[limits]` budget stops the run with an error naming it (exit 1),
//! also inside fan-out, and what ran before stays logged; costs come from `[prices]`.

use serde_json::Value;

use crate::util::Test;

fn project(limits: &str) -> Test {
    Test::new()
        .config(&format!(
            "[limits]\n{limits}\n\n[prices.test]\ninput = 1000000.0\noutput = 1000000.0\n"
        ))
        .worker("greeter", "---\nmodel: test\n---\nGreet.\n")
        .file(
            "three.rhai",
            "call(\"greeter\", \"a\"); call(\"greeter\", \"b\"); call(\"greeter\", \"c\"); \"done\"",
        )
        .file(
            "fan.rhai",
            "let items = []; for i in 0..10 { items.push([\"greeter\", `x${i}`]); } try_call_all(items).len()",
        )
}

#[test]
fn max_requests_stops_the_run_naming_the_limit() {
    let t = project("max_requests = 2");
    let out = t.run_with(&["three.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x budget exceeded: `max_requests` is 2 and this run reached 3; raise `[limits] max_requests` in
         | llm-do.toml
          ,-[three.rhai:1:50]
        1 | call("greeter", "a"); call("greeter", "b"); call("greeter", "c"); "done"
          :                                                  |
          :                                                  `-- here
          `----
        "#);
    // The two calls that ran are in the log.
    let logs = t.run_with(&["logs", "greeter", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&logs.stdout).unwrap();
    assert_eq!(rows.iter().filter(|r| r["error"].is_null()).count(), 2);
}

#[test]
fn max_worker_runs_bounds_fan_out_even_in_try_call_all() {
    let t = project("max_worker_runs = 4");
    let out = t.run_with(&["fan.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x `try_call_all` item 4 (`greeter`) failed: budget exceeded: `max_worker_runs` is 4 and this run
         | reached 5; raise `[limits] max_worker_runs` in llm-do.toml
          ,-[fan.rhai:1:70]
        1 | let items = []; for i in 0..10 { items.push(["greeter", `x${i}`]); } try_call_all(items).len()
          :                                                                      |
          :                                                                      `-- here
          `----
        "#);
}

#[test]
fn max_tokens_and_max_cost_stop_the_run() {
    let out = project("max_tokens = 10").run_with(&["three.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x budget exceeded: `max_tokens` is 10 and this run reached 0; its next request could use up to
         | 4181 tokens; raise `[limits] max_tokens` in llm-do.toml
          ,-[three.rhai:1:6]
        1 | call("greeter", "a"); call("greeter", "b"); call("greeter", "c"); "done"
          :      |
          :      `-- here
          `----
        "#);
    // Each test-model reply costs dollars at the configured (absurd) price.
    let out = project("max_cost_usd = 5.0").run_with(&["three.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x budget exceeded: `max_cost_usd` is $5.0000 and this run reached $0.0000; its next request
         | could use up to $4181.0000; raise `[limits] max_cost_usd` in llm-do.toml
          ,-[three.rhai:1:6]
        1 | call("greeter", "a"); call("greeter", "b"); call("greeter", "c"); "done"
          :      |
          :      `-- here
          `----
        "#);
}

#[test]
fn costs_reach_the_trace_and_the_log() {
    let t = project("");
    t.run_with(&["three.rhai", "--trace", "t.jsonl"]).status(0);
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let end: Value = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "call_end" && e["name"] == "greeter")
        .unwrap();
    let tokens = end["tokens"]["in"].as_f64().unwrap() + end["tokens"]["out"].as_f64().unwrap();
    assert!(
        (end["cost_usd"].as_f64().unwrap() - tokens).abs() < 1e-6,
        "{end}"
    );
    let logs = t.run_with(&["logs", "greeter", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&logs.stdout).unwrap();
    assert!(
        rows.iter().all(|r| r["cost"].as_f64().unwrap() > 0.0),
        "{rows:?}"
    );
}

/// A worker's own budgets stop a tool loop that `max_turns` would let run on.
#[test]
fn a_workers_frontmatter_budget_stops_its_tool_loop() {
    let t = Test::new()
        .worker(
            "looper",
            "---\nmodel: script:forever\ntoolsets: [add]\nmax_turns: 50\nmax_requests: 2\n---\nLoop.\n",
        )
        .script(
            "lib",
            "fn add(a, b) { a + b }\nfn forever(request) { #{tool_calls: [#{name: \"add\", args: #{a: 1, b: 2}}]} }\n",
        );
    let out = t.run_with(&["run", "looper", "go", "--trace", "t.jsonl"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r"
        error: budget exceeded: worker `looper` has `max_requests: 2` and its run reached 3 requests
          hint: raise `max_requests` in the worker's frontmatter, or make it call the model less
        ");
    // Exactly two requests went out.
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    assert_eq!(
        trace.matches("\"event\":\"model_request\"").count(),
        2,
        "{trace}"
    );
    let t = Test::new().worker(
        "chatty",
        "---\nmodel: test\nmax_run_tokens: 3\n---\nTalk.\n",
    );
    let out = t.run_with(&["run", "chatty", "a long enough input to cost tokens"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r"
        error: budget exceeded: worker `chatty` has `max_run_tokens: 3` and its run reached 22 tokens
          hint: raise `max_run_tokens` in the worker's frontmatter, or make it call the model less
        ");
}

/// Issue 29: a budget is reserved before a request is sent, so fan-out cannot put more in
/// flight than the budget can pay for. Each request could cost $10 (10 output tokens at $1,
/// input free) and costs $5; with $25, at most two are in flight, and the run stops, refusing
/// the next request, once $20 is spent: never past the limit, and the error says what was spent.
#[tokio::test(flavor = "multi_thread")]
async fn fan_out_cannot_put_more_in_flight_than_the_budget_can_pay_for() {
    let server = crate::mock::MockServer::start(
        "127.0.0.1:0",
        crate::mock::Script {
            latency: std::time::Duration::from_millis(50),
            ..crate::mock::Script::default()
        },
    )
    .await
    .expect("mock server");
    let url = server.url();
    let t = Test::new()
        .config(&format!(
            "[limits]\nmax_parallel = 8\nmax_cost_usd = 25.0\n\n[providers.mock]\nbase_url = \"{url}/v1\"\nwire = \"openai\"\n\n[prices.\"mock:m\"]\ninput = 0.0\noutput = 1000000.0\n"
        ))
        .worker("echo", "---\nmodel: mock:m\nmax_tokens: 10\n---\nEcho.\n")
        .file(
            "fan.rhai",
            "let items = []; for i in 0..12 { items.push([\"echo\", `x${i}`]); } call_all(items).len()",
        );
    // Which item is refused depends on which reply came first; the message does not. (miette
    // wraps it where the item's number puts it: join the lines.)
    let t = t
        .filter(r"\n  \| ", " ")
        .filter(r"item \d+", "item [N]")
        .status(1)
        .stderr(
            "  x `call_all` item [N] (`echo`) failed: budget exceeded: `max_cost_usd` is $25.0000 and this run reached $20.0000; its next request could use up to $10.0000; raise `[limits] max_cost_usd` in llm-do.toml
   ,-[fan.rhai:1:67]
 1 | let items = []; for i in 0..12 { items.push([\"echo\", `x${i}`]); } call_all(items).len()
   :                                                                   |
   :                                                                   `-- here
   `----

",
        );
    crate::util::run(t, &["fan.rhai"]).await;
    let stats = server.stats.snapshot();
    assert_eq!(stats["requests"], 4, "{stats}");
    assert!(stats["max_in_flight"].as_u64().unwrap() <= 2, "{stats}");
}

/// Issue 29: `[limits] max_tokens` under fan-out, end to end on a `script:` model. Each
/// request reserves its worst case (its input estimated from its size, about a hundred
/// tokens here, plus the worker's `max_tokens: 1000`), so 2500 tokens let at most two be in
/// flight at once, however wide the fan-out: the trace, written in the order things happen,
/// never shows a third request sent before one of the two replied. A script model reports no
/// usage, so every reservation is given back and all eight calls complete.
#[test]
fn max_tokens_bounds_what_fan_out_puts_in_flight() {
    let t = Test::new()
        .config("[limits]\nmax_parallel = 8\nmax_tokens = 2500\n")
        .worker("echo", "---\nmodel: script:slow\nmax_tokens: 1000\n---\nEcho.\n")
        // Slow enough that, charged only after replies, all eight would be in flight at once.
        .script("models", "fn slow(request) { sleep(200); \"ok\" }\n")
        .file(
            "fan.rhai",
            "let items = []; for i in 0..8 { items.push([\"echo\", `x${i}`]); } call_all(items).len()",
        );
    let out = t.run_with(&["fan.rhai", "--trace", "t.jsonl"]);
    out.status(0);
    assert_eq!(out.stdout, "8\n", "{}", out.stderr);
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let (mut in_flight, mut most, mut sent) = (0_i32, 0, 0);
    for line in trace.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        match event["event"].as_str() {
            Some("model_request") => {
                in_flight += 1;
                sent += 1;
            }
            Some("model_response") => in_flight -= 1,
            _ => {}
        }
        most = most.max(in_flight);
    }
    assert_eq!(sent, 8, "{trace}");
    assert!(
        (1..=2).contains(&most),
        "{most} requests in flight at once:\n{trace}"
    );
}
