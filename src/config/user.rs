//! The user config (DESIGN §16): `$XDG_CONFIG_HOME/llm-do/config.toml` (or `LLM_DO_CONFIG`)
//! holds a default model, model aliases, provider tables and limits for every project. Where
//! it lives ([`path`]) and how it sits under the project's `llm-do.toml`, which wins key by key
//! ([`Config::over`]); `project` reads it beside the project's files.

use std::path::PathBuf;

use etcetera::BaseStrategy;
use serde_json::{Map, Value};

use super::Config;
use crate::env_vars::LLM_DO_CONFIG;

/// Where the user config lives: `LLM_DO_CONFIG`, else `llm-do/config.toml` in the XDG config
/// folder (`$XDG_CONFIG_HOME`, default `~/.config`). `None` when there is no home folder.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(LLM_DO_CONFIG).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let xdg = etcetera::base_strategy::Xdg::new().ok()?;
    Some(xdg.config_dir().join("llm-do").join("config.toml"))
}

impl Config {
    /// This (project) config over `user`: every key set here wins, the rest comes from
    /// `user`. The keys of `[defaults]`, `[limits]` and `[otel]` merge one by one, aliases and
    /// provider tables by name (a project table replaces the user's table of the same name
    /// whole): one rule, two levels deep, for every section a user config may hold.
    #[must_use]
    pub fn over(self, user: &Config) -> Config {
        let (Ok(Value::Object(mut merged)), Ok(Value::Object(user))) =
            (serde_json::to_value(&self), serde_json::to_value(user))
        else {
            return self;
        };
        for (section, table) in user {
            let Value::Object(table) = table else {
                continue;
            };
            let into = merged
                .entry(section)
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(into) = into else { continue };
            for (key, value) in table {
                if into.get(&key).is_none_or(Value::is_null) {
                    into.insert(key, value);
                }
            }
        }
        // Both sides are configs, so their merge is one too.
        serde_json::from_value(Value::Object(merged)).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_user_config;

    fn parse(text: &str) -> Config {
        super::super::parse_config(Path::new("x.toml"), text).unwrap()
    }

    #[test]
    fn the_project_wins_key_by_key() {
        let user = parse(
            "[defaults]\nmodel = \"test\"\n[limits]\nmax_depth = 3\nmax_parallel = 2\n\
             [models]\nfast = \"openai:a\"\nsmart = \"openai:b\"\n",
        );
        let project = parse("[limits]\nmax_depth = 9\n[models]\nfast = \"openai:c\"\n");
        let merged = project.over(&user);
        assert_eq!(merged.defaults.model.as_deref(), Some("test"));
        assert_eq!(merged.limits.max_depth, Some(9));
        assert_eq!(merged.limits.max_parallel, Some(2));
        let one = |id: &str| crate::config::AliasTarget::One(id.into());
        assert_eq!(merged.models["fast"], one("openai:c"));
        assert_eq!(merged.models["smart"], one("openai:b"));
    }

    #[test]
    fn every_user_section_merges_by_the_same_rule() {
        let user = parse(
            "[limits]\nmax_worker_runs = 7\nmax_cost_usd = 0.5\n\
             [otel]\nendpoint = \"http://u\"\nservice_name = \"user\"\n\
             [providers.local]\nbase_url = \"http://u/v1\"\nwire = \"openai\"\nmax_concurrent = 2\n\
             [providers.other]\nbase_url = \"http://o/v1\"\nwire = \"anthropic\"\n",
        );
        let project = parse(
            "[otel]\nservice_name = \"project\"\n\
             [providers.local]\nbase_url = \"http://p/v1\"\nwire = \"openai\"\n\
             [[approvals]]\ntool = \"*\"\ndecision = \"reject\"\n",
        );
        let merged = project.clone().over(&user);
        // Keys of a section one by one, whatever the section.
        assert_eq!(merged.limits.max_worker_runs, Some(7));
        assert_eq!(merged.limits.max_cost_usd, Some(0.5));
        assert_eq!(merged.otel.endpoint.as_deref(), Some("http://u"));
        assert_eq!(merged.otel.service_name.as_deref(), Some("project"));
        // A provider table of the project replaces the user's whole; others join.
        assert_eq!(merged.providers["local"], project.providers["local"]);
        assert_eq!(merged.providers["other"], user.providers["other"]);
        // What only a project holds stays as it is.
        assert_eq!(merged.approvals, project.approvals);
        // An empty user config changes nothing.
        assert_eq!(project.clone().over(&Config::default()), project);
    }

    #[test]
    fn a_user_config_cannot_grant_powers() {
        let e = parse_user_config(
            Path::new("config.toml"),
            "[defaults]\nmodel = \"test\"\n\n[[approvals]]\ntool = \"*\"\ndecision = \"approve\"\n",
        )
        .unwrap_err();
        assert!(
            e.message.contains("`[approvals]` cannot be set"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_keys_name_the_user_file() {
        let e = parse_user_config(Path::new("/h/config.toml"), "[default]\nmodel = \"test\"\n")
            .unwrap_err();
        assert!(e.message.contains("in `config.toml`"), "{}", e.message);
    }
}
