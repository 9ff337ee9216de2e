//! Config loading: defaults, Prometheus' validation rules, and that every error names the
//! field path (and position) a user has to fix.

use super::*;
use crate::relabel::Action;

fn load(text: &str) -> Config {
    Config::from_yaml_str(text, "prometheus.yml").unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> ConfigError {
    match Config::from_yaml_str(text, "prometheus.yml") {
        Ok(_) => panic!("config must be rejected:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts the error's field path and message.
fn assert_error(text: &str, field: &str, message: &str) {
    let e = error(text);
    assert_eq!(e.field_path(), Some(field), "{e}");
    assert_eq!(e.message(), message, "{e}");
    assert!(e.to_string().starts_with("prometheus.yml"), "{e}");
}

#[test]
fn empty_file_is_all_defaults() {
    for text in ["", "# nothing\n", "{}"] {
        let c = load(text);
        assert_eq!(c.global.scrape_interval, Duration::from_secs(60));
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
        assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
        assert_eq!(c.storage.retention, Duration::from_secs(6 * 3600));
        assert_eq!(c.storage.wal, Some(crate::config::WalConfig::default()));
        assert!(c.scrape_configs.is_empty());
        assert_eq!(c.global.scrape_protocols, None);
    }
}

#[test]
fn job_defaults_come_from_global() {
    let c = load(
        r#"
global:
  scrape_interval: 15s
  scrape_timeout: 5s
  sample_limit: 1000
  body_size_limit: 10MB
scrape_configs:
  - job_name: a
    static_configs: [{targets: ["localhost:9090"], labels: {env: prod}}]
  - job_name: b
    scrape_interval: 2s
    sample_limit: 50
"#,
    );
    let a = &c.scrape_configs[0];
    assert_eq!(a.scrape_interval, Duration::from_secs(15));
    assert_eq!(a.scrape_timeout, Duration::from_secs(5));
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, Scheme::Http);
    assert!(a.honor_timestamps);
    assert!(!a.honor_labels);
    assert_eq!(a.limits.sample_limit, Some(1000));
    assert_eq!(a.limits.body_size_limit, Some(10 * 1024 * 1024));
    assert_eq!(a.limits.label_limit, None);
    assert_eq!(a.static_configs[0].source, "0");
    assert_eq!(a.static_configs[0].labels.get("env"), Some("prod"));
    assert_eq!(
        a.static_configs[0].targets[0].get("__address__"),
        Some("localhost:9090")
    );
    let b = &c.scrape_configs[1];
    assert_eq!(b.scrape_interval, Duration::from_secs(2));
    // The global timeout (5s) is longer than this job's interval: the interval wins.
    assert_eq!(b.scrape_timeout, Duration::from_secs(2));
    assert_eq!(b.limits.sample_limit, Some(50));
    assert_eq!(
        c.scrape_config("b").map(|s| s.scrape_interval),
        Some(b.scrape_interval)
    );
}

#[test]
fn global_timeout_defaults_below_short_interval() {
    let c = load("global: {scrape_interval: 5s}");
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
}

#[test]
fn zero_limits_mean_no_limit_and_jobs_inherit() {
    let c = load(
        "global: {target_limit: 10, label_limit: 0}\nscrape_configs: [{job_name: a, target_limit: 0}]",
    );
    let a = &c.scrape_configs[0];
    assert_eq!(a.limits.target_limit, Some(10));
    assert_eq!(a.limits.label_limit, None);
}

#[test]
fn timeout_greater_than_interval() {
    assert_error(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n",
        "scrape_configs[0].scrape_timeout",
        r#"scrape timeout greater than scrape interval for scrape config with job name "a""#,
    );
    assert_error(
        "global:\n  scrape_interval: 10s\n  scrape_timeout: 11s\n",
        "global.scrape_timeout",
        "global scrape timeout greater than scrape interval",
    );
}

#[test]
fn error_display_has_file_line_column_and_path() {
    let e = error(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n",
    );
    assert_eq!(e.position(), Some((4, 21)));
    assert_eq!(
        e.to_string(),
        r#"prometheus.yml:4:21: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "a""#
    );
}

#[test]
fn duplicate_job_name() {
    assert_error(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        "scrape_configs[2].job_name",
        r#"found multiple scrape configs with job name "a""#,
    );
}

#[test]
fn missing_job_name() {
    assert_error(
        "scrape_configs:\n  - metrics_path: /x\n",
        "scrape_configs[0].job_name",
        "job_name is empty",
    );
    assert_error(
        "scrape_configs:\n  -\n",
        "scrape_configs[0]",
        "empty or null scrape config section",
    );
}

#[test]
fn bad_regex_names_its_path_and_position() {
    let text = "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: c\n    relabel_configs:\n      - source_labels: [x]\n        regex: \"(\"\n";
    let e = error(text);
    assert_eq!(
        e.field_path(),
        Some("scrape_configs[2].relabel_configs[0].regex")
    );
    assert_eq!(e.message(), r#"invalid regex "(": unclosed group"#);
    assert_eq!(e.position(), Some((7, 16)));
    assert_eq!(
        e.to_string(),
        r#"prometheus.yml:7:16: scrape_configs[2].relabel_configs[0].regex: invalid regex "(": unclosed group"#
    );
}

#[test]
fn relabel_rule_errors_name_the_field() {
    assert_error(
        "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - {action: hashmod, source_labels: [a], target_label: b}\n",
        "scrape_configs[0].metric_relabel_configs[0].modulus",
        "relabel configuration for hashmod requires non-zero modulus",
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: replace, source_labels: [a]}\n",
        "scrape_configs[0].relabel_configs[0].target_label",
        "relabel configuration for replace action requires 'target_label' value",
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: dropequal, source_labels: [a], target_label: b, replacement: c}\n",
        "scrape_configs[0].relabel_configs[0].replacement",
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: explode}\n",
        "scrape_configs[0].relabel_configs[0].action",
        r#"unknown relabel action "explode""#,
    );
}

#[test]
fn legacy_name_validation_applies_to_relabel_targets() {
    assert_error(
        "global: {metric_name_validation_scheme: legacy}\nscrape_configs:\n  - job_name: a\n    relabel_configs: [{source_labels: [a], target_label: 'my-label'}]\n",
        "scrape_configs[0].relabel_configs[0].target_label",
        r#""my-label" is invalid 'target_label' for replace action"#,
    );
    let c = load("scrape_configs:\n  - job_name: a\n    relabel_configs: [{source_labels: [a], target_label: 'my-label'}]\n");
    assert_eq!(
        c.scrape_configs[0].relabel_configs[0].action,
        Action::Replace
    );
}

#[test]
fn unknown_field_is_rejected_with_position() {
    let e = error("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n");
    assert_eq!(
        e.message(),
        "unknown field `scrape_intervall` (did you mean `scrape_interval`?)"
    );
    assert_eq!(e.position(), Some((3, 5)));
    assert_eq!(e.field_path(), Some("scrape_configs[0].scrape_intervall"));
}

#[test]
fn unsupported_prometheus_features_are_named() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: k\n    ec2_sd_configs:\n      - region: eu-west-1\n",
            "scrape_configs[0].ec2_sd_configs",
        ),
        (
            "scrape_configs:\n  - job_name: c\n    consul_sd_configs: [{server: 'localhost:8500'}]\n",
            "scrape_configs[0].consul_sd_configs",
        ),
        (
            "scrape_configs:\n  - job_name: p\n    http_headers: {X-A: {values: [b]}}\n",
            "scrape_configs[0].http_headers",
        ),
        (
            "remote_read:\n  - url: http://mimir/prometheus/api/v1/read\n",
            "remote_read",
        ),
        (
            "alerting:\n  alertmanagers: [{sigv4: {region: eu-west-1}}]\n",
            "alerting.alertmanagers[0].sigv4",
        ),
        ("global:\n  query_log_file: /q.log\n", "global.query_log_file"),
    ];
    for (text, field) in cases {
        let e = error(text);
        assert_eq!(e.field_path(), Some(field), "{e}");
        assert_eq!(
            e.message(),
            "redline does not support this setting yet",
            "{e}"
        );
        assert!(e.position().is_some(), "{e}");
    }
    // Empty values ask for nothing and are accepted.
    load("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: []\nalerting: {}\n");
}

#[test]
fn bad_values_name_their_path() {
    assert_error(
        "global: {scrape_interval: 1x}",
        "global.scrape_interval",
        r#"unknown unit "x" in duration "1x""#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, body_size_limit: 10mb}]",
        "scrape_configs[0].body_size_limit",
        r#"unknown unit "mb" in byte size "10mb""#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, scheme: ftp}]",
        "scrape_configs[0].scheme",
        r#"unsupported scheme "ftp" (expected "http" or "https")"#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, static_configs: [{targets: ['ok:1', 'http://x:1']}]}]",
        "scrape_configs[0].static_configs[0].targets[1]",
        r#""http://x:1" is not a valid hostname"#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, scrape_protocols: [PrometheusText0.0.4, PrometheusProtobuf]}]",
        "scrape_configs[0].scrape_protocols[1]",
        r#"unknown scrape protocol "PrometheusProtobuf", supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, native_histogram_min_bucket_factor: .nan}]",
        "scrape_configs[0].native_histogram_min_bucket_factor",
        "native_histogram_min_bucket_factor must be a finite number, got NaN",
    );
    assert_error(
        "global: {external_labels: {__name__: x}}",
        "global.external_labels.__name__",
        r#""__name__" is not a valid label name"#,
    );
    assert_error(
        "storage: {retention: 0s}",
        "storage.retention",
        "retention must be greater than 0",
    );
    assert_error(
        "storage: {wal: {fsync: sometimes}}",
        "storage.wal.fsync",
        "expected `always`, `never` or a duration greater than 0 (like `1s`), got \"sometimes\"",
    );
    assert_error(
        "storage: {wal: {checkpoint_interval: 0s}}",
        "storage.wal.checkpoint_interval",
        "checkpoint_interval must be greater than 0",
    );
    assert_error(
        "rule_files: ['rules/*/x.yml']",
        "rule_files[0]",
        r#"invalid rule file path "rules/*/x.yml""#,
    );
}

#[test]
fn file_sd_validation() {
    assert_error(
        "scrape_configs: [{job_name: a, file_sd_configs: [{files: ['targets.txt']}]}]",
        "scrape_configs[0].file_sd_configs[0].files[0]",
        r#"path name "targets.txt" is not valid for file discovery"#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, file_sd_configs: [{files: []}]}]",
        "scrape_configs[0].file_sd_configs[0].files",
        "file service discovery config must contain at least one path name",
    );
    let c = Config::from_yaml_str_in(
        "scrape_configs: [{job_name: a, file_sd_configs: [{files: ['sd/*.json', '/abs/x.yml']}]}]",
        "p.yml",
        Path::new("/etc/redline"),
    )
    .unwrap();
    let f = &c.scrape_configs[0].file_sd_configs[0];
    assert_eq!(
        f.files,
        vec![
            std::path::PathBuf::from("/etc/redline/sd/*.json"),
            std::path::PathBuf::from("/abs/x.yml")
        ]
    );
    assert_eq!(f.refresh_interval, Duration::from_secs(300));
}

#[test]
fn auth_rules_follow_prometheus_common() {
    assert_error(
        "scrape_configs: [{job_name: a, basic_auth: {username: u, password: p, password_file: f}}]",
        "scrape_configs[0].basic_auth.password_file",
        "at most one of basic_auth password, password_file & password_ref must be configured",
    );
    assert_error(
        "scrape_configs: [{job_name: a, bearer_token: t, bearer_token_file: f}]",
        "scrape_configs[0].bearer_token_file",
        "at most one of bearer_token & bearer_token_file must be configured",
    );
    assert_error(
        "scrape_configs: [{job_name: a, basic_auth: {username: u}, bearer_token: t}]",
        "scrape_configs[0].bearer_token",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    );
    assert_error(
        "scrape_configs: [{job_name: a, authorization: {type: Basic, credentials: x}}]",
        "scrape_configs[0].authorization.type",
        r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
    );
    assert_error(
        "scrape_configs: [{job_name: a, authorization: {credentials: x}, basic_auth: {username: u}}]",
        "scrape_configs[0].authorization",
        "at most one of basic_auth, oauth2 & authorization must be configured",
    );
    assert_error(
        "scrape_configs: [{job_name: a, tls_config: {cert_file: c.pem}}]",
        "scrape_configs[0].tls_config",
        "exactly one of key or key_file must be configured when a client certificate is configured",
    );
}

#[test]
fn legacy_bearer_token_becomes_authorization() {
    let c = Config::from_yaml_str_in(
        "scrape_configs: [{job_name: a, bearer_token_file: token}]",
        "p.yml",
        Path::new("/etc/redline"),
    )
    .unwrap();
    assert_eq!(
        c.scrape_configs[0].http.auth,
        Some(Auth::Authorization(Authorization {
            kind: "Bearer".into(),
            credentials: Some(SecretSource::File("/etc/redline/token".into())),
        }))
    );
}

#[test]
fn secrets_never_print() {
    let c = load(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: admin, password: hunter2}\n  - job_name: b\n    authorization: {credentials: tok3n}\n  - job_name: c\n    tls_config: {cert: CERTPEM, key: KEYPEM}\n",
    );
    let debug = format!("{c:?}");
    for secret in ["hunter2", "tok3n", "KEYPEM"] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
    assert!(debug.contains("<secret>"));
    assert!(debug.contains("admin"));
    match &c.scrape_configs[0].http.auth {
        Some(Auth::Basic(b)) => {
            let pw = b.password.as_ref().and_then(|p| p.read().ok());
            assert_eq!(pw.as_ref().map(Secret::expose), Some("hunter2"));
        }
        other => panic!("basic auth expected, got {other:?}"),
    }
}

#[test]
fn accept_header_matches_prometheus_weights() {
    assert_eq!(
        ScrapeProtocol::accept_header(&ScrapeProtocol::DEFAULT),
        // Prometheus 3's `acceptHeader` (scrape/scrape.go): weights start at one more than
        // the five protocols it knows, and the 1.0.0 text formats carry `escaping`.
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    // Prometheus 3's scrape test `TestAcceptHeader` ("default proto first scrape protocols
    // with underscore escaping", with dots): protobuf carries no `escaping`.
    assert_eq!(
        ScrapeProtocol::accept_header_escaping(
            &ScrapeProtocol::DEFAULT_PROTO_FIRST,
            crate::config::EscapingScheme::Dots
        ),
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=dots;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=dots;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
    );
}

/// Prometheus 3.8: a job that scrapes native histograms and names no protocols (nor does
/// `global`) asks for protobuf first; `global`'s list wins over that default; the
/// histogram settings are inherited from `global` and the job's own win.
#[test]
fn native_histogram_jobs_prefer_protobuf() {
    let c = load(
        r#"
global:
  always_scrape_classic_histograms: true
scrape_configs:
  - job_name: classic
  - job_name: native
    scrape_native_histograms: true
    native_histogram_bucket_limit: 160
    native_histogram_min_bucket_factor: 1.1
  - job_name: own
    scrape_native_histograms: true
    always_scrape_classic_histograms: false
    scrape_protocols: [PrometheusText0.0.4]
"#,
    );
    let job = |n: &str| c.scrape_config(n).expect("job");
    assert_eq!(
        job("classic").scrape_protocols,
        ScrapeProtocol::DEFAULT.to_vec()
    );
    assert!(!job("classic").histograms.scrape_native_histograms);
    assert!(job("classic").histograms.always_scrape_classic_histograms);
    // `--enable-feature=created-timestamp-zero-ingestion` makes the default protobuf-first;
    // a list the job writes stays as written.
    assert_eq!(
        job("classic").protocols(true),
        ScrapeProtocol::DEFAULT_PROTO_FIRST.to_vec()
    );
    assert_eq!(
        job("classic").protocols(false),
        ScrapeProtocol::DEFAULT.to_vec()
    );
    assert_eq!(
        job("own").protocols(true),
        vec![ScrapeProtocol::PrometheusText0_0_4]
    );
    assert_eq!(
        job("native").scrape_protocols,
        ScrapeProtocol::DEFAULT_PROTO_FIRST.to_vec()
    );
    assert_eq!(
        job("native").histograms,
        crate::config::HistogramConfig {
            scrape_native_histograms: true,
            always_scrape_classic_histograms: true,
            convert_classic_histograms_to_nhcb: false,
            bucket_limit: Some(160),
            min_bucket_factor: Some(1.1),
        }
    );
    assert_eq!(
        job("own").scrape_protocols,
        vec![ScrapeProtocol::PrometheusText0_0_4]
    );
    assert!(!job("own").histograms.always_scrape_classic_histograms);
    let c = load(
        "global:
  scrape_protocols: [OpenMetricsText1.0.0]
  scrape_native_histograms: true
scrape_configs:
  - job_name: a
",
    );
    assert_eq!(
        c.scrape_configs[0].scrape_protocols,
        vec![ScrapeProtocol::OpenMetricsText1_0_0]
    );
    assert!(c.scrape_configs[0].histograms.scrape_native_histograms);
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let c = load(
        r#"
scrape_configs:
  - &base
    job_name: a
    scrape_interval: &i 30s
  - job_name: b
    scrape_interval: *i
  - <<: *base
    job_name: c
"#,
    );
    assert_eq!(c.scrape_configs[1].scrape_interval, Duration::from_secs(30));
    assert_eq!(c.scrape_configs[2].job_name, "c");
    assert_eq!(c.scrape_configs[2].scrape_interval, Duration::from_secs(30));
}

#[test]
fn read_error_names_the_file() {
    let e = Config::load_file(Path::new("/nonexistent/redline.yml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/redline.yml: cannot read config file:"),
        "{e}"
    );
}

#[test]
fn a_secret_in_the_wrong_place_is_not_echoed_by_the_error() {
    let e = Config::from_yaml_str(
        "scrape_configs:\n  - job_name: a\n    authorization: hunter2-token\n    static_configs: [{targets: ['x:1']}]\n",
        "redline.yml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "redline.yml:3:20: scrape_configs[0].authorization: invalid type: string, expected struct RawAuthorization"
    );
}

#[test]
fn storage_wal_settings() {
    let c = load("storage:\n  wal:\n    fsync: always\n    checkpoint_interval: 2m\n");
    let w = c.storage.wal.expect("durable");
    assert_eq!(w.fsync, crate::store::FsyncPolicy::Always);
    assert_eq!(w.checkpoint_interval, Duration::from_secs(120));
    let c = load("storage: {wal: {fsync: 250ms}}");
    assert_eq!(
        c.storage.wal.expect("durable").fsync,
        crate::store::FsyncPolicy::Interval(Duration::from_millis(250))
    );
    assert_eq!(load("storage: {wal: {enabled: false}}").storage.wal, None);
}
