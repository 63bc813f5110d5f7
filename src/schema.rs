//! JSON Schema: shorthand expansion and validation.
