//! The REPL and `--watch` driven through a pseudo-terminal (rexpect): the real binary in a
//! temporary project, typed at like a user would.

use std::path::Path;
use std::process::Command;

use rexpect::session::PtySession;

use crate::util::Test;

use crate::util::CLEARED;

const PROMPT: &str = "llm-do> ";

/// A project with a worker on a script model, a slow worker and a Rhai fn.
fn project() -> Test {
    Test::new()
        .worker(
            "greeter",
            "---\ndescription: Greets someone\nmodel: script:fake\n---\nYou greet people.\n",
        )
        .worker(
            "slowpoke",
            "---\ndescription: Takes forever\nmodel: script:slow\n---\nYou are slow.\n",
        )
        .script(
            "models",
            "fn fake(request) { \"hello from \" + \"fake\" }\nfn slow(request) { sleep(600000); \"late\" }\n",
        )
        .script("version", "fn version() { \"first\" + \"-edition\" }\n")
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-do"));
    cmd.args(args).current_dir(dir);
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("LLM_DO_HISTORY", dir.join("history.txt"));
    cmd
}

/// Start `llm-do repl` in the project and wait for the first prompt.
fn repl(t: &Test) -> PtySession {
    repl_with(t, &[])
}

/// [`repl`] with more arguments.
fn repl_with(t: &Test, args: &[&str]) -> PtySession {
    let args: Vec<&str> = ["repl"].iter().chain(args).copied().collect();
    let mut p = rexpect::session::spawn_command(command(t.path(), &args), Some(30_000))
        .expect("spawn llm-do repl");
    p.exp_string(PROMPT).expect("first prompt");
    p
}

/// Type `line`, press Enter, and wait for `expected` in the output (rustyline redraws the
/// prompt on every keystroke, so the prompt itself is no sign that a line finished).
fn line(p: &mut PtySession, line: &str, expected: &str) -> String {
    p.send_line(line).expect("send");
    p.exp_string(expected)
        .unwrap_or_else(|e| panic!("no `{expected}` after `{line}`: {e}"))
}

#[test]
fn lets_persist_between_lines() {
    let t = project();
    let mut p = repl(&t);
    line(
        &mut p,
        "let greeting = \"hel\" + \"lo\"; \"set\" + \"-1\"",
        "set-1",
    );
    line(&mut p, "greeting + \"-there\"", "hello-there");
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_multi_line_fn_is_read_until_complete_and_stays_defined() {
    let t = project();
    let mut p = repl(&t);
    p.send_line("fn twice(s) {").unwrap();
    p.send_line("  s + s").unwrap();
    line(&mut p, "} \"fn\" + \"-ok\"", "fn-ok");
    line(&mut p, "twice(\"ab\") + \"|\"", "abab|");
    line(&mut p, "call(\"twice\", #{s: \"cd\"}) + \"|\"", "cdcd|");
}

#[test]
fn tab_completes_a_worker_name() {
    let t = project();
    let mut p = repl(&t);
    p.send("call(\"gree").unwrap();
    p.send("\t").unwrap();
    line(&mut p, "\", \"Bob\")", "hello from fake");
}

#[test]
fn an_edited_script_is_used_on_the_next_line() {
    let t = project();
    let mut p = repl(&t);
    line(&mut p, "call(\"version\")", "first-edition");
    std::fs::write(
        t.path().join("scripts/version.rhai"),
        "fn version() { \"second\" + \"-edition, revised\" }\n",
    )
    .unwrap();
    line(
        &mut p,
        "call(\"version\")",
        "reloaded: scripts/version.rhai",
    );
    p.exp_string("second-edition, revised").unwrap();
}

#[test]
fn a_broken_edit_keeps_the_previous_version_and_shows_the_error() {
    let t = project();
    let mut p = repl(&t);
    line(&mut p, "call(\"version\")", "first-edition");
    std::fs::write(
        t.path().join("scripts/version.rhai"),
        "fn version() { \"x\" +\n",
    )
    .unwrap();
    let out = line(&mut p, "call(\"version\")", "keeping the previous version");
    assert!(out.contains("syntax error"), "{out}");
    assert!(out.contains("scripts/version.rhai"), "{out}");
    p.exp_string("first-edition").unwrap();
}

#[test]
fn ctrl_c_cancels_a_slow_model_call_and_keeps_the_session() {
    let t = project();
    let mut p = repl(&t);
    line(
        &mut p,
        "let kept = \"still\" + \"-here\"; \"set\" + \"-1\"",
        "set-1",
    );
    line(&mut p, ":trace on", "trace: on");
    line(&mut p, "call(\"slowpoke\", \"hi\")", "neural slowpoke");
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    line(&mut p, "kept", "still-here");
}

#[test]
fn syntax_errors_show_a_caret_and_inline_workers_join_the_namespace() {
    let t = project();
    let mut p = repl(&t);
    let out = line(&mut p, "let = 3", "  |     ^");
    assert!(out.contains("syntax error"), "{out}");
    line(
        &mut p,
        "worker(#{name: \"echoer\", instructions: \"Echo.\", model: \"script:fake\"}) + \"-def\"",
        "echoer-def",
    );
    line(
        &mut p,
        "call(\"echoer\", \"x\") + \"!\"",
        "hello from fake!",
    );
    line(&mut p, ":list", "worker   echoer ");
}

/// Ctrl-C at the prompt drops the line being typed and the session goes on; Ctrl-D ends it
/// with 0 (the interactive loop chat shares, issue 32).
#[test]
fn ctrl_c_at_the_prompt_drops_the_typed_line_and_ctrl_d_exits_0() {
    let t = project();
    let mut p = repl(&t);
    p.send("\"dropped\" + \"-x\"").unwrap();
    p.flush().unwrap();
    p.exp_string("-x\"").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();
    let shown = line(&mut p, "\"kept\" + \"-y\"", "kept-y");
    assert!(!shown.contains("dropped-x"), "{shown:?}");
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    assert!(matches!(
        p.process().wait().unwrap(),
        rexpect::process::WaitStatus::Exited(_, 0)
    ));
    let history = std::fs::read_to_string(t.path().join("history.txt")).unwrap();
    assert_eq!(history.lines().filter(|l| l.contains("dropped")).count(), 0);
}

#[test]
fn history_is_saved_to_the_history_file() {
    let t = project();
    let mut p = repl(&t);
    line(&mut p, "40 + 2", "42");
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(t.path().join("history.txt")).unwrap();
    assert!(history.contains("40 + 2"), "{history}");
}

#[test]
fn watch_reruns_the_script_when_it_changes() {
    let t = Test::new().script("main", "\"run \" + \"one\"\n");
    let mut p = rexpect::session::spawn_command(
        command(t.path(), &["scripts/main.rhai", "--watch"]),
        Some(30_000),
    )
    .unwrap();
    p.exp_string("run one").unwrap();
    std::fs::write(t.path().join("scripts/main.rhai"), "\"run \" + \"two\"\n").unwrap();
    p.exp_string("changed: scripts/main.rhai").unwrap();
    p.exp_string("run two").unwrap();
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn bare_llm_do_on_a_terminal_starts_the_repl_and_meta_commands_work() {
    let t = project().config("[models]\nquick = \"test\"\n");
    let mut p = rexpect::session::spawn_command(command(t.path(), &[]), Some(30_000)).unwrap();
    p.exp_string("`:help` for commands").unwrap();
    line(&mut p, ":model gpt", "is not a model id");
    line(&mut p, ":model quick", "model: quick");
    line(&mut p, "call(\"greeter\", \"Bo\")", "test reply");
    line(&mut p, ":model test", "model: test");
    line(&mut p, "call(\"greeter\", \"Ada\")", "test reply");
    line(&mut p, ":approve-all on", "approve-all: on");
    line(&mut p, ":trce on", "did you mean `:trace`?");
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn scripts_can_define_inline_workers() {
    let t = project().script(
        "main",
        "let name = worker(#{name: \"shouter\", instructions: \"Shout.\", model: \"script:fake\"});\n\
         call(name, \"hi\") + \"!\"\n",
    );
    let run = t.run_with(&["scripts/main.rhai"]);
    run.status(0);
    assert_eq!(run.stdout, "hello from fake!\n");
    let bad = Test::new()
        .script(
            "main",
            "worker(#{name: \"x\", instructions: \"y\", modle: \"a:b\"})\n",
        )
        .run_with(&["scripts/main.rhai"]);
    bad.status(1);
    assert!(bad.stderr.contains("modle"), "{}", bad.stderr);
}

#[test]
fn the_repl_reports_the_same_validation_error_as_every_other_path() {
    let t = project().script(
        "lib",
        "/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n",
    );
    let mut p = repl(&t);
    line(
        &mut p,
        "call(\"add\", #{a: \"x\", b: 2})",
        "argument `a` must be an integer, not a string",
    );
    line(&mut p, "call(\"add\", #{a: 40, b: 2})", "42");
    // The same span as every other path: a symbolic call of `add`, started and ended.
    line(&mut p, ":trace on", "trace: on");
    // (rexpect reads bytes as Latin-1, so match the ASCII part of `▶ symbolic add`, `✓ add`.)
    line(&mut p, "call(\"add\", #{a: 1, b: 2})", "symbolic add");
    p.exp_string(" add 0.").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_picks_up_an_edited_providers_table() {
    let server = crate::mock::MockServer::start(
        "127.0.0.1:0",
        crate::mock::Script {
            latency: std::time::Duration::from_millis(1),
            ..crate::mock::Script::default()
        },
    )
    .await
    .expect("mock server");
    let url = server.url();
    let t = project().config(&format!(
        "[providers.alpha]\nbase_url = \"{url}/v1\"\nwire = \"openai\"\n"
    ));
    tokio::task::spawn_blocking(move || {
        let mut p = repl(&t);
        line(&mut p, ":model alpha:m", "alpha:m");
        line(
            &mut p,
            "call(\"greeter\", \"from alpha\")",
            "reply to: from alpha",
        );
        std::fs::write(
            t.path().join("llm-do.toml"),
            format!("[providers.beta]\nbase_url = \"{url}/v1\"\nwire = \"openai\"\n"),
        )
        .unwrap();
        line(&mut p, ":model beta:m", "beta:m");
        let out = line(
            &mut p,
            "call(\"greeter\", \"from beta\")",
            "reply to: from beta",
        );
        assert!(!out.contains("unknown provider"), "{out}");
        p.send_line(":quit").unwrap();
        p.exp_eof().unwrap();
    })
    .await
    .unwrap();
}

/// Several lines arriving in one write (a paste without bracketed paste, `tmux send-keys`,
/// typing ahead): each is evaluated, in order.
#[test]
fn lines_typed_ahead_in_one_write_are_all_evaluated_in_order() {
    let t = project();
    let mut p = repl(&t);
    // One write: an incomplete first statement continues on the next line, as typed.
    p.send("fn pair(a) {\r  a + \"-1\"\r}\rpair(\"a\")\r\"b\" + \"-2\"\r\"c\" + \"-3\"\r")
        .unwrap();
    p.flush().unwrap();
    p.exp_string("a-1").unwrap();
    p.exp_string("b-2").unwrap();
    p.exp_string("c-3").unwrap();
    line(&mut p, "\"d\" + \"-4\"", "d-4");
}

/// Lines typed while a slow line runs wait for it, then run in order.
#[test]
fn lines_typed_during_an_evaluation_run_after_it() {
    let t = project();
    let mut p = repl(&t);
    p.send_line("sleep(3000); \"slow\" + \"-done\"").unwrap();
    // Typed once the slow line runs (its echo is the sign), in two writes.
    p.exp_string("-done\"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.send("\"x\" + \"-1\"\r").unwrap();
    p.flush().unwrap();
    p.send("\"y\" + \"-2\"\r").unwrap();
    p.flush().unwrap();
    p.exp_string("slow-done").unwrap();
    p.exp_string("x-1").unwrap();
    p.exp_string("y-2").unwrap();
}

#[test]
fn ctrl_c_stops_a_sleep_and_keeps_the_session() {
    let t = project();
    let mut p = repl(&t);
    line(&mut p, "let kept = \"kept\" + \"-value\"; 1", "1");
    p.send_line("sleep(600000); \"never\" + \"-shown\"")
        .unwrap();
    p.exp_string("-shown\"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    line(&mut p, "kept", "kept-value");
}

/// The live-swap story: `:stabilize NAME MODE` switches which side serves without a restart.
#[test]
fn stabilize_switches_which_side_serves_live() {
    let t = project()
        .config("[stabilize]\ngreeter = \"worker\"\n")
        .script(
            "greet_code",
            "fn greeter(input) { \"hello from \" + \"code\" }\n",
        );
    let mut p = repl(&t);
    line(&mut p, "call(\"greeter\", \"x\")", "hello from fake");
    line(&mut p, ":stabilize greeter code", "greeter: code");
    line(&mut p, "call(\"greeter\", \"x\")", "hello from code");
    line(
        &mut p,
        ":list",
        "served by the fn, deferring to the worker (`code`)",
    );
    line(&mut p, ":stabilize greeter file", "greeter: worker");
    line(&mut p, "call(\"greeter\", \"x\")", "hello from fake");
    line(
        &mut p,
        ":stabilize version code",
        "is not both a worker and a fn",
    );
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// What `llm-do list` prints for [`listed`]: `:list` prints the same (issue 32).
const LISTING: &str = "\
worker   greeter                 Greets someone                                                     workers/greeter.worker
fn       fake(request)           Stands in for a model.                                             scripts/models.rhai:2
fn       greeter(input)          (no description)                                                   scripts/models.rhai:4
switch   greeter                 served by the worker (`worker`)                                    llm-do.toml [stabilize]
builtin  read_text(path)         Read a text file under the project root.                           built-in
builtin  write_text(path, text)  Write a file atomically under the project root (creates folders).  built-in
builtin  list_files(dir, glob)   Sorted file paths under `dir` matching `glob` (default `**/*`).    built-in
builtin  exists(path)            Whether a path exists under the project root.                      built-in
builtin  parse_json(text)        Parse JSON text into a Rhai value.                                 built-in
builtin  to_json(value)          Serialize a value as JSON text.                                    built-in
builtin  env(name)               An environment variable, or () when unset.                         built-in
builtin  log(message)            Print a message to stderr.                                         built-in
builtin  now()                   The current UTC time as an RFC 3339 string.                        built-in
builtin  sleep(ms)               Pause for `ms` milliseconds.                                       built-in
builtin  ask(question)           Ask the user a question on the terminal; returns the answer.       built-in
toolset  fs_ro                   LLM tools: read_file, list_files                                   built-in
toolset  fs                      LLM tools: read_file, list_files, write_file                       built-in
toolset  shell                   LLM tools: shell                                                   built-in
";

/// A worker, two fns (one the code side of a switch) and a `[stabilize]` switch.
fn listed() -> Test {
    Test::new()
        .config("[stabilize]\ngreeter = \"worker\"\n")
        .worker(
            "greeter",
            "---\ndescription: Greets someone\nmodel: script:fake\n---\nYou greet people.\n",
        )
        .script(
            "models",
            "/// Stands in for a model.\nfn fake(request) { \"hello\" }\n\nfn greeter(input) { \"hi\" }\n",
        )
}

/// The rows `:list` prints, up to the next prompt, without the pty's carriage returns.
fn list_at_the_prompt(p: &mut PtySession) -> String {
    p.send_line(":list").unwrap();
    // Rustyline redraws the typed line; the listing starts on a line of its own.
    p.exp_string("\nworker ").unwrap();
    let shown = p.exp_string(PROMPT).unwrap();
    // What follows the rows is the prompt's terminal codes (rows never hold an ESC).
    let rows = shown.split('\x1b').next().unwrap_or_default();
    format!("worker {}", rows.replace('\r', ""))
}

/// `llm-do list` and the REPL's `:list` are one listing: the same rows, the same columns
/// (issue 32: they were written twice and differed).
#[test]
fn list_at_the_prompt_prints_the_rows_of_llm_do_list() {
    let t = listed();
    let out = t.run_with(&["list"]);
    out.status(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), (LISTING, ""));
    let mut p = repl(&t);
    assert_eq!(list_at_the_prompt(&mut p), LISTING);
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// A line that fails and a meta-command that fails leave the same error line as every face
/// (`report::error_line`, issue 32): with `--error-format json`, one JSON object each, and the
/// session goes on.
#[test]
fn with_error_format_json_failed_lines_are_json_objects() {
    let t = project();
    let mut p = repl_with(&t, &["--error-format", "json"]);
    let mut error_line = |input: &str| {
        p.send_line(input).unwrap();
        let (_, line) = p.exp_regex(r#"\{"error".*\r\n"#).unwrap();
        line.trim_end().to_string()
    };
    assert_eq!(
        error_line("let = 3"),
        r#"{"error":"syntax error: Expecting name of a variable"}"#
    );
    assert_eq!(
        error_line(":stabilize"),
        r#"{"error":"usage: `:stabilize NAME worker|code|shadow|shadow-code|canary:P|file`"}"#
    );
    assert_eq!(error_line(r#"throw "no" + "pe""#), r#"{"error":"nope"}"#);
    line(&mut p, "40 + 2", "42");
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// With `--json`, `:list` prints what `llm-do list --json` prints.
#[test]
fn list_at_the_prompt_with_json_prints_the_json_of_llm_do_list() {
    json_at_the_prompt_is_the_commands(&listed(), "list", ('[', ']'));
}

/// `:NAME` in a REPL started with `--json` prints what `llm-do NAME --json` prints: one JSON
/// document opened and closed by `brackets`.
fn json_at_the_prompt_is_the_commands(t: &Test, name: &str, brackets: (char, char)) {
    let out = t.run_with(&[name, "--json"]);
    out.status(0);
    let (open, close) = brackets;
    let mut p = repl_with(t, &["--json"]);
    p.send_line(&format!(":{name}")).unwrap();
    p.exp_string(&format!("\n{open}")).unwrap();
    let body = p.exp_string(&format!("\n{close}")).unwrap();
    let shown = format!("{open}{}\n{close}\n", utf8(&body).replace('\r', ""));
    assert_eq!(shown, out.stdout);
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// A project with an alias naming an alias, a provider of its own and a price override, so
/// each part of `llm-do models` shows something of the project.
fn with_models() -> Test {
    Test::new().config(
        "[models]\nfast = \"test\"\nsmart = [\"fast\", \"openai:gpt-4.1\"]\n\n\
         [providers.local]\nbase_url = \"http://localhost:8000/v1\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\n\n\
         [prices.\"openai:gpt-4.1\"]\ninput = 1.0\noutput = 2.0\n\n[prices.\"local:m\"]\ninput = 0.5\noutput = 0.5\n",
    )
}

/// `llm-do models` and the REPL's `:models` are one listing: the same data through the same
/// printer (issue 32: REPL meta-commands call the same functions as the commands).
#[test]
fn models_at_the_prompt_prints_what_llm_do_models_prints() {
    let t = with_models();
    let out = t.run_with(&["models"]);
    out.status(0);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.starts_with("providers:\n"), "{}", out.stdout);
    let mut p = repl(&t);
    p.send_line(":models").unwrap();
    // Rustyline redraws the typed line; the listing starts on a line of its own.
    p.exp_string("\nproviders:").unwrap();
    let shown = p.exp_string(PROMPT).unwrap();
    // What follows the text is the prompt's terminal codes (the text never holds an ESC).
    let text = shown.split('\x1b').next().unwrap_or_default();
    assert_eq!(
        format!("providers:{}", utf8(text).replace('\r', "")),
        out.stdout
    );
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// With `--json`, `:models` prints what `llm-do models --json` prints.
#[test]
fn models_at_the_prompt_with_json_prints_the_json_of_llm_do_models() {
    json_at_the_prompt_is_the_commands(&with_models(), "models", ('{', '}'));
}

/// What rexpect read as text: it turns each byte into one char, so UTF-8 (the `→` of an alias
/// that names an alias) comes back as its bytes and is decoded here.
fn utf8(read: &str) -> String {
    let bytes: Vec<u8> = read
        .chars()
        .map(|c| u8::try_from(c).expect("a byte"))
        .collect();
    String::from_utf8(bytes).expect("UTF-8")
}
