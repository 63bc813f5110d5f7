//! Workers: the `.worker` file format ([`file`], with [`frontmatter`] and field validation)
//! and how an input becomes the first user message ([`input`]). The run loop lives in
//! `runtime::worker_run`: it calls back into the runtime for models and tools.

mod fields;
pub mod file;
pub mod frontmatter;
pub mod input;

pub use file::{Example, WorkerSpec, check_models, parse_worker};
