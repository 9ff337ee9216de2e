//! Settings redline accepts from a `prometheus.yml` but does not act on, each with the reason.
//!
//! Two kinds. Sections that only tune Prometheus' own process (`storage.tsdb`,
//! `storage.exemplars`, `tracing`, `runtime`, `otlp`) are read with their upstream fields
//! (a typo is still an error at its path) and ignored: redline's store, its tracing and its
//! runtime are its own. Of the scrape settings only `scrape_failure_log_file` is not acted
//! on; the native-histogram settings, `convert_classic_histograms_to_nhcb` included, are (see
//! [`super::HistogramConfig`]).
//!
//! Each such setting that asks for something becomes one [`IgnoredSetting`] in
//! [`super::Config::ignored`]; [`log_ignored`] logs one line for each (at start-up and on every
//! reload) and `redline check config` prints them.

use std::fmt;

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::raw::RawConfig;
use super::units::PromDuration;
use super::validate::Ctx;

/// A setting redline read and does not act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredSetting {
    /// The config file the setting is in.
    pub source: String,
    /// Its field path (`global.scrape_native_histograms`).
    pub field: String,
    /// Why it does not apply to redline.
    pub reason: &'static str,
}

impl fmt::Display for IgnoredSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: accepted and ignored: {}",
            self.source, self.field, self.reason
        )
    }
}

/// Logs one line per ignored setting.
pub fn log_ignored(ignored: &[IgnoredSetting]) {
    for s in ignored {
        tracing::info!(file = %s.source, field = %s.field, reason = s.reason, "config setting accepted and ignored");
    }
}

pub(crate) const TSDB: &str =
    "it tunes Prometheus' TSDB; redline keeps samples in its own store (see `storage.retention`)";
pub(crate) const EXEMPLARS: &str = "redline does not store exemplars";
pub(crate) const TRACING: &str =
    "it configures Prometheus' OpenTelemetry tracing; redline does not export traces";
pub(crate) const RUNTIME: &str = "it tunes the Go runtime; redline is not a Go program";
pub(crate) const OTLP: &str =
    "it configures Prometheus' OTLP receiver; redline does not receive OTLP metrics";

/// Prometheus' `storage.tsdb`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTsdb {
    pub out_of_order_time_window: Option<PromDuration>,
    pub retention: Option<RawTsdbRetention>,
}

/// Prometheus' `storage.tsdb.retention`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTsdbRetention {
    pub time: Option<PromDuration>,
    pub size: Option<super::units::ByteSize>,
}

/// Prometheus' `storage.exemplars`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExemplars {
    pub max_exemplars: Option<i64>,
}

/// Prometheus' `tracing`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    pub client_type: Option<String>,
    pub endpoint: Option<String>,
    pub sampling_fraction: Option<f64>,
    pub insecure: Option<bool>,
    pub tls_config: Option<super::raw::RawTlsConfig>,
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    pub compression: Option<String>,
    pub timeout: Option<PromDuration>,
}

/// Prometheus' `runtime`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    pub gogc: Option<i64>,
}

/// Prometheus' `otlp`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOtlp {
    pub promote_all_resource_attributes: Option<bool>,
    pub promote_resource_attributes: Option<Vec<String>>,
    pub ignore_resource_attributes: Option<Vec<String>>,
    pub translation_strategy: Option<String>,
    pub keep_identifying_resource_attributes: Option<bool>,
    pub convert_histograms_to_nhcb: Option<bool>,
    pub promote_scope_metadata: Option<bool>,
    pub label_name_underscore_sanitization: Option<bool>,
    pub label_name_preserve_multiple_underscores: Option<bool>,
}

/// The scrape settings of a scrape config or of `global` that redline reads and does not
/// act on: `scrape_failure_log_file`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IgnoredScrapeFields<'a> {
    pub scrape_failure_log_file: Option<&'a str>,
}

impl IgnoredScrapeFields<'_> {
    /// The settings among these that ask for something, with why redline does not.
    pub(crate) fn settings(&self, ctx: &Ctx<'_>, path: &FieldPath) -> Vec<IgnoredSetting> {
        let mut out: Vec<(FieldPath, &'static str)> = Vec::new();
        if self.scrape_failure_log_file.is_some_and(|f| !f.is_empty()) {
            out.push((path.key("scrape_failure_log_file"), FAILURE_LOG));
        }
        out.into_iter()
            .map(|(p, reason)| ctx.ignored(&p, reason))
            .collect()
    }
}

pub(crate) const FAILURE_LOG: &str = "redline does not write scrape failures to a file; each failure is logged and shown on the targets page with its error";

/// The Prometheus-only sections of `raw` that are present, validated with Prometheus' rules
/// for them, as settings redline does not act on.
pub(crate) fn sections(
    ctx: &Ctx<'_>,
    root: &FieldPath,
    raw: &RawConfig,
) -> Result<Vec<IgnoredSetting>, ConfigError> {
    let mut out = Vec::new();
    if let Some(storage) = &raw.storage {
        if storage.tsdb.is_some() {
            out.push(ctx.ignored(&root.key("storage").key("tsdb"), TSDB));
        }
        if storage.exemplars.is_some() {
            out.push(ctx.ignored(&root.key("storage").key("exemplars"), EXEMPLARS));
        }
    }
    if let Some(t) = &raw.tracing {
        let path = root.key("tracing");
        tracing_section(ctx, &path, t)?;
        out.push(ctx.ignored(&path, TRACING));
    }
    if let Some(r) = &raw.runtime {
        if r.gogc.is_some_and(|g| g != 0) {
            out.push(ctx.ignored(&root.key("runtime").key("gogc"), RUNTIME));
        }
    }
    if let Some(o) = &raw.otlp {
        let path = root.key("otlp");
        let legacy = raw
            .global
            .as_ref()
            .and_then(|g| g.metric_name_validation_scheme.as_deref())
            == Some("legacy");
        otlp_section(ctx, &path, o, legacy)?;
        out.push(ctx.ignored(&path, OTLP));
    }
    Ok(out)
}

/// Prometheus' `TracingConfig` checks.
fn tracing_section(ctx: &Ctx<'_>, path: &FieldPath, t: &RawTracing) -> Result<(), ConfigError> {
    match t.client_type.as_deref() {
        None | Some("http") | Some("grpc") => {}
        Some(other) => {
            return Err(ctx.err(
                &path.key("client_type"),
                format!("expected tracing client type to be to be http or grpc, but got {other}"),
            ))
        }
    }
    if t.endpoint.as_deref().unwrap_or("").is_empty() {
        return Err(ctx.err(path, "tracing endpoint must be set"));
    }
    match t.compression.as_deref() {
        None | Some("") | Some("gzip") => Ok(()),
        Some(other) => Err(ctx.err(
            &path.key("compression"),
            format!("invalid compression type {other} provided, valid options: gzip"),
        )),
    }
}

/// Prometheus' `OTLPConfig` checks.
fn otlp_section(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    o: &RawOtlp,
    legacy_names: bool,
) -> Result<(), ConfigError> {
    let strategy_path = path.key("translation_strategy");
    match o.translation_strategy.as_deref() {
        None
        | Some("")
        | Some("UnderscoreEscapingWithSuffixes")
        | Some("UnderscoreEscapingWithoutSuffixes") => {}
        Some(s @ ("NoTranslation" | "NoUTF8EscapingWithSuffixes")) => {
            if legacy_names {
                return Err(ctx.err(
                    &strategy_path,
                    format!("OTLP translation strategy {s:?} is not allowed when UTF8 is disabled"),
                ));
            }
        }
        Some(other) => {
            return Err(ctx.err(
                &strategy_path,
                format!("unsupported OTLP translation strategy {other:?}"),
            ))
        }
    }
    let promote = o.promote_resource_attributes.as_deref().unwrap_or_default();
    let ignore = o.ignore_resource_attributes.as_deref().unwrap_or_default();
    if o.promote_all_resource_attributes == Some(true) {
        if !promote.is_empty() {
            return Err(ctx.err(
                &path.key("promote_resource_attributes"),
                "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
            ));
        }
        attributes(
            ctx,
            &path.key("ignore_resource_attributes"),
            ignore,
            "ignored",
        )
    } else {
        if !ignore.is_empty() {
            return Err(ctx.err(
                &path.key("ignore_resource_attributes"),
                "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
            ));
        }
        attributes(
            ctx,
            &path.key("promote_resource_attributes"),
            promote,
            "promoted",
        )
    }
}

/// No empty and no repeated attribute names (after trimming), as Prometheus checks them.
fn attributes(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    names: &[String],
    adjective: &str,
) -> Result<(), ConfigError> {
    let field = path.to_string();
    let field = field.rsplit('.').next().unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(ctx.err(
                &path.index(i),
                format!("invalid '{field}': empty {adjective} OTel resource attribute"),
            ));
        }
        if !seen.insert(name) {
            return Err(ctx.err(
                &path.index(i),
                format!(
                    "invalid '{field}': duplicated {adjective} OTel resource attribute {name:?}"
                ),
            ));
        }
    }
    Ok(())
}
