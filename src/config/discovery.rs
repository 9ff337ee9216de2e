//! What service discovery is configured with and what it yields: the validated
//! `file_sd_configs`, `http_sd_configs` and `dns_sd_configs` entries (with Prometheus' rules
//! and messages, `validate_http_sd`, `validate_dns_sd`), the [`TargetGroup`] every provider
//! publishes (static configs are target groups from the start), and Go's `filepath.Match`
//! ([`glob_match`]) that file_sd and `rule_files` patterns use. The entries do not depend on
//! where they appear (a scrape job, an `alertmanagers` entry). The providers that run them are
//! in `crate::scrape::discovery`; the `kubernetes_sd_configs` entry is [`super::kubernetes_sd`].

use std::path::PathBuf;
use std::time::Duration;

use super::http_client::{self, HttpClientSettings};
use super::raw::{RawDnsSdConfig, RawHttpSdConfig};
use super::validate::Ctx;
use super::{ConfigError, FieldPath};
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

/// A validated `http_sd_configs` entry (Prometheus' `discovery/http.SDConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSdConfig {
    /// An `http` or `https` URL with a host.
    pub url: String,
    /// Default 60s; also the request timeout, as in Prometheus.
    pub refresh_interval: Duration,
    pub http: HttpClientSettings,
}

/// The record type a `dns_sd_configs` entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsRecordType {
    Srv,
    A,
    Aaaa,
    Mx,
    Ns,
}

/// A validated `dns_sd_configs` entry (Prometheus' `discovery/dns.SDConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSdConfig {
    /// The names to query, each a group with that source.
    pub names: Vec<String>,
    /// Default SRV.
    pub record_type: DnsRecordType,
    /// The port of A, AAAA, MX and NS targets (SRV records carry their own).
    pub port: u16,
    /// Default 30s.
    pub refresh_interval: Duration,
}

const DEFAULT_HTTP_SD_REFRESH: Duration = Duration::from_secs(60);
const DEFAULT_DNS_SD_REFRESH: Duration = Duration::from_secs(30);

/// `http.SDConfig.UnmarshalYAML`: a URL with an http(s) scheme and a host, then the HTTP
/// client's own rules.
pub(crate) fn validate_http_sd(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawHttpSdConfig,
) -> Result<HttpSdConfig, ConfigError> {
    let url = raw.url.clone().unwrap_or_default();
    let upath = path.key("url");
    if url.is_empty() {
        return Err(ctx.err(&upath, "URL is missing"));
    }
    let parsed = reqwest::Url::parse(&url).map_err(|e| ctx.err(&upath, format!("{url:?}: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(ctx.err(&upath, "URL scheme must be 'http' or 'https'"));
    }
    // Go's url.Parse keeps `http:///x` hostless, where the WHATWG parser takes `x` as the host.
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if parsed.host_str().is_none_or(str::is_empty) || host.is_empty() || host.starts_with(':') {
        return Err(ctx.err(&upath, "host is missing in URL"));
    }
    let refresh_interval = positive_interval(ctx, path, raw.refresh_interval.map(|d| d.0))?
        .unwrap_or(DEFAULT_HTTP_SD_REFRESH);
    let http = http_client::validate(ctx, path, raw.http_fields())?;
    Ok(HttpSdConfig {
        url,
        refresh_interval,
        http,
    })
}

/// `dns.SDConfig.UnmarshalYAML`: at least one name; type SRV (default), A, AAAA, MX or NS in
/// any case; a port for every type but SRV.
pub(crate) fn validate_dns_sd(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawDnsSdConfig,
) -> Result<DnsSdConfig, ConfigError> {
    let names = raw.names.unwrap_or_default();
    if names.is_empty() {
        return Err(ctx.err(
            &path.key("names"),
            "DNS-SD config must contain at least one SRV record name",
        ));
    }
    let kind = raw.r#type.unwrap_or_else(|| "SRV".to_string());
    let record_type = match kind.to_uppercase().as_str() {
        "SRV" => DnsRecordType::Srv,
        "A" => DnsRecordType::A,
        "AAAA" => DnsRecordType::Aaaa,
        "MX" => DnsRecordType::Mx,
        "NS" => DnsRecordType::Ns,
        _ => {
            return Err(ctx.err(
                &path.key("type"),
                format!("invalid DNS-SD records type {kind}"),
            ))
        }
    };
    let port = raw.port.unwrap_or(0);
    if record_type != DnsRecordType::Srv && port == 0 {
        return Err(ctx.err(
            &path.key("port"),
            "a port is required in DNS-SD configs for all record types except SRV",
        ));
    }
    let refresh_interval = positive_interval(ctx, path, raw.refresh_interval.map(|d| d.0))?
        .unwrap_or(DEFAULT_DNS_SD_REFRESH);
    Ok(DnsSdConfig {
        names,
        record_type,
        port,
        refresh_interval,
    })
}

/// A discovery entry's `refresh_interval`, which must be positive when given (a zero
/// interval would spin).
pub(crate) fn positive_interval(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    d: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    match d {
        Some(d) if d.is_zero() => Err(ctx.err(
            &path.key("refresh_interval"),
            "refresh_interval must be greater than 0",
        )),
        d => Ok(d),
    }
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
