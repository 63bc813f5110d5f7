//! The protected set: project files a model must not rewrite on its own. `llm-do.toml`,
//! `scripts/` and `workers/` are code and policy (a model that rewrites them changes its own
//! approvals), `.llm-do/` holds llm-do's state, and `.git/` holds hooks that run on the next git
//! command. A `write_file` call into one of them is refused before any other source decides,
//! unless an `[[approvals]]` rule that names the protected entry explicitly (its `path` glob
//! starts with it, e.g. `scripts/**`; a catch-all `**` does not count) matches the call and does
//! not reject it.
//!
//! The gate sees the canonical path (symlinks and in-root absolute paths resolved by the
//! sandbox, see [`crate::tools::ToolEnv::canonical_args`]), so a symlink under `notes/` that
//! points at `llm-do.toml` is caught as `llm-do.toml`.

use serde_json::Value;

use super::request::Request;
use super::rules::normalize_rule_path;

/// Tools that write the file named by their `path` argument.
pub const WRITING_TOOLS: &[&str] = &["write_file"];

/// The protected entries, as a rule's `path` must start to name one: files exactly, folders
/// with their trailing `/`.
pub const PROTECTED: &[&str] = &["llm-do.toml", "scripts/", "workers/", ".llm-do/", ".git/"];

/// The protected entry that `path` (relative to the project root) falls under, if any.
/// Compared without regard to ASCII case, because on case-insensitive file systems
/// `Scripts/x.rhai` is `scripts/x.rhai`. Paths that are absolute or climb out of the root are
/// not protected here: the sandbox refuses them.
#[must_use]
pub fn protected_entry(path: &str) -> Option<&'static str> {
    let path = normalize_rule_path(path)?.to_ascii_lowercase();
    PROTECTED
        .iter()
        .copied()
        .find(|entry| match entry.strip_suffix('/') {
            Some(dir) => path == dir || path.starts_with(entry),
            None => path == *entry,
        })
}

/// The protected entry a write request targets: `req` is a call of a writing tool whose `path`
/// falls under the protected set.
pub(super) fn protected_target(req: &Request) -> Option<(&str, &'static str)> {
    if !WRITING_TOOLS.contains(&req.tool.as_str()) {
        return None;
    }
    let path = req.args.get("path").and_then(Value::as_str)?;
    protected_entry(path).map(|entry| (path, entry))
}

/// Whether a rule `path` glob names `entry` explicitly.
pub(super) fn names_entry(glob: &str, entry: &str) -> bool {
    let glob = glob.strip_prefix("./").unwrap_or(glob);
    glob.get(..entry.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(entry))
}

/// The denial a model receives for a write into the protected set.
pub(super) fn denial(tool: &str, path: &str, entry: &str) -> String {
    let (what, example) = if entry.ends_with('/') {
        (
            format!("the protected folder `{entry}`"),
            format!("{entry}**"),
        )
    } else {
        (format!("the protected file `{entry}`"), entry.to_owned())
    };
    format!(
        "`{tool}` to `{path}` is refused: it is in {what} (project code, configuration and state are not written by models); to allow it, add an `[[approvals]]` rule in `llm-do.toml` whose `path` names it, e.g. `tool = \"{tool}\"`, `path = \"{example}\"`, `decision = \"prompt\"`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_protected_entries_whatever_the_spelling() {
        for (path, entry) in [
            ("llm-do.toml", Some("llm-do.toml")),
            ("./LLM-DO.toml", Some("llm-do.toml")),
            ("scripts/policy.rhai", Some("scripts/")),
            ("Scripts/x/y.rhai", Some("scripts/")),
            ("scripts", Some("scripts/")),
            ("notes/../workers/a.worker", Some("workers/")),
            (".llm-do/history", Some(".llm-do/")),
            (".git/hooks/pre-commit", Some(".git/")),
            ("notes/scripts/x", None),
            ("scripts.md", None),
            ("llm-do.toml.bak", None),
            ("/abs/llm-do.toml", None),
        ] {
            assert_eq!(protected_entry(path), entry, "{path}");
        }
    }

    #[test]
    fn only_globs_starting_with_the_entry_name_it() {
        assert!(names_entry("scripts/**", "scripts/"));
        assert!(names_entry("./scripts/*.rhai", "scripts/"));
        assert!(names_entry("llm-do.toml", "llm-do.toml"));
        assert!(!names_entry("**", "scripts/"));
        assert!(!names_entry("*/**", "scripts/"));
        assert!(!names_entry("scripts", "scripts/"));
        assert!(!names_entry("{scripts,notes}/**", "scripts/"));
    }
}
