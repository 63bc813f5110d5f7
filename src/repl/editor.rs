//! The REPL's rustyline helper, which knows Rhai and the project (chat's turns have none), and
//! where the REPL's history is kept. The validator keeps reading while a statement is
//! incomplete (DESIGN §11: a parse error *at the end of the input*), the completer offers
//! project fns, workers, builtins and `:commands`, the hinter shows the rest of a unique name;
//! there is no highlighter.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{Engine, LexError, ParseErrorType};
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::runtime::Runtime;

/// The history file: `LLM_DO_HISTORY` when set, else `llm-do/history.txt` in the user's data
/// directory (`None` when there is no home directory).
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(crate::env_vars::LLM_DO_HISTORY).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().ok()?;
    Some(base.data_dir().join("llm-do").join("history.txt"))
}

/// Whether `input` is an unfinished Rhai statement that more lines could complete.
pub fn is_incomplete(engine: &Engine, input: &str) -> bool {
    if input.trim_start().starts_with(':') || input.trim().is_empty() {
        return false;
    }
    let Err(err) = engine.compile(input) else {
        return false;
    };
    let pos = err.position();
    let Some(line) = pos.line() else {
        return false;
    };
    let at = crate::error::offset_of(input, line, pos.position().unwrap_or(1));
    let end = input.trim_end().len();
    match err.err_type() {
        ParseErrorType::MissingToken(..) | ParseErrorType::UnexpectedEOF => at >= end,
        // An unterminated string always runs to the end of the input; only a backtick string
        // or a `\` line continuation can be finished on a later line.
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            input[at..].starts_with('`') || input.trim_end().ends_with('\\')
        }
        _ => false,
    }
}

/// The start of the identifier that ends at `pos` in `line`.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i)
}

/// Sorted, deduplicated candidates from `names` starting with `prefix`.
fn matching<'a>(names: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The rustyline helper: reads the current project on every keystroke that needs it, so
/// reloads and inline workers are completed at once.
pub struct ReplHelper {
    rt: Arc<Runtime>,
}

impl ReplHelper {
    /// A helper for the session's runtime.
    pub fn new(rt: Arc<Runtime>) -> Self {
        Self { rt }
    }

    /// Names completing the word at `pos`, and where that word starts.
    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        if before.starts_with(':') && !before.contains(char::is_whitespace) {
            let names = super::commands::COMMANDS.iter().map(|c| c.name);
            let cmds = matching(names, &before[1..]);
            return (0, cmds.into_iter().map(|c| format!(":{c}")).collect());
        }
        let start = word_start(line, pos);
        let prefix = &line[start..pos];
        let project = self.rt.project();
        let names = project
            .names()
            .chain(std::iter::once(crate::script::inline::WORKER_FN));
        (start, matching(names, prefix))
    }
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    /// The rest of the only name the word at the end of the line can complete to.
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() || pos - word_start(line, pos) < 2 {
            return None;
        }
        let (start, names) = self.candidates(line, pos);
        match names.as_slice() {
            [only] if only.len() > pos - start => Some(only[pos - start..].to_string()),
            _ => None,
        }
    }
}

impl Highlighter for ReplHelper {}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_incomplete(&self.rt.rhai.engine, ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_blocks_arrays_and_operators_are_incomplete() {
        let e = Engine::new();
        for s in [
            "fn f() {",
            "fn f() {\n  1 +",
            "let x = [1, 2",
            "let x = 1 +",
            "foo(1,",
            "if x {\n  let y = 1;",
            "let s = `abc",
            "let s = \"abc\\",
        ] {
            assert!(is_incomplete(&e, s), "{s:?} should be incomplete");
        }
    }

    #[test]
    fn complete_input_and_real_errors_are_not_incomplete() {
        let e = Engine::new();
        for s in [
            "1 + 2",
            "fn f() { 1 }",
            "x )",
            "let = 3",
            "let s = \"abc",
            ":help",
            "",
        ] {
            assert!(!is_incomplete(&e, s), "{s:?} should not be incomplete");
        }
    }

    #[test]
    fn words_start_after_non_identifier_chars() {
        assert_eq!(word_start("call(\"gre", 9), 6);
        assert_eq!(word_start("abc", 3), 0);
        assert_eq!(word_start("x + ", 4), 4);
    }

    #[test]
    fn matching_sorts_and_dedups() {
        let names = ["greet", "grab", "greet", "other"];
        assert_eq!(matching(names.into_iter(), "gr"), vec!["grab", "greet"]);
    }
}
