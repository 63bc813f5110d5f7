//! `llm-do SCRIPT --watch` (DESIGN §10): run the script, then run it again whenever a project
//! file (`llm-do.toml`, `workers/*.worker`, `scripts/*.rhai`) or the script itself changes.
//! Bursts of file events (an editor's save is several) are debounced into one rerun. A failed
//! run is reported and watching goes on; Ctrl-C exits.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};

use crate::call::CallError;
use crate::project::{CONFIG_FILE, SCRIPTS_DIR, WORKERS_DIR};
use crate::report::Error;

/// Quiet time after the last file event before the script runs again.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Run `once` now and after every relevant change under `root` or to `script`, until Ctrl-C or
/// SIGTERM (during a run, between runs or while changes settle), which ends with
/// [`CallError::Cancelled`] (exit 130).
pub async fn run<F, Fut>(root: &Path, script: &Path, mut once: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let script = script
        .canonicalize()
        .unwrap_or_else(|_| script.to_path_buf());
    let mut changes = Changes::new(root, Some(&script))?;
    // One set of handlers for the whole watch: a signal between runs, while a burst of
    // changes settles or while a run starts up is never lost (a handler made per wait missed
    // those, and a single Ctrl-C did not end the watch).
    let mut signals = crate::interrupt::Signals::install();
    loop {
        let (result, interrupted) = run_once(&mut signals, once()).await;
        match result {
            _ if interrupted => return Err(Error::Call(CallError::Cancelled)),
            cancelled @ Err(Error::Call(CallError::Cancelled)) => return cancelled,
            Err(e) => _ = crate::report::render(e),
            Ok(()) => {}
        }
        let changed = tokio::select! {
            changed = changes.next() => match changed {
                Some(changed) => changed,
                None => return Ok(()),
            },
            true = signals.next() => return Err(Error::Call(CallError::Cancelled)),
        };
        crate::report::note(&separator(root, &changed));
    }
}

/// The project files under a root (`llm-do.toml`, `workers/*.worker`, `scripts/*.rhai`), and
/// optionally one script elsewhere, watched for changes: each [`Changes::next`] is one settled
/// burst of edits. Used by `--watch` and by `llm-do mcp serve`'s hot reload.
pub struct Changes {
    rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
    root: PathBuf,
    script: Option<PathBuf>,
    /// Kept alive: dropping it stops the events. A `workers/` or `scripts/` folder made after
    /// the start is added to it as it appears.
    watcher: notify::RecommendedWatcher,
}

impl Changes {
    /// Start watching `root` (and `script`'s folder, when given).
    ///
    /// # Errors
    ///
    /// A folder cannot be watched (e.g. the inotify watch limit is reached).
    pub fn new(root: &Path, script: Option<&Path>) -> Result<Self, Error> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            if let Ok(event) = res {
                let _ = tx.send(event);
            }
        })
        .map_err(|e| watch_error(root, &e))?;
        for dir in watched_dirs(root, script) {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|e| watch_error(&dir, &e))?;
        }
        Ok(Self {
            rx,
            root: root.to_path_buf(),
            script: script.map(Path::to_path_buf),
            watcher,
        })
    }

    /// Wait for the next relevant change, then for the burst to settle ([`DEBOUNCE`]); the
    /// changed files, sorted. `None` when the watcher has stopped.
    pub async fn next(&mut self) -> Option<Vec<PathBuf>> {
        let mut changed = Vec::new();
        while changed.is_empty() {
            let event = self.rx.recv().await?;
            self.take(&event, &mut changed);
        }
        while let Ok(Some(event)) = tokio::time::timeout(DEBOUNCE, self.rx.recv()).await {
            self.take(&event, &mut changed);
        }
        changed.sort();
        changed.dedup();
        Some(changed)
    }

    /// Add the project files `event` touched to `changed`. A project folder (`workers/`,
    /// `scripts/`) created under the root is watched from now on, and the project files
    /// already in it count as changed: they may have been written before its watch began.
    fn take(&mut self, event: &Event, changed: &mut Vec<PathBuf>) {
        changed.extend(relevant(event, self.script.as_deref()));
        for dir in new_project_folders(event, &self.root) {
            if self
                .watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .is_ok()
                && let Ok(entries) = std::fs::read_dir(&dir)
            {
                changed.extend(
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| is_project_file(p)),
                );
            }
        }
    }
}

/// The project folders (`workers/`, `scripts/` right under `root`) `event` says were created.
fn new_project_folders(event: &Event, root: &Path) -> Vec<PathBuf> {
    if !matches!(event.kind, EventKind::Create(_)) {
        return Vec::new();
    }
    event
        .paths
        .iter()
        .filter(|p| {
            p.parent() == Some(root)
                && p.file_name()
                    .is_some_and(|n| n == SCRIPTS_DIR || n == WORKERS_DIR)
                && p.is_dir()
        })
        .cloned()
        .collect()
}

/// Run one pass; `true` with its result when a signal came meanwhile. The run stops at its
/// next cancellation point (its own handlers cancel it); a second signal exits at once.
async fn run_once<Fut>(
    signals: &mut crate::interrupt::Signals,
    run: Fut,
) -> (Result<(), Error>, bool)
where
    Fut: Future<Output = Result<(), Error>>,
{
    tokio::pin!(run);
    tokio::select! {
        out = &mut run => return (out, false),
        got = signals.next() => if !got {
            return (run.await, false);
        },
    }
    tokio::select! {
        out = &mut run => (out, true),
        true = signals.next() => std::process::exit(crate::report::ExitCode::Interrupted as i32),
    }
}

/// The folders to watch (each non-recursively): the root, `scripts/`, `workers/` and the
/// script's own folder, those that exist.
fn watched_dirs(root: &Path, script: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = vec![
        root.to_path_buf(),
        root.join(SCRIPTS_DIR),
        root.join(WORKERS_DIR),
    ];
    if let Some(parent) = script.and_then(Path::parent) {
        dirs.push(parent.to_path_buf());
    }
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The paths of `event` that should trigger a rerun: created, changed or removed project
/// files, or the script.
fn relevant(event: &Event, script: Option<&Path>) -> Vec<PathBuf> {
    if !matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    ) {
        return Vec::new();
    }
    event
        .paths
        .iter()
        .filter(|p| is_project_file(p) || Some(p.as_path()) == script)
        .cloned()
        .collect()
}

/// `llm-do.toml`, a `.worker` or a `.rhai` file.
fn is_project_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == CONFIG_FILE)
        || path
            .extension()
            .is_some_and(|x| x == "rhai" || x == "worker")
}

/// The line printed between runs.
fn separator(root: &Path, changed: &[PathBuf]) -> String {
    let names: Vec<String> = changed
        .iter()
        .map(|p| crate::project::relative(root, p).display().to_string())
        .collect();
    format!("──── changed: {} ────", names.join(", "))
}

fn watch_error(path: &Path, e: &notify::Error) -> Error {
    Error::usage(format!(
        "cannot watch `{}` for changes: {e}",
        path.display()
    ))
    .with_help("raise the inotify watch limit (`fs.inotify.max_user_watches`)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn project_files_and_the_script_are_relevant() {
        let script = Some(Path::new("/p/main.rhai"));
        let modify = EventKind::Modify(ModifyKind::Any);
        assert_eq!(
            relevant(&event(modify, "/p/scripts/a.rhai"), script).len(),
            1
        );
        assert_eq!(
            relevant(&event(modify, "/p/workers/w.worker"), script).len(),
            1
        );
        assert_eq!(relevant(&event(modify, "/p/llm-do.toml"), script).len(), 1);
        let create = EventKind::Create(CreateKind::File);
        assert_eq!(relevant(&event(create, "/p/main.rhai"), script).len(), 1);
        assert!(relevant(&event(modify, "/p/notes.txt"), script).is_empty());
        let access = EventKind::Access(AccessKind::Any);
        assert!(relevant(&event(access, "/p/scripts/a.rhai"), script).is_empty());
    }

    /// A `workers/` folder made after watching began is watched too: a worker written in it
    /// (at once, or later) is a change.
    #[tokio::test]
    async fn a_project_folder_made_later_is_watched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut changes = Changes::new(&root, None).unwrap();
        std::fs::create_dir(root.join("workers")).unwrap();
        std::fs::write(root.join("workers/a.worker"), "---\n---\nA.\n").unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), changes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first, vec![root.join("workers/a.worker")]);
        std::fs::write(root.join("workers/b.worker"), "---\n---\nB.\n").unwrap();
        let second = tokio::time::timeout(Duration::from_secs(10), changes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second, vec![root.join("workers/b.worker")]);
    }

    #[test]
    fn the_separator_names_changed_files_relative_to_the_root() {
        let line = separator(Path::new("/p"), &[PathBuf::from("/p/scripts/a.rhai")]);
        assert_eq!(line, "──── changed: scripts/a.rhai ────");
    }
}
