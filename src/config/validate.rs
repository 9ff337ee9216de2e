//! Phase two: from the raw structs to the typed [`Config`], with Prometheus' defaults and
//! rules. The first error stops validation, as in Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{locate, ConfigError, FieldPath, InvalidConfig};
use super::ignored::IgnoredSetting;
use super::kubernetes_sd::KubernetesSdConfig;
use super::raw::{
    RawConfig, RawDiscovery, RawFileSdConfig, RawGlobal, RawScrapeConfig, RawStaticConfig,
};
use super::{
    http_client, Config, EscapingScheme, GlobalConfig, Scheme, ScrapeConfig, ScrapeLimits,
    ScrapeProtocol, StorageConfig,
};
use crate::config::discovery::{
    DnsSdConfig, FileSdConfig, HttpSdConfig, TargetGroup, ADDRESS_LABEL,
};
use crate::relabel::{NameValidation, RawRelabelConfig, RelabelConfig};
use crate::store::Labels;

const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_FILE_SD_REFRESH: Duration = Duration::from_secs(300);

/// What every validation step needs: the text (to locate fields), the name for messages and
/// the directory relative paths are resolved against.
pub(crate) struct Ctx<'a> {
    /// The YAML text, when the config came as text (a decoded value has no positions).
    pub(crate) text: Option<&'a str>,
    pub(crate) source: &'a str,
    pub(crate) base_dir: Option<&'a Path>,
}

/// The `scheme` field of the entry at `path`: `http` (the default) or `https`.
pub(super) fn scheme(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    scheme: Option<&str>,
) -> Result<Scheme, ConfigError> {
    match scheme {
        None | Some("") | Some("http") => Ok(Scheme::Http),
        Some("https") => Ok(Scheme::Https),
        Some(other) => Err(ctx.err(
            &path.key("scheme"),
            format!("unsupported scheme {other:?} (expected \"http\" or \"https\")"),
        )),
    }
}

/// The error for a `scrape_configs` entry that is null.
pub(crate) const NULL_SCRAPE_CONFIG: &str = "empty or null scrape config section";

impl Ctx<'_> {
    /// The entries of the list at `path` (which YAML lets hold nulls) with their paths, in
    /// order; a null entry is the error `null_message` at its path, met when reached.
    pub(crate) fn entries<'s, T: 's>(
        &'s self,
        path: &'s FieldPath,
        list: Option<Vec<Option<T>>>,
        null_message: &'s str,
    ) -> impl Iterator<Item = Result<(FieldPath, T), ConfigError>> + 's {
        let list = list.unwrap_or_default().into_iter().enumerate();
        list.map(move |(i, entry)| {
            let p = path.index(i);
            match entry {
                Some(e) => Ok((p, e)),
                None => Err(self.err(&p, null_message)),
            }
        })
    }

    /// An error about the value at `path`, positioned in the text.
    pub(crate) fn err(&self, path: &FieldPath, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(Box::new(InvalidConfig {
            source_name: self.source.to_string(),
            field: path.to_string(),
            position: self.text.and_then(|t| locate(t, path)),
            message: message.into(),
        }))
    }

    /// A setting at `path` read and not acted on, for [`Config::ignored`].
    pub(crate) fn ignored(&self, path: &FieldPath, reason: &'static str) -> IgnoredSetting {
        IgnoredSetting {
            source: self.source.to_string(),
            field: path.to_string(),
            reason,
        }
    }

    /// `p` relative to the config file's directory, unless absolute.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let path = PathBuf::from(p);
        match self.base_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    }
}

/// Parses and validates `text`.
pub(crate) fn load(
    text: &str,
    source: &str,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigError> {
    let raw: RawConfig = parse(text, source)?;
    let ctx = Ctx {
        text: Some(text),
        source,
        base_dir,
    };
    build(&ctx, raw)
}

pub(crate) fn parse<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    source: &str,
) -> Result<T, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, Option<T>>(de) {
        Ok(c) => return Ok(c.unwrap_or_default()),
        Err(e) => e,
    };
    let is_merge_key = err.inner().to_string().contains("unknown field `<<`");
    if is_merge_key {
        // YAML merge keys (`<<: *base`), which Prometheus' YAML library applies: resolve them
        // on a document tree and decode that. Positions then come from `locate`.
        return parse_merged(text, source);
    }
    Err(decode_error(err, source, None))
}

fn parse_merged<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    source: &str,
) -> Result<T, ConfigError> {
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let position = e.location().map(|l| (l.line(), l.column()));
        ConfigError::Invalid(Box::new(InvalidConfig {
            source_name: source.to_string(),
            field: String::new(),
            position,
            message: clean_message(&e.to_string(), position, ""),
        }))
    })?;
    value.apply_merge().map_err(|e| {
        ConfigError::Invalid(Box::new(InvalidConfig {
            source_name: source.to_string(),
            field: String::new(),
            position: None,
            message: e.to_string(),
        }))
    })?;
    serde_path_to_error::deserialize::<_, Option<T>>(value)
        .map(Option::unwrap_or_default)
        .map_err(|e| decode_error(e, source, Some(text)))
}

/// Turns a decoding error into a [`ConfigError`]. With `text`, the position is looked up by
/// field path (for errors from a document tree, which has no positions).
fn decode_error(
    e: serde_path_to_error::Error<serde_yaml_ng::Error>,
    source: &str,
    text: Option<&str>,
) -> ConfigError {
    let path = e.path().clone();
    let mut field = path.to_string();
    if field == "." {
        field.clear();
    }
    let inner = e.into_inner();
    let mut position = inner.location().map(|l| (l.line(), l.column()));
    let mut message = clean_message(&inner.to_string(), position, &field);
    if let (None, Some(text)) = (position, text) {
        position = locate(text, &field_path_of(&path));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        message = unknown_field_message(rest);
    }
    ConfigError::Invalid(Box::new(InvalidConfig {
        source_name: source.to_string(),
        field,
        position,
        message,
    }))
}

fn field_path_of(path: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment as S;
    let mut out = FieldPath::root();
    for seg in path.iter() {
        out = match seg {
            S::Seq { index } => out.index(*index),
            S::Map { key } => out.key(key),
            S::Enum { variant } => out.key(variant),
            S::Unknown => out,
        };
    }
    out
}

/// serde's "unknown field `x`, expected one of `a`, `b`, ..." is long; keep the field and
/// suggest the closest known name.
fn unknown_field_message(rest: &str) -> String {
    let Some((name, expected)) = rest.split_once('`') else {
        return format!("unknown field `{rest}");
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let best = known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min();
    match best {
        Some((_, k)) => format!("unknown field `{name}` (did you mean `{k}`?)"),
        None => format!("unknown field `{name}`"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Removes the YAML decoder's own path prefix and position suffix from its message, since
/// the error carries both separately.
fn clean_message(msg: &str, position: Option<(usize, usize)>, field: &str) -> String {
    let mut m = msg;
    if let Some((line, col)) = position {
        let suffix = format!(" at line {line} column {col}");
        m = m.strip_suffix(&suffix).unwrap_or(m);
    }
    if let Some((head, tail)) = m.split_once(": ") {
        let head_path = head.trim_end_matches('?').trim_end_matches('.');
        if head == "." || (!head_path.is_empty() && field.starts_with(head_path)) {
            m = tail;
        }
    }
    without_value(m)
}

/// serde's "invalid type/value" messages quote the value found (`invalid type: string
/// "hunter2", expected struct RawBasicAuth`), which echoes a secret written in the wrong
/// place into logs and reload errors. Only the kind of value is kept; the position and
/// field path still point at it.
pub(crate) fn without_value(m: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = m.strip_prefix(prefix) else {
            continue;
        };
        let Some((found, expected)) = rest.split_once(", expected ") else {
            continue;
        };
        let kind = found
            .split_once(" \"")
            .or_else(|| found.split_once(" `"))
            .map_or(found, |(k, _)| k);
        return format!("{prefix}{kind}, expected {expected}");
    }
    m.to_string()
}

/// redline's `storage` section.
fn storage(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: super::raw::RawStorage,
) -> Result<StorageConfig, ConfigError> {
    let mut out = StorageConfig::default();
    match raw.retention {
        Some(r) if r.0.is_zero() => {
            return Err(ctx.err(&path.key("retention"), "retention must be greater than 0"))
        }
        Some(r) => out.retention = r.0,
        None => {}
    }
    let Some(w) = raw.wal else { return Ok(out) };
    if w.enabled == Some(false) {
        out.wal = None;
        return Ok(out);
    }
    let mut wal = super::WalConfig::default();
    let wpath = path.key("wal");
    if let Some(f) = w.fsync {
        wal.fsync = match f.as_str() {
            "always" => crate::store::FsyncPolicy::Always,
            "never" => crate::store::FsyncPolicy::Never,
            d => match crate::timefmt::parse_duration(d) {
                Ok(d) if !d.is_zero() => crate::store::FsyncPolicy::Interval(d),
                _ => {
                    return Err(ctx.err(
                        &wpath.key("fsync"),
                        format!("expected `always`, `never` or a duration greater than 0 (like `1s`), got {f:?}"),
                    ))
                }
            },
        };
    }
    match w.checkpoint_interval {
        Some(d) if d.0.is_zero() => {
            return Err(ctx.err(
                &wpath.key("checkpoint_interval"),
                "checkpoint_interval must be greater than 0",
            ))
        }
        Some(d) => wal.checkpoint_interval = d.0,
        None => {}
    }
    out.wal = Some(wal);
    Ok(out)
}

fn build(ctx: &Ctx<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let root = FieldPath::root();
    let sections = super::ignored::sections(ctx, &root, &raw)?;
    let raw_global = raw.global.unwrap_or_default();
    let mut ignored = global_ignored(ctx, &root.key("global"), &raw_global);
    ignored.extend(sections);
    let global = global(ctx, &root.key("global"), raw_global)?;

    let storage = storage(ctx, &root.key("storage"), raw.storage.unwrap_or_default())?;

    let mut rule_files = Vec::new();
    for (i, rf) in raw.rule_files.unwrap_or_default().into_iter().enumerate() {
        if !glob_only_in_last_component(&rf) {
            return Err(ctx.err(
                &root.key("rule_files").index(i),
                format!("invalid rule file path {rf:?}"),
            ));
        }
        rule_files.push(ctx.resolve(&rf).to_string_lossy().into_owned());
    }

    let mut scrape_configs: Vec<ScrapeConfig> = Vec::new();
    let list = root.key("scrape_configs");
    for entry in ctx.entries(&list, raw.scrape_configs, NULL_SCRAPE_CONFIG) {
        let (path, sc) = entry?;
        ignored.extend(scrape_ignored(ctx, &path, &sc));
        let job = scrape_config(ctx, &path, sc, &global)?;
        if scrape_configs.iter().any(|j| j.job_name == job.job_name) {
            return Err(ctx.err(
                &path.key("job_name"),
                format!(
                    "found multiple scrape configs with job name {:?}",
                    job.job_name
                ),
            ));
        }
        scrape_configs.push(job);
    }
    let scrape_config_files = super::scrape_files::load(
        ctx,
        &root.key("scrape_config_files"),
        raw.scrape_config_files.unwrap_or_default(),
        &global,
        &mut scrape_configs,
        &mut ignored,
    )?;

    let web = super::web::web(ctx, &root.key("web"), raw.web.unwrap_or_default())?;
    let cluster = match raw.cluster {
        Some(c) => Some(super::cluster::cluster(ctx, &root.key("cluster"), c)?),
        None => None,
    };
    if let Some(c) = &cluster {
        if web.requires_auth() && c.peer_secret_file.is_none() {
            return Err(ctx.err(
                &root.key("cluster").key("peer_secret_file"),
                "required when web: sets credentials, so that peers can read each other's state",
            ));
        }
    }

    let (slo_files, slo) = super::slo::slo(ctx, &root, raw.slo_files, raw.slo.unwrap_or_default())?;

    let alertmanager = match raw.alertmanager {
        Some(a) => Some(super::alertmanager::alertmanager(
            ctx,
            &root.key("alertmanager"),
            a,
        )?),
        None => None,
    };

    let rule_query = super::rule_query::rule_query(ctx, &root, raw.rule_query_url, raw.rule_query)?;

    let remote_write = super::remote_write::remote_write(
        ctx,
        &root.key("remote_write"),
        raw.remote_write,
        global.name_validation,
    )?;

    let alerting = super::alerting::alerting(
        ctx,
        &root.key("alerting"),
        raw.alerting,
        global.name_validation,
    )?;

    Ok(Config {
        alerting,
        cluster,
        global,
        rule_files,
        rule_query,
        remote_write,
        slo_files,
        slo,
        scrape_configs,
        storage,
        web,
        alertmanager,
        scrape_config_files,
        ignored,
    })
}

/// The `global` settings redline reads and does not act on.
fn global_ignored(ctx: &Ctx<'_>, path: &FieldPath, g: &RawGlobal) -> Vec<IgnoredSetting> {
    super::ignored::IgnoredScrapeFields {
        scrape_failure_log_file: g.scrape_failure_log_file.as_deref(),
    }
    .settings(ctx, path)
}

/// A scrape config's settings redline reads and does not act on.
pub(crate) fn scrape_ignored(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    sc: &RawScrapeConfig,
) -> Vec<IgnoredSetting> {
    super::ignored::IgnoredScrapeFields {
        scrape_failure_log_file: sc.scrape_failure_log_file.as_deref(),
    }
    .settings(ctx, path)
}

fn global(ctx: &Ctx<'_>, path: &FieldPath, g: RawGlobal) -> Result<GlobalConfig, ConfigError> {
    let scrape_interval = match g.scrape_interval {
        Some(d) if !d.0.is_zero() => d.0,
        _ => DEFAULT_SCRAPE_INTERVAL,
    };
    let scrape_timeout = match g.scrape_timeout {
        Some(d) if d.0 > scrape_interval => {
            return Err(ctx.err(
                &path.key("scrape_timeout"),
                "global scrape timeout greater than scrape interval",
            ))
        }
        Some(d) if !d.0.is_zero() => d.0,
        _ => DEFAULT_SCRAPE_TIMEOUT.min(scrape_interval),
    };
    let evaluation_interval = match g.evaluation_interval {
        Some(d) if !d.0.is_zero() => d.0,
        _ => DEFAULT_EVALUATION_INTERVAL,
    };
    let name_validation = name_validation(
        ctx,
        &path.key("metric_name_validation_scheme"),
        g.metric_name_validation_scheme.as_deref(),
        "global",
        NameValidation::Utf8,
    )?;
    let mut external = Vec::new();
    for (name, value) in g.external_labels.unwrap_or_default() {
        if name == "__name__" || !name_validation.is_valid(&name) {
            return Err(ctx.err(
                &path.key("external_labels").key(&name),
                format!("{name:?} is not a valid label name"),
            ));
        }
        external.push((name, value));
    }
    let scrape_protocols = match g.scrape_protocols {
        Some(names) => Some(protocols(ctx, &path.key("scrape_protocols"), &names)?),
        None => None,
    };
    let histograms = crate::config::GlobalHistogramConfig {
        scrape_native_histograms: g.scrape_native_histograms.unwrap_or(false),
        always_scrape_classic_histograms: g.always_scrape_classic_histograms.unwrap_or(false),
        convert_classic_histograms_to_nhcb: g.convert_classic_histograms_to_nhcb.unwrap_or(false),
    };
    let metric_name_escaping_scheme = match g.metric_name_escaping_scheme.as_deref() {
        None | Some("") => None,
        Some(name) => Some(escaping(
            ctx,
            &path.key("metric_name_escaping_scheme"),
            name,
            "global",
        )?),
    };
    let nz = |v: Option<u64>| v.filter(|v| *v > 0);
    Ok(GlobalConfig {
        metric_name_escaping_scheme,
        scrape_interval,
        scrape_timeout,
        evaluation_interval,
        rule_query_offset: g.rule_query_offset.map(|d| d.0).unwrap_or_default(),
        external_labels: Labels::from_pairs(external),
        scrape_protocols,
        histograms,
        limits: ScrapeLimits {
            // redline's own default, not upstream's (Prometheus has none): an explicit 0
            // lifts it, as 0 means "no limit" in Prometheus.
            body_size_limit: match g.body_size_limit {
                None => Some(crate::config::DEFAULT_BODY_SIZE_LIMIT),
                Some(b) => nz(Some(b.0)),
            },
            sample_limit: nz(g.sample_limit),
            label_limit: nz(g.label_limit),
            label_name_length_limit: nz(g.label_name_length_limit),
            label_value_length_limit: nz(g.label_value_length_limit),
            target_limit: nz(g.target_limit),
            keep_dropped_targets: nz(g.keep_dropped_targets),
        },
        name_validation,
    })
}

fn name_validation(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    value: Option<&str>,
    what: &str,
    default: NameValidation,
) -> Result<NameValidation, ConfigError> {
    match value {
        None | Some("") => Ok(default),
        Some("utf8") => Ok(NameValidation::Utf8),
        Some("legacy") => Ok(NameValidation::Legacy),
        Some(other) => Err(ctx.err(
            path,
            format!("unknown {what} name validation method specified, must be either '', 'legacy' or 'utf8', got {other}"),
        )),
    }
}

fn escaping(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    name: &str,
    what: &str,
) -> Result<EscapingScheme, ConfigError> {
    EscapingScheme::parse(name).ok_or_else(|| {
        ctx.err(
            path,
            format!("unknown {what} name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {name:?}"),
        )
    })
}

/// A job's native-histogram settings, inheriting `global`'s. The bucket limit and the
/// minimum bucket factor are per job only; 0 means "not set", as in Prometheus.
fn histogram_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    sc: &RawScrapeConfig,
    global: &crate::config::GlobalHistogramConfig,
) -> Result<crate::config::HistogramConfig, ConfigError> {
    let min_bucket_factor = match sc.native_histogram_min_bucket_factor {
        Some(f) if !f.is_finite() => {
            return Err(ctx.err(
                &path.key("native_histogram_min_bucket_factor"),
                format!("native_histogram_min_bucket_factor must be a finite number, got {f}"),
            ))
        }
        Some(f) if f != 0.0 => Some(f),
        _ => None,
    };
    Ok(crate::config::HistogramConfig {
        scrape_native_histograms: sc
            .scrape_native_histograms
            .unwrap_or(global.scrape_native_histograms),
        always_scrape_classic_histograms: sc
            .always_scrape_classic_histograms
            .unwrap_or(global.always_scrape_classic_histograms),
        convert_classic_histograms_to_nhcb: sc
            .convert_classic_histograms_to_nhcb
            .unwrap_or(global.convert_classic_histograms_to_nhcb),
        bucket_limit: sc.native_histogram_bucket_limit.filter(|&l| l > 0),
        min_bucket_factor,
    })
}

fn protocols(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    names: &[String],
) -> Result<Vec<ScrapeProtocol>, ConfigError> {
    if names.is_empty() {
        return Err(ctx.err(path, "scrape_protocols cannot be empty"));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let p = ScrapeProtocol::parse(name).map_err(|m| ctx.err(&path.index(i), m.to_string()))?;
        if out.contains(&p) {
            return Err(ctx.err(
                &path.index(i),
                format!("duplicated protocol in scrape_protocols, got {names:?}"),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

pub(crate) fn scrape_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    mut sc: RawScrapeConfig,
    global: &GlobalConfig,
) -> Result<ScrapeConfig, ConfigError> {
    let raw_discovery = sc.discovery();
    let job_name = sc.job_name.clone().unwrap_or_default();
    if job_name.is_empty() {
        return Err(ctx.err(&path.key("job_name"), "job_name is empty"));
    }
    let scrape_interval = match sc.scrape_interval {
        Some(d) if !d.0.is_zero() => d.0,
        _ => global.scrape_interval,
    };
    let scrape_timeout = match sc.scrape_timeout {
        Some(d) if d.0 > scrape_interval => {
            return Err(ctx.err(
                &path.key("scrape_timeout"),
                format!("scrape timeout greater than scrape interval for scrape config with job name {job_name:?}"),
            ))
        }
        Some(d) if !d.0.is_zero() => d.0,
        _ => global.scrape_timeout.min(scrape_interval),
    };
    let scheme = scheme(ctx, path, sc.scheme.as_deref())?;
    let name_validation = name_validation(
        ctx,
        &path.key("metric_name_validation_scheme"),
        sc.metric_name_validation_scheme.as_deref(),
        "scrape config",
        global.name_validation,
    )?;
    // As Prometheus: a job without its own escaping scheme takes the global one when it
    // has no validation scheme of its own either, and otherwise follows its own validation
    // scheme; UTF-8 names cannot be asked for under legacy validation.
    let escaping_path = path.key("metric_name_escaping_scheme");
    let metric_name_escaping_scheme = match sc.metric_name_escaping_scheme.as_deref() {
        Some(name) if !name.is_empty() => escaping(ctx, &escaping_path, name, "scrape config")?,
        _ if sc
            .metric_name_validation_scheme
            .as_deref()
            .unwrap_or("")
            .is_empty() =>
        {
            global
                .metric_name_escaping_scheme
                .unwrap_or(match global.name_validation {
                    NameValidation::Legacy => EscapingScheme::Underscores,
                    NameValidation::Utf8 => EscapingScheme::AllowUtf8,
                })
        }
        _ => match name_validation {
            NameValidation::Legacy => EscapingScheme::Underscores,
            NameValidation::Utf8 => EscapingScheme::AllowUtf8,
        },
    };
    if metric_name_escaping_scheme == EscapingScheme::AllowUtf8
        && name_validation != NameValidation::Utf8
    {
        return Err(ctx.err(
            &escaping_path,
            "utf8 metric names requested but validation scheme is not set to UTF8",
        ));
    }
    let histograms = histogram_config(ctx, path, &sc, &global.histograms)?;
    // Prometheus 3.8: the job's list, else global's, else protobuf first when the job
    // scrapes native histograms.
    let scrape_protocols = match (&sc.scrape_protocols, &global.scrape_protocols) {
        (Some(names), _) => protocols(ctx, &path.key("scrape_protocols"), names)?,
        (None, Some(global)) => global.clone(),
        (None, None) => ScrapeProtocol::defaults_for(histograms.scrape_native_histograms),
    };
    let fallback_scrape_protocol = match sc.fallback_scrape_protocol.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            ScrapeProtocol::parse(name)
                .map_err(|m| ctx.err(&path.key("fallback_scrape_protocol"), m.to_string()))?,
        ),
    };
    let http = http_client::validate(ctx, path, sc.http_fields())?;

    // As Prometheus: a URL among static targets is a mistake unless relabeling moves it
    // elsewhere (the blackbox exporter pattern).
    let check_addresses = sc.relabel_configs.as_ref().is_none_or(Vec::is_empty);
    let Discovery {
        static_configs,
        file_sd_configs,
        kubernetes_sd_configs,
        http_sd_configs,
        dns_sd_configs,
    } = discovery(ctx, path, raw_discovery, name_validation, check_addresses)?;
    let relabel_configs = relabels(
        ctx,
        &path.key("relabel_configs"),
        sc.relabel_configs.unwrap_or_default(),
        name_validation,
    )?;
    let metric_relabel_configs = relabels(
        ctx,
        &path.key("metric_relabel_configs"),
        sc.metric_relabel_configs.unwrap_or_default(),
        name_validation,
    )?;

    let pick = |job: Option<u64>, global: Option<u64>| job.filter(|v| *v > 0).or(global);
    let g = &global.limits;
    let limits = ScrapeLimits {
        body_size_limit: pick(sc.body_size_limit.map(|b| b.0), g.body_size_limit),
        sample_limit: pick(sc.sample_limit, g.sample_limit),
        label_limit: pick(sc.label_limit, g.label_limit),
        label_name_length_limit: pick(sc.label_name_length_limit, g.label_name_length_limit),
        label_value_length_limit: pick(sc.label_value_length_limit, g.label_value_length_limit),
        target_limit: pick(sc.target_limit, g.target_limit),
        keep_dropped_targets: pick(sc.keep_dropped_targets, g.keep_dropped_targets),
    };

    Ok(ScrapeConfig {
        job_name,
        scrape_interval,
        scrape_timeout,
        metrics_path: sc
            .metrics_path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/metrics".to_string()),
        scheme,
        params: sc.params.unwrap_or_default(),
        honor_labels: sc.honor_labels.unwrap_or(false),
        honor_timestamps: sc.honor_timestamps.unwrap_or(true),
        scrape_protocols_defaulted: sc.scrape_protocols.is_none()
            && global.scrape_protocols.is_none(),
        scrape_protocols,
        histograms,
        fallback_scrape_protocol,
        enable_compression: sc.enable_compression.unwrap_or(true),
        metric_name_escaping_scheme,
        track_timestamps_staleness: sc.track_timestamps_staleness.unwrap_or(false),
        limits,
        http,
        static_configs,
        file_sd_configs,
        kubernetes_sd_configs,
        http_sd_configs,
        dns_sd_configs,
        relabel_configs,
        metric_relabel_configs,
        name_validation,
    })
}

/// The discovery entries, validated.
pub(super) struct Discovery {
    pub static_configs: Vec<TargetGroup>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    pub dns_sd_configs: Vec<DnsSdConfig>,
}

/// Validates the discovery entries under `path` (`scrape_configs[0]`,
/// `alerting.alertmanagers[1]`); `check_addresses` refuses URLs among static targets, as
/// Prometheus does when no relabeling could move them.
pub(super) fn discovery(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawDiscovery,
    names: NameValidation,
    check_addresses: bool,
) -> Result<Discovery, ConfigError> {
    fn each<R, T>(
        path: &FieldPath,
        key: &str,
        raw: Option<Vec<R>>,
        mut f: impl FnMut(&FieldPath, usize, R) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        raw.unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, r)| f(&path.key(key).index(i), i, r))
            .collect()
    }
    Ok(Discovery {
        static_configs: each(path, "static_configs", raw.static_configs, |p, i, st| {
            static_config(ctx, p, i, st, names, check_addresses)
        })?,
        file_sd_configs: each(path, "file_sd_configs", raw.file_sd_configs, |p, _, f| {
            file_sd(ctx, p, f)
        })?,
        kubernetes_sd_configs: each(
            path,
            "kubernetes_sd_configs",
            raw.kubernetes_sd_configs,
            |p, _, k| super::kubernetes_sd::validate(ctx, p, k),
        )?,
        http_sd_configs: each(path, "http_sd_configs", raw.http_sd_configs, |p, _, h| {
            super::discovery::validate_http_sd(ctx, p, h)
        })?,
        dns_sd_configs: each(path, "dns_sd_configs", raw.dns_sd_configs, |p, _, d| {
            super::discovery::validate_dns_sd(ctx, p, d)
        })?,
    })
}

pub(super) fn static_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    index: usize,
    st: RawStaticConfig,
    names: NameValidation,
    check_addresses: bool,
) -> Result<TargetGroup, ConfigError> {
    let mut targets = Vec::new();
    for (i, t) in st.targets.unwrap_or_default().into_iter().enumerate() {
        if check_addresses && t.contains('/') {
            return Err(ctx.err(
                &path.key("targets").index(i),
                format!("{t:?} is not a valid hostname"),
            ));
        }
        targets.push(Labels::from_pairs([(ADDRESS_LABEL, t)]));
    }
    let labels: BTreeMap<String, String> = st.labels.unwrap_or_default();
    if let Some(bad) = labels.keys().find(|n| !names.is_valid(n)) {
        return Err(ctx.err(
            &path.key("labels").key(bad),
            format!("{bad:?} is not a valid label name"),
        ));
    }
    Ok(TargetGroup {
        source: index.to_string(),
        targets,
        labels: Labels::from_pairs(labels),
    })
}

pub(super) fn file_sd(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    f: RawFileSdConfig,
) -> Result<FileSdConfig, ConfigError> {
    let files = f.files.unwrap_or_default();
    if files.is_empty() {
        return Err(ctx.err(
            &path.key("files"),
            "file service discovery config must contain at least one path name",
        ));
    }
    let mut out = Vec::with_capacity(files.len());
    for (i, name) in files.iter().enumerate() {
        let ext_ok = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
            .iter()
            .any(|e| name.ends_with(e));
        if !ext_ok || !glob_only_in_last_component(name) {
            return Err(ctx.err(
                &path.key("files").index(i),
                format!("path name {name:?} is not valid for file discovery"),
            ));
        }
        out.push(ctx.resolve(name));
    }
    let refresh_interval =
        super::discovery::positive_interval(ctx, path, f.refresh_interval.map(|d| d.0))?
            .unwrap_or(DEFAULT_FILE_SD_REFRESH);
    Ok(FileSdConfig {
        files: out,
        refresh_interval,
    })
}

fn relabels(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: Vec<RawRelabelConfig>,
    names: NameValidation,
) -> Result<Vec<RelabelConfig>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            RelabelConfig::from_raw(r, names)
                .map_err(|e| ctx.err(&path.index(i).key(e.field), e.message))
        })
        .collect()
}

/// Prometheus' `^[^*]*(\*[^/]*)?$`: wildcards only in the last path component.
pub(crate) fn glob_only_in_last_component(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i + 1..].contains('/'),
    }
}
