//! Interrupts: SIGINT (Ctrl-C) and SIGTERM stop a run with exit code 130, and every file the
//! run was writing is either its old content or its complete new content, with no temporary
//! file left behind. Tests wait for observable progress (a file changed, a connection
//! arrived) before signalling, never for a fixed time.

#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::faults::temp_files;
use crate::util::Test;

/// Size of each version the looping script writes.
const BIG: usize = 2_000_000;

/// Writes a large file over and over: `N:` followed by `BIG` copies of `n`.
const WRITER: &str = "let big = \"\";\nbig.pad(2000000, 'n');\nlet i = 0;\nloop {\n  i += 1;\n  write_text(\"out/big.txt\", i.to_string() + \":\" + big);\n}\n";

fn spawn(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("llm-do"));
    cmd.current_dir(dir)
        .args(args)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env_remove("LLM_DO_MODEL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn llm-do")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Polls until `done` holds; gives up (failing the test) only after a very long time, so a
/// slow machine never makes the test flaky.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..12_000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}

/// Whether `text` is one complete version written by [`WRITER`].
fn is_complete_version(text: &str) -> bool {
    text.split_once(':').is_some_and(|(n, rest)| {
        n.parse::<u64>().is_ok() && rest.len() == BIG && rest.bytes().all(|b| b == b'n')
    })
}

fn interrupt_a_writing_script(signal_name: &str) {
    let t = Test::new()
        .file("main.rhai", WRITER)
        .file("out/big.txt", "old");
    let target = t.path().join("out/big.txt");
    let child = spawn(t.path(), &["main.rhai"]);
    wait_for("the first write", || {
        std::fs::read_to_string(&target).is_ok_and(|text| text != "old")
    });
    signal(&child, signal_name);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(
        is_complete_version(&text),
        "torn file: {} bytes",
        text.len()
    );
    assert_eq!(temp_files(t.path()), Vec::<String>::new());
}

#[test]
fn sigint_during_writes_leaves_whole_files_and_exits_130() {
    interrupt_a_writing_script("INT");
}

#[test]
fn sigterm_during_writes_leaves_whole_files_and_exits_130() {
    interrupt_a_writing_script("TERM");
}

#[test]
fn sigint_during_fan_out_writes_leaves_whole_files_and_exits_130() {
    let script = "fn writer(name) {\n  let big = \"\";\n  big.pad(2000000, 'n');\n  let i = 0;\n  loop { i += 1; write_text(name, i.to_string() + \":\" + big); }\n}\nparallel([|| writer(\"out/a.txt\"), || writer(\"out/b.txt\"), || writer(\"out/c.txt\")])\n";
    let names = ["out/a.txt", "out/b.txt", "out/c.txt"];
    let mut t = Test::new().file("main.rhai", script);
    for name in names {
        t = t.file(name, "old");
    }
    let child = spawn(t.path(), &["main.rhai"]);
    for name in names {
        let target = t.path().join(name);
        wait_for(name, || {
            std::fs::read_to_string(&target).is_ok_and(|text| text != "old")
        });
    }
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    for name in names {
        let text = std::fs::read_to_string(t.path().join(name)).unwrap();
        assert!(
            is_complete_version(&text),
            "{name} torn: {} bytes",
            text.len()
        );
    }
    assert_eq!(temp_files(t.path()), Vec::<String>::new());
}

#[test]
fn sigterm_during_a_model_call_exits_130() {
    let (base, connections) = crate::faults::raw_server(crate::faults::stall);
    let worker = "---\nmodel: local:m\n---\nDo it.\n";
    let script = "write_text(\"out/before.txt\", \"kept\");\ncall(\"w\", \"x\");\nwrite_text(\"out/after.txt\", \"no\");\n";
    let t = Test::new()
        .config(&crate::faults::config(&base))
        .worker("w", worker)
        .file("main.rhai", script);
    let child = spawn(t.path(), &["main.rhai"]);
    wait_for("the model request", || {
        connections.load(Ordering::SeqCst) > 0
    });
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/before.txt")).unwrap(),
        "kept"
    );
    assert!(!t.path().join("out/after.txt").exists());
    assert_eq!(temp_files(t.path()), Vec::<String>::new());
}

#[test]
fn the_completeness_check_rejects_torn_files() {
    assert!(is_complete_version(&format!("12:{}", "n".repeat(BIG))));
    assert!(!is_complete_version(&format!("12:{}", "n".repeat(BIG - 1))));
    assert!(!is_complete_version("old"));
}

/// Runs `script` (which writes `out/ready.txt` right before it sleeps for ten minutes),
/// signals it once ready, and returns its exit code, stderr and how long it took to stop.
fn interrupt_a_sleep(script: &str, signal_name: &str) -> (Option<i32>, String, Duration) {
    let t = Test::new().file("main.rhai", script);
    let child = spawn(t.path(), &["main.rhai"]);
    let ready = t.path().join("out/ready.txt");
    wait_for("the script to sleep", || ready.exists());
    // Give the write time to return and the sleep to start.
    std::thread::sleep(Duration::from_millis(50));
    let signalled = Instant::now();
    signal(&child, signal_name);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, signalled.elapsed())
}

/// Far less than the ten minutes the scripts sleep, far more than a slow machine needs.
const PROMPTLY: Duration = Duration::from_secs(20);

#[test]
fn one_signal_stops_a_direct_sleep_with_130() {
    let script = "write_text(\"out/ready.txt\", \"1\");\nsleep(600000);\n";
    for name in ["INT", "TERM"] {
        let (code, stderr, took) = interrupt_a_sleep(script, name);
        assert_eq!(code, Some(130), "SIG{name}: {stderr}");
        assert!(stderr.contains("interrupted"), "SIG{name}: {stderr}");
        assert!(took < PROMPTLY, "SIG{name} took {took:?}");
    }
}

#[test]
fn one_signal_stops_a_sleep_through_call_with_130() {
    let script = "write_text(\"out/ready.txt\", \"1\");\ncall(\"sleep\", #{ms: 600000});\n";
    for name in ["INT", "TERM"] {
        let (code, stderr, took) = interrupt_a_sleep(script, name);
        assert_eq!(code, Some(130), "SIG{name}: {stderr}");
        assert!(!stderr.contains("llm-do:cancelled"), "{stderr}");
        assert!(took < PROMPTLY, "SIG{name} took {took:?}");
    }
}

#[test]
fn one_signal_stops_sleep_inside_try_and_std_retry_with_130() {
    let script = "import \"std/retry\" as retry;\nwrite_text(\"out/ready.txt\", \"1\");\ntry { sleep(600000); } catch { }\nretry::backoff(|| throw \"again\", 3, 600000)\n";
    let (code, stderr, took) = interrupt_a_sleep(script, "INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < PROMPTLY, "took {took:?}");
}

#[test]
fn one_signal_stops_sleeping_fan_out_branches_with_130() {
    let script = "write_text(\"out/ready.txt\", \"1\");\nparallel([|| sleep(600000), || call(\"sleep\", 600000)])\n";
    let (code, stderr, took) = interrupt_a_sleep(script, "INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < PROMPTLY, "took {took:?}");
}

#[test]
fn a_failing_branch_stops_its_sleeping_siblings_at_once() {
    let fns = "fn slow() { sleep(600000); 1 }\nfn bad() { sleep(50); throw \"boom\" }\n";
    for fan_out in [
        "parallel([|| sleep(600000), || call(\"sleep\", 600000), || bad()])",
        "call_all([[\"slow\", #{}], [\"bad\", #{}]])",
    ] {
        let started = Instant::now();
        let run = Test::new()
            .file("main.rhai", &format!("{fns}{fan_out}\n"))
            .run_with(&["main.rhai"]);
        run.status(1);
        assert!(run.stderr.contains("boom"), "{}", run.stderr);
        let took = started.elapsed();
        assert!(took < PROMPTLY, "{fan_out} took {took:?}");
    }
}

/// Needs the builtin branch of `call_all` (src/script/fanout.rs) to run inside its branch's
/// cancel scope, as Rhai fn branches do.
#[test]
fn a_failing_item_stops_a_sleeping_builtin_item_at_once() {
    let started = Instant::now();
    let run = Test::new()
        .file(
            "main.rhai",
            "call_all([[\"sleep\", 30000], [\"parse_json\", \"{\"]])\n",
        )
        .run_with(&["main.rhai"]);
    run.status(1);
    let took = started.elapsed();
    assert!(took < PROMPTLY, "took {took:?}");
}

/// Needs `Runtime::call` (src/runtime.rs) to map a builtin's cancellation with
/// `builtins::call_error`.
#[test]
fn one_signal_stops_llm_do_run_sleep_with_130() {
    let t = Test::new();
    let mut child = spawn(
        t.path(),
        &["run", "sleep", "--input-json", "{\"ms\": 600000}"],
    );
    // No file to wait for: give the process time to reach the sleep.
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}
