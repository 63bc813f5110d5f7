//! Embeds the git commit (`llm-do --version -v`). Reruns only when HEAD or the branch it names
//! moves, not on every build; outside a git checkout the commit is "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LLM_DO_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // In a worktree `.git` is a file, so ask git where HEAD and the branch ref live.
    for args in [
        &["rev-parse", "--git-path", "HEAD"][..],
        &["rev-parse", "--symbolic-full-name", "HEAD"][..],
    ] {
        let Some(mut path) = git(args) else { continue };
        if path.starts_with("refs/") {
            match git(&["rev-parse", "--git-path", &path]) {
                Some(p) => path = p,
                None => continue,
            }
        }
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_lowercase))
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(", ")
    };
    println!("cargo:rustc-env=LLM_DO_FEATURES={features}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=LLM_DO_TARGET={target}");
}
