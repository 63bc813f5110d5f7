//! Running the tool calls a model asked for in one turn. Calls that may run concurrently
//! ([`Toolbox::runs_concurrently`]: workers, read-only tools, Rhai fns without `@approval`)
//! run together, bounded by `limits.max_parallel`; any other call (a write, a shell command,
//! an approval-gated fn) is a barrier: everything before it finishes first, it runs alone, and
//! what follows starts after it. Results keep the model's order.
//!
//! A run-ending error (abort at a prompt, interrupt, runaway depth) from any call cancels the
//! rest of its group and ends the turn.

use std::sync::Arc;

use crate::call::{CallCtx, CallError};
use crate::fanout::{OnError, run_ordered};
use crate::model::{ToolCall, ToolResult};
use crate::runtime::Runtime;
use crate::runtime::toolbox::Toolbox;

/// Run `calls` in `ctx` (the calling worker's context); results in the model's order.
pub async fn run_tool_calls(
    toolbox: &Toolbox,
    rt: &Arc<Runtime>,
    ctx: &CallCtx,
    calls: &[ToolCall],
) -> Result<Vec<ToolResult>, CallError> {
    let mut results = Vec::with_capacity(calls.len());
    for group in groups(calls, |c| toolbox.runs_concurrently(&c.name)) {
        if let [call] = group {
            results.push(toolbox.run(rt, ctx, call).await?);
            continue;
        }
        let inner = ctx.within(ctx.cancel.child());
        let jobs: Vec<_> = group.iter().map(|c| toolbox.run(rt, &inner, c)).collect();
        let limit = usize::try_from(rt.settings.max_parallel).unwrap_or(usize::MAX);
        let done = run_ordered(
            jobs,
            limit,
            OnError::CancelSiblings,
            &inner.cancel,
            &rt.cancel,
        )
        .await
        .map_err(|s| s.error)?;
        results.extend(done.into_iter().filter_map(Result::ok));
    }
    Ok(results)
}

/// Split `items` into maximal runs of concurrent items, with every other item alone.
fn groups<T>(items: &[T], concurrent: impl Fn(&T) -> bool) -> Vec<&[T]> {
    items
        .chunk_by(|a, b| concurrent(a) && concurrent(b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_split_the_batch_and_keep_their_place() {
        let calls = ["r1", "r2", "w", "r3", "w", "w", "r4"];
        let got: Vec<Vec<&str>> = groups(&calls, |c| c.starts_with('r'))
            .into_iter()
            .map(<[&str]>::to_vec)
            .collect();
        assert_eq!(
            got,
            vec![
                vec!["r1", "r2"],
                vec!["w"],
                vec!["r3"],
                vec!["w"],
                vec!["w"],
                vec!["r4"]
            ]
        );
    }

    #[test]
    fn all_concurrent_or_none_is_one_group_or_singletons() {
        assert_eq!(groups(&[1, 2, 3], |_| true).len(), 1);
        assert_eq!(groups(&[1, 2, 3], |_| false).len(), 3);
        assert!(groups::<i32>(&[], |_| true).is_empty());
    }
}
