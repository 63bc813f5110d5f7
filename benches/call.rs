//! Micro-benchmarks of the call convention and process start-up (DESIGN §13).
//!
//! Each `call()` benchmark runs 1,000 calls inside one script evaluation, beside a baseline
//! that makes the same 1,000 calls directly, so the ratio is measured in the same run.
//! Run with `cargo bench --bench call`; figures go to `docs/performance.md`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use llm_do::runtime::Runtime;
use llm_do::settings::Settings;
use llm_do::trace::Silent;

fn main() {
    divan::main();
}

const LIB: &str = "fn add(a, b) { a + b }\n";

struct Fixture {
    _dir: tempfile::TempDir,
    _tokio: tokio::runtime::Runtime,
    rt: Arc<Runtime>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::create_dir_all(dir.path().join("workers")).unwrap();
    std::fs::write(dir.path().join("scripts/lib.rhai"), LIB).unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let rt = Runtime::builder(
        Settings::new(dir.path().to_path_buf()),
        tokio.handle().clone(),
        Arc::new(Silent),
    )
    .build()
    .unwrap();
    Fixture {
        _dir: dir,
        _tokio: tokio,
        rt,
    }
}

fn eval_loop(bencher: divan::Bencher, body: &str) {
    let f = fixture();
    let script = format!("let s = 0; for i in 0..1000 {{ s += {body}; }} s");
    let ast = f.rt.rhai.engine.compile(&script).unwrap();
    bencher.bench_local(|| f.rt.eval_script(&ast, Vec::new()).unwrap());
}

/// Baseline: 1,000 direct calls of a Rhai fn.
#[divan::bench]
fn direct_fn_x1000(b: divan::Bencher) {
    eval_loop(b, "add(i, 2)");
}

/// 1,000 `call("add", #{a, b})`: named-argument dispatch through the registry.
#[divan::bench]
fn call_fn_x1000(b: divan::Bencher) {
    eval_loop(b, r#"call("add", #{a: i, b: 2})"#);
}

/// Baseline for builtins: 1,000 direct calls of a native builtin.
#[divan::bench]
fn direct_builtin_x1000(b: divan::Bencher) {
    eval_loop(b, "to_json(i).len()");
}

/// 1,000 `call("to_json", #{value})`.
#[divan::bench]
fn call_builtin_x1000(b: divan::Bencher) {
    eval_loop(b, r#"call("to_json", #{value: i}).len()"#);
}

fn llm_do(args: &[&str], cwd: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_llm-do"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Process start-up: `llm-do --help`.
#[divan::bench(sample_count = 30)]
fn startup_help() {
    llm_do(&["--help"], Path::new(env!("CARGO_MANIFEST_DIR")));
}

/// Process start-up and loading the bundled example: `llm-do check`.
#[divan::bench(sample_count = 30)]
fn startup_check() {
    llm_do(&["check"], Path::new(env!("CARGO_MANIFEST_DIR")));
}

/// Baseline for start-up: spawning `true`.
#[divan::bench(sample_count = 30)]
fn spawn_true_baseline() {
    let status = Command::new("true").status().unwrap();
    assert!(status.success());
}
