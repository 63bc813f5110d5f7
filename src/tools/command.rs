//! Parsing a `shell` tool command line without a shell: a character check and a small
//! quote-aware word splitter.
//!
//! Commands run as one program with literal arguments, so nothing a shell would interpret may
//! appear anywhere, not even inside quotes: a refused character is refused because of what a
//! reader (or a later copy-paste into a real shell) would take it to mean. Quotes only group
//! words; there are no escapes, variables or globs.

/// Characters refused anywhere in a command, with what a shell would do with them.
const FORBIDDEN: &[(char, &str)] = &[
    (';', "command separator"),
    ('|', "pipe"),
    ('&', "background or `&&` operator"),
    ('$', "variable or command substitution"),
    ('>', "output redirection"),
    ('<', "input redirection"),
    ('`', "command substitution"),
    ('(', "subshell or grouping"),
    (')', "subshell or grouping"),
    ('{', "brace expansion or grouping"),
    ('}', "brace expansion or grouping"),
    ('*', "glob"),
    ('?', "glob"),
    ('[', "glob"),
    (']', "glob"),
    ('~', "home directory expansion"),
    ('!', "history expansion"),
    ('\\', "escape"),
    ('\n', "command separator (newline)"),
    ('\r', "carriage return"),
];

/// Programs that run arbitrary code or other programs from their arguments. They are refused
/// unless the matching `[shell] allow` rule names the program together with its arguments.
#[rustfmt::skip]
pub const INTERPRETERS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "csh", "tcsh", "fish", "pwsh", "powershell", "cmd",
    "python", "python2", "python3", "perl", "ruby", "node", "deno", "bun", "php", "lua", "env",
    "xargs", "eval", "exec", "sudo", "su", "doas", "nohup", "nice", "timeout", "stdbuf", "time",
    "watch", "busybox", "command", "builtin",
];

/// Check `command` for refused characters, then split it into words.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    if let Some((c, what)) = command
        .chars()
        .find_map(|c| FORBIDDEN.iter().find(|(f, _)| *f == c).copied())
    {
        return Err(format!(
            "{} ({what}) is not allowed; commands run without a shell, as one program with plain arguments",
            describe(c)
        ));
    }
    if let Some(c) = command.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "control character {} is not allowed",
            c.escape_default()
        ));
    }
    let words = split_words(command)?;
    if words.is_empty() {
        return Err(String::from("the command is empty"));
    }
    Ok(words)
}

/// Split on unquoted whitespace; `'...'` and `"..."` group literally and may touch other text
/// (`a"b c"` is one word `ab c`).
fn split_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// The program name without its directory (`/bin/bash` → `bash`).
pub fn program_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// An argument that names a path outside the project: absolute, or with a `..` component
/// (also after `--opt=`). Returns the offending argument.
pub fn escaping_argument(words: &[String]) -> Option<&str> {
    words.iter().map(String::as_str).find(|word| {
        let value = word.split_once('=').map_or(*word, |(_, v)| v);
        [*word, value]
            .iter()
            .any(|w| w.starts_with('/') || w.split('/').any(|part| part == ".."))
    })
}

fn describe(c: char) -> String {
    match c {
        '\n' => String::from("a newline"),
        '\r' => String::from("a carriage return"),
        '`' => String::from("a backtick"),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn splits_on_whitespace_and_groups_quotes() {
        assert_eq!(words("  git   status -s "), ["git", "status", "-s"]);
        assert_eq!(
            words("grep 'two words' \"a b\""),
            ["grep", "two words", "a b"]
        );
        assert_eq!(words("echo a\"b c\"d ''"), ["echo", "ab cd", ""]);
        assert_eq!(words("echo \"it's\""), ["echo", "it's"]);
    }

    #[test]
    fn refuses_metacharacters_even_in_quotes() {
        for bad in [
            "ls; rm x",
            "ls | wc",
            "a && b",
            "echo $(id)",
            "echo `id`",
            "echo hi > f",
            "cat < f",
            "echo 'a;b'",
            "echo \"$HOME\"",
            "ls *",
            "cat ~/x",
            "echo a\\ b",
            "echo hi\nrm x",
            "echo {a,b}",
            "echo !!",
        ] {
            assert!(split(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            split("ls; rm").unwrap_err(),
            "`;` (command separator) is not allowed; commands run without a shell, as one program with plain arguments"
        );
    }

    #[test]
    fn refuses_unterminated_quotes_and_empty_commands() {
        assert_eq!(split("echo 'a").unwrap_err(), "unterminated ' quote");
        assert_eq!(split("   ").unwrap_err(), "the command is empty");
        assert!(split("echo \u{7}").is_err());
    }

    #[test]
    fn finds_arguments_that_leave_the_project() {
        let w = |s: &str| words(s);
        assert_eq!(
            escaping_argument(&w("cat /etc/passwd")),
            Some("/etc/passwd")
        );
        assert_eq!(escaping_argument(&w("cat ../x")), Some("../x"));
        assert_eq!(
            escaping_argument(&w("wc --files0-from=/etc/x")),
            Some("--files0-from=/etc/x")
        );
        assert_eq!(escaping_argument(&w("git log main..HEAD src/a.rs")), None);
    }

    #[test]
    fn program_name_strips_directories() {
        assert_eq!(program_name("/usr/bin/bash"), "bash");
        assert_eq!(program_name("git"), "git");
    }
}
