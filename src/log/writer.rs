//! The run log's writer: one thread per run that opens the log while the run starts, then
//! writes each batch of rows it is sent in one transaction, in the order sent.
//!
//! Nothing on a call's path waits for SQLite: a batch is handed over on a channel. The last
//! batch is handed over as the run ends ([`Writer::close`]); a command waits for it with
//! [`Closing::wait`] as late as it can — the CLI after its async runtime has shut down — so the
//! last commit overlaps the process's own teardown instead of adding to it.

use std::path::PathBuf;
use std::sync::mpsc;

use rusqlite::{Connection, params};
use serde_json::Value;

use super::sql::{per_statement, sql_int};
use super::{ApprovalRow, CallRow, LogError, SwitchEvent, chat, now};

/// Rows of one run to write in one transaction.
#[derive(Default)]
pub(super) struct Batch {
    pub calls: Vec<CallRow>,
    pub approvals: Vec<ApprovalRow>,
    pub switches: Vec<SwitchEvent>,
    pub turns: Vec<chat::TurnRows>,
    /// The last batch: how the run ended.
    pub end: Option<End>,
}

impl Batch {
    /// No rows and no end: what announces a run's first call.
    fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.approvals.is_empty()
            && self.switches.is_empty()
            && self.turns.is_empty()
            && self.end.is_none()
    }
}

/// How a run ended, written with its last batch.
pub(super) struct End {
    pub status: &'static str,
    pub calls_dropped: u64,
}

/// What identifies the run in every batch: its row in `runs`.
pub(super) struct RunRow {
    pub id: String,
    pub started: String,
    pub command: String,
}

/// A batch, and where to say that it is written (a chat turn waits for that).
struct Job {
    batch: Batch,
    written: Option<mpsc::SyncSender<()>>,
}

/// The sending side of a run's writer thread.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// What the thread says once its last batch is committed: its first failure, if any.
    done: mpsc::Receiver<Result<(), LogError>>,
}

impl Writer {
    /// Start the thread: it opens the log at `db` (applying `retention`, and
    /// checkpointing a grown WAL), then writes the batches of `run` as they come.
    pub fn start(
        db: PathBuf,
        run: RunRow,
        retention: super::Retention,
    ) -> Result<Writer, LogError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (said, done) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("llm-do-log".into())
            .spawn(move || {
                let opened = (|| {
                    let conn = super::open(&db)?;
                    super::retain(&conn, retention)?;
                    super::checkpoint_if_grown(&conn, &db)?;
                    warm(&conn)?;
                    Ok(conn)
                })();
                let (served, conn) = match opened {
                    Ok(mut conn) => (serve(&mut conn, &run, &queue), Some(conn)),
                    Err(e) => (Err(e), None),
                };
                // Said once the last batch is committed, before the connection closes: a
                // process that exits next leaves unmapping and closing files to the kernel.
                let _ = said.send(served);
                drop(conn);
            })
            .map_err(LogError::Thread)?;
        Ok(Writer { jobs, done })
    }

    /// Queue `batch`; the first failure to write it is returned by [`Closing::wait`].
    pub fn send(&self, batch: Batch) {
        // A send fails only when the thread has ended, which it does on its first failure
        // to open the log: that failure is what `Closing::wait` returns.
        let _ = self.jobs.send(Job {
            batch,
            written: None,
        });
    }

    /// Write `batch` and wait until it is committed, or failed: like every failure of the
    /// run, that is returned by [`Closing::wait`]. (A thread that ended before the batch
    /// failed to open the log, and says why there too.)
    pub fn write_now(&self, batch: Batch) {
        let (written, wait) = mpsc::sync_channel(1);
        let written = Some(written);
        if self.jobs.send(Job { batch, written }).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Hand over the last batch; the thread commits it and ends.
    pub fn close(self, last: Batch) -> Closing {
        self.send(last);
        drop(self.jobs);
        Closing { done: self.done }
    }
}

/// A run log's last batch being written; [`Closing::wait`] waits for it.
#[must_use = "the last batch is only known to be written once waited for"]
pub struct Closing {
    done: mpsc::Receiver<Result<(), LogError>>,
}

impl Closing {
    /// Wait until the run's last batch is committed.
    ///
    /// # Errors
    ///
    /// The first failure to open the log or to write a batch of the run.
    pub fn wait(self) -> Result<(), LogError> {
        // Nothing said: the thread panicked.
        self.done.recv().unwrap_or(Err(LogError::Lost))
    }
}

/// Write each queued batch until the channel closes, saying when one is written to whoever
/// waits for it; the first failure is returned at the end (later batches are still tried: they
/// may be fine).
///
/// An empty batch announces the run's first call: the run's row is written then, with no end
/// and no status, so that a run killed before its first batch is in the log all the same —
/// unless a batch is already waiting behind it (a short run's only one), which carries the row.
fn serve(conn: &mut Connection, run: &RunRow, queue: &mpsc::Receiver<Job>) -> Result<(), LogError> {
    let mut run_written = false;
    let mut failure = None;
    let mut waiting = None;
    while let Some(job) = waiting.take().or_else(|| queue.recv().ok()) {
        if job.batch.is_empty() {
            if run_written {
                continue;
            }
            if let Ok(next) = queue.try_recv() {
                waiting = Some(next);
                continue;
            }
        }
        let result = write(conn, run, &job.batch, run_written);
        run_written |= result.is_ok();
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
        if let Some(reply) = job.written {
            let _ = reply.send(());
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Columns of a call row, in the order [`bind_call`] binds them.
const CALL_COLUMNS: usize = 19;

/// The statement that inserts `rows` call rows.
fn insert_calls_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; CALL_COLUMNS].join(", "));
    format!(
        "INSERT OR REPLACE INTO calls (run, id, parent, depth, kind, name, input, output, error,
         model, tokens_in, tokens_out, cache_read, cache_write, cost, ms, time, stop, fallback)
         VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// Bind call row `c` of run `run` to the parameters after `at`.
fn bind_call(
    stmt: &mut rusqlite::CachedStatement<'_>,
    at: usize,
    run: &str,
    c: &CallRow,
) -> rusqlite::Result<()> {
    let values: [&dyn rusqlite::ToSql; CALL_COLUMNS] = [
        &run,
        &c.id,
        &c.parent,
        &c.depth,
        &c.kind,
        &c.name,
        &c.input.to_string(),
        &c.output.as_ref().map(Value::to_string),
        &c.error,
        &c.model,
        &c.tokens_in,
        &c.tokens_out,
        &c.cache_read,
        &c.cache_write,
        &c.cost,
        &c.ms,
        &c.time,
        &c.stop,
        &c.fallback,
    ];
    for (i, v) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(at + i + 1, v)?;
    }
    Ok(())
}

/// A run's row: written when its first call is announced (or with the batch that follows at
/// once), its end and status with its last batch.
const UPSERT_RUN: &str = "INSERT INTO runs (id, started, command, ended, status, calls_dropped)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (id) DO UPDATE SET ended = excluded.ended, status = excluded.status,
    calls_dropped = excluded.calls_dropped";

/// Compile the statements every run uses before the first batch comes: the first compile
/// reads and parses the whole schema, which would otherwise fall on the run's last write.
fn warm(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(UPSERT_RUN)?;
    conn.prepare_cached(&insert_calls_sql(1))?;
    Ok(())
}

/// Write `batch` of `run` in one transaction, with the run's row when it is the first one
/// written (`run_written` false) or the last.
fn write(
    conn: &mut Connection,
    run: &RunRow,
    batch: &Batch,
    run_written: bool,
) -> Result<(), LogError> {
    let tx = conn.transaction()?;
    // A statement is compiled only when there are rows for it (a short run has none of most
    // kinds, and each compile is a parse of its SQL; `per_statement` compiles none for none).
    per_statement(&tx, &batch.calls, insert_calls_sql, |insert, rows| {
        for (i, c) in rows.iter().enumerate() {
            bind_call(insert, i * CALL_COLUMNS, &run.id, c)?;
        }
        insert.raw_execute().map(drop)
    })?;
    if !batch.approvals.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO approvals (run, parent, tool, input, decision, reason, decided_by, rule,
             time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for a in &batch.approvals {
            insert.execute(params![
                run.id,
                a.parent,
                a.tool,
                a.input.to_string(),
                a.decision,
                a.reason,
                a.decided_by,
                a.rule,
                a.time
            ])?;
        }
    }
    if !batch.switches.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO switch_events (run, name, mode, served, deferred, agreed, fields, input,
             worker_output, code_output, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for s in &batch.switches {
            insert.execute(params![
                run.id,
                s.name,
                s.mode,
                s.served,
                s.deferred,
                s.agreed,
                serde_json::to_string(&s.fields).unwrap_or_default(),
                s.input.to_string(),
                s.worker_output.as_ref().map(Value::to_string),
                s.code_output.as_ref().map(Value::to_string),
                now(),
            ])?;
        }
    }
    chat::insert(&tx, &run.id, &batch.turns)?;
    if !run_written || batch.end.is_some() {
        let end = batch.end.as_ref();
        tx.prepare_cached(UPSERT_RUN)?.execute(params![
            run.id,
            run.started,
            run.command,
            end.map(|_| now()),
            end.map(|e| e.status),
            sql_int(end.map_or(0, |e| e.calls_dropped)),
        ])?;
    }
    tx.commit()?;
    Ok(())
}
