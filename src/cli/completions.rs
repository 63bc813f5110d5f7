//! `llm-do completions SHELL` (clap_complete) and `llm-do man` (clap_mangen): both generated
//! from the same clap definitions, so they never drift from `--help`.

use crate::report::{Error, out};

/// The program's name as shells see it.
const BIN: &str = "llm-do";

/// Print the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let text = String::from_utf8_lossy(&buf);
    match shell {
        clap_complete::Shell::Bash => out(&fix_bash(&text, BIN)),
        _ => out(&text),
    }
}

/// clap_complete's bash script names a subcommand's state two ways when the binary's name
/// holds a hyphen: the loop over the words sets `cmd="llm__do__subcmd__test"` (the hyphen as
/// `__`) but the arms that offer its options read `llm__subcmd__do__subcmd__test)` (the hyphen
/// as `__subcmd__`), so nothing after the subcommand completed. Spell the arms as the loop does.
fn fix_bash(script: &str, bin: &str) -> String {
    let mangled = format!("{}__subcmd__", bin.replace('-', "__subcmd__"));
    let meant = format!("{}__subcmd__", bin.replace('-', "__"));
    script.replace(&mangled, &meant)
}

/// Print the manual page (roff) of `llm-do`; its SUBCOMMANDS section lists every command.
pub fn man() -> Result<(), Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(super::command())
        .render(&mut buf)
        .map_err(|e| Error::Output(e.to_string()))?;
    out(&String::from_utf8_lossy(&buf))
}

#[cfg(test)]
mod tests {
    use super::fix_bash;

    #[test]
    fn bash_arms_are_named_as_the_word_loop_names_them() {
        let script = "cmd=\"llm__do__subcmd__test\"\n        llm__subcmd__do__subcmd__test)\n";
        assert_eq!(
            fix_bash(script, "llm-do"),
            "cmd=\"llm__do__subcmd__test\"\n        llm__do__subcmd__test)\n"
        );
    }
}
