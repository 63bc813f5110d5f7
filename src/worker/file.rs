//! The `.worker` file format (DESIGN §3): YAML frontmatter between `---` lines, then the
//! system prompt. Parsing is strict and every error points at file:line:col.
//!
//! [`parse_worker`] splits the file ([`super::frontmatter`]), reads the YAML into a map and
//! validates it key by key ([`super::fields`]) so that each error knows where its key is.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

use super::fields::{Fields, Gather};
use super::frontmatter::{self, SplitError};
use crate::compare::Comparator;
use crate::config::is_identifier;
use crate::error::Located;
use crate::model::{Reasoning, ToolChoice};
use crate::schema::Validator;

/// A name as written in the frontmatter, with its byte span in the file (for errors such as
/// an unknown toolset or alias).
#[derive(Debug, Clone, PartialEq)]
pub struct NameRef {
    pub name: String,
    /// Byte offset and length in [`WorkerSpec::text`].
    pub span: (usize, usize),
}

impl From<(String, Range<usize>)> for NameRef {
    fn from((name, span): (String, Range<usize>)) -> Self {
        Self {
            name,
            span: (span.start, span.len()),
        }
    }
}

/// A few-shot example: sent as a prior user/assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub input: Value,
    pub output: Value,
}

/// A parsed, validated worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    /// Registered name (frontmatter `name`, default: the file stem).
    pub name: String,
    pub description: Option<String>,
    /// The first entry of `model:` (a model id or an alias).
    pub model: Option<String>,
    /// Every entry of `model:` in fallback order (`model: [a, b]`); one for a plain string.
    pub models: Vec<NameRef>,
    /// `cache:` Anthropic prompt caching; unset: on when the prompt and tools are long.
    pub cache: Option<bool>,
    /// `reasoning:` thinking effort or token budget.
    pub reasoning: Option<Reasoning>,
    pub temperature: Option<f64>,
    /// Most tokens of one reply; unset: `[defaults] max_tokens`, else
    /// [`crate::model::DEFAULT_MAX_TOKENS`].
    pub max_tokens: Option<u32>,
    /// `keep_cut_off: true`: a text answer cut off at `max_tokens` is returned as it is
    /// (default: it is an error). Structured output cut off is always an error.
    pub keep_cut_off: bool,
    pub toolsets: Vec<NameRef>,
    /// Input JSON Schema (shorthand already expanded). Default: `{input: string}`.
    pub input: Value,
    /// Output JSON Schema (shorthand already expanded), when the worker returns structured data.
    pub output: Option<Value>,
    pub examples: Vec<Example>,
    /// `compare:`: output field → comparator for `llm-do test` and `shadow` (unlisted: exact).
    pub compare: BTreeMap<String, Comparator>,
    /// Input fields whose values are paths of files to attach.
    pub attachments: Vec<String>,
    /// Model round trips per run (default 20).
    pub max_turns: u32,
    pub tool_choice: ToolChoice,
    pub seed: Option<i64>,
    /// `false`: the model may make at most one tool call per turn (sent to providers that
    /// support it); unset: the provider's default.
    pub parallel_tool_calls: Option<bool>,
    /// Budgets of one run of this worker (DESIGN §15), beside the run-wide `[limits]`.
    pub budget: WorkerBudget,
    /// The body: the system prompt.
    pub instructions: String,
    /// Where the worker came from (`None` for inline workers).
    pub path: Option<PathBuf>,
    /// The whole file text (for diagnostics).
    pub text: Arc<str>,
    /// Byte span of the `name` value (or of the frontmatter start), for duplicate-name errors.
    pub name_span: (usize, usize),
}

impl WorkerSpec {
    /// An error at `span` of the worker's file (its text, shown under its path).
    pub fn error_at(&self, span: (usize, usize), message: impl Into<String>) -> Located {
        let path = self.path.clone().unwrap_or_default();
        Located::new(&path, &self.text, span, message)
    }
}

/// Model round trips per run when the frontmatter sets no `max_turns`.
pub const DEFAULT_MAX_TURNS: u32 = 20;

/// The input schema of a worker without `input:`: one required string field, `input`.
#[must_use]
pub fn default_input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"input": {"type": "string"}},
        "required": ["input"],
    })
}

/// Parse and validate the worker file at `path` whose content is `text`.
///
/// # Errors
///
/// A [`Located`] diagnostic pointing at the offending line and column: a missing or unclosed
/// frontmatter, invalid YAML, unknown keys (with a "did you mean"), values of the wrong type or
/// out of range, invalid schemas, attachments that are not input fields.
pub fn parse_worker(path: &Path, text: &str) -> Result<WorkerSpec, Box<Located>> {
    let text: Arc<str> = Arc::from(text);
    let sections = frontmatter::split(&text).map_err(|e| split_error(path, &text, e))?;
    let fields = Fields::parse(path, &text, &sections)?;
    // Every field is checked, so that one report holds every mistake in the file.
    let mut found = Gather::default();
    let name = found.take(worker_name(&fields, path));
    let name_span = if fields.get("name").is_some() {
        fields.value_span("name")
    } else {
        sections.open.clone()
    };
    let before = found.count();
    let input = found.take(input_schema(&fields));
    let output = found.take(fields.schema("output"));
    let keep_cut_off = found.take(fields.boolean("keep_cut_off")).unwrap_or(false);
    if keep_cut_off && output.is_some() {
        found.take::<()>(Err(fields.error(
            fields.key_span("keep_cut_off"),
            "`keep_cut_off` keeps a cut-off text answer; a cut-off structured answer (`output:`) is never valid",
        ).into()));
    }
    // Examples and attachments are checked against the schemas: only valid ones.
    let (examples, attachments, compare) = if found.count() == before {
        (
            found.take(examples(&fields, &input, output.as_ref())),
            found.take(attachments(&fields, &input)),
            found.take(compare(&fields, output.as_ref())),
        )
    } else {
        Default::default()
    };
    let toolsets = found
        .take(fields.string_list("toolsets"))
        .into_iter()
        .map(NameRef::from)
        .collect();
    let positive = "a positive integer";
    let models = found.take(models(&fields));
    let (int, uint) = (Yaml::as_i64, Yaml::as_u64);
    let uint32 = |v: &Yaml| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let spec = WorkerSpec {
        name,
        description: found.take(fields.string("description")),
        model: models.first().map(|m| m.name.clone()),
        models,
        cache: found.take(fields.boolean("cache")),
        reasoning: found.take(reasoning(&fields)),
        temperature: found.take(fields.in_range(
            "temperature",
            Yaml::as_f64,
            0.0..=2.0,
            "a number from 0 to 2",
        )),
        max_tokens: found.take(fields.in_range("max_tokens", uint32, 1..=u32::MAX, positive)),
        keep_cut_off,
        toolsets,
        input,
        output,
        examples,
        compare,
        attachments,
        max_turns: found
            .take(fields.in_range("max_turns", uint32, 1..=u32::MAX, positive))
            .unwrap_or(DEFAULT_MAX_TURNS),
        tool_choice: found.take(tool_choice(&fields)),
        seed: found.take(fields.in_range("seed", int, i64::MIN..=i64::MAX, "an integer")),
        parallel_tool_calls: found.take(fields.boolean("parallel_tool_calls")),
        budget: WorkerBudget {
            max_cost_usd: found.take(fields.in_range(
                "max_cost_usd",
                Yaml::as_f64,
                0.0..=f64::MAX,
                "a number of dollars",
            )),
            max_requests: found.take(fields.in_range("max_requests", uint, 1..=u64::MAX, positive)),
            max_tokens: found.take(fields.in_range("max_run_tokens", uint, 1..=u64::MAX, positive)),
        },
        instructions: instructions(&text[sections.body]),
        path: Some(path.to_path_buf()),
        text: text.clone(),
        name_span: (name_span.start, name_span.len()),
    };
    found.finish(spec)
}

/// Budgets of one run of a worker, from its frontmatter: `max_cost_usd`, `max_requests` and
/// `max_run_tokens` (not `max_tokens`, which is the length of one reply).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerBudget {
    pub max_cost_usd: Option<f64>,
    pub max_requests: Option<u64>,
    pub max_tokens: Option<u64>,
}

fn split_error(path: &Path, text: &Arc<str>, e: SplitError) -> Box<Located> {
    const SHAPE: &str = "a worker file starts with YAML frontmatter between `---` lines, then \
                         the system prompt:\n---\ndescription: Summarise a text\n---\nYou summarise texts.";
    let (span, label, help) = match &e {
        SplitError::MissingOpen(span) => (span, "expected `---` here", SHAPE),
        SplitError::MissingClose(span) => (
            span,
            "expected a closing `---` line before the end",
            "end the frontmatter with a line holding only `---`, then write the system prompt",
        ),
    };
    let at = (span.start, span.len());
    Box::new(
        Located::new(path, text, at, e.to_string())
            .label(label)
            .help(help),
    )
}

fn worker_name(fields: &Fields, path: &Path) -> Result<String, Box<Located>> {
    if let Some(name) = fields.string("name")? {
        if is_identifier(&name) {
            return Ok(name);
        }
        let like = identifier_like(&name);
        return Err(fields
            .error(
                fields.value_span("name"),
                format!("invalid worker name `{name}`"),
            )
            .label("not a valid name")
            .help(format!("use letters, digits and `_`, e.g. `{like}`"))
            .into());
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    if is_identifier(&stem) {
        return Ok(stem.into_owned());
    }
    let like = identifier_like(&stem);
    Err(fields
        .error(
            fields.open(),
            format!("worker file name `{stem}` is not a valid worker name"),
        )
        .help(format!(
            "rename the file or add `name: {like}` to the frontmatter"
        ))
        .into())
}

/// `s` turned into an identifier, for hints.
fn identifier_like(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    match out.chars().next() {
        Some('a'..='z' | '_') => out,
        _ => format!("_{out}"),
    }
}

/// `model:` as a string or a list (a fallback chain); each entry a model id or an alias name
/// (resolved against `[models]` when the project loads).
fn models(fields: &Fields) -> Result<Vec<NameRef>, Box<Located>> {
    let entries = match fields.get("model") {
        None => return Ok(Vec::new()),
        Some(Yaml::String(s)) => vec![(s.clone(), fields.value_span("model"))],
        Some(Yaml::Sequence(_)) => fields.string_list("model")?,
        Some(other) => return Err(fields.wrong("model", "a model id or a list of them", other)),
    };
    if entries.is_empty() {
        return Err(fields
            .error(fields.value_span("model"), "`model` is an empty list")
            .label("expected at least one model id")
            .help("write `model: [anthropic:claude-haiku-4-5, openai:gpt-4.1-mini]`")
            .into());
    }
    entries
        .into_iter()
        .map(|(name, span)| {
            if crate::config::is_model_id(&name) || is_identifier(&name) {
                return Ok(NameRef::from((name, span)));
            }
            Err(fields
                    .error(span, format!("invalid model id `{name}`"))
                    .label("expected `provider:model` or an alias")
                    .help("model ids look like `anthropic:claude-haiku-4-5` or `openai:gpt-4.1-mini`; aliases are keys of `[models]` in `llm-do.toml`").into())
        })
        .collect()
}

/// Entries of `model:` that name an unknown `[models]` alias or provider, each pointing at the
/// entry (checked when the project loads, so `check` reports them before a run fails).
#[must_use]
pub fn check_models(spec: &WorkerSpec, config: &crate::config::Config) -> Vec<Located> {
    let unknown = |name: &str| match config.expand_model(name) {
        Err(e) => Some(e.to_string()),
        Ok(ids) => ids
            .iter()
            .find_map(|id| crate::config::unknown_provider(config, id)),
    };
    spec.models
        .iter()
        .filter_map(|m| Some((m, unknown(&m.name)?)))
        .map(|(m, message)| {
            spec.error_at(m.span, format!("{message} (worker `{}`)", spec.name))
                .label("not a known model")
                .help("models are `provider:model` ids of a built-in provider (`anthropic`, `openai`, `ollama`), of `[providers.NAME]`, or aliases from `[models]` in `llm-do.toml`")
        })
        .collect()
}

/// `reasoning: low|medium|high` or a token budget.
fn reasoning(fields: &Fields) -> Result<Option<Reasoning>, Box<Located>> {
    let expected = "`low`, `medium`, `high` or a token budget of at least 1024";
    fields.read("reasoning", expected, |v| match v.as_str() {
        Some("low") => Some(Reasoning::Low),
        Some("medium") => Some(Reasoning::Medium),
        Some("high") => Some(Reasoning::High),
        Some(_) => None,
        None => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1024)
            .map(Reasoning::Tokens),
    })
}

fn tool_choice(fields: &Fields) -> Result<ToolChoice, Box<Located>> {
    Ok(match fields.string("tool_choice")?.as_deref() {
        None | Some("auto") => ToolChoice::Auto,
        Some("required") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some(tool) if !tool.trim().is_empty() => ToolChoice::Tool(tool.to_owned()),
        Some(_) => {
            return Err(fields
                .error(fields.value_span("tool_choice"), "`tool_choice` is empty")
                .help("use `auto`, `required`, `none` or a tool name")
                .into());
        }
    })
}

fn input_schema(fields: &Fields) -> Result<Value, Box<Located>> {
    let Some(schema) = fields.schema("input")? else {
        return Ok(default_input_schema());
    };
    match schema.get("type").and_then(Value::as_str) {
        Some("object") | None => Ok(schema),
        Some(other) => Err(fields
                .error(fields.value_span("input"), format!("worker input must be an object schema, not `{other}`"))
                .help("name the fields, e.g. `input: {text: string}`; without `input:` a worker takes `{input: string}`").into()),
    }
}

fn attachments(fields: &Fields, input: &Value) -> Result<Vec<String>, Box<Located>> {
    let properties: Vec<&str> = input
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let check = |(name, span): (String, Range<usize>)| {
        if properties.contains(&name.as_str()) {
            return Ok(name);
        }
        let help =
            crate::suggest::did_you_mean(&name, properties.iter().copied()).unwrap_or_else(|| {
                "attachments name fields of the `input` schema that hold file paths".to_owned()
            });
        let message = format!("attachment `{name}` is not a field of the worker input");
        let err = fields.error(span, message).label("not an input field");
        Err(Box::new(err.help(help)))
    };
    fields
        .string_list("attachments")?
        .into_iter()
        .map(check)
        .collect()
}

/// `compare:` — a map of output field → comparator; fields must be output fields (`value` for
/// a worker whose output is not an object).
fn compare(
    fields: &Fields,
    output: Option<&Value>,
) -> Result<BTreeMap<String, Comparator>, Box<Located>> {
    let Some(value) = fields.get("compare") else {
        return Ok(BTreeMap::new());
    };
    let Value::Object(map) = fields.to_json("compare", value)? else {
        return Err(fields.wrong("compare", "a map of output field to comparator", value));
    };
    let known = crate::compare::schema_fields(output);
    let check = |(field, spec): (String, Value)| {
        let span = fields.nested_span("compare", &field);
        if !known.contains(&field) {
            let help = crate::suggest::did_you_mean(&field, known.iter().map(String::as_str))
                .unwrap_or_else(|| {
                    format!("the output fields are {}", crate::suggest::quoted(&known))
                });
            let message = format!("`compare` names `{field}`, which is not an output field");
            let err = fields.error(span, message).label("not an output field");
            return Err(Box::new(err.help(help)));
        }
        let comparator = Comparator::parse(&spec).map_err(|e| {
            let message = format!("invalid comparator for `{field}`: {}", e.message);
            Box::new(fields.error(span, message).help_opt(e.help))
        })?;
        Ok((field, comparator))
    };
    map.into_iter().map(check).collect()
}

fn examples(
    fields: &Fields,
    input: &Value,
    output: Option<&Value>,
) -> Result<Vec<Example>, Box<Located>> {
    let Some(value) = fields.get("examples") else {
        return Ok(Vec::new());
    };
    let Yaml::Sequence(items) = value else {
        return Err(fields.wrong("examples", "a list of `{input, output}` pairs", value));
    };
    let checks = [Some(input), output].map(|s| s.and_then(|s| Validator::new(s).ok()));
    let at = |i: usize, message: String| {
        let span = fields.value_span("examples");
        Box::new(fields.error(span, format!("example {}: {message}", i + 1)))
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| example(fields.to_json("examples", item)?, &checks).map_err(|m| at(i, m)))
        .collect()
}

/// One `{input, output}` pair. Maps (and non-strings) must match the schema checked by
/// `checks` (the input's, then the output's); strings are text and are sent as they are.
fn example(item: Value, checks: &[Option<Validator>; 2]) -> Result<Example, String> {
    let Value::Object(mut pair) = item else {
        return Err("expected a map with `input` and `output`".to_owned());
    };
    if let Some(extra) = pair.keys().find(|k| *k != "input" && *k != "output") {
        return Err(format!(
            "unknown key `{extra}`; an example has only `input` and `output`"
        ));
    }
    let (Some(input), Some(output)) = (pair.remove("input"), pair.remove("output")) else {
        return Err("an example needs both `input` and `output`".to_owned());
    };
    for (which, value, check) in [
        ("input", &input, &checks[0]),
        ("output", &output, &checks[1]),
    ] {
        if let (false, Some(check)) = (value.is_string(), check) {
            check.validate(value).map_err(|errors| {
                let errors = errors.join("; ");
                format!("`{which}` does not match the worker's {which} schema: {errors}")
            })?;
        }
    }
    Ok(Example { input, output })
}

/// The body as the system prompt: leading blank lines and trailing whitespace dropped, line
/// endings normalised to `\n`.
fn instructions(body: &str) -> String {
    body.trim_start_matches(['\r', '\n'])
        .trim_end()
        .replace("\r\n", "\n")
}

#[cfg(test)]
mod tests;
