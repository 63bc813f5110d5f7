//! `llm-do batch NAME INPUTS.jsonl -o OUT.jsonl` (DESIGN §16): NAME over every input line with
//! bounded concurrency (`limits.max_parallel`; budgets and rate limits apply), each through the
//! seam like any call. OUT gets one line per input, in input order, `{"line", "input",
//! "output"}` or `{"line", "input", "error"}`, with the `run` that wrote it when the run log is
//! on; a malformed input is an error line, not a crash.
//!
//! Resumable: a rerun skips the lines OUT already has. Each result is appended as one whole
//! line in one write and flushed, so an interrupted run (Ctrl-C, SIGTERM, SIGKILL) leaves only
//! whole lines; a partial last line (a kill mid-write) is cut off before resuming.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Input};
use crate::report::{Error, out_line};
use crate::settings::Settings;

use super::setup;

/// What a batch did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    pub done: usize,
    pub errors: usize,
    /// Lines OUT already had (a resumed run).
    pub skipped: usize,
}

/// Run the batch; an interrupt leaves OUT whole and resumable (exit 130).
pub async fn run(settings: &Settings, name: &str, inputs: &Path, out: &Path) -> Result<(), Error> {
    let io = |what: &Path, e: std::io::Error| {
        Error::failed(format!("cannot use `{}`: {e}", what.display()))
    };
    let text = std::fs::read_to_string(inputs).map_err(|e| io(inputs, e))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let done = completed(out).map_err(|e| io(out, e))?;
    let pending: Vec<(usize, &str)> = lines
        .iter()
        .copied()
        .filter(|(n, _)| !done.contains(n))
        .collect();
    let mut settings = settings.clone();
    // The run-wide worker cap guards one program against runaway fan-out; a batch is many
    // independent programs, so it scales with the inputs unless set explicitly.
    if settings.budget.max_worker_runs.is_none() {
        let per = crate::runtime::budget::DEFAULT_MAX_WORKER_RUNS;
        settings.budget.max_worker_runs = Some(per.saturating_mul(lines.len().max(1) as u64));
    }
    let rt = setup::runtime(&settings, None, true, None)?;
    let callee = rt.resolve(name).map_err(Error::of_named_call)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(|e| io(out, e))?;
    let mut summary = Summary {
        inputs: lines.len(),
        skipped: lines.len() - pending.len(),
        ..Summary::default()
    };
    let bar = progress(&settings, pending.len());
    let limit = usize::try_from(settings.max_parallel).unwrap_or(1).max(1);
    let top = CallCtx::default();
    let work = async {
        let mut results = futures_util::stream::iter(pending.iter().map(|&(n, line)| {
            let (rt, callee, top) = (&rt, &callee, &top);
            async move {
                let (input, result) = match serde_json::from_str::<Value>(line) {
                    // A malformed line is kept as the text it is.
                    Err(e) => (
                        Value::String(line.to_string()),
                        Err(format!("input line {n} is not valid JSON: {e}")),
                    ),
                    Ok(input) => {
                        let out = rt.invoke(top, callee, Input::Json(input.clone())).await;
                        let result = match out {
                            Ok(v) => Ok(crate::script::value::to_json(&v)),
                            Err(
                                e @ (CallError::Cancelled
                                | CallError::Aborted
                                | CallError::Budget { .. }),
                            ) => {
                                return Err(e);
                            }
                            Err(e) => Err(rt.error_text(&e)),
                        };
                        (input, result)
                    }
                };
                Ok((n, input, result))
            }
        }))
        .buffered(limit);
        // The run that wrote a line, for `llm-do logs --run` (a resumed batch has several).
        let run = rt.run_log().map(|log| log.run_id().to_string());
        while let Some(item) = results.next().await {
            let (n, input, result) = item?;
            let mut record = match result {
                Ok(output) => {
                    summary.done += 1;
                    json!({"line": n, "input": input, "output": output})
                }
                Err(error) => {
                    summary.errors += 1;
                    json!({"line": n, "input": input, "error": error})
                }
            };
            if let Some(run) = &run {
                record["run"] = json!(run);
            }
            let text = format!("{record}\n");
            file.write_all(text.as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| CallError::Tool(format!("cannot write `{}`: {e}", out.display())))?;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        Ok::<_, CallError>(())
    };
    let result = setup::with_interrupt(&rt, work).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    setup::finish(&rt, settings.trace.as_deref(), result.is_ok())?;
    result.map_err(Error::Call)?;
    if settings.json {
        out_line(&serde_json::to_string(&summary).unwrap_or_default())
    } else if settings.quiet {
        Ok(())
    } else {
        crate::report::note(&format!(
            "batch: {} inputs, {} done, {} errors, {} already in `{}`",
            summary.inputs,
            summary.done,
            summary.errors,
            summary.skipped,
            out.display()
        ));
        Ok(())
    }
}

/// The input line numbers OUT already has; a partial last line (no newline) is cut off.
fn completed(out: &Path) -> std::io::Result<BTreeSet<usize>> {
    let text = match std::fs::read(out) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        let file = std::fs::OpenOptions::new().write(true).open(out)?;
        file.set_len(whole as u64)?;
    }
    Ok(String::from_utf8_lossy(&text[..whole])
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("line").and_then(Value::as_u64))
        .filter_map(|n| usize::try_from(n).ok())
        .collect())
}

/// A progress bar on a terminal (stderr), unless `-q`.
fn progress(settings: &Settings, total: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if settings.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}
