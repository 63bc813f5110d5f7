//! The one place errors are rendered and mapped to exit codes (DESIGN §10, §12), and the one
//! way results reach stdout. Faces (the CLI, the REPL, `--watch`) return [`Error`] and print
//! through here: located errors as miette diagnostics, the rest uv-style (`error:`,
//! `Caused by:`, `hint:`). A closed stdout (`llm-do list | head`) ends the process quietly with
//! status 0, as ripgrep does; any other write failure (a full disk) is a clear error, never a
//! panic.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use miette::Diagnostic;
use serde_json::{Map, Value, json};

use crate::call::CallError;
use crate::error::Located;
use crate::output::{Escaped, escape};
use crate::project::ProjectError;

/// Process exit codes (DESIGN §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Runtime = 1,
    Usage = 2,
    Aborted = 3,
    Interrupted = 130,
}

/// Everything a command can fail with, rendered once by the CLI.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] ProjectError),
    #[error("{message}")]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Script(Located),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Call(#[from] CallError),
    /// Results could not be written to stdout (not a closed pipe: that exits quietly).
    #[error("cannot write to stdout: {0}")]
    Output(String),
    /// A command ran but did not succeed (e.g. `shadow` found disagreements): exit code 1.
    #[error("{message}")]
    Failed {
        message: String,
        #[help]
        help: Option<String>,
    },
}

impl Error {
    /// A usage error (exit 2) without a hint; [`Error::with_help`] adds one.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            help: None,
        }
    }

    /// A failure (exit 1) without a hint; [`Error::with_help`] adds one.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed {
            message: message.into(),
            help: None,
        }
    }

    /// The error with the hint `help` (usage errors and failures; other errors are unchanged).
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Error {
        if let Error::Usage { help: h, .. } | Error::Failed { help: h, .. } = &mut self {
            *h = Some(help.into());
        }
        self
    }

    /// A call's error where the name came from the command line: an unknown name is a usage
    /// error (exit 2), with its "did you mean".
    pub fn of_named_call(e: CallError) -> Error {
        match e {
            CallError::Unknown { name, help } => Error::Usage {
                message: format!("unknown function or worker `{name}`"),
                help,
            },
            CallError::NotAWorker { name, is, help } => Error::Usage {
                message: CallError::NotAWorker {
                    name,
                    is,
                    help: None,
                }
                .to_string(),
                help,
            },
            other => Error::Call(other),
        }
    }

    /// The process exit code for this error (DESIGN §10).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Project(_) | Error::Usage { .. } => ExitCode::Usage,
            Error::Script(_) | Error::Failed { .. } | Error::Output(_) => ExitCode::Runtime,
            Error::Call(CallError::Aborted) => ExitCode::Aborted,
            Error::Call(CallError::Cancelled) => ExitCode::Interrupted,
            Error::Call(_) => ExitCode::Runtime,
        }
    }
}

/// A run log that cannot be read is a failure of the command (exit 1).
impl From<crate::log::LogError> for Error {
    fn from(e: crate::log::LogError) -> Error {
        Error::failed(e.to_string())
    }
}

/// `--color`: whether diagnostics use colour (`auto`: on a terminal unless `NO_COLOR` is set).
pub use clap::ColorChoice as Color;

/// Whether to colour output written to stderr under `color`.
#[must_use]
pub fn colors_stderr(color: Color) -> bool {
    match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// `--error-format`: how errors are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    // For people: miette reports, or `error:` / `Caused by:` / `hint:`.
    #[default]
    Human,
    // For tools wrapping llm-do: one JSON object per error, on one line.
    Json,
}

/// The error format chosen once per process by [`install_error_hook`].
static FORMAT: OnceLock<ErrorFormat> = OnceLock::new();

/// Whether error lines on stderr are coloured, chosen once per process by
/// [`install_error_hook`] (`--color`, `NO_COLOR`, a terminal).
static COLOR: OnceLock<bool> = OnceLock::new();

/// The styles of an error's labels (as uv and cargo colour them).
const RED_BOLD: &str = "\x1b[1;31m";
const CYAN_BOLD: &str = "\x1b[1;36m";
const RESET: &str = "\x1b[0m";

/// `label` (`error`, `hint`) in `style` when error lines are coloured.
fn label(label: &str, style: &str) -> String {
    if COLOR.get() == Some(&true) {
        format!("{style}{label}{RESET}")
    } else {
        label.to_string()
    }
}

/// Print `error` on stderr the way its kind reads best and return the exit code for it.
pub fn render(error: Error) -> ExitCode {
    // A script stopped because its `print` could not write: say so, not "interrupted".
    let error = match (crate::output::print_failure(), error) {
        (Some(why), Error::Call(CallError::Cancelled)) => Error::Output(why.to_string()),
        (_, e) => e,
    };
    let code = error.exit_code();
    if FORMAT.get() == Some(&ErrorFormat::Json) {
        note(&escape(&error_json(&error).to_string(), Escaped::Json));
        return code;
    }
    let _ = io::stderr().lock().write_all(text(error).as_bytes());
    code
}

/// `error` as `--error-format json` writes it: `error`, `causes`, `help`, `location`,
/// `related` (see `to_json`) and the exit `code` (embedding programs raise it as data).
pub fn error_json(error: &Error) -> Value {
    // `to_json` makes an object.
    let mut v = to_json(error);
    v["code"] = json!(error.exit_code() as i32);
    v
}

/// The text [`render`] writes for `error` in the human format (for faces that hand errors
/// on instead of printing them, e.g. MCP tool errors of `llm-do mcp serve`).
pub fn text(error: Error) -> String {
    match error {
        Error::Call(CallError::Cancelled) => "interrupted\n".to_string(),
        // Messages and source lines may hold what a model or a file wrote: escaped, keeping
        // only miette's own colours.
        e if is_located(&e) => {
            escape(&format!("{:?}\n", miette::Report::new(e)), Escaped::Styled).into_owned()
        }
        e => escape(&plain(&e), Escaped::Styled).into_owned(),
    }
}

/// Whether miette has a source snippet to show for `e` (or for something related to it).
fn is_located(e: &Error) -> bool {
    e.source_code().is_some() || e.related().is_some_and(|mut r| r.next().is_some())
}

/// One `error: message` line (no newline), its label coloured as [`render`] colours it; with
/// `--error-format json`, `{"error": message}` on one line. The one renderer of an error that
/// a face reports and then goes on (a REPL line, a meta-command, a chat turn).
pub fn error_line(message: &str) -> String {
    if FORMAT.get() == Some(&ErrorFormat::Json) {
        return escape(&json!({ "error": message }).to_string(), Escaped::Json).into_owned();
    }
    let message = escape(message, Escaped::Text);
    format!("{}: {message}", label("error", RED_BOLD))
}

/// [`error_line`] on stderr, followed in human format by `detail` (lines already escaped,
/// such as a syntax error's source line and caret); the caller goes on.
pub fn error_note(message: &str, detail: Option<&str>) {
    match detail {
        Some(d) if FORMAT.get() != Some(&ErrorFormat::Json) => {
            note(&format!("{}\n{d}", error_line(message)));
        }
        _ => note(&error_line(message)),
    }
}

/// How one line of an interactive face (a REPL line, a chat turn) ended, when not well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setback {
    /// Ctrl-C cancelled it.
    Interrupted,
    /// A person refused a tool call at the approval prompt.
    Aborted,
    /// It failed with this message.
    Failed(String),
}

/// Say on stderr how a line or turn ended ([`Setback`]), in `--error-format`, and go on:
/// `interrupted`, `aborted at the approval prompt`, or an [`error_line`].
pub fn setback(s: &Setback) {
    let json = FORMAT.get() == Some(&ErrorFormat::Json);
    match s {
        Setback::Interrupted if !json => note("interrupted"),
        Setback::Aborted if !json => note("aborted at the approval prompt"),
        Setback::Interrupted => note(&error_line("interrupted")),
        Setback::Aborted => note(&error_line("aborted at the approval prompt")),
        Setback::Failed(m) => note(&error_line(m)),
    }
}

/// An unlocated error, uv-style: `error: msg`, then `Caused by:` lines and a `hint:`.
fn plain(e: &Error) -> String {
    let mut out = format!("{}\n", error_line(&e.to_string()));
    let mut cause = std::error::Error::source(e);
    if cause.is_some() {
        out.push_str("  Caused by:\n");
    }
    while let Some(c) = cause {
        out.push_str(&format!("    {c}\n"));
        cause = c.source();
    }
    if let Some(help) = e.help() {
        out.push_str(&format!("  {}: {help}\n", label("hint", CYAN_BOLD)));
    }
    out
}

/// A usage error found by the argument parser, in `format`; returns its exit code (2).
pub fn render_usage(text: &str, format: ErrorFormat) -> ExitCode {
    let text = if format == ErrorFormat::Json {
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let mut v = json!({"error": message, "code": ExitCode::Usage as i32});
        if let Some(tip) = text.lines().find_map(|l| l.trim().strip_prefix("tip: ")) {
            v["help"] = json!(tip);
        }
        format!("{v}\n")
    } else {
        text.to_string()
    };
    let _ = io::stderr().lock().write_all(text.as_bytes());
    ExitCode::Usage
}

/// An error as one JSON object: `error`, `causes` (the chain of what caused it, outermost
/// first) when there are any, `help` when there is one, `location` (`file`, 1-based `line` and
/// `column`) when located, and `related` errors (e.g. each of several project errors).
fn to_json(e: &dyn Diagnostic) -> Value {
    let mut m = Map::new();
    m.insert("error".into(), json!(e.to_string()));
    let causes: Vec<Value> = std::iter::successors(e.source(), |c| c.source())
        .map(|c| json!(c.to_string()))
        .collect();
    if !causes.is_empty() {
        m.insert("causes".into(), Value::Array(causes));
    }
    if let Some(help) = e.help() {
        m.insert("help".into(), json!(help.to_string()));
    }
    if let Some(loc) = location(e) {
        m.insert("location".into(), loc);
    }
    let related: Vec<Value> = e.related().into_iter().flatten().map(to_json).collect();
    if !related.is_empty() {
        if !m.contains_key("location") {
            if let Some(loc) = related.iter().find_map(|r| r.get("location")) {
                m.insert("location".into(), loc.clone());
            }
        }
        m.insert("related".into(), Value::Array(related));
    }
    Value::Object(m)
}

/// Where the first label of `e` points, as `{"file", "line", "column"}` (1-based).
fn location(e: &dyn Diagnostic) -> Option<Value> {
    let src = e.source_code()?;
    let span = e.labels()?.next()?.inner().to_owned();
    let at = src.read_span(&span, 0, 0).ok()?;
    Some(json!({
        "file": at.name().unwrap_or_default(),
        "line": at.line() + 1,
        "column": at.column() + 1,
    }))
}

/// Set up rendering once per process: miette's colour (`--color`, `NO_COLOR`) and the error
/// format.
pub fn install_error_hook(color: Color, format: ErrorFormat) {
    let _ = FORMAT.set(format);
    let color = colors_stderr(color);
    let _ = COLOR.set(color);
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

/// A line of commentary on stderr (never fails: a closed stderr loses only commentary).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Write `text` to stdout. A closed pipe ends the process at once with status 0 (the reader
/// has all it wanted); other failures are returned as an [`Error`].
///
/// # Errors
///
/// [`Error::Output`] when stdout cannot be written (e.g. a full disk).
pub fn out(text: &str) -> Result<(), Error> {
    crate::output::stdout(text).map_err(|e| Error::Output(e.to_string()))
}

/// Print a command's result, the one printer of every command and REPL meta-command: its
/// text, or with `json` its JSON ([`crate::output::shown`]).
///
/// # Errors
///
/// As [`out`].
pub fn show(value: &impl crate::output::Show, json: bool) -> Result<(), Error> {
    out(&crate::output::shown(value, json))
}

/// [`out`] with a newline.
///
/// # Errors
///
/// As [`out`].
pub fn out_line(text: &str) -> Result<(), Error> {
    out(&format!("{text}\n"))
}

/// Print a result value: strings raw, the rest as JSON (`json`: always JSON). On a terminal,
/// controls in it are shown escaped ([`crate::output::escape`]); to a pipe or a file it is the
/// data as it is.
///
/// # Errors
///
/// Stdout cannot be written.
pub fn show_value(v: &Value, json: bool) -> Result<(), Error> {
    let Some(s) = crate::script::value::render(v, json) else {
        return Ok(());
    };
    if io::stdout().is_terminal() {
        let how = if json { Escaped::Json } else { Escaped::Text };
        return out_line(&escape(&s, how));
    }
    out_line(&s)
}
