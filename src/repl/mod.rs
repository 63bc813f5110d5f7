//! The one interactive loop (DESIGN §11, §16): a rustyline editor, its prompt and history,
//! Ctrl-C and Ctrl-D, multi-line and pasted input, serving a [`Handler`] that does what a
//! line means. Two handlers use it: the Rhai line handler of `llm-do repl` ([`rhai_line`])
//! and the chat-turn handler of `llm-do chat` on a terminal (`cli/chat.rs`).
//!
//! The loop reads a line (Ctrl-C at the prompt drops it, Ctrl-D ends the session), skips blank
//! ones, keeps the rest in the history (saved after each line when the handler names a file)
//! and hands it to the handler. Work a line starts runs through [`interruptible`], so Ctrl-C
//! cancels that work and the session goes on.
//!
//! Input read ahead survives between lines: rustyline reads whatever the terminal holds (a
//! paste without bracketed paste, `tmux send-keys`, lines typed while a call ran) in one read,
//! and only with its `buffer-redux` feature (see `Cargo.toml`) does it hand the unread rest to
//! the next `readline` instead of dropping it. So the editor is built once per session and
//! never recreated, and nothing flushes the terminal's pending input.
//!
//! The loop imports nothing from the files of its handlers (`tests/layers.rs` keeps import
//! circles to three files).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, Helper};

use crate::report::{self, Error};
use crate::runtime::Runtime;

pub mod commands;
pub mod editor;
pub mod reload;
pub mod rhai_line;

/// What the loop does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// End the session (as Ctrl-D does).
    Quit,
}

/// What one interactive face does with the lines the loop reads.
pub trait Handler: Send + 'static {
    /// The rustyline helper (completion, hints, when a statement is incomplete); `()` for none.
    type Helper: Helper;

    /// The prompt before each line.
    const PROMPT: &'static str;

    /// The helper the editor is built with, if any (none unless said).
    fn helper(&self) -> Option<Self::Helper> {
        None
    }

    /// The file the history is loaded from and saved to, if any (none unless said: the
    /// history then lasts the session).
    fn history(&self) -> Option<PathBuf> {
        None
    }

    /// The line said on stderr before the first prompt, if any.
    fn banner(&self) -> Option<String>;

    /// Handle one line that is not blank. A line that fails is said by the handler, which goes
    /// on; an `Err` ends the session with that error.
    ///
    /// # Errors
    ///
    /// What makes going on impossible (e.g. stdout cannot be written).
    fn line(&mut self, line: &str) -> Result<Flow, Error>;
}

/// Serve `handler` on the terminal until it quits or Ctrl-D, on a blocking thread of `rt`;
/// then wait for the work still running beside its lines (`Runtime::settle`).
///
/// # Errors
///
/// When the line editor cannot start or read, or the handler ends the session with an error.
pub async fn run<H: Handler>(rt: Arc<Runtime>, handler: H) -> Result<(), Error> {
    let runtime = rt.clone();
    let out = tokio::task::spawn_blocking(move || serve(&runtime, handler))
        .await
        .map_err(|e| Error::failed(format!("the interactive session stopped: {e}")));
    rt.settle().await;
    out?
}

/// The loop itself (on a blocking thread).
fn serve<H: Handler>(rt: &Runtime, mut handler: H) -> Result<(), Error> {
    let mut editor = build(handler.helper())
        .map_err(|e| Error::failed(format!("cannot start the line editor: {e}")))?;
    // Install the SIGINT handler now: a Ctrl-C that lands between a line's start and the first
    // poll in `interruptible` must not kill the process.
    {
        let _guard = rt.handle.enter();
        let _ = futures_util::FutureExt::now_or_never(tokio::signal::ctrl_c());
    }
    let history = handler.history();
    if let Some(h) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(h);
    }
    if let Some(banner) = handler.banner() {
        report::note(&banner);
    }
    loop {
        let line = match editor.readline(H::PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::failed(format!("cannot read input: {e}"))),
        };
        if line.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if let Some(h) = &history {
            save_history(&mut editor, h);
        }
        if handler.line(&line)? == Flow::Quit {
            break;
        }
    }
    Ok(())
}

/// The editor with `helper` (if any); history is loaded by the caller.
fn build<H: Helper>(helper: Option<H>) -> rustyline::Result<Editor<H, DefaultHistory>> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)?
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor = Editor::with_config(config)?;
    editor.set_helper(helper);
    Ok(editor)
}

/// Run `work` (started by a line) to its end from the loop's thread; Ctrl-C meanwhile cancels
/// `rt`'s call tree, and only this work: the cancellation is cleared before and after.
pub fn interruptible<T>(rt: &Runtime, work: impl Future<Output = T>) -> T {
    rt.cancel.reset();
    let out = rt
        .handle
        .block_on(crate::interrupt::ctrl_c_cancels(&rt.cancel, work));
    rt.cancel.reset();
    out
}

fn save_history<H: Helper>(editor: &mut Editor<H, DefaultHistory>, path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        report::note(&format!(
            "warning: cannot save history to `{}`: {e}",
            path.display()
        ));
    }
}
