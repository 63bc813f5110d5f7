//! Grading one output against an expected one, field by field: the pure comparators of
//! [`crate::compare`], `judge` fields asked of a model (an inline worker run through the
//! seam), and a project fn `compare_NAME(expected, actual)` that overrides them. Shared by
//! `llm-do test` and `shadow`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Input};
use crate::compare::{self, Check, Comparator};
use crate::output;
use crate::runtime::Runtime;
use crate::worker::WorkerSpec;

/// The verdict on one field.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FieldResult {
    pub field: String,
    pub pass: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// The judge's reason, when a model graded the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Grades outputs of one name.
pub struct Grader {
    rt: Arc<Runtime>,
    /// The worker's `compare:` (empty for fns: every field exact).
    pub compare: BTreeMap<String, Comparator>,
    /// `compare_NAME` when the project defines it.
    pub compare_fn: Option<String>,
    judge: OnceLock<Result<Arc<WorkerSpec>, String>>,
}

/// Name of the inline worker that grades `judge` fields.
pub const JUDGE: &str = "eval_judge";

impl Grader {
    /// The grader of `name`: its worker's `compare:` and the project's `compare_NAME`.
    pub fn for_name(rt: &Arc<Runtime>, name: &str) -> Grader {
        let project = rt.project();
        let compare = project
            .workers
            .get(name)
            .map(|w| w.compare.clone())
            .unwrap_or_default();
        let fn_name = format!("compare_{name}");
        let compare_fn = project.fns.contains_key(&fn_name).then_some(fn_name);
        Grader {
            rt: rt.clone(),
            compare,
            compare_fn,
            judge: OnceLock::new(),
        }
    }

    /// The comparator name shown for `field`.
    pub fn kind_of(&self, field: &str) -> &'static str {
        compare::for_field(&self.compare, field).kind()
    }

    /// Grade `actual` against `expected`, one result per field (union of both, sorted).
    ///
    /// # Errors
    ///
    /// The judge model or `compare_NAME` failed, or `compare_NAME` returned something other
    /// than a boolean or a map of field to boolean.
    pub async fn grade(
        &self,
        expected: &Value,
        actual: &Value,
    ) -> Result<Vec<FieldResult>, CallError> {
        let (e, a) = (compare::fields(expected), compare::fields(actual));
        let mut out = Vec::new();
        for field in compare::field_names(expected, Some(actual)) {
            let (ev, av) = (e.get(&field), a.get(&field));
            let comparator = compare::for_field(&self.compare, &field);
            let (pass, reason) = match comparator.check(ev, av) {
                Check::Agree(pass) => (pass, None),
                Check::Judge(rubric) => {
                    let (pass, reason) = self.judge(rubric, &field, ev, av).await?;
                    (pass, Some(reason))
                }
            };
            out.push(FieldResult {
                field,
                pass,
                expected: ev.cloned(),
                actual: av.cloned(),
                reason,
            });
        }
        if let Some(f) = &self.compare_fn {
            let verdict = self
                .rt
                .call(
                    &CallCtx::default(),
                    f,
                    json!({"expected": expected, "actual": actual}),
                )
                .await?;
            override_with(&mut out, f, &verdict)?;
        }
        Ok(out)
    }

    /// Ask the judge model whether `actual` meets `rubric` given `expected`.
    async fn judge(
        &self,
        rubric: &str,
        field: &str,
        expected: Option<&Value>,
        actual: Option<&Value>,
    ) -> Result<(bool, String), CallError> {
        let spec = self
            .judge
            .get_or_init(|| judge_spec(self.rt.project().config.eval.judge_model.as_deref()))
            .clone()
            .map_err(|e| CallError::Script(format!("cannot build the judge: {e}")))?;
        let text = |v: Option<&Value>| v.map_or_else(|| "(missing)".into(), output::plain_text);
        let input = json!({
            "rubric": rubric,
            "field": field,
            "expected": text(expected),
            "actual": text(actual),
        });
        let out = self
            .rt
            .invoke(&CallCtx::default(), &spec.into(), Input::Json(input))
            .await
            .map_err(|e| match e {
                CallError::NoModel { .. } => CallError::Script(
                    "a `judge` comparator needs a model: set `[eval] judge_model` in llm-do.toml, \
                     `[defaults] model`, or pass `--model ID`"
                        .into(),
                ),
                other => other,
            })?;
        Ok(judge_verdict(&crate::script::value::to_json(&out)))
    }
}

/// Apply what `compare_NAME` returned: a boolean sets every field, a map sets the fields it
/// names (others keep their comparator's verdict).
fn override_with(out: &mut Vec<FieldResult>, f: &str, verdict: &Value) -> Result<(), CallError> {
    match verdict {
        Value::Bool(b) => out.iter_mut().for_each(|r| r.pass = *b),
        Value::Object(map) => {
            for (field, v) in map {
                let Some(pass) = v.as_bool() else {
                    return Err(CallError::Script(format!(
                        "`{f}` must return a boolean or a map of field to boolean; `{field}` is {v}"
                    )));
                };
                match out.iter_mut().find(|r| r.field == *field) {
                    Some(r) => r.pass = pass,
                    None => out.push(FieldResult {
                        field: field.clone(),
                        pass,
                        ..FieldResult::default()
                    }),
                }
            }
        }
        other => {
            return Err(CallError::Script(format!(
                "`{f}` must return a boolean or a map of field to boolean, not {other}"
            )));
        }
    }
    Ok(())
}

/// The judge as an inline worker on `model` (default: whatever model workers get).
fn judge_spec(model: Option<&str>) -> Result<Arc<WorkerSpec>, String> {
    let model = model
        .map(|m| format!("model: \"{m}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "---\nname: {JUDGE}\ndescription: Grade one field of an answer against a rubric\n{model}\
         temperature: 0\ninput:\n  rubric: string\n  field: string\n  expected: string\n  actual: string\n\
         output:\n  pass: boolean\n  reason: string\n---\n\
         You grade one field of an answer produced by a program.\n\
         You get the rubric, the field name, the expected value and the actual value.\n\
         Answer `pass: true` when the actual value meets the rubric given the expected one,\n\
         else `pass: false`, with a one-sentence reason.\n"
    );
    crate::worker::parse_worker(Path::new("<judge>"), &text)
        .map(Arc::new)
        .map_err(|e| e.message.clone())
}

/// `{pass, reason}` from the judge (a bare boolean or a `pass`/`fail` text is accepted too).
fn judge_verdict(v: &Value) -> (bool, String) {
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let pass = match v.get("pass").unwrap_or(v) {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().to_lowercase().starts_with("pass"),
        _ => false,
    };
    (pass, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(field: &str, pass: bool) -> FieldResult {
        FieldResult {
            field: field.into(),
            pass,
            expected: None,
            actual: None,
            reason: None,
        }
    }

    #[test]
    fn the_compare_fn_overrides_all_or_some_fields() {
        let mut out = vec![result("a", true), result("b", false)];
        override_with(&mut out, "compare_x", &json!(true)).unwrap();
        assert!(out.iter().all(|r| r.pass));
        override_with(&mut out, "compare_x", &json!({"b": false, "c": true})).unwrap();
        let got: Vec<(&str, bool)> = out.iter().map(|r| (r.field.as_str(), r.pass)).collect();
        assert_eq!(got, [("a", true), ("b", false), ("c", true)]);
        let err = override_with(&mut out, "compare_x", &json!(3)).unwrap_err();
        assert!(err.to_string().contains("must return a boolean"), "{err}");
    }

    #[test]
    fn the_judge_is_a_valid_worker() {
        let spec = judge_spec(Some("script:judge")).unwrap();
        assert_eq!(spec.model.as_deref(), Some("script:judge"));
        assert!(judge_spec(None).unwrap().model.is_none());
        assert_eq!(
            judge_verdict(&json!({"pass": true, "reason": "ok"})),
            (true, "ok".into())
        );
        assert!(judge_verdict(&json!("PASS")).0);
        assert!(!judge_verdict(&json!({"pass": "fail"})).0);
    }
}
