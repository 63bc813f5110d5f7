//! What one `toolsets:` entry of a worker means: the one resolver used by the load-time checks
//! (`toolsets`, `tool_choice`), inline workers and the toolbox of a worker run.

use std::sync::Arc;

use super::{Project, Switch};
use crate::config::McpServer;
use crate::script::ScriptFn;
use crate::tools::BuiltinTool;
use crate::worker::WorkerSpec;

/// What a `toolsets:` entry gives a worker's model.
#[derive(Debug, Clone)]
pub enum Toolset<'a> {
    /// Tools known from the project, in the order the model sees them: a builtin set, a fn, a
    /// worker (or the stabilize switch serving a name that is both) or a script module's fns.
    Tools(Vec<Member<'a>>),
    /// The tools of an MCP server of `llm-do.toml` (`mcp.NAME`), or one of them
    /// (`mcp.NAME.tool`): known only once the server runs.
    Mcp {
        server: &'a str,
        only: Option<&'a str>,
        config: &'a McpServer,
    },
}

/// One tool a toolset entry gives the model, named as the model sees it.
#[derive(Debug, Clone)]
pub enum Member<'a> {
    /// A builtin LLM tool (`read_file`, `shell`, ...).
    Builtin(BuiltinTool),
    /// A Rhai fn of the project.
    Fn(&'a Arc<ScriptFn>),
    /// A worker.
    Worker(&'a Arc<WorkerSpec>),
    /// A name that is both a worker and a fn under `[stabilize]`: the model sees the worker's
    /// tool and the switch serves it.
    Switch(Switch),
}

impl Member<'_> {
    /// The tool's name as the model sees it.
    pub fn name(&self) -> &str {
        match self {
            Member::Builtin(t) => t.name,
            Member::Fn(f) => &f.name,
            Member::Worker(w) => &w.name,
            Member::Switch(s) => &s.worker.name,
        }
    }
}

impl Project {
    /// What the `toolsets:` entry `entry` means, or `None` when it names nothing a toolset can
    /// be. A builtin set comes first, then a stabilized name, a fn, a worker, a script module
    /// and an MCP server.
    pub fn toolset<'a>(&'a self, entry: &'a str) -> Option<Toolset<'a>> {
        if let Some(set) = crate::tools::toolset(entry) {
            return Some(Toolset::Tools(
                set.into_iter().map(Member::Builtin).collect(),
            ));
        }
        let member = self
            .switch(entry)
            .map(Member::Switch)
            .or_else(|| self.fns.get(entry).map(Member::Fn))
            .or_else(|| self.workers.get(entry).map(Member::Worker));
        if let Some(member) = member {
            return Some(Toolset::Tools(vec![member]));
        }
        if let Some(names) = self.modules.get(entry) {
            let fns = names.iter().filter_map(|n| self.fns.get(n));
            return Some(Toolset::Tools(fns.map(Member::Fn).collect()));
        }
        let (server, only) = crate::mcp::parse_ref(entry)?;
        let config = self.config.mcp.get(server)?;
        Some(Toolset::Mcp {
            server,
            only,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::project::Overlay;

    /// A project loaded from `files` (path under the root, text) alone.
    fn project(files: &[(&str, &str)]) -> Project {
        let root = Path::new("/nonexistent/llm-do-toolset-test");
        let overlay: Overlay = files
            .iter()
            .map(|(p, t)| (root.join(p), Some(Arc::from(*t))))
            .collect();
        Project::load(&rhai::Engine::new(), root, None, &overlay, &[]).expect("project loads")
    }

    fn names(set: Option<Toolset<'_>>) -> Vec<String> {
        match set {
            Some(Toolset::Tools(members)) => members.iter().map(|m| m.name().to_owned()).collect(),
            Some(Toolset::Mcp { server, only, .. }) => vec![format!("mcp {server} {only:?}")],
            None => vec!["none".into()],
        }
    }

    fn sample() -> Project {
        project(&[
            (
                "llm-do.toml",
                "[mcp.files]\ncommand = \"x\"\n\n[stabilize]\nsum = \"worker\"\n",
            ),
            ("workers/helper.worker", "---\nname: helper\n---\nHelp.\n"),
            ("workers/sum.worker", "---\nname: sum\n---\nAdd.\n"),
            (
                "scripts/text.rhai",
                "fn shout(s) { s }\nfn whisper(s) { s }\n",
            ),
            ("scripts/sum.rhai", "fn sum(a, b) { a + b }\n"),
        ])
    }

    #[test]
    fn each_kind_of_entry_resolves_to_its_tools() {
        let p = sample();
        assert_eq!(names(p.toolset("fs_ro")), ["read_file", "list_files"]);
        assert_eq!(names(p.toolset("shout")), ["shout"]);
        assert_eq!(names(p.toolset("helper")), ["helper"]);
        // A module's fns, in the order the module lists them.
        let mut module = names(p.toolset("text"));
        assert_eq!(module, p.modules["text"]);
        module.sort();
        assert_eq!(module, ["shout", "whisper"]);
        assert_eq!(names(p.toolset("mcp.files")), ["mcp files None"]);
        assert_eq!(
            names(p.toolset("mcp.files.read")),
            ["mcp files Some(\"read\")"]
        );
        for unknown in ["nope", "mcp.other", "mcp.", "fs_rw"] {
            assert_eq!(names(p.toolset(unknown)), ["none"], "{unknown}");
        }
    }

    #[test]
    fn a_stabilized_name_is_its_switch() {
        let p = sample();
        let Some(Toolset::Tools(members)) = p.toolset("sum") else {
            panic!("sum is a toolset");
        };
        assert!(matches!(&members[..], [Member::Switch(s)] if s.worker.name == "sum"));
    }
}
