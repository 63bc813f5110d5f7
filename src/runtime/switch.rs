//! The stabilize switch (DESIGN §14): a worker and a fn share a name and `[stabilize] NAME`
//! in llm-do.toml says which serves. It is a kind of callee of the seam, so every path that
//! reaches the name (a script's `call()`, fan-out, `run`, a model's tool call, `test`) gets
//! the same switch. Each side runs through the seam as a call of its own (validated, traced
//! and logged as such); this module only decides which runs and what is returned:
//! - `worker` / `code`: one side serves; in `code` (and for the fn's share of `canary`) a fn
//!   that returns `defer()` hands that call to the worker;
//! - `shadow` / `shadow-code`: both run concurrently; the served side's answer is returned as
//!   soon as it is done (the other side runs on beside the caller, and the run waits for it
//!   before it ends), and every call is graded with the worker's comparators and logged
//!   (agreement, or both outputs);
//! - `canary:P`: P% of distinct inputs (by a hash of the input) go to the fn.

use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Input};
use crate::config::Stabilize;
use crate::log::SwitchEvent;
use crate::project::Switch;
use crate::script::{Deferred, value};

use super::Runtime;

impl Runtime {
    /// Serve `switch` on `input` (JSON: each side validates it its own way).
    pub(super) async fn run_switch(
        self: &Arc<Self>,
        ctx: &CallCtx,
        switch: &Switch,
        input: Value,
    ) -> Result<Dynamic, CallError> {
        let worker = switch.worker_side();
        let mut event = SwitchEvent {
            name: switch.worker.name.clone(),
            mode: switch.mode.to_string(),
            input: input.clone(),
            ..SwitchEvent::default()
        };
        let to_code = match switch.mode {
            Stabilize::Worker => false,
            Stabilize::Code => true,
            Stabilize::Canary(p) => canary_takes(&input, p),
            Stabilize::Shadow | Stabilize::ShadowCode => {
                return self.serve_shadowed(ctx, switch, event, input).await;
            }
        };
        event.served = "worker".into();
        let out = if to_code {
            let code = Input::Json(input.clone());
            let code = self.job_for(ctx, switch.code_side(), code, true)?;
            match code.await? {
                out if out.is::<Deferred>() => {
                    event.deferred = true;
                    self.invoke(ctx, &worker, Input::Json(input)).await
                }
                out => {
                    event.served = "code".into();
                    Ok(out)
                }
            }
        } else {
            self.invoke(ctx, &worker, Input::Json(input)).await
        };
        self.switch_served(ctx.parent, event);
        out
    }

    /// Record a switch's call: a span event for the observers (OpenTelemetry), a row for the
    /// run log.
    fn switch_served(&self, parent: Option<u64>, event: SwitchEvent) {
        self.observer.switch_served(&crate::trace::SwitchServed {
            parent,
            name: &event.name,
            mode: &event.mode,
            served: &event.served,
            deferred: event.deferred,
            agreed: event.agreed,
        });
        if let Some(log) = self.run_log() {
            log.switch_event(event);
        }
    }

    /// Serve a `shadow` / `shadow-code` call: the served side answers the caller as soon as
    /// it is done, the other side runs beside it ([`Runtime::beside`]), and the task that
    /// waits for both grades and logs the call. Only a `defer()` of the served fn
    /// (`shadow-code`) makes the caller wait, for the worker's answer.
    async fn serve_shadowed(
        self: &Arc<Self>,
        ctx: &CallCtx,
        switch: &Switch,
        mut event: SwitchEvent,
        input: Value,
    ) -> Result<Dynamic, CallError> {
        let serve_code = switch.mode == Stabilize::ShadowCode;
        event.served = if serve_code { "code" } else { "worker" }.into();
        let (served, shadow) = if serve_code {
            (switch.code_side(), switch.worker_side())
        } else {
            (switch.worker_side(), switch.code_side())
        };
        // Only the fn side may `defer()`.
        let shadow = self.job_for(ctx, shadow, Input::Json(input.clone()), !serve_code);
        let (tell, heard) = tokio::sync::oneshot::channel();
        let (hand_back, handed) = tokio::sync::oneshot::channel();
        self.shadow_beside(ctx.parent, event, shadow, heard, hand_back);
        let served = match self.job_for(ctx, served, Input::Json(input), serve_code) {
            Ok(job) => job.await,
            Err(e) => Err(e),
        };
        let outcome = Outcome::of(self, &served);
        let deferred = outcome == Outcome::Deferred;
        // The task is gone only if the process is ending; then there is nothing to tell.
        let _ = tell.send(outcome);
        if deferred {
            return handed.await.unwrap_or(Err(CallError::Cancelled));
        }
        served
    }

    /// Start the shadow side of `event`'s call beside its caller: run `shadow`, hear how the
    /// served side ended, hand the worker's answer back when the served fn deferred, then
    /// grade both and log the call. A caller that went away (cancelled) logs nothing.
    fn shadow_beside(
        self: &Arc<Self>,
        parent: Option<u64>,
        mut event: SwitchEvent,
        shadow: Result<crate::fanout::Job, CallError>,
        heard: tokio::sync::oneshot::Receiver<Outcome>,
        hand_back: tokio::sync::oneshot::Sender<Result<Dynamic, CallError>>,
    ) {
        let rt = self.clone();
        self.beside(async move {
            let from_shadow = match shadow {
                Ok(job) => job.await,
                Err(e) => Err(e),
            };
            let Ok(served) = heard.await else {
                return;
            };
            let shadow = Outcome::of(&rt, &from_shadow);
            let (worker, code) = if event.served == "code" {
                (shadow, served)
            } else {
                (served, shadow)
            };
            if event.served == "code" && code == Outcome::Deferred {
                let _ = hand_back.send(from_shadow);
            }
            rt.grade_shadow(&mut event, &worker, &code).await;
            rt.switch_served(parent, event);
        });
    }

    /// Compare both sides of a shadow call with the worker's comparators; the verdict and
    /// both outputs go to `event`. A failed side is a disagreement.
    async fn grade_shadow(
        self: &Arc<Self>,
        event: &mut SwitchEvent,
        worker: &Outcome,
        code: &Outcome,
    ) {
        event.worker_output = Some(worker.logged());
        event.code_output = Some(code.logged());
        event.deferred = *code == Outcome::Deferred;
        let (Outcome::Answer(w), Outcome::Answer(c)) = (worker, code) else {
            if matches!(worker, Outcome::Failed(_)) || matches!(code, Outcome::Failed(_)) {
                event.agreed = Some(false);
            }
            return;
        };
        let grader = super::grade::Grader::for_name(self, &event.name);
        match grader.grade(w, c).await {
            Ok(fields) => {
                event.agreed = Some(fields.iter().all(|f| f.pass));
                event.fields = fields
                    .iter()
                    .filter(|f| !f.pass)
                    .map(|f| f.field.clone())
                    .collect();
            }
            Err(e) => {
                event.agreed = Some(false);
                event.fields = vec![format!("(grading failed: {})", self.error_text(&e))];
            }
        }
    }
}

/// How one side of a shadow call ended, as it is graded and logged.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// An answer (as JSON).
    Answer(Value),
    /// The fn returned `defer()`.
    Deferred,
    /// The side failed; the error as one line.
    Failed(String),
}

impl Outcome {
    /// How `result` ended.
    fn of(rt: &Runtime, result: &Result<Dynamic, CallError>) -> Outcome {
        match result {
            Ok(v) if v.is::<Deferred>() => Outcome::Deferred,
            Ok(v) => Outcome::Answer(value::to_json(v)),
            Err(e) => Outcome::Failed(rt.error_text(e)),
        }
    }

    /// The side's output as the run log keeps it.
    fn logged(&self) -> Value {
        match self {
            Outcome::Answer(v) => v.clone(),
            Outcome::Deferred => Value::String("(deferred)".into()),
            Outcome::Failed(e) => serde_json::json!({ "error": e }),
        }
    }
}

/// Whether the fn serves `input` at `percent`: a stable hash (FNV-1a of the input's JSON), so
/// an input always goes the same way.
pub fn canary_takes(input: &Value, percent: u8) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input.to_string().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100 < u64::from(percent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canary_is_stable_and_proportional() {
        let inputs: Vec<Value> = (0..1000)
            .map(|i| json!({"input": format!("x{i}")}))
            .collect();
        let taken = inputs.iter().filter(|i| canary_takes(i, 30)).count();
        assert!((230..370).contains(&taken), "{taken}");
        assert!(
            inputs
                .iter()
                .all(|i| canary_takes(i, 30) == canary_takes(i, 30))
        );
        assert!(inputs.iter().all(|i| !canary_takes(i, 0)));
        assert!(inputs.iter().all(|i| canary_takes(i, 100)));
    }
}
