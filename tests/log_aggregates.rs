//! The run log's per-name aggregates (schema 6): full-history `stats` and `dataset` read them
//! instead of every call, and answer exactly what reading the calls answers. Runs do not
//! write them; the readers fold in what was written since they last read.

use serde_json::{Value, json};

use crate::util::Test;

fn project() -> Test {
    Test::new().worker("greeter", "---\nmodel: test\n---\nGreet.\n")
}

fn db(t: &Test) -> rusqlite::Connection {
    rusqlite::Connection::open(t.path().join(".llm-do/log.db")).unwrap()
}

/// stdout of a command that succeeds.
fn stdout(t: &Test, args: &[&str]) -> String {
    let out = t.run_with(args);
    out.status(0);
    out.stdout.clone()
}

/// The per-name figures of `stats --json` with `args`.
fn names(t: &Test, args: &[&str]) -> Value {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let out = t.run_with(&all);
    out.status(0);
    out.json()["names"].clone()
}

/// The whole history (`stats`, `dataset NAME`) is answered from the aggregates, and gives
/// what a window over every call (which reads the calls) gives. Runs leave the aggregates
/// alone; a reader folds in the calls written since, by llm-do or another program.
#[test]
fn full_history_is_read_from_the_aggregates_and_equals_the_calls() {
    let t = project();
    for who in ["Ada", "Grace", "Ada"] {
        t.run_with(&["run", "greeter", who]).status(0);
    }
    let folded = |t: &Test| -> i64 {
        db(t)
            .query_row("SELECT coalesce(sum(calls), 0) FROM agg_names", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(folded(&t), 0, "runs do not write the aggregates");
    let all = ["--since", "2000-01-01"];
    let whole = names(&t, &[]);
    assert_eq!(whole, names(&t, &all));
    assert_eq!(
        (
            &whole[0]["calls"],
            &whole[0]["distinct_inputs"],
            &whole[0]["repeated_inputs"],
            &whole[0]["candidate"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(true))
    );
    let cases = "{\"input\":{\"input\":\"Ada\"},\"expected\":\"test reply: Ada\"}\n\
                 {\"input\":{\"input\":\"Grace\"},\"expected\":\"test reply: Grace\"}\n";
    assert_eq!(stdout(&t, &["dataset", "greeter"]), cases);
    assert_eq!(
        stdout(&t, &["dataset", "greeter", "--since", "2000-01-01", "-q"]),
        cases
    );

    // What the writer kept: one row per name and kind, one per (input, output).
    let conn = db(&t);
    let figures: (String, String, i64, i64) = conn
        .query_row("SELECT name, kind, calls, errors FROM agg_names", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(figures, ("greeter".into(), "worker".into(), 3, 0));
    let pairs: Vec<(String, i64)> = conn
        .prepare("SELECT input_key, calls FROM agg_outputs ORDER BY first_time")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        pairs,
        [
            ("{\"input\":\"Ada\"}".to_string(), 2),
            ("{\"input\":\"Grace\"}".to_string(), 1)
        ]
    );
    // The whole history is read from them: a sum changed there shows (a window does not).
    let tokens = whole[0]["tokens"]["in"].as_u64().unwrap();
    conn.execute("UPDATE agg_names SET tokens_in = tokens_in + 1000", [])
        .unwrap();
    assert_eq!(names(&t, &[])[0]["tokens"]["in"], json!(tokens + 1000));
    assert_eq!(names(&t, &all)[0]["tokens"]["in"], json!(tokens));

    // A call another program appended is folded in by the next reader.
    conn.execute(
        "INSERT INTO calls (run, id, depth, kind, name, input, output, ms, time)
         VALUES ('elsewhere', 1, 0, 'worker', 'greeter', '{\"input\":\"Edsger\"}',
                 '\"hi\"', 1.0, '2030-01-01T00:00:00.000Z')",
        [],
    )
    .unwrap();
    assert_eq!(names(&t, &[])[0]["calls"], json!(4));
    assert_eq!(folded(&t), 4);
    assert!(
        stdout(&t, &["dataset", "greeter"])
            .ends_with("{\"input\":{\"input\":\"Edsger\"},\"expected\":\"hi\"}\n")
    );
}

/// A log of schema 5 gains the aggregates, built from its calls, when this binary opens it.
#[test]
fn a_schema_5_log_gains_aggregates_of_its_calls() {
    let t = project();
    for who in ["Ada", "Ada"] {
        t.run_with(&["run", "greeter", who]).status(0);
    }
    let conn = db(&t);
    conn.execute_batch(
        "DROP TABLE agg_names; DROP TABLE agg_outputs; DROP TABLE agg_state;
         DROP TABLE agg_latency; PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    let whole = names(&t, &[]);
    assert_eq!(whole, names(&t, &["--since", "2000-01-01"]));
    assert_eq!(whole[0]["calls"], json!(2));
    let conn = db(&t);
    let (version, calls): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), calls FROM agg_names",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, calls), (7, 2));
}
