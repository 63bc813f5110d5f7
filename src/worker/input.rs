//! Turning a worker's input into the conversation's user message (text, labelled fields,
//! attachments) and its few-shot examples into prior turns.

use base64::Engine as _;
use serde_json::Value;

use crate::call::{CallError, normalize_input};
use crate::model::{Attachment, Message, Part, Role};
use crate::output::plain_text;
use crate::tools::sandbox::Sandbox;
use crate::worker::WorkerSpec;

/// Few-shot examples as alternating user/assistant messages.
pub fn examples(spec: &WorkerSpec) -> Vec<Message> {
    spec.examples
        .iter()
        .flat_map(|ex| {
            let input = render(&normalize_input(ex.input.clone()));
            [
                Message::user(input),
                Message::assistant(plain_text(&ex.output)),
            ]
        })
        .collect()
}

/// The user message for `input` (already normalized to an object), with attachments.
pub fn user_message(
    sandbox: &Sandbox,
    spec: &WorkerSpec,
    input: &Value,
) -> Result<Message, CallError> {
    let mut parts = vec![Part::Text(render(input))];
    for field in &spec.attachments {
        let paths: Vec<&str> = match input.get(field) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for path in paths {
            parts.push(Part::Attachment(attachment(sandbox, spec, path)?));
        }
    }
    Ok(Message {
        role: Role::User,
        parts,
    })
}

/// An input object as text: a lone `input` string as is, otherwise one labelled field per line
/// (multi-line values on their own lines, non-strings as JSON).
pub fn render(input: &Value) -> String {
    let Some(map) = input.as_object() else {
        return plain_text(input);
    };
    if map.len() == 1
        && let Some(Value::String(s)) = map.values().next()
    {
        return s.clone();
    }
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.contains('\n') => format!("{k}:\n{s}"),
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// MIME type for an attachment path, by extension.
pub fn media_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}

fn attachment(sandbox: &Sandbox, spec: &WorkerSpec, path: &str) -> Result<Attachment, CallError> {
    let fail = |message: String| CallError::Attachment {
        worker: spec.name.clone(),
        message,
    };
    let media = media_type(path).ok_or_else(|| fail(format!("cannot attach `{path}`: unsupported file type (PDF, PNG, JPEG, GIF and WebP are supported)")))?;
    let at = sandbox
        .resolve(path)
        .map_err(|e| fail(format!("cannot attach `{path}`: {e}")))?;
    let bytes = sandbox
        .read(&at)
        .map_err(|e| fail(format!("cannot attach `{path}`: {e}")))?;
    Ok(Attachment {
        path: path.to_string(),
        media_type: media.to_string(),
        data_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_lone_input_and_labelled_fields() {
        assert_eq!(render(&json!({"input": "hello"})), "hello");
        assert_eq!(render(&json!({"name": "Ada"})), "Ada");
        assert_eq!(
            render(&json!({"company": "Acme", "n": 3})),
            "company: Acme\nn: 3"
        );
        assert_eq!(render(&json!({"a": "x\ny", "b": "z"})), "a:\nx\ny\nb: z");
    }

    #[test]
    fn knows_media_types() {
        assert_eq!(media_type("deck.PDF"), Some("application/pdf"));
        assert_eq!(media_type("a.jpeg"), Some("image/jpeg"));
        assert_eq!(media_type("a.docx"), None);
    }
}
