//! What the run log costs a run (DESIGN §14: under 0.5 ms), measured in one process so that
//! process start-up and scheduling noise stay out of it.
//!
//! - `run_log_one_call`: the log's whole life in a short run against a database that other
//!   runs already wrote (its WAL as they left it): open it, log one worker call, write the
//!   run and close, one step after the other — all the work, though a real run does most of
//!   it on the log's writer thread while it runs. Beside it, `spawn_thread_baseline` spawns and
//!   joins a thread, which the log does once per run.
//! - `run_log_exit_wait`: what a run of 2 ms or more waits for at its end: its last batch (one
//!   worker call and the run's row) handed to the writer, committed, and the log closed. The
//!   CLI waits for this only after its async runtime has shut down, so even this overlaps.
//! - `run_log_tool_loop_x1000`: what the log does for a 1,000-call tool loop, fed the events
//!   such a run sends it (one worker call; per round trip a model response, an approval
//!   decision and a fn call with its input and output), written and closed. Its share of a
//!   1,000-call loop is this over the loop's own CPU that `bench/run.sh` measures.
//!
//! After divan's table, the tool loop's log work is measured once more as CPU time of every
//! thread (the log's writer works beside the run, so its wall time hides part of it).
//!
//! Run with `cargo bench --bench log`; figures go to `docs/performance.md`.

use std::time::Duration;

use llm_do::approval::{DecidedBy, Outcome, Verdict};
use llm_do::log::{Retention, RunLog, RunStatus};
use llm_do::model::{ModelResponse, Usage};
use llm_do::trace::{ApprovalEvent, CallEnd, CallStart, Kind, ModelResponseEvent, Observer};
use serde_json::json;

fn main() {
    divan::main();
    tool_loop_cpu();
}

/// The CPU time (every thread of the process: the run's and the log's writer) of the log's
/// work for a 1,000-call tool loop, printed after divan's table: the figure to set against
/// the loop's own CPU from `bench/run.sh`.
fn tool_loop_cpu() {
    use nix::time::{ClockId, clock_gettime};
    let cpu = || Duration::from(clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = llm_do::log::path_in(dir.path());
    for _ in 0..20 {
        tool_loop(&path);
    }
    let mut spent: Vec<Duration> = (0..40)
        .map(|_| {
            let before = cpu();
            tool_loop(&path);
            cpu() - before
        })
        .collect();
    spent.sort();
    println!(
        "run_log_tool_loop_x1000, CPU of all threads: median {:.2} ms, fastest {:.2} ms (40 runs)",
        spent[20].as_secs_f64() * 1000.0,
        spent[0].as_secs_f64() * 1000.0
    );
}

/// One run's log: start, one worker call, finish.
fn one_run(path: &std::path::Path) {
    let log = RunLog::start(path, "run greeter Ada", Retention::default()).unwrap();
    one_call(&log);
    log.finish().unwrap();
}

/// One worker call, logged.
fn one_call(log: &RunLog) {
    let input = json!({"input": "Ada"});
    let output = json!("Hello, Ada!");
    let id = log.call_start(&CallStart {
        depth: 0,
        parent: None,
        kind: Kind::Neural,
        name: "greeter",
        input: &input,
    });
    log.call_end(
        id,
        &CallEnd {
            depth: 0,
            name: "greeter",
            elapsed: Duration::from_millis(3),
            usage: Usage::default(),
            cost: None,
            result: Ok(&output),
        },
    );
}

/// A short run's whole log, on a database 200 earlier runs wrote.
#[divan::bench(sample_count = 300)]
fn run_log_one_call(b: divan::Bencher) {
    on_a_used_log(b, 200, one_run);
}

/// A short run's wait at its end, the writer having opened the log while the run ran.
#[divan::bench(sample_count = 300)]
fn run_log_exit_wait(b: divan::Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let path = llm_do::log::path_in(dir.path());
    for _ in 0..200 {
        one_run(&path);
    }
    b.with_inputs(|| {
        let log = RunLog::start(&path, "run greeter Ada", Retention::default()).unwrap();
        one_call(&log);
        // The run's own work, during which the writer opens the log.
        std::thread::sleep(Duration::from_millis(2));
        log
    })
    .bench_local_values(|log| log.close_as(RunStatus::Ok).unwrap().wait().unwrap());
}

/// Bench `run` on a log that `earlier` runs of it wrote first.
fn on_a_used_log(b: divan::Bencher, earlier: usize, run: fn(&std::path::Path)) {
    let dir = tempfile::tempdir().unwrap();
    let path = llm_do::log::path_in(dir.path());
    for _ in 0..earlier {
        run(&path);
    }
    b.bench_local(|| run(&path));
}

/// A call's end, 50 µs after its start.
fn end<'a>(name: &'a str, result: &'a serde_json::Value) -> CallEnd<'a> {
    CallEnd {
        depth: 1,
        name,
        elapsed: Duration::from_micros(50),
        usage: Usage::default(),
        cost: None,
        result: Ok(result),
    }
}

/// The log's part of a 1,000-call tool loop (`looper` calling `noop` 1,000 times).
fn tool_loop(path: &std::path::Path) {
    let log = RunLog::start(path, "run looper tools=1000", Retention::default()).unwrap();
    let (input, empty, one) = (json!({"input": "tools=1000"}), json!({}), json!(1));
    let verdict = Verdict {
        outcome: Outcome::Approved,
        decided_by: DecidedBy::Default,
    };
    let response = ModelResponse::default();
    let start = |parent: Option<u64>, kind, name, input| CallStart {
        depth: u32::from(parent.is_some()),
        parent,
        kind,
        name,
        input,
    };
    let worker = log.call_start(&start(None, Kind::Neural, "looper", &input));
    for _ in 0..1000 {
        log.model_response(
            0,
            &ModelResponseEvent {
                depth: 1,
                parent: Some(worker),
                worker: "looper",
                model: "mock:m",
                elapsed: Duration::from_millis(1),
                result: Ok(&response),
            },
        );
        log.approval_event(&ApprovalEvent {
            depth: 1,
            parent: Some(worker),
            tool: "noop",
            input: &empty,
            verdict: &verdict,
        });
        let id = log.call_start(&start(Some(worker), Kind::Symbolic, "noop", &empty));
        log.call_end(id, &end("noop", &one));
    }
    log.call_end(worker, &end("looper", &one));
    log.finish().unwrap();
}

/// The log's work for a 1,000-call tool loop, on a database 20 such runs wrote.
#[divan::bench(sample_count = 40)]
fn run_log_tool_loop_x1000(b: divan::Bencher) {
    on_a_used_log(b, 20, tool_loop);
}

/// Baseline: spawning and joining a thread (the log opens the database on one).
#[divan::bench(sample_count = 300)]
fn spawn_thread_baseline(b: divan::Bencher) {
    b.bench_local(|| std::thread::spawn(|| 1).join().unwrap());
}
