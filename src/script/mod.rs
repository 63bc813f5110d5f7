//! The Rhai side: building the one engine of the process ([`engine`]), compiling project
//! scripts and reading their fn signatures and doc comments ([`ScriptFn`]), the `call()`
//! syntax ([`call`]), conversations with a worker ([`chat`]), the Rust-native builtins
//! ([`builtins`]), the embedded `std/` modules ([`stdlib`]), value conversion ([`value`]) and
//! error rendering ([`errors`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, FnAccess};
use serde_json::{Value, json};

use crate::call::CallError;
use crate::error::{Located, offset_of};

pub mod builtins;
pub mod call;
pub mod caller;
pub mod chat;
pub mod clock;
pub mod engine;
pub mod errors;
pub mod fanout;
pub mod host;
pub mod inline;
pub mod model;
pub mod stdlib;
pub mod untrusted;
pub mod value;

/// What a fn returns to hand its call to the worker of the same name (`return defer();`),
/// under `[stabilize] NAME = "code"` or `"canary:P"` (DESIGN §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferred;

/// The Rhai name of [`Deferred`]'s constructor.
pub const DEFER_FN: &str = "defer";

/// A JSON Schema type name a doc comment may give a parameter.
const PARAM_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "any",
];

/// What a doc comment says about one parameter (`/// name: type - description`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamDoc {
    /// The declared type (a JSON Schema type name or `a|b|c`); `None` when undocumented. Only
    /// declared types are checked; tool schemas show undocumented params as strings.
    pub ty: Option<String>,
    pub description: Option<String>,
}

/// A top-level `fn` of a project script, with what its doc comments say.
#[derive(Debug, Clone)]
pub struct ScriptFn {
    pub name: String,
    pub params: Vec<String>,
    /// Free text of the doc comment (the tool description).
    pub description: String,
    /// Per parameter: what its doc comment says.
    pub param_docs: Vec<ParamDoc>,
    /// `/// @approval required`: LLM-initiated calls need approval.
    pub approval_required: bool,
    /// File the fn is defined in, relative to the project root.
    pub path: PathBuf,
    /// Byte span of `fn NAME` in that file.
    pub span: (usize, usize),
    /// An untrusted draft ([`untrusted`]): runs only in the restricted engine, never joins
    /// the project library.
    pub untrusted: bool,
    /// A host fn ([`host`]): its body is the embedding program's, run by the seam.
    pub host: Option<Arc<host::HostFn>>,
}

impl ScriptFn {
    /// JSON Schema of the fn's arguments, for LLM tool definitions.
    pub fn parameters_schema(&self) -> Value {
        if let Some(h) = &self.host {
            return h.schema.clone();
        }
        let mut props = serde_json::Map::new();
        for (param, doc) in self.params.iter().zip(&self.param_docs) {
            let mut p = match doc.ty.as_deref().unwrap_or("string") {
                "any" => json!({}),
                ty if is_enum(ty) => {
                    json!({"type": "string", "enum": ty.split('|').collect::<Vec<_>>()})
                }
                ty => json!({"type": ty}),
            };
            if let Some(d) = &doc.description {
                p["description"] = json!(d);
            }
            props.insert(param.clone(), p);
        }
        json!({"type": "object", "properties": props, "required": self.params, "additionalProperties": false})
    }

    /// Check positional arguments against the declared parameter types (the seam calls this
    /// on every path). An integral float given for an `integer` becomes an integer.
    ///
    /// # Errors
    ///
    /// [`CallError::Args`] naming the first argument of the wrong type.
    pub fn check_args(&self, args: &mut [Dynamic]) -> Result<(), CallError> {
        for ((param, doc), arg) in self.params.iter().zip(&self.param_docs).zip(args) {
            if let Some(ty) = doc.ty.as_deref() {
                check_type(ty, arg).map_err(|got| CallError::Args {
                    name: self.name.clone(),
                    message: format!("argument `{param}` must be {}, not {got}", type_phrase(ty)),
                    params: self.params.clone(),
                })?;
            }
        }
        Ok(())
    }

    /// One-line description: the first line of the doc comment, or a placeholder.
    pub fn summary(&self) -> &str {
        self.description
            .lines()
            .next()
            .filter(|l| !l.is_empty())
            .unwrap_or("(no description)")
    }
}

/// Compile one script file and read its public fns. `shown` is the path used in messages.
pub fn compile_file(
    engine: &Engine,
    shown: &Path,
    text: &Arc<str>,
) -> Result<(AST, Vec<ScriptFn>), Box<Located>> {
    let mut ast = engine
        .compile(&**text)
        .map_err(|e| Box::new(errors::parse_error(shown, text, &e)))?;
    ast.set_source(shown.display().to_string());
    let mut fns: Vec<ScriptFn> = Vec::new();
    for f in ast.iter_functions() {
        if f.access == FnAccess::Private || f.name.starts_with("anon$") {
            continue;
        }
        let span = fn_span(text, f.name);
        if fns.iter().any(|g| g.name == f.name) {
            let err = Located::new(
                shown,
                text,
                span,
                format!("`{}` is defined twice in this file", f.name),
            )
            .label("second definition")
            .help("Rhai overloads by arity, but callable names must be unique; rename one");
            return Err(Box::new(err));
        }
        let (description, param_docs, approval_required) = parse_doc(&f.comments, &f.params);
        fns.push(ScriptFn {
            name: f.name.to_string(),
            params: f.params.iter().map(|p| (*p).to_string()).collect(),
            description,
            param_docs,
            approval_required,
            path: shown.to_path_buf(),
            span,
            untrusted: false,
            host: None,
        });
    }
    Ok((ast, fns))
}

/// Whether `arg` has the doc-comment type `ty` (an integral float given for an `integer` is
/// made one); otherwise what it is instead, for the message.
fn check_type(ty: &str, arg: &mut Dynamic) -> Result<(), String> {
    let ok = match ty {
        "any" => true,
        "string" => arg.is_string(),
        "integer" => match arg.as_float() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as rhai::INT;
                *arg = Dynamic::from_int(i);
                true
            }
            _ => arg.is_int(),
        },
        "number" => arg.is_int() || arg.is_float(),
        "boolean" => arg.is_bool(),
        "array" => arg.is_array(),
        "object" => arg.is_map(),
        choices => arg
            .read_lock::<rhai::ImmutableString>()
            .is_some_and(|s| choices.split('|').any(|c| c == s.as_str())),
    };
    if ok { Ok(()) } else { Err(describe_value(arg)) }
}

/// "a string", "an integer", "one of `a`, `b`" for a doc-comment type.
fn type_phrase(ty: &str) -> String {
    match ty {
        "integer" | "array" | "object" => format!("an {ty}"),
        "string" | "number" | "boolean" => format!("a {ty}"),
        choices => format!("one of {}", crate::suggest::quoted(choices.split('|'))),
    }
}

/// A value as an argument error shows it: its JSON type and a short excerpt.
fn describe_value(v: &Dynamic) -> String {
    let json = value::to_json(v);
    let kind = match &json {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    if json.is_null() {
        return kind.to_string();
    }
    format!("{kind} ({})", crate::output::clip(&json.to_string(), 40))
}

/// A doc-comment type of the form `a|b|c`: a string that must be one of the listed values.
fn is_enum(ty: &str) -> bool {
    ty.contains('|')
        && ty
            .split('|')
            .all(|v| !v.is_empty() && !v.contains(char::is_whitespace))
}

/// Byte span of `fn NAME` in `text` (start of file when not found).
fn fn_span(text: &str, name: &str) -> (usize, usize) {
    let mut from = 0;
    while let Some(i) = text[from..].find("fn ") {
        let at = from + i;
        let rest = text[at + 3..].trim_start();
        let ident_at = text.len() - rest.len();
        if rest.starts_with(name)
            && !rest[name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            return (at, ident_at + name.len() - at);
        }
        from = at + 3;
    }
    (0, 0)
}

/// Split doc comment lines into description, per-param types and the approval flag.
/// Param lines look like `/// name: type` or `/// name: type - description`.
fn parse_doc(comments: &[&str], params: &[&str]) -> (String, Vec<ParamDoc>, bool) {
    let mut description = Vec::new();
    let mut docs: Vec<ParamDoc> = params.iter().map(|_| ParamDoc::default()).collect();
    let mut approval = false;
    for block in comments {
        for raw in block.lines() {
            let line = raw
                .trim()
                .trim_start_matches("/**")
                .trim_start_matches("///")
                .trim_end_matches("*/")
                .trim_start_matches('*')
                .trim();
            if let Some(rest) = line.strip_prefix("@approval") {
                approval = rest.trim() != "none" && rest.trim() != "false";
                continue;
            }
            if let Some((name, rest)) = line.split_once(':')
                && let Some(i) = params.iter().position(|p| *p == name.trim())
            {
                let rest = rest.trim();
                let (ty, desc) = match rest.split_once(char::is_whitespace) {
                    Some((t, d)) => (
                        t,
                        Some(d.trim().trim_start_matches(['-', '—']).trim().to_string()),
                    ),
                    None => (rest, None),
                };
                if PARAM_TYPES.contains(&ty) || is_enum(ty) {
                    docs[i] = ParamDoc {
                        ty: Some(ty.to_string()),
                        description: desc.filter(|d| !d.is_empty()),
                    };
                    continue;
                }
            }
            description.push(line.to_string());
        }
    }
    let text = description.join("\n").trim().to_string();
    (text, docs, approval)
}

/// Byte span of a Rhai position in `text`.
pub fn span_of(text: &str, pos: rhai::Position) -> (usize, usize) {
    match (pos.line(), pos.position()) {
        (Some(line), col) => (offset_of(text, line, col.unwrap_or(1)), 1),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_give_types_description_and_approval() {
        let (d, p, a) = parse_doc(
            &[
                "/// Add two numbers.\n/// a: integer - the first\n/// b: number\n/// @approval required",
            ],
            &["a", "b"],
        );
        assert_eq!(d, "Add two numbers.");
        assert_eq!(
            p,
            vec![
                ParamDoc {
                    ty: Some("integer".into()),
                    description: Some("the first".into())
                },
                ParamDoc {
                    ty: Some("number".into()),
                    description: None
                }
            ]
        );
        assert!(a);
    }

    #[test]
    fn an_alternation_type_is_a_string_enum() {
        let (_, p, _) = parse_doc(&["/// level: low|mid|high - how sure"], &["level"]);
        let f = ScriptFn {
            name: "f".into(),
            params: vec!["level".into()],
            description: String::new(),
            param_docs: p,
            approval_required: false,
            path: PathBuf::new(),
            span: (0, 0),
            untrusted: false,
            host: None,
        };
        assert_eq!(
            f.parameters_schema()["properties"]["level"],
            json!({"type": "string", "enum": ["low", "mid", "high"], "description": "how sure"})
        );
    }

    #[test]
    fn undocumented_params_are_strings() {
        let (d, p, a) = parse_doc(&[], &["x"]);
        assert_eq!((d.as_str(), p, a), ("", vec![ParamDoc::default()], false));
    }

    #[test]
    fn declared_types_are_checked_and_undeclared_are_not() {
        let (_, param_docs, _) = parse_doc(&["/// a: integer\n/// k: low|high"], &["a", "b", "k"]);
        let f = ScriptFn {
            name: "f".into(),
            params: vec!["a".into(), "b".into(), "k".into()],
            description: String::new(),
            param_docs,
            approval_required: false,
            path: PathBuf::new(),
            span: (0, 0),
            untrusted: false,
            host: None,
        };
        let mut ok = vec![Dynamic::from(2.0_f64), Dynamic::from(1_i64), "low".into()];
        f.check_args(&mut ok).unwrap();
        assert!(ok[0].is_int(), "an integral float becomes an integer");
        let mut bad = vec!["x".into(), Dynamic::UNIT, "low".into()];
        let message = |args: &mut Vec<Dynamic>| match f.check_args(args) {
            Err(CallError::Args { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(&mut bad),
            "argument `a` must be an integer, not a string (\"x\")"
        );
        let mut bad = vec![Dynamic::from(1_i64), Dynamic::UNIT, "mid".into()];
        assert_eq!(
            message(&mut bad),
            "argument `k` must be one of `low`, `high`, not a string (\"mid\")"
        );
    }

    #[test]
    fn fn_span_finds_the_definition() {
        let text = "let x = 1;\nfn address(a) {}\nfn add(a, b) { a + b }";
        let (at, len) = fn_span(text, "add");
        assert_eq!(&text[at..at + len], "fn add");
    }
}
