//! Workers: the `.worker` file format ([`file`]) and the run loop that holds one conversation
//! with a model, runs its tool calls and validates its output ([`run`]).

mod fields;
pub mod file;
pub mod frontmatter;

pub use file::{Example, ToolsetRef, WorkerSpec, parse_worker};
