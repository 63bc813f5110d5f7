//! `[[approvals]]` rules compiled for matching: a tool glob and optional globs on the call's
//! `path` and `command` arguments (DESIGN §6, §9).

use std::fmt::Write as _;

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::Request;

/// What an approval rule or policy decides for a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
    Prompt,
}

/// `[[approvals]]`: a rule matched against LLM-initiated tool calls; first match wins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Tool name glob (e.g. `write_file`, `mcp.github.*`).
    pub tool: String,
    /// Glob matched against the call's `path` argument, when set.
    pub path: Option<String>,
    /// Glob matched against the call's `command` argument (shell), when set.
    pub command: Option<String>,
    pub decision: Decision,
}

/// An `[[approvals]]` rule whose globs do not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid glob `{glob}` in `{field}` of `[[approvals]]` rule #{number} in `llm-do.toml`: {message}"
)]
pub struct RuleError {
    /// 1-based position of the rule.
    pub number: usize,
    pub field: &'static str,
    pub glob: String,
    pub message: String,
}

pub(super) struct CompiledRule {
    tool: GlobMatcher,
    path: Option<GlobMatcher>,
    command: Option<GlobMatcher>,
    /// The `path` glob as written, to tell whether the rule names a protected entry.
    path_glob: Option<String>,
    pub(super) decision: Decision,
    /// How the rule reads in `llm-do.toml`, for denial messages.
    pub(super) describe: String,
}

impl CompiledRule {
    pub(super) fn new(number: usize, rule: &ApprovalRule) -> Result<Self, RuleError> {
        let compile = |field: &'static str, glob: &str, literal_separator: bool| {
            GlobBuilder::new(glob)
                .literal_separator(literal_separator)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .map_err(|e| RuleError {
                    number,
                    field,
                    glob: glob.to_owned(),
                    message: e.kind().to_string(),
                })
        };
        let mut describe = format!("`[[approvals]]` rule #{number} (tool = `{}`", rule.tool);
        for (name, value) in [("path", &rule.path), ("command", &rule.command)] {
            if let Some(value) = value {
                let _ = write!(describe, ", {name} = `{value}`");
            }
        }
        describe.push_str(") in `llm-do.toml`");
        Ok(Self {
            tool: compile("tool", &rule.tool, false)?,
            path: rule
                .path
                .as_deref()
                .map(|p| compile("path", p, true))
                .transpose()?,
            command: rule
                .command
                .as_deref()
                .map(|c| compile("command", c, false))
                .transpose()?,
            path_glob: rule.path.clone(),
            decision: rule.decision,
            describe,
        })
    }

    /// Whether the rule's `path` glob names the protected `entry` explicitly.
    pub(super) fn names(&self, entry: &str) -> bool {
        self.path_glob
            .as_deref()
            .is_some_and(|glob| super::protected::names_entry(glob, entry))
    }

    /// The tool glob matches and every set argument glob matches its argument. A rule with a
    /// `path` glob never matches a call whose path cannot be normalized inside the project.
    pub(super) fn matches(&self, req: &Request) -> bool {
        if !self.tool.is_match(&req.tool) {
            return false;
        }
        let arg = |name: &str| req.args.get(name).and_then(Value::as_str);
        let path_ok = self.path.as_ref().is_none_or(|glob| {
            arg("path")
                .and_then(normalize_rule_path)
                .is_some_and(|p| glob.is_match(p))
        });
        let command_ok = self.command.as_ref().is_none_or(|glob| {
            arg("command")
                .is_some_and(|c| glob.is_match(c.split_whitespace().collect::<Vec<_>>().join(" ")))
        });
        path_ok && command_ok
    }
}

/// A relative path with `.` and `..` folded and `/` separators, so `./out//a.txt` matches
/// `out/**` and `out/../src/main.rs` does not. `None` for absolute paths and paths that climb
/// above the project root: those match no path rule (the sandbox refuses them anyway).
pub(super) fn normalize_rule_path(path: &str) -> Option<String> {
    let path = path.replace('\\', "/");
    if path.starts_with('/') || path.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}
