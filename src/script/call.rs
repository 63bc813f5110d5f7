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

use std::sync::Weak;

use rhai::{
    Dynamic, Engine, EvalAltResult, EvalContext, Expression, FnPtr, ImmutableString, LexError,
    ParseError, ParseErrorType, Position, Token,
};

use crate::call::{CallCtx, CallError, map_args};
use crate::project::Target;
use crate::runtime::Runtime;
use crate::script::{errors, value};
use crate::trace::{CallEnd, CallStart, Kind};

/// Name of the helper that invokes a fn pointer with a native call context.
const FP_CALL: &str = "__llm_do_call_fn_ptr";

/// The key the `call(...)` custom syntax is registered under (see the module docs).
const SYNTAX_KEY: &str = "__llm_do_call";

thread_local! {
    /// Whether the previous token of the script being tokenized on this thread was `.`/`?.`.
    static AFTER_DOT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Rename `call` to the syntax key unless it follows a dot (a method call on a fn pointer).
#[allow(deprecated)] // `on_parse_token` is marked volatile, not deprecated
fn register_token_mapper(engine: &mut Engine) {
    engine.on_parse_token(|token, _, _| {
        let after_dot =
            AFTER_DOT.with(|c| c.replace(matches!(token, Token::Period | Token::Elvis)));
        match token {
            Token::Identifier(id) | Token::Reserved(id) if !after_dot && id.as_str() == "call" => {
                Token::Identifier(Box::new(SYNTAX_KEY.into()))
            }
            other => other,
        }
    });
}

/// Register the `call` syntax and its fn-pointer helper.
pub fn register(engine: &mut Engine, rt: Weak<Runtime>) {
    register_token_mapper(engine);
    engine.register_fn(
        FP_CALL,
        |ctx: rhai::NativeCallContext, fp: FnPtr, args: rhai::Array| fp.call_raw(&ctx, None, args),
    );
    engine.register_custom_syntax_with_state_raw(
        SYNTAX_KEY,
        parse,
        false,
        move |ctx, inputs, _| eval(&rt, ctx, inputs),
    );
}

fn parse(
    symbols: &[ImmutableString],
    look_ahead: &str,
    _: &mut Dynamic,
) -> Result<Option<ImmutableString>, ParseError> {
    let next = match symbols.last().map(ImmutableString::as_str) {
        Some(SYNTAX_KEY) => "(",
        Some("(" | ",") => "$expr$",
        Some("$expr$") => match look_ahead {
            "," => ",",
            ")" => ")",
            _ => {
                let msg = "expected `,` or `)` in call(...)".to_string();
                return Err(ParseError(
                    Box::new(ParseErrorType::BadInput(LexError::ImproperSymbol(
                        look_ahead.into(),
                        msg,
                    ))),
                    Position::NONE,
                ));
            }
        },
        _ => return Ok(None),
    };
    Ok(Some(next.into()))
}

/// The calling context carried in the evaluation tag (top of a script when absent).
pub fn ctx_of(tag: &Dynamic) -> CallCtx {
    tag.clone().try_cast::<CallCtx>().unwrap_or_default()
}

fn eval(
    rt: &Weak<Runtime>,
    ctx: &mut EvalContext,
    inputs: &[Expression],
) -> Result<Dynamic, Box<EvalAltResult>> {
    let pos = inputs[0].position();
    let first = ctx.eval_expression_tree(&inputs[0])?;
    if first.is_fnptr() {
        let args: rhai::Array = inputs[1..]
            .iter()
            .map(|e| ctx.eval_expression_tree(e))
            .collect::<Result<_, _>>()?;
        return ctx.call_fn_raw(
            FP_CALL,
            false,
            false,
            &mut [&mut first.clone(), &mut Dynamic::from_array(args)],
        );
    }
    let Some(name) = first.clone().into_immutable_string().ok() else {
        return Err(runtime_error(
            format!(
                "call() takes a name (string) or a fn pointer first, not {}",
                first.type_name()
            ),
            pos,
        ));
    };
    if inputs.len() > 2 {
        return Err(runtime_error(
            format!("call(\"{name}\", input) takes one input; pass a map of named arguments"),
            pos,
        ));
    }
    let input = match inputs.get(1) {
        Some(e) => Some(ctx.eval_expression_tree(e)?),
        None => None,
    };
    let Some(rt) = rt.upgrade() else {
        return Err(runtime_error("the llm-do runtime is gone".into(), pos));
    };
    dispatch(&rt, ctx, &name, input, pos)
}

/// Named args of a Rhai input value: a map gives its entries; anything else is a lone value.
fn split_input(input: Option<Dynamic>) -> (Vec<(rhai::Identifier, Dynamic)>, Option<Dynamic>) {
    match input {
        None => (Vec::new(), None),
        Some(v) if v.is_map() => (v.cast::<rhai::Map>().into_iter().collect(), None),
        Some(v) if v.is_unit() => (Vec::new(), None),
        Some(v) => (Vec::new(), Some(v)),
    }
}

fn dispatch(
    rt: &Runtime,
    ctx: &mut EvalContext,
    name: &str,
    input: Option<Dynamic>,
    pos: Position,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let to_eval = |e: CallError| call_error(e, pos);
    if name.starts_with(crate::mcp::PREFIX) {
        let json = input.map_or(serde_json::Value::Null, |v| value::to_json(&v));
        let out = rt
            .handle
            .block_on(rt.call_mcp(name, json))
            .map_err(to_eval)?;
        return Ok(value::to_dynamic(&out));
    }
    let project = rt.project();
    // The calling context is only needed for tracing and for workers: not on the hot path.
    let traced_ctx = || rt.observer.enabled().then(|| ctx_of(ctx.tag()));
    let target = project.resolve(name);
    // Only a worker or an unknown name can be shadowed by a fn defined outside the project
    // files; project fns and builtins skip the lookup (it is the hot path).
    if matches!(target, Some(Target::Worker(_)) | None)
        && let Some(params) = session_fn(ctx, name)
    {
        // A fn defined where this evaluation runs (at the REPL prompt) but not in a project
        // file: it shadows a worker of the same name, so a stabilized version can be tried live.
        let (named, lone) = split_input(input);
        let mut args = map_args(name, &params, params.len(), named, lone).map_err(to_eval)?;
        let mut refs: Vec<&mut Dynamic> = args.iter_mut().collect();
        return ctx.call_fn_raw(name, false, false, &mut refs);
    }
    match target {
        Some(Target::Fn(f)) => {
            let (named, lone) = split_input(input);
            let mut args =
                map_args(name, &f.params, f.params.len(), named, lone).map_err(to_eval)?;
            let traced = traced_ctx().and_then(|c| {
                Traced::start(rt, &c, Kind::Symbolic, name, &f.params, &args).map(|t| (t, c))
            });
            let saved = traced
                .as_ref()
                .map(|(t, c)| std::mem::replace(ctx.tag_mut(), Dynamic::from(c.with_parent(t.id))));
            let mut refs: Vec<&mut Dynamic> = args.iter_mut().collect();
            let out = ctx
                .call_fn_raw(name, false, false, &mut refs)
                .map_err(|mut e| {
                    if e.position().is_none() {
                        e.set_position(pos);
                    }
                    e
                });
            if let Some(tag) = saved {
                *ctx.tag_mut() = tag;
            }
            if let Some((t, _)) = traced {
                t.end(rt, out.as_ref().map_err(|e| rt.describe_rhai_error(e)));
            }
            out
        }
        Some(Target::Builtin(b)) => {
            let (named, lone) = split_input(input);
            let args = map_args(name, b.params, b.required, named, lone).map_err(to_eval)?;
            let traced = traced_ctx()
                .and_then(|c| Traced::start(rt, &c, Kind::Builtin, name, b.params, &args));
            let out = (b.run)(&rt.builtin_env(), args);
            if let Some(t) = traced {
                t.end(rt, out.as_ref().map_err(Clone::clone));
            }
            out.map_err(|m| runtime_error(m, pos))
        }
        Some(Target::Worker(w)) => {
            let json = input.map_or(serde_json::Value::Null, |v| value::to_json(&v));
            let out = rt
                .call_worker_blocking(&ctx_of(ctx.tag()), w, json)
                .map_err(to_eval)?;
            Ok(value::to_dynamic(&out))
        }
        None => Err(to_eval(CallError::Unknown {
            name: name.to_string(),
            help: project.suggest(name),
        })),
    }
}

/// A script-level fn or builtin call being reported to the observer (only when it listens:
/// building the JSON input costs more than the call itself).
struct Traced {
    id: u64,
    depth: u32,
    name: String,
    started: std::time::Instant,
}

impl Traced {
    fn start(
        rt: &Runtime,
        call_ctx: &CallCtx,
        kind: Kind,
        name: &str,
        params: &[impl AsRef<str>],
        args: &[Dynamic],
    ) -> Option<Traced> {
        if !rt.observer.enabled() {
            return None;
        }
        let input: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .zip(args)
            .map(|(p, a)| (p.as_ref().to_string(), value::to_json(a)))
            .collect();
        let id = rt.observer.call_start(&CallStart {
            depth: call_ctx.depth,
            parent: call_ctx.parent,
            kind,
            name,
            input: &serde_json::Value::Object(input),
        });
        Some(Traced {
            id,
            depth: call_ctx.depth,
            name: name.to_string(),
            started: std::time::Instant::now(),
        })
    }

    fn end(self, rt: &Runtime, result: Result<&Dynamic, String>) {
        let output = result.map(value::to_json);
        rt.observer.call_end(
            self.id,
            &CallEnd {
                depth: self.depth,
                name: &self.name,
                elapsed: self.started.elapsed(),
                usage: crate::model::Usage::default(),
                result: output.as_ref().map_err(Clone::clone),
            },
        );
    }
}

/// Most parameters a fn defined outside the project files is looked up with.
const MAX_SESSION_PARAMS: usize = 16;

/// Parameter names of a script fn `name` visible to this evaluation (e.g. defined at the REPL
/// prompt), when there is exactly one such arity.
fn session_fn(ctx: &EvalContext, name: &str) -> Option<Vec<String>> {
    ctx.iter_namespaces().find_map(|m| {
        (0..=MAX_SESSION_PARAMS).find_map(|n| {
            m.get_script_fn(name, n)
                .map(|f| f.params.iter().map(ToString::to_string).collect())
        })
    })
}

/// A runtime error at `pos`, catchable by `try`/`catch`.
pub fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
}

/// A call error as a Rhai error. Aborts and interrupts terminate the script (not catchable).
pub fn call_error(e: CallError, pos: Position) -> Box<EvalAltResult> {
    match e {
        CallError::Aborted => Box::new(EvalAltResult::ErrorTerminated(errors::ABORTED.into(), pos)),
        CallError::Cancelled => Box::new(EvalAltResult::ErrorTerminated(
            errors::CANCELLED.into(),
            pos,
        )),
        CallError::Unknown { name, help } => {
            let hint = help.map(|h| format!(" ({h})")).unwrap_or_default();
            runtime_error(format!("unknown function or worker `{name}`{hint}"), pos)
        }
        CallError::Args {
            name,
            message,
            params,
        } => runtime_error(
            format!(
                "bad arguments for `{name}`: {message}; it takes ({})",
                params.join(", ")
            ),
            pos,
        ),
        other => runtime_error(chain(&other), pos),
    }
}

/// An error with its sources, `: `-joined.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
