//! `llm-do stats TRACE...`: per-name figures and stabilization candidates from traces.

use std::path::PathBuf;

use crate::report::{Error, out};
use crate::trace::read::{CallRecord, read_calls};

/// The calls recorded in `traces`.
pub(super) fn read_all(traces: &[PathBuf]) -> Result<Vec<CallRecord>, Error> {
    let mut calls = Vec::new();
    for t in traces {
        calls.extend(read_calls(t).map_err(|e| Error::Usage {
            message: e.to_string(),
            help: None,
        })?);
    }
    Ok(calls)
}

/// `llm-do stats TRACE...`: prints the report (JSON with `json`).
pub fn run(traces: &[PathBuf], json: bool) -> Result<(), Error> {
    let rows = crate::stats::summarize(&read_all(traces)?);
    if json {
        let text = serde_json::to_string_pretty(&crate::stats::to_json(&rows)).unwrap_or_default();
        out(&format!("{text}\n"))?;
    } else {
        out(&crate::stats::render_text(&rows))?;
    }
    Ok(())
}
