//! `file_sd_configs`: targets listed in JSON or YAML files, re-read when they change.
//!
//! Each file holds a list of `{"targets": [...], "labels": {...}}` groups; its format follows
//! the extension (`.json`, `.yml`, `.yaml`). The last path component may be a glob
//! (`targets/*.json`). Every group gets `__meta_filepath` and the source `<path>:<index>`.
//! As in Prometheus, a file that cannot be read or parsed is reported and the targets it gave
//! before are kept; a file that disappears takes its targets with it.
//!
//! [`load_file_sd`] reads once. [`run_file_sd`] re-reads when a file changes (its
//! [`FileStamp`]: resolved path, inode, modification time, size, content; checked every poll
//! interval, so a ConfigMap's `..data` link swap is seen) and in any case every
//! `refresh_interval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use super::{BoxFuture, Discoverer};
use crate::config::discovery::{glob_match, FileSdConfig, TargetGroup, ADDRESS_LABEL};
use crate::config::file_stamp::FileStamp;
use crate::store::Labels;

/// The label naming the file a group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// A file_sd file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct FileSdError {
    pub path: PathBuf,
    pub message: String,
}

/// Why a list of target groups (a file_sd file, an http_sd answer) was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    #[error("group {0}: nil target group item found")]
    Nil(usize),
    #[error("group {0}: {1:?} is not a valid label name")]
    LabelName(usize, String),
}

/// Why one file_sd file could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("unsupported file extension {0:?}")]
    Extension(String),
    #[error(transparent)]
    Groups(#[from] GroupsError),
}

/// One group as written in a file or served by an http_sd endpoint.
#[derive(Debug, Deserialize)]
pub(super) struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The YAML form is strict about field names, as Prometheus' `yaml.UnmarshalStrict` is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictRawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Reads every file once. Files that fail are reported and contribute nothing.
pub fn load_file_sd(cfg: &FileSdConfig) -> (Vec<TargetGroup>, Vec<FileSdError>) {
    let mut state = FileSdState::default();
    let errors = state.refresh(cfg);
    (state.groups(), errors)
}

/// Runs file discovery for one config, publishing the groups on `tx` until it has no receiver.
pub async fn run_file_sd(cfg: FileSdConfig, poll: Duration, tx: watch::Sender<Vec<TargetGroup>>) {
    let mut state = FileSdState::default();
    let refresh_every = cfg.refresh_interval.max(Duration::from_millis(1));
    let poll = poll.max(Duration::from_millis(1));
    let mut last_full = tokio::time::Instant::now();
    let mut first = true;
    loop {
        let due = last_full.elapsed() >= refresh_every;
        if first || due || state.files_changed(&cfg) {
            for e in state.refresh(&cfg) {
                tracing::error!(path = %e.path.display(), error = %e.message, "file_sd: cannot read file; keeping its previous targets");
            }
            last_full = tokio::time::Instant::now();
            let groups = state.groups();
            if first || *tx.borrow() != groups {
                tx.send_replace(groups);
            }
            first = false;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// [`run_file_sd`] as a [`Discoverer`].
pub struct FileDiscoverer {
    cfg: FileSdConfig,
    poll: Duration,
}

impl FileDiscoverer {
    pub fn new(cfg: FileSdConfig, poll: Duration) -> FileDiscoverer {
        FileDiscoverer { cfg, poll }
    }
}

impl Discoverer for FileDiscoverer {
    fn name(&self) -> &'static str {
        "file"
    }

    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture {
        Box::pin(run_file_sd(self.cfg, self.poll, updates))
    }
}

/// What one file gave last time, and how it looked on disk then.
#[derive(Default)]
struct FileState {
    stamp: Option<FileStamp>,
    groups: Vec<TargetGroup>,
}

#[derive(Default)]
struct FileSdState {
    files: BTreeMap<PathBuf, FileState>,
}

impl FileSdState {
    /// Re-reads all files. Failed files keep their previous groups.
    fn refresh(&mut self, cfg: &FileSdConfig) -> Vec<FileSdError> {
        let mut errors = Vec::new();
        let mut next = BTreeMap::new();
        for path in list_files(cfg, &mut errors) {
            let stamp = stamp(&path);
            match read_file(&path) {
                Ok(groups) => {
                    next.insert(path, FileState { stamp, groups });
                }
                Err(e) => {
                    let prev = self.files.remove(&path).unwrap_or_default();
                    errors.push(FileSdError {
                        path: path.clone(),
                        message: e.to_string(),
                    });
                    // Keep the old groups; the file is read again once it changes.
                    next.insert(path, FileState { stamp, ..prev });
                }
            }
        }
        self.files = next;
        errors
    }

    /// Whether the set of files or any file's stamp differs.
    fn files_changed(&self, cfg: &FileSdConfig) -> bool {
        let listed = list_files(cfg, &mut Vec::new());
        listed.len() != self.files.len()
            || listed
                .iter()
                .any(|p| self.files.get(p).is_none_or(|f| f.stamp != stamp(p)))
    }

    fn groups(&self) -> Vec<TargetGroup> {
        self.files
            .values()
            .flat_map(|f| f.groups.iter().cloned())
            .collect()
    }
}

/// How the file looks on disk; a ConfigMap's `..data` link swap counts as a change.
fn stamp(path: &Path) -> Option<FileStamp> {
    FileStamp::of(path)
}

/// The files matching the configured patterns, sorted and without duplicates.
fn list_files(cfg: &FileSdConfig, errors: &mut Vec<FileSdError>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pattern in &cfg.files {
        let name = pattern
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains(['*', '?', '[']) {
            if pattern.is_file() {
                out.push(pattern.clone());
            }
            continue;
        }
        let dir = match pattern.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(FileSdError {
                    path: pattern.clone(),
                    message: format!("cannot list directory: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if glob_match(&name, &file_name) && entry.path().is_file() {
                out.push(pattern.with_file_name(&file_name));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Reads one file into groups.
fn read_file(path: &Path) -> Result<Vec<TargetGroup>, ReadError> {
    let text = std::fs::read_to_string(path)?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let raw: Vec<Option<RawGroup>> = match ext.as_str() {
        "json" => serde_json::from_str(&text)?,
        "yml" | "yaml" => {
            let strict: Option<Vec<Option<StrictRawGroup>>> = serde_yaml_ng::from_str(&text)?;
            strict
                .unwrap_or_default()
                .into_iter()
                .map(|g| {
                    g.map(|g| RawGroup {
                        targets: g.targets,
                        labels: g.labels,
                    })
                })
                .collect()
        }
        other => return Err(ReadError::Extension(other.to_string())),
    };
    let file_label = path.to_string_lossy().into_owned();
    Ok(build_groups(raw, &file_label, FILEPATH_LABEL)?)
}

/// Groups as Prometheus' `targetgroup.Group` decodes them, each with the source
/// `<origin>:<index>` and the label `meta_label` = `origin` (`__meta_filepath`, `__meta_url`).
/// A `null` group or an empty label name fails the whole list.
pub(super) fn build_groups(
    raw: Vec<Option<RawGroup>>,
    origin: &str,
    meta_label: &str,
) -> Result<Vec<TargetGroup>, GroupsError> {
    let mut groups = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        let g = g.ok_or(GroupsError::Nil(i))?;
        let labels = g.labels.unwrap_or_default();
        if let Some(name) = labels.keys().find(|k| k.is_empty()) {
            return Err(GroupsError::LabelName(i, name.clone()));
        }
        let mut labels: Vec<(String, String)> = labels.into_iter().collect();
        labels.push((meta_label.to_string(), origin.to_string()));
        groups.push(TargetGroup {
            source: format!("{origin}:{i}"),
            targets: g
                .targets
                .into_iter()
                .map(|t| Labels::from_pairs([(ADDRESS_LABEL, t)]))
                .collect(),
            labels: Labels::from_pairs(labels),
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests;
