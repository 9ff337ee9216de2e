//! `alerting:` loads as Prometheus 3 reads it; what it rejects names the field.

use std::time::Duration;

use crate::config::{Auth, Config, ConfigError, Scheme};

fn load(text: &str) -> Config {
    Config::from_yaml_str(text, "prometheus.yml").unwrap_or_else(|e| panic!("{e}"))
}

fn assert_error(text: &str, field: &str, message: &str) {
    let e: ConfigError = match Config::from_yaml_str(text, "prometheus.yml") {
        Ok(_) => panic!("config must be rejected:\n{text}"),
        Err(e) => e,
    };
    assert_eq!(e.field_path(), Some(field), "{e}");
    assert_eq!(e.message(), message, "{e}");
    assert!(e.position().is_some(), "{e}");
}

/// Prometheus' `documentation/examples/prometheus.yml` (commit 0ba20fca, Apache-2.0), the
/// file most setups start from, unchanged.
const UPSTREAM_EXAMPLE: &str = r#"# my global config
global:
  scrape_interval: 15s # Set the scrape interval to every 15 seconds. Default is every 1 minute.
  evaluation_interval: 15s # Evaluate rules every 15 seconds. The default is every 1 minute.
  # scrape_timeout is set to the global default (10s).

# Alertmanager configuration
alerting:
  alertmanagers:
    - static_configs:
        - targets:
          # - alertmanager:9093

# Load rules once and periodically evaluate them according to the global 'evaluation_interval'.
rule_files:
  # - "first_rules.yml"
  # - "second_rules.yml"

# A scrape configuration containing exactly one endpoint to scrape:
# Here it's Prometheus itself.
scrape_configs:
  # The job name is added as a label `job=<job_name>` to any timeseries scraped from this config.
  - job_name: "prometheus"

    # metrics_path defaults to '/metrics'
    # scheme defaults to 'http'.

    static_configs:
      - targets: ["localhost:9090"]
        # The label name is added as a label `label_name=<label_name>` to any timeseries scraped from this config.
        labels: 
          label_name: 'label value'
"#;

#[test]
fn the_upstream_example_loads_with_prometheus_defaults() {
    let c = load(UPSTREAM_EXAMPLE);
    assert!(c.alerting.alert_relabel_configs.is_empty());
    assert_eq!(c.alerting.alertmanagers.len(), 1);
    let am = &c.alerting.alertmanagers[0];
    // One static group with no targets (the example's target is commented out).
    assert_eq!(am.static_configs.len(), 1);
    assert!(am.static_configs[0].targets.is_empty());
    // Prometheus' DefaultAlertmanagerConfig: http, 10s, API v2.
    assert_eq!(am.scheme, Scheme::Http);
    assert_eq!(am.timeout, Duration::from_secs(10));
    assert_eq!(am.alerts_path(), "/api/v2/alerts");
    assert!(am.http.auth.is_none());
}

#[test]
fn every_field_an_alertmanagers_entry_takes() {
    let c = load(
        r#"
alerting:
  alert_relabel_configs:
    - {action: labeldrop, regex: replica}
  alertmanagers:
    - scheme: https
      path_prefix: /am/
      timeout: 3s
      api_version: v2
      basic_auth: {username: prom, password: hunter2}
      tls_config: {insecure_skip_verify: true}
      static_configs:
        - targets: ['127.0.0.1:9093', '127.0.0.1:9094']
          labels: {dc: eu}
      file_sd_configs:
        - files: [ams/*.json]
          refresh_interval: 1m
      kubernetes_sd_configs:
        - role: pod
      relabel_configs:
        - source_labels: [__meta_kubernetes_pod_label_app]
          regex: alertmanager
          action: keep
      alert_relabel_configs:
        - {target_label: via, replacement: first}
    - static_configs: [{targets: ['127.0.0.1:9095']}]
"#,
    );
    assert_eq!(c.alerting.alert_relabel_configs.len(), 1);
    let [a, b] = &c.alerting.alertmanagers[..] else {
        panic!("two alertmanager sets: {:?}", c.alerting.alertmanagers);
    };
    assert_eq!(a.scheme, Scheme::Https);
    assert_eq!(a.timeout, Duration::from_secs(3));
    // Go: path.Join("/", "/am/", "/api/v2/alerts") = "/am/api/v2/alerts".
    assert_eq!(a.alerts_path(), "/am/api/v2/alerts");
    assert!(matches!(a.http.auth, Some(Auth::Basic(_))));
    assert!(a.http.tls.insecure_skip_verify);
    assert_eq!(a.static_configs[0].targets.len(), 2);
    assert_eq!(a.static_configs[0].labels.get("dc"), Some("eu"));
    assert_eq!(a.file_sd_configs.len(), 1);
    assert_eq!(
        a.file_sd_configs[0].refresh_interval,
        Duration::from_secs(60)
    );
    assert_eq!(a.kubernetes_sd_configs.len(), 1);
    assert_eq!(a.relabel_configs.len(), 1);
    assert_eq!(a.alert_relabel_configs.len(), 1);
    assert_eq!(b.scheme, Scheme::Http);
    assert!(b.alert_relabel_configs.is_empty());
}

#[test]
fn alerts_path_joins_the_prefix_as_go_path_join() {
    // Go's path.Join("/", prefix, "/api/v2/alerts"), by hand: slashes collapse, `.` and
    // `..` are resolved, a missing leading slash is added.
    for (prefix, want) in [
        ("", "/api/v2/alerts"),
        ("am", "/am/api/v2/alerts"),
        ("/am", "/am/api/v2/alerts"),
        ("//a//b/", "/a/b/api/v2/alerts"),
        ("/a/../b/./", "/b/api/v2/alerts"),
    ] {
        let c = load(&format!(
            "alerting:\n  alertmanagers:\n    - path_prefix: '{prefix}'\n"
        ));
        assert_eq!(
            c.alerting.alertmanagers[0].alerts_path(),
            want,
            "{prefix:?}"
        );
    }
}

#[test]
fn api_version_v1_is_rejected_as_prometheus_3_does() {
    // Prometheus 3's message (config.AlertmanagerAPIVersion.UnmarshalYAML).
    assert_error(
        "alerting:\n  alertmanagers:\n    - api_version: v1\n      static_configs: [{targets: ['am:9093']}]\n",
        "alerting.alertmanagers[0].api_version",
        "expected Alertmanager api version to be one of [v2] but got v1",
    );
}

#[test]
fn bad_entries_name_their_field() {
    assert_error(
        "alerting:\n  alertmanagers:\n    - scheme: ftp\n",
        "alerting.alertmanagers[0].scheme",
        "unsupported scheme \"ftp\" (expected \"http\" or \"https\")",
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - static_config: [{targets: ['am:9093']}]\n",
        "alerting.alertmanagers[0].static_config",
        "unknown field `static_config` (did you mean `static_configs`?)",
    );
    assert_error(
        "alerting:\n  alertmanager: []\n",
        "alerting.alertmanager",
        "unknown field `alertmanager` (did you mean `alertmanagers`?)",
    );
    // Prometheus' checkStaticTargets: a URL is not an address unless relabeling moves it.
    assert_error(
        "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['http://am:9093']}]\n",
        "alerting.alertmanagers[0].static_configs[0].targets[0]",
        "\"http://am:9093\" is not a valid hostname",
    );
    assert_error(
        "alerting:\n  alert_relabel_configs:\n    -\n  alertmanagers: []\n",
        "alerting.alert_relabel_configs[0]",
        "empty or null alert relabeling rule",
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - alert_relabel_configs: [{regex: '('}]\n",
        "alerting.alertmanagers[0].alert_relabel_configs[0].regex",
        r#"invalid regex "(": unclosed group"#,
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - consul_sd_configs: [{server: consul:8500}]\n",
        "alerting.alertmanagers[0].consul_sd_configs",
        "redline does not support this setting yet",
    );
    // http_sd and dns_sd entries are validated as in a scrape job.
    assert_error(
        "alerting:\n  alertmanagers:\n    - dns_sd_configs: [{names: [am.example], type: A}]\n",
        "alerting.alertmanagers[0].dns_sd_configs[0].port",
        "a port is required in DNS-SD configs for all record types except SRV",
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - http_sd_configs: [{url: 'ftp://sd.example/targets'}]\n",
        "alerting.alertmanagers[0].http_sd_configs[0].url",
        "URL scheme must be 'http' or 'https'",
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - bearer_token: a\n      bearer_token_file: b\n",
        "alerting.alertmanagers[0].bearer_token_file",
        "at most one of bearer_token & bearer_token_file must be configured",
    );
}

#[test]
fn a_url_target_is_accepted_when_relabeling_follows() {
    let c = load(
        "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['http://am:9093']}]\n      relabel_configs: [{target_label: __address__, replacement: 'am:9093'}]\n",
    );
    assert_eq!(c.alerting.alertmanagers[0].relabel_configs.len(), 1);
}
