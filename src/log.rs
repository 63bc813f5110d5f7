//! The run log (DESIGN §14): every run appends its calls to `.llm-do/log.db` in the project
//! root — SQLite in WAL mode, so several processes at once lose nothing. It is fed by the
//! seam's trace spans (an [`Observer`]), so whatever reaches a name is logged the same way.
//!
//! Rows are buffered and handed to the run's writer thread (`log::writer`) in batches (every
//! [`FLUSH_EVERY`] rows or [`FLUSH_AFTER`], at the end, and when a command must not report a
//! result the log lacks: [`RunLog::commit`]), each written in one transaction:
//! a call costs a push, never a wait for the disk. Inputs and outputs are
//! stored as JSON text; secrets never reach the log because they never reach a span (keys
//! live in the HTTP layer only). A run logs at most [`MAX_SYMBOLIC_ROWS`] fn and builtin calls:
//! a hot loop of `call()`s must not turn into a million rows. Conversations (`chat`) keep
//! their messages in [`chat`].

pub mod aggregate;
pub mod agreement;
pub mod chat;
mod marker;
pub mod search;
mod sql;
mod time;
pub mod volume;
pub mod window;
mod writer;

pub use time::{format_time, now, seconds_of};

pub use marker::{TRUNCATED, logged_pair};
pub use writer::Closing;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use serde_json::Value;

use agreement::SwitchCounts;
use sql::{keep_if_free, parsed, sql_count, sql_int};
use writer::{Batch, End, Writer};

pub use volume::Volume;
pub use window::Window;

use crate::approval::{DecidedBy, Outcome};
use crate::trace::{ApprovalEvent, CallEnd, CallStart, Kind, ModelResponseEvent, Observer};

/// Folder of llm-do's own state in a project.
pub const STATE_DIR: &str = ".llm-do";
/// The log file inside [`STATE_DIR`].
pub const LOG_FILE: &str = "log.db";
/// The WAL size past which a run checkpoints it as it opens the log (off the critical path).
pub const WAL_CHECKPOINT_BYTES: u64 = 256 * 1024;

/// How long a statement waits for another process's lock on the log before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Rows buffered before a write.
pub const FLUSH_EVERY: usize = 512;
/// Buffered rows are written at least this often (a REPL session, a long script).
pub const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(2);
/// Fn and builtin calls logged per run at most (workers, tools and MCP calls are always).
pub const MAX_SYMBOLIC_ROWS: u64 = 10_000;
/// KiB of JSON past which a logged input or output is stored as a truncation marker, unless
/// `[log] max_value_kb` says otherwise.
pub const DEFAULT_MAX_VALUE_KB: u64 = 1024;
/// Bytes of a truncated value's JSON kept in its marker.
const TRUNCATED_HEAD: usize = 1024;

/// `value` as the run log keeps it: itself when its JSON fits in `max` bytes, else the marker
/// `{"llm_do_truncated": {"bytes": N, "head": "<its first KiB of JSON>"}}`. `dataset` and
/// `stats` treat a marker as not comparable (see [`is_truncated`]).
#[must_use]
pub fn capped(value: Value, max: usize) -> Value {
    let mut left = max;
    if !exceeds(&value, &mut left) {
        return value;
    }
    let text = value.to_string();
    let mut end = TRUNCATED_HEAD.min(max).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({ TRUNCATED: { "bytes": text.len(), "head": &text[..end] } })
}

/// Whether `value` is the marker of a value too long to log (its content is unknown, so it
/// equals nothing).
#[must_use]
pub fn is_truncated(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.contains_key(TRUNCATED))
}

/// Whether `value`'s JSON takes more than `left` bytes (strings counted unescaped), counting
/// `left` down and stopping as soon as it does: a small value costs a short walk.
fn exceeds(value: &Value, left: &mut usize) -> bool {
    let own = match value {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.len(),
        Value::Object(m) => 2 + m.keys().map(|k| k.len() + 4).sum::<usize>(),
        Value::Number(_) => 20,
        Value::Bool(_) | Value::Null => 5,
    };
    if own > *left {
        return true;
    }
    *left -= own;
    match value {
        Value::Array(a) => a.iter().any(|v| exceeds(v, left)),
        Value::Object(m) => m.values().any(|v| exceeds(v, left)),
        _ => false,
    }
}

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the run log `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// `.llm-do/`, the log or one of its WAL files is a symlink, a hard link or not what it
    /// should be: opening it could write outside the project.
    #[error(
        "refusing the run log: `{path}` {why}; llm-do writes its log only to a real `.llm-do/log.db` inside the project"
    )]
    Planted { path: String, why: &'static str },
    #[error("cannot create `{path}`: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the run log: {0}")]
    Write(#[from] rusqlite::Error),
    #[error("cannot start the run log's writer thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the run log's writer thread stopped without a word (a bug)")]
    Lost,
    /// A database of another program stands where the log should: llm-do neither reads nor
    /// changes it.
    #[error(
        "`{path}` is not an llm-do run log: it holds tables llm-do did not write; move it away and llm-do starts a new log"
    )]
    Foreign { path: String },
    #[error("the run log holds {what} that cannot be read: {message}")]
    Corrupt { what: String, message: String },
}

/// `PRAGMA user_version` once [`SCHEMA`] is in place (creating it is skipped after that).
/// 3: approvals say who decided (`decided_by`, `rule`).
/// 4: worker calls say why their model stopped (`stop`) and why a fallback chain moved on
/// (`fallback`).
/// 5: readers' indexes, the documented views and the search index (`SCHEMA_5`).
/// 6: per-name aggregates for full-history `stats` and `dataset`, kept by their readers
/// ([`aggregate`]).
/// 7: `llm-do test` results (`test_results`) and one name's switch events by index
/// ([`agreement`]); ended runs' worker sums, kept by their readers ([`volume`]).
const SCHEMA_VERSION: i64 = 7;

/// What schema 5 adds (docs/log-schema.md): indexes that keep the readers interactive at a
/// million calls, the views documented as a stable interface, and the full-text index of
/// inputs and outputs that `logs --query` fills lazily (`search`). All of it is additive: a log of
/// an older version keeps its rows and gains these.
const SCHEMA_5: &str = "
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (time);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started);
CREATE VIRTUAL TABLE IF NOT EXISTS calls_fts USING fts5 (input, output, content = '');
CREATE TABLE IF NOT EXISTS run_counts (run TEXT PRIMARY KEY, calls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls_fts_state (
    last INTEGER NOT NULL, run TEXT, id INTEGER
);
CREATE VIEW IF NOT EXISTS run_summary AS
    SELECT r.id, r.started, r.ended, r.status, r.command, r.calls_dropped,
           count(c.id) AS calls, count(c.error) AS errors,
           coalesce(sum(c.tokens_in), 0) AS tokens_in, coalesce(sum(c.tokens_out), 0) AS tokens_out,
           sum(c.cost) AS cost
    FROM runs r LEFT JOIN calls c ON c.run = r.id GROUP BY r.id;
CREATE VIEW IF NOT EXISTS call_list AS
    SELECT run, id, parent, depth, kind, name, model, substr(time, 1, 10) AS day, time, ms,
           tokens_in, tokens_out, cache_read, cache_write, cost,
           error IS NULL AS ok, input, output, error
    FROM calls;
CREATE VIEW IF NOT EXISTS cost_per_name_day AS
    SELECT name, substr(time, 1, 10) AS day, count(*) AS calls, count(error) AS errors,
           sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost) AS cost,
           avg(ms) AS avg_ms
    FROM calls GROUP BY name, day;
CREATE VIEW IF NOT EXISTS agreement_per_name_day AS
    SELECT name, substr(time, 1, 10) AS day, count(*) AS calls, sum(deferred) AS deferred,
           count(agreed) AS compared, coalesce(sum(agreed), 0) AS agreed,
           CASE WHEN count(agreed) > 0 THEN 1.0 * sum(agreed) / count(agreed) END AS agreement
    FROM switch_events GROUP BY name, day;
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT, command TEXT NOT NULL,
    status TEXT, calls_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS calls (
    run TEXT NOT NULL, id INTEGER NOT NULL, parent INTEGER, depth INTEGER NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, input TEXT, output TEXT, error TEXT, model TEXT,
    tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
    cache_read INTEGER NOT NULL DEFAULT 0, cache_write INTEGER NOT NULL DEFAULT 0,
    cost REAL, ms REAL, time TEXT NOT NULL, stop TEXT, fallback TEXT,
    PRIMARY KEY (run, id)
);
CREATE INDEX IF NOT EXISTS calls_by_name ON calls (name, time);
CREATE TABLE IF NOT EXISTS switch_events (
    run TEXT NOT NULL, name TEXT NOT NULL, mode TEXT NOT NULL, served TEXT NOT NULL,
    deferred INTEGER NOT NULL, agreed INTEGER, fields TEXT, input TEXT, worker_output TEXT,
    code_output TEXT, time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    run TEXT NOT NULL, parent INTEGER, tool TEXT NOT NULL, input TEXT, decision TEXT NOT NULL,
    reason TEXT, time TEXT NOT NULL, decided_by TEXT, rule INTEGER
);
";

/// How a run ended, as the log keeps it (`logs --runs`; a run with no status never ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    Error,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

impl RunStatus {
    /// The word stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Error => "error",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// One call as the log keeps it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CallRow {
    pub run: String,
    pub id: i64,
    pub parent: Option<i64>,
    pub depth: u32,
    pub kind: String,
    pub name: String,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub model: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cache_read: i64,
    pub cache_write: i64,
    pub cost: Option<f64>,
    pub ms: f64,
    pub time: String,
    /// A worker run: why its model's last reply stopped (`stop`, `tool_calls`, `length`, ...).
    /// `None` for other calls and in rows of logs older than schema 4.
    pub stop: Option<String>,
    /// A worker run: why a fallback chain moved on, one `FROM → TO: REASON` per move, `; `
    /// between them.
    pub fallback: Option<String>,
}

/// One call of a stabilize switch (DESIGN §14): which side served, whether the fn deferred,
/// and in shadow modes whether both sides agreed (with both outputs).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SwitchEvent {
    pub name: String,
    pub mode: String,
    /// `worker` or `code`.
    pub served: String,
    pub deferred: bool,
    /// Shadow modes only: whether the outputs agree under the worker's comparators.
    pub agreed: Option<bool>,
    /// Fields that disagreed.
    pub fields: Vec<String>,
    pub input: Value,
    pub worker_output: Option<Value>,
    pub code_output: Option<Value>,
}

/// Per-name figures of switch events: the mode last logged and the counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SwitchFigures {
    pub name: String,
    pub mode: String,
    #[serde(flatten)]
    pub counts: SwitchCounts,
}

/// A decision of the approval gate, as logged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApprovalRow {
    /// The call (a worker run) whose tool call was decided.
    pub parent: Option<i64>,
    pub tool: String,
    pub input: Value,
    /// `approved`, `denied` or `aborted`.
    pub decision: String,
    /// Why a call was denied.
    pub reason: Option<String>,
    /// Who decided, as traces say it: `flag`, `policy`, `rule`, `user`, `session` or `default`
    /// (a denial by the protected set). `None` in rows of logs older than schema 3.
    pub decided_by: Option<String>,
    /// The 0-based index of the `[[approvals]]` rule that decided.
    pub rule: Option<i64>,
    pub time: String,
}

/// The path of the run log of the project at `root`.
pub fn path_in(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join(LOG_FILE)
}

/// Open (creating) the log at `path`: WAL mode, a busy timeout for concurrent writers, the
/// schema, and a `.gitignore` in the state folder so the log is never committed.
///
/// The state folder and the log stay inside the project: a `.llm-do/` that is a symlink or not
/// a folder, and a log (or its `-wal`, `-shm`, `-journal` file) that is a symlink, a hard link
/// or not a file, are refused before anything is created or opened, and SQLite opens the log
/// with `SQLITE_OPEN_NOFOLLOW`. (A file swapped in between the check and the open is not
/// caught; models cannot write `.llm-do/`, the protected set keeps it from them.)
///
/// # Errors
///
/// [`LogError::Planted`], or the folder or the database cannot be created or opened.
pub fn open(path: &Path) -> Result<Connection, LogError> {
    guard(path)?;
    let setup = || -> rusqlite::Result<Option<Connection>> {
        let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL mode stays with the file: only a log without the schema needs it set (each
        // statement here is parsed, and the first one that needs the schema reads it).
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            if is_foreign(&conn)? {
                return Ok(None);
            }
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "journal_size_limit", 0)?;
        // No checkpoint (and fsync) when a run closes the log: a run's opening thread
        // checkpoints it once it passes `WAL_CHECKPOINT_BYTES`, so no run pays for it at exit.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        if version < SCHEMA_VERSION {
            migrate(&mut conn)?;
        }
        Ok(Some(conn))
    };
    let path = || path.display().to_string();
    match setup() {
        Ok(Some(conn)) => Ok(conn),
        Ok(None) => Err(LogError::Foreign { path: path() }),
        Err(source) => Err(LogError::Open {
            path: path(),
            source,
        }),
    }
}

/// Whether the database holds tables but not the `runs` and `calls` every version of the log
/// has had: another program's file, which migrating would change.
fn is_foreign(conn: &Connection) -> rusqlite::Result<bool> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    if count("SELECT count(*) FROM sqlite_master WHERE type = 'table'")? == 0 {
        return Ok(false);
    }
    let runs = count(
        "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN ('id', 'started', 'command')",
    )?;
    let calls = count(
        "SELECT count(*) FROM pragma_table_info('calls')
         WHERE name IN ('run', 'id', 'kind', 'name', 'time')",
    )?;
    Ok(runs < 3 || calls < 5)
}

/// Make the log's folder and check that nothing planted stands at the log's names (see
/// [`open`]).
///
/// # Errors
///
/// [`LogError::Planted`], or the folder cannot be created.
fn guard(path: &Path) -> Result<(), LogError> {
    if let Some(dir) = path.parent() {
        state_dir(dir)?;
        let ignore = dir.join(".gitignore");
        if std::fs::symlink_metadata(&ignore).is_err() {
            // Written to a temporary file renamed over the name: never through a symlink.
            let _ = crate::atomic::write_atomic(&ignore, b"*\n");
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        refuse_planted_file(Path::new(&file))?;
    }
    Ok(())
}

/// Make sure the state folder `dir` is a real folder (created when missing), never a
/// symlink or a file.
fn state_dir(dir: &Path) -> Result<(), LogError> {
    let planted = |why| LogError::Planted {
        path: dir.display().to_string(),
        why,
    };
    let io = |source| LogError::Dir {
        path: dir.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(planted("is a symlink")),
        Ok(meta) if !meta.is_dir() => return Err(planted("is not a folder")),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // `mkdir` itself never follows a symlink: one planted since the check makes it fail.
    std::fs::create_dir(dir).map_err(io)
}

/// Refuse a log file at `path` that is a symlink (dangling or not), a hard link to another
/// name (which may be outside the project) or not a regular file; a missing one is fine.
fn refuse_planted_file(path: &Path) -> Result<(), LogError> {
    let planted = |why| LogError::Planted {
        path: path.display().to_string(),
        why,
    };
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Err(planted("is a symlink"));
    }
    if !meta.is_file() {
        return Err(planted("is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(planted("has another hard link"));
        }
    }
    Ok(())
}

/// Bring the schema up to [`SCHEMA_VERSION`]: create what is missing and add the columns
/// later versions added. Under `BEGIN IMMEDIATE`, with the version read again inside: two
/// processes that open an old log at once take turns, and the second finds nothing to do.
/// (Not `rusqlite_migration` 2.4: it reads the version before opening its transaction, so
/// both would run the `ALTER TABLE`s.)
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(chat::SCHEMA)?;
    // 3: a log from before keeps its approvals table; it gains who decided.
    // 4: its calls table gains the stop reason and the fallback reason.
    let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    let added = [
        ("approvals", "decided_by", "TEXT"),
        ("approvals", "rule", "INTEGER"),
        ("calls", "stop", "TEXT"),
        ("calls", "fallback", "TEXT"),
    ];
    for (table, column, kind) in added {
        if !has(table, column)? {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    // 5: indexes, views and the search index; additive, so its own step.
    tx.execute_batch(SCHEMA_5)?;
    // 6: the aggregates, built once from the calls there are (a log at 6 already keeps
    // them: rebuilding a million calls' would cost its next run seconds for nothing).
    if version < 6 {
        tx.execute_batch(aggregate::SCHEMA_6)?;
        aggregate::rebuild(&tx, None)?;
    }
    // 7: test results and the switch events' index; additive.
    tx.execute_batch(agreement::SCHEMA_7)?;
    tx.execute_batch(volume::SCHEMA_7)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// The observer that writes the run log: rows are buffered here and handed to the run's
/// writer thread (`log::writer`) in batches.
pub struct RunLog {
    run: String,
    /// `None` once the run is closed.
    writer: Mutex<Option<Writer>>,
    next: AtomicU64,
    symbolic: AtomicU64,
    dropped: AtomicU64,
    /// Calls started and not yet ended.
    open: Mutex<std::collections::HashMap<u64, CallRow>>,
    /// Rows ended and not yet handed to the writer.
    pending: Mutex<Batch>,
    last_write: Mutex<std::time::Instant>,
    /// Bytes of JSON past which an input or output is stored as a marker ([`capped`]).
    max_value: usize,
}

/// `kb` KiB in bytes (saturating).
fn kib(kb: u64) -> usize {
    usize::try_from(kb.saturating_mul(1024)).unwrap_or(usize::MAX)
}

impl RunLog {
    /// Start a run in the log at `path`; `command` is what was run (for `llm-do logs`).
    /// The log is opened (and pruned as `retention` says: `[log] retain_days` and `max_mb`) on
    /// the run's writer thread while the run starts, so a short run does not wait for SQLite
    /// before its first call.
    ///
    /// # Errors
    ///
    /// The writer thread cannot be started.
    pub fn start(path: &Path, command: &str, retention: Retention) -> Result<RunLog, LogError> {
        let run = crate::id::new_run_id();
        let row = writer::RunRow {
            id: run.clone(),
            started: now(),
            command: command.to_string(),
        };
        let writer = Writer::start(path.to_path_buf(), row, retention)?;
        Ok(RunLog {
            run,
            writer: Mutex::new(Some(writer)),
            next: AtomicU64::new(1),
            symbolic: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            open: Mutex::default(),
            pending: Mutex::default(),
            last_write: Mutex::new(std::time::Instant::now()),
            max_value: kib(DEFAULT_MAX_VALUE_KB),
        })
    }

    /// Store inputs and outputs longer than `kb` KiB (`[log] max_value_kb`; `None`: the
    /// default) as truncation markers ([`capped`]).
    #[must_use]
    pub fn with_max_value_kb(mut self, kb: Option<u64>) -> Self {
        self.max_value = kib(kb.unwrap_or(DEFAULT_MAX_VALUE_KB));
        self
    }

    /// `value` as this log keeps it.
    fn cap(&self, value: Value) -> Value {
        capped(value, self.max_value)
    }

    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The rows buffered so far, taken.
    fn take_batch(&self) -> Batch {
        std::mem::take(&mut *crate::sync::lock(&self.pending))
    }

    fn keep(&self, row: CallRow) {
        let full = {
            let calls = &mut crate::sync::lock(&self.pending).calls;
            calls.push(row);
            calls.len() >= FLUSH_EVERY
        };
        let due = {
            let mut last = crate::sync::lock(&self.last_write);
            let due = full || last.elapsed() >= FLUSH_AFTER;
            if due {
                *last = std::time::Instant::now();
            }
            due
        };
        if due && let Some(w) = crate::sync::lock(&self.writer).as_ref() {
            w.send(self.take_batch());
        }
    }

    /// Record one call of a stabilize switch (written with the next batch).
    pub fn switch_event(&self, mut event: SwitchEvent) {
        event.input = self.cap(std::mem::take(&mut event.input));
        event.worker_output = event.worker_output.map(|v| self.cap(v));
        event.code_output = event.code_output.map(|v| self.cap(v));
        crate::sync::lock(&self.pending).switches.push(event);
    }

    /// Record one ended turn of conversation `conversation` with `worker`, written now: a
    /// turn is a person's time, and `--continue` must find it even if the process dies next.
    pub fn chat_turn(
        &self,
        conversation: &str,
        worker: &str,
        place: crate::call::TurnPlace,
        messages: &[crate::model::Message],
    ) {
        crate::sync::lock(&self.pending).turns.push(chat::TurnRows {
            conversation: conversation.to_string(),
            worker: worker.to_string(),
            place,
            messages: messages.to_vec(),
            time: now(),
        });
        self.commit();
    }

    /// Hand every row buffered so far to the writer and wait until it is committed: what a
    /// command does before it reports calls as done outside the log (a chat turn, a `batch`
    /// output line), so that a process killed next leaves no result the log lacks. A failure
    /// is reported when the run closes.
    pub fn commit(&self) {
        if let Some(w) = crate::sync::lock(&self.writer).as_ref() {
            w.write_now(self.take_batch());
        }
    }

    /// End the run: hand what is buffered to the writer with how the run ended. The writer
    /// commits it and closes the log while the caller goes on; wait with [`Closing::wait`].
    /// A run closes once: later calls return `None`.
    pub fn close_as(&self, status: RunStatus) -> Option<Closing> {
        let writer = crate::sync::lock(&self.writer).take()?;
        let mut last = self.take_batch();
        last.end = Some(End {
            status: status.as_str(),
            calls_dropped: self.dropped.load(Ordering::Relaxed),
        });
        Some(writer.close(last))
    }

    /// [`RunLog::close_as`] `ok`, and wait for the log to be written (what the benchmarks and
    /// tests that write a log directly do).
    ///
    /// # Errors
    ///
    /// The first failure to open or write the log in this run.
    pub fn finish(&self) -> Result<(), LogError> {
        self.close_as(RunStatus::Ok).map_or(Ok(()), Closing::wait)
    }
}

impl Observer for RunLog {
    fn wants(&self, kind: Kind) -> bool {
        kind == Kind::Neural || self.symbolic.load(Ordering::Relaxed) < MAX_SYMBOLIC_ROWS
    }

    fn call_start(&self, s: &CallStart) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id == 1
            && let Some(w) = crate::sync::lock(&self.writer).as_ref()
        {
            // The run's first call: from now on it is a run the log must show, even if it
            // is killed before its first batch.
            w.send(Batch::default());
        }
        if s.kind != Kind::Neural
            && self.symbolic.fetch_add(1, Ordering::Relaxed) >= MAX_SYMBOLIC_ROWS
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return id;
        }
        // The run id is bound when the row is written.
        let row = CallRow {
            id: sql_int(id),
            parent: s.parent.map(sql_int),
            depth: s.depth,
            kind: s.kind.log_name().to_string(),
            name: s.name.to_string(),
            input: self.cap(s.input.clone()),
            time: now(),
            ..CallRow::default()
        };
        crate::sync::lock(&self.open).insert(id, row);
        id
    }

    fn call_end(&self, id: u64, end: &CallEnd) {
        let Some(mut row) = crate::sync::lock(&self.open).remove(&id) else {
            return;
        };
        match &end.result {
            Ok(v) => row.output = Some(self.cap((*v).clone())),
            Err(e) => row.error = Some(e.clone()),
        }
        row.tokens_in = sql_int(end.usage.input_tokens);
        row.tokens_out = sql_int(end.usage.output_tokens);
        row.cache_read = sql_int(end.usage.cache_read_tokens);
        row.cache_write = sql_int(end.usage.cache_write_tokens);
        row.cost = end.cost;
        row.ms = end.elapsed.as_secs_f64() * 1000.0;
        self.keep(row);
    }

    /// A decision of the gate. A call approved by default (its tool needs no approval) is in
    /// `calls` already and is not a decision anyone made: only the others are kept, which
    /// also keeps a tool loop's log to one row per round trip.
    fn approval_event(&self, e: &ApprovalEvent) {
        let verdict = e.verdict;
        if verdict.outcome == Outcome::Approved && verdict.decided_by == DecidedBy::Default {
            return;
        }
        let (decision, reason) = crate::trace::decision(verdict);
        let row = ApprovalRow {
            parent: e.parent.map(sql_int),
            tool: e.tool.to_string(),
            input: self.cap(e.input.clone()),
            decision: decision.into(),
            reason: reason.map(str::to_owned),
            decided_by: Some(verdict.decided_by.as_str().into()),
            rule: verdict
                .decided_by
                .rule()
                .and_then(|i| i64::try_from(i).ok()),
            time: now(),
        };
        crate::sync::lock(&self.pending).approvals.push(row);
    }

    fn model_response(&self, _id: u64, e: &ModelResponseEvent) {
        if let Some(parent) = e.parent
            && let Some(row) = crate::sync::lock(&self.open).get_mut(&parent)
        {
            if row.model.as_deref() != Some(e.model) {
                row.model = Some(e.model.to_string());
            }
            if let Ok(reply) = &e.result {
                row.stop = Some(reply.finish.as_str().to_owned());
                let moves = reply.fallbacks.iter();
                let moves = moves.map(|f| format!("{} → {}: {}", f.from, f.to, f.reason));
                let all: Vec<String> = row.fallback.take().into_iter().chain(moves).collect();
                row.fallback = (!all.is_empty()).then(|| all.join("; "));
            }
        }
    }
}

/// Checkpoint the WAL once it passes [`WAL_CHECKPOINT_BYTES`], without waiting for other
/// processes (`PASSIVE`: what they still read stays in the WAL for a later run).
///
/// Every process start reads the whole WAL to rebuild its index (no other connection holds
/// it), so the WAL is kept small; the checkpoint's fsync runs on the opening thread, beside
/// the run's start, not at its end. With `journal_size_limit = 0` the next writer truncates
/// a fully checkpointed WAL as it starts it over, so its size on disk tells what is left.
fn checkpoint_if_grown(conn: &Connection, db: &Path) -> rusqlite::Result<()> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES) {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// The log's time text of `secs` seconds ago.
fn ago(secs: u64) -> String {
    let then = SystemTime::now().checked_sub(std::time::Duration::from_secs(secs));
    format_time(then.unwrap_or(UNIX_EPOCH))
}

/// The tables holding rows of a run (a `run` column): pruning deletes a run from all of them,
/// so a run goes whole, whichever retention deletes it.
const RUN_TABLES: &[&str] = &[
    "calls",
    "approvals",
    "chat_messages",
    "switch_events",
    "run_counts",
    "run_volumes",
];

/// Delete the runs whose ids `select` (a `SELECT` of run ids) picks, each whole (its rows in
/// every [`RUN_TABLES`] table), in one transaction, and rebuild the aggregates of the names
/// that lost calls. Returns how many runs it deleted.
fn delete_runs(
    conn: &Connection,
    behavior: TransactionBehavior,
    select: &str,
    values: impl rusqlite::Params,
) -> Result<usize, LogError> {
    let tx = Transaction::new_unchecked(conn, behavior)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY); DELETE FROM doomed",
    )?;
    let n = tx.execute(&format!("INSERT INTO doomed {select}"), values)?;
    let touched = aggregate::touched_by_doomed(&tx)?;
    if !touched.is_empty() {
        // The names not rebuilt keep what they have: calls not folded in yet are, first.
        aggregate::catch_up(&tx)?;
    }
    for table in RUN_TABLES {
        let sql = format!("DELETE FROM {table} WHERE run IN (SELECT id FROM doomed)");
        tx.execute(&sql, [])?;
    }
    tx.execute("DELETE FROM runs WHERE id IN (SELECT id FROM doomed)", [])?;
    if !touched.is_empty() {
        aggregate::rebuild(&tx, Some(&touched))?;
    }
    tx.commit()?;
    Ok(n)
}

/// Per-name figures of the switch events within `window`.
///
/// # Errors
///
/// The log cannot be read.
pub fn switch_figures_within(
    conn: &Connection,
    window: &Window,
) -> Result<Vec<SwitchFigures>, LogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT name, (SELECT mode FROM switch_events s2 WHERE s2.name = s.name ORDER BY time DESC LIMIT 1),
                {}
         FROM switch_events s WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR time < ?2)
         GROUP BY name ORDER BY name",
        SwitchCounts::COLUMNS
    ))?;
    let rows = stmt.query_map(params![window.since, window.until], |r| {
        Ok(SwitchFigures {
            name: r.get(0)?,
            mode: r.get(1)?,
            counts: SwitchCounts::read(r, 2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every name the log has calls of, sorted (for "did you mean" on an unknown name).
///
/// # Errors
///
/// When the log cannot be read.
pub fn call_names(conn: &Connection) -> Result<Vec<String>, LogError> {
    let mut stmt = conn.prepare("SELECT DISTINCT name FROM calls ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

/// [`Volume`] of the worker calls `filter` selects (by name, in a window), summed by SQLite.
///
/// # Errors
///
/// The log cannot be read.
pub fn worker_volume(conn: &Connection, filter: &CallFilter) -> Result<Volume, LogError> {
    let (clause, values) = filter.clause();
    let clause = and_term(&clause, "kind = 'worker'");
    Ok(conn.query_row(
        &format!(
            "SELECT count(*), coalesce(sum(tokens_in + tokens_out), 0),
                    CASE WHEN count(cost) = count(*) THEN coalesce(sum(cost), 0.0) END,
                    min(time), max(time)
             FROM calls {clause}"
        ),
        rusqlite::params_from_iter(values),
        |r| {
            Ok(Volume {
                calls: sql_count(r.get(0)?),
                tokens: sql_count(r.get(1)?),
                cost: r.get(2)?,
                first: r.get(3)?,
                last: r.get(4)?,
            })
        },
    )?)
}

/// Ids of the runs whose id ends with `suffix` or starts with `prefix` (`logs` shows the last
/// eight characters: the random part).
///
/// # Errors
///
/// The log cannot be read.
pub fn run_ids(conn: &Connection, part: &str) -> Result<Vec<String>, LogError> {
    let mut stmt = conn.prepare(
        "SELECT id FROM runs WHERE id LIKE ?1 || '%' OR id LIKE '%' || ?1 ORDER BY started",
    )?;
    let ids = stmt.query_map([part], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// The approval decisions made within call `parent` of run `run` (its tool calls), in order.
///
/// # Errors
///
/// The log cannot be read.
pub fn approvals(conn: &Connection, run: &str, parent: i64) -> Result<Vec<ApprovalRow>, LogError> {
    let mut stmt = conn.prepare(
        "SELECT parent, tool, input, decision, reason, decided_by, rule, time
         FROM approvals WHERE run = ?1 AND parent = ?2 ORDER BY rowid",
    )?;
    let rows = stmt.query_map(params![run, parent], |r| {
        Ok(ApprovalRow {
            parent: r.get(0)?,
            tool: r.get(1)?,
            input: parsed(r.get(2)?).unwrap_or(Value::Null),
            decision: r.get(3)?,
            reason: r.get(4)?,
            decided_by: r.get(5)?,
            rule: r.get(6)?,
            time: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One run as `llm-do logs --runs` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub id: String,
    pub started: String,
    /// `None` while the run goes on, or when it was killed.
    pub ended: Option<String>,
    /// `ok`, `error`, `interrupted`, or `None` (see `ended`).
    pub status: Option<String>,
    pub command: String,
    /// Calls of the run in the log.
    pub calls: i64,
    /// Fn and builtin calls past the run's limit, counted but not logged.
    pub calls_dropped: i64,
}

/// The newest `limit` runs that started within `window`, newest first, with how many calls
/// each logged.
///
/// # Errors
///
/// The log cannot be read.
pub fn runs(conn: &Connection, window: &Window, limit: usize) -> Result<Vec<RunSummary>, LogError> {
    select_runs(conn, window, None, limit)
}

/// The run with id `id`, as [`runs`] lists it (`llm-do view`'s page of one run).
///
/// # Errors
///
/// The log cannot be read.
pub fn run_summary(conn: &Connection, id: &str) -> Result<Option<RunSummary>, LogError> {
    Ok(select_runs(conn, &Window::default(), Some(id), 1)?
        .into_iter()
        .next())
}

/// The runs of [`runs`] and [`run_summary`]: within `window`, and only `id` when given.
fn select_runs(
    conn: &Connection,
    window: &Window,
    id: Option<&str>,
    limit: usize,
) -> Result<Vec<RunSummary>, LogError> {
    let mut stmt = conn.prepare(
        "SELECT r.id, r.started, r.ended, r.status, r.command, r.calls_dropped, n.calls
         FROM runs r LEFT JOIN run_counts n ON n.run = r.id
         WHERE (?1 IS NULL OR r.started >= ?1) AND (?2 IS NULL OR r.started < ?2)
           AND (?4 IS NULL OR r.id = ?4)
         ORDER BY r.started DESC, r.id DESC LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // A run whose count is not kept is counted now; an ended one's count is kept after.
    let mut count = conn.prepare_cached("SELECT count(*) FROM calls WHERE run = ?1")?;
    let mut ended = Vec::new();
    let rows = stmt.query_map(params![window.since, window.until, limit, id], |r| {
        let mut run = RunSummary {
            id: r.get(0)?,
            started: r.get(1)?,
            ended: r.get(2)?,
            status: r.get(3)?,
            command: r.get(4)?,
            calls_dropped: r.get(5)?,
            calls: 0,
        };
        if let Some(n) = r.get(6)? {
            run.calls = n;
        } else {
            run.calls = count.query_row([&run.id], |r| r.get(0))?;
            if run.status.is_some() {
                ended.push((run.id.clone(), run.calls));
            }
        }
        Ok(run)
    })?;
    let out = rows.collect::<Result<Vec<_>, _>>()?;
    remember_counts(conn, &ended);
    Ok(out)
}

/// Keep the call counts of ended runs (`run_counts`), which no longer change, so that the next
/// `logs --runs` reads them instead of counting again: the count is the reader's work, and
/// writing a run costs nothing more.
fn remember_counts(conn: &Connection, counts: &[(String, i64)]) {
    if counts.is_empty() {
        return;
    }
    keep_if_free(conn, |tx| {
        let mut insert =
            tx.prepare_cached("INSERT OR REPLACE INTO run_counts (run, calls) VALUES (?1, ?2)")?;
        for (run, n) in counts {
            insert.execute(params![run, n])?;
        }
        Ok(())
    });
}

/// Which calls [`calls`] reads: every filter left `None` matches everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallFilter<'a> {
    pub name: Option<&'a str>,
    pub run: Option<&'a str>,
    /// One call of `run` by its id.
    pub id: Option<i64>,
    /// Calls that started at or after this time (the log's time text, see [`Window`]).
    pub since: Option<&'a str>,
    /// Calls that started before this time.
    pub until: Option<&'a str>,
    /// Calls answered by this model.
    pub model: Option<&'a str>,
    /// Calls whose input or output has every word of this text ([`search`]; its index must be
    /// caught up first with [`search::catch_up`]).
    pub text: Option<&'a str>,
    /// The newest this many calls at most (`None`: every call).
    pub limit: Option<usize>,
}

impl<'a> CallFilter<'a> {
    /// This filter narrowed to `window`.
    pub fn within(self, window: &'a Window) -> Self {
        Self {
            since: window.since.as_deref(),
            until: window.until.as_deref(),
            ..self
        }
    }

    /// Whether the filter reads the whole history (of one name or all): no run, call, window,
    /// model or search narrows it. Such reads can be answered by [`aggregate`].
    pub fn is_whole_history(&self) -> bool {
        self.run.is_none()
            && self.id.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.model.is_none()
            && self.text.is_none()
    }

    /// The `WHERE` clause of the filters set, and their values in order. Only the filters
    /// that are set take part, so SQLite picks the index that fits (`name`, `time`, `run`).
    pub(crate) fn clause(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value as V;
        let text = |s: &str| V::Text(s.to_string());
        let set = [
            ("name = ?", self.name.map(text)),
            ("run = ?", self.run.map(text)),
            ("id = ?", self.id.map(V::Integer)),
            ("time >= ?", self.since.map(text)),
            ("time < ?", self.until.map(text)),
            ("model = ?", self.model.map(text)),
            (
                "rowid IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)",
                self.text.map(|q| V::Text(search::match_expr(q))),
            ),
        ];
        let (terms, values): (Vec<&str>, Vec<V>) = set
            .into_iter()
            .filter_map(|(term, value)| Some((term, value?)))
            .unzip();
        let clause = if terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", terms.join(" AND "))
        };
        (clause, values)
    }
}

/// `clause` (a `WHERE` clause of [`CallFilter::clause`], or nothing) with `term` ANDed on.
pub(crate) fn and_term(clause: &str, term: &str) -> String {
    if clause.is_empty() {
        format!("WHERE {term}")
    } else {
        format!("{clause} AND {term}")
    }
}

/// Read calls back, newest first, as `filter` selects them.
///
/// # Errors
///
/// The log cannot be read.
pub fn calls(conn: &Connection, filter: &CallFilter) -> Result<Vec<CallRow>, LogError> {
    let (clause, mut values) = filter.clause();
    // Without a name, run or search, the newest calls are read off the time index; SQLite's
    // planner, which knows nothing of how many calls a model answered, would rather sort
    // the whole table.
    let by_time = filter.name.is_none()
        && filter.run.is_none()
        && filter.id.is_none()
        && filter.text.is_none();
    let from = if by_time {
        "calls INDEXED BY calls_by_time"
    } else {
        "calls"
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT run, id, parent, depth, kind, name, input, output, error, model, tokens_in,
                tokens_out, cache_read, cache_write, cost, ms, time, stop, fallback
         FROM {from} {clause} ORDER BY time DESC, id DESC LIMIT ?"
    ))?;
    values.push(rusqlite::types::Value::Integer(
        filter
            .limit
            .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX)),
    ));
    let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
        Ok(CallRow {
            run: r.get(0)?,
            id: r.get(1)?,
            parent: r.get(2)?,
            depth: r.get(3)?,
            kind: r.get(4)?,
            name: r.get(5)?,
            input: parsed(r.get(6)?).unwrap_or(Value::Null),
            output: parsed(r.get(7)?),
            error: r.get(8)?,
            model: r.get(9)?,
            tokens_in: r.get(10)?,
            tokens_out: r.get(11)?,
            cache_read: r.get(12)?,
            cache_write: r.get(13)?,
            cost: r.get(14)?,
            ms: r.get(15)?,
            time: r.get(16)?,
            stop: r.get(17)?,
            fallback: r.get(18)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How much of the log a run keeps when it opens it: runs older than `days`, and the oldest
/// runs while the log's pages in use pass `max_mb`, are deleted, each run whole.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Retention {
    /// `[log] retain_days`.
    pub days: Option<u32>,
    /// `[log] max_mb`: megabytes (10^6 bytes) of pages in use.
    pub max_mb: Option<f64>,
}

/// Bytes of the log's pages in use (its size less its free pages), as a run sees it now.
///
/// # Errors
///
/// The log cannot be read.
pub fn used_bytes(conn: &Connection) -> Result<u64, LogError> {
    let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Delete the oldest runs, whole (calls, approvals, switch events and chat turns with them),
/// while the pages in use pass `max_bytes`. A run that has not ended and started less than
/// a day ago may still be writing, and is never deleted here. Each step deletes about as many
/// runs as the excess holds at the log's mean run size, in one transaction, and measures again.
fn prune_to_size(conn: &Connection, max_bytes: u64) -> Result<(), LogError> {
    let recent = ago(86_400);
    loop {
        let used = used_bytes(conn)?;
        if used <= max_bytes {
            return Ok(());
        }
        let runs: i64 = conn.query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?;
        if runs == 0 {
            return Ok(());
        }
        let mean = used / u64::try_from(runs).unwrap_or(1).max(1);
        let take = sql_int(((used - max_bytes) / mean.max(1)).max(1));
        let select = "SELECT id FROM runs WHERE ended IS NOT NULL OR started < ?1
                      ORDER BY started, id LIMIT ?2";
        let immediate = TransactionBehavior::Immediate;
        if delete_runs(conn, immediate, select, params![recent, take])? == 0 {
            return Ok(());
        }
    }
}

/// Apply `retention` to the log (as a run opens it).
fn retain(conn: &Connection, retention: Retention) -> Result<(), LogError> {
    if let Some(days) = retention.days {
        // Runs that started more than `days` days ago.
        let cutoff = ago(u64::from(days) * 86_400);
        let select = "SELECT id FROM runs WHERE started < ?1";
        delete_runs(conn, TransactionBehavior::Deferred, select, [&cutoff])?;
    }
    if let Some(mb) = retention.max_mb {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        prune_to_size(conn, (mb.max(0.0) * 1e6) as u64)?;
    }
    Ok(())
}

/// A fresh run log in a temporary folder (for the tests of the log's modules).
#[cfg(test)]
pub(crate) fn temp_log() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join(".llm-do/log.db")).unwrap();
    (dir, conn)
}

#[cfg(test)]
mod tests {
    use super::marker::is_truncated_text;
    use super::*;
    use crate::model::Usage;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_value_past_the_cap_becomes_a_marker_cut_on_a_char_boundary() {
        let small = json!({"a": ["x", 1, true, null]});
        assert_eq!(capped(small.clone(), 64), small);
        assert!(!is_truncated(&small));
        // 'é' is two bytes: a head cut inside one steps back to the boundary.
        let big = json!({"text": "é".repeat(2000)});
        let text = big.to_string();
        let marker = capped(big, 1000);
        assert!(is_truncated(&marker));
        // As the log stores it, the marker is known without parsing; a value that merely
        // mentions the key is not one.
        assert!(is_truncated_text(&marker.to_string()));
        assert!(!is_truncated_text(
            &json!({"llm_do_truncatedx": 1}).to_string()
        ));
        assert!(!is_truncated_text(&small.to_string()));
        let head = marker[TRUNCATED]["head"].as_str().unwrap();
        assert_eq!(marker[TRUNCATED]["bytes"], text.len());
        assert!(text.starts_with(head) && head.len() <= 1000 && head.len() >= 998);
        // Deep values are measured too, and an array of many small items counts them all.
        let many = Value::Array(vec![json!(1); 100]);
        assert!(is_truncated(&capped(many, 100)));
    }

    #[test]
    fn calls_are_written_and_read_back_with_their_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let log = RunLog::start(
            &path,
            "llm-do run w",
            Retention {
                days: Some(30),
                max_mb: None,
            },
        )
        .unwrap();
        let id = log.call_start(&CallStart {
            depth: 0,
            parent: None,
            kind: Kind::Neural,
            name: "w",
            input: &json!({"input": "hi"}),
        });
        log.call_end(
            id,
            &CallEnd {
                depth: 0,
                name: "w",
                elapsed: Duration::from_millis(5),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Usage::default()
                },
                cost: Some(0.25),
                result: Ok(&json!("hello")),
            },
        );
        log.finish().unwrap();
        let conn = open(&path).unwrap();
        let rows = calls(
            &conn,
            &CallFilter {
                name: Some("w"),
                limit: Some(10),
                ..CallFilter::default()
            },
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].run, log.run_id());
        assert_eq!(rows[0].output, Some(json!("hello")));
        assert_eq!((rows[0].tokens_in, rows[0].tokens_out), (3, 4));
        assert!(dir.path().join(".llm-do/.gitignore").exists());
    }

    /// Rows go in statements of many rows and the rest one by one: every row lands whole,
    /// whatever the batch's size (here two full statements and 6 rows after them).
    #[test]
    fn every_row_of_a_batch_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let log = RunLog::start(&path, "llm-do run w", Retention::default()).unwrap();
        for i in 0..70 {
            let input = json!({"i": i});
            let id = log.call_start(&CallStart {
                depth: 1,
                parent: Some(99),
                kind: Kind::Symbolic,
                name: "f",
                input: &input,
            });
            let result = if i % 7 == 0 {
                Err("boom".to_string())
            } else {
                Ok(json!(i * 2))
            };
            log.call_end(
                id,
                &CallEnd {
                    depth: 1,
                    name: "f",
                    elapsed: Duration::from_micros(i),
                    usage: Usage::default(),
                    cost: None,
                    result: result.as_ref().map_err(String::clone),
                },
            );
        }
        log.finish().unwrap();
        let conn = open(&path).unwrap();
        let mut rows = calls(&conn, &CallFilter::default()).unwrap();
        rows.sort_by_key(|r| r.id);
        assert_eq!(rows.len(), 70);
        for (i, r) in (0_i64..).zip(&rows) {
            assert_eq!((r.id, r.parent, r.depth), (i + 1, Some(99), 1));
            assert_eq!(r.input, json!({"i": i}));
            if i % 7 == 0 {
                assert_eq!(
                    (r.output.as_ref(), r.error.as_deref()),
                    (None, Some("boom"))
                );
            } else {
                assert_eq!(
                    (r.output.clone(), r.error.as_ref()),
                    (Some(json!(i * 2)), None)
                );
            }
        }
    }

    fn approval(log: &RunLog, tool: &str, outcome: Outcome, decided_by: DecidedBy) {
        log.approval_event(&ApprovalEvent {
            depth: 1,
            parent: Some(7),
            tool,
            input: &json!({}),
            verdict: &crate::approval::Verdict {
                outcome,
                decided_by,
            },
        });
    }

    /// Decisions are kept; a call approved because its tool needs no approval is not (it is
    /// in `calls`). The run's row is ended by `finish`.
    #[test]
    fn decisions_are_logged_and_default_approvals_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let log = RunLog::start(&path, "llm-do run w", Retention::default()).unwrap();
        approval(&log, "read_file", Outcome::Approved, DecidedBy::Default);
        approval(&log, "write_file", Outcome::Approved, DecidedBy::Rule(0));
        approval(
            &log,
            "shell",
            Outcome::Denied("no".into()),
            DecidedBy::Default,
        );
        log.finish().unwrap();
        let conn = open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT tool, decision FROM approvals ORDER BY rowid")
            .unwrap();
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("write_file".to_string(), "approved".to_string()),
                ("shell".to_string(), "denied".to_string())
            ]
        );
        let status: String = conn
            .query_row(
                "SELECT status FROM runs WHERE id = ?1",
                [log.run_id()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(status, "ok");
    }

    /// Who decided is kept with each decision, and read back per call.
    #[test]
    fn approvals_say_who_decided() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let log = RunLog::start(&path, "llm-do run w", Retention::default()).unwrap();
        approval(&log, "write_file", Outcome::Approved, DecidedBy::Rule(2));
        approval(&log, "shell", Outcome::Denied("no".into()), DecidedBy::User);
        log.finish().unwrap();
        let conn = open(&path).unwrap();
        let got = approvals(&conn, log.run_id(), 7).unwrap();
        let who: Vec<_> = got
            .iter()
            .map(|a| (a.tool.as_str(), a.decided_by.as_deref(), a.rule))
            .collect();
        assert_eq!(
            who,
            [
                ("write_file", Some("rule"), Some(2)),
                ("shell", Some("user"), None)
            ]
        );
        assert_eq!(got[1].reason.as_deref(), Some("no"));
        assert!(approvals(&conn, log.run_id(), 8).unwrap().is_empty());
    }

    /// A log written before schema 3 gains the columns and keeps its rows, also when several
    /// processes open it at once (each migration runs under the write lock and finds the
    /// version again).
    #[test]
    fn an_older_log_is_migrated_once_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let old = Connection::open(&path).unwrap();
            old.pragma_update(None, "journal_mode", "WAL").unwrap();
            let v2 = SCHEMA
                .replace(", decided_by TEXT, rule INTEGER", "")
                .replace(" stop TEXT, fallback TEXT,", "");
            assert_eq!(
                v2.len() + 57,
                SCHEMA.len(),
                "both columns of 3 and 4 removed"
            );
            old.execute_batch(&v2).unwrap();
            old.execute_batch(chat::SCHEMA).unwrap();
            old.execute(
                "INSERT INTO approvals (run, parent, tool, input, decision, reason, time)
                 VALUES ('r', 7, 'shell', '{}', 'denied', 'no', 't')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO calls (run, id, depth, kind, name, ms, time) VALUES ('r', 1, 0, 'worker', 'w', 1.0, 't')",
                [],
            )
            .unwrap();
            old.pragma_update(None, "user_version", 2).unwrap();
        }
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
        let conn = open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let old = approvals(&conn, "r", 7).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!((old[0].decided_by.as_deref(), old[0].rule), (None, None));
        assert_eq!(old[0].reason.as_deref(), Some("no"));
        let rows = calls(&conn, &CallFilter::default()).unwrap();
        assert_eq!(
            (
                rows.len(),
                rows[0].stop.as_deref(),
                rows[0].fallback.as_deref()
            ),
            (1, None, None)
        );
    }

    /// Many runs leave a WAL of bounded size: a run that finds it past the threshold
    /// checkpoints it as it opens the log, and the next write starts it over, truncated.
    #[test]
    fn the_wal_stays_bounded_over_many_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let big = json!("x".repeat(20_000));
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let mut largest = 0;
        for _ in 0..60 {
            let log = RunLog::start(&path, "llm-do run w", Retention::default()).unwrap();
            let id = log.call_start(&CallStart {
                depth: 0,
                parent: None,
                kind: Kind::Neural,
                name: "w",
                input: &big,
            });
            log.call_end(
                id,
                &CallEnd {
                    depth: 0,
                    name: "w",
                    elapsed: Duration::ZERO,
                    usage: Usage::default(),
                    cost: None,
                    result: Ok(&big),
                },
            );
            log.finish().unwrap();
            drop(log);
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // 60 runs of about 50 KiB each: 3 MB without checkpoints.
        assert!(largest < 2 * WAL_CHECKPOINT_BYTES, "{largest}");
        let conn = open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 60);
    }

    /// Pruning by size deletes the oldest runs whole, and never a run that may still be writing
    /// (not ended, started within a day), even when the log stays over the limit.
    #[test]
    fn size_pruning_deletes_whole_ended_runs_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let conn = open(&path).unwrap();
        let big = "x".repeat(50_000);
        let old = format_time(SystemTime::now() - std::time::Duration::from_secs(3 * 86_400));
        for (run, started, ended) in [
            ("a", old.as_str(), Some("e")),
            ("b", "2099-01-01T00:00:00.000Z", Some("e")),
            ("c", "2099-01-02T00:00:00.000Z", None),
        ] {
            conn.execute(
                "INSERT INTO runs (id, started, ended, command) VALUES (?1, ?2, ?3, 'x')",
                params![run, started, ended],
            )
            .unwrap();
            for id in 1..=3 {
                conn.execute(
                    "INSERT INTO calls (run, id, depth, kind, name, input, time)
                     VALUES (?1, ?2, 0, 'worker', 'w', ?3, ?4)",
                    params![run, id, big, started],
                )
                .unwrap();
            }
        }
        let all = used_bytes(&conn).unwrap();
        // Room for about two runs: the oldest goes, whole.
        prune_to_size(&conn, all - 100_000).unwrap();
        let left = |conn: &Connection| -> Vec<(String, i64)> {
            conn.prepare("SELECT run, count(*) FROM calls GROUP BY run ORDER BY run")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(left(&conn), [("b".to_string(), 3), ("c".to_string(), 3)]);
        // No room at all: the run that may still be writing stays.
        prune_to_size(&conn, 0).unwrap();
        assert_eq!(left(&conn), [("c".to_string(), 3)]);
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 1);
    }

    #[test]
    fn dates_are_civil() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_796_158_954_038);
        assert_eq!(format_time(t), "2026-12-01T21:02:34.038Z");
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(seconds_of("1970-01-02T00:00:01.000Z"), Some(86_401.0));
        assert_eq!(seconds_of("1970-01-02T00:00:01.250Z"), Some(86_401.25));
        let now = now();
        let back = seconds_of(&now).unwrap();
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((sys - back).abs() < 5.0);
    }
}
