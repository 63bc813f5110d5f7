//! The runtime as the script layer's [`Caller`]: every path from Rhai lands in the seam.

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input};
use crate::fanout::{Job, OnError, Stopped, run_ordered};
use crate::script::caller::{Caller, Direct, DirectArgs, Here};
use crate::worker::WorkerSpec;

use super::Runtime;
use super::callee::Callee;

impl Caller for Runtime {
    fn call_here(
        &self,
        name: &str,
        input: Input,
        here: &mut dyn Here,
    ) -> Result<Dynamic, CallError> {
        let callee = Callee::resolve(&self.loaded().project, name, |n| here.session_fn(n))?;
        self.invoke_here(&callee, input, here)
    }

    fn job(&self, ctx: &CallCtx, name: &str, input: Input) -> Result<Job, CallError> {
        let callee = Callee::resolve(&self.loaded().project, name, |n| self.script_session_fn(n))?;
        self.job_for(ctx, callee, input, false)
    }

    fn closure_job(&self, ctx: &CallCtx, closure: rhai::FnPtr) -> Job {
        let (rt, ctx) = (self.arc(), ctx.clone());
        Box::pin(async move {
            let inner = rt.clone();
            rt.rhai
                .evaluate(move || {
                    inner
                        .rhai
                        .call_fn_ptr_blocking(&inner.project(), &ctx, &closure)
                })
                .await
        })
    }

    fn run_jobs(
        &self,
        ctx: &CallCtx,
        jobs: Vec<Job>,
        on_error: OnError,
    ) -> Result<Vec<Result<Dynamic, CallError>>, Stopped> {
        let limit = self.settings.max_parallel;
        let all = run_ordered(jobs, limit, on_error, &ctx.cancel, &self.cancel);
        self.handle.block_on(all)
    }

    fn chat_worker(&self, name: &str) -> Result<(), CallError> {
        self.resolve_worker(name).map(drop)
    }

    fn chat_turn(
        &self,
        ctx: &CallCtx,
        name: &str,
        input: Value,
        conversation: &Conversation,
    ) -> Result<Dynamic, CallError> {
        let callee = self.resolve_worker(name)?;
        let (rt, ctx) = (self.arc(), ctx.clone());
        let input = Input::Turn(input, conversation.clone());
        self.handle
            .block_on(async move { rt.invoke(&ctx, &callee, input).await })
    }

    fn add_inline_worker(&self, spec: WorkerSpec) -> Result<(), String> {
        Runtime::add_inline_worker(self, spec).map_err(|e| e.to_string())
    }

    fn run_fn(&self, name: &str, args: Vec<Value>) -> Result<Value, CallError> {
        // A host fn (the embedding program's policy fn) runs its own body.
        if let Some(host) = self.project().fns.get(name).and_then(|f| f.host.clone()) {
            return self
                .handle
                .block_on(host.call(args))
                .map_err(CallError::Tool);
        }
        self.rhai.call_fn_blocking(&self.project(), name, args)
    }

    fn fn_names(&self) -> Vec<String> {
        self.project().fns.keys().cloned().collect()
    }

    fn generation(&self) -> u64 {
        self.state
            .generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn direct(&self, name: &str) -> Option<Direct> {
        self.resolve(name).ok().and_then(|c| c.direct())
    }

    fn call_direct(
        &self,
        target: &Direct,
        args: DirectArgs,
        here: &mut dyn Here,
    ) -> Result<Dynamic, CallError> {
        let callee: Callee = target.into();
        match args {
            DirectArgs::Input(input) => self.invoke_here(&callee, input, here),
            DirectArgs::Mapped(mut args) => {
                if let Direct::Fn(f) = target {
                    f.check_args(&mut args)?;
                }
                self.run_here(&callee, args, here)
            }
        }
    }
}
