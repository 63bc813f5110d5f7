//! Host fns: fns whose body is the embedding program's (a Python function registered with
//! `@project.fn`, a Rust closure), not a Rhai script's. A host fn joins the project namespace
//! as a [`ScriptFn`] whose [`ScriptFn::host`] is set, so everything that reaches a fn reaches it
//! the same way: a script's `call()`, a worker's `toolsets:` (its model sees the description
//! and the JSON Schema of its parameters), `call_all`, `llm-do`'s switch (`[stabilize] NAME`
//! with the host fn as the code side). The seam runs it instead of evaluating Rhai.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::{ParamDoc, ScriptFn};

/// What a host fn's handler returns: its output, or the message of its failure.
pub type HostFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// The body of a host fn: called with the named arguments as one JSON object.
pub type Handler = Arc<dyn Fn(Value) -> HostFuture + Send + Sync>;

/// A fn registered by the embedding program.
#[derive(Clone)]
pub struct HostFn {
    /// The name it is called by.
    pub name: String,
    /// What a model is told it does (its tool description).
    pub description: String,
    /// JSON Schema of its arguments: an object whose `properties` are its parameters, in
    /// order (their `type` is checked by the seam like a Rhai fn's doc-comment types).
    pub schema: Value,
    /// The body.
    pub handler: Handler,
}

impl fmt::Debug for HostFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFn")
            .field("name", &self.name)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Where a host fn says it was defined (listings, `stabilize` messages).
pub const HOST_PATH: &str = "<host>";

impl HostFn {
    /// A host fn whose body blocks (a Python function): it runs on the blocking pool, never on
    /// an async worker thread.
    pub fn blocking(
        name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
        body: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> HostFn {
        let body = Arc::new(body);
        HostFn {
            name: name.into(),
            description: description.into(),
            schema,
            handler: Arc::new(move |args| {
                let body = body.clone();
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || body(args))
                        .await
                        .unwrap_or_else(|e| Err(format!("the host fn failed: {e}")))
                })
            }),
        }
    }

    /// The parameters, in the order of the schema's `properties`.
    pub fn params(&self) -> Vec<String> {
        self.properties().map(|(k, _)| k.clone()).collect()
    }

    fn properties(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// The fn as the namespace holds it: parameters and their types from the schema.
    pub fn script_fn(self: &Arc<Self>) -> ScriptFn {
        let param_docs = self
            .properties()
            .map(|(_, p)| ParamDoc {
                ty: p.get("type").and_then(Value::as_str).map(str::to_owned),
                description: p
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
            .collect();
        ScriptFn {
            name: self.name.clone(),
            params: self.params(),
            description: self.description.clone(),
            param_docs,
            approval_required: false,
            path: PathBuf::from(HOST_PATH),
            span: (0, 0),
            untrusted: false,
            host: Some(self.clone()),
        }
    }

    /// Call the body with positional arguments (already checked by the seam), named by the
    /// schema's parameters.
    pub fn call(&self, args: Vec<Value>) -> HostFuture {
        let named = self.params().into_iter().zip(args).collect();
        (self.handler)(Value::Object(named))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn add() -> Arc<HostFn> {
        Arc::new(HostFn::blocking(
            "add",
            "Add two numbers.",
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}),
            |v| {
                Ok(json!(
                    v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0)
                ))
            },
        ))
    }

    #[test]
    fn a_host_fn_is_a_fn_with_the_schema_s_parameters() {
        let f = add().script_fn();
        assert_eq!(f.params, ["a", "b"]);
        assert_eq!(f.param_docs[0].ty.as_deref(), Some("integer"));
        assert_eq!(f.description, "Add two numbers.");
        assert_eq!(f.parameters_schema(), add().schema);
    }

    #[tokio::test]
    async fn the_body_gets_named_arguments() {
        assert_eq!(add().call(vec![json!(2), json!(3)]).await, Ok(json!(5)));
    }
}
