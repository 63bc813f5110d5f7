//! Cassettes of model exchanges (`--record FILE`, `--replay FILE`): a [`Model`] decorator.
//!
//! Recording wraps whatever model a worker resolves to and keeps every `{request, response}`
//! pair; [`Cassette::save`] writes them atomically at exit. Replaying needs no provider at all
//! (no key, no network): a request is answered by the first unused recorded exchange of the
//! same worker whose request is equal (the model name aside, so a cassette recorded with one
//! model replays under another). That is a queue per (worker, request) key, deterministic
//! even when calls run concurrently. A request with no match fails plainly when the worker has
//! used up its recordings (the run makes more model calls than the recorded one did), and
//! otherwise with a line diff against the closest unused recording of that worker.
//!
//! Only the provider-neutral request and response are stored: no headers, so no secrets.

mod diff;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Model, ModelError, ModelRequest, ModelResponse, SharedModel, StreamSink};

/// Version of the cassette format.
pub const CASSETTE_VERSION: u64 = 1;

/// One recorded round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The worker that sent the request.
    pub worker: String,
    /// The model that answered when recording (informational; not matched on replay).
    pub model: String,
    /// The [`ModelRequest`] as JSON.
    pub request: Value,
    pub response: ModelResponse,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CassetteFile {
    version: u64,
    exchanges: Vec<Exchange>,
}

/// Errors loading or saving a cassette.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CassetteError {
    #[error("cannot read cassette `{path}`: {message}")]
    #[diagnostic(help("record one with `--record {path}`"))]
    Read { path: String, message: String },
    #[error("cassette `{path}` is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write cassette `{path}`: {message}")]
    Write { path: String, message: String },
}

/// A replayable exchange and whether it was served already.
#[derive(Debug)]
struct Slot {
    exchange: Exchange,
    key: String,
    used: bool,
}

/// A cassette being recorded or replayed.
#[derive(Debug)]
pub struct Cassette {
    path: PathBuf,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// The exchanges recorded so far.
    Record(Mutex<Vec<Exchange>>),
    Replay(Mutex<Replay>),
}

/// What a replay has served so far.
#[derive(Debug, Default)]
struct Replay {
    slots: Vec<Slot>,
    /// Requests each worker has made, answered or not.
    made: HashMap<String, usize>,
}

impl Cassette {
    /// An empty cassette to be written to `path` by [`Cassette::save`].
    pub fn record(path: &Path) -> Self {
        Cassette {
            path: path.to_path_buf(),
            mode: Mode::Record(Mutex::default()),
        }
    }

    /// Load `path` for replay.
    pub fn replay(path: &Path) -> Result<Self, CassetteError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CassetteError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| CassetteError::Parse {
            path: shown.clone(),
            message,
        };
        let file: CassetteFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if file.version != CASSETTE_VERSION {
            return Err(invalid(format!(
                "format version {} (this llm-do reads version {CASSETTE_VERSION})",
                file.version
            )));
        }
        let slots = file
            .exchanges
            .into_iter()
            .map(|exchange| Slot {
                key: key_of(&exchange.request),
                exchange,
                used: false,
            })
            .collect();
        Ok(Cassette {
            path: path.to_path_buf(),
            mode: Mode::Replay(Mutex::new(Replay {
                slots,
                made: HashMap::new(),
            })),
        })
    }

    /// Whether this cassette answers requests itself (no provider needed).
    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay(_))
    }

    /// Write a recorded cassette atomically (nothing to do when replaying).
    pub fn save(&self) -> Result<(), CassetteError> {
        let Mode::Record(exchanges) = &self.mode else {
            return Ok(());
        };
        let path = &self.path;
        let exchanges = crate::sync::lock(exchanges).clone();
        let file = CassetteFile {
            version: CASSETTE_VERSION,
            exchanges,
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        crate::atomic::write_atomic(path, text.as_bytes()).map_err(|e| CassetteError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// A model for `id` served or recorded by this cassette. Replay ignores `inner`.
    pub fn wrap(self: &Arc<Self>, id: &str, inner: Option<SharedModel>) -> SharedModel {
        Arc::new(CassetteModel {
            cassette: self.clone(),
            id: id.to_string(),
            inner,
        })
    }

    fn serve(&self, worker: &str, request: &Value) -> Result<ModelResponse, ModelError> {
        let (path, Mode::Replay(state)) = (&self.path, &self.mode) else {
            return Err(ModelError::Other("the cassette is not replaying".into()));
        };
        let key = key_of(request);
        let mut state = crate::sync::lock(state);
        let made = state.made.entry(worker.to_string()).or_default();
        *made += 1;
        let made = *made;
        if let Some(slot) = state
            .slots
            .iter_mut()
            .find(|s| !s.used && s.exchange.worker == worker && s.key == key)
        {
            slot.used = true;
            return Ok(slot.exchange.response.clone());
        }
        Err(ModelError::Other(mismatch(
            path,
            worker,
            (made, &key, request),
            &state.slots,
        )))
    }
}

/// What a request is matched on: everything but the model name, as canonical JSON text.
fn key_of(request: &Value) -> String {
    serde_json::to_string(&without_model(request)).unwrap_or_default()
}

/// The request as diffed: pretty JSON, each line ending in a newline.
fn pretty(request: &Value) -> String {
    let json = serde_json::to_string_pretty(&without_model(request)).unwrap_or_default();
    json + "\n"
}

fn without_model(request: &Value) -> Value {
    let mut r = request.clone();
    if let Some(map) = r.as_object_mut() {
        map.shift_remove("model");
    }
    r
}

/// The replay failure of `request` (the `made`-th of `worker`, matched on `key`): the cassette
/// ran out for this worker, or this request was recorded fewer times than it is made, or a
/// diff against the closest unused recording.
fn mismatch(
    path: &Path,
    worker: &str,
    (made, key, request): (usize, &str, &Value),
    slots: &[Slot],
) -> String {
    let shown = path.display();
    let hint = format!("if the change is intended, record again with `--record {shown}`");
    let mine: Vec<&Slot> = slots
        .iter()
        .filter(|s| s.exchange.worker == worker)
        .collect();
    if mine.is_empty() {
        return format!("replay: cassette `{shown}` has no exchange for worker `{worker}`; {hint}");
    }
    let recorded = mine.len();
    let unused: Vec<&&Slot> = mine.iter().filter(|s| !s.used).collect();
    if unused.is_empty() || made > recorded {
        return format!(
            "replay: cassette `{shown}` has {} for worker `{worker}`; request {made} has no recording (this run makes more model calls than the recorded one did); {hint}",
            crate::output::count(recorded as u64, "recorded exchange")
        );
    }
    let same = mine.iter().filter(|s| s.key == key).count();
    if same > 0 {
        return format!(
            "replay: worker `{worker}` repeats a request that cassette `{shown}` recorded {} and that was already replayed; {hint}",
            crate::output::count(same as u64, "time")
        );
    }
    let now = pretty(request);
    let closest = unused
        .iter()
        .map(|s| {
            let old = pretty(&s.exchange.request);
            (diff::distance(&old, &now), old)
        })
        .min_by_key(|(d, _)| *d);
    let old = closest.map(|(_, old)| old).unwrap_or_default();
    format!(
        "replay: the request of worker `{worker}` differs from cassette `{shown}` (- recorded, + now):\n{}{hint}",
        diff::render(&old, &now)
    )
}

/// The decorator: records around `inner`, or replays from the cassette.
struct CassetteModel {
    cassette: Arc<Cassette>,
    id: String,
    inner: Option<SharedModel>,
}

impl Model for CassetteModel {
    fn id(&self) -> &str {
        &self.id
    }

    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let worker = request.output_name.clone().unwrap_or_default();
            let json =
                serde_json::to_value(request).map_err(|e| ModelError::Other(e.to_string()))?;
            match (&self.cassette.mode, &self.inner) {
                (Mode::Record(exchanges), Some(inner)) => {
                    let response = inner.complete(request, sink).await?;
                    crate::sync::lock(exchanges).push(Exchange {
                        worker,
                        model: self.id.clone(),
                        request: json,
                        response: response.clone(),
                    });
                    Ok(response)
                }
                _ => self.cassette.serve(&worker, &json),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn request(text: &str) -> ModelRequest {
        ModelRequest {
            model: "m".into(),
            system: "sys".into(),
            messages: vec![Message::user(text)].into(),
            output_name: Some("w".into()),
            ..ModelRequest::default()
        }
    }

    fn reply(text: &str) -> ModelResponse {
        ModelResponse {
            text: text.into(),
            ..ModelResponse::default()
        }
    }

    fn replaying(exchanges: Vec<(&str, &str)>) -> Arc<Cassette> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let file = CassetteFile {
            version: CASSETTE_VERSION,
            exchanges: exchanges
                .into_iter()
                .map(|(q, a)| Exchange {
                    worker: "w".into(),
                    model: "test".into(),
                    request: serde_json::to_value(request(q)).unwrap(),
                    response: reply(a),
                })
                .collect(),
        };
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        Arc::new(Cassette::replay(&path).unwrap())
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn equal_requests_are_served_in_recorded_order_under_any_model() {
        let c = replaying(vec![("a", "1"), ("b", "2"), ("a", "3")]);
        let m = c.wrap("other:model", None);
        let mut other = request("a");
        other.model = "different".into();
        assert_eq!(block(m.complete(&other, None)).unwrap().text, "1");
        assert_eq!(block(m.complete(&request("b"), None)).unwrap().text, "2");
        assert_eq!(block(m.complete(&request("a"), None)).unwrap().text, "3");
        let e = block(m.complete(&request("a"), None)).unwrap_err();
        assert!(e.to_string().contains("request 4 has no recording"), "{e}");
    }

    #[test]
    fn running_out_says_so_plainly_instead_of_a_diff() {
        let c = replaying(vec![("a", "1"), ("b", "2")]);
        let m = c.wrap("test", None);
        block(m.complete(&request("a"), None)).unwrap();
        block(m.complete(&request("b"), None)).unwrap();
        let e = block(m.complete(&request("c"), None))
            .unwrap_err()
            .to_string();
        let path = c.path.display().to_string();
        assert_eq!(
            e,
            format!(
                "replay: cassette `{path}` has 2 recorded exchanges for worker `w`; request 3 has no recording (this run makes more model calls than the recorded one did); if the change is intended, record again with `--record {path}`"
            )
        );
    }

    #[test]
    fn a_request_made_more_often_than_recorded_is_not_diffed_against_another() {
        let c = replaying(vec![("a", "1"), ("b", "2")]);
        let m = c.wrap("test", None);
        block(m.complete(&request("a"), None)).unwrap();
        let e = block(m.complete(&request("a"), None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("repeats a request that cassette") && e.contains("recorded 1 time and"),
            "{e}"
        );
        assert!(!e.contains("differs"), "{e}");
    }

    #[test]
    fn a_changed_request_fails_with_a_diff() {
        let c = replaying(vec![("hello", "1")]);
        let m = c.wrap("test", None);
        let e = block(m.complete(&request("goodbye"), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("differs from cassette"), "{e}");
        assert!(e.contains("-           \"value\": \"hello\""), "{e}");
        assert!(e.contains("+           \"value\": \"goodbye\""), "{e}");
    }

    #[test]
    fn recording_saves_what_the_inner_model_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/c.json");
        let c = Arc::new(Cassette::record(&path));
        let inner: SharedModel = Arc::new(crate::model::test::TestModel);
        let m = c.wrap("test", Some(inner));
        let got = block(m.complete(&request("hi"), None)).unwrap();
        c.save().unwrap();
        let replay = Arc::new(Cassette::replay(&path).unwrap());
        let again = block(replay.wrap("x", None).complete(&request("hi"), None)).unwrap();
        assert_eq!(got, again);
    }
}
