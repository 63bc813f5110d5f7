//! The command-line side of observability, kept out of `cli.rs`: building the observer for
//! `-v`/`--trace`, opening `--record`/`--replay` cassettes, the work done at exit, and the
//! `stats` and `shadow` commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Fanout, JsonlObserver, Observer, Silent, Tree};
use crate::call::CallError;
use crate::error::Error;
use crate::model::cassette::Cassette;
use crate::runtime::Runtime;

/// The observer for verbosity `verbosity` and an optional trace file.
pub fn observer(verbosity: u8, trace: Option<&Path>) -> Result<Arc<dyn Observer>, Error> {
    let mut all: Vec<Arc<dyn Observer>> = Vec::new();
    if verbosity > 0 {
        all.push(Arc::new(Tree::new(std::io::stderr(), verbosity)));
    }
    if let Some(path) = trace {
        let jsonl = JsonlObserver::create(path).map_err(|e| Error::Usage {
            message: format!("cannot create trace file `{}`: {e}", path.display()),
            help: None,
        })?;
        all.push(Arc::new(jsonl));
    }
    Ok(match all.len() {
        0 => Arc::new(Silent),
        1 => all.remove(0),
        _ => Arc::new(Fanout::new(all)),
    })
}

/// The cassette of `--record FILE` or `--replay FILE`.
pub fn cassette(
    record: Option<&Path>,
    replay: Option<&Path>,
) -> Result<Option<Arc<Cassette>>, Error> {
    if let Some(path) = replay {
        let c = Cassette::replay(path).map_err(|e| Error::Usage {
            message: e.to_string(),
            help: Some(format!("record one with `--record {}`", path.display())),
        })?;
        return Ok(Some(Arc::new(c)));
    }
    Ok(record.map(|p| Arc::new(Cassette::record(p))))
}

/// At exit: flush the trace, write a recorded cassette.
pub fn finish(rt: &Runtime, trace: Option<&Path>) -> Result<(), Error> {
    let flushed = rt.observer.flush().map_err(|e| Error::Failed {
        message: format!(
            "cannot write trace `{}`: {e}",
            trace.map(|p| p.display().to_string()).unwrap_or_default()
        ),
        help: None,
    });
    if let Some(c) = rt.cassette() {
        c.save().map_err(|e| Error::Failed {
            message: e.to_string(),
            help: None,
        })?;
    }
    flushed
}

/// Print a report on stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn read_all(traces: &[PathBuf]) -> Result<Vec<super::read::CallRecord>, Error> {
    let mut calls = Vec::new();
    for t in traces {
        calls.extend(super::read::read_calls(t).map_err(|e| Error::Usage {
            message: e.to_string(),
            help: None,
        })?);
    }
    Ok(calls)
}

/// `llm-do stats TRACE...`: prints the report (JSON with `json`).
pub fn stats(traces: &[PathBuf], json: bool) -> Result<(), Error> {
    let rows = crate::stats::summarize(&read_all(traces)?);
    if json {
        let text = serde_json::to_string_pretty(&crate::stats::to_json(&rows)).unwrap_or_default();
        emit(&format!("{text}\n"));
    } else {
        emit(&crate::stats::render_text(&rows));
    }
    Ok(())
}

/// `llm-do shadow NAME --trace TRACE`: prints the report; an error (exit 1) on disagreement.
pub async fn shadow(rt: &Arc<Runtime>, name: &str, trace: &Path) -> Result<(), Error> {
    let calls = read_all(&[trace.to_path_buf()])?;
    let cases = crate::shadow::cases(&calls, name);
    if cases.is_empty() {
        let mut names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        return Err(Error::Usage {
            message: format!(
                "trace `{}` has no successful call of `{name}`",
                trace.display()
            ),
            help: Some(if names.is_empty() {
                "the trace has no calls".to_string()
            } else {
                format!("the trace has calls of: {}", names.join(", "))
            }),
        });
    }
    let outcomes = crate::shadow::run(rt, name, cases)
        .await
        .map_err(|e| match e {
            CallError::Unknown { name, help } => Error::Usage {
                message: format!("unknown function or worker `{name}`"),
                help,
            },
            other => Error::Call(other),
        })?;
    emit(&crate::shadow::render(name, &outcomes));
    let agreed = outcomes.iter().filter(|o| o.agrees()).count();
    if agreed == outcomes.len() {
        Ok(())
    } else {
        Err(Error::Failed {
            message: format!(
                "`{name}` disagrees with the trace on {} of {} cases",
                outcomes.len() - agreed,
                outcomes.len()
            ),
            help: None,
        })
    }
}
