//! The stabilize switch (DESIGN §14): a worker and a fn share a name only under
//! `[stabilize] NAME`; every mode serves through every path; `defer()` hands a call to the
//! worker; shadow calls are graded and `stats` reports live agreement, deferrals and savings.

use serde_json::Value;

use crate::util::Test;

/// `triage`: a worker (a script model that answers "bug" unless the message says "idea") and a
/// fn that answers "bug" for crashes, "feature" otherwise, and defers on "???".
fn project(mode: Option<&str>) -> Test {
    let config = mode.map_or_else(String::new, |m| format!("[stabilize]\ntriage = \"{m}\"\n"));
    Test::new()
        .config(&config)
        .worker(
            "triage",
            "---\nmodel: script:fake\ninput:\n  message: string\noutput:\n  category: string\n---\nClassify.\n",
        )
        .script(
            "models",
            "fn fake(request) { let m = request.messages[0].text; if m.contains(\"idea\") { #{output: #{category: \"feature\"}} } else { #{output: #{category: \"bug\"}} } }\n",
        )
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message == \"???\" { return defer(); } if message.contains(\"crash\") { #{category: \"bug\"} } else { #{category: \"feature\"} } }\n",
        )
        .file(
            "main.rhai",
            "let out = []; for m in [\"it crashes\", \"an idea\", \"slow page\", \"???\"] { out.push(call(\"triage\", #{message: m}).category); } out",
        )
}

#[test]
fn a_shared_name_without_a_switch_is_still_a_duplicate() {
    let out = project(None).run_with(&["check"]);
    out.status(2);
    assert!(
        out.stderr.contains("`triage` is defined twice"),
        "{}",
        out.stderr
    );
}

#[test]
fn each_mode_serves_the_side_it_names() {
    let cases = [
        // worker: "slow page" is a bug to the model; "???" too.
        ("worker", r#"["bug","feature","bug","bug"]"#),
        // code: the fn answers; "???" defers to the worker.
        ("code", r#"["bug","feature","feature","bug"]"#),
        // shadow: the worker's answers; shadow-code: the fn's.
        ("shadow", r#"["bug","feature","bug","bug"]"#),
        ("shadow-code", r#"["bug","feature","feature","bug"]"#),
        ("canary:0", r#"["bug","feature","bug","bug"]"#),
        ("canary:100", r#"["bug","feature","feature","bug"]"#),
    ];
    for (mode, expected) in cases {
        let out = project(Some(mode)).run_with(&["main.rhai", "--json"]);
        out.status(0);
        let got: Value = serde_json::from_str(&out.stdout).unwrap();
        let want: Value = serde_json::from_str(expected).unwrap();
        assert_eq!(got, want, "mode {mode}");
    }
}

#[test]
fn the_switch_serves_run_and_a_models_tool_call_too() {
    let t = project(Some("code"))
        .worker(
            "router",
            "---\nmodel: script:route\ntoolsets: [triage]\n---\nRoute.\n",
        )
        .script(
            "route",
            "fn route(request) { if request.turn == 0 { return #{tool_calls: [#{name: \"triage\", args: #{message: \"slow page\"}}]}; } request.messages[-1].tool_results[0].content }\n",
        );
    let feature = serde_json::json!({"category": "feature"});
    let out = t.run_with(&[
        "run",
        "triage",
        "--input-json",
        r#"{"message":"slow page"}"#,
    ]);
    out.status(0);
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap(), feature);
    // The model's tool result is the fn's answer as text.
    let out = t.run_with(&["run", "router", "go"]);
    out.status(0);
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap(), feature);
}

#[test]
fn shadow_runs_are_graded_and_stats_reports_agreement_deferral_and_saving() {
    let t = project(Some("shadow"));
    t.run_with(&["main.rhai"]).status(0);
    let out = t.run_with(&["stats"]);
    out.status(0);
    // "slow page": worker says bug, fn says feature; "???": deferred.
    assert!(
        out.stdout
            .contains("triage (shadow): 4 calls, live agreement 2/3 (66.7%), deferred 25.0%"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("switching to code saves"),
        "{}",
        out.stdout
    );
    let out = t.run_with(&["stats", "--json"]);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["switches"][0]["compared"], 3);
    assert_eq!(json["switches"][0]["agreed"], 2);
}

#[test]
fn check_and_list_show_which_side_serves() {
    let t = project(Some("canary:25"));
    let out = t.run_with(&["check"]);
    out.status(0);
    assert!(
        out.stdout
            .contains("stabilize: `triage` is served by the fn for 25% of inputs"),
        "{}",
        out.stdout
    );
    let out = t.run_with(&["list"]);
    assert!(out.stdout.contains("switch "), "{}", out.stdout);
}

#[test]
fn a_switch_naming_a_missing_side_is_a_project_error() {
    let t = Test::new()
        .config("[stabilize]\nlonely = \"code\"\n")
        .script("lib", "fn lonely(x) { x }\n");
    let out = t.run_with(&["check"]);
    out.status(2);
    assert!(
        out.stderr.contains("`[stabilize] lonely`") && out.stderr.contains("no worker `lonely`"),
        "{}",
        out.stderr
    );
    let out = Test::new()
        .config("[stabilize]\nx = \"sometimes\"\n")
        .run_with(&["check"]);
    out.status(2);
    assert!(
        out.stderr.contains("is not a stabilize mode"),
        "{}",
        out.stderr
    );
}

/// A drafting "model" (a script model): a wrong draft first, the right one once told why.
const DRAFTER: &str = r#"
fn drafter(request) {
    let text = request.messages[0].text;
    if text.contains("previous draft") {
        #{output: #{code: "fn triage(message) { if message.contains(\"crash\") || message.contains(\"slow\") { #{category: \"bug\"} } else { #{category: \"feature\"} } }"}}
    } else {
        #{output: #{code: "```rhai\nfn triage(message) { #{category: \"bug\"} }\n```"}}
    }
}
fn bad_drafter(request) { #{output: #{code: "fn triage(message) { read_text(\"llm-do.toml\") }"}} }
"#;

fn draft_project() -> Test {
    Test::new()
        .worker(
            "triage",
            "---\nmodel: script:fake\ninput:\n  message: string\noutput:\n  category: string\n---\nClassify.\n",
        )
        .script(
            "models",
            &format!("fn fake(request) {{ let m = request.messages[0].text; if m.contains(\"idea\") {{ #{{output: #{{category: \"feature\"}}}} }} else {{ #{{output: #{{category: \"bug\"}}}} }} }}\n{DRAFTER}"),
        )
        .file(
            "tests/triage.jsonl",
            "{\"input\": {\"message\": \"it crashes\"}, \"expected\": {\"category\": \"bug\"}}\n{\"input\": {\"message\": \"an idea\"}, \"expected\": {\"category\": \"feature\"}}\n{\"input\": {\"message\": \"slow page\"}, \"expected\": {\"category\": \"bug\"}}\n",
        )
}

#[test]
fn a_draft_that_reaches_the_workers_self_agreement_is_written_with_a_shadow_switch() {
    let t = draft_project();
    let out = t.run_with(&[
        "stabilize",
        "triage",
        "--draft",
        "--model",
        "script:drafter",
    ]);
    out.status(0);
    assert!(
        out.stdout.contains("agrees with itself on 9/9 pairs"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("attempt 1: 2/3 cases agree"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("attempt 2: 3/3 cases agree"),
        "{}",
        out.stdout
    );
    let code = std::fs::read_to_string(t.path().join("scripts/triage.rhai")).unwrap();
    assert!(code.contains("fn triage(message)"), "{code}");
    let config = std::fs::read_to_string(t.path().join("llm-do.toml")).unwrap();
    assert!(
        config.contains("[stabilize]\ntriage = \"shadow\""),
        "{config}"
    );
    // The project now loads with the switch, and the worker still serves.
    let out = t.run_with(&["check"]);
    out.status(0);
    assert!(
        out.stdout.contains("the worker, the fn shadowing it"),
        "{}",
        out.stdout
    );
}

#[test]
fn drafts_that_fall_short_write_nothing() {
    let t = draft_project();
    let before = crate::util::tree(t.path());
    let out = t.run_with(&[
        "stabilize",
        "triage",
        "--draft",
        "--model",
        "script:bad_drafter",
        "--attempts",
        "2",
        "--min-agreement",
        "0.9",
    ]);
    out.status(1);
    // The sandbox has no llm-do builtins: the draft cannot read files.
    assert!(out.stdout.contains("the draft failed"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no draft reached 90.0% agreement; nothing written"),
        "{}",
        out.stderr
    );
    assert_eq!(crate::util::tree(t.path()), before);
}

#[test]
fn a_fn_that_throws_in_shadow_mode_never_breaks_the_workers_answer() {
    let t = project(Some("shadow")).script(
        "triage",
        "/// message: string\nfn triage(message) { throw \"the fn is broken\"; }\n",
    );
    let out = t.run_with(&["main.rhai", "--json"]);
    out.status(0);
    let got: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(got, serde_json::json!(["bug", "feature", "bug", "bug"]));
    // Each call is logged as a disagreement.
    let out = t.run_with(&["stats"]);
    assert!(
        out.stdout
            .contains("triage (shadow): 4 calls, live agreement 0/4 (0.0%)"),
        "{}",
        out.stdout
    );
}
