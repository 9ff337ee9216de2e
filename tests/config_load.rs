//! A realistic prometheus.yml loads unchanged, and its jobs turn into the targets Prometheus
//! would scrape: config → discovery (static and file_sd) → relabeling → target labels.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redline::config::discovery::TargetGroup;
use redline::config::{
    check_config_file, Auth, Config, Scheme, SecretSource, TextSource, TlsVersion,
};
use redline::relabel;
use redline::scrape::discovery::file::load_file_sd;
use redline::scrape::target_labels::{populate_target, PopulatedTarget};
use redline::store::Labels;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

fn targets(cfg: &redline::config::ScrapeConfig, groups: &[TargetGroup]) -> Vec<PopulatedTarget> {
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            if let Ok(Some(p)) = populate_target(cfg, &g.labels, t) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn realistic_prometheus_yml_loads() {
    let cfg = Config::load_file(&data("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let dir = data("");

    assert_eq!(cfg.global.scrape_interval, Duration::from_secs(30));
    assert_eq!(cfg.global.external_labels.get("cluster"), Some("prod-eu-1"));
    assert_eq!(cfg.global.external_labels.get("replica"), Some("0"));
    assert_eq!(cfg.storage.retention, Duration::from_secs(12 * 3600));
    assert_eq!(
        cfg.rule_files,
        vec![
            dir.join("rules/*.yml").to_string_lossy().into_owned(),
            "/etc/redline/slo-rules.yaml".to_string()
        ]
    );
    let names: Vec<&str> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "prometheus",
            "node-exporter",
            "kubelet",
            "federate",
            "blackbox-http"
        ]
    );

    let kubelet = cfg.scrape_config("kubelet").expect("kubelet job");
    assert_eq!(kubelet.scheme, Scheme::Https);
    assert_eq!(kubelet.scrape_interval, Duration::from_secs(15));
    assert!(kubelet.honor_labels);
    assert!(!kubelet.honor_timestamps);
    assert_eq!(
        kubelet.limits.body_size_limit,
        Some(50 * 1024 * 1024),
        "50MB is 50 MiB in Prometheus"
    );
    assert_eq!(
        kubelet.http.tls.ca,
        Some(TextSource::File(
            "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt".into()
        ))
    );
    assert_eq!(kubelet.http.tls.server_name.as_deref(), Some("kubernetes"));
    assert_eq!(kubelet.http.tls.min_version, Some(TlsVersion::Tls12));
    match &kubelet.http.auth {
        Some(Auth::Authorization(a)) => {
            assert_eq!(a.kind, "Bearer");
            assert_eq!(
                a.credentials,
                Some(SecretSource::File(
                    "/var/run/secrets/kubernetes.io/serviceaccount/token".into()
                ))
            );
        }
        other => panic!("bearer token expected, got {other:?}"),
    }

    let federate = cfg.scrape_config("federate").expect("federate job");
    match &federate.http.auth {
        Some(Auth::Basic(b)) => {
            assert_eq!(b.username, TextSource::Inline("redline".into()));
            assert_eq!(
                b.password,
                Some(SecretSource::File(dir.join("secrets/federate-password")))
            );
        }
        other => panic!("basic auth expected, got {other:?}"),
    }
    assert_eq!(federate.limits.label_limit, Some(64));
    assert_eq!(federate.limits.sample_limit, Some(200_000));
    let t = targets(federate, &federate.static_configs);
    assert_eq!(
        t[0].url,
        "http://prometheus-old.monitoring.svc:9090/federate?match%5B%5D=%7Bjob%3D%22api%22%7D&match%5B%5D=%7B__name__%3D~%22slo%3A.%2A%22%7D"
    );

    let debug = format!("{cfg:?}");
    assert!(!debug.contains("s3cr3t-token"), "secret leaked: {debug}");
}

#[test]
fn kubelet_static_targets_are_relabeled() {
    let cfg = Config::load_file(&data("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let kubelet = cfg.scrape_config("kubelet").expect("kubelet job");
    let t = targets(kubelet, &kubelet.static_configs);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].url, "https://10.0.1.10:10250/metrics/cadvisor");
    assert_eq!(
        t[0].labels,
        Labels::from_pairs([
            ("instance", "10.0.1.10:10250"),
            ("job", "kubelet"),
            ("node", "ip-10.0.1.10"),
            ("node_pool", "general"),
        ])
    );

    // metric_relabel_configs: unnamed-image container series are dropped, pod lowercased.
    let rules = &kubelet.metric_relabel_configs;
    let pause = Labels::from_pairs([("__name__", "container_cpu_usage_seconds_total")]);
    assert_eq!(relabel::process(&pause, rules), None);
    let series = Labels::from_pairs([
        ("__name__", "container_cpu_usage_seconds_total"),
        ("image", "nginx"),
        ("pod", "Web-0"),
        ("namespace", "shop"),
    ]);
    let out = relabel::process(&series, rules).expect("kept");
    assert_eq!(out.get("pod_lower"), Some("web-0"));
}

#[test]
fn file_sd_targets_flow_through_relabeling() {
    let cfg = Config::load_file(&data("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let node = cfg.scrape_config("node-exporter").expect("node job");
    assert_eq!(
        node.file_sd_configs[0].refresh_interval,
        Duration::from_secs(60)
    );
    let (groups, errors) = load_file_sd(&node.file_sd_configs[0]);
    assert!(errors.is_empty(), "{errors:?}");
    let t = targets(node, &groups);
    assert_eq!(t.len(), 3);
    assert_eq!(
        t[2].labels,
        Labels::from_pairs([
            ("env", "prod"),
            ("instance", "10.0.2.3:9100"),
            ("job", "node-exporter"),
            ("rack", "r2"),
            ("sd_file", "nodes"),
        ])
    );
    assert!(t[2].discovered_labels.get("__meta_filepath").is_some());
}

#[test]
fn blackbox_probe_targets() {
    let cfg = Config::load_file(&data("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let bb = cfg.scrape_config("blackbox-http").expect("blackbox job");
    let t = targets(bb, &bb.static_configs);
    assert_eq!(
        t[1].url,
        "http://blackbox-exporter:9115/probe?module=http_2xx&target=https%3A%2F%2Fapi.example.com%2Fhealthz"
    );
    assert_eq!(
        t[1].labels.get("instance"),
        Some("https://api.example.com/healthz")
    );
}

#[test]
fn unsupported_discovery_is_a_clear_error() {
    let path = data("unsupported.yml");
    let e = Config::load_file(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6:7: scrape_configs[0].ec2_sd_configs: redline does not support this setting yet",
            path.display()
        )
    );
}

#[test]
fn check_config_summarises() {
    let s = check_config_file(&data("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.scrape_jobs, 5);
    assert_eq!(s.static_targets, 6);
    assert_eq!(s.file_sd_configs, 1);
    assert_eq!(s.rule_files, 2);
}
