//! `llm-do SCRIPT [ARGS]` (the main job) and `SCRIPT --watch`.

use std::path::Path;

use crate::report::Error;
use crate::session::{Closings, Session, read_script};
use crate::settings::Settings;

/// Run `script` with `args` again whenever the project or the script changes.
pub async fn watch(
    settings: Settings,
    script: &Path,
    args: Vec<String>,
    closings: &Closings,
) -> Result<(), Error> {
    let root = settings.root.clone();
    crate::watch::run(&root, script, || {
        run(settings.clone(), script, args.clone(), closings)
    })
    .await
}

/// Run `script` with `args` and print its value.
pub async fn run(
    settings: Settings,
    script: &Path,
    args: Vec<String>,
    closings: &Closings,
) -> Result<(), Error> {
    let text = read_script(script)?;
    let session = Session::of(&settings).entry(script).open()?;
    session.runtime().prewarm_http();
    let script = session.compile(script, text)?;
    let value = session.run(closings, session.eval(&script, args)).await?;
    crate::report::show_value(&script.value(value)?, settings.json)
}
