//! The approval gate end to end: a worker that lists files, reads one and writes a summary
//! under `output/`, driven by a scripted model, approved by a rule, denied (the model sees the
//! denial), decided by a policy fn, and answered at a real terminal prompt.

use std::time::Duration;

use crate::util::{Test, tree};

/// A scripted model: list the notes, read the first, write a summary, then report what the
/// tools answered (so the test sees what the model saw).
const MODEL: &str = r#"
fn summarizer_model(request) {
    let last = request.messages[-1];
    switch request.turn {
        0 => #{tool_calls: [#{name: "list_files", args: #{path: "notes"}}]},
        1 => #{tool_calls: [#{name: "read_file", args: #{path: "notes/a.md"}}]},
        2 => #{tool_calls: [#{name: "write_file", args: #{path: "output/summary.md", content: "Summary: " + last.tool_results[0].content}}]},
        _ => `write result: ${last.tool_results[0].content}`
    }
}
"#;

const WORKER: &str = "---\nmodel: script:summarizer_model\ntoolsets: [fs]\n---\nSummarize the notes into output/summary.md.\n";

fn project() -> Test {
    Test::new()
        .worker("summarizer", WORKER)
        .script("model", MODEL)
        .file("notes/a.md", "alpha beta")
        .file("notes/b.md", "gamma")
}

#[test]
fn a_rule_approves_writes_under_output() {
    let t = project().config(
        "[[approvals]]\ntool = \"write_file\"\npath = \"output/**\"\ndecision = \"approve\"\n",
    );
    let out = t.run_with(&["run", "summarizer", "go"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @"write result: wrote 19 bytes to `output/summary.md`");
    assert_eq!(
        std::fs::read_to_string(t.path().join("output/summary.md")).unwrap(),
        "Summary: alpha beta"
    );
}

#[test]
fn without_approval_the_write_is_denied_and_the_model_sees_why() {
    let t = project();
    let before = tree(t.path());
    let out = t.run_with(&["run", "summarizer", "go"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @r#"
        write result: denied: `write_file` requires approval and there is no terminal to ask; rerun with `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = "write_file"` with `decision = "approve"`
        "#);
    assert_eq!(tree(t.path()), before);
}

#[test]
fn a_rule_rejects_and_says_which_rule() {
    let t = project().config("[[approvals]]\ntool = \"write_file\"\ndecision = \"reject\"\n");
    let out = t.run_with(&["run", "summarizer", "go", "--approve-all"]);
    // The flag wins over rules (DESIGN §6): the write goes through.
    out.status(0);
    assert!(t.path().join("output/summary.md").exists());
    let t = project().config("[[approvals]]\ntool = \"write_file\"\ndecision = \"reject\"\n");
    let out = t.run_with(&["run", "summarizer", "go"]);
    insta::assert_snapshot!(out.stdout, @"write result: denied: rejected by `[[approvals]]` rule #1 (tool = `write_file`) in `llm-do.toml`");
    assert!(!t.path().join("output/summary.md").exists());
}

#[test]
fn a_policy_fn_approves_by_path() {
    let policy = r#"fn approve(request) { if request.tool == "write_file" && request.args.path.starts_with("output/") && request.chain == ["summarizer"] { "approve" } else { () } }"#;
    let t = project().script("policy", policy);
    let out = t.run_with(&["run", "summarizer", "go"]);
    out.status(0);
    assert!(
        t.path().join("output/summary.md").exists(),
        "{}",
        out.stdout
    );
}

#[test]
fn a_failing_policy_denies() {
    let t = project().script("policy", "fn approve(request) { throw \"policy broke\" }");
    let out = t.run_with(&["run", "summarizer", "go"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @"write result: denied: the approval policy `fn approve` failed: policy broke");
    assert!(!t.path().join("output/summary.md").exists());
}

/// Spawn `llm-do run summarizer go` on a pseudo-terminal in `t`.
fn spawn_on_pty(t: &Test) -> rexpect::session::PtySession {
    let bin = env!("CARGO_BIN_EXE_llm-do");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["run", "summarizer", "go"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("HOME", t.path());
    rexpect::session::spawn_command(cmd, Some(Duration::from_secs(20).as_millis() as u64))
        .expect("spawn on a pty")
}

#[test]
fn the_terminal_prompt_approves_once_with_y() {
    let t = project();
    let mut p = spawn_on_pty(&t);
    p.exp_string("approval needed: `write_file`").unwrap();
    p.exp_string("called by: summarizer").unwrap();
    p.exp_string("approve?").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("write result: wrote").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(
        std::fs::read_to_string(t.path().join("output/summary.md")).unwrap(),
        "Summary: alpha beta"
    );
}

/// The gate approves the real path at the time it asks. A folder on the way swapped for a
/// symlink while the person decides (here `output/` for a link to the protected `scripts/`)
/// must not carry the approved write into `scripts/`.
#[cfg(unix)]
#[test]
fn a_folder_swapped_for_a_symlink_while_the_prompt_waits_is_refused() {
    let t = project().file("output/keep.md", "kept");
    let mut p = spawn_on_pty(&t);
    p.exp_string("approve?").unwrap();
    let output = t.path().join("output");
    std::fs::rename(&output, t.path().join("output.old")).unwrap();
    std::os::unix::fs::symlink("scripts", &output).unwrap();
    p.send_line("y").unwrap();
    p.exp_string(
        "write result: denied: `output/summary.md` was approved, but the path no longer leads \
         there (a folder on the way changed while the approval was decided); nothing was done",
    )
    .unwrap();
    p.exp_eof().unwrap();
    assert!(!t.path().join("scripts/summary.md").exists());
    assert!(!t.path().join("output.old/summary.md").exists());
}

#[test]
fn the_terminal_prompt_denies_with_a_reason() {
    let t = project();
    let mut p = spawn_on_pty(&t);
    p.exp_string("approve?").unwrap();
    p.send_line("n not today").unwrap();
    p.exp_string("write result: denied").unwrap();
    p.exp_string("not today").unwrap();
    p.exp_eof().unwrap();
    assert!(!t.path().join("output/summary.md").exists());
}

#[test]
fn q_at_the_prompt_aborts_with_exit_3() {
    let t = project();
    let mut p = spawn_on_pty(&t);
    p.exp_string("approve?").unwrap();
    p.send_line("q").unwrap();
    p.exp_string("aborted").unwrap();
    match p.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => assert_eq!(code, 3),
        other => panic!("unexpected status {other:?}"),
    }
    assert!(!t.path().join("output/summary.md").exists());
}

/// With `-v` on a terminal, model text streams live to stderr (SSE from an OpenAI-compatible
/// endpoint), and the final answer is still printed on stdout.
#[tokio::test(flavor = "multi_thread")]
async fn verbose_on_a_terminal_streams_model_text_live() {
    use wiremock::matchers::{body_partial_json, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let chunk = |content: &str| {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    };
    let body = format!(
        "{}{}{}data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n",
        chunk("Hello"),
        chunk(", stream"),
        chunk("ing world")
    );
    Mock::given(method("POST"))
        .and(body_partial_json(serde_json::json!({"stream": true})))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream"),
        )
        .mount(&server)
        .await;
    let cfg = format!(
        "[providers.local]\nbase_url = \"{}/v1\"\nwire = \"openai\"\n",
        server.uri()
    );
    let t = Test::new()
        .config(&cfg)
        .worker("w", "---\nmodel: local:m\n---\nSay hello.\n");
    let dir = t.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-do"));
        cmd.args(["run", "w", "hi", "-v"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("HOME", &dir);
        let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
        p.exp_string("neural w").unwrap();
        p.exp_string("Hello, streaming world").unwrap();
        p.exp_string(" w ").unwrap();
        p.exp_eof().unwrap()
    })
    .await
    .unwrap();
    assert!(out.contains("Hello, streaming world"), "{out}");
}

/// `logs show` of a worker's call lists the decisions on its tool calls, each with who made
/// it; a call its tool's default approved is not a decision (it is in the calls).
#[test]
fn the_log_says_who_decided_each_tool_call() {
    let decisions = |t: &Test, args: &[&str]| {
        t.run_with(args).status(0);
        let out = t.run_with(&["logs", "--json", "-n", "1", "summarizer"]);
        out.status(0);
        let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let run = rows[0]["run"].as_str().unwrap();
        let id = format!("{}:{}", &run[run.len() - 8..], rows[0]["id"]);
        let out = t.run_with(&["logs", "show", &id]);
        out.status(0);
        let shown: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        shown["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["tool"].as_str().unwrap().to_string(),
                    a["decision"].as_str().unwrap().to_string(),
                    a["decided_by"].as_str().unwrap().to_string(),
                    a["rule"].as_i64(),
                )
            })
            .collect::<Vec<_>>()
    };
    let write = |decision: &str, by: &str, rule: Option<i64>| {
        vec![("write_file".into(), decision.into(), by.into(), rule)]
    };
    let rules = "[[approvals]]\ntool = \"shell\"\ndecision = \"reject\"\n\n\
                 [[approvals]]\ntool = \"write_file\"\npath = \"output/**\"\ndecision = \"approve\"\n";
    let t = project().config(rules);
    assert_eq!(
        decisions(&t, &["run", "summarizer", "go"]),
        write("approved", "rule", Some(1))
    );
    // The flag decides every tool call, those that need no approval too.
    let flag = |tool: &str| (tool.to_string(), "approved".into(), "flag".into(), None);
    assert_eq!(
        decisions(&t, &["run", "summarizer", "go", "--approve-all"]),
        vec![flag("list_files"), flag("read_file"), flag("write_file")]
    );
    // No rule, no terminal: the write's default is to ask, and nobody can answer.
    let t = project();
    assert_eq!(
        decisions(&t, &["run", "summarizer", "go"]),
        write("denied", "default", None)
    );
}
