//! `llm-do config path|show`: where the user config lives, and the configuration in effect
//! (the project's `llm-do.toml` over the user config). Keys are never in either file, only the
//! names of the variables holding them; MCP `env` values are masked all the same.

use crate::config::Config;
use crate::project;
use crate::report::{Error, show};
use crate::settings::Settings;

/// Where the user config lives (`{"path"}` as JSON).
#[derive(Debug, serde::Serialize)]
pub struct ConfigPath {
    path: std::path::PathBuf,
}

impl crate::output::Show for ConfigPath {
    fn text(&self) -> String {
        format!("{}\n", self.path.display())
    }
}

/// `llm-do config path`: works even when the file is invalid or missing.
pub fn path(json: bool) -> Result<(), Error> {
    let path = crate::config::user::path().ok_or_else(|| {
        Error::usage("no home folder to hold the user config").with_help(format!(
            "set `{}` to the config file's path",
            crate::env_vars::LLM_DO_CONFIG
        ))
    })?;
    show(&ConfigPath { path }, json)
}

/// The configuration in effect: TOML as text, the same value as JSON.
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Effective {
    config: Config,
    #[serde(skip)]
    toml: String,
}

impl crate::output::Show for Effective {
    fn text(&self) -> String {
        self.toml.clone()
    }
}

/// `llm-do config show`: the project's `llm-do.toml` over the user config, as TOML (`--json`:
/// as JSON).
pub fn show_config(settings: &Settings) -> Result<(), Error> {
    let config = masked(project::load_config(&settings.root)?);
    let toml = toml::to_string(&config)
        .map_err(|e| Error::failed(format!("cannot show the configuration: {e}")))?;
    show(&Effective { config, toml }, settings.json)
}

/// `config` with MCP server `env` values hidden (they may hold tokens).
fn masked(mut config: Config) -> Config {
    for server in config.mcp.values_mut() {
        for v in server.env.values_mut() {
            *v = "***".into();
        }
    }
    config
}
