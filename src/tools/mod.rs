//! Builtin toolsets an LLM can call (DESIGN §5): `fs_ro`, `fs`, `shell`.
pub mod sandbox;
