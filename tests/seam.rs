//! One call seam (DESIGN §12): every path that reaches a name — `call()`, `call_all`,
//! `parallel`, `llm-do run`, an LLM tool call, the REPL — reaches the same callee, with the same
//! validation error for a badly typed argument and the same trace events.

use serde_json::{Value, json};

use crate::util::Test;

/// The validation error every path reports for `add` given `a: "x"`.
const BAD_A: &str =
    "bad arguments for `add`: argument `a` must be an integer, not a string (\"x\")";

/// A project with a typed fn and a worker whose script model calls it with `ARGS` (JSON).
fn project(args: &str) -> Test {
    Test::new()
        .script(
            "lib",
            "/// Add two numbers.\n/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n",
        )
        .script(
            "models",
            &format!(
                "fn fake(request) {{\n  if request.turn == 0 {{ return #{{tool_calls: [#{{name: \"add\", args: {args}}}]}}; }}\n  request.messages[-1].tool_results[0].content\n}}\n"
            ),
        )
        .worker(
            "w",
            "---\nmodel: script:fake\ntoolsets: [add]\n---\nAdd the numbers.\n",
        )
}

/// `text` with miette's line wrapping undone.
fn flat(text: &str) -> String {
    text.lines()
        .map(|l| l.trim_start().trim_start_matches('|').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `add` call events of a trace, without ids, depths and timings.
fn add_events(t: &Test, file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(t.path().join(file)).expect("trace written");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["name"] == "add" && e["event"].as_str().is_some_and(|k| k.starts_with("call_"))
        })
        .map(|e| {
            json!({
                "event": e["event"], "kind": e["kind"], "input": e["input"],
                "output": e["output"], "error": e["error"],
            })
        })
        .collect()
}

/// The same call, reached every way a script can, plus `run` and a model's tool call.
const SCRIPTS: &[(&str, &str)] = &[
    ("call", "call(\"add\", #{a: A, b: 2})"),
    ("call_all", "call_all([[\"add\", #{a: A, b: 2}]])[0]"),
    ("parallel", "parallel([|| call(\"add\", #{a: A, b: 2})])[0]"),
];

#[test]
fn every_path_reaches_the_same_callee_with_the_same_trace_events() {
    let t = project("#{a: 1, b: 2}");
    let mut seen = Vec::new();
    for (path, expr) in SCRIPTS {
        let file = format!("{path}.rhai");
        std::fs::write(t.path().join(&file), expr.replace('A', "1")).unwrap();
        let trace = format!("{path}.jsonl");
        let out = t.run_with(&[&file, "--trace", &trace]);
        out.status(0);
        assert_eq!(out.stdout, "3\n", "{path}");
        seen.push((path.to_string(), add_events(&t, &trace)));
    }
    let out = t.run_with(&[
        "run",
        "add",
        "--input-json",
        r#"{"a":1,"b":2}"#,
        "--trace",
        "run.jsonl",
    ]);
    out.status(0);
    assert_eq!(out.stdout, "3\n");
    seen.push(("run".into(), add_events(&t, "run.jsonl")));
    let out = t.run_with(&["run", "w", "go", "--trace", "tool.jsonl"]);
    out.status(0);
    assert_eq!(out.stdout, "3\n");
    seen.push(("tool call".into(), add_events(&t, "tool.jsonl")));

    let expected = vec![
        json!({"event": "call_start", "kind": "symbolic", "input": {"a": 1, "b": 2}, "output": null, "error": null}),
        json!({"event": "call_end", "kind": "symbolic", "input": null, "output": 3, "error": null}),
    ];
    for (path, events) in seen {
        assert_eq!(events, expected, "trace events of `add` through {path}");
    }
}

#[test]
fn every_path_reports_the_same_validation_error() {
    let t = project(r#"#{a: "x", b: 2}"#);
    for (path, expr) in SCRIPTS {
        let file = format!("{path}.rhai");
        std::fs::write(t.path().join(&file), expr.replace('A', "\"x\"")).unwrap();
        let out = t.run_with(&[&file]);
        out.status(1);
        assert!(flat(&out.stderr).contains(BAD_A), "{path}: {}", out.stderr);
    }
    let out = t.run_with(&["run", "add", "--input-json", r#"{"a":"x","b":[]}"#]);
    out.status(1);
    assert!(flat(&out.stderr).contains(BAD_A), "run: {}", out.stderr);
    // The model gets the error as its tool result (and the fake model answers with it).
    let out = t.run_with(&["run", "w", "go"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        format!("error: {BAD_A}; `add` takes (`a`, `b`)\n"),
        "tool call"
    );
    // A script can catch it, with the same text.
    std::fs::write(
        t.path().join("catch.rhai"),
        "let r = (); try { call(\"add\", #{a: \"x\", b: 2}); } catch (e) { r = e; } r",
    )
    .unwrap();
    let out = t.run_with(&["catch.rhai"]);
    out.status(0);
    assert_eq!(out.stdout, format!("{BAD_A}; `add` takes (`a`, `b`)\n"));
}

#[test]
fn run_reads_text_input_as_the_declared_type() {
    let t = Test::new().script("lib", "/// n: integer\nfn double(n) { n * 2 }\n");
    let out = t.run_with(&["run", "double", "21"]);
    out.status(0);
    assert_eq!(out.stdout, "42\n");
    let out = t.run_with(&["run", "double", "many"]);
    out.status(1);
    insta::assert_snapshot!(out.stderr, @r#"
        error: bad arguments for `double`: argument `n` must be an integer, not a string ("many")
          hint: `double` takes (`n`)
        "#);
}

#[test]
fn unknown_names_fail_the_same_way_from_call_and_call_all() {
    let t = project("#{a: 1, b: 2}")
        .file("a.rhai", "call(\"ad\", #{a: 1, b: 2})")
        .file("b.rhai", "call_all([[\"ad\", #{a: 1, b: 2}]])");
    for file in ["a.rhai", "b.rhai"] {
        let out = t.run_with(&[file]);
        out.status(1);
        assert!(
            out.stderr
                .contains("unknown function or worker `ad` (did you mean `add`?)"),
            "{file}: {}",
            out.stderr
        );
    }
}

#[test]
fn nested_fan_out_past_the_thread_pool_fails_instead_of_hanging() {
    // 2^12 closures each nested 12 deep: every level blocks a thread while its children run.
    let t = Test::new().file(
        "deep.rhai",
        "fn nest(n) { if n == 0 { return 1; } let r = parallel([|| nest(n - 1), || nest(n - 1)]); r[0] + r[1] }\nnest(12)",
    );
    let out = t.run_with(&["deep.rhai"]);
    out.status(1);
    assert!(
        out.stderr.contains("too many nested fan-outs"),
        "{}",
        out.stderr
    );
}

/// A `toolsets:` entry means one thing to `check` and to a run: `text`, a fn and also the name
/// of the script module holding it, gives the model the fn alone, so a `tool_choice` naming
/// the module's other fn is refused (the check used to read the entry as the module).
#[test]
fn check_and_a_run_read_a_toolset_entry_alike() {
    let t = Test::new()
        .script("text", "fn text(s) { s }\nfn other(s) { s }\n")
        .worker(
            "w",
            "---\nmodel: test\ntoolsets: [text]\ntool_choice: other\n---\nHi.\n",
        );
    let out = t.run_with(&["check"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "  x `tool_choice: other` in worker `w` names no tool it has\n   ,-[workers/w.worker:4:1]\n 3 | toolsets: [text]\n 4 | tool_choice: other\n   : ^^^^^|^^^^^\n   :      `-- not among the worker's tools\n 5 | ---\n   `----\n  help: its tools are: text\n\n"
    );
    let fine = Test::new()
        .script("text", "fn text(s) { s }\nfn other(s) { s }\n")
        .worker(
            "w",
            "---\nmodel: test\ntoolsets: [text]\ntool_choice: text\n---\nHi.\n",
        );
    fine.run_with(&["check"]).status(0);
}
