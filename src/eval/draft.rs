//! `llm-do stabilize NAME --draft` (DESIGN §14, §17): a model drafts `fn NAME` in Rhai from
//! the worker's prompt, schemas and cases. A draft is code a model wrote, so it is untrusted
//! ([`crate::script::untrusted`]): it must be exactly `fn NAME` (no other fn, no top-level
//! statement, no reserved name), and it is compiled and run on every case in the restricted
//! engine, under the operation and CPU limits of live runs and Ctrl-C, as it will run on live
//! traffic until a person accepts it. Each draft is graded with the worker's comparators;
//! disagreements are fed back for the next attempt. The caller writes the best draft only
//! when it reaches the bar.

use std::path::Path;
use std::sync::Arc;

use rhai::{AST, Dynamic};
use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Input};
use crate::eval::cases::Case;
use crate::runtime::Runtime;
use crate::runtime::callee::Callee;
use crate::runtime::grade::Grader;
use crate::script::errors::{Termination, termination};
use crate::script::{untrusted, value};
use crate::worker::WorkerSpec;

/// Name of the inline worker that drafts code (internal: never shown in an error).
pub const DRAFTER: &str = "stabilize_drafter";

/// How one draft did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub number: u32,
    pub code: String,
    /// Why the draft could not run at all (syntax, another fn, wrong parameters).
    pub error: Option<String>,
    pub passed: usize,
    pub total: usize,
    /// One line per failing case: its label, what was expected and what the draft gave.
    pub failures: Vec<String>,
}

impl Attempt {
    /// Agreement with the cases, 0 to 1.
    #[allow(clippy::cast_precision_loss)]
    pub fn agreement(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.passed as f64 / self.total as f64
        }
    }
}

/// Draft up to `attempts` times, stopping at the first draft that reaches `bar`; every
/// attempt is handed to `done` as soon as it is graded (so none is lost when a later one
/// fails), and all are returned in order.
///
/// # Errors
///
/// The drafting model failed (not a bad draft: that is an attempt with an error), grading
/// failed, or Ctrl-C stopped it.
pub async fn draft(
    rt: &Arc<Runtime>,
    worker: &WorkerSpec,
    cases: &[Case],
    model: Option<&str>,
    attempts: u32,
    bar: f64,
    done: &mut (dyn FnMut(&Attempt) + Send),
) -> Result<Vec<Attempt>, CallError> {
    let drafter: Callee = Arc::new(drafter_spec(model).map_err(CallError::Script)?).into();
    let params = params_of(worker);
    let grader = Grader::for_name(rt, &worker.name);
    let mut made: Vec<Attempt> = Vec::new();
    for number in 1..=attempts.max(1) {
        let request = json!({
            "name": worker.name,
            "parameters": params.join(", "),
            "instructions": worker.instructions,
            "input_schema": worker.input.to_string(),
            "output_schema": worker.output.as_ref().map_or_else(|| "a string".to_string(), Value::to_string),
            "cases": cases.iter().map(|c| json!({"input": c.input, "expected": c.expected}).to_string()).collect::<Vec<_>>().join("\n"),
            "feedback": made.last().map(feedback).unwrap_or_default(),
        });
        let reply = rt
            .invoke(&CallCtx::default(), &drafter, Input::Json(request))
            .await
            .map_err(drafter_error)?;
        let code = code_of(&value::to_json(&reply));
        let attempt = try_draft(rt, &grader, worker, &params, cases, number, code).await?;
        let good = attempt.error.is_none() && attempt.agreement() >= bar;
        done(&attempt);
        made.push(attempt);
        if good {
            break;
        }
    }
    Ok(made)
}

/// The drafting model's failure, said without the drafter's internal worker name.
fn drafter_error(e: CallError) -> CallError {
    match e {
        CallError::Model { model, source, .. } => {
            CallError::Script(format!("the drafting model `{model}` failed: {source}"))
        }
        CallError::NoModel { .. } => CallError::Script(
            "no model to draft with: pass `--model ID`, set `LLM_DO_MODEL`, or set `[defaults] model` in llm-do.toml".into(),
        ),
        e @ (CallError::Cancelled | CallError::Aborted | CallError::Budget { .. }) => e,
        other => CallError::Script(format!(
            "the drafting model failed: {}",
            other
                .one_line()
                .replace(&format!("worker `{DRAFTER}`"), "the drafter")
        )),
    }
}

/// Check `code` as a draft of the worker's fn, run it on every case in the restricted engine
/// and grade the outputs.
async fn try_draft(
    rt: &Arc<Runtime>,
    grader: &Grader,
    worker: &WorkerSpec,
    params: &[String],
    cases: &[Case],
    number: u32,
    code: String,
) -> Result<Attempt, CallError> {
    let mut attempt = Attempt {
        number,
        code,
        error: None,
        passed: 0,
        total: cases.len(),
        failures: Vec::new(),
    };
    let engine = rt.rhai.untrusted_engine();
    let ast = match untrusted::compile(engine, &attempt.code, &worker.name, Some(params)) {
        Ok(ast) => Arc::new(ast),
        Err(rule) => {
            attempt.error = Some(rule.to_string());
            return Ok(attempt);
        }
    };
    for case in cases {
        let args: Vec<Dynamic> = params
            .iter()
            .map(|p| value::to_dynamic(case.input.get(p).unwrap_or(&case.input)))
            .collect();
        let actual = match run_case(rt, &ast, &worker.name, args).await? {
            Ok(v) => value::to_json(&v),
            Err(e) => {
                attempt
                    .failures
                    .push(format!("{}: the draft failed: {e}", case.label));
                continue;
            }
        };
        let fields = grader.grade(&case.expected, &actual).await?;
        if fields.iter().all(|f| f.pass) {
            attempt.passed += 1;
        } else {
            attempt.failures.push(format!(
                "{}: input {}, expected {}, got {}",
                case.label, case.input, case.expected, actual
            ));
        }
    }
    Ok(attempt)
}

/// Run one case of a draft on a blocking thread (as live calls of a draft run), so Ctrl-C is
/// seen while it runs. The outer error stops drafting (Ctrl-C); the inner one is the draft's.
async fn run_case(
    rt: &Arc<Runtime>,
    ast: &Arc<AST>,
    name: &str,
    args: Vec<Dynamic>,
) -> Result<Result<Dynamic, String>, CallError> {
    let (rt, ast, name) = (rt.clone(), ast.clone(), name.to_string());
    let out = tokio::task::spawn_blocking(move || {
        untrusted::call(rt.rhai.untrusted_engine(), &ast, &name, args)
    })
    .await
    .map_err(|e| CallError::Script(format!("a draft's run failed: {e}")))?;
    match out {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match termination(&e) {
            Some(Termination::Cancelled) => Err(CallError::Cancelled),
            Some(Termination::Aborted) => Err(CallError::Aborted),
            None => Ok(Err(crate::script::errors::message(&e))),
        },
    }
}

/// What the next attempt is told about `last`.
fn feedback(last: &Attempt) -> String {
    match &last.error {
        Some(e) => format!(
            "Your previous draft could not run: {e}\nPrevious draft:\n{}",
            last.code
        ),
        None => format!(
            "Your previous draft passed {} of {} cases. Failing cases:\n{}\nPrevious draft:\n{}",
            last.passed,
            last.total,
            last.failures.join("\n"),
            last.code
        ),
    }
}

/// The fn's parameters: the worker's input properties, in schema order.
pub fn params_of(worker: &WorkerSpec) -> Vec<String> {
    worker
        .input
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .filter(|p: &Vec<String>| !p.is_empty())
        .unwrap_or_else(|| vec!["input".to_string()])
}

/// The code in a drafter reply: `{code}` or a bare string, fences removed.
fn code_of(reply: &Value) -> String {
    let text =
        crate::output::plain_text(reply.get("code").filter(|c| c.is_string()).unwrap_or(reply));
    let t = text.trim();
    let t = t
        .strip_prefix("```rhai")
        .or_else(|| t.strip_prefix("```rust"))
        .or_else(|| t.strip_prefix("```"))
        .and_then(|r| r.strip_suffix("```"))
        .unwrap_or(t);
    format!("{}\n", t.trim())
}

fn drafter_spec(model: Option<&str>) -> Result<WorkerSpec, String> {
    let model = model
        .map(|m| format!("model: \"{m}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "---\nname: {DRAFTER}\ndescription: Draft a Rhai fn that replaces a worker\n{model}\
         temperature: 0\ninput:\n  name: string\n  parameters: string\n  instructions: string\n  \
         input_schema: string\n  output_schema: string\n  cases: string\n  feedback: string\n\
         output:\n  code: string\n---\n\
         You turn an LLM worker into code. Write one Rhai function `fn NAME(PARAMETERS)` that does\n\
         what the worker's instructions say, returning values of the output schema (a Rhai map\n\
         `#{{...}}` for an object). Only Rhai's standard functions are available: no files, no\n\
         network, no other functions of the project. Write only that one function: no other\n\
         function, no code outside it. Every case (one JSON object per line, with\n\
         `input` and `expected`) must come out as expected. When `feedback` is not empty it\n\
         tells you how your previous draft failed: fix exactly that. Answer with the code only.\n"
    );
    crate::worker::parse_worker(Path::new("<drafter>"), &text).map_err(|e| e.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_unfenced() {
        assert_eq!(
            code_of(&json!({"code": "```rhai\nfn f(x) { x }\n```"})),
            "fn f(x) { x }\n"
        );
        assert_eq!(code_of(&json!("fn f(x) { x }")), "fn f(x) { x }\n");
    }
}
