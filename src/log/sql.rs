//! Row helpers every part of the run log shares: counts and ids as SQLite stores them, stored
//! JSON read back, statements run over many rows a few at a time, and the best-effort writes
//! of what readers keep. Imports nothing else of the log, so its modules can use it.

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// A count or id as SQLite stores it.
pub(super) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Rows one statement inserts, upserts or reads at most ([`per_statement`]): a batch of 512
/// calls runs 16 statements, not 512 (each run of a statement costs about as much as a row).
const ROWS_PER_STATEMENT: usize = 32;

/// Run statements of `sql(ROWS_PER_STATEMENT)` over `items`, that many to a run (`run` binds
/// and runs one), then the rest one by one with `sql(1)`: two statements to compile and keep,
/// whatever the number of items.
pub(super) fn per_statement<T>(
    conn: &Connection,
    items: &[T],
    sql: impl Fn(usize) -> String,
    mut run: impl FnMut(&mut rusqlite::CachedStatement<'_>, &[T]) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let chunks = items.chunks_exact(ROWS_PER_STATEMENT);
    let rest = chunks.remainder();
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(&sql(ROWS_PER_STATEMENT))?;
        for chunk in chunks {
            run(&mut stmt, chunk)?;
        }
    }
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&sql(1))?;
        for one in rest.chunks(1) {
            run(&mut stmt, one)?;
        }
    }
    Ok(())
}

/// JSON text the log stored, parsed; `None` for none, or for text that is not JSON of a `T`.
pub(super) fn parsed<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|s| serde_json::from_str(&s).ok())
}

/// A count SQLite stored, back (a negative one as 0).
pub(super) fn sql_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Run `write` in one transaction, best effort, never waiting for another process's write
/// lock (the connection's own wait is put back after): what a reader keeps for next time
/// (`run_counts`, `run_volumes`) can be kept then when the log is busy now.
pub(super) fn keep_if_free(
    conn: &Connection,
    write: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) {
    let wait: i64 = conn
        .pragma_query_value(None, "busy_timeout", |r| r.get(0))
        .unwrap_or(0);
    let _ = conn.busy_timeout(std::time::Duration::ZERO);
    let _ = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).and_then(|tx| {
        write(&tx)?;
        tx.commit()
    });
    let wait = std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0));
    let _ = conn.busy_timeout(wait);
}
