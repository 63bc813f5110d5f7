//! Rhai errors as located diagnostics: the file, line and column of the failing expression,
//! following calls into project fns to the innermost frame.

use std::path::Path;
use std::sync::Arc;

use rhai::{EvalAltResult, ParseError};

use crate::error::Located;
use crate::script::span_of;

/// Marker carried by `ErrorTerminated` when the user aborted at an approval prompt.
pub const ABORTED: &str = "llm-do:aborted";
/// Marker carried by `ErrorTerminated` when the run was interrupted (Ctrl-C).
pub const CANCELLED: &str = "llm-do:cancelled";
/// Marker carried by `ErrorTerminated` when an evaluation used up its CPU time
/// ([`super::clock`]).
pub const CPU_LIMIT: &str = "llm-do:cpu-limit";

/// A syntax error in `text` (shown as `shown`).
pub fn parse_error(shown: &Path, text: &Arc<str>, err: &ParseError) -> Located {
    let msg = err.err_type().to_string();
    Located::new(
        shown,
        text,
        span_of(text, err.position()),
        format!("syntax error: {msg}"),
    )
    .label(short(&msg))
}

/// How a script run ended when it did not succeed normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Aborted,
    Cancelled,
}

/// Whether an error is an abort or a cancellation rather than an ordinary failure. A builtin
/// stopped by Ctrl-C (`sleep`) fails with the [`CANCELLED`] marker as its message, which
/// `call("sleep", ..)` turns into a runtime error: that is a cancellation too.
pub fn termination(err: &EvalAltResult) -> Option<Termination> {
    match err.unwrap_inner() {
        EvalAltResult::ErrorRuntime(v, _) => {
            (v.clone().into_string().ok()? == CANCELLED).then_some(Termination::Cancelled)
        }
        EvalAltResult::ErrorTerminated(v, _) => match v.clone().into_string().ok()?.as_str() {
            ABORTED => Some(Termination::Aborted),
            CANCELLED => Some(Termination::Cancelled),
            _ => None,
        },
        _ => None,
    }
}

/// The message of an error without Rhai's position suffix and wrapper text.
pub fn message(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => {
            "the script ran too many operations (limit `limits.max_operations` in llm-do.toml)"
                .into()
        }
        EvalAltResult::ErrorTerminated(v, _)
            if v.clone().into_string().is_ok_and(|m| m == CPU_LIMIT) =>
        {
            "the script used too much CPU time (limit `limits.max_cpu_seconds` in llm-do.toml)"
                .into()
        }
        EvalAltResult::ErrorStackOverflow(_) => "stack overflow: recursion is too deep".into(),
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_string(),
                _ => text,
            }
        }
    }
}

/// Finds the file (shown path and text) that defines a fn.
pub type FnSource<'a> = dyn Fn(&str) -> Option<(std::path::PathBuf, Arc<str>)> + 'a;

/// A runtime error located in the file where it happened. `lookup` maps a fn name to the file
/// (shown path and text) that defines it; `entry` is the script being run.
pub fn locate(err: &EvalAltResult, entry: (&Path, &Arc<str>), lookup: &FnSource<'_>) -> Located {
    let mut file: (std::path::PathBuf, Arc<str>) = (entry.0.to_path_buf(), entry.1.clone());
    let mut current = err;
    let mut call_sites = Vec::new();
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) = current {
        call_sites.push((file.clone(), *pos, name.clone()));
        if let Some(found) = lookup(name) {
            file = found;
        }
        current = inner;
    }
    let msg = message(current);
    let mut located =
        Located::new(&file.0, &file.1, span_of(&file.1, current.position()), msg).label("here");
    if let Some(((path, text), pos, name)) = call_sites.first() {
        located = located.related(
            Located::new(
                path,
                text,
                span_of(text, *pos),
                format!("in the call to `{name}`"),
            )
            .label("called here"),
        );
    }
    located
}

fn short(msg: &str) -> String {
    msg.lines().next().unwrap_or("").chars().take(60).collect()
}
