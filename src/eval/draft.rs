//! `llm-do stabilize NAME --draft` (DESIGN §14): a model drafts `fn NAME` in Rhai from the
//! worker's prompt, schemas and cases. Each draft is compiled in a sandboxed engine (Rhai's
//! own packages only: no llm-do builtins, no files, no network, operation and size limits), run
//! on every case and graded with the worker's comparators; disagreements are fed back for the
//! next attempt. The caller writes the best draft only when it reaches the bar.

use std::path::Path;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Scope};
use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Input};
use crate::eval::cases::Case;
use crate::eval::grade::Grader;
use crate::project::Callee;
use crate::runtime::Runtime;
use crate::script::value;
use crate::worker::WorkerSpec;

/// Name of the inline worker that drafts code.
pub const DRAFTER: &str = "stabilize_drafter";

/// Operations one case of a draft may take.
pub const MAX_OPERATIONS: u64 = 2_000_000;

/// How one draft did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub number: u32,
    pub code: String,
    /// Why the draft could not run at all (syntax, missing fn, wrong parameters).
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

/// Draft up to `attempts` times; returns every attempt, best last-found-first order kept.
///
/// # Errors
///
/// The drafting model failed (not a bad draft: that is an attempt with an error).
pub async fn draft(
    rt: &Arc<Runtime>,
    worker: &WorkerSpec,
    cases: &[Case],
    model: Option<&str>,
    attempts: u32,
    bar: f64,
) -> Result<Vec<Attempt>, CallError> {
    let drafter = Callee::Worker(Arc::new(drafter_spec(model).map_err(CallError::Script)?));
    let params = params_of(worker);
    let grader = Grader::for_name(rt, &worker.name);
    let mut done: Vec<Attempt> = Vec::new();
    for number in 1..=attempts.max(1) {
        let request = json!({
            "name": worker.name,
            "parameters": params.join(", "),
            "instructions": worker.instructions,
            "input_schema": worker.input.to_string(),
            "output_schema": worker.output.as_ref().map_or_else(|| "a string".to_string(), Value::to_string),
            "cases": cases.iter().map(|c| json!({"input": c.input, "expected": c.expected}).to_string()).collect::<Vec<_>>().join("\n"),
            "feedback": done.last().map(feedback).unwrap_or_default(),
        });
        let reply = rt
            .invoke(&CallCtx::default(), &drafter, Input::Json(request))
            .await?;
        let code = code_of(&value::to_json(&reply));
        let attempt = try_draft(&grader, worker, &params, cases, number, code).await?;
        let good = attempt.error.is_none() && attempt.agreement() >= bar;
        done.push(attempt);
        if good {
            break;
        }
    }
    Ok(done)
}

/// Compile `code`, run it on every case and grade the outputs.
async fn try_draft(
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
    let engine = sandbox();
    let ast = match engine.compile(&attempt.code) {
        Ok(ast) => ast,
        Err(e) => {
            attempt.error = Some(format!("syntax error: {e}"));
            return Ok(attempt);
        }
    };
    let signature = ast
        .iter_functions()
        .find(|f| f.name == worker.name)
        .map(|f| f.params.iter().map(ToString::to_string).collect::<Vec<_>>());
    match signature {
        None => {
            attempt.error = Some(format!("the draft defines no `fn {}`", worker.name));
            return Ok(attempt);
        }
        Some(p) if p != params => {
            attempt.error = Some(format!(
                "`fn {}` must take ({}), not ({})",
                worker.name,
                params.join(", "),
                p.join(", ")
            ));
            return Ok(attempt);
        }
        Some(_) => {}
    }
    for case in cases {
        let args: Vec<Dynamic> = params
            .iter()
            .map(|p| value::to_dynamic(case.input.get(p).unwrap_or(&case.input)))
            .collect();
        let out = engine.call_fn::<Dynamic>(&mut Scope::new(), &ast, &worker.name, args);
        let actual = match out {
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

/// The engine drafts run in: Rhai's own packages and limits, nothing of llm-do's.
fn sandbox() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    engine.set_max_string_size(1 << 20);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine
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
    let text = match reply.get("code") {
        Some(Value::String(s)) => s.clone(),
        _ => match reply {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
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
         network, no other functions of the project. Every case (one JSON object per line, with\n\
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

    #[test]
    fn the_sandbox_has_no_llm_do_builtins_and_stops_loops() {
        let engine = sandbox();
        assert!(engine.eval::<Dynamic>("read_text(\"x\")").is_err());
        assert!(engine.eval::<Dynamic>("loop {}").is_err());
        assert!(engine.eval::<i64>("1 + 2").is_ok());
    }
}
