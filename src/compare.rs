//! Comparators (DESIGN §14): how `llm-do test` and `shadow` decide that an output agrees with
//! an expected one, field by field. A worker's frontmatter `compare:` maps output fields to
//! comparators; a field without one compares `exact`. Outputs that are not objects compare
//! as one field, [`VALUE_FIELD`].
//!
//! Pure on purpose (layer 2): the worker format parses `compare:` with [`Comparator::parse`],
//! and the eval runner asks [`Comparator::check`] for a verdict. The one comparator that needs
//! a model, `judge`, answers [`Check::Judge`] and the runner asks the judge model.

use std::collections::BTreeMap;

use serde_json::Value;

/// The field a non-object output compares as.
pub const VALUE_FIELD: &str = "value";

/// The comparator kinds, as written in `compare:`.
pub const KINDS: [&str; 6] = ["exact", "number", "set", "text", "regex", "judge"];

/// Tolerance of a `number` comparator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// `|actual - expected| <= X`
    Abs(f64),
    /// `|actual - expected| <= X * |expected|`
    Rel(f64),
}

/// How one field is compared.
#[derive(Debug, Clone)]
pub enum Comparator {
    /// Equal JSON; numbers by value (`42` = `42.0`), strings trimmed.
    Exact,
    /// Numbers within a tolerance.
    Number(Tolerance),
    /// Arrays with the same elements in any order.
    Set,
    /// Strings equal with case and whitespace folded.
    Text,
    /// The actual value (a string, or the JSON text of another value) matches the pattern.
    Regex(regex::Regex),
    /// A model grades the actual value against the expected one with this rubric.
    Judge(String),
}

impl PartialEq for Comparator {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Comparator::Regex(a), Comparator::Regex(b)) => a.as_str() == b.as_str(),
            (Comparator::Number(a), Comparator::Number(b)) => a == b,
            (Comparator::Judge(a), Comparator::Judge(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

/// Why a comparator could not be read: a message and an optional hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub help: Option<String>,
}

fn bad(message: impl Into<String>, help: &str) -> ParseError {
    ParseError {
        message: message.into(),
        help: Some(help.to_owned()),
    }
}

const SHAPES: &str = "write `exact`, `set`, `text`, `{number: {abs: 0.01}}`, \
                      `{number: {rel: 0.05}}`, `{regex: \"^[a-z]+$\"}` or `{judge: \"same meaning\"}`";

/// The verdict of a pure comparator, or the rubric a model must grade with.
#[derive(Debug, Clone, PartialEq)]
pub enum Check<'a> {
    Agree(bool),
    Judge(&'a str),
}

impl Comparator {
    /// Read a comparator as written in `compare:` (YAML turned into JSON).
    ///
    /// # Errors
    ///
    /// An unknown kind (with a "did you mean"), a missing or negative tolerance, an invalid
    /// regex, an empty rubric.
    pub fn parse(v: &Value) -> Result<Comparator, ParseError> {
        let (kind, arg) = match v {
            Value::String(s) => (s.as_str(), None),
            Value::Object(m) if m.len() == 1 => {
                let (k, a) = m
                    .iter()
                    .next()
                    .map(|(k, a)| (k.as_str(), a))
                    .unwrap_or_default();
                (k, Some(a))
            }
            _ => return Err(bad("a comparator is a name or a one-key map", SHAPES)),
        };
        match (kind, arg) {
            ("exact", None) => Ok(Comparator::Exact),
            ("set", None) => Ok(Comparator::Set),
            ("text", None) => Ok(Comparator::Text),
            ("number", Some(Value::Object(t))) if t.len() == 1 => {
                let next = t.iter().next().map(|(which, x)| (which.as_str(), x));
                let (which, x) = next.unwrap_or_default();
                let Some(x) = x.as_f64().filter(|x| *x >= 0.0 && x.is_finite()) else {
                    return Err(bad(
                        format!("the `number` tolerance `{which}` must be a number of 0 or more"),
                        "e.g. `{number: {abs: 0.01}}`",
                    ));
                };
                match which {
                    "abs" => Ok(Comparator::Number(Tolerance::Abs(x))),
                    "rel" => Ok(Comparator::Number(Tolerance::Rel(x))),
                    other => Err(bad(
                        format!("unknown `number` tolerance `{other}`"),
                        "use `abs` (absolute) or `rel` (relative), e.g. `{number: {rel: 0.05}}`",
                    )),
                }
            }
            ("number", _) => Err(bad(
                "`number` needs one tolerance",
                "write `{number: {abs: 0.01}}` or `{number: {rel: 0.05}}`",
            )),
            ("regex", Some(Value::String(r))) => regex::Regex::new(r)
                .map(Comparator::Regex)
                .map_err(|e| ParseError {
                    message: format!("invalid regex `{r}`: {}", first_line(&e.to_string())),
                    help: None,
                }),
            ("judge", Some(Value::String(r))) if !r.trim().is_empty() => {
                Ok(Comparator::Judge(r.trim().to_owned()))
            }
            ("regex" | "judge", _) => Err(bad(
                format!("`{kind}` needs a string"),
                "e.g. `{regex: \"^[a-z_]+\\\\.pdf$\"}` or `{judge: \"says the same thing\"}`",
            )),
            ("exact" | "set" | "text", Some(_)) => Err(bad(
                format!("`{kind}` takes no argument"),
                &format!("write just `{kind}`"),
            )),
            (other, _) => Err(ParseError {
                message: format!("unknown comparator `{other}`"),
                help: Some(
                    crate::suggest::did_you_mean(other, KINDS).unwrap_or_else(|| SHAPES.to_owned()),
                ),
            }),
        }
    }

    /// The comparator's name as written (`number`, `regex`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Comparator::Exact => "exact",
            Comparator::Number(_) => "number",
            Comparator::Set => "set",
            Comparator::Text => "text",
            Comparator::Regex(_) => "regex",
            Comparator::Judge(_) => "judge",
        }
    }

    /// Whether `actual` agrees with `expected` (a field missing on one side never agrees).
    pub fn check<'a>(&'a self, expected: Option<&Value>, actual: Option<&Value>) -> Check<'a> {
        let (e, a) = match (expected, actual) {
            (None, None) => return Check::Agree(true),
            (Some(e), Some(a)) => (e, a),
            _ => return Check::Agree(false),
        };
        Check::Agree(match self {
            Comparator::Exact => exact(e, a),
            Comparator::Number(t) => match (e.as_f64(), a.as_f64()) {
                (Some(x), Some(y)) => match t {
                    Tolerance::Abs(tol) => (x - y).abs() <= *tol,
                    Tolerance::Rel(tol) => (x - y).abs() <= tol * x.abs(),
                },
                _ => exact(e, a),
            },
            Comparator::Set => match (e, a) {
                (Value::Array(x), Value::Array(y)) => {
                    x.iter().all(|v| y.iter().any(|w| exact(v, w)))
                        && y.iter().all(|w| x.iter().any(|v| exact(v, w)))
                }
                _ => exact(e, a),
            },
            Comparator::Text => match (e, a) {
                (Value::String(x), Value::String(y)) => fold(x) == fold(y),
                _ => exact(e, a),
            },
            Comparator::Regex(r) => match a {
                Value::String(s) => r.is_match(s),
                other => r.is_match(&other.to_string()),
            },
            Comparator::Judge(rubric) => return Check::Judge(rubric),
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// Case folded, runs of whitespace made one space, ends trimmed.
fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// JSON equality where strings compare trimmed and numbers by value (`42` equals `42.0`).
pub fn exact(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.trim() == y.trim(),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| exact(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| exact(v, w)))
        }
        _ => a == b,
    }
}

/// An output split into the fields comparators see: an object's keys, else [`VALUE_FIELD`].
pub fn fields(v: &Value) -> BTreeMap<String, Value> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        other => BTreeMap::from([(VALUE_FIELD.to_owned(), other.clone())]),
    }
}

/// The fields of an expected and an actual output together (union, sorted).
pub fn field_names(expected: &Value, actual: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = fields(expected).into_keys().collect();
    if let Some(a) = actual {
        names.extend(fields(a).into_keys());
    }
    names.sort();
    names.dedup();
    names
}

/// The comparator for `field` in `compare` (default `exact`).
pub fn for_field<'a>(compare: &'a BTreeMap<String, Comparator>, field: &str) -> &'a Comparator {
    compare.get(field).unwrap_or(&Comparator::Exact)
}

/// The fields an output schema names (for checking `compare:` keys): its properties, or
/// [`VALUE_FIELD`] when the output is not an object (or has no schema).
pub fn schema_fields(output: Option<&Value>) -> Vec<String> {
    match output
        .and_then(|o| o.get("properties"))
        .and_then(Value::as_object)
    {
        Some(props) => props.keys().cloned().collect(),
        None => vec![VALUE_FIELD.to_owned()],
    }
}

/// Fields whose output schema has an `enum`, with its values (for confusion matrices).
pub fn enum_fields(output: Option<&Value>) -> Vec<(String, Vec<Value>)> {
    let Some(output) = output else {
        return Vec::new();
    };
    if let Some(values) = output.get("enum").and_then(Value::as_array) {
        return vec![(VALUE_FIELD.to_owned(), values.clone())];
    }
    output
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter_map(|(k, p)| Some((k.clone(), p.get("enum")?.as_array()?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Comparator {
        Comparator::parse(&v).unwrap()
    }

    fn agrees(c: &Comparator, e: Value, a: Value) -> bool {
        c.check(Some(&e), Some(&a)) == Check::Agree(true)
    }

    #[test]
    fn exact_trims_strings_and_compares_numbers_by_value() {
        let c = parse(json!("exact"));
        assert!(agrees(&c, json!(" a\n"), json!("a")));
        assert!(agrees(
            &c,
            json!({"n": 42, "l": [" x"]}),
            json!({"l": ["x"], "n": 42.0})
        ));
        assert!(!agrees(&c, json!({"n": 1}), json!({"n": 1, "m": 2})));
        assert!(!agrees(&c, json!("1"), json!(1)));
        assert!(!agrees(&c, json!("A"), json!("a")));
    }

    #[test]
    fn number_tolerances_are_absolute_or_relative() {
        let abs = parse(json!({"number": {"abs": 0.5}}));
        assert!(agrees(&abs, json!(10), json!(10.5)));
        assert!(!agrees(&abs, json!(10), json!(10.6)));
        let rel = parse(json!({"number": {"rel": 0.1}}));
        assert!(agrees(&rel, json!(200), json!(219)));
        assert!(!agrees(&rel, json!(200), json!(221)));
        assert!(agrees(&rel, json!(0), json!(0)));
        assert!(!agrees(&rel, json!(1), json!("1")));
    }

    #[test]
    fn set_ignores_order_and_text_folds_case_and_whitespace() {
        let set = parse(json!("set"));
        assert!(agrees(&set, json!(["a", "b"]), json!(["b", "a"])));
        assert!(!agrees(&set, json!(["a", "b"]), json!(["a", "c"])));
        assert!(!agrees(&set, json!(["a", "b"]), json!(["a"])));
        let text = parse(json!("text"));
        assert!(agrees(
            &text,
            json!("Double  charge"),
            json!(" double\ncharge ")
        ));
        assert!(!agrees(
            &text,
            json!("double charge"),
            json!("double charges")
        ));
    }

    #[test]
    fn regex_matches_the_actual_value() {
        let re = parse(json!({"regex": "^[a-z0-9_]+\\.pdf$"}));
        assert!(agrees(&re, json!("anything"), json!("q3_report.pdf")));
        assert!(!agrees(&re, json!("anything"), json!("Q3 report.pdf")));
        assert_eq!(re.kind(), "regex");
    }

    #[test]
    fn judge_defers_to_a_model() {
        let j = parse(json!({"judge": "same meaning"}));
        assert_eq!(
            j.check(Some(&json!("a")), Some(&json!("b"))),
            Check::Judge("same meaning")
        );
    }

    #[test]
    fn a_missing_field_disagrees() {
        let c = Comparator::Exact;
        assert_eq!(c.check(Some(&json!(1)), None), Check::Agree(false));
        assert_eq!(c.check(None, None), Check::Agree(true));
    }

    #[test]
    fn bad_comparators_say_why() {
        let err = |v: Value| Comparator::parse(&v).unwrap_err();
        assert!(err(json!("exat")).help.unwrap().contains("`exact`"));
        assert_eq!(
            err(json!({"number": {"abz": 1}})).message,
            "unknown `number` tolerance `abz`"
        );
        assert!(
            err(json!({"number": {"abs": -1}}))
                .message
                .contains("0 or more")
        );
        assert!(
            err(json!({"regex": "("}))
                .message
                .starts_with("invalid regex `(`")
        );
        assert_eq!(err(json!({"judge": " "})).message, "`judge` needs a string");
        assert_eq!(err(json!({"set": 1})).message, "`set` takes no argument");
        assert_eq!(
            err(json!(3)).message,
            "a comparator is a name or a one-key map"
        );
    }

    #[test]
    fn outputs_split_into_fields() {
        assert_eq!(
            fields(&json!("x")),
            BTreeMap::from([("value".into(), json!("x"))])
        );
        assert_eq!(
            field_names(&json!({"b": 1}), Some(&json!({"a": 1, "b": 2}))),
            vec!["a", "b"]
        );
        let schema = json!({"type": "object", "properties": {
            "category": {"type": "string", "enum": ["bug", "billing"]}, "urgent": {"type": "boolean"}}});
        assert_eq!(schema_fields(Some(&schema)), vec!["category", "urgent"]);
        assert_eq!(
            enum_fields(Some(&schema)),
            vec![("category".into(), vec![json!("bug"), json!("billing")])]
        );
        assert_eq!(schema_fields(None), vec!["value"]);
    }
}
