//! The one printer (issue 32): every data command prints text, or with `--json` one JSON
//! style (pretty, 2-space indents), and the REPL's `:list` prints what `list` does. Whole
//! outputs, per command and form.

use crate::util::Test;

/// A project with a worker, a fn with a case, an alias and a price override (times, which
/// vary, shown as `MS`).
fn project() -> Test {
    Test::new()
        .filter(r#""(ms|p50|p90|max)": [0-9.e-]+"#, r#""$1": MS"#)
        .worker(
            "greeter",
            "---\ndescription: Greet someone\nmodel: test\n---\nGreet.\n",
        )
        .script(
            "lib",
            "/// Shout a text.\n/// text: string\nfn shout(text) { text.to_upper() + \"!\" }\n",
        )
        .file(
            "tests/shout.jsonl",
            "{\"input\": {\"text\": \"hi\"}, \"expected\": \"HI!\"}\n",
        )
        .config("[models]\nfast = \"test\"\n\n[prices]\n\"test\" = { input = 1.0, output = 2.0 }\n")
}

/// `args` run in `t`: status 0, nothing on stderr, and stdout as it is.
fn stdout(t: &Test, args: &[&str]) -> String {
    let out = t.run_with(args);
    out.status(0);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout.clone()
}

#[test]
fn check_prints_text_or_pretty_json() {
    let t = project();
    insta::assert_snapshot!("check_text", stdout(&t, &["check"]));
    insta::assert_snapshot!("check_json", stdout(&t, &["check", "--json"]));
    assert_eq!(stdout(&t, &["check", "-q"]), "");
}

#[test]
fn list_prints_text_or_pretty_json() {
    let t = project();
    insta::assert_snapshot!("list_text", stdout(&t, &["list"]));
    insta::assert_snapshot!("list_json", stdout(&t, &["list", "--json"]));
}

#[test]
fn models_prints_text_or_pretty_json() {
    let t = project();
    insta::assert_snapshot!("models_text", stdout(&t, &["models"]));
    insta::assert_snapshot!("models_json", stdout(&t, &["models", "--json"]));
}

#[test]
fn config_prints_text_or_pretty_json() {
    let t = project().env("LLM_DO_CONFIG", "/nowhere/llm-do.toml");
    assert_eq!(stdout(&t, &["config", "path"]), "/nowhere/llm-do.toml\n");
    assert_eq!(
        stdout(&t, &["config", "path", "--json"]),
        "{\n  \"path\": \"/nowhere/llm-do.toml\"\n}\n"
    );
    let t = project();
    insta::assert_snapshot!("config_show_text", stdout(&t, &["config", "show"]));
    insta::assert_snapshot!(
        "config_show_json",
        stdout(&t, &["config", "show", "--json"])
    );
}

#[test]
fn init_prints_text_or_pretty_json() {
    let t = Test::new();
    insta::assert_snapshot!("init_text", stdout(&t, &["init", "a"]));
    insta::assert_snapshot!("init_json", stdout(&t, &["init", "b", "--json"]));
    assert_eq!(stdout(&t, &["init", "c", "-q"]), "");
}

#[test]
fn test_prints_its_report_as_text_or_pretty_json() {
    let t = project();
    insta::assert_snapshot!("test_text", stdout(&t, &["test", "shout", "--no-log"]));
    insta::assert_snapshot!(
        "test_json",
        stdout(&t, &["test", "shout", "--no-log", "--json"])
    );
}

#[test]
fn mcp_serve_list_prints_rows_or_the_definitions() {
    let t = project();
    insta::assert_snapshot!("serve_list_text", stdout(&t, &["mcp", "serve", "--list"]));
    insta::assert_snapshot!(
        "serve_list_json",
        stdout(&t, &["mcp", "serve", "--list", "--json"])
    );
}

#[test]
fn shadow_and_stats_print_text_or_pretty_json() {
    let t = project();
    stdout(
        &t,
        &["run", "shout", "hi", "--trace", "t.jsonl", "--no-log"],
    );
    insta::assert_snapshot!(
        "shadow_text",
        stdout(&t, &["shadow", "shout", "--trace", "t.jsonl", "--no-log"])
    );
    insta::assert_snapshot!(
        "shadow_json",
        stdout(
            &t,
            &[
                "shadow", "shout", "--trace", "t.jsonl", "--no-log", "--json"
            ]
        )
    );
    insta::assert_snapshot!("stats_json", stdout(&t, &["stats", "t.jsonl", "--json"]));
}

/// `--json` before the command name is the command's own, as every flag it takes.
#[test]
fn json_before_the_command_name_is_the_commands() {
    let t = project();
    assert_eq!(
        stdout(&t, &["--json", "run", "shout", "hi", "--no-log"]),
        "\"HI!\"\n"
    );
    assert_eq!(
        stdout(&t, &["--json", "check"]),
        stdout(&t, &["check", "--json"])
    );
}
