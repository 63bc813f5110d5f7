//! The built-in offline `test` model.
