//! Host fns (issue 36): fns whose body is the embedding program's, registered through the
//! embedding API (`llm_do::session`), reached by every path a project fn is: by name, by a
//! script's `call()`, by a worker's model as a tool, and as the code side of `[stabilize]`;
//! they survive a reload. The Python bindings build on exactly this.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use llm_do::cancel::CancelScope;
use llm_do::script::host::HostFn;
use llm_do::session::{OpenOptions, Session};
use serde_json::{Value, json};

/// A project in a temp dir made of `files` (path, text).
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("dirs");
        std::fs::write(p, text).expect("write");
    }
    dir
}

/// `shout(text)`: the text in capitals; every call's arguments are kept in `seen`.
fn shout(seen: Arc<Mutex<Vec<Value>>>) -> Arc<HostFn> {
    Arc::new(HostFn::blocking(
        "shout",
        "Say the text loudly.",
        json!({"type": "object", "properties": {"text": {"type": "string", "description": "what to say"}}, "required": ["text"], "additionalProperties": false}),
        move |args| {
            seen.lock().expect("lock").push(args.clone());
            Ok(json!(
                args["text"].as_str().unwrap_or_default().to_uppercase()
            ))
        },
    ))
}

fn open(root: &Path, hosts: Vec<Arc<HostFn>>) -> Session {
    let options = OpenOptions {
        model: Some("test".into()),
        log: false,
    };
    Session::open(root, &options, hosts, None).expect("the project opens")
}

const CLEANER: &str = "---\nname: cleaner\ntoolsets: [shout]\n---\nClean the text.\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_host_fn_is_called_by_name_by_a_script_and_by_a_workers_model() {
    let dir = project(&[
        ("workers/cleaner.worker", CLEANER),
        (
            "scripts/main.rhai",
            "call(\"shout\", #{text: args[0]}) + \"!\"\n",
        ),
    ]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = open(dir.path(), vec![shout(seen.clone())]);

    let direct = s
        .call("shout", json!({"text": "hi"}), CancelScope::default())
        .await;
    assert_eq!(direct.expect("called"), json!("HI"));

    let script = dir.path().join("scripts/main.rhai");
    let out = s.run_script(&script, vec!["hey".into()]).await;
    assert_eq!(out.expect("ran"), json!("HEY!"));

    // The test model calls each tool once (arguments from its schema), then answers with the
    // last tool result: the host fn's output came back through the worker run.
    let worker = s
        .call("cleaner", json!("quiet words"), CancelScope::default())
        .await;
    assert_eq!(worker.expect("worker ran"), json!("QUIET WORDS"));
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            json!({"text": "hi"}),
            json!({"text": "hey"}),
            json!({"text": "quiet words"})
        ]
    );
    s.close(true).await.expect("closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_fns_arguments_are_checked_by_the_seam_against_its_schema() {
    let dir = project(&[("llm-do.toml", "")]);
    let s = open(dir.path(), vec![shout(Arc::default())]);
    let err = s
        .call("shout", json!({"text": 3}), CancelScope::default())
        .await
        .expect_err("an integer is not a string");
    assert_eq!(
        err.to_string(),
        "bad arguments for `shout`: argument `text` must be a string, not an integer (3)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_fn_serves_a_stabilized_name_and_stays_across_a_reload() {
    let dir = project(&[
        ("llm-do.toml", "[stabilize]\ncleaner = \"worker\"\n"),
        (
            "workers/cleaner.worker",
            "---\nname: cleaner\ninput:\n  text: {type: string}\n---\nClean the text.\n",
        ),
        ("scripts/main.rhai", "call(\"cleaner\", #{text: args[0]})\n"),
    ]);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let cleaner = Arc::new(HostFn::blocking(
        "cleaner",
        "Clean the text in code.",
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        move |args| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(json!(
                args["text"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_lowercase()
            ))
        },
    ));
    let s = open(dir.path(), vec![cleaner]);
    let script = dir.path().join("scripts/main.rhai");

    let by_worker = s.run_script(&script, vec!["  Mixed Case ".into()]).await;
    assert_eq!(by_worker.expect("ran"), json!("test reply:   Mixed Case "));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // The same call site, now served by the host fn: only llm-do.toml changed.
    std::fs::write(
        dir.path().join("llm-do.toml"),
        "[stabilize]\ncleaner = \"code\"\n",
    )
    .expect("write");
    s.reload().expect("reloads");
    let by_code = s.run_script(&script, vec!["  Mixed Case ".into()]).await;
    assert_eq!(by_code.expect("ran"), json!("mixed case"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_fn_may_not_take_a_workers_name_outside_stabilize() {
    let dir = project(&[("workers/shout.worker", "---\nname: shout\n---\nShout.\n")]);
    let options = OpenOptions::default();
    let err = Session::open(dir.path(), &options, vec![shout(Arc::default())], None)
        .err()
        .expect("the name is taken");
    assert_eq!(
        llm_do::report::error_json(&err),
        json!({
            "error": "the host fn `shout` has the name of the worker in `workers/shout.worker`",
            "help": "names share one namespace: rename one of them, or name it under `[stabilize]` to switch between the worker and the host fn",
            "code": 2,
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_folder_that_does_not_exist_is_a_usage_error_naming_it() {
    let dir = project(&[("llm-do.toml", "")]);
    let missing = dir.path().join("missing");
    let err = Session::open(&missing, &OpenOptions::default(), Vec::new(), None)
        .err()
        .expect("there is no such folder");
    let error = format!(
        "cannot use project `{}`: No such file or directory (os error 2)",
        missing.display()
    );
    assert_eq!(
        llm_do::report::error_json(&err),
        json!({"error": error, "code": 2})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_host_fn_is_a_call_error_naming_it() {
    let dir = project(&[("llm-do.toml", "")]);
    let broken = HostFn::blocking(
        "broken",
        "",
        json!({"type": "object", "properties": {}}),
        |_| Err("ValueError: no".to_string()),
    );
    let s = open(dir.path(), Vec::new());
    s.add_host(broken).expect("added after opening");
    let err = s
        .call("broken", Value::Null, CancelScope::default())
        .await
        .expect_err("it fails");
    assert_eq!(err.to_string(), "fn `broken` failed: ValueError: no");
    let json = llm_do::report::error_json(&err);
    assert_eq!(
        json,
        json!({"error": "fn `broken` failed: ValueError: no", "code": 1})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_the_call_tree_stops_waiting_for_a_host_fn() {
    let dir = project(&[("llm-do.toml", "")]);
    let never = HostFn {
        name: "never".into(),
        description: "Never answers.".into(),
        schema: json!({"type": "object", "properties": {}}),
        handler: Arc::new(|_| Box::pin(std::future::pending())),
    };
    let s = open(dir.path(), vec![Arc::new(never)]);
    let scope = CancelScope::default().child();
    let call = s.call("never", Value::Null, scope.clone());
    let cancel = async {
        tokio::task::yield_now().await;
        scope.cancel();
        std::future::pending::<()>().await;
    };
    // Without cancellation the call would never end: the bound only keeps a broken build
    // from hanging the suite.
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        tokio::select! {
            out = call => out,
            () = cancel => unreachable!(),
        }
    })
    .await
    .expect("the cancelled call ended");
    assert_eq!(out.expect_err("cancelled").to_string(), "interrupted");
}

/// The runs of the run log of the project in `root`, as `llm-do logs --runs` lists them:
/// (status, calls).
fn logged_runs(root: &Path) -> Vec<(Option<String>, i64)> {
    let conn = llm_do::log::open(&llm_do::log::path_in(root)).expect("the log opens");
    let runs = llm_do::log::runs(&conn, &llm_do::log::Window::default(), 10).expect("runs");
    runs.into_iter().map(|r| (r.status, r.calls)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_in_one_process_each_close_their_own_run_in_their_own_log() {
    let (a, b) = (
        project(&[("llm-do.toml", "")]),
        project(&[("llm-do.toml", "")]),
    );
    // The first as a command opens it (its log's last write left to the caller to wait for),
    // the second as an embedding program does; both open at once.
    let mut settings = llm_do::session::settings(None, a.path(), true).expect("settings");
    settings.model_override = Some("test".into());
    let first = Session::of(&settings)
        .open_with(|runtime| runtime.hosts(vec![shout(Arc::default())]))
        .expect("opens");
    let logged = OpenOptions {
        model: Some("test".into()),
        log: true,
    };
    let second =
        Session::open(b.path(), &logged, vec![shout(Arc::default())], None).expect("opens");
    for text in ["two", "three"] {
        let out = second.call("shout", json!({"text": text}), CancelScope::default());
        assert_eq!(out.await.expect("called"), json!(text.to_uppercase()));
    }
    let closings = llm_do::session::Closings::default();
    let call = first.call("shout", json!({"text": "one"}), CancelScope::default());
    assert_eq!(first.run(&closings, call).await.expect("ran"), json!("ONE"));
    second.close(false).await.expect("the second run closes");
    closings.wait().expect("the first run's log is written");
    assert_eq!(logged_runs(a.path()), vec![(Some("ok".to_string()), 1)]);
    assert_eq!(logged_runs(b.path()), vec![(Some("error".to_string()), 2)]);
}

/// An embedding program's chat refuses a worker whose input is not one string up front, as
/// `llm-do chat` does (it failed on the first turn with a schema error).
#[tokio::test(flavor = "multi_thread")]
async fn a_chat_refuses_a_worker_whose_input_is_not_one_string() {
    let pair = "---\nname: pair\ninput:\n  a: string\n  b: integer\n---\nX\n";
    let dir = project(&[("workers/pair.worker", pair)]);
    let err = open(dir.path(), Vec::new())
        .chat("pair")
        .err()
        .expect("refused");
    assert_eq!(
        llm_do::report::error_json(&err),
        json!({
            "error": "cannot chat with `pair`: a chat line is one string, and its `input` is not (it takes `a`, `b`)",
            "help": "chat with a worker whose `input` is a string (the default) or one string property; run this one with `llm-do run pair --input-json '{...}'`",
            "code": 2
        })
    );
}
