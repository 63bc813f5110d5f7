//! Cases: `tests/NAME.jsonl` in the project, one `{"input": ..., "expected": ...}` a line
//! (`"disputed": true` allowed, as `llm-do dataset` writes it), plus a worker's `examples:`.
//! A bad line is a located error at its file and line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::Located;
use crate::worker::Example;

/// Folder of case files in a project.
pub const CASES_DIR: &str = "tests";

/// The keys a case line may hold.
const KEYS: [&str; 3] = ["input", "expected", "disputed"];

/// One input and the output expected for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Case {
    /// Where the case comes from: `tests/NAME.jsonl:LINE` or `example N`.
    pub label: String,
    pub input: Value,
    pub expected: Value,
    /// The run log saw different outputs for this input (see `llm-do dataset`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disputed: bool,
}

/// `tests/NAME.jsonl` under `root`.
pub fn file_of(root: &Path, name: &str) -> PathBuf {
    root.join(CASES_DIR).join(format!("{name}.jsonl"))
}

/// The names that have a case file under `root`, sorted.
pub fn names_with_files(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(CASES_DIR)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// The cases of `name`: its case file under `root` (when there is one), then `examples`.
///
/// # Errors
///
/// The file cannot be read, or a line is not a case.
pub fn load(root: &Path, name: &str, examples: &[Example]) -> Result<Vec<Case>, Box<Located>> {
    let path = file_of(root, name);
    let shown = crate::project::relative(root, &path);
    let mut cases = match std::fs::read_to_string(&path) {
        Ok(text) => parse(&shown, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            let text: Arc<str> = Arc::from("");
            return Err(Located::new(
                &shown,
                &text,
                (0, 0),
                format!("cannot read `{}`: {e}", shown.display()),
            )
            .into());
        }
    };
    cases.extend(examples.iter().enumerate().map(|(i, ex)| Case {
        label: format!("example {}", i + 1),
        input: ex.input.clone(),
        expected: ex.output.clone(),
        disputed: false,
    }));
    Ok(cases)
}

/// Parse a case file shown as `path`; blank lines are skipped.
///
/// # Errors
///
/// The first bad line: invalid JSON (at its column), not an object, a missing `input` or
/// `expected`, an unknown key (with a "did you mean"), a `disputed` that is not a boolean.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Case>, Box<Located>> {
    let shared: Arc<str> = Arc::from(text);
    let mut cases = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split('\n').enumerate() {
        let start = offset;
        offset += line.len() + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let at = |span: (usize, usize), message: String, help: &str| {
            Box::new(Located::new(path, &shared, span, message).help(help))
        };
        const SHAPE: &str = "one case a line: {\"input\": {...}, \"expected\": ...}";
        let whole = (start, line.len());
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let col = e.column().saturating_sub(1).min(line.len());
            at(
                (start + col, 0),
                format!("invalid JSON in case: {e}"),
                SHAPE,
            )
        })?;
        let Value::Object(map) = value else {
            return Err(at(whole, "a case must be a JSON object".into(), SHAPE));
        };
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            let help = crate::suggest::did_you_mean(key, KEYS).unwrap_or_else(|| {
                "a case has `input`, `expected` and optionally `disputed`".into()
            });
            return Err(at(whole, format!("unknown key `{key}` in case"), &help));
        }
        let Some(disputed) = map.get("disputed").map_or(Some(false), Value::as_bool) else {
            let message = "`disputed` must be `true` or `false`".into();
            return Err(at(whole, message, SHAPE));
        };
        let (Some(input), Some(expected)) = (map.get("input"), map.get("expected")) else {
            let missing = if map.contains_key("input") {
                "expected"
            } else {
                "input"
            };
            return Err(at(whole, format!("case has no `{missing}`"), SHAPE));
        };
        cases.push(Case {
            label: format!("{}:{}", path.display(), i + 1),
            input: input.clone(),
            expected: expected.clone(),
            disputed,
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fail(text: &str) -> (String, String, Option<String>) {
        let e = parse(Path::new("tests/t.jsonl"), text).unwrap_err();
        (e.message.clone(), e.line_col(text), e.help.clone())
    }

    #[test]
    fn lines_are_cases_labelled_by_file_and_line() {
        let text = "{\"input\": {\"name\": \"a\"}, \"expected\": \"x\"}\n\n{\"input\": \"b\", \"expected\": {\"n\": 1}, \"disputed\": true}\n";
        let cases = parse(Path::new("tests/t.jsonl"), text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].label, "tests/t.jsonl:1");
        assert_eq!(cases[1].label, "tests/t.jsonl:3");
        assert_eq!(cases[1].expected, json!({"n": 1}));
        assert!(cases[1].disputed && !cases[0].disputed);
    }

    #[test]
    fn bad_lines_point_at_their_line() {
        let ok = "{\"input\": 1, \"expected\": 2}\n";
        let (msg, at, _) = fail(&format!("{ok}{{\"input\": 1, \"expected\": }}\n"));
        assert!(msg.starts_with("invalid JSON in case: "), "{msg}");
        assert_eq!(at, "2:26");
        let (msg, at, _) = fail(&format!("{ok}{ok}{{\"input\": 1}}\n"));
        assert_eq!(
            (msg.as_str(), at.as_str()),
            ("case has no `expected`", "3:1")
        );
        let (msg, _, help) = fail("{\"input\": 1, \"expectd\": 2}\n");
        assert_eq!(msg, "unknown key `expectd` in case");
        assert_eq!(help.as_deref(), Some("did you mean `expected`?"));
        assert_eq!(fail("[1]").0, "a case must be a JSON object");
        assert_eq!(
            fail("{\"input\": 1, \"expected\": 2, \"disputed\": 1}").0,
            "`disputed` must be `true` or `false`"
        );
    }

    #[test]
    fn examples_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tests")).unwrap();
        std::fs::write(
            file_of(dir.path(), "w"),
            "{\"input\": \"a\", \"expected\": \"b\"}\n",
        )
        .unwrap();
        let ex = Example {
            input: json!({"input": "c"}),
            output: json!("d"),
        };
        let cases = load(dir.path(), "w", &[ex]).unwrap();
        let labels: Vec<&str> = cases.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["tests/w.jsonl:1", "example 1"]);
        assert_eq!(names_with_files(dir.path()), ["w"]);
        assert!(load(dir.path(), "none", &[]).unwrap().is_empty());
    }
}
