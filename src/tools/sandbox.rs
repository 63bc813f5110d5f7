//! Path confinement: every path an LLM tool or a script builtin touches resolves inside the
//! project root. (Interim version; replaced by the tools branch.)

use std::io;
use std::path::{Component, Path, PathBuf};

/// Refusals of the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("path `{path}` escapes the project root `{root}`")]
    Escape { path: String, root: String },
    #[error("cannot access `{path}`: {message}")]
    Io { path: String, message: String },
}

/// The project root all paths are confined to.
#[derive(Debug)]
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    pub fn new(root: &Path) -> io::Result<Self> {
        Ok(Self { root: root.canonicalize()? })
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn resolve(&self, path: &str) -> Result<PathBuf, SandboxError> {
        let mut out = self.root.clone();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::CurDir => {}
                _ => return Err(SandboxError::Escape { path: path.into(), root: self.root.display().to_string() }),
            }
        }
        Ok(out)
    }
    pub fn resolve_for_write(&self, path: &str) -> Result<PathBuf, SandboxError> {
        self.resolve(path)
    }
    pub fn relative(&self, abs: &Path) -> String {
        abs.strip_prefix(&self.root).unwrap_or(abs).to_string_lossy().replace('\\', "/")
    }
    pub fn list(&self, dir: &str, glob: &str) -> Result<Vec<String>, SandboxError> {
        let base = self.resolve(dir)?;
        let matcher = globset::Glob::new(glob).map_err(|e| SandboxError::Io { path: glob.into(), message: e.to_string() })?.compile_matcher();
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matcher.is_match(p.strip_prefix(&base).unwrap_or(&p)) {
                    out.push(self.relative(&p));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
