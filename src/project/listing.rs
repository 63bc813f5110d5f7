//! What `llm-do list` and the REPL's `:list` show: one [`Row`] per name of the project, as
//! data, and its rendering as aligned text ([`Listing`], shown by the one printer, which also
//! writes it as `--json`). Both faces call these; neither builds rows of its own.

use serde::Serialize;

use crate::config::Stabilize;

use super::Project;

/// What kind of name a row lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Worker,
    Fn,
    Switch,
    Builtin,
    Toolset,
}

impl Kind {
    /// The word shown in the first column (and as `kind` in JSON).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Worker => "worker",
            Kind::Fn => "fn",
            Kind::Switch => "switch",
            Kind::Builtin => "builtin",
            Kind::Toolset => "toolset",
        }
    }
}

/// One listed name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub kind: Kind,
    /// The name, with its parameters for what takes them (`add(a, b)`).
    pub name: String,
    /// The summary, including notes such as which side of a switch serves or that a fn is an
    /// untrusted draft; empty when there is none.
    pub description: String,
    /// Where it is defined (`scripts/m.rhai:3`, `inline`, `built-in`, ...).
    pub source: String,
    /// The name a call reaches it by (`add`, where `name` shows `add(a, b)`).
    #[serde(skip)]
    pub call_name: String,
    /// An untrusted draft fn (model-written, not yet accepted): never offered as a tool by
    /// default (`llm-do mcp serve`).
    #[serde(skip)]
    pub untrusted: bool,
}

impl Row {
    /// A row whose call name is `name` up to its parameters.
    pub fn new(kind: Kind, name: String, description: String, source: String) -> Self {
        let call_name = name.split('(').next().unwrap_or(&name).to_string();
        Row {
            kind,
            name,
            description,
            source,
            call_name,
            untrusted: false,
        }
    }

    /// A fn defined at the REPL prompt (`signature` as `name(a, b)`); `file` is the project
    /// file whose fn of the same name wins over it, if any.
    pub fn session_fn(signature: String, file: Option<&str>) -> Self {
        let source = file.map_or_else(|| "prompt".into(), |f| format!("prompt; `{f}` wins"));
        Row::new(Kind::Fn, signature, String::new(), source)
    }
}

/// Every name of `project`, in order: workers, the project's fns, then `session_fns` (fns
/// typed at the REPL prompt), `[stabilize]` switches, builtins and builtin toolsets.
pub fn rows(project: &Project, session_fns: Vec<Row>) -> Vec<Row> {
    workers(project)
        .chain(fns(project))
        .chain(session_fns)
        .chain(switches(project))
        .chain(builtins())
        .chain(toolsets())
        .collect()
}

fn workers(p: &Project) -> impl Iterator<Item = Row> + '_ {
    p.workers.values().map(|w| {
        let source = w
            .path
            .as_ref()
            .map_or_else(|| "inline".into(), |p| p.display().to_string());
        let description = w.description.clone().unwrap_or_default();
        Row::new(Kind::Worker, w.name.clone(), description, source)
    })
}

fn fns(p: &Project) -> impl Iterator<Item = Row> + '_ {
    p.fns.values().map(|f| {
        let text = std::fs::read_to_string(p.root.join(&f.path)).unwrap_or_default();
        let line = text[..f.span.0.min(text.len())].matches('\n').count() + 1;
        let summary = if f.untrusted {
            format!("untrusted draft: {}", f.summary())
        } else {
            f.summary().to_string()
        };
        let name = format!("{}({})", f.name, f.params.join(", "));
        Row {
            untrusted: f.untrusted,
            ..Row::new(
                Kind::Fn,
                name,
                summary,
                format!("{}:{line}", f.path.display()),
            )
        }
    })
}

fn switches(p: &Project) -> impl Iterator<Item = Row> + '_ {
    p.config.stabilize.iter().map(|(name, mode)| {
        let served = format!("served by {}", serves(*mode));
        let description = match p.switch(name).and_then(|s| s.untrusted_side()) {
            Some(side) => format!("{served}; the {side} is an untrusted draft"),
            None => served,
        };
        let source = "llm-do.toml [stabilize]".into();
        Row::new(Kind::Switch, name.clone(), description, source)
    })
}

fn builtins() -> impl Iterator<Item = Row> {
    crate::script::builtins::BUILTINS.iter().map(|b| {
        let name = format!("{}({})", b.name, b.params.join(", "));
        Row::new(Kind::Builtin, name, b.summary.into(), "built-in".into())
    })
}

fn toolsets() -> impl Iterator<Item = Row> {
    crate::tools::TOOLSET_NAMES.iter().map(|set| {
        let tools: Vec<&str> = crate::tools::toolset(set)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name)
            .collect();
        let description = format!("LLM tools: {}", tools.join(", "));
        Row::new(Kind::Toolset, (*set).into(), description, "built-in".into())
    })
}

/// Which side serves under `mode`, in words.
pub fn serves(mode: Stabilize) -> String {
    match mode {
        Stabilize::Worker => "the worker (`worker`)".into(),
        Stabilize::Code => "the fn, deferring to the worker (`code`)".into(),
        Stabilize::Shadow => "the worker, the fn shadowing it (`shadow`)".into(),
        Stabilize::ShadowCode => "the fn, the worker shadowing it (`shadow-code`)".into(),
        Stabilize::Canary(p) => {
            format!("the fn for {p}% of inputs, the worker for the rest (`canary:{p}`)")
        }
    }
}

/// The rows of a listing (`llm-do list`, `:list`, `mcp serve --list`); as JSON an array of
/// `{kind, name, description, source}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Listing(pub Vec<Row>);

impl crate::output::Show for Listing {
    /// The rows as aligned columns (kind, name, description, source), one line each.
    fn text(&self) -> String {
        text(&self.0)
    }
}

fn text(rows: &[Row]) -> String {
    let cells = |r: &Row| {
        let cells = [r.kind.word(), &r.name, &r.description, &r.source];
        cells.map(str::to_owned).to_vec()
    };
    crate::output::table(&rows.iter().map(cells).collect::<Vec<_>>(), 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: Kind, name: &str, description: &str, source: &str) -> Row {
        Row::new(kind, name.into(), description.into(), source.into())
    }

    #[test]
    fn text_aligns_columns_and_keeps_empty_descriptions() {
        let rows = [
            row(Kind::Worker, "w", "", "inline"),
            row(Kind::Fn, "f(a)", "Does f.", "scripts/f.rhai:1"),
            Row::session_fn("g()".into(), Some("scripts/g.rhai")),
        ];
        assert_eq!(
            text(&rows),
            "worker  w              inline\n\
             fn      f(a)  Does f.  scripts/f.rhai:1\n\
             fn      g()            prompt; `scripts/g.rhai` wins\n"
        );
    }

    #[test]
    fn json_names_the_kind_in_lowercase() {
        let rows = [row(Kind::Toolset, "fs", "LLM tools: x", "built-in")];
        assert_eq!(
            serde_json::to_value(Listing(rows.to_vec())).unwrap(),
            serde_json::json!([{"kind": "toolset", "name": "fs", "description": "LLM tools: x", "source": "built-in"}])
        );
    }
}
