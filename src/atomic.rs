//! Atomic file writes (base layer): every file llm-do writes for the user — `write_file`,
//! `write_text`, cassettes — lands whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Write `bytes` to `path` atomically: parent directories are created, the data goes to a
/// temporary file in the same directory, is flushed to disk, and is renamed over `path`.
/// Readers see the old content or the new one, never a mix; on error no temporary file is
/// left behind. An existing file keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".llm-do-").suffix(".tmp");
    let existing = fs::metadata(path).ok().map(|m| m.permissions());
    if let Some(permissions) = existing.clone() {
        builder.permissions(permissions);
    } else {
        default_permissions(&mut builder);
    }
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// New files get the usual `rw-r--r--` instead of the temp file's private `rw-------`.
#[cfg(unix)]
fn default_permissions(builder: &mut tempfile::Builder<'_, '_>) {
    use std::os::unix::fs::PermissionsExt;
    builder.permissions(fs::Permissions::from_mode(0o644));
}

#[cfg(not(unix))]
fn default_permissions(_builder: &mut tempfile::Builder<'_, '_>) {}

/// Best effort: make the rename durable. Failure only weakens durability, not atomicity.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
