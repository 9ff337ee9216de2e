//! What service discovery is configured with and what it yields: the validated
//! `file_sd_configs` entry, the [`TargetGroup`] every provider publishes (static configs are
//! target groups from the start), and Go's `filepath.Match` ([`glob_match`]) that file_sd
//! and `rule_files` patterns use. The providers that run them are in
//! `crate::scrape::discovery`; the `kubernetes_sd_configs` entry is [`super::kubernetes_sd`].

use std::path::PathBuf;
use std::time::Duration;

use crate::store::Labels;

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, as Prometheus' `targetgroup.Group`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Identifies the group within its provider (`0` for the first static config,
    /// `path/to/file.json:0` for file_sd), stable across updates.
    pub source: String,
    /// One label set per target, each with at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to all targets (a target's own labels win), including `__meta_*`.
    pub labels: Labels,
}

/// A validated `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSdConfig {
    /// Paths, resolved against the config file's directory; the last component may be a glob.
    pub files: Vec<PathBuf>,
    /// Default 5m.
    pub refresh_interval: Duration,
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| match_from(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class_match(&p[1..], *c) {
                Some((true, rest)) => match_from(rest, &n[1..]),
                _ => false,
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && match_from(&p[1..], &n[1..]),
    }
}

/// Matches `c` against a class body after `[`; returns (matched, rest after `]`).
fn class_match(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, &p[i + 1..]));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}
