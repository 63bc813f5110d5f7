//! Printing a command's result value.

use std::io::IsTerminal;

use serde_json::Value;

use crate::report::Error;

/// Print a result: strings raw, the rest as JSON (`json`: always JSON). On a terminal,
/// controls in it are shown escaped ([`crate::output::escape`]); to a pipe or a file it is the
/// data as it is.
pub fn print_value(v: &Value, json: bool) -> Result<(), Error> {
    use crate::output::{Escaped, escape};
    let Some(s) = crate::script::value::render(v, json) else {
        return Ok(());
    };
    if std::io::stdout().is_terminal() {
        let how = if json { Escaped::Json } else { Escaped::Text };
        return crate::report::out_line(&escape(&s, how));
    }
    crate::report::out_line(&s)
}
