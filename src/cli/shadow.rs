//! `llm-do shadow NAME --trace TRACE`: re-run the inputs NAME saw through NAME as defined now
//! and report where the outputs disagree.

use std::sync::Arc;

use crate::report::{Error, show};
use crate::runtime::Runtime;
use crate::session::{Closings, Session};
use crate::settings::Settings;

/// Run the command; disagreements are an error (exit 1).
pub async fn run(settings: &Settings, name: &str, closings: &Closings) -> Result<(), Error> {
    let Some(trace) = settings.trace.clone() else {
        return Err(Error::usage("`shadow` needs the trace to read")
            .with_help(format!("usage: `llm-do shadow {name} --trace FILE`")));
    };
    // `--trace` is the trace to read here, not one to write.
    let session = Session::of(&Settings {
        trace: None,
        ..settings.clone()
    })
    .open()?;
    let report = compare(session.runtime(), name, &trace, settings.json);
    session.run(closings, report).await
}

/// `llm-do shadow NAME --trace TRACE`: prints the report; an error (exit 1) on disagreement.
async fn compare(
    rt: &Arc<Runtime>,
    name: &str,
    trace: &std::path::Path,
    json: bool,
) -> Result<(), Error> {
    let calls = super::stats::read_all(&[trace.to_path_buf()])?;
    let cases = crate::shadow::cases(&calls, name);
    if cases.is_empty() {
        let mut names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let help = if names.is_empty() {
            "the trace has no calls".to_string()
        } else {
            format!("the trace has calls of: {}", names.join(", "))
        };
        return Err(Error::usage(format!(
            "trace `{}` has no successful call of `{name}`",
            trace.display()
        ))
        .with_help(help));
    }
    let outcomes = crate::shadow::run(rt, name, cases)
        .await
        .map_err(Error::of_named_call)?;
    let report = crate::shadow::Report {
        name,
        outcomes: &outcomes,
    };
    show(&report, json)?;
    let agreed = outcomes.iter().filter(|o| o.pass).count();
    if agreed == outcomes.len() {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "`{name}` disagrees with the trace on {} of {} cases",
            outcomes.len() - agreed,
            outcomes.len()
        )))
    }
}
