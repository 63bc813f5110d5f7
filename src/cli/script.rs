//! `llm-do SCRIPT [ARGS]` (the main job) and `SCRIPT --watch`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::call::CallError;
use crate::project::{self, Project, ProjectError};
use crate::report::Error;
use crate::runtime::Runtime;
use crate::script::{errors, value};
use crate::settings::Settings;

use super::setup;

/// Run `script` with `args` again whenever the project or the script changes.
pub async fn watch(settings: Settings, script: &Path, args: Vec<String>) -> Result<(), Error> {
    let root = settings.root.clone();
    crate::watch::run(&root, script, || {
        run(settings.clone(), script, args.clone())
    })
    .await
}

/// Run `script` with `args` and print its value.
pub async fn run(settings: Settings, script: &Path, args: Vec<String>) -> Result<(), Error> {
    let text: Arc<str> = std::fs::read_to_string(script)
        .map_err(|e| Error::usage(format!("cannot read script `{}`: {e}", script.display())))?
        .into();
    let root = settings.root.clone();
    let rt = setup::runtime(&settings, Some(script), true, None)?;
    rt.prewarm_http();
    let abs = script
        .canonicalize()
        .unwrap_or_else(|_| script.to_path_buf());
    let shown = project::relative(&root, &abs);
    let (ast, _) = crate::script::compile_file(&rt.rhai.engine, &shown, &text)
        .map_err(|e| Error::Project(ProjectError::from(e)))?;
    let worker_rt = rt.clone();
    let eval = async move {
        tokio::task::spawn_blocking(move || worker_rt.eval_script(&ast, args))
            .await
            .map_err(|e| CallError::Script(e.to_string()))
    };
    let result = setup::with_interrupt(&rt, eval).await;
    setup::finish(&rt, settings.trace.as_deref(), matches!(result, Ok(Ok(_))))?;
    let result = result.map_err(Error::Call)?;
    let value = script_value(&rt, &shown, &text, result)?;
    setup::print_value(&value, settings.json)
}

/// What a script evaluation (of the file shown as `shown`, holding `text`) comes to: its value
/// as JSON, or the error located in the script or the project fn it failed in.
pub(crate) fn script_value(
    rt: &Runtime,
    shown: &Path,
    text: &Arc<str>,
    result: Result<rhai::Dynamic, Box<rhai::EvalAltResult>>,
) -> Result<serde_json::Value, Error> {
    match result {
        Ok(v) if v.is::<crate::script::Deferred>() => Err(Error::failed(format!(
            "`{}` ended with `defer()`, which means something only in a fn under \
             `[stabilize] NAME = \"code\"` or `\"canary:P\"`",
            shown.display()
        ))),
        Ok(v) => Ok(value::to_json(&v)),
        Err(e) => match errors::termination(&e) {
            Some(errors::Termination::Aborted) => Err(Error::Call(CallError::Aborted)),
            Some(errors::Termination::Cancelled) => Err(Error::Call(CallError::Cancelled)),
            None => {
                let project = rt.project();
                let lookup = |name: &str| lookup_fn(&project, name);
                Err(Error::Script(errors::locate(&e, (shown, text), &lookup)))
            }
        },
    }
}

/// The file (shown path and text) defining a project fn.
fn lookup_fn(project: &Project, name: &str) -> Option<(PathBuf, Arc<str>)> {
    let f = project.fns.get(name)?;
    let text = std::fs::read_to_string(project.root.join(&f.path)).ok()?;
    Some((f.path.clone(), text.into()))
}
