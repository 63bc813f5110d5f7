//! Per-name aggregates of the run log (schema 6): what `stats` and `dataset` read over the
//! whole history instead of every call.
//!
//! - `agg_names`: per (name, kind), the calls, the failed calls (`error` set or no output),
//!   the token sums, and the consistency figures of `stats`: distinct inputs, inputs seen more
//!   than once, and the most distinct outputs of one input (over `agg_outputs`, kept as the
//!   pairs are upserted).
//! - `agg_outputs`: per (name, kind, input key, output key) of the successful calls whose input
//!   and output are not truncation markers, how many calls, and the first of them (time, run,
//!   id) with its input and output text (`NULL` when the text is its key).
//! - `agg_latency`: per (name, kind), how many calls took each latency (ms, a missing one as
//!   0): exact p50/p90/max, as a scan of the calls gives them, in one pass over distinct values.
//! - `agg_state`: the largest `calls` rowid the aggregates cover.
//!
//! Writing a run costs nothing more: the aggregates are kept by their readers. A reader folds
//! in the calls written since (`rowid > last`, by any program) before it reads ([`catch_up`]),
//! in one write transaction with its read, as `logs --query` fills its search index. Folding
//! into these keyed tables dirties pages all over them: done on the run's writer thread, it
//! made a run write 7 times the WAL of its call rows (docs/performance.md). A migration, and
//! pruning, rebuild them from the calls ([`rebuild`]).

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use serde_json::Value;

use super::marker::is_truncated_text;
use super::sql::{per_statement, sql_count as count};

/// The tables of schema 6 (docs/log-schema.md).
pub(super) const SCHEMA_6: &str = "
CREATE TABLE IF NOT EXISTS agg_names (
    name TEXT NOT NULL, kind TEXT NOT NULL, calls INTEGER NOT NULL, errors INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    distinct_inputs INTEGER NOT NULL DEFAULT 0, repeated_inputs INTEGER NOT NULL DEFAULT 0,
    max_outputs INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (name, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_outputs (
    name TEXT NOT NULL, kind TEXT NOT NULL, input_key TEXT NOT NULL, output_key TEXT NOT NULL,
    calls INTEGER NOT NULL, input TEXT, output TEXT,
    first_time TEXT NOT NULL, first_run TEXT NOT NULL, first_id INTEGER NOT NULL,
    PRIMARY KEY (name, kind, input_key, output_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_latency (
    name TEXT NOT NULL, kind TEXT NOT NULL, ms REAL NOT NULL, calls INTEGER NOT NULL,
    PRIMARY KEY (name, kind, ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_state (last INTEGER NOT NULL);
";

/// Canonical text of an output: strings are compared trimmed.
pub fn output_key(output: &Value) -> String {
    match output {
        Value::String(s) => Value::String(s.trim().to_string()).to_string(),
        other => other.to_string(),
    }
}

/// The canonical key of an input given as compact JSON text (as the run log keeps it), without
/// parsing it: an object is its own key, `null` is `{}`, and any other value `v` is
/// `{"input":v}` (a lone value and `{input: v}` are the same input).
pub fn input_key_text(json: &str) -> Cow<'_, str> {
    if json.starts_with('{') {
        Cow::Borrowed(json)
    } else if json == "null" {
        Cow::Borrowed("{}")
    } else {
        Cow::Owned(format!("{{\"input\":{json}}}"))
    }
}

/// [`output_key`] of an output given as compact JSON text, parsed only when it is a string
/// that may begin or end with white space (or an escape).
pub fn output_key_text(json: &str) -> Cow<'_, str> {
    let b = json.as_bytes();
    let plain = |c: u8| c.is_ascii_graphic() && c != b'\\';
    let trimmed = b.len() >= 3 && plain(b[1]) && plain(b[b.len() - 2]) && b[b.len() - 3] != b'\\';
    if !json.starts_with('"') || b.len() == 2 || trimmed {
        return Cow::Borrowed(json);
    }
    match serde_json::from_str::<Value>(json) {
        Ok(v) => Cow::Owned(output_key(&v)),
        Err(_) => Cow::Borrowed(json),
    }
}

/// Sums of one (name, kind).
#[derive(Default)]
struct NameSums {
    calls: i64,
    errors: i64,
    tokens_in: i64,
    tokens_out: i64,
}

/// The first call of an (input, output) pair: time, run, id (the order `dataset` reads in).
type First = (String, String, i64);

/// One (name, kind, input key, output key): calls, the first, and its texts.
struct OutputSums {
    calls: i64,
    first: First,
    input: String,
    output: String,
}

/// Aggregates of calls being folded in: summed in memory, then upserted once per key, 32
/// pairs to a statement.
#[derive(Default)]
struct Pending {
    names: HashMap<(String, String), NameSums>,
    outputs: HashMap<(String, String, String, String), OutputSums>,
    /// Calls per (name, kind, latency's bits).
    latency: HashMap<(String, String, u64), i64>,
}

impl Pending {
    /// Count one call, a row of [`SELECT_CALLS`] (texts as the log stores them).
    fn add(&mut self, r: &rusqlite::Row) -> rusqlite::Result<()> {
        let text = |i| r.get_ref(i).ok().and_then(|v| v.as_str().ok());
        let (name, kind) = (text(0).unwrap_or_default(), text(1).unwrap_or_default());
        let (time, run, id) = (
            text(4).unwrap_or_default(),
            text(2).unwrap_or_default(),
            r.get(3)?,
        );
        let ms: f64 = r.get(9)?;
        let sums = self
            .names
            .entry((name.to_string(), kind.to_string()))
            .or_default();
        sums.calls += 1;
        sums.tokens_in += r.get::<_, i64>(7)?;
        sums.tokens_out += r.get::<_, i64>(8)?;
        *self
            .latency
            .entry((name.to_string(), kind.to_string(), ms.to_bits()))
            .or_default() += 1;
        let (input, Some(output)) = (text(5).unwrap_or("null"), text(6)) else {
            sums.errors += 1;
            return Ok(());
        };
        // A value too long to log equals nothing: it says nothing of consistency.
        if is_truncated_text(input) || is_truncated_text(output) {
            return Ok(());
        }
        let key = (
            name.to_string(),
            kind.to_string(),
            input_key_text(input).into_owned(),
            output_key_text(output).into_owned(),
        );
        let first = || (time.to_string(), run.to_string(), id);
        let o = self.outputs.entry(key).or_insert_with(|| OutputSums {
            calls: 0,
            first: first(),
            input: input.to_string(),
            output: output.to_string(),
        });
        o.calls += 1;
        // An earlier call of the pair (a batch written late) takes the place of the one kept.
        if (time, run, id) < (o.first.0.as_str(), o.first.1.as_str(), o.first.2) {
            o.first = first();
            o.input = input.to_string();
            o.output = output.to_string();
        }
        Ok(())
    }

    /// Upsert what was added into the aggregates (inside the caller's transaction). Leaves
    /// this empty.
    fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if !self.names.is_empty() {
            let mut names = conn.prepare_cached(
                "INSERT INTO agg_names (name, kind, calls, errors, tokens_in, tokens_out)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name, kind) DO UPDATE SET
                 calls = calls + excluded.calls, errors = errors + excluded.errors,
                 tokens_in = tokens_in + excluded.tokens_in,
                 tokens_out = tokens_out + excluded.tokens_out",
            )?;
            for ((name, kind), s) in self.names.drain() {
                names.execute(params![
                    name,
                    kind,
                    s.calls,
                    s.errors,
                    s.tokens_in,
                    s.tokens_out
                ])?;
            }
        }
        // No pairs compile no statement (`per_statement`) and touch no input.
        let pairs: Vec<_> = self.outputs.drain().collect();
        per_statement(conn, &pairs, upsert_pairs_sql, |upsert, rows| {
            for (i, pair) in rows.iter().enumerate() {
                bind_pair(upsert, i * PAIR_COLUMNS, pair)?;
            }
            upsert.raw_execute().map(drop)
        })?;
        // Per name and kind, per input touched: the calls this batch adds to it.
        let mut inputs: HashMap<(&str, &str), HashMap<&str, i64>> = HashMap::new();
        for ((name, kind, input_key, _), o) in &pairs {
            *inputs
                .entry((name, kind))
                .or_default()
                .entry(input_key)
                .or_default() += o.calls;
        }
        for ((name, kind), added) in inputs {
            count_inputs(conn, name, kind, &added)?;
        }
        if !self.latency.is_empty() {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO agg_latency (name, kind, ms, calls) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name, kind, ms) DO UPDATE SET calls = calls + excluded.calls",
            )?;
            for ((name, kind, ms), calls) in self.latency.drain() {
                upsert.execute(params![name, kind, f64::from_bits(ms), calls])?;
            }
        }
        Ok(())
    }
}

/// Columns of a row of `agg_outputs`, in the order [`bind_pair`] binds them.
const PAIR_COLUMNS: usize = 10;

/// The statement that upserts `rows` pairs. An earlier first call (a batch written late)
/// takes the place of the one kept.
fn upsert_pairs_sql(rows: usize) -> String {
    let one = format!("({})", ["?"; PAIR_COLUMNS].join(", "));
    let earlier = "(excluded.first_time, excluded.first_run, excluded.first_id)
                   < (first_time, first_run, first_id)";
    format!(
        "INSERT INTO agg_outputs (name, kind, input_key, output_key, calls, input, output,
         first_time, first_run, first_id) VALUES {}
         ON CONFLICT (name, kind, input_key, output_key) DO UPDATE SET
         calls = calls + excluded.calls,
         input = iif({earlier}, excluded.input, input),
         output = iif({earlier}, excluded.output, output),
         first_time = iif({earlier}, excluded.first_time, first_time),
         first_run = iif({earlier}, excluded.first_run, first_run),
         first_id = iif({earlier}, excluded.first_id, first_id)",
        vec![one; rows].join(", ")
    )
}

/// Bind one pair to the parameters after `at`. Its texts are stored only when they are not
/// their keys (most are).
fn bind_pair(
    stmt: &mut rusqlite::CachedStatement<'_>,
    at: usize,
    ((name, kind, input_key, output_key), o): &((String, String, String, String), OutputSums),
) -> rusqlite::Result<()> {
    let input = (o.input != *input_key).then_some(&o.input);
    let output = (o.output != *output_key).then_some(&o.output);
    let values: [&dyn rusqlite::ToSql; PAIR_COLUMNS] = [
        name, kind, input_key, output_key, &o.calls, &input, &output, &o.first.0, &o.first.1,
        &o.first.2,
    ];
    for (i, v) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(at + i + 1, v)?;
    }
    Ok(())
}

/// The statement that reads the calls and outputs of `keys` inputs of one name and kind.
fn read_inputs_sql(keys: usize) -> String {
    format!(
        "SELECT input_key, sum(calls), count(*) FROM agg_outputs
         WHERE name = ?1 AND kind = ?2 AND input_key IN ({}) GROUP BY input_key",
        vec!["?"; keys].join(", ")
    )
}

/// Bring the consistency figures of `agg_names` for `name` and `kind` up to date with the
/// pairs just upserted: each input touched (`added`: the calls added to it) is read back from
/// `agg_outputs`. A new input counts as distinct, one that passes one call as repeated, and
/// the most outputs of one input can only grow (pruning rebuilds the names it touches, so
/// nothing is subtracted).
fn count_inputs(
    conn: &Connection,
    name: &str,
    kind: &str,
    added: &HashMap<&str, i64>,
) -> rusqlite::Result<()> {
    let keys: Vec<&str> = added.keys().copied().collect();
    // New distinct inputs, new repeated inputs, most outputs of one input.
    let (mut distinct, mut repeated, mut most) = (0_i64, 0_i64, 0_i64);
    per_statement(conn, &keys, read_inputs_sql, |stmt, chunk| {
        let mut values: Vec<&str> = vec![name, kind];
        values.extend_from_slice(chunk);
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        while let Some(r) = rows.next()? {
            let key = r.get_ref(0)?.as_str().unwrap_or_default();
            let (calls, outputs): (i64, i64) = (r.get(1)?, r.get(2)?);
            let before = calls - added.get(key).copied().unwrap_or(0);
            distinct += i64::from(before == 0);
            repeated += i64::from(before <= 1 && calls > 1);
            most = most.max(outputs);
        }
        Ok(())
    })?;
    conn.prepare_cached(
        "UPDATE agg_names SET distinct_inputs = distinct_inputs + ?3,
         repeated_inputs = repeated_inputs + ?4, max_outputs = max(max_outputs, ?5)
         WHERE name = ?1 AND kind = ?2",
    )?
    .execute(params![name, kind, distinct, repeated, most])?;
    Ok(())
}

/// Say that the aggregates cover the calls as they stand now.
fn mark_current(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM agg_state;
         INSERT INTO agg_state (last) SELECT coalesce(max(rowid), 0) FROM calls;",
    )
}

/// Calls summed in memory before an upsert while rebuilding (bounds the memory a rebuild of a
/// large log takes).
const REBUILD_CHUNK: usize = 100_000;

/// The calls as the aggregates read them: name, kind, run, id, time, input (`null` when
/// missing), output (`NULL` for a failed call: an error, or no output), tokens in and out,
/// latency in ms (a missing one as 0).
const SELECT_CALLS: &str = "SELECT name, kind, run, id, time, coalesce(input, 'null'),
    CASE WHEN error IS NULL THEN output END, tokens_in, tokens_out, coalesce(ms, 0.0)
    FROM calls";

/// Fold the calls `sql` (a [`SELECT_CALLS`] with a `WHERE`) selects into the aggregates.
fn fold(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(values)?;
    let mut pending = Pending::default();
    let mut n = 0;
    while let Some(r) = rows.next()? {
        pending.add(r)?;
        n += 1;
        if n % REBUILD_CHUNK == 0 {
            pending.write(conn)?;
        }
    }
    pending.write(conn)
}

/// Fold the calls written since the aggregates were last brought up to date (by any program)
/// into them. Run inside the caller's write transaction.
pub(super) fn catch_up(conn: &Connection) -> rusqlite::Result<()> {
    let (last, max): (i64, i64) = conn.query_row(
        "SELECT coalesce((SELECT last FROM agg_state), 0),
                coalesce((SELECT max(rowid) FROM calls), 0)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if last == max {
        return Ok(());
    }
    fold(conn, &format!("{SELECT_CALLS} WHERE rowid > ?1"), [last])?;
    mark_current(conn)
}

/// Build the aggregates again from the calls: of every name (`only` `None`: a migration), or
/// of the given (name, kind) pairs (after pruning deleted some of their calls; the others must
/// be caught up first). Run inside the caller's transaction.
pub(super) fn rebuild(
    conn: &Connection,
    only: Option<&[(String, String)]>,
) -> rusqlite::Result<()> {
    let tables = ["agg_names", "agg_outputs", "agg_latency"];
    match only {
        None => {
            for table in tables {
                conn.execute(&format!("DELETE FROM {table}"), [])?;
            }
            fold(conn, SELECT_CALLS, [])?;
        }
        Some(pairs) => {
            for (name, kind) in pairs {
                for table in tables {
                    conn.execute(
                        &format!("DELETE FROM {table} WHERE name = ?1 AND kind = ?2"),
                        [name, kind],
                    )?;
                }
                fold(
                    conn,
                    &format!("{SELECT_CALLS} WHERE name = ?1 AND kind = ?2"),
                    [name, kind],
                )?;
            }
        }
    }
    mark_current(conn)
}

/// The (name, kind) pairs that have calls in the runs of temp table `doomed` (pruning): the
/// ones to [`rebuild`] once they are deleted.
pub(super) fn touched_by_doomed(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT DISTINCT name, kind FROM calls WHERE run IN (SELECT id FROM doomed)")?;
    let pairs = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    pairs.collect()
}

/// Run `read` on the aggregates, caught up first, in one write transaction; `None` when the
/// log cannot be written (read-only, or busy past the timeout): the caller reads the calls.
fn when_current<T>(
    conn: &Connection,
    read: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let Ok(tx) = Transaction::new_unchecked(conn, TransactionBehavior::Immediate) else {
        return Ok(None);
    };
    // An error drops `tx`: rolled back.
    let value = catch_up(&tx).and_then(|()| read())?;
    tx.commit()?;
    Ok(Some(value))
}

/// The figures of one (name, kind), as `stats` shows them (`stats::Row`).
#[derive(Debug, Clone, PartialEq)]
pub struct NameFigures {
    pub name: String,
    /// `neural`, `symbolic` or `builtin` (in [`name_figures`], as the log writes it: `worker`,
    /// `fn`, ...).
    pub kind: String,
    pub calls: usize,
    pub errors: usize,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Nearest-rank percentiles and the largest, in ms (a missing latency counts as 0).
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

impl NameFigures {
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

/// The 1-based nearest rank of quantile `q` among `n` values (as `stats::percentile`).
pub(crate) fn rank(q: f64, n: u64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let r = (q * n as f64).ceil() as u64;
    r.clamp(1, n.max(1))
}

/// Per (name, kind) figures of the whole log, sorted by name and kind; `None` when the
/// aggregates do not cover every call.
///
/// # Errors
///
/// The log cannot be read.
pub fn name_figures(conn: &Connection) -> rusqlite::Result<Option<Vec<NameFigures>>> {
    when_current(conn, || {
        let mut names = conn.prepare(
            "SELECT name, kind, calls, errors, tokens_in, tokens_out, distinct_inputs,
                    repeated_inputs, max_outputs FROM agg_names
             WHERE calls > 0 ORDER BY name, kind",
        )?;
        let mut latency = conn.prepare(
            "SELECT ms, calls FROM agg_latency WHERE name = ?1 AND kind = ?2 ORDER BY ms",
        )?;
        let size = |v: i64| usize::try_from(v).unwrap_or(0);
        let mut out = Vec::new();
        let mut rows = names.query([])?;
        while let Some(r) = rows.next()? {
            let (name, kind, calls): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            // Nearest ranks, found in one pass over the distinct latencies.
            let (r50, r90) = (rank(0.5, count(calls)), rank(0.9, count(calls)));
            let (mut p50_ms, mut p90_ms, mut max_ms, mut seen) = (None, None, 0.0, 0_u64);
            let mut latencies = latency.query([&name, &kind])?;
            while let Some(l) = latencies.next()? {
                let ms: f64 = l.get(0)?;
                seen += count(l.get(1)?);
                if seen >= r50 {
                    p50_ms.get_or_insert(ms);
                }
                if seen >= r90 {
                    p90_ms.get_or_insert(ms);
                }
                max_ms = ms;
            }
            out.push(NameFigures {
                name,
                kind,
                calls: size(calls),
                errors: size(r.get(3)?),
                tokens_in: count(r.get(4)?),
                tokens_out: count(r.get(5)?),
                p50_ms: p50_ms.unwrap_or_default(),
                p90_ms: p90_ms.unwrap_or_default(),
                max_ms,
                distinct_inputs: size(r.get(6)?),
                repeated_inputs: size(r.get(7)?),
                max_outputs_per_input: size(r.get(8)?),
            });
        }
        Ok(out)
    })
}

/// One distinct input of a name's successful calls and its outputs, as compact JSON text
/// (the log's own): what `dataset` makes a case of (`eval::dataset::Entry`).
#[derive(Debug, Clone, PartialEq)]
pub struct InputOutputs {
    /// The input's text in its first call.
    pub input: String,
    /// Its distinct outputs (by key), in the order first seen, each with the text it was
    /// first seen with and how many calls gave it.
    pub outputs: Vec<(String, usize)>,
}

/// The distinct inputs of the successful calls of `name` over the whole log, in the order
/// first seen, each with its outputs; when the name is a worker's, only the worker's calls
/// count (a fn of the same name shadows it). `None` when the aggregates do not cover every
/// call.
///
/// Read in input key order, so that an input's pairs come together (from the primary key when
/// the kind is fixed), then sorted by first call: a name with 660k distinct inputs costs about
/// four allocations per input, no hash map.
///
/// # Errors
///
/// The log cannot be read.
pub fn inputs_of(conn: &Connection, name: &str) -> rusqlite::Result<Option<Vec<InputOutputs>>> {
    when_current(conn, || {
        let has_worker: bool = conn
            .prepare("SELECT 1 FROM agg_names WHERE name = ?1 AND kind = 'worker' AND calls > 0")?
            .exists([name])?;
        let kind = if has_worker {
            " AND kind = 'worker'"
        } else {
            ""
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT input_key, output_key, calls, coalesce(input, input_key),
                    coalesce(output, output_key), first_time, first_run, first_id, kind
             FROM agg_outputs WHERE name = ?1{kind}
             ORDER BY input_key, first_time, first_run, first_id"
        ))?;
        let mut rows = stmt.query([name])?;
        // Each input with its first call (time, run, id), to sort by.
        let mut out: Vec<(First, InputOutputs)> = Vec::new();
        let mut key = String::new();
        // The current input's output keys and kinds: pairs of two kinds may share an output.
        let mut seen: Vec<(String, String)> = Vec::new();
        let text = |v: rusqlite::types::ValueRef<'_>| v.as_str().unwrap_or_default().to_string();
        while let Some(r) = rows.next()? {
            let input_key = r.get_ref(0)?.as_str().unwrap_or_default();
            let calls = usize::try_from(r.get::<_, i64>(2)?).unwrap_or(usize::MAX);
            let output_key = r.get_ref(1)?.as_str().unwrap_or_default();
            let pair_kind = r.get_ref(8)?.as_str().unwrap_or_default();
            if out.is_empty() || input_key != key {
                key.clear();
                key.push_str(input_key);
                seen.clear();
                let first = (text(r.get_ref(5)?), text(r.get_ref(6)?), r.get(7)?);
                let input = text(r.get_ref(3)?);
                out.push((
                    first,
                    InputOutputs {
                        input,
                        outputs: Vec::new(),
                    },
                ));
            }
            let Some((_, entry)) = out.last_mut() else {
                continue;
            };
            // Within one kind an output key comes once; across kinds, the earlier text stays.
            let same = if has_worker || seen.iter().all(|(_, k)| k == pair_kind) {
                None
            } else {
                seen.iter().position(|(o, _)| o == output_key)
            };
            match same {
                Some(i) => entry.outputs[i].1 += calls,
                None => {
                    entry.outputs.push((text(r.get_ref(4)?), calls));
                    if !has_worker {
                        seen.push((output_key.to_string(), pair_kind.to_string()));
                    }
                }
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, entry)| entry).collect())
    })
}
