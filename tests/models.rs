//! Model aliases, fallback chains and rate limits end to end (issue 20): `[models]` names
//! wherever a model id goes, `check` catching unknown aliases and providers with their
//! location, a chain moving on when answers keep failing the schema (and the trace naming the
//! model that served), `max_concurrent` holding across nested fan-out, and `llm-do models`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock::{MockServer, Script};
use crate::util::Test;

const GREETER: &str = "---\nmodel: fast\n---\nGreet.\n";

#[test]
fn aliases_resolve_wherever_a_model_id_goes() {
    let config = "[models]\nfast = \"quick\"\nquick = \"test\"\n";
    // Worker `model:`.
    let out = Test::new()
        .config(config)
        .worker("greeter", GREETER)
        .args(&["run", "greeter", "Ada"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
    // `--model`, `LLM_DO_MODEL` and `[defaults] model`.
    let plain = "---\ndescription: Greet\n---\nGreet.\n";
    let t = Test::new().config(config).worker("greeter", plain);
    t.run_with(&["run", "greeter", "Ada", "--model", "fast"])
        .status(0);
    let out = Test::new()
        .config(config)
        .worker("greeter", plain)
        .env("LLM_DO_MODEL", "quick")
        .args(&["run", "greeter", "Ada"])
        .run();
    out.status(0);
    let out = Test::new()
        .config(&format!("{config}[defaults]\nmodel = \"fast\"\n"))
        .worker("greeter", plain)
        .args(&["run", "greeter", "Ada"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
}

#[test]
fn check_reports_unknown_aliases_and_providers_at_their_line() {
    let out = Test::new()
        .worker("a", "---\nmodel: nope:model\n---\nA.\n")
        .args(&["check"])
        .run();
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
         x unknown provider `nope` in model id `nope:model` (worker `a`)
          ,-[workers/a.worker:2:8]
        1 | ---
        2 | model: nope:model
          :        ^^^^^|^^^^
          :             `-- not a known model
        3 | ---
          `----
         help: models are `provider:model` ids of a built-in provider (`anthropic`, `openai`, `ollama`),
               of `[providers.NAME]`, or aliases from `[models]` in `llm-do.toml`
        ");
    let out = Test::new()
        .config("[models]\nfast = \"test\"\n")
        .worker("b", "---\nmodel: [test, fsat]\n---\nB.\n")
        .args(&["check"])
        .run();
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
         x unknown model alias `fsat`; did you mean `fast`? (worker `b`)
          ,-[workers/b.worker:2:15]
        1 | ---
        2 | model: [test, fsat]
          :               ^^|^
          :                 `-- not a known model
        3 | ---
          `----
         help: models are `provider:model` ids of a built-in provider (`anthropic`, `openai`, `ollama`),
               of `[providers.NAME]`, or aliases from `[models]` in `llm-do.toml`
        ");
    // A loop in `[models]` is a config error pointing into llm-do.toml.
    let out = Test::new()
        .config("[models]\na = \"b\"\nb = \"a\"\n")
        .args(&["check"])
        .run();
    out.status(2);
    assert!(
        out.stderr.contains("refers to itself") && out.stderr.contains("llm-do.toml:2:5"),
        "{}",
        out.stderr
    );
}

/// `bad` answers text that fails the schema; `good` answers a valid output.
const FAKES: &str =
    "fn bad(request) { \"no idea\" }\nfn good(request) { #{output: #{score: 7}} }\n";

#[test]
fn a_chain_moves_on_when_answers_keep_failing_the_schema() {
    let t = Test::new()
        .config("[models]\nsmart = [\"script:bad\", \"script:good\"]\n")
        .script("fakes", FAKES)
        .worker(
            "rate",
            "---\nmodel: smart\noutput:\n  score: integer\n---\nRate it.\n",
        );
    let out = t.run_with(&["run", "rate", "x", "--trace", "t.jsonl"]);
    out.status(0);
    assert_eq!(out.json(), json!({"score": 7}));
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let served: Vec<String> = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "model_response")
        .map(|e| e["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    // One answer and two re-asks from `bad`, then `good`.
    assert_eq!(
        served,
        ["script:bad", "script:bad", "script:bad", "script:good"]
    );
    // Without a next model the schema error stands.
    let out = t.run_with(&["run", "rate", "x", "--model", "script:bad"]);
    out.status(1);
}

#[test]
fn a_fallback_without_a_key_fails_only_when_the_chain_reaches_it() {
    let t = Test::new()
        .config("[models]\nfast = [\"test\", \"openai:gpt-4o-mini\"]\nsmart = [\"script:bad\", \"openai:gpt-4o-mini\"]\n")
        .script("fakes", FAKES)
        .worker("greet", "---\nmodel: fast\n---\nGreet.\n")
        .worker(
            "rate",
            "---\nmodel: smart\noutput:\n  score: integer\n---\nRate it.\n",
        );
    // The first member serves; the second's missing key does not matter.
    let out = t.run_with(&["run", "greet", "Ada"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
    // Reached (the first member's answers keep failing the schema), it says why.
    let out = t.run_with(&["run", "rate", "x"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r"
        error: model `openai:gpt-4o-mini` failed in worker `rate`
          Caused by:
            missing API key: set the `OPENAI_API_KEY` environment variable
        ");
}

/// Runs 4 outer calls each fanning out to 2 workers on `model` (8 requests wanted at once)
/// against the mock server and returns its counters.
async fn nested_fan_out(providers: &str, model: &str, builtin: bool) -> Value {
    let script = Script {
        latency: Duration::from_millis(60),
        ..Script::default()
    };
    let server = MockServer::start("127.0.0.1:0", script)
        .await
        .expect("mock server");
    let url = server.url();
    let mut t = Test::new()
        .config(&format!(
            "[limits]\nmax_parallel = 8\n\n{}",
            providers.replace("URL", &url)
        ))
        .worker("echo", &format!("---\nmodel: {model}\n---\nEcho.\n"))
        .script(
            "fan",
            "fn pair(x) { call_all([[\"echo\", x + \" a\"], [\"echo\", x + \" b\"]]) }\n",
        )
        .file(
            "main.rhai",
            "call_all([[\"pair\", \"1\"], [\"pair\", \"2\"], [\"pair\", \"3\"], [\"pair\", \"4\"]])",
        )
        .args(&["main.rhai", "--json"]);
    if builtin {
        t = t
            .env("OPENAI_BASE_URL", &format!("{url}/v1"))
            .env("OPENAI_API_KEY", "sk-test");
    }
    let out = tokio::task::spawn_blocking(move || t.run())
        .await
        .expect("run");
    out.status(0);
    assert_eq!(out.json().as_array().map(Vec::len), Some(4));
    server.stats.snapshot()
}

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_holds_across_nested_fan_out() {
    let named = "[providers.mock]\nbase_url = \"URL/v1\"\nwire = \"openai\"\nmax_concurrent = 2\n";
    let stats = nested_fan_out(named, "mock:m", false).await;
    assert_eq!(stats["requests"], 8, "{stats}");
    assert_eq!(stats["max_in_flight"], 2, "{stats}");
    // A built-in provider takes the same limits from its own table.
    let builtin = "[providers.openai]\nmax_concurrent = 3\n";
    let stats = nested_fan_out(builtin, "openai:m", true).await;
    assert_eq!(stats["max_in_flight"], 3, "{stats}");
    // Without a limit the fan-out reaches the mock all at once.
    let unlimited = "[providers.mock]\nbase_url = \"URL/v1\"\nwire = \"openai\"\n";
    let stats = nested_fan_out(unlimited, "mock:m", false).await;
    assert!(stats["max_in_flight"].as_u64().unwrap() > 3, "{stats}");
}

#[test]
fn models_lists_providers_aliases_and_prices() {
    let t = || {
        Test::new().config(
        "[models]\nfast = \"anthropic:claude-haiku-4-5\"\nsmart = [\"fast\", \"openai:gpt-4.1\"]\n\n\
         [providers.local]\nbase_url = \"http://localhost:8000/v1\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\nmax_concurrent = 2\n\n\
         [prices.\"openai:gpt-4.1\"]\ninput = 1.0\noutput = 2.0\n\n[prices.\"local:m\"]\ninput = 0.5\noutput = 0.5\n",
    )
    };
    let out = t()
        .env("LOCAL_KEY", "secret-value-123")
        .args(&["models"])
        .run();
    out.status(0);
    insta::assert_snapshot!(out.stdout, @r"
        providers:
          anthropic  https://api.anthropic.com (anthropic wire, built in, key `ANTHROPIC_API_KEY` (not set))
          openai     https://api.openai.com/v1 (openai wire, built in, key `OPENAI_API_KEY` (not set))
          ollama     http://localhost:11434 (openai wire, built in, no key)
          local      http://localhost:8000/v1 (openai wire, key `LOCAL_KEY` (set), 2 at once)
          test       offline, deterministic
        aliases:
          fast = anthropic:claude-haiku-4-5
          smart = fast, openai:gpt-4.1  (→ anthropic:claude-haiku-4-5, openai:gpt-4.1)
        prices (USD per million tokens: input, output, cache read, cache write; table of 2025-08-15, * = `[prices]`):
          anthropic:claude-opus-4-1            15.000   75.000    1.500   18.750
          anthropic:claude-opus-4-0            15.000   75.000    1.500   18.750
          anthropic:claude-sonnet-4-5           3.000   15.000    0.300    3.750
          anthropic:claude-sonnet-4-0           3.000   15.000    0.300    3.750
          anthropic:claude-3-7-sonnet-latest    3.000   15.000    0.300    3.750
          anthropic:claude-haiku-4-5            1.000    5.000    0.100    1.250
          anthropic:claude-3-5-haiku-latest     0.800    4.000    0.080    1.000
          openai:gpt-5                          1.250   10.000    0.125    1.250
          openai:gpt-5-mini                     0.250    2.000    0.025    0.250
          openai:gpt-5-nano                     0.050    0.400    0.005    0.050
        * openai:gpt-4.1                        1.000    2.000    1.000    1.000
          openai:gpt-4.1-mini                   0.400    1.600    0.100    0.400
          openai:gpt-4.1-nano                   0.100    0.400    0.025    0.100
          openai:gpt-4o                         2.500   10.000    1.250    2.500
          openai:gpt-4o-mini                    0.150    0.600    0.075    0.150
          openai:o4-mini                        1.100    4.400    0.275    1.100
          openai:o3                             2.000    8.000    0.500    2.000
        * local:m                               0.500    0.500    0.500    0.500
        ");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "providers:");
    assert_eq!(
        lines[1],
        "  anthropic  https://api.anthropic.com (anthropic wire, built in, key `ANTHROPIC_API_KEY` (not set))"
    );
    assert_eq!(
        lines[4],
        "  local      http://localhost:8000/v1 (openai wire, key `LOCAL_KEY` (set), 2 at once)"
    );
    assert!(
        // What an alias of aliases expands to is shown (issue 30).
        lines[7..9]
            == [
                "  fast = anthropic:claude-haiku-4-5",
                "  smart = fast, openai:gpt-4.1  (→ anthropic:claude-haiku-4-5, openai:gpt-4.1)"
            ],
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("* openai:gpt-4.1 ")),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  anthropic:claude-haiku-4-5 ")),
        "{}",
        out.stdout
    );
    let v = t().args(&["models", "--json"]).run().json();
    assert_eq!(
        v["aliases"]["smart"],
        json!({"value": ["fast", "openai:gpt-4.1"], "models": ["anthropic:claude-haiku-4-5", "openai:gpt-4.1"]})
    );
    let local = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "local")
        .unwrap();
    assert_eq!(local["key_env"], "LOCAL_KEY");
    assert_eq!(local["key_set"], false);
    assert_eq!(local["max_concurrent"], 2);
    let added = v["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "local:m")
        .unwrap();
    assert_eq!(added["override"], true);
    assert_eq!(v["prices_date"], llm_do::model::prices::TABLE_DATE);
}

/// Anthropic extended thinking with tools: the turn that called a tool goes back with its
/// thinking block (signature included) first, or the API rejects the next request.
#[tokio::test(flavor = "multi_thread")]
async fn anthropic_thinking_goes_back_with_the_tool_calls_it_led_to() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let reply = |content: Value, stop: &str| {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": stop,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }))
    };
    let thinking = json!({"type": "thinking", "thinking": "I should add.", "signature": "c2ln"});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(reply(
            json!([thinking, {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 2}}]),
            "tool_use",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(reply(json!([{"type": "text", "text": "3"}]), "end_turn"))
        .mount(&server)
        .await;
    let t = Test::new()
        .config(&format!(
            "[providers.claude]\nbase_url = \"{}\"\napi_key_env = \"CLAUDE_KEY\"\nwire = \"anthropic\"\n",
            server.uri()
        ))
        .env("CLAUDE_KEY", "test-key")
        .worker(
            "adder",
            "---\nmodel: claude:claude-sonnet-4-5\nreasoning: low\ntoolsets: [add]\n---\nAdd.\n",
        )
        .script("math", "/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n");
    let out = tokio::task::spawn_blocking(move || t.run_with(&["run", "adder", "1 and 2"]))
        .await
        .unwrap();
    out.status(0);
    assert_eq!(out.stdout.trim(), "3");
    let requests = server.received_requests().await.unwrap();
    let second: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        second["messages"][1],
        json!({"role": "assistant", "content": [
            thinking,
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 2}},
        ]})
    );
    assert!(second["thinking"].is_object(), "{second}");
}

/// A `script:` model receives every message with its role, `user` or `assistant` (a worker's
/// `examples:` are prior turns, then the input).
#[test]
fn a_script_model_sees_each_message_with_its_role() {
    Test::new()
        .worker(
            "w",
            "---\nmodel: script:roles\nexamples:\n  - {input: a, output: b}\n---\nSay.\n",
        )
        .script(
            "models",
            "fn roles(request) { to_json(request.messages.map(|m| m.role + \":\" + m.text)) }\n",
        )
        .args(&["run", "w", "hi"])
        .stdout("[\"user:a\",\"assistant:b\",\"user:hi\"]\n")
        .run();
}
