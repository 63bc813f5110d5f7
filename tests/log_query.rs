//! Reading the run log at scale (issue 33): windows (`--since`, `--until`), full-text search
//! (`logs --query`), the `--model` filter, retention by size (`[log] max_mb`, whole runs only),
//! and a log of schema 3 read by this binary.

use serde_json::{Value, json};

use crate::util::Test;

pub(crate) fn project() -> Test {
    Test::new().worker("greeter", "---\nmodel: test\n---\nGreet.\n")
}

pub(crate) fn db(t: &Test) -> rusqlite::Connection {
    rusqlite::Connection::open(t.path().join(".llm-do/log.db")).unwrap()
}

/// The inputs of the calls a `logs --json` command lists, newest first.
pub(crate) fn inputs(t: &Test, args: &[&str]) -> Vec<String> {
    let mut all = vec!["logs", "--json", "-n", "100"];
    all.extend_from_slice(args);
    let out = t.run_with(&all);
    out.status(0);
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["input"]["input"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Greet `who` in runs of its own, then move that run's calls and row `days` back in time.
fn greet_days_ago(t: &Test, who: &[&str], days: u32) {
    for w in who {
        t.run_with(&["run", "greeter", w]).status(0);
    }
    if days > 0 {
        let shift = format!("-{days} days");
        let conn = db(t);
        for (table, column) in [("calls", "time"), ("runs", "started")] {
            conn.execute(
                &format!(
                    "UPDATE {table} SET {column} = strftime('%Y-%m-%dT%H:%M:%fZ', {column}, ?1)
                     WHERE {column} > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')"
                ),
                [&shift],
            )
            .unwrap();
        }
    }
}

#[test]
fn windows_narrow_logs_stats_and_dataset() {
    let t = project();
    greet_days_ago(&t, &["Old Ada", "Old Ada"], 10);
    greet_days_ago(&t, &["New Grace"], 0);
    assert_eq!(inputs(&t, &[]), ["New Grace", "Old Ada", "Old Ada"]);
    assert_eq!(inputs(&t, &["--since", "7d"]), ["New Grace"]);
    assert_eq!(inputs(&t, &["--until", "7d"]), ["Old Ada", "Old Ada"]);
    assert_eq!(
        inputs(&t, &["--since", "2000-01-01", "--until", "3h"]).len(),
        2
    );
    let runs = t.run_with(&["logs", "--runs", "--json", "--since", "1d"]);
    runs.status(0);
    assert_eq!(runs.json().as_array().unwrap().len(), 1);

    // `stats` reads the window and says which one.
    let out = t.run_with(&["stats", "--json", "--since", "7d"]);
    out.status(0);
    let stats = out.json();
    assert!(stats["window"]["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(stats["window"]["until"], Value::Null);
    let calls = |s: &Value| s["names"][0]["calls"].clone();
    assert_eq!(calls(&stats), json!(1));
    let all = t.run_with(&["stats", "--json"]);
    assert_eq!(calls(&all.json()), json!(3));
    assert_eq!(all.json()["names"][0]["repeated_inputs"], json!(1));
    let text = t.run_with(&[
        "stats",
        "--since",
        "2026-01-01T00:00:00+01:00",
        "--until",
        "1d",
    ]);
    text.status(0);
    let first = text.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("calls from 2025-12-31T23:00:00.000Z to 20"),
        "{}",
        text.stdout
    );

    // `dataset` too: only the new input, and a note of the window on stderr.
    let out = t.run_with(&["dataset", "greeter", "--until", "7d"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "{\"input\":{\"input\":\"Old Ada\"},\"expected\":\"test reply: Old Ada\"}\n"
    );
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @"read calls before [TIME]");
    });
    let none = t.run_with(&["dataset", "greeter", "--since", "1h", "--model", "gpt-x"]);
    none.status(2);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(none.stderr, @r"
            error: the run log has no successful call of `greeter` among calls since [TIME] (model gpt-x)
              hint: run it first, or check the name with `llm-do logs`
            ");
    });
}

#[test]
fn a_bad_time_is_a_usage_error() {
    let t = project();
    greet_days_ago(&t, &["Ada"], 0);
    let out = t.run_with(&["logs", "--since", "yesterday"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: `yesterday` is not a time: give a duration back from now (`30m`, `3h`, `7d`, `2w`) or an RFC 3339 timestamp (`2026-12-01T09:30:00Z`, `2026-12-01`)\n"
    );
    // A window reads the log; trace files have their own times.
    let out = t.run_with(&["stats", "t.jsonl", "--since", "1d"]);
    out.status(2);
}

/// A second name after `logs NAME` is refused, with the usage (not a filter silently dropped).
#[test]
fn a_second_name_is_a_usage_error() {
    let t = project();
    greet_days_ago(&t, &["Ada"], 0);
    let out = t.run_with(&["logs", "greeter", "extra"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: unexpected `extra` after `logs greeter`\n  hint: usage: `llm-do logs [NAME]` or `llm-do logs show RUN:ID`\n"
    );
}

#[test]
fn query_searches_inputs_and_outputs_and_catches_up() {
    let t = project();
    greet_days_ago(&t, &["Ada Lovelace", "Grace Hopper"], 0);
    assert_eq!(inputs(&t, &["--query", "lovelace"]), ["Ada Lovelace"]);
    // Every word must appear, in the input or the output; words are not query syntax.
    assert_eq!(inputs(&t, &["--query", "reply hopper"]), ["Grace Hopper"]);
    assert!(inputs(&t, &["--query", "ada hopper"]).is_empty());
    assert!(inputs(&t, &["--query", "\"ada OR"]).is_empty());
    assert_eq!(inputs(&t, &["--search", "test reply"]).len(), 2);
    // Calls logged after a search are found by the next one.
    greet_days_ago(&t, &["Ada Byron"], 0);
    assert_eq!(
        inputs(&t, &["--query", "ada"]),
        ["Ada Byron", "Ada Lovelace"]
    );
    // With the other filters.
    let one = t.run_with(&["logs", "greeter", "--query", "ada", "-n", "1", "--json"]);
    assert_eq!(one.json().as_array().unwrap().len(), 1);
    assert_eq!(inputs(&t, &["--query", "ada", "--model", "test"]).len(), 2);
    assert!(inputs(&t, &["--query", "ada", "--model", "other"]).is_empty());
    // The text listing.
    let out = t.run_with(&["logs", "--query", "byron"]);
    out.status(0);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stdout, @r#"
            [TIME]  [RUN]:1  worker  greeter  [T] ms 4+6 tok  → "test reply: Ada Byron"
            "#);
    });
}

#[test]
fn the_log_is_kept_under_max_mb_by_whole_runs() {
    // Each run logs three calls of 64 kB of input (and as much output): about 0.4 MB a run.
    let t = project().config("[log]\nmax_mb = 1\n").file(
        "three.rhai",
        "let s = \"x\"; for i in 0..16 { s += s; } for i in 0..3 { call(\"greeter\", `${i} ${s}`); }",
    );
    for _ in 0..8 {
        t.run_with(&["three.rhai"]).status(0);
    }
    let conn = db(&t);
    let per_run: Vec<(String, i64)> = conn
        .prepare(
            "SELECT r.id, (SELECT count(*) FROM calls c WHERE c.run = r.id) FROM runs r
             ORDER BY r.started",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Pruned as each run opened the log: what is left is under the limit plus the last run,
    // and every run left has all its calls.
    assert!(per_run.len() >= 2 && per_run.len() < 5, "{per_run:?}");
    assert!(per_run.iter().all(|(_, n)| *n == 3), "{per_run:?}");
    let orphans: i64 = conn
        .query_row(
            "SELECT count(*) FROM calls WHERE run NOT IN (SELECT id FROM runs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let used: i64 = conn
        .query_row(
            "SELECT (page_count - freelist_count) * page_size
             FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(used < 1_600_000, "{used}");
}

/// A log written by an older llm-do (schema 3) is read, searched and summed by this one.
#[test]
fn a_schema_3_log_is_migrated_and_read() {
    let t = project();
    std::fs::create_dir_all(t.path().join(".llm-do")).unwrap();
    let conn = db(&t);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT, command TEXT NOT NULL,
            status TEXT, calls_dropped INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE calls (
            run TEXT NOT NULL, id INTEGER NOT NULL, parent INTEGER, depth INTEGER NOT NULL,
            kind TEXT NOT NULL, name TEXT NOT NULL, input TEXT, output TEXT, error TEXT, model TEXT,
            tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0, cache_write INTEGER NOT NULL DEFAULT 0,
            cost REAL, ms REAL, time TEXT NOT NULL, PRIMARY KEY (run, id));
        CREATE INDEX calls_by_name ON calls (name, time);
        CREATE TABLE switch_events (
            run TEXT NOT NULL, name TEXT NOT NULL, mode TEXT NOT NULL, served TEXT NOT NULL,
            deferred INTEGER NOT NULL, agreed INTEGER, fields TEXT, input TEXT, worker_output TEXT,
            code_output TEXT, time TEXT NOT NULL);
        CREATE TABLE approvals (
            run TEXT NOT NULL, parent INTEGER, tool TEXT NOT NULL, input TEXT,
            decision TEXT NOT NULL, reason TEXT, time TEXT NOT NULL, decided_by TEXT,
            rule INTEGER);
        CREATE TABLE chat_messages (
            conversation TEXT NOT NULL, seq INTEGER NOT NULL, turn INTEGER NOT NULL,
            run TEXT NOT NULL, worker TEXT NOT NULL, message TEXT NOT NULL, time TEXT NOT NULL,
            PRIMARY KEY (conversation, seq));
        INSERT INTO runs VALUES ('0190000000000abcdef12', '2026-11-01T10:00:00.000Z',
            '2026-11-01T10:00:01.000Z', 'llm-do run greeter Edsger', 'ok', 0);
        INSERT INTO calls VALUES ('0190000000000abcdef12', 1, NULL, 0, 'worker', 'greeter',
            '{\"input\":\"Edsger\"}', '\"test reply: Edsger\"', NULL, 'test', 5, 7, 0, 0, 0.5,
            3.0, '2026-11-01T10:00:00.500Z');
        PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(inputs(&t, &[]), ["Edsger"]);
    assert_eq!(inputs(&t, &["--query", "edsger"]), ["Edsger"]);
    assert_eq!(inputs(&t, &["--until", "2026-11-02"]), ["Edsger"]);
    let conn = db(&t);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 5, "{version}");
    // The documented views read the old rows.
    let day: (String, i64, f64) = conn
        .query_row(
            "SELECT day, calls, cost FROM cost_per_name_day WHERE name = 'greeter'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(day, ("2026-11-01".to_string(), 1, 0.5));
    let run: (i64, i64) = conn
        .query_row("SELECT calls, tokens_out FROM run_summary", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(run, (1, 7));
}

/// `[log] retain_days` deletes an old run whole: its switch events go with its calls (they
/// stayed behind, so a switch's agreement still counted runs the log no longer had).
#[test]
fn retention_by_age_deletes_a_runs_switch_events_too() {
    let t = Test::new()
        .config("[stabilize]\ngreeter = \"shadow\"\n")
        .worker("greeter", "---\nmodel: test\n---\nGreet.\n")
        .script(
            "greeter",
            "/// Greet.\nfn greeter(input) { `test reply: ${input}` }\n",
        );
    t.run_with(&["run", "greeter", "Old Ada"]).status(0);
    let conn = db(&t);
    let events = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM switch_events", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(events(&conn), 1);
    for (table, column) in [
        ("calls", "time"),
        ("runs", "started"),
        ("switch_events", "time"),
    ] {
        conn.execute(
            &format!(
                "UPDATE {table} SET {column} = strftime('%Y-%m-%dT%H:%M:%fZ', {column}, '-10 days')"
            ),
            [],
        )
        .unwrap();
    }
    drop(conn);
    std::fs::write(
        t.path().join("llm-do.toml"),
        "[stabilize]\ngreeter = \"shadow\"\n\n[log]\nretain_days = 7\n",
    )
    .unwrap();
    t.run_with(&["run", "greeter", "New Grace"]).status(0);
    let conn = db(&t);
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!((runs, events(&conn)), (1, 1));
    let input: String = conn
        .query_row("SELECT input FROM switch_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(input, r#""New Grace""#);
}
