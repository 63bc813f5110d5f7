//! The file operations of the sandbox, all through the root's `cap_std` [`Dir`]: a
//! [`Resolved`] path is walked from the root one component at a time, each folder opened
//! beneath the one before without following a symlink (`openat2` with `RESOLVE_BENEATH` and
//! `O_NOFOLLOW`). The check found no symlink on that path, so a symlink met now was swapped in
//! since, and is refused wherever it points: the file read or written is the one checked.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use cap_fs_ext::{DirExt as _, FollowSymlinks, OpenOptionsFollowExt as _, OpenOptionsSyncExt as _};
use cap_std::fs::{Dir, OpenOptions};

use super::{Resolved, Sandbox, Writable, slash_path};

impl Sandbox {
    /// Open what `at` names for reading, file or folder. The open never blocks (a FIFO swapped
    /// in since the check opens at once; its handle's metadata says what it is) and never
    /// follows a symlink.
    pub fn open(&self, at: &Resolved) -> io::Result<fs::File> {
        let (parent, name) = parent_and_name(&at.rel);
        let opened = self.open_dirs(parent, false)?;
        let dir = opened.as_ref().unwrap_or(&self.dir);
        let mut options = OpenOptions::new();
        options.read(true).follow(FollowSymlinks::No).nonblock(true);
        dir.open_with(name, &options)
            .map(cap_std::fs::File::into_std)
            .map_err(|e| swapped(dir, &at.rel, e))
    }

    /// The folder `at` names, opened for listing as [`Sandbox::open`] opens it. `Ok(None)` when
    /// it is not a folder.
    pub fn open_dir(&self, at: &Resolved) -> io::Result<Option<Dir>> {
        let file = self.open(at)?;
        Ok(file.metadata()?.is_dir().then(|| Dir::from_std_file(file)))
    }

    /// The whole content of the file `at` names. A FIFO, socket or device (swapped in since the
    /// check) is refused; a folder fails as reading one does.
    pub fn read(&self, at: &Resolved) -> io::Result<Vec<u8>> {
        let file = self.open(at)?;
        let kind = file.metadata()?.file_type();
        if !kind.is_file() && !kind.is_dir() {
            return Err(io::Error::other("not a regular file"));
        }
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// [`Sandbox::read`] as UTF-8 text.
    pub fn read_to_string(&self, at: &Resolved) -> io::Result<String> {
        String::from_utf8(self.read(at)?).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })
    }

    /// Write `bytes` to the file `at` names atomically ([`crate::atomic::write_in`]), creating
    /// the missing folders on the way; the temporary file and the rename both go through the
    /// folder's handle.
    pub fn write(&self, at: &Writable, bytes: &[u8]) -> io::Result<()> {
        let (parent, name) = parent_and_name(&at.0.rel);
        let opened = self.open_dirs(parent, true)?;
        crate::atomic::write_in(opened.as_ref().unwrap_or(&self.dir), Path::new(name), bytes)
    }

    /// Whether `path` names something under the root (a symlink counts when it resolves inside).
    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path)
            .is_ok_and(|at| self.dir.try_exists(&at.rel).unwrap_or(false))
    }

    /// Whether `path` names a regular file under the root, symlinks followed inside it.
    pub fn is_file(&self, path: &str) -> bool {
        self.resolve(path)
            .is_ok_and(|at| self.dir.metadata(&at.rel).is_ok_and(|m| m.is_file()))
    }

    /// The folder `rel` (relative to the root, `.` or empty for the root), walked one component
    /// at a time without following a symlink; with `create`, missing folders are made. `None`
    /// for the root itself (the root's own handle serves).
    fn open_dirs(&self, rel: &Path, create: bool) -> io::Result<Option<Dir>> {
        let mut opened: Option<Dir> = None;
        let mut walked = PathBuf::new();
        for part in rel.iter().filter(|p| *p != OsStr::new(".")) {
            let dir = opened.as_ref().unwrap_or(&self.dir);
            walked.push(part);
            if create
                && let Err(e) = dir.create_dir(part)
                && e.kind() != io::ErrorKind::AlreadyExists
            {
                return Err(e);
            }
            let next = dir
                .open_dir_nofollow(part)
                .map_err(|e| swapped(dir, &walked, e))?;
            opened = Some(next);
        }
        Ok(opened)
    }
}

/// The folder holding `rel` and its last component (`.` for the root).
fn parent_and_name(rel: &Path) -> (&Path, &OsStr) {
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => (Path::new(""), OsStr::new(".")),
    }
}

/// `err`, from opening the last component of `walked` in `dir` without following a symlink,
/// said plainly when that component is a symlink: it was swapped in after the check.
fn swapped(dir: &Dir, walked: &Path, err: io::Error) -> io::Error {
    let is_link = walked.file_name().is_some_and(|name| {
        dir.symlink_metadata(name)
            .is_ok_and(|m| m.file_type().is_symlink())
    });
    if is_link {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` became a symlink after the path was checked; it is not followed",
                slash_path(walked)
            ),
        )
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp dir with `root/` (the project, holding `sub/a.txt`) and `outside/` next to it.
    fn setup() -> (tempfile::TempDir, Sandbox) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("root/sub")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("root/sub/a.txt"), "inside").unwrap();
        fs::write(dir.path().join("outside/a.txt"), "outside").unwrap();
        let sandbox = Sandbox::new(&dir.path().join("root")).unwrap();
        (dir, sandbox)
    }

    /// Swap the folder `root/sub` for a symlink to `outside/`, as a `shell` call running beside
    /// a file tool (`mv sub x; ln -s ../outside sub`) could between its check and its open.
    #[cfg(unix)]
    fn swap_sub_for_link_outside(dir: &tempfile::TempDir) {
        let sub = dir.path().join("root/sub");
        fs::rename(&sub, dir.path().join("root/moved")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), &sub).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn reads_writes_and_lists_checked_paths() {
        let (_dir, sb) = setup();
        let at = sb.resolve("sub/a.txt").unwrap();
        assert_eq!(sb.read_to_string(&at).unwrap(), "inside");
        let target = sb.resolve_for_write("sub/new/deep.txt").unwrap();
        sb.write(&target, b"one").unwrap();
        sb.write(&target, b"two").unwrap();
        assert_eq!(
            fs::read_to_string(sb.root().join("sub/new/deep.txt")).unwrap(),
            "two"
        );
        assert_eq!(names(&sb.root().join("sub/new")), ["deep.txt"]);
        assert!(sb.open_dir(&at).unwrap().is_none());
        let root = sb.open_dir(&sb.resolve(".").unwrap()).unwrap().unwrap();
        assert_eq!(root.entries().unwrap().count(), 1);
        assert!(sb.exists("sub/a.txt") && sb.is_file("sub/a.txt"));
        assert!(sb.exists("sub") && !sb.is_file("sub"));
        assert!(!sb.exists("sub/none.txt") && !sb.exists("../outside"));
    }

    #[cfg(unix)]
    #[test]
    fn a_write_is_refused_when_a_folder_became_a_symlink_after_the_check() {
        let (dir, sb) = setup();
        let target = sb.resolve_for_write("sub/a.txt").unwrap();
        let fresh = sb.resolve_for_write("sub/deeper/new.txt").unwrap();
        swap_sub_for_link_outside(&dir);
        for at in [&target, &fresh] {
            let err = sb.write(at, b"pwned").unwrap_err();
            assert_eq!(
                err.to_string(),
                "`sub` became a symlink after the path was checked; it is not followed"
            );
        }
        assert_eq!(names(&dir.path().join("outside")), ["a.txt"]);
        assert_eq!(
            fs::read_to_string(dir.path().join("outside/a.txt")).unwrap(),
            "outside"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_read_is_refused_when_a_folder_became_a_symlink_after_the_check() {
        let (dir, sb) = setup();
        let at = sb.resolve("sub/a.txt").unwrap();
        let listed = sb.resolve("sub").unwrap();
        swap_sub_for_link_outside(&dir);
        let err = sb.read(&at).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sub` became a symlink after the path was checked; it is not followed"
        );
        let err = sb.open_dir(&listed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sub` became a symlink after the path was checked; it is not followed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_symlink_is_not_followed_and_a_write_replaces_the_link() {
        let (dir, sb) = setup();
        let at = sb.resolve("sub/a.txt").unwrap();
        let target = sb.resolve_for_write("sub/a.txt").unwrap();
        fs::remove_file(sb.root().join("sub/a.txt")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("outside/a.txt"),
            sb.root().join("sub/a.txt"),
        )
        .unwrap();
        let err = sb.read(&at).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sub/a.txt` became a symlink after the path was checked; it is not followed"
        );
        sb.write(&target, b"new").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("outside/a.txt")).unwrap(),
            "outside"
        );
        let link = fs::symlink_metadata(sb.root().join("sub/a.txt")).unwrap();
        assert!(link.is_file());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_fifo_is_refused_without_blocking() {
        let (_dir, sb) = setup();
        let at = sb.resolve("sub/a.txt").unwrap();
        let fifo = sb.root().join("sub/a.txt");
        fs::remove_file(&fifo).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        assert_eq!(sb.read(&at).unwrap_err().to_string(), "not a regular file");
    }

    #[test]
    fn a_write_onto_a_folder_fails_without_leftovers() {
        let (_dir, sb) = setup();
        let target = sb.resolve_for_write("sub/x/a.txt").unwrap();
        fs::create_dir_all(sb.root().join("sub/x/a.txt")).unwrap();
        assert!(sb.write(&target, b"x").is_err());
        assert_eq!(names(&sb.root().join("sub/x")), ["a.txt"]);
    }
}
