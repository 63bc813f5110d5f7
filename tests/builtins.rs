//! Every builtin of `src/script/builtins.rs`, called directly and through `call()`, through the
//! real binary: the direct form must reach the builtin even where Rhai's packages define the
//! same name (`sleep(seconds)`, `parse_json`, `to_json(map)`, `log(x)`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::Test;

/// Each builtin called directly (`d`) and through `call()` (`c`).
const BOTH_WAYS: &str = r#"write_text("out/a.txt", "hi");
let d = #{
  read_text: read_text("out/a.txt"),
  write_text: write_text("out/b.txt", "x"),
  list_files: list_files("out"),
  list_files_glob: list_files(".", "out/*.txt"),
  exists: exists("out/a.txt"),
  parse_json: parse_json("[1, {\"a\": null}]"),
  to_json: to_json(#{a: [1, 2.5]}),
  to_json_method: #{a: [1, 2.5]}.to_json(),
  env: env("GREETING"),
  log: log(2.5),
  now: now().len(),
  sleep: sleep(5),
  ask: ask("Name?"),
};
let c = #{
  read_text: call("read_text", #{path: "out/a.txt"}),
  write_text: call("write_text", #{path: "out/b.txt", text: "x"}),
  list_files: call("list_files", #{dir: "out"}),
  list_files_glob: call("list_files", #{glob: "out/*.txt"}),
  exists: call("exists", "out/a.txt"),
  parse_json: call("parse_json", "[1, {\"a\": null}]"),
  to_json: call("to_json", #{value: #{a: [1, 2.5]}}),
  to_json_method: call("to_json", #{value: #{a: [1, 2.5]}}),
  env: call("env", "GREETING"),
  log: call("log", 2.5),
  now: call("now").len(),
  sleep: call("sleep", 5),
  ask: call("ask", "Name?"),
};
#{direct: d, through_call: c}
"#;

#[test]
fn every_builtin_answers_the_same_directly_and_through_call() {
    let run = Test::new()
        .file("main.rhai", BOTH_WAYS)
        .env("GREETING", "hey")
        .stdin("Ada\nBob\n")
        .run_with(&["main.rhai"]);
    run.status(0);
    let expected = |ask: &str| {
        json!({
            "read_text": "hi",
            "write_text": "out/b.txt",
            "list_files": ["out/a.txt", "out/b.txt"],
            "list_files_glob": ["out/a.txt", "out/b.txt"],
            "exists": true,
            "parse_json": [1, {"a": null}],
            "to_json": "{\"a\":[1,2.5]}",
            "to_json_method": "{\"a\":[1,2.5]}",
            "env": "hey",
            "log": null,
            "now": 20,
            "sleep": null,
            "ask": ask,
        })
    };
    assert_eq!(
        run.json(),
        json!({"direct": expected("Ada"), "through_call": expected("Bob")})
    );
    // `log(2.5)` is the builtin, not Rhai's natural logarithm.
    assert_eq!(run.stderr, "[log] 2.5\n[log] 2.5\n");
}

#[test]
fn sleep_takes_milliseconds_directly_through_call_and_in_std_retry() {
    let script = r#"import "std/retry" as retry;
sleep(300);
sleep(100.5);
call("sleep", 200);
call("sleep", #{ms: 100});
let tries = 0;
retry::backoff(|| { tries += 1; if tries < 3 { throw "again" } tries }, 5, 100)
"#;
    let started = Instant::now();
    let run = Test::new()
        .file("main.rhai", script)
        .run_with(&["main.rhai"]);
    let took = started.elapsed();
    run.status(0);
    assert_eq!(run.stdout, "3\n");
    // 300 + 100.5 + 200 + 100 ms, then backoff waits 100 + 200 ms: about a second. In
    // seconds it would be more than ten minutes.
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_parse_json_error_says_json_and_where() {
    let run = Test::new()
        .file("main.rhai", "parse_json(\"{\\\"a\\\" 1}\")\n")
        .run_with(&["main.rhai"]);
    run.status(1);
    insta::assert_snapshot!(run.stderr, @r#"
         x parse_json: invalid JSON at line 1 column 6: expected `:`
          ,-[main.rhai:1:1]
        1 | parse_json("{\"a\" 1}")
          : |
          : `-- here
          `----
        "#);
    let through_call = Test::new()
        .file("main.rhai", "call(\"parse_json\", \"[1,\")\n")
        .run_with(&["main.rhai"]);
    through_call.status(1);
    assert!(
        through_call
            .stderr
            .contains("parse_json: invalid JSON at line 1 column 3: EOF while parsing a value"),
        "{}",
        through_call.stderr
    );
}

#[test]
fn a_bad_sleep_argument_is_an_error_both_ways() {
    for script in ["sleep(\"soon\")", "call(\"sleep\", \"soon\")"] {
        let run = Test::new()
            .file("main.rhai", script)
            .run_with(&["main.rhai"]);
        run.status(1);
        assert!(
            run.stderr
                .contains("argument `ms` must be a number of milliseconds, got string"),
            "{script}: {}",
            run.stderr
        );
    }
}
