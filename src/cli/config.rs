//! `llm-do config path|show`: where the user config lives, and the configuration in effect
//! (the project's `llm-do.toml` over the user config). Keys are never in either file, only the
//! names of the variables holding them; MCP `env` values are masked all the same.

use crate::config::Config;
use crate::project;
use crate::report::{Error, out, out_line};
use crate::settings::Settings;

/// `llm-do config path`: works even when the file is invalid or missing.
pub fn path(json: bool) -> Result<(), Error> {
    let path = crate::config::user::path().ok_or_else(|| {
        Error::usage("no home folder to hold the user config").with_help(format!(
            "set `{}` to the config file's path",
            crate::env_vars::LLM_DO_CONFIG
        ))
    })?;
    if json {
        out_line(&serde_json::json!({ "path": path }).to_string())
    } else {
        out_line(&path.display().to_string())
    }
}

/// `llm-do config show`: the project's `llm-do.toml` over the user config, as TOML (`--json`:
/// as JSON).
pub fn show(settings: &Settings) -> Result<(), Error> {
    let config = masked(project::load_config(&settings.root)?);
    if settings.json {
        let v = serde_json::to_value(&config).unwrap_or_default();
        return out_line(&serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    let text = toml::to_string(&config)
        .map_err(|e| Error::failed(format!("cannot show the configuration: {e}")))?;
    out(&text)
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
