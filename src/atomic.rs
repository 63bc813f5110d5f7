//! Atomic file writes (base layer): every file llm-do writes for the user — `write_file`,
//! `write_text`, cassettes — lands whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions};

/// Write `bytes` to `path` atomically: parent directories are created, then [`write_in`]
/// writes the file in its folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` names no file", path.display()),
        )
    })?;
    fs::create_dir_all(dir)?;
    let dir = Dir::open_ambient_dir(dir, cap_std::ambient_authority())?;
    write_in(&dir, Path::new(name), bytes)
}

/// Write `bytes` to the file `name` of the open folder `dir` atomically: the data goes to a
/// temporary file in `dir`, is flushed to disk, and is renamed over `name`, both through `dir`
/// (so a symlink swapped in for a folder on the way cannot redirect either). Readers see the
/// old content or the new one, never a mix; on error no temporary file is left behind. An
/// existing file keeps its permissions; a new one gets the usual `rw-r--r--`.
pub fn write_in(dir: &Dir, name: &Path, bytes: &[u8]) -> io::Result<()> {
    let existing = dir
        .symlink_metadata(name)
        .ok()
        .filter(cap_std::fs::Metadata::is_file)
        .map(|m| m.permissions());
    let (temp, mut file) = create_temp(dir)?;
    let written = (|| {
        if let Some(permissions) = existing {
            file.set_permissions(permissions)?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        dir.rename(&temp, dir, name)
    })();
    if written.is_err() {
        let _ = dir.remove_file(&temp);
    }
    written?;
    sync_dir(dir);
    Ok(())
}

/// A new temporary file `.llm-do-RANDOM.tmp` in `dir`, and its name.
fn create_temp(dir: &Dir) -> io::Result<(String, cap_std::fs::File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt as _;
        options.mode(0o644);
    }
    let mut tries = 0;
    loop {
        let name = format!(".llm-do-{:016x}.tmp", rand::random::<u64>());
        match dir.open_with(&name, &options) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            opened => return opened.map(|file| (name, file)),
        }
    }
}

/// Best effort: make the rename durable. Failure only weakens durability, not atomicity.
fn sync_dir(dir: &Dir) {
    if let Ok(handle) = dir.open(".") {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_creates_parents_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out/nested/file.txt");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "two");
        assert_eq!(names(target.parent().unwrap()), ["file.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.sh");
        fs::write(&kept, "old").unwrap();
        fs::set_permissions(&kept, fs::Permissions::from_mode(0o755)).unwrap();
        write_atomic(&kept, b"new").unwrap();
        let mode = fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (fs::read_to_string(&kept).unwrap().as_str(), mode),
            ("new", 0o755)
        );
    }

    #[test]
    fn a_write_onto_a_folder_or_naming_no_file_fails_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub/a")).unwrap();
        assert!(write_atomic(&dir.path().join("sub/a"), b"x").is_err());
        assert!(write_atomic(&dir.path().join("sub/.."), b"x").is_err());
        assert_eq!(names(&dir.path().join("sub")), ["a"]);
    }
}
