//! A hostile `script:` model (issue 16): it asks for tool calls that try to get around the
//! approval rules, the protected set and the shell confinement. Every attempt must come back
//! to the model as a denial or a tool error, with the project and the folder beside it
//! unchanged, and without hanging.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Test, tree};

/// A model that makes `calls` in its first turn, then answers with every tool result, one per
/// line, so the test sees exactly what the model saw.
fn hostile_model(calls: &[Value]) -> String {
    let calls: Vec<String> = calls.iter().map(rhai_literal).collect();
    format!(
        "fn hostile(request) {{\n  if request.turn == 0 {{\n    #{{tool_calls: [{}]}}\n  }} else {{\n    let out = [];\n    for r in request.messages[-1].tool_results {{ out.push(r.content); }}\n    out.reduce(|acc, s| if acc == () {{ s }} else {{ acc + \"\\n\" + s }})\n  }}\n}}\n",
        calls.join(", ")
    )
}

/// `value` as a Rhai literal (maps as `#{...}`).
fn rhai_literal(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", rhai_literal(v)))
                .collect();
            format!("#{{{}}}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(rhai_literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn write(path: &str) -> Value {
    json!({"name": "write_file", "args": {"path": path, "content": "pwned"}})
}

fn shell(command: &str) -> Value {
    json!({"name": "shell", "args": {"command": command}})
}

/// A project whose worker `h` runs the hostile model with `toolsets`.
fn project(calls: &[Value], toolsets: &str, config: &str) -> Test {
    Test::new()
        .worker(
            "h",
            &format!("---\nmodel: script:hostile\ntoolsets: [{toolsets}]\n---\nGo.\n"),
        )
        .script("model", &hostile_model(calls))
        .config(config)
        .file("notes/a.md", "notes")
        .file("secrets/keep.md", "keep")
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

const REJECT_SECRETS: &str = "[[approvals]]\ntool = \"write_file\"\npath = \"secrets/**\"\ndecision = \"reject\"\n\n[[approvals]]\ntool = \"write_file\"\ndecision = \"approve\"\n";

#[test]
fn reject_rules_hold_against_absolute_paths_and_symlinks() {
    let abs = |t: &Test| t.path().canonicalize().unwrap().join("secrets/keep.md");
    // The absolute path is only known once the project exists: build it, then the model.
    let t = project(&[], "fs", REJECT_SECRETS);
    let calls = [
        write(abs(&t).to_str().unwrap()),
        write("notes/s/keep.md"),
        write("notes/s/new.md"),
        write("notes/k.md"),
        write("./notes/../secrets//keep.md"),
        write("notes/ok.md"),
    ];
    let t = t.script("model", &hostile_model(&calls));
    symlink("../secrets", &t.path().join("notes/s"));
    symlink("../secrets/keep.md", &t.path().join("notes/k.md"));
    let before = tree(&t.path().join("secrets"));
    let out = t.run_with(&["run", "h", "go"]);
    out.status(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    for line in &lines[..5] {
        assert_eq!(
            *line,
            "denied: rejected by `[[approvals]]` rule #1 (tool = `write_file`, path = `secrets/**`) in `llm-do.toml`"
        );
    }
    assert_eq!(lines[5], "wrote 5 bytes to `notes/ok.md`");
    assert_eq!(tree(&t.path().join("secrets")), before);
}

#[test]
fn the_protected_set_holds_against_symlinks_and_catch_all_approvals() {
    let calls = [
        write("notes/cfg"),
        write("notes/scripts/model.rhai"),
        write("notes/scripts/new.rhai"),
        write("notes/w/h.worker"),
        write("llm-do.toml"),
        write("notes/ok.md"),
    ];
    for (config, flag) in [
        (
            "[[approvals]]\ntool = \"write_file\"\npath = \"notes/**\"\ndecision = \"approve\"\n",
            None,
        ),
        (
            "[[approvals]]\ntool = \"write_file\"\npath = \"**\"\ndecision = \"approve\"\n",
            None,
        ),
        ("", Some("--approve-all")),
    ] {
        let t = project(&calls, "fs", config);
        symlink("../llm-do.toml", &t.path().join("notes/cfg"));
        symlink("../scripts", &t.path().join("notes/scripts"));
        symlink("../workers", &t.path().join("notes/w"));
        let protected = |t: &Test| {
            let mut all = tree(&t.path().join("scripts"));
            all.extend(tree(&t.path().join("workers")));
            all.push((
                "llm-do.toml".into(),
                std::fs::read(t.path().join("llm-do.toml")).unwrap(),
            ));
            all
        };
        let before = protected(&t);
        let mut args = vec!["run", "h", "go"];
        args.extend(flag);
        let out = t.run_with(&args);
        out.status(0);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 6, "{config}\n{}", out.stdout);
        for (line, path) in lines.iter().zip([
            "llm-do.toml",
            "scripts/model.rhai",
            "scripts/new.rhai",
            "workers/h.worker",
            "llm-do.toml",
        ]) {
            // With only `notes/**`, the canonical path matches no rule and nobody can approve.
            assert!(
                line.starts_with(&format!(
                    "denied: `write_file` to `{path}` is refused: it is in the protected"
                )) || (config.contains("notes/**")
                    && line.starts_with("denied: `write_file` requires approval")),
                "{config}: {line}"
            );
        }
        assert_eq!(lines[5], "wrote 5 bytes to `notes/ok.md`", "{config}");
        assert_eq!(protected(&t), before, "{config}");
    }
}

#[test]
fn a_rule_naming_a_protected_folder_allows_writes_there() {
    let config = "[[approvals]]\ntool = \"write_file\"\npath = \"scripts/generated/**\"\ndecision = \"approve\"\n";
    let t = project(&[write("scripts/generated/x.rhai")], "fs", config);
    let out = t.run_with(&["run", "h", "go"]);
    out.status(0);
    assert_eq!(out.stdout, "wrote 5 bytes to `scripts/generated/x.rhai`\n");
}

#[test]
fn the_policy_sees_the_canonical_path() {
    let policy = "fn approve(request) { if request.tool == \"write_file\" && request.args.path == \"secrets/keep.md\" { \"reject\" } else { () } }";
    let t = project(&[write("notes/s/keep.md")], "fs", "").script("policy", policy);
    symlink("../secrets", &t.path().join("notes/s"));
    let out = t.run_with(&["run", "h", "go", "-v"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "denied: rejected by the approval policy `fn approve`\n"
    );
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r"
            ▶ neural h
              ? write_file denied: rejected by the approval policy `fn approve` (by policy)
            ✓ h [T] ms
            total: 2 model calls, 0 in / 0 out tokens
              h: 2 model calls, 0 in / 0 out tokens
            ");
    });
    assert_eq!(
        std::fs::read_to_string(t.path().join("secrets/keep.md")).unwrap(),
        "keep"
    );
}

const SHELL: &str = "[shell]\nallow = [\n  { prefix = \"sed\", approval = false },\n  { prefix = \"cp\", approval = false },\n  { prefix = \"cat\", approval = false },\n  { prefix = \"printenv\", approval = false },\n]\n";

#[test]
fn shell_arguments_cannot_reach_outside_and_children_see_no_keys() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside secret").unwrap();
    let o = outside.path().display().to_string();
    let calls = [
        shell(&format!("sed -n 1w{o}/x notes/a.md")),
        shell(&format!("cp notes/a.md -t{o}")),
        shell(&format!("cp notes/a.md --target-directory={o}")),
        shell("cat link"),
        shell("cat notes/a.md"),
        shell("printenv OPENAI_API_KEY"),
        shell("printenv LLM_DO_HOSTILE"),
    ];
    let t = project(&calls, "shell", SHELL)
        .env("OPENAI_API_KEY", "sk-hostile-KEY-42")
        .env("LLM_DO_HOSTILE", "visible-only-if-listed");
    symlink(&format!("{o}/secret.txt"), &t.path().join("link"));
    let before = tree(outside.path());
    let out = t.run_with(&["run", "h", "go"]);
    out.status(0);
    let text = out.stdout.replace(&o, "[OUTSIDE]");
    assert_eq!(
        text,
        "error: shell command refused: argument `1w[OUTSIDE]/x` points outside the project root (it may name `[OUTSIDE]/x`); use paths relative to the project root, not glued to options, through folders that exist\n\
         error: shell command refused: argument `-t[OUTSIDE]` points outside the project root (it may name `[OUTSIDE]`); use paths relative to the project root, not glued to options, through folders that exist\n\
         error: shell command refused: argument `--target-directory=[OUTSIDE]` points outside the project root; use paths relative to the project root\n\
         error: shell command refused: argument `link` points outside the project root; use paths relative to the project root, not glued to options, through folders that exist\n\
         exit code: 0\n--- stdout ---\nnotes\n\
         exit code: 1\n(no output)\n\
         exit code: 1\n(no output)\n",
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("sk-hostile") && !out.stderr.contains("sk-hostile"));
    assert_eq!(tree(outside.path()), before);
    // `[shell] env` passes a listed variable.
    let listed = format!("{SHELL}env = [\"LLM_DO_HOSTILE\"]\n");
    let t = project(&[shell("printenv LLM_DO_HOSTILE")], "shell", &listed)
        .env("LLM_DO_HOSTILE", "visible-only-if-listed");
    let out = t.run_with(&["run", "h", "go"]);
    assert_eq!(
        out.stdout,
        "exit code: 0\n--- stdout ---\nvisible-only-if-listed\n\n"
    );
}

#[test]
fn shell_commands_cannot_rewrite_the_protected_set() {
    // A model under plain `cp`/`sed` rules tries to replace the policy script, the config and a
    // git hook: by name, glued to options, in another case, and through a symlink made earlier.
    let calls = [
        shell("cp notes/a.md scripts/model.rhai"),
        shell("sed -i s,fn,xx, scripts/model.rhai"),
        shell("cp notes/a.md -tscripts"),
        shell("cp notes/a.md LLM-DO.TOML"),
        shell("cp notes/a.md .git/hooks/pre-commit"),
        shell("cp notes/a.md notes/code/model.rhai"),
    ];
    let t = project(&calls, "shell", SHELL).file(".git/hooks/keep", "hook");
    symlink("../scripts", &t.path().join("notes/code"));
    let before = tree(t.path());
    let out = t.run_with(&["run", "h", "go", "--approve-all"]);
    out.status(0);
    let refused: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("which is protected"))
        .collect();
    assert_eq!(refused.len(), calls.len(), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(tree(t.path()), before, "{}", out.stdout);
    // A rule that says `protected = true` lets its commands name the set.
    let allowed = "[shell]\nallow = [{ prefix = \"cp\", approval = false, protected = true }]\n";
    let t = project(&[shell("cp notes/a.md scripts/copy.txt")], "shell", allowed);
    let out = t.run_with(&["run", "h", "go"]);
    assert_eq!(out.stdout, "exit code: 0\n(no output)\n", "{}", out.stderr);
    assert!(t.path().join("scripts/copy.txt").exists());
}

/// Wait for `child` at most `limit`; kill it and fail when it hangs.
pub(crate) fn wait_or_kill(mut child: Child, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("llm-do hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
}

#[test]
fn fifos_are_refused_by_read_file_and_read_text_without_hanging() {
    let calls = [json!({"name": "read_file", "args": {"path": "notes/pipe"}})];
    let t = project(&calls, "fs_ro", "").file("fifo.rhai", "read_text(\"notes/pipe\")\n");
    mkfifo(&t.path().join("notes/pipe"));
    let mut cmd = t.command(&["run", "h", "go"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = wait_or_kill(cmd.spawn().unwrap(), Duration::from_secs(20));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "error: `notes/pipe` is a FIFO (named pipe), not a regular file or folder\n"
    );
    let mut cmd = t.command(&["fifo.rhai"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = wait_or_kill(cmd.spawn().unwrap(), Duration::from_secs(20));
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    insta::assert_snapshot!(stderr, @r#"
         x `notes/pipe` is a FIFO (named pipe), not a regular file or folder
          ,-[fifo.rhai:1:1]
        1 | read_text("notes/pipe")
          : |
          : `-- here
          `----
        "#);
}

/// Whether a process with exactly this command line runs (Linux `/proc`).
/// Whether a process with exactly `cmdline` (words split on spaces) is running.
pub(crate) fn running(cmdline: &str) -> bool {
    let wanted: Vec<u8> = cmdline
        .split(' ')
        .flat_map(|w| w.bytes().chain([0]))
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
}

#[test]
fn ctrl_c_during_a_shell_command_kills_its_process_group_at_once() {
    if !Path::new("/proc/self/cmdline").exists() {
        return;
    }
    // A unique duration, to find the child among the machine's processes.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let sleep = format!("sleep 300.{nanos}");
    let calls = [shell(&sleep)];
    let config = "[shell]\nallow = [{ prefix = \"sleep\", approval = false }]\n";
    // After the interrupted tool call the model takes a moment to answer, as a real one does;
    // an instant answer could win the run loop's race with the cancellation and end the run
    // normally (exit 0).
    let slow = "fn hostile(request) {\n  if request.turn == 0 { return #{tool_calls: [#{name: \"shell\", args: #{command: \"SLEEP\"}}]}; }\n  let i = 0;\n  while i < 2000000 { i += 1; }\n  \"done\"\n}\n"
        .replace("SLEEP", &sleep);
    let t = project(&calls, "shell", config).script("model", &slow);
    let mut cmd = t.command(&["run", "h", "go"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let start = Instant::now();
    while !running(&sleep) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = wait_or_kill(child, Duration::from_secs(10));
    // 130 from the cancelled run; 1 when the run loop sees the script model's own "interrupted"
    // error first (a race in the run loop's select, not in the shell tool).
    assert!(
        matches!(out.status.code(), Some(130 | 1)),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    while running(&sleep) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "`{sleep}` outlived llm-do"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 29: a model that asks a fn to sleep for `1e300` ms (or infinity, or NaN) gets a tool
/// error back, never a panic ("overflow when adding duration to instant").
#[test]
fn a_model_cannot_crash_llm_do_with_an_endless_sleep() {
    let model = "fn hostile(request) {\n  if request.turn == 0 {\n    #{tool_calls: [#{name: \"nap\", args: #{ms: 1.0e300}}, #{name: \"nap\", args: #{ms: -1.0e300}}]}\n  } else {\n    let out = [];\n    for r in request.messages[-1].tool_results { out.push(r.content); }\n    out.reduce(|acc, s| if acc == () { s } else { acc + \"\\n\" + s })\n  }\n}\n";
    let t = Test::new()
        .worker(
            "h",
            "---\nmodel: script:hostile\ntoolsets: [nap]\n---\nGo.\n",
        )
        .script("model", model)
        .script(
            "nap",
            "/// Rest a while.\n/// ms: number\nfn nap(ms) { sleep(ms); \"rested\" }\n",
        );
    let out = t.run_with(&["run", "h", "go"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "error: argument `ms` is too large: at most 86400000 ms (one day)\nrested\n"
    );
    assert_eq!(out.stderr, "");
}

/// Issue 29: `init` checks every file it would write before writing any: a dangling symlink at
/// one target, or a folder on the way that is a symlink, refuses the whole init.
#[test]
fn init_refuses_a_dangling_symlink_or_a_symlinked_folder_and_writes_nothing() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("proj/tests")).unwrap();
    std::fs::create_dir_all(t.path().join("outside")).unwrap();
    symlink("../../gone.jsonl", &t.path().join("proj/tests/shout.jsonl"));
    symlink("../outside", &t.path().join("proj/workers"));
    let before = tree(t.path());
    let out = t.run_with(&["init", "proj"]);
    out.status(2);
    assert_eq!(
        out.stderr,
        "error: `llm-do init` would overwrite `proj/workers` (a symlink), `proj/tests/shout.jsonl` (a symlink); nothing was written\n  hint: run it in an empty folder, or pass one: `llm-do init DIR`\n"
    );
    assert_eq!(tree(t.path()), before);
    assert!(!t.path().join("proj/llm-do.toml").exists());
    assert!(!t.path().join("gone.jsonl").exists());
}

/// Issue 29: the run log never follows a planted `.llm-do/` or `log.db` (a symlink, dangling
/// or not, a hard link, a WAL file that is a symlink) out of the project: the run ends with a
/// clear error, and the file outside is neither created nor changed.
#[test]
fn the_run_log_refuses_planted_links_and_never_touches_the_outside() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.db");
    let plant = |t: &Test, case: &str| {
        let state = t.path().join(".llm-do");
        std::fs::write(&victim, b"not llm-do's").unwrap();
        match case {
            "dir" => std::os::unix::fs::symlink(outside.path(), &state).unwrap(),
            "file" => std::fs::create_dir(&state)
                .and_then(|()| std::os::unix::fs::symlink(&victim, state.join("log.db")))
                .unwrap(),
            "dangling" => {
                std::fs::remove_file(&victim).unwrap();
                std::fs::create_dir(&state).unwrap();
                std::os::unix::fs::symlink(&victim, state.join("log.db")).unwrap();
            }
            "hard" => std::fs::create_dir(&state)
                .and_then(|()| std::fs::hard_link(&victim, state.join("log.db")))
                .unwrap(),
            "wal" => std::fs::create_dir(&state)
                .and_then(|()| std::os::unix::fs::symlink(&victim, state.join("log.db-wal")))
                .unwrap(),
            _ => unreachable!(),
        }
    };
    for (case, path, why) in [
        ("dir", ".llm-do", "is a symlink"),
        ("file", ".llm-do/log.db", "is a symlink"),
        ("dangling", ".llm-do/log.db", "is a symlink"),
        ("hard", ".llm-do/log.db", "has another hard link"),
        ("wal", ".llm-do/log.db-wal", "is a symlink"),
    ] {
        let t = Test::new()
            .worker("w", "---\nmodel: test\n---\nHi.\n")
            .file("main.rhai", "call(\"w\", \"hello\")\n");
        plant(&t, case);
        let before: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let victim_before = std::fs::read(&victim).ok();
        let expected = format!(
            "error: refusing the run log: `[PROJECT]/{path}` {why}; llm-do writes its log only to a real `.llm-do/log.db` inside the project\n  hint: pass `--no-log`, or set `[log] enabled = false` in llm-do.toml\n"
        );
        // The run's result is not lost; the run fails after it, naming the log.
        let out = t.run_with(&["main.rhai"]);
        out.status(1);
        assert_eq!(out.stdout, "test reply: hello\n", "{case}");
        assert_eq!(out.stderr, expected, "{case}");
        // Reading it is refused too (or finds no log): either way nothing outside is opened.
        let out = t.run_with(&["logs"]);
        assert_ne!(out.status, 0, "{case}");
        let after: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(after, before, "{case}: files appeared outside the project");
        assert_eq!(std::fs::read(&victim).ok(), victim_before, "{case}");
        // Without the log the run goes ahead.
        t.run_with(&["main.rhai", "--no-log"]).status(0);
        let _ = std::fs::remove_file(&victim);
    }
}

/// Whether `text` holds anything that acts on a terminal: a control other than newline and
/// tab, or a bidi override.
fn has_terminal_controls(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c)
    })
}

/// Issue 29: what a model puts in a tool argument (a window title, a screen clear, a carriage
/// return forging a line, a C1 control, a bidi override) is shown escaped by every face: the
/// `-v` tree, `logs`, `logs --json`, `logs show` and errors. The JSON forms decode to the text
/// the model sent.
#[test]
fn terminal_controls_from_a_model_are_shown_escaped_everywhere() {
    const EVIL: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\rforged\u{9b}\u{202e}gpj.exe";
    let model = "fn hostile(request) {\n  if request.turn == 0 { return #{tool_calls: [#{name: \"note\", args: #{text: \"\\x1b]0;pwned\\x07\\x1b[2J\\rforged\\u009b\\u202egpj.exe\"}}]}; }\n  request.messages[-1].tool_results[0].content\n}\n";
    let t = Test::new()
        .worker("h", "---\nmodel: script:hostile\ntoolsets: [note]\n---\nGo.\n")
        .script("model", model)
        .script("note", "/// Take a note.\n/// text: string\nfn note(text) { throw text; }\n")
        .file("fail.rhai", "call(\"note\", #{text: \"\\x1b]0;pwned\\x07\\x1b[2J\\rforged\\u009b\\u202egpj.exe\"})\n");
    // The result itself goes to a pipe here: data, as it is (escaped only on a terminal).
    let out = t.run_with(&["run", "h", "go", "-vv"]);
    out.status(0);
    assert_eq!(out.stdout, format!("error: {EVIL}\n"));
    assert!(!has_terminal_controls(&out.stderr), "{:?}", out.stderr);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r#"
            ▶ neural h ← {"input":"go"}
              → script:hostile turn 0: go
              ← script:hostile: note({"text":"\u001b]0;pwned\u0007\u001b[2J\rforged\u{9b}\u{202e}gpj.exe"}) [stop: tool_calls]
              ? note approved (by default)
              ▶ symbolic note ← {"text":"\u001b]0;pwned\u0007\u001b[2J\rforged\u{9b}\u{202e}gpj.exe"}
              ✗ note [T] ms: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe
              → script:hostile turn 1: note = error: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe
              ← script:hostile: error: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe [stop: stop]
            ✓ h [T] ms → error: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe
            total: 2 model calls, 0 in / 0 out tokens
              h: 2 model calls, 0 in / 0 out tokens
            "#);
    });
    // An error carrying the text, plain and located.
    let out = t.run_with(&["fail.rhai"]);
    out.status(1);
    assert!(!has_terminal_controls(&out.stderr), "{:?}", out.stderr);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r#"
              x \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe
               ,-[scripts/note.rhai:3:17]
             2 | /// text: string
             3 | fn note(text) { throw text; }
               :                 |
               :                 `-- here
               `----

            Error: 
              x in the call to `note`
               ,-[fail.rhai:1:6]
             1 | call("note", #{text: "\x1b]0;pwned\x07\x1b[2J\rforged\u009b\u202egpj.exe"})
               :      |
               :      `-- called here
               `----
            "#);
    });
    let out = t.run_with(&["logs"]);
    out.status(0);
    assert!(!has_terminal_controls(&out.stdout), "{:?}", out.stdout);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stdout, @r#"
            [TIME]  [RUN]:1  fn      note  [T] ms  error: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe (at scripts/note.rhai:3)
            [TIME]  [RUN]:2  fn      note  [T] ms  error: \x1b]0;pwned\x07\x1b[2J\rforged\u{9b}\u{202e}gpj.exe
            [TIME]  [RUN]:1  worker  h  [T] ms  → "error: \u001b]0;pwned\u0007\u001b[2J\rforged\u{9b}\u{202e}gpj.exe"
            "#);
    });
    let out = t.run_with(&["logs", "--json"]);
    out.status(0);
    assert!(!has_terminal_controls(&out.stdout), "{:?}", out.stdout);
    let rows = out.json();
    let errors: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert!(errors.iter().any(|e| e.contains(EVIL)), "{errors:?}");
    let id = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "note")
        .map(|r| format!("{}:{}", r["run"].as_str().unwrap(), r["id"]))
        .unwrap();
    let out = t.run_with(&["logs", "show", &id]);
    out.status(0);
    assert!(!has_terminal_controls(&out.stdout), "{:?}", out.stdout);
    assert_eq!(out.json()["input"]["text"], EVIL);
}

/// Issue 29: at `-vvv` the HTTP bodies, which hold what a model wrote, are escaped too (JSON
/// leaves C1 controls and bidi overrides raw).
#[tokio::test(flavor = "multi_thread")]
async fn http_bodies_at_vvv_show_terminal_controls_escaped() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(crate::faults::text_reply("a\u{9b}2J\u{202e}gpj.exe")),
        )
        .mount(&server)
        .await;
    let t = Test::new()
        .config(&crate::faults::config(&server.uri()))
        .worker("w", "---\nmodel: local:m\n---\nHi.\n");
    let (_t, out) = crate::util::run(t, &["run", "w", "go", "-vvv"]).await;
    out.status(0);
    assert!(!has_terminal_controls(&out.stderr), "{:?}", out.stderr);
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(out.stderr, @r#"
            ▶ neural w ← {"input":"go"}
              → local:m turn 0: go
            TRACE llm_do::http: POST http://127.0.0.1:[PORT]/v1/chat/completions: {"model":"m","messages":[{"role":"system","content":"Hi."},{"role":"user","content":"go"}],"max_tokens":4096}
            TRACE llm_do::http: HTTP 200 from http://127.0.0.1:[PORT]/v1/chat/completions
            TRACE llm_do::http: reply from http://127.0.0.1:[PORT]/v1/chat/completions: {"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"a\u{9b}2J\u{202e}gpj.exe"}}]}
              ← local:m: a\u{9b}2J\u{202e}gpj.exe [stop: stop]
            ✓ w [T] ms → a\u{9b}2J\u{202e}gpj.exe
            total: 1 model call, 0 in / 0 out tokens
              w: 1 model call, 0 in / 0 out tokens
            "#);
    });
}
