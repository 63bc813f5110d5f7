//! `llm-do list`: workers, fns, switches, builtins and toolsets with descriptions and sources
//! (the rows and their rendering are [`crate::project::listing`], shared with the REPL's
//! `:list`).

use crate::project::listing::{Listing, rows};
use crate::report::{Error, show};
use crate::session::Session;
use crate::settings::Settings;

/// Print one row per name (`--json`: an array of `{kind, name, description, source}`).
pub fn run(settings: &Settings) -> Result<(), Error> {
    let session = Session::of(settings).unlogged().open()?;
    show(
        &Listing(rows(&session.runtime().project(), Vec::new())),
        settings.json,
    )
}
