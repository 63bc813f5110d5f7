//! `llm-do dataset NAME`: cases from the run log. Each distinct input NAME saw (successful
//! calls only) becomes a case whose `expected` is its most frequent output; an input that got
//! different outputs is marked `"disputed": true`, for a person to settle.

use std::collections::HashMap;

use crate::stats::{input_key_text, output_key_text};

/// One distinct input, its outputs and how often each came, as compact JSON text (the log's
/// own: a case line is written from it without parsing it).
pub use crate::log::aggregate::InputOutputs as Entry;

impl Entry {
    /// The most frequent output (the first seen among equals).
    pub fn expected(&self) -> &str {
        let best = self
            .outputs
            .iter()
            .reduce(|best, o| if o.1 > best.1 { o } else { best });
        best.map_or("null", |(output, _)| output)
    }

    pub fn disputed(&self) -> bool {
        self.outputs.len() > 1
    }

    /// The case line: `{"input", "expected"}` and `"disputed": true` when it is.
    pub fn to_case(&self) -> String {
        let disputed = if self.disputed() {
            ",\"disputed\":true"
        } else {
            ""
        };
        format!(
            "{{\"input\":{},\"expected\":{}{disputed}}}",
            self.input,
            self.expected()
        )
    }
}

/// Gathers entries from successful calls fed oldest first, as the log's JSON text: equal
/// inputs and outputs are found by their keys from the text (`stats::input_key_text`), and
/// only the first text of each input and output is parsed.
#[derive(Default)]
pub struct Collector {
    entries: Vec<Entry>,
    /// Input key → its entry.
    by_key: HashMap<String, usize>,
    /// Per entry: output key → index in that entry's outputs.
    outputs: Vec<HashMap<String, usize>>,
}

impl Collector {
    /// One successful call: its input and output as JSON text.
    pub fn push(&mut self, input: &str, output: &str) {
        let key = input_key_text(input);
        let i = match self.by_key.get(key.as_ref()) {
            Some(&i) => i,
            None => {
                self.entries.push(Entry {
                    input: input.to_string(),
                    outputs: Vec::new(),
                });
                self.outputs.push(HashMap::new());
                let i = self.entries.len() - 1;
                self.by_key.insert(key.into_owned(), i);
                i
            }
        };
        let key = output_key_text(output);
        match self.outputs[i].get(key.as_ref()) {
            Some(&o) => self.entries[i].outputs[o].1 += 1,
            None => {
                let outputs = &mut self.entries[i].outputs;
                outputs.push((output.to_string(), 1));
                self.outputs[i].insert(key.into_owned(), outputs.len() - 1);
            }
        }
    }

    /// The entries, in the order their inputs were first seen.
    pub fn finish(self) -> Vec<Entry> {
        self.entries
    }
}

/// The entries of the successful calls `filter` selects in the run log, oldest first (its
/// limit is not used). When the name is a worker's, only the worker's calls count: a fn of the
/// same name (one that shadows the worker under `[stabilize]`) is what the cases will grade,
/// not a reference. A
/// name's whole history is read from the log's aggregates (`log::aggregate`), a window or a
/// model from the calls ([`from_calls`]).
///
/// # Errors
///
/// The log cannot be read.
pub fn from_log(
    conn: &rusqlite::Connection,
    filter: &crate::log::CallFilter,
) -> Result<Vec<Entry>, crate::log::LogError> {
    if filter.is_whole_history()
        && let Some(name) = filter.name
        && let Some(entries) = crate::log::aggregate::inputs_of(conn, name)?
    {
        return Ok(entries);
    }
    from_calls(conn, filter)
}

/// [`from_log`] read from the calls `filter` selects, oldest first, without parsing each
/// call's JSON.
///
/// # Errors
///
/// The log cannot be read.
pub fn from_calls(
    conn: &rusqlite::Connection,
    filter: &crate::log::CallFilter,
) -> Result<Vec<Entry>, crate::log::LogError> {
    let (clause, values) = filter.clause();
    // When the name is a worker's, only the worker's calls count (see [`from_log`]).
    let of_worker = crate::log::and_term(&clause, "kind = 'worker'");
    let has_worker = conn
        .prepare(&format!("SELECT 1 FROM calls {of_worker} LIMIT 1"))?
        .exists(rusqlite::params_from_iter(values.iter()))?;
    let clause = if has_worker { of_worker } else { clause };
    let clause = crate::log::and_term(&clause, "error IS NULL AND output IS NOT NULL");
    let mut stmt = conn.prepare(&format!(
        "SELECT input, output FROM calls {clause} ORDER BY time, run, id"
    ))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut c = Collector::default();
    while let Some(r) = rows.next()? {
        if let Some((input, output)) = crate::log::logged_pair(r, 0)? {
            c.push(input, output);
        }
    }
    Ok(c.finish())
}

/// The JSONL text of `entries`.
pub fn jsonl(entries: &[Entry]) -> String {
    entries.iter().map(|e| e.to_case() + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::CallRow;
    use serde_json::{Value, json};

    fn row(id: i64, input: Value, output: Option<Value>) -> CallRow {
        CallRow {
            run: "r".into(),
            id,
            kind: "worker".into(),
            name: "w".into(),
            input,
            output,
            time: format!("2026-12-01T00:00:{id:02}.000Z"),
            ..CallRow::default()
        }
    }

    /// `rows` written to a fresh run log, then read back as `dataset` reads `name`: from the
    /// calls and from the aggregates, which must agree.
    fn entries(rows: &[CallRow], name: &str) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::log::open(&crate::log::path_in(dir.path())).unwrap();
        let text = |v: &Value| serde_json::to_string(v).unwrap();
        for r in rows {
            conn.execute(
                "INSERT INTO calls (run, id, depth, kind, name, input, output, error, time)
                 VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    r.run,
                    r.id,
                    r.kind,
                    r.name,
                    text(&r.input),
                    r.output.as_ref().map(text),
                    r.error,
                    r.time
                ],
            )
            .unwrap();
        }
        let filter = crate::log::CallFilter {
            name: Some(name),
            ..crate::log::CallFilter::default()
        };
        let got = from_calls(&conn, &filter).unwrap();
        assert_eq!(from_log(&conn, &filter).unwrap(), got);
        got
    }

    #[test]
    fn inputs_dedup_and_disputes_are_marked() {
        let rows = vec![
            row(3, json!({"input": "a"}), Some(json!("y"))),
            row(1, json!({"input": "a"}), Some(json!("x"))),
            row(2, json!({"input": "a"}), Some(json!("y "))),
            row(4, json!({"input": "b"}), Some(json!("z"))),
            row(5, json!({"input": "b"}), Some(json!("z"))),
            row(6, json!({"input": "c"}), None),
        ];
        let got = entries(&rows, "w");
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].outputs,
            vec![("\"x\"".to_string(), 1), ("\"y \"".to_string(), 2)]
        );
        assert_eq!(
            jsonl(&got),
            "{\"input\":{\"input\":\"a\"},\"expected\":\"y \",\"disputed\":true}\n{\"input\":{\"input\":\"b\"},\"expected\":\"z\"}\n"
        );
    }

    #[test]
    fn a_shadowing_fn_is_not_a_reference() {
        let fn_row = |id, input, output| CallRow {
            kind: "fn".into(),
            ..row(id, input, Some(output))
        };
        let rows = vec![
            row(1, json!("a"), Some(json!("x"))),
            fn_row(2, json!("a"), json!("y")),
            fn_row(3, json!("b"), json!("z")),
        ];
        assert_eq!(
            jsonl(&entries(&rows, "w")),
            "{\"input\":\"a\",\"expected\":\"x\"}\n"
        );
        // A plain fn's calls are its cases.
        assert_eq!(entries(&rows[1..], "w").len(), 2);
    }

    /// Runs of a worker `w`, the fn `w` that shadows it, and a fn or builtin `f`: equal inputs
    /// written two ways, outputs equal once trimmed, errors, truncation markers, several runs.
    fn write_runs(path: &std::path::Path, runs: u32, retention: crate::log::Retention) {
        use crate::model::Usage;
        use crate::trace::{CallEnd, CallStart, Kind, Observer};
        let marker = json!({"llm_do_truncated": {"bytes": 9, "head": "x"}});
        for r in 0..runs {
            let log = crate::log::RunLog::start(path, "llm-do run t", retention).unwrap();
            for i in 0..40_u32 {
                let (kind, name) = match i % 5 {
                    0 => (Kind::Symbolic, "w"),
                    // `f` is a fn in some runs and a builtin in others: its cases merge both.
                    1 if r % 2 == 0 => (Kind::Symbolic, "f"),
                    1 => (Kind::Builtin, "f"),
                    _ => (Kind::Neural, "w"),
                };
                let input = match (i + r) % 6 {
                    0 => json!("a"),
                    1 => json!({"input": "a"}),
                    2 => json!(null),
                    3 => json!({"x": i % 2}),
                    4 => marker.clone(),
                    _ => json!(format!("n{r}-{i}")),
                };
                let output = match (i * 7 + r) % 5 {
                    // The fn and the builtin `f` answer an input alike.
                    _ if name == "f" && i % 10 == 1 => Ok(json!("same")),
                    0 => Ok(json!(" x ")),
                    1 => Ok(json!("x")),
                    2 => Ok(json!(["y", r % 2])),
                    3 => Err("boom".to_string()),
                    _ if i % 2 == 0 => Ok(marker.clone()),
                    _ => Ok(json!("z")),
                };
                let id = log.call_start(&CallStart {
                    depth: 0,
                    parent: None,
                    kind,
                    name,
                    input: &input,
                });
                log.call_end(
                    id,
                    &CallEnd {
                        depth: 0,
                        name,
                        elapsed: std::time::Duration::from_micros(u64::from((i * 37 + r) % 23)),
                        usage: Usage {
                            input_tokens: u64::from(i),
                            output_tokens: 2,
                            ..Usage::default()
                        },
                        cost: None,
                        result: output.as_ref().map_err(String::clone),
                    },
                );
            }
            log.finish().unwrap();
        }
    }

    /// What the aggregates answer equals what reading every call answers, for `stats` and
    /// for `dataset` of a worker's name and a fn's; and they stay equal once pruning deleted
    /// runs. (The aggregates must have been used, not the calls read twice.)
    #[test]
    fn aggregates_answer_as_the_calls_do() {
        use crate::log::{CallFilter, aggregate};
        let dir = tempfile::tempdir().unwrap();
        let path = crate::log::path_in(dir.path());
        let check = |conn: &rusqlite::Connection, disputes: bool| {
            let all = CallFilter::default();
            assert!(aggregate::name_figures(conn).unwrap().is_some());
            let stats = crate::stats::from_log(conn, &all).unwrap();
            assert_eq!(stats, crate::stats::from_calls(conn, &all).unwrap());
            for name in ["w", "f"] {
                let one = CallFilter {
                    name: Some(name),
                    ..all
                };
                assert!(aggregate::inputs_of(conn, name).unwrap().is_some());
                let got = from_log(conn, &one).unwrap();
                assert_eq!(got, from_calls(conn, &one).unwrap(), "{name}");
                assert!(!disputes || got.iter().any(Entry::disputed), "{name}");
            }
            stats
        };
        write_runs(&path, 4, crate::log::Retention::default());
        let conn = crate::log::open(&path).unwrap();
        let before = check(&conn, true);
        let kinds: Vec<(&str, &str, usize)> = before
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_str(), r.calls))
            .collect();
        assert_eq!(
            kinds,
            [
                ("f", "builtin", 16),
                ("f", "symbolic", 16),
                ("w", "neural", 96),
                ("w", "symbolic", 32)
            ]
        );
        // A run that keeps the log under a size it is far past deletes the older runs.
        let tiny = crate::log::Retention {
            days: None,
            max_mb: Some(0.000_001),
        };
        write_runs(&path, 1, tiny);
        let after = check(&conn, false);
        assert!(after[2].calls < before[2].calls, "{after:?}");
    }
}
