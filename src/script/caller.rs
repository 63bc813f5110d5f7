//! How the script layer reaches the runtime without depending on it (DESIGN §12, layer 3 →
//! layer 4): the `call` syntax, the fan-out builtins, inline workers, `chat()` and the
//! `script:` model all go through [`Caller`], which the runtime implements with its one resolver and invoker.

use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input};
use crate::fanout::{Job, OnError, Stopped};
use crate::worker::WorkerSpec;

/// How the script layer (the `call` syntax, fan-out builtins, inline workers, the `script:`
/// model) reaches the runtime without depending on it. Implemented by `runtime::Runtime`.
pub trait Caller: Send + Sync {
    /// `call(name, input)` evaluated on this (blocking) thread; `here` runs script fns inside
    /// the calling evaluation, so they see its scope and stay fast.
    fn call_here(
        &self,
        name: &str,
        input: Input,
        here: &mut dyn Here,
    ) -> Result<rhai::Dynamic, CallError>;
    /// A lazy job calling `name` (resolved and validated now, so a bad item fails before any
    /// branch starts).
    fn job(&self, ctx: &CallCtx, name: &str, input: Input) -> Result<Job, CallError>;
    /// A lazy job running a closure of the running script (`parallel`).
    fn closure_job(&self, ctx: &CallCtx, closure: rhai::FnPtr) -> Job;
    /// Run jobs with the process's fan-out bound, blocking this thread; results in order.
    fn run_jobs(
        &self,
        ctx: &CallCtx,
        jobs: Vec<Job>,
        on_error: OnError,
    ) -> Result<Vec<Result<rhai::Dynamic, CallError>>, Stopped>;
    /// Check that `name` is a worker a conversation can be held with (`chat(name)`).
    fn chat_worker(&self, name: &str) -> Result<(), CallError>;
    /// One turn of `conversation` with worker `name` (`c.send(input)`) in `ctx`, through the
    /// seam, blocking this thread.
    fn chat_turn(
        &self,
        ctx: &CallCtx,
        name: &str,
        input: Value,
        conversation: &Conversation,
    ) -> Result<rhai::Dynamic, CallError>;
    /// Register an inline worker (`worker(#{...})`) for the session.
    fn add_inline_worker(&self, spec: WorkerSpec) -> Result<(), String>;
    /// Call a project fn with positional JSON arguments, untraced: for machinery that is not
    /// a call of the program (the `script:` model, the approval policy fn).
    fn run_fn(&self, name: &str, args: Vec<Value>) -> Result<Value, CallError>;
    /// Names of the project's fns (for "did you mean").
    fn fn_names(&self) -> Vec<String>;
    /// A number that changes whenever what a name resolves to may change (a reload, a session
    /// change), unique across runtimes: what a `call()` site's kept target is checked against.
    fn generation(&self) -> u64;
    /// `name` when it resolves to a project fn or a builtin (what a call site may keep).
    fn direct(&self, name: &str) -> Option<Direct>;
    /// `call()` of a kept fn or builtin on this thread: the seam's invoker without resolving
    /// the name again.
    fn call_direct(
        &self,
        target: &Direct,
        args: DirectArgs,
        here: &mut dyn Here,
    ) -> Result<rhai::Dynamic, CallError>;
}

/// A name resolved to a project fn or a builtin: these do not depend on the calling
/// evaluation, so a `call()` site keeps them until [`Caller::generation`] changes.
#[derive(Clone)]
pub enum Direct {
    Fn(std::sync::Arc<crate::script::ScriptFn>),
    Builtin(&'static crate::script::builtins::Builtin),
}

impl Direct {
    /// The [`Mapping`](crate::call::Mapping) of a map literal's `keys` onto this target's
    /// parameters, as the invoker would map them; `None` when they do not map (the invoker
    /// then says why, at each call).
    pub fn mapping(&self, keys: &[&str]) -> Option<crate::call::Mapping> {
        match self {
            Direct::Fn(f) => crate::call::mapping(&f.name, &f.params, f.params.len(), keys),
            Direct::Builtin(b) => crate::call::mapping(b.name, b.params, b.required, keys),
        }
        .ok()
    }
}

/// The input of [`Caller::call_direct`].
pub enum DirectArgs {
    /// The caller's input, mapped by parameter name by the invoker.
    Input(Input),
    /// Arguments already in parameter order (a map literal placed by the call site's kept
    /// [`Direct::mapping`]); the invoker still checks a fn's declared types. Inline up to
    /// three: no allocation.
    Mapped(rhai::StaticVec<rhai::Dynamic>),
}

/// Most parameters a fn defined outside the project files is looked up with.
pub const MAX_SESSION_PARAMS: usize = 16;

/// What a `call()` evaluating on a thread offers the invoker: the fns defined where it runs.
pub trait Here {
    /// The calling context (depth, chain, parent, fan-out scope) of this evaluation.
    fn ctx(&self) -> CallCtx;
    /// Parameters of a fn visible to this evaluation but not defined in a project file (a fn
    /// typed at the REPL prompt), if there is one.
    fn session_fn(&self, name: &str) -> Option<Vec<String>>;
    /// Call a script fn in this evaluation with positional arguments; `inner` is the context
    /// the fn runs in when it differs from the caller's (a traced call is its children's
    /// parent).
    fn call_fn(
        &mut self,
        inner: Option<&CallCtx>,
        name: &str,
        args: &mut [rhai::Dynamic],
    ) -> Result<rhai::Dynamic, CallError>;
}
