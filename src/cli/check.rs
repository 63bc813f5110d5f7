//! `llm-do check`: load and validate the whole project, no network.

use std::collections::BTreeMap;

use crate::config::Stabilize;
use crate::project::Project;
use crate::report::{Error, show};
use crate::settings::Settings;

use crate::session::Session;

/// What `check` found in a project that loads.
#[derive(Debug, serde::Serialize)]
pub struct Checked {
    ok: bool,
    workers: usize,
    fns: usize,
    root: String,
    /// Each `[stabilize]` name and its mode.
    stabilize: BTreeMap<String, Stabilize>,
    /// The untrusted side of a switch, by name (said in the text only).
    #[serde(skip)]
    untrusted: BTreeMap<String, String>,
}

impl Checked {
    /// The summary of a loaded `project`.
    pub fn of(p: &Project) -> Checked {
        let untrusted = p
            .config
            .stabilize
            .keys()
            .filter_map(|name| {
                let side = p.switch(name).and_then(|s| s.untrusted_side())?;
                Some((name.clone(), side.to_string()))
            })
            .collect();
        Checked {
            ok: true,
            workers: p.workers.len(),
            fns: p.fns.len(),
            root: p.root.display().to_string(),
            stabilize: p.config.stabilize.clone(),
            untrusted,
        }
    }
}

impl crate::output::Show for Checked {
    /// `ok: N workers, N fns in ROOT`, then how each switch is served.
    fn text(&self) -> String {
        let count = |n: usize, what| crate::output::count(n as u64, what);
        let mut text = format!(
            "ok: {}, {} in `{}`\n",
            count(self.workers, "worker"),
            count(self.fns, "fn"),
            self.root
        );
        for (name, mode) in &self.stabilize {
            let untrusted = match self.untrusted.get(name) {
                Some(side) => format!(
                    "; the {side} is an untrusted draft (`llm-do stabilize {name} --accept` trusts it)"
                ),
                None => String::new(),
            };
            text.push_str(&format!(
                "stabilize: `{name}` is served by {}{untrusted}\n",
                serves(*mode)
            ));
        }
        text
    }
}

/// Load the project and report problems (exit 2) or a summary (`--json`: an object; errors
/// then follow `--error-format`); `-q` leaves the text summary out.
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &Settings {
        load_only: true,
        ..settings.clone()
    };
    let session = Session::of(settings).unlogged().open()?;
    let rt = session.runtime();
    if settings.quiet && !settings.json {
        return Ok(());
    }
    show(&Checked::of(&rt.project()), settings.json)
}

pub use crate::project::listing::serves;
