//! Regression tests for issue 17 ("What new users hit"), through the binary: replay running
//! out, `import` errors, `-vv` and traces numbering turns alike, and what the docs now say about
//! `model: test`, empty stdin and `check`. (Builtins: `builtins.rs`; signals: `interrupts.rs`;
//! typing ahead: `repl.rs`; replies: `providers/`; doc snippets: `doc_snippets.rs`.)

use crate::util::Test;

/// A worker whose `script:` model answers from the request, called `n` times by `main.rhai`.
fn project() -> Test {
    Test::new()
        .worker("echo", "---\nmodel: script:fake\n---\nEcho.\n")
        .script("fake", "fn fake(request) { \"heard \" + request.messages.len() }\n")
        .file(
            "main.rhai",
            "let out = [];\nfor i in 0..parse_json(args[0]) { out.push(call(\"echo\", \"same\")); }\nout.len()\n",
        )
}

#[test]
fn replaying_more_calls_than_recorded_says_the_cassette_ran_out() {
    let t = project();
    t.run_with(&["--record", "c.json", "main.rhai", "2"])
        .status(0);
    t.run_with(&["--replay", "c.json", "main.rhai", "2"])
        .status(0);
    let out = t.run_with(&["--replay", "c.json", "main.rhai", "3"]);
    out.status(1);
    let flat = out.stderr.replace("\n  | ", " ");
    assert!(
        flat.contains(
            "replay: cassette `c.json` has 2 recorded exchanges for worker `echo`; request 3 has no recording"
        ),
        "{}",
        out.stderr
    );
    assert!(!flat.contains("differs"), "{}", out.stderr);
}

#[test]
fn a_failed_import_names_the_path_and_what_imports_accept() {
    for (import, why) in [
        ("../x", "path `../x.rhai` escapes the project root"),
        (
            "helpers",
            "there is no file `helpers.rhai` under the project root",
        ),
        ("std/txt", "there is no standard module `std/txt`"),
    ] {
        let out = Test::new()
            .file("main.rhai", &format!("import \"{import}\" as m;\n1\n"))
            .run_with(&["main.rhai"]);
        out.status(1);
        let flat = out.stderr.replace("\n  | ", " ");
        assert!(
            flat.contains(&format!("cannot import `{import}`: {why}")),
            "{}",
            out.stderr
        );
        assert!(
            flat.contains("imports are standard modules (`std/text`, `std/retry`, `std/check`)"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn vv_and_traces_number_turns_alike() {
    let t = project();
    let out = t.run_with(&["-vv", "--trace", "t.jsonl", "main.rhai", "1"]);
    out.status(0);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r#"
            ▶ neural echo ← {"input":"same"}
              → script:fake turn 0: same
              ← script:fake: heard 1 [stop: stop]
            ✓ echo [T] ms → heard 1
            total: 1 model call, 0 in / 0 out tokens
              echo: 1 model call, 0 in / 0 out tokens
            "#);
    });
    let trace = std::fs::read_to_string(t.path().join("t.jsonl")).unwrap();
    let turns: Vec<u64> = trace
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "model_request")
        .map(|e| e["turn"].as_u64().unwrap())
        .collect();
    assert_eq!(turns, [0]);
}

/// docs/workers.md: `model: test` runs, and `check` accepts it.
#[test]
fn a_worker_with_model_test_runs() {
    let t = Test::new().worker("hi", "---\nmodel: test\n---\nSay hi.\n");
    let run = t.run_with(&["run", "hi", "Ada"]);
    run.status(0);
    assert_eq!(run.stdout, "test reply: Ada\n");
    t.run_with(&["check"]).status(0);
}

/// docs/cli.md: empty stdin passes no input, as on a terminal.
#[test]
fn empty_stdin_passes_no_input() {
    let t = Test::new().worker("hi", "---\nmodel: test\n---\nSay hi.\n");
    let now = t.run_with(&["run", "now"]);
    now.status(0);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(now.stdout, @"[TIME]");
    });
    let hi = t.run_with(&["run", "hi"]);
    hi.status(1);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(hi.stderr, @r#"
            error: input for worker `hi` does not match its `input` schema: `/`: "input" is a required property
            "#);
    });
    let explicit = t.run_with(&["run", "hi", ""]);
    explicit.status(0);
    assert_eq!(explicit.stdout, "test reply: \n");
}

/// docs/cli.md: `check` reports errors of different files together, the first of each file.
#[test]
fn check_reports_the_first_error_of_each_file() {
    let run = Test::new()
        .worker("a", "---\nmodel: nope\ntemprature: 1\n---\nx\n")
        .worker("b", "---\nmodle: x:y\n---\nx\n")
        .run_with(&["check"]);
    run.status(2);
    insta::assert_snapshot!(run.stderr, @r"
          x the project has 2 errors

        Error: 
          x unknown key `temprature` in worker frontmatter
           ,-[workers/a.worker:3:1]
         2 | model: nope
         3 | temprature: 1
           : ^^^^^|^^^^
           :      `-- unknown key
         4 | ---
           `----
          help: did you mean `temperature`?

        Error: 
          x unknown key `modle` in worker frontmatter
           ,-[workers/b.worker:2:1]
         1 | ---
         2 | modle: x:y
           : ^^|^^
           :   `-- unknown key
         3 | ---
           `----
          help: did you mean `model`?
        ");
}

/// `check` refuses what `run` would trip on: a `tool_choice` naming no tool of the worker.
#[test]
fn check_refuses_a_tool_choice_naming_no_tool() {
    let t = crate::util::Test::new().worker(
        "w",
        "---\nmodel: test\ntoolsets: [fs_ro]\ntool_choice: write_file\n---\nHi.\n",
    );
    let out = t.run_with(&["check"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
         x `tool_choice: write_file` in worker `w` names no tool it has
          ,-[workers/w.worker:4:1]
        3 | toolsets: [fs_ro]
        4 | tool_choice: write_file
          : ^^^^^|^^^^^
          :      `-- not among the worker's tools
        5 | ---
          `----
         help: its tools are: read_file, list_files
        ");
    let ok = crate::util::Test::new().worker(
        "w",
        "---\nmodel: test\ntoolsets: [fs_ro]\ntool_choice: read_file\n---\nHi.\n",
    );
    ok.run_with(&["check"]).status(0);
}

/// Workers and fns cannot take a builtin's, a toolset's or the policy's name.
#[test]
fn reserved_names_are_refused() {
    for (file, text) in [
        ("workers/read_text.worker", "---\nmodel: test\n---\nHi.\n"),
        ("workers/fs.worker", "---\nmodel: test\n---\nHi.\n"),
        ("workers/approve.worker", "---\nmodel: test\n---\nHi.\n"),
        ("scripts/lib.rhai", "fn sleep(ms) { ms }\n"),
    ] {
        let t = crate::util::Test::new().file(file, text);
        let out = t.run_with(&["check"]);
        out.status(2);
        assert!(
            out.stderr.contains("cannot be named"),
            "{file}: {}",
            out.stderr
        );
    }
}

/// `call` as a map key stays the key `call` (it used to become `__llm_do_call`), and `call()`
/// in the values still calls.
#[test]
fn call_is_a_plain_map_key() {
    let t = crate::util::Test::new()
        .script("lib", "fn add(a, b) { a + b }\n")
        .file(
            "k.rhai",
            "let m = #{call: 1, b: call(\"add\", #{a: 1, b: 2}), c: [call(\"add\", #{a: 2, b: 2})]}; [m.keys(), m[\"call\"] + m.b + m.c[0]]",
        );
    let out = t.run_with(&["k.rhai", "--json"]);
    out.status(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([["b", "c", "call"], 8]));
}

/// `llm-do run sleep 20`: the text "20" is a number of milliseconds.
#[test]
fn run_sleep_takes_its_milliseconds_as_text() {
    let out = crate::util::Test::new().run_with(&["run", "sleep", "20"]);
    out.status(0);
    let out = crate::util::Test::new().run_with(&["run", "sleep", "soon"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @"error: argument `ms` must be a number of milliseconds, got string");
}

/// An error inside `.map(|t| call(..))` is reported once (at the fn, with the call site as a
/// frame), not twice.
#[test]
fn an_error_inside_map_is_reported_once() {
    let t = Test::new()
        .script("boom", "fn boom(x) { throw \"bad \" + x; }\n")
        .file("m.rhai", "[1, 2].map(|t| call(\"boom\", #{x: t}))");
    let out = t.run_with(&["m.rhai"]);
    out.status(1);
    assert_eq!(out.stderr.matches("bad 1").count(), 1, "{}", out.stderr);
    insta::assert_snapshot!(out.stderr, @r#"
          x bad 1
           ,-[scripts/boom.rhai:1:14]
         1 | fn boom(x) { throw "bad " + x; }
           :              |
           :              `-- here
           `----

        Error: 
          x in the call to `map`
           ,-[m.rhai:1:8]
         1 | [1, 2].map(|t| call("boom", #{x: t}))
           :        |
           :        `-- called here
           `----
        "#);
}

// Issue 30, round 3.

/// `[stabilize] triage = "code"` whose fn defers on "???" to a worker answering "bug".
fn deferring_switch() -> Test {
    Test::new()
        .config("[stabilize]\ntriage = \"code\"\n")
        .worker("triage", crate::util::TRIAGE_WORKER)
        .script("models", "fn fake(request) { #{output: #{category: \"bug\"}} }\n")
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message == \"???\" { return defer(); } #{category: \"feature\"} }\n",
        )
        .file(
            "main.rhai",
            "let out = []; for m in [\"an idea\", \"???\"] { out.push(call(\"triage\", #{message: m}).category); } out",
        )
}

/// A deferred call is no output: the run log does not record the internal marker, so
/// `dataset` takes the worker's answer and marks nothing disputed. (Only the worker's calls
/// are references: the fn's own answer to "an idea" is what the cases will grade.)
#[test]
fn a_deferred_call_is_not_logged_as_an_output() {
    let t = deferring_switch();
    let out = t.run_with(&["main.rhai", "--json"]);
    out.status(0);
    assert_eq!(out.stdout, "[\n  \"feature\",\n  \"bug\"\n]\n");
    let out = t.run_with(&["dataset", "triage"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "{\"input\":{\"message\":\"???\"},\"expected\":{\"category\":\"bug\"}}\n"
    );
    let out = t.run_with(&["logs", "triage", "--json"]);
    out.status(0);
    assert!(!out.stdout.contains("Deferred"), "{}", out.stdout);
}

/// `defer()` without a switch to hand the call to is an error naming the fn and its place.
#[test]
fn defer_without_a_switch_is_an_error() {
    let t = Test::new()
        .config("")
        .script("lonely", "fn lonely(x) { defer() }\n")
        .file("top.rhai", "fn f() { defer() }\nf()\n");
    let out = t.run_with(&["run", "lonely", "hi"]);
    out.status(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: fn `lonely` (`scripts/lonely.rhai:1`) returned `defer()`, which means something \
         only under `[stabilize] lonely = \"code\"` or `\"canary:P\"`: it hands the call to the \
         worker `lonely`\n"
    );
    let out = t.run_with(&["top.rhai"]);
    out.status(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: `top.rhai` ended with `defer()`, which means something only in a fn under \
         `[stabilize] NAME = \"code\"` or `\"canary:P\"`\n"
    );
}
