//! The callee: what a name resolves to, and everything that differs by kind, in this one file
//! (DESIGN §12). Every other module asks the callee (`callee.name()`, `.kind()`,
//! `.tool_def()`, `.needs_approval(..)`, `.runs_concurrently()`, `.params()`, ...) instead
//! of matching on it; the seam ([`super::seam`]) turns a callee and its input into an
//! [`Invocation`] ([`Callee::prepare`]), which the async driver ([`Invocation::execute`]) or
//! the in-thread one ([`Callee::run_here`]) consumes.
//!
//! **A new kind of callee is written here**: a variant of [`Callee`], its arm in each fact
//! below (the compiler lists the matches that miss it), a constructor or its place in
//! [`Callee::resolve`], its arm in [`Callee::prepare`] and in [`Invocation::execute`].

use std::sync::Arc;
use std::time::Duration;

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation, Input, map_args, normalize_input};
use crate::config::Stabilize;
use crate::model::ToolDef;
use crate::model::prices::Spend;
use crate::project::{Member, Project, Switch};
use crate::schema::Validator;
use crate::script::builtins::{self, Builtin};
use crate::script::caller::{Direct, Here};
use crate::script::{ScriptFn, value};
use crate::tools::ToolEnv;
use crate::trace::Kind;
use crate::worker::WorkerSpec;

use super::Runtime;

/// How long an MCP tool call may take before it fails (from a script or a model alike) unless
/// `[mcp.NAME] timeout_secs` says otherwise.
pub const MCP_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Builtin tools that only read, so a model's batch of them may run concurrently.
pub const READ_ONLY_TOOLS: &[&str] = &["read_file", "list_files"];

/// What a name resolves to: one of the kinds of things a call can reach.
#[derive(Debug, Clone)]
pub enum Callee {
    /// A top-level fn of a project script.
    Fn(Arc<ScriptFn>),
    /// A fn defined where the calling evaluation runs but not in a project file (typed at the
    /// REPL prompt): it shadows a worker of the same name, so a stabilized version can be
    /// tried live.
    SessionFn { name: String, params: Vec<String> },
    /// A worker (a file or an inline `worker(#{...})`).
    Worker(Arc<WorkerSpec>),
    /// A Rust-native builtin (`read_text`, `sleep`, ...).
    Builtin(&'static Builtin),
    /// A builtin LLM tool (`read_file`, `write_file`, `list_files`, `shell`): reached only by
    /// a model, through a worker's toolbox.
    Tool(String),
    /// A worker and a fn sharing a name, served as `[stabilize] NAME` says.
    Switch(Arc<Switch>),
    /// A tool of an MCP server, `mcp.SERVER.TOOL`.
    Mcp {
        full: String,
        server: String,
        tool: String,
    },
}

/// The input of a callee after mapping and validation.
pub(super) enum Args {
    /// Positional Rhai arguments of a fn or builtin.
    Positional(Vec<Dynamic>),
    /// A JSON object: a worker's input (normalized), an MCP or builtin tool's arguments; with
    /// a conversation, a worker's input as its next turn.
    Json(Value, Option<Conversation>),
}

/// One call, prepared: the callee with its input mapped and validated (the one place
/// arguments are checked). Consumed once, by the async driver or a fan-out job.
pub struct Invocation {
    pub(super) callee: Callee,
    pub(super) args: Args,
}

/// The definition an MCP client is offered for a served name (`llm-do mcp serve`).
pub struct Served {
    pub description: String,
    pub input: Value,
    /// A worker's `output:` schema, if it has one.
    pub output: Option<Value>,
}

// ---- Making callees -------------------------------------------------------------------------

impl Callee {
    /// `mcp.SERVER.TOOL`.
    fn mcp(server: &str, tool: &str) -> Callee {
        Callee::Mcp {
            full: format!("{}{server}.{tool}", crate::mcp::PREFIX),
            server: server.to_string(),
            tool: tool.to_string(),
        }
    }

    /// Resolve `name` in `project`'s one namespace: stabilize switches, Rhai fns, workers,
    /// builtins, then `mcp.SERVER.TOOL` for a server in `llm-do.toml` (DESIGN §4). `session`
    /// finds fns visible to the calling evaluation only: they shadow a worker of the same
    /// name (never a project fn or builtin). Unknown names get a "did you mean".
    pub fn resolve(
        project: &Project,
        name: &str,
        session: impl FnOnce(&str) -> Option<Vec<String>>,
    ) -> Result<Callee, CallError> {
        let resolved = resolve_in(project, name);
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

    /// `name` in `project` as the worker a conversation is held with (`llm-do chat`,
    /// `chat()`): a worker, or the worker side of a `[stabilize]` switch (a fn cannot
    /// converse); otherwise an error saying what `name` is, with the workers close to it.
    pub fn conversing(project: &Project, name: &str) -> Result<Callee, CallError> {
        let is = match resolve_in(project, name) {
            Ok(callee @ Callee::Worker(_)) => return Ok(callee),
            Ok(Callee::Switch(s)) => return Ok(Callee::Worker(s.worker.clone())),
            Ok(Callee::Mcp { .. }) => Some("MCP tool"),
            Ok(other) => Some(other.kind_label()),
            Err(CallError::Unknown { .. }) => None,
            Err(e) => return Err(e),
        };
        let workers = project.workers.keys().map(String::as_str);
        Err(CallError::NotAWorker {
            name: name.to_string(),
            is,
            help: crate::suggest::did_you_mean(name, workers),
        })
    }

    /// The callee a `call()` site keeps: `Some` for a project fn or a builtin (they do not
    /// depend on the calling evaluation).
    pub fn direct(&self) -> Option<Direct> {
        match self {
            Callee::Fn(f) => Some(Direct::Fn(f.clone())),
            Callee::Builtin(b) => Some(Direct::Builtin(b)),
            _ => None,
        }
    }
}

/// The callee serving one member of a worker's toolsets.
impl From<&Member<'_>> for Callee {
    fn from(member: &Member<'_>) -> Callee {
        match member {
            Member::Builtin(t) => Callee::Tool(t.name.to_string()),
            Member::Fn(f) => Callee::Fn(Arc::clone(f)),
            Member::Worker(w) => Callee::Worker(Arc::clone(w)),
            Member::Switch(s) => Callee::Switch(Arc::new(s.clone())),
        }
    }
}

impl From<Arc<WorkerSpec>> for Callee {
    fn from(spec: Arc<WorkerSpec>) -> Callee {
        Callee::Worker(spec)
    }
}

impl Switch {
    /// The worker side of the switch, as a callee.
    pub fn worker_side(&self) -> Callee {
        Callee::Worker(self.worker.clone())
    }

    /// The fn side of the switch, as a callee.
    pub fn code_side(&self) -> Callee {
        Callee::Fn(self.code.clone())
    }
}

/// The tool a model sees for `tool`, listed by the running MCP server `server`, and the
/// callee serving it.
pub fn mcp_tool(server: &str, tool: &crate::mcp::McpTool) -> (ToolDef, Callee) {
    let def = ToolDef {
        name: crate::mcp::model_tool_name(server, &tool.name),
        description: tool.description.clone(),
        parameters: tool.input_schema.clone(),
    };
    (def, Callee::mcp(server, &tool.name))
}

impl From<&Direct> for Callee {
    fn from(direct: &Direct) -> Callee {
        match direct {
            Direct::Fn(f) => Callee::Fn(f.clone()),
            Direct::Builtin(b) => Callee::Builtin(b),
        }
    }
}

/// Resolve `name` in the project namespace, without session fns.
fn resolve_in(project: &Project, name: &str) -> Result<Callee, CallError> {
    if let Some(switch) = project.switch(name) {
        return Ok(Callee::Switch(Arc::new(switch)));
    }
    if let Some(f) = project.fns.get(name) {
        return Ok(Callee::Fn(f.clone()));
    }
    if let Some(w) = project.workers.get(name) {
        return Ok(Callee::Worker(w.clone()));
    }
    if let Some(b) = builtins::find(name) {
        return Ok(Callee::Builtin(b));
    }
    if name.starts_with(crate::mcp::PREFIX) {
        return resolve_mcp(project, name);
    }
    Err(CallError::Unknown {
        name: name.to_string(),
        help: crate::suggest::did_you_mean(name, project.names()),
    })
}

/// `mcp.SERVER.TOOL` for a server declared in llm-do.toml.
fn resolve_mcp(project: &Project, name: &str) -> Result<Callee, CallError> {
    let bad = |e: crate::mcp::McpError| Err(CallError::Tool(e.to_string()));
    let Some((server, Some(tool))) = crate::mcp::parse_ref(name) else {
        return bad(crate::mcp::McpError::BadName(name.to_owned()));
    };
    if !project.config.mcp.contains_key(server) {
        return bad(crate::mcp::McpError::UnknownServer {
            name: server.to_owned(),
        });
    }
    Ok(Callee::mcp(server, tool))
}

// ---- Facts of each kind ---------------------------------------------------------------------

impl Callee {
    /// The name the callee is reached by.
    pub fn name(&self) -> &str {
        match self {
            Callee::Fn(f) => &f.name,
            Callee::SessionFn { name, .. } | Callee::Tool(name) => name,
            Callee::Worker(w) => &w.name,
            Callee::Builtin(b) => b.name,
            Callee::Mcp { full, .. } => full,
            Callee::Switch(s) => &s.worker.name,
        }
    }

    /// Neural, symbolic or builtin, as traces show it.
    pub fn kind(&self) -> Kind {
        match self {
            Callee::Worker(_) => Kind::Neural,
            Callee::Fn(_) | Callee::SessionFn { .. } => Kind::Symbolic,
            Callee::Builtin(_) | Callee::Tool(_) | Callee::Mcp { .. } => Kind::Builtin,
            Callee::Switch(s) => match s.mode {
                Stabilize::Code | Stabilize::ShadowCode => Kind::Symbolic,
                _ => Kind::Neural,
            },
        }
    }

    /// What kind of thing this is, as reports say it (`worker`, `fn`, `builtin`, `mcp tool`,
    /// `switch`).
    pub fn kind_label(&self) -> &'static str {
        match self {
            Callee::Worker(_) => "worker",
            Callee::Fn(_) | Callee::SessionFn { .. } => "fn",
            Callee::Builtin(_) | Callee::Tool(_) => "builtin",
            Callee::Mcp { .. } => "mcp tool",
            Callee::Switch(_) => "switch",
        }
    }

    /// The worker behind this callee (a worker, or a switch's worker side).
    pub fn worker_spec(&self) -> Option<&Arc<WorkerSpec>> {
        match self {
            Callee::Worker(w) => Some(w),
            Callee::Switch(s) => Some(&s.worker),
            _ => None,
        }
    }

    /// The schema of the callee's output, when it declares one (a worker's `output:`).
    pub fn output_schema(&self) -> Option<Value> {
        self.worker_spec().and_then(|w| w.output.clone())
    }

    /// The names of a fn's or builtin's positional parameters (empty for other kinds).
    pub fn params(&self) -> Vec<&str> {
        match self {
            Callee::Fn(f) => f.params.iter().map(String::as_str).collect(),
            Callee::SessionFn { params, .. } => params.iter().map(String::as_str).collect(),
            Callee::Builtin(b) => b.params.to_vec(),
            _ => Vec::new(),
        }
    }

    /// The tool a model is offered for this callee (fns, workers, switches, builtin tools);
    /// `None` for what only code reaches (or what an MCP server's listing describes).
    pub fn tool_def(&self) -> Option<ToolDef> {
        match self {
            Callee::Tool(name) => crate::tools::tool(name).map(|t| t.to_def()),
            Callee::Fn(f) => Some(ToolDef {
                name: f.name.clone(),
                description: f.description.clone(),
                parameters: f.parameters_schema(),
            }),
            Callee::Worker(w) => Some(worker_def(w)),
            Callee::Switch(s) => Some(worker_def(&s.worker)),
            Callee::SessionFn { .. } | Callee::Builtin(_) | Callee::Mcp { .. } => None,
        }
    }

    /// What an MCP client is offered for this name (`llm-do mcp serve`): workers, fns and
    /// switches; `None` for the rest.
    pub fn served(&self) -> Option<Served> {
        match self {
            Callee::Worker(w) => Some(Served {
                description: worker_description(w),
                input: w.input.clone(),
                output: w.output.clone(),
            }),
            Callee::Switch(s) => Some(Served {
                description: match (&s.worker.description, s.code.description.trim()) {
                    (None, doc) if !doc.is_empty() => doc.to_string(),
                    _ => worker_description(&s.worker),
                },
                input: s.worker.input.clone(),
                output: s.worker.output.clone(),
            }),
            Callee::Fn(f) => Some(Served {
                description: if f.description.trim().is_empty() {
                    format!("Call the fn `{}`.", f.name)
                } else {
                    f.description.trim().to_string()
                },
                input: f.parameters_schema(),
                output: None,
            }),
            _ => None,
        }
    }

    /// Whether a model's call of this tool needs approval (`args`: the call's arguments).
    pub fn needs_approval(&self, env: &ToolEnv, args: &Value) -> bool {
        match self {
            Callee::Fn(f) => f.approval_required,
            Callee::Switch(s) => s.code.approval_required,
            Callee::Worker(_) => false,
            Callee::Tool(name) => env.needs_approval(name, args),
            Callee::Mcp { .. } | Callee::Builtin(_) | Callee::SessionFn { .. } => true,
        }
    }

    /// Whether a model's call of this tool may run concurrently with its neighbours in one
    /// turn: workers, read-only builtin tools and fns without `@approval`. Writes, shell
    /// commands and approval-gated fns run alone, in the model's order.
    pub fn runs_concurrently(&self) -> bool {
        match self {
            Callee::Worker(_) => true,
            Callee::Fn(f) => !f.approval_required,
            Callee::Switch(s) => !s.code.approval_required,
            Callee::Tool(name) => READ_ONLY_TOOLS.contains(&name.as_str()),
            Callee::Mcp { .. } | Callee::Builtin(_) | Callee::SessionFn { .. } => false,
        }
    }

    /// Whether a `call()` runs this callee on the evaluating thread (fns inside the calling
    /// evaluation, builtins there too) rather than on the async runtime.
    pub fn runs_here(&self) -> bool {
        matches!(
            self,
            Callee::Fn(_) | Callee::SessionFn { .. } | Callee::Builtin(_)
        )
    }

    /// The input for `llm-do run NAME TEXT`: text given to a callee whose one parameter is
    /// declared a number or boolean is read as one (`run double 21`); otherwise it is a string.
    pub fn input_from_text(&self, text: &str) -> Value {
        if let Callee::Fn(f) = self
            && let [doc] = f.param_docs.as_slice()
            && let Some(ty) = doc.ty.as_deref()
            && matches!(ty, "integer" | "number" | "boolean")
            && let Ok(v) = serde_json::from_str::<Value>(text.trim())
            && (v.is_number() || v.is_boolean())
        {
            return v;
        }
        Value::String(text.to_string())
    }

    /// Where a fn is defined (` (`path:line`)`), for errors; empty for other kinds.
    pub fn defined_at(&self, root: &std::path::Path) -> String {
        match self {
            Callee::Fn(f) => {
                let text = std::fs::read_to_string(root.join(&f.path)).unwrap_or_default();
                let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
                format!(" (`{}:{line}`)", f.path.display())
            }
            _ => String::new(),
        }
    }
}

fn worker_description(w: &WorkerSpec) -> String {
    w.description
        .clone()
        .unwrap_or_else(|| format!("Run the `{}` worker.", w.name))
}

fn worker_def(w: &WorkerSpec) -> ToolDef {
    ToolDef {
        name: w.name.clone(),
        description: worker_description(w),
        parameters: w.input.clone(),
    }
}

// ---- Preparing and running a call -----------------------------------------------------------

impl Callee {
    /// Map and validate `input` for this callee in `ctx` (the one place arguments are
    /// checked): the invocation a driver runs.
    pub(super) fn prepare(
        self,
        rt: &Runtime,
        ctx: &CallCtx,
        input: Input,
    ) -> Result<Invocation, CallError> {
        let (input, conversation) = match input {
            Input::Turn(v, c) => (Input::Json(v), Some(c)),
            other => (other, None),
        };
        if conversation.is_some() && !matches!(self, Callee::Worker(_)) {
            return Err(CallError::NotAWorker {
                name: self.name().to_string(),
                is: Some(self.kind().log_name()),
                help: None,
            });
        }
        let args = match &self {
            Callee::Fn(_) | Callee::SessionFn { .. } | Callee::Builtin(_) => {
                Args::Positional(self.positional(input)?)
            }
            Callee::Worker(spec) => {
                let max = rt.settings.max_depth;
                if ctx.depth >= max {
                    let chain = (*ctx.enter(&spec.name).chain).clone();
                    return Err(CallError::Depth {
                        name: spec.name.clone(),
                        max,
                        chain,
                    });
                }
                let input = worker_input(spec, json_of(input))?;
                rt.run.budget.start_worker()?;
                Args::Json(input, conversation)
            }
            Callee::Switch(_) => Args::Json(json_of(input), None),
            Callee::Tool(_) | Callee::Mcp { .. } => match json_of(input) {
                Value::Null => Args::Json(Value::Object(serde_json::Map::new()), None),
                v @ Value::Object(_) => Args::Json(v, None),
                other => {
                    return Err(CallError::Args {
                        name: self.name().to_string(),
                        message: format!("pass a map of named arguments, not {other}"),
                        params: Vec::new(),
                    });
                }
            },
        };
        Ok(Invocation { callee: self, args })
    }

    /// The positional arguments of a fn or builtin, mapped by parameter name and checked
    /// against a fn's declared types.
    pub(super) fn positional(&self, input: Input) -> Result<Vec<Dynamic>, CallError> {
        match self {
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

    /// Run a fn or builtin with checked positional arguments on this (evaluating) thread:
    /// builtins and untrusted drafts here, other fns inside the calling evaluation (`inner`:
    /// the context they run in, when traced).
    pub(super) fn run_here(
        &self,
        rt: &Runtime,
        mut args: rhai::StaticVec<Dynamic>,
        here: &mut dyn Here,
        inner: Option<&CallCtx>,
    ) -> Result<Dynamic, CallError> {
        match self {
            Callee::Builtin(b) => {
                (b.run)(&rt.builtin_env(), args.into_vec()).map_err(builtins::call_error)
            }
            Callee::Fn(f) if f.untrusted => {
                rt.rhai
                    .call_untrusted(&rt.project(), &f.name, args.into_vec())
            }
            Callee::Fn(f) if f.host.is_some() => {
                let ctx = inner.cloned().unwrap_or_else(|| here.ctx());
                rt.handle.block_on(run_host(rt, &ctx, f, args.into_vec()))
            }
            _ => here.call_fn(inner, self.name(), &mut args),
        }
    }

    /// Run a fn, session fn or builtin on this blocking thread in `ctx`, outside any calling
    /// evaluation (a fan-out branch, a model's tool call, `llm-do run`).
    fn evaluate(
        &self,
        rt: &Runtime,
        ctx: &CallCtx,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, CallError> {
        // A failed sibling's scope reaches a long builtin (`sleep`) or a draft on this thread.
        let _entered = crate::cancel::enter(ctx.cancel.clone());
        let project = rt.project();
        match self {
            Callee::Builtin(b) => (b.run)(&rt.builtin_env(), args).map_err(builtins::call_error),
            Callee::Fn(f) if f.untrusted => rt.rhai.call_untrusted(&project, &f.name, args),
            Callee::Fn(f) => rt.rhai.call_in_ast(ctx, &project.library, &f.name, args),
            Callee::SessionFn { name, .. } => {
                let ast = rt.rhai.script_ast(&project);
                rt.rhai.call_in_ast(ctx, &ast, name, args)
            }
            other => Err(CallError::Script(format!(
                "internal: `{}` does not evaluate Rhai",
                other.name()
            ))),
        }
    }
}

impl Invocation {
    /// The input as the named JSON object a trace shows.
    pub(super) fn input_json(&self) -> Value {
        match &self.args {
            Args::Positional(a) => positional_json(&self.callee, a),
            Args::Json(v, _) => v.clone(),
        }
    }

    /// Run the prepared call off the calling thread, in `ctx` (inside its span); a worker
    /// run's spending lands in `spend`.
    pub(super) async fn execute(
        self,
        rt: &Arc<Runtime>,
        ctx: &CallCtx,
        spend: &mut Spend,
    ) -> Result<Dynamic, CallError> {
        match (self.callee, self.args) {
            (Callee::Worker(spec), Args::Json(input, conversation)) => {
                let inner = ctx.enter(&spec.name);
                let task = rt.spawn_worker(inner, &spec, input, conversation);
                let (out, used) = task.await;
                *spend = used;
                out.map(|v| value::to_dynamic(&v))
            }
            (Callee::Fn(f), Args::Positional(args)) if f.host.is_some() => {
                run_host(rt, ctx, &f, args).await
            }
            // Fns, session fns and builtins evaluate on a blocking thread of their own.
            (callee, Args::Positional(args)) => {
                let (inner, ctx) = (rt.clone(), ctx.clone());
                rt.rhai
                    .evaluate(move || callee.evaluate(&inner, &ctx, args))
                    .await
            }
            (Callee::Tool(name), Args::Json(args, _)) => {
                let (env, cancel) = (rt.tool_env(), rt.cancel.clone());
                tokio::select! {
                    biased;
                    () = ctx.cancel.cancelled() => Err(CallError::Cancelled),
                    out = env.run_until(&name, &args, &cancel) => match out {
                        Ok(text) => Ok(Dynamic::from(text)),
                        Err(crate::tools::ToolError::Cancelled) => Err(CallError::Cancelled),
                        Err(e) => Err(CallError::Tool(e.to_string())),
                    },
                }
            }
            // No approval here: a model's calls passed the gate before the seam.
            (Callee::Mcp { full, server, tool }, Args::Json(args, _)) => {
                let Some(config) = rt.project().config.mcp.get(&server).cloned() else {
                    let e = crate::mcp::McpError::UnknownServer { name: server };
                    return Err(CallError::Tool(e.to_string()));
                };
                let limit = config
                    .timeout_secs
                    .map_or(MCP_CALL_TIMEOUT, Duration::from_secs);
                let call = rt.run.mcp.call(&server, &config, &tool, args);
                let Ok(out) = tokio::time::timeout(limit, call).await else {
                    // A server that does not answer is in an unknown state: stop it whole.
                    rt.run.mcp.stop(&server).await;
                    return Err(CallError::Tool(format!(
                        "`{full}` did not answer within {} s (`timeout_secs` in `[mcp.{server}]`); the server was stopped",
                        limit.as_secs()
                    )));
                };
                let out = out.map_err(|e| CallError::Tool(e.to_string()))?;
                if out.is_error {
                    return Err(CallError::Tool(format!("`{full}` failed: {}", out.text)));
                }
                Ok(Dynamic::from(out.text))
            }
            (callee, _) => Err(CallError::Script(format!(
                "internal: `{}` was prepared for another kind of callee",
                callee.name()
            ))),
        }
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
pub(super) fn positional_json(callee: &Callee, args: &[Dynamic]) -> Value {
    Value::Object(
        callee
            .params()
            .into_iter()
            .zip(args)
            .map(|(p, a)| (p.to_string(), value::to_json(a)))
            .collect(),
    )
}

/// Run the body of the host fn `f` (checked positional `args`), until the call tree is
/// cancelled (Ctrl-C, a failed sibling branch): then its result is not waited for.
async fn run_host(
    rt: &Runtime,
    ctx: &CallCtx,
    f: &ScriptFn,
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
        () = rt.cancel.cancelled() => Err(CallError::Cancelled),
        out = body => out
            .map(|v| value::to_dynamic(&v))
            .map_err(|e| CallError::Tool(format!("fn `{}` failed: {e}", f.name))),
    }
}
