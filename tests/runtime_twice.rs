//! One process can run a command twice: each run builds its runtime with the builder, runs a
//! script, settles and closes its run log, and the log then holds both runs whole.

use std::sync::Arc;

use llm_do::log::{Retention, RunLog, RunStatus, Window};
use llm_do::runtime::Runtime;

/// One command: a runtime over `root` logging to its run log, a script calling a project fn,
/// the run settled and its log closed. Returns what the script evaluated to.
fn one_command(handle: &tokio::runtime::Handle, root: &std::path::Path, n: i64) -> String {
    let mut settings = llm_do::settings::Settings::new(root.to_path_buf());
    settings.quiet = true;
    let path = llm_do::log::path_in(root);
    let log = Arc::new(RunLog::start(&path, &format!("run {n}"), Retention::default()).unwrap());
    let _entered = handle.enter();
    let rt = Runtime::builder(settings, handle.clone(), Arc::new(llm_do::trace::Silent))
        .run_log(Some(log))
        .build()
        .unwrap();
    let ast = rt
        .rhai
        .engine
        .compile(format!("call(\"double\", #{{x: {n}}})"))
        .unwrap();
    let script = rt.clone();
    let out = handle
        .block_on(tokio::task::spawn_blocking(move || {
            script.eval_script(&ast, Vec::new()).map(|v| v.to_string())
        }))
        .unwrap()
        .unwrap();
    handle.block_on(rt.settle());
    rt.run_log()
        .unwrap()
        .close_as(RunStatus::Ok)
        .unwrap()
        .wait()
        .unwrap();
    out
}

#[test]
fn a_command_runs_twice_in_one_process_and_the_run_log_gets_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("llm-do.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("scripts/lib.rhai"),
        "fn double(x) { x * 2 }\n",
    )
    .unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let first = one_command(tokio.handle(), dir.path(), 21);
    let second = one_command(tokio.handle(), dir.path(), 5);

    assert_eq!((first.as_str(), second.as_str()), ("42", "10"));
    let conn = llm_do::log::open(&llm_do::log::path_in(dir.path())).unwrap();
    let runs = llm_do::log::runs(&conn, &Window::default(), 10).unwrap();
    let mut seen: Vec<(&str, Option<&str>, i64)> = runs
        .iter()
        .map(|r| (r.command.as_str(), r.status.as_deref(), r.calls))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("run 21", Some("ok"), 1), ("run 5", Some("ok"), 1)]
    );
}
