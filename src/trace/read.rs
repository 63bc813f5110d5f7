//! Reading `--trace` files back: each finished call as one [`CallRecord`] (its `call_start`
//! joined with its `call_end` by id). Used by `llm-do stats` and `llm-do shadow`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::FORMAT_VERSION;

/// Errors reading a trace.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TraceError {
    #[error("cannot read trace `{path}`: {message}")]
    Io { path: String, message: String },
    #[error("`{path}` line {line} is not a trace event: {message}")]
    #[diagnostic(help("traces are written by `llm-do --trace FILE ...` (JSON lines)"))]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "`{path}` line {line} has trace format version {found}; this llm-do reads version {FORMAT_VERSION}"
    )]
    Version {
        path: String,
        line: usize,
        found: Value,
    },
}

/// One finished call of a worker, fn or builtin.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub name: String,
    /// `neural`, `symbolic` or `builtin`.
    pub kind: String,
    pub input: Value,
    /// The output, or the error message.
    pub result: Result<Value, String>,
    pub ms: f64,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// The finished calls in `path`, in the order they ended. Calls that never ended (a crashed
/// run) are left out.
pub fn read_calls(path: &Path) -> Result<Vec<CallRecord>, TraceError> {
    let text = std::fs::read_to_string(path).map_err(|e| TraceError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_calls(&path.display().to_string(), &text)
}

/// [`read_calls`] on the text of a trace; `path` is for messages.
pub fn parse_calls(path: &str, text: &str) -> Result<Vec<CallRecord>, TraceError> {
    let mut starts: HashMap<u64, (String, Value)> = HashMap::new();
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| TraceError::Parse {
            path: path.to_string(),
            line: i + 1,
            message,
        };
        let ev: Value = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        if ev.get("v") != Some(&Value::from(FORMAT_VERSION)) {
            return Err(TraceError::Version {
                path: path.to_string(),
                line: i + 1,
                found: ev.get("v").cloned().unwrap_or(Value::Null),
            });
        }
        let id = ev
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| err("missing `id`".into()))?;
        match ev.get("event").and_then(Value::as_str) {
            Some("call_start") => {
                let kind = str_field(&ev, "kind").to_string();
                let input = ev.get("input").cloned().unwrap_or(Value::Null);
                starts.insert(id, (kind, input));
            }
            Some("call_end") => {
                let Some((kind, input)) = starts.remove(&id) else {
                    return Err(err(format!("`call_end` of call {id} that never started")));
                };
                let result = match ev.get("error") {
                    Some(e) => Err(e.as_str().unwrap_or_default().to_string()),
                    None => Ok(ev.get("output").cloned().unwrap_or(Value::Null)),
                };
                let tokens = |k: &str| {
                    ev.pointer(&format!("/tokens/{k}"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                calls.push(CallRecord {
                    name: str_field(&ev, "name").to_string(),
                    kind,
                    input,
                    result,
                    ms: ev.get("ms").and_then(Value::as_f64).unwrap_or(0.0),
                    tokens_in: tokens("in"),
                    tokens_out: tokens("out"),
                });
            }
            Some(_) => {}
            None => return Err(err("missing `event`".into())),
        }
    }
    Ok(calls)
}

fn str_field<'a>(ev: &'a Value, key: &str) -> &'a str {
    ev.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn joins_starts_and_ends_by_id() {
        let text = r#"{"v":1,"event":"call_start","id":1,"parent":null,"depth":0,"kind":"neural","name":"w","input":{"a":1}}
{"v":1,"event":"model_request","id":2,"parent":1,"depth":1,"name":"w","model":"test","turn":0,"request":{}}
{"v":1,"event":"call_end","id":1,"parent":null,"depth":0,"kind":"neural","name":"w","output":"x","ms":2.5,"tokens":{"in":3,"out":4}}
{"v":1,"event":"call_start","id":3,"parent":null,"depth":0,"kind":"symbolic","name":"f","input":{}}
{"v":1,"event":"call_end","id":3,"parent":null,"depth":0,"name":"f","error":"boom","ms":1,"tokens":{"in":0,"out":0}}
"#;
        let calls = parse_calls("t", text).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].input, json!({"a": 1}));
        assert_eq!(calls[0].result, Ok(json!("x")));
        assert_eq!((calls[0].tokens_in, calls[0].tokens_out), (3, 4));
        assert_eq!(calls[1].kind, "symbolic");
        assert_eq!(calls[1].result, Err("boom".into()));
    }

    #[test]
    fn bad_lines_and_versions_are_located() {
        let e = parse_calls("t", "\nnot json").unwrap_err();
        assert!(
            e.to_string().starts_with("`t` line 2 is not a trace event"),
            "{e}"
        );
        let e = parse_calls("t", r#"{"v":2,"event":"call_start","id":1}"#).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
    }
}
