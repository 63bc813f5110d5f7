//! The models registry of a runtime (DESIGN §7): which model a worker runs on (the resolution
//! order: session, `--model`, the worker's `models:`, `LLM_DO_MODEL`, `[defaults] model`, a
//! replayed cassette), `[models]` aliases, fallback chains, cassette wrapping (`--record`,
//! `--replay`), and the models made, cached per id until the next reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::call::CallError;
use crate::model::cassette::Cassette;
use crate::model::providers::ProviderSettings;
use crate::model::{SharedModel, test::TestModel};
use crate::project::Project;
use crate::script::caller::Caller;
use crate::settings::Settings;
use crate::worker::WorkerSpec;

/// Receives model text while it streams in (shown live with `-v` on a terminal).
pub trait LiveText: Send + Sync {
    /// A piece of text.
    fn delta(&self, text: &str);
    /// The reply is complete (e.g. end the line).
    fn end(&self);
    /// Whether replies of a worker run `depth` deep stream here (1: a worker called from the
    /// top, e.g. the one `llm-do chat` talks with).
    fn wants(&self, depth: u32) -> bool {
        let _ = depth;
        true
    }
}

/// What model making needs for the whole process.
pub(super) struct Models {
    /// The one HTTP client of the process (connection reuse), built on first use and kept
    /// across reloads.
    http: OnceLock<reqwest::Client>,
    /// `--record` / `--replay`: wraps (or replaces) every model.
    pub(super) cassette: Option<Arc<Cassette>>,
    /// Where streamed model text goes as it arrives; `None`: no streaming.
    pub(super) live: Option<Arc<dyn LiveText>>,
    /// What `script:` models call their fn through.
    caller: Weak<dyn Caller>,
}

/// The models of one loaded project (replaced with it on reload): its HTTP provider settings,
/// built on first use, and the models made from them, per id.
#[derive(Clone, Default)]
pub(super) struct ModelCache {
    providers: Arc<OnceLock<ProviderSettings>>,
    models: Arc<Mutex<HashMap<String, SharedModel>>>,
}

impl Models {
    pub(super) fn new(
        cassette: Option<Arc<Cassette>>,
        live: Option<Arc<dyn LiveText>>,
        caller: Weak<dyn Caller>,
    ) -> Models {
        Models {
            http: OnceLock::new(),
            cassette,
            live,
            caller,
        }
    }

    /// The cassette being replayed (`--replay`), if any.
    fn replay(&self) -> Option<&Arc<Cassette>> {
        self.cassette.as_ref().filter(|c| c.is_replay())
    }

    /// Whether no HTTP provider can be used: `--model` names the `test` or a `script:` model,
    /// or a cassette is replayed.
    pub(super) fn offline(&self, settings: &Settings) -> bool {
        settings
            .model_override
            .as_deref()
            .is_some_and(|m| m == crate::model::test::TEST_MODEL_ID || m.starts_with("script:"))
            || self.replay().is_some()
    }

    /// The one HTTP client of the process, built now if it was not.
    pub(super) fn http_client(&self) -> reqwest::Client {
        self.http.get_or_init(crate::model::http::client).clone()
    }

    /// Settings of HTTP providers from the project's `[providers]` as loaded now, with the one
    /// `reqwest::Client` of the process (connection reuse).
    fn providers_of(&self, cache: &ModelCache, project: &Project) -> ProviderSettings {
        cache
            .providers
            .get_or_init(|| {
                let mut s =
                    ProviderSettings::new(self.http_client(), project.config.providers.clone());
                s.stream = self.live.is_some();
                s.retry = crate::model::retry::RetryPolicy::from_env(|name| (s.env)(name));
                s
            })
            .clone()
    }

    /// The model `spec` runs on (DESIGN §7 resolution order: `session`'s choice, then
    /// `settings`' `--model`, the worker's `models:`, `LLM_DO_MODEL`, the project's default, a
    /// replayed cassette), made once per id in `project`'s `cache`.
    pub(super) fn model_for(
        &self,
        project: &Project,
        cache: &ModelCache,
        session: Option<String>,
        settings: &Settings,
        spec: &WorkerSpec,
    ) -> Result<SharedModel, CallError> {
        let chosen = session
            .or_else(|| settings.model_override.clone())
            .map(|id| vec![id])
            .or_else(|| {
                (!spec.models.is_empty())
                    .then(|| spec.models.iter().map(|m| m.name.clone()).collect())
            })
            .or_else(|| settings.env_model.clone().map(|id| vec![id]))
            .or_else(|| project.config.defaults.model.clone().map(|id| vec![id]))
            .or_else(|| self.replay().map(|_| vec!["replay".to_string()]))
            .ok_or_else(|| CallError::NoModel {
                worker: spec.name.clone(),
            })?;
        let ids = expand_aliases(&project.config, &chosen).map_err(|e| CallError::Model {
            worker: spec.name.clone(),
            model: chosen.join(", "),
            source: crate::model::ModelError::Other(e.to_string()),
        })?;
        let chain = ids.into_iter().enumerate().map(|(i, id)| {
            match self.model_by_id(project, cache, spec, id.clone()) {
                // A later member is made when the chain reaches it: a missing key for a
                // fallback does not stop the members before it from serving.
                Err(CallError::Model { source, .. }) if i > 0 => Ok(Arc::new(
                    crate::model::fallback::Unavailable::new(id, source.to_string()),
                )
                    as SharedModel),
                other => other,
            }
        });
        let chain = chain.collect::<Result<Vec<_>, _>>()?;
        Ok(crate::model::fallback::FallbackModel::shared(chain).expect("a model was chosen"))
    }

    /// The model of one concrete id, made once per id and cached.
    fn model_by_id(
        &self,
        project: &Project,
        cache: &ModelCache,
        spec: &WorkerSpec,
        id: String,
    ) -> Result<SharedModel, CallError> {
        let mut models = crate::sync::lock(&cache.models);
        if let Some(m) = models.get(&id) {
            return Ok(m.clone());
        }
        let model: SharedModel = if let Some(c) = self.replay() {
            // Replay is offline: no provider is resolved, so no key is needed.
            c.wrap(&id, None)
        } else if id == crate::model::test::TEST_MODEL_ID {
            Arc::new(TestModel)
        } else if let Some(f) = id.strip_prefix("script:") {
            Arc::new(crate::script::model::ScriptModel::new(
                self.caller.clone(),
                f,
                &id,
            ))
        } else {
            crate::model::providers::resolve(&id, &self.providers_of(cache, project)).map_err(
                |source| CallError::Model {
                    worker: spec.name.clone(),
                    model: id.clone(),
                    source,
                },
            )?
        };
        let model = match self.cassette.as_ref().filter(|c| !c.is_replay()) {
            Some(c) => c.wrap(&id, Some(model)),
            None => model,
        };
        models.insert(id, model.clone());
        Ok(model)
    }
}

/// Model names (ids or `[models]` aliases) expanded into concrete ids in fallback order.
fn expand_aliases(
    config: &crate::config::Config,
    names: &[String],
) -> Result<Vec<String>, crate::config::AliasError> {
    let mut ids: Vec<String> = Vec::new();
    for name in names {
        if name == "replay" {
            ids.push(name.clone());
            continue;
        }
        for id in config.expand_model(name)? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}
