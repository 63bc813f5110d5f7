//! `llm-do shadow NAME --trace TRACE`: the "verify" step of stabilizing (DESIGN §8). The inputs
//! `NAME` saw in a trace run again through the current implementation of `NAME` (typically the
//! Rhai fn that replaced a worker, or a worker that replaced a fn, with `--model`), and the
//! outputs are compared with the recorded ones: each recorded call is a case of `llm-do test`
//! whose expected output is the recorded one, run and graded by the same runner
//! ([`crate::eval::run`]: the worker's `compare:`, `judge`, a `compare_NAME` fn).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::call::CallError;
use crate::eval::cases::Case;
use crate::eval::run::{CaseReport, Options, RunReport};
use crate::runtime::Runtime;
use crate::stats::{input_key, output_key};
use crate::trace::read::CallRecord;

/// The successful calls of `name`, each distinct (input, output) pair once, in trace order:
/// cases whose expected output is the recorded one (labelled `call N`).
pub fn cases(calls: &[CallRecord], name: &str) -> Vec<Case> {
    let mut seen = BTreeSet::new();
    calls
        .iter()
        .filter(|c| c.name == name)
        .filter_map(|c| c.result.as_ref().ok().map(|out| (c, out)))
        .filter(|(c, out)| seen.insert((input_key(&c.input), output_key(out))))
        .enumerate()
        .map(|(i, (c, out))| Case {
            label: format!("call {}", i + 1),
            input: c.input.clone(),
            expected: out.clone(),
            disputed: false,
        })
        .collect()
}

/// Run every case once through `name` as it is defined now, one after the other, as `llm-do
/// test` runs them: interrupts, approval aborts, an unknown name and failures of the judge
/// model or `compare_NAME` stop the run; other failures are answers that disagree.
///
/// # Errors
///
/// As above.
pub async fn run(
    rt: &Arc<Runtime>,
    name: &str,
    cases: Vec<Case>,
) -> Result<Vec<CaseReport>, CallError> {
    let once = Options {
        repeat: 1,
        min_agreement: None,
    };
    Ok(crate::eval::run::run(rt, name, cases, once).await?.cases)
}

/// What `llm-do shadow` reports about `name`: agreement `k/n` and each disagreeing case; as
/// JSON `{name, agreed, total, disagreements: [{input, recorded, now | error}]}`.
#[derive(Debug)]
pub struct Report<'a> {
    pub name: &'a str,
    pub outcomes: &'a [CaseReport],
}

impl Report<'_> {
    /// The cases that disagree, each with its one run.
    fn disagreements(&self) -> impl Iterator<Item = (&Case, &RunReport)> {
        let failed = self.outcomes.iter().filter(|o| !o.pass);
        failed.filter_map(|o| Some((&o.case, o.runs.first()?)))
    }
}

impl serde::Serialize for Report<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let disagreements: Vec<Value> = self
            .disagreements()
            .map(|(case, run)| {
                let mut v = serde_json::json!({"input": case.input, "recorded": case.expected});
                match (&run.output, &run.error) {
                    (_, Some(e)) => v["error"] = serde_json::json!(e),
                    (now, None) => v["now"] = serde_json::json!(now),
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
    /// Agreement `k/n`, then each disagreeing case.
    fn text(&self) -> String {
        let agreed = self.outcomes.iter().filter(|o| o.pass).count();
        let mut out = format!("`{}`: {agreed}/{} agree\n", self.name, self.outcomes.len());
        for (i, (case, run)) in self.disagreements().enumerate() {
            let now = match (&run.output, &run.error) {
                (_, Some(e)) => format!("error: {e}"),
                (now, None) => serde_json::json!(now).to_string(),
            };
            out.push_str(&format!(
                "\ndisagreement {}:\n  input:    {}\n  recorded: {}\n  now:      {now}\n",
                i + 1,
                case.input,
                case.expected
            ));
            // Which fields differ, when the outputs have several.
            let fields: Vec<&str> = run.differences.iter().map(|d| d.field.as_str()).collect();
            if fields.len() > 1 || fields.iter().any(|f| *f != crate::compare::VALUE_FIELD) {
                out.push_str(&format!("  fields:   {}\n", fields.join(", ")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Show;
    use crate::runtime::grade::FieldResult;
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
        assert_eq!(got[1].expected, json!("z"));
        assert!(cases(&calls, "other").is_empty());
    }

    #[test]
    fn the_report_lists_disagreements() {
        let outcome = |i: &str, r: &str, now: &str, differences: Vec<FieldResult>| CaseReport {
            case: Case {
                label: format!("call {i}"),
                input: json!({"name": i}),
                expected: json!(r),
                disputed: false,
            },
            pass: differences.is_empty(),
            runs: vec![RunReport {
                output: Some(json!(now)),
                error: None,
                pass: differences.is_empty(),
                differences,
                ms: 1.0,
            }],
            self_agreement: None,
        };
        let differ = FieldResult {
            field: "value".into(),
            pass: false,
            expected: Some(json!("y")),
            actual: Some(json!("z")),
            reason: None,
        };
        let outcomes = vec![
            outcome("a", "x", "x", Vec::new()),
            outcome("b", "y", "z", vec![differ]),
        ];
        let report = Report {
            name: "f",
            outcomes: &outcomes,
        };
        assert_eq!(
            report.text(),
            "`f`: 1/2 agree\n\ndisagreement 1:\n  input:    {\"name\":\"b\"}\n  recorded: \"y\"\n  now:      \"z\"\n"
        );
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"name": "f", "agreed": 1, "total": 2, "disagreements": [
                {"input": {"name": "b"}, "recorded": "y", "now": "z"}
            ]})
        );
    }
}
