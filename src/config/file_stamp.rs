//! Noticing that a file changed on disk, including the kubelet's atomic ConfigMap update.
//!
//! A ConfigMap volume holds the files in a timestamped directory
//! (`..2026_11_22_13_00_00.123/redline.yaml`), a link `..data` to that directory, and one
//! link per key (`redline.yaml -> ..data/redline.yaml`). An update writes a new timestamped
//! directory and renames a new `..data` link over the old one: the path redline reads never
//! changes, the file behind it does, and the new file may well have the same size and, on a
//! coarse clock, the same modification time. A [`FileStamp`] therefore records the path the
//! links resolve to, the device and inode, the modification time, the size and a hash of the
//! content: a swapped link, a file replaced by rename and an edit in place that keeps size
//! and modification time are all seen.
//!
//! The reload task stamps the config, rule, SLO and Alertmanager files; file_sd stamps its
//! target files.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How a file looked on disk when it was stamped. Two stamps of one path differ when the
/// file changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// The path with every symbolic link resolved (a ConfigMap's `..data` swap changes it).
    resolved: PathBuf,
    /// Device and inode (0 where the platform has none).
    dev: u64,
    ino: u64,
    modified: Option<SystemTime>,
    len: u64,
    /// xxh3 of the content.
    content: u64,
}

impl FileStamp {
    /// Stamps `path`, following symbolic links. `None` when it cannot be read (missing, a
    /// directory, no permission): a file that appears or disappears is a change too.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let resolved = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&resolved).ok()?;
        if !meta.is_file() {
            return None;
        }
        let content = std::fs::read(&resolved).ok()?;
        let (dev, ino) = dev_ino(&meta);
        Some(FileStamp {
            resolved,
            dev,
            ino,
            modified: meta.modified().ok(),
            len: meta.len(),
            content: xxhash_rust::xxh3::xxh3_64(&content),
        })
    }
}

#[cfg(unix)]
fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dev_ino(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// The stamps of `paths`, in order; compare two results to know whether any file changed.
pub fn stamp_all<I, P>(paths: I) -> Vec<(PathBuf, Option<FileStamp>)>
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    paths
        .into_iter()
        .map(|p| {
            let p = p.as_ref();
            (p.to_path_buf(), FileStamp::of(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tempdir(name: &str) -> crate::testdir::TempDir {
        crate::testdir::TempDir::new(&format!("file-stamp-{name}"))
    }

    /// Writes one ConfigMap generation: `..<version>/redline.yaml`, and points `..data` at
    /// it by renaming a fresh link over the old one, as the kubelet's atomic writer does.
    #[cfg(unix)]
    fn configmap_generation(dir: &Path, version: &str, content: &str) {
        let gen = dir.join(format!("..{version}"));
        fs::create_dir_all(&gen).expect("generation dir");
        fs::write(gen.join("redline.yaml"), content).expect("write");
        let tmp = dir.join("..data_tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
        fs::rename(&tmp, dir.join("..data")).expect("rename over ..data");
        let key = dir.join("redline.yaml");
        if fs::symlink_metadata(&key).is_err() {
            std::os::unix::fs::symlink("..data/redline.yaml", &key).expect("key link");
        }
    }

    #[cfg(unix)]
    #[test]
    fn configmap_data_link_swap_is_a_change() {
        let dir = tempdir("swap");
        // Same size, and the new file's modification time is set to the old one's, as a
        // coarse clock would make it.
        configmap_generation(&dir, "2026_11_22_13_00_00.123", "a: 1\n");
        let path = dir.join("redline.yaml");
        let before = FileStamp::of(&path).expect("stamp");
        let old_mtime = fs::metadata(&path).unwrap().modified().unwrap();
        configmap_generation(&dir, "2026_11_22_13_05_00.456", "a: 2\n");
        let f = fs::File::options()
            .write(true)
            .open(dir.join("..2026_11_22_13_05_00.456/redline.yaml"))
            .unwrap();
        f.set_modified(old_mtime).unwrap();
        let after = FileStamp::of(&path).expect("stamp after the swap");
        assert_ne!(before, after, "the ..data swap must be noticed");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "a: 2\n",
            "the link path reads the new generation"
        );
        assert_eq!(
            FileStamp::of(&path),
            Some(after),
            "stable when nothing changes"
        );
    }

    #[test]
    fn same_size_edit_in_place_is_a_change() {
        let dir = tempdir("inplace");
        let path = dir.join("rules.yml");
        fs::write(&path, "expr: up == 0\n").unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let before = FileStamp::of(&path).expect("stamp");
        fs::write(&path, "expr: up == 1\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 14);
        assert_ne!(Some(before), FileStamp::of(&path));
    }

    #[test]
    fn missing_file_has_no_stamp_and_appearing_is_a_change() {
        let dir = tempdir("appear");
        let path = dir.join("later.yml");
        let before = stamp_all([&path]);
        assert_eq!(before, vec![(path.clone(), None)]);
        fs::write(&path, "x").unwrap();
        assert_ne!(before, stamp_all([&path]));
    }
}
