//! Building the process's one Rhai engine: limits, cancellation, module resolution for
//! `std/...`, the builtins, the `call` syntax and `chat()`. Built once per process, never per
//! call.

use std::sync::{Arc, Weak};

use rhai::Engine;

use crate::cancel::Cancel;
use crate::script::caller::Caller;
use crate::script::{builtins, call, chat, fanout, inline, stdlib};
use crate::tools::sandbox::Sandbox;

/// Limits applied to every script evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// CPU time one evaluation may spend on its own thread ([`super::clock`]).
    pub max_cpu: std::time::Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_operations: 50_000_000,
            max_call_levels: 96,
            max_string_size: 64 * 1024 * 1024,
            max_array_size: 1_000_000,
            max_map_size: 1_000_000,
            max_cpu: std::time::Duration::from_secs(crate::settings::DEFAULT_MAX_CPU_SECONDS),
        }
    }
}

impl EngineLimits {
    /// The limits of live runs under `settings` (`[limits] max_operations`, `max_cpu_seconds`).
    pub fn of(settings: &crate::settings::Settings) -> Self {
        Self {
            max_operations: settings.max_operations,
            max_cpu: std::time::Duration::from_secs(settings.max_cpu_seconds),
            ..Self::default()
        }
    }
}

/// An engine that parses scripts exactly as [`build`]'s does (limits, the `call` syntax) but
/// cannot run them: no standard packages, no builtins. For commands that only load and check
/// a project (`check`), where building the full engine was most of the start-up.
pub fn build_for_parsing(rt: Weak<dyn Caller>, limits: EngineLimits) -> Engine {
    let mut engine = Engine::new_raw();
    set_limits(&mut engine, limits);
    call::register(&mut engine, rt);
    engine
}

fn set_limits(engine: &mut Engine, limits: EngineLimits) {
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(256, 128);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
}

/// The `on_progress` hook of an engine that runs scripts: stop on Ctrl-C (`cancel`), when the
/// thread's fan-out scope is cancelled (a failed sibling), or past `max_cpu` of CPU time (work
/// the operation count does not see). The last two are checked every 256 operations, to keep
/// the hot path to one atomic load.
pub fn progress(
    cancel: Arc<Cancel>,
    max_cpu: std::time::Duration,
) -> impl Fn(u64) -> Option<rhai::Dynamic> + Send + Sync + 'static {
    use crate::script::errors::{CANCELLED, CPU_LIMIT};
    move |ops| {
        if cancel.is_cancelled() {
            return Some(rhai::Dynamic::from(CANCELLED));
        }
        if ops % 256 != 0 {
            return None;
        }
        if crate::cancel::current_is_cancelled() {
            Some(rhai::Dynamic::from(CANCELLED))
        } else if super::clock::over(max_cpu) {
            Some(rhai::Dynamic::from(CPU_LIMIT))
        } else {
            None
        }
    }
}

/// The engine for a runtime. `rt` is filled once the runtime exists; `cancel` stops running
/// scripts (checked by `on_progress`).
pub fn build(
    rt: Weak<dyn Caller>,
    cancel: Arc<Cancel>,
    sandbox: Arc<Sandbox>,
    limits: EngineLimits,
    quiet: bool,
) -> Engine {
    let mut engine = Engine::new();
    set_limits(&mut engine, limits);
    engine.on_progress(progress(cancel.clone(), limits.max_cpu));
    let stop = cancel.clone();
    engine.on_print(move |s| {
        if !crate::output::script_line(s) {
            stop.cancel();
        }
    });
    engine.on_debug(move |s, src, pos| {
        if !quiet {
            match src {
                Some(src) => eprintln!("[debug] {src}:{pos}: {s}"),
                None => eprintln!("[debug] {s}"),
            }
        }
    });
    engine.set_module_resolver(stdlib::Resolver::new(sandbox.clone()));
    let env = builtins::BuiltinEnv {
        sandbox,
        quiet,
        cancel,
    };
    builtins::register(&mut engine, builtins::BUILTINS, &env);
    inline::register(&mut engine, rt.clone());
    engine.register_fn(super::DEFER_FN, || rhai::Dynamic::from(super::Deferred));
    call::register(&mut engine, rt.clone());
    chat::register(&mut engine, rt.clone());
    fanout::register(&mut engine, rt);
    engine
}
