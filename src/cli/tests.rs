//! Unit tests of the clap definitions: where each flag is accepted, early flags, typos.

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("llm-do").chain(args.iter().copied()))
}

#[test]
fn the_clap_definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn run_options_belong_to_running_commands_only() {
    assert!(parse(&["run", "x", "--model", "test"]).is_ok());
    assert!(parse(&["shadow", "x", "--trace", "t", "--approve-all"]).is_ok());
    assert!(parse(&["repl", "--replay", "c"]).is_ok());
    assert!(parse(&["check", "--model", "test"]).is_err());
    assert!(parse(&["list", "--trace", "t"]).is_err());
    assert!(parse(&["check", "--watch"]).is_err());
    assert!(parse(&["run", "x", "--watch"]).is_err());
    assert!(parse(&["s.rhai", "--watch", "--model", "test"]).is_ok());
}

#[test]
fn global_options_go_anywhere() {
    for args in [
        &["--project", "p", "check", "--json"][..],
        &["check", "--color", "never", "-q"],
        &["list", "--error-format", "json", "--json"],
    ] {
        assert!(parse(args).is_ok(), "{args:?}");
    }
}

#[test]
fn script_args_keep_flags_after_the_first_argument() {
    let cli = parse(&["s.rhai", "a", "--model", "x"]).unwrap();
    assert_eq!(cli.script.args, ["a", "--model", "x"]);
    assert_eq!(cli.script.run.model, None);
}

#[test]
fn outer_run_options_fill_the_commands_own() {
    let inner = RunOptions {
        model: Some("inner".into()),
        ..RunOptions::default()
    };
    let outer = RunOptions {
        model: Some("outer".into()),
        max_depth: Some(3),
        reject_all: true,
        ..RunOptions::default()
    };
    let merged = inner.or(outer);
    assert_eq!(merged.model.as_deref(), Some("inner"));
    assert_eq!(merged.max_depth, Some(3));
    assert!(merged.reject_all);
}

#[test]
fn early_flags_are_read_before_parsing() {
    let argv = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    assert_eq!(
        early_flags(&argv(&[
            "llm-do",
            "--color",
            "never",
            "--error-format=json"
        ])),
        (Color::Never, ErrorFormat::Json)
    );
    assert_eq!(
        early_flags(&argv(&["llm-do", "s.rhai", "--", "--color", "always"])),
        (Color::Auto, ErrorFormat::Human)
    );
}

#[test]
fn a_close_command_name_is_a_typo_not_a_script() {
    let e = mistyped_command(Path::new("chek")).unwrap();
    assert_eq!(e.to_string(), "unknown command or script `chek`");
    assert!(mistyped_command(Path::new("scripts/main.rhai")).is_none());
    assert!(mistyped_command(Path::new("zzzz")).is_none());
}

/// Each run option, written alone, is one `first_set` names (for "does not apply") and one
/// `or` carries from before the command name: a flag added to [`RunOptions`] without both
/// fails here.
#[test]
fn every_run_option_is_named_and_merged() {
    use clap::Args as _;
    let cmd = RunOptions::augment_args(clap::Command::new("llm-do"));
    assert!(cmd.get_arguments().count() >= 8);
    for arg in cmd.get_arguments() {
        let flag = format!("--{}", arg.get_long().unwrap());
        let mut argv = vec!["llm-do".to_string(), flag.clone()];
        if arg.get_action().takes_values() {
            argv.push("1".into());
        }
        let matches = cmd.clone().try_get_matches_from(&argv).unwrap();
        let alone = RunOptions::from_arg_matches(&matches).unwrap();
        assert_eq!(alone.first_set(), Some(flag.as_str()), "{flag}");
        let merged = RunOptions::default().or(alone);
        assert_eq!(
            merged.first_set(),
            Some(flag.as_str()),
            "{flag} is not merged"
        );
    }
}

#[test]
fn every_command_is_named_as_typed() {
    let typed: &[&[&str]] = &[
        &["run", "x"],
        &["check"],
        &["list"],
        &["models"],
        &["stats"],
        &["shadow", "x"],
        &["repl"],
        &["chat", "w"],
        &["init"],
        &["completions", "bash"],
        &["man"],
        &["config", "path"],
        &["mcp", "serve"],
        &["test"],
        &["dataset", "x"],
        &["stabilize", "x", "--draft"],
        &["batch", "x", "in.jsonl", "-o", "out.jsonl"],
        &["logs"],
        &["view"],
    ];
    let names: Vec<&str> = typed
        .iter()
        .map(|argv| parse(argv).unwrap().command.unwrap().takes().0)
        .collect();
    let mut clap_names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    clap_names.sort();
    assert_eq!(sorted, clap_names);
    assert!(
        typed
            .iter()
            .zip(&names)
            .all(|(argv, name)| argv[0] == *name)
    );
}
