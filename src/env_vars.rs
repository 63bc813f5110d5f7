//! Every environment variable llm-do reads, in one place.

/// Default model id when no `--model` flag or worker `model` is given.
pub const LLM_DO_MODEL: &str = "LLM_DO_MODEL";
