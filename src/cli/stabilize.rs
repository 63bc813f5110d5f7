//! `llm-do stabilize NAME --draft [--model ID] [--attempts K] [--min-agreement X]`: a model
//! drafts the fn that replaces worker NAME; the draft is written (as `scripts/NAME.rhai`, with
//! `[stabilize] NAME = "shadow"` in llm-do.toml) only when it agrees with the cases at least as
//! well as the worker agrees with itself (or `--min-agreement`). Otherwise nothing is written.

use std::sync::Arc;

use crate::call::CallError;
use crate::eval::draft::{self, Attempt};
use crate::eval::run::Options;
use crate::project::{CONFIG_FILE, SCRIPTS_DIR};
use crate::report::{Error, out, out_line};
use crate::runtime::Runtime;
use crate::settings::Settings;

use super::setup;

/// What `stabilize` was asked.
pub struct StabilizeArgs {
    pub name: String,
    pub model: Option<String>,
    pub attempts: u32,
    pub min_agreement: Option<f64>,
}

/// Run the command; below the bar is exit 1 with the best report, and nothing written.
pub async fn run(settings: &Settings, args: StabilizeArgs) -> Result<(), Error> {
    let settings = &setup::unlogged(settings);
    let rt = setup::runtime(settings, None, true, None)?;
    let result = setup::with_interrupt(&rt, async {
        Ok::<_, CallError>(stabilize(&rt, &args).await)
    })
    .await;
    setup::finish(&rt, settings.trace.as_deref(), matches!(result, Ok(Ok(()))))?;
    result.map_err(Error::Call)?
}

async fn stabilize(rt: &Arc<Runtime>, args: &StabilizeArgs) -> Result<(), Error> {
    let project = rt.project();
    let name = &args.name;
    let Some(worker) = project.workers.get(name).cloned() else {
        return Err(Error::usage(format!("`{name}` is not a worker"))
            .with_help("`stabilize --draft` turns a worker into a fn of the same name"));
    };
    let script = project.root.join(SCRIPTS_DIR).join(format!("{name}.rhai"));
    if project.fns.contains_key(name) || script.exists() {
        return Err(Error::usage(format!(
            "`{name}` already has a fn (or `{}` exists)",
            rel(&script)
        ))
        .with_help(format!(
            "`llm-do test {name}` measures it; delete it to draft anew"
        )));
    }
    let cases = crate::eval::cases::load(&project.root, name, &worker.examples)
        .map_err(|e| Error::Project(e.into()))?;
    if cases.is_empty() {
        return Err(Error::usage(format!("`{name}` has no cases to draft against")).with_help(format!(
            "write `tests/{name}.jsonl`, or `llm-do dataset {name} -o tests/{name}.jsonl` from the run log"
        )));
    }
    let bar = match args.min_agreement {
        Some(x) => x,
        None => self_agreement(rt, name, cases.clone()).await?,
    };
    let attempts = draft::draft(
        rt,
        &worker,
        &cases,
        args.model.as_deref(),
        args.attempts,
        bar,
    )
    .await
    .map_err(Error::Call)?;
    for a in &attempts {
        out_line(&summary(a))?;
    }
    let best = attempts
        .iter()
        .filter(|a| a.error.is_none())
        .max_by(|a, b| a.agreement().total_cmp(&b.agreement()));
    match best {
        Some(a) if a.agreement() >= bar => {
            write_draft(rt, name, &a.code)?;
            out_line(&format!(
                "wrote `{}` and `[stabilize] {name} = \"shadow\"` in {CONFIG_FILE}: the worker still serves while the fn shadows it; `llm-do stats` shows live agreement",
                rel(&script)
            ))
        }
        best => {
            if let Some(a) = best {
                out(&format!("best draft (attempt {}):\n{}", a.number, a.code))?;
            }
            Err(Error::failed(format!(
                "no draft reached {:.1}% agreement; nothing written",
                bar * 100.0
            ))
            .with_help(
                "add cases that pin down the rule, raise `--attempts`, or try a stronger `--model`",
            ))
        }
    }
}

/// The worker's agreement with itself (3 runs per case): the bar a replacement must reach.
async fn self_agreement(
    rt: &Arc<Runtime>,
    name: &str,
    cases: Vec<crate::eval::cases::Case>,
) -> Result<f64, Error> {
    let report = crate::eval::run::run(
        rt,
        name,
        cases,
        Options {
            repeat: 3,
            min_agreement: None,
        },
    )
    .await
    .map_err(Error::Call)?;
    let rate = report.self_agreement.unwrap_or(report.agreement);
    out_line(&format!(
        "`{name}` agrees with itself on {}/{} pairs of runs: a draft must reach {:.1}%",
        rate.agreed,
        rate.total,
        rate.rate * 100.0
    ))?;
    Ok(rate.rate)
}

fn summary(a: &Attempt) -> String {
    match &a.error {
        Some(e) => format!("attempt {}: {e}", a.number),
        None => format!(
            "attempt {}: {}/{} cases agree{}",
            a.number,
            a.passed,
            a.total,
            if a.failures.is_empty() {
                String::new()
            } else {
                format!("\n    {}", a.failures.join("\n    "))
            }
        ),
    }
}

/// Write `scripts/NAME.rhai` and add `[stabilize] NAME = "shadow"` to llm-do.toml, atomically
/// each.
fn write_draft(rt: &Runtime, name: &str, code: &str) -> Result<(), Error> {
    let root = &rt.project().root;
    let fail =
        |what: String, e: std::io::Error| Error::failed(format!("cannot write `{what}`: {e}"));
    let script = root.join(SCRIPTS_DIR).join(format!("{name}.rhai"));
    let text = format!(
        "/// Drafted by `llm-do stabilize {name} --draft` from the worker `{name}`.\n{code}"
    );
    crate::atomic::write_atomic(&script, text.as_bytes()).map_err(|e| fail(rel(&script), e))?;
    let config = root.join(CONFIG_FILE);
    let old = std::fs::read_to_string(&config).unwrap_or_default();
    let new = with_switch(&old, name);
    crate::atomic::write_atomic(&config, new.as_bytes()).map_err(|e| fail(CONFIG_FILE.into(), e))
}

/// `text` (llm-do.toml) with `NAME = "shadow"` under `[stabilize]`, adding the table when missing.
pub fn with_switch(text: &str, name: &str) -> String {
    let entry = format!("{name} = \"shadow\"\n");
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.trim() == "[stabilize]") {
        lines.insert(i + 1, entry.trim_end());
        return format!("{}\n", lines.join("\n"));
    }
    let sep = if text.is_empty() || text.ends_with("\n\n") {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{text}{sep}[stabilize]\n{entry}")
}

fn rel(path: &std::path::Path) -> String {
    let parts: Vec<_> = path.components().rev().take(2).collect();
    parts
        .iter()
        .rev()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_is_added_to_the_config() {
        assert_eq!(with_switch("", "t"), "[stabilize]\nt = \"shadow\"\n");
        assert_eq!(
            with_switch("[limits]\nmax_depth = 3\n", "t"),
            "[limits]\nmax_depth = 3\n\n[stabilize]\nt = \"shadow\"\n"
        );
        assert_eq!(
            with_switch("[stabilize]\na = \"code\"\n", "t"),
            "[stabilize]\nt = \"shadow\"\na = \"code\"\n"
        );
    }
}
