//! [`TempDir`]: the temporary directory of a test, removed when it is dropped (also when the
//! test panics, as the panic unwinds), so test runs leave nothing behind in the system's
//! temporary directory. With the environment variable `REDLINE_KEEP_TEST_DIRS` set, the
//! directory is kept and its path printed, so a failed test's files can be inspected.
//!
//! A leaf used by the unit tests in `src/` and, through `tests/common`, by the integration
//! tests; the service never creates one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable that keeps test directories.
pub const KEEP_VAR: &str = "REDLINE_KEEP_TEST_DIRS";

/// A fresh, empty directory `redline-test-<tag>-<pid>-<n>` under the system's temporary
/// directory, removed with everything in it on drop. It dereferences to its [`Path`].
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates the directory; panics (failing the test) when it cannot.
    pub fn new(tag: &str) -> TempDir {
        TempDir::create(tag, std::env::var_os(KEEP_VAR).is_some())
    }

    fn create(tag: &str, keep: bool) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("redline-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create test dir {}: {e}", path.display()));
        TempDir { path, keep }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("{KEEP_VAR} is set: keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TempDir;

    #[test]
    fn removed_on_drop_with_its_contents() {
        let dir = TempDir::new("drop");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/f"), "x").unwrap();
        let path = dir.to_path_buf();
        assert!(path.join("a/b/f").is_file());
        drop(dir);
        assert!(!path.exists(), "{} is still there", path.display());
    }

    #[test]
    fn removed_when_the_test_panics() {
        let (tx, rx) = std::sync::mpsc::channel();
        let panicked = std::thread::spawn(move || {
            let dir = TempDir::new("panic");
            tx.send(dir.to_path_buf()).unwrap();
            panic!("a failing test");
        })
        .join()
        .is_err();
        assert!(panicked);
        let path = rx.recv().unwrap();
        assert!(!path.exists(), "{} is still there", path.display());
    }

    #[test]
    fn kept_when_asked_and_each_dir_is_new() {
        let a = TempDir::create("keep", true);
        let b = TempDir::new("keep");
        assert_ne!(a.path(), b.path());
        let path = a.to_path_buf();
        drop(a);
        assert!(path.is_dir(), "a kept dir is removed");
        std::fs::remove_dir_all(&path).unwrap();
    }
}
