//! The stabilize switch (DESIGN §14): a worker and a fn share a name and `[stabilize] NAME`
//! in llm-do.toml says which serves. It is a kind of callee of the seam, so every path that
//! reaches the name (a script's `call()`, fan-out, `run`, a model's tool call, `test`) gets
//! the same switch. Each side runs through the seam as a call of its own (validated, traced
//! and logged as such); this module only decides which runs and what is returned:
//! - `worker` / `code`: one side serves; in `code` (and for the fn's share of `canary`) a fn
//!   that returns `defer()` hands that call to the worker;
//! - `shadow` / `shadow-code`: both run concurrently, one answer is returned, and every call
//!   is graded with the worker's comparators and logged (agreement, or both outputs);
//! - `canary:P`: P% of distinct inputs (by a hash of the input) go to the fn.

use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::call::{CallCtx, CallError, Input};
use crate::config::Stabilize;
use crate::log::SwitchEvent;
use crate::project::{Callee, Switch};
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
        let worker = Callee::Worker(switch.worker.clone());
        let code = Callee::Fn(switch.code.clone());
        let name = switch.worker.name.clone();
        let mut event = SwitchEvent {
            name: name.clone(),
            mode: switch.mode.to_string(),
            input: input.clone(),
            ..SwitchEvent::default()
        };
        let out = match switch.mode {
            Stabilize::Worker => {
                event.served = "worker".into();
                self.invoke(ctx, &worker, Input::Json(input)).await
            }
            Stabilize::Canary(p) if !canary_takes(&input, p) => {
                event.served = "worker".into();
                self.invoke(ctx, &worker, Input::Json(input)).await
            }
            Stabilize::Code | Stabilize::Canary(_) => {
                event.served = "code".into();
                let out = self
                    .invoke_side(ctx, &code, Input::Json(input.clone()))
                    .await?;
                if out.is::<Deferred>() {
                    event.deferred = true;
                    event.served = "worker".into();
                    self.invoke(ctx, &worker, Input::Json(input)).await
                } else {
                    Ok(out)
                }
            }
            Stabilize::Shadow | Stabilize::ShadowCode => {
                let (from_worker, from_code) = tokio::join!(
                    self.invoke(ctx, &worker, Input::Json(input.clone())),
                    self.invoke_side(ctx, &code, Input::Json(input)),
                );
                self.grade_shadow(&name, &mut event, &from_worker, &from_code)
                    .await;
                if switch.mode == Stabilize::Shadow {
                    event.served = "worker".into();
                    from_worker
                } else {
                    event.served = "code".into();
                    from_code.and_then(|v| {
                        if v.is::<Deferred>() {
                            from_worker
                        } else {
                            Ok(v)
                        }
                    })
                }
            }
        };
        if let Some(log) = self.run_log() {
            log.switch_event(event);
        }
        out
    }

    /// Compare both sides of a shadow call with the worker's comparators; the verdict and
    /// both outputs go to `event`. A failed side is a disagreement.
    async fn grade_shadow(
        self: &Arc<Self>,
        name: &str,
        event: &mut SwitchEvent,
        from_worker: &Result<Dynamic, CallError>,
        from_code: &Result<Dynamic, CallError>,
    ) {
        let text = |r: &Result<Dynamic, CallError>| match r {
            Ok(v) if v.is::<Deferred>() => Value::String("(deferred)".into()),
            Ok(v) => value::to_json(v),
            Err(e) => serde_json::json!({"error": self.error_text(e)}),
        };
        event.worker_output = Some(text(from_worker));
        event.code_output = Some(text(from_code));
        event.deferred = matches!(from_code, Ok(v) if v.is::<Deferred>());
        let (Ok(w), Ok(c)) = (from_worker, from_code) else {
            event.agreed = Some(false);
            return;
        };
        if event.deferred {
            return;
        }
        let grader = crate::eval::grade::Grader::for_name(self, name);
        match grader.grade(&value::to_json(w), &value::to_json(c)).await {
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
