//! `llm-do repl` (and bare `llm-do` on a terminal): the interactive loop serving the Rhai line
//! handler, with a call tree that `:trace on|off` switches.

use std::sync::Arc;

use crate::report::Error;
use crate::settings::Settings;
use crate::trace::{Toggle, Tree};

use super::setup;

/// Start the session in the project of `settings` (or none).
pub async fn run(settings: Settings) -> Result<(), Error> {
    let tree = Arc::new(Tree::new(std::io::stderr(), settings.verbosity.max(1)));
    let toggle = Arc::new(Toggle::new(tree, settings.verbosity > 0));
    let rt = setup::runtime(&settings, None, false, Some(toggle.clone()))?;
    let session = crate::repl::rhai_line::Session::new(rt.clone(), toggle, settings.json);
    let result = crate::repl::run(rt.clone(), session).await;
    setup::finish(&rt, None, result.is_ok())?;
    result
}
