//! Path confinement: every path an LLM tool or a script builtin touches resolves inside the
//! project root.
