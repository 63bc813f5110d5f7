//! The real-server tier: llm-do against llama.cpp's `llama-server` with a tiny random-weight
//! model (`../shared/real-llm/setup.sh`). The model's text is gibberish by design, so these
//! tests assert structure (exit codes, tool calls with valid arguments, schema-valid output),
//! never text. Their text workers keep a reply cut off at their small `max_tokens`
//! (`keep_cut_off: true`): random weights rarely stop on their own.
//!
//! Ignored by plain `cargo test`; `.ci/run` starts the server and runs them with
//! `LLM_DO_REAL_LLM_URL=http://127.0.0.1:PORT/v1 cargo test --test integration real_llm -- --ignored`.

use serde_json::Value;

use crate::util::Test;

const NEEDS: &str = "needs llama-server: see .ci/run";

/// The server's OpenAI-compatible base URL; a loud failure when the tier runs without one.
fn base_url() -> String {
    std::env::var("LLM_DO_REAL_LLM_URL").unwrap_or_else(|_| {
        panic!("LLM_DO_REAL_LLM_URL is not set: start the server with `../shared/real-llm/setup.sh --serve PORT` and set it to http://127.0.0.1:PORT/v1 (see .ci/run)")
    })
}

fn project() -> Test {
    Test::new().config(&format!(
        "[providers.local]\nbase_url = \"{}\"\nwire = \"openai\"\n",
        base_url()
    ))
}

/// A Rhai fn tool with boolean and enum parameters that records each call's arguments.
const TOOL: &str = r#"
/// Record a verdict.
/// approve: boolean - whether to approve
/// level: low|mid|high - how sure
fn record(approve, level) {
    let line = to_json(#{approve: approve, level: level});
    let old = if exists("calls.jsonl") { read_text("calls.jsonl") } else { "" };
    write_text("calls.jsonl", old + line + "\n");
    "recorded"
}
"#;

#[test]
#[ignore = "needs llama-server: see .ci/run"]
fn a_plain_worker_answers() {
    let _ = NEEDS;
    let t = project().worker(
        "plain",
        "---\nmodel: local:tiny\nmax_tokens: 32\nseed: 1\nkeep_cut_off: true\n---\nSay something.\n",
    );
    let out = t.run_with(&["run", "plain", "hello"]);
    out.status(0);
    assert!(
        !out.stdout.trim().is_empty(),
        "empty answer; stderr: {}",
        out.stderr
    );
}

#[test]
#[ignore = "needs llama-server: see .ci/run"]
fn a_plain_worker_streams_on_a_terminal_with_v() {
    let t = project().worker(
        "plain",
        "---\nmodel: local:tiny\nmax_tokens: 32\nseed: 2\nkeep_cut_off: true\n---\nSay something.\n",
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-do"));
    cmd.args(["run", "plain", "hello", "-v"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("HOME", t.path());
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).expect("pty");
    p.exp_string("neural plain").unwrap();
    p.exp_string(" plain ").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(!rest.contains("error"), "{rest}");
}

#[test]
#[ignore = "needs llama-server: see .ci/run"]
fn a_worker_calls_a_rhai_fn_tool_with_valid_arguments() {
    let worker = "---\nmodel: local:tiny\ntoolsets: [record]\ntool_choice: required\nparallel_tool_calls: false\nseed: 7\nmax_tokens: 256\nmax_turns: 4\nkeep_cut_off: true\n---\nRecord a verdict with the tool.\n";
    let t = project().worker("judge", worker).script("tools", TOOL);
    let out = t.run_with(&["run", "judge", "decide", "-v"]);
    out.status(0);
    assert!(
        out.stderr.contains("symbolic record"),
        "the tool was not called:\n{}",
        out.stderr
    );
    let calls =
        std::fs::read_to_string(t.path().join("calls.jsonl")).expect("the fn recorded its call");
    for line in calls.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["approve"].is_boolean(), "{line}");
        assert!(
            ["low", "mid", "high"].contains(&v["level"].as_str().unwrap_or("")),
            "{line}"
        );
    }
}

#[test]
#[ignore = "needs llama-server: see .ci/run"]
fn structured_output_matches_the_schema() {
    let worker = "---\nmodel: local:tiny\nseed: 3\nmax_tokens: 256\noutput:\n  verdict: {type: string, enum: [yes, no]}\n  score: integer\n---\nJudge.\n";
    let t = project().worker("judge", worker);
    let out = t.run_with(&["run", "judge", "is it good?", "--json"]);
    out.status(0);
    let v = out.json();
    assert!(
        ["yes", "no"].contains(&v["verdict"].as_str().unwrap_or("")),
        "{v}"
    );
    assert!(v["score"].is_i64(), "{v}");
}

#[test]
#[ignore = "needs llama-server: see .ci/run"]
fn call_all_of_eight_workers_uses_the_server_slots() {
    let t = project()
        .worker("plain", "---\nmodel: local:tiny\nmax_tokens: 24\nseed: 5\nkeep_cut_off: true\n---\nSay something.\n")
        .file("fan.rhai", "let items = [];\nfor i in 0..8 { items.push([\"plain\", `item ${i}`]); }\ncall_all(items)");
    let trace = t.path().join("trace.jsonl");
    let out = t.run_with(&["fan.rhai", "--json", "--trace", trace.to_str().unwrap()]);
    out.status(0);
    let results = out.json();
    assert_eq!(results.as_array().map(Vec::len), Some(8), "{results}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let ends = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["event"] == "call_end"
                && e["name"] == "plain"
                && e.get("error").is_none_or(Value::is_null)
        })
        .count();
    assert_eq!(ends, 8, "{text}");
}
