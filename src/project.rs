//! A project on disk (DESIGN §2): root discovery, loading `llm-do.toml`, `workers/*.worker` and
//! `scripts/*.rhai`, and the names of the one namespace (workers, Rhai fns, `[stabilize]`
//! switches; `runtime::callee` resolves a name to what it calls). Loading is pure with respect
//! to execution: no script statement runs here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine};

use crate::config::{self, Config};
use crate::env_vars;
use crate::error::Located;
use crate::script::host::HostFn;
use crate::script::{self, ScriptFn};
use crate::suggest;
use crate::worker::WorkerSpec;
use crate::worker::file::parse_worker;

pub mod listing;
pub mod models;
mod toolset;

pub use toolset::{Member, Toolset};

/// The file that marks a project root.
pub const CONFIG_FILE: &str = "llm-do.toml";
/// Folder of worker files.
pub const WORKERS_DIR: &str = "workers";
/// Folder of Rhai scripts.
pub const SCRIPTS_DIR: &str = "scripts";

/// Files as a change would leave them, to check that a project still loads before anything is
/// written: a path (under the root) maps to its new text, or to `None` when it would be gone.
pub type Overlay = BTreeMap<PathBuf, Option<Arc<str>>>;

/// Errors found while loading a project. Several may be reported at once.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProjectError {
    #[error("no llm-do project found from `{start}` upward")]
    #[diagnostic(help(
        "a project root holds `llm-do.toml` or a `workers/` folder; create one or pass `--project DIR`"
    ))]
    NotFound { start: String },
    #[error("cannot read `{path}`: {message}")]
    Io { path: String, message: String },
    /// A file that reads but breaks a rule no single place in it shows (a `[stabilize]` entry
    /// without both sides, a reserved fn name, a shell rule that can never match).
    #[error("`{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Located(Located),
    /// A host fn of the embedding program takes a name the project already uses.
    #[error("the host fn `{name}` has the name of the {kind} in `{path}`")]
    #[diagnostic(help(
        "names share one namespace: rename one of them, or name it under `[stabilize]` to switch between the worker and the host fn"
    ))]
    HostName {
        name: String,
        kind: &'static str,
        path: String,
    },
    #[error("the project has {} errors", .0.len())]
    Many(#[related] Vec<ProjectError>),
}

impl ProjectError {
    /// A problem with file `path` (or the config file), described by `message`.
    pub(crate) fn io(path: impl AsRef<Path>, message: impl ToString) -> Self {
        ProjectError::Io {
            path: path.as_ref().display().to_string(),
            message: message.to_string(),
        }
    }

    /// File `path` (or the config file) reads but is invalid, as `message` says.
    pub(crate) fn invalid(path: impl AsRef<Path>, message: impl ToString) -> Self {
        ProjectError::Invalid {
            path: path.as_ref().display().to_string(),
            message: message.to_string(),
        }
    }
}

impl From<Box<Located>> for ProjectError {
    fn from(e: Box<Located>) -> Self {
        ProjectError::Located(*e)
    }
}

/// The project's `llm-do.toml` at `root` (none: defaults) over the user config.
///
/// # Errors
///
/// A located error when either file is invalid; an I/O error when one cannot be read.
pub fn load_config(root: &Path) -> Result<Config, ProjectError> {
    let mut errors = Vec::new();
    let config = read_config(root, &Overlay::new(), &mut errors);
    errors.into_iter().next().map_or(Ok(config), Err)
}

/// The config of the project at `root` (its `llm-do.toml` as `overlay` leaves it; none:
/// defaults) over the user config (DESIGN §16), the project's file checked again against the
/// merge. What is wrong with either is pushed to `errors`, the project's first.
fn read_config(root: &Path, overlay: &Overlay, errors: &mut Vec<ProjectError>) -> Config {
    let text = read_collect(&root.join(CONFIG_FILE), errors, overlay);
    let path = Path::new(CONFIG_FILE);
    let config = match &text {
        Some(text) => config::parse_config(path, text).unwrap_or_else(|e| {
            errors.push(ProjectError::from(e));
            Config::default()
        }),
        None => Config::default(),
    };
    let Some(user) = read_user_config(overlay, errors) else {
        return config;
    };
    let merged = config.over(&user);
    if let Some(text) = &text
        && let Err(e) = config::check_merged(path, text, &merged)
    {
        errors.push(ProjectError::from(e));
    }
    merged
}

/// The user config (DESIGN §16), if its file exists; a file named by `LLM_DO_CONFIG` must (a
/// typo in the variable is not ignored). What is wrong with it is pushed to `errors`.
fn read_user_config(overlay: &Overlay, errors: &mut Vec<ProjectError>) -> Option<Config> {
    let path = config::user::path()?;
    let named = std::env::var_os(env_vars::LLM_DO_CONFIG).is_some_and(|p| !p.is_empty());
    if named && !path.exists() {
        let why = format!("no such file (named by `{}`)", env_vars::LLM_DO_CONFIG);
        errors.push(ProjectError::io(path, why));
        return None;
    }
    let text = read_collect(&path, errors, overlay)?;
    match config::parse_user_config(&path, &text) {
        Ok(user) => Some(user),
        Err(e) => {
            errors.push(ProjectError::from(e));
            None
        }
    }
}

/// Find the project root: the nearest directory from `start` upward holding `llm-do.toml` or
/// `workers/`.
pub fn discover(start: &Path) -> Option<PathBuf> {
    let start = if start.is_file() {
        start.parent()?
    } else {
        start
    };
    start
        .ancestors()
        .find(|dir| is_root(dir))
        .map(Path::to_path_buf)
}

/// Whether `dir` is a project root (holds `llm-do.toml` or `workers/`).
pub fn is_root(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file() || dir.join(WORKERS_DIR).is_dir()
}

/// A named thing in the project namespace and where it was defined.
#[derive(Debug, Clone)]
pub struct Definition {
    pub path: PathBuf,
    pub text: Arc<str>,
    pub span: (usize, usize),
    /// `worker` or `fn`.
    pub kind: &'static str,
}

/// A loaded project: configuration, workers and Rhai fns, ready to run.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    pub workers: BTreeMap<String, Arc<WorkerSpec>>,
    pub fns: BTreeMap<String, Arc<ScriptFn>>,
    /// Rhai modules usable as toolsets: script file stem → fn names defined in it.
    pub modules: BTreeMap<String, Vec<String>>,
    /// All fn definitions of the project (no top-level statements), merged into one AST.
    /// Untrusted drafts are never in it.
    pub library: Arc<AST>,
    /// The untrusted drafts' fns (`scripts/drafts/`, marked): run only in the restricted
    /// engine ([`script::untrusted`]).
    pub drafts: Arc<AST>,
}

/// The stabilize switch of one name (DESIGN §14).
#[derive(Debug, Clone)]
pub struct Switch {
    pub mode: crate::config::Stabilize,
    pub worker: Arc<WorkerSpec>,
    pub code: Arc<ScriptFn>,
}

impl Switch {
    /// The side that is code a model wrote and no person has accepted yet (`Some("fn")`):
    /// it runs in the restricted engine whatever the mode.
    pub fn untrusted_side(&self) -> Option<&'static str> {
        self.code.untrusted.then_some("fn")
    }
}

impl Project {
    /// A project with nothing in it (stand-in while a load error is reported).
    pub fn empty(root: &Path) -> Project {
        Project {
            root: root.to_path_buf(),
            ..Project::default()
        }
    }

    /// Load the project at `root`. `extra_script` is a script outside `scripts/` whose fns also
    /// join the namespace (the script being run). The files in `overlay` are read as if changed
    /// (whether a change leaves a project that loads, before it is written). The embedding
    /// program's `hosts` join the namespace as fns (a worker's `toolsets:` and `[stabilize]` may
    /// name them).
    ///
    /// # Errors
    ///
    /// Every error found, all collected; a host fn sharing the name of a worker or fn (outside
    /// `[stabilize]`) is one.
    pub fn load(
        engine: &Engine,
        root: &Path,
        extra_script: Option<&Path>,
        overlay: &Overlay,
        hosts: &[Arc<HostFn>],
    ) -> Result<Project, ProjectError> {
        let mut errors = Vec::new();
        let config = read_config(root, overlay, &mut errors);

        let mut defs: BTreeMap<String, Definition> = BTreeMap::new();
        let mut workers = BTreeMap::new();
        for path in list_dir(&root.join(WORKERS_DIR), "worker", &mut errors, overlay) {
            let Some(text) = read_collect(&path, &mut errors, overlay) else {
                continue;
            };
            let shown = relative(root, &path);
            match parse_worker(&shown, &text) {
                Ok(spec) => {
                    let def = Definition {
                        path: shown,
                        text: spec.text.clone(),
                        span: spec.name_span,
                        kind: "worker",
                    };
                    if claim(&mut defs, &mut errors, &config, &spec.name, def) {
                        workers.insert(spec.name.clone(), Arc::new(spec));
                    }
                }
                Err(e) => errors.push(ProjectError::from(e)),
            }
        }

        let mut fns = BTreeMap::new();
        let mut modules = BTreeMap::new();
        let mut library = AST::empty();
        let mut drafts = AST::empty();
        let scripts = root.join(SCRIPTS_DIR);
        let mut script_paths = list_dir(&scripts, "rhai", &mut errors, overlay);
        let drafts_dir = scripts.join(script::untrusted::DRAFTS_DIR);
        script_paths.extend(list_dir(&drafts_dir, "rhai", &mut errors, overlay));
        if let Some(extra) = extra_script {
            let extra = extra.canonicalize().unwrap_or_else(|_| extra.to_path_buf());
            if !script_paths
                .iter()
                .any(|p| p.canonicalize().is_ok_and(|c| c == extra))
            {
                script_paths.push(extra);
            }
        }
        for path in script_paths {
            let Some(text) = read_collect(&path, &mut errors, overlay) else {
                continue;
            };
            let shown = relative(root, &path);
            let def = |f: &ScriptFn| Definition {
                path: shown.clone(),
                text: text.clone(),
                span: f.span,
                kind: "fn",
            };
            let draft = script::untrusted::is_draft(&text);
            let loaded = if draft {
                load_draft(&path, &shown, &text)
            } else {
                script::compile_file(engine, &shown, &text).map_err(ProjectError::from)
            };
            let (ast, file_fns) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let mut names = Vec::new();
            for f in file_fns {
                if claim(&mut defs, &mut errors, &config, &f.name, def(&f)) {
                    names.push(f.name.clone());
                    fns.insert(f.name.clone(), Arc::new(f));
                }
            }
            // A draft is no module, and runs only in the restricted engine.
            if draft {
                drafts.combine(ast.clone_functions_only());
            } else {
                modules.insert(file_stem(&path), names);
                library.combine(ast.clone_functions_only());
            }
        }

        for h in hosts {
            let def = Definition {
                path: PathBuf::from(script::host::HOST_PATH),
                text: Arc::from(""),
                span: (0, 0),
                kind: "fn",
            };
            if claim(&mut defs, &mut errors, &config, &h.name, def) {
                fns.insert(h.name.clone(), Arc::new(h.script_fn()));
            }
        }

        let project = Project {
            root: root.to_path_buf(),
            config,
            workers,
            fns,
            modules,
            library: Arc::new(library),
            drafts: Arc::new(drafts),
        };
        errors.extend(project.check_worker_tools());
        errors.extend(project.check_stabilize());
        errors.extend(project.check_shell_rules());
        errors.extend(project.check_reserved_names());
        let workers = project.workers.values();
        let bad_models = workers.flat_map(|w| crate::worker::check_models(w, &project.config));
        errors.extend(bad_models.map(ProjectError::Located));
        match errors.len() {
            0 => Ok(project),
            1 => Err(errors.remove(0)),
            _ => Err(ProjectError::Many(errors)),
        }
    }

    /// The stabilize switch of `name`, when llm-do.toml sets one and both a worker and a fn
    /// of that name exist.
    pub fn switch(&self, name: &str) -> Option<Switch> {
        let mode = *self.config.stabilize.get(name)?;
        Some(Switch {
            mode,
            worker: self.workers.get(name)?.clone(),
            code: self.fns.get(name)?.clone(),
        })
    }

    /// Every callable name (for "did you mean" and completion).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fns
            .keys()
            .map(String::as_str)
            .chain(self.workers.keys().map(String::as_str))
            .chain(script::builtins::BUILTINS.iter().map(|b| b.name))
    }

    /// Each worker's `toolsets:` entries must name something (an unknown one is pointed at, and
    /// stands for its own name below), and its `tool_choice: NAME` one of the tools they give
    /// (not checked beside an MCP toolset: its tools are known only once its server runs).
    fn check_worker_tools(&self) -> Vec<ProjectError> {
        let mut errors = Vec::new();
        for w in self.workers.values() {
            let (mut tools, mut mcp) = (Vec::new(), false);
            for t in &w.toolsets {
                match self.toolset(&t.name) {
                    Some(Toolset::Tools(members)) => {
                        tools.extend(members.iter().map(|m| m.name().to_owned()));
                    }
                    Some(Toolset::Mcp { .. }) => mcp = true,
                    None => {
                        errors.push(self.unknown_toolset(w, t));
                        tools.push(t.name.clone());
                    }
                }
            }
            let crate::model::ToolChoice::Tool(choice) = &w.tool_choice else {
                continue;
            };
            if mcp || tools.contains(choice) {
                continue;
            }
            let hint = suggest::did_you_mean(choice, tools.iter().map(String::as_str))
                .unwrap_or_else(|| format!("its tools are: {}", tools.join(", ")));
            let start = w.text.find("tool_choice").unwrap_or(0);
            let message = format!(
                "`tool_choice: {choice}` in worker `{}` names no tool it has",
                w.name
            );
            let err = w
                .error_at((start, "tool_choice".len()), message)
                .label("not among the worker's tools")
                .help(hint);
            errors.push(ProjectError::Located(err));
        }
        errors
    }

    /// The error at a `toolsets:` entry `t` of worker `w` that names nothing.
    fn unknown_toolset(&self, w: &WorkerSpec, t: &crate::worker::file::NameRef) -> ProjectError {
        // What an entry may name besides fns and workers: builtin sets and script modules.
        let sets = crate::tools::TOOLSET_NAMES.iter().copied();
        let names = self
            .names()
            .chain(sets)
            .chain(self.modules.keys().map(String::as_str));
        let hint = suggest::did_you_mean(&t.name, names).unwrap_or_else(|| {
            format!("toolsets are builtin sets ({}), Rhai fns, script modules, workers or `mcp.NAME` servers from `llm-do.toml`", crate::tools::TOOLSET_NAMES.join(", "))
        });
        let message = format!("unknown toolset `{}` in worker `{}`", t.name, w.name);
        let err = w
            .error_at(t.span, message)
            .label("not a builtin set, fn, module or worker")
            .help(hint);
        ProjectError::Located(err)
    }

    /// `[shell] allow` rules that can never match a command (`run` and `check` refuse them
    /// alike).
    fn check_shell_rules(&self) -> Vec<ProjectError> {
        crate::tools::shell::rule_problems(&self.config.shell)
            .into_iter()
            .map(|(i, why)| {
                ProjectError::invalid(CONFIG_FILE, format!(
                    "`[shell] allow` rule #{} (prefix `{}`) can never match: {why}; fix or remove it (commands are matched word by word, without a shell)",
                    i + 1,
                    self.config.shell.allow[i].prefix
                ))
            })
            .collect()
    }

    /// Workers and fns may not take the name of a builtin, a builtin toolset or tool, and a
    /// worker may not be called `approve` (the policy fn's name): they would shadow them.
    fn check_reserved_names(&self) -> Vec<ProjectError> {
        let reserved = script::builtins::is_reserved;
        let mut errors = Vec::new();
        for w in self.workers.values() {
            if (reserved(&w.name) || w.name == "approve") && w.path.is_some() {
                let err = w
                    .error_at(w.name_span, format!("a worker cannot be named `{}`", w.name))
                    .label("a reserved name")
                    .help("builtins, builtin toolsets and tools, `defer` and `approve` (the approval policy fn) keep their names; rename the worker");
                errors.push(ProjectError::Located(err));
            }
        }
        let fns = self.fns.values().filter(|f| reserved(&f.name));
        errors.extend(fns.map(|f| ProjectError::invalid(&f.path, format!(
            "a fn cannot be named `{}`: builtins, builtin toolsets and tools and `defer` keep their names; rename it",
            f.name
        ))));
        errors
    }

    /// `[stabilize]` entries whose name is not both a worker and a fn.
    fn check_stabilize(&self) -> Vec<ProjectError> {
        self.config
            .stabilize
            .keys()
            .filter(|name| self.switch(name).is_none())
            .map(|name| {
                let missing = match (self.workers.contains_key(name), self.fns.contains_key(name)) {
                    (true, false) => format!("there is no fn `{name}` in scripts/"),
                    (false, true) => format!("there is no worker `{name}` in workers/"),
                    _ => format!("there is neither a worker nor a fn `{name}`"),
                };
                // A mistyped name: the names that are both (else any worker) are close.
                let both = self.workers.keys().filter(|w| self.fns.contains_key(*w));
                let close = suggest::did_you_mean(name, both.map(String::as_str))
                    .or_else(|| suggest::did_you_mean(name, self.workers.keys().map(String::as_str)))
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default();
                ProjectError::invalid(CONFIG_FILE, format!(
                    "`[stabilize] {name}` switches between a worker and a fn of that name, but {missing}{close}"
                ))
            })
            .collect()
    }
}

/// Record a definition; a second definition of the same name is an error showing both (for a
/// host fn: naming the first), pushed to `errors` (and `false` returned).
fn claim(
    defs: &mut BTreeMap<String, Definition>,
    errors: &mut Vec<ProjectError>,
    config: &Config,
    name: &str,
    def: Definition,
) -> bool {
    if let Some(first) = defs.get(name) {
        // `[stabilize] NAME` lets one worker and one fn share NAME.
        if config.stabilize.contains_key(name) && first.kind != def.kind {
            return true;
        }
        if def.path == Path::new(script::host::HOST_PATH) {
            errors.push(ProjectError::HostName {
                name: name.to_owned(),
                kind: first.kind,
                path: first.path.display().to_string(),
            });
            return false;
        }
        let kind = def.kind;
        let err = Located::new(
            &def.path,
            &def.text,
            def.span,
            format!("`{name}` is defined twice"),
        )
        .label(format!("this {kind} is named `{name}`"))
        .help("names share one namespace across workers and Rhai fns; rename one of them")
        .related(
            Located::new(&first.path, &first.text, first.span, "first defined here")
                .label("first definition"),
        );
        errors.push(ProjectError::Located(err));
        return false;
    }
    defs.insert(name.to_string(), def);
    true
}

/// `path` relative to `root` when inside it.
pub fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Load an untrusted draft (a script holding [`script::untrusted::MARK`]): parsed as the
/// restricted engine parses (no `call()` syntax), exactly one fn named after the file, marked
/// untrusted.
fn load_draft(
    path: &Path,
    shown: &Path,
    text: &Arc<str>,
) -> Result<(AST, Vec<ScriptFn>), ProjectError> {
    let mut parser = Engine::new_raw();
    parser.set_max_expr_depths(256, 128);
    parser.disable_symbol("eval");
    let (ast, mut fns) = script::compile_file(&parser, shown, text)?;
    script::untrusted::check(&ast, &file_stem(path), None).map_err(|rule| {
        ProjectError::invalid(
            shown,
            format!("an untrusted draft is one fn named after its file: {rule}"),
        )
    })?;
    fns.truncate(1);
    fns.iter_mut().for_each(|f| f.untrusted = true);
    Ok((ast, fns))
}

/// The file name of `path` without its extension (a script module's name).
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn list_dir(
    dir: &Path,
    ext: &str,
    errors: &mut Vec<ProjectError>,
    overlay: &Overlay,
) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            errors.push(ProjectError::io(dir, e));
            Vec::new()
        }
    };
    paths.retain(|p| overlay.get(p).is_none_or(Option::is_some));
    let added = overlay
        .iter()
        .filter(|(p, t)| t.is_some() && p.parent() == Some(dir));
    paths.extend(added.map(|(p, _)| p.clone()));
    paths.retain(|p| p.extension().is_some_and(|x| x == ext));
    paths.sort();
    paths.dedup();
    paths
}

/// The text of `path` as `overlay` leaves it; `None` when there is no such file (or it cannot
/// be read: that error is pushed to `errors`).
fn read_collect(
    path: &Path,
    errors: &mut Vec<ProjectError>,
    overlay: &Overlay,
) -> Option<Arc<str>> {
    if let Some(changed) = overlay.get(path) {
        return changed.clone();
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Arc::from(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(ProjectError::io(path, e));
            None
        }
    }
}
