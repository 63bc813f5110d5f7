//! `llm-do test` and `llm-do dataset` (DESIGN §14) through the binary, offline with
//! `script:` models: comparators, the judge, repeats and self-agreement, the pass line, JUnit
//! and JSON output, cases from the run log.

use serde_json::{Value, json};

use crate::util::Test;

/// A worker answering structured output from a `script:` model that reads the input text.
const GRADED: &str = "---
model: script:answer
output:
  n: number
  tags: {type: array, items: {type: string}}
  note: string
  code: string
  label: {type: string, enum: [red, green]}
compare:
  n: {number: {abs: 0.5}}
  tags: set
  note: text
  code: {regex: \"^[a-z]+-[0-9]+$\"}
---
Answer.
";

/// Close to the expected output under the comparators for input `near`, far for `far`.
const ANSWER: &str = r#"
fn answer(request) {
    let t = request.messages[-1].text;
    if t == "near" {
        #{n: 10.3, tags: ["b", "a"], note: "  Hello   WORLD ", code: "abc-12", label: "red"}
    } else {
        #{n: 11, tags: ["a"], note: "bye", code: "ABC", label: "green"}
    }
}
"#;

const EXPECTED: &str =
    r#"{"n": 10, "tags": ["a", "b"], "note": "hello world", "code": "xyz-1", "label": "red"}"#;

fn graded() -> Test {
    Test::new()
        .worker("graded", GRADED)
        .script("model", ANSWER)
        .file(
            "tests/graded.jsonl",
            &format!(
                "{{\"input\": \"near\", \"expected\": {EXPECTED}}}\n{{\"input\": \"far\", \"expected\": {EXPECTED}}}\n"
            ),
        )
}

#[test]
fn each_comparator_grades_its_field() {
    let out = graded().run_with(&["test", "graded", "--json"]);
    out.status(1);
    let v = out.json();
    let r = &v["names"][0];
    assert_eq!(v["pass"], json!(false));
    assert_eq!(r["cases"][0]["pass"], json!(true), "{r:#}");
    assert_eq!(r["cases"][1]["pass"], json!(false));
    let differing: Vec<&str> = r["cases"][1]["runs"][0]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(differing, ["code", "label", "n", "note", "tags"]);
    let fields: Vec<(String, String, u64)> = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["comparator"].as_str().unwrap().to_owned(),
                f["agreed"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("code", "regex"),
        ("label", "exact"),
        ("n", "number"),
        ("note", "text"),
        ("tags", "set"),
    ];
    assert_eq!(
        fields,
        expect
            .map(|(f, c)| (f.to_owned(), c.to_owned(), 1))
            .to_vec()
    );
    assert_eq!(r["confusion"][0]["field"], json!("label"));
    assert_eq!(r["confusion"][0]["counts"], json!([[1, 1], [0, 0]]));
    assert_eq!(r["agreement"]["agreed"], json!(1));
    assert_eq!(r["agreement"]["total"], json!(2));
}

#[test]
fn the_text_report_lists_cases_fields_confusion_and_agreement() {
    let out = graded().run_with(&["test"]);
    out.status(1);
    assert_eq!(
        out.stdout,
        r#"`graded` (worker): 2 cases
  ok    tests/graded.jsonl:1
  FAIL  tests/graded.jsonl:2
          code: expected "xyz-1", got "ABC"
          label: expected "red", got "green"
          n: expected 10, got 11
          note: expected "hello world", got "bye"
          tags: expected ["a","b"], got ["a"]

fields:
  code   regex      1/2   50.0%
  label  exact      1/2   50.0%
  n      number     1/2   50.0%
  note   text       1/2   50.0%
  tags   set        1/2   50.0%

confusion of `label` (rows: expected, columns: actual):
         red  green
  red      1      1
  green    0      0

agreement: 1/2 = 50.0% (95% CI 9.5%–90.5%)
result: FAIL (pass line 100.0%)
"#
    );
    assert_eq!(
        out.stderr,
        "error: below the pass line 100.0%: `graded` (50.0%)\n"
    );
}

#[test]
fn the_pass_line_sets_the_exit_code() {
    let t = graded();
    t.run_with(&["test", "--min-agreement", "0.5"]).status(0);
    t.run_with(&["test", "--min-agreement", "0.6"]).status(1);
    t.run_with(&["test"]).status(1);
    let out = t.run_with(&["test", "--min-agreement", "1.5"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: `--min-agreement` must be from 0 to 1, not 1.5
          hint: e.g. `--min-agreement 0.9` passes at 90% agreement
        ");
}

#[test]
fn a_judge_grades_through_a_script_model() {
    let worker = "---\nmodel: script:answer\ncompare:\n  value: {judge: says the same thing}\n---\nAnswer.\n";
    let model = r#"
        fn answer(request) { request.messages[-1].text }
        fn judge(request) {
            let t = request.messages[-1].text;
            if t.contains("rubric: says the same thing") && t.contains("actual: yes") {
                #{pass: true, reason: "same"}
            } else {
                #{pass: false, reason: "it says no"}
            }
        }
    "#;
    let t = Test::new()
        .config("[eval]\njudge_model = \"script:judge\"\n")
        .worker("w", worker)
        .script("model", model)
        .file(
            "tests/w.jsonl",
            "{\"input\": \"yes\", \"expected\": \"affirmative\"}\n{\"input\": \"no\", \"expected\": \"affirmative\"}\n",
        );
    let out = t.run_with(&["test", "w"]);
    out.status(1);
    insta::assert_snapshot!(out.stdout, @r#"
        `w` (worker): 2 cases
          ok    tests/w.jsonl:1
          FAIL  tests/w.jsonl:2
                  value: expected "affirmative", got "no" (judge: it says no)

        fields:
          value  judge      1/2   50.0%

        agreement: 1/2 = 50.0% (95% CI 9.5%–90.5%)
        result: FAIL (pass line 100.0%)
        "#);
}

#[test]
fn a_judge_without_a_model_says_where_to_set_one() {
    let worker = "---\nmodel: script:answer\ncompare:\n  value: {judge: same}\n---\nAnswer.\n";
    let t = Test::new()
        .worker("w", worker)
        .script("model", "fn answer(request) { \"x\" }\n")
        .file("tests/w.jsonl", "{\"input\": \"a\", \"expected\": \"y\"}\n");
    let out = t.run_with(&["test", "w"]);
    out.status(1);
    assert_eq!(
        out.stderr,
        "error: a `judge` comparator needs a model: set `[eval] judge_model` in llm-do.toml, `[defaults] model`, or pass `--model ID`\n"
    );
}

#[test]
fn a_compare_fn_overrides_the_comparators() {
    let worker = "---\nmodel: script:answer\n---\nAnswer.\n";
    let model = r#"
        fn answer(request) { request.messages[-1].text + "!" }
        fn compare_w(expected, actual) { actual.starts_with(expected) }
    "#;
    let t = Test::new().worker("w", worker).script("model", model).file(
        "tests/w.jsonl",
        "{\"input\": \"a\", \"expected\": \"a\"}\n{\"input\": \"b\", \"expected\": \"c\"}\n",
    );
    let out = t.run_with(&["test", "w", "--json"]);
    out.status(1);
    let r = &out.json()["names"][0];
    assert_eq!(r["cases"][0]["pass"], json!(true));
    assert_eq!(r["cases"][1]["pass"], json!(false));
}

#[test]
fn repeats_measure_self_agreement_of_a_noisy_worker() {
    let worker = "---\nmodel: script:noisy\n---\nAnswer.\n";
    let model = r#"
        fn noisy(request) {
            let n = if exists("count.txt") { parse_int(read_text("count.txt")) } else { 0 };
            write_text("count.txt", `${n + 1}`);
            if n % 2 == 0 { "a" } else { "b" }
        }
    "#;
    let t = Test::new()
        .worker("w", worker)
        .script("model", model)
        .file("tests/w.jsonl", "{\"input\": \"x\", \"expected\": \"a\"}\n");
    let out = t.run_with(&["test", "w", "--repeat", "4", "--json"]);
    out.status(1);
    let r = &out.json()["names"][0];
    assert_eq!(r["repeat"], json!(4));
    assert_eq!(r["agreement"]["agreed"], json!(2));
    assert_eq!(r["agreement"]["total"], json!(4));
    // a b a b: 2 of the 6 pairs agree.
    assert_eq!(r["self_agreement"]["agreed"], json!(2));
    assert_eq!(r["self_agreement"]["total"], json!(6));
    assert!(r["self_agreement"]["rate"].as_f64().unwrap() < 1.0);

    let out = t.run_with(&["test", "w", "--repeat", "2"]);
    insta::assert_snapshot!(out.stdout, @r#"
        `w` (worker): 1 case, 2 runs each
          FAIL  tests/w.jsonl:1  1/2 runs, self-agreement 0.0%
                  value: expected "a", got "b"

        fields:
          value  exact      1/2   50.0%

        agreement: 1/2 = 50.0% (95% CI 9.5%–90.5%)
        self-agreement (pairs of runs): 0/1 = 0.0% (95% CI 0.0%–79.3%)
        result: FAIL (pass line 100.0%)
        "#);
}

#[test]
fn junit_output_is_well_formed_and_escaped() {
    let worker = "---\nmodel: script:answer\n---\nAnswer.\n";
    let model = "fn answer(request) { \"<b>&'\\\"\" }\n";
    let t = Test::new()
        .worker("w", worker)
        .script("model", model)
        .file(
            "tests/w.jsonl",
            "{\"input\": \"x\", \"expected\": \"<b>&'\\\"\"}\n{\"input\": \"y\", \"expected\": \"a < b && c\"}\n",
        );
    let out = t.run_with(&["test", "--junit", "report.xml"]);
    out.status(1);
    let xml = std::fs::read_to_string(t.path().join("report.xml")).unwrap();
    check_junit(&xml);
    let times = regex_lite_times(&xml);
    insta::assert_snapshot!(times, @r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="llm-do test" tests="2" failures="1" errors="0" time="T">
          <testsuite name="w" tests="2" failures="1" errors="0" skipped="0" time="T">
            <properties>
              <property name="kind" value="worker"/>
              <property name="agreement" value="0.5000"/>
              <property name="agreement_low" value="0.0945"/>
              <property name="agreement_high" value="0.9055"/>
              <property name="pass_line" value="1.0000"/>
              <property name="repeat" value="1"/>
            </properties>
            <testcase name="tests/w.jsonl:1" classname="w" time="T"/>
            <testcase name="tests/w.jsonl:2" classname="w" time="T">
              <failure message="1 of 1 runs disagree: value: expected &quot;a &lt; b &amp;&amp; c&quot;, got &quot;&lt;b&gt;&amp;&apos;\&quot;&quot;" type="disagreement">input: &quot;y&quot;&#10;expected: &quot;a &lt; b &amp;&amp; c&quot;&#10;value: expected &quot;a &lt; b &amp;&amp; c&quot;, got &quot;&lt;b&gt;&amp;&apos;\&quot;&quot;</failure>
            </testcase>
          </testsuite>
        </testsuites>
        "#);
}

/// Replace `time="..."` values (they vary) with `time="T"`.
fn regex_lite_times(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find("time=\"") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let end = rest.find('"').unwrap();
        out.push('T');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Parse `xml` as the JUnit schema allows it (Jenkins' `junit-10.xsd`, the one CI servers
/// read): well-formed, every element and attribute known, counts that add up.
fn check_junit(xml: &str) {
    let allowed: &[(&str, &[&str])] = &[
        (
            "testsuites",
            &["name", "tests", "failures", "errors", "time", "disabled"],
        ),
        (
            "testsuite",
            &[
                "name",
                "tests",
                "failures",
                "errors",
                "skipped",
                "time",
                "disabled",
                "timestamp",
                "hostname",
                "id",
                "package",
            ],
        ),
        ("properties", &[]),
        ("property", &["name", "value"]),
        (
            "testcase",
            &["name", "classname", "time", "assertions", "status"],
        ),
        ("failure", &["message", "type"]),
        ("error", &["message", "type"]),
    ];
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    let mut cases = 0;
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        check_text(&rest[..lt]);
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = rest.find('>').expect("unclosed tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched close tag");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        let known = allowed
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("element `{name}` is not in the JUnit schema"))
            .1;
        if name == "testcase" {
            cases += 1;
            assert_eq!(stack.last().map(String::as_str), Some("testsuite"));
        }
        while !attrs.trim().is_empty() {
            let (key, after) = attrs.trim_start().split_once("=\"").expect("attribute");
            assert!(
                known.contains(&key),
                "attribute `{key}` of `{name}` is not in the schema"
            );
            let end = after.find('"').expect("unclosed attribute");
            check_text(&after[..end]);
            attrs = &after[end + 1..];
        }
        if !self_closing {
            stack.push(name.to_owned());
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert!(cases > 0);
}

/// Text and attribute values: no raw `<`, every `&` starts a known entity.
fn check_text(s: &str) {
    assert!(!s.contains('<'), "raw `<` in {s:?}");
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        rest = &rest[i + 1..];
        let entity = &rest[..rest.find(';').expect("unterminated entity")];
        assert!(
            ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
                || entity
                    .strip_prefix('#')
                    .is_some_and(|n| n.parse::<u32>().is_ok()),
            "bad entity &{entity};"
        );
    }
}

#[test]
fn a_bad_case_line_is_an_error_at_file_and_line() {
    let t = Test::new()
        .worker("w", "---\nmodel: script:answer\n---\nAnswer.\n")
        .file(
            "tests/w.jsonl",
            "{\"input\": \"a\", \"expected\": \"a\"}\n{\"input\": \"b\", \"expectd\": \"b\"}\n",
        );
    let out = t.run_with(&["test", "w"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r#"
         x unknown key `expectd` in case
          ,-[tests/w.jsonl:2:1]
        1 | {"input": "a", "expected": "a"}
        2 | {"input": "b", "expectd": "b"}
          : ^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^
          :                `-- here
          `----
         help: did you mean `expected`?
        "#);
}

#[test]
fn no_cases_and_unknown_names_are_usage_errors() {
    let t = Test::new().worker("w", "---\nmodel: test\n---\nAnswer.\n");
    let out = t.run_with(&["test"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r#"
        error: no cases to test
          hint: write `tests/NAME.jsonl` (one `{"input": ..., "expected": ...}` a line), add `examples:` to a worker, or build cases from the run log with `llm-do dataset NAME -o tests/NAME.jsonl`
        "#);
    let t = t.file("tests/nope.jsonl", "{\"input\": 1, \"expected\": 1}\n");
    let out = t.run_with(&["test", "nope"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @"error: unknown function or worker `nope`");
}

#[test]
fn examples_are_cases_too_and_the_test_model_runs_offline() {
    let worker = "---\ninput:\n  message: string\noutput:\n  category: {type: string, enum: [bug, billing]}\nexamples:\n  - input: {message: charged twice}\n    output: {category: bug}\n---\nClassify.\n";
    let t = Test::new().worker("triage", worker);
    let out = t.run_with(&["test", "--model", "test", "--json"]);
    out.status(0);
    let r = &out.json()["names"][0];
    assert_eq!(r["cases"][0]["label"], json!("example 1"));
    assert_eq!(r["confusion"][0]["counts"], json!([[1, 0], [0, 0]]));
}

/// Log calls of `name` with these (input, output) pairs, as the run log of a run would.
fn log_calls(dir: &std::path::Path, name: &str, calls: &[(Value, Value)]) {
    use llm_do::trace::{CallEnd, CallStart, Kind, Observer};
    let log =
        llm_do::log::RunLog::start(&llm_do::log::path_in(dir), "llm-do run", Default::default())
            .unwrap();
    for (input, output) in calls {
        let id = log.call_start(&CallStart {
            depth: 0,
            parent: None,
            kind: Kind::Neural,
            name,
            input,
        });
        log.call_end(
            id,
            &CallEnd {
                depth: 0,
                name,
                elapsed: std::time::Duration::from_millis(1),
                usage: llm_do::model::Usage::default(),
                cost: None,
                result: Ok(output),
            },
        );
    }
    log.finish().unwrap();
}

#[test]
fn dataset_dedups_inputs_and_marks_disputes() {
    let worker = "---\nmodel: script:answer\n---\nAnswer.\n";
    let t = Test::new().worker("w", worker).script(
        "model",
        "fn answer(request) { request.messages[-1].text }\n",
    );
    let out = t.run_with(&["dataset", "w"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: no run log at `.llm-do/log.db`
          hint: the log fills as workers and fns run (e.g. `llm-do run w ...`); it is off with `--no-log`
        ");
    let a = json!({"input": "a"});
    let b = json!({"input": "b"});
    log_calls(
        t.path(),
        "w",
        &[
            (a.clone(), json!("a")),
            (b.clone(), json!("x")),
            (a.clone(), json!("a")),
        ],
    );
    log_calls(
        t.path(),
        "w",
        &[(b.clone(), json!("b")), (b.clone(), json!("b"))],
    );
    log_calls(t.path(), "other", &[(a, json!("z"))]);
    let out = t.run_with(&["dataset", "w"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "{\"input\":{\"input\":\"a\"},\"expected\":\"a\"}\n{\"input\":{\"input\":\"b\"},\"expected\":\"b\",\"disputed\":true}\n"
    );
    let out = t.run_with(&["dataset", "w", "-o", "tests/w.jsonl"]);
    out.status(0);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "wrote 2 cases to `tests/w.jsonl` (1 disputed)\n"
    );
    let out = t.run_with(&["test", "w"]);
    out.status(0);
    insta::assert_snapshot!(out.stdout, @r"
        `w` (worker): 2 cases
          ok    tests/w.jsonl:1
          ok    tests/w.jsonl:2  (disputed)

        fields:
          value  exact      2/2  100.0%

        agreement: 2/2 = 100.0% (95% CI 34.2%–100.0%)
        result: pass (pass line 100.0%)
        ");
    let out = t.run_with(&["dataset", "nobody"]);
    out.status(2);
    insta::assert_snapshot!(out.stderr, @r"
        error: the run log has no successful call of `nobody`
          hint: run it first, or check the name with `llm-do logs`
        ");
}

#[test]
fn shadow_uses_the_worker_comparators() {
    let worker = |compare: &str| format!("---\nmodel: script:answer\n{compare}---\nAnswer.\n");
    let t = Test::new().worker("w", &worker("")).script(
        "model",
        "fn answer(request) { request.messages[-1].text }\n",
    );
    t.run_with(&["run", "w", "Hello World", "--trace", "t.jsonl"])
        .status(0);
    let t = t.worker("w", &worker("compare: {value: text}\n")).script(
        "model",
        "fn answer(request) { request.messages[-1].text.to_lower() }\n",
    );
    let out = t.run_with(&["shadow", "w", "--trace", "t.jsonl"]);
    out.status(0);
    assert_eq!(out.stdout, "`w`: 1/1 agree\n");
    let t = t.worker("w", &worker(""));
    t.run_with(&["shadow", "w", "--trace", "t.jsonl"]).status(1);
}

/// `triage` under `[stabilize] triage = "shadow"`: the worker answers "bug" unless the message
/// has "idea"; the fn shadowing it says "feature" for "slow page", where the worker says "bug".
/// `main.rhai` sends each of 4 messages twice: 8 worker calls, 8 fn calls beside them.
fn shadowed() -> Test {
    Test::new()
        .config("[stabilize]\ntriage = \"shadow\"\n")
        .fake_triage_worker()
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message.contains(\"crash\") { #{category: \"bug\"} } else { #{category: \"feature\"} } }\n",
        )
        .file(
            "main.rhai",
            "for i in 0..2 { for m in [\"it crashes\", \"an idea\", \"slow page\", \"typo\"] { call(\"triage\", #{message: m}); } }",
        )
}

#[test]
fn stats_gives_the_shadowing_fn_its_own_row() {
    let t = shadowed();
    t.run_with(&["main.rhai"]).status(0);
    let out = t.run_with(&["stats", "--json"]);
    out.status(0);
    let names: Vec<Value> = out.json()["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "triage")
        .map(|r| {
            json!([
                r["kind"],
                r["calls"],
                r["distinct_inputs"],
                r["max_outputs_per_input"],
                r["candidate"]
            ])
        })
        .collect();
    assert_eq!(
        names,
        [
            json!(["neural", 8, 4, 1, true]),
            json!(["symbolic", 8, 4, 1, false])
        ]
    );
    let out = t.run_with(&["stats"]);
    out.status(0);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stdout, @r"
            name    kind      calls  errors  tokens in  tokens out  p50 ms  p90 ms  max ms  inputs  outputs/input
            triage  neural        8      0%          0           0  [p50]  [p90]  [max]       4              1
            triage  symbolic      8      0%          0           0  [p50]  [p90]  [max]       4              1

            stabilization candidates:
              `triage`: 8 calls, 4 distinct inputs, always the same output per input → candidate for a Rhai fn

            stabilize switches:
              triage (shadow): 8 calls, live agreement 4/8 (50.0%), deferred 0.0%; switching to code saves ~0 tokens/week at the observed volume
            ");
    });
}

#[test]
fn dataset_takes_the_workers_answers_not_its_shadows() {
    let t = shadowed();
    t.run_with(&["main.rhai"]).status(0);
    let out = t.run_with(&["dataset", "triage"]);
    out.status(0);
    // The worker's answers, none disputed (the fn's "feature" for "slow page" is not one).
    assert_eq!(
        out.stdout,
        concat!(
            "{\"input\":{\"message\":\"it crashes\"},\"expected\":{\"category\":\"bug\"}}\n",
            "{\"input\":{\"message\":\"an idea\"},\"expected\":{\"category\":\"feature\"}}\n",
            "{\"input\":{\"message\":\"slow page\"},\"expected\":{\"category\":\"bug\"}}\n",
            "{\"input\":{\"message\":\"typo\"},\"expected\":{\"category\":\"bug\"}}\n",
        )
    );
}
