//! The run log (DESIGN §14): on by default in a project, `--no-log` and `[log] enabled = false`
//! turn it off, several processes at once lose nothing, and `llm-do logs` reads it back.

use serde_json::Value;

use crate::util::Test;

fn project() -> Test {
    Test::greeter_and_add("Ada")
}

fn logged(t: &Test, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["logs", "--json", "-n", "1000"];
    all.extend_from_slice(args);
    let out = t.run_with(&all);
    out.status(0);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn every_call_of_a_run_is_logged_and_read_back() {
    let t = project();
    t.run_with(&["main.rhai"]).status(0);
    let rows = logged(&t, &[]);
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["add", "greeter"], "newest first");
    let greeter = &rows[1];
    assert_eq!(greeter["kind"], "worker");
    assert_eq!(greeter["model"], "test");
    assert_eq!(greeter["input"], serde_json::json!({"input": "Ada"}));
    assert!(greeter["tokens_in"].as_i64().unwrap() > 0);
    assert_eq!(rows[0]["output"], 3);
    assert_eq!(rows[0]["run"], rows[1]["run"], "one run");
    // One name, and one call shown whole.
    assert_eq!(logged(&t, &["add"]).len(), 1);
    let run = rows[0]["run"].as_str().unwrap();
    let id = format!("{}:{}", &run[run.len() - 8..], rows[0]["id"]);
    let out = t.run_with(&["logs", "show", &id]);
    out.status(0);
    assert!(out.stdout.contains("\"name\": \"add\""), "{}", out.stdout);
    // Text listing: one line per call.
    let out = t.run_with(&["logs"]);
    out.status(0);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stdout.contains("worker  greeter"), "{}", out.stdout);
}

#[test]
fn a_failed_call_is_logged_with_its_error() {
    let t = project().file("bad.rhai", "call(\"add\", #{a: \"x\", b: 2})");
    t.run_with(&["bad.rhai"]).status(1);
    // The seam refused the input before the fn ran: nothing ran, nothing to log as a call.
    let t = t.file("boom.rhai", "fn boom() { throw \"boom\"; } call(\"boom\")");
    t.run_with(&["boom.rhai"]).status(1);
    let rows = logged(&t, &["boom"]);
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["error"].as_str().unwrap().contains("boom"),
        "{rows:?}"
    );
}

#[test]
fn the_log_can_be_turned_off() {
    let t = project();
    t.run_with(&["main.rhai", "--no-log"]).status(0);
    assert!(!t.path().join(".llm-do").exists());
    let t = project().config("[log]\nenabled = false\n");
    t.run_with(&["main.rhai"]).status(0);
    assert!(!t.path().join(".llm-do").exists());
    // Read-only commands never start a run.
    let t = project();
    t.run_with(&["check"]).status(0);
    t.run_with(&["list"]).status(0);
    assert!(!t.path().join(".llm-do").exists());
}

#[test]
fn the_state_folder_ignores_itself_for_git() {
    let t = project();
    t.run_with(&["main.rhai"]).status(0);
    let ignore = std::fs::read_to_string(t.path().join(".llm-do/.gitignore")).unwrap();
    assert_eq!(ignore, "*\n");
}

#[test]
fn several_processes_at_once_lose_nothing() {
    let t = project().file(
        "many.rhai",
        "for i in 0..20 { call(\"add\", #{a: i, b: 1}); } call(\"greeter\", \"x\")",
    );
    let children: Vec<_> = (0..8).map(|_| t.command(&["many.rhai"]).output()).collect();
    for c in children {
        assert_eq!(c.unwrap().status.code(), Some(0));
    }
    let rows = logged(&t, &[]);
    assert_eq!(rows.len(), 8 * 21);
    let runs: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(runs.len(), 8);
}

#[test]
fn logs_outside_a_logged_project_says_why() {
    let out = project().run_with(&["logs"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: no run log at `[PROJECT]/.llm-do/log.db`
          hint: runs are logged unless `--no-log` or `[log] enabled = false`
        ");
}

#[test]
fn a_killed_run_leaves_a_readable_log() {
    // Calls logged in batches as the run goes; SIGKILL mid-run; the log still opens and holds
    // the earlier runs and whatever batches the killed run had written.
    let t = project().file(
        "long.rhai",
        "for i in 0..100000 { call(\"add\", #{a: i, b: 1}); if i % 100 == 0 { sleep(5); } } 0",
    );
    t.run_with(&["main.rhai"]).status(0);
    let mut child = t.spawn_quiet(&["long.rhai"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    // The earlier run is intact, and the batches the killed run wrote read back.
    assert_eq!(logged(&t, &["greeter"]).len(), 1);
    let adds = logged(&t, &["add"]);
    assert!(adds.len() > 1, "{}", adds.len());
    assert!(adds.iter().all(|r| r["output"].is_number()));
}

#[test]
fn a_log_that_cannot_be_written_fails_the_run_after_its_output() {
    // The state folder's name is taken by a file: the log cannot be created.
    let t = project().file(".llm-do", "not a folder\n");
    let out = t.run_with(&["run", "add", "--input-json", "{\"a\": 1, \"b\": 2}"]);
    out.status(1);
    assert_eq!(out.stdout, "3\n", "the result is not lost");
    insta::assert_snapshot!(out.stderr);
    // The way out the error names works.
    let out = t.run_with(&[
        "run",
        "add",
        "--input-json",
        "{\"a\": 1, \"b\": 2}",
        "--no-log",
    ]);
    out.status(0);
    assert_eq!(out.stdout, "3\n");
}

/// A run is in the log from its first call: killed before its first batch, it is still
/// there, with no end and no status. A command that fails before calling anything is not a run.
#[test]
fn a_run_killed_before_its_first_batch_is_in_the_log_unfinished() {
    let t = project().file("slow.rhai", "call(\"add\", #{a: 1, b: 2}); sleep(20000); 0");
    let runs = |t: &Test| -> Vec<Value> {
        if !llm_do::log::path_in(t.path()).exists() {
            return Vec::new();
        }
        let out = t.run_with(&["logs", "--runs", "--json"]);
        out.status(0);
        serde_json::from_str(&out.stdout).unwrap()
    };
    t.run_with(&["run", "no_such_name"]).status(2);
    assert!(runs(&t).is_empty(), "{:?}", runs(&t));
    let mut child = t.spawn_quiet(&["slow.rhai"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while runs(&t).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let all = runs(&t);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0]["command"].as_str().unwrap().contains("slow.rhai"));
    assert_eq!(
        (&all[0]["ended"], &all[0]["status"]),
        (&Value::Null, &Value::Null)
    );
    let out = t.run_with(&["logs", "--runs"]);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stdout, @"[TIME]  [RUN]  unfinished         -  0 calls  llm-do slow.rhai");
    });
}

/// `logs --runs` lists runs newest first, with how each ended and the calls it logged.
#[test]
fn runs_are_listed_with_how_they_ended() {
    let t = project().file("bad.rhai", "call(\"add\", #{a: 1, b: 2}); throw \"no\"");
    t.run_with(&["main.rhai"]).status(0);
    t.run_with(&["bad.rhai"]).status(1);
    let out = t.run_with(&["logs", "--runs", "--json"]);
    out.status(0);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let seen: Vec<(&str, i64)> = runs
        .iter()
        .map(|r| (r["status"].as_str().unwrap(), r["calls"].as_i64().unwrap()))
        .collect();
    assert_eq!(seen, [("error", 1), ("ok", 2)]);
    assert!(runs.iter().all(|r| r["ended"].is_string()));
    let out = t.run_with(&["logs", "--runs", "-n", "1"]);
    out.status(0);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stdout, @"[TIME]  [RUN]  error        [T] s  1 call  llm-do bad.rhai");
    });
    let out = t.run_with(&["logs", "--runs", "add"]);
    out.status(2);
}

/// Bytes of every file under `dir`.
fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Issue 29: one 60 MB output took about 190 MB of log (the value once per enclosing call,
/// and again in the WAL). A value longer than `[log] max_value_kb` (default 1024) is stored as
/// a marker with its size and first KiB: a 10 MB output nested in a fn now takes a few KiB.
#[test]
fn a_long_output_is_logged_as_a_truncation_marker() {
    let t = Test::new()
        .worker("w", "---\nmodel: script:big\n---\nSay.\n")
        .script(
            "lib",
            "fn big(request) { read_text(\"big.txt\") }\nfn outer() { call(\"w\", \"go\") }\n",
        )
        .file("big.txt", &"x".repeat(10_000_000));
    let out = t.run_with(&["run", "outer"]);
    out.status(0);
    assert_eq!(out.stdout.len(), 10_000_001);
    let log = bytes_under(&t.path().join(".llm-do"));
    assert!(log < 1_000_000, "the log takes {log} bytes");
    let out = t.run_with(&["logs", "--json"]);
    out.status(0);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    let head = format!("\"{}", "x".repeat(1023));
    for row in rows.as_array().unwrap() {
        assert_eq!(
            row["output"],
            serde_json::json!({"llm_do_truncated": {"bytes": 10_000_002, "head": head}}),
            "{}",
            row["name"]
        );
    }
    // A marker equals nothing: `dataset` makes no case of it.
    let out = t.run_with(&["dataset", "w"]);
    out.status(2);
    assert!(
        out.stderr
            .contains("the run log has no successful call of `w`"),
        "{}",
        out.stderr
    );
}

/// `[log] max_value_kb` sets the cap: under it a value is kept whole.
#[test]
fn max_value_kb_sets_what_is_logged_whole() {
    let t = Test::new()
        .config("[log]\nmax_value_kb = 4\n")
        .script("lib", "fn echo(text) { text }\n");
    let small = "y".repeat(3000);
    let big = "z".repeat(5000);
    t.run_with(&["run", "echo", &small]).status(0);
    t.run_with(&["run", "echo", &big]).status(0);
    let out = t.run_with(&["logs", "--json"]);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    let outputs: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["output"])
        .collect();
    assert!(outputs.contains(&&Value::String(small)), "{}", out.stdout);
    assert!(
        outputs
            .iter()
            .any(|o| o["llm_do_truncated"]["bytes"] == 5002),
        "{}",
        out.stdout
    );
}
