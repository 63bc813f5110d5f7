//! The command line (DESIGN §10): clap definitions, resolution into [`Settings`], the commands,
//! and the one place errors are rendered and mapped to exit codes.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::approval::Mode;
use crate::call::{CallCtx, CallError};
use crate::error::{Error, ExitCode};
use crate::project::{self, Project, ProjectError};
use crate::runtime::{LiveText, Runtime};
use crate::script::{errors, value};
use crate::settings::Settings;
use crate::trace::{Toggle, Tree};

/// LLM applications as ordinary programs: workers (prompts) and Rhai functions behind one call.
#[derive(Debug, Parser)]
#[command(name = "llm-do", version, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A Rhai script to run (the main job).
    #[arg(value_name = "SCRIPT")]
    pub script: Option<PathBuf>,
    /// Arguments for the script (`args` in Rhai).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Project root (default: nearest folder upward holding llm-do.toml or workers/).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Model for every worker, e.g. `test`, `anthropic:claude-haiku-4-5`.
    #[arg(long, global = true, value_name = "ID")]
    pub model: Option<String>,
    /// Approve every tool call an LLM makes.
    #[arg(long, global = true, conflicts_with = "reject_all")]
    pub approve_all: bool,
    /// Reject every tool call an LLM makes.
    #[arg(long, global = true)]
    pub reject_all: bool,
    /// Maximum nesting of worker calls (default 5).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_depth: Option<u32>,
    /// Print results as JSON, strings included.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show the call tree on stderr (-vv adds inputs, outputs and messages, -vvv HTTP bodies).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Write trace events as JSON lines to FILE (for `shadow`: the trace to read).
    #[arg(long, global = true, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Record every model exchange into the cassette FILE (written at exit).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer model requests from the cassette FILE, offline; fail at the first difference.
    #[arg(long, global = true, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Print nothing but results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Run the script again whenever a project file or the script changes.
    #[arg(long, global = true)]
    pub watch: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one worker or fn with INPUT (text), `--input-json`, or stdin.
    Run {
        /// Worker, fn or builtin name.
        name: String,
        /// Input text (default: stdin when it is not a terminal).
        input: Option<String>,
        /// Input as a JSON value (a map of named arguments).
        #[arg(long, value_name = "JSON", conflicts_with = "input")]
        input_json: Option<String>,
    },
    /// Load and validate the whole project (no network).
    Check,
    /// List workers, fns and builtins with descriptions and sources.
    List,
    /// Summarise traces per worker and fn: calls, tokens, latency, distinct outputs.
    Stats {
        /// Trace files written with `--trace`.
        #[arg(required = true, value_name = "TRACE")]
        traces: Vec<PathBuf>,
    },
    /// Re-run the inputs NAME saw in `--trace FILE` through NAME as defined now and compare.
    Shadow {
        /// Worker or fn to verify.
        name: String,
    },
    /// Interactive session (also: bare `llm-do` on a terminal).
    Repl,
}

/// Stack size of runtime threads: Rhai evaluation recurses on the native stack, and scripts
/// run on blocking threads, so deep (but limited) script recursion needs room.
const SCRIPT_STACK: usize = 64 * 1024 * 1024;

/// Parse the process arguments, run, render any error; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    install_error_hook();
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(SCRIPT_STACK)
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Runtime as i32;
        }
    };
    match tokio.block_on(run(cli)) {
        Ok(()) => ExitCode::Ok as i32,
        Err(e) => {
            let code = e.exit_code();
            if !matches!(e, Error::Call(CallError::Cancelled)) {
                eprintln!("{:?}", miette::Report::new(e));
            } else {
                eprintln!("interrupted");
            }
            code as i32
        }
    }
}

fn install_error_hook() {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                .width(100)
                .build(),
        )
    }));
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Error> {
    let start = cli
        .script
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if cli.global.verbose >= 3 {
        crate::trace::http_log::install();
    }
    match cli.command {
        Some(Command::Stats { traces }) => crate::trace::commands::stats(&traces, cli.global.json),
        Some(Command::Shadow { name }) => {
            let Some(trace) = cli.global.trace.clone() else {
                return Err(Error::Usage {
                    message: "`shadow` needs the trace to read".into(),
                    help: Some(format!("usage: `llm-do shadow {name} --trace FILE`")),
                });
            };
            let root = root(&cli.global, Path::new("."), true)?;
            let rt = runtime_with(&cli.global, root, None, None, None)?;
            let shadow = async {
                Ok::<_, CallError>(crate::trace::commands::shadow(&rt, &name, &trace).await)
            };
            let result = with_interrupt(&rt, shadow).await;
            finish(&rt, &cli.global)?;
            result.map_err(Error::Call)?
        }
        Some(Command::Check) => check(&cli.global),
        Some(Command::List) => list(&cli.global),
        Some(Command::Repl) => repl(&cli.global).await,
        Some(Command::Run {
            name,
            input,
            input_json,
        }) => {
            let from_text = input_json.is_none();
            let input = run_input(input, input_json)?;
            let rt = runtime(&cli.global, root(&cli.global, Path::new("."), true)?, None)?;
            let callee = rt.resolve(&name).map_err(|e| match e {
                CallError::Unknown { name, help } => Error::Usage {
                    message: format!("unknown function or worker `{name}`"),
                    help,
                },
                other => Error::Call(other),
            })?;
            let input = match input {
                Value::String(text) if from_text => callee.input_from_text(&text),
                other => other,
            };
            let top = CallCtx::default();
            let call = rt.invoke(&top, &callee, crate::call::Input::Json(input));
            let out = with_interrupt(&rt, call).await;
            finish(&rt, &cli.global)?;
            print_value(&crate::script::value::to_json(&out?), cli.global.json);
            Ok(())
        }
        None => match cli.script {
            Some(script) if cli.global.watch => {
                let root = root(&cli.global, &start, false)?;
                let global = &cli.global;
                let args = cli.args;
                crate::watch::run(&root, &script, || {
                    run_script(global, &script, args.clone(), &start)
                })
                .await
            }
            Some(script) => run_script(&cli.global, &script, cli.args, &start).await,
            None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
                repl(&cli.global).await
            }
            None => Err(Error::Usage {
                message: "no script given".into(),
                help: Some(
                    "usage: `llm-do SCRIPT.rhai [ARGS]`, or `llm-do --help` for commands".into(),
                ),
            }),
        },
    }
}

/// Find the project root for a command.
fn root(global: &Global, start: &Path, required: bool) -> Result<PathBuf, Error> {
    if let Some(p) = &global.project {
        return p.canonicalize().map_err(|e| Error::Usage {
            message: format!("cannot use project `{}`: {e}", p.display()),
            help: None,
        });
    }
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    match project::discover(&start) {
        Some(r) => Ok(r),
        None if !required => Ok(start),
        None => Err(Error::Project(ProjectError::NotFound {
            start: start.display().to_string(),
        })),
    }
}

fn settings(global: &Global, root: PathBuf, config: &crate::config::Config) -> Settings {
    let mut s = Settings::new(root);
    s.model_override = global.model.clone();
    s.env_model = std::env::var(crate::env_vars::LLM_DO_MODEL)
        .ok()
        .filter(|m| !m.is_empty());
    s.max_depth = global
        .max_depth
        .or(config.limits.max_depth)
        .unwrap_or(s.max_depth);
    s.max_parallel = config.limits.max_parallel.unwrap_or(s.max_parallel);
    s.max_operations = config.limits.max_operations.unwrap_or(s.max_operations);
    s.approval = if global.approve_all {
        Mode::ApproveAll
    } else if global.reject_all {
        Mode::RejectAll
    } else {
        Mode::Normal
    };
    s.json = global.json;
    s.verbosity = global.verbose;
    s.quiet = global.quiet;
    s
}

/// Load the project at `root` into a runtime (tracing to `--trace` when given).
fn runtime(global: &Global, root: PathBuf, entry: Option<&Path>) -> Result<Arc<Runtime>, Error> {
    runtime_with(global, root, entry, global.trace.as_deref(), None)
}

/// The interactive session: the project of the current folder (or none), with a call tree
/// that `:trace on|off` switches.
async fn repl(global: &Global) -> Result<(), Error> {
    let tree = Arc::new(Tree::new(std::io::stderr(), global.verbose.max(1)));
    let toggle = Arc::new(Toggle::new(tree, global.verbose > 0));
    let rt = runtime_with(
        global,
        root(global, Path::new("."), false)?,
        None,
        None,
        Some(toggle.clone()),
    )?;
    crate::repl::run(rt, toggle, global.json).await
}

/// Load the project at `root` into a runtime writing trace events to `trace`, or reporting to
/// `observer` instead of what `-v`/`--trace` select.
fn runtime_with(
    global: &Global,
    root: PathBuf,
    entry: Option<&Path>,
    trace: Option<&Path>,
    observer: Option<Arc<Toggle>>,
) -> Result<Arc<Runtime>, Error> {
    let config_path = root.join(project::CONFIG_FILE);
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => crate::config::parse_config(Path::new(project::CONFIG_FILE), &text)
            .map_err(|e| Error::Project(ProjectError::from(e)))?,
        Err(_) => crate::config::Config::default(),
    };
    let settings = settings(global, root, &config);
    let observer: Arc<dyn crate::trace::Observer> = match observer {
        Some(o) => o,
        None => crate::trace::commands::observer(settings.verbosity, trace)?,
    };
    let live: Option<Arc<dyn LiveText>> = (settings.verbosity > 0
        && std::io::stderr().is_terminal())
    .then(|| Arc::new(LivePrinter::default()) as Arc<dyn LiveText>);
    let rt = Runtime::with_live(
        settings,
        tokio::runtime::Handle::current(),
        observer,
        live,
        entry,
    )?;
    if let Some(c) =
        crate::trace::commands::cassette(global.record.as_deref(), global.replay.as_deref())?
    {
        rt.set_cassette(c);
    }
    Ok(rt)
}

/// At exit: flush the trace and write a recorded cassette.
fn finish(rt: &Runtime, global: &Global) -> Result<(), Error> {
    rt.shutdown_mcp();
    crate::trace::commands::finish(rt, global.trace.as_deref())
}

/// Prints streamed model text to stderr as it arrives, dimmed on colour terminals.
#[derive(Default)]
struct LivePrinter {
    midline: std::sync::atomic::AtomicBool,
}

impl LiveText for LivePrinter {
    fn delta(&self, text: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{text}");
        let _ = err.flush();
        self.midline
            .store(!text.ends_with('\n'), std::sync::atomic::Ordering::Relaxed);
    }

    fn end(&self) {
        if self
            .midline
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            eprintln!();
        }
    }
}

/// Run `fut`, cancelling the call tree on Ctrl-C or SIGTERM; a second signal exits at once.
async fn with_interrupt<T>(
    rt: &Arc<Runtime>,
    fut: impl std::future::Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let cancel = rt.cancel.clone();
    // Handlers are installed before `fut` starts, so no signal can hit the default action
    // (killing the process mid-call) once the call tree runs.
    let mut signals = crate::interrupt::Signals::install();
    let watcher = tokio::spawn(async move {
        if signals.next().await {
            cancel.cancel();
            if signals.next().await {
                std::process::exit(ExitCode::Interrupted as i32);
            }
        }
    });
    let out = fut.await;
    watcher.abort();
    out
}

async fn run_script(
    global: &Global,
    script: &Path,
    args: Vec<String>,
    start: &Path,
) -> Result<(), Error> {
    let text: Arc<str> = std::fs::read_to_string(script)
        .map_err(|e| Error::Usage {
            message: format!("cannot read script `{}`: {e}", script.display()),
            help: None,
        })?
        .into();
    let root = root(global, start, false)?;
    let rt = runtime(global, root.clone(), Some(script))?;
    rt.prewarm_http();
    let abs = script
        .canonicalize()
        .unwrap_or_else(|_| script.to_path_buf());
    let shown = project::relative(&root, &abs);
    let (ast, _) = crate::script::compile_file(&rt.engine, &shown, &text)
        .map_err(|e| Error::Project(ProjectError::from(e)))?;
    let worker_rt = rt.clone();
    let eval = async move {
        tokio::task::spawn_blocking(move || worker_rt.eval_script(&ast, args))
            .await
            .map_err(|e| CallError::Script(e.to_string()))
    };
    let result = with_interrupt(&rt, eval).await;
    finish(&rt, global)?;
    let result = result.map_err(Error::Call)?;
    match result {
        Ok(v) => {
            print_value(&value::to_json(&v), global.json);
            Ok(())
        }
        Err(e) => match errors::termination(&e) {
            Some(errors::Termination::Aborted) => Err(Error::Call(CallError::Aborted)),
            Some(errors::Termination::Cancelled) => Err(Error::Call(CallError::Cancelled)),
            None => {
                let project = rt.project();
                let lookup = |name: &str| lookup_fn(&project, name);
                Err(Error::Script(errors::locate(&e, (&shown, &text), &lookup)))
            }
        },
    }
}

/// The file (shown path and text) defining a project fn.
fn lookup_fn(project: &Project, name: &str) -> Option<(PathBuf, Arc<str>)> {
    let f = project.fns.get(name)?;
    let text = std::fs::read_to_string(project.root.join(&f.path)).ok()?;
    Some((f.path.clone(), text.into()))
}

fn print_value(v: &Value, json: bool) {
    if let Some(s) = value::render(v, json) {
        println!("{s}");
    }
}

/// The input of `llm-do run`: `--input-json`, the INPUT text, or stdin when piped.
fn run_input(input: Option<String>, input_json: Option<String>) -> Result<Value, Error> {
    if let Some(j) = input_json {
        return serde_json::from_str(&j).map_err(|e| Error::Usage {
            message: format!("`--input-json` is not valid JSON: {e}"),
            help: Some("example: --input-json '{\"name\": \"x\"}'".into()),
        });
    }
    if let Some(text) = input {
        return Ok(Value::String(text));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Value::Null);
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| Error::Usage {
            message: format!("cannot read stdin: {e}"),
            help: None,
        })?;
    let text = text.trim_end_matches('\n');
    Ok(if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    })
}

fn check(global: &Global) -> Result<(), Error> {
    let rt = runtime(global, root(global, Path::new("."), true)?, None)?;
    let p = rt.project();
    let problems = crate::tools::shell::rule_problems(&p.config.shell);
    if let Some((i, why)) = problems.first() {
        let prefix = &p.config.shell.allow[*i].prefix;
        return Err(Error::Usage {
            message: format!(
                "`[shell] allow` rule #{} (prefix `{prefix}`) in llm-do.toml can never match: {why}",
                i + 1
            ),
            help: Some(
                "fix or remove the rule; commands are matched word by word without a shell".into(),
            ),
        });
    }
    if !global.quiet {
        println!(
            "ok: {} workers, {} fns in `{}`",
            p.workers.len(),
            p.fns.len(),
            p.root.display()
        );
    }
    Ok(())
}

fn list(global: &Global) -> Result<(), Error> {
    let rt = runtime(global, root(global, Path::new("."), true)?, None)?;
    let p = rt.project();
    let mut rows: Vec<[String; 4]> = Vec::new();
    for w in p.workers.values() {
        let source = w
            .path
            .as_ref()
            .map_or_else(|| "inline".into(), |p| p.display().to_string());
        rows.push([
            "worker".into(),
            w.name.clone(),
            w.description.clone().unwrap_or_default(),
            source,
        ]);
    }
    for f in p.fns.values() {
        let text = std::fs::read_to_string(p.root.join(&f.path)).unwrap_or_default();
        let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
        rows.push([
            "fn".into(),
            format!("{}({})", f.name, f.params.join(", ")),
            f.summary().to_string(),
            format!("{}:{line}", f.path.display()),
        ]);
    }
    for b in crate::script::builtins::BUILTINS {
        rows.push([
            "builtin".into(),
            format!("{}({})", b.name, b.params.join(", ")),
            b.summary.into(),
            "built-in".into(),
        ]);
    }
    for set in crate::tools::TOOLSET_NAMES {
        let tools: Vec<&str> = crate::tools::toolset(set)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name)
            .collect();
        rows.push([
            "toolset".into(),
            (*set).to_string(),
            format!("LLM tools: {}", tools.join(", ")),
            "built-in".into(),
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}
