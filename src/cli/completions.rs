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

/// Print the manual page (roff) of `llm-do`, or of one of its commands: the main page lists
/// every command with the `llm-do man COMMAND` that prints its page (clap_mangen would point
/// at `llm-do-COMMAND(1)` pages that nothing installs).
pub fn man(command: Option<&str>) -> Result<(), Error> {
    let mut root = super::command();
    root.build();
    let (page, spaced) = match command {
        None => (root.clone(), BIN.to_string()),
        Some(name) => {
            let Some(sub) = root.find_subcommand(name) else {
                let names = root.get_subcommands().map(clap::Command::get_name);
                let help = crate::suggest::did_you_mean(name, names)
                    .unwrap_or_else(|| "`llm-do man` lists the commands".into());
                let error = Error::usage(format!("no command `{name}` to show the page of"));
                return Err(error.with_help(help));
            };
            (sub.clone(), format!("{BIN} {name}"))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page.clone())
        .render(&mut buf)
        .map_err(|e| Error::Output(e.to_string()))?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    let display = page.get_display_name().unwrap_or(BIN).to_string();
    for sub in page.get_subcommands() {
        let name = sub.get_name();
        let linked = roff(&format!("{display}-{name}(1)"));
        let named = if command.is_none() && name != "help" {
            format!(
                "{} (\\fB{}\\fR)",
                roff(&format!("{spaced} {name}")),
                roff(&format!("llm-do man {name}"))
            )
        } else {
            roff(&format!("{spaced} {name}"))
        };
        text = text.replace(&linked, &named);
    }
    out(&text)
}

/// `text` as roff writes it (a hyphen is `\-`).
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
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
