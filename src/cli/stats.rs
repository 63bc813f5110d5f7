//! `llm-do stats [TRACE...]`: per-name figures and stabilization candidates, from traces or
//! (by default) the run log; from the log also each stabilize switch's live agreement, share
//! deferred and the projected saving of switching at observed volume.

use std::path::PathBuf;

use crate::report::{Error, out};
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
    let rows = crate::stats::summarize(&read_all(traces)?);
    if json {
        let text = serde_json::to_string_pretty(&crate::stats::to_json(&rows)).unwrap_or_default();
        out(&format!("{text}\n"))?;
    } else {
        out(&crate::stats::render_text(&rows))?;
    }
    Ok(())
}

/// `llm-do stats` on the run log.
pub fn from_log(settings: &crate::settings::Settings) -> Result<(), Error> {
    let path = crate::log::path_in(&settings.root);
    if !path.exists() {
        return Err(Error::usage(format!(
            "no run log at `{}` and no trace given",
            path.display()
        ))
        .with_help("run something first, or pass trace files: `llm-do stats t.jsonl`"));
    }
    let conn = crate::log::open(&path)?;
    let rows = crate::log::calls(&conn, &crate::log::CallFilter::default())?;
    let calls: Vec<CallRecord> = rows.iter().rev().map(record).collect();
    let summary = crate::stats::summarize(&calls);
    let switches = crate::log::switch_figures(&conn)?;
    let savings: Vec<Saving> = switches.iter().map(|s| saving(s, &rows)).collect();
    if settings.json {
        let json = serde_json::json!({
            "names": crate::stats::to_json(&summary),
            "switches": savings,
        });
        return out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ));
    }
    out(&crate::stats::render_text(&summary))?;
    if !savings.is_empty() {
        out("\nstabilize switches:\n")?;
        for s in &savings {
            out(&format!("{}\n", s.line()))?;
        }
    }
    Ok(())
}

/// A log row as the trace reader gives it.
fn record(row: &crate::log::CallRow) -> CallRecord {
    let kind = match row.kind.as_str() {
        "worker" => "neural",
        "fn" => "symbolic",
        other => other,
    };
    CallRecord {
        name: row.name.clone(),
        kind: kind.to_string(),
        input: row.input.clone(),
        result: match (&row.output, &row.error) {
            (_, Some(e)) => Err(e.clone()),
            (Some(v), None) => Ok(v.clone()),
            (None, None) => Err("unfinished".into()),
        },
        ms: row.ms,
        tokens_in: u64::try_from(row.tokens_in).unwrap_or(0),
        tokens_out: u64::try_from(row.tokens_out).unwrap_or(0),
    }
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
        let f = &self.figures;
        let agreement = self.agreement.map_or_else(
            || "no shadow comparisons".to_string(),
            |a| {
                format!(
                    "live agreement {}/{} ({:.1}%)",
                    f.agreed,
                    f.compared,
                    a * 100.0
                )
            },
        );
        let cost = self
            .cost_per_week
            .map(|c| format!(", {}/week", crate::model::prices::dollars(c)))
            .unwrap_or_default();
        format!(
            "  {} ({}): {}, {agreement}, deferred {:.1}%; switching to code saves ~{:.0} tokens/week{cost} at the observed volume",
            f.name,
            f.mode,
            crate::output::count(f.calls, "call"),
            self.deferred_share * 100.0,
            self.tokens_per_week * (1.0 - self.deferred_share),
        )
    }
}

/// The saving of serving `f.name` with its fn, from the worker's logged calls of that name.
fn saving(f: &crate::log::SwitchFigures, rows: &[crate::log::CallRow]) -> Saving {
    let worker: Vec<&crate::log::CallRow> = rows
        .iter()
        .filter(|r| r.name == f.name && r.kind == "worker")
        .collect();
    let times: Vec<f64> = worker
        .iter()
        .filter_map(|r| crate::log::seconds_of(&r.time))
        .collect();
    let span = times.iter().copied().fold(f64::NAN, f64::max)
        - times.iter().copied().fold(f64::NAN, f64::min);
    // At least a day of observation, so a burst of test calls is not read as a huge rate.
    let weeks = span.max(86_400.0) / (7.0 * 86_400.0);
    #[allow(clippy::cast_precision_loss)]
    let n = worker.len() as f64;
    #[allow(clippy::cast_precision_loss)]
    let tokens: f64 = worker
        .iter()
        .map(|r| (r.tokens_in + r.tokens_out) as f64)
        .sum();
    let cost: Option<f64> = worker.iter().map(|r| r.cost).sum();
    #[allow(clippy::cast_precision_loss)]
    let (calls, deferred, compared, agreed) = (
        f.calls as f64,
        f.deferred as f64,
        f.compared as f64,
        f.agreed as f64,
    );
    Saving {
        figures: f.clone(),
        deferred_share: if calls > 0.0 { deferred / calls } else { 0.0 },
        agreement: (compared > 0.0).then(|| agreed / compared),
        worker_calls_per_week: n / weeks,
        tokens_per_week: tokens / weeks,
        cost_per_week: cost.map(|c| c / weeks),
    }
}
