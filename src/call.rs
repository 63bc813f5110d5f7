//! The call convention shared by every path that reaches a name (DESIGN §12): the per-call
//! context (depth, worker chain), the input as the caller wrote it, argument mapping by
//! parameter name, the errors a call can end with. The script layer reaches the runtime's
//! one resolver and invoker through `script::caller::Caller`.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::cancel::CancelScope;
use crate::model::{Message, ModelError};

/// The input of a call as its caller wrote it: Rhai values from a script (`None` when
/// `call(name)` has no input) or JSON from an LLM tool call, `llm-do run` or a case file.
/// A turn of a conversation (`llm-do chat`, a script's `chat()`) is JSON input sent after the
/// conversation's earlier messages; only a worker takes one.
#[derive(Debug, Clone)]
pub enum Input {
    Rhai(Option<rhai::Dynamic>),
    Json(Value),
    Turn(Value, Conversation),
}

/// A conversation with one worker held across calls (`llm-do chat`, a script's `chat()`): the
/// messages of its turns so far, which a worker run sends before the new input. A turn that
/// ends with an answer appends its messages (the input, tool calls and results, the answer);
/// a failed or interrupted turn leaves the conversation as it was. Clones share it.
#[derive(Debug, Clone)]
pub struct Conversation(Arc<Mutex<Turns>>);

#[derive(Debug)]
struct Turns {
    id: String,
    /// Turns ended so far.
    count: u32,
    messages: Vec<Message>,
}

/// Where an ended turn landed in its conversation (what the run log keys it by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnPlace {
    /// The turn's number, from 1.
    pub turn: u32,
    /// Index of the turn's first message in the conversation.
    pub first: usize,
}

impl Default for Conversation {
    fn default() -> Self {
        Self::resume(crate::id::new_run_id(), 0, Vec::new())
    }
}

impl Conversation {
    /// The conversation `id` as kept so far: `turns` ended turns holding `messages`.
    pub fn resume(id: String, turns: u32, messages: Vec<Message>) -> Self {
        Self(Arc::new(Mutex::new(Turns {
            id,
            count: turns,
            messages,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        crate::sync::lock(&self.0)
    }

    /// Its id (the run log's key).
    pub fn id(&self) -> String {
        self.lock().id.clone()
    }

    /// Turns ended so far.
    pub fn turns(&self) -> u32 {
        self.lock().count
    }

    /// The messages so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// Append the messages of one ended turn.
    pub fn append(&self, turn: &[Message]) -> TurnPlace {
        let mut t = self.lock();
        t.count += 1;
        let place = TurnPlace {
            turn: t.count,
            first: t.messages.len(),
        };
        t.messages.extend_from_slice(turn);
        place
    }
}

/// Where a call happens: how deep in nested workers, and which workers are on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCtx {
    /// Number of worker runs enclosing this call (0 at the top of a script).
    pub depth: u32,
    /// Names of the enclosing workers, outermost first.
    pub chain: Arc<Vec<String>>,
    /// Trace id of the enclosing call (worker run or fn tool call), for parent links.
    pub parent: Option<u64>,
    /// The fan-out scope this call runs in: cancelled when a sibling branch fails.
    pub cancel: CancelScope,
}

impl CallCtx {
    /// The context inside a run of worker `name`.
    #[must_use]
    pub fn enter(&self, name: &str) -> CallCtx {
        let mut chain = (*self.chain).clone();
        chain.push(name.to_string());
        CallCtx {
            depth: self.depth + 1,
            chain: Arc::new(chain),
            ..self.clone()
        }
    }

    /// The same context with `parent` as the enclosing traced call.
    #[must_use]
    pub fn with_parent(&self, parent: u64) -> CallCtx {
        CallCtx {
            parent: Some(parent),
            ..self.clone()
        }
    }

    /// The same context inside the fan-out scope `cancel`.
    #[must_use]
    pub fn within(&self, cancel: CancelScope) -> CallCtx {
        CallCtx {
            cancel,
            ..self.clone()
        }
    }
}

/// Errors of one call (a worker run, a fn call, a tool).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CallError {
    #[error("unknown function or worker `{name}`")]
    Unknown {
        name: String,
        #[help]
        help: Option<String>,
    },
    #[error("bad arguments for `{name}`: {message}")]
    #[diagnostic(help("`{name}` takes {}", params_list(.params)))]
    Args {
        name: String,
        message: String,
        params: Vec<String>,
    },
    #[error("input for worker `{worker}` does not match its `input` schema: {}", .errors.join("; "))]
    Input { worker: String, errors: Vec<String> },
    #[error("maximum worker depth {max} exceeded calling `{name}` (chain: {})", .chain.join(" > "))]
    #[diagnostic(help(
        "raise it with `--max-depth N` or `[limits] max_depth` in llm-do.toml, or stop the recursion"
    ))]
    Depth {
        name: String,
        max: u32,
        chain: Vec<String>,
    },
    /// A conversation (`llm-do chat`, `chat()`) needs a worker; `name` is `is` (a fn, a
    /// builtin) or nothing at all (`is: None`).
    #[error("{}", not_a_worker(.name, *.is))]
    NotAWorker {
        name: String,
        is: Option<&'static str>,
        #[help]
        help: Option<String>,
    },
    #[error("worker `{worker}` reached `max_turns` ({max}) without a final answer")]
    #[diagnostic(help(
        "raise `max_turns` in the worker file, or check why the model keeps calling tools"
    ))]
    MaxTurns { worker: String, max: u32 },
    #[error("worker `{worker}` returned output that does not match its `output` schema after {attempts} attempts: {}", .errors.join("; "))]
    Output {
        worker: String,
        attempts: u32,
        errors: Vec<String>,
    },
    /// The model's answer hit `max_tokens` (`finish_reason: "length"`, `stop_reason:
    /// "max_tokens"`): never taken as an answer, except a text answer with `keep_cut_off`.
    #[error("worker `{worker}`: the reply of model `{model}` was cut off at `max_tokens` ({max_tokens} tokens, {from}){}", if *.structured { "; a cut-off structured answer is never valid JSON, so it is not re-asked" } else { "" })]
    #[diagnostic(help(
        "raise `max_tokens` in the worker's frontmatter or `[defaults] max_tokens` in llm-do.toml{}",
        if *.structured { "" } else { ", or set `keep_cut_off: true` to keep a cut-off text answer" }
    ))]
    CutOff {
        worker: String,
        model: String,
        /// The `max_tokens` sent.
        max_tokens: u32,
        /// Where it came from: `the worker's max_tokens`, `[defaults] max_tokens`, `the default`.
        from: &'static str,
        /// Whether the worker has `output:`.
        structured: bool,
    },
    /// `tool_choice: required` (or a named tool) and the model answered without a tool call,
    /// also after being asked again.
    #[error(
        "worker `{worker}` has `tool_choice: {choice}` but model `{model}` answered without calling a tool ({attempts} attempts)"
    )]
    #[diagnostic(help(
        "the model or its server may ignore tools (a llama-server chat template without tools drops them); use a model that calls tools, or drop `tool_choice`"
    ))]
    ToolNotCalled {
        worker: String,
        model: String,
        choice: String,
        attempts: u32,
    },
    #[error("no model for worker `{worker}`")]
    #[diagnostic(help(
        "pass `--model ID` (e.g. `--model test`), set `model:` in the worker, set `LLM_DO_MODEL`, or set `[defaults] model` in llm-do.toml"
    ))]
    NoModel { worker: String },
    #[error("model `{model}` failed in worker `{worker}`")]
    Model {
        worker: String,
        model: String,
        #[source]
        source: ModelError,
    },
    #[error("worker `{worker}`: {message}")]
    Attachment { worker: String, message: String },
    #[error("{0}")]
    Script(String),
    /// A Rhai error raised inside a script fn, kept whole so scripts can catch it and
    /// reports keep its position.
    #[error("{0}")]
    Rhai(Box<rhai::EvalAltResult>),
    /// A `[limits]` budget of the run is spent, or its next request could overspend it
    /// (DESIGN §15): ends the run.
    #[error(
        "budget exceeded: `{limit}` is {max} and this run reached {used}{}",
        next.as_ref().map(|n| format!("; its next request could use up to {n}")).unwrap_or_default()
    )]
    #[diagnostic(help(
        "raise `[limits] {limit}` in llm-do.toml, or make the program call models less"
    ))]
    Budget {
        limit: &'static str,
        max: String,
        /// What the run actually spent (settled requests).
        used: String,
        /// The worst case of the request that was refused, when one was.
        next: Option<String>,
    },
    /// A budget in a worker's frontmatter is spent by one run of it: ends the run.
    #[error("budget exceeded: worker `{worker}` has `{limit}: {max}` and its run reached {used}")]
    #[diagnostic(help(
        "raise `{limit}` in the worker's frontmatter, or make it call the model less"
    ))]
    WorkerBudget {
        worker: String,
        limit: &'static str,
        max: String,
        used: String,
    },
    /// The fan-out would need more evaluation threads than the process has.
    #[error("too many nested fan-outs: {active} branches are already evaluating Rhai")]
    #[diagnostic(help(
        "nest `parallel`/`call_all` less deeply, or lower `limits.max_parallel` so fewer branches run at once"
    ))]
    Threads { active: usize },
    #[error("{0}")]
    Tool(String),
    #[error("aborted at an approval prompt")]
    Aborted,
    #[error("interrupted")]
    Cancelled,
}

impl CallError {
    /// The error on one line with its hint, as a script's `catch` and a model's tool result
    /// show it (the CLI renders the hint apart).
    pub fn one_line(&self) -> String {
        match self {
            CallError::Unknown {
                help: Some(help), ..
            }
            | CallError::NotAWorker {
                help: Some(help), ..
            } => format!("{self} ({help})"),
            CallError::Args { name, params, .. } => {
                format!("{self}; `{name}` takes {}", params_list(params))
            }
            CallError::Budget { limit, .. } => {
                format!("{self}; raise `[limits] {limit}` in llm-do.toml")
            }
            CallError::WorkerBudget { limit, .. } => {
                format!("{self}; raise `{limit}` in the worker's frontmatter")
            }
            other => chain(other),
        }
    }
}

/// An error with its sources, `: `-joined.
pub fn chain(e: &dyn std::error::Error) -> String {
    let causes = std::iter::successors(Some(e), |c| c.source());
    causes
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn not_a_worker(name: &str, is: Option<&str>) -> String {
    match is {
        None => format!("unknown worker `{name}`"),
        Some(kind) => {
            format!("`{name}` is a {kind}, not a worker; only a worker holds a conversation")
        }
    }
}

/// [`CallError::Args`] of `name`, whose parameters are `params`.
fn args_error<P: AsRef<str>>(name: &str, params: &[P], message: String) -> CallError {
    CallError::Args {
        name: name.to_string(),
        message,
        params: params.iter().map(|p| p.as_ref().to_string()).collect(),
    }
}

fn params_list(params: &[String]) -> String {
    if params.is_empty() {
        "no arguments".into()
    } else {
        format!("({})", crate::suggest::quoted(params))
    }
}

/// The input of a call as written by the caller: a map of named arguments, a lone value
/// (a string is shorthand for `#{input: s}`), or nothing.
pub fn normalize_input(input: Value) -> Value {
    match input {
        Value::Object(_) => input,
        Value::Null => Value::Object(serde_json::Map::new()),
        other => serde_json::json!({ "input": other }),
    }
}

/// Where named arguments go, worked out once from their keys (in the order given): what
/// [`map_args`] applies, and what a `call()` site keeps for a map literal so that each call
/// only places its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The parameter index of each key, in the order the keys were given.
    pub slots: Vec<usize>,
    /// How many arguments are passed: trailing optional parameters not given are left out,
    /// one left out before a given one is passed as the default value.
    pub count: usize,
}

impl Mapping {
    /// The arguments in parameter order: `values` (in the order of the keys) placed in their
    /// slots, the gaps left as `T::default()`.
    pub fn place<T: Default>(&self, values: impl IntoIterator<Item = T>) -> Vec<T> {
        let mut out: Vec<T> = std::iter::repeat_with(T::default)
            .take(self.count)
            .collect();
        for (&slot, v) in self.slots.iter().zip(values) {
            out[slot] = v;
        }
        out
    }
}

/// The [`Mapping`] of named arguments `keys` onto the parameters `params` of `name` (the first
/// `required` of them required).
///
/// # Errors
///
/// An unknown key (with a "did you mean"), a key given twice, a missing required argument.
pub fn mapping<K: AsRef<str>, P: AsRef<str>>(
    name: &str,
    params: &[P],
    required: usize,
    keys: &[K],
) -> Result<Mapping, CallError> {
    let err = |message| args_error(name, params, message);
    // `{input: v}` for a one-parameter fn whose parameter has another name: v is its argument.
    if let ([only], [key]) = (params, keys)
        && key.as_ref() == "input"
        && only.as_ref() != "input"
    {
        return Ok(Mapping {
            slots: vec![0],
            count: 1,
        });
    }
    let mut slots = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.as_ref();
        let Some(i) = params.iter().position(|p| p.as_ref() == key) else {
            let hint = crate::suggest::did_you_mean(key, params.iter().map(AsRef::as_ref))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(err(format!("unknown argument `{key}`{hint}")));
        };
        if slots.contains(&i) {
            return Err(err(format!("argument `{key}` is given twice")));
        }
        slots.push(i);
    }
    let count = slots
        .iter()
        .max()
        .map_or(required, |&i| (i + 1).max(required));
    if let Some(missing) = (0..required.min(count)).find(|i| !slots.contains(i)) {
        return Err(err(format!(
            "missing argument `{}`",
            params[missing].as_ref()
        )));
    }
    Ok(Mapping { slots, count })
}

/// Order named arguments by `params`. `required` leading params must be present; an optional
/// param left out before a given one is filled with `T::default()` (unit/null); unknown names
/// are errors naming the parameters. A single-parameter callee also accepts a lone value
/// (`call("f", "x")`) or `#{input: x}`: the [`mapping`] of the keys, then its placing of the
/// values.
pub fn map_args<K: AsRef<str>, P: AsRef<str>, T: Default>(
    name: &str,
    params: &[P],
    required: usize,
    args: Vec<(K, T)>,
    lone: Option<T>,
) -> Result<Vec<T>, CallError> {
    if let Some(v) = lone {
        let message = match params.len() {
            1 => return Ok(vec![v]),
            0 => "it takes no input",
            _ => "pass a map of named arguments",
        };
        return Err(args_error(name, params, message.to_string()));
    }
    let (keys, values): (Vec<K>, Vec<T>) = args.into_iter().unzip();
    Ok(mapping(name, params, required, &keys)?.place(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }

    #[test]
    fn maps_named_arguments_in_parameter_order() {
        let got = map_args("add", &["a", "b"], 2, named(&[("b", 2), ("a", 1)]), None).unwrap();
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn missing_and_unknown_arguments_name_the_parameters() {
        let e = map_args("add", &["a", "b"], 2, named(&[("a", 1)]), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad arguments for `add`: missing argument `b`"
        );
        let e = map_args(
            "add",
            &["a", "b"],
            2,
            named(&[("a", 1), ("b", 2), ("c", 3)]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad arguments for `add`: unknown argument `c`"
        );
    }

    #[test]
    fn lone_value_goes_to_a_single_parameter() {
        assert_eq!(
            map_args::<&str, _, _>("f", &["name"], 1, vec![], Some(5)).unwrap(),
            vec![5]
        );
        assert_eq!(
            map_args("f", &["name"], 1, named(&[("input", 5)]), None).unwrap(),
            vec![5]
        );
        assert!(map_args::<&str, _, _>("f", &["a", "b"], 2, vec![], Some(5)).is_err());
    }

    #[test]
    fn a_mapping_places_values_and_fills_gaps() {
        let m = mapping("list", &["dir", "glob", "more"], 0, &["glob"]).unwrap();
        assert_eq!(
            m,
            Mapping {
                slots: vec![1],
                count: 2
            }
        );
        assert_eq!(m.place([7]), vec![0, 7]);
        let m = mapping("add", &["a", "b"], 2, &["b", "a"]).unwrap();
        assert_eq!(m.place([2, 1]), vec![1, 2]);
        let e = mapping("add", &["a", "b"], 2, &["a", "a"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad arguments for `add`: argument `a` is given twice"
        );
    }

    #[test]
    fn optional_parameters_may_be_left_out() {
        assert_eq!(
            map_args("list", &["dir", "glob"], 0, named(&[("dir", 1)]), None).unwrap(),
            vec![1]
        );
        assert_eq!(
            map_args("list", &["dir", "glob"], 0, named(&[("glob", 7)]), None).unwrap(),
            vec![0, 7]
        );
        assert_eq!(
            map_args("list", &["dir", "glob"], 0, named(&[("dir", 1)]), None).unwrap(),
            vec![1]
        );
    }
}
