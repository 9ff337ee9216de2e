//! `alerting:` as Prometheus 3 reads it: the Alertmanagers rule alerts are sent to
//! (`alertmanagers`) and the relabeling applied to every alert first
//! (`alert_relabel_configs`).
//!
//! ```yaml
//! alerting:
//!   alert_relabel_configs:              # every alert, after the external labels are added
//!     - {action: labeldrop, regex: replica}
//!   alertmanagers:
//!     - static_configs: [{targets: ['alertmanager:9093']}]
//!       scheme: http                    # default http
//!       path_prefix: /am                # default none
//!       api_version: v2                 # v2 only, as in Prometheus 3
//!       timeout: 10s                    # default 10s
//!       relabel_configs: []             # over the discovered Alertmanagers (__alerts_path__)
//!       alert_relabel_configs: []       # alerts sent to this set only
//!       basic_auth: {username: u, password_file: /etc/secret}   # prometheus/common client fields
//! ```
//!
//! Each `alertmanagers` entry finds its Alertmanagers with `static_configs`,
//! `file_sd_configs`, `kubernetes_sd_configs`, `http_sd_configs` or `dns_sd_configs`
//! (validated as in a scrape job, by the same function) and talks to
//! them with the HTTP client settings of [`super::http_client`]. Differences from
//! Prometheus, deliberate: a `scheme` other than `http` or `https` is an error here
//! (Prometheus accepts it and then fails every send), and the other service discoveries and
//! `sigv4` are rejected with their field path. The runtime that sends is
//! `crate::notifier`.

use std::time::Duration;

use serde::Deserialize;

use super::discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig, TargetGroup};
use super::error::{ConfigError, FieldPath};
use super::http_client::{self, HttpClientSettings};
use super::kubernetes_sd::KubernetesSdConfig;
use super::raw::Unsupported;
use super::units::PromDuration;
use super::validate::Ctx;
use super::Scheme;
use crate::relabel::{NameValidation, RawRelabelConfig, RelabelConfig};

/// Prometheus' default `timeout` of an `alertmanagers` entry.
pub const DEFAULT_ALERTMANAGER_TIMEOUT: Duration = Duration::from_secs(10);

/// The one Alertmanager API version Prometheus 3 speaks.
pub const API_VERSION_V2: &str = "v2";

/// `alerting:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    pub alert_relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub alertmanagers: Option<Vec<Option<RawAlertmanager>>>,
}

super::raw::with_discovery_fields! {
/// One `alerting.alertmanagers` entry as written (Prometheus' `AlertmanagerConfig`).
pub struct RawAlertmanager {
    pub scheme: Option<String>,
    pub path_prefix: Option<String>,
    pub timeout: Option<PromDuration>,
    pub api_version: Option<String>,
    pub relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub alert_relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub sigv4: Option<Unsupported>,
}
}

/// The validated `alerting:` section (empty when absent).
#[derive(Clone, Debug, Default)]
pub struct AlertingConfig {
    /// Applied to every alert after the external labels are added.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanager sets, in file order (Prometheus names them `config-0`, `config-1`, ...).
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One validated `alertmanagers` entry: how its Alertmanagers are found and talked to.
#[derive(Clone, Debug)]
pub struct AlertmanagerConfig {
    /// `static_configs`, as groups with sources `0`, `1`, ...
    pub static_configs: Vec<TargetGroup>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Authentication and TLS.
    pub http: HttpClientSettings,
    /// The initial `__scheme__` of every discovered Alertmanager. Default `http`.
    pub scheme: Scheme,
    /// Put before `/api/v2/alerts` (the initial `__alerts_path__`). Default empty.
    pub path_prefix: String,
    /// Per request. Default 10s.
    pub timeout: Duration,
    /// Applied to the discovered Alertmanagers' labels.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to the alerts sent to this set only, after the global ones.
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

impl AlertmanagerConfig {
    /// The initial `__alerts_path__`: Go's `path.Join("/", path_prefix, "/api/v2/alerts")`.
    pub fn alerts_path(&self) -> String {
        let joined = format!("/{}/api/{API_VERSION_V2}/alerts", self.path_prefix);
        clean_path(&joined)
    }
}

/// Go's `path.Clean` for an absolute path: repeated slashes, `.` and `..` elements resolved.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Validates `alerting:` (`path` is its path in the file).
pub(crate) fn alerting(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: Option<RawAlerting>,
    names: NameValidation,
) -> Result<AlertingConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(AlertingConfig::default());
    };
    let alert_relabel_configs = relabels(
        ctx,
        &path.key("alert_relabel_configs"),
        raw.alert_relabel_configs,
        names,
        "empty or null alert relabeling rule",
    )?;
    let mut alertmanagers = Vec::new();
    let list = path.key("alertmanagers");
    for entry in ctx.entries(
        &list,
        raw.alertmanagers,
        "empty or null alertmanager config",
    ) {
        let (p, am) = entry?;
        alertmanagers.push(alertmanager(ctx, &p, am, names)?);
    }
    Ok(AlertingConfig {
        alert_relabel_configs,
        alertmanagers,
    })
}

fn alertmanager(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    mut am: RawAlertmanager,
    names: NameValidation,
) -> Result<AlertmanagerConfig, ConfigError> {
    let raw_discovery = am.discovery();
    match am.api_version.as_deref() {
        None | Some(API_VERSION_V2) => {}
        Some(other) => {
            return Err(ctx.err(
                &path.key("api_version"),
                format!(
                "expected Alertmanager api version to be one of [{API_VERSION_V2}] but got {other}"
            ),
            ))
        }
    }
    let scheme = super::validate::scheme(ctx, path, am.scheme.as_deref())?;
    let http = http_client::validate(ctx, path, am.http_fields())?;
    let relabel_configs = relabels(
        ctx,
        &path.key("relabel_configs"),
        am.relabel_configs,
        names,
        "empty or null Alertmanager target relabeling rule",
    )?;
    let alert_relabel_configs = relabels(
        ctx,
        &path.key("alert_relabel_configs"),
        am.alert_relabel_configs,
        names,
        "empty or null Alertmanager alert relabeling rule",
    )?;
    // As Prometheus: a URL among static targets is a mistake unless relabeling moves it.
    let check_addresses = relabel_configs.is_empty();
    let discovery = super::validate::discovery(ctx, path, raw_discovery, names, check_addresses)?;
    Ok(AlertmanagerConfig {
        static_configs: discovery.static_configs,
        file_sd_configs: discovery.file_sd_configs,
        kubernetes_sd_configs: discovery.kubernetes_sd_configs,
        http_sd_configs: discovery.http_sd_configs,
        dns_sd_configs: discovery.dns_sd_configs,
        http,
        scheme,
        path_prefix: am.path_prefix.unwrap_or_default(),
        timeout: am
            .timeout
            .map(|d| d.0)
            .unwrap_or(DEFAULT_ALERTMANAGER_TIMEOUT),
        relabel_configs,
        alert_relabel_configs,
    })
}

fn relabels(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: Option<Vec<Option<RawRelabelConfig>>>,
    names: NameValidation,
    null_message: &str,
) -> Result<Vec<RelabelConfig>, ConfigError> {
    let mut out = Vec::new();
    for entry in ctx.entries(path, raw, null_message) {
        let (p, r) = entry?;
        out.push(
            RelabelConfig::from_raw(r, names).map_err(|e| ctx.err(&p.key(e.field), e.message))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
