//! Fallback chains (`model: [a, b, c]`, DESIGN §15): a [`Model`] that tries its members in
//! order and moves on when one is overloaded or unreachable (429/529 or 5xx after retries,
//! timeouts, connection errors). Errors that the next model would hit too, or that need a fix
//! (400, 401, a missing key), end the call at once.

use futures_util::future::BoxFuture;

use super::{Model, ModelError, ModelRequest, ModelResponse, SharedModel, StreamSink};

/// Models tried in order; its id is the first member's.
pub struct FallbackModel {
    models: Vec<SharedModel>,
}

impl FallbackModel {
    /// `models` as one model: the only one, or a chain of them; `None` for none.
    pub fn shared(mut models: Vec<SharedModel>) -> Option<SharedModel> {
        match models.len() {
            0 | 1 => models.pop(),
            _ => Some(std::sync::Arc::new(Self { models })),
        }
    }
}

/// A later member of a chain that could not be made (its provider has no key, say): the chain
/// still serves from the members before it, and fails with this reason only when it gets here.
pub struct Unavailable {
    id: String,
    why: String,
}

impl Unavailable {
    /// The member `id`, failing with `why` when reached.
    #[must_use]
    pub fn new(id: String, why: String) -> Self {
        Self { id, why }
    }
}

impl Model for Unavailable {
    fn id(&self) -> &str {
        &self.id
    }

    fn complete<'a>(
        &'a self,
        _request: &'a ModelRequest,
        _sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move { Err(ModelError::Other(self.why.clone())) })
    }
}

/// The API model name of a full id (`anthropic:claude-x` → `claude-x`).
pub fn api_name(id: &str) -> &str {
    id.split_once(':').map_or(id, |(_, m)| m)
}

/// Whether the next model of a chain may succeed where this one failed.
#[must_use]
pub fn moves_on(e: &ModelError) -> bool {
    match e {
        ModelError::RetriesExhausted { last, .. } => moves_on(last),
        other => other.is_retryable(),
    }
}

impl Model for FallbackModel {
    fn id(&self) -> &str {
        self.models[0].id()
    }

    /// Each member in turn; the reply lists the members skipped before it
    /// ([`ModelResponse::served`] names the one that answered).
    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let mut tried = Vec::new();
            let mut last: Option<ModelError> = None;
            let mut skipped = Vec::new();
            for model in &self.models {
                if let Some(e) = &last {
                    // The reply will say why the chain moved on (`-v`, traces, the run log).
                    skipped.push(super::Fallback {
                        from: tried.last().cloned().unwrap_or_default(),
                        to: model.id().to_owned(),
                        reason: e.to_string(),
                    });
                }
                let name = api_name(model.id());
                // The request names the first member; the others get their own name.
                let renamed;
                let sent = if request.model.is_empty() || request.model == name {
                    request
                } else {
                    renamed = ModelRequest {
                        model: name.to_owned(),
                        ..request.clone()
                    };
                    &renamed
                };
                match model.complete(sent, sink).await {
                    Ok(mut reply) => {
                        skipped.append(&mut reply.fallbacks);
                        reply.fallbacks = skipped;
                        return Ok(reply);
                    }
                    Err(e) if moves_on(&e) => {
                        tried.push(model.id().to_owned());
                        last = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(ModelError::Fallback {
                tried,
                last: Box::new(last.unwrap_or_else(|| ModelError::Other("no model".into()))),
            })
        })
    }

    fn next_in_chain(&self) -> Option<SharedModel> {
        Self::shared(self.models[1..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails with `error` (a constructor) or answers with its id; counts calls.
    struct Fake {
        id: String,
        error: Option<fn() -> ModelError>,
        calls: AtomicU32,
    }

    impl Model for Fake {
        fn id(&self) -> &str {
            &self.id
        }
        fn complete<'a>(
            &'a self,
            request: &'a ModelRequest,
            _: Option<StreamSink<'a>>,
        ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let result = match self.error {
                Some(e) => Err(e()),
                None => Ok(ModelResponse {
                    text: format!("{} as {}", self.id, request.model),
                    ..ModelResponse::default()
                }),
            };
            Box::pin(async move { result })
        }
    }

    fn fake(id: &str, error: Option<fn() -> ModelError>) -> Arc<Fake> {
        Arc::new(Fake {
            id: id.into(),
            error,
            calls: AtomicU32::new(0),
        })
    }

    fn http(status: u16) -> ModelError {
        ModelError::Http {
            provider: "p".into(),
            status,
            message: "m".into(),
            retryable: status == 429 || status >= 500,
            retry_after: None,
        }
    }

    fn chain(models: &[&Arc<Fake>]) -> SharedModel {
        FallbackModel::shared(models.iter().map(|m| (*m).clone() as SharedModel).collect()).unwrap()
    }

    fn request() -> ModelRequest {
        ModelRequest {
            model: "a".into(),
            ..ModelRequest::default()
        }
    }

    #[tokio::test]
    async fn moves_on_at_overload_and_names_the_server() {
        let a = fake(
            "p:a",
            Some(|| ModelError::RetriesExhausted {
                attempts: 3,
                last: Box::new(http(529)),
            }),
        );
        let b = fake("q:b", None);
        let f = chain(&[&a, &b]);
        let req = ModelRequest {
            model: "a".into(),
            ..request()
        };
        let reply = f.complete(&req, None).await.unwrap();
        assert_eq!(
            (reply.text.as_str(), reply.served(&*f)),
            ("q:b as b", "q:b")
        );
        assert_eq!(
            reply.fallbacks,
            vec![crate::model::Fallback {
                from: "p:a".into(),
                to: "q:b".into(),
                reason: "gave up after 3 attempts: p returned HTTP 529: m".into(),
            }]
        );
        assert_eq!(f.id(), "p:a");
    }

    #[tokio::test]
    async fn stops_at_errors_the_next_model_would_not_fix() {
        for status in [400, 401] {
            let a = fake(
                "p:a",
                Some(if status == 400 {
                    || http(400)
                } else {
                    || http(401)
                }),
            );
            let b = fake("q:b", None);
            let err = chain(&[&a, &b])
                .complete(&request(), None)
                .await
                .unwrap_err();
            assert!(err.to_string().contains(&status.to_string()), "{err}");
            assert_eq!(b.calls.load(Ordering::SeqCst), 0);
        }
    }

    #[tokio::test]
    async fn all_failing_names_every_model() {
        let a = fake("p:a", Some(|| http(503)));
        let b = fake(
            "q:b",
            Some(|| ModelError::Timeout {
                provider: "q".into(),
                secs: 1,
            }),
        );
        let err = chain(&[&a, &b])
            .complete(&request(), None)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("`p:a`, `q:b`") && message.contains("timed out"),
            "{message}"
        );
    }

    #[test]
    fn the_rest_of_a_chain() {
        let (a, b, c) = (fake("p:a", None), fake("p:b", None), fake("p:c", None));
        let rest = chain(&[&a, &b, &c]).next_in_chain().unwrap();
        assert_eq!(rest.id(), "p:b");
        assert_eq!(rest.next_in_chain().unwrap().id(), "p:c");
        assert!(rest.next_in_chain().unwrap().next_in_chain().is_none());
    }
}
