//! `llm-do models`: arguments -> [`Models`] -> the one printer. Works outside a project too
//! (built-ins and the user config); the REPL's `:models` shows the same data.

use crate::project::models::Models;
use crate::report::{Error, show};
use crate::settings::Settings;

/// Print providers, aliases and prices (`--json`: one object).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let config = crate::project::load_config(&settings.root)?;
    show(&Models::from_env(&config), settings.json)
}
