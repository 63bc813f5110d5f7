//! The file tools of the `fs_ro` and `fs` sets: `read_file`, `list_files`, `write_file`.
//!
//! Each takes the call's JSON arguments and returns the text handed back to the model. Every
//! path is checked by the [`Sandbox`] and every file opened through it (beneath the project
//! root, no symlink swapped in since the check followed); results are bounded (characters
//! read, entries listed) so one call cannot flood the model's context.

use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::path::Path;

use cap_fs_ext::DirExt as _;
use cap_std::fs::Dir;
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde_json::Value;

use super::args::Args;
use super::error::ToolError;
use super::sandbox::{Resolved, Sandbox};

/// Default `max_chars` of `read_file`.
pub const DEFAULT_MAX_CHARS: u64 = 20_000;
/// Largest file `read_file` loads.
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;
/// Most entries `list_files` returns.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Bytes inspected to decide whether a file is text.
const SNIFF_BYTES: usize = 8 * 1024;
/// Directory names `list_files` never descends into.
const SKIPPED_DIRS: &[&str] = &[".git", "target"];

/// `read_file(path, max_chars=20000, offset=0)`: a window of a text file, counted in chars.
pub fn read_file(sandbox: &Sandbox, args: &Value) -> Result<String, ToolError> {
    let args = Args::parse("read_file", args, &["path", "max_chars", "offset"])?;
    let path = args.required_str("path")?;
    let max_chars = args
        .optional_uint("max_chars")?
        .unwrap_or(DEFAULT_MAX_CHARS);
    if max_chars == 0 {
        return Err(ToolError::InvalidArgument {
            name: "max_chars",
            expected: "at least 1",
            got: String::from("0"),
        });
    }
    let offset = args.optional_uint("offset")?.unwrap_or(0);
    let at = sandbox.resolve(path)?;
    let shown = at.shown();
    // Opened without blocking and checked on the handle: a FIFO would block the tool forever.
    let file = sandbox
        .open(&at)
        .map_err(|e| io_error("reading", &shown, e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error("reading", &shown, e))?;
    if meta.is_dir() {
        return Err(ToolError::IsADirectory { path: shown });
    }
    if !meta.is_file() {
        return Err(ToolError::NotARegularFile { path: shown });
    }
    if meta.len() > MAX_READ_BYTES {
        return Err(ToolError::TooLarge {
            path: shown,
            size: meta.len(),
            limit: MAX_READ_BYTES,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_READ_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error("reading", &shown, e))?;
    if let Some(why) = binary_reason(&bytes) {
        return Err(ToolError::Binary { path: shown, why });
    }
    let text = String::from_utf8_lossy(&bytes);
    window(&text, to_usize(offset), to_usize(max_chars)).map_err(|total| ToolError::OffsetPastEnd {
        path: shown,
        offset: to_usize(offset),
        total,
    })
}

/// `list_files(path=".", pattern="**/*")`: files under `path` whose path (relative to `path`,
/// or to the project root) matches `pattern`, sorted, relative to the project root.
pub fn list_files(sandbox: &Sandbox, args: &Value) -> Result<String, ToolError> {
    let args = Args::parse("list_files", args, &["path", "pattern"])?;
    let path = args.optional_str("path")?.unwrap_or(".");
    let pattern = args.optional_str("pattern")?.unwrap_or("**/*");
    let found = matching_files(sandbox, path, pattern)?;
    let shown = sandbox.resolve(path)?.shown();
    Ok(render_listing(found, pattern, &shown))
}

/// Files under `path` whose path (relative to `path`, or to the project root) matches
/// `pattern`, sorted, relative to the project root. Shared by the `list_files` tool and the
/// `list_files` Rhai builtin.
pub fn matching_files(
    sandbox: &Sandbox,
    path: &str,
    pattern: &str,
) -> Result<Vec<String>, ToolError> {
    let matcher = compile_glob(pattern)?;
    let at = sandbox.resolve(path)?;
    let shown = at.shown();
    let Some(dir) = sandbox
        .open_dir(&at)
        .map_err(|e| io_error("listing", &shown, e))?
    else {
        return Err(ToolError::NotADirectory { path: shown });
    };
    let mut found = Vec::new();
    walk(sandbox, &dir, &at, Path::new(""), &mut |under_dir| {
        let under_root = at.below(under_dir);
        if matcher.is_match(under_dir) || matcher.is_match(&under_root) {
            found.push(under_root);
        }
    })
    .map_err(|e| io_error("listing", &shown, e))?;
    found.sort();
    Ok(found)
}

/// `write_file(path, content)`: replace or create a file atomically.
pub fn write_file(sandbox: &Sandbox, args: &Value) -> Result<String, ToolError> {
    let args = Args::parse("write_file", args, &["path", "content"])?;
    let path = args.required_str("path")?;
    let content = args.required_str("content")?;
    let target = sandbox.resolve_for_write(path)?;
    let shown = target.resolved().shown();
    sandbox
        .write(&target, content.as_bytes())
        .map_err(|e| io_error("writing", &shown, e))?;
    Ok(format!("wrote {} bytes to `{shown}`", content.len()))
}

/// Why `bytes` is not text, judged on its first 8 KB: NUL bytes or invalid UTF-8 (a multibyte
/// character cut by the 8 KB boundary does not count).
fn binary_reason(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return Some("it contains NUL bytes");
    }
    match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_some() => Some("it is not valid UTF-8"),
        _ => None,
    }
}

/// Chars `offset..offset+max` of `text`, plus a marker saying how to read on when more remains.
/// `Err(total)` when `offset` lies past the end of a non-empty text.
fn window(text: &str, offset: usize, max: usize) -> Result<String, usize> {
    let total = text.chars().count();
    if offset > total || (offset == total && total > 0) {
        return Err(total);
    }
    let start = byte_index(text, offset);
    let rest = &text[start..];
    let end = offset + max;
    if end >= total {
        return Ok(rest.to_owned());
    }
    let mut out = rest[..byte_index(rest, max)].to_owned();
    let _ = write!(
        out,
        "\n[... truncated: showing chars {offset}-{end} of {total}; call read_file with offset={end} for more]"
    );
    Ok(out)
}

/// Byte index of the `chars`-th char of `text` (its length when there are fewer).
fn byte_index(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i)
}

/// Globs use gitignore-like rules: `*` stays within one directory, `**` crosses them.
fn compile_glob(pattern: &str) -> Result<GlobMatcher, ToolError> {
    let glob: Result<Glob, _> = GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build();
    glob.map(|g| g.compile_matcher())
        .map_err(|e| ToolError::InvalidArgument {
            name: "pattern",
            expected: "a valid glob such as `**/*.md`",
            got: format!("`{pattern}` ({})", e.kind()),
        })
}

/// Visit every file under the open folder `dir` (at `under`, relative to the listed folder,
/// which is `base`), by handle: each subfolder is opened beneath its
/// parent without following a symlink. Skips `.git`/`target` directories, does not descend
/// into symlinked directories (no loops, no escapes), and reports symlinked files only when
/// they resolve to a file inside the root. Unreadable subdirectories are skipped; an
/// unreadable `dir` is an error.
fn walk(
    sandbox: &Sandbox,
    dir: &Dir,
    base: &Resolved,
    under: &Path,
    visit: &mut dyn FnMut(&Path),
) -> io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let path = under.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| name == *s)
                && let Ok(sub) = dir.open_dir_nofollow(&name)
            {
                // A subdirectory we cannot read is left out rather than failing the listing.
                let _ = walk(sandbox, &sub, base, &path, visit);
            }
        } else if !kind.is_symlink() || sandbox.is_file(&base.below(&path)) {
            visit(&path);
        }
    }
    Ok(())
}

/// One path per line, capped at [`MAX_LIST_ENTRIES`] with a marker.
fn render_listing(mut found: Vec<String>, pattern: &str, dir: &str) -> String {
    if found.is_empty() {
        return format!("no files match `{pattern}` under `{dir}`");
    }
    let total = found.len();
    found.truncate(MAX_LIST_ENTRIES);
    let mut out = found.join("\n");
    if total > MAX_LIST_ENTRIES {
        let _ = write!(
            out,
            "\n[... truncated: showing {MAX_LIST_ENTRIES} of {total} files; narrow `path` or `pattern`]"
        );
    }
    out
}

fn io_error(action: &'static str, path: &str, source: io::Error) -> ToolError {
    if source.kind() == io::ErrorKind::NotFound {
        ToolError::NotFound {
            path: path.to_owned(),
        }
    } else {
        ToolError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn project() -> (tempfile::TempDir, Sandbox) {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(dir.path()).unwrap();
        (dir, sandbox)
    }

    #[test]
    fn window_truncates_with_marker_and_offset() {
        assert_eq!(window("hello", 0, 10).unwrap(), "hello");
        assert_eq!(
            window("héllo wörld", 0, 5).unwrap(),
            "héllo\n[... truncated: showing chars 0-5 of 11; call read_file with offset=5 for more]"
        );
        assert_eq!(window("héllo wörld", 6, 5).unwrap(), "wörld");
        assert_eq!(window("abc", 3, 5), Err(3));
        assert_eq!(window("", 0, 5).unwrap(), "");
    }

    #[test]
    fn read_file_truncates_long_files() {
        let (dir, sb) = project();
        fs::write(dir.path().join("big.txt"), "x".repeat(53_211)).unwrap();
        let out = read_file(&sb, &json!({"path": "big.txt"})).unwrap();
        assert!(out.ends_with(
            "\n[... truncated: showing chars 0-20000 of 53211; call read_file with offset=20000 for more]"
        ));
        assert_eq!(out.chars().filter(|c| *c == 'x').count(), 20_000);
        let tail = read_file(&sb, &json!({"path": "big.txt", "offset": 50_000})).unwrap();
        assert_eq!(tail, "x".repeat(3211));
    }

    #[test]
    fn read_file_refuses_binary_and_directories() {
        let (dir, sb) = project();
        fs::write(dir.path().join("a.pdf"), b"%PDF\0\x01\x02").unwrap();
        fs::write(dir.path().join("latin1.txt"), b"caf\xe9 au lait").unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        let err = read_file(&sb, &json!({"path": "a.pdf"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("attachments"), "{err}");
        assert!(matches!(
            read_file(&sb, &json!({"path": "latin1.txt"})),
            Err(ToolError::Binary { .. })
        ));
        assert!(matches!(
            read_file(&sb, &json!({"path": "d"})),
            Err(ToolError::IsADirectory { .. })
        ));
        assert!(matches!(
            read_file(&sb, &json!({"path": "missing.txt"})),
            Err(ToolError::NotFound { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn read_file_refuses_a_fifo_without_blocking() {
        let (dir, sb) = project();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let err = read_file(&sb, &json!({"path": "pipe"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`pipe` is a FIFO (named pipe), not a regular file or folder"
        );
    }

    #[test]
    fn binary_sniff_tolerates_a_cut_multibyte_char() {
        let mut bytes = vec![b'a'; SNIFF_BYTES - 1];
        bytes.extend("é".as_bytes());
        assert_eq!(binary_reason(&bytes), None);
    }

    #[test]
    fn list_files_matches_globs_and_skips_build_dirs() {
        let (dir, sb) = project();
        for f in [
            "b.md",
            "a.txt",
            "docs/c.md",
            "docs/deep/d.md",
            ".git/config",
            "target/x.md",
        ] {
            let p = dir.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "x").unwrap();
        }
        let all = list_files(&sb, &json!({})).unwrap();
        assert_eq!(all, "a.txt\nb.md\ndocs/c.md\ndocs/deep/d.md");
        let md = list_files(&sb, &json!({"pattern": "**/*.md"})).unwrap();
        assert_eq!(md, "b.md\ndocs/c.md\ndocs/deep/d.md");
        let top = list_files(&sb, &json!({"pattern": "*.md"})).unwrap();
        assert_eq!(top, "b.md");
        let docs = list_files(&sb, &json!({"path": "docs", "pattern": "*.md"})).unwrap();
        assert_eq!(docs, "docs/c.md");
        let none = list_files(&sb, &json!({"pattern": "*.rs"})).unwrap();
        assert_eq!(none, "no files match `*.rs` under `.`");
        assert!(list_files(&sb, &json!({"pattern": "a[" })).is_err());
    }

    #[test]
    fn listing_is_capped_with_marker() {
        let found: Vec<String> = (0..1005).map(|i| format!("f{i:04}")).collect();
        let out = render_listing(found, "**/*", ".");
        assert_eq!(out.lines().count(), MAX_LIST_ENTRIES + 1);
        assert!(
            out.ends_with(
                "[... truncated: showing 1000 of 1005 files; narrow `path` or `pattern`]"
            )
        );
    }

    #[test]
    fn write_file_is_atomic_and_reports_bytes() {
        let (dir, sb) = project();
        let out = write_file(&sb, &json!({"path": "out/r.txt", "content": "héllo"})).unwrap();
        assert_eq!(out, "wrote 6 bytes to `out/r.txt`");
        assert_eq!(
            fs::read_to_string(dir.path().join("out/r.txt")).unwrap(),
            "héllo"
        );
        let names: Vec<_> = fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["r.txt"]);
        let err = write_file(&sb, &json!({"path": "x.txt"})).unwrap_err();
        assert_eq!(err.to_string(), "missing required argument `content`");
    }
}
