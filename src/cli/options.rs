//! Which options each command takes, said once (issue 32: the list of commands that run calls
//! existed twice and the copies disagreed; `--json`, `-q` and `-v` were global and accepted
//! where they did nothing).
//!
//! - Run options ([`RunOptions`]: model, approvals, traces, cassettes, `-v`) belong to exactly
//!   the commands whose clap variant carries them: [`Command::takes`] is the one list.
//! - `--json` ([`Json`]) and `-q` ([`Quiet`]) belong to the variants that carry them:
//!   [`Command::takes`] too. After the command name clap refuses any other flag.
//! - Any of these given before the command name (`llm-do --model test batch ...`,
//!   `llm-do --json run x`) merges into the command's own, and is a usage error when the
//!   command does not take it; [`settle`] returns what they resolved to ([`OutputFlags`]).

use super::{Command, ConfigAction, Json, McpAction, Quiet, RunOptions, ScriptArgs};
use crate::report::Error;

/// What a command takes of the shared options, as its variant carries them: its name as
/// typed, its run options (when it runs calls), and its `--json` and `-q`.
pub(super) type Takes<'a> = (
    &'static str,
    Option<&'a mut RunOptions>,
    Option<Json>,
    Option<Quiet>,
);

impl Command {
    /// What this command takes (the one place that says it, a row per command).
    pub(super) fn takes(&mut self) -> Takes<'_> {
        match self {
            Command::Run { run, out, .. } => ("run", Some(run), Some(out.json), Some(out.quiet)),
            Command::Check(out) => ("check", None, Some(out.json), Some(out.quiet)),
            Command::List(json) => ("list", None, Some(*json), None),
            Command::Stats { json, .. } => ("stats", None, Some(*json), None),
            Command::Shadow { run, out, .. } => {
                ("shadow", Some(run), Some(out.json), Some(out.quiet))
            }
            Command::Test { run, out, .. } => ("test", Some(run), Some(out.json), Some(out.quiet)),
            Command::Stabilize { run, quiet, .. } => ("stabilize", Some(run), None, Some(*quiet)),
            Command::Batch { run, out, .. } => {
                ("batch", Some(run), Some(out.json), Some(out.quiet))
            }
            Command::Dataset { quiet, .. } => ("dataset", None, None, Some(*quiet)),
            Command::Models(json) => ("models", None, Some(*json), None),
            Command::Chat { run, out, .. } => ("chat", Some(run), Some(out.json), Some(out.quiet)),
            Command::Repl { run, out } => ("repl", Some(run), Some(out.json), Some(out.quiet)),
            Command::View { .. } => ("view", None, None, None),
            Command::Logs { json, .. } => ("logs", None, Some(*json), None),
            Command::Init { out, .. } => ("init", None, Some(out.json), Some(out.quiet)),
            Command::Completions { .. } => ("completions", None, None, None),
            Command::Man { .. } => ("man", None, None, None),
            Command::Mcp {
                action: McpAction::Serve { run, json, .. },
            } => ("mcp", Some(run), Some(*json), None),
            Command::Config {
                action: ConfigAction::Path(json) | ConfigAction::Show(json),
            } => ("config", None, Some(*json), None),
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
    let (name, run, json, quiet) = command.takes();
    let json = json.map(|j| j.json || outer.out.json.json);
    let quiet = quiet.map(|q| q.quiet || outer.out.quiet.quiet);
    let run = run.map(|run| {
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
            let run = command.takes().1.expect("runs calls");
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
