//! `llm-do list`: workers, fns, builtins and toolsets with descriptions and sources.

use crate::report::{Error, out_line};
use crate::settings::Settings;

use super::setup;

/// Print one row per name (`--json`: an array of `{kind, name, description, source}`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &setup::unlogged(settings);
    let rt = setup::runtime(settings, None, false, None)?;
    let p = rt.project();
    let mut rows: Vec<[String; 4]> = Vec::new();
    for w in p.workers.values() {
        let source = w
            .path
            .as_ref()
            .map_or_else(|| "inline".into(), |p| p.display().to_string());
        rows.push([
            "worker".into(),
            w.name.clone(),
            w.description.clone().unwrap_or_default(),
            source,
        ]);
    }
    for f in p.fns.values() {
        let text = std::fs::read_to_string(p.root.join(&f.path)).unwrap_or_default();
        let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
        let summary = if f.untrusted {
            format!("untrusted draft: {}", f.summary())
        } else {
            f.summary().to_string()
        };
        rows.push([
            "fn".into(),
            format!("{}({})", f.name, f.params.join(", ")),
            summary,
            format!("{}:{line}", f.path.display()),
        ]);
    }
    for (name, mode) in &p.config.stabilize {
        rows.push([
            "switch".into(),
            name.clone(),
            match p.switch(name).and_then(|s| s.untrusted_side()) {
                Some(side) => format!(
                    "served by {}; the {side} is an untrusted draft",
                    super::check::serves(*mode)
                ),
                None => format!("served by {}", super::check::serves(*mode)),
            },
            "llm-do.toml [stabilize]".into(),
        ]);
    }
    for b in crate::script::builtins::BUILTINS {
        rows.push([
            "builtin".into(),
            format!("{}({})", b.name, b.params.join(", ")),
            b.summary.into(),
            "built-in".into(),
        ]);
    }
    for set in crate::tools::TOOLSET_NAMES {
        let tools: Vec<&str> = crate::tools::toolset(set)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name)
            .collect();
        rows.push([
            "toolset".into(),
            (*set).to_string(),
            format!("LLM tools: {}", tools.join(", ")),
            "built-in".into(),
        ]);
    }
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
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let padded: String = r[..3]
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:w$}  "))
            .collect();
        out_line(&format!("{padded}{}", r[3]))?;
    }
    Ok(())
}
