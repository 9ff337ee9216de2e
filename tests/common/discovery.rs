//! Helpers of the discovery tests (`http_sd`, `dns_sd`): an in-process service started with
//! discovery options, its discovered targets as `/api/v1/targets` shows them, and the labels
//! the tests' scrape jobs add to every target.

use redline::testdir::TempDir;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::{Service, ServiceOptions};

pub type TargetLabels = BTreeMap<String, String>;

pub fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("sd-{name}"))
}

/// One scrape job per discovery entry; every scrape goes to a closed loopback port and
/// `instance` keeps the discovered address.
pub fn job(name: &str, sd: &str, sink: SocketAddr) -> String {
    format!(
        "  - job_name: {name}\n    scrape_interval: 1h\n    {sd}\n    relabel_configs:\n      \
         - source_labels: [__address__]\n        target_label: instance\n      \
         - target_label: __address__\n        replacement: '{sink}'\n"
    )
}

pub async fn start(yaml: &str, name: &str, opts: DiscoveryOptions) -> super::ServiceInDir {
    let cfg = Config::from_yaml_str(yaml, "test.yml").expect("config parses");
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().expect("addr"), dir);
    super::ServiceInDir::start(cfg, &format!("sd-{name}"), at, opts).await
}

pub async fn discovered(svc: &Service, job: &str) -> Vec<TargetLabels> {
    let v = super::get_json(&format!("http://{}/api/v1/targets", svc.local_addr)).await;
    let mut out: Vec<TargetLabels> = v["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets")
        .iter()
        .filter(|t| t["scrapePool"] == job)
        .map(|t| serde_json::from_value(t["discoveredLabels"].clone()).expect("labels"))
        .collect();
    out.sort_by(|a, b| a["__address__"].cmp(&b["__address__"]));
    out
}

pub async fn wait_targets(
    svc: &Service,
    job: &str,
    what: &str,
    check: impl Fn(&[TargetLabels]) -> bool,
) -> Vec<TargetLabels> {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = discovered(svc, job).await;
        if check(&t) {
            return t;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {job}: {what}; last: {t:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A counter's value on redline's `/metrics`.
pub async fn counter(svc: &Service, name: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", svc.local_addr))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not on /metrics:\n{text}"))
}

pub fn labels(pairs: &[(&str, &str)], job: &str) -> TargetLabels {
    let mut t: TargetLabels = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    super::hourly_job_labels(&mut t, job);
    t
}

pub fn addresses(t: &[TargetLabels]) -> Vec<&str> {
    t.iter().map(|l| l["__address__"].as_str()).collect()
}
