//! The command line (DESIGN §10), a face of the program (DESIGN §12, layer 5): clap
//! definitions and their resolution into [`Settings`]; each command lives in its own file and
//! takes `Settings`, never clap types. Errors are rendered and mapped to exit codes in
//! [`crate::report`] only.

mod check;
mod dataset;
mod list;
mod logs;
mod repl;
mod run;
mod script;
mod setup;
mod shadow;
mod stats;
mod test;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::approval::Mode;
use crate::project::{self, ProjectError};
use crate::report::{Error, ExitCode};
use crate::settings::Settings;

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
    /// Do not append this run to the run log (`.llm-do/log.db`).
    #[arg(long, global = true)]
    pub no_log: bool,
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
    /// Run the cases of each NAME (`tests/NAME.jsonl`, worker `examples:`) and report agreement.
    Test {
        /// Workers or fns to test (default: every name with cases).
        names: Vec<String>,
        /// Run each case N times and report self-agreement (the noise floor).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Pass when overall agreement is at least X (0 to 1; default: every case must pass).
        #[arg(long, value_name = "X")]
        min_agreement: Option<f64>,
        /// Write a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Write the distinct inputs NAME saw in the run log as cases (JSONL), disputed ones marked.
    Dataset {
        /// Worker or fn whose calls to read.
        name: String,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Interactive session (also: bare `llm-do` on a terminal).
    Repl,
    /// Calls from the run log, newest first; `logs show RUN:ID` shows one whole.
    Logs {
        /// Only calls of this worker or fn (or `show`, then the call id).
        name: Option<String>,
        /// With `show`: the call id (`RUN:N`, as listed).
        id: Option<String>,
        /// At most this many calls.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// Only calls of this run (a unique part of its id).
        #[arg(long, value_name = "RUN")]
        run: Option<String>,
    },
}

/// Stack size of runtime threads: Rhai evaluation recurses on the native stack, and scripts
/// run on blocking threads, so deep (but limited) script recursion needs room.
const SCRIPT_STACK: usize = 64 * 1024 * 1024;

/// Parse the process arguments, run, render any error; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    crate::report::install_error_hook();
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(SCRIPT_STACK)
        .max_blocking_threads(crate::runtime::seam::BLOCKING_THREADS)
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            return crate::report::render(Error::Failed {
                message: format!("cannot start the async runtime: {e}"),
                help: None,
            }) as i32;
        }
    };
    match tokio.block_on(run(cli)) {
        Ok(()) => ExitCode::Ok as i32,
        Err(e) => crate::report::render(e) as i32,
    }
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
    let here = Path::new(".");
    let g = &cli.global;
    match cli.command {
        Some(Command::Stats { traces }) => stats::run(&traces, g.json),
        Some(Command::Shadow { name }) => shadow::run(&settings_for(g, here, true)?, &name).await,
        Some(Command::Check) => check::run(&settings_for(g, here, true)?),
        Some(Command::Test {
            names,
            repeat,
            min_agreement,
            junit,
        }) => {
            let args = test::TestArgs {
                names,
                repeat,
                min_agreement,
                junit,
            };
            test::run(&settings_for(g, here, true)?, &args).await
        }
        Some(Command::Dataset { name, output }) => {
            dataset::run(&settings_for(g, here, true)?, &name, output.as_deref())
        }
        Some(Command::List) => list::run(&settings_for(g, here, true)?),
        Some(Command::Repl) => repl::run(settings_for(g, here, false)?).await,
        Some(Command::Logs {
            name,
            id,
            limit,
            run,
        }) => {
            let query = match (name, id) {
                (Some(show), Some(id)) if show == "show" => logs::Query::Show(id),
                (name, None) => logs::Query::List { name, run, limit },
                (name, Some(extra)) => {
                    return Err(Error::Usage {
                        message: format!(
                            "unexpected `{extra}` after `logs {}`",
                            name.unwrap_or_default()
                        ),
                        help: Some(
                            "usage: `llm-do logs [NAME]` or `llm-do logs show RUN:ID`".into(),
                        ),
                    });
                }
            };
            logs::run(&settings_for(g, here, true)?, query)
        }
        Some(Command::Run {
            name,
            input,
            input_json,
        }) => {
            let input = run::read_input(input, input_json)?;
            run::run(settings_for(g, here, true)?, &name, input).await
        }
        None => match cli.script {
            Some(script) if g.watch => {
                let settings = settings_for(g, &start, false)?;
                script::watch(settings, &script, cli.args).await
            }
            Some(script) => script::run(settings_for(g, &start, false)?, &script, cli.args).await,
            None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
                repl::run(settings_for(g, here, false)?).await
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

/// The settings of a command run from `start`: the project root (`--project`, or discovered
/// upward; `required` makes a missing project an error), then flags over environment over
/// `llm-do.toml` over defaults.
fn settings_for(global: &Global, start: &Path, required: bool) -> Result<Settings, Error> {
    let root = root(global, start, required)?;
    let config_path = root.join(project::CONFIG_FILE);
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => crate::config::parse_config(Path::new(project::CONFIG_FILE), &text)
            .map_err(|e| Error::Project(ProjectError::from(e)))?,
        Err(_) => crate::config::Config::default(),
    };
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
    s.budget = crate::settings::Limits {
        max_cost_usd: config.limits.max_cost_usd,
        max_tokens: config.limits.max_tokens,
        max_requests: config.limits.max_requests,
        max_worker_runs: config.limits.max_worker_runs,
    };
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
    s.trace.clone_from(&global.trace);
    s.record.clone_from(&global.record);
    s.replay.clone_from(&global.replay);
    // The run log is kept only in a real project (not a bare folder a script runs from).
    s.log = !global.no_log && config.log.enabled != Some(false) && project::is_root(&s.root);
    s.log_retain_days = config.log.retain_days;
    Ok(s)
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
