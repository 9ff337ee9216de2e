//! The config file: Prometheus' `prometheus.yml`, unchanged, plus redline's `storage` section.
//!
//! Loading is two-phase. The YAML is first decoded into the raw structs of [`raw`], which
//! mirror what the user wrote and reject unknown and unsupported fields; `validate` then
//! applies defaults and Prometheus' rules between fields and builds the typed [`Config`] the
//! program runs: durations are [`Duration`]s, limits are `Option<u64>` (`None` = no limit),
//! relabel rules are compiled, file paths are resolved against the config file's directory.
//! Every error is a [`ConfigError`] whose message names the file, the field path and, where
//! known, the line and column:
//!
//! ```text
//! prometheus.yml:14:16: scrape_configs[2].relabel_configs[0].regex: invalid regex "(": unclosed group
//! ```
//!
//! ```
//! let cfg = redline::config::Config::from_yaml_str(
//!     "scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['localhost:9100']}]\n",
//!     "prometheus.yml",
//! ).unwrap();
//! assert_eq!(cfg.scrape_configs[0].scrape_interval.as_secs(), 60);
//! ```

pub mod alerting;
pub mod alertmanager;
pub mod cluster;
pub mod discovery;
mod error;
mod escaping;
pub mod expand;
pub mod file_stamp;
pub mod http_client;
pub mod ignored;
pub mod kubernetes_sd;
pub mod oauth2;
pub mod raw;
pub mod remote_write;
pub mod rule_query;
pub mod scrape_files;
pub mod slo;
pub mod units;
pub(crate) mod validate;
pub mod web;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use error::{locate, ConfigError, FieldPath, InvalidConfig, Segment};
pub use expand::LoadOptions;
pub use http_client::{
    Auth, Authorization, BasicAuth, HttpClientSettings, Secret, SecretSource, TextSource,
    TlsSettings, TlsVersion,
};

use crate::config::discovery::FileSdConfig;
use crate::config::discovery::TargetGroup;
use crate::relabel::{NameValidation, RelabelConfig};
use crate::store::Labels;

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: GlobalConfig,
    /// Rule file globs, resolved against the config file's directory.
    pub rule_files: Vec<String>,
    pub scrape_configs: Vec<ScrapeConfig>,
    pub storage: StorageConfig,
    /// SLO spec globs (`slo_files`), resolved against the config file's directory.
    pub slo_files: Vec<String>,
    /// The `slo` section.
    pub slo: slo::SloConfig,
    /// Dashboard and API access (`web:`).
    pub web: web::WebConfig,
    /// The `alertmanager:` section, when present.
    pub alertmanager: Option<alertmanager::AlertmanagerSection>,
    /// `rule_query_url` (with the `rule_query:` client settings): rules evaluate against this
    /// remote query API instead of the local store. `None`: locally.
    pub rule_query: Option<rule_query::RuleQueryConfig>,
    /// `remote_write:` targets, in file order.
    pub remote_write: Vec<remote_write::RemoteWriteConfig>,
    /// Prometheus' `alerting:` section: the Alertmanagers rule alerts are also sent to.
    pub alerting: alerting::AlertingConfig,
    /// The files `scrape_config_files` matched, in the order their jobs were read.
    pub scrape_config_files: Vec<std::path::PathBuf>,
    /// Settings read and not acted on, each with why (see [`ignored`]).
    pub ignored: Vec<ignored::IgnoredSetting>,
    /// The `cluster:` section (high availability), when present.
    pub cluster: Option<cluster::ClusterConfig>,
}

/// The `global` section with defaults applied.
#[derive(Clone, Debug)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Duration,
    /// Default 10s, at most `scrape_interval`.
    pub scrape_timeout: Duration,
    /// Default 1m.
    pub evaluation_interval: Duration,
    /// Default 0.
    pub rule_query_offset: Duration,
    pub external_labels: Labels,
    /// `scrape_protocols` as written; `None`: each job picks Prometheus' default for its
    /// `scrape_native_histograms` ([`ScrapeProtocol::defaults_for`]).
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// `scrape_native_histograms`, `always_scrape_classic_histograms` and
    /// `convert_classic_histograms_to_nhcb` (all default false); jobs inherit what they do
    /// not set.
    pub histograms: GlobalHistogramConfig,
    /// Global limits; jobs inherit those they do not set.
    pub limits: ScrapeLimits,
    pub name_validation: NameValidation,
    /// `metric_name_escaping_scheme`; `None`: from the name validation scheme.
    pub metric_name_escaping_scheme: Option<EscapingScheme>,
}

/// redline's `storage` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// How long samples are kept. Default 6h.
    pub retention: Duration,
    /// The write-ahead log, chunk files and snapshots under `--state-dir`; `None` keeps
    /// samples in memory only (`storage.wal.enabled: false`).
    pub wal: Option<WalConfig>,
}

/// `storage.wal`: how the store keeps its samples across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// `storage.wal.fsync`: default every second.
    pub fsync: crate::store::FsyncPolicy,
    /// `storage.wal.checkpoint_interval`: how often the head is snapshotted and the log cut;
    /// default 10m. A start replays at most about two intervals of log.
    pub checkpoint_interval: Duration,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            fsync: crate::store::FsyncPolicy::default(),
            checkpoint_interval: Duration::from_secs(600),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            retention: Duration::from_secs(6 * 3600),
            wal: Some(WalConfig::default()),
        }
    }
}

/// The scrape `body_size_limit` redline applies when `global` sets none: 100 MiB of
/// uncompressed body. This is redline's own default; Prometheus has none (0). A large
/// kube-state-metrics or cAdvisor exposition is tens of MB, so real targets fit with room
/// to spare, while a flooding target costs at most this much memory per scrape instead of
/// whatever it sends. `global.body_size_limit: 0` lifts it; a job's own value overrides it
/// (a job's 0 inherits the global value, as in Prometheus).
pub const DEFAULT_BODY_SIZE_LIMIT: u64 = 100 << 20;

/// Per-scrape limits; `None` means no limit (Prometheus' 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    /// Bytes of uncompressed body.
    pub body_size_limit: Option<u64>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
    /// How many dropped targets the targets API keeps per job.
    pub keep_dropped_targets: Option<u64>,
}

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An exposition format a scrape may ask for, as named in `scrape_protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapeProtocol {
    PrometheusProto,
    OpenMetricsText1_0_0,
    OpenMetricsText0_0_1,
    PrometheusText1_0_0,
    PrometheusText0_0_4,
}

/// Why a `scrape_protocols` entry is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeProtocolError {
    #[error(
        "unknown scrape protocol {0:?}, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"
    )]
    Unknown(String),
}

impl ScrapeProtocol {
    /// Prometheus 3.x's default preference order.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// Prometheus 3.x's default for a job that scrapes native histograms
    /// (`DefaultProtoFirstScrapeProtocols`): protobuf first, the only format that carries
    /// them.
    pub const DEFAULT_PROTO_FIRST: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The protocols of a job that sets none, when `global` sets none either: as Prometheus
    /// 3.8, protobuf first when the job scrapes native histograms.
    pub fn defaults_for(scrape_native_histograms: bool) -> Vec<ScrapeProtocol> {
        if scrape_native_histograms {
            Self::DEFAULT_PROTO_FIRST.to_vec()
        } else {
            Self::DEFAULT.to_vec()
        }
    }

    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
        }
    }

    /// The media type for the `Accept` header.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Result<ScrapeProtocol, ScrapeProtocolError> {
        Self::DEFAULT_PROTO_FIRST
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ScrapeProtocolError::Unknown(name.to_string()))
    }

    /// The `Accept` header Prometheus sends for this preference list with UTF-8 names
    /// allowed (its default): see [`ScrapeProtocol::accept_header_escaping`].
    pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
        Self::accept_header_escaping(protocols, EscapingScheme::AllowUtf8)
    }

    /// The `Accept` header Prometheus 3 sends: each protocol's media type, with
    /// `escaping=<scheme>` on the 1.0.0 text formats (the only ones that define it; not on
    /// protobuf), and
    /// q-values descending from 0.6 (one more than the five protocols Prometheus knows,
    /// `PrometheusProto` included), then `*/*`.
    pub fn accept_header_escaping(
        protocols: &[ScrapeProtocol],
        escaping: EscapingScheme,
    ) -> String {
        let mut weight = 5 + 1;
        let mut parts = Vec::with_capacity(protocols.len() + 1);
        for p in protocols {
            let mut part = p.media_type().to_string();
            if matches!(
                p,
                ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0
            ) {
                part.push_str(";escaping=");
                part.push_str(escaping.name());
            }
            parts.push(format!("{part};q=0.{weight}"));
            weight -= 1;
        }
        parts.push(format!("*/*;q=0.{weight}"));
        parts.join(",")
    }
}

/// `metric_name_escaping_scheme`: how a target is asked to escape names that are not valid
/// legacy names (the `escaping` parameter of the `Accept` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapingScheme {
    AllowUtf8,
    Underscores,
    Dots,
    Values,
}

impl EscapingScheme {
    /// The name in config files and in the `Accept` header.
    pub fn name(self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Option<EscapingScheme> {
        [
            EscapingScheme::AllowUtf8,
            EscapingScheme::Underscores,
            EscapingScheme::Dots,
            EscapingScheme::Values,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// The native-histogram settings of `global`, which jobs inherit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalHistogramConfig {
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
}

/// How a job scrapes histograms (Prometheus 3.8's settings).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HistogramConfig {
    /// `scrape_native_histograms`: store native histograms of protobuf scrapes as
    /// histogram samples; without it they are read as classic histograms. Default false.
    pub scrape_native_histograms: bool,
    /// `always_scrape_classic_histograms`: also keep the classic series of a histogram
    /// that has a native part. Default false.
    pub always_scrape_classic_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`: classic histograms become native histograms
    /// with custom buckets under their family name (`crate::scrape::nhcb`); their classic
    /// series are kept only with `always_scrape_classic_histograms`. Default false.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `native_histogram_bucket_limit`: more buckets than this and the histogram's
    /// resolution is halved until it fits; a histogram that still does not fails the
    /// scrape. `None`: no limit (Prometheus' 0).
    pub bucket_limit: Option<u64>,
    /// `native_histogram_min_bucket_factor`: the schema a histogram is reduced to at most
    /// (Prometheus' `pickSchema`). `None` (0 or unset): no reduction beyond the largest
    /// schema, 8.
    pub min_bucket_factor: Option<f64>,
}

/// One validated scrape job.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    /// Default `/metrics`.
    pub metrics_path: String,
    pub scheme: Scheme,
    /// URL query parameters; each name may repeat.
    pub params: BTreeMap<String, Vec<String>>,
    /// Default false.
    pub honor_labels: bool,
    /// Default true.
    pub honor_timestamps: bool,
    /// `scrape_protocols`, or `global`'s, or [`ScrapeProtocol::defaults_for`] the job's
    /// `scrape_native_histograms`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Neither the job nor `global` sets `scrape_protocols`: `scrape_protocols` is the
    /// default, which `--enable-feature=created-timestamp-zero-ingestion` turns protobuf-first
    /// ([`ScrapeConfig::protocols`]).
    pub scrape_protocols_defaulted: bool,
    /// Native histograms: `scrape_native_histograms` and the settings with it.
    pub histograms: HistogramConfig,
    /// The format to assume when a target's `Content-Type` is missing or unknown.
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// Ask for gzip. Default true.
    pub enable_compression: bool,
    /// `metric_name_escaping_scheme`, with Prometheus' defaults applied.
    pub metric_name_escaping_scheme: EscapingScheme,
    /// Staleness markers also for series exposed with explicit timestamps. Default false.
    pub track_timestamps_staleness: bool,
    pub limits: ScrapeLimits,
    pub http: HttpClientSettings,
    /// `static_configs`, as groups with sources `0`, `1`, ...
    pub static_configs: Vec<TargetGroup>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Vec<crate::config::kubernetes_sd::KubernetesSdConfig>,
    pub http_sd_configs: Vec<crate::config::discovery::HttpSdConfig>,
    pub dns_sd_configs: Vec<crate::config::discovery::DnsSdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub name_validation: NameValidation,
}

impl ScrapeConfig {
    /// The protocols to ask for: `scrape_protocols`, except that a job on the default list
    /// asks for protobuf first when `proto_first_default` (Prometheus'
    /// `created-timestamp-zero-ingestion` feature changes the default so).
    pub fn protocols(&self, proto_first_default: bool) -> Vec<ScrapeProtocol> {
        if proto_first_default && self.scrape_protocols_defaulted {
            ScrapeProtocol::DEFAULT_PROTO_FIRST.to_vec()
        } else {
            self.scrape_protocols.clone()
        }
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths inside it (file_sd files, rule files,
    /// credential and TLS files) are resolved against the file's directory.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        validate::load(&text, &path.display().to_string(), dir)
    }

    /// Validates config text. `source_name` names it in errors; relative paths stay relative
    /// to the working directory.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        validate::load(text, source_name, None)
    }

    /// Like [`Config::from_yaml_str`], resolving relative paths against `base_dir`.
    pub fn from_yaml_str_in(
        text: &str,
        source_name: &str,
        base_dir: &Path,
    ) -> Result<Config, ConfigError> {
        validate::load(text, source_name, Some(base_dir))
    }

    /// The scrape job named `job_name`.
    pub fn scrape_config(&self, job_name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|s| s.job_name == job_name)
    }
}

/// What `redline check config` reports for a valid file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSummary {
    pub scrape_jobs: usize,
    pub static_targets: usize,
    pub file_sd_configs: usize,
    pub rule_files: usize,
}

impl std::fmt::Display for ConfigSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} scrape jobs, {} static targets, {} file_sd configs, {} rule file patterns",
            self.scrape_jobs, self.static_targets, self.file_sd_configs, self.rule_files
        )
    }
}

/// Loads `path` and summarises it, for `redline check config FILE`.
pub fn check_config_file(path: &Path) -> Result<ConfigSummary, ConfigError> {
    let cfg = Config::load_file(path)?;
    Ok(ConfigSummary {
        scrape_jobs: cfg.scrape_configs.len(),
        static_targets: cfg
            .scrape_configs
            .iter()
            .flat_map(|s| &s.static_configs)
            .map(|g| g.targets.len())
            .sum(),
        file_sd_configs: cfg
            .scrape_configs
            .iter()
            .map(|s| s.file_sd_configs.len())
            .sum(),
        rule_files: cfg.rule_files.len(),
    })
}

#[cfg(test)]
mod tests;
