//! `llm-do check`: load and validate the whole project, no network.

use crate::report::{Error, out_line};
use crate::settings::Settings;

use super::setup;

/// Load the project and report problems (exit 2) or a one-line summary (`--json`: an object;
/// errors then follow `--error-format`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &Settings {
        log: false,
        ..settings.clone()
    };
    let rt = setup::runtime(settings, None, false, None)?;
    let p = rt.project();
    let problems = crate::tools::shell::rule_problems(&p.config.shell);
    if let Some((i, why)) = problems.first() {
        let prefix = &p.config.shell.allow[*i].prefix;
        return Err(Error::Usage {
            message: format!(
                "`[shell] allow` rule #{} (prefix `{prefix}`) in llm-do.toml can never match: {why}",
                i + 1
            ),
            help: Some(
                "fix or remove the rule; commands are matched word by word without a shell".into(),
            ),
        });
    }
    if settings.json {
        let v = serde_json::json!({
            "ok": true,
            "workers": p.workers.len(),
            "fns": p.fns.len(),
            "root": p.root.display().to_string(),
        });
        out_line(&v.to_string())?;
    } else if !settings.quiet {
        out_line(&format!(
            "ok: {} workers, {} fns in `{}`",
            p.workers.len(),
            p.fns.len(),
            p.root.display()
        ))?;
    }
    Ok(())
}
