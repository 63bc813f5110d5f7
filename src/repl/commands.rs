//! The REPL's meta-commands as a table: `:name`, a usage line, help text and a handler.
//! Adding a command is adding a row; `:help` and tab completion read the same table.

use crate::approval::Mode;

use super::Flow;
use super::rhai_line::Session;

/// One meta-command.
pub struct Command {
    /// Typed after `:`.
    pub name: &'static str,
    /// Arguments, for `:help`.
    pub args: &'static str,
    pub help: &'static str,
    pub run: fn(&mut Session, &str) -> Result<Flow, String>,
}

impl Command {
    const fn new(
        name: &'static str,
        args: &'static str,
        help: &'static str,
        run: fn(&mut Session, &str) -> Result<Flow, String>,
    ) -> Command {
        Command {
            name,
            args,
            help,
            run,
        }
    }
}

/// Every meta-command, in the order `:help` lists them.
pub static COMMANDS: &[Command] = &[
    Command::new("help", "", "show this help", help),
    Command::new("list", "", "list workers, fns and builtins", list),
    Command::new(
        "models",
        "",
        "list providers, `[models]` aliases and prices (like `llm-do models`)",
        models,
    ),
    Command::new(
        "reload",
        "",
        "reload the project now (it also reloads by itself when files change)",
        reload,
    ),
    Command::new(
        "model",
        "[ID|none]",
        "use model ID for every worker this session (`none`: back to the defaults)",
        model,
    ),
    Command::new(
        "trace",
        "on|off",
        "show the call tree on stderr (like `-v`)",
        trace,
    ),
    Command::new(
        "approve-all",
        "on|off",
        "approve every tool call an LLM makes (like `--approve-all`)",
        approve_all,
    ),
    Command::new(
        "stabilize",
        "NAME worker|code|shadow|shadow-code|canary:P|file",
        "switch which of worker and fn NAME serves, live (`file`: back to llm-do.toml)",
        stabilize,
    ),
    Command::new("quit", "", "leave the REPL (also Ctrl-D)", quit),
];

/// Run the meta-command line `line` (starting with `:`).
pub fn dispatch(session: &mut Session, line: &str) -> Result<Flow, String> {
    let line = line.trim().trim_start_matches(':');
    let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(c) => (c.run)(session, args.trim()),
        None => {
            let names: Vec<String> = COMMANDS.iter().map(|c| format!(":{}", c.name)).collect();
            let hint =
                crate::suggest::did_you_mean(&format!(":{name}"), names.iter().map(String::as_str))
                    .unwrap_or_else(|| "`:help` lists the commands".to_string());
            Err(format!("unknown command `:{name}` ({hint})"))
        }
    }
}

/// `on` or `off`.
fn switch(args: &str) -> Result<bool, String> {
    match args {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("expected `on` or `off`, not `{other}`")),
    }
}

fn help(_: &mut Session, _: &str) -> Result<Flow, String> {
    println!("{}", help_text());
    Ok(Flow::Continue)
}

/// The `:help` text.
fn help_text() -> String {
    let usage: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!(":{} {}", c.name, c.args).trim_end().to_string())
        .collect();
    let width = usage.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::from(
        "Type Rhai: `let`s and fns persist; `call(\"name\", #{...})` reaches workers and fns.\n\
         `worker(#{name, instructions, model})` defines a worker for the session.\n",
    );
    for (u, c) in usage.iter().zip(COMMANDS) {
        out.push_str(&format!("\n  {u:width$}  {}", c.help));
    }
    out.push_str("\n\nCtrl-C cancels the running line, Ctrl-D exits.");
    out
}

fn list(session: &mut Session, _: &str) -> Result<Flow, String> {
    use crate::project::listing;
    let session_fns = session
        .prompt_fns()
        .into_iter()
        .map(|(sig, file)| listing::Row::session_fn(sig, file.as_deref()))
        .collect();
    let rows = listing::Listing(listing::rows(&session.rt.project(), session_fns));
    crate::report::show(&rows, session.json).map_err(|e| e.to_string())?;
    Ok(Flow::Continue)
}

/// What `llm-do models` prints, from the project as last (re)loaded: the same data, the same
/// printer.
fn models(session: &mut Session, _: &str) -> Result<Flow, String> {
    let models = crate::project::models::Models::from_env(&session.rt.project().config);
    crate::report::show(&models, session.json).map_err(|e| e.to_string())?;
    Ok(Flow::Continue)
}

fn reload(session: &mut Session, _: &str) -> Result<Flow, String> {
    session.force_reload()?;
    println!("reloaded");
    Ok(Flow::Continue)
}

fn model(session: &mut Session, args: &str) -> Result<Flow, String> {
    let rt = &session.rt;
    match args {
        "" => match rt
            .session_model()
            .or_else(|| rt.settings.model_override.clone())
        {
            Some(m) => println!("model: {m}"),
            None => println!("model: per worker (`model:`, `LLM_DO_MODEL`, `llm-do.toml`)"),
        },
        "none" => {
            rt.set_session_model(None);
            println!("model: per worker");
        }
        id if crate::config::is_model_id(id) || rt.project().config.models.contains_key(id) => {
            rt.set_session_model(Some(id.to_string()));
            println!("model: {id}");
        }
        id => {
            return Err(format!(
                "`{id}` is not a model id (expected `provider:model`, `test`, `script:FN` or an alias under `[models]`)"
            ));
        }
    }
    Ok(Flow::Continue)
}

fn trace(session: &mut Session, args: &str) -> Result<Flow, String> {
    let on = switch(args)?;
    session.trace.set(on);
    println!("trace: {}", if on { "on" } else { "off" });
    Ok(Flow::Continue)
}

fn approve_all(session: &mut Session, args: &str) -> Result<Flow, String> {
    let on = switch(args)?;
    let rt = &session.rt;
    let mode = match (on, rt.settings.approval) {
        (true, _) => Some(Mode::ApproveAll),
        (false, Mode::ApproveAll) => Some(Mode::Normal),
        (false, _) => None,
    };
    rt.set_approval_mode(mode).map_err(|e| e.to_string())?;
    println!("approve-all: {}", if on { "on" } else { "off" });
    Ok(Flow::Continue)
}

fn stabilize(session: &mut Session, args: &str) -> Result<Flow, String> {
    let usage = "usage: `:stabilize NAME worker|code|shadow|shadow-code|canary:P|file`";
    let Some((name, mode)) = args.split_once(char::is_whitespace) else {
        return Err(usage.to_string());
    };
    let mode = match mode.trim() {
        "file" => None,
        m => Some(crate::config::Stabilize::try_from(m.to_string())?),
    };
    session.rt.set_stabilize(name, mode)?;
    let now = session.rt.project().config.stabilize.get(name).copied();
    match now {
        Some(m) => println!("{name}: {m}"),
        None => println!("{name}: no switch"),
    }
    Ok(Flow::Continue)
}

fn quit(_: &mut Session, _: &str) -> Result<Flow, String> {
    Ok(Flow::Quit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_take_on_and_off() {
        assert_eq!(switch("on"), Ok(true));
        assert_eq!(switch("off"), Ok(false));
        assert!(switch("yes").is_err());
    }

    #[test]
    fn help_lists_every_command() {
        let text = help_text();
        for c in COMMANDS {
            assert!(text.contains(&format!(":{}", c.name)), "{}", c.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(COMMANDS[i + 1..].iter().all(|d| d.name != c.name));
        }
    }
}
