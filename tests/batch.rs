//! `llm-do batch` (DESIGN §16): one output line per input in input order, errors as lines,
//! resumable after SIGINT or SIGKILL with every input exactly once, bounded concurrency.

use std::time::Duration;

use serde_json::Value;

use crate::util::Test;

fn project(max_parallel: u32) -> Test {
    let inputs: String = (1..=12).map(|i| format!("\"item {i}\"\n")).collect();
    Test::new()
        .config(&format!("[limits]\nmax_parallel = {max_parallel}\n"))
        .worker("slow", "---\nmodel: script:slowly\n---\nEcho slowly.\n")
        .script(
            "models",
            "fn slowly(request) { sleep(150); \"done: \" + request.messages[0].text }\n",
        )
        .file("in.jsonl", &inputs)
}

fn lines(t: &Test) -> Vec<Value> {
    std::fs::read_to_string(t.path().join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line whole"))
        .collect()
}

/// Start a batch, stop it with `signal` once some lines are out, then rerun to the end.
fn interrupted_then_resumed(signal: &str) {
    let t = project(2);
    let mut child = t.spawn_quiet(&["batch", "slow", "in.jsonl", "-o", "out.jsonl"]);
    let start = std::time::Instant::now();
    while lines(&t).len() < 3 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    let partial = lines(&t).len();
    assert!((3..12).contains(&partial), "{partial} lines after {signal}");
    let out = t.run_with(&["batch", "slow", "in.jsonl", "-o", "out.jsonl", "--json"]);
    out.status(0);
    let all = lines(&t);
    let mut numbers: Vec<u64> = all.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=12).collect::<Vec<_>>(),
        "every input exactly once"
    );
    for l in &all {
        let n = l["line"].as_u64().unwrap();
        assert_eq!(l["output"], format!("done: item {n}"));
    }
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["skipped"], partial);
    // Each line names the run that wrote it: the stopped one for the first lines, the rerun
    // for the rest; both are in the log, the stopped one not `ok`.
    let runs: Vec<&str> = all.iter().map(|l| l["run"].as_str().unwrap()).collect();
    assert!(runs[..partial].iter().all(|r| *r == runs[0]), "{runs:?}");
    assert!(
        runs[partial..].iter().all(|r| *r == runs[partial]),
        "{runs:?}"
    );
    assert_ne!(runs[0], runs[partial]);
    let out = t.run_with(&["logs", "--runs", "--json"]);
    let logged: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let status = |run: &str| {
        let row = logged
            .iter()
            .find(|r| r["id"] == run)
            .expect("the run is in the log");
        row["status"].as_str().map(str::to_owned)
    };
    assert_eq!(status(runs[partial]).as_deref(), Some("ok"));
    assert_ne!(status(runs[0]).as_deref(), Some("ok"));
    // Every line the stopped run wrote is a call the log has: a line is written only after
    // the log committed its call, so even a SIGKILL leaves the log no behind the output.
    let calls = |run: &str| {
        let row = logged.iter().find(|r| r["id"] == run).unwrap();
        row["calls"].as_u64().unwrap()
    };
    assert!(
        calls(runs[0]) >= partial as u64,
        "{} calls logged for {partial} lines after {signal}",
        calls(runs[0])
    );
}

#[test]
fn resumes_after_sigint_with_every_input_once() {
    interrupted_then_resumed("-INT");
}

#[test]
fn resumes_after_sigkill_with_every_input_once() {
    interrupted_then_resumed("-KILL");
}

#[test]
fn a_malformed_input_is_an_error_line_and_order_is_kept() {
    let t = project(4).file("in.jsonl", "\"a\"\n{oops\n\n\"c\"\n");
    let out = t.run_with(&["batch", "slow", "in.jsonl", "-o", "out.jsonl"]);
    out.status(0);
    let all = lines(&t);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["line"], 1);
    assert_eq!(all[1]["line"], 2);
    assert!(
        all[1]["error"].as_str().unwrap().contains("not valid JSON"),
        "{all:?}"
    );
    assert_eq!(all[2]["line"], 4);
    assert_eq!(
        out.stderr,
        "batch: 3 inputs, 2 done, 1 errors, 0 already in `out.jsonl`; 2 worker runs, 2 model requests, 0 in / 0 out tokens, cost unknown (no price for the model)\n",
        "one summary line, with what the batch spent"
    );
}

#[test]
fn an_unknown_name_is_a_usage_error_as_in_run() {
    // Exit 2, not 1: an engine retrying failed shards (the Ray example) must not retry this.
    let t = project(4).file("in.jsonl", "\"a\"\n");
    let out = t.run_with(&["batch", "slwo", "in.jsonl", "-o", "out.jsonl"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: unknown function or worker `slwo`
          hint: did you mean one of `slow`, `slowly`?
        ");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_stays_at_the_limit() {
    let server = crate::mock::MockServer::start(
        "127.0.0.1:0",
        crate::mock::Script {
            latency: Duration::from_millis(50),
            ..crate::mock::Script::default()
        },
    )
    .await
    .unwrap();
    let url = server.url();
    let inputs: String = (0..12).map(|i| format!("\"x{i}\"\n")).collect();
    let t = Test::new()
        .config(&format!(
            "[limits]\nmax_parallel = 3\n\n[providers.mock]\nbase_url = \"{url}/v1\"\nwire = \"openai\"\n"
        ))
        .worker("echo", "---\nmodel: mock:m\n---\nEcho.\n")
        .file("in.jsonl", &inputs);
    let out = tokio::task::spawn_blocking(move || {
        let out = t.run_with(&["batch", "echo", "in.jsonl", "-o", "out.jsonl"]);
        (out.status, lines(&t).len())
    })
    .await
    .unwrap();
    assert_eq!(out, (0, 12));
    assert_eq!(server.stats.snapshot()["max_in_flight"], 3);
}

/// A project whose model fails on inputs containing "bad".
fn flaky() -> Test {
    Test::new()
        .worker("w", "---\nmodel: script:m\n---\nEcho.\n")
        .script(
            "models",
            "fn m(request) { let t = request.messages[0].text; if t.contains(\"bad\") { throw \"no: \" + t } \"ok: \" + t }\n",
        )
        .file("in.jsonl", "\"a\"\n\"bad b\"\n\"c\"\n\"bad d\"\n\"e\"\n")
}

fn text(t: &Test, file: &str) -> String {
    std::fs::read_to_string(t.path().join(file)).unwrap()
}

/// `line: output-or-error` per line of OUT, to compare whole.
fn digest(t: &Test) -> Vec<String> {
    lines(t)
        .iter()
        .map(|l| {
            let what = l.get("output").or(l.get("error")).unwrap();
            format!("{}: {}", l["line"], what.as_str().unwrap())
        })
        .collect()
}

#[test]
fn retry_errors_reruns_only_error_lines_and_keeps_input_order() {
    let t = flaky();
    t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl", "-q"])
        .status(0);
    let first = lines(&t);
    assert!(first[1]["error"].as_str().unwrap().contains("no: bad b"));
    // A plain rerun counts error lines as done: it runs nothing (and costs nothing).
    let out = t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl", "--json"]);
    out.status(0);
    assert_eq!(
        out.json(),
        serde_json::json!({"inputs": 5, "done": 0, "errors": 0, "skipped": 5, "retried": 0})
    );
    // The model is fixed; only the two error lines run again.
    std::fs::write(
        t.path().join("scripts/models.rhai"),
        "fn m(request) { \"fixed: \" + request.messages[0].text }\n",
    )
    .unwrap();
    // Through a symlink: the file it names is rewritten in order, the link stays.
    std::os::unix::fs::symlink("out.jsonl", t.path().join("link.jsonl")).unwrap();
    let out = t.run_with(&[
        "batch",
        "w",
        "in.jsonl",
        "-o",
        "link.jsonl",
        "--retry-errors",
    ]);
    out.status(0);
    let link = std::fs::symlink_metadata(t.path().join("link.jsonl")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        out.stderr,
        "batch: 5 inputs, 2 done, 0 errors, 3 already in `link.jsonl`, 2 errors retried; 2 worker runs, 2 model requests, 0 in / 0 out tokens, cost unknown (no price for the model)\n"
    );
    assert_eq!(
        digest(&t),
        [
            "1: ok: a",
            "2: fixed: bad b",
            "3: ok: c",
            "4: fixed: bad d",
            "5: ok: e"
        ],
        "one line per input, in input order"
    );
    // The lines not rerun are kept byte for byte.
    let after = lines(&t);
    for i in [0, 2, 4] {
        assert_eq!(after[i], first[i]);
    }
}

#[test]
fn an_invalid_utf8_line_is_one_error_line() {
    let t = flaky();
    std::fs::write(t.path().join("in.jsonl"), b"\"a\"\n\"\xff\xfe\"\n\"c\"\n").unwrap();
    let out = t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl", "-q"]);
    out.status(0);
    assert_eq!(out.stderr, "");
    assert_eq!(
        digest(&t),
        [
            "1: ok: a",
            "2: input line 2 is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 1",
            "3: ok: c"
        ]
    );
    assert_eq!(lines(&t)[1]["input"], "\"\u{fffd}\u{fffd}\"");
}

#[test]
fn a_whole_last_line_without_newline_is_kept_and_a_cut_off_one_is_cut() {
    let t = flaky().file("in.jsonl", "\"a\"\n\"c\"\n\"e\"\n");
    let one = r#"{"line":1,"input":"a","output":"by hand"}"#;
    // Written by hand without a final newline: kept, and line 1 is not run again.
    std::fs::write(t.path().join("out.jsonl"), one).unwrap();
    t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl", "-q"])
        .status(0);
    assert_eq!(digest(&t), ["1: by hand", "2: ok: c", "3: ok: e"]);
    // A result cut off mid-write (a kill) is cut, and only it.
    let two = r#"{"line":2,"input":"c","output":"ok: c"}"#;
    std::fs::write(
        t.path().join("out.jsonl"),
        format!("{one}\n{two}\n{{\"line\":3,\"input\":\"e\",\"outp"),
    )
    .unwrap();
    t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl", "-q"])
        .status(0);
    assert_eq!(digest(&t), ["1: by hand", "2: ok: c", "3: ok: e"]);
    assert!(text(&t, "out.jsonl").starts_with(&format!("{one}\n{two}\n")));
}

#[test]
fn an_output_that_is_not_batchs_own_is_refused_untouched() {
    let t = flaky().file("out.jsonl", "{\"id\": 7}\n{\"line\":1,\"in");
    let out = t.run_with(&["batch", "w", "in.jsonl", "-o", "out.jsonl"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `out.jsonl` line 1 is not a result of `llm-do batch`\n  hint: batch appends only to its own results: name a new file, or fix that line\n"
    );
    assert_eq!(text(&t, "out.jsonl"), "{\"id\": 7}\n{\"line\":1,\"in");
}

#[test]
fn the_input_as_output_is_refused_with_nothing_lost() {
    let t = flaky();
    let before = text(&t, "in.jsonl");
    // Also through another name for the same file.
    std::fs::hard_link(t.path().join("in.jsonl"), t.path().join("same.jsonl")).unwrap();
    for out_name in ["in.jsonl", "same.jsonl"] {
        let out = t.run_with(&["batch", "w", "in.jsonl", "-o", out_name]);
        out.status(2);
        assert_eq!(
            out.stderr,
            format!(
                "error: `{out_name}` is the input file: its results would be appended to its own inputs\n  hint: name another file for the results, e.g. `-o results.jsonl`\n"
            )
        );
        assert_eq!(text(&t, "in.jsonl"), before);
    }
}

#[test]
fn an_output_pipe_is_refused_instead_of_read_back() {
    // `-o /dev/stdout | cat`: reading its own output pipe back used to wait forever.
    let t = flaky();
    let mut cmd = t.command(&["batch", "w", "in.jsonl", "-o", "/dev/stdout"]);
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The pipe's read end stays open here until the child ends, as `| cat` keeps it. The old
    // binary never ended: stop it rather than hang the suite.
    let mut child = child;
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("batch -o /dev/stdout still running after 60 s: it reads its own pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: `/dev/stdout` is not a regular file (a pipe, a terminal or a device): batch reads its output back to resume\n  hint: write to a file and read it from there: `-o out.jsonl && cat out.jsonl`\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_batch_on_a_terminal_ends_with_one_summary_line() {
    // On a terminal the run's spent line used to follow the batch's own summary: two lines.
    // `script` (util-linux) gives the batch a terminal; without it there is nothing to check.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` command for a terminal");
        return;
    }
    let t = flaky();
    let bin = env!("CARGO_BIN_EXE_llm-do");
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("{bin} batch w in.jsonl -o out.jsonl"),
        "/dev/null",
    ])
    .current_dir(t.path())
    .env("HOME", t.path())
    .env("NO_COLOR", "1");
    for k in crate::util::CLEARED {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let screen = String::from_utf8_lossy(&out.stdout);
    // What is left on screen once the progress bar has cleared itself.
    let lines: Vec<&str> = screen
        .split("\r\n")
        .map(|l| l.rsplit("\u{1b}[2K").next().unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "batch: 5 inputs, 3 done, 2 errors, 0 already in `out.jsonl`; 5 worker runs, 3 model requests, 0 in / 0 out tokens, cost unknown (no price for the model)"
        ]
    );
}
