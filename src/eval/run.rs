//! Running a name's cases through the seam (`Runtime::call`), `repeat` times each, and
//! scoring the outputs: per case, per field, enum confusion, overall agreement and — with
//! repeats — self-agreement, the noise floor a replacement is judged against.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::call::{CallCtx, CallError};
use crate::compare;
use crate::eval::cases::Case;
use crate::eval::score::{Confusion, Rate, label};
use crate::runtime::Runtime;
use crate::runtime::grade::{FieldResult, Grader};

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Runs per case (at least 1).
    pub repeat: u32,
    /// The pass line for overall agreement; `None`: every run must pass.
    pub min_agreement: Option<f64>,
}

/// One run of one case.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub pass: bool,
    /// The fields that disagree.
    pub differences: Vec<FieldResult>,
    pub ms: f64,
}

/// One case and its runs.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    #[serde(flatten)]
    pub case: Case,
    /// Every run passed.
    pub pass: bool,
    pub runs: Vec<RunReport>,
    /// Agreeing pairs among the runs' outputs (with `repeat` > 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_agreement: Option<Rate>,
}

/// Agreement of one field over every run.
#[derive(Debug, Clone, Serialize)]
pub struct FieldStat {
    pub field: String,
    pub comparator: &'static str,
    #[serde(flatten)]
    pub rate: Rate,
}

/// The report for one name.
#[derive(Debug, Clone, Serialize)]
pub struct NameReport {
    pub name: String,
    pub kind: &'static str,
    pub repeat: u32,
    pub cases: Vec<CaseReport>,
    pub fields: Vec<FieldStat>,
    pub confusion: Vec<Confusion>,
    /// Runs that agree with their expected output.
    pub agreement: Rate,
    /// Agreeing pairs of outputs of the same case, over all cases (with `repeat` > 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_agreement: Option<Rate>,
    pub pass_line: f64,
    pub pass: bool,
}

/// Run `cases` through `name`. Interrupts, approval aborts, an unknown name and grading
/// failures (judge model, `compare_NAME`) stop the run; a failing call is a failing run.
///
/// # Errors
///
/// As above.
pub async fn run(
    rt: &Arc<Runtime>,
    name: &str,
    cases: Vec<Case>,
    opts: Options,
) -> Result<NameReport, CallError> {
    let callee = rt.resolve(name)?;
    let grader = Grader::for_name(rt, name);
    let output_schema = callee.output_schema().or_else(|| {
        rt.project()
            .workers
            .get(name)
            .and_then(|w| w.output.clone())
    });
    let mut confusion: Vec<Confusion> = compare::enum_fields(output_schema.as_ref())
        .iter()
        .map(|(f, values)| Confusion::new(f, values))
        .collect();
    let mut fields: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut reports = Vec::with_capacity(cases.len());
    for case in cases {
        let mut runs = Vec::new();
        for _ in 0..opts.repeat.max(1) {
            let run = run_once(rt, name, &grader, &case).await?;
            tally(&mut fields, &case.expected, &run);
            let expected = compare::fields(&case.expected);
            let actual = run.output.as_ref().map(compare::fields);
            for c in &mut confusion {
                let got = actual.as_ref().map(|a| label(a.get(&c.field)));
                c.add(
                    label(expected.get(&c.field)),
                    got.unwrap_or_else(|| "(error)".into()),
                );
            }
            runs.push(run);
        }
        let self_agreement = if runs.len() > 1 {
            Some(self_agree(&grader, &runs).await?)
        } else {
            None
        };
        reports.push(CaseReport {
            pass: runs.iter().all(|r| r.pass),
            case,
            runs,
            self_agreement,
        });
    }
    let all_runs = reports.iter().flat_map(|c| &c.runs);
    let agreement = Rate::new(
        all_runs.clone().filter(|r| r.pass).count(),
        all_runs.count(),
    );
    let self_agreement = (opts.repeat > 1).then(|| {
        let (k, n) = reports
            .iter()
            .filter_map(|c| c.self_agreement)
            .fold((0, 0), |(k, n), r| (k + r.agreed, n + r.total));
        Rate::new(k, n)
    });
    let pass_line = opts.min_agreement.unwrap_or(1.0);
    Ok(NameReport {
        name: name.to_owned(),
        kind: callee.kind_label(),
        repeat: opts.repeat.max(1),
        pass: agreement.rate + 1e-12 >= pass_line,
        cases: reports,
        fields: fields
            .into_iter()
            .map(|(field, (k, n))| FieldStat {
                comparator: grader.kind_of(&field),
                field,
                rate: Rate::new(k, n),
            })
            .collect(),
        confusion,
        agreement,
        self_agreement,
        pass_line,
    })
}

async fn run_once(
    rt: &Arc<Runtime>,
    name: &str,
    grader: &Grader,
    case: &Case,
) -> Result<RunReport, CallError> {
    let start = Instant::now();
    let result = rt.call(&CallCtx::default(), name, case.input.clone()).await;
    // Rounded to microseconds: reports need no more.
    let ms = (start.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    match result {
        Ok(output) => {
            let graded = grader.grade(&case.expected, &output).await?;
            let differences: Vec<FieldResult> = graded.into_iter().filter(|f| !f.pass).collect();
            Ok(RunReport {
                pass: differences.is_empty(),
                output: Some(output),
                error: None,
                differences,
                ms,
            })
        }
        Err(e @ (CallError::Aborted | CallError::Cancelled | CallError::Unknown { .. })) => Err(e),
        Err(e) => Ok(RunReport {
            output: None,
            error: Some(crate::call::chain(&e)),
            pass: false,
            differences: Vec::new(),
            ms,
        }),
    }
}

/// Count each field of a run: agreed unless it is among the differences (an error counts
/// every expected field as disagreeing).
fn tally(fields: &mut BTreeMap<String, (usize, usize)>, expected: &Value, run: &RunReport) {
    for field in compare::field_names(expected, run.output.as_ref()) {
        let agreed = run.output.is_some() && !run.differences.iter().any(|d| d.field == field);
        let (k, n) = fields.entry(field).or_default();
        *k += usize::from(agreed);
        *n += 1;
    }
}

/// Pairs of runs whose outputs agree with each other under the comparators (a failed run
/// agrees with nothing).
async fn self_agree(grader: &Grader, runs: &[RunReport]) -> Result<Rate, CallError> {
    let (mut agreed, mut total) = (0, 0);
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            total += 1;
            if let (Some(x), Some(y)) = (&a.output, &b.output)
                && grader.grade(x, y).await?.iter().all(|f| f.pass)
            {
                agreed += 1;
            }
        }
    }
    Ok(Rate::new(agreed, total))
}
