//! Traces, cassettes, `stats` and `shadow` (issue #8), driving the real binary.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::util::{Test, repo};

const ADD: &str = "/// Add two numbers.\n/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n";

fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every parent is a call that started earlier and is still open; every call ends once.
fn assert_tree(events: &[Value]) {
    let mut open: HashMap<u64, u64> = HashMap::new(); // id → depth
    let mut ended = HashSet::new();
    let mut exchanges = HashSet::new();
    for e in events {
        assert_eq!(e["v"], 1, "{e}");
        let id = e["id"].as_u64().unwrap();
        let depth = e["depth"].as_u64().unwrap();
        if let Some(parent) = e["parent"].as_u64() {
            let pdepth = open
                .get(&parent)
                .unwrap_or_else(|| panic!("parent {parent} is not open at {e}"));
            assert!(depth >= *pdepth, "{e}");
        }
        match e["event"].as_str().unwrap() {
            "call_start" => {
                assert!(["neural", "symbolic", "builtin"].contains(&e["kind"].as_str().unwrap()));
                assert!(open.insert(id, depth).is_none(), "id {id} reused");
            }
            "call_end" => {
                assert!(open.remove(&id).is_some(), "end of unopened {id}");
                assert!(ended.insert(id));
                assert!(e["ms"].is_number() && e["tokens"]["in"].is_u64(), "{e}");
            }
            "model_request" => assert!(exchanges.insert(id)),
            "model_response" => assert!(exchanges.remove(&id)),
            "tool_call" | "approval" => assert!(e["parent"].is_u64(), "{e}"),
            other => panic!("unknown event {other}"),
        }
    }
    assert!(open.is_empty() && exchanges.is_empty());
}

#[test]
fn trace_events_form_a_tree_over_nested_workers_and_tools() {
    let t = Test::new()
        .worker(
            "outer",
            "---\ntoolsets: [inner, add]\n---\nUse the tools.\n",
        )
        .worker("inner", "---\ntoolsets: [add]\n---\nAdd.\n")
        .script("math", ADD)
        .file(
            "main.rhai",
            "let a = call(\"outer\", \"go\");\nlet b = call(\"add\", #{a: 1, b: 2});\n`${a} ${b}`",
        );
    let out = t.run_with(&["main.rhai", "--model", "test", "--trace", "t.jsonl"]);
    out.status(0);
    let ev = events(&t.path().join("t.jsonl"));
    assert_tree(&ev);
    let starts: Vec<(&str, &str, Option<u64>)> = ev
        .iter()
        .filter(|e| e["event"] == "call_start")
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["parent"].as_u64(),
            )
        })
        .collect();
    let id_of = |name: &str| {
        ev.iter()
            .find(|e| e["event"] == "call_start" && e["name"] == name)
            .and_then(|e| e["id"].as_u64())
    };
    let outer = id_of("outer");
    let inner = id_of("inner");
    assert_eq!(starts[0], ("outer", "neural", None));
    assert!(starts.contains(&("inner", "neural", outer)), "{starts:?}");
    assert!(starts.contains(&("add", "symbolic", inner)), "{starts:?}");
    assert!(starts.contains(&("add", "symbolic", outer)), "{starts:?}");
    assert_eq!(starts.last(), Some(&("add", "symbolic", None)));
    let approval = ev.iter().find(|e| e["event"] == "approval").unwrap();
    assert_eq!(approval["decided_by"], "default");
    let request = ev.iter().find(|e| e["event"] == "model_request").unwrap();
    assert_eq!(
        (request["model"].as_str(), request["parent"].as_u64()),
        (Some("test"), outer)
    );
}

#[test]
fn the_trace_validates_against_its_documented_required_fields() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/trace.schema.json")).unwrap(),
    )
    .unwrap();
    let t = Test::new()
        .worker("w", "---\ntoolsets: [add]\n---\nx\n")
        .script("math", ADD);
    t.run_with(&["run", "w", "hi", "--model", "test", "--trace", "t.jsonl"])
        .status(0);
    let validator = jsonschema::validator_for(&schema).unwrap();
    for e in events(&t.path().join("t.jsonl")) {
        let errors: Vec<String> = validator.iter_errors(&e).map(|x| x.to_string()).collect();
        assert!(errors.is_empty(), "{e}: {errors:?}");
    }
}

const FAKE: &str = "fn fake(request) {\n  if request.messages.len() == 1 { return #{tool_calls: [#{name: \"add\", args: #{a: 2, b: 3}}]}; }\n  `sum is ${request.messages[2].tool_results[0].content}`\n}\n";

fn replay_project(prompt: &str) -> Test {
    Test::new()
        .worker("summer", &format!("---\nmodel: anthropic:claude-haiku-4-5\ntoolsets: [add]\n---\n{prompt}\n"))
        .script("math", ADD)
        .script("fake", FAKE)
        .file("main.rhai", "let r = call(\"summer\", \"add 2 and 3\");\n#{r: r, again: call(\"summer\", \"add 2 and 3\")}")
}

#[test]
fn replay_reproduces_a_recorded_run_offline() {
    let t = replay_project("Add.");
    let recorded = t.run_with(&["main.rhai", "--model", "script:fake", "--record", "c.json"]);
    recorded.status(0);
    insta::assert_snapshot!(recorded.stdout, @r#"
        {
          "again": "sum is 5",
          "r": "sum is 5"
        }
        "#);
    // No key and a provider model: only the cassette can answer.
    let replayed = t.run_with(&["main.rhai", "--replay", "c.json"]);
    replayed.status(0);
    assert_eq!(replayed.stdout, recorded.stdout);
    let other = t.run_with(&[
        "main.rhai",
        "--replay",
        "c.json",
        "--model",
        "openai:gpt-4o",
    ]);
    assert_eq!(other.stdout, recorded.stdout);
    let cassette = std::fs::read_to_string(t.path().join("c.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&cassette).unwrap()["exchanges"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn replay_fails_with_a_diff_when_the_prompt_changed() {
    let t = replay_project("Add.");
    t.run_with(&["main.rhai", "--model", "script:fake", "--record", "c.json"])
        .status(0);
    let changed = replay_project("Add the numbers.");
    std::fs::copy(t.path().join("c.json"), changed.path().join("c.json")).unwrap();
    let out = changed.run_with(&["main.rhai", "--replay", "c.json"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x model `anthropic:claude-haiku-4-5` failed in worker `summer`: replay: the request of worker
         | `summer` differs from cassette `c.json` (- recorded, + now):
         |   {
         | -   "system": "Add.",
         | +   "system": "Add the numbers.",
         |     "messages": [
         |       {
         |         "role": "user",
         |   ...
         | if the change is intended, record again with `--record c.json`
          ,-[main.rhai:1:14]
        1 | let r = call("summer", "add 2 and 3");
          :              |
          :              `-- here
        2 | #{r: r, again: call("summer", "add 2 and 3")}
          `----
        "#);
}

#[test]
fn the_bundled_example_replays_its_committed_cassette() {
    let out = Test::new().cwd(&repo()).run_with(&[
        "scripts/main.rhai",
        "--replay",
        "cassettes/main.json",
    ]);
    out.status(0);
    assert_eq!(out.json()["total"], 42);
    assert_eq!(out.json()["suggested"], "meeting_notes_2024-03_draft.docx");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_vvv_output_or_traces() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let reply = json!({"id": "c1", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "hello there"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&server)
        .await;
    let cfg = format!(
        "[providers.local]\nbase_url = \"{}/v1\"\nwire = \"openai\"\napi_key_env = \"LOCAL_KEY\"\n",
        server.uri()
    );
    let t = Test::new()
        .config(&cfg)
        .worker("w", "---\nmodel: local:tiny\n---\nSay hello.\n")
        .env("LOCAL_KEY", "sk-test-SECRET123");
    let (t, out) = tokio::task::spawn_blocking(move || {
        let out = t.run_with(&["run", "w", "hi", "-vvv", "--trace", "t.jsonl"]);
        (t, out)
    })
    .await
    .unwrap();
    out.status(0);
    assert_eq!(out.stdout, "hello there\n");
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r#"
            ▶ neural w ← {"input":"hi"}
              → local:tiny turn 0: hi
            TRACE llm_do::http: POST http://127.0.0.1:[PORT]/v1/chat/completions: {"model":"tiny","messages":[{"role":"system","content":"Say hello."},{"role":"user","content":"hi"}],"max_tokens":4096}
            TRACE llm_do::http: HTTP 200 from http://127.0.0.1:[PORT]/v1/chat/completions
            TRACE llm_do::http: reply from http://127.0.0.1:[PORT]/v1/chat/completions: {"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello there"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}
              ← local:tiny: hello there [stop: stop]
            ✓ w [T] ms, 3 in / 2 out tokens → hello there
            total: 1 model call, 3 in / 2 out tokens
              w: 1 model call, 3 in / 2 out tokens
            "#);
    });
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    assert!(trace.contains("hello there"));
    for text in [&out.stderr, &out.stdout, &trace] {
        assert!(!text.contains("SECRET123"), "leaked: {text}");
    }
}

fn fixture() -> String {
    repo()
        .join("tests/fixtures/stabilize.jsonl")
        .display()
        .to_string()
}

#[test]
fn stats_report_figures_and_candidates_from_a_fixture_trace() {
    let out = Test::new().run_with(&["stats", &fixture()]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "name              kind      calls  errors  tokens in  tokens out  p50 ms  p90 ms  max ms  inputs  outputs/input
add               symbolic      1      0%          0           0     0.5     0.5     0.5       1              1
filename_cleaner  neural        6     17%        500          50    30.0    60.0    60.0       3              1
greeter           neural        2      0%         40          11     5.0     7.0     7.0       1              2

stabilization candidates:
  `filename_cleaner`: 6 calls, 3 distinct inputs, always the same output per input → candidate for a Rhai fn
"
    );
    let json = Test::new()
        .run_with(&["stats", &fixture(), "--json"])
        .json();
    let cleaner = &json[1];
    assert_eq!(cleaner["name"], "filename_cleaner");
    assert_eq!(cleaner["errors"], 1);
    assert_eq!(
        cleaner["latency_ms"],
        json!({"p50": 30.0, "p90": 60.0, "max": 60.0})
    );
    assert_eq!(cleaner["candidate"], true);
    assert_eq!(json[2]["max_outputs_per_input"], 2);
}

const CLEANER_FN: &str = "fn filename_cleaner(name) {\n  let s = name; s.make_lower();\n  let out = \"\"; let gap = false;\n  for c in s.chars() {\n    if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' {\n      if gap && out.len() > 0 && c != '.' { out += \"_\"; }\n      out += c; gap = false;\n    } else { gap = true; }\n  }\n  out\n}\n";

#[test]
fn shadow_reports_where_the_stabilized_fn_disagrees() {
    let out = Test::new().script("clean", CLEANER_FN).run_with(&[
        "shadow",
        "filename_cleaner",
        "--trace",
        &fixture(),
    ]);
    out.status(1);
    assert_eq!(
        out.stdout,
        "`filename_cleaner`: 2/3 agree\n\ndisagreement 1:\n  input:    {\"name\":\"2024-03 notes.md\"}\n  recorded: \"notes_2024-03.md\"\n  now:      \"2024-03_notes.md\"\n"
    );
    insta::assert_snapshot!(out.stderr, @"error: `filename_cleaner` disagrees with the trace on 1 of 3 cases");
}

#[test]
fn shadow_agrees_with_a_trace_of_the_same_implementation() {
    let t = Test::new().script("math", ADD).file(
        "main.rhai",
        "call(\"add\", #{a: 1, b: 2}) + call(\"add\", #{a: 3, b: 4})",
    );
    t.run_with(&["main.rhai", "--trace", "t.jsonl"]).status(0);
    let out = t.run_with(&["shadow", "add", "--trace", "t.jsonl"]);
    out.status(0);
    assert_eq!(out.stdout, "`add`: 2/2 agree\n");
    let missing = t.run_with(&["shadow", "nope", "--trace", "t.jsonl"]);
    missing.status(2);
    insta::assert_snapshot!(missing.stderr, @r"
        error: trace `t.jsonl` has no successful call of `nope`
          hint: the trace has calls of: add
        ");
}
