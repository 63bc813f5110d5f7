//! Which paths a `shell` command's arguments may name. A program interprets its arguments as it
//! likes, so every argument is read every way a path could hide in it, and refused when any
//! reading leads outside the project root after symlinks are resolved:
//!
//! - the whole word, and every suffix starting inside its first path component, as a path
//!   relative to the root: this catches `../x`, `--out=../x`, `-o../x`, and `link`, `-tlink`
//!   or `link/x` where `link` is a symlink (also a dangling one) pointing outside;
//! - the part from its first `/` on, as an absolute path: this catches `/etc/x`, `-t/x`,
//!   `--out=/x`, `1w/x` (a `sed` script writing `/x`). The part before the slash may only be
//!   an existing folder of the project (`notes/a.md`), not an option (`-t`) or anything else
//!   (`1w`, `s`, `newdir`), unless the absolute reading itself stays inside the root;
//! - words with spaces (one quoted argument) piece by piece.
//!
//! This is conservative on purpose: `mkdir -p newdir/sub` or `git log origin/main` are
//! refused, because `/sub` and `/main` could be paths. It guards a model's arguments against
//! the programs an allowlist names; it cannot know what a program does with text that is not
//! shaped like a path.

use super::sandbox::Sandbox;
use crate::approval::protected::protected_entry;

/// An argument refused because it may name a path outside the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escape {
    /// The argument as the model wrote it.
    pub arg: String,
    /// The path reading that leaves the root.
    pub path: String,
}

/// The first of `words` that may name a path outside the root of `sandbox`.
pub fn escaping_path(sandbox: &Sandbox, words: &[String]) -> Option<Escape> {
    words.iter().find_map(|word| {
        word.split_whitespace()
            .find_map(|piece| escaping_reading(sandbox, piece))
            .map(|path| Escape {
                arg: word.clone(),
                path,
            })
    })
}

/// An argument refused because it may name a place in the protected set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The argument as the model wrote it.
    pub arg: String,
    /// The protected entry it may name (`scripts/`, `llm-do.toml`, ...).
    pub entry: &'static str,
}

/// The first of `words` that may name a path in the protected set
/// ([`crate::approval::protected`]), read every way [`escaping_path`] reads it, symlinks
/// resolved: `scripts/x.rhai`, `-tscripts`, `--out=LLM-DO.TOML`, the absolute path of
/// `workers/`, or `notes/link` where `link` points into `.git/`.
pub fn protected_path(sandbox: &Sandbox, words: &[String]) -> Option<Protected> {
    words.iter().find_map(|word| {
        word.split_whitespace()
            .flat_map(readings)
            .find_map(|reading| {
                let at = sandbox.resolve(reading).ok()?;
                protected_entry(&at.shown())
            })
            .map(|entry| Protected {
                arg: word.clone(),
                entry,
            })
    })
}

/// Every way `word` may be read as a path: [`relative_readings`], then [`absolute_reading`].
fn readings(word: &str) -> impl Iterator<Item = &str> {
    relative_readings(word).chain(absolute_reading(word))
}

/// Each suffix of `word` starting inside its first path component, as a path relative to the
/// root.
fn relative_readings(word: &str) -> impl Iterator<Item = &str> {
    let slash = word.find('/').unwrap_or(word.len());
    word.char_indices()
        .map(|(i, _)| i)
        .take_while(move |i| *i < slash)
        .map(move |i| &word[i..])
}

/// The part of `word` from its first `/` on, as an absolute path.
fn absolute_reading(word: &str) -> Option<&str> {
    word.find('/').map(|slash| &word[slash..])
}

/// The reading of `word` that leaves the root, if any.
fn escaping_reading(sandbox: &Sandbox, word: &str) -> Option<String> {
    if let Some(suffix) = relative_readings(word).find(|suffix| leaves_root(sandbox, suffix)) {
        return Some(suffix.to_owned());
    }
    let absolute = absolute_reading(word)?;
    if !leaves_root(sandbox, absolute) {
        return None;
    }
    let slash = word.len() - absolute.len();
    let head = &word[..slash];
    let plain_folder = !head.is_empty() && !head.starts_with('-') && is_project_dir(sandbox, head);
    (!plain_folder).then(|| absolute.to_owned())
}

/// Whether `path`, resolved like a file tool's path, is refused for leaving the root (or for a
/// symlink that cannot be resolved, which a program could write through).
fn leaves_root(sandbox: &Sandbox, path: &str) -> bool {
    use super::sandbox::SandboxError as E;
    matches!(
        sandbox.resolve(path),
        Err(E::Escapes { .. }
            | E::OutsideRoot { .. }
            | E::SymlinkEscape { .. }
            | E::Unresolvable { .. })
    )
}

fn is_project_dir(sandbox: &Sandbox, path: &str) -> bool {
    sandbox.resolve(path).is_ok_and(|at| at.abs().is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, Sandbox) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("notes")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("outside/secret"), "s").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("../outside/secret", root.join("link")).unwrap();
            std::os::unix::fs::symlink("../outside", root.join("out")).unwrap();
            std::os::unix::fs::symlink("../outside/none", root.join("dangling")).unwrap();
        }
        let sb = Sandbox::new(&root).unwrap();
        (dir, sb)
    }

    fn check(sb: &Sandbox, arg: &str) -> Option<String> {
        escaping_path(sb, &[arg.to_owned()]).map(|e| e.path)
    }

    #[test]
    fn plain_project_paths_pass() {
        let (_dir, sb) = fixture();
        let root = sb.root().display().to_string();
        for ok in [
            "a.txt",
            "notes/a.md",
            "notes/new/deep.md",
            "-n",
            "--count=3",
            "1p",
            "s,a,b,",
            "main..HEAD",
            ".",
            &format!("{root}/a.txt"),
            &format!("--out={root}/notes/x"),
        ] {
            assert_eq!(check(&sb, ok), None, "{ok}");
        }
    }

    #[test]
    fn glued_and_hidden_paths_are_refused() {
        let (_dir, sb) = fixture();
        for (bad, path) in [
            ("/etc/passwd", "/etc/passwd"),
            ("../x", "../x"),
            ("-t/x", "/x"),
            ("-o/tmp/x", "/tmp/x"),
            ("--out=/x", "/x"),
            ("--out=../x", "../x"),
            ("-o../x", "../x"),
            ("1w/outside/x", "/outside/x"),
            ("s/a/b/w/tmp/x", "/a/b/w/tmp/x"),
            ("newdir/x", "/x"),
            ("a.txt,/etc/x", "/etc/x"),
            ("s/a/b/w /tmp/x", "/a/b/w"),
            ("notes/../..", "notes/../.."),
        ] {
            assert_eq!(check(&sb, bad).as_deref(), Some(path), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leading_outside_are_refused() {
        let (_dir, sb) = fixture();
        for (bad, path) in [
            ("link", "link"),
            ("-tlink", "link"),
            ("--file=link", "link"),
            ("out/secret", "out/secret"),
            ("out/new", "out/new"),
            ("dangling", "dangling"),
        ] {
            assert_eq!(check(&sb, bad).as_deref(), Some(path), "{bad}");
        }
    }
}
