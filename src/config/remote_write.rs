//! `remote_write:`: Prometheus' remote-write 1.0 targets (Mimir, Thanos Receive,
//! VictoriaMetrics, a Prometheus with `--web.enable-remote-write-receiver`), as written in
//! `prometheus.yml`, unchanged.
//!
//! ```yaml
//! remote_write:
//!   - url: https://mimir.example/api/v1/push
//!     name: mimir                       # default: a hash of the entry
//!     remote_timeout: 30s
//!     headers: { X-Scope-OrgID: team-a }
//!     write_relabel_configs:            # applied per series, after external labels
//!       - source_labels: [__name__]
//!         regex: 'go_.*'
//!         action: drop
//!     basic_auth: { username: u, password_file: /etc/secret }   # prometheus/common client fields
//!     queue_config: { capacity: 10000, max_samples_per_send: 2000, batch_send_deadline: 5s }
//! ```
//!
//! The client fields (`basic_auth`, `authorization`, `bearer_token(_file)`, `tls_config`,
//! `follow_redirects`, `enable_http2`) are validated by [`super::http_client`] exactly as in a
//! scrape config. `queue_config` takes Prometheus 3.x's defaults ([`QueueConfig::default`]).
//! redline runs a fixed number of shards per queue: `min_shards` raised to 4 and capped by
//! `max_shards` (no dynamic resharding). `metadata_config` is accepted, but metric metadata
//! is not sent (redline's store does not keep it). Settings redline cannot honour are
//! errors naming the field: `sigv4`, `azuread`, `google_iam`, `oauth2`, proxies,
//! `send_exemplars: true`, `send_native_histograms: true`, `round_robin_dns: true` and
//! `protobuf_message: io.prometheus.write.v2.Request` (redline speaks remote-write 1.0).
//! A changed `remote_write:` section takes effect on restart.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::http_client::{self, HttpClientSettings};
use super::raw::Unsupported;
use super::units::PromDuration;
use super::validate::Ctx;
use crate::relabel::{NameValidation, RawRelabelConfig, RelabelConfig};

/// The only `protobuf_message` redline sends.
pub const WRITE_REQUEST_V1: &str = "prometheus.WriteRequest";

/// Headers Prometheus reserves for itself; a `headers:` entry may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
];

crate::config::http_client::with_http_client_fields! {
/// One `remote_write` entry as written.
pub struct RawRemoteWrite {
    pub url: Option<String>,
    pub name: Option<String>,
    pub remote_timeout: Option<PromDuration>,
    pub headers: Option<BTreeMap<String, String>>,
    pub write_relabel_configs: Option<Vec<RawRelabelConfig>>,
    pub protobuf_message: Option<String>,
    pub queue_config: Option<RawQueueConfig>,
    pub metadata_config: Option<RawMetadataConfig>,
    pub send_exemplars: Option<Unsupported>,
    pub send_native_histograms: Option<Unsupported>,
    pub round_robin_dns: Option<Unsupported>,
    pub sigv4: Option<Unsupported>,
    pub azuread: Option<Unsupported>,
    pub google_iam: Option<Unsupported>,
}
}

/// `queue_config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueConfig {
    pub capacity: Option<u64>,
    pub max_shards: Option<u64>,
    pub min_shards: Option<u64>,
    pub max_samples_per_send: Option<u64>,
    pub batch_send_deadline: Option<PromDuration>,
    pub min_backoff: Option<PromDuration>,
    pub max_backoff: Option<PromDuration>,
    pub retry_on_http_429: Option<bool>,
    pub sample_age_limit: Option<PromDuration>,
}

/// `metadata_config` as written (accepted; metadata is not sent).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadataConfig {
    pub send: Option<bool>,
    pub send_interval: Option<PromDuration>,
    pub max_samples_per_send: Option<u64>,
}

/// The sending queue's settings, with Prometheus 3.x's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Samples buffered per shard before new ones are dropped. Default 10000.
    pub capacity: usize,
    /// Default 50.
    pub max_shards: usize,
    /// Default 1.
    pub min_shards: usize,
    /// Samples per request. Default 2000.
    pub max_samples_per_send: usize,
    /// The longest a sample waits for a request to fill. Default 5s.
    pub batch_send_deadline: Duration,
    /// The first retry delay, doubled per retry. Default 30ms.
    pub min_backoff: Duration,
    /// Default 5s.
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (otherwise it drops the batch). Default false.
    pub retry_on_http_429: bool,
    /// Samples older than this are not sent; zero: no limit. Default 0s.
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

impl QueueConfig {
    /// The number of shards redline runs: `min_shards` raised to 4, at most `max_shards`.
    pub fn shards(&self) -> usize {
        self.min_shards.max(4).min(self.max_shards).max(1)
    }
}

/// `metadata_config`, validated. redline does not send metadata whatever `send` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataConfig {
    /// Default true (Prometheus' default); metadata is not sent by redline.
    pub send: bool,
    /// Default 1m.
    pub send_interval: Duration,
    /// Default 500.
    pub max_samples_per_send: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 500,
        }
    }
}

/// One validated `remote_write` entry.
#[derive(Clone, Debug)]
pub struct RemoteWriteConfig {
    /// The endpoint samples are POSTed to.
    pub url: String,
    /// `name`, or a hash of the entry when absent: the `remote_name` label of the metrics.
    pub name: String,
    /// Per-request timeout. Default 30s.
    pub remote_timeout: Duration,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Applied per series after the external labels are added.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Authentication and TLS.
    pub http: HttpClientSettings,
    pub queue: QueueConfig,
    pub metadata: MetadataConfig,
}

/// Validates the `remote_write` list (`path` is its path in the file).
pub(crate) fn remote_write(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: Option<Vec<RawRemoteWrite>>,
    names: NameValidation,
) -> Result<Vec<RemoteWriteConfig>, ConfigError> {
    let mut out: Vec<RemoteWriteConfig> = Vec::new();
    for (i, rw) in raw.unwrap_or_default().into_iter().enumerate() {
        let p = path.index(i);
        let cfg = entry(ctx, &p, rw, names)?;
        if out.iter().any(|o| o.name == cfg.name) {
            return Err(ctx.err(
                &p.key("name"),
                format!(
                    "found multiple remote write configs with name {:?}; names must be unique",
                    cfg.name
                ),
            ));
        }
        out.push(cfg);
    }
    Ok(out)
}

fn entry(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    mut rw: RawRemoteWrite,
    names: NameValidation,
) -> Result<RemoteWriteConfig, ConfigError> {
    let url = rw.url.as_deref().map(str::trim).unwrap_or("");
    if url.is_empty() {
        return Err(ctx.err(
            &path.key("url"),
            "url for remote_write is empty; expected e.g. http://mimir:8080/api/v1/push",
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        ctx.err(
            &path.key("url"),
            format!("{url:?} is not a URL ({e}); expected e.g. http://mimir:8080/api/v1/push"),
        )
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(ctx.err(
            &path.key("url"),
            format!(
                "unsupported scheme {:?} in {url:?}; expected http or https",
                parsed.scheme()
            ),
        ));
    }
    if parsed.host_str().unwrap_or("").is_empty() {
        return Err(ctx.err(&path.key("url"), format!("{url:?} has no host")));
    }
    match rw.protobuf_message.as_deref().map(str::trim) {
        None | Some("") | Some(WRITE_REQUEST_V1) => {}
        Some("io.prometheus.write.v2.Request") => {
            return Err(ctx.err(
                &path.key("protobuf_message"),
                "redline sends remote-write 1.0 only (prometheus.WriteRequest); io.prometheus.write.v2.Request is not supported",
            ))
        }
        Some(other) => {
            return Err(ctx.err(
                &path.key("protobuf_message"),
                format!("unknown remote write protobuf message {other:?}; expected prometheus.WriteRequest"),
            ))
        }
    }
    let remote_timeout = match rw.remote_timeout {
        None => Duration::from_secs(30),
        Some(d) if d.0.is_zero() => {
            return Err(ctx.err(&path.key("remote_timeout"), "must be greater than 0s"))
        }
        Some(d) => d.0,
    };
    let headers = rw.headers.take().unwrap_or_default();
    for (name, value) in &headers {
        let hp = path.key("headers").key(name);
        if RESERVED_HEADERS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(ctx.err(
                &hp,
                format!("{name} is a reserved header. It must not be changed"),
            ));
        }
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ctx.err(&hp, format!("{name:?} is not a valid HTTP header name")));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(ctx.err(&hp, "the value is not a valid HTTP header value"));
        }
    }
    let write_relabel_configs = rw
        .write_relabel_configs
        .take()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            RelabelConfig::from_raw(r, names).map_err(|e| {
                ctx.err(
                    &path.key("write_relabel_configs").index(i).key(e.field),
                    e.message,
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let http = http_client::validate(ctx, path, rw.http_fields())?;
    let queue = queue_config(
        ctx,
        &path.key("queue_config"),
        rw.queue_config.unwrap_or_default(),
    )?;
    let m = rw.metadata_config.unwrap_or_default();
    let d = MetadataConfig::default();
    let metadata = MetadataConfig {
        send: m.send.unwrap_or(d.send),
        send_interval: m.send_interval.map(|x| x.0).unwrap_or(d.send_interval),
        max_samples_per_send: m.max_samples_per_send.unwrap_or(d.max_samples_per_send),
    };
    let name = match rw.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        // Prometheus names an unnamed queue by a hash of its config; the URL and position
        // identify an entry here.
        _ => format!(
            "{:06x}",
            xxhash_rust::xxh3::xxh3_64(format!("{}\u{0}{url}", path).as_bytes()) & 0xff_ffff
        ),
    };
    Ok(RemoteWriteConfig {
        url: url.to_string(),
        name,
        remote_timeout,
        headers,
        write_relabel_configs,
        http,
        queue,
        metadata,
    })
}

fn queue_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    q: RawQueueConfig,
) -> Result<QueueConfig, ConfigError> {
    let d = QueueConfig::default();
    let positive = |v: Option<u64>, field: &str, default: usize| -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(0) => Err(ctx.err(&path.key(field), "must be greater than 0")),
            Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    };
    let duration = |v: Option<PromDuration>, field: &str, default: Duration| match v {
        None => Ok(default),
        Some(x) if x.0.is_zero() && field != "sample_age_limit" => {
            Err(ctx.err(&path.key(field), "must be greater than 0s"))
        }
        Some(x) => Ok(x.0),
    };
    let out = QueueConfig {
        capacity: positive(q.capacity, "capacity", d.capacity)?,
        max_shards: positive(q.max_shards, "max_shards", d.max_shards)?,
        min_shards: positive(q.min_shards, "min_shards", d.min_shards)?,
        max_samples_per_send: positive(
            q.max_samples_per_send,
            "max_samples_per_send",
            d.max_samples_per_send,
        )?,
        batch_send_deadline: duration(
            q.batch_send_deadline,
            "batch_send_deadline",
            d.batch_send_deadline,
        )?,
        min_backoff: duration(q.min_backoff, "min_backoff", d.min_backoff)?,
        max_backoff: duration(q.max_backoff, "max_backoff", d.max_backoff)?,
        retry_on_http_429: q.retry_on_http_429.unwrap_or(d.retry_on_http_429),
        sample_age_limit: duration(q.sample_age_limit, "sample_age_limit", d.sample_age_limit)?,
    };
    if out.min_shards > out.max_shards {
        return Err(ctx.err(
            &path.key("min_shards"),
            format!(
                "min_shards ({}) must not exceed max_shards ({})",
                out.min_shards, out.max_shards
            ),
        ));
    }
    if out.min_backoff > out.max_backoff {
        return Err(ctx.err(
            &path.key("min_backoff"),
            "min_backoff must not exceed max_backoff",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::QueueConfig;
    use crate::config::{Auth, Config, ConfigError};
    use std::time::Duration;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(text, "prometheus.yml")
    }

    fn err(text: &str) -> ConfigError {
        match load(text) {
            Ok(_) => panic!("config accepted: {text}"),
            Err(e) => e,
        }
    }

    /// The example of Prometheus' documentation (minus the settings redline rejects).
    const PROMETHEUS_EXAMPLE: &str = r#"
global:
  external_labels: {cluster: eu-1}
remote_write:
  - url: http://remote1/push
    name: drop_expensive
    write_relabel_configs:
      - source_labels: [__name__]
        regex: expensive.*
        action: drop
  - url: http://remote2/push
    name: rw_tls
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    tls_config:
      cert: |
        -----BEGIN CERTIFICATE-----
        MIIB
        -----END CERTIFICATE-----
      key: |
        -----BEGIN PRIVATE KEY-----
        MIIE
        -----END PRIVATE KEY-----
    basic_auth: {username: u, password: p4ss}
    queue_config:
      capacity: 2500
      max_shards: 200
      min_shards: 1
      max_samples_per_send: 500
      batch_send_deadline: 5s
      min_backoff: 30ms
      max_backoff: 5s
      retry_on_http_429: true
      sample_age_limit: 10m
    metadata_config:
      send: true
      send_interval: 1m
      max_samples_per_send: 500
    protobuf_message: prometheus.WriteRequest
    send_exemplars: false
"#;

    #[test]
    fn prometheus_example_loads() {
        let cfg = load(PROMETHEUS_EXAMPLE).expect("config loads");
        assert_eq!(cfg.remote_write.len(), 2);
        let a = &cfg.remote_write[0];
        assert_eq!(a.url, "http://remote1/push");
        assert_eq!(a.name, "drop_expensive");
        assert_eq!(a.remote_timeout, Duration::from_secs(30));
        assert_eq!(a.write_relabel_configs.len(), 1);
        assert_eq!(a.queue, QueueConfig::default());
        let b = &cfg.remote_write[1];
        assert_eq!(b.remote_timeout, Duration::from_secs(10));
        assert_eq!(
            b.headers.get("X-Scope-OrgID").map(String::as_str),
            Some("team-a")
        );
        assert!(matches!(b.http.auth, Some(Auth::Basic(_))));
        assert!(b.http.tls.cert.is_some());
        assert_eq!(b.queue.capacity, 2500);
        assert_eq!(b.queue.max_shards, 200);
        assert_eq!(b.queue.max_samples_per_send, 500);
        assert!(b.queue.retry_on_http_429);
        assert_eq!(b.queue.sample_age_limit, Duration::from_secs(600));
        assert!(!format!("{b:?}").contains("p4ss"), "secret printed");
    }

    #[test]
    fn queue_defaults_are_prometheus_3() {
        let cfg = load("remote_write:\n  - url: https://mimir.example/api/v1/push\n")
            .expect("config loads");
        let rw = &cfg.remote_write[0];
        let q = &rw.queue;
        assert_eq!(
            (
                q.capacity,
                q.max_shards,
                q.min_shards,
                q.max_samples_per_send
            ),
            (10_000, 50, 1, 2_000)
        );
        assert_eq!(q.batch_send_deadline, Duration::from_secs(5));
        assert_eq!(q.min_backoff, Duration::from_millis(30));
        assert_eq!(q.max_backoff, Duration::from_secs(5));
        assert!(!q.retry_on_http_429);
        assert_eq!(q.sample_age_limit, Duration::ZERO);
        assert_eq!(q.shards(), 4);
        assert_eq!(rw.name.len(), 6, "{}", rw.name);
        assert!(rw.metadata.send);
    }

    #[test]
    fn no_remote_write_section_means_no_queues() {
        assert!(load("scrape_configs: []\n")
            .expect("loads")
            .remote_write
            .is_empty());
        assert!(load("remote_write: []\n")
            .expect("loads")
            .remote_write
            .is_empty());
    }

    #[test]
    fn unsupported_settings_are_rejected_by_name() {
        for (text, field) in [
            (
                "remote_write:\n  - url: http://a/push\n    sigv4: {region: eu-west-1}\n",
                "remote_write[0].sigv4",
            ),
            (
                "remote_write:\n  - url: http://a/push\n    azuread: {cloud: AzurePublic}\n",
                "remote_write[0].azuread",
            ),
            (
                "remote_write:\n  - url: http://a/push\n    google_iam: {credentials_file: x}\n",
                "remote_write[0].google_iam",
            ),
            (
                "remote_write:\n  - url: http://a/push\n    send_native_histograms: true\n",
                "remote_write[0].send_native_histograms",
            ),
        ] {
            let e = err(text);
            assert_eq!(e.field_path(), Some(field), "{e}");
            assert!(e.to_string().contains("does not support"), "{e}");
        }
        let e = err(
            "remote_write:\n  - url: http://a/push\n    protobuf_message: io.prometheus.write.v2.Request\n",
        );
        assert_eq!(
            e.field_path(),
            Some("remote_write[0].protobuf_message"),
            "{e}"
        );
        assert!(e.to_string().contains("remote-write 1.0 only"), "{e}");
    }

    #[test]
    fn bad_entries_name_the_field() {
        let e = err("remote_write:\n  - name: x\n");
        assert_eq!(e.field_path(), Some("remote_write[0].url"), "{e}");
        let e = err("remote_write:\n  - url: mimir:8080/push\n");
        assert_eq!(e.field_path(), Some("remote_write[0].url"), "{e}");
        let e =
            err("remote_write:\n  - url: http://a/push\n    headers: {Content-Type: text/plain}\n");
        assert_eq!(
            e.field_path(),
            Some("remote_write[0].headers.Content-Type"),
            "{e}"
        );
        assert!(e.to_string().contains("reserved header"), "{e}");
        let e = err("remote_write:\n  - url: http://a/push\n    queue_config: {capacity: 0}\n");
        assert_eq!(
            e.field_path(),
            Some("remote_write[0].queue_config.capacity"),
            "{e}"
        );
        let e = err(
            "remote_write:\n  - url: http://a/push\n    queue_config: {min_shards: 9, max_shards: 2}\n",
        );
        assert_eq!(
            e.field_path(),
            Some("remote_write[0].queue_config.min_shards"),
            "{e}"
        );
        let e = err(
            "remote_write:\n  - url: http://a/push\n    queue_config: {max_sampels_per_send: 5}\n",
        );
        assert!(e.to_string().contains("max_sampels_per_send"), "{e}");
        let e = err(
            "remote_write:\n  - url: http://a/push\n    write_relabel_configs: [{action: hashmod, target_label: x}]\n",
        );
        assert_eq!(
            e.field_path(),
            Some("remote_write[0].write_relabel_configs[0].modulus"),
            "{e}"
        );
        let e = err(
            "remote_write:\n  - url: http://a/push\n    name: x\n  - url: http://b/push\n    name: x\n",
        );
        assert_eq!(e.field_path(), Some("remote_write[1].name"), "{e}");
    }
}
