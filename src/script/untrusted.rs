//! Code a model wrote (DESIGN §17, "Trust in code a model wrote"): a draft of
//! `llm-do stabilize NAME --draft` is untrusted until a person accepts it.
//!
//! What makes a file a draft is [`MARK`]: a script whose text holds the mark line is loaded as
//! a draft wherever it lies (llm-do writes them to `scripts/drafts/NAME.rhai`). A draft must be
//! exactly one fn, named after its file, and nothing else ([`check`]); it never joins the
//! project library (so a script cannot call it directly and it can never be the approval
//! policy), and every call of it runs in [`engine`]: Rhai's own packages under the limits of
//! live runs (operations, CPU, sizes, Ctrl-C), with no llm-do builtin, no `call()`, no inline
//! worker, no module import, no `eval`. Grading a draft and serving it on live traffic use
//! this same engine and [`call`], so a draft has the same powers in both.
//!
//! A person promotes a draft with `llm-do stabilize NAME --accept` or by removing the mark.

use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, Scope};

use crate::cancel::Cancel;
use crate::script::engine::EngineLimits;

/// The line that marks a script as an untrusted draft. Removing it is one way to accept it.
pub const MARK: &str = "// llm-do: untrusted draft";

/// Folder (under `scripts/`) where `stabilize --draft` writes drafts.
pub const DRAFTS_DIR: &str = "drafts";

/// The approval policy fn's name: a draft can never define it.
pub const POLICY_FN: &str = "approve";

/// Limits tighter than a trusted script's (call depth, sizes); operations and CPU follow the
/// runtime's limits, like every live run.
const MAX_CALL_LEVELS: usize = 32;
const MAX_STRING: usize = 1 << 20;
const MAX_COLLECTION: usize = 100_000;

/// Why a draft's code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftRule {
    #[error("the draft defines no `fn {0}`")]
    Missing(String),
    #[error("a draft may define only `fn {want}`, not also `fn {extra}`")]
    OtherFn { want: String, extra: String },
    #[error("a draft may hold only `fn {0}`: it has top-level statements")]
    TopLevel(String),
    #[error("a draft cannot define `fn {0}`: the name is reserved")]
    Reserved(String),
    #[error("`fn {name}` must take ({want}), not ({got})")]
    Params {
        name: String,
        want: String,
        got: String,
    },
    #[error("syntax error: {0}")]
    Syntax(String),
}

/// Whether `text` is an untrusted draft (holds a line starting with [`MARK`]).
pub fn is_draft(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with(MARK))
}

/// `text` without the [`MARK`] line(s): the draft as a person accepts it.
pub fn without_mark(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(MARK))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Names a draft may not take: builtins, builtin toolsets and tools, `defer`, `approve`, and
/// `main` (what running a script file calls, in the full engine).
pub fn reserved(name: &str) -> bool {
    name == "main" || name == POLICY_FN || crate::script::builtins::is_reserved(name)
}

/// Compile `code` as a draft of `fn name` (taking `params`, when given) in the restricted
/// engine.
///
/// # Errors
///
/// The code does not parse, or breaks a rule of [`check`].
pub fn compile(
    engine: &Engine,
    code: &str,
    name: &str,
    params: Option<&[String]>,
) -> Result<AST, DraftRule> {
    let ast = engine
        .compile(code)
        .map_err(|e| DraftRule::Syntax(e.to_string()))?;
    check(&ast, name, params)?;
    Ok(ast)
}

/// A draft is exactly `fn name` (with `params`, when given) and nothing else: no other fn
/// (closures inside it excepted), no top-level statement, no reserved name.
///
/// # Errors
///
/// The first rule broken.
pub fn check(ast: &AST, name: &str, params: Option<&[String]>) -> Result<(), DraftRule> {
    if reserved(name) {
        return Err(DraftRule::Reserved(name.to_string()));
    }
    let mut found = None;
    for f in ast.iter_functions() {
        if f.name.starts_with("anon$") {
            continue;
        }
        if reserved(f.name) {
            return Err(DraftRule::Reserved(f.name.to_string()));
        }
        if f.name != name || found.is_some() {
            return Err(DraftRule::OtherFn {
                want: name.to_string(),
                extra: f.name.to_string(),
            });
        }
        found = Some(f.params.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    if !ast.statements().is_empty() {
        return Err(DraftRule::TopLevel(name.to_string()));
    }
    let got = found.ok_or_else(|| DraftRule::Missing(name.to_string()))?;
    match params {
        Some(want) if want != got.as_slice() => Err(DraftRule::Params {
            name: name.to_string(),
            want: want.join(", "),
            got: got.join(", "),
        }),
        _ => Ok(()),
    }
}

/// The restricted engine drafts run in, when graded and on live traffic alike: Rhai's own
/// packages, the runtime's operation and CPU limits, Ctrl-C (`cancel` and the thread's
/// fan-out scope), tighter sizes; nothing of llm-do's (no builtins, `call()`, workers,
/// modules, `eval`, `print`).
pub fn engine(cancel: Arc<Cancel>, limits: EngineLimits) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(MAX_CALL_LEVELS.min(limits.max_call_levels));
    engine.set_max_expr_depths(256, 128);
    engine.set_max_string_size(MAX_STRING.min(limits.max_string_size));
    engine.set_max_array_size(MAX_COLLECTION.min(limits.max_array_size));
    engine.set_max_map_size(MAX_COLLECTION.min(limits.max_map_size));
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    // Rhai's own `sleep` blocks the thread without spending operations or CPU: a draft could
    // hold live calls for ever. It is replaced by an error.
    let no_sleep = |_: Dynamic| -> Result<(), Box<rhai::EvalAltResult>> {
        Err("`sleep` is not available to an untrusted draft".into())
    };
    engine.register_fn("sleep", move |s: rhai::INT| no_sleep(s.into()));
    engine.register_fn("sleep", move |s: rhai::FLOAT| no_sleep(s.into()));
    // `defer()` only builds a marker value: a draft under `code`/`canary` may hand a call on.
    engine.register_fn(crate::script::DEFER_FN, || {
        Dynamic::from(crate::script::Deferred)
    });
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.on_progress(super::engine::progress(cancel, limits.max_cpu));
    engine
}

/// Call the draft `name` of `ast` on this (blocking) thread, with the CPU clock running.
///
/// # Errors
///
/// The draft failed, or a limit or Ctrl-C stopped it (see [`super::errors::termination`]).
pub fn call(
    engine: &Engine,
    ast: &AST,
    name: &str,
    args: Vec<Dynamic>,
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    let _clock = super::clock::evaluation();
    engine.call_fn::<Dynamic>(&mut Scope::new(), ast, name, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted() -> Engine {
        let limits = EngineLimits {
            max_operations: 100_000,
            ..EngineLimits::default()
        };
        engine(Arc::new(Cancel::default()), limits)
    }

    #[test]
    fn the_mark_makes_a_draft_and_removing_it_accepts_it() {
        let text = format!("{MARK}\nfn f(x) {{ x }}\n");
        assert!(is_draft(&text));
        assert_eq!(without_mark(&text), "fn f(x) { x }\n");
        assert!(!is_draft(&without_mark(&text)));
    }

    #[test]
    fn a_draft_is_one_fn_and_nothing_else() {
        let e = restricted();
        let f = |code: &str| compile(&e, code, "f", None).map(|_| ());
        assert_eq!(f("fn f(x) { let g = |y| y + 1; g.call(x) }"), Ok(()));
        assert_eq!(f("// nothing"), Err(DraftRule::Missing("f".into())));
        assert!(matches!(f("fn g(x) { x }"), Err(DraftRule::OtherFn { .. })));
        assert!(matches!(
            f("fn f(x) { x } fn g(x) { x }"),
            Err(DraftRule::OtherFn { .. })
        ));
        assert!(matches!(
            f("fn f(x) { x } private fn h() { 1 }"),
            Err(DraftRule::OtherFn { .. })
        ));
        assert_eq!(
            f("fn f(x) { x } fn approve(r) { \"approve\" }"),
            Err(DraftRule::Reserved("approve".into()))
        );
        assert_eq!(
            f("let a = 1; fn f(x) { x }"),
            Err(DraftRule::TopLevel("f".into()))
        );
        assert_eq!(
            f("import \"std/x\" as x; fn f(x) { x }"),
            Err(DraftRule::TopLevel("f".into()))
        );
        assert!(matches!(f("fn f(x) {"), Err(DraftRule::Syntax(_))));
        assert_eq!(
            compile(&e, "fn read_text(p) { p }", "read_text", None).map(|_| ()),
            Err(DraftRule::Reserved("read_text".into()))
        );
    }

    #[test]
    fn the_restricted_engine_has_no_llm_do_powers_and_stops_loops() {
        let e = restricted();
        for code in [
            "fn f() { read_text(\"llm-do.toml\") }",
            "fn f() { write_text(\"x\", \"y\") }",
            "fn f() { env(\"HOME\") }",
            "fn f() { eval(\"1\") }",
            "fn f() { loop {} }",
            "fn f() { sleep(1000) }",
            "fn f() { sleep(1000.0) }",
        ] {
            // Refused when compiled (`eval` is disabled) or when run.
            let ran = e
                .compile(code)
                .map(|ast| call(&e, &ast, "f", vec![]).is_ok());
            assert_ne!(ran, Ok(true), "{code}");
        }
        let ast = e.compile("fn f() { 1 + 2 }").unwrap();
        assert_eq!(call(&e, &ast, "f", vec![]).unwrap().as_int(), Ok(3));
    }

    #[test]
    fn the_cpu_limit_of_live_runs_stops_a_draft() {
        let limits = EngineLimits {
            max_operations: 0,
            max_cpu: std::time::Duration::ZERO,
            ..EngineLimits::default()
        };
        let e = engine(Arc::new(Cancel::default()), limits);
        let ast = e.compile("fn f() { loop {} }").unwrap();
        let err = call(&e, &ast, "f", vec![]).unwrap_err();
        assert!(
            matches!(&*err, rhai::EvalAltResult::ErrorTerminated(v, _) if v.clone().into_string().ok().as_deref() == Some(crate::script::errors::CPU_LIMIT)),
            "{err}"
        );
    }

    #[test]
    fn a_cancelled_runtime_stops_a_draft() {
        let cancel = Arc::new(Cancel::default());
        let limits = EngineLimits {
            max_operations: 0,
            ..EngineLimits::default()
        };
        let e = engine(cancel.clone(), limits);
        cancel.cancel();
        let ast = e.compile("fn f() { loop {} }").unwrap();
        let err = call(&e, &ast, "f", vec![]).unwrap_err();
        assert_eq!(
            crate::script::errors::termination(&err),
            Some(crate::script::errors::Termination::Cancelled)
        );
    }
}
