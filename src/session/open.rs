//! Opening a [`Session`]: the settings of a project (its config under the flags a face sets),
//! and its runtime built from them with what the face adds — the observer of `-v`/`--trace`,
//! the cassette of `--record`/`--replay`, live model text, the run log, OpenTelemetry export,
//! and what the face sets on the runtime's builder itself (a prompter, host fns).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Session, log_error};
use crate::log::RunLog;
use crate::model::cassette::Cassette;
use crate::project::{self, ProjectError};
use crate::report::Error;
use crate::runtime::{LiveText, Runtime, RuntimeBuilder};
use crate::settings::Settings;
use crate::trace::{Fanout, JsonlObserver, Observer, Tree};

/// The settings of the project found from `start` (`project`: the one named by `--project`;
/// `required` makes a missing project, or a `start` that does not exist, an error, else
/// `start` is the root): the environment over `llm-do.toml` over the user config over
/// defaults. A face sets its flags over them.
///
/// # Errors
///
/// No project (when `required`), or its config does not load.
pub fn settings(project: Option<&Path>, start: &Path, required: bool) -> Result<Settings, Error> {
    let root = root(project, start, required)?;
    let config = project::load_config(&root)?;
    let mut s = Settings::new(root);
    s.env_model = std::env::var(crate::env_vars::LLM_DO_MODEL)
        .ok()
        .filter(|m| !m.is_empty());
    s.max_depth = config.limits.max_depth.unwrap_or(s.max_depth);
    s.max_parallel = config.limits.max_parallel.unwrap_or(s.max_parallel);
    s.max_operations = config.limits.max_operations.unwrap_or(s.max_operations);
    s.max_cpu_seconds = config.limits.max_cpu_seconds.unwrap_or(s.max_cpu_seconds);
    s.budget = crate::settings::Limits {
        max_cost_usd: config.limits.max_cost_usd,
        max_tokens: config.limits.max_tokens,
        max_requests: config.limits.max_requests,
        max_worker_runs: config.limits.max_worker_runs,
    };
    // The run log is kept only in a real project (not a bare folder a script runs from).
    s.log = config.log.enabled != Some(false) && project::is_root(&s.root);
    s.log_retain_days = config.log.retain_days;
    s.log_max_mb = config.log.max_mb;
    s.log_max_value_kb = config.log.max_value_kb;
    s.otel = crate::settings::OtelSettings::resolve(
        config.otel.endpoint.as_deref(),
        config.otel.service_name.as_deref(),
        |k| std::env::var(k).ok(),
    );
    Ok(s)
}

/// The project root: `project` as given, or discovered upward from `start`. Each is made
/// absolute here, the one place (a `start` that does not exist is used as given unless
/// `required`).
fn root(project: Option<&Path>, start: &Path, required: bool) -> Result<PathBuf, Error> {
    let absolute = |p: &Path| {
        p.canonicalize()
            .map_err(|e| Error::usage(format!("cannot use project `{}`: {e}", p.display())))
    };
    if let Some(p) = project {
        return absolute(p);
    }
    let start = match absolute(start) {
        Ok(start) => start,
        Err(e) if required => return Err(e),
        Err(_) => start.to_path_buf(),
    };
    match project::discover(&start) {
        Some(r) => Ok(r),
        None if !required => Ok(start),
        None => Err(Error::Project(ProjectError::NotFound {
            start: start.display().to_string(),
        })),
    }
}

/// How a session is opened: [`Session::of`] the settings, what the face changes, then
/// [`Opening::open`] (or [`Opening::open_with`] what the face sets on the runtime itself).
#[must_use]
pub struct Opening {
    settings: Settings,
    entry: Option<PathBuf>,
    observer: Option<Arc<dyn Observer>>,
    /// `None`: the `-v` printer on a terminal.
    live: Option<Option<Arc<dyn LiveText>>>,
    command: Option<String>,
    spent_line: bool,
}

impl Session {
    /// How to open a session on `settings` (the CLI's faces).
    pub fn of(settings: &Settings) -> Opening {
        Opening {
            settings: settings.clone(),
            entry: None,
            observer: None,
            live: None,
            command: None,
            spent_line: true,
        }
    }
}

impl Opening {
    /// Calls that are not live traffic (`check`, `list`, `test`, `stabilize`): out of the run
    /// log and out of OpenTelemetry export.
    pub fn unlogged(mut self) -> Self {
        self.settings.log = false;
        self.settings.otel = None;
        self
    }

    /// `script` is about to run (it names the OpenTelemetry root span).
    pub fn entry(mut self, script: &Path) -> Self {
        self.entry = Some(script.to_path_buf());
        self
    }

    /// Events go to `observer` instead of what `-v`/`--trace` select (no trace file is written).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Model text streams into `live` (`chat` on a terminal; `None`: nowhere) instead of the
    /// `-v` printer.
    pub fn live(mut self, live: Option<Arc<dyn LiveText>>) -> Self {
        self.live = Some(live);
        self
    }

    /// The run log records the run's command as `command` (`mcp serve` names the client and
    /// the tool called) instead of the process's command line.
    pub fn logged_as(mut self, command: String) -> Self {
        self.command = Some(command);
        self
    }

    /// No spent line at the end: the face's own summary says it (`batch`).
    pub fn no_spent_line(mut self) -> Self {
        self.spent_line = false;
        self
    }

    /// Load the project into a runtime on the caller's tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`Opening::open_with`].
    pub fn open(self) -> Result<Session, Error> {
        self.open_with(|runtime| runtime)
    }

    /// Load the project into a runtime on the caller's tokio runtime, with what `face` sets
    /// on its builder once the settings have set theirs (the embedding program's
    /// [`RuntimeBuilder::hosts`], the [`RuntimeBuilder::prompter`] of `mcp serve`'s client).
    ///
    /// # Errors
    ///
    /// The trace file, OpenTelemetry endpoint, run log or cassette cannot be used, or the
    /// project does not load.
    pub fn open_with(
        self,
        face: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
    ) -> Result<Session, Error> {
        let s = &self.settings;
        // The `--trace` file is written by the observer of `-v`/`--trace` only.
        let trace = s.trace.as_deref();
        let (observer, trace) = match self.observer {
            Some(o) => (o, None),
            None => (observer(s.verbosity, trace)?, trace),
        };
        // Before the run log opens: a malformed endpoint stops the command before anything starts.
        let observer = match otel_observer(s, self.entry.as_deref())? {
            Some(otel) => Fanout::of(vec![observer, otel]),
            None => observer,
        };
        let command = self
            .command
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
        let run_log = s.log.then(|| run_log(s, &command)).transpose()?;
        let live = self.live.unwrap_or_else(|| {
            (s.verbosity > 0 && std::io::stderr().is_terminal())
                .then(|| Arc::new(LivePrinter::default()) as Arc<dyn LiveText>)
        });
        // The builder adds the run log to the observers itself.
        let builder = Runtime::builder(s.clone(), tokio::runtime::Handle::current(), observer)
            .live(live)
            .entry(self.entry.as_deref())
            .cassette(cassette(s.record.as_deref(), s.replay.as_deref())?)
            .run_log(run_log);
        let rt = face(builder).build()?;
        Ok(Session {
            rt,
            trace: trace.map(|p| p.display().to_string()).unwrap_or_default(),
            spent_line: self.spent_line,
        })
    }
}

/// A new run in the run log of the project of `s`, recording `command`.
fn run_log(s: &Settings, command: &str) -> Result<Arc<RunLog>, Error> {
    let retention = crate::log::Retention {
        days: s.log_retain_days,
        max_mb: s.log_max_mb,
    };
    let log =
        RunLog::start(&crate::log::path_in(&s.root), command, retention).map_err(log_error)?;
    Ok(Arc::new(log.with_max_value_kb(s.log_max_value_kb)))
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
///
/// # Errors
///
/// The trace file cannot be created.
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
fn cassette(record: Option<&Path>, replay: Option<&Path>) -> Result<Option<Arc<Cassette>>, Error> {
    if let Some(path) = replay {
        let c = Cassette::replay(path).map_err(|e| {
            Error::usage(e.to_string())
                .with_help(format!("record one with `--record {}`", path.display()))
        })?;
        return Ok(Some(Arc::new(c)));
    }
    Ok(record.map(|p| Arc::new(Cassette::record(p))))
}

/// Prints streamed model text as it arrives, escaped: to stderr (the `-v` printer), or to
/// stdout ([`LivePrinter::replies`]).
#[derive(Default)]
pub struct LivePrinter {
    /// `chat`'s replies: on stdout, only those of the worker called from the top.
    replies: bool,
    midline: AtomicBool,
    /// Text streamed since [`LivePrinter::take_streamed`] was last asked.
    streamed: AtomicBool,
}

impl LivePrinter {
    /// The printer of `chat`'s replies: the chat worker's own (not of workers it calls), on
    /// stdout.
    pub fn replies() -> LivePrinter {
        LivePrinter {
            replies: true,
            ..LivePrinter::default()
        }
    }

    /// Whether text was streamed since this was last asked.
    pub fn take_streamed(&self) -> bool {
        self.streamed.swap(false, Ordering::Relaxed)
    }

    fn write(&self, text: &str) {
        let _ = if self.replies {
            let mut out = std::io::stdout().lock();
            write!(out, "{text}").and_then(|()| out.flush())
        } else {
            write!(std::io::stderr().lock(), "{text}")
        };
    }
}

impl LiveText for LivePrinter {
    fn delta(&self, text: &str) {
        self.write(&crate::output::escape(text, crate::output::Escaped::Text));
        self.streamed.store(true, Ordering::Relaxed);
        self.midline.store(!text.ends_with('\n'), Ordering::Relaxed);
    }

    fn end(&self) {
        if self.midline.swap(false, Ordering::Relaxed) {
            self.write("\n");
        }
    }

    fn wants(&self, depth: u32) -> bool {
        !self.replies || depth == 1
    }
}
