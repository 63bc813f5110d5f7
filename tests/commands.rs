//! The command line people expect (issue 21, DESIGN §16): `init`, `completions`, `man`, `help`,
//! "did you mean" for subcommands, flags scoped to their commands, `--color`,
//! `--error-format json`, `--json` everywhere, `run NAME @file`, `--version -v` and the user
//! config under `llm-do.toml`.

use serde_json::json;

use crate::util::{Run, Test, tree};

const GREETER: &str = "---\ndescription: Greet someone\ninput:\n  name: string\n---\nGreet.\n";

fn usage_snap(name: &str, out: &Run) {
    out.status(2);
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!(name, out.stderr);
}

#[test]
fn init_makes_a_project_that_checks_and_runs_offline() {
    let t = Test::new();
    let out = t.run_with(&["init", "proj"]);
    out.status(0);
    insta::assert_snapshot!("init_output", out.stdout);
    let dir = t.path().join("proj");
    let case = std::fs::read_to_string(dir.join("tests/shout.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = case
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [json!({"input": {"text": "hello"}, "expected": "HELLO!"})]
    );
    let proj = Test::new().cwd(&dir);
    let out = proj.run_with(&["check"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        format!("ok: 1 worker, 1 fn in `{}`\n", dir.display())
    );
    assert_eq!(out.stderr, "");
    let out = proj.run_with(&["scripts/main.rhai", "Ada"]);
    out.status(0);
    assert_eq!(
        out.json(),
        json!({"greeting": "test reply: Ada", "shouted": "ADA!"})
    );
    // The case file's expectation holds.
    let out = proj.run_with(&["run", "shout", "--input-json", r#"{"text": "hello"}"#]);
    assert_eq!(out.stdout, "HELLO!\n");
}

#[test]
fn init_in_the_current_folder_says_what_to_run_next() {
    let t = Test::new();
    let dir = t.path().join("here");
    std::fs::create_dir(&dir).unwrap();
    Test::new()
        .cwd(&dir)
        .args(&["init"])
        .stdout(
            "created llm-do.toml
created workers/greeter.worker
created scripts/main.rhai
created tests/shout.jsonl

next: llm-do scripts/main.rhai Ada
  (then `llm-do check`, `llm-do list`, and set a real model in llm-do.toml)
",
        )
        .run();
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let t = Test::new().file("proj/scripts/main.rhai", "40 + 2\n");
    let before = tree(t.path());
    let out = t.run_with(&["init", "proj"]);
    usage_snap("init_refuses", &out);
    assert_eq!(tree(t.path()), before);
}

#[test]
fn completions_name_every_subcommand() {
    let out = Test::new().args(&["completions", "bash"]).run();
    out.status(0);
    assert_eq!(out.stderr, "");
    // The words bash offers after `llm-do `: every option, then every subcommand.
    let top = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("opts=\"-V "))
        .expect("the top-level words");
    assert_eq!(
        top.trim(),
        "opts=\"-V -v -q -h --version --watch --model --approve-all --reject-all --max-depth \
         --trace --record --replay --no-log --verbose --json --quiet --project --color \
         --error-format --help run check list stats shadow test stabilize batch dataset models \
         chat repl view logs init completions man mcp config help\""
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = Test::new().args(&["completions", shell]).run();
        out.status(0);
        // Presence only: the script is clap_complete's text (hundreds of lines, not ours);
        // the bash one is run for real in `completions_offer_*` below.
        assert!(out.stdout.contains("stabilize"), "{shell}");
    }
}

/// Completes the words of each line of `lines` (the last word is the one being completed) with
/// the generated bash script, in a real bash: one line of candidates per line, sorted.
fn complete_in_bash(lines: &[Vec<&str>]) -> Vec<String> {
    let script = Test::new().args(&["completions", "bash"]).run();
    script.status(0);
    let t = Test::new().file("completions.bash", &script.stdout);
    let mut driver = String::from(
        "source ./completions.bash\n\
         c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=();\n\
         _llm__do llm-do \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\";\n\
         printf '%s\\n' \"${COMPREPLY[*]}\"; }\n",
    );
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        driver.push_str(&format!("c llm-do {}\n", quoted.join(" ")));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&driver)
        .current_dir(t.path())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut words: Vec<&str> = l.split_whitespace().collect();
            words.sort_unstable();
            words.join(" ")
        })
        .collect()
}

/// Bash completes after the subcommand (issue 30: the script's state names disagreed, so
/// nothing past `llm-do test` completed).
#[test]
fn bash_completes_options_and_subcommands_after_the_subcommand() {
    let got = complete_in_bash(&[
        vec!["test", "--re"],
        vec!["logs", "--ru"],
        vec!["config", "sh"],
        vec!["completions", "z"],
        vec!["--color", "al"],
    ]);
    assert_eq!(
        got,
        [
            "--record --reject-all --repeat --replay",
            "--run --runs",
            "show",
            "zsh",
            "always",
        ]
    );
}

/// Bash offers every long flag of every subcommand (and of `config`'s own subcommands).
#[test]
fn bash_completes_the_flags_of_every_subcommand() {
    let mut cmd = llm_do::cli::command();
    cmd.build();
    let long_flags = |c: &clap::Command| {
        let mut flags: Vec<String> = c
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        flags.sort_unstable();
        flags.join(" ")
    };
    let mut paths: Vec<Vec<&str>> = Vec::new();
    let mut expected = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        paths.push(vec![sub.get_name(), "--"]);
        expected.push(long_flags(sub));
        for inner in sub.get_subcommands().filter(|s| s.get_name() != "help") {
            paths.push(vec![sub.get_name(), inner.get_name(), "--"]);
            expected.push(long_flags(inner));
        }
    }
    assert!(paths.len() > 15, "{paths:?}");
    let got = complete_in_bash(&paths);
    for ((path, want), got) in paths.iter().zip(&expected).zip(&got) {
        assert!(want.contains("--help"), "{path:?}: {want}");
        assert_eq!(got, want, "llm-do {}<Tab>", path.join(" "));
    }
    assert_eq!(got.len(), expected.len());
}

/// Each completion script parses in its shell (`bash -n`, `zsh -n`, `fish -n`), where installed.
#[test]
fn completions_parse_in_their_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Test::new().args(&["completions", shell]).run();
        out.status(0);
        let t = Test::new().file("completions", &out.stdout);
        let checked = std::process::Command::new(shell)
            .arg("-n")
            .arg(t.path().join("completions"))
            .output();
        // Where the shell is missing there is nothing to check.
        if let Ok(result) = checked {
            assert!(
                result.status.success(),
                "{shell} -n: {}",
                String::from_utf8_lossy(&result.stderr)
            );
        }
    }
}

#[test]
fn man_prints_a_roff_page() {
    let out = Test::new().args(&["man"]).run();
    out.status(0);
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!("man", out.stdout);
}

#[test]
fn help_is_a_subcommand() {
    let out = Test::new().args(&["help"]).run();
    out.status(0);
    insta::assert_snapshot!("help", out.stdout);
    let out = Test::new().args(&["help", "run"]).run();
    out.status(0);
    insta::assert_snapshot!("help_run", out.stdout);
}

#[test]
fn each_subcommand_has_its_own_help() {
    for cmd in [
        "check",
        "list",
        "stats",
        "shadow",
        "chat",
        "repl",
        "init",
        "completions",
        "man",
        "config",
    ] {
        let out = Test::new().args(&[cmd, "--help"]).run();
        out.status(0);
        insta::assert_snapshot!(format!("help_{cmd}"), out.stdout);
    }
}

#[test]
fn a_mistyped_command_gets_did_you_mean() {
    let out = Test::new().args(&["chek"]).run();
    usage_snap("mistyped_command", &out);
    // A missing script that is no command name stays a script error.
    Test::new()
        .args(&["nothing.rhai"])
        .status(2)
        .stderr(
            "error: cannot read script `nothing.rhai`: No such file or directory (os error 2)\n",
        )
        .run();
}

#[test]
fn flags_belong_to_their_commands() {
    let t = Test::new().worker("greeter", GREETER);
    usage_snap("check_watch", &t.run_with(&["check", "--watch"]));
    let out = t.run_with(&["--model", "test", "list"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `--model` does not apply to `llm-do list`\n  hint: `llm-do list --help` lists its options\n"
    );
    assert_eq!(out.stdout, "");
    let out = t.run_with(&["--watch", "check"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `--watch` does not apply to `llm-do check`\n  hint: `llm-do check --help` lists its options\n"
    );
    // Run options before a running command still reach it.
    let out = t.run_with(&["--model", "test", "run", "greeter", "Ada"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
    // Global options anywhere.
    t.run_with(&["check", "--project", ".", "-q"]).status(0);
}

#[test]
fn color_follows_the_flag_then_no_color() {
    let t = Test::new().worker("w", "---\nmodle: test\n---\nHi\n");
    let out = t.run_with(&["check", "--color", "always"]);
    out.status(2);
    insta::assert_snapshot!("color_always", out.stderr);
    let plain = "  x unknown key `modle` in worker frontmatter
   ,-[workers/w.worker:2:1]
 1 | ---
 2 | modle: test
   : ^^|^^
   :   `-- unknown key
 3 | ---
   `----
  help: did you mean `model`?

";
    let out = t.run_with(&["check", "--color", "never"]);
    out.status(2);
    assert_eq!(out.stderr, plain);
    // The test builder sets NO_COLOR: `auto` means no colour.
    let out = t.run_with(&["check"]);
    out.status(2);
    assert_eq!(out.stderr, plain);
    // A usage error found by the parser follows `--color` too.
    let out = t.run_with(&["check", "--bogus", "--color=always"]);
    out.status(2);
    insta::assert_snapshot!("color_always_usage", out.stderr);
    let out = t.run_with(&["check", "--bogus", "--color=never"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: unexpected argument '--bogus' found\n\nUsage: llm-do check [OPTIONS]\n\n\
         For more information, try '--help'.\n"
    );
}

#[test]
fn error_format_json_for_a_located_error() {
    let out = Test::new()
        .worker("w", "---\nmodle: test\n---\nHi\n")
        .args(&["check", "--error-format", "json"])
        .run();
    out.status(2);
    let v: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(
        v,
        json!({
            "error": "unknown key `modle` in worker frontmatter",
            "help": "did you mean `model`?",
            "code": 2,
            "location": {"file": "workers/w.worker", "line": 2, "column": 1},
        }),
        "{}",
        out.stderr
    );
}

#[test]
fn error_format_json_for_unlocated_errors() {
    let t = Test::new().worker("greeter", GREETER);
    let out = t.run_with(&["--error-format", "json", "run", "nobody", "--model", "test"]);
    out.status(2);
    let v: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(v["error"], "unknown function or worker `nobody`");
    assert_eq!(v["code"], 2);
    assert!(v.get("location").is_none(), "{v}");
    // Usage errors from the parser too.
    let out = t.run_with(&["check", "--watch", "--error-format=json"]);
    out.status(2);
    let v: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(
        v,
        json!({"error": "unexpected argument '--watch' found", "code": 2})
    );
}

#[test]
fn list_and_check_print_json() {
    let t = Test::new()
        .worker("greeter", GREETER)
        .script("m", "/// Add.\n/// a: integer\nfn inc(a) { a + 1 }\n");
    let out = t.run_with(&["check", "--json"]);
    out.status(0);
    assert_eq!(
        out.json(),
        json!({"ok": true, "workers": 1, "fns": 1, "root": "[PROJECT]", "stabilize": {}})
    );
    let out = t.run_with(&["list", "--json"]);
    out.status(0);
    let rows = out.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[0],
        json!({"kind": "worker", "name": "greeter", "description": "Greet someone", "source": "workers/greeter.worker"})
    );
    assert_eq!(
        rows[1],
        json!({"kind": "fn", "name": "inc(a)", "description": "Add.", "source": "scripts/m.rhai:3"})
    );
    assert!(rows.iter().all(|r| r.as_object().unwrap().len() == 4));
}

#[test]
fn run_reads_its_input_from_a_file() {
    let t = Test::new()
        .worker("greeter", GREETER)
        .script("m", "fn inc(a) { a + 1 }\n")
        .file("name.txt", "Ada\n")
        .file("args.json", "{\"a\": 41}\n");
    let out = t.run_with(&["run", "greeter", "@name.txt", "--model", "test"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
    let out = t.run_with(&["run", "inc", "@args.json"]);
    out.status(0);
    assert_eq!(out.stdout, "42\n");
    let out = t.run_with(&["run", "inc", "--input-file", "args.json"]);
    assert_eq!(out.stdout, "42\n");
    let out = t.run_with(&["run", "inc", "@missing.json"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: cannot read input file `missing.json`: No such file or directory (os error 2)\n"
    );
}

#[test]
fn version_is_verbose_with_v() {
    let out = Test::new().args(&["--version"]).run();
    out.status(0);
    assert_eq!(
        out.stdout,
        format!("llm-do {}\n", env!("CARGO_PKG_VERSION"))
    );
    // The commit and the target depend on the build: each must be there, not empty.
    Test::new()
        .args(&["--version", "-v"])
        .filter(r"(?m)^commit: \S+$", "commit: [COMMIT]")
        .filter(r"(?m)^target: \S+$", "target: [TARGET]")
        .stdout(&format!(
            "llm-do {}\ncommit: [COMMIT]\ntarget: [TARGET]\nfeatures: none\n",
            env!("CARGO_PKG_VERSION")
        ))
        .run();
}

const USER: &str = "[defaults]\nmodel = \"test\"\n\n[models]\nfast = \"openai:gpt-4o-mini\"\n\n\
                    [providers.local]\nbase_url = \"http://localhost:8080/v1\"\nwire = \"openai\"\n";

#[test]
fn the_user_config_gives_a_default_model() {
    let t = Test::new()
        .worker("greeter", GREETER)
        .file("home/config.toml", USER);
    let cfg = t.path().join("home/config.toml").display().to_string();
    let out = t.run_with(&["run", "greeter", "Ada"]);
    out.status(1);
    let t = t.env("LLM_DO_CONFIG", &cfg);
    let out = t.run_with(&["run", "greeter", "Ada"]);
    out.status(0);
    assert_eq!(out.stdout, "test reply: Ada\n");
}

#[test]
fn the_project_config_wins_over_the_user_config() {
    let t = Test::new()
        .worker("greeter", GREETER)
        .config("[defaults]\nmodel = \"script:echo\"\n")
        .script("m", "fn echo(messages) { \"from the project\" }\n")
        .file("home/config.toml", USER);
    let cfg = t.path().join("home/config.toml").display().to_string();
    let t = t.env("LLM_DO_CONFIG", &cfg);
    let out = t.run_with(&["run", "greeter", "Ada"]);
    out.status(0);
    assert_eq!(out.stdout, "from the project\n");
    let out = t.run_with(&["config", "show"]);
    out.status(0);
    insta::assert_snapshot!("config_show", out.stdout);
}

#[test]
fn config_path_follows_the_environment() {
    let t = Test::new();
    let out = t.run_with(&["config", "path"]);
    out.status(0);
    assert_eq!(out.stdout, "[PROJECT]/.config/llm-do/config.toml\n");
    let t = Test::new().env("XDG_CONFIG_HOME", "/xdg");
    assert_eq!(
        t.run_with(&["config", "path"]).stdout,
        "/xdg/llm-do/config.toml\n"
    );
    let t = Test::new().env("LLM_DO_CONFIG", "/elsewhere/c.toml");
    assert_eq!(
        t.run_with(&["config", "path"]).stdout,
        "/elsewhere/c.toml\n"
    );
}

#[test]
fn a_bad_user_config_points_at_its_line() {
    let t = Test::new()
        .worker("greeter", GREETER)
        .file("home/config.toml", "[defaults]\nmodle = \"test\"\n");
    let cfg = t.path().join("home/config.toml").display().to_string();
    let out = t
        .env("LLM_DO_CONFIG", &cfg)
        .run_with(&["check", "--error-format", "json"]);
    out.status(2);
    let v: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(v["location"]["line"], 2, "{v}");
    assert_eq!(v["location"]["file"], "[PROJECT]/home/config.toml", "{v}");
}

const ADD: &str = "/// Add two numbers.\n/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n";

#[test]
fn shadow_prints_json() {
    let t = Test::new().script("math", ADD).file(
        "main.rhai",
        "call(\"add\", #{a: 1, b: 2}) + call(\"add\", #{a: 3, b: 4})",
    );
    t.run_with(&["main.rhai", "--trace", "t.jsonl"]).status(0);
    let out = t.run_with(&["shadow", "add", "--trace", "t.jsonl", "--json"]);
    out.status(0);
    assert_eq!(
        out.json(),
        json!({"name": "add", "agreed": 2, "total": 2, "disagreements": []})
    );
    let t = t.script("math", "fn add(a, b) { a * b }\n");
    let out = t.run_with(&["shadow", "add", "--trace", "t.jsonl", "--json"]);
    out.status(1);
    assert_eq!(
        out.json()["disagreements"][0],
        json!({"input": {"a": 1, "b": 2}, "recorded": 3, "now": 2})
    );
}

/// Every `--json` output and `--error-format json` error matches `docs/cli.schema.json`.
#[test]
fn json_outputs_match_the_documented_schema() {
    let text = std::fs::read_to_string(crate::util::repo().join("docs/cli.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let checked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let check = |def: &str, value: &serde_json::Value| {
        checked.borrow_mut().insert(def.to_string());
        let mut s = schema.clone();
        s["$ref"] = json!(format!("#/$defs/{def}"));
        let v = jsonschema::validator_for(&s).unwrap();
        let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{def}: {errors:?}\n{value}");
    };
    let t = Test::new()
        .worker("greeter", GREETER)
        .script("math", ADD)
        .file("main.rhai", "call(\"add\", #{a: 1, b: 2})");
    check("list", &t.run_with(&["list", "--json"]).json());
    // A `[stabilize]` switch is listed as kind `switch` (issue 30).
    let switch = Test::new()
        .config("[stabilize]\ngreeter = \"code\"\n")
        .worker("greeter", GREETER)
        .script("greet", "fn greeter(name) { `Hi ${name}` }\n");
    let listed = switch.run_with(&["list", "--json"]).json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "switch"),
        "{listed}"
    );
    check("list", &listed);
    check("check", &t.run_with(&["check", "--json"]).json());
    check(
        "config_path",
        &t.run_with(&["config", "path", "--json"]).json(),
    );
    let chat = Test::new().worker("greeter", GREETER).stdin("Ada\nBob\n");
    let out = chat.run_with(&["chat", "greeter", "--json", "--model", "test"]);
    out.status(0);
    for line in out.stdout.lines() {
        check("chat_turn", &serde_json::from_str(line).unwrap());
    }
    t.run_with(&["main.rhai", "--trace", "t.jsonl"]).status(0);
    check(
        "shadow",
        &t.run_with(&["shadow", "add", "--trace", "t.jsonl", "--json"])
            .json(),
    );
    let t = t.script("math", "fn add(a, b) { a * b }\n");
    check(
        "shadow",
        &t.run_with(&["shadow", "add", "--trace", "t.jsonl", "--json"])
            .json(),
    );
    let err = |out: Run| serde_json::from_str::<serde_json::Value>(out.stderr.trim()).unwrap();
    check(
        "error",
        &err(t.run_with(&["run", "nope", "--error-format", "json"])),
    );
    check(
        "error",
        &err(t.run_with(&["check", "--watch", "--error-format", "json"])),
    );
    let t = t
        .worker("a", "---\nmodle: x\n---\nHi\n")
        .worker("b", "---\ntoolsets: [nope]\n---\nHi\n");
    let e = err(t.run_with(&["check", "--error-format", "json"]));
    assert_eq!(e["related"].as_array().map(Vec::len), Some(2), "{e}");
    check("error", &e);
    let init = Test::new();
    check("init", &init.run_with(&["init", "fresh", "--json"]).json());
    let logged = Test::new()
        .config("[models]\nfast = \"test\"\nboth = [\"fast\", \"openai:gpt-4.1\"]\n")
        .worker("greeter", GREETER);
    logged
        .run_with(&["run", "greeter", "Ada", "--model", "fast"])
        .status(0);
    check("logs", &logged.run_with(&["logs", "--json"]).json());
    check(
        "logs_runs",
        &logged.run_with(&["logs", "--runs", "--json"]).json(),
    );
    check("models", &logged.run_with(&["models", "--json"]).json());
    check(
        "mcp_serve_list",
        &logged
            .run_with(&["mcp", "serve", "--list", "--json"])
            .json(),
    );
    // Every documented shape was checked here (the parts of others excepted).
    let documented: std::collections::BTreeSet<String> = schema["$defs"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !["related", "location"].contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(*checked.borrow(), documented);
}

/// `llm-do man` points at pages it can print (`llm-do man COMMAND`), not at `llm-do-run(1)`
/// pages nothing installs; `man COMMAND` prints one; an unknown one is refused.
#[test]
fn man_points_at_the_pages_it_prints() {
    // The whole `llm-do man` page is the `man` snapshot of `man_prints_a_roff_page`; its
    // SUBCOMMANDS section names `llm-do man COMMAND` for each, never a `(1)` page.
    let out = Test::new().args(&["man"]).run();
    out.status(0);
    let subcommands = out
        .stdout
        .split(".SH SUBCOMMANDS\n")
        .nth(1)
        .expect("a SUBCOMMANDS section");
    let first = subcommands.lines().take(3).collect::<Vec<_>>();
    assert_eq!(
        first,
        [
            ".TP",
            "llm\\-do run (\\fBllm\\-do man run\\fR)",
            "Run one worker or fn with INPUT (text), `@FILE`, `\\-\\-input\\-json`, or stdin"
        ]
    );
    let out = Test::new().args(&["man", "run"]).run();
    out.status(0);
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!("man_run", out.stdout);
    let out = Test::new().args(&["man", "chek"]).run();
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: no command `chek` to show the page of\n  hint: did you mean `check`?\n"
    );
}

/// `llm-do help CMD` with a mistyped CMD says which command was meant.
#[test]
fn help_suggests_a_mistyped_command() {
    let out = Test::new().args(&["help", "chek"]).run();
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: unrecognized subcommand 'chek'\n\n  tip: a similar subcommand exists: 'check'\n\n\
         Usage: llm-do [OPTIONS] SCRIPT [ARGS]...\n       llm-do [OPTIONS] <COMMAND>\n\n\
         For more information, try '--help'.\n"
    );
    let out = Test::new()
        .args(&["help", "chek", "--error-format", "json"])
        .run();
    out.status(2);
    assert_eq!(
        out.stderr,
        "{\"error\":\"unrecognized subcommand 'chek'\",\"code\":2,\"help\":\"a similar subcommand exists: 'check'\"}\n"
    );
}
