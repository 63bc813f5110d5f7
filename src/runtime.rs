//! The runtime of one process (DESIGN §12, layer 4): settings, the Rhai engine, the tokio
//! handle, the observer, and the state a reload replaces as one unit ([`Loaded`]: project and
//! config, approval gate, providers, models). Every call reaches a name through the one seam
//! in [`seam`]; the worker run loop ([`worker_run`]) and its tools ([`toolbox`],
//! [`tool_batch`]) live here because they call back into it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};

use rhai::{CallFnOptions, Dynamic, Scope};
use serde_json::Value;
use tokio::runtime::Handle;

use std::io::IsTerminal;

use crate::approval::{Gate, Mode, Request, TerminalPrompter};
use crate::call::{CallCtx, CallError};
pub use crate::cancel::Cancel;
use crate::config::Decision;
use crate::model::cassette::Cassette;
use crate::model::providers::ProviderSettings;
use crate::model::{SharedModel, test::TestModel};
use crate::project::{Overlay, Project, ProjectError};
use crate::script::builtins::BuiltinEnv;
use crate::script::engine::{self, EngineLimits};
use crate::script::host::HostFn;
use crate::script::value;
use crate::settings::Settings;
use crate::tools::ToolEnv;
use crate::tools::sandbox::Sandbox;
use crate::trace::Observer;
use crate::worker::WorkerSpec;

pub mod budget;
mod caller;
pub mod seam;
mod session;
mod switch;
pub mod tool_batch;
pub mod toolbox;
pub mod worker_run;

pub use session::SessionState;

/// How long an MCP tool call may take before it fails (from a script or a model alike) unless
/// `[mcp.NAME] timeout_secs` says otherwise.
pub const MCP_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a reload replaces, swapped as one unit so no part is ever stale against another:
/// the project (with its config), the approval gate built from it, the HTTP provider settings
/// of its `[providers]` tables and the models resolved from them.
#[derive(Clone)]
struct Loaded {
    project: Arc<Project>,
    gate: Arc<Gate>,
    /// Built on first use (reading the environment and config), shared by every model.
    providers: Arc<std::sync::OnceLock<ProviderSettings>>,
    models: Arc<Mutex<HashMap<String, SharedModel>>>,
}

/// Receives model text while it streams in (shown live with `-v` on a terminal).
pub trait LiveText: Send + Sync {
    /// A piece of text.
    fn delta(&self, text: &str);
    /// The reply is complete (e.g. end the line).
    fn end(&self);
    /// Whether replies of a worker run `depth` deep stream here (1: a worker called from the
    /// top, e.g. the one `llm-do chat` talks with).
    fn wants(&self, depth: u32) -> bool {
        let _ = depth;
        true
    }
}

/// A generation number no runtime has used: a `call()` site keeps its target only while its
/// runtime's state is the one it resolved the name in.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Shared state of one llm-do process.
pub struct Runtime {
    pub settings: Settings,
    loaded: RwLock<Arc<Loaded>>,
    /// Changes with every swap of `loaded` (see [`Caller::generation`](crate::script::caller::Caller::generation)).
    generation: std::sync::atomic::AtomicU64,
    pub engine: rhai::Engine,
    /// The restricted engine untrusted drafts run in, built on first use
    /// ([`crate::script::untrusted`]).
    untrusted: std::sync::OnceLock<rhai::Engine>,
    pub handle: Handle,
    pub cancel: Arc<Cancel>,
    pub sandbox: Arc<Sandbox>,
    pub observer: Arc<dyn Observer>,
    /// Where streamed model text goes as it arrives (`-v` on a terminal); `None`: no streaming.
    pub live: Option<Arc<dyn LiveText>>,
    /// The one HTTP client of the process (connection reuse), built on first use and kept
    /// across reloads.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Threads evaluating Rhai for fan-out branches now (see [`seam::MAX_EVAL_THREADS`]).
    evaluating: Arc<std::sync::atomic::AtomicUsize>,
    /// `--record` / `--replay`: wraps (or replaces) every model.
    cassette: std::sync::OnceLock<Arc<Cassette>>,
    /// What an interactive session changes at runtime (model, approvals, inline workers).
    session: SessionState,
    /// The running script merged with the project library: where `parallel` closures live.
    script_ast: RwLock<Option<Arc<rhai::AST>>>,
    /// The budgets of this run and what it has used.
    pub budget: budget::Budget,
    /// The run log of this process, when one is kept (set once, before calls).
    run_log: std::sync::OnceLock<Arc<crate::log::RunLog>>,
    /// MCP servers started so far (lazily, on first use).
    pub mcp: crate::mcp::McpClients,
    /// Who approvals are asked of, when a face set it (`llm-do mcp serve`: the MCP client);
    /// unset: the terminal, if any.
    prompter: std::sync::OnceLock<Arc<dyn crate::approval::Prompter>>,
    /// Work running beside the call that started it (the shadow side of a `[stabilize]`
    /// switch), which [`Runtime::settle`] waits for before the run ends.
    beside: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The embedding program's host fns: every (re)load of the project includes them.
    hosts: RwLock<Vec<Arc<HostFn>>>,
    weak: Weak<Runtime>,
}

impl Runtime {
    /// Load the project at `settings.root` and build the runtime. `entry` is the script about
    /// to run (its fns join the namespace).
    pub fn new(
        settings: Settings,
        handle: Handle,
        observer: Arc<dyn Observer>,
        entry: Option<&Path>,
    ) -> Result<Arc<Runtime>, ProjectError> {
        Self::with_live(settings, handle, observer, None, entry)
    }

    /// Like [`Runtime::new`], streaming model replies into `live` as they arrive.
    pub fn with_live(
        settings: Settings,
        handle: Handle,
        observer: Arc<dyn Observer>,
        live: Option<Arc<dyn LiveText>>,
        entry: Option<&Path>,
    ) -> Result<Arc<Runtime>, ProjectError> {
        Self::hosted(settings, handle, observer, live, entry, Vec::new())
    }

    /// Like [`Runtime::with_live`], with the embedding program's host fns in the namespace
    /// from the start (so workers naming them in `toolsets:` load).
    pub fn hosted(
        settings: Settings,
        handle: Handle,
        observer: Arc<dyn Observer>,
        live: Option<Arc<dyn LiveText>>,
        entry: Option<&Path>,
        hosts: Vec<Arc<HostFn>>,
    ) -> Result<Arc<Runtime>, ProjectError> {
        let sandbox = Arc::new(
            Sandbox::new(&settings.root).map_err(|e| ProjectError::io(&settings.root, e))?,
        );
        let cancel = Arc::new(Cancel::default());
        let limits = EngineLimits::of(&settings);
        let budget_limits = settings.budget;
        let mut failure = None;
        let rt = Arc::new_cyclic(|weak: &Weak<Runtime>| {
            let caller: Weak<dyn crate::script::caller::Caller> = weak.clone();
            let engine = if settings.load_only {
                engine::build_for_parsing(caller, limits)
            } else {
                engine::build(
                    caller,
                    cancel.clone(),
                    sandbox.clone(),
                    limits,
                    settings.quiet,
                )
            };
            let none = Overlay::new();
            let loaded = Project::load_hosted(&engine, &settings.root, entry, &none, &hosts);
            let project = loaded.unwrap_or_else(|e| {
                failure = Some(e);
                Project::empty(&settings.root)
            });
            Runtime {
                settings,
                loaded: RwLock::new(Arc::new(Loaded {
                    project: Arc::new(project),
                    gate: Arc::new(Gate::new(Mode::RejectAll, &[]).expect("no rules")),
                    providers: Arc::default(),
                    models: Arc::default(),
                })),
                generation: std::sync::atomic::AtomicU64::new(next_generation()),
                engine,
                untrusted: std::sync::OnceLock::new(),
                handle,
                cancel,
                sandbox,
                observer,
                live,
                http: std::sync::OnceLock::new(),
                run_log: std::sync::OnceLock::new(),
                budget: budget::Budget::new(budget_limits),
                evaluating: Arc::default(),
                cassette: std::sync::OnceLock::new(),
                session: SessionState::default(),
                script_ast: RwLock::new(None),
                mcp: crate::mcp::McpClients::default(),
                prompter: std::sync::OnceLock::new(),
                beside: Mutex::default(),
                hosts: RwLock::new(hosts),
                weak: weak.clone(),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        rt.rebuild_gate()?;
        Ok(rt)
    }

    /// The state in force now.
    fn loaded(&self) -> Arc<Loaded> {
        crate::sync::read(&self.loaded).clone()
    }

    /// Replace the state in force with what `next` makes of it, under one write lock (so two
    /// changes at once cannot lose one another).
    fn update(
        &self,
        next: impl FnOnce(&Loaded) -> Result<Loaded, ProjectError>,
    ) -> Result<(), ProjectError> {
        let mut slot = crate::sync::write(&self.loaded);
        *slot = Arc::new(next(&slot)?);
        self.generation
            .store(next_generation(), std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The generation of the state in force.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Rebuild the approval gate (the session's approval mode changed); the rest stays.
    fn rebuild_gate(&self) -> Result<(), ProjectError> {
        self.update(|now| {
            Ok(Loaded {
                gate: Arc::new(self.build_gate(&now.project)?),
                ..now.clone()
            })
        })
    }

    /// The approval gate for `project`: the settings' and session's mode, its rules and
    /// policy fn, the terminal prompt (never when serving MCP clients).
    fn build_gate(&self, project: &Project) -> Result<Gate, ProjectError> {
        let mut gate = Gate::new(self.approval_mode(), &project.config.approvals)
            .map_err(|e| ProjectError::io(crate::project::CONFIG_FILE, e))?;
        if project.fns.contains_key(POLICY_FN) {
            let weak = self.weak.clone();
            gate = gate.with_policy(Box::new(move |req| policy(&weak, req)));
        }
        if let Some(prompter) = self.prompter.get() {
            gate = gate.with_prompter(Box::new(prompter.clone()));
        } else if self.settings.serving {
            gate = gate.with_headless(crate::approval::Headless::McpClient);
        } else if std::io::stderr().is_terminal()
            && let Some(prompter) = TerminalPrompter::detect()
        {
            gate = gate.with_prompter(Box::new(prompter));
        }
        Ok(gate)
    }

    /// Ask approvals of `prompter` from now on (once per runtime; a later one is ignored).
    ///
    /// # Errors
    ///
    /// The gate could not be rebuilt (a rule of the project no longer compiles).
    pub fn set_prompter(
        &self,
        prompter: Arc<dyn crate::approval::Prompter>,
    ) -> Result<(), ProjectError> {
        if self.prompter.set(prompter).is_err() {
            return Ok(());
        }
        self.rebuild_gate()
    }

    /// The approval gate for LLM-initiated tool calls.
    pub fn gate(&self) -> Arc<Gate> {
        self.loaded().gate.clone()
    }

    /// Settings of HTTP providers from the project's `[providers]` as loaded now, with the one
    /// `reqwest::Client` of the process (connection reuse).
    fn providers_of(&self, loaded: &Loaded) -> ProviderSettings {
        loaded
            .providers
            .get_or_init(|| {
                let client = self.http.get_or_init(crate::model::http::client).clone();
                let mut s = ProviderSettings::new(client, loaded.project.config.providers.clone());
                s.stream = self.live.is_some();
                s.retry = crate::model::retry::RetryPolicy::from_env(|name| (s.env)(name));
                s
            })
            .clone()
    }

    /// Build the HTTP client on a blocking thread now, so that loading the system's root
    /// certificates (several ms) overlaps script compilation and evaluation instead of
    /// delaying the first model call. Skipped when no HTTP provider can be used: `--model`
    /// names the `test` or a `script:` model, or a cassette is replayed.
    pub fn prewarm_http(self: &Arc<Self>) {
        let offline =
            self.settings.model_override.as_deref().is_some_and(|m| {
                m == crate::model::test::TEST_MODEL_ID || m.starts_with("script:")
            }) || self.cassette().is_some_and(|c| c.is_replay());
        if !offline {
            let rt = self.clone();
            drop(tokio::task::spawn_blocking(move || {
                rt.http.get_or_init(crate::model::http::client);
            }));
        }
    }

    /// What builtin tools run against.
    pub fn tool_env(&self) -> ToolEnv {
        ToolEnv {
            sandbox: self.sandbox.clone(),
            shell: self.project().config.shell.clone(),
        }
    }

    /// The project as loaded now.
    pub fn project(&self) -> Arc<Project> {
        self.loaded().project.clone()
    }

    /// Replace the project (hot reload): the project, its gate, providers and models change
    /// together, so a renamed `[providers.NAME]` is usable at once.
    pub fn set_project(&self, project: Project) -> Result<(), ProjectError> {
        let project = self.with_inline_workers(project);
        let gate = Arc::new(self.build_gate(&project)?);
        self.update(|_| {
            Ok(Loaded {
                project: Arc::new(project),
                gate,
                providers: Arc::default(),
                models: Arc::default(),
            })
        })
    }

    /// Load the project from disk again, with the host fns (hot reload).
    ///
    /// # Errors
    ///
    /// The project no longer loads.
    pub fn load_project(&self) -> Result<Project, ProjectError> {
        self.load_with_hosts(&crate::sync::read(&self.hosts))
    }

    fn load_with_hosts(&self, hosts: &[Arc<HostFn>]) -> Result<Project, ProjectError> {
        let root = &self.settings.root;
        Project::load_hosted(&self.engine, root, None, &Overlay::new(), hosts)
    }

    /// Add (or replace) the host fn `f` and reload the project with it: it is callable at
    /// once, and stays across later reloads.
    ///
    /// # Errors
    ///
    /// The project does not load with it (its name is taken); then it is not added.
    pub fn add_host(&self, f: HostFn) -> Result<(), ProjectError> {
        // Held while the project loads, so two additions at once cannot lose one another.
        let mut slot = crate::sync::write(&self.hosts);
        let mut hosts = slot.clone();
        hosts.retain(|h| h.name != f.name);
        hosts.push(Arc::new(f));
        let project = self.load_with_hosts(&hosts)?;
        *slot = hosts;
        drop(slot);
        self.set_project(project)
    }

    /// Replace the project only (an inline worker joined it): config and fns are unchanged,
    /// so the gate, providers and models stay.
    fn set_project_only(&self, project: Project) {
        let _ = self.update(|now| {
            Ok(Loaded {
                project: Arc::new(project),
                ..now.clone()
            })
        });
    }

    /// A strong handle to this runtime.
    pub fn arc(&self) -> Arc<Runtime> {
        self.weak.upgrade().expect("runtime is alive while in use")
    }

    /// What builtins need.
    pub fn builtin_env(&self) -> BuiltinEnv {
        BuiltinEnv {
            sandbox: self.sandbox.clone(),
            quiet: self.settings.quiet,
            cancel: self.cancel.clone(),
        }
    }

    /// Record model exchanges into, or replay them from, `cassette` (set once, before calls).
    pub fn set_cassette(&self, cassette: Arc<Cassette>) {
        let _ = self.cassette.set(cassette);
    }

    /// Keep the run log `log` (its observer must already be among this runtime's).
    pub fn set_run_log(&self, log: Arc<crate::log::RunLog>) {
        let _ = self.run_log.set(log);
    }

    /// The run log, if one is kept.
    pub fn run_log(&self) -> Option<&Arc<crate::log::RunLog>> {
        self.run_log.get()
    }

    /// Run `task` beside the call that started it: the caller goes on at once, and
    /// [`Runtime::settle`] waits for the task before the run ends (so what it logs is kept).
    pub(crate) fn beside(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut all = crate::sync::lock(&self.beside);
        all.retain(|t| !t.is_finished());
        all.push(self.handle.spawn(task));
    }

    /// Wait for everything started with [`Runtime::beside`] (and what that started in turn) to
    /// end. Every face calls this before closing the run log.
    pub async fn settle(&self) {
        loop {
            let all = std::mem::take(&mut *crate::sync::lock(&self.beside));
            if all.is_empty() {
                return;
            }
            for task in all {
                // A task that panicked has nothing left to log.
                let _ = task.await;
            }
        }
    }

    /// The cassette of `--record` / `--replay`, if any.
    pub fn cassette(&self) -> Option<&Arc<Cassette>> {
        self.cassette.get()
    }

    /// The model a worker runs on (DESIGN §7 resolution order), cached per id.
    pub fn model_for(&self, spec: &WorkerSpec) -> Result<SharedModel, CallError> {
        let loaded = self.loaded();
        let project = &loaded.project;
        let chosen = self
            .session_model()
            .or_else(|| self.settings.model_override.clone())
            .map(|id| vec![id])
            .or_else(|| {
                (!spec.models.is_empty())
                    .then(|| spec.models.iter().map(|m| m.name.clone()).collect())
            })
            .or_else(|| self.settings.env_model.clone().map(|id| vec![id]))
            .or_else(|| project.config.defaults.model.clone().map(|id| vec![id]))
            .or_else(|| {
                self.cassette()
                    .filter(|c| c.is_replay())
                    .map(|_| vec!["replay".to_string()])
            })
            .ok_or_else(|| CallError::NoModel {
                worker: spec.name.clone(),
            })?;
        let ids = expand_aliases(&project.config, &chosen).map_err(|e| CallError::Model {
            worker: spec.name.clone(),
            model: chosen.join(", "),
            source: crate::model::ModelError::Other(e.to_string()),
        })?;
        let chain = ids.into_iter().enumerate().map(|(i, id)| {
            match self.model_by_id(&loaded, spec, id.clone()) {
                // A later member is made when the chain reaches it: a missing key for a
                // fallback does not stop the members before it from serving.
                Err(CallError::Model { source, .. }) if i > 0 => Ok(Arc::new(
                    crate::model::fallback::Unavailable::new(id, source.to_string()),
                )
                    as SharedModel),
                other => other,
            }
        });
        let chain = chain.collect::<Result<Vec<_>, _>>()?;
        Ok(crate::model::fallback::FallbackModel::shared(chain).expect("a model was chosen"))
    }

    /// The model of one concrete id, made once per id and cached.
    fn model_by_id(
        &self,
        loaded: &Loaded,
        spec: &WorkerSpec,
        id: String,
    ) -> Result<SharedModel, CallError> {
        let mut models = crate::sync::lock(&loaded.models);
        if let Some(m) = models.get(&id) {
            return Ok(m.clone());
        }
        let model: SharedModel = if let Some(c) = self.cassette().filter(|c| c.is_replay()) {
            // Replay is offline: no provider is resolved, so no key is needed.
            c.wrap(&id, None)
        } else if id == crate::model::test::TEST_MODEL_ID {
            Arc::new(TestModel)
        } else if let Some(f) = id.strip_prefix("script:") {
            let caller: Weak<dyn crate::script::caller::Caller> = self.weak.clone();
            Arc::new(crate::script::model::ScriptModel::new(caller, f, &id))
        } else {
            crate::model::providers::resolve(&id, &self.providers_of(loaded)).map_err(|source| {
                CallError::Model {
                    worker: spec.name.clone(),
                    model: id.clone(),
                    source,
                }
            })?
        };
        let model = match self.cassette().filter(|c| !c.is_replay()) {
            Some(c) => c.wrap(&id, Some(model)),
            None => model,
        };
        models.insert(id, model.clone());
        Ok(model)
    }

    /// Call the MCP tool `TOOL` of `server` (no approval here: a model's calls passed the
    /// gate before the seam), bounded by [`MCP_CALL_TIMEOUT`].
    pub async fn call_mcp(
        &self,
        server: &str,
        tool: &str,
        input: Value,
    ) -> Result<crate::mcp::McpOutput, CallError> {
        let Some(config) = self.project().config.mcp.get(server).cloned() else {
            let e = crate::mcp::McpError::UnknownServer {
                name: server.to_owned(),
            };
            return Err(CallError::Tool(e.to_string()));
        };
        let limit = config
            .timeout_secs
            .map_or(MCP_CALL_TIMEOUT, std::time::Duration::from_secs);
        let call = self.mcp.call(server, &config, tool, input);
        match tokio::time::timeout(limit, call).await {
            Ok(out) => out.map_err(|e| CallError::Tool(e.to_string())),
            Err(_) => {
                // A server that does not answer is in an unknown state: stop it whole.
                self.mcp.stop(server).await;
                Err(CallError::Tool(format!(
                    "`{}{server}.{tool}` did not answer within {} s (`timeout_secs` in `[mcp.{server}]`); the server was stopped",
                    crate::mcp::PREFIX,
                    limit.as_secs()
                )))
            }
        }
    }

    /// Close the MCP servers started by this process (at exit), waiting briefly for each. On a
    /// single-threaded runtime it cannot wait: dropping the connections closes them instead.
    pub fn shutdown_mcp(&self) {
        if !self.mcp.has_started() {
            return;
        }
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => self.handle.block_on(self.mcp.shutdown()),
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.handle.block_on(self.mcp.shutdown()));
            }
            Ok(_) => self.mcp.drop_all(),
        }
    }

    /// Call a project Rhai fn with positional JSON args on this (blocking) thread, untraced
    /// (machinery: the policy fn, the `script:` model).
    pub fn call_fn_blocking(
        &self,
        ctx: &CallCtx,
        name: &str,
        args: Vec<Value>,
    ) -> Result<Value, CallError> {
        // A host fn (the embedding program's policy fn) runs its own body.
        if let Some(host) = self.project().fns.get(name).and_then(|f| f.host.clone()) {
            return self
                .handle
                .block_on(host.call(args))
                .map_err(CallError::Tool);
        }
        let args: Vec<Dynamic> = args.iter().map(value::to_dynamic).collect();
        let library = self.project().library.clone();
        self.call_in_ast(ctx, &library, name, args)
            .map(|d| value::to_json(&d))
            .map_err(|e| match e {
                CallError::Rhai(e) => CallError::Script(self.describe_rhai_error(&e)),
                other => other,
            })
    }

    /// Call a fn pointer or closure (from `parallel`) on this (blocking) thread, with the
    /// calling context as the evaluation tag so nested `call()`s keep their depth and scope.
    pub fn call_fn_ptr_blocking(
        &self,
        ctx: &CallCtx,
        fp: &rhai::FnPtr,
    ) -> Result<Dynamic, CallError> {
        let ast = self.script_ast();
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
            .map_err(|e| self.call_failure(e))
    }

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
            .map_err(|e| self.call_failure(e))
    }

    /// A Rhai error ending a call: aborts and interrupts keep their meaning.
    fn call_failure(&self, e: Box<rhai::EvalAltResult>) -> CallError {
        match crate::script::errors::termination(&e) {
            Some(crate::script::errors::Termination::Aborted) => CallError::Aborted,
            Some(crate::script::errors::Termination::Cancelled) => CallError::Cancelled,
            None => CallError::Rhai(e),
        }
    }

    /// The AST closures of the running script live in (the project library when no script
    /// runs, e.g. `llm-do run`).
    pub fn script_ast(&self) -> Arc<rhai::AST> {
        crate::sync::read(&self.script_ast)
            .clone()
            .unwrap_or_else(|| self.project().library.clone())
    }

    /// Record the AST of the running script (merged with the project library) so fan-out
    /// branches on other threads can call its closures. The REPL sets its accumulated AST.
    pub fn set_script_ast(&self, ast: Arc<rhai::AST>) {
        *crate::sync::write(&self.script_ast) = Some(ast);
    }

    /// A one-line description of a Rhai error with its file and line.
    pub fn describe_rhai_error(&self, e: &rhai::EvalAltResult) -> String {
        let project = self.project();
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

    /// Evaluate a script's top-level statements (and `fn main(args)` when defined) on this
    /// blocking thread.
    pub fn eval_script(
        &self,
        ast: &rhai::AST,
        args: Vec<String>,
    ) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        let _clock = crate::script::clock::evaluation();
        let project = self.project();
        let merged = Arc::new(project.library.merge(ast));
        self.set_script_ast(merged.clone());
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

/// The Rhai fn that decides approvals when defined (DESIGN §6).
pub const POLICY_FN: &str = "approve";

/// Ask the project's `fn approve(request)` about a tool call.
fn policy(rt: &Weak<Runtime>, req: &Request) -> Result<Option<Decision>, String> {
    let rt = rt.upgrade().ok_or("runtime is gone")?;
    let request = serde_json::json!({"tool": req.tool, "args": req.args, "chain": req.chain});
    let answer = rt
        .call_fn_blocking(&CallCtx::default(), POLICY_FN, vec![request])
        .map_err(|e| e.to_string())?;
    match answer.as_str() {
        Some("approve") => Ok(Some(Decision::Approve)),
        Some("reject") => Ok(Some(Decision::Reject)),
        Some("prompt") => Ok(Some(Decision::Prompt)),
        None if answer.is_null() => Ok(None),
        _ => Err(format!(
            "`{POLICY_FN}` must return \"approve\", \"reject\" or \"prompt\", not {answer}"
        )),
    }
}

/// Model names (ids or `[models]` aliases) expanded into concrete ids in fallback order.
fn expand_aliases(
    config: &crate::config::Config,
    names: &[String],
) -> Result<Vec<String>, crate::config::AliasError> {
    let mut ids: Vec<String> = Vec::new();
    for name in names {
        if name == "replay" {
            ids.push(name.clone());
            continue;
        }
        for id in config.expand_model(name)? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}
