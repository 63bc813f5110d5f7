//! The fan-out builtins of Rhai (DESIGN §4): `call_all(items)`, `try_call_all(items)` and
//! `parallel(closures)`. They run on the script's blocking thread and block on
//! [`crate::fanout::run_ordered`].
//!
//! Each `[name, input]` item is resolved, validated and run by the runtime's one seam
//! ([`Caller::job`]), exactly as `call(name, input)` would be, so the same names reach the same
//! callees with the same errors and trace events. How branches run:
//! - a worker is a plain future: 100 concurrent worker calls are 100 futures on the tokio
//!   runtime, not 100 threads; Rhai values become JSON only at that boundary;
//! - a Rhai fn or builtin runs on a blocking thread with Rhai values (no JSON round trip);
//! - a closure runs on a blocking thread through `Engine::call_fn` on the running script's
//!   merged `AST`, so its captured variables (shared, `sync`) and its own `call()`s work as on
//!   the calling thread. Closures that share captured state run truly concurrently: Rhai's
//!   shared values are locked per access, not per closure.
//!
//! Every branch carries the calling context (depth, chain) with a fresh child cancellation
//! scope; the first failure cancels that scope so its siblings stop.

use std::sync::Weak;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position};

use crate::call::{CallCtx, CallError, Input};
use crate::fanout::OnError;
use crate::script::call::{call_error, ctx_of, runtime_error, upgrade};
use crate::script::caller::Caller;

/// Register `call_all`, `try_call_all` and `parallel`.
pub fn register(engine: &mut Engine, rt: Weak<dyn Caller>) {
    for (name, on_error) in [
        ("call_all", OnError::CancelSiblings),
        ("try_call_all", OnError::Collect),
    ] {
        let weak = rt.clone();
        engine.register_fn(
            name,
            move |ctx: NativeCallContext, items: Array| -> Result<Array, Box<EvalAltResult>> {
                call_items(&weak, &ctx, name, items, on_error)
            },
        );
    }
    engine.register_fn(
        "parallel",
        move |ctx: NativeCallContext, closures: Array| -> Result<Array, Box<EvalAltResult>> {
            parallel(&rt, &ctx, closures)
        },
    );
}

/// Read an item `[name]` or `[name, input]` of `call_all` (`input` a map of named arguments or
/// a lone value).
fn parse_item(
    fn_name: &str,
    index: usize,
    item: Dynamic,
) -> Result<(String, Option<Dynamic>), String> {
    let type_name = item.type_name();
    let shape = || {
        format!("`{fn_name}` takes an array of `[name, input]` pairs; item {index} is {type_name}")
    };
    let mut parts = item.try_cast::<Array>().ok_or_else(shape)?.into_iter();
    let (Some(name), input, None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(shape());
    };
    let name = name
        .into_immutable_string()
        .map_err(|t| format!("`{fn_name}` item {index}: the name must be a string, not {t}"))?;
    Ok((name.to_string(), input))
}

fn call_items(
    rt: &Weak<dyn Caller>,
    ctx: &NativeCallContext,
    fn_name: &str,
    items: Array,
    on_error: OnError,
) -> Result<Array, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let rt = upgrade(rt, pos)?;
    let call_ctx = branch_ctx(ctx);
    let mut names = Vec::with_capacity(items.len());
    let mut jobs = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let (name, job) = match parse_item(fn_name, index, item) {
            Ok((name, input)) => {
                let job = rt.job(&call_ctx, &name, Input::Rhai(input));
                (name, job)
            }
            Err(m) if on_error == OnError::Collect => (String::new(), Err(CallError::Script(m))),
            Err(m) => return Err(runtime_error(m, pos)),
        };
        match job {
            Ok(job) => jobs.push(job),
            // `try_call_all` never throws for one bad item: it becomes that item's error.
            Err(e) if on_error == OnError::Collect => {
                jobs.push(Box::pin(std::future::ready(Err(e))))
            }
            Err(e) => {
                return Err(describe(e, pos, |m| {
                    format!("`{fn_name}` item {index} (`{name}`): {m}")
                }));
            }
        }
        names.push(name);
    }
    let results = rt.run_jobs(&call_ctx, jobs, on_error).map_err(|s| {
        let name = &names[s.index];
        describe(s.error, pos, |m| {
            format!("`{fn_name}` item {} (`{name}`) failed: {m}", s.index)
        })
    })?;
    Ok(results
        .into_iter()
        .map(|r| match (r, on_error) {
            (Ok(v), OnError::CancelSiblings) => v,
            (Ok(v), OnError::Collect) => outcome("ok", v),
            (Err(e), _) => outcome("error", error_text(e).into()),
        })
        .collect())
}

fn parallel(
    rt: &Weak<dyn Caller>,
    ctx: &NativeCallContext,
    closures: Array,
) -> Result<Array, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let rt = upgrade(rt, pos)?;
    let call_ctx = branch_ctx(ctx);
    let mut jobs = Vec::with_capacity(closures.len());
    for (index, c) in closures.into_iter().enumerate() {
        let type_name = c.type_name();
        let Some(fp) = c.try_cast::<FnPtr>() else {
            return Err(runtime_error(
                format!(
                    "`parallel` takes an array of closures (`|| ...`); item {index} is {type_name}"
                ),
                pos,
            ));
        };
        jobs.push(rt.closure_job(&call_ctx, fp));
    }
    let results = rt
        .run_jobs(&call_ctx, jobs, OnError::CancelSiblings)
        .map_err(|s| {
            describe(s.error, pos, |m| {
                format!("`parallel` closure {} failed: {m}", s.index)
            })
        })?;
    Ok(results.into_iter().filter_map(Result::ok).collect())
}

/// The caller's context with a fresh child scope for this fan-out.
fn branch_ctx(ctx: &NativeCallContext) -> CallCtx {
    let caller = ctx.tag().map(ctx_of).unwrap_or_default();
    let scope = caller.cancel.child();
    caller.within(scope)
}

/// `#{ok: v}` or `#{error: message}`.
fn outcome(key: &str, v: Dynamic) -> Dynamic {
    let mut map = Map::new();
    map.insert(key.into(), v);
    Dynamic::from_map(map)
}

/// A call error as a Rhai error whose message is rewritten by `wrap`; aborts and interrupts
/// pass through untouched (they terminate the script).
fn describe(e: CallError, pos: Position, wrap: impl FnOnce(&str) -> String) -> Box<EvalAltResult> {
    let err = call_error(e, pos);
    match *err {
        EvalAltResult::ErrorRuntime(msg, pos) => runtime_error(wrap(&msg.to_string()), pos),
        other => Box::new(other),
    }
}

/// The message of a call error as `try_call_all` reports it.
fn error_text(e: CallError) -> String {
    match *call_error(e, Position::NONE) {
        EvalAltResult::ErrorRuntime(msg, _) => msg.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_name_input_pairs() {
        let item = Dynamic::from_array(vec!["sum".into(), Dynamic::from(3_i64)]);
        let (name, input) = parse_item("call_all", 0, item).unwrap();
        assert_eq!(name, "sum");
        assert_eq!(input.unwrap().as_int().unwrap(), 3);
        let bare = parse_item("call_all", 1, Dynamic::from_array(vec!["now".into()])).unwrap();
        assert!(bare.1.is_none());
    }

    #[test]
    fn malformed_items_say_what_is_expected() {
        let e = parse_item("call_all", 2, Dynamic::from("sum")).unwrap_err();
        assert_eq!(
            e,
            "`call_all` takes an array of `[name, input]` pairs; item 2 is string"
        );
        let e = parse_item("call_all", 0, Dynamic::from_array(vec![1_i64.into()])).unwrap_err();
        assert_eq!(e, "`call_all` item 0: the name must be a string, not i64");
        assert!(parse_item("call_all", 0, Dynamic::from_array(vec![])).is_err());
    }

    #[test]
    fn collected_outcomes_are_single_key_maps() {
        let v = outcome("error", "boom".into()).cast::<Map>();
        assert_eq!(v["error"].clone().into_string().unwrap(), "boom");
    }
}
