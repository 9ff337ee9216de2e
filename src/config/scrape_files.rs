//! `scrape_config_files`: further scrape jobs kept in their own files, as Prometheus 3 reads
//! them.
//!
//! Each entry is a path relative to the config file's directory whose last component may be
//! a glob (`jobs/*.yml`); every matching file, in name order, holds a `scrape_configs:` list
//! and nothing else. Its jobs are validated with the main file's `global` section, relative
//! paths inside them resolve against their own file's directory, and a job name must be
//! unique across the main file and every such file. Errors name the file the job is in.
//! The files are read with the config, so a reload reads them again, and
//! [`super::Config::scrape_config_files`] lists them for the reload's change watch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::ignored::IgnoredSetting;
use super::raw::RawScrapeConfig;
use super::validate::{glob_only_in_last_component, parse, scrape_config, scrape_ignored, Ctx};
use super::{GlobalConfig, ScrapeConfig};

/// One file named by `scrape_config_files`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrapeConfigsFile {
    scrape_configs: Option<Vec<Option<RawScrapeConfig>>>,
}

/// Reads the files `patterns` match and appends their jobs to `jobs` (the main file's).
/// Returns the files read.
pub(crate) fn load(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    patterns: Vec<String>,
    global: &GlobalConfig,
    jobs: &mut Vec<ScrapeConfig>,
    ignored: &mut Vec<IgnoredSetting>,
) -> Result<Vec<PathBuf>, ConfigError> {
    let mut resolved = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        if !glob_only_in_last_component(p) {
            return Err(ctx.err(
                &path.index(i),
                format!("invalid scrape config file path {p:?}"),
            ));
        }
        resolved.push(ctx.resolve(p));
    }
    let mut origin: BTreeMap<String, String> = jobs
        .iter()
        .map(|j| (j.job_name.clone(), "main config file".to_string()))
        .collect();
    let mut files = Vec::new();
    for pattern in &resolved {
        for file in expand(pattern) {
            load_file(&file, global, jobs, &mut origin, ignored)?;
            files.push(file);
        }
    }
    Ok(files)
}

fn load_file(
    file: &Path,
    global: &GlobalConfig,
    jobs: &mut Vec<ScrapeConfig>,
    origin: &mut BTreeMap<String, String>,
    ignored: &mut Vec<IgnoredSetting>,
) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let name = file.display().to_string();
    let raw: RawScrapeConfigsFile = parse(&text, &name)?;
    let ctx = Ctx {
        text: Some(&text),
        source: &name,
        base_dir: file.parent().filter(|d| !d.as_os_str().is_empty()),
    };
    let here = format!("{:?}", absolute(file).display().to_string());
    let list = FieldPath::root().key("scrape_configs");
    for entry in ctx.entries(
        &list,
        raw.scrape_configs,
        super::validate::NULL_SCRAPE_CONFIG,
    ) {
        let (path, sc) = entry?;
        let notes = scrape_ignored(&ctx, &path, &sc);
        let job = scrape_config(&ctx, &path, sc, global)?;
        if let Some(first) = origin.get(&job.job_name) {
            return Err(ctx.err(
                &path.key("job_name"),
                format!(
                    "found multiple scrape configs with job name {:?}, first found in {first}",
                    job.job_name
                ),
            ));
        }
        origin.insert(job.job_name.clone(), here.clone());
        ignored.extend(notes);
        jobs.push(job);
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The files a pattern names: itself if it exists, or, when its last component is a glob,
/// the matching entries of its directory in name order (Go's `filepath.Glob`).
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[', '\\']) {
        return if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| super::discovery::glob_match(&name, &e.file_name().to_string_lossy()))
        .map(|e| pattern.with_file_name(e.file_name()))
        .collect();
    found.sort();
    found
}
