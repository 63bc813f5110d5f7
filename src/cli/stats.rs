//! `llm-do stats [TRACE...]`: per-name figures and stabilization candidates, from traces or
//! (by default) the run log; from the log also each stabilize switch's live agreement, share
//! deferred and the projected saving of switching at observed volume.

use std::path::PathBuf;

use crate::log::agreement::share;
use crate::report::{Error, show};
use crate::stats::Names;
use crate::trace::read::{CallRecord, read_calls};

/// The calls recorded in `traces`.
pub(super) fn read_all(traces: &[PathBuf]) -> Result<Vec<CallRecord>, Error> {
    let mut calls = Vec::new();
    for t in traces {
        calls.extend(read_calls(t).map_err(|e| Error::usage(e.to_string()))?);
    }
    Ok(calls)
}

/// `llm-do stats TRACE...`: prints the report (JSON with `json`).
pub fn run(traces: &[PathBuf], json: bool) -> Result<(), Error> {
    show(&Names(crate::stats::summarize(&read_all(traces)?)), json)
}

/// `k/n (P%)`, or `-` of nothing: an agreement or a share as `stats` and the view show it.
pub(super) fn of(k: u64, n: u64) -> String {
    share(k, n).map_or_else(|| "-".into(), |s| format!("{k}/{n} ({:.1}%)", s * 100.0))
}

/// Which calls `stats` and `dataset` read from the run log: a window and a model (as JSON,
/// `since`, `until` and `model`: `null` for no bound).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Scope {
    #[serde(flatten)]
    pub window: crate::log::Window,
    pub model: Option<String>,
}

impl Scope {
    /// The filter of this scope (and `name`).
    pub fn filter<'a>(&'a self, name: Option<&'a str>) -> crate::log::CallFilter<'a> {
        crate::log::CallFilter {
            name,
            model: self.model.as_deref(),
            ..crate::log::CallFilter::default()
        }
        .within(&self.window)
    }

    /// How a report names what it read: `all of the run log`, `calls since T (model m)`.
    pub fn describe(&self) -> String {
        match &self.model {
            Some(m) => format!("{} (model {m})", self.window.describe()),
            None => self.window.describe(),
        }
    }

    /// Whether nothing narrows the log.
    pub fn is_all(&self) -> bool {
        self.window.is_all() && self.model.is_none()
    }
}

/// `llm-do stats` on the run log, over `scope`.
pub fn from_log(settings: &crate::settings::Settings, scope: &Scope) -> Result<(), Error> {
    show(&log_report(settings, scope)?, settings.json)
}

/// What the run log says over `scope`: per-name figures and each switch's saving.
#[derive(Debug, serde::Serialize)]
struct LogReport<'a> {
    /// What was read.
    #[serde(rename = "window")]
    scope: &'a Scope,
    names: Names,
    switches: Vec<Saving>,
}

impl crate::output::Show for LogReport<'_> {
    fn text(&self) -> String {
        let mut text = if self.scope.is_all() {
            String::new()
        } else {
            format!("{}\n\n", self.scope.describe())
        };
        text.push_str(&self.names.text());
        if !self.switches.is_empty() {
            text.push_str("\nstabilize switches:\n");
            for s in &self.switches {
                text.push_str(&format!("{}\n", s.line()));
            }
        }
        text
    }
}

fn log_report<'a>(
    settings: &crate::settings::Settings,
    scope: &'a Scope,
) -> Result<LogReport<'a>, Error> {
    let path = crate::log::path_in(&settings.root);
    if !path.exists() {
        return Err(Error::usage(format!(
            "no run log at `{}` and no trace given",
            path.display()
        ))
        .with_help("run something first, or pass trace files: `llm-do stats t.jsonl`"));
    }
    let conn = crate::log::open(&path)?;
    let summary = crate::stats::from_log(&conn, &scope.filter(None))?;
    let switches = crate::log::switch_figures_within(&conn, &scope.window)?;
    let switches = switches
        .iter()
        .map(|s| {
            crate::log::worker_volume(&conn, &scope.filter(Some(&s.name))).map(|v| saving(s, &v))
        })
        .collect::<Result<Vec<Saving>, _>>()?;
    Ok(LogReport {
        scope,
        names: Names(summary),
        switches,
    })
}

/// One switch's live figures and what switching it to code would save.
#[derive(Debug, serde::Serialize)]
struct Saving {
    #[serde(flatten)]
    figures: crate::log::SwitchFigures,
    /// Share of the fn's calls it deferred to the worker.
    deferred_share: f64,
    /// Live agreement of shadow comparisons, when there were any.
    agreement: Option<f64>,
    /// Worker calls of this name per week at the rate the log shows.
    worker_calls_per_week: f64,
    tokens_per_week: f64,
    cost_per_week: Option<f64>,
}

impl Saving {
    fn line(&self) -> String {
        let (f, c) = (&self.figures, &self.figures.counts);
        let agreement = match c.compared {
            0 => "no shadow comparisons".to_string(),
            n => format!("live agreement {}", of(c.agreed, n)),
        };
        let cost = self
            .cost_per_week
            .map(|c| format!(", {}/week", crate::model::prices::dollars(c)))
            .unwrap_or_default();
        format!(
            "  {} ({}): {}, {agreement}, deferred {:.1}%; switching to code saves ~{:.0} tokens/week{cost} at the observed volume",
            f.name,
            f.mode,
            crate::output::count(c.calls, "call"),
            self.deferred_share * 100.0,
            self.tokens_per_week * (1.0 - self.deferred_share),
        )
    }
}

/// The saving of serving `f.name` with its fn, from the worker's logged calls of that name.
fn saving(f: &crate::log::SwitchFigures, v: &crate::log::Volume) -> Saving {
    let time = |t: &Option<String>| t.as_deref().and_then(crate::log::seconds_of);
    let span = match (time(&v.first), time(&v.last)) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    // At least a day of observation, so a burst of test calls is not read as a huge rate.
    let weeks = span.max(86_400.0) / (7.0 * 86_400.0);
    #[allow(clippy::cast_precision_loss)]
    let (n, tokens) = (v.calls as f64, v.tokens as f64);
    let c = f.counts;
    Saving {
        figures: f.clone(),
        deferred_share: share(c.deferred, c.calls).unwrap_or(0.0),
        agreement: share(c.agreed, c.compared),
        worker_calls_per_week: n / weeks,
        tokens_per_week: tokens / weeks,
        cost_per_week: v.cost.map(|c| c / weeks),
    }
}
