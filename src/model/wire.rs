//! Small pure helpers shared by the wire formats (tool-argument parsing, identifier
//! sanitising, URL joining, a system prompt with an instruction added, truncation errors).

use serde_json::Value;

use super::ModelError;

/// Parses tool-call arguments. Empty text means no arguments (`{}`); text that is not JSON is
/// kept as a string value so the run loop can tell the model its arguments were malformed.
pub fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// `name` reduced to `[A-Za-z0-9_-]` (others become `_`) and at most 64 characters: tool and
/// schema names must match `^[a-zA-Z0-9_-]{1,64}$` on every provider's API.
pub fn sanitized(name: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || c == '-';
    name.chars()
        .map(|c| if keep(c) { c } else { '_' })
        .take(64)
        .collect()
}

/// [`sanitized`] `name`, or `fallback` when nothing but underscores is left.
pub fn identifier(name: Option<&str>, fallback: &str) -> String {
    let cleaned = sanitized(name.unwrap_or_default());
    if cleaned.trim_matches('_').is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    }
}

/// `system` with `instruction` after it (a blank line between), or the instruction alone.
pub fn with_instruction(system: &str, instruction: String) -> String {
    if system.is_empty() {
        instruction
    } else {
        format!("{system}\n\n{instruction}")
    }
}

/// `base` + `/` + `path`, without doubling slashes.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The error for a reply cut off by `max_tokens` while a tool call was being written: its
/// arguments are truncated, so running the tool would be wrong.
pub fn truncated_tool_call(provider: &str, tool: &str) -> ModelError {
    ModelError::Other(format!(
        "the reply from {provider} hit `max_tokens` while writing the arguments of tool `{tool}`, \
         so they are truncated; raise `max_tokens` for this worker"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_parse_leniently() {
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_arguments("  "), json!({}));
        assert_eq!(parse_arguments(r#"{"a":"#), json!(r#"{"a":"#));
    }

    #[test]
    fn identifiers_are_sanitised() {
        assert_eq!(
            identifier(Some("pitch evaluator.v2"), "output"),
            "pitch_evaluator_v2"
        );
        assert_eq!(identifier(Some("…"), "output"), "output");
        assert_eq!(identifier(None, "output"), "output");
        assert_eq!(identifier(Some(&"x".repeat(80)), "o").len(), 64);
    }

    #[test]
    fn urls_join_cleanly() {
        assert_eq!(
            join_url("http://h/v1/", "/chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(join_url("http://h", "v1/messages"), "http://h/v1/messages");
    }
}
