//! What the log knows about how well a `[stabilize]` fn agrees with its worker: the live
//! agreement of shadow comparisons run by run, the disputed inputs with both outputs, and the
//! worker's own noise floor, kept from `llm-do test` runs as rows of their own (`test_results`,
//! schema 7). `llm-do view`'s page of one name reads these; `test` writes the last. Like
//! `aggregate`, its errors are SQLite's (`log.rs` creates its table).

use rusqlite::{Connection, params};
use serde_json::Value;

use super::sql::{parsed, sql_count, sql_int};
use super::time::now;
use super::window::Window;

/// What schema 7 adds: the results of `llm-do test` (one row per name tested), and an index
/// that lets one name's switch events be read without a scan of every name's.
pub(super) const SCHEMA_7: &str = "
CREATE TABLE IF NOT EXISTS test_results (
    name TEXT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL, repeat INTEGER NOT NULL,
    cases INTEGER NOT NULL, runs INTEGER NOT NULL, agreed INTEGER NOT NULL,
    self_pairs INTEGER, self_agreed INTEGER
);
CREATE INDEX IF NOT EXISTS test_results_by_name ON test_results (name, time);
CREATE INDEX IF NOT EXISTS switch_events_by_name ON switch_events (name, time);
";

/// One name's result of one `llm-do test`, as kept in the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TestResult {
    pub name: String,
    /// What the name was tested as: `worker`, `fn`, `switch`, ...
    pub kind: String,
    /// When the test ended (the log's time text); set by [`record_tests`].
    pub time: String,
    /// Runs per case (`--repeat`).
    pub repeat: u32,
    pub cases: u64,
    /// Runs in all, and those that agreed with their expected output.
    pub runs: u64,
    pub agreed: u64,
    /// With `repeat` > 1: pairs of runs of one case compared, and those that agreed — the
    /// worker's self-agreement, the noise floor a replacement is judged against.
    pub self_agreement: Option<(u64, u64)>,
}

impl TestResult {
    /// The self-agreement as a share, 0 to 1, when the test repeated its cases.
    pub fn self_rate(&self) -> Option<f64> {
        self.self_agreement.and_then(|(k, n)| share(k, n))
    }
}

/// `k` of `n` as a share, 0 to 1; `None` of nothing.
pub fn share(k: u64, n: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (n > 0).then(|| k as f64 / n as f64)
}

/// Keep `results` in the log, timed now, in one transaction.
///
/// # Errors
///
/// The log cannot be written.
pub fn record_tests(conn: &Connection, results: &[TestResult]) -> rusqlite::Result<()> {
    let time = now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO test_results (name, kind, time, repeat, cases, runs, agreed, self_pairs,
             self_agreed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in results {
            insert.execute(params![
                r.name,
                r.kind,
                time,
                r.repeat,
                sql_int(r.cases),
                sql_int(r.runs),
                sql_int(r.agreed),
                r.self_agreement.map(|(_, n)| sql_int(n)),
                r.self_agreement.map(|(k, _)| sql_int(k)),
            ])?;
        }
    }
    tx.commit()
}

/// The newest test of `name` that measured a self-agreement (it repeated its cases): the
/// noise floor. `None` when `name` was never tested with `--repeat`.
///
/// # Errors
///
/// The log cannot be read.
pub fn noise_floor(conn: &Connection, name: &str) -> rusqlite::Result<Option<TestResult>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, kind, time, repeat, cases, runs, agreed, self_pairs, self_agreed
         FROM test_results WHERE name = ?1 AND self_pairs > 0 ORDER BY time DESC LIMIT 1",
    )?;
    let mut rows = stmt.query_map([name], |r| {
        let n = |i| r.get(i).map(sql_count);
        let pairs: Option<i64> = r.get(7)?;
        let agreed: Option<i64> = r.get(8)?;
        Ok(TestResult {
            name: r.get(0)?,
            kind: r.get(1)?,
            time: r.get(2)?,
            repeat: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            cases: n(4)?,
            runs: n(5)?,
            agreed: n(6)?,
            self_agreement: pairs.zip(agreed).map(|(p, k)| (sql_count(k), sql_count(p))),
        })
    })?;
    rows.next().transpose()
}

/// How a group of switch events went (one name's, or one run's of a name): calls, those the
/// fn deferred, shadow comparisons and those in which both sides agreed.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SwitchCounts {
    pub calls: u64,
    pub deferred: u64,
    pub compared: u64,
    pub agreed: u64,
}

impl SwitchCounts {
    /// What a query over `switch_events` selects for the counts of a group, in the order
    /// [`SwitchCounts::read`] reads them.
    pub(super) const COLUMNS: &str =
        "count(*), sum(deferred), count(agreed), coalesce(sum(agreed), 0)";

    /// The counts [`SwitchCounts::COLUMNS`] selected, from column `at` of `row` on.
    pub(super) fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<SwitchCounts> {
        let n = |i: usize| row.get(at + i).map(sql_count);
        Ok(SwitchCounts {
            calls: n(0)?,
            deferred: n(1)?,
            compared: n(2)?,
            agreed: n(3)?,
        })
    }
}

/// One run's switch events of one name.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunAgreement {
    pub run: String,
    /// When the run's first event of the name was logged.
    pub first: String,
    #[serde(flatten)]
    pub counts: SwitchCounts,
}

/// The newest `limit` runs that called switch `name` within `window`, oldest first (the
/// order a chart over time draws them in).
///
/// # Errors
///
/// The log cannot be read.
pub fn agreement_by_run(
    conn: &Connection,
    name: &str,
    window: &Window,
    limit: usize,
) -> rusqlite::Result<Vec<RunAgreement>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT run, min(time) AS first, {}
         FROM switch_events WHERE name = ?1 AND (?2 IS NULL OR time >= ?2)
           AND (?3 IS NULL OR time < ?3)
         GROUP BY run ORDER BY first DESC LIMIT ?4",
        SwitchCounts::COLUMNS
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![name, window.since, window.until, limit], |r| {
        Ok(RunAgreement {
            run: r.get(0)?,
            first: r.get(1)?,
            counts: SwitchCounts::read(r, 2)?,
        })
    })?;
    let mut out: Vec<RunAgreement> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// A shadow comparison in which the worker and the fn disagreed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dispute {
    pub run: String,
    pub time: String,
    pub input: Value,
    pub worker_output: Option<Value>,
    pub code_output: Option<Value>,
    /// The fields that disagreed, as the worker's comparators judged them.
    pub fields: Vec<String>,
}

/// The newest `limit` disputed inputs of switch `name` within `window`, newest first, with
/// how many there are in the window in all.
///
/// # Errors
///
/// The log cannot be read.
pub fn disputes(
    conn: &Connection,
    name: &str,
    window: &Window,
    limit: usize,
) -> rusqlite::Result<(Vec<Dispute>, u64)> {
    let filter = "FROM switch_events WHERE name = ?1 AND agreed = 0
         AND (?2 IS NULL OR time >= ?2) AND (?3 IS NULL OR time < ?3)";
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) {filter}"),
        params![name, window.since, window.until],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT run, time, input, worker_output, code_output, fields {filter}
         ORDER BY time DESC, rowid DESC LIMIT ?4"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![name, window.since, window.until, limit], |r| {
        Ok(Dispute {
            run: r.get(0)?,
            time: r.get(1)?,
            input: parsed(r.get(2)?).unwrap_or(Value::Null),
            worker_output: parsed(r.get(3)?),
            code_output: parsed(r.get(4)?),
            fields: parsed(r.get(5)?).unwrap_or_default(),
        })
    })?;
    Ok((
        rows.collect::<rusqlite::Result<_>>()?,
        u64::try_from(total).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::temp_log as log;

    fn event(conn: &Connection, run: &str, time: &str, deferred: bool, agreed: Option<bool>) {
        conn.execute(
            "INSERT INTO switch_events (run, name, mode, served, deferred, agreed, fields, input,
             worker_output, code_output, time)
             VALUES (?1, 'triage', 'shadow', 'worker', ?2, ?3, '[\"category\"]', '\"m\"',
             '{\"category\":\"bug\"}', '{\"category\":\"feature\"}', ?4)",
            params![run, deferred, agreed, time],
        )
        .unwrap();
    }

    #[test]
    fn the_noise_floor_is_the_newest_test_that_repeated() {
        let (_dir, conn) = log();
        let result = |repeat, self_agreement| TestResult {
            name: "triage".into(),
            kind: "worker".into(),
            time: String::new(),
            repeat,
            cases: 4,
            runs: 4 * u64::from(repeat),
            agreed: 7,
            self_agreement,
        };
        assert_eq!(noise_floor(&conn, "triage").unwrap(), None);
        record_tests(&conn, &[result(2, Some((3, 4)))]).unwrap();
        // A later test without repeats measures no noise floor and does not hide the first.
        record_tests(&conn, &[result(1, None)]).unwrap();
        let floor = noise_floor(&conn, "triage").unwrap().unwrap();
        assert_eq!(floor.self_agreement, Some((3, 4)));
        assert_eq!(floor.self_rate(), Some(0.75));
        assert_eq!(floor.repeat, 2);
        assert_eq!(noise_floor(&conn, "other").unwrap(), None);
    }

    #[test]
    fn agreement_is_read_per_run_oldest_first_and_disputes_newest_first() {
        let (_dir, conn) = log();
        event(&conn, "r1", "2026-01-01T00:00:00.000Z", false, Some(true));
        event(&conn, "r1", "2026-01-01T00:00:01.000Z", false, Some(false));
        event(&conn, "r2", "2026-01-02T00:00:00.000Z", true, None);
        event(&conn, "r2", "2026-01-02T00:00:01.000Z", false, Some(false));
        let runs = agreement_by_run(&conn, "triage", &Window::default(), 10).unwrap();
        let figures: Vec<_> = runs
            .iter()
            .map(|r| {
                let c = r.counts;
                (r.run.as_str(), c.calls, c.deferred, c.compared, c.agreed)
            })
            .collect();
        assert_eq!(figures, [("r1", 2, 0, 2, 1), ("r2", 2, 1, 1, 0)]);
        // The newest runs when limited, still oldest first.
        let newest = agreement_by_run(&conn, "triage", &Window::default(), 1).unwrap();
        assert_eq!(newest[0].run, "r2");
        let (newest_disputes, total) = disputes(&conn, "triage", &Window::default(), 1).unwrap();
        assert_eq!(total, 2);
        assert_eq!(newest_disputes.len(), 1);
        assert_eq!(newest_disputes[0].run, "r2");
        assert_eq!(newest_disputes[0].fields, ["category"]);
        assert_eq!(
            newest_disputes[0].code_output,
            Some(serde_json::json!({"category": "feature"}))
        );
        let window = Window {
            since: Some("2026-01-02".into()),
            until: None,
        };
        assert_eq!(disputes(&conn, "triage", &window, 10).unwrap().1, 1);
    }
}
