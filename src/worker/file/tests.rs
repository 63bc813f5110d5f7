use proptest::prelude::*;
use serde_json::json;

use super::*;

const FULL: &str = r#"---
name: pitch_evaluator            # default: file stem
description: Score one pitch deck
model: anthropic:claude-haiku-4-5
temperature: 0.2
max_tokens: 2048
toolsets: [fs_ro, sanitize_filename, summarizer]
input:
  company: string
  deck: {type: string, description: path to the PDF}
output:
  score: integer
  summary: string
examples:
  - input: {company: Acme, deck: acme.pdf}
    output: {score: 7, summary: solid}
  - input: "just text"
    output: "text answer"
attachments: [deck]
max_turns: 5
tool_choice: summarizer
seed: 7
---

You evaluate startup pitch decks.
Be brief.
"#;

fn parse(text: &str) -> Result<WorkerSpec, Box<Located>> {
    parse_worker(Path::new("workers/eval.worker"), text)
}

/// The error's message, `line:col` of its span start, and help.
fn fail(text: &str) -> (String, String, Option<String>) {
    let e = parse(text).expect_err("expected an error");
    (e.message.clone(), e.line_col(text), e.help.clone())
}

#[test]
fn parses_every_field() {
    let spec = parse(FULL).unwrap();
    assert_eq!(spec.name, "pitch_evaluator");
    assert_eq!(spec.description.as_deref(), Some("Score one pitch deck"));
    assert_eq!(spec.model.as_deref(), Some("anthropic:claude-haiku-4-5"));
    assert_eq!(spec.temperature, Some(0.2));
    assert_eq!(spec.max_tokens, Some(2048));
    let names: Vec<&str> = spec.toolsets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["fs_ro", "sanitize_filename", "summarizer"]);
    for t in &spec.toolsets {
        assert_eq!(&FULL[t.span.0..t.span.0 + t.span.1], t.name);
    }
    assert_eq!(spec.input["required"], json!(["company", "deck"]));
    assert_eq!(
        spec.input["properties"]["deck"]["description"],
        "path to the PDF"
    );
    assert_eq!(
        spec.output.as_ref().unwrap()["properties"]["score"],
        json!({"type": "integer"})
    );
    assert_eq!(spec.examples.len(), 2);
    assert_eq!(
        spec.examples[0].output,
        json!({"score": 7, "summary": "solid"})
    );
    assert_eq!(spec.examples[1].input, json!("just text"));
    assert_eq!(spec.attachments, ["deck"]);
    assert_eq!(spec.max_turns, 5);
    assert_eq!(spec.tool_choice, ToolChoice::Tool("summarizer".into()));
    assert_eq!(spec.seed, Some(7));
    assert_eq!(
        spec.instructions,
        "You evaluate startup pitch decks.\nBe brief."
    );
    assert_eq!(spec.path.as_deref(), Some(Path::new("workers/eval.worker")));
    assert_eq!(
        &FULL[spec.name_span.0..spec.name_span.0 + spec.name_span.1],
        "pitch_evaluator"
    );
}

#[test]
fn empty_frontmatter_takes_defaults() {
    let spec = parse("---\n---\nHello.").unwrap();
    assert_eq!(spec.name, "eval");
    assert_eq!(spec.input, default_input_schema());
    assert_eq!(spec.output, None);
    assert_eq!(spec.max_turns, DEFAULT_MAX_TURNS);
    assert_eq!(spec.tool_choice, ToolChoice::Auto);
    assert!(spec.toolsets.is_empty() && spec.examples.is_empty());
    assert_eq!(spec.instructions, "Hello.");
    assert_eq!(spec.name_span, (0, 3));
}

#[test]
fn accepts_crlf_and_null_values() {
    let spec = parse("---\r\nmodel: test:x\r\nseed:\r\ntool_choice: required\r\n---\r\nA\r\nB\r\n")
        .unwrap();
    assert_eq!(spec.model.as_deref(), Some("test:x"));
    assert_eq!(spec.seed, None);
    assert_eq!(spec.tool_choice, ToolChoice::Required);
    assert_eq!(spec.instructions, "A\nB");
}

#[test]
fn block_lists_get_item_spans() {
    let text = "---\ntoolsets:\n  - fs\n  - fs_ro\n---\n";
    let spec = parse(text).unwrap();
    assert_eq!(spec.toolsets[0].span, (text.find("fs\n").unwrap(), 2));
    assert_eq!(spec.toolsets[1].span, (text.find("fs_ro").unwrap(), 5));
}

#[test]
fn broken_yaml() {
    let (msg, at, _) = fail("---\nname: a\nmodel: [x\n---\n");
    assert!(
        msg.starts_with("invalid YAML in worker frontmatter: "),
        "{msg}"
    );
    assert!(!msg.contains("line"), "{msg}");
    assert_eq!(at, "4:1");
    let (_, at, _) = fail("---\nname: a\n  bad: indent\n---\n");
    assert_eq!(at, "3:6");
}

#[test]
fn duplicate_key_points_at_the_second() {
    let (msg, at, _) = fail("---\nname: a\nseed: 1\nname: b\n---\n");
    assert_eq!(msg, "duplicate key `name` in worker frontmatter");
    assert_eq!(at, "4:1");
}

#[test]
fn a_key_that_is_not_a_name_is_pointed_at() {
    let (msg, at, _) = fail("---\nname: a\n3: y\n---\n");
    assert_eq!(msg, "frontmatter key `3` is not a name");
    assert_eq!(at, "3:1");
}

#[test]
fn unknown_key_with_suggestion() {
    let (msg, at, help) = fail("---\nname: a\nmodle: anthropic:x\n---\n");
    assert_eq!(msg, "unknown key `modle` in worker frontmatter");
    assert_eq!(at, "3:1");
    assert_eq!(help.as_deref(), Some("did you mean `model`?"));
    let (_, _, help) = fail("---\nzzz: 1\n---\n");
    assert!(
        help.unwrap()
            .starts_with("valid keys are `name`, `description`")
    );
}

#[test]
fn wrong_types() {
    let (msg, at, _) = fail("---\nmax_turns: many\n---\n");
    assert_eq!(
        msg,
        "`max_turns` must be a positive integer, found the string `many`"
    );
    assert_eq!(at, "2:12");
    let (msg, at, _) = fail("---\ntoolsets: 3\n---\n");
    assert_eq!(msg, "`toolsets` must be a list of names, found `3`");
    assert_eq!(at, "2:11");
    let (msg, at, _) = fail("---\ntemperature: hot\n---\n");
    assert_eq!(
        msg,
        "`temperature` must be a number from 0 to 2, found the string `hot`"
    );
    assert_eq!(at, "2:14");
    let (msg, _, _) = fail("---\ntemperature: 3\n---\n");
    assert_eq!(msg, "`temperature` must be a number from 0 to 2, found `3`");
    let (msg, _, _) = fail("---\nmax_tokens: 0\n---\n");
    assert_eq!(msg, "`max_tokens` must be a positive integer, found `0`");
    let (_, _, help) = fail("---\ntoolsets: fs_ro\n---\n");
    assert_eq!(help.as_deref(), Some("write a list: `toolsets: [fs_ro]`"));
    let (msg, at, _) = fail("---\ntoolsets: [fs, 3]\n---\n");
    assert_eq!(msg, "`toolsets` entries must be names, found `3`");
    assert_eq!(at, "2:16");
    let (msg, at, _) = fail("---\ndescription:\n  a: b\n---\n");
    assert_eq!(msg, "`description` must be a string, found a map");
    assert_eq!(at, "3:3");
}

#[test]
fn missing_frontmatter() {
    let (msg, at, help) = fail("You are helpful.\n");
    assert_eq!(msg, "missing frontmatter in worker file");
    assert_eq!(at, "1:1");
    assert!(help.unwrap().contains("\n---\ndescription:"));
}

#[test]
fn unclosed_frontmatter() {
    let text = "---\nname: a\nYou are helpful.\n";
    let (msg, at, _) = fail(text);
    assert_eq!(msg, "unclosed frontmatter in worker file");
    assert_eq!(at, "4:1");
}

#[test]
fn bad_names() {
    let (msg, at, help) = fail("---\nname: pitch-eval\n---\n");
    assert_eq!(msg, "invalid worker name `pitch-eval`");
    assert_eq!(at, "2:7");
    assert_eq!(
        help.as_deref(),
        Some("use letters, digits and `_`, e.g. `pitch_eval`")
    );
    let e = parse_worker(Path::new("workers/my-worker.worker"), "---\n---\n").unwrap_err();
    assert_eq!(
        e.message,
        "worker file name `my-worker` is not a valid worker name"
    );
    let (msg, at, _) = fail("---\nmodel: claude 4\n---\n");
    assert_eq!(msg, "invalid model id `claude 4`");
    assert_eq!(at, "2:8");
}

#[test]
fn model_lists_aliases_cache_and_reasoning() {
    let spec =
        parse("---\nmodel: [fast, openai:gpt-4.1]\ncache: false\nreasoning: high\n---\n").unwrap();
    let names: Vec<&str> = spec.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["fast", "openai:gpt-4.1"]);
    assert_eq!(spec.model.as_deref(), Some("fast"));
    let text = &spec.text;
    let (start, len) = spec.models[1].span;
    assert_eq!(&text[start..start + len], "openai:gpt-4.1");
    assert_eq!(spec.cache, Some(false));
    assert_eq!(spec.reasoning, Some(Reasoning::High));
    let spec = parse("---\nreasoning: 2000\n---\n").unwrap();
    assert_eq!(spec.reasoning, Some(Reasoning::Tokens(2000)));
    assert!(spec.models.is_empty() && spec.cache.is_none());
    let (msg, at, _) = fail("---\nreasoning: extreme\n---\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "`reasoning` must be `low`, `medium`, `high` or a token budget of at least 1024, found the string `extreme`",
            "2:12"
        )
    );
    let (msg, at, _) = fail("---\nmodel: [openai:a, \"b c\"]\n---\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("invalid model id `b c`", "2:20")
    );
    let (msg, _, _) = fail("---\nmodel: []\n---\n");
    assert_eq!(msg, "`model` is an empty list");
}

#[test]
fn attachment_not_in_input() {
    let text = "---\ninput:\n  deck: string\nattachments: [deck, slides]\n---\n";
    let (msg, at, _) = fail(text);
    assert_eq!(
        msg,
        "attachment `slides` is not a field of the worker input"
    );
    assert_eq!(at, "4:21");
    let (_, _, help) = fail("---\ninput: {deck: string}\nattachments: [dekc]\n---\n");
    assert_eq!(help.as_deref(), Some("did you mean `deck`?"));
}

#[test]
fn unknown_schema_type() {
    let text = "---\noutput:\n  score: integer\n  summary: strng\n---\n";
    let (msg, at, help) = fail(text);
    assert_eq!(
        msg,
        "invalid `output` schema: `summary`: unknown type `strng`"
    );
    assert_eq!(at, "4:3");
    assert_eq!(help.as_deref(), Some("did you mean `string`?"));
    let (msg, at, _) = fail("---\ninput: string\n---\n");
    assert_eq!(msg, "worker input must be an object schema, not `string`");
    assert_eq!(at, "2:8");
}

#[test]
fn bad_examples() {
    let head = "---\noutput: {score: integer}\nexamples:\n";
    let (msg, at, _) = fail(&format!(
        "{head}  - input: a\n    output: {{score: high}}\n---\n"
    ));
    assert_eq!(
        msg,
        "example 1: `output` does not match the worker's output schema: \
         `/score`: \"high\" is not of type \"integer\""
    );
    assert_eq!(at, "4:3");
    let (msg, _, _) = fail(&format!("{head}  - input: a\n---\n"));
    assert_eq!(msg, "example 1: an example needs both `input` and `output`");
    let (msg, _, _) = fail(&format!("{head}  - inptu: a\n    output: b\n---\n"));
    assert_eq!(
        msg,
        "example 1: unknown key `inptu`; an example has only `input` and `output`"
    );
}

#[test]
fn frontmatter_must_be_a_map() {
    let (msg, at, _) = fail("---\n- a\n---\n");
    assert_eq!(
        msg,
        "worker frontmatter must be a map of keys, found a list"
    );
    assert_eq!(at, "2:1");
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_frontmatter_shaped_text(
        lines in prop::collection::vec(
            prop_oneof![
                prop::sample::select(fields_keys()).prop_map(|k| format!("{k}: ")),
                "[a-z_]{1,8}: ".prop_map(String::from),
                Just("  ".to_owned()),
                Just("- ".to_owned()),
            ].prop_flat_map(|prefix| {
                "[ -~\u{e9}\u{4e2d}]{0,20}".prop_map(move |rest| format!("{prefix}{rest}"))
            }),
            0..12,
        ),
        crlf in any::<bool>(),
        body in "\\PC{0,40}",
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = format!("---{nl}{}{nl}---{nl}{body}", lines.join(nl));
        let _ = parse(&text);
    }
}

fn fields_keys() -> Vec<&'static str> {
    super::super::fields::KEYS.to_vec()
}

/// Flow-style YAML values (JSON is a subset) of every shape a frontmatter key might get.
fn yaml_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[ -~\u{e9}\u{4e2d}]{0,12}".prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "string", "integer", "fs_ro", "auto", "required", "test"
        ])
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every key with any value: no panic, and an error's span lies inside the text on char
    /// boundaries (miette slices the source there to render the report).
    #[test]
    fn any_value_for_any_key_fails_cleanly(
        entries in prop::collection::vec((prop::sample::select(fields_keys()), yaml_value()), 0..6),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        body in "\\PC{0,40}",
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let lines: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let text = format!(
            "{}---{nl}{}{nl}---{nl}{body}",
            if bom { "\u{feff}" } else { "" },
            lines.join(nl)
        );
        match parse(&text) {
            Ok(spec) => prop_assert!(spec.input.is_object(), "{}", spec.input),
            Err(e) => {
                let (start, end) = (e.span.offset(), e.span.offset() + e.span.len());
                prop_assert!(end <= text.len(), "span {start}..{end} of {}", text.len());
                prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
            }
        }
    }
}

#[test]
fn compare_maps_output_fields_to_comparators() {
    let text = "---\noutput:\n  score: number\n  tags: {type: array, items: {type: string}}\n  note: string\ncompare:\n  score: {number: {abs: 0.5}}\n  tags: set\n  note: {judge: same gist}\n---\nx\n";
    let spec = parse(text).unwrap();
    assert_eq!(spec.compare.len(), 3);
    assert_eq!(spec.compare["tags"], crate::compare::Comparator::Set);
    assert_eq!(spec.compare["score"].kind(), "number");
    let plain = parse("---\ncompare: {value: text}\n---\nx\n").unwrap();
    assert_eq!(plain.compare["value"], crate::compare::Comparator::Text);
}

#[test]
fn compare_errors_point_at_the_field() {
    let (msg, at, help) = fail("---\noutput:\n  score: number\ncompare:\n  scor: exact\n---\nx\n");
    assert_eq!(msg, "`compare` names `scor`, which is not an output field");
    assert_eq!(at, "5:3");
    assert_eq!(help.as_deref(), Some("did you mean `score`?"));
    let (msg, at, help) =
        fail("---\noutput:\n  score: number\ncompare:\n  score: exactly\n---\nx\n");
    assert_eq!(
        msg,
        "invalid comparator for `score`: unknown comparator `exactly`"
    );
    assert_eq!(at, "5:3");
    assert_eq!(help.as_deref(), Some("did you mean `exact`?"));
    let (msg, at, _) = fail("---\ncompare: [exact]\n---\nx\n");
    assert_eq!(
        msg,
        "`compare` must be a map of output field to comparator, found a list"
    );
    assert_eq!(at, "2:10");
    let (msg, _, _) = fail("---\ncompare:\n  value: {regex: \"(\"}\n---\nx\n");
    assert!(
        msg.starts_with("invalid comparator for `value`: invalid regex `(`"),
        "{msg}"
    );
}
