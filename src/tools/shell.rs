//! The `shell` tool: run one allowlisted program, without a shell, in the project root.
//!
//! [`check_command`] is the pure policy (syntax, interpreters, lexical paths, `[shell] allow`
//! rules) and decides whether approval is still needed; [`check`] adds the checks that need the
//! file system (arguments that reach outside the root through symlinks or glued to options,
//! see [`super::confine`]). [`run_shell`] executes what they accepted with
//! `tokio::process::Command` (no `sh -c`) in its own process group, with a scrubbed
//! environment ([`child_env`]), a timeout, and capped output. On timeout or cancellation the
//! whole group is killed; programs that leave it (daemons, `setsid`) are the allowlist author's
//! responsibility.

use std::fmt::Write as _;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::args::Args;
use super::command::{INTERPRETERS, escaping_argument, program_name, split};
use super::confine::{escaping_path, protected_path};
use super::error::ToolError;
use super::group::{ProcessGroup, put_in_own_group};
use super::sandbox::Sandbox;

/// `[shell]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// Allowed command prefixes; first match wins. A command matching none is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<ShellRule>,
    /// Default timeout in seconds (default 30).
    pub timeout: Option<u64>,
    /// Environment variables passed to commands besides the defaults (`PATH`, `HOME`, `LANG`,
    /// `LC_*`, `TERM`, `TZ`, `USER`, `TMPDIR`). Secrets are refused when the file loads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// One `[shell] allow` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShellRule {
    /// Matches commands equal to this or starting with it followed by a space.
    pub prefix: String,
    /// Whether a matching command still needs approval (default true).
    #[serde(default = "yes")]
    pub approval: bool,
    /// Whether the model's arguments may name the protected set (`llm-do.toml`, `scripts/`,
    /// `workers/`, `.llm-do/`, `.git/`; default false).
    #[serde(default, skip_serializing_if = "is_default")]
    pub protected: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn yes() -> bool {
    true
}

/// Environment variables a command sees by default (`LC_*` too); `[shell] env` adds more.
pub const DEFAULT_ENV: &[&str] = &["PATH", "HOME", "LANG", "TERM", "TZ", "USER", "TMPDIR"];

/// Timeout in seconds when neither the call nor `[shell] timeout` sets one.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest timeout a call may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// Chars of stdout and of stderr each kept in the result.
pub const MAX_OUTPUT_CHARS: usize = 50_000;
/// Bytes of each stream kept in memory (enough for the chars above); the rest is counted.
const MAX_OUTPUT_BYTES: usize = MAX_OUTPUT_CHARS * 4;

/// A command accepted by [`check_command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellMatch {
    /// Program and arguments, unquoted.
    pub argv: Vec<String>,
    /// The words joined by single spaces (for messages, traces and approval rules).
    pub normalized: String,
    /// Index of the matching `[shell] allow` rule.
    pub rule: usize,
    /// How many words of `argv` the rule names (the rest are the model's arguments).
    pub prefix_len: usize,
    /// Whether the matching rule still asks for approval.
    pub needs_approval: bool,
}

/// Decide whether `command` may run under `cfg`: refuse shell syntax, interpreters not
/// explicitly allowed, paths leaving the project, and anything no allow rule matches. A rule
/// matches when its words are the first words of the command; the first match wins.
pub fn check_command(command: &str, cfg: &ShellConfig) -> Result<ShellMatch, ToolError> {
    let refuse = |reason: String| ToolError::ShellRefused { reason };
    let argv = split(command).map_err(refuse)?;
    let normalized = argv.join(" ");
    let matched = cfg.allow.iter().enumerate().find_map(|(i, rule)| {
        let prefix = split(&rule.prefix).ok()?;
        argv.starts_with(&prefix).then_some((i, rule, prefix.len()))
    });
    let Some((index, rule, prefix_len)) = matched else {
        return Err(ToolError::ShellNotAllowed {
            command: normalized,
            allowed: cfg.allow.iter().map(|r| r.prefix.clone()).collect(),
        });
    };
    let program = program_name(&argv[0]);
    if INTERPRETERS.contains(&program) && prefix_len < 2 {
        return Err(refuse(format!(
            "`{program}` runs other programs or code; allow it only through a rule naming its arguments too, e.g. `prefix = \"{program} scripts/check.py\"`"
        )));
    }
    if let Some(arg) = escaping_argument(&argv[prefix_len..]) {
        return Err(refuse(format!(
            "argument `{arg}` points outside the project root; use paths relative to the project root"
        )));
    }
    Ok(ShellMatch {
        argv,
        normalized,
        rule: index,
        prefix_len,
        needs_approval: rule.approval,
    })
}

/// [`check_command`], then the arguments after the rule's prefix against the file system:
/// any reading of an argument that leads outside the root of `sandbox`, symlinks resolved, is
/// refused (see [`super::confine`]).
pub fn check(sandbox: &Sandbox, command: &str, cfg: &ShellConfig) -> Result<ShellMatch, ToolError> {
    let accepted = check_command(command, cfg)?;
    if let Some(escape) = escaping_path(sandbox, &accepted.argv[accepted.prefix_len..]) {
        let reading = if escape.path == escape.arg {
            String::new()
        } else {
            format!(" (it may name `{}`)", escape.path)
        };
        return Err(ToolError::ShellRefused {
            reason: format!(
                "argument `{}` points outside the project root{reading}; use paths relative to the project root, not glued to options, through folders that exist",
                escape.arg
            ),
        });
    }
    let rule = &cfg.allow[accepted.rule];
    if !rule.protected
        && let Some(hit) = protected_path(sandbox, &accepted.argv[accepted.prefix_len..])
    {
        return Err(ToolError::ShellRefused {
            reason: format!(
                "argument `{}` may name `{}`, which is protected (project code, configuration and state are not changed by models); read it with `read_file`, or add `protected = true` to the `[shell] allow` rule `{}` in `llm-do.toml`",
                hit.arg, hit.entry, rule.prefix
            ),
        });
    }
    Ok(accepted)
}

/// Whether an environment variable may never reach a command, whatever `[shell] env` says:
/// provider keys (`*_API_KEY`).
pub fn is_secret_name(name: &str) -> bool {
    name.to_ascii_uppercase().ends_with("_API_KEY")
}

/// The environment of a command: only [`DEFAULT_ENV`], `LC_*` and the names in `[shell] env`
/// that are set in `vars` (llm-do's own environment), never a secret ([`is_secret_name`]).
pub fn child_env(
    cfg: &ShellConfig,
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            let Some(name) = name.to_str() else {
                return false;
            };
            let listed = DEFAULT_ENV.contains(&name)
                || name.starts_with("LC_")
                || cfg.env.iter().any(|n| n == name);
            listed && !is_secret_name(name)
        })
        .collect()
}

/// Problems with `[shell] allow` rules, as `(index, why it can never match)`: a prefix that is
/// empty, uses refused characters, or names an interpreter without arguments can never match,
/// so `llm-do check` should report it.
pub fn rule_problems(cfg: &ShellConfig) -> Vec<(usize, String)> {
    let problem = |prefix: &str| match split(prefix) {
        Err(why) => Some(why),
        Ok(words) if words.len() == 1 && INTERPRETERS.contains(&program_name(&words[0])) => Some(
            String::from("an interpreter is only allowed together with its arguments"),
        ),
        Ok(_) => None,
    };
    cfg.allow
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| problem(&rule.prefix).map(|p| (i, p)))
        .collect()
}

/// `shell(command, timeout=30)`: run an allowed command in the project root and report its
/// exit code and output. A non-zero exit is a normal result, not an error.
pub async fn run_shell(
    sandbox: &Sandbox,
    cfg: &ShellConfig,
    args: &Value,
) -> Result<String, ToolError> {
    let args = Args::parse("shell", args, &["command", "timeout"])?;
    let command = args.required_str("command")?;
    let secs = args
        .optional_uint("timeout")?
        .or(cfg.timeout)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(ToolError::InvalidArgument {
            name: "timeout",
            expected: "between 1 and 600 seconds",
            got: secs.to_string(),
        });
    }
    let accepted = check(sandbox, command, cfg)?;
    let env = child_env(cfg, std::env::vars_os());
    execute(sandbox, &accepted, &env, Duration::from_secs(secs)).await
}

/// Run an accepted command. Cancel-safe: dropping the future kills the command's process
/// group without waiting for it.
async fn execute(
    sandbox: &Sandbox,
    cmd: &ShellMatch,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    limit: Duration,
) -> Result<String, ToolError> {
    let mut command = tokio::process::Command::new(&cmd.argv[0]);
    command
        .args(&cmd.argv[1..])
        .current_dir(sandbox.root())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    put_in_own_group(&mut command);
    let mut child = command.spawn().map_err(|source| ToolError::Spawn {
        program: cmd.argv[0].clone(),
        source,
    })?;
    let mut group = ProcessGroup::of(&child);
    let mut stdout = Captured::default();
    let mut stderr = Captured::default();
    let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
    let finished = tokio::time::timeout(limit, async {
        let (_, _, status) =
            tokio::join!(stdout.fill(out_pipe), stderr.fill(err_pipe), child.wait());
        status
    })
    .await;
    match finished {
        Ok(status) => {
            group.finish();
            let status = status.map_err(|source| ToolError::Spawn {
                program: cmd.argv[0].clone(),
                source,
            })?;
            Ok(render(&describe_status(status), &stdout, &stderr))
        }
        Err(_) => {
            group.stop(&mut child).await;
            let partial = if stdout.total == 0 && stderr.total == 0 {
                String::new()
            } else {
                format!("\n{}", render("killed", &stdout, &stderr))
            };
            Err(ToolError::Timeout {
                command: cmd.normalized.clone(),
                secs: limit.as_secs(),
                partial,
            })
        }
    }
}

/// One output stream: the first [`MAX_OUTPUT_BYTES`] bytes and the total length.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    total: usize,
}

impl Captured {
    /// Read `pipe` to its end, keeping the head and counting the rest (the child must never
    /// block on a full pipe, so the excess is drained, not ignored).
    async fn fill(&mut self, pipe: Option<impl AsyncRead + Unpin>) {
        let Some(mut pipe) = pipe else { return };
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            self.total += n;
            let room = MAX_OUTPUT_BYTES.saturating_sub(self.bytes.len());
            self.bytes.extend_from_slice(&buf[..n.min(room)]);
        }
    }

    /// The text, cut at [`MAX_OUTPUT_CHARS`] with a marker when anything was dropped.
    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let cut = text
            .char_indices()
            .nth(MAX_OUTPUT_CHARS)
            .map_or(text.len(), |(i, _)| i);
        let mut out = text[..cut].to_owned();
        if cut < text.len() || self.total > self.bytes.len() {
            let _ = write!(
                out,
                "\n[... truncated: showing the first {MAX_OUTPUT_CHARS} chars of {} bytes]",
                self.total
            );
        }
        out
    }
}

fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return code.to_string();
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("none (killed by signal {signal})");
        }
    }
    String::from("none")
}

/// The result text: exit code, then each non-empty stream in a labelled section.
fn render(exit: &str, stdout: &Captured, stderr: &Captured) -> String {
    let mut out = format!("exit code: {exit}");
    for (label, stream) in [("stdout", stdout), ("stderr", stderr)] {
        if stream.total > 0 {
            let _ = write!(out, "\n--- {label} ---\n{}", stream.text());
        }
    }
    if stdout.total == 0 && stderr.total == 0 {
        out.push_str("\n(no output)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(rules: &[(&str, bool)]) -> ShellConfig {
        ShellConfig {
            allow: rules
                .iter()
                .map(|(p, a)| ShellRule {
                    prefix: (*p).to_owned(),
                    approval: *a,
                    protected: false,
                })
                .collect(),
            timeout: None,
            env: Vec::new(),
        }
    }

    #[test]
    fn first_matching_rule_decides_approval() {
        let c = cfg(&[("git status", false), ("git", true)]);
        let m = check_command("git  status -s", &c).unwrap();
        assert_eq!((m.rule, m.needs_approval), (0, false));
        assert_eq!(m.normalized, "git status -s");
        let m = check_command("git log", &c).unwrap();
        assert_eq!((m.rule, m.needs_approval), (1, true));
        assert!(check_command("git-lfs x", &c).is_err());
        assert!(check_command("gitstatus", &cfg(&[("git", false)])).is_err());
    }

    #[test]
    fn reports_rules_that_can_never_match() {
        let c = cfg(&[
            ("git status", false),
            ("ls | wc", false),
            ("", true),
            ("bash", true),
        ]);
        let problems = rule_problems(&c);
        assert_eq!(problems.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(problems[0].1.starts_with("`|` (pipe) is not allowed"));
    }

    #[test]
    fn interpreters_need_a_rule_with_arguments() {
        let loose = cfg(&[("python", false)]);
        assert!(matches!(
            check_command("python scripts/check.py", &loose),
            Err(ToolError::ShellRefused { .. })
        ));
        let exact = cfg(&[("python scripts/check.py", false)]);
        assert!(check_command("python scripts/check.py --fast", &exact).is_ok());
        assert!(check_command("python -c 'print(1)'", &exact).is_err());
    }

    #[test]
    fn child_env_keeps_only_the_allowlist_and_never_keys() {
        let mut c = cfg(&[]);
        c.env = vec!["CARGO_HOME".into(), "MY_API_KEY".into()];
        let vars = [
            "PATH",
            "HOME",
            "LC_ALL",
            "CARGO_HOME",
            "MY_API_KEY",
            "OPENAI_API_KEY",
            "GH_TOKEN",
            "LD_PRELOAD",
        ]
        .map(|name| (name.into(), "v".into()));
        let kept: Vec<_> = child_env(&c, vars)
            .into_iter()
            .map(|(name, _)| name.into_string().unwrap())
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "LC_ALL", "CARGO_HOME"]);
    }

    #[test]
    fn output_is_capped_with_marker() {
        let stream = Captured {
            bytes: vec![b'a'; MAX_OUTPUT_CHARS + 10],
            total: 300_000,
        };
        let text = stream.text();
        assert!(text.ends_with("[... truncated: showing the first 50000 chars of 300000 bytes]"));
        let empty = Captured::default();
        assert_eq!(render("0", &empty, &empty), "exit code: 0\n(no output)");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn runs_allowed_command_and_captures_output() {
        let dir = tempfile::tempdir().unwrap();
        let sb = Sandbox::new(dir.path()).unwrap();
        let c = cfg(&[("echo", false), ("ls", false)]);
        let out = run_shell(&sb, &c, &serde_json::json!({"command": "echo hi 'a b'"}))
            .await
            .unwrap();
        assert_eq!(out, "exit code: 0\n--- stdout ---\nhi a b\n");
        let out = run_shell(&sb, &c, &serde_json::json!({"command": "ls no-such-file"}))
            .await
            .unwrap();
        assert!(out.starts_with("exit code: 2\n--- stderr ---\n"), "{out}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn timeout_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let sb = Sandbox::new(dir.path()).unwrap();
        let c = cfg(&[("sleep", false)]);
        let start = std::time::Instant::now();
        let err = run_shell(
            &sb,
            &c,
            &serde_json::json!({"command": "sleep 5", "timeout": 1}),
        )
        .await
        .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(4));
        assert_eq!(
            err.to_string(),
            "`sleep 5` timed out after 1 s and was killed"
        );
    }

    #[tokio::test]
    async fn missing_program_is_a_tool_error() {
        let dir = tempfile::tempdir().unwrap();
        let sb = Sandbox::new(dir.path()).unwrap();
        let c = cfg(&[("llm-do-no-such-program", false)]);
        let err = run_shell(
            &sb,
            &c,
            &serde_json::json!({"command": "llm-do-no-such-program"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::Spawn { .. }), "{err}");
    }
}
