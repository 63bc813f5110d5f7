//! Workers: the `.worker` file format ([`file`]) and the run loop that holds one conversation
//! with a model, runs its tool calls and validates its output ([`run`]).

pub mod file;

pub use file::{Example, WorkerSpec};
pub mod input;
pub mod run;
pub mod toolbox;
