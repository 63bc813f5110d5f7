//! Security tests of the builtin tools: each attack must fail with a tool error AND leave the
//! file system exactly as it was (a snapshot of every entry, file content and link target of
//! the temp dir, which holds the project and a directory outside it).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::ShellConfig;
use super::shell::ShellRule;
use super::{ToolEnv, ToolError, run};
use crate::approval::{Gate, Mode, Outcome, Request};
use crate::tools::Sandbox;

/// A temp dir with `project/` (the root) and `outside/` next to it.
struct Fixture {
    dir: tempfile::TempDir,
    env: ToolEnv,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(root.join("notes.txt"), "notes").unwrap();
        fs::write(root.join("sub/a.txt"), "a").unwrap();
        fs::write(dir.path().join("outside/secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink("../outside/secret.txt", root.join("link_out")).unwrap();
            symlink("../outside", root.join("dir_out")).unwrap();
            symlink("../outside/new.txt", root.join("dangling")).unwrap();
        }
        let rules = ["echo", "touch", "rm", "bash", "python", "env", "cat"]
            .iter()
            .map(|p| ShellRule {
                prefix: (*p).to_owned(),
                approval: false,
                protected: false,
            })
            .collect();
        let env = ToolEnv {
            sandbox: Arc::new(Sandbox::new(&root).unwrap()),
            shell: ShellConfig {
                allow: rules,
                timeout: Some(5),
                env: Vec::new(),
            },
        };
        Self { dir, env }
    }

    fn outside(&self) -> String {
        self.dir.path().join("outside").display().to_string()
    }

    /// Every entry under the temp dir: file contents, directories, symlink targets.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        collect(self.dir.path(), self.dir.path(), &mut out);
        out
    }

    /// Run `tool` with `args`, expect a tool error, and check nothing changed on disk.
    fn refused(&self, tool: &str, args: Value) -> ToolError {
        let before = self.snapshot();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(run(&self.env, tool, &args));
        assert_eq!(
            before,
            self.snapshot(),
            "{tool} {args} changed the file system"
        );
        match result {
            Ok(out) => panic!("{tool} {args} should be refused, got: {out}"),
            Err(e) => e,
        }
    }
}

fn collect(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.strip_prefix(base).unwrap().display().to_string();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).unwrap();
            out.insert(name, format!("link -> {}", target.display()));
        } else if meta.is_dir() {
            out.insert(name, String::from("dir"));
            collect(base, &path, out);
        } else {
            out.insert(name, fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

fn is_sandbox(e: &ToolError) -> bool {
    matches!(e, ToolError::Sandbox(_))
}

fn shell_refused(e: &ToolError) -> bool {
    matches!(
        e,
        ToolError::ShellRefused { .. } | ToolError::ShellNotAllowed { .. }
    )
}

#[test]
fn parent_escape_is_refused_for_read_and_write() {
    let f = Fixture::new();
    let e = f.refused("read_file", json!({"path": "../outside/secret.txt"}));
    assert!(e.to_string().contains("escapes the project root"), "{e}");
    let e = f.refused(
        "write_file",
        json!({"path": "../outside/new.txt", "content": "x"}),
    );
    assert!(is_sandbox(&e), "{e}");
}

#[test]
fn nested_parent_escape_is_refused() {
    let f = Fixture::new();
    assert!(is_sandbox(&f.refused(
        "read_file",
        json!({"path": "sub/../../outside/secret.txt"})
    )));
    let e = f.refused("write_file", json!({"path": "sub/../../x", "content": "x"}));
    assert!(is_sandbox(&e));
    assert!(is_sandbox(
        &f.refused("list_files", json!({"path": "sub/../.."}))
    ));
}

#[test]
fn absolute_path_outside_root_is_refused() {
    let f = Fixture::new();
    let secret = format!("{}/secret.txt", f.outside());
    let e = f.refused("read_file", json!({"path": secret}));
    assert!(e.to_string().contains("outside the project root"), "{e}");
    let new = format!("{}/new.txt", f.outside());
    assert!(is_sandbox(
        &f.refused("write_file", json!({"path": new, "content": "x"}))
    ));
}

#[cfg(unix)]
#[test]
fn symlink_to_outside_file_is_refused_for_read_and_write() {
    let f = Fixture::new();
    let e = f.refused("read_file", json!({"path": "link_out"}));
    assert!(e.to_string().contains("symlink"), "{e}");
    assert!(is_sandbox(&f.refused(
        "write_file",
        json!({"path": "link_out", "content": "x"})
    )));
}

#[cfg(unix)]
#[test]
fn symlinked_directory_to_outside_is_refused() {
    let f = Fixture::new();
    assert!(is_sandbox(
        &f.refused("read_file", json!({"path": "dir_out/secret.txt"}))
    ));
    let e = f.refused(
        "write_file",
        json!({"path": "dir_out/new.txt", "content": "x"}),
    );
    assert!(is_sandbox(&e));
    assert!(is_sandbox(
        &f.refused("list_files", json!({"path": "dir_out"}))
    ));
}

#[cfg(unix)]
#[test]
fn dangling_symlink_to_outside_cannot_create_a_file() {
    let f = Fixture::new();
    let e = f.refused("write_file", json!({"path": "dangling", "content": "x"}));
    assert!(is_sandbox(&e), "{e}");
}

#[cfg(unix)]
#[test]
fn listing_the_root_does_not_follow_links_outside() {
    let f = Fixture::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let listing = rt.block_on(run(&f.env, "list_files", &json!({}))).unwrap();
    assert_eq!(listing, "notes.txt\nsub/a.txt");
}

#[test]
fn nul_byte_is_refused() {
    let f = Fixture::new();
    assert!(is_sandbox(
        &f.refused("read_file", json!({"path": "notes.txt\u{0}x"}))
    ));
    let e = f.refused("write_file", json!({"path": "a\u{0}b", "content": "x"}));
    assert!(is_sandbox(&e));
}

#[test]
fn git_directory_is_not_writable() {
    let f = Fixture::new();
    let e = f.refused(
        "write_file",
        json!({"path": ".git/hooks/pre-commit", "content": "x"}),
    );
    assert!(is_sandbox(&e), "{e}");
}

#[test]
fn shell_metacharacters_are_refused() {
    let f = Fixture::new();
    for command in [
        "touch a; touch b",
        "echo hi | touch piped",
        "touch a && touch b",
        "echo $(touch sub)",
        "echo `touch tick`",
        "echo hi > redirected.txt",
        "touch a\ntouch b",
        "touch 'a;b'",
    ] {
        let e = f.refused("shell", json!({"command": command}));
        assert!(shell_refused(&e), "{command:?}: {e}");
    }
}

#[test]
fn command_outside_the_allowlist_is_refused() {
    let f = Fixture::new();
    let e = f.refused("shell", json!({"command": "mv notes.txt gone.txt"}));
    assert!(matches!(e, ToolError::ShellNotAllowed { .. }), "{e}");
    assert!(e.to_string().contains("`echo`"), "{e}");
}

#[test]
fn interpreter_escapes_are_refused() {
    let f = Fixture::new();
    for command in [
        "bash -c 'touch pwned'",
        "python -c 'open(\"pwned\",\"w\")'",
        "/bin/bash -c 'touch pwned'",
        "env X=1 rm notes.txt",
    ] {
        let e = f.refused("shell", json!({"command": command}));
        assert!(shell_refused(&e), "{command:?}: {e}");
    }
}

#[test]
fn shell_arguments_leaving_the_project_are_refused() {
    let f = Fixture::new();
    let secret = format!("{}/secret.txt", f.outside());
    for command in [
        "rm ../outside/secret.txt".to_owned(),
        format!("rm {secret}"),
    ] {
        let e = f.refused("shell", json!({"command": command}));
        assert!(shell_refused(&e), "{command:?}: {e}");
    }
}

#[cfg(unix)]
#[test]
fn shell_arguments_naming_the_protected_set_are_refused() {
    let mut f = Fixture::new();
    let root = f.env.sandbox.root().to_path_buf();
    for dir in ["scripts", "workers", ".git/hooks", ".llm-do"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(
        root.join("scripts/main.rhai"),
        "fn approve(r) { \"approve\" }",
    )
    .unwrap();
    fs::write(root.join("workers/w.worker"), "---\n---\nhi").unwrap();
    fs::write(root.join("llm-do.toml"), "").unwrap();
    std::os::unix::fs::symlink("../scripts", root.join("sub/code")).unwrap();
    for command in [
        "rm scripts/main.rhai",
        "touch scripts/evil.rhai",
        "rm LLM-DO.TOML",
        "rm ./llm-do.toml",
        "touch .git/hooks/pre-commit",
        "touch .llm-do/log.db",
        "rm sub/code/main.rhai",
        "touch -rscripts notes.txt",
        "touch --reference=LLM-DO.toml notes.txt",
        "cat scripts/main.rhai",
    ] {
        let e = f.refused("shell", json!({"command": command}));
        assert!(
            shell_refused(&e) && e.to_string().contains("protected = true"),
            "{command:?}: {e}"
        );
    }
    // A rule that says so lets its commands name the protected set.
    f.env.shell.allow.insert(
        0,
        ShellRule {
            prefix: "touch".into(),
            approval: false,
            protected: true,
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(
        &f.env,
        "shell",
        &json!({"command": "touch scripts/new.rhai"}),
    ))
    .unwrap();
    assert!(root.join("scripts/new.rhai").exists());
}

#[test]
fn write_without_approval_is_denied_headless() {
    let f = Fixture::new();
    let gate = Gate::new(Mode::Normal, &[]).unwrap();
    let args = json!({"path": "notes.txt", "content": "overwritten"});
    let before = f.snapshot();
    let request = Request {
        tool: "write_file".into(),
        args: args.clone(),
        chain: vec!["writer".into()],
    };
    let verdict = gate.check(&request, f.env.needs_approval("write_file", &args));
    // The worker loop runs a tool only when approved; this mirrors it.
    if verdict.outcome == Outcome::Approved {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(run(&f.env, "write_file", &args)).unwrap();
    }
    let Outcome::Denied(reason) = verdict.outcome else {
        panic!("expected a denial, got {verdict:?}");
    };
    assert!(reason.contains("--approve-all"), "{reason}");
    assert_eq!(before, f.snapshot());
}

#[test]
fn snapshot_sees_changes() {
    // Guards the other tests: a real write must show up in the snapshot.
    let f = Fixture::new();
    let before = f.snapshot();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(run(
        &f.env,
        "write_file",
        &json!({"path": "sub/a.txt", "content": "b"}),
    ))
    .unwrap();
    assert_ne!(before, f.snapshot());
}
