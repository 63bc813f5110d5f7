//! Bad input: each case gives a clear message with a location, the right exit code, no panic.
//! The whole stderr is snapshotted.

use crate::util::{Run, Test};

fn snap(name: &str, out: &Run, code: i32) {
    out.status(code);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    insta::assert_snapshot!(name, out.stderr);
}

#[test]
fn broken_yaml() {
    let out = Test::new()
        .worker("w", "---\nmodel: test\ntoolsets: [a, b\n---\nHi\n")
        .args(&["check"])
        .run();
    snap("broken_yaml", &out, 2);
}

#[test]
fn unknown_key_with_suggestion() {
    let out = Test::new()
        .worker("w", "---\nmodle: test\n---\nHi\n")
        .args(&["check"])
        .run();
    snap("unknown_key", &out, 2);
}

#[test]
fn wrong_type() {
    let out = Test::new()
        .worker("w", "---\nmax_turns: many\n---\nHi\n")
        .args(&["check"])
        .run();
    snap("wrong_type", &out, 2);
}

#[test]
fn missing_frontmatter() {
    let out = Test::new()
        .worker("w", "You are a helpful assistant.\n")
        .args(&["check"])
        .run();
    snap("missing_frontmatter", &out, 2);
}

#[test]
fn duplicate_names_across_a_worker_and_a_fn() {
    let out = Test::new()
        .worker("clean", "---\n---\nClean.\n")
        .script("util", "fn clean(x) { x }\n")
        .args(&["check"])
        .run();
    snap("duplicate_name", &out, 2);
}

#[test]
fn unknown_toolset() {
    let out = Test::new()
        .worker("w", "---\ntoolsets: [fs_r0]\n---\nHi\n")
        .args(&["check"])
        .run();
    snap("unknown_toolset", &out, 2);
}

#[test]
fn rhai_syntax_error() {
    let out = Test::new()
        .script("broken", "fn f(x) {\n  let y = x +;\n  y\n}\n")
        .args(&["check"])
        .run();
    snap("rhai_syntax_error", &out, 2);
}

#[test]
fn rhai_runtime_error_inside_a_called_fn() {
    let lib = "fn risky(n) {\n  let items = [1, 2];\n  items[n]\n}\n";
    let out = Test::new()
        .script("lib", lib)
        .file("main.rhai", "let x = 1;\ncall(\"risky\", #{n: 5})\n")
        .args(&["main.rhai"])
        .run();
    snap("rhai_runtime_error", &out, 1);
}

#[test]
fn output_failing_its_schema() {
    let model = "fn bad(request) { #{output: #{score: \"high\"}} }\n";
    let worker = "---\nmodel: script:bad\noutput:\n  score: integer\n---\nScore it.\n";
    let out = Test::new()
        .worker("scorer", worker)
        .script("model", model)
        .args(&["run", "scorer", "deck"])
        .run();
    snap("output_schema", &out, 1);
}

#[test]
fn depth_exceeded() {
    let worker = "---\ntoolsets: [recurse]\n---\nCall yourself.\n";
    let out = Test::new()
        .worker("recurse", worker)
        .args(&[
            "run",
            "recurse",
            "go",
            "--model",
            "test",
            "--max-depth",
            "3",
        ])
        .run();
    snap("depth_exceeded", &out, 1);
}

#[test]
fn path_escaping_the_project_root() {
    let t = Test::new().file("main.rhai", "read_text(\"../secret.txt\")\n");
    let out = t.run_with(&["main.rhai"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
         x path `../secret.txt` escapes the project root `[PROJECT]`
          ,-[main.rhai:1:1]
        1 | read_text("../secret.txt")
          : |
          : `-- here
          `----
        "#);
    let out = Test::new()
        .file(
            "main.rhai",
            "write_text(\"/tmp/llm-do-escape.txt\", \"x\")\n",
        )
        .args(&["main.rhai"])
        .run();
    out.status(1);
    assert!(!std::path::Path::new("/tmp/llm-do-escape.txt").exists());
    snap("path_escape", &t.run_with(&["main.rhai"]), 1);
}

#[test]
fn unknown_key_in_config() {
    let out = Test::new()
        .config("[limits]\nmax_dept = 3\n")
        .args(&["check"])
        .run();
    snap("config_unknown_key", &out, 2);
}

#[test]
fn unknown_name_in_call() {
    let out = Test::new()
        .worker("greeter", "---\n---\nHi\n")
        .file("main.rhai", "call(\"greeterr\", \"x\")\n")
        .args(&["main.rhai", "--model", "test"])
        .run();
    snap("unknown_name", &out, 1);
}

#[test]
fn unknown_name_in_run_is_a_usage_error() {
    let out = Test::new()
        .worker("greeter", "---\n---\nHi\n")
        .args(&["run", "greter", "x"])
        .run();
    snap("run_unknown_name", &out, 2);
}

#[test]
fn no_model_names_every_way_to_set_one() {
    let out = Test::new()
        .worker("greeter", "---\n---\nHi\n")
        .args(&["run", "greeter", "x"])
        .run();
    snap("no_model", &out, 1);
}

#[test]
fn no_project_found() {
    let t = Test::new();
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::remove_dir_all(t.path().join("workers")).unwrap();
    let out = t.cwd(&empty).args(&["check"]).run();
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: no llm-do project found from `[PROJECT]/empty` upward
          hint: a project root holds `llm-do.toml` or a `workers/` folder; create one or pass `--project DIR`
        ");
}

#[test]
fn runaway_loop_stops_at_the_operation_limit() {
    let out = Test::new()
        .config("[limits]\nmax_operations = 100000\n")
        .file("main.rhai", "let i = 0;\nloop { i += 1; }\n")
        .args(&["main.rhai"])
        .run();
    snap("runaway_loop", &out, 1);
}

#[test]
fn an_array_grown_in_a_loop_stops_at_the_cpu_limit() {
    // Rhai checks an array's size by walking it after every push, so this loop's time is
    // quadratic while its operation count stays far under the limit: only the CPU clock
    // bounds it.
    let out = Test::new()
        .config("[limits]\nmax_cpu_seconds = 1\n")
        .file(
            "main.rhai",
            "let a = [];\nfor i in 0..300000 { a.push(i); }\nprint(`done ${a.len()}`);\n",
        )
        .args(&["main.rhai"])
        .run();
    out.status(1);
    assert!(
        out.stderr.contains("the script used too much CPU time")
            && out.stderr.contains("limits.max_cpu_seconds")
            && out.stderr.contains("main.rhai:2"),
        "{}",
        out.stderr
    );
}

#[test]
fn waiting_does_not_count_against_the_cpu_limit() {
    let out = Test::new()
        .config("[limits]\nmax_cpu_seconds = 1\n")
        .file("main.rhai", "sleep(1.5);\nprint(\"woke\");\n")
        .args(&["main.rhai"])
        .run();
    out.status(0);
    assert_eq!(out.stdout.trim(), "woke");
}

#[test]
fn a_shell_rule_that_can_never_match_fails_check_and_run_alike() {
    let t = Test::new()
        .config("[shell]\nallow = [{ prefix = \"git status; rm\" }]\n")
        .file("main.rhai", "1");
    for args in [&["check"][..], &["main.rhai"][..], &["run", "now"][..]] {
        let out = t.run_with(args);
        out.status(2);
        // Said once, as a problem of the file (it was "cannot read", with the reason twice).
        assert_eq!(
            out.stderr,
            "error: `llm-do.toml`: `[shell] allow` rule #1 (prefix `git status; rm`) can never \
             match: `;` (command separator) is not allowed; commands run without a shell, as one \
             program with plain arguments; fix or remove it (commands are matched word by word, \
             without a shell)\n",
            "{args:?}"
        );
    }
}

/// `--error-format json` keeps what caused an error (issue 30: the missing key was dropped).
#[test]
fn json_errors_keep_their_causes() {
    let out = Test::new()
        .worker(
            "greeter",
            "---\nmodel: anthropic:claude-haiku-4-5\n---\nGreet.\n",
        )
        .args(&["run", "greeter", "Ada", "--error-format", "json"])
        .run();
    out.status(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "{\"error\":\"model `anthropic:claude-haiku-4-5` failed in worker `greeter`\",\
         \"causes\":[\"missing API key: set the `ANTHROPIC_API_KEY` environment variable\"],\
         \"code\":1}\n"
    );
}

/// llm-do's own `error:` and `hint:` labels are coloured with `--color always` (even with
/// `NO_COLOR`, which the test environment sets), and plain otherwise.
#[test]
fn error_labels_are_coloured_only_when_asked() {
    let t = Test::new().worker("greeter", "---\n---\nHi\n");
    let out = t.run_with(&["chek", "--color", "always"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "\u{1b}[1;31merror\u{1b}[0m: unknown command or script `chek`\n  \
         \u{1b}[1;36mhint\u{1b}[0m: did you mean `check`? (`llm-do --help` lists the commands)\n"
    );
    let plain = "error: unknown command or script `chek`\n  \
                 hint: did you mean `check`? (`llm-do --help` lists the commands)\n";
    for args in [&["chek", "--color", "never"][..], &["chek"]] {
        let out = t.run_with(args);
        out.status(2);
        assert_eq!(out.stderr, plain, "{args:?}");
    }
}

/// `LLM_DO_CONFIG` naming a file that is not there is an error, not ignored (issue 30).
#[test]
fn a_missing_config_named_by_the_environment_is_an_error() {
    let out = Test::new()
        .worker("greeter", "---\n---\nHi\n")
        .env("LLM_DO_CONFIG", "/nonexistent/llm-do.toml")
        .args(&["check"])
        .run();
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: cannot read `/nonexistent/llm-do.toml`: no such file (named by `LLM_DO_CONFIG`)\n"
    );
}

/// Valid TOML with a value a key refuses is not "invalid TOML": the message names the key and
/// its table (issue 30); a real syntax error still says invalid TOML.
#[test]
fn a_bad_value_in_valid_toml_names_its_key() {
    let t = Test::new()
        .worker("greeter", "---\n---\nHi\n")
        .config("[stabilize]\ngreeter = \"sometimes\"\n");
    let out = t.run_with(&["check", "--error-format", "json"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "{\"error\":\"bad value for `greeter` in `[stabilize]`: `sometimes` is not a stabilize \
         mode: use \\\"worker\\\", \\\"code\\\", \\\"shadow\\\", \\\"shadow-code\\\" or \
         \\\"canary:P\\\" (P from 0 to 100)\",\"location\":{\"file\":\"llm-do.toml\",\"line\":2,\
         \"column\":11},\"code\":2}\n"
    );
    let t = t.config("x = [\n");
    let out = t.run_with(&["check", "--error-format", "json"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "{\"error\":\"invalid TOML: unclosed array, expected `]`\",\"location\":{\"file\":\
         \"llm-do.toml\",\"line\":1,\"column\":6},\"code\":2}\n"
    );
}

/// `check` reports every mistake in a worker file, not only the first (issue 30): all unknown
/// keys, and every bad value.
#[test]
fn check_reports_every_error_of_a_file() {
    let t = Test::new()
        .worker("a", "---\nmodle: x\ndescripton: y\n---\nHi\n")
        .worker("b", "---\nmax_turns: \"z\"\ntemperature: 9\n---\nHi\n");
    let out = t.run_with(&["check", "--error-format", "json"]);
    out.status(2);
    let e: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    let messages = |v: &serde_json::Value| -> Vec<String> {
        std::iter::once(v["error"].as_str().unwrap().to_string())
            .chain(
                v["related"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["error"].as_str().unwrap().to_string()),
            )
            .collect()
    };
    let files: Vec<Vec<String>> = e["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(messages)
        .collect();
    assert_eq!(
        files,
        [
            vec![
                "unknown key `modle` in worker frontmatter".to_string(),
                "unknown key `descripton` in worker frontmatter".to_string(),
            ],
            vec![
                "`max_turns` must be a positive integer, found the string `z`".to_string(),
                "`temperature` must be a number from 0 to 2, found `9`".to_string(),
            ],
        ],
        "{e}"
    );
}
