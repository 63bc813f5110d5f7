//! Rust-native builtins (DESIGN §4): callable directly from Rhai (`read_text("a.txt")`) and
//! through `call("read_text", #{path: "a.txt"})`. File access is confined to the project root.

use std::any::TypeId;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhai::{Dynamic, Engine};

use crate::script::value;
use crate::tools::sandbox::{self, Sandbox};

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
pub struct Builtin {
    pub name: &'static str,
    pub params: &'static [&'static str],
    /// How many leading params are required (the rest are optional).
    pub required: usize,
    pub summary: &'static str,
    pub run: BuiltinFn,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every builtin, in the order `llm-do list` shows them.
pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "read_text",
        params: &["path"],
        required: 1,
        summary: "Read a text file under the project root.",
        run: read_text,
    },
    Builtin {
        name: "write_text",
        params: &["path", "text"],
        required: 2,
        summary: "Write a file atomically under the project root (creates folders).",
        run: write_text,
    },
    Builtin {
        name: "list_files",
        params: &["dir", "glob"],
        required: 0,
        summary: "Sorted file paths under `dir` matching `glob` (default `**/*`).",
        run: list_files,
    },
    Builtin {
        name: "exists",
        params: &["path"],
        required: 1,
        summary: "Whether a path exists under the project root.",
        run: exists,
    },
    Builtin {
        name: "parse_json",
        params: &["text"],
        required: 1,
        summary: "Parse JSON text into a Rhai value.",
        run: parse_json,
    },
    Builtin {
        name: "to_json",
        params: &["value"],
        required: 1,
        summary: "Serialize a value as JSON text.",
        run: to_json,
    },
    Builtin {
        name: "env",
        params: &["name"],
        required: 1,
        summary: "An environment variable, or () when unset.",
        run: env,
    },
    Builtin {
        name: "log",
        params: &["message"],
        required: 1,
        summary: "Print a message to stderr.",
        run: log,
    },
    Builtin {
        name: "now",
        params: &[],
        required: 0,
        summary: "The current UTC time as an RFC 3339 string.",
        run: now,
    },
    Builtin {
        name: "sleep",
        params: &["ms"],
        required: 1,
        summary: "Pause for `ms` milliseconds.",
        run: sleep,
    },
    Builtin {
        name: "ask",
        params: &["question"],
        required: 1,
        summary: "Ask the user a question on the terminal; returns the answer.",
        run: ask,
    },
];

/// The builtin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Register every builtin as a native Rhai function (one overload per accepted arity).
pub fn register(
    engine: &mut Engine,
    sandbox: Arc<Sandbox>,
    quiet: bool,
    cancel: Arc<crate::cancel::Cancel>,
) {
    let env = BuiltinEnv {
        sandbox,
        quiet,
        cancel,
    };
    for b in BUILTINS {
        for arity in b.required..=b.params.len() {
            let env = env.clone();
            let run = b.run;
            engine.register_raw_fn(
                b.name,
                vec![TypeId::of::<Dynamic>(); arity],
                move |_ctx, args| {
                    // Clone, never `mem::take`: Rhai may pass the caller's variable itself
                    // (e.g. `read_text(path)`), and taking it would leave `path` as `()`.
                    // Cloning a Rhai string or map is a reference-count bump.
                    let args = args.iter().map(|a| (**a).clone()).collect();
                    run(&env, args).map_err(Into::into)
                },
            );
        }
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
    let abs = env.sandbox.resolve(&path).map_err(|e| e.to_string())?;
    std::fs::read_to_string(&abs)
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
    let abs = env
        .sandbox
        .resolve_for_write(&path)
        .map_err(|e| e.to_string())?;
    sandbox::write_atomic(&abs, text.as_bytes())
        .map_err(|e| format!("cannot write `{path}`: {e}"))?;
    Ok(Dynamic::from(env.sandbox.relative(&abs)))
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
    Ok(Dynamic::from_bool(
        env.sandbox.resolve(&path).is_ok_and(|p| p.exists()),
    ))
}

fn parse_json(_: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let text = arg_str(&args, 0, "text")?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(value::to_dynamic(&v))
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
        let msg = args
            .first()
            .map(|m| {
                if m.is_string() {
                    m.to_string()
                } else {
                    value::to_json(m).to_string()
                }
            })
            .unwrap_or_default();
        eprintln!("[log] {msg}");
    }
    Ok(Dynamic::UNIT)
}

fn now(_: &BuiltinEnv, _: Vec<Dynamic>) -> Result<Dynamic, String> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Dynamic::from(rfc3339(since)))
}

/// Slice of a `sleep` between checks for Ctrl-C.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

fn sleep(env: &BuiltinEnv, args: Vec<Dynamic>) -> Result<Dynamic, String> {
    let ms = args
        .first()
        .and_then(|v| v.as_int().ok())
        .ok_or("argument `ms` must be an integer")?;
    let until = std::time::Instant::now() + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    // Sleep in slices so Ctrl-C (the REPL, `--watch`) stops a long sleep promptly.
    loop {
        if env.cancel.is_cancelled() {
            return Err("interrupted".into());
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(Dynamic::UNIT);
        }
        std::thread::sleep(left.min(SLEEP_SLICE));
    }
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

/// `since` the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(since: Duration) -> String {
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(Duration::from_secs(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::from_secs(1_764_000_000)),
            "2025-11-24T16:00:00Z"
        );
    }
}
