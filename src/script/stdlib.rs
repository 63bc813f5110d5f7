//! Module resolution for `import`: `std/NAME` comes from the Rhai modules embedded in the binary
//! (`stdlib/*.rhai`), any other path is a `.rhai` file under the project root, named by its path
//! from the root (not from the importing file). A failed import says why and what can be
//! imported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope};

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
    cache: Mutex<HashMap<String, Arc<Module>>>,
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
                    cannot_import(path, &format!("there is no standard module `{path}`"), pos)
                });
        }
        let file = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        let at = self
            .sandbox
            .resolve(&file)
            .map_err(|e| cannot_import(path, &e.to_string(), pos))?;
        let text = self.sandbox.read_to_string(&at).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!("there is no file `{file}` under the project root")
            } else {
                format!("cannot read `{file}`: {e}")
            };
            cannot_import(path, &why, pos)
        })?;
        Ok((file, text))
    }
}

/// What `import` accepts, for error messages.
fn importable() -> String {
    let names: Vec<String> = MODULES.iter().map(|(n, _)| format!("`std/{n}`")).collect();
    format!(
        "imports are standard modules ({}) or `.rhai` files named by their path from the project root (e.g. `import \"scripts/util\" as util;`)",
        names.join(", ")
    )
}

/// A failed `import`: why, and what can be imported. Not `ErrorModuleNotFound`, whose text
/// Rhai replaces with the bare path when a resolver returns it.
fn cannot_import(path: &str, why: &str, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        format!("cannot import `{path}`: {why}; {}", importable()).into(),
        pos,
    ))
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Arc<Module>, Box<EvalAltResult>> {
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
        let module: Arc<Module> = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(wrap)?
            .into();
        if is_std && let Ok(mut c) = self.cache.lock() {
            c.insert(path.to_string(), module.clone());
        }
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> (tempfile::TempDir, Resolver) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
        std::fs::write(dir.path().join("scripts/util.rhai"), "fn f() { 1 }").unwrap();
        let sandbox = Arc::new(Sandbox::new(dir.path()).unwrap());
        (dir, Resolver::new(sandbox))
    }

    fn error(path: &str) -> String {
        let (_dir, r) = resolver();
        let err = r.source(path, Position::NONE).unwrap_err();
        match *err {
            EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
            other => panic!("not a runtime error: {other:?}"),
        }
    }

    const IMPORTABLE: &str = "imports are standard modules (`std/text`, `std/retry`, `std/check`) or `.rhai` files named by their path from the project root (e.g. `import \"scripts/util\" as util;`)";

    #[test]
    fn a_failed_import_says_why_and_what_can_be_imported() {
        let escape = error("../x");
        assert!(
            escape.starts_with("cannot import `../x`: path `../x.rhai` escapes the project root"),
            "{escape}"
        );
        assert!(escape.ends_with(IMPORTABLE), "{escape}");
        assert_eq!(
            error("nope"),
            format!(
                "cannot import `nope`: there is no file `nope.rhai` under the project root; {IMPORTABLE}"
            )
        );
        assert_eq!(
            error("std/nope"),
            format!(
                "cannot import `std/nope`: there is no standard module `std/nope`; {IMPORTABLE}"
            )
        );
    }

    #[test]
    fn project_files_and_std_modules_resolve() {
        let (_dir, r) = resolver();
        assert_eq!(
            r.source("scripts/util", Position::NONE).unwrap().0,
            "scripts/util.rhai"
        );
        assert_eq!(r.source("std/text", Position::NONE).unwrap().0, "std/text");
    }
}
