//! Workers: the `.worker` file format ([`file`], with [`frontmatter`] and field validation)
//! and the run loop that holds one conversation with a model ([`run`]), its input rendering
//! ([`input`]), its tools ([`toolbox`]) and running one turn's tool calls ([`batch`]).

pub mod batch;
mod fields;
pub mod file;
pub mod frontmatter;
pub mod input;
pub mod run;
pub mod toolbox;

pub use file::{Example, ToolsetRef, WorkerSpec, parse_worker};
