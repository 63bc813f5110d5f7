//! llm-do: LLM applications as ordinary programs. See `src/README.md` for a map.

pub mod approval;
pub mod config;
pub mod env_vars;
pub mod error;
pub mod model;
pub mod schema;
pub mod suggest;
pub mod tools;
pub mod worker;
