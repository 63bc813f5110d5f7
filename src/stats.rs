//! `llm-do stats TRACE...`: the "observe" step of stabilizing (DESIGN §8). Per worker and fn:
//! calls, tokens, latency, error rate, and how many distinct outputs equal inputs produced. A
//! worker that always answers the same for equal inputs is a candidate for a Rhai fn.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::call::normalize_input;
use crate::trace::read::CallRecord;

/// The figures of one name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// `neural`, `symbolic` or `builtin`.
    pub kind: String,
    pub calls: usize,
    pub errors: usize,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
    /// Distinct inputs among successful calls.
    pub distinct_inputs: usize,
    /// Inputs seen more than once (successful calls only).
    pub repeated_inputs: usize,
    /// The most distinct outputs any one input produced.
    pub max_outputs_per_input: usize,
}

impl Row {
    /// Errors as a share of calls, 0 to 1.
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }

    /// A worker whose equal inputs always gave the same output (seen at least twice).
    pub fn is_candidate(&self) -> bool {
        self.kind == "neural" && self.repeated_inputs > 0 && self.max_outputs_per_input == 1
    }
}

/// Canonical text of an input (a lone value and `{input: v}` are the same input).
pub fn input_key(input: &Value) -> String {
    normalize_input(input.clone()).to_string()
}

/// Canonical text of an output: strings are compared trimmed.
pub fn output_key(output: &Value) -> String {
    match output {
        Value::String(s) => Value::String(s.trim().to_string()).to_string(),
        other => other.to_string(),
    }
}

/// Nearest-rank percentile `q` (0 to 1) of sorted values; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Figures per name and kind, sorted by name (then kind). A worker and the fn that shadows it
/// under `[stabilize] NAME` share a name but are two rows: the fn's outputs must not count as
/// the worker's (they would hide that the worker answers each input one way).
pub fn summarize(calls: &[CallRecord]) -> Vec<Row> {
    let mut by_name: BTreeMap<(&str, &str), Vec<&CallRecord>> = BTreeMap::new();
    for c in calls {
        by_name
            .entry((c.name.as_str(), c.kind.as_str()))
            .or_default()
            .push(c);
    }
    by_name
        .into_iter()
        .map(|((name, _), calls)| row(name, &calls))
        .collect()
}

fn row(name: &str, calls: &[&CallRecord]) -> Row {
    let mut ms: Vec<f64> = calls.iter().map(|c| c.ms).collect();
    ms.sort_by(f64::total_cmp);
    // input → (times seen, distinct outputs)
    let mut seen: BTreeMap<String, (usize, BTreeMap<String, ()>)> = BTreeMap::new();
    for c in calls {
        if let Ok(out) = &c.result {
            // A value too long to log equals nothing: it says nothing of consistency.
            if crate::log::is_truncated(&c.input) || crate::log::is_truncated(out) {
                continue;
            }
            let entry = seen.entry(input_key(&c.input)).or_default();
            entry.0 += 1;
            entry.1.insert(output_key(out), ());
        }
    }
    Row {
        name: name.to_string(),
        kind: calls.first().map(|c| c.kind.clone()).unwrap_or_default(),
        calls: calls.len(),
        errors: calls.iter().filter(|c| c.result.is_err()).count(),
        tokens_in: calls.iter().map(|c| c.tokens_in).sum(),
        tokens_out: calls.iter().map(|c| c.tokens_out).sum(),
        p50_ms: percentile(&ms, 0.5),
        p90_ms: percentile(&ms, 0.9),
        max_ms: ms.last().copied().unwrap_or(0.0),
        distinct_inputs: seen.len(),
        repeated_inputs: seen.values().filter(|(n, _)| *n > 1).count(),
        max_outputs_per_input: seen.values().map(|(_, o)| o.len()).max().unwrap_or(0),
    }
}

/// The stabilization hints, one line per candidate.
pub fn candidates(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.is_candidate())
        .map(|r| {
            format!(
                "`{}`: {} calls, {} distinct inputs, always the same output per input → candidate for a Rhai fn",
                r.name, r.calls, r.distinct_inputs
            )
        })
        .collect()
}

/// The text report: a table, then the candidates.
pub fn render_text(rows: &[Row]) -> String {
    let header = [
        "name",
        "kind",
        "calls",
        "errors",
        "tokens in",
        "tokens out",
        "p50 ms",
        "p90 ms",
        "max ms",
        "inputs",
        "outputs/input",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_string()).collect()];
    for r in rows {
        table.push(vec![
            r.name.clone(),
            r.kind.clone(),
            r.calls.to_string(),
            format!("{:.0}%", r.error_rate() * 100.0),
            r.tokens_in.to_string(),
            r.tokens_out.to_string(),
            format!("{:.1}", r.p50_ms),
            format!("{:.1}", r.p90_ms),
            format!("{:.1}", r.max_ms),
            r.distinct_inputs.to_string(),
            r.max_outputs_per_input.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &table {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let hints = candidates(rows);
    if !hints.is_empty() {
        out.push_str("\nstabilization candidates:\n");
        for h in hints {
            out.push_str("  ");
            out.push_str(&h);
            out.push('\n');
        }
    }
    out
}

/// The JSON report: one object per name.
pub fn to_json(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "kind": r.kind,
                    "calls": r.calls,
                    "errors": r.errors,
                    "error_rate": r.error_rate(),
                    "tokens": {"in": r.tokens_in, "out": r.tokens_out},
                    "latency_ms": {"p50": r.p50_ms, "p90": r.p90_ms, "max": r.max_ms},
                    "distinct_inputs": r.distinct_inputs,
                    "repeated_inputs": r.repeated_inputs,
                    "max_outputs_per_input": r.max_outputs_per_input,
                    "candidate": r.is_candidate(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, input: Value, out: Result<Value, String>, ms: f64) -> CallRecord {
        CallRecord {
            name: name.into(),
            kind: "neural".into(),
            input,
            result: out,
            ms,
            tokens_in: 10,
            tokens_out: 2,
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.9), 9.0);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn equal_inputs_with_equal_outputs_make_a_candidate() {
        let calls = vec![
            call("w", json!("a"), Ok(json!("x")), 1.0),
            call("w", json!({"input": "a"}), Ok(json!(" x ")), 3.0),
            call("w", json!("b"), Ok(json!("y")), 2.0),
            call("w", json!("c"), Err("boom".into()), 9.0),
            call("v", json!("a"), Ok(json!("1")), 1.0),
            call("v", json!("a"), Ok(json!("2")), 1.0),
        ];
        let rows = summarize(&calls);
        let w = &rows[1];
        assert_eq!((w.calls, w.errors, w.distinct_inputs), (4, 1, 2));
        assert_eq!((w.repeated_inputs, w.max_outputs_per_input), (1, 1));
        assert_eq!((w.tokens_in, w.p50_ms, w.max_ms), (40, 2.0, 9.0));
        assert!(w.is_candidate());
        assert!(!rows[0].is_candidate());
        assert_eq!(rows[0].max_outputs_per_input, 2);
        assert_eq!(
            candidates(&rows),
            vec![
                "`w`: 4 calls, 2 distinct inputs, always the same output per input → candidate for a Rhai fn"
            ]
        );
    }

    #[test]
    fn a_worker_and_its_shadowing_fn_are_two_rows() {
        let fn_call = |input: Value, out: Value| CallRecord {
            kind: "symbolic".into(),
            ..call("w", input, Ok(out), 0.1)
        };
        let calls = vec![
            call("w", json!("a"), Ok(json!("x")), 1.0),
            fn_call(json!("a"), json!("not x")),
            call("w", json!("a"), Ok(json!("x")), 1.0),
            fn_call(json!("a"), json!("not x")),
        ];
        let rows = summarize(&calls);
        let kinds: Vec<(&str, usize, usize)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.calls, r.max_outputs_per_input))
            .collect();
        assert_eq!(kinds, [("neural", 2, 1), ("symbolic", 2, 1)]);
        assert!(rows[0].is_candidate());
    }
}
