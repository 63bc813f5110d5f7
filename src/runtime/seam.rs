//! The one call seam (DESIGN §12). Every way a name is reached — a script's `call()`,
//! `call_all`/`try_call_all`, `llm-do run`, an LLM tool call after the approval gate, `shadow`,
//! `test`, the REPL — goes through [`Runtime::resolve`] and one invoker. The invoker alone maps
//! and validates the input against the callee (a fn's doc-comment types, a worker's `input`
//! schema, the worker depth limit), opens and closes the trace span (a guard), and runs the
//! callee. A new kind of callee or a cross-cutting rule (budgets, the run log) is added here.
//!
//! Two entry points share those steps: [`Runtime::invoke`] (async: tool calls, `run`, fan-out
//! branches) and [`Runtime::invoke_here`] (a `call()` evaluating on a blocking thread, where
//! script fns run inside the calling evaluation through [`Here`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input, map_args, normalize_input};
use crate::model::prices::Spend;
use crate::project::Callee;
use crate::schema::Validator;
use crate::script::builtins;
use crate::script::caller::{Here, MAX_SESSION_PARAMS};
use crate::script::{Deferred, value};
use crate::trace::{CallEnd, CallStart};
use crate::worker::WorkerSpec;

use super::Runtime;

/// The input of a callee after mapping and validation.
enum Args {
    /// Positional Rhai arguments of a fn or builtin.
    Positional(Vec<Dynamic>),
    /// A JSON object: a worker's input (normalized), an MCP or builtin tool's arguments; with
    /// a conversation, a worker's input as its next turn.
    Json(Value, Option<Conversation>),
}

/// Threads evaluating Rhai for fan-out branches at once, at most. Past it a fan-out fails
/// with a clear error instead of deadlocking the blocking pool (whose size is
/// [`BLOCKING_THREADS`]; the margin keeps room for builtins, file I/O and the script itself).
pub const MAX_EVAL_THREADS: usize = BLOCKING_THREADS - 32;

/// Size of the tokio blocking pool the CLI builds.
pub const BLOCKING_THREADS: usize = 512;

impl Runtime {
    /// Resolve `name` in the one namespace: project fns, workers, builtins, then
    /// `mcp.SERVER.TOOL` (DESIGN §4). Unknown names get a "did you mean".
    pub fn resolve(&self, name: &str) -> Result<Callee, CallError> {
        self.resolve_with(name, |_| None)
    }

    /// Like [`Runtime::resolve`], where `session` finds fns visible to the calling evaluation
    /// only (they shadow a worker of the same name, never a project fn or builtin).
    pub fn resolve_with(
        &self,
        name: &str,
        session: impl FnOnce(&str) -> Option<Vec<String>>,
    ) -> Result<Callee, CallError> {
        let resolved = self.loaded().project.resolve(name);
        if matches!(
            resolved,
            Ok(Callee::Worker(_)) | Err(CallError::Unknown { .. })
        ) && let Some(params) = session(name)
        {
            return Ok(Callee::SessionFn {
                name: name.to_string(),
                params,
            });
        }
        resolved
    }

    /// Resolve `name` as the worker a conversation is held with (`llm-do chat`, `chat()`):
    /// a worker, or the worker side of a `[stabilize]` switch (a fn cannot converse).
    pub fn resolve_worker(&self, name: &str) -> Result<Callee, CallError> {
        let project = self.project();
        let not = |is| CallError::NotAWorker {
            name: name.to_string(),
            is,
            help: crate::suggest::did_you_mean(name, project.workers.keys().map(String::as_str)),
        };
        match self.resolve(name) {
            Ok(Callee::Worker(spec)) => Ok(Callee::Worker(spec)),
            Ok(Callee::Switch(s)) => Ok(Callee::Worker(s.worker.clone())),
            Ok(Callee::Fn(_) | Callee::SessionFn { .. }) => Err(not(Some("fn"))),
            Ok(Callee::Mcp { .. }) => Err(not(Some("MCP tool"))),
            Ok(Callee::Builtin(_) | Callee::Tool(_)) => Err(not(Some("builtin"))),
            Err(CallError::Unknown { .. }) => Err(not(None)),
            Err(e) => Err(e),
        }
    }

    /// Parameters of a fn of the running script (or REPL session) that is not a project fn.
    pub(crate) fn script_session_fn(&self, name: &str) -> Option<Vec<String>> {
        if self.project().fns.contains_key(name) {
            return None;
        }
        let ast = self.script_ast();
        ast.iter_functions()
            .find(|f| f.name == name && f.params.len() <= MAX_SESSION_PARAMS)
            .map(|f| f.params.iter().map(|p| (*p).to_string()).collect())
    }

    /// Invoke `callee` with `input` in `ctx` (async: tool calls, `run`, fan-out branches).
    pub async fn invoke(
        self: &Arc<Self>,
        ctx: &CallCtx,
        callee: &Callee,
        input: Input,
    ) -> Result<Dynamic, CallError> {
        let args = self.prepare(ctx, callee, input)?;
        self.run_traced(ctx, callee, args).await
    }

    /// Invoke by name with JSON in and out (`llm-do run`, `shadow`, `test`).
    pub async fn call(
        self: &Arc<Self>,
        ctx: &CallCtx,
        name: &str,
        input: Value,
    ) -> Result<Value, CallError> {
        let callee = self.resolve(name)?;
        let out = self.invoke(ctx, &callee, Input::Json(input)).await?;
        Ok(value::to_json(&out))
    }

    /// A lazy job invoking `callee` (prepared now: a bad input fails before the job runs).
    pub(crate) fn job_for(
        &self,
        ctx: &CallCtx,
        callee: Callee,
        input: Input,
    ) -> Result<crate::fanout::Job, CallError> {
        self.job_deferring(ctx, callee, input, false)
    }

    /// [`Runtime::job_for`]; `may_defer` for one side of a switch (see [`Runtime::invoke_side`]).
    pub(super) fn job_deferring(
        &self,
        ctx: &CallCtx,
        callee: Callee,
        input: Input,
        may_defer: bool,
    ) -> Result<crate::fanout::Job, CallError> {
        let args = self.prepare(ctx, &callee, input)?;
        let (rt, ctx) = (self.arc(), ctx.clone());
        Ok(Box::pin(async move {
            rt.run_traced_deferring(&ctx, &callee, args, may_defer)
                .await
        }))
    }

    /// Invoke `callee` from a thread evaluating Rhai (a script's `call()`): fns run inside the
    /// calling evaluation through `here`, builtins on this thread, the rest on the async
    /// runtime while this thread waits. The calling context is read from `here` only when
    /// needed (a span, a worker): the hot path of `call()` of a fn never builds it.
    pub fn invoke_here(
        &self,
        callee: &Callee,
        input: Input,
        here: &mut dyn Here,
    ) -> Result<Dynamic, CallError> {
        if !matches!(
            callee,
            Callee::Fn(_) | Callee::SessionFn { .. } | Callee::Builtin(_)
        ) {
            let ctx = here.ctx();
            let args = self.prepare(&ctx, callee, input)?;
            let rt = self.arc();
            return self
                .handle
                .block_on(async move { rt.run_traced(&ctx, callee, args).await });
        }
        let args = positional_args(callee, input)?;
        self.run_here(callee, rhai::StaticVec::from_vec(args), here)
    }

    /// Run a fn or builtin with mapped and checked arguments on this thread, inside its span.
    pub(crate) fn run_here(
        &self,
        callee: &Callee,
        mut args: rhai::StaticVec<Dynamic>,
        here: &mut dyn Here,
    ) -> Result<Dynamic, CallError> {
        let (span, inner) = if self.observer.wants(callee.kind()) {
            let ctx = here.ctx();
            let span = Span::open(self, &ctx, callee, || positional_json(callee, &args));
            let inner = span.as_ref().map(|s| ctx.with_parent(s.id));
            (span, inner)
        } else {
            (None, None)
        };
        let out = match callee {
            Callee::Builtin(b) => {
                (b.run)(&self.builtin_env(), args.into_vec()).map_err(builtins::call_error)
            }
            Callee::Fn(f) if f.untrusted => self.call_untrusted(&f.name, args.into_vec()),
            Callee::Fn(f) if f.host.is_some() => {
                let ctx = inner.clone().unwrap_or_else(|| here.ctx());
                let rt = self.arc();
                let f = f.clone();
                self.handle
                    .block_on(async move { rt.run_host(&ctx, &f, args.into_vec()).await })
            }
            _ => here.call_fn(inner.as_ref(), callee.name(), &mut args),
        };
        let out = self.refuse_deferred(callee, out);
        Span::close(span, self, Spend::default(), &out);
        out
    }

    /// Map and validate `input` for `callee` (the one place arguments are checked).
    fn prepare(&self, ctx: &CallCtx, callee: &Callee, input: Input) -> Result<Args, CallError> {
        let (input, conversation) = match input {
            Input::Turn(v, c) => (Input::Json(v), Some(c)),
            other => (other, None),
        };
        if conversation.is_some() && !matches!(callee, Callee::Worker(_)) {
            return Err(CallError::NotAWorker {
                name: callee.name().to_string(),
                is: Some(callee.kind().log_name()),
                help: None,
            });
        }
        match callee {
            Callee::Fn(_) | Callee::SessionFn { .. } | Callee::Builtin(_) => {
                positional_args(callee, input).map(Args::Positional)
            }
            Callee::Worker(spec) => {
                let max = self.settings.max_depth;
                if ctx.depth >= max {
                    let mut chain = (*ctx.chain).clone();
                    chain.push(spec.name.clone());
                    return Err(CallError::Depth {
                        name: spec.name.clone(),
                        max,
                        chain,
                    });
                }
                let input = worker_input(spec, json_of(input))?;
                self.budget.start_worker()?;
                Ok(Args::Json(input, conversation))
            }
            Callee::Switch(_) => Ok(Args::Json(json_of(input), None)),
            Callee::Tool(_) | Callee::Mcp { .. } => match json_of(input) {
                Value::Null => Ok(Args::Json(Value::Object(serde_json::Map::new()), None)),
                v @ Value::Object(_) => Ok(Args::Json(v, None)),
                other => Err(CallError::Args {
                    name: callee.name().to_string(),
                    message: format!("pass a map of named arguments, not {other}"),
                    params: Vec::new(),
                }),
            },
        }
    }

    /// Invoke one side of a `[stabilize]` switch: the fn's `defer()` comes back as
    /// [`Deferred`] for the switch to hand the call to the worker (anywhere else it is an error).
    pub(super) async fn invoke_side(
        self: &Arc<Self>,
        ctx: &CallCtx,
        callee: &Callee,
        input: Input,
    ) -> Result<Dynamic, CallError> {
        let args = self.prepare(ctx, callee, input)?;
        self.run_traced_deferring(ctx, callee, args, true).await
    }

    /// Run a prepared call inside its trace span.
    async fn run_traced(
        self: &Arc<Self>,
        ctx: &CallCtx,
        callee: &Callee,
        args: Args,
    ) -> Result<Dynamic, CallError> {
        self.run_traced_deferring(ctx, callee, args, false).await
    }

    /// [`Runtime::run_traced`]; `may_defer` when a switch asked (see [`Runtime::invoke_side`]).
    async fn run_traced_deferring(
        self: &Arc<Self>,
        ctx: &CallCtx,
        callee: &Callee,
        args: Args,
        may_defer: bool,
    ) -> Result<Dynamic, CallError> {
        // A switch is not a call of its own: the side(s) it runs are.
        if let (Callee::Switch(switch), Args::Json(input, _)) = (callee, &args) {
            return Box::pin(self.run_switch(ctx, switch, input.clone())).await;
        }
        let span = Span::open(self, ctx, callee, || match &args {
            Args::Positional(a) => positional_json(callee, a),
            Args::Json(v, _) => v.clone(),
        });
        let inner = span
            .as_ref()
            .map_or_else(|| ctx.clone(), |s| ctx.with_parent(s.id));
        let mut spend = Spend::default();
        let out = self.execute(&inner, callee, args, &mut spend).await;
        let out = if may_defer {
            out
        } else {
            self.refuse_deferred(callee, out)
        };
        Span::close(span, self, spend, &out);
        out
    }

    /// A fn's `defer()` outside a switch: an error saying where and what it would mean.
    fn refuse_deferred(
        &self,
        callee: &Callee,
        out: Result<Dynamic, CallError>,
    ) -> Result<Dynamic, CallError> {
        match out {
            Ok(v) if v.is::<Deferred>() => Err(CallError::Script(deferred_outside_a_switch(
                callee,
                &self.project().root,
            ))),
            other => other,
        }
    }

    /// Run a prepared call off the calling thread.
    async fn execute(
        self: &Arc<Self>,
        ctx: &CallCtx,
        callee: &Callee,
        args: Args,
        spend: &mut Spend,
    ) -> Result<Dynamic, CallError> {
        match (callee, args) {
            (Callee::Worker(spec), Args::Json(input, conversation)) => {
                let inner = ctx.enter(&spec.name);
                let task = super::worker_run::spawn(self, inner, spec, input, conversation);
                let (out, used) = task.await;
                *spend = used;
                out.map(|v| value::to_dynamic(&v))
            }
            (Callee::Fn(f), Args::Positional(args)) if f.host.is_some() => {
                self.run_host(ctx, f, args).await
            }
            (Callee::Fn(f), Args::Positional(args)) if f.untrusted => {
                let (rt, name, scope) = (self.clone(), f.name.clone(), ctx.cancel.clone());
                self.evaluate(move || {
                    let _entered = crate::cancel::enter(scope);
                    rt.call_untrusted(&name, args)
                })
                .await
            }
            (Callee::Fn(_) | Callee::SessionFn { .. }, Args::Positional(args)) => {
                let (rt, ctx, name) = (self.clone(), ctx.clone(), callee.name().to_string());
                let session = matches!(callee, Callee::SessionFn { .. });
                self.evaluate(move || {
                    let ast = if session {
                        rt.script_ast()
                    } else {
                        rt.project().library.clone()
                    };
                    rt.call_in_ast(&ctx, &ast, &name, args)
                })
                .await
            }
            (Callee::Builtin(b), Args::Positional(args)) => {
                let (env, run, scope) = (self.builtin_env(), b.run, ctx.cancel.clone());
                self.evaluate(move || {
                    // A failed sibling's scope reaches a long builtin (`sleep`) on its thread.
                    let _entered = crate::cancel::enter(scope);
                    run(&env, args).map_err(builtins::call_error)
                })
                .await
            }
            (Callee::Tool(name), Args::Json(args, _)) => {
                let (env, cancel) = (self.tool_env(), self.cancel.clone());
                tokio::select! {
                    biased;
                    () = ctx.cancel.cancelled() => Err(CallError::Cancelled),
                    out = env.run_until(name, &args, &cancel) => match out {
                        Ok(text) => Ok(Dynamic::from(text)),
                        Err(crate::tools::ToolError::Cancelled) => Err(CallError::Cancelled),
                        Err(e) => Err(CallError::Tool(e.to_string())),
                    },
                }
            }
            (Callee::Mcp { server, tool, .. }, Args::Json(args, _)) => {
                let out = self.call_mcp(server, tool, args).await?;
                if out.is_error {
                    return Err(CallError::Tool(format!(
                        "`{}` failed: {}",
                        callee.name(),
                        out.text
                    )));
                }
                Ok(Dynamic::from(out.text))
            }
            (callee, _) => Err(CallError::Script(format!(
                "internal: `{}` was prepared for another kind of callee",
                callee.name()
            ))),
        }
    }

    /// Run the body of the host fn `f` (checked positional `args`), until the call tree is
    /// cancelled (Ctrl-C, a failed sibling branch): then its result is not waited for.
    async fn run_host(
        &self,
        ctx: &CallCtx,
        f: &crate::script::ScriptFn,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, CallError> {
        let Some(host) = &f.host else {
            return Err(CallError::Script(format!(
                "internal: `{}` is not a host fn",
                f.name
            )));
        };
        let body = host.call(args.iter().map(value::to_json).collect());
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => Err(CallError::Cancelled),
            () = self.cancel.cancelled() => Err(CallError::Cancelled),
            out = body => out
                .map(|v| value::to_dynamic(&v))
                .map_err(|e| CallError::Tool(format!("fn `{}` failed: {e}", f.name))),
        }
    }

    /// Run Rhai evaluation on a blocking thread, refusing (instead of deadlocking) when the
    /// blocking pool is nearly exhausted by nested fan-outs.
    pub(crate) async fn evaluate(
        &self,
        f: impl FnOnce() -> Result<Dynamic, CallError> + Send + 'static,
    ) -> Result<Dynamic, CallError> {
        let slot = EvalSlot::take(self)?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            f()
        })
        .await
        .map_err(|e| CallError::Script(format!("a branch failed: {e}")))?
    }

    /// Call the untrusted draft `name` on this (blocking) thread: in the restricted engine,
    /// never the process's (DESIGN §17), whatever path reached it.
    fn call_untrusted(&self, name: &str, args: Vec<Dynamic>) -> Result<Dynamic, CallError> {
        let engine = self.untrusted_engine();
        let project = self.project();
        crate::script::untrusted::call(engine, &project.drafts, name, args).map_err(|e| {
            match self.call_failure(e) {
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
        self.untrusted.get_or_init(|| {
            crate::script::untrusted::engine(
                self.cancel.clone(),
                crate::script::engine::EngineLimits::of(&self.settings),
            )
        })
    }

    /// The text a failed call is reported with (Rhai errors with their file and line).
    pub fn error_text(&self, e: &CallError) -> String {
        match e {
            CallError::Rhai(e) => self.describe_rhai_error(e),
            other => other.one_line(),
        }
    }
}

/// One blocking thread evaluating Rhai for a fan-out branch; released on drop.
struct EvalSlot(Arc<std::sync::atomic::AtomicUsize>);

impl EvalSlot {
    fn take(rt: &Runtime) -> Result<EvalSlot, CallError> {
        let counter = rt.evaluating.clone();
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_EVAL_THREADS).then_some(n + 1)
            })
            .map_err(|active| CallError::Threads { active })?;
        Ok(EvalSlot(counter))
    }
}

impl Drop for EvalSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The positional arguments of a fn or builtin, mapped by parameter name and checked against
/// a fn's declared types.
fn positional_args(callee: &Callee, input: Input) -> Result<Vec<Dynamic>, CallError> {
    match callee {
        Callee::Fn(f) => {
            let mut args = positional(&f.name, &f.params, f.params.len(), input)?;
            f.check_args(&mut args)?;
            Ok(args)
        }
        Callee::SessionFn { name, params } => positional(name, params, params.len(), input),
        Callee::Builtin(b) => positional(b.name, b.params, b.required, input),
        other => Err(CallError::Script(format!(
            "internal: `{}` takes no positional arguments",
            other.name()
        ))),
    }
}

/// Positional arguments from the caller's input, by parameter name.
fn positional<P: AsRef<str>>(
    name: &str,
    params: &[P],
    required: usize,
    input: Input,
) -> Result<Vec<Dynamic>, CallError> {
    // Keys stay `rhai::Identifier`s (inline strings): no allocation per argument.
    let (named, lone): (Vec<(rhai::Identifier, Dynamic)>, Option<Dynamic>) = match input {
        Input::Rhai(None) | Input::Json(Value::Null) => (Vec::new(), None),
        Input::Rhai(Some(v)) if v.is_unit() => (Vec::new(), None),
        Input::Rhai(Some(v)) => match v.try_cast_result::<rhai::Map>() {
            Ok(map) => (map.into_iter().collect(), None),
            Err(v) => (Vec::new(), Some(v)),
        },
        Input::Turn(..) => {
            return Err(CallError::NotAWorker {
                name: name.to_string(),
                is: Some("fn"),
                help: None,
            });
        }
        Input::Json(Value::Object(map)) => (
            map.into_iter()
                .map(|(k, v)| (k.into(), value::to_dynamic(&v)))
                .collect(),
            None,
        ),
        Input::Json(other) => (Vec::new(), Some(value::to_dynamic(&other))),
    };
    map_args(name, params, required, named, lone)
}

/// JSON of the caller's input.
fn json_of(input: Input) -> Value {
    match input {
        Input::Rhai(None) => Value::Null,
        Input::Rhai(Some(v)) => value::to_json(&v),
        Input::Json(v) | Input::Turn(v, _) => v,
    }
}

/// Whether `spec` takes one line of text as its whole input, as `chat` sends each turn (its
/// `input` is the default string, or one string property).
pub fn takes_text(spec: &WorkerSpec) -> bool {
    worker_input(spec, Value::String("a line of text".into())).is_ok()
}

/// A worker's input normalized to an object and checked against its `input` schema.
fn worker_input(spec: &WorkerSpec, input: Value) -> Result<Value, CallError> {
    let input = fit_input(&spec.input, normalize_input(input));
    let invalid = |errors| CallError::Input {
        worker: spec.name.clone(),
        errors,
    };
    let validator = Validator::new(&spec.input).map_err(|e| invalid(vec![e.to_string()]))?;
    validator.validate(&input).map_err(invalid)?;
    Ok(input)
}

/// A lone value (`{input: v}`) given to a worker whose input schema has exactly one other
/// property goes to that property, as a lone value does for a one-parameter fn.
fn fit_input(schema: &Value, input: Value) -> Value {
    let props = schema.get("properties").and_then(Value::as_object);
    match (props, input) {
        (Some(props), Value::Object(mut map))
            if props.len() == 1
                && map.len() == 1
                && map.contains_key("input")
                && !props.contains_key("input") =>
        {
            let key = props.keys().next().cloned().unwrap_or_default();
            let v = map.remove("input").unwrap_or(Value::Null);
            serde_json::json!({ key: v })
        }
        (_, input) => input,
    }
}

/// Positional arguments as the named JSON object a trace shows.
fn positional_json(callee: &Callee, args: &[Dynamic]) -> Value {
    let names: Vec<&str> = match callee {
        Callee::Fn(f) => f.params.iter().map(String::as_str).collect(),
        Callee::SessionFn { params, .. } => params.iter().map(String::as_str).collect(),
        Callee::Builtin(b) => b.params.to_vec(),
        _ => Vec::new(),
    };
    Value::Object(
        names
            .into_iter()
            .zip(args)
            .map(|(p, a)| (p.to_string(), value::to_json(a)))
            .collect(),
    )
}

/// A call's trace span: opened before the callee runs, closed with its result. Only exists
/// when the observer listens (building the JSON input costs more than a fn call). Dropped
/// without [`Span::close`] (a cancelled future), it still ends the call, as interrupted.
struct Span {
    observer: Arc<dyn crate::trace::Observer>,
    id: u64,
    depth: u32,
    name: String,
    started: Instant,
    closed: bool,
}

impl Span {
    fn open(
        rt: &Runtime,
        ctx: &CallCtx,
        callee: &Callee,
        input: impl FnOnce() -> Value,
    ) -> Option<Span> {
        if !rt.observer.wants(callee.kind()) {
            return None;
        }
        let name = callee.name().to_string();
        let id = rt.observer.call_start(&CallStart {
            depth: ctx.depth,
            parent: ctx.parent,
            kind: callee.kind(),
            name: &name,
            input: &input(),
        });
        Some(Span {
            observer: rt.observer.clone(),
            id,
            depth: ctx.depth,
            name,
            started: Instant::now(),
            closed: false,
        })
    }

    fn close(span: Option<Span>, rt: &Runtime, spend: Spend, out: &Result<Dynamic, CallError>) {
        let Some(mut span) = span else { return };
        let output = match out {
            // Not an output: the worker answers this call (and its own span says what).
            Ok(v) if v.is::<Deferred>() => Err(DEFERRED.to_string()),
            Ok(v) => Ok(value::to_json(v)),
            Err(e) => Err(rt.error_text(e)),
        };
        span.end(spend, output.as_ref().map_err(Clone::clone));
        span.closed = true;
    }

    fn end(&self, spend: Spend, result: Result<&Value, String>) {
        self.observer.call_end(
            self.id,
            &CallEnd {
                depth: self.depth,
                name: &self.name,
                elapsed: self.started.elapsed(),
                usage: spend.usage,
                cost: spend.cost,
                result,
            },
        );
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if !self.closed {
            self.end(Spend::default(), Err(CallError::Cancelled.to_string()));
        }
    }
}

/// How a fn's call that deferred is recorded (traces, the run log): no output of its own.
const DEFERRED: &str = "deferred to the worker (`defer()`)";

/// The error of a fn that returned `defer()` where no switch can hand its call to a worker.
fn deferred_outside_a_switch(callee: &Callee, root: &std::path::Path) -> String {
    let name = callee.name();
    let at = match callee {
        Callee::Fn(f) => {
            let text = std::fs::read_to_string(root.join(&f.path)).unwrap_or_default();
            let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
            format!(" (`{}:{line}`)", f.path.display())
        }
        _ => String::new(),
    };
    format!(
        "fn `{name}`{at} returned `defer()`, which means something only under \
         `[stabilize] {name} = \"code\"` or `\"canary:P\"`: it hands the call to the worker \
         `{name}`"
    )
}
