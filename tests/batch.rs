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
    assert!(
        out.stderr.contains("3 inputs, 2 done, 1 errors"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_name_is_a_usage_error_as_in_run() {
    // Exit 2, not 1: an engine retrying failed shards (the Ray example) must not retry this.
    let t = project(4).file("in.jsonl", "\"a\"\n");
    let out = t.run_with(&["batch", "slwo", "in.jsonl", "-o", "out.jsonl"]);
    out.status(2);
    assert!(
        out.stderr.contains("unknown function or worker `slwo`") && out.stderr.contains("slow"),
        "{}",
        out.stderr
    );
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
