//! The config file as the user wrote it: serde structs that mirror `prometheus.yml`.
//!
//! Every struct denies unknown fields, so a typo is an error with its position. Fields that
//! Prometheus knows but redline does not implement yet are typed [`Unsupported`]: they are
//! accepted only when absent or empty, and otherwise fail at their own path with a message
//! saying redline does not support them, never silently ignored. Per-value syntax (durations,
//! byte sizes, regexes, relabel actions) is checked while deserializing, so those errors carry
//! the exact line and column; rules between fields are checked in `config::validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::units::{ByteSize, PromDuration};
use crate::relabel::RawRelabelConfig;

/// The message for a Prometheus setting redline does not implement.
pub const UNSUPPORTED: &str = "redline does not support this setting yet";

/// A Prometheus setting redline does not implement yet. Absent, `null`, `false`, `""`, `[]`
/// and `{}` are accepted (they ask for nothing); any other value is an error.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unsupported;

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnsupportedVisitor)
    }
}

struct UnsupportedVisitor;

impl<'de> Visitor<'de> for UnsupportedVisitor {
    type Value = Unsupported;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("nothing")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Unsupported, E> {
        Ok(Unsupported)
    }
    fn visit_none<E: de::Error>(self) -> Result<Unsupported, E> {
        Ok(Unsupported)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Unsupported, E> {
        if v {
            Err(E::custom(UNSUPPORTED))
        } else {
            Ok(Unsupported)
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Unsupported, E> {
        if v.is_empty() {
            Ok(Unsupported)
        } else {
            Err(E::custom(UNSUPPORTED))
        }
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Unsupported, E> {
        Err(E::custom(UNSUPPORTED))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Unsupported, E> {
        Err(E::custom(UNSUPPORTED))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Unsupported, E> {
        Err(E::custom(UNSUPPORTED))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unsupported, A::Error> {
        match seq.next_element::<IgnoredAny>()? {
            None => Ok(Unsupported),
            Some(_) => Err(de::Error::custom(UNSUPPORTED)),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unsupported, A::Error> {
        match map.next_key::<IgnoredAny>()? {
            None => Ok(Unsupported),
            Some(_) => Err(de::Error::custom(UNSUPPORTED)),
        }
    }
}

/// Declares a raw config struct that finds its targets the way a scrape job does: its own
/// fields, then every `*_sd_configs` list Prometheus knows (the ones redline does not
/// implement are [`Unsupported`], rejected with their path), then prometheus/common's HTTP
/// client fields (see `with_http_client_fields!`). A scrape config and an
/// `alerting.alertmanagers` entry are such structs. `discovery()` takes out the lists redline
/// validates, for `config::validate::discovery`.
macro_rules! with_discovery_fields {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $crate::config::http_client::with_http_client_fields! {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
            pub static_configs: Option<Vec<$crate::config::raw::RawStaticConfig>>,
            pub file_sd_configs: Option<Vec<$crate::config::raw::RawFileSdConfig>>,
            pub kubernetes_sd_configs: Option<Vec<$crate::config::raw::RawKubernetesSdConfig>>,
            pub azure_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub consul_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub digitalocean_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub docker_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub dockerswarm_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub dns_sd_configs: Option<Vec<$crate::config::raw::RawDnsSdConfig>>,
            pub ec2_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub eureka_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub gce_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub hetzner_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub http_sd_configs: Option<Vec<$crate::config::raw::RawHttpSdConfig>>,
            pub ionos_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub kuma_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub lightsail_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub linode_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub marathon_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub nerve_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub nomad_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub openstack_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub ovhcloud_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub puppetdb_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub scaleway_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub serverset_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub stackit_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub triton_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub uyuni_sd_configs: Option<$crate::config::raw::Unsupported>,
            pub vultr_sd_configs: Option<$crate::config::raw::Unsupported>,
        }
        }

        impl $name {
            /// Takes out the discovery lists redline implements.
            pub(crate) fn discovery(&mut self) -> $crate::config::raw::RawDiscovery {
                $crate::config::raw::RawDiscovery {
                    static_configs: self.static_configs.take(),
                    file_sd_configs: self.file_sd_configs.take(),
                    kubernetes_sd_configs: self.kubernetes_sd_configs.take(),
                    http_sd_configs: self.http_sd_configs.take(),
                    dns_sd_configs: self.dns_sd_configs.take(),
                }
            }
        }
    };
}
pub(crate) use with_discovery_fields;

/// The discovery entries of a scrape job or an `alerting.alertmanagers` entry, as written.
pub struct RawDiscovery {
    pub static_configs: Option<Vec<RawStaticConfig>>,
    pub file_sd_configs: Option<Vec<RawFileSdConfig>>,
    pub kubernetes_sd_configs: Option<Vec<RawKubernetesSdConfig>>,
    pub http_sd_configs: Option<Vec<RawHttpSdConfig>>,
    pub dns_sd_configs: Option<Vec<RawDnsSdConfig>>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub global: Option<RawGlobal>,
    pub rule_files: Option<Vec<String>>,
    pub scrape_configs: Option<Vec<Option<RawScrapeConfig>>>,
    /// redline's own section (Prometheus' `storage.tsdb` and `storage.exemplars` are rejected).
    pub storage: Option<RawStorage>,
    /// SLO spec files (redline's own), globs like `rule_files`.
    pub slo_files: Option<Vec<String>>,
    /// redline's SLO engine settings (see [`super::slo`]).
    pub slo: Option<super::slo::RawSlo>,
    /// redline's own section: dashboard and API access (see [`super::web`]).
    pub web: Option<super::web::RawWeb>,
    /// redline's own section: the Alertmanager configuration (see [`super::alertmanager`]).
    pub alertmanager: Option<super::alertmanager::RawAlertmanagerSection>,
    /// Go runtime tuning (`gogc`): meaningless for redline, accepted so files load unchanged.
    pub runtime: Option<super::ignored::RawRuntime>,
    /// redline's own: the query API rules evaluate against (see [`super::rule_query`]).
    pub rule_query_url: Option<String>,
    /// redline's own: client settings for `rule_query_url`.
    pub rule_query: Option<super::rule_query::RawRuleQuery>,
    /// Files of further `scrape_configs` (see [`super::scrape_files`]).
    pub scrape_config_files: Option<Vec<String>>,
    /// Prometheus' `alerting:` (see [`super::alerting`]).
    pub alerting: Option<super::alerting::RawAlerting>,
    /// Remote-write 1.0 targets (see [`super::remote_write`]).
    pub remote_write: Option<Vec<super::remote_write::RawRemoteWrite>>,
    pub remote_read: Option<Unsupported>,
    /// Accepted and ignored (see [`super::ignored`]).
    pub otlp: Option<super::ignored::RawOtlp>,
    /// Accepted and ignored (see [`super::ignored`]).
    pub tracing: Option<super::ignored::RawTracing>,
    /// redline's own: high availability (see [`super::cluster`]).
    pub cluster: Option<super::cluster::RawCluster>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub evaluation_interval: Option<PromDuration>,
    pub rule_query_offset: Option<PromDuration>,
    pub external_labels: Option<BTreeMap<String, String>>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub scrape_protocols: Option<Vec<String>>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub query_log_file: Option<Unsupported>,
    pub scrape_failure_log_file: Option<String>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub scrape_native_histograms: Option<bool>,
    pub extra_scrape_metrics: Option<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub retention: Option<PromDuration>,
    /// redline's own: the write-ahead log and snapshots under `--state-dir`.
    pub wal: Option<RawWal>,
    /// Prometheus' own: accepted and ignored (see [`super::ignored`]).
    pub tsdb: Option<super::ignored::RawTsdb>,
    /// Prometheus' own: accepted and ignored (see [`super::ignored`]).
    pub exemplars: Option<super::ignored::RawExemplars>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWal {
    pub enabled: Option<bool>,
    /// `always`, `never`, or a duration.
    pub fsync: Option<String>,
    pub checkpoint_interval: Option<PromDuration>,
}

with_discovery_fields! {
/// One `scrape_configs` entry, including Prometheus' inline HTTP client settings and its
/// service discovery entries.
pub struct RawScrapeConfig {
    pub job_name: Option<String>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub track_timestamps_staleness: Option<bool>,
    pub params: Option<BTreeMap<String, Vec<String>>>,
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub scrape_protocols: Option<Vec<String>>,
    pub fallback_scrape_protocol: Option<String>,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    pub enable_compression: Option<bool>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub scrape_failure_log_file: Option<String>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub scrape_classic_histograms: Option<Unsupported>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub scrape_native_histograms: Option<bool>,
    pub native_histogram_bucket_limit: Option<u64>,
    pub native_histogram_min_bucket_factor: Option<f64>,
    pub relabel_configs: Option<Vec<RawRelabelConfig>>,
    pub metric_relabel_configs: Option<Vec<RawRelabelConfig>>,
}
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub username_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub username_ref: Option<Unsupported>,
    pub password_ref: Option<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
    pub credentials_ref: Option<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    pub ca: Option<String>,
    pub ca_file: Option<String>,
    pub cert: Option<String>,
    pub cert_file: Option<String>,
    pub key: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub ca_ref: Option<Unsupported>,
    pub cert_ref: Option<Unsupported>,
    pub key_ref: Option<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticConfig {
    pub targets: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSdConfig {
    pub files: Option<Vec<String>>,
    pub refresh_interval: Option<PromDuration>,
}

crate::config::http_client::with_http_client_fields! {
/// An `http_sd_configs` entry as written (Prometheus' `http.SDConfig`).
pub struct RawHttpSdConfig {
    pub url: Option<String>,
    pub refresh_interval: Option<PromDuration>,
}
}

/// A `dns_sd_configs` entry as written (Prometheus' `dns.SDConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsSdConfig {
    pub names: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub r#type: Option<String>,
    pub port: Option<u16>,
    pub refresh_interval: Option<PromDuration>,
}

crate::config::http_client::with_http_client_fields! {
/// A `kubernetes_sd_configs` entry as written (Prometheus' `kubernetes.SDConfig`).
pub struct RawKubernetesSdConfig {
    pub role: Option<String>,
    pub api_server: Option<String>,
    pub kubeconfig_file: Option<String>,
    pub namespaces: Option<RawKubernetesNamespaces>,
    pub selectors: Option<Vec<RawKubernetesSelector>>,
    pub attach_metadata: Option<RawKubernetesAttachMetadata>,
}
}

/// `kubernetes_sd_configs[].namespaces`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesNamespaces {
    pub own_namespace: Option<bool>,
    pub names: Option<Vec<String>>,
}

/// `kubernetes_sd_configs[].selectors[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSelector {
    pub role: Option<String>,
    pub label: Option<String>,
    pub field: Option<String>,
}

/// `kubernetes_sd_configs[].attach_metadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesAttachMetadata {
    pub node: Option<bool>,
    pub namespace: Option<bool>,
}
