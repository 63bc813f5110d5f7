//! Which options each command takes, said once (issue 32: the list of commands that run calls
//! existed twice and the copies disagreed).
//!
//! - Run options ([`RunOptions`]: model, approvals, traces, cassettes) belong to exactly the
//!   commands whose clap variant carries them: [`Command::run_options`] is the one list, and
//!   those given before the command name (`llm-do --model test batch ...`) merge into them.
//! - The global `--json`, `-q` and `-v` are accepted by every command for clap, and refused
//!   here where they would do nothing ([`Uses::of`] is the table).

use super::{Command, ConfigAction, Global, McpAction, RunOptions, command_name};
use crate::report::Error;

impl Command {
    /// This command's run options, when it runs calls (the one place that says which do).
    pub fn run_options(&mut self) -> Option<&mut RunOptions> {
        match self {
            Command::Run { run, .. }
            | Command::Shadow { run, .. }
            | Command::Test { run, .. }
            | Command::Stabilize { run, .. }
            | Command::Batch { run, .. }
            | Command::Chat { run, .. }
            | Command::Repl { run }
            | Command::Mcp {
                action: McpAction::Serve { run, .. },
            } => Some(run),
            Command::Check
            | Command::List
            | Command::Stats { .. }
            | Command::Dataset { .. }
            | Command::Models
            | Command::Logs { .. }
            | Command::View { .. }
            | Command::Init { .. }
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Config { .. } => None,
        }
    }
}

/// The global output flags a command makes use of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses {
    /// `--json`: it prints its result as JSON.
    pub json: bool,
    /// `-q`: it has commentary to leave out.
    pub quiet: bool,
    /// `-v`: it runs calls, so there is a call tree to show.
    pub verbose: bool,
}

impl Uses {
    /// What `command` does with `--json`, `-q` and `-v`: a command that runs calls shows the
    /// call tree and prints from scripts; the rest, only what their own output needs.
    #[must_use]
    pub fn of(command: &mut Command) -> Uses {
        let runs = command.run_options().is_some();
        let (json, quiet) = match command {
            // `stabilize` reports in prose only.
            Command::Stabilize { .. } => (false, true),
            Command::Check | Command::Init { .. } => (true, true),
            Command::List
            | Command::Stats { .. }
            | Command::Models
            | Command::Logs { .. }
            | Command::Config {
                action: ConfigAction::Path | ConfigAction::Show,
            } => (true, false),
            Command::Dataset { .. } => (false, true),
            Command::Completions { .. } | Command::Man { .. } => (false, false),
            // `mcp serve --list --json` prints the tools' definitions; the server itself
            // speaks JSON-RPC on stdout and has no commentary to leave out.
            Command::Mcp { .. } => (true, false),
            _ => (runs, runs),
        };
        Uses {
            json,
            quiet,
            verbose: runs,
        }
    }
}

/// Merge the run options written before the command name into the command's own, and refuse
/// any option given to a command that does nothing with it.
///
/// # Errors
///
/// A usage error naming the first such option.
pub fn settle(
    command: &mut Command,
    outer: RunOptions,
    watch: bool,
    global: &Global,
) -> Result<(), Error> {
    let uses = Uses::of(command);
    let misplaced = if watch {
        Some("--watch")
    } else if let Some(run) = command.run_options() {
        *run = std::mem::take(run).or(outer);
        None
    } else {
        outer.first_set()
    };
    let unused = [
        (global.json && !uses.json, "--json"),
        (global.quiet && !uses.quiet, "--quiet"),
        (global.verbose > 0 && !uses.verbose, "--verbose"),
    ]
    .into_iter()
    .find_map(|(set, flag)| set.then_some(flag));
    match misplaced.or(unused) {
        None => Ok(()),
        Some(flag) => {
            let name = command_name(command);
            Err(
                Error::usage(format!("`{flag}` does not apply to `llm-do {name}`"))
                    .with_help(format!("`llm-do {name} --help` lists its options")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn settled(argv: &[&str]) -> Result<Command, String> {
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let mut command = cli.command.expect("a command");
        settle(&mut command, cli.script.run, cli.script.watch, &cli.global)
            .map_err(|e| e.to_string())?;
        Ok(command)
    }

    #[test]
    fn run_options_before_the_name_reach_every_command_that_runs_calls() {
        for argv in [
            &["llm-do", "--model", "test", "run", "x"][..],
            &[
                "llm-do", "--model", "test", "batch", "x", "in.jsonl", "-o", "o",
            ],
            &["llm-do", "--model", "test", "stabilize", "x", "--draft"],
            &["llm-do", "--model", "test", "test"],
            &["llm-do", "--model", "test", "shadow", "x"],
            &["llm-do", "--model", "test", "chat", "x"],
            &["llm-do", "--model", "test", "repl"],
        ] {
            let mut command = settled(argv).unwrap();
            let run = command.run_options().expect("runs calls");
            assert_eq!(run.model.as_deref(), Some("test"), "{argv:?}");
        }
    }

    #[test]
    fn run_options_are_refused_where_nothing_runs() {
        assert_eq!(
            settled(&["llm-do", "--model", "test", "list"]).unwrap_err(),
            "`--model` does not apply to `llm-do list`"
        );
    }

    #[test]
    fn output_flags_are_refused_where_they_do_nothing() {
        for (argv, flag) in [
            (&["llm-do", "man", "--json"][..], "--json"),
            (&["llm-do", "completions", "bash", "-q"], "--quiet"),
            (&["llm-do", "list", "-v"], "--verbose"),
            (&["llm-do", "dataset", "x", "--json"], "--json"),
            (&["llm-do", "stabilize", "x", "--draft", "--json"], "--json"),
        ] {
            let cmd = argv[1];
            assert_eq!(
                settled(argv).unwrap_err(),
                format!("`{flag}` does not apply to `llm-do {cmd}`")
            );
        }
        for argv in [
            &["llm-do", "list", "--json"][..],
            &["llm-do", "check", "-q"],
            &["llm-do", "run", "x", "-v", "--json"],
            &["llm-do", "dataset", "x", "-q"],
            &["llm-do", "logs", "--json"],
        ] {
            assert!(settled(argv).is_ok(), "{argv:?}");
        }
    }
}
