//! The `cluster` section: defaults, client-go's timing rules, and errors with field paths.

use std::time::Duration;

use crate::config::{Config, ConfigError};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(text, "redline.yaml")
}

fn error(text: &str) -> (String, String) {
    match load(text) {
        Ok(_) => panic!("config must be rejected:\n{text}"),
        Err(e) => (e.field_path().unwrap_or_default().to_string(), e.message()),
    }
}

const LEASE: &str = "  lease: {namespace: monitoring, name: redline-notifications}\n";

#[test]
fn without_the_section_redline_runs_alone() {
    assert_eq!(load("{}").unwrap().cluster, None);
}

#[test]
fn defaults_are_client_go_recommended_values() {
    let text =
        format!("cluster:\n  replica: redline-0\n  peers: ['http://redline-1.h:9090/']\n{LEASE}");
    let c = load(&text).unwrap().cluster.unwrap();
    assert_eq!(c.replica, "redline-0");
    assert_eq!(c.peers, vec!["http://redline-1.h:9090".to_string()]);
    assert_eq!(c.peer_secret_file, None);
    assert_eq!(c.replication_interval, Duration::from_millis(500));
    assert_eq!(c.lease.namespace, "monitoring");
    assert_eq!(c.lease.name, "redline-notifications");
    assert_eq!(c.lease.duration, Duration::from_secs(15));
    assert_eq!(c.lease.renew_deadline, Duration::from_secs(10));
    assert_eq!(c.lease.retry_period, Duration::from_secs(2));
    assert_eq!(c.lease.kubeconfig_file, None);
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("cluster: {lease: {namespace: m, name: n}}\n", "cluster.replica", "expected this replica's unique name"),
        ("cluster: {replica: a, peers: ['redline-1:9090'], lease: {namespace: m, name: n}}\n", "cluster.peers[0]", "is not a valid URL"),
        ("cluster: {replica: a}\n", "cluster.lease", "expected the Lease"),
        ("cluster: {replica: a, lease: {name: n}}\n", "cluster.lease.namespace", "expected a Kubernetes object name"),
        ("cluster: {replica: a, lease: {namespace: m, name: Big_Name}}\n", "cluster.lease.name", "is not a Kubernetes object name"),
        ("cluster: {replica: a, lease: {namespace: m, name: n, duration: 1500ms, renew_deadline: 1s, retry_period: 100ms}}\n", "cluster.lease.duration", "expected whole seconds"),
        ("cluster: {replica: a, lease: {namespace: m, name: n, duration: 10s}}\n", "cluster.lease.renew_deadline", "must be less than duration (10s)"),
        ("cluster: {replica: a, lease: {namespace: m, name: n, renew_deadline: 2s}}\n", "cluster.lease.retry_period", "renew_deadline must exceed 1.2 x retry_period"),
        ("cluster: {replica: a, lease: {namespace: m, name: n, renewDeadline: 2s}}\n", "cluster.lease", "unknown field `renewDeadline`"),
        ("cluster: {replica: a, replication_interval: 0s, lease: {namespace: m, name: n}}\n", "cluster.replication_interval", "greater than 0"),
        ("web: {bearer_token: t}\ncluster: {replica: a, lease: {namespace: m, name: n}}\n", "cluster.peer_secret_file", "required when web: sets credentials"),
    ];
    for (text, field, message) in cases {
        let (f, m) = error(text);
        assert!(
            f.starts_with(field),
            "{text}: field {f}, expected {field} ({m})"
        );
        assert!(
            m.contains(message),
            "{text}: message {m:?}, expected {message:?}"
        );
    }
}

#[test]
fn short_test_timings_are_accepted() {
    // 2 s lease, renewed within 1.5 s, tried every 0.5 s: 1.5 > 1.2 x 0.5.
    let c = load("cluster: {replica: a, lease: {namespace: m, name: n, duration: 2s, renew_deadline: 1500ms, retry_period: 500ms, kubeconfig_file: /k}}\n")
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.lease.duration, Duration::from_secs(2));
    assert_eq!(c.lease.renew_deadline, Duration::from_millis(1500));
    assert_eq!(c.lease.kubeconfig_file, Some("/k".into()));
}
