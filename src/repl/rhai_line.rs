//! The Rhai line handler of the interactive loop: `llm-do repl`, or bare `llm-do` on a
//! terminal (DESIGN §11).
//!
//! One [`Session`] keeps a Rhai `Scope` and an AST of the fns defined at the prompt (the way
//! Rhai's own `rhai-repl` does), so `let`s and fns survive between lines. Each line is compiled,
//! its fns merged into that AST, and evaluated with the project library (whose fns win over
//! prompt fns of the same name) on a blocking thread while the loop's thread waits for Ctrl-C,
//! which cancels the running call tree and returns to the prompt. Project files are reloaded
//! before a line when they changed on disk. A line starting with `:` is a meta-command
//! ([`super::commands`]).

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{AST, Dynamic, EvalAltResult, Scope};

use crate::output::{Escaped, escape};
use crate::report::{self, Error, Setback};
use crate::runtime::Runtime;
use crate::script::{errors, value};
use crate::trace::Toggle;

use super::editor::{self, ReplHelper};
use super::reload::{Reload, Reloader};
use super::{Flow, Handler, commands};

/// State of one REPL session.
pub struct Session {
    pub(super) rt: Arc<Runtime>,
    pub(super) trace: Arc<Toggle>,
    pub(super) json: bool,
    scope: Scope<'static>,
    /// Fns defined at the prompt (statements cleared after each line).
    prompt_ast: AST,
    reloader: Reloader,
}

impl Handler for Session {
    type Helper = ReplHelper;

    const PROMPT: &'static str = "llm-do> ";

    fn helper(&self) -> Option<ReplHelper> {
        Some(ReplHelper::new(self.rt.clone()))
    }

    fn history(&self) -> Option<PathBuf> {
        editor::history_path()
    }

    fn banner(&self) -> Option<String> {
        Some(format!(
            "llm-do repl in `{}`: `:help` for commands, Ctrl-D to exit",
            self.rt.settings.root.display()
        ))
    }

    /// Reload what changed, then run the meta-command or evaluate the Rhai.
    fn line(&mut self, line: &str) -> Result<Flow, Error> {
        self.check_reload();
        if line.trim_start().starts_with(':') {
            return Ok(commands::dispatch(self, line).unwrap_or_else(|m| {
                report::error_note(&m, None);
                Flow::Continue
            }));
        }
        self.eval_line(line);
        Ok(Flow::Continue)
    }
}

impl Session {
    /// A session on `rt` with an empty scope; `trace` is the runtime's observer switch and
    /// `json` prints values as JSON.
    pub fn new(rt: Arc<Runtime>, trace: Arc<Toggle>, json: bool) -> Self {
        let reloader = Reloader::new(&rt.settings.root);
        Self {
            rt,
            trace,
            json,
            scope: Scope::new(),
            prompt_ast: AST::empty(),
            reloader,
        }
    }

    /// Reload the project if its files changed, printing one line about it.
    fn check_reload(&mut self) {
        match self.reloader.check(&self.rt) {
            Reload::Unchanged => {}
            Reload::Reloaded(files) => eprintln!("reloaded: {}", list_paths(&files)),
            Reload::Failed(files, e) => {
                let _ = report::render(Error::Project(e));
                report::error_note(
                    &format!(
                        "cannot reload after changes to {}; keeping the previous version",
                        list_paths(&files)
                    ),
                    None,
                );
            }
        }
    }

    /// Reload now (`:reload`).
    pub(super) fn force_reload(&mut self) -> Result<(), String> {
        self.reloader.force(&self.rt).map_err(|e| {
            let _ = report::render(Error::Project(e));
            "the project does not load; keeping the previous version".to_string()
        })
    }

    /// Signatures of the fns defined at the prompt (closures left out), each with the project
    /// file that overrides it, if any.
    pub(super) fn prompt_fns(&self) -> Vec<(String, Option<String>)> {
        let project = self.rt.project();
        self.prompt_ast
            .iter_functions()
            .filter(|f| !f.name.starts_with("anon$"))
            .map(|f| {
                let shadow = project
                    .fns
                    .get(f.name)
                    .map(|d| d.path.display().to_string());
                (format!("{}({})", f.name, f.params.join(", ")), shadow)
            })
            .collect()
    }

    /// Compile, evaluate and print one input.
    fn eval_line(&mut self, line: &str) {
        let line_ast = match self.rt.rhai.engine.compile_with_scope(&self.scope, line) {
            Ok(ast) => ast,
            Err(e) => {
                let (message, snippet) = syntax_error(line, &e);
                report::error_note(&message, snippet.as_deref());
                return;
            }
        };
        let project = self.rt.project();
        for f in line_ast.iter_functions() {
            if let Some(def) = project.fns.get(f.name) {
                eprintln!(
                    "note: `{}` is also defined in `{}`; that definition wins while the file has it",
                    f.name,
                    def.path.display()
                );
            }
        }
        self.prompt_ast = self.prompt_ast.merge(&line_ast.clone_functions_only());
        // Project files override prompt fns, so an edited file is what runs next.
        let full = self
            .prompt_ast
            .merge(&project.library)
            .merge(&line_ast.clone_statements_only());
        match self.eval(full) {
            Ok(v) => {
                if let Some(s) = value::render(&value::to_json(&v), self.json) {
                    let how = if self.json {
                        Escaped::Json
                    } else {
                        Escaped::Text
                    };
                    println!("{}", escape(&s, how));
                }
            }
            Err(e) => report::setback(&match errors::termination(&e) {
                Some(errors::Termination::Cancelled) => Setback::Interrupted,
                Some(errors::Termination::Aborted) => Setback::Aborted,
                None => Setback::Failed(self.rt.describe_rhai_error(&e)),
            }),
        }
    }

    /// Evaluate `ast` with the session scope on a blocking thread; Ctrl-C cancels it.
    fn eval(&mut self, ast: AST) -> Result<Dynamic, Box<EvalAltResult>> {
        let rt = self.rt.clone();
        let mut scope = std::mem::take(&mut self.scope);
        // The job is spawned when first polled: after Ctrl-C is listened for.
        let job = async move {
            tokio::task::spawn_blocking(move || {
                let _clock = crate::script::clock::evaluation();
                let out = rt
                    .rhai
                    .engine
                    .eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
                (scope, out)
            })
            .await
        };
        match super::interruptible(&self.rt, job) {
            Ok((scope, out)) => {
                self.scope = scope;
                out
            }
            Err(e) => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("the evaluation stopped: {e}").into(),
                rhai::Position::NONE,
            ))),
        }
    }
}

fn list_paths(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A syntax error's message, and the offending input line with a caret under the position
/// (escaped) when it has one.
fn syntax_error(input: &str, e: &rhai::ParseError) -> (String, Option<String>) {
    let message = format!("syntax error: {}", e.err_type());
    let pos = e.position();
    let Some(line_no) = pos.line() else {
        return (message, None);
    };
    let line = input.lines().nth(line_no - 1).unwrap_or("");
    let col = pos.position().unwrap_or(1).saturating_sub(1);
    let pad: String = line
        .chars()
        .take(col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let line = escape(line, Escaped::Text);
    (message, Some(format!("  | {line}\n  | {pad}^")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_point_at_the_column() {
        let engine = rhai::Engine::new();
        let input = "let x = 1;\nlet = 3";
        let e = engine.compile(input).unwrap_err();
        let (message, snippet) = syntax_error(input, &e);
        assert!(message.starts_with("syntax error: "), "{message}");
        assert_eq!(snippet.as_deref(), Some("  | let = 3\n  |     ^"));
    }
}
