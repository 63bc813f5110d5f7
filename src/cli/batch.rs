//! `llm-do batch NAME INPUTS.jsonl -o OUT.jsonl` (DESIGN §16): NAME over every input line with
//! bounded concurrency (`limits.max_parallel`; budgets and rate limits apply), each through the
//! seam like any call. OUT gets one line per input, in input order, `{"line", "input",
//! "output"}` or `{"line", "input", "error"}`, with the `run` that wrote it when the run log is
//! on; a malformed input (not JSON, not UTF-8) is an error line, not a crash.
//!
//! Resumable: a rerun skips the lines OUT already has (`--retry-errors`: their error lines are
//! rerun). Each result is appended as one whole line in one write and flushed, after the run
//! log has committed its calls, so an interrupted run (Ctrl-C, SIGTERM, SIGKILL) leaves only
//! whole lines, each one in the log; a result cut off mid-write is cut before resuming, and
//! nothing else is. A run that appended a result out of input order (a retried error) rewrites
//! OUT in input order at its end, atomically.
//!
//! OUT must be a regular file other than INPUTS: batch reads it back, and reading back a pipe
//! or a terminal waits forever.

use std::io::Write;
use std::path::Path;

use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Input};
use crate::report::Error;
use crate::session::{Closings, Session, spent_figures};
use crate::settings::Settings;

mod files;

use files::{Line, input_lines, open_output, put_in_order, read_input, resume, usable};

/// What a batch did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    pub done: usize,
    pub errors: usize,
    /// Lines OUT already had (a resumed run).
    pub skipped: usize,
    /// Error lines OUT had that this run ran again (`--retry-errors`).
    pub retried: usize,
}

/// Run the batch; an interrupt leaves OUT whole and resumable (exit 130). With
/// `retry_errors`, the error lines OUT has are run again.
pub async fn run(
    settings: &Settings,
    name: &str,
    inputs: &Path,
    out: &Path,
    retry_errors: bool,
    closings: &Closings,
) -> Result<(), Error> {
    let (bytes, input_id) = read_input(inputs)?;
    let lines = input_lines(&bytes);
    let existing = match open_output(out, false) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        opened => Some(resume(&mut usable(opened, out, input_id)?, out)?),
    };
    let had = existing
        .as_ref()
        .map(|e| e.results.clone())
        .unwrap_or_default();
    let skip = |n: &usize| had.get(n).is_some_and(|error| !error || !retry_errors);
    let pending: Vec<(usize, Line)> = lines.iter().filter(|(n, _)| !skip(n)).cloned().collect();
    let mut settings = settings.clone();
    // The run-wide worker cap guards one program against runaway fan-out; a batch is many
    // independent programs, so it scales with the inputs unless set explicitly.
    if settings.budget.max_worker_runs.is_none() {
        let per = crate::runtime::budget::DEFAULT_MAX_WORKER_RUNS;
        settings.budget.max_worker_runs = Some(per.saturating_mul(lines.len().max(1) as u64));
    }
    // The summary line says what was spent.
    let session = Session::of(&settings).no_spent_line().open()?;
    let rt = session.runtime();
    let callee = rt.resolve(name).map_err(Error::of_named_call)?;
    let mut file = usable(open_output(out, true), out, input_id)?;
    let mut summary = Summary {
        inputs: lines.len(),
        skipped: lines.len() - pending.len(),
        retried: pending.iter().filter(|(n, _)| had.contains_key(n)).count(),
        ..Summary::default()
    };
    let bar = progress(&settings, pending.len());
    let limit = usize::try_from(settings.max_parallel).unwrap_or(1).max(1);
    let top = CallCtx::default();
    let work = async {
        let mut results = futures_util::stream::iter(pending.iter().map(|(n, line)| {
            let (callee, top) = (&callee, &top);
            async move {
                let (input, result) = match line {
                    // An undecodable line is kept as the text it decodes to.
                    Line::NotText(text, e) => (
                        Value::String(text.clone()),
                        Err(format!("input line {n} is not valid UTF-8: {e}")),
                    ),
                    Line::Text(text) => match serde_json::from_str::<Value>(text) {
                        // A malformed line is kept as the text it is.
                        Err(e) => (
                            Value::String(text.clone()),
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
                    },
                };
                Ok((*n, input, result))
            }
        }))
        .buffered(limit);
        // The run that wrote a line, for `llm-do logs --run` (a resumed batch has several).
        let run = rt.run_log().map(|log| log.run_id().to_string());
        while let Some(first) = results.next().await {
            // The results ready now, in input order, up to the first that stops the batch.
            let mut ready = Vec::new();
            let mut stop = None;
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Ok(r) => ready.push(r),
                    Err(e) => stop = Some(e),
                }
                if stop.is_none() {
                    next = results.next().now_or_never().flatten();
                }
            }
            // The log first: a line in OUT is a call the log has, even after a SIGKILL.
            // The commit waits for the log's writer thread, so it waits off the runtime's
            // threads (the calls in flight go on meanwhile).
            if let Some(log) = rt.run_log().cloned() {
                let _ = tokio::task::spawn_blocking(move || log.commit()).await;
            }
            for (n, input, result) in ready {
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
                    .map_err(|e| {
                        CallError::Tool(format!("cannot write `{}`: {e}", out.display()))
                    })?;
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
            if let Some(e) = stop {
                return Err(e);
            }
        }
        Ok::<_, CallError>(())
    };
    let result = session.interrupting(work).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Also after an interrupt: what was retried replaces its error line in place.
    let ordered = put_in_order(&mut file, out);
    session.end(closings, result.map_err(Error::Call))?;
    ordered?;
    if settings.json {
        crate::report::show(&serde_json::to_value(&summary).unwrap_or_default(), true)
    } else if settings.quiet {
        Ok(())
    } else {
        crate::report::note(&summary_line(
            &summary,
            out,
            retry_errors,
            spent_figures(&rt.run.budget.spent()),
        ));
        Ok(())
    }
}

/// The one line a batch ends with: what it did and, when it used a model, what it spent.
fn summary_line(s: &Summary, out: &Path, retry_errors: bool, spent: Option<String>) -> String {
    let mut line = format!(
        "batch: {} inputs, {} done, {} errors, {} already in `{}`",
        s.inputs,
        s.done,
        s.errors,
        s.skipped,
        out.display()
    );
    if retry_errors {
        line.push_str(&format!(", {} errors retried", s.retried));
    }
    if let Some(spent) = spent {
        line.push_str(&format!("; {spent}"));
    }
    line
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
