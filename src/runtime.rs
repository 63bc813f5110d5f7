//! The runtime of one process (DESIGN §12, layer 4): settings, the tokio handle, Ctrl-C, the
//! observer, and four parts, each in a file of its own: the state a reload replaces as one
//! unit ([`Loaded`]: project and config, approval gate ([`gate`]), the models made for it
//! ([`models`])), the Rhai evaluator ([`evaluator`]), and what one run owns ([`RunParts`]:
//! budgets, run log, MCP servers, sandbox). Built once with [`RuntimeBuilder`]. Every call
//! reaches a name through the one seam in [`seam`] and what it resolves to ([`callee`]); the
//! worker run loop ([`worker_run`]) and its tools ([`toolbox`]) live here
//! because they call back into it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use tokio::runtime::Handle;

use crate::approval::{Gate, Mode, Prompter};
use crate::call::CallError;
pub use crate::cancel::Cancel;
use crate::model::SharedModel;
use crate::model::cassette::Cassette;
use crate::project::{Overlay, Project, ProjectError};
use crate::script::builtins::BuiltinEnv;
use crate::script::engine::{self, EngineLimits};
use crate::script::host::HostFn;
use crate::settings::Settings;
use crate::tools::ToolEnv;
use crate::tools::sandbox::Sandbox;
use crate::trace::{Fanout, Observer};
use crate::worker::WorkerSpec;

pub mod budget;
pub mod callee;
mod caller;
pub mod evaluator;
mod gate;
pub mod grade;
mod models;
pub mod seam;
mod session;
mod switch;
pub mod toolbox;
pub mod worker_run;

pub use gate::POLICY_FN;
pub use models::LiveText;
pub use session::SessionState;

use evaluator::Evaluator;
use models::{ModelCache, Models};

/// What a reload replaces, swapped as one unit so no part is ever stale against another:
/// the project (with its config), the approval gate built from it, and the models made from
/// its `[providers]` tables.
#[derive(Clone)]
struct Loaded {
    project: Arc<Project>,
    gate: Arc<Gate>,
    models: ModelCache,
}

/// A generation number no runtime has used: a `call()` site keeps its target only while its
/// runtime's state is the one it resolved the name in.
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Shared state of one llm-do process.
pub struct Runtime {
    pub settings: Settings,
    pub handle: Handle,
    pub cancel: Arc<Cancel>,
    pub observer: Arc<dyn Observer>,
    /// What changes while the runtime lives: the loaded state and the session's choices.
    state: State,
    /// The Rhai engines and what evaluation needs.
    pub rhai: Evaluator,
    /// What model making needs for the whole process (HTTP client, cassette, live text).
    models: Models,
    /// What this run owns.
    pub run: RunParts,
}

/// What changes while a runtime lives.
struct State {
    loaded: RwLock<Arc<Loaded>>,
    /// Changes with every swap of `loaded` (see [`Caller::generation`](crate::script::caller::Caller::generation)).
    generation: AtomicU64,
    /// What an interactive session changes at runtime (model, approvals, inline workers).
    session: SessionState,
    /// The embedding program's host fns: every (re)load of the project includes them.
    hosts: RwLock<Vec<Arc<HostFn>>>,
    weak: Weak<Runtime>,
}

/// What one run owns: its budgets, its run log, the MCP servers it started, who approvals
/// are asked of, the sandbox its tools and builtins run in, and the work running beside it.
pub struct RunParts {
    /// The budgets of this run and what it has used.
    pub budget: budget::Budget,
    /// The run log of this run, when one is kept.
    log: Option<Arc<crate::log::RunLog>>,
    /// MCP servers started so far (lazily, on first use).
    pub mcp: crate::mcp::McpClients,
    /// Who approvals are asked of, when a face said (`llm-do mcp serve`: the MCP client);
    /// unset: the terminal, if any.
    prompter: Option<Arc<dyn Prompter>>,
    /// The project root, as every path of a tool or builtin is confined to it.
    pub sandbox: Arc<Sandbox>,
    /// Work running beside the call that started it (the shadow side of a `[stabilize]`
    /// switch), which [`Runtime::settle`] waits for before the run ends.
    beside: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How a [`Runtime`] is built: settings, handle and observer, then what a face adds (live
/// text, the script about to run, a cassette, a run log, a prompter), then [`build`](Self::build).
#[must_use]
pub struct RuntimeBuilder {
    settings: Settings,
    handle: Handle,
    observer: Arc<dyn Observer>,
    live: Option<Arc<dyn LiveText>>,
    entry: Option<PathBuf>,
    cassette: Option<Arc<Cassette>>,
    run_log: Option<Arc<crate::log::RunLog>>,
    prompter: Option<Arc<dyn Prompter>>,
    hosts: Vec<Arc<HostFn>>,
}

impl RuntimeBuilder {
    /// Stream model replies into `live` as they arrive.
    pub fn live(mut self, live: Option<Arc<dyn LiveText>>) -> Self {
        self.live = live;
        self
    }

    /// `entry` is the script about to run: its fns join the namespace.
    pub fn entry(mut self, entry: Option<&Path>) -> Self {
        self.entry = entry.map(Path::to_path_buf);
        self
    }

    /// Record model exchanges into, or replay them from, `cassette`.
    pub fn cassette(mut self, cassette: Option<Arc<Cassette>>) -> Self {
        self.cassette = cassette;
        self
    }

    /// Keep the run log `log`: it observes every call, beside the observer given.
    pub fn run_log(mut self, log: Option<Arc<crate::log::RunLog>>) -> Self {
        self.run_log = log;
        self
    }

    /// Ask approvals of `prompter` (instead of the terminal).
    pub fn prompter(mut self, prompter: Option<Arc<dyn Prompter>>) -> Self {
        self.prompter = prompter;
        self
    }

    /// The embedding program's host fns, in the namespace from the start (so workers naming
    /// them in `toolsets:` load).
    pub fn hosts(mut self, hosts: Vec<Arc<HostFn>>) -> Self {
        self.hosts = hosts;
        self
    }

    /// Load the project at the settings' root and build the runtime.
    ///
    /// # Errors
    ///
    /// The project does not load, or its approval rules do not compile.
    pub fn build(self) -> Result<Arc<Runtime>, ProjectError> {
        let sandbox = Arc::new(
            Sandbox::new(&self.settings.root)
                .map_err(|e| ProjectError::io(&self.settings.root, e))?,
        );
        let observer = match &self.run_log {
            Some(log) => Fanout::of(vec![self.observer, log.clone()]),
            None => self.observer,
        };
        let cancel = Arc::new(Cancel::default());
        let limits = EngineLimits::of(&self.settings);
        let rt = Arc::new_cyclic(|weak: &Weak<Runtime>| {
            let caller: Weak<dyn crate::script::caller::Caller> = weak.clone();
            let engine = if self.settings.load_only {
                engine::build_for_parsing(caller.clone(), limits)
            } else {
                engine::build(
                    caller.clone(),
                    cancel.clone(),
                    sandbox.clone(),
                    limits,
                    self.settings.quiet,
                )
            };
            // Replaced below by the project, once the engine that loads it is in place.
            let loaded = Loaded {
                project: Arc::new(Project::empty(&self.settings.root)),
                gate: Arc::new(Gate::new(Mode::RejectAll, &[]).expect("no rules")),
                models: ModelCache::default(),
            };
            Runtime {
                state: State {
                    loaded: RwLock::new(Arc::new(loaded)),
                    generation: AtomicU64::new(next_generation()),
                    session: SessionState::default(),
                    hosts: RwLock::new(self.hosts.clone()),
                    weak: weak.clone(),
                },
                rhai: Evaluator::new(engine, cancel.clone(), limits),
                models: Models::new(self.cassette, self.live, caller),
                run: RunParts {
                    budget: budget::Budget::new(self.settings.budget),
                    log: self.run_log,
                    mcp: crate::mcp::McpClients::default(),
                    prompter: self.prompter,
                    sandbox,
                    beside: Mutex::default(),
                },
                settings: self.settings,
                handle: self.handle,
                cancel,
                observer,
            }
        });
        rt.set_project(rt.load(self.entry.as_deref(), &self.hosts)?)?;
        Ok(rt)
    }
}

impl Runtime {
    /// A builder of the runtime of `settings`, running on `handle`, its calls observed by
    /// `observer`.
    pub fn builder(
        settings: Settings,
        handle: Handle,
        observer: Arc<dyn Observer>,
    ) -> RuntimeBuilder {
        RuntimeBuilder {
            settings,
            handle,
            observer,
            live: None,
            entry: None,
            cassette: None,
            run_log: None,
            prompter: None,
            hosts: Vec::new(),
        }
    }

    /// The state in force now.
    fn loaded(&self) -> Arc<Loaded> {
        crate::sync::read(&self.state.loaded).clone()
    }

    /// Replace the state in force with what `next` makes of it, under one write lock (so two
    /// changes at once cannot lose one another).
    fn update(
        &self,
        next: impl FnOnce(&Loaded) -> Result<Loaded, ProjectError>,
    ) -> Result<(), ProjectError> {
        let mut slot = crate::sync::write(&self.state.loaded);
        *slot = Arc::new(next(&slot)?);
        self.state
            .generation
            .store(next_generation(), Ordering::Release);
        Ok(())
    }

    /// What builtin tools run against.
    pub fn tool_env(&self) -> ToolEnv {
        ToolEnv {
            sandbox: self.run.sandbox.clone(),
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
                models: ModelCache::default(),
            })
        })
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
        self.state
            .weak
            .upgrade()
            .expect("runtime is alive while in use")
    }

    /// What builtins need.
    pub fn builtin_env(&self) -> BuiltinEnv {
        BuiltinEnv {
            sandbox: self.run.sandbox.clone(),
            quiet: self.settings.quiet,
            cancel: self.cancel.clone(),
        }
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

    /// The approval gate for `project` under the mode in force ([`gate`]).
    fn build_gate(&self, project: &Project) -> Result<Gate, ProjectError> {
        gate::build(
            project,
            self.approval_mode(),
            self.run.prompter.as_ref(),
            self.settings.serving,
            self.state.weak.clone(),
        )
    }

    /// The approval gate for LLM-initiated tool calls.
    pub fn gate(&self) -> Arc<Gate> {
        self.loaded().gate.clone()
    }

    /// The model a worker runs on ([`models`]: the resolution order, aliases, fallback chains,
    /// the cassette), cached per id until the next reload.
    ///
    /// # Errors
    ///
    /// No model is chosen, an alias is unknown, or the first model cannot be made.
    pub fn model_for(&self, spec: &WorkerSpec) -> Result<SharedModel, CallError> {
        let loaded = self.loaded();
        let session = self.session_model();
        self.models.model_for(
            &loaded.project,
            &loaded.models,
            session,
            &self.settings,
            spec,
        )
    }

    /// The cassette of `--record` / `--replay`, if any.
    pub fn cassette(&self) -> Option<&Arc<Cassette>> {
        self.models.cassette.as_ref()
    }

    /// Build the HTTP client on a blocking thread now, so that loading the system's root
    /// certificates (several ms) overlaps script compilation and evaluation instead of
    /// delaying the first model call. Skipped when no HTTP provider can be used.
    pub fn prewarm_http(self: &Arc<Self>) {
        if !self.models.offline(&self.settings) {
            let rt = self.clone();
            drop(tokio::task::spawn_blocking(move || {
                rt.models.http_client();
            }));
        }
    }

    /// The text a failed call is reported with (Rhai errors with their file and line).
    pub fn error_text(&self, e: &CallError) -> String {
        evaluator::error_text(&self.project(), e)
    }

    /// A one-line description of a Rhai error with its file and line.
    pub fn describe_rhai_error(&self, e: &rhai::EvalAltResult) -> String {
        evaluator::describe(&self.project(), e)
    }

    /// Evaluate a script's top-level statements (and `fn main(args)` when defined) on this
    /// blocking thread, with the project library.
    ///
    /// # Errors
    ///
    /// The script's evaluation failed.
    pub fn eval_script(
        &self,
        ast: &rhai::AST,
        args: Vec<String>,
    ) -> Result<rhai::Dynamic, Box<rhai::EvalAltResult>> {
        self.rhai.eval_script(&self.project(), ast, args)
    }

    /// Load the project from disk again, with the host fns (hot reload).
    ///
    /// # Errors
    ///
    /// The project no longer loads.
    pub fn load_project(&self) -> Result<Project, ProjectError> {
        self.load(None, &crate::sync::read(&self.state.hosts))
    }

    /// Load the project from disk with `entry`'s fns and the host fns `hosts`.
    fn load(&self, entry: Option<&Path>, hosts: &[Arc<HostFn>]) -> Result<Project, ProjectError> {
        let root = &self.settings.root;
        Project::load(&self.rhai.engine, root, entry, &Overlay::new(), hosts)
    }

    /// Add (or replace) the host fn `f` and reload the project with it: it is callable at
    /// once, and stays across later reloads.
    ///
    /// # Errors
    ///
    /// The project does not load with it (its name is taken); then it is not added.
    pub fn add_host(&self, f: HostFn) -> Result<(), ProjectError> {
        // Held while the project loads, so two additions at once cannot lose one another.
        let mut slot = crate::sync::write(&self.state.hosts);
        let mut hosts = slot.clone();
        hosts.retain(|h| h.name != f.name);
        hosts.push(Arc::new(f));
        let project = self.load(None, &hosts)?;
        *slot = hosts;
        drop(slot);
        self.set_project(project)
    }

    /// The run log, if one is kept.
    pub fn run_log(&self) -> Option<&Arc<crate::log::RunLog>> {
        self.run.log.as_ref()
    }

    /// Run `task` beside the call that started it: the caller goes on at once, and
    /// [`Runtime::settle`] waits for the task before the run ends (so what it logs is kept).
    pub(crate) fn beside(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut all = crate::sync::lock(&self.run.beside);
        all.retain(|t| !t.is_finished());
        all.push(self.handle.spawn(task));
    }

    /// Wait for everything started with [`Runtime::beside`] (and what that started in turn) to
    /// end. Every face calls this before closing the run log.
    pub async fn settle(&self) {
        loop {
            let all = std::mem::take(&mut *crate::sync::lock(&self.run.beside));
            if all.is_empty() {
                return;
            }
            for task in all {
                // A task that panicked has nothing left to log.
                let _ = task.await;
            }
        }
    }

    /// Close the MCP servers started by this process (at exit), waiting briefly for each. On a
    /// single-threaded runtime it cannot wait: dropping the connections closes them instead.
    pub fn shutdown_mcp(&self) {
        if !self.run.mcp.has_started() {
            return;
        }
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => self.handle.block_on(self.run.mcp.shutdown()),
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.handle.block_on(self.run.mcp.shutdown()));
            }
            Ok(_) => self.run.mcp.drop_all(),
        }
    }
}
