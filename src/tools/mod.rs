//! Builtin toolsets an LLM can call (DESIGN §5): `fs_ro`, `fs`, `shell`.
//!
//! This module is the catalog (names, descriptions, JSON Schemas and default approval of each
//! tool) and the dispatcher [`run`]. Tools never ask for approval themselves: the worker loop
//! passes each call through the approval gate first, using [`ToolEnv::needs_approval`] for the
//! tool's default, and only then calls [`run`].

use std::sync::Arc;

use serde_json::{Value, json};

use crate::model::ToolDef;

mod args;
mod command;
pub mod confine;
pub mod error;
pub mod fs;
pub mod group;
pub mod sandbox;
pub mod shell;

#[cfg(test)]
mod security_tests;

pub use error::ToolError;
pub use sandbox::Sandbox;
pub use shell::ShellConfig;

/// Names of the builtin toolsets, for validation and "did you mean".
pub const TOOLSET_NAMES: &[&str] = &["fs_ro", "fs", "shell"];

/// Names of the builtin tools.
pub const TOOL_NAMES: &[&str] = &["read_file", "list_files", "write_file", "shell"];

/// Whether a call to a tool needs approval when no flag, policy or rule decides (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultApproval {
    /// Runs without asking (read-only tools).
    None,
    /// Asks before running.
    Required,
    /// Decided by the matching `[shell] allow` rule's `approval` flag.
    ShellRule,
}

/// One builtin tool as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinTool {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    pub approval: DefaultApproval,
}

impl BuiltinTool {
    /// The provider-neutral tool definition sent to the model.
    pub fn to_def(&self) -> ToolDef {
        ToolDef {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            parameters: self.parameters.clone(),
        }
    }
}

/// The tools of the builtin set `name`, or `None` when there is no such set.
pub fn toolset(name: &str) -> Option<Vec<BuiltinTool>> {
    match name {
        "fs_ro" => Some(vec![read_file_tool(), list_files_tool()]),
        "fs" => Some(vec![read_file_tool(), list_files_tool(), write_file_tool()]),
        "shell" => Some(vec![shell_tool()]),
        _ => None,
    }
}

/// The builtin tool called `name`.
pub fn tool(name: &str) -> Option<BuiltinTool> {
    match name {
        "read_file" => Some(read_file_tool()),
        "list_files" => Some(list_files_tool()),
        "write_file" => Some(write_file_tool()),
        "shell" => Some(shell_tool()),
        _ => None,
    }
}

fn read_file_tool() -> BuiltinTool {
    BuiltinTool {
        name: "read_file",
        description: "Read a text file in the project. Long files are cut at `max_chars` characters with a note saying which `offset` continues.",
        parameters: json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Path relative to the project root"},
                "max_chars": {"type": "integer", "minimum": 1, "default": 20000, "description": "Most characters to return"},
                "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Character offset to start from"}
            },
            "required": ["path"],
            "additionalProperties": false
        }),
        approval: DefaultApproval::None,
    }
}

fn list_files_tool() -> BuiltinTool {
    BuiltinTool {
        name: "list_files",
        description: "List files under a directory of the project whose path matches a glob (`*` stays within a directory, `**` crosses directories). Paths are relative to the project root, sorted; `.git` and `target` are skipped.",
        parameters: json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "default": ".", "description": "Directory relative to the project root"},
                "pattern": {"type": "string", "default": "**/*", "description": "Glob matched against paths relative to `path`, e.g. `**/*.md`"}
            },
            "additionalProperties": false
        }),
        approval: DefaultApproval::None,
    }
}

fn write_file_tool() -> BuiltinTool {
    BuiltinTool {
        name: "write_file",
        description: "Create or replace a text file in the project (atomically; parent directories are created).",
        parameters: json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Path relative to the project root"},
                "content": {"type": "string", "description": "The complete new file content"}
            },
            "required": ["path", "content"],
            "additionalProperties": false
        }),
        approval: DefaultApproval::Required,
    }
}

fn shell_tool() -> BuiltinTool {
    BuiltinTool {
        name: "shell",
        description: "Run one allowed program in the project root, without a shell: no pipes, redirection, variables, globs or `;`. Quotes group words. Returns the exit code, stdout and stderr.",
        parameters: json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "Program and arguments, e.g. `git status`"},
                "timeout": {"type": "integer", "minimum": 1, "maximum": 600, "default": 30, "description": "Seconds before the program is killed"}
            },
            "required": ["command"],
            "additionalProperties": false
        }),
        approval: DefaultApproval::ShellRule,
    }
}

/// Builtin tools whose `path` argument names a file or folder in the project.
pub const PATH_TOOLS: &[&str] = &["read_file", "list_files", "write_file"];

/// What the builtin tools run against: the project sandbox and the shell allowlist.
#[derive(Debug, Clone)]
pub struct ToolEnv {
    pub sandbox: Arc<Sandbox>,
    pub shell: ShellConfig,
}

impl ToolEnv {
    /// The tool's default approval for these arguments. For `shell` this is the matching
    /// rule's flag; a command the rules refuse needs no approval because [`run`] refuses it
    /// without side effects. Unknown tools need approval.
    pub fn needs_approval(&self, name: &str, args: &Value) -> bool {
        match tool(name).map(|t| t.approval) {
            Some(DefaultApproval::None) => false,
            Some(DefaultApproval::Required) | None => true,
            Some(DefaultApproval::ShellRule) => {
                let command = args.get("command").and_then(Value::as_str).unwrap_or("");
                shell::check(&self.sandbox, command, &self.shell).is_ok_and(|m| m.needs_approval)
            }
        }
    }

    /// The arguments the approval gate should see for a call of `name`: for the builtin file
    /// tools, the `path` argument replaced by the real path relative to the project root
    /// (in-root absolute paths, `.`/`..` and symlinks resolved, also a missing last component
    /// under a symlinked folder), so rules, the policy fn and the prompt all see the file the
    /// tool will touch. Other tools' arguments, and a path the sandbox refuses (the tool then
    /// refuses it too, before touching anything), are returned unchanged.
    pub fn canonical_args(&self, name: &str, args: &Value) -> Value {
        let mut out = args.clone();
        if PATH_TOOLS.contains(&name)
            && let Some(path) = args.get("path").and_then(Value::as_str)
            && let Ok(canonical) = self.sandbox.canonical(path)
            && let Some(map) = out.as_object_mut()
        {
            map.insert("path".to_owned(), Value::String(canonical));
        }
        out
    }

    /// [`run`], abandoned as soon as `cancel` is cancelled (Ctrl-C, SIGTERM): a running shell
    /// command's process group is then killed without waiting for it, and the call fails with
    /// [`ToolError::Cancelled`].
    pub async fn run_until(
        &self,
        name: &str,
        args: &Value,
        cancel: &crate::cancel::Cancel,
    ) -> Result<String, ToolError> {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(ToolError::Cancelled),
            out = run(self, name, args) => out,
        }
    }
}

/// Run the builtin tool `name`. File tools run on tokio's blocking pool (a large read or a
/// deep listing must not stall the runtime's workers); `shell` is async.
pub async fn run(env: &ToolEnv, name: &str, args: &Value) -> Result<String, ToolError> {
    let file_tool: fn(&Sandbox, &Value) -> Result<String, ToolError> = match name {
        "read_file" => fs::read_file,
        "list_files" => fs::list_files,
        "write_file" => fs::write_file,
        "shell" => return shell::run_shell(&env.sandbox, &env.shell, args).await,
        _ => {
            return Err(ToolError::UnknownTool {
                name: name.to_owned(),
            });
        }
    };
    let sandbox = Arc::clone(&env.sandbox);
    let args = args.clone();
    let tool_name: &'static str = tool(name).map_or("tool", |t| t.name);
    tokio::task::spawn_blocking(move || file_tool(&sandbox, &args))
        .await
        .unwrap_or_else(|e| {
            Err(ToolError::Internal {
                tool: tool_name,
                message: e.to_string(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolsets_hold_the_documented_tools() {
        let names =
            |set: &str| -> Vec<&str> { toolset(set).unwrap().iter().map(|t| t.name).collect() };
        assert_eq!(names("fs_ro"), ["read_file", "list_files"]);
        assert_eq!(names("fs"), ["read_file", "list_files", "write_file"]);
        assert_eq!(names("shell"), ["shell"]);
        assert!(toolset("fs_rw").is_none());
        for set in TOOLSET_NAMES {
            for t in toolset(set).unwrap() {
                assert!(TOOL_NAMES.contains(&t.name));
                assert_eq!(t.parameters["type"], "object");
                assert_eq!(tool(t.name).as_ref(), Some(&t));
            }
        }
        assert!(!TOOL_NAMES.contains(&"fs"));
    }

    #[tokio::test]
    async fn dispatches_and_reports_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let env = ToolEnv {
            sandbox: Arc::new(Sandbox::new(dir.path()).unwrap()),
            shell: ShellConfig {
                allow: vec![shell::ShellRule {
                    prefix: "echo".into(),
                    approval: false,
                    protected: false,
                }],
                timeout: None,
                env: Vec::new(),
            },
        };
        let wrote = run(
            &env,
            "write_file",
            &json!({"path": "a.txt", "content": "hi"}),
        )
        .await;
        assert_eq!(wrote.unwrap(), "wrote 2 bytes to `a.txt`");
        assert_eq!(
            run(&env, "read_file", &json!({"path": "a.txt"}))
                .await
                .unwrap(),
            "hi"
        );
        assert!(matches!(
            run(&env, "rm", &json!({})).await,
            Err(ToolError::UnknownTool { .. })
        ));
        assert!(!env.needs_approval("read_file", &json!({})));
        assert!(env.needs_approval("write_file", &json!({})));
        assert!(!env.needs_approval("shell", &json!({"command": "echo hi"})));
        assert!(!env.needs_approval("shell", &json!({"command": "rm x"})));
    }
}
