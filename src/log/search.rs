//! Full-text search over calls' inputs and outputs (`llm-do logs --query TEXT`), with SQLite FTS5.
//!
//! The index (`calls_fts`, contentless: it keeps only the words, keyed by the rowid of
//! `calls`) is filled lazily by the reader, never by the runs that write the log: before a
//! search, [`catch_up`] indexes the calls written since the last indexed rowid (kept in
//! `calls_fts_state`), in chunks of [`CHUNK`] rows, each its own short write transaction, so
//! runs writing meanwhile wait at most one chunk. Writing a call costs nothing more.
//!
//! Pruned calls leave their words in the index; a search joins back to `calls`, where they are
//! gone. SQLite hands out rowids above the largest one, so a rowid is reused only once the
//! newest calls were deleted too (or the file was `VACUUM`ed): the state keeps the run and id
//! of its last indexed call, and when that row is no longer there, the index is built again.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// Calls indexed per write transaction.
pub const CHUNK: i64 = 20_000;

/// The FTS5 query for `text`: every word must appear (each quoted, so no word is read as
/// query syntax).
pub fn match_expr(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        // Matches nothing, rather than an FTS5 syntax error.
        "\"\"".into()
    } else {
        words.join(" ")
    }
}

/// Index the calls written since the last catch-up. Returns how many were indexed.
///
/// # Errors
///
/// The log cannot be read or written.
pub fn catch_up(conn: &Connection) -> rusqlite::Result<u64> {
    let mut indexed = 0;
    loop {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let n = chunk(&tx)?;
        tx.commit()?;
        indexed += n;
        if n < u64::try_from(CHUNK).unwrap_or(0) {
            return Ok(indexed);
        }
    }
}

/// One chunk of [`catch_up`], inside its transaction.
fn chunk(conn: &Connection) -> rusqlite::Result<u64> {
    let state: Option<(i64, Option<String>, Option<i64>)> = conn
        .query_row("SELECT last, run, id FROM calls_fts_state", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    if state.is_none() {
        conn.execute("INSERT INTO calls_fts_state (last) VALUES (0)", [])?;
    }
    let (mut last, run, id) = state.unwrap_or((0, None, None));
    if last > 0 {
        let same: Option<(String, i64)> = conn
            .query_row("SELECT run, id FROM calls WHERE rowid = ?1", [last], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if same.is_none() || same != run.zip(id) {
            // Its last indexed call is gone: rowids may be reused, start over.
            conn.execute(
                "INSERT INTO calls_fts (calls_fts) VALUES ('delete-all')",
                [],
            )?;
            conn.execute(
                "UPDATE calls_fts_state SET last = 0, run = NULL, id = NULL",
                [],
            )?;
            last = 0;
        }
    }
    let n = conn.execute(
        "INSERT INTO calls_fts (rowid, input, output)
         SELECT rowid, input, coalesce(output, error) FROM calls
         WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        params![last, CHUNK],
    )?;
    if n > 0 {
        conn.execute(
            "UPDATE calls_fts_state SET (last, run, id) =
                 (SELECT rowid, run, id FROM calls WHERE rowid > ?1 ORDER BY rowid LIMIT 1 OFFSET ?2)",
            params![last, i64::try_from(n).unwrap_or(0) - 1],
        )?;
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{CallFilter, calls, open, path_in};

    fn add(conn: &Connection, run: &str, id: i64, input: &str) {
        conn.execute(
            "INSERT INTO calls (run, id, depth, kind, name, input, output, ms, time)
             VALUES (?1, ?2, 0, 'worker', 'w', ?3, '\"ok\"', 1, '2026-12-01T00:00:00.000Z')",
            params![run, id, input],
        )
        .unwrap();
    }

    fn found(conn: &Connection, text: &str) -> Vec<(String, i64)> {
        catch_up(conn).unwrap();
        let filter = CallFilter {
            text: Some(text),
            ..CallFilter::default()
        };
        let mut got: Vec<_> = calls(conn, &filter)
            .unwrap()
            .into_iter()
            .map(|c| (c.run, c.id))
            .collect();
        got.sort();
        got
    }

    /// Each search indexes only what is new; once the indexed calls are all gone and their
    /// rowids handed out again, the index is built again rather than matching old words.
    #[test]
    fn the_index_catches_up_and_survives_reused_rowids() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&path_in(dir.path())).unwrap();
        add(&conn, "r1", 1, "\"ada lovelace\"");
        add(&conn, "r1", 2, "\"grace hopper\"");
        assert_eq!(found(&conn, "ada"), [("r1".to_string(), 1)]);
        add(&conn, "r2", 1, "\"ada byron\"");
        assert_eq!(catch_up(&conn).unwrap(), 1);
        assert_eq!(found(&conn, "ada").len(), 2);
        conn.execute("DELETE FROM calls", []).unwrap();
        add(&conn, "r3", 1, "\"edsger\"");
        add(&conn, "r3", 2, "\"dijkstra\"");
        assert!(found(&conn, "ada").is_empty());
        assert!(found(&conn, "hopper").is_empty());
        assert_eq!(found(&conn, "dijkstra"), [("r3".to_string(), 2)]);
    }

    #[test]
    fn every_word_is_quoted() {
        assert_eq!(match_expr("ada  lovelace"), "\"ada\" \"lovelace\"");
        assert_eq!(match_expr("say \"hi\" -x"), "\"say\" \"\"\"hi\"\"\" \"-x\"");
        assert_eq!(match_expr("  "), "\"\"");
    }
}
