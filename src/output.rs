//! Writing to stdout without panicking (base layer). `println!` panics when stdout is a closed
//! pipe (`llm-do list | head`) or a full disk; everything llm-do prints to stdout goes through
//! [`stdout`] instead. A closed pipe ends the process at once with status 0: the reader has
//! what it wanted (as ripgrep does).

use std::io::{self, Write};

/// `text` cut to its first `max_chars` characters, with `…` when it was longer.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Write `text` to stdout and flush. A closed pipe exits the process quietly (status 0).
///
/// # Errors
///
/// Any other write failure, e.g. `ENOSPC` on a full disk.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other,
    }
}

/// The first failure to write a script's `print` output, kept so the run can end with it.
static PRINT_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A line a script prints (`print(...)`). Returns `false` when stdout cannot be written (the
/// failure is kept for [`print_failure`]); the caller then stops the run.
pub fn script_line(text: &str) -> bool {
    match stdout(&format!("{text}\n")) {
        Ok(()) => true,
        Err(e) => {
            let _ = PRINT_FAILURE.set(e.to_string());
            false
        }
    }
}

/// Why a script's `print` failed, if it did.
pub fn print_failure() -> Option<&'static str> {
    PRINT_FAILURE.get().map(String::as_str)
}

/// `n` and `thing`, plural unless one: `1 worker run`, `2 worker runs`.
#[must_use]
pub fn count(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}
