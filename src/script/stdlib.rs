//! Module resolution for `import`: `std/NAME` comes from the Rhai modules embedded in the binary
//! (`stdlib/*.rhai`), any other path is a `.rhai` file under the project root.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope};

/// A compiled module shared between imports.
type SharedModule = Arc<Module>;

use crate::tools::sandbox::Sandbox;

/// The embedded standard library: (name, source).
pub const MODULES: &[(&str, &str)] = &[
    ("text", include_str!("../../stdlib/text.rhai")),
    ("retry", include_str!("../../stdlib/retry.rhai")),
    ("check", include_str!("../../stdlib/check.rhai")),
];

/// Resolves `import` paths; compiled `std/` modules are cached for the process.
pub struct Resolver {
    sandbox: Arc<Sandbox>,
    cache: Mutex<HashMap<String, SharedModule>>,
}

impl Resolver {
    /// A resolver confined to the sandbox's root.
    pub fn new(sandbox: Arc<Sandbox>) -> Self {
        Self {
            sandbox,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn source(&self, path: &str, pos: Position) -> Result<(String, String), Box<EvalAltResult>> {
        if let Some(name) = path.strip_prefix("std/") {
            return MODULES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, src)| (format!("std/{n}"), (*src).to_string()))
                .ok_or_else(|| {
                    let names: Vec<String> =
                        MODULES.iter().map(|(n, _)| format!("`std/{n}`")).collect();
                    Box::new(EvalAltResult::ErrorModuleNotFound(
                        format!("{path} (the standard modules are {})", names.join(", ")),
                        pos,
                    ))
                });
        }
        let file = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        let abs = self.sandbox.resolve(&file).map_err(|e| {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                format!("{path}: {e}"),
                pos,
            ))
        })?;
        let text = std::fs::read_to_string(&abs).map_err(|e| {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                format!("{path}: {e}"),
                pos,
            ))
        })?;
        Ok((file, text))
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let is_std = path.starts_with("std/");
        if is_std && let Some(m) = self.cache.lock().ok().and_then(|c| c.get(path).cloned()) {
            return Ok(m);
        }
        let (name, text) = self.source(path, pos)?;
        let wrap = |e: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(path.to_string(), e, pos))
        };
        let mut ast = engine.compile(&text).map_err(|e| wrap(e.into()))?;
        ast.set_source(name);
        let module: SharedModule = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(wrap)?
            .into();
        if is_std && let Ok(mut c) = self.cache.lock() {
            c.insert(path.to_string(), module.clone());
        }
        Ok(module)
    }
}
