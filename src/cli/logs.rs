//! `llm-do logs [NAME] [-n N] [--run ID] [--json]` lists calls from the run log, newest
//! first; `llm-do logs show RUN:ID` shows one whole, with the approval decisions made in it;
//! `llm-do logs --runs` lists runs, with how each ended (or that it did not). `--since`,
//! `--until`, `--model` and `-q TEXT` (full-text search, `log::search`) narrow the list.

use crate::log::{self, CallRow};
use crate::report::{Error, out, out_line};
use crate::settings::Settings;

/// What `logs` was asked for.
pub enum Query {
    /// Calls, optionally of one name and/or one run, at most `limit`.
    List {
        name: Option<String>,
        run: Option<String>,
        limit: usize,
        /// `-q TEXT`: full-text search over inputs and outputs.
        text: Option<String>,
        /// `--since`, `--until`, `--model`.
        scope: super::stats::Scope,
    },
    /// One call by `RUN:ID` (a unique prefix of the run id is enough).
    Show(String),
    /// The newest runs, at most `limit`.
    Runs { limit: usize, window: log::Window },
}

/// Print the calls `query` selects.
pub fn run(settings: &Settings, query: Query) -> Result<(), Error> {
    let path = log::path_in(&settings.root);
    if !path.exists() {
        return Err(Error::usage(format!("no run log at `{}`", path.display()))
            .with_help("runs are logged unless `--no-log` or `[log] enabled = false`"));
    }
    let conn = log::open(&path)?;
    match query {
        Query::List {
            name,
            run,
            limit,
            text,
            scope,
        } => {
            let run = run.map(|r| full_run_id(&conn, &r)).transpose()?;
            if text.is_some() {
                log::search::catch_up(&conn)?;
            }
            let filter = log::CallFilter {
                run: run.as_deref(),
                text: text.as_deref(),
                limit,
                ..scope.filter(name.as_deref())
            };
            let rows = log::calls(&conn, &filter)?;
            if settings.json {
                return out_line(&serde_json::to_string_pretty(&rows).unwrap_or_default());
            }
            for row in &rows {
                out_line(&summary(row))?;
            }
            Ok(())
        }
        Query::Runs { limit, window } => {
            let runs = log::runs(&conn, &window, limit)?;
            if settings.json {
                return out_line(&serde_json::to_string_pretty(&runs).unwrap_or_default());
            }
            for r in &runs {
                out_line(&run_line(r))?;
            }
            Ok(())
        }
        Query::Show(id) => {
            let (run, n) = id.split_once(':').ok_or_else(|| {
                Error::usage(format!("`{id}` is not a call id"))
                    .with_help("call ids look like `RUN:N`, as `llm-do logs` lists them")
            })?;
            let run = full_run_id(&conn, run)?;
            let missing = || Error::usage(format!("no call `{id}` in the run log"));
            let n: i64 = n.parse().map_err(|_| missing())?;
            let filter = log::CallFilter {
                run: Some(&run),
                id: Some(n),
                ..log::CallFilter::default()
            };
            let row = log::calls(&conn, &filter)?
                .into_iter()
                .next()
                .ok_or_else(missing)?;
            // The call with the approval decisions made within it (a worker's tool calls).
            let mut shown = serde_json::to_value(&row).unwrap_or_default();
            shown["approvals"] =
                serde_json::to_value(log::approvals(&conn, &run, n)?).unwrap_or_default();
            out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&shown).unwrap_or_default()
            ))
        }
    }
}

/// The run id a unique prefix names.
fn full_run_id(conn: &rusqlite::Connection, prefix: &str) -> Result<String, Error> {
    let ids = log::run_ids(conn, prefix)?;
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::usage(format!("no run `{prefix}` in the run log"))),
        many => Err(Error::usage(format!(
            "`{prefix}` names {} runs; give more of the id",
            many.len()
        ))),
    }
}

/// One line per call: when, id, kind, name, time taken, tokens, and how it ended.
fn summary(row: &CallRow) -> String {
    let outcome = match (&row.output, &row.error) {
        (_, Some(e)) => format!("error: {}", excerpt(e)),
        (Some(v), None) => format!("→ {}", excerpt(&v.to_string())),
        (None, None) => "(unfinished)".into(),
    };
    let tokens = if row.tokens_in + row.tokens_out > 0 {
        format!(" {}+{} tok", row.tokens_in, row.tokens_out)
    } else {
        String::new()
    };
    format!(
        "{}  {}:{}  {:<7} {}  {:.1} ms{tokens}  {}",
        row.time.get(..19).unwrap_or(&row.time),
        short_run(&row.run),
        row.id,
        row.kind,
        row.name,
        row.ms,
        outcome
    )
}

/// One line per run: when, id, how it ended, how long it took, calls logged, command.
fn run_line(r: &log::RunSummary) -> String {
    let status = r.status.as_deref().unwrap_or("unfinished");
    let took = r
        .ended
        .as_deref()
        .and_then(log::seconds_of)
        .zip(log::seconds_of(&r.started))
        .map(|(end, start)| format!("{:.3} s", (end - start).max(0.0)))
        .unwrap_or_else(|| "-".into());
    let dropped = if r.calls_dropped > 0 {
        format!(" (+{} not logged)", r.calls_dropped)
    } else {
        String::new()
    };
    let calls = if r.calls == 1 { "call" } else { "calls" };
    format!(
        "{}  {}  {:<10} {:>9}  {} {calls}{dropped}  {}",
        r.started.get(..19).unwrap_or(&r.started),
        short_run(&r.id),
        status,
        took,
        r.calls,
        crate::output::clip(&r.command, 80)
    )
}

/// The first 8 characters of a run id: enough to name it in `logs show`/`--run`.
fn short_run(run: &str) -> &str {
    run.get(run.len().saturating_sub(8)..).unwrap_or(run)
}

fn excerpt(s: &str) -> String {
    crate::output::clip(&s.replace('\n', "⏎"), 60)
}
