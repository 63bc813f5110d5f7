//! `llm-do logs [NAME] [-n N] [--run ID] [--json]` lists calls from the run log, newest
//! first; `llm-do logs show RUN:ID` shows one whole, with the approval decisions made in it;
//! `llm-do logs --runs` lists runs, with how each ended (or that it did not). `--since`,
//! `--until`, `--model` and `--query TEXT` (full-text search, `log::search`) narrow the list.
//! What a model or a file put in the log is printed through [`crate::output::escape`]: never a
//! raw terminal control.

use crate::log::{self, CallRow};
use crate::report::{Error, show};
use crate::settings::Settings;

/// What `logs` was asked for.
pub enum Query {
    /// Calls, optionally of one name and/or one run, at most `limit`.
    List {
        name: Option<String>,
        run: Option<String>,
        limit: usize,
        /// `--query TEXT`: full-text search over inputs and outputs.
        text: Option<String>,
        /// `--since`, `--until`, `--model`.
        scope: super::stats::Scope,
    },
    /// One call by `RUN:ID` (a unique prefix of the run id is enough).
    Show(String),
    /// The newest runs, at most `limit`.
    Runs { limit: usize, window: log::Window },
}

impl Query {
    /// The query the command line asks for: `logs [NAME]`, `logs show RUN:ID`, `logs --runs`.
    ///
    /// # Errors
    ///
    /// A usage error for `logs show` without an id, or words after `logs NAME`.
    pub fn from_cli(
        name: Option<String>,
        id: Option<String>,
        limit: usize,
        run: Option<String>,
        runs: bool,
        text: Option<String>,
        scope: super::stats::Scope,
    ) -> Result<Query, Error> {
        match (name, id) {
            _ if runs => Ok(Query::Runs {
                limit,
                window: scope.window,
            }),
            (Some(show), Some(id)) if show == "show" => Ok(Query::Show(id)),
            (Some(show), None) if show == "show" => {
                Err(Error::usage("`llm-do logs show` needs a call id")
                    .with_help("`llm-do logs show RUN:N`, with an id as `llm-do logs` lists them"))
            }
            (name, None) => Ok(Query::List {
                name,
                run,
                limit,
                text,
                scope,
            }),
            (name, Some(extra)) => {
                let name = name.unwrap_or_default();
                Err(
                    Error::usage(format!("unexpected `{extra}` after `logs {name}`"))
                        .with_help("usage: `llm-do logs [NAME]` or `llm-do logs show RUN:ID`"),
                )
            }
        }
    }
}

/// Print the calls `query` selects.
pub fn run(settings: &Settings, query: Query) -> Result<(), Error> {
    let conn = log::open(&crate::session::run_log_path(&settings.root)?)?;
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
                log::search::catch_up(&conn).map_err(log::LogError::from)?;
            }
            let filter = log::CallFilter {
                run: run.as_deref(),
                text: text.as_deref(),
                limit: Some(limit),
                ..scope.filter(name.as_deref())
            };
            let rows = log::calls(&conn, &filter)?;
            if let (true, Some(name)) = (rows.is_empty(), name.as_deref()) {
                unknown_name(&conn, name)?;
            }
            show(
                &Lines {
                    rows,
                    line: summary,
                },
                settings.json,
            )
        }
        Query::Runs { limit, window } => {
            let rows = log::runs(&conn, &window, limit)?;
            show(
                &Lines {
                    rows,
                    line: run_line,
                },
                settings.json,
            )
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
            // The call with the approval decisions made within it (a worker's tool calls),
            // as JSON with or without `--json`: every field, whole.
            let mut shown = serde_json::to_value(&row).unwrap_or_default();
            shown["approvals"] =
                serde_json::to_value(log::approvals(&conn, &run, n)?).unwrap_or_default();
            show(&shown, true)
        }
    }
}

/// Rows of the log: one line each as text, an array of every field as JSON.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Lines<T> {
    rows: Vec<T>,
    #[serde(skip)]
    line: fn(&T) -> String,
}

impl<T: serde::Serialize> crate::output::Show for Lines<T> {
    fn text(&self) -> String {
        self.rows
            .iter()
            .map(|r| format!("{}\n", (self.line)(r)))
            .collect()
    }
}

/// A name the log has no call of: a usage error with a "did you mean" (the names in the log,
/// and `show`), unless the name has calls (only not in the run asked for).
fn unknown_name(conn: &rusqlite::Connection, name: &str) -> Result<(), Error> {
    let names = log::call_names(conn)?;
    if names.iter().any(|n| n == name) {
        return Ok(());
    }
    let candidates = names.iter().map(String::as_str).chain(["show"]);
    let help = crate::suggest::did_you_mean(name, candidates)
        .unwrap_or_else(|| "`llm-do logs` lists the calls logged".into());
    Err(Error::usage(format!("no calls of `{name}` in the run log")).with_help(help))
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
        to_second(&row.time),
        short_run(&row.run),
        row.id,
        row.kind,
        row.name,
        row.ms,
        outcome
    )
}

/// How a run ended, as the log says it (`unfinished`: killed, or still going).
pub(super) fn status_of(r: &log::RunSummary) -> &str {
    r.status.as_deref().unwrap_or("unfinished")
}

/// How long a run took (`1.234 s`), `-` until it ended.
pub(super) fn took(r: &log::RunSummary) -> String {
    let (end, start) = (
        r.ended.as_deref().and_then(log::seconds_of),
        log::seconds_of(&r.started),
    );
    end.zip(start).map_or_else(
        || "-".into(),
        |(end, start)| format!("{:.3} s", (end - start).max(0.0)),
    )
}

/// The calls a run could not log, when there were any (` (+3 not logged)`).
pub(super) fn dropped(r: &log::RunSummary) -> String {
    if r.calls_dropped > 0 {
        format!(" (+{} not logged)", r.calls_dropped)
    } else {
        String::new()
    }
}

/// A logged time to the second (`2026-12-01T09:30:00`).
pub(super) fn to_second(time: &str) -> &str {
    time.get(..19).unwrap_or(time)
}

/// One line per run: when, id, how it ended, how long it took, calls logged, command.
fn run_line(r: &log::RunSummary) -> String {
    format!(
        "{}  {}  {:<10} {:>9}  {}{}  {}",
        to_second(&r.started),
        short_run(&r.id),
        status_of(r),
        took(r),
        crate::output::count(u64::try_from(r.calls).unwrap_or(0), "call"),
        dropped(r),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: Option<&str>, id: Option<&str>, runs: bool) -> Result<Query, Error> {
        let scope = super::super::stats::Scope::default();
        Query::from_cli(
            name.map(Into::into),
            id.map(Into::into),
            5,
            None,
            runs,
            None,
            scope,
        )
    }

    #[test]
    fn the_command_line_picks_the_query() {
        assert!(matches!(
            query(None, None, true),
            Ok(Query::Runs { limit: 5, .. })
        ));
        assert!(
            matches!(query(Some("show"), Some("r:1"), false), Ok(Query::Show(id)) if id == "r:1")
        );
        assert!(matches!(
            query(Some("w"), None, false),
            Ok(Query::List { name: Some(n), run: None, limit: 5, .. }) if n == "w"
        ));
    }

    #[test]
    fn show_without_an_id_and_words_after_a_name_are_usage_errors() {
        let message = |r: Result<Query, Error>| r.err().map(|e| e.to_string());
        assert_eq!(
            message(query(Some("show"), None, false)).as_deref(),
            Some("`llm-do logs show` needs a call id")
        );
        assert_eq!(
            message(query(Some("w"), Some("x"), false)).as_deref(),
            Some("unexpected `x` after `logs w`")
        );
    }
}
