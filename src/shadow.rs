//! `llm-do shadow NAME --trace TRACE`: the "verify" step of stabilizing (DESIGN §8). The inputs
//! `NAME` saw in a trace run again through the current implementation of `NAME` (typically the
//! Rhai fn that replaced a worker, or a worker that replaced a fn, with `--model`), and the
//! outputs are compared with the recorded ones under the same comparators as `llm-do test`
//! (the worker's `compare:`, `judge`, a `compare_NAME` fn; see [`crate::runtime::grade`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::call::{CallCtx, CallError};
use crate::runtime::Runtime;
use crate::runtime::grade::{FieldResult, Grader};
use crate::stats::{input_key, output_key};
use crate::trace::read::CallRecord;

/// One recorded input and the output it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub input: Value,
    pub recorded: Value,
}

/// A case and what the current implementation answers now.
#[derive(Debug)]
pub struct Outcome {
    pub case: Case,
    pub now: Result<Value, String>,
    /// The fields where the answer now disagrees with the recorded one.
    pub differences: Vec<FieldResult>,
}

impl Outcome {
    /// Whether the answer now agrees with the recorded one under the comparators.
    pub fn agrees(&self) -> bool {
        self.now.is_ok() && self.differences.is_empty()
    }
}

/// The successful calls of `name`, each distinct (input, output) pair once, in trace order.
pub fn cases(calls: &[CallRecord], name: &str) -> Vec<Case> {
    let mut seen = BTreeSet::new();
    calls
        .iter()
        .filter(|c| c.name == name)
        .filter_map(|c| c.result.as_ref().ok().map(|out| (c, out)))
        .filter(|(c, out)| seen.insert((input_key(&c.input), output_key(out))))
        .map(|(c, out)| Case {
            input: c.input.clone(),
            recorded: out.clone(),
        })
        .collect()
}

/// Run every case through `name` as it is defined now, one after the other. Interrupts and
/// approval aborts stop the run, as do failures of the judge model or `compare_NAME`; other
/// failures are answers that disagree.
pub async fn run(
    rt: &Arc<Runtime>,
    name: &str,
    cases: Vec<Case>,
) -> Result<Vec<Outcome>, CallError> {
    let grader = Grader::for_name(rt, name);
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let now = match rt.call(&CallCtx::default(), name, case.input.clone()).await {
            Ok(v) => Ok(v),
            Err(e @ (CallError::Aborted | CallError::Cancelled)) => return Err(e),
            Err(e @ CallError::Unknown { .. }) => return Err(e),
            Err(e) => Err(crate::call::chain(&e)),
        };
        let differences = match &now {
            Ok(v) => grader
                .grade(&case.recorded, v)
                .await?
                .into_iter()
                .filter(|f| !f.pass)
                .collect(),
            Err(_) => Vec::new(),
        };
        out.push(Outcome {
            case,
            now,
            differences,
        });
    }
    Ok(out)
}

/// What `llm-do shadow` reports about `name`: agreement `k/n` and each disagreeing case; as
/// JSON `{name, agreed, total, disagreements: [{input, recorded, now | error}]}`.
#[derive(Debug)]
pub struct Report<'a> {
    pub name: &'a str,
    pub outcomes: &'a [Outcome],
}

impl serde::Serialize for Report<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let disagreements: Vec<Value> = self
            .outcomes
            .iter()
            .filter(|o| !o.agrees())
            .map(|o| {
                let mut v = serde_json::json!({"input": o.case.input, "recorded": o.case.recorded});
                match &o.now {
                    Ok(now) => v["now"] = now.clone(),
                    Err(e) => v["error"] = serde_json::json!(e),
                }
                v
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "agreed": self.outcomes.len() - disagreements.len(),
            "total": self.outcomes.len(),
            "disagreements": disagreements,
        })
        .serialize(s)
    }
}

impl crate::output::Show for Report<'_> {
    fn text(&self) -> String {
        render(self.name, self.outcomes)
    }
}

/// The report: agreement `k/n`, then each disagreeing case.
fn render(name: &str, outcomes: &[Outcome]) -> String {
    let agreed = outcomes.iter().filter(|o| o.agrees()).count();
    let mut out = format!("`{name}`: {agreed}/{} agree\n", outcomes.len());
    for (i, o) in outcomes.iter().filter(|o| !o.agrees()).enumerate() {
        let now = match &o.now {
            Ok(v) => v.to_string(),
            Err(e) => format!("error: {e}"),
        };
        out.push_str(&format!(
            "\ndisagreement {}:\n  input:    {}\n  recorded: {}\n  now:      {now}\n",
            i + 1,
            o.case.input,
            o.case.recorded
        ));
        // Which fields differ, when the outputs have several.
        if o.differences.len() > 1
            || o.differences
                .iter()
                .any(|d| d.field != crate::compare::VALUE_FIELD)
        {
            let fields: Vec<&str> = o.differences.iter().map(|d| d.field.as_str()).collect();
            out.push_str(&format!("  fields:   {}\n", fields.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(input: Value, out: Result<Value, String>) -> CallRecord {
        CallRecord {
            name: "f".into(),
            kind: "neural".into(),
            input,
            result: out,
            ms: 1.0,
            tokens_in: 0,
            tokens_out: 0,
        }
    }

    #[test]
    fn cases_skip_errors_and_repeats() {
        let calls = vec![
            rec(json!({"name": "a"}), Ok(json!("x"))),
            rec(json!({"name": "a"}), Ok(json!("x "))),
            rec(json!({"name": "b"}), Err("boom".into())),
            rec(json!({"name": "c"}), Ok(json!("z"))),
        ];
        let got = cases(&calls, "f");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].input, json!({"name": "c"}));
        assert!(cases(&calls, "other").is_empty());
    }

    #[test]
    fn the_report_lists_disagreements() {
        let case = |i: &str, r: &str| Case {
            input: json!({"name": i}),
            recorded: json!(r),
        };
        let outcomes = vec![
            Outcome {
                case: case("a", "x"),
                now: Ok(json!("x")),
                differences: Vec::new(),
            },
            Outcome {
                case: case("b", "y"),
                now: Ok(json!("z")),
                differences: vec![FieldResult {
                    field: "value".into(),
                    pass: false,
                    expected: Some(json!("y")),
                    actual: Some(json!("z")),
                    reason: None,
                }],
            },
        ];
        assert_eq!(
            render("f", &outcomes),
            "`f`: 1/2 agree\n\ndisagreement 1:\n  input:    {\"name\":\"b\"}\n  recorded: \"y\"\n  now:      \"z\"\n"
        );
    }
}
