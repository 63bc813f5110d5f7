//! `llm-do dataset NAME [-o FILE]`: cases for `llm-do test` from the run log
//! (`.llm-do/log.db`): each distinct input NAME saw with its most frequent output, disputed
//! inputs marked.

use std::path::Path;

use crate::report::{Error, note, out};
use crate::settings::Settings;

/// Run the command over the calls `scope` selects: JSONL to `output` (atomically) or stdout.
/// A narrowed scope is said on stderr (unless quiet).
pub fn run(
    settings: &Settings,
    name: &str,
    output: Option<&Path>,
    scope: &super::stats::Scope,
) -> Result<(), Error> {
    let path = crate::log::path_in(&settings.root);
    if !path.is_file() {
        return Err(Error::usage(format!(
            "no run log at `{}`",
            crate::log::path_in(Path::new("")).display()
        ))
        .with_help(format!(
            "the log fills as workers and fns run (e.g. `llm-do run {name} ...`); it is off with `--no-log`"
        )));
    }
    let conn = crate::log::open(&path)?;
    let entries = crate::eval::dataset::from_log(&conn, &scope.filter(Some(name)))?;
    if entries.is_empty() {
        let within = if scope.is_all() {
            String::new()
        } else {
            format!(" among {}", scope.describe())
        };
        let error = Error::usage(format!(
            "the run log has no successful call of `{name}`{within}"
        ));
        let names = crate::log::call_names(&conn)?;
        let close = (!names.iter().any(|n| n == name))
            .then(|| crate::suggest::did_you_mean(name, names.iter().map(String::as_str)))
            .flatten();
        let help =
            close.unwrap_or_else(|| "run it first, or check the name with `llm-do logs`".into());
        return Err(error.with_help(help));
    }
    if !scope.is_all() && !settings.quiet {
        note(&format!("read {}", scope.describe()));
    }
    let text = crate::eval::dataset::jsonl(&entries);
    let disputed = entries.iter().filter(|e| e.disputed()).count();
    match output {
        Some(file) => {
            crate::atomic::write_atomic(file, text.as_bytes())
                .map_err(|e| Error::failed(format!("cannot write `{}`: {e}", file.display())))?;
            if !settings.quiet {
                note(&format!(
                    "wrote {} to `{}` ({disputed} disputed)",
                    crate::output::count(entries.len() as u64, "case"),
                    file.display()
                ));
            }
            Ok(())
        }
        None => out(&text),
    }
}
