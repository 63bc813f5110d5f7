//! `llm-do completions SHELL` (clap_complete) and `llm-do man` (clap_mangen): both generated
//! from the same clap definitions, so they never drift from `--help`.

use crate::report::{Error, out};

/// Print the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "llm-do", &mut buf);
    out(&String::from_utf8_lossy(&buf))
}

/// Print the manual page (roff) of `llm-do`; its SUBCOMMANDS section lists every command.
pub fn man() -> Result<(), Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(super::command())
        .render(&mut buf)
        .map_err(|e| Error::Output(e.to_string()))?;
    out(&String::from_utf8_lossy(&buf))
}
