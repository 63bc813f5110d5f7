//! One session: a project's runtime opened from [`Settings`](crate::settings::Settings) with what the face opening it adds
//! ([`Session::of`], then [`Opening`]), the work run in it (Ctrl-C cancels the call tree), and its end
//! (the trace flushed, the run log closed with how the run ended, a recorded cassette saved,
//! the spent line). Every face that runs calls goes through it: each `llm-do` command reads
//! "arguments -> session -> print", `mcp serve` opens one per call, and an embedding program
//! (the Python bindings, a Rust host) uses the API here: open a project with its host fns
//! ([`HostFn`]), call names with JSON through the one seam, run a script, run `test` and get
//! its report as data, hold a chat, and close. Errors are [`Error`]s, which
//! [`crate::report::error_json`] turns into the fields of `--error-format json`.

mod open;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input};
use crate::cancel::CancelScope;
use crate::eval::run::{NameReport, Options};
use crate::log::{Closing, RunStatus};
use crate::model::prices::dollars;
use crate::output::count;
use crate::project::{self, ProjectError};
use crate::report::{Error, ExitCode};
use crate::runtime::Runtime;
use crate::runtime::budget::Spent;
use crate::runtime::callee::Callee;
use crate::script::host::HostFn;
use crate::script::{errors, value};

pub use open::{LivePrinter, Opening, observer, settings};

/// An open project: one runtime (and one run of the run log) until it ends.
pub struct Session {
    rt: Arc<Runtime>,
    /// The trace file this session writes, as shown (for the message when it cannot be
    /// written; empty when there is none).
    trace: String,
    /// Whether ending says what was spent.
    spent_line: bool,
}

/// How [`Session::open`] opens a project.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The model every worker runs on (`--model`).
    pub model: Option<String>,
    /// Keep the run log (as `llm-do` does; `[log] enabled = false` still turns it off).
    pub log: bool,
}

/// The last writes of the run logs of the sessions a process ended, waited for as late as it
/// can: the CLI waits once its async runtime has shut down, so the log's last commit overlaps
/// that teardown instead of adding to it.
#[derive(Default)]
pub struct Closings(Mutex<Vec<Closing>>);

impl Closings {
    /// Wait for every run log's last write.
    ///
    /// # Errors
    ///
    /// The first run log that could not be opened or written.
    pub fn wait(self) -> Result<(), Error> {
        let closing = self.0.into_inner().unwrap_or_else(PoisonError::into_inner);
        // Every one is waited for before the first failure is said.
        let waited: Vec<_> = closing.into_iter().map(Closing::wait).collect();
        let first: Result<(), _> = waited.into_iter().collect();
        first.map_err(log_error)
    }
}

impl Session {
    /// Open the project at (or above) `start` on the tokio runtime of the caller (this must
    /// run inside it), with `hosts` in its namespace and approvals asked of `prompter`.
    /// Settings come from `llm-do.toml`, the user config and the environment as for the CLI.
    ///
    /// # Errors
    ///
    /// No project there, or it does not load.
    pub fn open(
        start: &Path,
        options: &OpenOptions,
        hosts: Vec<Arc<HostFn>>,
        prompter: Option<Arc<dyn crate::approval::Prompter>>,
    ) -> Result<Session, Error> {
        let mut settings = settings(None, start, true)?;
        settings.model_override.clone_from(&options.model);
        settings.quiet = true;
        settings.log &= options.log;
        Session::of(&settings).open_with(|runtime| runtime.hosts(hosts).prompter(prompter))
    }

    /// The runtime (for what this API does not cover).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Run `fut` (Ctrl-C cancels it, see [`Session::interrupting`]), then end the session
    /// with how it went ([`Session::end`]).
    ///
    /// # Errors
    ///
    /// `fut`'s error, or the end's.
    pub async fn run<T, E>(
        &self,
        closings: &Closings,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error>
    where
        Error: From<E>,
    {
        let out = self.interrupting(fut).await.map_err(Error::from);
        self.end(closings, out)
    }

    /// Run `fut`, cancelling the call tree on Ctrl-C or SIGTERM; a second signal exits at
    /// once. Then wait for the work `fut` left running beside it ([`Runtime::settle`]).
    pub async fn interrupting<T, E>(
        &self,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let cancel = self.rt.cancel.clone();
        let runtime = self.rt.clone();
        // Handlers are installed before `fut` starts, so no signal can hit the default action
        // (killing the process mid-call) once the call tree runs.
        let mut signals = crate::interrupt::Signals::install();
        let watcher = tokio::spawn(async move {
            if signals.next().await {
                cancel.cancel();
                if signals.next().await {
                    // MCP servers run in process groups of their own, out of the terminal's
                    // reach: killed here, since exiting now skips the orderly shutdown.
                    runtime.run.mcp.drop_all();
                    std::process::exit(ExitCode::Interrupted as i32);
                }
            }
        });
        let out = fut.await;
        // The shadow sides still running beside their callers end (or see Ctrl-C) here,
        // before the run log closes.
        self.rt.settle().await;
        watcher.abort();
        out
    }

    /// End the session of a command whose work came to `result`: say what was spent (on a
    /// terminal, unless `-q`), and close it ([`Session::closing`]); the run log's last write
    /// joins `closings`.
    ///
    /// # Errors
    ///
    /// The trace or the cassette could not be written (first), else `result`'s error.
    pub fn end<T>(&self, closings: &Closings, result: Result<T, Error>) -> Result<T, Error> {
        if self.spent_line
            && !self.rt.settings.quiet
            && std::io::stderr().is_terminal()
            && let Some(figures) = spent_figures(&self.rt.run.budget.spent())
        {
            crate::report::note(&format!("llm-do: {figures}"));
        }
        let (closing, done) = self.closing(result.is_ok());
        if let Some(c) = closing {
            crate::sync::lock(&closings.0).push(c);
        }
        done.and(result)
    }

    /// Wait for work still running beside finished calls (shadow sides), then close the
    /// session and wait for the run log's last write: the end of one run of a process that
    /// goes on (a call of `mcp serve`, an embedding program).
    ///
    /// # Errors
    ///
    /// The run log, the trace or the cassette could not be written.
    pub async fn close(&self, ok: bool) -> Result<(), Error> {
        // The shadow side of a `[stabilize]` switch may still run: its row goes in this run.
        self.rt.settle().await;
        let (closing, done) = self.closing(ok);
        let Some(closing) = closing else {
            return done;
        };
        match tokio::task::spawn_blocking(move || closing.wait()).await {
            Ok(Ok(())) => done,
            Ok(Err(e)) => Err(log_error(e)),
            Err(e) => Err(Error::failed(format!("the run log writer failed: {e}"))),
        }
    }

    /// Stop MCP servers, close the run log with how the run ended (`ok`, else interrupted or
    /// an error), returning its last write; flush the trace, save a recorded cassette (the
    /// first failure of these last two).
    fn closing(&self, ok: bool) -> (Option<Closing>, Result<(), Error>) {
        let rt = &self.rt;
        rt.shutdown_mcp();
        let status = match ok {
            true => RunStatus::Ok,
            false if rt.cancel.is_cancelled() => RunStatus::Interrupted,
            false => RunStatus::Error,
        };
        let closing = rt.run_log().and_then(|log| log.close_as(status));
        let flushed = (rt.observer.flush())
            .map_err(|e| Error::failed(format!("cannot write trace `{}`: {e}", self.trace)));
        let saved = rt.cassette().map_or(Ok(()), |c| {
            c.save().map_err(|e| Error::failed(e.to_string()))
        });
        (closing, saved.and(flushed))
    }

    /// Add (or replace) a host fn: callable at once by every path, kept across reloads.
    ///
    /// # Errors
    ///
    /// Its name is taken by a worker or fn of the project.
    pub fn add_host(&self, f: HostFn) -> Result<(), Error> {
        self.rt.add_host(f).map_err(Error::Project)
    }

    /// Reload the project from disk (hot reload; host fns stay).
    ///
    /// # Errors
    ///
    /// The project no longer loads (the one loaded before stays in force).
    pub fn reload(&self) -> Result<(), Error> {
        Ok(self.rt.set_project(self.rt.load_project()?)?)
    }

    /// Call `name` with `input` through the seam, as `llm-do run` does; cancelling `scope`
    /// (Ctrl-C in the embedding program) cancels the call tree.
    ///
    /// # Errors
    ///
    /// The call failed (an unknown name is a usage error with its "did you mean").
    pub async fn call(&self, name: &str, input: Value, scope: CancelScope) -> Result<Value, Error> {
        let ctx = CallCtx::default().within(scope);
        self.rt
            .call(&ctx, name, input)
            .await
            .map_err(Error::of_named_call)
    }

    /// Run the script at `path` with `args` (its fns join the namespace of this run), and
    /// return its value.
    ///
    /// # Errors
    ///
    /// The script cannot be read or compiled, or it failed (located in its file).
    pub async fn run_script(&self, path: &Path, args: Vec<String>) -> Result<Value, Error> {
        let script = self.compile(path, read_script(path)?)?;
        let v = self.eval(&script, args).await?;
        script.value(v)
    }

    /// Compile the script at `path`, holding `text` ([`read_script`]), with the project's
    /// engine.
    ///
    /// # Errors
    ///
    /// It does not compile (located in its file).
    pub fn compile(&self, path: &Path, text: Arc<str>) -> Result<Compiled, Error> {
        let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let shown = project::relative(&self.rt.settings.root, &abs);
        let (ast, _) = crate::script::compile_file(&self.rt.rhai.engine, &shown, &text)
            .map_err(ProjectError::from)?;
        let ast = Arc::new(ast);
        Ok(Compiled { shown, text, ast })
    }

    /// Evaluate `script` with `args` on a blocking thread: its value, or the error located in
    /// the script or the project fn it failed in.
    ///
    /// # Errors
    ///
    /// The script failed, was aborted or cancelled.
    pub async fn eval(&self, script: &Compiled, args: Vec<String>) -> Result<rhai::Dynamic, Error> {
        let (rt, ast) = (self.rt.clone(), script.ast.clone());
        let result = tokio::task::spawn_blocking(move || rt.eval_script(&ast, args))
            .await
            .map_err(|e| Error::Call(CallError::Script(e.to_string())))?;
        result.map_err(|e| match errors::termination(&e) {
            Some(errors::Termination::Aborted) => Error::Call(CallError::Aborted),
            Some(errors::Termination::Cancelled) => Error::Call(CallError::Cancelled),
            None => {
                // Where a project fn the script called is defined (shown path and text).
                let project = self.rt.project();
                let lookup = |name: &str| {
                    let f = project.fns.get(name)?;
                    let text = std::fs::read_to_string(project.root.join(&f.path)).ok()?;
                    Some((f.path.clone(), text.into()))
                };
                Error::Script(errors::locate(&e, (&script.shown, &script.text), &lookup))
            }
        })
    }

    /// Run the cases of `name` `repeat` times each and return the report as `llm-do test
    /// --json` prints it.
    ///
    /// # Errors
    ///
    /// `name` has no cases, or a case could not run.
    pub async fn test(&self, name: &str, repeat: u32) -> Result<Value, Error> {
        let opts = Options {
            repeat: repeat.max(1),
            min_agreement: None,
        };
        let report = self.test_name(name, opts).await?;
        Ok(crate::eval::report::json(&[report]))
    }

    /// Load and run the cases of `name`.
    ///
    /// # Errors
    ///
    /// `name` has no cases (an unknown name with its "did you mean"), or a case could not run.
    pub async fn test_name(&self, name: &str, opts: Options) -> Result<NameReport, Error> {
        let project = self.rt.project();
        let examples = project
            .workers
            .get(name)
            .map(|w| w.examples.clone())
            .unwrap_or_default();
        let cases =
            crate::eval::cases::load(&project.root, name, &examples).map_err(ProjectError::from)?;
        if cases.is_empty() {
            let known = project.workers.contains_key(name) || project.fns.contains_key(name);
            let names = project.workers.keys().chain(project.fns.keys());
            if let (false, Some(close)) = (
                known,
                crate::suggest::did_you_mean(name, names.map(String::as_str)),
            ) {
                return Err(Error::usage(format!("unknown worker or fn `{name}`")).with_help(close));
            }
            return Err(Error::usage(format!("`{name}` has no cases")).with_help(format!(
                "write `tests/{name}.jsonl` or build it from the run log with `llm-do dataset {name} -o tests/{name}.jsonl`"
            )));
        }
        crate::eval::run::run(&self.rt, name, cases, opts)
            .await
            .map_err(Error::of_named_call)
    }

    /// A conversation with `worker` (or the worker side of a switch).
    ///
    /// # Errors
    ///
    /// `worker` is not a worker, or its input is not one string.
    pub fn chat(&self, worker: &str) -> Result<Chat, Error> {
        let callee = self
            .rt
            .resolve_worker(worker)
            .map_err(Error::of_named_call)?;
        refuse_structured_input(&callee)?;
        Ok(Chat {
            rt: self.rt.clone(),
            callee,
            conversation: Conversation::default(),
        })
    }
}

/// The run log of the project at `root`, for the commands that read it (`logs`, `view`).
///
/// # Errors
///
/// There is no run log yet.
pub fn run_log_path(root: &Path) -> Result<PathBuf, Error> {
    let path = crate::log::path_in(root);
    if !path.exists() {
        return Err(Error::usage(format!("no run log at `{}`", path.display()))
            .with_help("runs are logged unless `--no-log` or `[log] enabled = false`"));
    }
    Ok(path)
}

/// A run log that could not be opened or written, with the way out.
fn log_error(e: crate::log::LogError) -> Error {
    Error::failed(e.to_string())
        .with_help("pass `--no-log`, or set `[log] enabled = false` in llm-do.toml")
}

/// What a run spent on models (worker runs, requests, tokens, cost), when it used a model:
/// the one-line summary of a run (DESIGN §15) after `llm-do: `.
pub fn spent_figures(spent: &Spent) -> Option<String> {
    if spent.requests == 0 {
        return None;
    }
    let cost = match (spent.unpriced, spent.requests) {
        (0, _) => format!(", {}", dollars(spent.cost)),
        (n, all) if n == all => ", cost unknown (no price for the model)".to_string(),
        (n, _) => format!(
            ", {} + {} without a price",
            dollars(spent.cost),
            count(n, "request")
        ),
    };
    Some(format!(
        "{}, {}, {}{cost}",
        count(spent.worker_runs, "worker run"),
        count(spent.requests, "model request"),
        crate::trace::usage_text(&spent.usage)
    ))
}

/// The text of the script at `path`.
///
/// # Errors
///
/// It cannot be read.
pub fn read_script(path: &Path) -> Result<Arc<str>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read script `{}`: {e}", path.display())))?;
    Ok(text.into())
}

/// A script compiled in a session ([`Session::compile`]).
pub struct Compiled {
    /// The script's path as shown (relative to the project root).
    shown: PathBuf,
    text: Arc<str>,
    ast: Arc<rhai::AST>,
}

impl Compiled {
    /// What the script's value `v` comes to as JSON.
    ///
    /// # Errors
    ///
    /// The script ended with `defer()`, which means something only in a switch's fn.
    pub fn value(&self, v: rhai::Dynamic) -> Result<Value, Error> {
        if v.is::<crate::script::Deferred>() {
            return Err(Error::failed(format!(
                "`{}` ended with `defer()`, which means something only in a fn under \
                 `[stabilize] NAME = \"code\"` or `\"canary:P\"`",
                self.shown.display()
            )));
        }
        Ok(value::to_json(&v))
    }
}

/// A conversation held with one worker: each turn ([`Chat::send`]) comes after the earlier
/// ones. A clone holds the same conversation.
#[derive(Clone)]
pub struct Chat {
    rt: Arc<Runtime>,
    callee: Callee,
    conversation: Conversation,
}

impl Chat {
    /// This chat, going on from `conversation` (kept before: `llm-do chat --continue`).
    #[must_use]
    pub fn resume(self, conversation: Conversation) -> Chat {
        Chat {
            conversation,
            ..self
        }
    }

    /// The name of the worker.
    pub fn worker(&self) -> &str {
        self.callee.name()
    }

    /// The conversation so far.
    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// Send `text` as the next turn and return the worker's answer.
    ///
    /// # Errors
    ///
    /// The turn failed (it is not part of the conversation then).
    pub async fn send(&self, text: &str, scope: CancelScope) -> Result<Value, Error> {
        Ok(self.turn(&CallCtx::default().within(scope), text).await?)
    }

    /// Hold the next turn, `text`, as a call in `ctx`.
    ///
    /// # Errors
    ///
    /// The turn failed (it is not part of the conversation then).
    pub async fn turn(&self, ctx: &CallCtx, text: &str) -> Result<Value, CallError> {
        let input = Input::Turn(self.callee.input_from_text(text), self.conversation.clone());
        let out = self.rt.invoke(ctx, &self.callee, input).await?;
        Ok(value::to_json(&out))
    }
}

/// A worker whose input is not one string cannot take a chat line as its input: say so before
/// the first turn, not with a schema error after it.
fn refuse_structured_input(callee: &Callee) -> Result<(), Error> {
    let takes_text = crate::runtime::callee::takes_text;
    let Some(spec) = callee.worker_spec().filter(|spec| !takes_text(spec)) else {
        return Ok(());
    };
    let fields: Vec<&str> = spec
        .input
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let takes = if fields.is_empty() {
        String::new()
    } else {
        format!(" (it takes {})", crate::suggest::quoted(fields))
    };
    Err(Error::usage(format!(
        "cannot chat with `{}`: a chat line is one string, and its `input` is not{takes}",
        spec.name
    ))
    .with_help(format!(
        "chat with a worker whose `input` is a string (the default) or one string property; \
         run this one with `llm-do run {} --input-json '{{...}}'`",
        spec.name
    )))
}
