//! `llm-do list`: workers, fns, switches, builtins and toolsets with descriptions and sources
//! (the rows and their rendering are [`crate::project::listing`], shared with the REPL's
//! `:list`).

use crate::project::listing::{Listing, rows};
use crate::report::{Error, show};
use crate::settings::Settings;

use super::setup;

/// Print one row per name (`--json`: an array of `{kind, name, description, source}`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let settings = &setup::unlogged(settings);
    let rt = setup::runtime(settings, None, false, None)?;
    show(&Listing(rows(&rt.project(), Vec::new())), settings.json)
}
