//! `llm-do check`: load and validate the whole project, no network.

use crate::report::{Error, out_line};
use crate::session::Session;
use crate::settings::Settings;

/// Load the project and report problems (exit 2) or a one-line summary (`--json`: an object;
/// errors then follow `--error-format`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &Settings {
        load_only: true,
        ..settings.clone()
    };
    let session = Session::of(settings).unlogged().no_trace_file().open()?;
    let p = session.runtime().project();
    let switches: serde_json::Map<String, serde_json::Value> = p
        .config
        .stabilize
        .iter()
        .map(|(name, mode)| (name.clone(), serde_json::json!(mode.to_string())))
        .collect();
    if settings.json {
        let v = serde_json::json!({
            "ok": true,
            "workers": p.workers.len(),
            "fns": p.fns.len(),
            "root": p.root.display().to_string(),
            "stabilize": switches,
        });
        out_line(&v.to_string())?;
    } else if !settings.quiet {
        out_line(&format!(
            "ok: {}, {} in `{}`",
            crate::output::count(p.workers.len() as u64, "worker"),
            crate::output::count(p.fns.len() as u64, "fn"),
            p.root.display()
        ))?;
        for (name, mode) in &p.config.stabilize {
            let untrusted = match p.switch(name).and_then(|s| s.untrusted_side()) {
                Some(side) => format!(
                    "; the {side} is an untrusted draft (`llm-do stabilize {name} --accept` trusts it)"
                ),
                None => String::new(),
            };
            out_line(&format!(
                "stabilize: `{name}` is served by {}{untrusted}",
                serves(*mode)
            ))?;
        }
    }
    Ok(())
}

pub use crate::project::listing::serves;
