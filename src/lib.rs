//! llm-do: LLM applications as ordinary programs. See `src/README.md` for a map.

pub mod approval;
pub mod atomic;
pub mod call;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod env_vars;
pub mod error;
pub mod fanout;
pub mod interrupt;
pub mod mcp;
pub mod model;
pub mod project;
pub mod repl;
pub mod report;
pub mod runtime;
pub mod schema;
pub mod script;
pub mod settings;
pub mod shadow;
pub mod stats;
pub mod suggest;
pub mod tools;
pub mod trace;
pub mod watch;
pub mod worker;
