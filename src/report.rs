//! The one place errors are rendered and mapped to exit codes (DESIGN §10, §12), and the one
//! way results reach stdout. Faces (the CLI, the REPL, `--watch`) return [`Error`] and print
//! through here: located errors as miette diagnostics, the rest uv-style (`error:`,
//! `Caused by:`, `hint:`). A closed stdout (`llm-do list | head`) ends the process quietly with
//! status 0, as ripgrep does; any other write failure (a full disk) is a clear error, never a
//! panic.

use std::io::{self, IsTerminal, Write};

use miette::Diagnostic;

use crate::call::CallError;
use crate::error::Located;
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

/// Print `error` on stderr the way its kind reads best and return the exit code for it.
pub fn render(error: Error) -> ExitCode {
    // A script stopped because its `print` could not write: say so, not "interrupted".
    let error = match (crate::output::print_failure(), error) {
        (Some(why), Error::Call(CallError::Cancelled)) => Error::Output(why.to_string()),
        (_, e) => e,
    };
    let code = error.exit_code();
    let text = match error {
        Error::Call(CallError::Cancelled) => "interrupted\n".to_string(),
        e if is_located(&e) => format!("{:?}\n", miette::Report::new(e)),
        e => plain(&e),
    };
    let _ = io::stderr().lock().write_all(text.as_bytes());
    code
}

/// Whether miette has a source snippet to show for `e` (or for something related to it).
fn is_located(e: &Error) -> bool {
    e.source_code().is_some() || e.related().is_some_and(|mut r| r.next().is_some())
}

/// An unlocated error, uv-style: `error: msg`, then `Caused by:` lines and a `hint:`.
fn plain(e: &Error) -> String {
    let mut out = format!("error: {e}\n");
    let mut cause = std::error::Error::source(e);
    if cause.is_some() {
        out.push_str("  Caused by:\n");
    }
    while let Some(c) = cause {
        out.push_str(&format!("    {c}\n"));
        cause = c.source();
    }
    if let Some(help) = e.help() {
        out.push_str(&format!("  hint: {help}\n"));
    }
    out
}

/// Set up miette's rendering once per process: colour only on a terminal without `NO_COLOR`.
pub fn install_error_hook() {
    let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
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
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::Output(e.to_string())),
    }
}

/// [`out`] with a newline.
///
/// # Errors
///
/// As [`out`].
pub fn out_line(text: &str) -> Result<(), Error> {
    out(&format!("{text}\n"))
}
