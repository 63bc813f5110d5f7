//! The one call seam (DESIGN §12). Every way a name is reached — a script's `call()`,
//! `call_all`/`try_call_all`, `llm-do run`, an LLM tool call after the approval gate, `shadow`,
//! `test`, the REPL — goes through [`Runtime::resolve`] and one invoker. The invoker alone maps
//! and validates the input against the callee (the callee's `prepare`: a fn's doc-comment types,
//! a worker's `input` schema, the worker depth limit), opens and closes the trace span (a
//! guard), and runs the callee. A cross-cutting rule (budgets, the run log) is added here; what differs by kind of
//! callee (mapping, execution) is in [`super::callee`].
//!
//! Two entry points share those steps: [`Runtime::invoke`] (async: tool calls, `run`, fan-out
//! branches) and [`Runtime::invoke_here`] (a `call()` evaluating on a blocking thread, where
//! script fns run inside the calling evaluation through [`Here`]).

use std::sync::Arc;
use std::time::Instant;

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Input};
use crate::model::prices::Spend;
use crate::script::caller::{Here, MAX_SESSION_PARAMS};
use crate::script::{Deferred, value};
use crate::trace::{CallEnd, CallStart};

use super::Runtime;
use super::callee::{Args, Callee, Invocation, positional_json};

pub use super::evaluator::BLOCKING_THREADS;

impl Runtime {
    /// Resolve `name` in the one namespace: project fns, workers, builtins, then
    /// `mcp.SERVER.TOOL` (DESIGN §4). Unknown names get a "did you mean".
    pub fn resolve(&self, name: &str) -> Result<Callee, CallError> {
        Callee::resolve(&self.loaded().project, name, |_| None)
    }

    /// Resolve `name` as the worker a conversation is held with (`llm-do chat`, `chat()`):
    /// a worker, or the worker side of a `[stabilize]` switch (a fn cannot converse).
    pub fn resolve_worker(&self, name: &str) -> Result<Callee, CallError> {
        Callee::conversing(&self.project(), name)
    }

    /// Parameters of a fn of the running script (or REPL session); [`Callee::resolve`] asks
    /// only for a name that is no project fn.
    pub(crate) fn script_session_fn(&self, name: &str) -> Option<Vec<String>> {
        let ast = self.rhai.script_ast(&self.project());
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
        let invocation = callee.clone().prepare(self, ctx, input)?;
        self.run_traced(ctx, invocation, false).await
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

    /// A lazy job invoking `callee` (prepared now: a bad input fails before the job runs);
    /// `may_defer` for the fn side of a `[stabilize]` switch: its `defer()` comes back as
    /// [`Deferred`] for the switch to hand the call to the worker (anywhere else it is an
    /// error).
    pub(crate) fn job_for(
        &self,
        ctx: &CallCtx,
        callee: Callee,
        input: Input,
        may_defer: bool,
    ) -> Result<crate::fanout::Job, CallError> {
        let invocation = callee.prepare(self, ctx, input)?;
        let (rt, ctx) = (self.arc(), ctx.clone());
        Ok(Box::pin(async move {
            rt.run_traced(&ctx, invocation, may_defer).await
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
        if !callee.runs_here() {
            let job = self.job_for(&here.ctx(), callee.clone(), input, false)?;
            return self.handle.block_on(job);
        }
        let args = callee.positional(input)?;
        self.run_here(callee, rhai::StaticVec::from_vec(args), here)
    }

    /// Run a fn or builtin with mapped and checked arguments on this thread, inside its span.
    pub(crate) fn run_here(
        &self,
        callee: &Callee,
        args: rhai::StaticVec<Dynamic>,
        here: &mut dyn Here,
    ) -> Result<Dynamic, CallError> {
        // The calling context is built only for a span.
        let ctx = self.observer.wants(callee.kind()).then(|| here.ctx());
        let span = (ctx.as_ref())
            .and_then(|ctx| Span::open(self, ctx, callee, || positional_json(callee, &args)));
        let inner = ctx.zip(span.as_ref()).map(|(ctx, s)| ctx.with_parent(s.id));
        let out = callee.run_here(self, args, here, inner.as_ref());
        let out = self.refuse_deferred(callee, out);
        Span::close(span, self, Spend::default(), &out);
        out
    }

    /// Run a prepared call inside its trace span; `may_defer` when a switch asked (see
    /// [`Runtime::job_for`]).
    async fn run_traced(
        self: &Arc<Self>,
        ctx: &CallCtx,
        invocation: Invocation,
        may_defer: bool,
    ) -> Result<Dynamic, CallError> {
        // A switch is not a call of its own: the side(s) it runs are.
        if let (Callee::Switch(switch), Args::Json(input, _)) =
            (&invocation.callee, &invocation.args)
        {
            return Box::pin(self.run_switch(ctx, switch, input.clone())).await;
        }
        let callee = invocation.callee.clone();
        let span = Span::open(self, ctx, &callee, || invocation.input_json());
        let inner = span
            .as_ref()
            .map_or_else(|| ctx.clone(), |s| ctx.with_parent(s.id));
        let mut spend = Spend::default();
        let out = invocation.execute(self, &inner, &mut spend).await;
        let out = if may_defer {
            out
        } else {
            self.refuse_deferred(&callee, out)
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
            Ok(v) if v.is::<Deferred>() => {
                let (name, at) = (callee.name(), callee.defined_at(&self.project().root));
                Err(CallError::Script(format!(
                    "fn `{name}`{at} returned `defer()`, which means something only under \
                     `[stabilize] {name} = \"code\"` or `\"canary:P\"`: it hands the call to the \
                     worker `{name}`"
                )))
            }
            other => other,
        }
    }
}

/// A call's trace span: opened before the callee runs, ended when dropped. Only exists when
/// the observer listens (building the JSON input costs more than a fn call). Dropped without
/// [`Span::close`] (a cancelled future), it ends the call as interrupted.
struct Span {
    observer: Arc<dyn crate::trace::Observer>,
    id: u64,
    depth: u32,
    name: String,
    started: Instant,
    /// What the call spent and its output (or error text), once [`Span::close`] said.
    outcome: Option<(Spend, Result<Value, String>)>,
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
            outcome: None,
        })
    }

    /// End `span` (if any) with the call's result `out`.
    fn close(span: Option<Span>, rt: &Runtime, spend: Spend, out: &Result<Dynamic, CallError>) {
        let Some(mut span) = span else { return };
        let output = match out {
            // Not an output: the worker answers this call (and its own span says what).
            Ok(v) if v.is::<Deferred>() => Err(DEFERRED.to_string()),
            Ok(v) => Ok(value::to_json(v)),
            Err(e) => Err(rt.error_text(e)),
        };
        span.outcome = Some((spend, output));
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let (spend, result) = self.outcome.take().unwrap_or_else(|| {
            let interrupted = CallError::Cancelled.to_string();
            (Spend::default(), Err(interrupted))
        });
        self.observer.call_end(
            self.id,
            &CallEnd {
                depth: self.depth,
                name: &self.name,
                elapsed: self.started.elapsed(),
                usage: spend.usage,
                cost: spend.cost,
                result: result.as_ref().map_err(Clone::clone),
            },
        );
    }
}

/// How a fn's call that deferred is recorded (traces, the run log): no output of its own.
const DEFERRED: &str = "deferred to the worker (`defer()`)";
