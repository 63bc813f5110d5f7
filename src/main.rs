//! The `llm-do` binary: everything lives in the library.

fn main() {
    std::process::exit(llm_do::cli::main());
}
