//! The worker run loop (DESIGN §3): one conversation with a model. System prompt, few-shot
//! examples, the input, then tool-call turns until the model answers without tool calls or
//! `max_turns` is reached. Structured output is validated and re-asked (bounded). A turn of a
//! [`Conversation`] sends the conversation's earlier messages before the input and, once it
//! has an answer, appends its own (and writes them to the run log).

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::call::{CallCtx, CallError, Conversation};
use crate::model::fallback::api_name;
use crate::model::prices::Spend;
use crate::model::test::REASK_PREFIX;
use crate::model::{
    DEFAULT_MAX_TOKENS, Fallback, FinishReason, Message, ModelRequest, ModelResponse, Part, Role,
    StreamEvent, StreamSink, ToolChoice,
};
use crate::runtime::Runtime;
use crate::runtime::budget::Estimate;
use crate::runtime::toolbox::Toolbox;
use crate::schema::Validator;
use crate::trace::{ModelRequestEvent, ModelResponseEvent};
use crate::worker::WorkerSpec;
use crate::worker::input;

/// Re-asks after an answer that fails the output schema (so at most 1 + this many answers).
pub const MAX_REASKS: u32 = 2;

impl Runtime {
    /// [`run`] as a task of its own on the runtime's workers, with what it spent. Dropping the
    /// returned future aborts the run; a panic in it resumes in the caller.
    ///
    /// A task of its own, because the thread awaiting a run is often not a runtime worker (the
    /// CLI's main thread, a script's blocking thread): the run's model round trips and tool calls
    /// then woke that thread at every event, crossing threads where the HTTP client's connection
    /// tasks run on the workers. A 1,000-call tool loop made 12 context switches per round trip
    /// and spent half its CPU on them (docs/performance.md).
    pub(super) fn spawn_worker(
        self: &Arc<Self>,
        ctx: CallCtx,
        spec: &Arc<WorkerSpec>,
        input: Value,
        conversation: Option<Conversation>,
    ) -> RunTask {
        let (rt, spec) = (self.clone(), spec.clone());
        RunTask(tokio::spawn(async move {
            let mut spend = Spend::default();
            let out = run(&rt, &ctx, &spec, input, conversation.as_ref(), &mut spend).await;
            (out, spend)
        }))
    }
}

/// A worker run spawned by [`Runtime::spawn_worker`]. Its type names only its output, so a run whose tools are
/// workers (a recursion through the seam) is still `Send`.
pub struct RunTask(tokio::task::JoinHandle<(Result<Value, CallError>, Spend)>);

impl Future for RunTask {
    type Output = (Result<Value, CallError>, Spend);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let out = std::task::ready!(std::pin::Pin::new(&mut self.0).poll(cx));
        std::task::Poll::Ready(out.unwrap_or_else(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Aborted only by this handle's drop, or by the runtime shutting down.
            Err(e) => {
                let ended = CallError::Script(format!("a worker run ended: {e}"));
                (Err(ended), Spend::default())
            }
        }))
    }
}

impl Drop for RunTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Hold the conversation of `spec` on `input` (already validated by the seam) in `ctx`, the
/// context inside the run, after the messages of `conversation` when given; tokens and
/// dollars used are added to `spend`.
async fn run(
    rt: &Arc<Runtime>,
    ctx: &CallCtx,
    spec: &WorkerSpec,
    input: Value,
    conversation: Option<&Conversation>,
    spend: &mut Spend,
) -> Result<Value, CallError> {
    let output = spec.output.as_ref().map(Validator::new).transpose();
    let output = output.map_err(|e| CallError::Output {
        worker: spec.name.clone(),
        attempts: 0,
        errors: vec![e.to_string()],
    })?;
    let model = rt.model_for(spec)?;
    let toolbox = Toolbox::for_worker(rt, spec).with_mcp(rt, spec).await?;
    let mut messages = input::examples(spec);
    if let Some(c) = conversation {
        messages.extend(c.messages());
    }
    // Where this turn's messages start.
    let first = messages.len();
    messages.push(input::user_message(&rt.run.sandbox, spec, &input)?);
    let (max_tokens, _) = max_tokens(spec, &rt.project().config.defaults);
    // One request grows turn by turn: no per-turn copy of the whole conversation.
    let mut request = ModelRequest {
        model: api_name(model.id()).to_owned(),
        system: spec.instructions.clone(),
        messages: messages.into(),
        tools: toolbox.definitions(),
        tool_choice: ToolChoice::Auto,
        output_schema: spec.output.clone(),
        output_name: Some(spec.name.clone()),
        temperature: spec.temperature,
        max_tokens: Some(max_tokens),
        seed: spec.seed,
        parallel_tool_calls: spec.parallel_tool_calls,
        cache: false,
        reasoning: spec.reasoning,
    };
    request.cache = spec.cache.unwrap_or_else(|| long_prompt(&request));
    let (value, answer) = converse(
        rt,
        ctx,
        spec,
        model,
        &toolbox,
        output.as_ref(),
        &mut request,
        spend,
    )
    .await?;
    if let Some(c) = conversation {
        let mut turn = request.messages.split_off(first);
        turn.push(Message::assistant(answer));
        let place = c.append(&turn);
        if let Some(log) = rt.run_log() {
            log.chat_turn(&c.id(), &spec.name, place, &turn);
        }
    }
    Ok(value)
}

/// The model round trips of one run: tool-call turns and re-asks until an answer (the value
/// and the text it was read from).
#[allow(clippy::too_many_arguments)]
async fn converse(
    rt: &Arc<Runtime>,
    ctx: &CallCtx,
    spec: &WorkerSpec,
    mut model: crate::model::SharedModel,
    toolbox: &Toolbox,
    output: Option<&Validator>,
    request: &mut ModelRequest,
    spend: &mut Spend,
) -> Result<(Value, String), CallError> {
    let mut reasks = 0;
    // Whether a tool was called yet: `required` and a named tool bind until then.
    let mut called = false;
    // Answers without the tool call `tool_choice` forces.
    let mut missed = 0;
    // Once an answer failed the schema, the re-asks offer no tool: the model is answering.
    let mut answering = false;
    // Why a fallback chain moved on in this loop (answers failing the schema): said by the
    // next reply.
    let mut moved: Option<Fallback> = None;
    for turn in 0..spec.max_turns {
        request.tool_choice = if answering {
            ToolChoice::None
        } else {
            choice_for(&spec.tool_choice, called)
        };
        if let Some(max) = spec.budget.max_requests
            && spend.requests >= max
        {
            return Err(CallError::WorkerBudget {
                worker: spec.name.clone(),
                limit: "max_requests",
                max: max.to_string(),
                used: format!("{} requests", spend.requests + 1),
            });
        }
        let (response, served, cost) =
            complete(rt, ctx, turn, spec, model.as_ref(), request, moved.take()).await?;
        spend.add(response.usage, cost);
        check_worker_budget(spec, spend)?;
        if !response.tool_calls.is_empty() {
            called = true;
            // Thinking blocks go back first: with tools, Anthropic rejects the next request when
            // the turn that called them lost its thinking.
            let text = Some(&response.text).filter(|t| !t.is_empty());
            let parts = (response.thinking.iter().cloned().map(Part::Thinking))
                .chain(text.cloned().map(Part::Text))
                .chain(response.tool_calls.iter().cloned().map(Part::ToolCall))
                .collect();
            request.messages.push(Message {
                role: Role::Assistant,
                parts,
            });
            let results = toolbox.run_turn(rt, ctx, &response.tool_calls).await?;
            request.messages.push(Message {
                role: Role::User,
                parts: results.into_iter().map(Part::ToolResult).collect(),
            });
            continue;
        }
        if response.finish == FinishReason::Length && (output.is_some() || !spec.keep_cut_off) {
            let (max_tokens, from) = max_tokens(spec, &rt.project().config.defaults);
            return Err(CallError::CutOff {
                worker: spec.name.clone(),
                model: served,
                max_tokens,
                from,
                structured: output.is_some(),
            });
        }
        if let Some((choice, which)) = forced(&request.tool_choice) {
            missed += 1;
            if missed > MAX_TOOL_REASKS {
                return Err(CallError::ToolNotCalled {
                    worker: spec.name.clone(),
                    model: served,
                    choice: choice.to_owned(),
                    attempts: missed,
                });
            }
            let ask =
                format!("{TOOL_REASK_PREFIX} but this step must call a tool. Call {which} now.");
            push_reask(request, response.text, ask);
            continue;
        }
        let Some(validator) = output else {
            return Ok((Value::String(response.text.clone()), response.text));
        };
        match parse_output(&response.text).and_then(|v| validator.validate(&v).map(|()| v)) {
            Ok(value) => return Ok((value, response.text)),
            Err(errors) => {
                if reasks < MAX_REASKS {
                    reasks += 1;
                } else {
                    // A fallback chain moves on: the next model gets the conversation so far.
                    let Some(next) = model.next_in_chain() else {
                        return Err(CallError::Output {
                            worker: spec.name.clone(),
                            attempts: reasks + 1,
                            errors,
                        });
                    };
                    moved = Some(Fallback {
                        from: served,
                        to: next.id().to_owned(),
                        reason: format!(
                            "{} answers did not match the output schema: {}",
                            reasks + 1,
                            errors.join("; ")
                        ),
                    });
                    model = next;
                    request.model = api_name(model.id()).to_owned();
                    reasks = 0;
                }
                // With tools, the answer turn offers none: on a server whose `response_format`
                // is a grammar (llama-server) that is the turn the schema is enforced on.
                answering = !request.tools.is_empty();
                let ask = format!(
                    "{REASK_PREFIX} the required output schema:\n- {}\nReply again with only the corrected JSON.",
                    errors.join("\n- ")
                );
                push_reask(request, response.text, ask);
            }
        }
    }
    Err(CallError::MaxTurns {
        worker: spec.name.clone(),
        max: spec.max_turns,
    })
}

/// The model's answer (failing the output schema, or without the tool call `tool_choice`
/// forces) and `ask`, the request to correct it.
fn push_reask(request: &mut ModelRequest, answer: String, ask: String) {
    request.messages.push(Message::assistant(answer));
    request.messages.push(Message::user(ask));
}

/// What `choice` forces the model to call, as the frontmatter says it (`required` or the tool's
/// name) and as the re-ask names it; `None` when it forces nothing.
fn forced(choice: &ToolChoice) -> Option<(&str, String)> {
    match choice {
        ToolChoice::Required => Some(("required", "one of your tools".to_owned())),
        ToolChoice::Tool(name) => Some((name, format!("the tool `{name}`"))),
        ToolChoice::Auto | ToolChoice::None => None,
    }
}

/// Text that starts the re-ask after an answer without the tool call `tool_choice` forces.
pub const TOOL_REASK_PREFIX: &str = "You answered without calling a tool,";

/// Re-asks after an answer without the tool call `tool_choice` forces (then it is an error).
pub const MAX_TOOL_REASKS: u32 = 1;

/// The `max_tokens` of `spec`'s replies and where it comes from: the worker's frontmatter,
/// `[defaults] max_tokens`, else [`DEFAULT_MAX_TOKENS`]. Sent on every wire.
fn max_tokens(spec: &WorkerSpec, defaults: &crate::config::Defaults) -> (u32, &'static str) {
    match (spec.max_tokens, defaults.max_tokens) {
        (Some(n), _) => (n, "the worker's `max_tokens`"),
        (None, Some(n)) => (n, "`[defaults] max_tokens`"),
        (None, None) => (DEFAULT_MAX_TOKENS, "the default"),
    }
}

/// One model round trip within the run's budget, cancelled by Ctrl-C, reported to the
/// observer: the reply, the model that served it (a member of a fallback chain) and its cost
/// (`None`: that model has no price). `moved` (why
/// a fallback chain moved on before this request) is added to the reply's fallbacks.
async fn complete(
    rt: &Runtime,
    ctx: &CallCtx,
    turn: u32,
    spec: &WorkerSpec,
    model: &dyn crate::model::Model,
    request: &ModelRequest,
    moved: Option<Fallback>,
) -> Result<(ModelResponse, String, Option<f64>), CallError> {
    // The budget's reservation of this request's worst case, replaced by its real charge
    // below; a failed or cancelled request releases it.
    let estimate = if rt.run.budget.reserves() {
        let price = crate::model::prices::lookup(model.id(), &rt.project().config.prices);
        Estimate::of(request, price.as_ref())
    } else {
        Estimate::default()
    };
    let reservation = tokio::select! {
        biased;
        () = rt.cancel.cancelled() => return Err(CallError::Cancelled),
        () = ctx.cancel.cancelled() => return Err(CallError::Cancelled),
        r = rt.run.budget.reserve(estimate) => r?,
    };
    let started = Instant::now();
    let id = rt.observer.model_request(&ModelRequestEvent {
        depth: ctx.depth,
        parent: ctx.parent,
        worker: &spec.name,
        model: model.id(),
        turn,
        request,
    });
    let live = rt.models.live.as_deref().filter(|l| l.wants(ctx.depth));
    let sink = |event: StreamEvent| {
        if let (Some(live), StreamEvent::TextDelta(text)) = (live, event) {
            live.delta(&text);
        }
    };
    let mut result = tokio::select! {
        biased;
        () = rt.cancel.cancelled() => Err(CallError::Cancelled),
        () = ctx.cancel.cancelled() => Err(CallError::Cancelled),
        r = model.complete(request, live.map(|_| &sink as StreamSink)) => {
            r.map_err(|source| CallError::Model {
                worker: spec.name.clone(),
                model: model.id().to_string(),
                source,
            })
        }
    };
    if let Some(live) = live {
        live.end();
    }
    // `moved.to` is `model` itself: the model that served is still the last one moved to.
    if let (Ok(reply), Some(moved)) = (&mut result, moved) {
        reply.fallbacks.insert(0, moved);
    }
    rt.observer.model_response(
        id,
        &ModelResponseEvent {
            depth: ctx.depth,
            parent: ctx.parent,
            worker: &spec.name,
            // The model that served: a member of a fallback chain.
            model: result
                .as_ref()
                .map_or(model.id(), |reply| reply.served(model)),
            elapsed: started.elapsed(),
            result: result.as_ref().map_err(|e| crate::call::chain(e)),
        },
    );
    let reply = result?;
    let served = reply.served(model).to_owned();
    let cost = crate::model::prices::lookup(&served, &rt.project().config.prices)
        .map(|p| crate::model::prices::cost(&reply.usage, &p));
    reservation.settle(reply.usage, cost)?;
    Ok((reply, served, cost))
}

/// Prompt caching pays once the cached prefix is long (Anthropic caches nothing under ~1,024
/// tokens): on by default past [`CACHE_MIN_CHARS`] of system prompt and tool definitions.
fn long_prompt(request: &ModelRequest) -> bool {
    let tools: usize = request
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    request.system.len() + tools > CACHE_MIN_CHARS
}

/// Characters of system prompt plus tools past which `cache` defaults to on.
pub const CACHE_MIN_CHARS: usize = 4000;

/// The worker's own budgets against what this run of it has spent (`requests` counts the
/// replies so far, so the check before the next request uses `>=`).
fn check_worker_budget(spec: &WorkerSpec, spend: &Spend) -> Result<(), CallError> {
    let b = &spec.budget;
    let over = |limit: &'static str, max: String, used: String| CallError::WorkerBudget {
        worker: spec.name.clone(),
        limit,
        max,
        used,
    };
    if let Some(max) = b.max_tokens
        && spend.usage.total() > max
    {
        return Err(over(
            "max_run_tokens",
            max.to_string(),
            format!("{} tokens", spend.usage.total()),
        ));
    }
    if let (Some(max), Some(cost)) = (b.max_cost_usd, spend.cost)
        && cost > max
    {
        return Err(over(
            "max_cost_usd",
            crate::model::prices::dollars(max),
            crate::model::prices::dollars(cost),
        ));
    }
    Ok(())
}

/// `required` and a named tool bind until a tool is called (DESIGN §3): the first turn, and
/// the re-ask after an answer that called none.
fn choice_for(choice: &ToolChoice, called: bool) -> ToolChoice {
    match choice {
        ToolChoice::Required | ToolChoice::Tool(_) if called => ToolChoice::Auto,
        other => other.clone(),
    }
}

/// The model's final text as JSON: fenced code blocks are unwrapped; a bare non-JSON answer is
/// kept as a string (valid when the schema asks for a string).
pub fn parse_output(text: &str) -> Result<Value, Vec<String>> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|r| r.strip_suffix("```"))
        .map_or(t, str::trim);
    match serde_json::from_str(t) {
        Ok(v) => Ok(v),
        Err(e) if t.starts_with(['{', '[']) => {
            Err(vec![format!("the answer is not valid JSON: {e}")])
        }
        Err(_) => Ok(Value::String(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_fenced_and_bare_output() {
        assert_eq!(
            parse_output("```json\n{\"a\": 1}\n```").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(parse_output(" [1] ").unwrap(), json!([1]));
        assert_eq!(parse_output("plain").unwrap(), json!("plain"));
        assert!(parse_output("{\"a\": ").is_err());
    }

    #[test]
    fn forced_tool_choice_binds_until_a_tool_is_called() {
        assert_eq!(
            choice_for(&ToolChoice::Required, false),
            ToolChoice::Required
        );
        assert_eq!(choice_for(&ToolChoice::Required, true), ToolChoice::Auto);
        assert_eq!(choice_for(&ToolChoice::None, true), ToolChoice::None);
    }
}
