//! End-to-end behaviour of the binary: scripts, `call()`, `run`, `check`, `list`, models.

use serde_json::json;

use crate::util::{Test, repo, tree};

const ADD: &str = "/// Add two numbers.\n/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n";
const GREETER: &str =
    "---\ndescription: Greet someone\ninput:\n  name: string\n---\nGreet the person.\n";

#[test]
fn bundled_example_runs_offline_with_the_test_model() {
    // The `test` model answers a structured output with the first choice of each field.
    Test::new()
        .cwd(&repo())
        .args(&["scripts/main.rhai", "--model", "test"])
        .stdout(
            r#"{
  "greeting": "test reply: Ada",
  "sanitized": "q3_report_final_v2.pdf",
  "suggested": "meeting_notes_2024-03_draft.docx",
  "ticket": {
    "category": "bug",
    "summary": "The export button crashes the app",
    "urgent": true
  },
  "total": 42
}
"#,
        )
        .run();
}

#[test]
fn check_passes_on_the_repository() {
    Test::new()
        .cwd(&repo())
        .args(&["check"])
        .stdout(&format!("ok: 3 workers, 2 fns in `{}`\n", repo().display()))
        .run();
}

#[test]
fn list_shows_every_worker_fn_and_builtin_with_its_source() {
    let out = Test::new().cwd(&repo()).args(&["list"]).run();
    out.status(0);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn call_reaches_a_rhai_fn_by_parameter_name() {
    Test::new()
        .script("math", ADD)
        .file("main.rhai", r#"call("add", #{b: 2, a: 1})"#)
        .args(&["main.rhai"])
        .run()
        .status(0);
    let out = Test::new()
        .script("math", ADD)
        .file("main.rhai", r#"call("add", #{b: 2, a: 1})"#)
        .args(&["main.rhai"])
        .run();
    assert_eq!(out.stdout, "3\n");
}

#[test]
fn missing_and_extra_arguments_name_the_parameters() {
    Test::new()
        .script("math", ADD)
        .file("main.rhai", r#"call("add", #{a: 1})"#)
        .args(&["main.rhai"])
        .status(1)
        .stderr(
            "  x bad arguments for `add`: missing argument `b`; `add` takes (`a`, `b`)
   ,-[main.rhai:1:6]
 1 | call(\"add\", #{a: 1})
   :      |
   :      `-- here
   `----

",
        )
        .run();
    Test::new()
        .script("math", ADD)
        .file("main.rhai", r#"call("add", #{a: 1, b: 2, c: 3})"#)
        .args(&["main.rhai"])
        .status(1)
        .stderr(
            "  x bad arguments for `add`: unknown argument `c`; `add` takes (`a`, `b`)
   ,-[main.rhai:1:6]
 1 | call(\"add\", #{a: 1, b: 2, c: 3})
   :      |
   :      `-- here
   `----

",
        )
        .run();
}

#[test]
fn a_worker_and_a_fn_through_the_same_call() {
    let out = Test::new()
        .worker("greeter", GREETER)
        .script("math", ADD)
        .file("main.rhai", r#"[call("greeter", #{name: "Ada"}), call("add", #{a: 2, b: 3}), call("greeter", "Bob")]"#)
        .args(&["main.rhai", "--model", "test", "--json"])
        .run();
    out.status(0);
    assert_eq!(out.json(), json!(["test reply: Ada", 5, "test reply: Bob"]));
}

#[test]
fn fn_pointers_keep_rhais_own_call() {
    let script = "fn twice(x) { x * 2 }\nlet f = Fn(\"twice\");\nlet g = |x| x + 1;\n[call(f, 21), f.call(5), g.call(1), call(g, 2)]";
    let out = Test::new()
        .file("main.rhai", script)
        .args(&["main.rhai", "--json"])
        .run();
    out.status(0);
    assert_eq!(out.json(), json!([42, 10, 2, 3]));
}

#[test]
fn main_fn_receives_args_and_its_value_is_printed() {
    let out = Test::new()
        .file(
            "main.rhai",
            "fn main(args) { `hello ${args[0]} and ${args[1]}` }",
        )
        .args(&["main.rhai", "x", "--y"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "hello x and --y\n");
}

#[test]
fn builtins_work_directly_and_through_call() {
    let script = r#"
        write_text("out/a.txt", "alpha");
        call("write_text", #{path: "out/b.txt", text: "beta"});
        let files = list_files("out", "*.txt");
        let only_glob = call("list_files", #{glob: "out/*.txt"});
        #{files: files, only_glob: only_glob, a: read_text("out/a.txt"), b: call("read_text", #{path: "out/b.txt"}), j: parse_json(to_json(#{x: [1, 2]})), e: exists("nope")}
    "#;
    let out = Test::new()
        .file("main.rhai", script)
        .args(&["main.rhai"])
        .run();
    out.status(0);
    assert_eq!(
        out.json(),
        json!({"files": ["out/a.txt", "out/b.txt"], "only_glob": ["out/a.txt", "out/b.txt"], "a": "alpha", "b": "beta", "j": {"x": [1, 2]}, "e": false})
    );
}

#[test]
fn stdlib_modules_are_embedded() {
    let out = Test::new()
        .file(
            "main.rhai",
            r#"import "std/text" as text; text::slugify("Hello, World!")"#,
        )
        .args(&["main.rhai"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "hello-world\n");
}

#[test]
fn run_takes_text_json_and_stdin() {
    let t = Test::new().worker("greeter", GREETER).script("math", ADD);
    assert_eq!(
        t.run_with(&["run", "greeter", "Ada", "--model", "test"])
            .stdout,
        "test reply: Ada\n"
    );
    let t = Test::new().worker("greeter", GREETER).script("math", ADD);
    assert_eq!(
        t.run_with(&["run", "add", "--input-json", r#"{"a": 2, "b": 5}"#])
            .stdout,
        "7\n"
    );
    let t = Test::new().worker("greeter", GREETER).stdin("Grace\n");
    assert_eq!(
        t.run_with(&["run", "greeter", "--model", "test"]).stdout,
        "test reply: Grace\n"
    );
}

#[test]
fn json_flag_prints_strings_as_json() {
    let out = Test::new()
        .file("main.rhai", r#""hi""#)
        .args(&["main.rhai", "--json"])
        .run();
    assert_eq!(out.stdout, "\"hi\"\n");
}

#[test]
fn a_worker_uses_a_fn_as_a_tool_and_structured_output_is_a_map() {
    let worker = "---\ntoolsets: [add]\noutput:\n  total: integer\n  note: string\n---\nAdd.\n";
    Test::new()
        .worker("adder", worker)
        .script("math", ADD)
        .args(&["run", "adder", "x", "--model", "test", "-v"])
        .filter(r"\b\d+\.\d+ ms\b", "[T] ms")
        .stdout("{\n  \"note\": \"x\",\n  \"total\": 1\n}\n")
        .stderr(
            "▶ neural adder
  ? add approved (by default)
  ▶ symbolic add
  ✓ add [T] ms
✓ adder [T] ms, 4 in / 9 out tokens
total: 2 model calls, 4 in / 9 out tokens
  adder: 2 model calls, 4 in / 9 out tokens
",
        )
        .run();
}

#[test]
fn a_script_model_drives_a_tool_loop_deterministically() {
    let model = r#"
        fn fake(request) {
            if request.turn == 0 { #{tool_calls: [#{name: "add", args: #{a: 20, b: 22}}]} }
            else { `the sum is ${request.messages[-1].tool_results[0].content}` }
        }
    "#;
    let worker = "---\nmodel: script:fake\ntoolsets: [add]\n---\nAdd.\n";
    let out = Test::new()
        .worker("adder", worker)
        .script("math", ADD)
        .script("model", model)
        .args(&["run", "adder", "go"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "the sum is 42\n");
}

#[test]
fn writes_need_approval_headless_and_the_model_sees_the_denial() {
    let worker = "---\ntoolsets: [fs]\n---\nWrite a summary.\n";
    let t = Test::new().worker("writer", worker).file("data.txt", "x");
    let before = tree(t.path());
    let out = t.run_with(&["run", "writer", "output/summary.md", "--model", "test"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "denied: `write_file` requires approval and there is no terminal to ask; rerun with \
         `--approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. \
         `tool = \"write_file\"` with `decision = \"approve\"`\n"
    );
    assert_eq!(out.stderr, "");
    assert_eq!(
        tree(t.path()),
        before,
        "nothing may be written without approval"
    );

    let t = Test::new().worker("writer", worker);
    t.run_with(&[
        "run",
        "writer",
        "output/summary.md",
        "--model",
        "test",
        "--approve-all",
    ])
    .status(0);
    assert_eq!(
        std::fs::read_to_string(t.path().join("output/summary.md")).unwrap(),
        "output/summary.md"
    );
}

#[test]
fn an_approval_rule_lets_writes_under_output_through() {
    let worker = "---\ntoolsets: [fs]\n---\nWrite.\n";
    let cfg =
        "[[approvals]]\ntool = \"write_file\"\npath = \"output/**\"\ndecision = \"approve\"\n";
    let t = Test::new().worker("writer", worker).config(cfg);
    t.run_with(&["run", "writer", "output/x.md", "--model", "test"])
        .status(0);
    assert!(t.path().join("output/x.md").exists());
}

#[test]
fn a_policy_fn_decides_approvals() {
    let worker = "---\ntoolsets: [fs]\n---\nWrite.\n";
    let policy = r#"fn approve(request) { if request.args.path.starts_with("output/") { "approve" } else { "reject" } }"#;
    let t = Test::new()
        .worker("writer", worker)
        .script("policy", policy);
    t.run_with(&["run", "writer", "output/ok.md", "--model", "test"])
        .status(0);
    assert!(t.path().join("output/ok.md").exists());
    let t = Test::new()
        .worker("writer", worker)
        .script("policy", policy);
    let out = t.run_with(&["run", "writer", "notes.md", "--model", "test"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "denied: rejected by the approval policy `fn approve`\n"
    );
    assert_eq!(out.stderr, "");
    assert!(!t.path().join("notes.md").exists());
}

/// The binary drives a real HTTP tool loop against an OpenAI-compatible endpoint declared in
/// `llm-do.toml`: the model calls a Rhai fn, then answers with its result.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_openai_compatible_provider_runs_a_tool_loop_end_to_end() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let first = json!({"id": "c1", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 40, \"b\": 2}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    let second = json!({"id": "c2", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "The answer is 42."}}], "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}});
    Mock::given(method("POST")).and(path("/v1/chat/completions")).and(body_partial_json(json!({"messages": [{"role": "system"}, {"role": "user"}, {"role": "assistant"}, {"role": "tool", "tool_call_id": "t1", "content": "42"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(second)).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .mount(&server)
        .await;

    let cfg = format!(
        "[providers.local]\nbase_url = \"{}/v1\"\nwire = \"openai\"\n",
        server.uri()
    );
    let worker = "---\nmodel: local:tiny\ntoolsets: [add]\n---\nUse the tool.\n";
    let t = Test::new()
        .config(&cfg)
        .worker("adder", worker)
        .script("math", ADD);
    let out = tokio::task::spawn_blocking(move || t.run_with(&["run", "adder", "what is 40 + 2?"]))
        .await
        .unwrap();
    out.status(0);
    assert_eq!(out.stdout, "The answer is 42.\n");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["model"], "tiny");
    assert_eq!(body["tools"][0]["function"]["name"], "add");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["properties"]["a"]["type"],
        "integer"
    );
}

#[test]
fn llm_do_model_env_var_picks_the_model() {
    let out = Test::new()
        .worker("greeter", GREETER)
        .env("LLM_DO_MODEL", "test")
        .args(&["run", "greeter", "Ada"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
}

#[test]
fn deep_script_recursion_within_the_limit_works() {
    let out = Test::new()
        .file(
            "main.rhai",
            "fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\ndepth(90)",
        )
        .args(&["main.rhai"])
        .run();
    out.status(0);
    assert_eq!(out.stdout, "90\n");
}

#[test]
fn std_retry_retries_a_closure() {
    let script = "import \"std/retry\" as retry;\nlet n = 0;\nlet f = || { n += 1; if n < 3 { throw \"flaky\"; } n };\nretry::times(f, 5)";
    let out = Test::new()
        .file("main.rhai", script)
        .args(&["main.rhai"])
        .run();
    out.status(0);
}

#[test]
fn ask_reads_answers_from_piped_stdin_and_fails_clearly_without_one() {
    let t = Test::new().file(
        "main.rhai",
        "let a = ask(\"name?\"); let b = ask(\"age?\"); `${a} is ${b}`",
    );
    assert_eq!(
        t.stdin("Ada\n36\n").run_with(&["main.rhai"]).stdout,
        "Ada is 36\n"
    );
    Test::new()
        .file("main.rhai", "ask(\"name?\")")
        .args(&["main.rhai"])
        .status(1)
        .stderr(
            "  x ask(`name?`): no answer (stdin is closed)
   ,-[main.rhai:1:1]
 1 | ask(\"name?\")
   : |
   : `-- here
   `----

",
        )
        .run();
}

#[test]
fn global_flags_may_come_before_the_subcommand_and_test_is_a_model_id() {
    let t = Test::new()
        .worker("greeter", "---\nmodel: test\n---\nHi\n")
        .config("[defaults]\nmodel = \"test\"\n");
    let out = t.run_with(&["--model", "test", "run", "greeter", "Ada"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
    t.run_with(&["--project", ".", "check"]).status(0);
}

/// `llm-do list | head` closes stdout early: llm-do ends quietly with status 0, never a panic.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::io::Read;
    let mut t = Test::new();
    for i in 0..200 {
        t = t.worker(&format!("w{i}"), "---\ndescription: a worker\n---\nHi.\n");
    }
    let mut child = t
        .command(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe, as `head -c1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0_u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// Printing to a full disk is a clear error (exit 1), never a panic.
#[test]
fn a_full_disk_on_stdout_is_a_clear_error() {
    let t = Test::new().file("main.rhai", "print(\"from print\"); \"the result\"");
    for args in [&["list"][..], &["main.rhai", "--model", "test"][..]] {
        let out = t
            .command(args)
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr, "error: cannot write to stdout: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

/// A diagnostic pointing past column 65,535 renders (cut around the span) instead of panicking.
#[test]
fn a_diagnostic_on_a_very_long_line_does_not_panic() {
    let t = Test::new().worker(
        "w",
        &format!(
            "---\ndescription: ok\n{}bogus: 1\n---\nHi.\n",
            "y".repeat(70_000)
        ),
    );
    let out = t.run_with(&["check"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.len() < 5_000, "the snippet is cut");
    insta::assert_snapshot!("diagnostic_on_a_very_long_line", out.stderr);
}

/// Run options before the command name reach every command that runs calls, `batch` and
/// `stabilize` included (issue 30: a second list of such commands refused them).
#[test]
fn run_options_before_the_name_reach_batch() {
    let t = Test::new()
        .worker("greeter", "---\n---\nGreet.\n")
        .file("in.jsonl", "\"Ada\"\n");
    let out = t.run_with(&[
        "--model",
        "test",
        "--no-log",
        "batch",
        "greeter",
        "in.jsonl",
        "-o",
        "out.jsonl",
    ]);
    out.status(0);
    let written = std::fs::read_to_string(t.path().join("out.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
    assert_eq!(line["output"], json!("test reply: Ada"));
}

/// `--json`, `-q` and `-v` belong to the commands that use them (issue 32: they were global
/// and accepted where they did nothing). After the name of a command that does not use one,
/// clap does not know it; before the name, llm-do says it does not apply.
#[test]
fn output_flags_are_refused_where_they_do_nothing() {
    let t = Test::new().worker("greeter", GREETER);
    for (args, snapshot) in [
        (&["view", "--json"][..], "refused_json"),
        (&["completions", "bash", "-v"], "refused_verbose"),
        (&["list", "-q"], "refused_quiet"),
    ] {
        let out = t.run_with(args);
        out.status(2);
        assert_eq!(out.stdout, "", "{args:?}");
        insta::assert_snapshot!(snapshot, out.stderr);
    }
    for (args, flag, cmd) in [
        (&["--json", "man"][..], "--json", "man"),
        (&["-q", "list"], "--quiet", "list"),
        (&["-v", "completions", "bash"], "--verbose", "completions"),
        (&["--json", "dataset", "greeter"], "--json", "dataset"),
    ] {
        let out = t.run_with(args);
        out.status(2);
        assert_eq!(out.stdout, "", "{args:?}");
        assert_eq!(
            out.stderr,
            format!(
                "error: `{flag}` does not apply to `llm-do {cmd}`\n  \
                 hint: `llm-do {cmd} --help` lists its options\n"
            )
        );
    }
}

/// One Ctrl-C ends `--watch` with 130 whenever it comes, even while a burst of changes is
/// settling before a rerun (issue 30: a signal there was lost and watching went on). The test
/// keeps changing the script, so the watch stays in that state until the signal ends it.
#[cfg(unix)]
#[test]
fn one_ctrl_c_ends_watch_while_changes_settle() {
    let t = Test::new().file("main.rhai", "write_text(\"out/run.txt\", \"1\"); \"one\"\n");
    let mut child = t.spawn_quiet(&["main.rhai", "--watch"]);
    let marker = t.path().join("out/run.txt");
    let script = t.path().join("main.rhai");
    let (mut signalled, mut changes) = (false, 0);
    for i in 0..6_000 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(signalled, "llm-do exited before the signal: {status}");
            assert_eq!(status.code(), Some(130));
            return;
        }
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == "1") {
            std::fs::write(
                &script,
                format!("write_text(\"out/run.txt\", \"1\"); {i}\n"),
            )
            .unwrap();
            changes += 1;
            // Ten changes in: the watch is settling the burst, not waiting for a first change.
            if !signalled && changes == 10 {
                let sent = std::process::Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(sent.success());
                signalled = true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("`--watch` still running after one SIGINT");
}

/// `logs show` without an id, and a name the log has no call of, are errors (issue 30: both
/// printed nothing with exit 0).
#[test]
fn logs_refuses_a_missing_id_and_an_unknown_name() {
    let t = Test::new().worker("greeter", GREETER);
    t.run_with(&["run", "greeter", "Ada", "--model", "test"])
        .status(0);
    let out = t.run_with(&["logs", "show"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: `llm-do logs show` needs a call id\n  \
         hint: `llm-do logs show RUN:N`, with an id as `llm-do logs` lists them\n"
    );
    let out = t.run_with(&["logs", "shwo"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: no calls of `shwo` in the run log\n  hint: did you mean `show`?\n"
    );
    let out = t.run_with(&["logs", "greter"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: no calls of `greter` in the run log\n  hint: did you mean `greeter`?\n"
    );
    let out = t.run_with(&["logs", "greeter", "--json"]);
    out.status(0);
    assert_eq!(out.json().as_array().map(Vec::len), Some(1));
}

/// A run stopped by Ctrl-C is `interrupted` in `logs --runs`, not `error`.
#[cfg(unix)]
#[test]
fn an_interrupted_run_is_logged_as_interrupted() {
    let t = Test::new().file(
        "main.rhai",
        "write_text(\"out/started.txt\", \"yes\"); loop { sleep(0.05); }\n",
    );
    let child = t.spawn_quiet(&["main.rhai"]);
    let marker = t.path().join("out/started.txt");
    for _ in 0..6_000 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(marker.exists(), "the script never started");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let runs = t.run_with(&["logs", "--runs", "--json"]);
    runs.status(0);
    assert_eq!(
        runs.json()[0]["status"],
        json!("interrupted"),
        "{}",
        runs.stdout
    );
}

/// A small real cost keeps its significant digits (issue 30: `$0.0000`), and counts of one
/// are singular. (The budget is reserved before the request is sent, so the run is refused
/// with nothing spent.)
#[test]
fn small_costs_and_counts_of_one_read_right() {
    let t = Test::new()
        .config("[limits]\nmax_cost_usd = 0.000005\n\n[prices.test]\ninput = 1.0\noutput = 1.0\n")
        .worker("greeter", "---\nmodel: test\n---\nGreet.\n")
        .script("util", ADD);
    let out = t.run_with(&["run", "greeter", "Ada"]);
    out.status(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: budget exceeded: `max_cost_usd` is $0.0000050 and this run reached $0.0000; its next \
         request could use up to $0.0042\n  \
         hint: raise `[limits] max_cost_usd` in llm-do.toml, or make the program call models less\n"
    );
    let out = t.run_with(&["check"]);
    out.status(0);
    assert_eq!(out.stdout, "ok: 1 worker, 1 fn in `[PROJECT]`\n");
    let t = t.config("[prices.test]\ninput = 1.0\noutput = 1.0\n");
    t.filter(r"\b\d+\.\d+ ms\b", "[T] ms")
        .args(&["run", "greeter", "Ada", "-v"])
        .stdout("test reply: Ada\n")
        .stderr(
            "▶ neural greeter
✓ greeter [T] ms, 3 in / 4 out tokens, $0.0000070
total: 1 model call, 3 in / 4 out tokens
  greeter: 1 model call, 3 in / 4 out tokens
",
        )
        .run();
}

/// `chat` refuses up front a worker whose input is not one string (issue 30: it failed on the
/// first turn with a raw schema error); one string property is fine.
#[test]
fn chat_refuses_a_worker_whose_input_is_not_one_string() {
    let t = Test::new()
        .worker(
            "pair",
            "---\nmodel: test\ninput:\n  a: string\n  b: integer\n---\nX\n",
        )
        .worker(
            "one",
            "---\nmodel: test\ninput:\n  message: string\n---\nX\n",
        )
        .stdin("hi\n");
    let out = t.run_with(&["chat", "pair"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: cannot chat with `pair`: a chat line is one string, and its `input` is not (it \
         takes `a`, `b`)\n  hint: chat with a worker whose `input` is a string (the default) or \
         one string property; run this one with `llm-do run pair --input-json '{...}'`\n"
    );
    let out = t.run_with(&["chat", "one"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: hi\n");
}

/// A mistyped name gets a "did you mean" in `dataset`, `test` and `[stabilize]` (issue 30).
#[test]
fn mistyped_names_get_a_suggestion_in_dataset_test_and_stabilize() {
    let t = Test::new().worker("greeter", GREETER);
    t.run_with(&["run", "greeter", "Ada", "--model", "test"])
        .status(0);
    let out = t.run_with(&["dataset", "greter"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: the run log has no successful call of `greter`\n  hint: did you mean `greeter`?\n"
    );
    let out = t.run_with(&["test", "greter", "--model", "test"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: unknown worker or fn `greter`\n  hint: did you mean `greeter`?\n"
    );
    let t = t.config("[stabilize]\ngreter = \"code\"\n");
    let out = t.run_with(&["check"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `llm-do.toml`: `[stabilize] greter` switches between a worker and a \
         fn of that name, but there is neither a worker nor a fn `greter`; did you mean `greeter`?\n"
    );
}
