//! The `call(name, input)` syntax. `call` is a Rhai keyword function, so a native fn of that
//! name is never reached; a custom syntax whose first token is `call` is (DESIGN §4). The
//! syntax accepts `call(expr, expr, ...)`: a string first argument dispatches through the
//! project namespace, a fn pointer keeps Rhai's own `call(fp, args...)` meaning.
//!
//! A custom syntax keyed on `call` would also capture the method form `fp.call(x)` (Rhai
//! tries custom syntax before plain identifiers, and then the dot expression fails). So the
//! syntax is registered under [`SYNTAX_KEY`] and a token mapper renames the identifier `call`
//! to it, except right after `.`/`?.`, where `fp.call(x)` keeps Rhai's meaning.
//!
//! Per-call state (depth, worker chain) travels in the evaluation tag so fns called from
//! inside a worker's tool call see their real depth; an empty tag means the top of a script.
//! Resolution, validation, tracing and running are the runtime's one seam, reached through
//! [`Caller`]; this module only evaluates the syntax and adapts the evaluation as [`Here`].

use std::rc::Rc;
use std::sync::Weak;

use rhai::{
    Dynamic, Engine, EvalAltResult, EvalContext, Expression, FnPtr, ImmutableString, LexError,
    ParseError, ParseErrorType, Position, Token,
};

use crate::call::{CallCtx, CallError, Input};
use crate::script::caller::{Caller, Direct, DirectArgs, Here};
use crate::script::errors;

/// Name of the helper that invokes a fn pointer with a native call context.
const FP_CALL: &str = "__llm_do_call_fn_ptr";

/// The key the `call(...)` custom syntax is registered under (see the module docs).
const SYNTAX_KEY: &str = "__llm_do_call";

/// What the token mapper remembers of the script being tokenized on this thread.
#[derive(Default)]
struct Seen {
    /// The previous token was `.`/`?.` (a method call follows).
    after_dot: bool,
    /// The previous token opened a map literal or separated its entries (a key follows, if the
    /// innermost open bracket is a map's).
    key_position: bool,
    /// Open brackets, innermost last: `true` for a map literal's `#{`.
    open: Vec<bool>,
}

thread_local! {
    static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::default();
}

/// Rename `call` to the syntax key unless it follows a dot (a method call on a fn pointer) or
/// is a map key (`#{call: 1}`).
#[allow(deprecated)] // `on_parse_token` is marked volatile, not deprecated
fn register_token_mapper(engine: &mut Engine) {
    engine.on_parse_token(|token, _, _| {
        let (after_dot, map_key) = SEEN.with(|s| {
            let mut s = s.borrow_mut();
            let before = (s.after_dot, s.key_position && s.open.last() == Some(&true));
            match &token {
                Token::MapStart => s.open.push(true),
                Token::LeftBrace | Token::LeftParen | Token::LeftBracket => s.open.push(false),
                Token::RightBrace | Token::RightParen | Token::RightBracket => {
                    s.open.pop();
                }
                Token::EOF => s.open.clear(),
                _ => {}
            }
            s.after_dot = matches!(token, Token::Period | Token::Elvis);
            s.key_position = matches!(token, Token::MapStart | Token::Comma);
            before
        });
        match token {
            // Rhai reserves `call`; as a map key it is the string "call".
            Token::Identifier(id) | Token::Reserved(id) if map_key && id.as_str() == "call" => {
                Token::StringConstant(Box::new("call".into()))
            }
            Token::Identifier(id) | Token::Reserved(id) if !after_dot && id.as_str() == "call" => {
                Token::Identifier(Box::new(SYNTAX_KEY.into()))
            }
            other => other,
        }
    });
}

/// Register the `call` syntax and its fn-pointer helper.
pub fn register(engine: &mut Engine, rt: Weak<dyn Caller>) {
    register_token_mapper(engine);
    engine.register_fn(
        FP_CALL,
        |ctx: rhai::NativeCallContext, fp: FnPtr, args: rhai::Array| fp.call_raw(&ctx, None, args),
    );
    engine.register_custom_syntax_with_state_raw(
        SYNTAX_KEY,
        parse,
        false,
        move |ctx, inputs, state| eval(&rt, ctx, inputs, state),
    );
}

/// What `call()` sites keep between evaluations, by site number (the syntax's state in the
/// parsed script is the number: Rhai hashes that state when a closure holds the call, and only
/// plain values hash): the fn or builtin the name resolved to, while the runtime's namespace is
/// unchanged. Kept per thread (the thread evaluating a script, a fan-out branch's thread) in a
/// small direct-mapped table, so a call takes no lock and touches no shared counter to find
/// it, and a thread keeps at most [`SLOTS`] sites (others are resolved again when evicted).
static NEXT_SITE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const SLOTS: usize = 64;

type Slot = Option<(usize, Rc<Kept>)>;

thread_local! {
    static SITES: std::cell::RefCell<[Slot; SLOTS]> =
        const { std::cell::RefCell::new([const { None }; SLOTS]) };
}

/// A new call site's number.
fn new_site() -> rhai::INT {
    let n = NEXT_SITE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    rhai::INT::try_from(n).unwrap_or(rhai::INT::MAX)
}

struct Kept {
    generation: u64,
    name: ImmutableString,
    /// `None`: the name is something else (a worker, a tool...), resolved at every call.
    target: Option<Direct>,
    /// When the input is a map literal whose keys map onto the target's parameters: where
    /// each key's value goes (prepared once, by the invoker's own mapping).
    order: Option<crate::call::Mapping>,
}

/// What site `site` keeps for `name` in the runtime's current generation, resolving it when
/// this thread keeps nothing for it (or something older).
fn site_target(
    site: rhai::INT,
    rt: &dyn Caller,
    name: &str,
    input: Option<&Expression>,
) -> Option<Rc<Kept>> {
    let index = usize::try_from(site).ok()?;
    let generation = rt.generation();
    let kept = SITES.with_borrow(|sites| match &sites[index % SLOTS] {
        Some((at, kept)) if *at == index && kept.generation == generation && kept.name == name => {
            Some(kept.clone())
        }
        _ => None,
    });
    if kept.is_some() {
        return kept;
    }
    let target = rt.direct(name);
    let order = match (&target, input.map(|e| &**e)) {
        (Some(target), Some(rhai::Expr::Map(map, _))) => {
            let keys: Vec<&str> = map.0.iter().map(|(key, _)| key.name.as_str()).collect();
            target.mapping(&keys)
        }
        _ => None,
    };
    let kept = Rc::new(Kept {
        generation,
        name: name.into(),
        target,
        order,
    });
    SITES.with_borrow_mut(|sites| sites[index % SLOTS] = Some((index, kept.clone())));
    Some(kept)
}

fn parse(
    symbols: &[ImmutableString],
    look_ahead: &str,
    state: &mut Dynamic,
) -> Result<Option<ImmutableString>, ParseError> {
    let next = match symbols.last().map(ImmutableString::as_str) {
        Some(SYNTAX_KEY) => {
            *state = Dynamic::from(new_site());
            "("
        }
        Some("(" | ",") => "$expr$",
        Some("$expr$") if matches!(look_ahead, "," | ")") => look_ahead,
        Some("$expr$") => {
            let msg = "expected `,` or `)` in call(...)".to_string();
            let error = LexError::ImproperSymbol(look_ahead.into(), msg);
            return Err(ParseError(
                Box::new(ParseErrorType::BadInput(error)),
                Position::NONE,
            ));
        }
        _ => return Ok(None),
    };
    Ok(Some(next.into()))
}

/// The calling context carried in the evaluation tag (top of a script when absent).
pub fn ctx_of(tag: &Dynamic) -> CallCtx {
    tag.clone().try_cast::<CallCtx>().unwrap_or_default()
}

fn eval(
    rt: &Weak<dyn Caller>,
    ctx: &mut EvalContext,
    inputs: &[Expression],
    state: &Dynamic,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let pos = inputs[0].position();
    // A constant name (the usual case) is read from the script, not evaluated into a value.
    let evaluated: ImmutableString;
    let name: &str = match &*inputs[0] {
        rhai::Expr::StringConstant(name, _) => name,
        _ => {
            let mut first = ctx.eval_expression_tree(&inputs[0])?;
            if first.is_fnptr() {
                let args: rhai::Array = inputs[1..]
                    .iter()
                    .map(|e| ctx.eval_expression_tree(e))
                    .collect::<Result<_, _>>()?;
                let mut args = Dynamic::from_array(args);
                return ctx.call_fn_raw(FP_CALL, false, false, &mut [&mut first, &mut args]);
            }
            let type_name = first.type_name();
            evaluated = first.into_immutable_string().map_err(|_| {
                let message =
                    format!("call() takes a name (string) or a fn pointer first, not {type_name}");
                runtime_error(message, pos)
            })?;
            &evaluated
        }
    };
    if inputs.len() > 2 {
        return Err(runtime_error(
            format!("call(\"{name}\", input) takes one input; pass a map of named arguments"),
            pos,
        ));
    }
    let rt = upgrade(rt, pos)?;
    let kept = state
        .as_int()
        .ok()
        .and_then(|site| site_target(site, rt.as_ref(), name, inputs.get(1)));
    // The kept fn or builtin, with where a map literal's values go when it maps onto it.
    let target = kept
        .as_deref()
        .and_then(|k| Some((k.target.as_ref()?, k.order.as_ref())));
    // A map literal of a kept fn's parameters: its values go straight to their places.
    if let (Some((target, Some(order))), Some(rhai::Expr::Map(map, _))) =
        (target, inputs.get(1).map(|e| &**e))
    {
        let mut args = rhai::StaticVec::from_elem(Dynamic::UNIT, order.count);
        for ((_, value), &i) in map.0.iter().zip(&order.slots) {
            args[i] = ctx.eval_expression_tree(&value.into())?;
        }
        return rt
            .call_direct(target, DirectArgs::Mapped(args), &mut InEval { ctx, pos })
            .map_err(|e| call_error(e, pos));
    }
    let input = Input::Rhai(
        inputs
            .get(1)
            .map(|e| ctx.eval_expression_tree(e))
            .transpose()?,
    );
    let mut here = InEval { ctx, pos };
    match target {
        Some((target, _)) => rt.call_direct(target, DirectArgs::Input(input), &mut here),
        None => rt.call_here(name, input, &mut here),
    }
    .map_err(|e| call_error(e, pos))
}

/// The running evaluation as the seam sees it.
struct InEval<'a, 'b, 'c, 'd, 'e, 'f, 'g> {
    ctx: &'a mut EvalContext<'b, 'c, 'd, 'e, 'f, 'g>,
    pos: Position,
}

impl Here for InEval<'_, '_, '_, '_, '_, '_, '_> {
    fn ctx(&self) -> CallCtx {
        self.ctx
            .tag()
            .read_lock::<CallCtx>()
            .map_or_else(CallCtx::default, |c| c.clone())
    }

    fn session_fn(&self, name: &str) -> Option<Vec<String>> {
        self.ctx.iter_namespaces().find_map(|m| {
            (0..=crate::script::caller::MAX_SESSION_PARAMS).find_map(|n| {
                m.get_script_fn(name, n)
                    .map(|f| f.params.iter().map(ToString::to_string).collect())
            })
        })
    }

    fn call_fn(
        &mut self,
        inner: Option<&CallCtx>,
        name: &str,
        args: &mut [Dynamic],
    ) -> Result<Dynamic, CallError> {
        let saved = inner.map(|c| std::mem::replace(self.ctx.tag_mut(), Dynamic::from(c.clone())));
        // Inline for up to three arguments: no allocation per call.
        let mut refs: rhai::StaticVec<&mut Dynamic> = args.iter_mut().collect();
        let out = self.ctx.call_fn_raw(name, false, false, &mut refs);
        if let Some(tag) = saved {
            *self.ctx.tag_mut() = tag;
        }
        out.map_err(|mut e| {
            if e.position().is_none() {
                e.set_position(self.pos);
            }
            CallError::Rhai(e)
        })
    }
}

/// The runtime behind `rt`, or the error for a script outliving it.
pub fn upgrade(
    rt: &Weak<dyn Caller>,
    pos: Position,
) -> Result<std::sync::Arc<dyn Caller>, Box<EvalAltResult>> {
    rt.upgrade()
        .ok_or_else(|| runtime_error("the llm-do runtime is gone".into(), pos))
}

/// A runtime error at `pos`, catchable by `try`/`catch`.
pub fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
}

/// A call error as a Rhai error. Aborts and interrupts terminate the script (not catchable).
pub fn call_error(e: CallError, pos: Position) -> Box<EvalAltResult> {
    match e {
        CallError::Rhai(e) => e,
        CallError::Aborted => Box::new(EvalAltResult::ErrorTerminated(errors::ABORTED.into(), pos)),
        CallError::Cancelled => Box::new(EvalAltResult::ErrorTerminated(
            errors::CANCELLED.into(),
            pos,
        )),
        other => runtime_error(other.one_line(), pos),
    }
}
