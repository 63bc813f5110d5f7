//! `llm-do test [NAME...]`: run the cases of each name through it as defined now and report
//! agreement (DESIGN §14). Exit 0 when every name reaches the pass line, 1 below it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::eval::run::{NameReport, Options};
use crate::log::agreement::TestResult;
use crate::report::{Error, show};
use crate::runtime::Runtime;
use crate::session::{Closings, Session};
use crate::settings::Settings;

/// What `test` was asked (resolved from the command line).
#[derive(Debug, Clone, Default)]
pub struct TestArgs {
    /// Names to test; empty: every name with cases.
    pub names: Vec<String>,
    /// Runs per case.
    pub repeat: u32,
    /// Pass line for agreement (0..1); `None`: every case must pass.
    pub min_agreement: Option<f64>,
    /// Where to write JUnit XML.
    pub junit: Option<PathBuf>,
}

/// Run the command.
pub async fn run(settings: &Settings, args: &TestArgs, closings: &Closings) -> Result<(), Error> {
    if let Some(x) = args.min_agreement
        && !(0.0..=1.0).contains(&x)
    {
        return Err(
            Error::usage(format!("`--min-agreement` must be from 0 to 1, not {x}"))
                .with_help("e.g. `--min-agreement 0.9` passes at 90% agreement"),
        );
    }
    // Test runs are not live traffic: their calls stay out of the run log (datasets, stats);
    // only the results are kept, as rows of their own (the noise floor `view` draws).
    let keep_results = settings.log;
    let session = Session::of(settings).unlogged().open()?;
    let names = names(session.runtime(), &args.names)?;
    let opts = Options {
        repeat: args.repeat.max(1),
        min_agreement: args.min_agreement,
    };
    let work = async {
        let mut reports = Vec::new();
        for name in &names {
            reports.push(session.test_name(name, opts).await?);
        }
        Ok::<_, Error>(reports)
    };
    let reports = session.run(closings, work).await?;
    if keep_results {
        record(settings, &reports);
    }
    if let Some(path) = &args.junit {
        crate::atomic::write_atomic(path, crate::eval::report::junit(&reports).as_bytes())
            .map_err(|e| Error::failed(format!("cannot write `{}`: {e}", path.display())))?;
    }
    show(&crate::eval::report::Reports(&reports), settings.json)?;
    let below: Vec<String> = reports
        .iter()
        .filter(|r| !r.pass)
        .map(|r| {
            format!(
                "`{}` ({})",
                r.name,
                crate::eval::score::percent(r.agreement.rate)
            )
        })
        .collect();
    if below.is_empty() {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "below the pass line {}: {}",
            crate::eval::score::percent(opts.min_agreement.unwrap_or(1.0)),
            below.join(", ")
        )))
    }
}

/// Keep each name's result in the run log (`test_results`). Best effort: a log that cannot
/// be written is said on stderr, and the test's own verdict stands.
fn record(settings: &Settings, reports: &[NameReport]) {
    let results: Vec<TestResult> = reports.iter().map(result_row).collect();
    let written = crate::log::open(&crate::log::path_in(&settings.root))
        .and_then(|conn| Ok(crate::log::agreement::record_tests(&conn, &results)?));
    if let Err(e) = written {
        crate::report::error_note(&format!("the test results were not logged: {e}"), None);
    }
}

/// What the log keeps of one name's report.
fn result_row(r: &NameReport) -> TestResult {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    TestResult {
        name: r.name.clone(),
        kind: r.kind.to_string(),
        time: String::new(),
        repeat: r.repeat,
        cases: n(r.cases.len()),
        runs: n(r.agreement.total),
        agreed: n(r.agreement.agreed),
        self_agreement: r.self_agreement.map(|s| (n(s.agreed), n(s.total))),
    }
}

/// The names to test: those given, or every name with cases.
fn names(rt: &Arc<Runtime>, given: &[String]) -> Result<Vec<String>, Error> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let project = rt.project();
    let mut names = crate::eval::cases::names_with_files(&project.root);
    names.extend(
        project
            .workers
            .values()
            .filter(|w| !w.examples.is_empty())
            .map(|w| w.name.clone()),
    );
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Error::usage("no cases to test").with_help(
            "write `tests/NAME.jsonl` (one `{\"input\": ..., \"expected\": ...}` a line), add \
             `examples:` to a worker, or build cases from the run log with `llm-do dataset NAME -o tests/NAME.jsonl`",
        ));
    }
    Ok(names)
}
