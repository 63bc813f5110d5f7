//! What every command that runs calls needs: the runtime built from [`Settings`] (the observer
//! for `-v`/`--trace`, the cassette of `--record`/`--replay`, live model text), Ctrl-C
//! handling around the call tree, and the work done at exit.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::log::RunLog;
use crate::model::cassette::Cassette;
use crate::model::prices::dollars;
use crate::output::count;
use crate::report::{Error, ExitCode};
use crate::runtime::{LiveText, Runtime};
use crate::script::host::HostFn;
use crate::settings::Settings;
use crate::trace::{Fanout, JsonlObserver, Observer, Tree};

/// The way out of a run log that cannot be written.
const LOG_HINT: &str = "pass `--no-log`, or set `[log] enabled = false` in llm-do.toml";

/// Run logs whose last batch is being written as their command ends.
static CLOSING: std::sync::Mutex<Vec<crate::log::Closing>> = std::sync::Mutex::new(Vec::new());

/// Wait for the run logs closed by [`finish`]. The CLI calls this last, once its async runtime
/// has shut down: the log's last commit overlaps that teardown instead of adding to it.
///
/// # Errors
///
/// A log could not be opened or written.
pub fn wait_for_logs() -> Result<(), Error> {
    let closing = std::mem::take(&mut *crate::sync::lock(&CLOSING));
    let mut first = Ok(());
    for c in closing {
        if let Err(e) = c.wait() {
            first = first.and(Err(Error::failed(e.to_string()).with_help(LOG_HINT)));
        }
    }
    first
}

/// `settings` for a command whose calls are not live traffic (`check`, `list`, `test`,
/// `stabilize`): they stay out of the run log and out of OpenTelemetry export.
pub fn unlogged(settings: &Settings) -> Settings {
    Settings {
        log: false,
        otel: None,
        ..settings.clone()
    }
}

/// Load the project of `settings` into a runtime; `entry` is the script about to run. Events
/// go to `observer` when given, else to what `-v`/`--trace` select (`trace: false` ignores
/// `--trace`, e.g. for `shadow`, where it names the trace to read).
pub fn runtime(
    settings: &Settings,
    entry: Option<&Path>,
    trace: bool,
    observer: Option<Arc<dyn Observer>>,
) -> Result<Arc<Runtime>, Error> {
    let live: Option<Arc<dyn LiveText>> = (settings.verbosity > 0
        && std::io::stderr().is_terminal())
    .then(|| Arc::new(LivePrinter::default()) as Arc<dyn LiveText>);
    runtime_with_live(settings, entry, trace, observer, live)
}

/// Like [`runtime`], with model text streaming into `live` (`llm-do chat` on a terminal)
/// instead of the `-v` printer.
pub fn runtime_with_live(
    settings: &Settings,
    entry: Option<&Path>,
    trace: bool,
    observer: Option<Arc<dyn Observer>>,
    live: Option<Arc<dyn LiveText>>,
) -> Result<Arc<Runtime>, Error> {
    let command: Vec<String> = std::env::args().collect();
    runtime_logged_as(
        settings,
        entry,
        trace,
        observer,
        live,
        &command.join(" "),
        Extras::default(),
    )
}

/// What a face other than the command line adds to a runtime.
#[derive(Default)]
pub struct Extras {
    /// Who approvals are asked of (`mcp serve`: the MCP client); `None`: the terminal.
    pub prompter: Option<Arc<dyn crate::approval::Prompter>>,
    /// The embedding program's host fns ([`crate::session`]).
    pub hosts: Vec<Arc<HostFn>>,
}

/// The runtime of an embedding program ([`crate::session`]): no live text, the run log
/// records the program's command line, and the program's host fns and prompter are in it.
///
/// # Errors
///
/// As [`runtime`].
pub fn embedded_runtime(settings: &Settings, extras: Extras) -> Result<Arc<Runtime>, Error> {
    let command: Vec<String> = std::env::args().collect();
    runtime_logged_as(settings, None, true, None, None, &command.join(" "), extras)
}

/// Like [`runtime_with_live`], where the run log records the run's command as `command`
/// (`llm-do mcp serve` names the client and the tool called, not its own command line), with
/// what the face adds (`extras`).
pub fn runtime_logged_as(
    settings: &Settings,
    entry: Option<&Path>,
    trace: bool,
    observer: Option<Arc<dyn Observer>>,
    live: Option<Arc<dyn LiveText>>,
    command: &str,
    extras: Extras,
) -> Result<Arc<Runtime>, Error> {
    let observer = match observer {
        Some(o) => o,
        None => self::observer(
            settings.verbosity,
            settings.trace.as_deref().filter(|_| trace),
        )?,
    };
    // Before the run log opens: a malformed endpoint stops the command before anything starts.
    let otel = otel_observer(settings, entry)?;
    let run_log = if settings.log {
        let path = crate::log::path_in(&settings.root);
        let log = RunLog::start(
            &path,
            command,
            crate::log::Retention {
                days: settings.log_retain_days,
                max_mb: settings.log_max_mb,
            },
        )
        .map_err(|e| Error::failed(e.to_string()).with_help(LOG_HINT))?
        .with_max_value_kb(settings.log_max_value_kb);
        Some(Arc::new(log))
    } else {
        None
    };
    // The builder adds the run log to the observers itself.
    let observer = match otel {
        Some(otel) => Fanout::of(vec![observer, otel]),
        None => observer,
    };
    let cassette = cassette(settings.record.as_deref(), settings.replay.as_deref())?;
    let rt = Runtime::builder(
        settings.clone(),
        tokio::runtime::Handle::current(),
        observer,
    )
    .live(live)
    .entry(entry)
    .cassette(cassette)
    .run_log(run_log)
    .prompter(extras.prompter)
    .hosts(extras.hosts)
    .build()?;
    Ok(rt)
}

/// The OpenTelemetry exporter of a run, when export is configured (nothing is built when it
/// is not). Its root span is named after the script `entry` (else `run`) and is a child of
/// the `TRACEPARENT` of the environment when there is a valid one.
fn otel_observer(
    settings: &Settings,
    entry: Option<&Path>,
) -> Result<Option<Arc<dyn Observer>>, Error> {
    let Some(otel) = &settings.otel else {
        return Ok(None);
    };
    let label = entry
        .and_then(Path::file_name)
        .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
    let remote = std::env::var(crate::env_vars::TRACEPARENT)
        .ok()
        .and_then(|tp| {
            let state = std::env::var(crate::env_vars::TRACESTATE).ok();
            crate::trace::otel::parse_traceparent(&tp, state.as_deref())
        });
    let warn: crate::trace::otel::Warn = Arc::new(crate::report::note);
    let exporter =
        crate::trace::otel::OtelObserver::start(otel, &label, remote, warn).map_err(|e| {
            Error::usage(e.to_string()).with_help(
                "check OTEL_EXPORTER_OTLP_ENDPOINT or `[otel] endpoint` in llm-do.toml \
                 (docs/observability.md)",
            )
        })?;
    Ok(Some(Arc::new(exporter)))
}

/// The observer for verbosity `verbosity` and an optional trace file.
pub fn observer(verbosity: u8, trace: Option<&Path>) -> Result<Arc<dyn Observer>, Error> {
    let mut all: Vec<Arc<dyn Observer>> = Vec::new();
    if verbosity > 0 {
        all.push(Arc::new(Tree::new(std::io::stderr(), verbosity)));
    }
    if let Some(path) = trace {
        let jsonl = JsonlObserver::create(path).map_err(|e| {
            Error::usage(format!(
                "cannot create trace file `{}`: {e}",
                path.display()
            ))
        })?;
        all.push(Arc::new(jsonl));
    }
    Ok(Fanout::of(all))
}

/// The cassette of `--record FILE` or `--replay FILE`.
pub fn cassette(
    record: Option<&Path>,
    replay: Option<&Path>,
) -> Result<Option<Arc<Cassette>>, Error> {
    if let Some(path) = replay {
        let c = Cassette::replay(path).map_err(|e| {
            Error::usage(e.to_string())
                .with_help(format!("record one with `--record {}`", path.display()))
        })?;
        return Ok(Some(Arc::new(c)));
    }
    Ok(record.map(|p| Arc::new(Cassette::record(p))))
}

/// At exit: flush the trace, close the run log (`ok`: how the run ended; [`wait_for_logs`]
/// waits for its last write) and write a recorded cassette.
pub fn finish(rt: &Runtime, trace: Option<&Path>, ok: bool) -> Result<(), Error> {
    if !rt.settings.quiet && std::io::stderr().is_terminal() {
        if let Some(figures) = spent_figures(&rt.run.budget.spent()) {
            crate::report::note(&format!("llm-do: {figures}"));
        }
    }
    finish_unsummarized(rt, trace, ok)
}

/// [`finish`] without the spent line: for a command whose own summary line says what was
/// spent (`batch`), so that a run ends with one summary, not two.
///
/// # Errors
///
/// As [`finish`].
pub fn finish_unsummarized(rt: &Runtime, trace: Option<&Path>, ok: bool) -> Result<(), Error> {
    let (closing, done) = finish_closing(rt, trace, ok);
    if let Some(closing) = closing {
        crate::sync::lock(&CLOSING).push(closing);
    }
    done
}

/// At the end of one run of a process that goes on (a call of `llm-do mcp serve`): like
/// [`finish_unsummarized`], but the run log's last write is waited for here.
///
/// # Errors
///
/// As [`finish`], and a run log that could not be written.
pub async fn finish_run(rt: &Runtime, trace: Option<&Path>, ok: bool) -> Result<(), Error> {
    // The shadow side of a `[stabilize]` switch may still run: its row goes in this run.
    rt.settle().await;
    let (closing, done) = finish_closing(rt, trace, ok);
    let Some(closing) = closing else {
        return done;
    };
    match tokio::task::spawn_blocking(move || closing.wait()).await {
        Ok(Ok(())) => done,
        Ok(Err(e)) => Err(Error::failed(e.to_string()).with_help(LOG_HINT)),
        Err(e) => Err(Error::failed(format!("the run log writer failed: {e}"))),
    }
}

/// Stop MCP servers, close the run log (returning its last write), flush the trace, save a
/// recorded cassette (the first failure of these last two).
fn finish_closing(
    rt: &Runtime,
    trace: Option<&Path>,
    ok: bool,
) -> (Option<crate::log::Closing>, Result<(), Error>) {
    rt.shutdown_mcp();
    let status = match ok {
        true => crate::log::RunStatus::Ok,
        false if rt.cancel.is_cancelled() => crate::log::RunStatus::Interrupted,
        false => crate::log::RunStatus::Error,
    };
    let closing = rt.run_log().and_then(|log| log.close_as(status));
    let flushed = rt.observer.flush().map_err(|e| {
        let trace = trace.map(|p| p.display().to_string()).unwrap_or_default();
        Error::failed(format!("cannot write trace `{trace}`: {e}"))
    });
    let saved = rt.cassette().map_or(Ok(()), |c| {
        c.save().map_err(|e| Error::failed(e.to_string()))
    });
    (closing, saved.and(flushed))
}

/// What a run spent on models (worker runs, requests, tokens, cost), when it used a model:
/// the one-line summary of a run (DESIGN §15) after `llm-do: `.
pub fn spent_figures(spent: &crate::runtime::budget::Spent) -> Option<String> {
    if spent.requests == 0 {
        return None;
    }
    let cost = match (spent.unpriced, spent.requests) {
        (0, _) => format!(", {}", dollars(spent.cost)),
        (n, all) if n == all => ", cost unknown (no price for the model)".to_string(),
        (n, _) => format!(
            ", {} + {} without a price",
            dollars(spent.cost),
            count(n, "request")
        ),
    };
    Some(format!(
        "{}, {}, {}{cost}",
        count(spent.worker_runs, "worker run"),
        count(spent.requests, "model request"),
        crate::trace::usage_text(&spent.usage)
    ))
}

/// Prints streamed model text to stderr as it arrives.
#[derive(Default)]
struct LivePrinter {
    midline: std::sync::atomic::AtomicBool,
}

impl LiveText for LivePrinter {
    fn delta(&self, text: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "{}",
            crate::output::escape(text, crate::output::Escaped::Text)
        );
        let _ = err.flush();
        self.midline
            .store(!text.ends_with('\n'), std::sync::atomic::Ordering::Relaxed);
    }

    fn end(&self) {
        if self
            .midline
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            use std::io::Write;
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Run `fut`, cancelling the call tree on Ctrl-C or SIGTERM; a second signal exits at once.
/// Then wait for the work `fut` left running beside it ([`Runtime::settle`]).
pub async fn with_interrupt<T, E>(
    rt: &Arc<Runtime>,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let cancel = rt.cancel.clone();
    let runtime = rt.clone();
    // Handlers are installed before `fut` starts, so no signal can hit the default action
    // (killing the process mid-call) once the call tree runs.
    let mut signals = crate::interrupt::Signals::install();
    let watcher = tokio::spawn(async move {
        if signals.next().await {
            cancel.cancel();
            if signals.next().await {
                // MCP servers run in process groups of their own, out of the terminal's reach:
                // killed here, since exiting now skips the orderly shutdown.
                runtime.run.mcp.drop_all();
                std::process::exit(ExitCode::Interrupted as i32);
            }
        }
    });
    let out = fut.await;
    // The shadow sides still running beside their callers end (or see Ctrl-C) here, before
    // the run log closes.
    rt.settle().await;
    watcher.abort();
    out
}

/// Print a result: strings raw, the rest as JSON (`json`: always JSON). On a terminal,
/// controls in it are shown escaped ([`crate::output::escape`]); to a pipe or a file it is the
/// data as it is.
pub fn print_value(v: &Value, json: bool) -> Result<(), Error> {
    use crate::output::{Escaped, escape};
    let Some(s) = crate::script::value::render(v, json) else {
        return Ok(());
    };
    if std::io::stdout().is_terminal() {
        let how = if json { Escaped::Json } else { Escaped::Text };
        return crate::report::out_line(&escape(&s, how));
    }
    crate::report::out_line(&s)
}
