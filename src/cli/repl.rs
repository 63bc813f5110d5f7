//! `llm-do repl` (and bare `llm-do` on a terminal): the interactive loop serving the Rhai line
//! handler, with a call tree that `:trace on|off` switches.

use std::sync::Arc;

use crate::report::Error;
use crate::session::{Closings, Session};
use crate::settings::Settings;
use crate::trace::{Toggle, Tree};

/// Start the session in the project of `settings` (or none).
pub async fn run(settings: Settings, closings: &Closings) -> Result<(), Error> {
    let tree = Arc::new(Tree::new(std::io::stderr(), settings.verbosity.max(1)));
    let toggle = Arc::new(Toggle::new(tree, settings.verbosity > 0));
    let session = Session::of(&settings).observer(toggle.clone()).open()?;
    let rt = session.runtime();
    let lines = crate::repl::rhai_line::Session::new(rt.clone(), toggle, settings.json);
    let result = crate::repl::run(rt.clone(), lines).await;
    session.end(closings, result)
}
