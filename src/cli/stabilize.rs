//! `llm-do stabilize NAME --draft [--model ID] [--attempts K] [--min-agreement X]`: a model
//! drafts the fn that replaces worker NAME; the draft is written (as the untrusted draft
//! `scripts/drafts/NAME.rhai`, with `[stabilize] NAME = "shadow"` in llm-do.toml) only when it
//! agrees with the cases at least as well as the worker agrees with itself (or
//! `--min-agreement`), and only when the project still loads with the change; the diff is shown
//! first. Otherwise nothing is written. `llm-do stabilize NAME --accept` is a person promoting
//! the draft to a trusted `scripts/NAME.rhai` (DESIGN §17).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::eval::draft::{self, Attempt};
use crate::eval::run::Options;
use crate::project::{CONFIG_FILE, Overlay, Project, ProjectError, SCRIPTS_DIR};
use crate::report::{Error, out, out_line};
use crate::runtime::Runtime;
use crate::script::untrusted::{self, DRAFTS_DIR, MARK};
use crate::session::{Closings, Session};
use crate::settings::Settings;

/// `--draft`: how the fn is drafted.
pub struct Draft {
    /// The drafting model (`None`: the default model; the worker keeps its own for its runs).
    pub model: Option<String>,
    /// Drafts to try at most.
    pub attempts: u32,
    /// The bar (`None`: the worker's self-agreement).
    pub min_agreement: Option<f64>,
}

/// Run the command: `draft` the fn of `name`, or (`None`, `--accept`) a person accepts its
/// draft. Below the bar is exit 1 with the best report, and nothing written.
pub async fn run(
    settings: &Settings,
    name: &str,
    draft: Option<Draft>,
    closings: &Closings,
) -> Result<(), Error> {
    let session = Session::of(settings).unlogged().open()?;
    match draft {
        None => accept(session.runtime(), name),
        Some(draft) => {
            let rt = session.runtime();
            session.run(closings, stabilize(rt, name, &draft)).await
        }
    }
}

async fn stabilize(rt: &Arc<Runtime>, name: &str, draft: &Draft) -> Result<(), Error> {
    let project = rt.project();
    let Some(worker) = project.workers.get(name).cloned() else {
        return Err(Error::usage(format!("`{name}` is not a worker"))
            .with_help("`stabilize --draft` turns a worker into a fn of the same name"));
    };
    let paths = Paths::of(&project.root, name);
    if let Some(f) = project.fns.get(name) {
        return Err(Error::usage(format!(
            "`{name}` already has a fn in `{}`",
            f.path.display()
        ))
        .with_help(if f.untrusted {
            format!("it is an untrusted draft: `llm-do stabilize {name} --accept` trusts it, or delete it to draft anew")
        } else {
            format!("`llm-do test {name}` measures it; delete it to draft anew")
        }));
    }
    if let Some(taken) = [&paths.script, &paths.draft]
        .into_iter()
        .find(|p| p.exists())
    {
        return Err(Error::usage(format!("`{}` exists", paths.shown(taken)))
            .with_help("delete it to draft anew"));
    }
    let cases = crate::eval::cases::load(&project.root, name, &worker.examples)
        .map_err(|e| Error::Project(e.into()))?;
    if cases.is_empty() {
        return Err(Error::usage(format!("`{name}` has no cases to draft against")).with_help(format!(
            "write `tests/{name}.jsonl`, or `llm-do dataset {name} -o tests/{name}.jsonl` from the run log"
        )));
    }
    let bar = match draft.min_agreement {
        Some(x) => x,
        None => self_agreement(rt, name, cases.clone()).await?,
    };
    // Each attempt is shown as soon as it is graded: a later drafting error loses none.
    let mut shown: Result<(), Error> = Ok(());
    let mut show = |a: &Attempt| {
        if shown.is_ok() {
            shown = out_line(&summary(a));
        }
    };
    let attempts = draft::draft(
        rt,
        &worker,
        &cases,
        draft.model.as_deref(),
        draft.attempts,
        bar,
        &mut show,
    )
    .await
    .map_err(Error::Call)?;
    shown?;
    let best = attempts
        .iter()
        .filter(|a| a.error.is_none())
        .max_by(|a, b| a.agreement().total_cmp(&b.agreement()));
    match best {
        Some(a) if a.agreement() >= bar => {
            write_draft(rt, name, &paths, &a.code)?;
            out_line(&format!(
                "wrote the untrusted draft `{}` and `[stabilize] {name} = \"shadow\"` in {CONFIG_FILE}: the worker still serves while the draft shadows it in the restricted engine; `llm-do stats` shows live agreement, `llm-do stabilize {name} --accept` trusts it",
                paths.shown(&paths.draft)
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

/// Where the fn of `name` lives: trusted, or as an untrusted draft.
struct Paths {
    root: PathBuf,
    script: PathBuf,
    draft: PathBuf,
}

impl Paths {
    fn of(root: &Path, name: &str) -> Paths {
        let scripts = root.join(SCRIPTS_DIR);
        Paths {
            root: root.to_path_buf(),
            script: scripts.join(format!("{name}.rhai")),
            draft: scripts.join(DRAFTS_DIR).join(format!("{name}.rhai")),
        }
    }

    /// `path` as messages show it: relative to the project root.
    fn shown(&self, path: &Path) -> String {
        crate::project::relative(&self.root, path)
            .display()
            .to_string()
    }
}

/// A person accepts the draft of `name`: it moves to `scripts/NAME.rhai` without the mark and
/// is trusted from then on (full script powers, like any code of the project).
fn accept(rt: &Runtime, name: &str) -> Result<(), Error> {
    let project = rt.project();
    let Some(f) = project.fns.get(name).filter(|f| f.untrusted) else {
        return Err(Error::usage(format!("`{name}` has no untrusted draft to accept"))
            .with_help(format!(
                "`llm-do stabilize {name} --draft` writes one to `{SCRIPTS_DIR}/{DRAFTS_DIR}/{name}.rhai`"
            )));
    };
    let paths = Paths::of(&project.root, name);
    let from = project.root.join(&f.path);
    let text = std::fs::read_to_string(&from)
        .map_err(|e| Error::failed(format!("cannot read `{}`: {e}", paths.shown(&from))))?;
    let accepted = untrusted::without_mark(&text);
    let to = if from == paths.draft {
        paths.script.clone()
    } else {
        from.clone()
    };
    if to != from && to.exists() {
        return Err(Error::usage(format!("`{}` exists", paths.shown(&to)))
            .with_help("move or delete it first"));
    }
    let mut overlay = Overlay::new();
    overlay.insert(from.clone(), None);
    overlay.insert(to.clone(), Some(accepted.as_str().into()));
    still_loads(rt, &overlay)?;
    out(&diff(
        &paths.shown(&from),
        &paths.shown(&to),
        &text,
        &accepted,
    ))?;
    write(&paths, &to, &accepted)?;
    if to != from {
        std::fs::remove_file(&from)
            .map_err(|e| Error::failed(format!("cannot remove `{}`: {e}", paths.shown(&from))))?;
    }
    out_line(&format!(
        "accepted: `{name}` is now trusted code in `{}`",
        paths.shown(&to)
    ))
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
    // A run that failed measured nothing: a bar from failed runs would pass any draft.
    let runs = report.cases.iter().flat_map(|c| &c.runs);
    let failed: Vec<&str> = runs.filter_map(|r| r.error.as_deref()).collect();
    if let Some(first) = failed.first() {
        let total = report.cases.iter().map(|c| c.runs.len()).sum::<usize>();
        return Err(Error::failed(format!(
            "cannot measure `{name}`: {} of {total} runs of the worker failed (first: {first}); nothing written",
            failed.len()
        ))
        .with_help(format!(
            "make `llm-do test {name}` run (a key, a model), or pass `--min-agreement X` to set the bar yourself"
        )));
    }
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

/// Write the draft to `scripts/drafts/NAME.rhai` (marked untrusted) and add
/// `[stabilize] NAME = "shadow"` to llm-do.toml, after checking that the project loads with
/// both and showing the diff.
fn write_draft(rt: &Runtime, name: &str, paths: &Paths, code: &str) -> Result<(), Error> {
    let text = format!(
        "{MARK}: it runs in the restricted engine until a person accepts it (`llm-do stabilize {name} --accept`, or delete this line).\n\
         /// Drafted by `llm-do stabilize {name} --draft` from the worker `{name}`.\n{code}"
    );
    let config = paths.root.join(CONFIG_FILE);
    let old = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::failed(format!("cannot read `{CONFIG_FILE}`: {e}"))),
    };
    let new = with_switch(&old, name)
        .map_err(|e| Error::failed(format!("cannot edit `{CONFIG_FILE}`: {e}; nothing written")))?;
    let mut overlay = Overlay::new();
    overlay.insert(config.clone(), Some(new.as_str().into()));
    overlay.insert(paths.draft.clone(), Some(text.as_str().into()));
    let next = still_loads(rt, &overlay)?;
    if !next.fns.get(name).is_some_and(|f| f.untrusted) {
        return Err(Error::failed(format!(
            "internal: the draft of `{name}` would not load as untrusted; nothing written"
        )));
    }
    out(&diff(CONFIG_FILE, CONFIG_FILE, &old, &new))?;
    out(&diff("/dev/null", &paths.shown(&paths.draft), "", &text))?;
    write(paths, &paths.draft, &text)?;
    write(paths, &config, &new)
}

fn write(paths: &Paths, path: &Path, text: &str) -> Result<(), Error> {
    crate::atomic::write_atomic(path, text.as_bytes())
        .map_err(|e| Error::failed(format!("cannot write `{}`: {e}", paths.shown(path))))
}

/// The project must load with `overlay`'s changes, or nothing is written.
fn still_loads(rt: &Runtime, overlay: &Overlay) -> Result<Project, Error> {
    let root = &rt.project().root;
    Project::load(&rt.rhai.engine, root, None, overlay, &[]).map_err(|e| {
        Error::failed(format!(
            "the project would no longer load: {}; nothing written",
            problems(&e).join("; ")
        ))
    })
}

/// Every message of a project error.
fn problems(e: &ProjectError) -> Vec<String> {
    match e {
        ProjectError::Many(all) => all.iter().flat_map(problems).collect(),
        ProjectError::Located(l) => vec![format!("{} (in `{}`)", l.message, l.src.name())],
        other => vec![other.to_string()],
    }
}

/// A unified diff of one file, as shown before it is written.
fn diff(from: &str, to: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(from, to)
        .to_string()
}

/// `text` (llm-do.toml) with `NAME = "shadow"` under `[stabilize]`, the table added when
/// missing; everything else (comments, order, spacing) is kept.
///
/// # Errors
///
/// `text` is not valid TOML, or `stabilize` in it is not a table.
pub fn with_switch(text: &str, name: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    let item = doc
        .entry("stabilize")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    if let Some(inline) = item.as_inline_table_mut() {
        inline.insert(name, "shadow".into());
        inline.fmt();
    } else {
        let table = item
            .as_table_like_mut()
            .ok_or("`stabilize` is not a table")?;
        table.insert(name, toml_edit::value("shadow"));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_is_added_to_the_config_keeping_comments() {
        assert_eq!(
            with_switch("", "t").unwrap(),
            "[stabilize]\nt = \"shadow\"\n"
        );
        assert_eq!(
            with_switch("[limits]\nmax_depth = 3\n", "t").unwrap(),
            "[limits]\nmax_depth = 3\n\n[stabilize]\nt = \"shadow\"\n"
        );
        assert_eq!(
            with_switch(
                "[stabilize] # which side serves\na = \"code\" # the fn\n",
                "t"
            )
            .unwrap(),
            "[stabilize] # which side serves\na = \"code\" # the fn\nt = \"shadow\"\n"
        );
        assert_eq!(
            with_switch("stabilize = { a = \"code\" }\n", "t").unwrap(),
            "stabilize = { a = \"code\", t = \"shadow\" }\n"
        );
        assert!(with_switch("stabilize = 3\n", "t").is_err());
    }
}
