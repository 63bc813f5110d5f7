//! Runtime state an interactive session may change while the process runs: the REPL's
//! `:model ID` override, its `:approve-all on|off` switch, and inline workers registered with
//! `worker(#{...})`. Everything else in [`Runtime`] is fixed at start (settings) or replaced
//! whole (the project, on reload); inline workers are merged into every reloaded project.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::approval::Mode;
use crate::project::{Project, ProjectError};
use crate::runtime::Runtime;
use crate::worker::WorkerSpec;

/// Interior-mutable session state of a [`Runtime`].
#[derive(Debug, Default)]
pub struct SessionState {
    model: RwLock<Option<String>>,
    approval: RwLock<Option<Mode>>,
    inline_workers: RwLock<BTreeMap<String, Arc<WorkerSpec>>>,
    /// `:stabilize NAME MODE`: switch modes chosen for this session, over llm-do.toml's.
    stabilize: RwLock<BTreeMap<String, crate::config::Stabilize>>,
}

/// Why an inline worker was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InlineError {
    #[error("`{name}` is already defined in `{path}`")]
    Taken { name: String, path: String },
    #[error("unknown toolset `{toolset}` in worker `{name}`{hint}")]
    Toolset {
        name: String,
        toolset: String,
        hint: String,
    },
}

impl Runtime {
    /// The session's model override (`:model ID`), consulted before `--model`.
    pub fn session_model(&self) -> Option<String> {
        crate::sync::read(&self.state.session.model).clone()
    }

    /// Set or clear the session's model override. Cached models stay valid (they are per id).
    pub fn set_session_model(&self, model: Option<String>) {
        *crate::sync::write(&self.state.session.model) = model;
    }

    /// The approval mode in force: the session's choice, else the command line's.
    pub fn approval_mode(&self) -> Mode {
        crate::sync::read(&self.state.session.approval).unwrap_or(self.settings.approval)
    }

    /// Change the approval mode for the rest of the session and rebuild the gate
    /// (`None` returns to the command line's mode).
    pub fn set_approval_mode(&self, mode: Option<Mode>) -> Result<(), ProjectError> {
        *crate::sync::write(&self.state.session.approval) = mode;
        self.rebuild_gate()
    }

    /// Register an inline worker (`worker(#{...})`) for the session: it joins the current
    /// project and every project reloaded later. Redefining an inline worker replaces it; a
    /// name defined by a project file is refused.
    pub fn add_inline_worker(&self, spec: WorkerSpec) -> Result<(), InlineError> {
        let project = self.project();
        if let Some(path) = file_definition(&project, &spec.name) {
            return Err(InlineError::Taken {
                name: spec.name,
                path,
            });
        }
        for t in &spec.toolsets {
            if project.toolset(&t.name).is_none() && t.name != spec.name {
                let hint = crate::suggest::did_you_mean(&t.name, project.names())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                return Err(InlineError::Toolset {
                    name: spec.name.clone(),
                    toolset: t.name.clone(),
                    hint,
                });
            }
        }
        let spec = Arc::new(spec);
        crate::sync::write(&self.state.session.inline_workers)
            .insert(spec.name.clone(), spec.clone());
        let mut next = (*project).clone();
        next.workers.insert(spec.name.clone(), spec);
        self.set_project_only(next);
        Ok(())
    }

    /// Serve `name` as `mode` for the rest of the session (`:stabilize NAME MODE`), over
    /// `[stabilize]` in llm-do.toml; `None` returns to the file's mode. The project must
    /// define both a worker and a fn `name` (llm-do.toml's `[stabilize]` lets them share it).
    ///
    /// # Errors
    ///
    /// A message when `name` is not both a worker and a fn.
    pub fn set_stabilize(
        &self,
        name: &str,
        mode: Option<crate::config::Stabilize>,
    ) -> Result<(), String> {
        let project = self.project();
        if !(project.workers.contains_key(name) && project.fns.contains_key(name)) {
            return Err(format!(
                "`{name}` is not both a worker and a fn; add `[stabilize] {name} = \"worker\"` to llm-do.toml and a fn `{name}` to scripts/ first"
            ));
        }
        set_entry(
            &mut crate::sync::write(&self.state.session.stabilize),
            name,
            mode,
        );
        // Back to the file's mode: reload the config's value.
        let file_mode = || {
            let path = project.root.join(crate::project::CONFIG_FILE);
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| crate::config::parse_config(&path, &t).ok())
                .and_then(|c| c.stabilize.get(name).copied())
        };
        let mut next = (*project).clone();
        set_entry(&mut next.config.stabilize, name, mode.or_else(file_mode));
        self.set_project_only(next);
        Ok(())
    }

    /// `project` with the session's inline workers added. A name a project file now defines
    /// wins over the inline worker.
    pub(super) fn with_inline_workers(&self, mut project: Project) -> Project {
        let inline = crate::sync::read(&self.state.session.inline_workers);
        for (name, spec) in inline.iter() {
            if file_definition(&project, name).is_none() {
                project.workers.insert(name.clone(), spec.clone());
            }
        }
        let modes = crate::sync::read(&self.state.session.stabilize);
        for (name, mode) in modes.iter() {
            if project.config.stabilize.contains_key(name) {
                project.config.stabilize.insert(name.clone(), *mode);
            }
        }
        project
    }
}

/// The file defining `name` in `project`, when a file (not an inline worker) defines it.
fn file_definition(project: &Project, name: &str) -> Option<String> {
    let path = match project.fns.get(name) {
        Some(f) => &f.path,
        None => project.workers.get(name)?.path.as_ref()?,
    };
    Some(path.display().to_string())
}

/// Set `name` in `map` to `value`, or remove it for `None`.
fn set_entry<V>(map: &mut BTreeMap<String, V>, name: &str, value: Option<V>) {
    match value {
        Some(v) => map.insert(name.to_string(), v),
        None => map.remove(name),
    };
}
