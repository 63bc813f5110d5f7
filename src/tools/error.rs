//! [`ToolError`]: why a builtin tool call failed. The message goes back to the model as the
//! tool result, so it says what was wrong and, where useful, how to call the tool instead.

use super::sandbox::SandboxError;

/// A failed builtin tool call. Never fatal to the run: the worker loop hands the message to the
/// model so it can adapt.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No builtin tool has this name.
    #[error("unknown builtin tool `{name}`")]
    UnknownTool { name: String },
    /// The arguments were not a JSON object.
    #[error("arguments must be a JSON object, got {got}")]
    NotAnObject { got: &'static str },
    /// A required argument was absent.
    #[error("missing required argument `{name}`")]
    MissingArgument { name: &'static str },
    /// An argument had the wrong type or an out-of-range value.
    #[error("argument `{name}` must be {expected}, got {got}")]
    InvalidArgument {
        name: &'static str,
        expected: &'static str,
        got: String,
    },
    /// An argument the tool does not take.
    #[error("unknown argument `{name}`; `{tool}` takes {expected}")]
    UnknownArgument {
        name: String,
        tool: &'static str,
        expected: String,
    },
    /// A path was refused by the sandbox.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The path does not exist.
    #[error("no such file or directory: `{path}`\nhint: call `list_files` to see what exists")]
    NotFound { path: String },
    /// `read_file` on a directory.
    #[error("`{path}` is a directory\nhint: call `list_files` with `path` = `{path}`")]
    IsADirectory { path: String },
    /// `read_file` on something other than a regular file (a FIFO, a socket, a device).
    #[error("`{path}` is not a regular file")]
    NotARegularFile { path: String },
    /// `list_files` on a file.
    #[error("`{path}` is a file, not a directory\nhint: call `read_file` to read it")]
    NotADirectory { path: String },
    /// `read_file` on a binary file.
    #[error(
        "`{path}` is not a text file ({why})\nhint: binary files such as PDFs and images are sent to a worker through its `attachments`"
    )]
    Binary { path: String, why: &'static str },
    /// `read_file` on a file too large to load.
    #[error("`{path}` is too large to read ({size} bytes; the limit is {limit} bytes)")]
    TooLarge { path: String, size: u64, limit: u64 },
    /// `read_file` with an offset past the end.
    #[error("offset {offset} is past the end of `{path}` ({total} chars)")]
    OffsetPastEnd {
        path: String,
        offset: usize,
        total: usize,
    },
    /// An I/O error while running a tool.
    #[error("{action} `{path}` failed: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A shell command that breaks the syntax rules (metacharacters, quotes, interpreters).
    #[error("shell command refused: {reason}")]
    ShellRefused { reason: String },
    /// A shell command that no `[shell] allow` rule matches.
    #[error("shell command `{command}` is not allowed{}", allowed_hint(allowed))]
    ShellNotAllowed {
        command: String,
        allowed: Vec<String>,
    },
    /// The program could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The command outlived its timeout and was killed.
    #[error("`{command}` timed out after {secs} s and was killed{partial}")]
    Timeout {
        command: String,
        secs: u64,
        /// Output captured before the kill, already formatted (may be empty).
        partial: String,
    },
    /// The run was interrupted (Ctrl-C) while the tool ran; a shell command was killed.
    #[error("interrupted; the tool call was stopped")]
    Cancelled,
    /// A tool task panicked or was cancelled.
    #[error("internal error in `{tool}`: {message}")]
    Internal { tool: &'static str, message: String },
}

fn allowed_hint(allowed: &[String]) -> String {
    if allowed.is_empty() {
        String::from(
            "; no shell commands are allowed in this project\nhint: allow a command prefix in `llm-do.toml`, e.g.\n  [shell]\n  allow = [{ prefix = \"git status\", approval = false }]",
        )
    } else {
        format!(
            "; allowed command prefixes: {}",
            crate::suggest::quoted(allowed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_allowed_lists_prefixes_or_explains_configuration() {
        let listed = ToolError::ShellNotAllowed {
            command: "rm x".into(),
            allowed: vec!["git status".into(), "wc".into()],
        };
        assert_eq!(
            listed.to_string(),
            "shell command `rm x` is not allowed; allowed command prefixes: `git status`, `wc`"
        );
        let none = ToolError::ShellNotAllowed {
            command: "rm x".into(),
            allowed: vec![],
        }
        .to_string();
        assert!(none.contains("no shell commands are allowed"), "{none}");
        assert!(none.contains("llm-do.toml"), "{none}");
    }
}
