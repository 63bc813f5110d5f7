//! What each run's workers used, per name (calls, tokens, cost), kept by its readers for
//! ended runs (`run_volumes`, schema 7) as `run_counts` keeps call counts: an ended run's
//! calls no longer change, so its sums are read from its calls once, and then from here.
//! `llm-do view`'s runs page (tokens and cost per run) and names page (cost per worker over
//! the whole history) read these instead of summing a million calls on every page. Writing a
//! run costs nothing more. Like `aggregate`, its errors are SQLite's (`log.rs` creates its
//! table).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::sql::{keep_if_free, sql_count as count, sql_int};

/// The table of schema 7: per ended run and worker name, its calls, tokens, the calls that
/// had a cost and the sum of those costs. A row with the name `''` marks a run whose sums are
/// all here (a run without worker calls has only that row).
pub(super) const SCHEMA_7: &str = "
CREATE TABLE IF NOT EXISTS run_volumes (
    run TEXT NOT NULL, name TEXT NOT NULL, calls INTEGER NOT NULL, tokens INTEGER NOT NULL,
    costed INTEGER NOT NULL, cost REAL NOT NULL, PRIMARY KEY (run, name)
) WITHOUT ROWID;
";

/// The worker calls of one name, summed: how many, their tokens, their cost (`None` when a
/// call has none) and the first and last time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    pub calls: u64,
    pub tokens: u64,
    pub cost: Option<f64>,
    pub first: Option<String>,
    pub last: Option<String>,
}

/// Sums of one run and name, as read from the calls or kept.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sums {
    calls: u64,
    tokens: u64,
    costed: u64,
    cost: f64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.calls += other.calls;
        self.tokens += other.tokens;
        self.costed += other.costed;
        self.cost += other.cost;
    }

    /// As `log::worker_volume` says it: a cost only when every call had one.
    fn volume(&self) -> Volume {
        Volume {
            calls: self.calls,
            tokens: self.tokens,
            cost: (self.costed == self.calls).then_some(self.cost),
            ..Volume::default()
        }
    }
}

/// A row of `name, calls, tokens, costed, cost`.
fn named_sums(r: &rusqlite::Row) -> rusqlite::Result<(String, Sums)> {
    let sums = Sums {
        calls: count(r.get(1)?),
        tokens: count(r.get(2)?),
        costed: count(r.get(3)?),
        cost: r.get(4)?,
    };
    Ok((r.get(0)?, sums))
}

/// The sums of `run` per worker name: kept ones, or read from its calls (and kept when the
/// run has ended, best effort: a busy log is left as it is).
fn of_run(conn: &Connection, run: &str, ended: bool) -> rusqlite::Result<HashMap<String, Sums>> {
    let mut kept = conn.prepare_cached(
        "SELECT name, calls, tokens, costed, cost FROM run_volumes WHERE run = ?1",
    )?;
    let rows = kept.query_map([run], named_sums)?;
    let kept: HashMap<String, Sums> = rows.collect::<rusqlite::Result<_>>()?;
    if kept.contains_key("") {
        return Ok(kept.into_iter().filter(|(n, _)| !n.is_empty()).collect());
    }
    let mut read = conn.prepare_cached(
        "SELECT name, count(*), coalesce(sum(tokens_in + tokens_out), 0), count(cost),
                coalesce(sum(cost), 0.0)
         FROM calls WHERE run = ?1 AND kind = 'worker' GROUP BY name",
    )?;
    let rows = read.query_map([run], named_sums)?;
    let sums: HashMap<String, Sums> = rows.collect::<rusqlite::Result<_>>()?;
    if ended {
        remember(conn, run, &sums);
    }
    Ok(sums)
}

/// Keep an ended run's sums (best effort: see [`keep_if_free`]).
fn remember(conn: &Connection, run: &str, sums: &HashMap<String, Sums>) {
    keep_if_free(conn, |tx| {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO run_volumes (run, name, calls, tokens, costed, cost)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        insert.execute(params![run, "", 0, 0, 0, 0.0])?;
        for (name, s) in sums {
            let (calls, tokens, costed) = (sql_int(s.calls), sql_int(s.tokens), sql_int(s.costed));
            insert.execute(params![run, name, calls, tokens, costed, s.cost])?;
        }
        Ok(())
    });
}

/// The worker volume of each of `runs` (id, and whether it has ended), summed over names:
/// what the runs page shows per run.
///
/// # Errors
///
/// The log cannot be read.
pub fn per_run(
    conn: &Connection,
    runs: &[(&str, bool)],
) -> rusqlite::Result<HashMap<String, Volume>> {
    let mut out = HashMap::new();
    for &(run, ended) in runs {
        let mut total = Sums::default();
        of_run(conn, run, ended)?
            .values()
            .for_each(|s| total.add(s));
        out.insert(run.to_string(), total.volume());
    }
    Ok(out)
}

/// The worker volume of each worker name over the whole log: what the names page shows as
/// a worker's cost. Each run's sums are read once from its calls, then kept.
///
/// # Errors
///
/// The log cannot be read.
pub fn per_name(conn: &Connection) -> rusqlite::Result<HashMap<String, Volume>> {
    // The kept runs first, then the others from their calls (kept as they are read, once
    // ended): each run counted once, whether keeping it succeeds or not.
    let mut sums: HashMap<String, Sums> = HashMap::new();
    let mut kept = conn.prepare_cached(
        "SELECT name, sum(calls), sum(tokens), sum(costed), sum(cost) FROM run_volumes
         WHERE name != '' GROUP BY name",
    )?;
    for row in kept.query_map([], named_sums)? {
        let (name, s) = row?;
        sums.entry(name).or_default().add(&s);
    }
    let mut missing = conn.prepare_cached(
        "SELECT id, status IS NOT NULL FROM runs
         WHERE id NOT IN (SELECT run FROM run_volumes WHERE name = '')",
    )?;
    let missing: Vec<(String, bool)> = missing
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (run, ended) in &missing {
        for (name, s) in of_run(conn, run, *ended)? {
            sums.entry(name).or_default().add(&s);
        }
    }
    Ok(sums.into_iter().map(|(n, s)| (n, s.volume())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::CallFilter;
    use crate::log::temp_log as log;

    fn run(conn: &Connection, id: &str, ended: bool) {
        conn.execute(
            "INSERT INTO runs (id, started, ended, command, status) VALUES (?1, '2026-01-01', ?2, 'x', ?3)",
            params![id, ended.then_some("2026-01-02"), ended.then_some("ok")],
        )
        .unwrap();
    }

    fn call(conn: &Connection, run: &str, id: i64, kind: &str, name: &str, cost: Option<f64>) {
        conn.execute(
            "INSERT INTO calls (run, id, depth, kind, name, tokens_in, tokens_out, cost, ms, time)
             VALUES (?1, ?2, 0, ?3, ?4, 2, 3, ?5, 1.0, '2026-01-01')",
            params![run, id, kind, name, cost],
        )
        .unwrap();
    }

    fn whole(conn: &Connection, name: &str) -> Volume {
        let mut v = crate::log::worker_volume(
            conn,
            &CallFilter {
                name: Some(name),
                ..CallFilter::default()
            },
        )
        .unwrap();
        v.first = None;
        v.last = None;
        v
    }

    #[test]
    fn kept_sums_agree_with_the_calls_and_follow_a_run_in_progress() {
        let (_dir, conn) = log();
        run(&conn, "a", true);
        run(&conn, "b", false);
        call(&conn, "a", 1, "worker", "greeter", Some(0.5));
        call(&conn, "a", 2, "fn", "add", None);
        call(&conn, "a", 3, "worker", "classify", None);
        call(&conn, "b", 1, "worker", "greeter", Some(0.25));
        for _ in 0..2 {
            let names = per_name(&conn).unwrap();
            assert_eq!(names["greeter"], whole(&conn, "greeter"));
            assert_eq!(names["greeter"].cost, Some(0.75));
            assert_eq!(names["classify"].cost, None, "a call without a cost");
            assert!(!names.contains_key("add"), "workers only");
        }
        // The ended run was kept, the one in progress was not: its next call counts.
        let kept: i64 = conn
            .query_row("SELECT count(DISTINCT run) FROM run_volumes", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, 1);
        call(&conn, "b", 2, "worker", "greeter", Some(0.25));
        assert_eq!(per_name(&conn).unwrap()["greeter"].calls, 3);
        let runs = per_run(&conn, &[("a", true), ("b", false)]).unwrap();
        assert_eq!(
            (runs["a"].calls, runs["a"].tokens, runs["a"].cost),
            (2, 10, None)
        );
        assert_eq!((runs["b"].calls, runs["b"].cost), (2, Some(0.5)));
    }
}
