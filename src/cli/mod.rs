//! The command line (DESIGN §10, §16), a face of the program (DESIGN §12, layer 5): clap
//! definitions and their resolution into [`Settings`]; each command lives in its own file and
//! takes `Settings`, never clap types. Errors are rendered and mapped to exit codes in
//! [`crate::report`] only.
//!
//! Flags belong to the commands they apply to: [`Global`] ones everywhere, [`RunOptions`]
//! (model, approvals, traces, cassettes, `-v`) on each command that runs calls, [`Json`] and
//! [`Quiet`] on each command that has a JSON form or text to leave out, `--watch` and the
//! script's ARGS on the script form only.

mod batch;
mod chat;
mod check;
mod completions;
mod config;
mod dataset;
mod http;
mod init;
mod list;
mod logs;
mod models;
mod options;
mod repl;
mod run;
mod script;
mod serve;
mod shadow;
mod stabilize;
mod stats;
mod test;
mod view;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use self::options::OutputFlags;
use crate::approval::Mode;
use crate::report::{Color, Error, ErrorFormat, ExitCode};
use crate::session::Closings;
use crate::settings::Settings;

/// LLM applications as ordinary programs: workers (prompts) and Rhai functions behind one call.
#[derive(Debug, Parser)]
#[command(
    name = "llm-do",
    version,
    disable_version_flag = true,
    override_usage = "llm-do [OPTIONS] SCRIPT [ARGS]...\n       llm-do [OPTIONS] <COMMAND>"
)]
pub struct Cli {
    /// Print the version (with `-v`: commit, target and features).
    #[arg(short = 'V', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub global: Global,
}

/// The script form: `llm-do [OPTIONS] SCRIPT [ARGS]...`.
#[derive(Debug, Args)]
pub struct ScriptArgs {
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
    /// Run the script again whenever a project file or the script changes.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub out: Output,
}

/// `--json` and `-q`, on the commands that take both.
#[derive(Debug, Default, Clone, Copy, Args)]
pub struct Output {
    #[command(flatten)]
    pub json: Json,
    #[command(flatten)]
    pub quiet: Quiet,
}

/// `--json`, on the commands that have a JSON form (declared here once, flattened into each).
#[derive(Debug, Default, Clone, Copy, Args)]
#[command(next_help_heading = "Output options")]
pub struct Json {
    /// Print results as JSON (pretty, 2-space indents), strings included.
    #[arg(long)]
    pub json: bool,
}

/// `-q`, on the commands that have something to leave out.
#[derive(Debug, Default, Clone, Copy, Args)]
#[command(next_help_heading = "Output options")]
pub struct Quiet {
    /// Print nothing but results and errors (not with `-v`).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Project root (default: nearest folder upward holding llm-do.toml or workers/).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// When to colour diagnostics (`auto`: on a terminal without `NO_COLOR`).
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: Color,
    /// How errors are written to stderr (`json`: one object per error, for tools).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "human")]
    pub error_format: ErrorFormat,
}

/// Which calls of the run log a reader sees (`logs`, `stats`, `dataset`).
#[derive(Debug, Default, Args)]
pub struct LogScope {
    /// Only calls since then: a duration back from now (`30m`, `3h`, `7d`, `2w`) or an RFC 3339
    /// timestamp (`2026-12-01T09:30:00Z`, `2026-12-01`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only calls before then (same forms as `--since`).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only calls answered by this model (as the log names it, e.g. `test`).
    #[arg(long = "model", value_name = "MODEL")]
    pub model: Option<String>,
}

impl LogScope {
    /// The scope these flags name (bounds read now).
    fn resolve(self) -> Result<stats::Scope, Error> {
        let (since, until) = (self.since.as_deref(), self.until.as_deref());
        let window = crate::log::Window::parse(since, until, std::time::SystemTime::now())
            .map_err(|e| Error::usage(e.to_string()))?;
        Ok(stats::Scope {
            window,
            model: self.model,
        })
    }
}

/// Flags of the commands that run calls: the script form and each command whose variant
/// carries them (`Command::takes` in `options`).
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Run options")]
pub struct RunOptions {
    /// Model for every worker, e.g. `test`, `anthropic:claude-haiku-4-5`.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// Approve every tool call an LLM makes.
    #[arg(long, conflicts_with = "reject_all")]
    pub approve_all: bool,
    /// Reject every tool call an LLM makes.
    #[arg(long)]
    pub reject_all: bool,
    /// Maximum nesting of worker calls (default 5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_depth: Option<u32>,
    /// Write trace events as JSON lines to FILE (for `shadow`: the trace to read).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Record every model exchange into the cassette FILE (written at exit).
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer model requests from the cassette FILE, offline; fail at the first difference.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Do not append this run to the run log (`.llm-do/log.db`).
    #[arg(long)]
    pub no_log: bool,
    /// Show the call tree on stderr (-vv adds inputs, outputs and messages, -vvv HTTP bodies).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl RunOptions {
    /// These options, with any left unset taken from `outer` (given before the command name:
    /// `llm-do --model test run NAME`).
    #[must_use]
    pub fn or(self, outer: RunOptions) -> RunOptions {
        RunOptions {
            model: self.model.or(outer.model),
            approve_all: self.approve_all || (outer.approve_all && !self.reject_all),
            reject_all: self.reject_all || (outer.reject_all && !self.approve_all),
            max_depth: self.max_depth.or(outer.max_depth),
            trace: self.trace.or(outer.trace),
            record: self.record.or(outer.record),
            replay: self.replay.or(outer.replay),
            no_log: self.no_log || outer.no_log,
            verbose: self.verbose.max(outer.verbose),
        }
    }

    /// The first option set, as written on the command line (for "does not apply" errors).
    fn first_set(&self) -> Option<&'static str> {
        [
            (self.model.is_some(), "--model"),
            (self.approve_all, "--approve-all"),
            (self.reject_all, "--reject-all"),
            (self.max_depth.is_some(), "--max-depth"),
            (self.trace.is_some(), "--trace"),
            (self.record.is_some(), "--record"),
            (self.replay.is_some(), "--replay"),
            (self.no_log, "--no-log"),
            (self.verbose > 0, "--verbose"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one worker or fn with INPUT (text), `@FILE`, `--input-json`, or stdin.
    Run {
        /// Worker, fn or builtin name.
        name: String,
        /// Input text, or `@FILE` to read it from FILE (JSON when FILE ends in `.json`).
        /// Default: stdin when it is not a terminal.
        input: Option<String>,
        /// Input as a JSON value (a map of named arguments).
        #[arg(long, value_name = "JSON", conflicts_with_all = ["input", "input_file"])]
        input_json: Option<String>,
        /// Read the input from FILE (JSON when FILE ends in `.json`).
        #[arg(long, value_name = "FILE", conflicts_with = "input")]
        input_file: Option<PathBuf>,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        out: Output,
    },
    /// Load and validate the whole project (no network).
    Check(Output),
    /// List workers, fns and builtins with descriptions and sources.
    List(Json),
    /// Summarise traces per worker and fn: calls, tokens, latency, distinct outputs.
    Stats {
        /// Trace files written with `--trace` (default: the run log).
        #[arg(value_name = "TRACE")]
        traces: Vec<PathBuf>,
        #[command(flatten)]
        scope: LogScope,
        #[command(flatten)]
        json: Json,
    },
    /// Re-run the inputs NAME saw in `--trace FILE` through NAME as defined now and compare.
    Shadow {
        /// Worker or fn to verify.
        name: String,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        out: Output,
    },
    /// Run the cases of each NAME (`tests/NAME.jsonl`, worker `examples:`) and report agreement.
    Test {
        /// Workers or fns to test (default: every name with cases).
        names: Vec<String>,
        #[command(flatten)]
        run: RunOptions,
        /// Run each case N times and report self-agreement (the noise floor).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Pass when overall agreement is at least X (0 to 1; default: every case must pass).
        #[arg(long, value_name = "X")]
        min_agreement: Option<f64>,
        /// Write a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
    /// Turn worker NAME into code: `--draft` asks a model for the fn, tests it on the cases and
    /// writes it as an untrusted draft (with `[stabilize] NAME = "shadow"`) only if it reaches
    /// the worker's self-agreement or `--min-agreement`; `--accept` trusts the draft.
    #[command(
        group(clap::ArgGroup::new("action").required(true).args(["draft", "accept"])),
        mut_arg("model", |a| a.help("The model that drafts the fn, e.g. `anthropic:claude-haiku-4-5` (the worker keeps its own model for its runs)"))
    )]
    Stabilize {
        /// The worker to stabilize.
        name: String,
        /// Draft the fn with a model: written to `scripts/drafts/NAME.rhai`, untrusted (it runs
        /// in the restricted engine) until accepted.
        #[arg(long)]
        draft: bool,
        /// Accept the draft after reading it: it becomes trusted code in `scripts/NAME.rhai`.
        #[arg(long, conflicts_with_all = ["attempts", "min_agreement"])]
        accept: bool,
        /// Drafts to try at most, each told how the last one failed.
        #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        attempts: u32,
        /// Write the draft when it agrees with at least X of the cases (0 to 1; default: the
        /// worker's own self-agreement, measured with 3 runs per case).
        #[arg(long, value_name = "X")]
        min_agreement: Option<f64>,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// Run NAME over every line of INPUTS (JSONL) into OUT, in input order, resumably.
    Batch {
        /// Worker or fn to run on each input.
        name: String,
        /// One input per line: a map of named arguments or a string.
        inputs: PathBuf,
        /// Where results go, one line per input (`{"line", "input", "output"|"error"}`).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Also rerun the inputs whose line in OUT is an error (OUT stays in input order).
        #[arg(long)]
        retry_errors: bool,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        out: Output,
    },
    /// Write the distinct inputs NAME saw in the run log as cases (JSONL), disputed ones marked.
    Dataset {
        /// Worker or fn whose calls to read.
        name: String,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        scope: LogScope,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// List providers (base URL, key variable), `[models]` aliases and prices.
    Models(Json),
    /// Talk with WORKER, turn by turn (a prompt, or one turn per line from a pipe).
    ///
    /// Each turn sends the conversation so far. `/exit` or Ctrl-D ends it; Ctrl-C cancels the
    /// reply being written. The run log keeps the conversation for `--continue`.
    Chat {
        /// The worker to talk with.
        worker: String,
        /// Continue the newest conversation with WORKER kept in the run log.
        #[arg(long = "continue")]
        resume: bool,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        out: Output,
    },
    /// Interactive session (also: bare `llm-do` on a terminal).
    Repl {
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        out: Output,
    },
    /// A read-only local web page over the run log: runs, a run's call tree, names.
    ///
    /// Prints the page's URL (with a random token; requests without it are refused) and opens
    /// it in the browser when on a terminal. Serves until Ctrl-C.
    View {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address to listen on. Without it, only 127.0.0.1: the page shows prompts and
        /// outputs, so another interface must be asked for by name.
        #[arg(long, value_name = "ADDR")]
        host: Option<std::net::IpAddr>,
    },
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
        /// List runs instead of calls: when, how each ended (`unfinished`: killed or still
        /// going), how long it took, its calls, its command line.
        #[arg(long, conflicts_with_all = ["name", "id", "run", "query", "model"])]
        runs: bool,
        /// Only calls whose input or output has every word of TEXT (full-text search; `-q` is
        /// `--quiet` everywhere, so this has no short form).
        #[arg(long = "query", alias = "search", value_name = "TEXT")]
        query: Option<String>,
        #[command(flatten)]
        scope: LogScope,
        #[command(flatten)]
        json: Json,
    },
    /// Create a working project in DIR (default: the current folder); never overwrites.
    Init {
        /// Folder to create the project in (created when missing).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    ///
    /// E.g. `llm-do completions bash > ~/.local/share/bash-completion/completions/llm-do`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, e.g. `llm-do man | man -l -`.
    Man {
        /// The command whose page to print (default: llm-do's own, which lists the commands).
        command: Option<String>,
    },
    /// Model Context Protocol: serve this project to MCP clients.
    Mcp {
        #[command(subcommand)]
        action: McpAction,
    },
    /// The user configuration (`$XDG_CONFIG_HOME/llm-do/config.toml`).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `llm-do mcp ...`
#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Serve the project's workers, fns and `[stabilize]` names as MCP tools on stdio (the
    /// form agents' config files launch), e.g. `claude mcp add llm-do -- llm-do mcp serve
    /// --project DIR`, or over streamable HTTP (`--http`). `[serve] expose` in llm-do.toml
    /// picks the names.
    Serve {
        /// Print the tools a client would see and exit (`--json`: their definitions).
        #[arg(long)]
        list: bool,
        /// Serve over streamable HTTP on ADDR (e.g. `127.0.0.1:8765`; port 0 picks one) instead
        /// of stdio, until Ctrl-C; a loopback address unless `--http-allow-remote`.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Let `--http` listen on a non-loopback address (there is no login: put it behind a
        /// proxy that authenticates).
        #[arg(long, requires = "http")]
        http_allow_remote: bool,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        json: Json,
    },
}

/// `llm-do config ...`
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ConfigAction {
    /// Print the path of the user configuration file (it need not exist).
    Path(Json),
    /// Print the effective configuration: the project's `llm-do.toml` over the user's file.
    Show(Json),
}

/// Stack size of runtime threads: Rhai evaluation recurses on the native stack, and scripts
/// run on blocking threads, so deep (but limited) script recursion needs room.
const SCRIPT_STACK: usize = 64 * 1024 * 1024;

/// Parse the process arguments, run, render any error; returns the exit code.
pub fn main() -> i32 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (color, format) = early_flags(&argv);
    let parsed = Cli::command()
        .color(color)
        .try_get_matches_from(&argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(mut e) if e.use_stderr() => {
            suggest_subcommand(&mut e);
            let text = e.render();
            let text = if crate::report::colors_stderr(color) && format == ErrorFormat::Human {
                text.ansi().to_string()
            } else {
                text.to_string()
            };
            return crate::report::render_usage(&text, format) as i32;
        }
        // `--help` and `help`: not errors.
        Err(e) => return i32::from(e.print().is_err()),
    };
    crate::report::install_error_hook(cli.global.color, cli.global.error_format);
    // `check` runs nothing: no worker threads to start.
    let mut builder = if matches!(cli.command, Some(Command::Check(_))) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let tokio = match builder
        .enable_all()
        .thread_stack_size(SCRIPT_STACK)
        .max_blocking_threads(crate::runtime::seam::BLOCKING_THREADS)
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            return crate::report::render(Error::failed(format!(
                "cannot start the async runtime: {e}"
            ))) as i32;
        }
    };
    let closings = Closings::default();
    let result = tokio.block_on(run(cli, &closings));
    drop(tokio);
    // A run's log is committed while the runtime shuts down; its failure fails the command.
    let logged = closings.wait();
    match (result, logged) {
        (Ok(()), Ok(())) => ExitCode::Ok as i32,
        (Err(e), Ok(())) | (Ok(()), Err(e)) => crate::report::render(e) as i32,
        (Err(e), Err(log)) => {
            let code = crate::report::render(e);
            crate::report::render(log);
            code as i32
        }
    }
}

/// An unknown command name that clap leaves without a "did you mean" (`llm-do help chek`)
/// gets one.
fn suggest_subcommand(e: &mut clap::Error) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand || e.get(ContextKind::SuggestedSubcommand).is_some()
    {
        return;
    }
    let Some(ContextValue::String(name)) = e.get(ContextKind::InvalidSubcommand) else {
        return;
    };
    let cmd = Cli::command();
    let names = cmd.get_subcommands().map(clap::Command::get_name);
    if let Some(best) = crate::suggest::similar(name, names).first() {
        e.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::String((*best).to_string()),
        );
    }
}

/// `--color` and `--error-format` read before parsing, so that usage errors follow them.
fn early_flags(argv: &[std::ffi::OsString]) -> (Color, ErrorFormat) {
    use clap::ValueEnum;
    let mut color = Color::Auto;
    let mut format = ErrorFormat::Human;
    let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    for (i, a) in args.iter().enumerate() {
        if *a == "--" {
            break;
        }
        let value = |name: &str| {
            a.strip_prefix(&format!("{name}="))
                .or_else(|| (*a == name).then(|| args.get(i + 1).copied()).flatten())
        };
        if let Some(c) = value("--color").and_then(|v| Color::from_str(v, true).ok()) {
            color = c;
        }
        if let Some(f) = value("--error-format").and_then(|v| ErrorFormat::from_str(v, true).ok()) {
            format = f;
        }
    }
    (color, format)
}

/// Run a parsed command line; the run logs of the sessions it ends are left closing in
/// `closings`.
pub async fn run(cli: Cli, closings: &Closings) -> Result<(), Error> {
    let (g, outer) = (cli.global, &cli.script);
    if cli.version {
        return version(outer.run.verbose);
    }
    let (command, out) = match cli.command {
        // Flags before the command name belong to it when it takes them.
        Some(mut command) => options::settle(&mut command, outer).map(|out| (Some(command), out)),
        None => {
            let (json, quiet) = (outer.out.json.json, outer.out.quiet.quiet);
            OutputFlags::new(json, quiet, outer.run.verbose).map(|out| (None, out))
        }
    }?;
    if out.verbose >= 3 {
        crate::trace::http_log::install();
    }
    match command {
        Some(command) => dispatch(command, &g, out, closings).await,
        None => script_form(cli.script, &g, out, closings).await,
    }
}

/// Hand one command's arguments to its file (settings resolved here, the rest there).
async fn dispatch(
    command: Command,
    g: &Global,
    out: OutputFlags,
    closings: &Closings,
) -> Result<(), Error> {
    let none = RunOptions::default();
    let project = |run: &RunOptions| settings_for(g, out, run, Path::new("."), true);
    let anywhere = |run: &RunOptions| settings_for(g, out, run, Path::new("."), false);
    match command {
        Command::Stats { traces, scope, .. } if traces.is_empty() => {
            stats::from_log(&project(&none)?, &scope.resolve()?)
        }
        Command::Stats { traces, scope, .. } => {
            if scope.since.is_some() || scope.until.is_some() || scope.model.is_some() {
                return Err(Error::usage(
                    "`--since`, `--until` and `--model` read the run log, not trace files",
                ));
            }
            stats::run(&traces, out.json)
        }
        Command::Shadow { name, run, .. } => shadow::run(&project(&run)?, &name, closings).await,
        Command::Check(_) => check::run(&project(&none)?),
        Command::Test {
            names,
            run,
            repeat,
            min_agreement,
            junit,
            ..
        } => {
            test::run(
                &project(&run)?,
                &test::TestArgs {
                    names,
                    repeat,
                    min_agreement,
                    junit,
                },
                closings,
            )
            .await
        }
        Command::Stabilize {
            name,
            accept,
            attempts,
            min_agreement,
            mut run,
            ..
        } => {
            // `--model` picks the drafting model; the worker keeps its own for its runs.
            let draft = stabilize::Draft {
                model: run.model.take(),
                attempts,
                min_agreement,
            };
            let draft = (!accept).then_some(draft);
            stabilize::run(&project(&run)?, &name, draft, closings).await
        }
        Command::Batch {
            name,
            inputs,
            output,
            retry_errors,
            run,
            ..
        } => {
            batch::run(
                &project(&run)?,
                &name,
                &inputs,
                &output,
                retry_errors,
                closings,
            )
            .await
        }
        Command::Dataset {
            name,
            output,
            scope,
            ..
        } => dataset::run(
            &project(&none)?,
            &name,
            output.as_deref(),
            &scope.resolve()?,
        ),
        Command::Logs {
            name,
            id,
            limit,
            run,
            runs,
            query: text,
            scope,
            ..
        } => {
            // A malformed query is said before a missing project.
            let query = logs::Query::from_cli(name, id, limit, run, runs, text, scope.resolve()?)?;
            logs::run(&project(&none)?, query)
        }
        Command::View { port, host } => view::run(&project(&none)?, port, host).await,
        Command::List(_) => list::run(&project(&none)?),
        Command::Models(_) => models::run(&anywhere(&none)?),
        Command::Repl { run, .. } => repl::run(anywhere(&run)?, closings).await,
        Command::Chat {
            worker,
            resume,
            run,
            ..
        } => chat::run(project(&run)?, &worker, resume, closings).await,
        Command::Run {
            name,
            input,
            input_json,
            input_file,
            run,
            ..
        } => {
            // The input is read before the project is looked for.
            let input = run::read_input(input, input_json, input_file)?;
            run::run(project(&run)?, &name, input, closings).await
        }
        Command::Init { dir, .. } => init::run(
            dir.as_deref().unwrap_or(Path::new(".")),
            out.quiet,
            out.json,
        ),
        Command::Mcp {
            action:
                McpAction::Serve {
                    list,
                    http,
                    http_allow_remote,
                    run,
                    ..
                },
        } => {
            let transport = serve::Transport::of(http, http_allow_remote)?;
            serve::run(project(&run)?, list, transport).await
        }
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { command } => completions::man(command.as_deref()),
        Command::Config {
            action: ConfigAction::Path(_),
        } => config::path(out.json),
        Command::Config {
            action: ConfigAction::Show(_),
        } => config::show_config(&anywhere(&none)?),
    }
}

/// `llm-do [OPTIONS] SCRIPT [ARGS]...`, or the REPL on a terminal when no script is given.
async fn script_form(
    s: ScriptArgs,
    g: &Global,
    out: OutputFlags,
    closings: &Closings,
) -> Result<(), Error> {
    let here = Path::new(".");
    let Some(script) = s.script else {
        if s.watch {
            return Err(Error::usage("`--watch` needs a script to run")
                .with_help("usage: `llm-do SCRIPT.rhai --watch`"));
        }
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return repl::run(settings_for(g, out, &s.run, here, false)?, closings).await;
        }
        return Err(Error::usage("no script given")
            .with_help("usage: `llm-do SCRIPT.rhai [ARGS]`, or `llm-do --help` for commands"));
    };
    if let Some(e) = mistyped_command(&script) {
        return Err(e);
    }
    let start = script
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let settings = settings_for(g, out, &s.run, &start, false)?;
    if s.watch {
        script::watch(settings, &script, s.args, closings).await
    } else {
        script::run(settings, &script, s.args, closings).await
    }
}

/// A SCRIPT that is no file but close to a subcommand name (`llm-do chek`) is a typo.
fn mistyped_command(script: &Path) -> Option<Error> {
    if script.exists() {
        return None;
    }
    let name = script.to_str()?;
    let cmd = Cli::command();
    let names: Vec<&str> = cmd
        .get_subcommands()
        .map(clap::Command::get_name)
        .chain(["help"])
        .collect();
    let help = crate::suggest::did_you_mean(name, names)?;
    Some(
        Error::usage(format!("unknown command or script `{name}`"))
            .with_help(format!("{help} (`llm-do --help` lists the commands)")),
    )
}

/// `llm-do --version`; with `-v` also the commit, target and enabled features.
fn version(verbose: u8) -> Result<(), Error> {
    let mut text = format!("llm-do {}\n", env!("CARGO_PKG_VERSION"));
    if verbose > 0 {
        text.push_str(&format!(
            "commit: {}\ntarget: {}\nfeatures: {}\n",
            env!("LLM_DO_COMMIT"),
            env!("LLM_DO_TARGET"),
            env!("LLM_DO_FEATURES")
        ));
    }
    crate::report::out(&text)
}

/// The clap command tree (for completions and the manual page).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The settings of a command run from `start`: the project's ([`crate::session::settings`];
/// `--project`, or discovered upward; `required` makes a missing project an error) with the
/// flags over them (`out`: the command's resolved output flags).
fn settings_for(
    global: &Global,
    out: OutputFlags,
    run: &RunOptions,
    start: &Path,
    required: bool,
) -> Result<Settings, Error> {
    let mut s = crate::session::settings(global.project.as_deref(), start, required)?;
    s.model_override.clone_from(&run.model);
    s.max_depth = run.max_depth.unwrap_or(s.max_depth);
    s.approval = if run.approve_all {
        Mode::ApproveAll
    } else if run.reject_all {
        Mode::RejectAll
    } else {
        Mode::Normal
    };
    s.json = out.json;
    s.verbosity = out.verbose;
    s.quiet = out.quiet;
    s.trace.clone_from(&run.trace);
    s.record.clone_from(&run.record);
    s.replay.clone_from(&run.replay);
    s.log &= !run.no_log;
    Ok(s)
}

#[cfg(test)]
mod tests;
