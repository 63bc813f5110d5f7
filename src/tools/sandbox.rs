//! Path confinement: every path an LLM tool or a script builtin touches resolves inside the
//! project root, and every file it opens is opened beneath the root.
//!
//! A path is first checked, to refuse it with a message that says why. Lexically: it is joined
//! to the root, `.` and `..` are folded, and the result must still lie under the root (this
//! refuses `../x`, `a/../../x` and absolute paths elsewhere without touching the disk). Then
//! physically: the deepest part of the path that exists is canonicalized, which follows every
//! symlink, and must also lie under the root, so a symlink pointing out of the project is
//! refused. The check gives a [`Resolved`] path: relative to the root, free of symlinks when it
//! was made.
//!
//! The file operation then happens through a `cap_std` [`Dir`] opened once on the root
//! ([`Sandbox::open`], [`Sandbox::write`], in `sandbox/open.rs`): the kernel resolves every
//! open beneath it (Linux's `openat2` with `RESOLVE_BENEATH`), one component at a time without
//! following a symlink. A folder swapped for a symlink between the check and the operation (by
//! a `shell` call running beside it, by any process) is refused, wherever the link points; no
//! path, however it changes, leads a read or a write outside the root. `confine.rs` reads shell
//! arguments with [`Sandbox::resolve`] alone: it opens nothing.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

mod open;

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path was empty or only whitespace.
    #[error("empty path\nhint: pass a path relative to the project root, e.g. `notes/todo.md`")]
    Empty,
    /// The path contained a NUL byte.
    #[error("path `{path}` contains a NUL byte")]
    NulByte { path: String },
    /// A relative path whose `..` components climb out of the root.
    #[error("path `{path}` escapes the project root `{root}`")]
    Escapes { path: String, root: String },
    /// An absolute path that is not under the root.
    #[error(
        "absolute path `{path}` is outside the project root `{root}`\nhint: use a path relative to the project root"
    )]
    OutsideRoot { path: String, root: String },
    /// The path exists under the root lexically but a symlink takes it outside.
    #[error("path `{path}` leads through a symlink outside the project root `{root}`")]
    SymlinkEscape { path: String, root: String },
    /// The existing part of the path could not be resolved (a dangling symlink, a loop, no
    /// permission).
    #[error("cannot resolve path `{path}`: {source}")]
    Unresolvable {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A write aimed at a directory.
    #[error("`{path}` is a directory, not a file")]
    IsDirectory { path: String },
    /// A write inside a `.git` directory (hooks there would run on the next git command).
    #[error("refusing to write inside `.git/`: `{path}`")]
    GitDir { path: String },
    /// The path names a FIFO, a socket or a device: opening or reading it could block forever
    /// or never end.
    #[error("`{path}` is a {kind}, not a regular file or folder")]
    NotRegular { path: String, kind: &'static str },
}

/// The project root and the rules for resolving paths against it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Canonical (symlink-free, absolute) root.
    root: PathBuf,
    /// The root, opened once: every file operation is resolved beneath it.
    dir: Arc<Dir>,
}

/// A path the sandbox checked: inside the root, with every symlink that existed at the check
/// resolved. Only [`Sandbox::resolve`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Absolute, under the canonical root.
    abs: PathBuf,
    /// Relative to the root; `.` for the root itself.
    rel: PathBuf,
}

impl Resolved {
    /// The absolute path, for reading what is there without opening it (confinement checks).
    pub fn abs(&self) -> &Path {
        &self.abs
    }

    /// The path relative to the root with forward slashes (`.` for the root): what messages
    /// and approval rules show.
    pub fn shown(&self) -> String {
        slash_path(&self.rel)
    }

    /// `rel`, a path below this one, relative to the root with forward slashes.
    pub fn below(&self, rel: &Path) -> String {
        if self.rel == Path::new(".") {
            slash_path(rel)
        } else {
            slash_path(&self.rel.join(rel))
        }
    }
}

/// A path checked for writing a file: a [`Resolved`] path that is no folder and not inside
/// `.git/`. Only [`Sandbox::resolve_for_write`] makes one; [`Sandbox::write`] takes only this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writable(Resolved);

impl Writable {
    /// The checked path.
    pub fn resolved(&self) -> &Resolved {
        &self.0
    }
}

impl Sandbox {
    /// A sandbox rooted at `root`, which must be an existing directory. The root is opened
    /// here, once.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("project root `{}` is not a directory", root.display()),
            ));
        }
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority())?;
        Ok(Self {
            root,
            dir: Arc::new(dir),
        })
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve `path` (relative to the root, or absolute inside it) for reading. The result is
    /// inside the root; it need not exist.
    pub fn resolve(&self, path: &str) -> Result<Resolved, SandboxError> {
        self.resolve_abs(path).map(|abs| self.resolved(abs))
    }

    /// [`Sandbox::resolve`] as an absolute path.
    fn resolve_abs(&self, path: &str) -> Result<PathBuf, SandboxError> {
        let lexical = self.lexical(path)?;
        let (existing, rest) = split_existing(&lexical);
        let canonical = existing
            .canonicalize()
            .map_err(|source| SandboxError::Unresolvable {
                path: path.to_owned(),
                source,
            })?;
        if !canonical.starts_with(&self.root) {
            return Err(SandboxError::SymlinkEscape {
                path: path.to_owned(),
                root: self.root_display(),
            });
        }
        if !rest.as_os_str().is_empty() {
            return Ok(canonical.join(rest));
        }
        if let Some(kind) = fs::metadata(&canonical).ok().and_then(|m| special_kind(&m)) {
            return Err(SandboxError::NotRegular {
                path: path.to_owned(),
                kind,
            });
        }
        Ok(canonical)
    }

    /// Resolve `path` for writing a file that may not exist yet: as [`Sandbox::resolve`], and
    /// also refuse directories and anything inside a `.git` directory.
    pub fn resolve_for_write(&self, path: &str) -> Result<Writable, SandboxError> {
        let resolved = self.resolve(path)?;
        if resolved.abs.is_dir() {
            return Err(SandboxError::IsDirectory {
                path: path.to_owned(),
            });
        }
        if resolved
            .rel
            .components()
            .any(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
        {
            return Err(SandboxError::GitDir {
                path: path.to_owned(),
            });
        }
        Ok(Writable(resolved))
    }

    /// The real path `path` names, relative to the root with forward slashes (`.` for the
    /// root): what approval rules match. Resolved as [`Sandbox::resolve`] does.
    pub fn canonical(&self, path: &str) -> Result<String, SandboxError> {
        self.resolve(path).map(|at| at.shown())
    }

    /// `abs` (absolute, under the root) as a [`Resolved`] path.
    fn resolved(&self, abs: PathBuf) -> Resolved {
        let rel = match abs.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Resolved { abs, rel }
    }

    /// Join `path` to the root and fold `.`/`..` without touching the disk.
    fn lexical(&self, path: &str) -> Result<PathBuf, SandboxError> {
        if path.trim().is_empty() {
            return Err(SandboxError::Empty);
        }
        if path.contains('\0') {
            return Err(SandboxError::NulByte {
                path: path.escape_default().to_string(),
            });
        }
        let given = Path::new(path);
        let joined = self.root.join(given);
        let normal = normalize(&joined);
        if normal.starts_with(&self.root) {
            Ok(normal)
        } else if given.has_root() {
            Err(SandboxError::OutsideRoot {
                path: path.to_owned(),
                root: self.root_display(),
            })
        } else {
            Err(SandboxError::Escapes {
                path: path.to_owned(),
                root: self.root_display(),
            })
        }
    }

    fn root_display(&self) -> String {
        self.root.display().to_string()
    }
}

/// Fold `.` and `..` lexically; `..` at the filesystem root stays at the root.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Split an absolute, normalized path into its deepest existing ancestor (symlinks count as
/// existing, even dangling ones, so they get canonicalized and checked) and the rest.
fn split_existing(path: &Path) -> (&Path, PathBuf) {
    let mut existing = path;
    let mut rest = Vec::new();
    while fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => break,
        }
    }
    let rest = rest.iter().rev().collect::<PathBuf>();
    (existing, rest)
}

/// What a file that is neither a regular file nor a folder is, for messages; `None` for files
/// and folders.
fn special_kind(meta: &fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() || kind.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("FIFO (named pipe)");
        }
        if kind.is_socket() {
            return Some("socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("device");
        }
    }
    Some("special file")
}

/// A path with `/` separators, whatever the platform.
fn slash_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        text.into_owned()
    } else {
        text.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Sandbox) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("root/sub")).unwrap();
        fs::write(dir.path().join("root/sub/a.txt"), "a").unwrap();
        let sandbox = Sandbox::new(&dir.path().join("root")).unwrap();
        (dir, sandbox)
    }

    #[test]
    fn resolves_relative_and_inside_absolute_paths() {
        let (_dir, sb) = setup();
        let expected = sb.root().join("sub/a.txt");
        let at = sb.resolve("sub/a.txt").unwrap();
        assert_eq!(
            (at.abs(), at.shown().as_str()),
            (expected.as_path(), "sub/a.txt")
        );
        assert_eq!(sb.resolve("./sub/../sub/a.txt").unwrap(), at);
        let abs = expected.to_str().unwrap();
        assert_eq!(sb.resolve(abs).unwrap(), at);
        let root = sb.resolve(".").unwrap();
        assert_eq!((root.abs(), root.shown().as_str()), (sb.root(), "."));
    }

    #[test]
    fn resolves_missing_paths_under_existing_dirs() {
        let (_dir, sb) = setup();
        let target = sb.resolve_for_write("sub/new/deep.txt").unwrap();
        assert_eq!(target.resolved().abs(), sb.root().join("sub/new/deep.txt"));
    }

    #[test]
    fn refusal_messages_name_path_and_root() {
        let (_dir, sb) = setup();
        let err = sb.resolve("../x").unwrap_err().to_string();
        let root = sb.root().display().to_string();
        assert_eq!(
            err,
            format!("path `../x` escapes the project root `{root}`")
        );
        assert!(matches!(sb.resolve(""), Err(SandboxError::Empty)));
        assert!(matches!(
            sb.resolve("/etc/passwd"),
            Err(SandboxError::OutsideRoot { .. })
        ));
        assert!(matches!(
            sb.resolve_for_write("sub"),
            Err(SandboxError::IsDirectory { .. })
        ));
        assert!(matches!(
            sb.resolve_for_write(".git/hooks/pre-commit"),
            Err(SandboxError::GitDir { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_the_root_are_followed() {
        let (_dir, sb) = setup();
        std::os::unix::fs::symlink("sub", sb.root().join("alias")).unwrap();
        let expected = sb.root().join("sub/a.txt");
        assert_eq!(sb.resolve("alias/a.txt").unwrap().abs(), expected);
        let target = sb.resolve_for_write("alias/a.txt").unwrap();
        assert_eq!(target.resolved().abs(), expected);
        let target = sb.resolve_for_write("alias/new.txt").unwrap();
        assert_eq!(target.resolved().abs(), sb.root().join("sub/new.txt"));
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_refused_without_opening_them() {
        let (_dir, sb) = setup();
        let fifo = sb.root().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo on this system
        }
        std::os::unix::fs::symlink("pipe", sb.root().join("to_pipe")).unwrap();
        for path in ["pipe", "to_pipe"] {
            let err = sb.resolve(path).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("`{path}` is a FIFO (named pipe), not a regular file or folder")
            );
        }
        assert!(matches!(
            sb.resolve_for_write("pipe"),
            Err(SandboxError::NotRegular { .. })
        ));
    }

    #[test]
    fn canonical_paths_are_relative_and_resolved() {
        let (_dir, sb) = setup();
        let abs = sb.root().join("sub/a.txt");
        assert_eq!(sb.canonical(abs.to_str().unwrap()).unwrap(), "sub/a.txt");
        assert_eq!(sb.canonical("./sub//x/../a.txt").unwrap(), "sub/a.txt");
        assert_eq!(sb.canonical(".").unwrap(), ".");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("sub", sb.root().join("alias")).unwrap();
            assert_eq!(sb.canonical("alias/new.txt").unwrap(), "sub/new.txt");
            std::os::unix::fs::symlink("sub/a.txt", sb.root().join("file_alias")).unwrap();
            assert_eq!(sb.canonical("file_alias").unwrap(), "sub/a.txt");
        }
    }
}
