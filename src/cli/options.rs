//! Which options each command takes, said once (issue 32: the list of commands that run calls
//! existed twice and the copies disagreed; `--json`, `-q` and `-v` were global and accepted
//! where they did nothing).
//!
//! - Run options ([`RunOptions`]: model, approvals, traces, cassettes, `-v`) belong to exactly
//!   the commands whose clap variant carries them: [`Command::run_options`] is the one list.
//! - `--json` ([`Json`]) and `-q` ([`Quiet`]) belong to the variants that carry them:
//!   [`Command::output_flags`]. After the command name clap refuses any other flag.
//! - Any of these given before the command name (`llm-do --model test batch ...`,
//!   `llm-do --json run x`) merges into the command's own, and is a usage error when the
//!   command does not take it; [`settle`] returns what they resolved to ([`OutputFlags`]).

use super::{Command, ConfigAction, Json, McpAction, Quiet, RunOptions, ScriptArgs};
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
            | Command::Repl { run, .. }
            | Command::Mcp {
                action: McpAction::Serve { run, .. },
            } => Some(run),
            Command::Check(_)
            | Command::List(_)
            | Command::Stats { .. }
            | Command::Dataset { .. }
            | Command::Models(_)
            | Command::Logs { .. }
            | Command::View { .. }
            | Command::Init { .. }
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Config { .. } => None,
        }
    }

    /// This command's `--json` and `-q`, where its variant carries them.
    pub fn output_flags(&mut self) -> (Option<&mut Json>, Option<&mut Quiet>) {
        match self {
            Command::Run { out, .. }
            | Command::Check(out)
            | Command::Shadow { out, .. }
            | Command::Test { out, .. }
            | Command::Batch { out, .. }
            | Command::Chat { out, .. }
            | Command::Repl { out, .. }
            | Command::Init { out, .. } => (Some(&mut out.json), Some(&mut out.quiet)),
            Command::List(json)
            | Command::Stats { json, .. }
            | Command::Models(json)
            | Command::Logs { json, .. }
            | Command::Mcp {
                action: McpAction::Serve { json, .. },
            }
            | Command::Config {
                action: ConfigAction::Path(json) | ConfigAction::Show(json),
            } => (Some(json), None),
            Command::Stabilize { quiet, .. } | Command::Dataset { quiet, .. } => {
                (None, Some(quiet))
            }
            Command::View { .. } | Command::Completions { .. } | Command::Man { .. } => {
                (None, None)
            }
        }
    }
}

/// What a command's `--json`, `-q` and `-v` resolved to, wherever on the line they were
/// written: the command reads this, not clap's structs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutputFlags {
    /// `--json`: results as JSON.
    pub json: bool,
    /// `-q`: nothing but results and errors.
    pub quiet: bool,
    /// `-v`, counted: the call tree on stderr and more.
    pub verbose: u8,
}

impl OutputFlags {
    /// The flags, checked against each other.
    ///
    /// # Errors
    ///
    /// `-q` with `-v`: a usage error.
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Result<OutputFlags, Error> {
        if quiet && verbose > 0 {
            return Err(Error::usage("`--quiet` cannot be used with `--verbose`")
                .with_help("leave one out: `-q` prints only results, `-v` adds the call tree"));
        }
        Ok(OutputFlags {
            json,
            quiet,
            verbose,
        })
    }
}

/// Merge the flags written before the command name (`outer`) into the command's own, refuse
/// any the command does not take, and resolve its output flags.
///
/// # Errors
///
/// A usage error naming the first flag the command does not take.
pub fn settle(command: &mut Command, outer: &ScriptArgs) -> Result<OutputFlags, Error> {
    let outer_run = outer.run.first_set();
    let (json, quiet) = command.output_flags();
    let json = json.map(|j| j.json || outer.out.json.json);
    let quiet = quiet.map(|q| q.quiet || outer.out.quiet.quiet);
    let run = command.run_options().map(|run| {
        *run = std::mem::take(run).or(outer.run.clone());
        run.verbose
    });
    let misplaced = [
        (outer.watch, "--watch"),
        (outer.out.json.json && json.is_none(), "--json"),
        (outer.out.quiet.quiet && quiet.is_none(), "--quiet"),
    ]
    .into_iter()
    .find_map(|(set, flag)| set.then_some(flag))
    .or(run.map_or(outer_run, |_| None));
    if let Some(flag) = misplaced {
        let name = command.name();
        return Err(
            Error::usage(format!("`{flag}` does not apply to `llm-do {name}`"))
                .with_help(format!("`llm-do {name} --help` lists its options")),
        );
    }
    let (json, quiet) = (json.unwrap_or(false), quiet.unwrap_or(false));
    OutputFlags::new(json, quiet, run.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn settled(argv: &[&str]) -> Result<(Command, OutputFlags), String> {
        let cli = Cli::try_parse_from(argv).map_err(|e| e.kind().to_string())?;
        let mut command = cli.command.expect("a command");
        let out = settle(&mut command, &cli.script).map_err(|e| e.to_string())?;
        Ok((command, out))
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
            let (mut command, _) = settled(argv).unwrap();
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
    fn output_flags_before_the_name_are_the_commands_own() {
        let (_, out) = settled(&["llm-do", "--json", "-v", "run", "x"]).unwrap();
        assert_eq!((out.json, out.quiet, out.verbose), (true, false, 1));
        let (_, out) = settled(&["llm-do", "-q", "check"]).unwrap();
        assert_eq!((out.json, out.quiet, out.verbose), (false, true, 0));
        let (_, out) = settled(&["llm-do", "config", "path", "--json"]).unwrap();
        assert!(out.json);
    }

    #[test]
    fn output_flags_are_refused_where_they_do_nothing() {
        // Before the name: said by llm-do.
        for (argv, flag) in [
            (&["llm-do", "--json", "man"][..], "--json"),
            (&["llm-do", "-q", "completions", "bash"], "--quiet"),
            (&["llm-do", "-v", "list"], "--verbose"),
            (&["llm-do", "--json", "dataset", "x"], "--json"),
            (&["llm-do", "--json", "stabilize", "x", "--draft"], "--json"),
        ] {
            let cmd = argv[2];
            assert_eq!(
                settled(argv).unwrap_err(),
                format!("`{flag}` does not apply to `llm-do {cmd}`")
            );
        }
        // After it: clap does not know the flag there.
        for argv in [
            &["llm-do", "man", "--json"][..],
            &["llm-do", "completions", "bash", "-q"],
            &["llm-do", "list", "-v"],
            &["llm-do", "view", "--json"],
            &["llm-do", "mcp", "serve", "-q"],
            &["llm-do", "stabilize", "x", "--draft", "--json"],
        ] {
            assert_eq!(
                settled(argv).unwrap_err(),
                "unexpected argument found",
                "{argv:?}"
            );
        }
        assert_eq!(
            settled(&["llm-do", "run", "x", "-q", "-v"]).unwrap_err(),
            "`--quiet` cannot be used with `--verbose`"
        );
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
