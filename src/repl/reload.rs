//! Automatic reload (DESIGN §11): before each REPL line the project files (`llm-do.toml`,
//! `workers/*.worker`, `scripts/*.rhai`) are listed with their modification times and sizes;
//! when anything was added, removed or changed the project is loaded again. Listing two
//! folders is cheap, so nothing runs in the background.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::project::{self, CONFIG_FILE, ProjectError, SCRIPTS_DIR, WORKERS_DIR};
use crate::runtime::Runtime;

/// Project files, relative to the root, with what identifies a version of each.
pub type Snapshot = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

/// The project files under `root` now.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut add = |path: PathBuf| {
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            files.insert(
                project::relative(root, &path),
                (meta.modified().ok(), meta.len()),
            );
        }
    };
    add(root.join(CONFIG_FILE));
    for (dir, ext) in [(WORKERS_DIR, "worker"), (SCRIPTS_DIR, "rhai")] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_some_and(|x| x == ext) {
                add(path);
            }
        }
    }
    files
}

/// Files added, removed or changed between two snapshots, sorted.
pub fn changes(old: &Snapshot, new: &Snapshot) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = new
        .iter()
        .filter(|(path, version)| old.get(*path) != Some(*version))
        .map(|(path, _)| path.clone())
        .chain(old.keys().filter(|p| !new.contains_key(*p)).cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a check before a line found.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// These files changed and the project was reloaded.
    Reloaded(Vec<PathBuf>),
    /// These files changed but the project no longer loads; the last good one stays.
    Failed(Vec<PathBuf>, ProjectError),
}

/// Watches a project's files between REPL lines.
#[derive(Debug)]
pub struct Reloader {
    root: PathBuf,
    seen: Snapshot,
}

impl Reloader {
    /// Start from the files as they are now (the project was just loaded from them).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            seen: snapshot(root),
        }
    }

    /// Reload `rt`'s project when its files changed since the last check. A failed load is
    /// reported once per change, not before every line.
    pub fn check(&mut self, rt: &Runtime) -> Reload {
        let now = snapshot(&self.root);
        let changed = changes(&self.seen, &now);
        if changed.is_empty() {
            return Reload::Unchanged;
        }
        self.seen = now;
        match reload(rt) {
            Ok(()) => Reload::Reloaded(changed),
            Err(e) => Reload::Failed(changed, e),
        }
    }

    /// Reload unconditionally (`:reload`).
    pub fn force(&mut self, rt: &Runtime) -> Result<(), ProjectError> {
        self.seen = snapshot(&self.root);
        reload(rt)
    }
}

/// Load the project again and install it in `rt` (inline workers are kept).
pub fn reload(rt: &Runtime) -> Result<(), ProjectError> {
    let project = rt.load_project()?;
    rt.set_project(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(entries: &[(&str, u64)]) -> Snapshot {
        entries
            .iter()
            .map(|(p, len)| (PathBuf::from(p), (None, *len)))
            .collect()
    }

    #[test]
    fn changes_lists_added_removed_and_modified_files() {
        let old = snap(&[
            ("scripts/a.rhai", 1),
            ("workers/b.worker", 2),
            ("llm-do.toml", 3),
        ]);
        let new = snap(&[
            ("scripts/a.rhai", 5),
            ("workers/c.worker", 2),
            ("llm-do.toml", 3),
        ]);
        assert_eq!(
            changes(&old, &new),
            vec![
                PathBuf::from("scripts/a.rhai"),
                PathBuf::from("workers/b.worker"),
                PathBuf::from("workers/c.worker"),
            ]
        );
        assert!(changes(&new, &new).is_empty());
    }

    #[test]
    fn snapshot_lists_only_project_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::create_dir_all(root.join("workers")).unwrap();
        std::fs::write(root.join("scripts/a.rhai"), "fn a() {}").unwrap();
        std::fs::write(root.join("scripts/notes.txt"), "x").unwrap();
        std::fs::write(root.join("workers/w.worker"), "---\n---\nx").unwrap();
        std::fs::write(root.join("llm-do.toml"), "").unwrap();
        let keys: Vec<PathBuf> = snapshot(root).into_keys().collect();
        assert_eq!(
            keys,
            vec![
                PathBuf::from("llm-do.toml"),
                PathBuf::from("scripts/a.rhai"),
                PathBuf::from("workers/w.worker"),
            ]
        );
    }
}
