//! The Rhai evaluator of a runtime (DESIGN §12): the process's engine, the restricted engine
//! untrusted drafts run in, the running script's AST (where `parallel` closures live), and
//! the bound on threads evaluating Rhai at once; calling fns, fn pointers and scripts on a
//! blocking thread, and describing Rhai errors with their file and line.

use std::sync::{Arc, OnceLock, RwLock};

use rhai::{CallFnOptions, Dynamic, Scope};
use serde_json::Value;

use crate::call::{CallCtx, CallError};
use crate::cancel::Cancel;
use crate::project::Project;
use crate::script::engine::EngineLimits;
use crate::script::value;

/// Threads evaluating Rhai for fan-out branches at once, at most. Past it a fan-out fails
/// with a clear error instead of deadlocking the blocking pool (whose size is
/// [`BLOCKING_THREADS`]; the margin keeps room for builtins, file I/O and the script itself).
pub const MAX_EVAL_THREADS: usize = BLOCKING_THREADS - 32;

/// Size of the tokio blocking pool the CLI builds.
pub const BLOCKING_THREADS: usize = 512;

/// The Rhai side of a runtime.
pub struct Evaluator {
    /// The process's engine (every builtin and the `call` syntax registered).
    pub engine: rhai::Engine,
    /// The restricted engine untrusted drafts run in, built on first use
    /// ([`crate::script::untrusted`]).
    untrusted: OnceLock<rhai::Engine>,
    /// The running script merged with the project library: where `parallel` closures live.
    script_ast: RwLock<Option<Arc<rhai::AST>>>,
    /// One permit per thread that may evaluate Rhai for a fan-out branch
    /// ([`MAX_EVAL_THREADS`]), held while it evaluates.
    evaluating: Arc<tokio::sync::Semaphore>,
    /// Ctrl-C and the limits, for the restricted engine.
    cancel: Arc<Cancel>,
    limits: EngineLimits,
}

impl Evaluator {
    /// An evaluator around `engine`; untrusted drafts get `limits` and stop on `cancel`.
    pub(super) fn new(
        engine: rhai::Engine,
        cancel: Arc<Cancel>,
        limits: EngineLimits,
    ) -> Evaluator {
        Evaluator {
            engine,
            untrusted: OnceLock::new(),
            script_ast: RwLock::new(None),
            evaluating: Arc::new(tokio::sync::Semaphore::new(MAX_EVAL_THREADS)),
            cancel,
            limits,
        }
    }
    /// Run Rhai evaluation on a blocking thread, refusing (instead of deadlocking) when the
    /// blocking pool is nearly exhausted by nested fan-outs.
    pub(crate) async fn evaluate(
        &self,
        f: impl FnOnce() -> Result<Dynamic, CallError> + Send + 'static,
    ) -> Result<Dynamic, CallError> {
        let permit =
            self.evaluating
                .clone()
                .try_acquire_owned()
                .map_err(|_| CallError::Threads {
                    active: MAX_EVAL_THREADS,
                })?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| CallError::Script(format!("a branch failed: {e}")))?
    }

    /// Call the untrusted draft `name` on this (blocking) thread: in the restricted engine,
    /// never the process's (DESIGN §17), whatever path reached it.
    pub(crate) fn call_untrusted(
        &self,
        project: &Project,
        name: &str,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, CallError> {
        let engine = self.untrusted_engine();
        crate::script::untrusted::call(engine, &project.drafts, name, args).map_err(|e| {
            match call_failure(e) {
                CallError::Rhai(e) => {
                    let path = project.fns.get(name).map(|f| f.path.display().to_string());
                    let line = e.position().line().map(|l| format!(":{l}")).unwrap_or_default();
                    CallError::Script(format!(
                        "{} (at {}{line}; an untrusted draft runs without llm-do's builtins until `llm-do stabilize {name} --accept`)",
                        crate::script::errors::message(&e),
                        path.unwrap_or_default(),
                    ))
                }
                other => other,
            }
        })
    }

    /// The restricted engine of this runtime (its limits and Ctrl-C), built once: drafts run
    /// in it live and when graded.
    pub fn untrusted_engine(&self) -> &rhai::Engine {
        self.untrusted
            .get_or_init(|| crate::script::untrusted::engine(self.cancel.clone(), self.limits))
    }

    /// Call a project Rhai fn with positional JSON args on this (blocking) thread, untraced
    /// (machinery: the policy fn, the `script:` model).
    pub fn call_fn_blocking(
        &self,
        project: &Project,
        name: &str,
        args: Vec<Value>,
    ) -> Result<Value, CallError> {
        let args: Vec<Dynamic> = args.iter().map(value::to_dynamic).collect();
        self.call_in_ast(&CallCtx::default(), &project.library, name, args)
            .map(|d| value::to_json(&d))
            .map_err(|e| match e {
                CallError::Rhai(e) => CallError::Script(describe(project, &e)),
                other => other,
            })
    }

    /// Call a fn pointer or closure (from `parallel`) on this (blocking) thread, with the
    /// calling context as the evaluation tag so nested `call()`s keep their depth and scope.
    pub fn call_fn_ptr_blocking(
        &self,
        project: &Project,
        ctx: &CallCtx,
        fp: &rhai::FnPtr,
    ) -> Result<Dynamic, CallError> {
        let ast = self.script_ast(project);
        let args: Vec<Dynamic> = fp.curry().to_vec();
        let scripted = ast
            .iter_functions()
            .any(|f| f.name == fp.fn_name() && f.params.len() == args.len());
        if scripted {
            return self.call_in_ast(ctx, &ast, fp.fn_name(), args);
        }
        let _entered = crate::cancel::enter(ctx.cancel.clone());
        let _clock = crate::script::clock::evaluation();
        fp.call::<Dynamic>(&self.engine, &ast, ())
            .map_err(call_failure)
    }

    /// Call fn `name` of `ast` with positional `args` on this (blocking) thread, with `ctx` as
    /// the evaluation tag.
    pub(crate) fn call_in_ast(
        &self,
        ctx: &CallCtx,
        ast: &rhai::AST,
        name: &str,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, CallError> {
        let _entered = crate::cancel::enter(ctx.cancel.clone());
        let _clock = crate::script::clock::evaluation();
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).with_tag(ctx.clone());
        self.engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, ast, name, args)
            .map_err(call_failure)
    }

    /// The AST closures of the running script live in (the project library when no script
    /// runs, e.g. `llm-do run`).
    pub fn script_ast(&self, project: &Project) -> Arc<rhai::AST> {
        crate::sync::read(&self.script_ast)
            .clone()
            .unwrap_or_else(|| project.library.clone())
    }

    /// Evaluate a script's top-level statements (and `fn main(args)` when defined) on this
    /// blocking thread.
    pub fn eval_script(
        &self,
        project: &Project,
        ast: &rhai::AST,
        args: Vec<String>,
    ) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        let _clock = crate::script::clock::evaluation();
        let merged = Arc::new(project.library.merge(ast));
        // Fan-out branches on other threads call the script's closures in it.
        *crate::sync::write(&self.script_ast) = Some(merged.clone());
        let mut scope = Scope::new();
        let args: rhai::Array = args.into_iter().map(Dynamic::from).collect();
        scope.push("args", args.clone());
        let value = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &merged)?;
        let Some(main) = ast.iter_functions().find(|f| f.name == "main") else {
            return Ok(value);
        };
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(false);
        let main_args: Vec<Dynamic> = if main.params.is_empty() {
            vec![]
        } else {
            vec![Dynamic::from_array(args)]
        };
        self.engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &merged, "main", main_args)
    }
}

/// A Rhai error ending a call: aborts and interrupts keep their meaning.
pub(super) fn call_failure(e: Box<rhai::EvalAltResult>) -> CallError {
    match crate::script::errors::termination(&e) {
        Some(crate::script::errors::Termination::Aborted) => CallError::Aborted,
        Some(crate::script::errors::Termination::Cancelled) => CallError::Cancelled,
        None => CallError::Rhai(e),
    }
}

/// A one-line description of a Rhai error with its file and line.
pub fn describe(project: &Project, e: &rhai::EvalAltResult) -> String {
    let mut cur = e;
    let mut file = None;
    while let rhai::EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = cur {
        if let Some(f) = project.fns.get(name.as_str()) {
            file = Some(f.path.display().to_string());
        }
        cur = inner;
    }
    let msg = crate::script::errors::message(cur);
    match (file, cur.position().line()) {
        (Some(f), Some(l)) => format!("{msg} (at {f}:{l})"),
        _ => msg,
    }
}

/// The text a failed call is reported with (Rhai errors with their file and line).
pub fn error_text(project: &Project, e: &CallError) -> String {
    match e {
        CallError::Rhai(e) => describe(project, e),
        other => other.one_line(),
    }
}
