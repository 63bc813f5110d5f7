//! `llm-do stats TRACE...`: the "observe" step of stabilizing (DESIGN §8). Per worker and fn:
//! calls, tokens, latency, error rate, and how many distinct outputs equal inputs produced. A
//! worker that always answers the same for equal inputs is a candidate for a Rhai fn.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::call::normalize_input;
use crate::log::aggregate::rank;
pub use crate::log::aggregate::{input_key_text, output_key, output_key_text};
use crate::trace::read::CallRecord;

/// The figures of one name.
pub use crate::log::aggregate::NameFigures as Row;

/// Canonical text of an input (a lone value and `{input: v}` are the same input).
pub fn input_key(input: &Value) -> String {
    normalize_input(input.clone()).to_string()
}

/// Nearest-rank percentile `q` (0 to 1) of sorted values; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as u64;
    #[allow(clippy::cast_possible_truncation)]
    sorted.get(rank(q, n) as usize - 1).copied().unwrap_or(0.0)
}

/// Figures per name and kind, sorted by name (then kind). A worker and the fn that shadows it
/// under `[stabilize] NAME` share a name but are two rows: the fn's outputs must not count as
/// the worker's (they would hide that the worker answers each input one way).
pub fn summarize(calls: &[CallRecord]) -> Vec<Row> {
    let mut by_name: Tallies = HashMap::new();
    for c in calls {
        let tally = Tally::of(&mut by_name, &c.name, &c.kind);
        tally.call(c.ms, c.tokens_in, c.tokens_out, c.result.is_ok());
        // A value too long to log equals nothing: it says nothing of consistency.
        if let Ok(out) = &c.result
            && !crate::log::is_truncated(&c.input)
            && !crate::log::is_truncated(out)
        {
            tally.pair(input_key(&c.input).into(), output_key(out).into());
        }
    }
    into_rows(by_name)
}

/// What [`summarize`] and [`from_calls`] gather of one name and kind.
#[derive(Default)]
struct Tally {
    kind: String,
    calls: usize,
    errors: usize,
    tokens_in: u64,
    tokens_out: u64,
    ms: Vec<f64>,
    /// Input key → (successful calls, distinct output keys).
    seen: HashMap<String, (usize, HashSet<String>)>,
}

/// Tallies by name and kind.
type Tallies = HashMap<(String, String), Tally>;

impl Tally {
    /// The tally of `name` and `kind` in `by_name`, started when missing.
    fn of<'a>(by_name: &'a mut Tallies, name: &str, kind: &str) -> &'a mut Tally {
        by_name
            .entry((name.to_string(), kind.to_string()))
            .or_insert_with(|| Tally {
                kind: kind.to_string(),
                ..Tally::default()
            })
    }

    /// Count one call: its latency, its tokens and whether it succeeded.
    fn call(&mut self, ms: f64, tokens_in: u64, tokens_out: u64, ok: bool) {
        self.calls += 1;
        self.ms.push(ms);
        self.tokens_in += tokens_in;
        self.tokens_out += tokens_out;
        self.errors += usize::from(!ok);
    }

    /// Count a successful call's input and output, by their keys.
    fn pair(&mut self, input: Cow<'_, str>, output: Cow<'_, str>) {
        let entry = match self.seen.get_mut(input.as_ref()) {
            Some(e) => e,
            None => self.seen.entry(input.into_owned()).or_default(),
        };
        entry.0 += 1;
        if !entry.1.contains(output.as_ref()) {
            entry.1.insert(output.into_owned());
        }
    }

    /// The name's figures.
    fn row(mut self, name: String) -> Row {
        self.ms.sort_by(f64::total_cmp);
        let seen = self.seen;
        Row {
            name,
            kind: self.kind,
            calls: self.calls,
            errors: self.errors,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            p50_ms: percentile(&self.ms, 0.5),
            p90_ms: percentile(&self.ms, 0.9),
            max_ms: self.ms.last().copied().unwrap_or(0.0),
            distinct_inputs: seen.len(),
            repeated_inputs: seen.values().filter(|(n, _)| *n > 1).count(),
            max_outputs_per_input: seen.values().map(|(_, o)| o.len()).max().unwrap_or(0),
        }
    }
}

/// The rows of `by_name`, sorted by name, then kind.
fn into_rows(by_name: Tallies) -> Vec<Row> {
    sorted(by_name.into_iter().map(|((n, _), t)| t.row(n)).collect())
}

/// `rows` sorted by name, then kind.
fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.kind.cmp(&b.kind)));
    rows
}

/// Figures per name, sorted by name, of the calls in the run log that `filter` selects (its
/// limit is not used): the same figures [`summarize`] gives for those calls as trace records.
/// The whole history is read from the log's per-name aggregates (`log::aggregate`), a window
/// or a model from the calls ([`from_calls`]).
///
/// # Errors
///
/// The log cannot be read.
pub fn from_log(
    conn: &rusqlite::Connection,
    filter: &crate::log::CallFilter,
) -> Result<Vec<Row>, crate::log::LogError> {
    if filter.is_whole_history() && filter.name.is_none() {
        if let Some(figures) = crate::log::aggregate::name_figures(conn)? {
            let rows = figures.into_iter().map(|f| Row {
                kind: trace_kind(&f.kind),
                ..f
            });
            return Ok(sorted(rows.collect()));
        }
    }
    from_calls(conn, filter)
}

/// [`from_log`] read from the calls `filter` selects, in one pass without parsing each call's
/// JSON.
///
/// # Errors
///
/// The log cannot be read.
pub fn from_calls(
    conn: &rusqlite::Connection,
    filter: &crate::log::CallFilter,
) -> Result<Vec<Row>, crate::log::LogError> {
    let (clause, values) = filter.clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT name, kind, input, output, error IS NULL AND output IS NOT NULL, ms, tokens_in,
                tokens_out FROM calls {clause}"
    ))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    // Keyed by name and kind: a worker and the fn shadowing it are two rows (see [`summarize`]).
    let mut by_name: Tallies = HashMap::new();
    while let Some(r) = rows.next()? {
        let name = r.get_ref(0)?.as_str().unwrap_or_default();
        let kind = trace_kind(r.get_ref(1)?.as_str().unwrap_or_default());
        let tally = Tally::of(&mut by_name, name, &kind);
        let tokens = |i| r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        let ms = r.get::<_, Option<f64>>(5)?.unwrap_or(0.0);
        let ok = r.get::<_, bool>(4)?;
        tally.call(ms, tokens(6)?, tokens(7)?, ok);
        // A value too long to log equals nothing: it says nothing of consistency.
        if ok && let Some((input, output)) = crate::log::logged_pair(r, 2)? {
            tally.pair(input_key_text(input), output_key_text(output));
        }
    }
    Ok(into_rows(by_name))
}

/// A kind as the log writes it (`worker`, `fn`), as traces name it (`neural`, `symbolic`).
pub fn trace_kind(kind: &str) -> String {
    match kind {
        "worker" => "neural",
        "fn" => "symbolic",
        other => other,
    }
    .to_string()
}

/// The text report: a table (names and kinds left-aligned, figures right-aligned), then the
/// candidates.
fn render_text(rows: &[Row]) -> String {
    let header =
        "name|kind|calls|errors|tokens in|tokens out|p50 ms|p90 ms|max ms|inputs|outputs/input";
    let mut table: Vec<Vec<String>> = vec![header.split('|').map(str::to_owned).collect()];
    table.extend(rows.iter().map(|r| {
        vec![
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
        ]
    }));
    let mut out = crate::output::table(&table, 2);
    for (i, r) in rows.iter().filter(|r| r.is_candidate()).enumerate() {
        if i == 0 {
            out.push_str("\nstabilization candidates:\n");
        }
        let _ = writeln!(
            out,
            "  `{}`: {} calls, {} distinct inputs, always the same output per input → candidate for a Rhai fn",
            r.name, r.calls, r.distinct_inputs
        );
    }
    out
}

/// The per-name report: a table and the candidates as text, one object per name as JSON.
#[derive(Debug, Clone)]
pub struct Names(pub Vec<Row>);

/// As JSON: one object per name.
impl serde::Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| {
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
        }))
    }
}

impl crate::output::Show for Names {
    fn text(&self) -> String {
        render_text(&self.0)
    }
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

    /// The text forms give the keys the values give, for values as the log writes them.
    #[test]
    fn keys_from_text_are_the_keys_of_the_values() {
        let values = [
            json!("a"),
            json!(" a "),
            json!("a\n"),
            json!("\ta"),
            json!("say \"hi\""),
            json!("\u{3000}wide\u{3000}"),
            json!(""),
            json!(" "),
            json!("x"),
            json!(null),
            json!(3),
            json!(2.5),
            json!([1, " a "]),
            json!({"input": "a"}),
            json!({"b": 1, "a": [true, null]}),
        ];
        for v in &values {
            let text = v.to_string();
            assert_eq!(input_key_text(&text), input_key(v), "{text}");
            assert_eq!(output_key_text(&text), output_key(v), "{text}");
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
        assert!(render_text(&rows).ends_with(
            "\nstabilization candidates:\n  `w`: 4 calls, 2 distinct inputs, always the same output per input → candidate for a Rhai fn\n"
        ));
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
