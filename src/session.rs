//! Embedding llm-do in another program (the Python bindings, a Rust host): open a project,
//! call names with JSON through the one seam (validation, budgets, the run log, traces, the
//! switch), run a script, run `test` and get its report as data, hold a chat, and close. The
//! runtime is built as the CLI builds it ([`crate::cli::setup`]); the embedding program's
//! host fns ([`HostFn`]) join the namespace. Errors are [`Error`]s, which
//! [`crate::report::error_json`] turns into the fields of `--error-format json`.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input};
use crate::cancel::CancelScope;
use crate::cli::setup;
use crate::project::{self, ProjectError};
use crate::report::Error;
use crate::runtime::Runtime;
use crate::runtime::callee::Callee;
use crate::script::host::HostFn;
use crate::script::value;

/// An open project: one runtime (and one run of the run log) until [`Session::close`].
pub struct Session {
    rt: Arc<Runtime>,
}

/// How [`Session::open`] opens a project.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The model every worker runs on (`--model`).
    pub model: Option<String>,
    /// Keep the run log (as `llm-do` does; `[log] enabled = false` still turns it off).
    pub log: bool,
}

impl Session {
    /// Open the project at (or above) `start` on the tokio runtime of the caller (this must
    /// run inside it), with `hosts` in its namespace. Settings come from `llm-do.toml`, the
    /// user config and the environment as for the CLI.
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
        let start = start
            .canonicalize()
            .map_err(|e| Error::usage(format!("cannot use project `{}`: {e}", start.display())))?;
        let root = project::discover(&start).ok_or_else(|| {
            Error::Project(ProjectError::NotFound {
                start: start.display().to_string(),
            })
        })?;
        let global = crate::cli::Global {
            project: Some(root),
            json: false,
            verbose: 0,
            quiet: true,
            color: crate::report::Color::Never,
            error_format: crate::report::ErrorFormat::Json,
        };
        let run = crate::cli::RunOptions {
            model: options.model.clone(),
            no_log: !options.log,
            ..crate::cli::RunOptions::default()
        };
        let settings = crate::cli::settings_for(&global, &run, &start, true)?;
        let extras = setup::Extras { prompter, hosts };
        let rt = setup::embedded_runtime(&settings, extras)?;
        Ok(Session { rt })
    }

    /// The runtime (for what this API does not cover).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
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
        let project = self.rt.load_project()?;
        self.rt.set_project(project).map_err(Error::Project)
    }

    /// Call `name` with `input` through the seam, as `llm-do run` does; cancelling `scope`
    /// (Ctrl-C in the embedding program) cancels the call tree.
    ///
    /// # Errors
    ///
    /// The call failed (an unknown name is a usage error with its "did you mean").
    pub async fn call(&self, name: &str, input: Value, scope: CancelScope) -> Result<Value, Error> {
        let ctx = CallCtx {
            cancel: scope,
            ..CallCtx::default()
        };
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
        let text: Arc<str> = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read script `{}`: {e}", path.display())))?
            .into();
        let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let shown = project::relative(&self.rt.settings.root, &abs);
        let (ast, _) = crate::script::compile_file(&self.rt.rhai.engine, &shown, &text)
            .map_err(|e| Error::Project(ProjectError::from(e)))?;
        let rt = self.rt.clone();
        let result = tokio::task::spawn_blocking(move || rt.eval_script(&ast, args))
            .await
            .map_err(|e| Error::Call(CallError::Script(e.to_string())))?;
        crate::cli::script::script_value(&self.rt, &shown, &text, result)
    }

    /// Run the cases of `name` `repeat` times each and return the report as `llm-do test
    /// --json` prints it.
    ///
    /// # Errors
    ///
    /// `name` has no cases, or a case could not run.
    pub async fn test(&self, name: &str, repeat: u32) -> Result<Value, Error> {
        let opts = crate::eval::run::Options {
            repeat: repeat.max(1),
            min_agreement: None,
        };
        let report = crate::cli::test::run_name(&self.rt, name, opts).await?;
        Ok(crate::eval::report::json(&[report]))
    }

    /// A conversation with `worker` (or the worker side of a switch).
    ///
    /// # Errors
    ///
    /// `worker` is not a worker.
    pub fn chat(&self, worker: &str) -> Result<Chat, Error> {
        let callee = self
            .rt
            .resolve_worker(worker)
            .map_err(Error::of_named_call)?;
        Ok(Chat {
            rt: self.rt.clone(),
            callee,
            conversation: Conversation::default(),
        })
    }

    /// Wait for work still running beside finished calls (shadow sides), then close the run
    /// log and wait for its last write.
    ///
    /// # Errors
    ///
    /// The run log or a trace could not be written.
    pub async fn close(&self, ok: bool) -> Result<(), Error> {
        setup::finish_run(&self.rt, self.rt.settings.trace.as_deref(), ok).await
    }
}

/// A conversation held with one worker: each [`Chat::send`] is a turn after the earlier ones.
pub struct Chat {
    rt: Arc<Runtime>,
    callee: Callee,
    conversation: Conversation,
}

impl Chat {
    /// Send `text` as the next turn and return the worker's answer.
    ///
    /// # Errors
    ///
    /// The turn failed (it is not part of the conversation then).
    pub async fn send(&self, text: &str, scope: CancelScope) -> Result<Value, Error> {
        let ctx = CallCtx {
            cancel: scope,
            ..CallCtx::default()
        };
        let input = Input::Turn(self.callee.input_from_text(text), self.conversation.clone());
        let out = self.rt.invoke(&ctx, &self.callee, input).await?;
        Ok(value::to_json(&out))
    }
}
