//! `llm-do list`: workers, fns, builtins and toolsets with descriptions and sources. The one
//! enumeration of a project's names ([`entries`]): `llm-do mcp serve` offers its tools from it.

use crate::project::Project;
use crate::report::{Error, out_line};
use crate::settings::Settings;

use super::setup;

/// What kind of name a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Worker,
    Fn,
    /// A `[stabilize]` name: a worker and a fn served as one.
    Switch,
    Builtin,
    Toolset,
}

impl EntryKind {
    /// The kind as `list` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Worker => "worker",
            EntryKind::Fn => "fn",
            EntryKind::Switch => "switch",
            EntryKind::Builtin => "builtin",
            EntryKind::Toolset => "toolset",
        }
    }
}

/// One name of the project's namespace, as `list` shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    /// The name a call reaches it by.
    pub name: String,
    /// The name with its parameters (`f(a, b)`) for fns and builtins, else the name.
    pub signature: String,
    /// One line saying what it is.
    pub description: String,
    /// Where it is defined (`workers/x.worker`, `scripts/f.rhai:3`, `built-in`).
    pub source: String,
    /// An untrusted draft fn (model-written, not yet accepted).
    pub untrusted: bool,
}

/// Every name of `p`: workers, fns, `[stabilize]` switches, builtins, toolsets, in that order.
pub fn entries(p: &Project) -> Vec<Entry> {
    let mut rows = Vec::new();
    let entry = |kind, name: &str, signature: String, description: String, source: String| Entry {
        kind,
        name: name.to_string(),
        signature,
        description,
        source,
        untrusted: false,
    };
    for w in p.workers.values() {
        let source = w
            .path
            .as_ref()
            .map_or_else(|| "inline".into(), |p| p.display().to_string());
        let description = w.description.clone().unwrap_or_default();
        rows.push(entry(
            EntryKind::Worker,
            &w.name,
            w.name.clone(),
            description,
            source,
        ));
    }
    for f in p.fns.values() {
        let text = std::fs::read_to_string(p.root.join(&f.path)).unwrap_or_default();
        let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
        let summary = if f.untrusted {
            format!("untrusted draft: {}", f.summary())
        } else {
            f.summary().to_string()
        };
        rows.push(Entry {
            untrusted: f.untrusted,
            ..entry(
                EntryKind::Fn,
                &f.name,
                format!("{}({})", f.name, f.params.join(", ")),
                summary,
                format!("{}:{line}", f.path.display()),
            )
        });
    }
    for (name, mode) in &p.config.stabilize {
        let serves = super::check::serves(*mode);
        let description = match p.switch(name).and_then(|s| s.untrusted_side()) {
            Some(side) => format!("served by {serves}; the {side} is an untrusted draft"),
            None => format!("served by {serves}"),
        };
        let source = "llm-do.toml [stabilize]".to_string();
        rows.push(entry(
            EntryKind::Switch,
            name,
            name.clone(),
            description,
            source,
        ));
    }
    for b in crate::script::builtins::BUILTINS {
        rows.push(entry(
            EntryKind::Builtin,
            b.name,
            format!("{}({})", b.name, b.params.join(", ")),
            b.summary.into(),
            "built-in".into(),
        ));
    }
    for set in crate::tools::TOOLSET_NAMES {
        let tools: Vec<&str> = crate::tools::toolset(set)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name)
            .collect();
        rows.push(entry(
            EntryKind::Toolset,
            set,
            (*set).to_string(),
            format!("LLM tools: {}", tools.join(", ")),
            "built-in".into(),
        ));
    }
    rows
}

/// Print one row per name (`--json`: an array of `{kind, name, description, source}`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &setup::unlogged(settings);
    let rt = setup::runtime(settings, None, false, None)?;
    let rows: Vec<[String; 4]> = entries(&rt.project())
        .into_iter()
        .map(|e| [e.kind.as_str().into(), e.signature, e.description, e.source])
        .collect();
    if settings.json {
        let all: Vec<serde_json::Value> = rows
            .iter()
            .map(|[kind, name, description, source]| {
                serde_json::json!({
                    "kind": kind,
                    "name": name,
                    "description": description,
                    "source": source,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&all).unwrap_or_default();
        return out_line(&text);
    }
    print_table(&rows)
}

/// Rows as aligned columns, the last one unpadded.
pub fn print_table(rows: &[[String; 4]]) -> Result<(), Error> {
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let padded: String = r[..3]
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:w$}  "))
            .collect();
        out_line(&format!("{padded}{}", r[3]))?;
    }
    Ok(())
}
