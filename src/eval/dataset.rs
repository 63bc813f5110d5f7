//! `llm-do dataset NAME`: cases from the run log. Each distinct input NAME saw (successful
//! calls only) becomes a case whose `expected` is its most frequent output; an input that got
//! different outputs is marked `"disputed": true`, for a person to settle.

use serde_json::{Value, json};

use crate::log::CallRow;
use crate::stats::{input_key, output_key};

/// One distinct input, its outputs and how often each came.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub input: Value,
    /// Distinct outputs with counts, in the order first seen.
    pub outputs: Vec<(Value, usize)>,
}

impl Entry {
    /// The most frequent output (the first seen among equals).
    pub fn expected(&self) -> &Value {
        let mut best = &self.outputs[0];
        for o in &self.outputs[1..] {
            if o.1 > best.1 {
                best = o;
            }
        }
        &best.0
    }

    pub fn disputed(&self) -> bool {
        self.outputs.len() > 1
    }

    /// The case line: `{"input", "expected"}` and `"disputed": true` when it is.
    pub fn to_case(&self) -> Value {
        let mut v = json!({"input": self.input, "expected": self.expected()});
        if self.disputed() {
            v["disputed"] = Value::Bool(true);
        }
        v
    }
}

/// The distinct inputs of `rows` (any order; read oldest first), each with its outputs.
///
/// When the name is a worker's, only the worker's calls count: a fn of the same name (one
/// that shadows the worker under `[stabilize]`) is what the cases will grade, not a reference.
pub fn entries(rows: &[CallRow]) -> Vec<Entry> {
    let has_worker = rows.iter().any(|r| r.kind == "worker");
    let mut rows: Vec<&CallRow> = rows
        .iter()
        .filter(|r| !has_worker || r.kind == "worker")
        .filter(|r| r.error.is_none() && r.output.is_some())
        // A value too long to log is known only by its marker: no case can be made of it.
        .filter(|r| {
            !crate::log::is_truncated(&r.input)
                && !r.output.as_ref().is_some_and(crate::log::is_truncated)
        })
        .collect();
    rows.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then(a.run.cmp(&b.run))
            .then(a.id.cmp(&b.id))
    });
    let mut keys: Vec<String> = Vec::new();
    let mut out: Vec<Entry> = Vec::new();
    for r in rows {
        let Some(output) = &r.output else { continue };
        let key = input_key(&r.input);
        let i = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            keys.push(key);
            out.push(Entry {
                input: r.input.clone(),
                outputs: Vec::new(),
            });
            out.len() - 1
        });
        let outputs = &mut out[i].outputs;
        let ok = output_key(output);
        match outputs.iter_mut().find(|(o, _)| output_key(o) == ok) {
            Some(o) => o.1 += 1,
            None => outputs.push((output.clone(), 1)),
        }
    }
    out
}

/// The JSONL text of `entries`.
pub fn jsonl(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}\n", e.to_case()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let got = entries(&rows);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].outputs, vec![(json!("x"), 1), (json!("y "), 2)]);
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
            jsonl(&entries(&rows)),
            "{\"input\":\"a\",\"expected\":\"x\"}\n"
        );
        // A plain fn's calls are its cases.
        assert_eq!(entries(&rows[1..]).len(), 2);
    }
}
