//! From discovered targets to scrape targets: Prometheus' `PopulateLabels`.
//!
//! A discovered target's labels are its own labels, then its group's, then the job defaults
//! (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`,
//! `__param_<name>` from the first value of each param) where not already set. These are the
//! *discovered labels* the targets API shows. `relabel_configs` run over them; a target they
//! drop (`Ok(None)` from [`populate_target`]) or one left without a valid `__address__`
//! ([`InvalidTarget`]) is listed among the dropped targets with its discovered labels.
//! Otherwise `__meta_*` labels go, `instance` defaults to `__address__`, and the target's
//! series labels are the ones not starting with `__`. [`PopulatedTarget`] also carries what
//! the relabeled `__` labels say about how to scrape: the URL, interval and timeout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::discovery::ADDRESS_LABEL;
use crate::config::ScrapeConfig;
use crate::relabel;
use crate::store::{Label, Labels};
use crate::timefmt::{format_duration, parse_duration};

pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const RESERVED_LABEL_PREFIX: &str = "__";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";

/// A target to scrape, with everything its scrape loop needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopulatedTarget {
    /// The labels every series from this target gets (no `__`-prefixed labels).
    pub labels: Labels,
    /// The labels after relabeling, `__` labels included (Prometheus' target label set).
    pub internal_labels: Labels,
    /// The labels before relabeling, for the targets API.
    pub discovered_labels: Labels,
    /// The URL to scrape, built as Prometheus' `Target.URL` (query keys sorted).
    pub url: String,
    pub scheme: String,
    /// `host:port` (no default port is added, as in Prometheus 3).
    pub address: String,
    pub metrics_path: String,
    /// The job's params with `__param_*` labels applied.
    pub params: BTreeMap<String, Vec<String>>,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A target whose labels after relabeling do not make a valid target (no address, bad
/// interval, ...). Prometheus lists it among the dropped targets and logs the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (target {discovered_labels})")]
pub struct InvalidTarget {
    pub discovered_labels: Labels,
    pub reason: String,
}

/// The discovered labels of a target: its own, its group's, then the job defaults.
pub fn discovered_labels(cfg: &ScrapeConfig, group_labels: &Labels, target: &Labels) -> Labels {
    let mut v: Vec<Label> = Vec::with_capacity(target.len() + group_labels.len() + 5);
    v.extend(group_labels.iter().cloned());
    v.extend(target.iter().cloned()); // later entries win
    let mut set = Labels::from_vec(v);
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.as_str().to_string()),
    ];
    let mut extra: Vec<Label> = Vec::new();
    for (name, value) in defaults {
        if set.get(name).is_none() {
            extra.push(Label::new(name, value));
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_LABEL_PREFIX}{name}");
        if let Some(first) = values.first() {
            if set.get(&label).is_none() {
                extra.push(Label::new(label, first.as_str()));
            }
        }
    }
    if !extra.is_empty() {
        let mut all = set.into_vec();
        all.extend(extra);
        set = Labels::from_vec(all);
    }
    set
}

/// Prometheus' `PopulateLabels` for one target of a group: `Ok(None)` when relabeling
/// dropped it, `Err` when what is left is not a valid target.
pub fn populate_target(
    cfg: &ScrapeConfig,
    group_labels: &Labels,
    target: &Labels,
) -> Result<Option<PopulatedTarget>, InvalidTarget> {
    let discovered = discovered_labels(cfg, group_labels, target);
    let Some(relabeled) = relabel::process(&discovered, &cfg.relabel_configs) else {
        return Ok(None);
    };
    let invalid = |reason: String| InvalidTarget {
        discovered_labels: discovered.clone(),
        reason,
    };
    let Some(address) = relabeled.get(ADDRESS_LABEL).map(str::to_string) else {
        return Err(invalid("no address".to_string()));
    };
    if address.contains('/') {
        return Err(invalid(format!("{address:?} is not a valid hostname")));
    }
    let interval_text = relabeled.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval = match parse_duration(interval_text) {
        Ok(d) if d.is_zero() => return Err(invalid("scrape interval cannot be 0".into())),
        Ok(d) => d,
        Err(e) => return Err(invalid(format!("error parsing scrape interval: {e}"))),
    };
    let timeout_text = relabeled.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout = match parse_duration(timeout_text) {
        Ok(d) if d.is_zero() => return Err(invalid("scrape timeout cannot be 0".into())),
        Ok(d) => d,
        Err(e) => return Err(invalid(format!("error parsing scrape timeout: {e}"))),
    };
    if timeout > interval {
        return Err(invalid(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        )));
    }

    let mut internal: Vec<Label> = relabeled
        .into_vec()
        .into_iter()
        .filter(|l| !l.name.starts_with(META_LABEL_PREFIX))
        .collect();
    if !internal.iter().any(|l| &*l.name == INSTANCE_LABEL) {
        internal.push(Label::new(INSTANCE_LABEL, address.as_str()));
    }
    let internal = Labels::from_vec(internal);

    let mut params = cfg.params.clone();
    for l in internal.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            match params.get_mut(name) {
                Some(values) if !values.is_empty() => values[0] = l.value.to_string(),
                _ => {
                    params.insert(name.to_string(), vec![l.value.to_string()]);
                }
            }
        }
    }
    let labels = Labels::from_sorted_unchecked(
        internal
            .iter()
            .filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
            .cloned()
            .collect(),
    );
    let scheme = internal.get(SCHEME_LABEL).unwrap_or("").to_string();
    let metrics_path = internal.get(METRICS_PATH_LABEL).unwrap_or("").to_string();
    Ok(Some(PopulatedTarget {
        url: build_url(&scheme, &address, &metrics_path, &params),
        labels,
        internal_labels: internal,
        discovered_labels: discovered,
        scheme,
        address,
        metrics_path,
        params,
        interval,
        timeout,
    }))
}

/// `scheme://address/path?k=v&...` with Go's escaping; keys sorted, repeated values kept.
pub fn build_url(
    scheme: &str,
    address: &str,
    metrics_path: &str,
    params: &BTreeMap<String, Vec<String>>,
) -> String {
    let mut url = format!("{scheme}://{address}");
    escape_path(metrics_path, &mut url);
    let mut first = true;
    for (k, values) in params {
        for v in values {
            url.push(if first { '?' } else { '&' });
            first = false;
            query_escape(k, &mut url);
            url.push('=');
            query_escape(v, &mut url);
        }
    }
    url
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// Go's path escaping for `url.URL.Path`.
fn escape_path(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
