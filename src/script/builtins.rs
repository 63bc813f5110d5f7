//! Rust-native builtins (DESIGN §4): callable directly from Rhai (`read_text("a.txt")`) and
//! through `call("read_text", #{path: "a.txt"})`. File access is confined to the project root.

use std::any::TypeId;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, Position};

use crate::script::errors::CANCELLED;
use crate::script::value;
use crate::tools::sandbox::Sandbox;

/// What builtins need from their surroundings.
#[derive(Clone)]
pub struct BuiltinEnv {
    pub sandbox: Arc<Sandbox>,
    pub quiet: bool,
    /// Ctrl-C: long builtins (`sleep`) stop early when set.
    pub cancel: Arc<crate::cancel::Cancel>,
}

/// A builtin's implementation: arguments in parameter order (optional ones may be missing).
type BuiltinFn = fn(&BuiltinEnv, Vec<Dynamic>) -> Result<Dynamic, String>;

/// A Rust-native function in the project namespace.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub params: &'static [&'static str],
    /// How many leading params are required (the rest are optional).
    pub required: usize,
    pub summary: &'static str,
    pub run: BuiltinFn,
}

/// Every builtin, in the order `llm-do list` shows them: name, parameters, how many of them
/// are required, implementation, summary.
#[rustfmt::skip]
pub static BUILTINS: &[Builtin] = &[
    builtin("read_text", &["path"], 1, read_text, "Read a text file under the project root."),
    builtin("write_text", &["path", "text"], 2, write_text, "Write a file atomically under the project root (creates folders)."),
    builtin("list_files", &["dir", "glob"], 0, list_files, "Sorted file paths under `dir` matching `glob` (default `**/*`)."),
    builtin("exists", &["path"], 1, exists, "Whether a path exists under the project root."),
    builtin("parse_json", &["text"], 1, parse_json, "Parse JSON text into a Rhai value."),
    builtin("to_json", &["value"], 1, to_json, "Serialize a value as JSON text."),
    builtin("env", &["name"], 1, env, "An environment variable, or () when unset."),
    builtin("log", &["message"], 1, log, "Print a message to stderr."),
    builtin("now", &[], 0, now, "The current UTC time as an RFC 3339 string."),
    builtin("sleep", &["ms"], 1, sleep, "Pause for `ms` milliseconds."),
    builtin("ask", &["question"], 1, ask, "Ask the user a question on the terminal; returns the answer."),
];

const fn builtin(
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
    run: BuiltinFn,
    summary: &'static str,
) -> Builtin {
    Builtin {
        name,
        params,
        required,
        summary,
        run,
    }
}

/// The builtin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Whether no worker or fn may take `name`, as it would shadow what has it: a builtin, a builtin
/// toolset or tool, or `defer`.
pub fn is_reserved(name: &str) -> bool {
    find(name).is_some()
        || crate::tools::TOOLSET_NAMES.contains(&name)
        || crate::tools::TOOL_NAMES.contains(&name)
        || name == crate::script::DEFER_FN
}

/// Register every builtin of `table` ([`BUILTINS`]; the tests register stand-ins) as a native
/// Rhai function against `env` (one overload per accepted arity).
///
/// Rhai's packages define some of the same names (`sleep(seconds)`, `parse_json`,
/// `to_json(map)`, `log(x)`), and Rhai prefers an exact parameter-type match over a `Dynamic`
/// one wherever it is registered. So besides the `Dynamic` overload, each builtin is also
/// registered with the exact parameter types of every package function it collides with
/// ([`collisions`]): our global namespace is searched before the packages, so a direct call
/// always reaches the builtin, whatever the argument types.
pub fn register(engine: &mut Engine, table: &[Builtin], env: &BuiltinEnv) {
    for b in table {
        for arity in b.required..=b.params.len() {
            let mut signatures = vec![vec![TypeId::of::<Dynamic>(); arity]];
            signatures.extend(collisions(engine, b.name, arity));
            for types in signatures {
                let env = env.clone();
                let run = b.run;
                engine.register_raw_fn(b.name, types, move |_ctx, args| {
                    // Clone, never `mem::take`: Rhai may pass the caller's variable itself
                    // (e.g. `read_text(path)`), and taking it would leave `path` as `()`.
                    // Cloning a Rhai string or map is a reference-count bump.
                    let args = args.iter().map(|a| (**a).clone()).collect();
                    run(&env, args).map_err(to_rhai_error)
                });
            }
        }
    }
}

/// Parameter types of the functions already in `engine` (its packages) named `name` with
/// `arity` parameters, other than the all-`Dynamic` one.
fn collisions(engine: &Engine, name: &str, arity: usize) -> Vec<Vec<TypeId>> {
    let mut found: Vec<Vec<TypeId>> = engine.collect_fn_metadata(
        None,
        |info| {
            let m = info.metadata;
            (m.name == name && m.num_params == arity && m.param_types.len() == arity)
                .then(|| m.param_types.to_vec())
        },
        true,
    );
    found.retain(|types| types.iter().any(|t| *t != TypeId::of::<Dynamic>()));
    found.sort_unstable();
    found.dedup();
    found
}

/// A builtin's error as a call error: [`CANCELLED`] is [`crate::call::CallError::Cancelled`]
/// (exit 130). For the places that run a builtin outside Rhai (`llm-do run`, `call_all` items).
pub fn call_error(message: String) -> crate::call::CallError {
    if message == CANCELLED {
        crate::call::CallError::Cancelled
    } else {
        crate::call::CallError::Script(message)
    }
}

/// A builtin's error as a Rhai error: [`CANCELLED`] ends the script like Ctrl-C does in
/// `on_progress` (not catchable, exit 130); anything else is a catchable runtime error.
fn to_rhai_error(message: String) -> Box<EvalAltResult> {
    if message == CANCELLED {
        Box::new(EvalAltResult::ErrorTerminated(
            CANCELLED.into(),
            Position::NONE,
        ))
    } else {
        message.into()
    }
}

fn arg_str(args: &[Dynamic], i: usize, name: &str) -> Result<String, String> {
    match args.get(i) {
        Some(v) if v.is_string() => Ok(v.clone().into_string().unwrap_or_default()),
        Some(v) => Err(format!(
            "argument `{name}` must be a string, got {}",
            v.type_name()
        )),
        None => Err(format!("missing argument `{name}`")),
    }
}

/// An optional string argument: absent or `()` means "use the default".
fn optional_str(args: &[Dynamic], i: usize, name: &str) -> Result<Option<String>, String> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(_) => arg_str(args, i, name).map(Some),
    }
}

fn read_text(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let path = arg_str(&args, 0, "path")?;
    let at = env.sandbox.resolve(&path).map_err(|e| e.to_string())?;
    env.sandbox
        .read_to_string(&at)
        .map(Dynamic::from)
        .map_err(|e| format!("cannot read `{path}`: {e}"))
}

fn write_text(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let path = arg_str(&args, 0, "path")?;
    let text = match args.get(1) {
        Some(v) if v.is_string() => v.clone().into_string().unwrap_or_default(),
        Some(v) => value::render(&value::to_json(v), false).unwrap_or_default(),
        None => return Err("missing argument `text`".into()),
    };
    let target = env
        .sandbox
        .resolve_for_write(&path)
        .map_err(|e| e.to_string())?;
    env.sandbox
        .write(&target, text.as_bytes())
        .map_err(|e| format!("cannot write `{path}`: {e}"))?;
    Ok(Dynamic::from(target.resolved().shown()))
}

fn list_files(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let dir = optional_str(&args, 0, "dir")?.unwrap_or_else(|| ".".to_string());
    let glob = optional_str(&args, 1, "glob")?.unwrap_or_else(|| "**/*".to_string());
    let files =
        crate::tools::fs::matching_files(&env.sandbox, &dir, &glob).map_err(|e| e.to_string())?;
    Ok(Dynamic::from_array(
        files.into_iter().map(Dynamic::from).collect(),
    ))
}

fn exists(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let path = arg_str(&args, 0, "path")?;
    Ok(Dynamic::from_bool(env.sandbox.exists(&path)))
}

fn parse_json(_: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let text = arg_str(&args, 0, "text")?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| json_error(&e))?;
    Ok(value::to_dynamic(&v))
}

/// `parse_json: invalid JSON at line L column C: what`, naming the builtin and the format
/// (serde's own text ends with the position and does not say JSON).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    format!(
        "parse_json: invalid JSON at line {} column {}: {what}",
        e.line(),
        e.column()
    )
}

fn to_json(_: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let v = args.first().ok_or("missing argument `value`")?;
    Ok(Dynamic::from(value::to_json(v).to_string()))
}

fn env(_: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let name = arg_str(&args, 0, "name")?;
    Ok(std::env::var(&name).map_or(Dynamic::UNIT, Dynamic::from))
}

fn log(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    if !env.quiet {
        let msg = args.first().map(value::to_json).unwrap_or_default();
        eprintln!("[log] {}", crate::output::plain_text(&msg));
    }
    Ok(Dynamic::UNIT)
}

/// `now()`: whole seconds, e.g. `2025-11-24T16:00:00Z`.
fn now(_: &BuiltinEnv, _: Vec<Dynamic>) -> Result<Dynamic, String> {
    let second = jiff::Timestamp::now().as_second();
    let now = jiff::Timestamp::from_second(second).map_err(|e| e.to_string())?;
    Ok(Dynamic::from(now.to_string()))
}

/// Slice of a `sleep` between checks for Ctrl-C and a cancelled fan-out scope.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// The longest `sleep`: one day. Longer waits (up to `1e300` ms, which no clock can add) are
/// refused rather than clamped, so a script that asks for one learns it is wrong.
pub const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// `sleep(ms)`: `ms` milliseconds, an integer or a float (`sleep(1.5)`); zero or negative
/// returns at once; NaN, infinity or more than [`MAX_SLEEP`] is an error.
fn sleep(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let ms = args.first().ok_or("missing argument `ms`")?;
    let wait = sleep_duration(ms)?;
    // `sleep_duration` caps the wait at a day, so this cannot overflow; `checked_add` keeps it
    // that way should the cap ever change.
    let until = Instant::now()
        .checked_add(wait)
        .ok_or("argument `ms` is too large")?;
    // Sleep in slices so Ctrl-C, SIGTERM or a failed fan-out sibling stops a long sleep
    // promptly; the error is the cancellation marker so the run ends with exit 130.
    loop {
        if env.cancel.is_cancelled() || crate::cancel::current_is_cancelled() {
            return Err(CANCELLED.into());
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Dynamic::UNIT);
        }
        std::thread::sleep(left.min(SLEEP_SLICE));
    }
}

/// How long `sleep(ms)` waits: at most [`MAX_SLEEP`]; negative counts as zero.
fn sleep_duration(ms: &Dynamic) -> Result<Duration, String> {
    // Text that is a number (`llm-do run sleep 250`) counts as that number.
    if let Some(n) = ms
        .read_lock::<rhai::ImmutableString>()
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        return sleep_duration(&Dynamic::from_float(n));
    }
    let wait = if let Ok(n) = ms.as_int() {
        Duration::from_millis(u64::try_from(n).unwrap_or(0))
    } else if let Ok(f) = ms.as_float() {
        if !f.is_finite() {
            return Err(format!("argument `ms` must be a finite number, got {f}"));
        }
        Duration::try_from_secs_f64(f.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
    } else {
        return Err(format!(
            "argument `ms` must be a number of milliseconds, got {}",
            ms.type_name()
        ));
    };
    if wait > MAX_SLEEP {
        return Err(format!(
            "argument `ms` is too large: at most {} ms (one day)",
            MAX_SLEEP.as_millis()
        ));
    }
    Ok(wait)
}

fn ask(_: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let question = arg_str(&args, 0, "question")?;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{question} ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    match stdin.lock().read_line(&mut line) {
        Ok(0) => Err(format!("ask(`{question}`): no answer (stdin is closed)")),
        Ok(_) => Ok(Dynamic::from(
            line.trim_end_matches(['\n', '\r']).to_string(),
        )),
        Err(e) => Err(format!("ask(`{question}`): {e}")),
    }
}

#[cfg(test)]
#[path = "builtins_tests.rs"]
mod tests;
