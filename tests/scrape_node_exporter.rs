//! redline scrapes a real node_exporter, and a target serving a malformed body shows as down
//! with the parse error, as an SRE would check on the targets page.

mod common;

use common::{get_json, start_node_exporter, wait_for, FixtureServer};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier, SeriesSamples, Store};
use std::time::Duration;

const MALFORMED: &str = "# TYPE ok_metric gauge\nok_metric 1\nbroken_metric{a=\"1\" 2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_is_scraped_and_malformed_target_is_down() {
    let (_node, node_addr) = start_node_exporter();
    let broken = FixtureServer::start(MALFORMED, "text/plain; version=0.0.4").await;
    // node_exporter needs a moment to listen.
    wait_for("node_exporter to listen", Duration::from_secs(15), || {
        std::net::TcpStream::connect(node_addr).ok()
    })
    .await;

    let yaml = format!(
        "
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['{node_addr}']
  - job_name: broken
    static_configs:
      - targets: ['{}']
",
        broken.addr
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yml").expect("config parses");
    let state_dir = tempdir("node-exporter");
    let service = Service::start(
        cfg,
        ServiceOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir,
            config_path: None,
            external_url: None,
            playbooks_dir: None,
            query: Default::default(),
        },
    )
    .await
    .expect("service starts");
    let store = service.store.clone();

    let now = || redline::scrape::scrape_loop::unix_ms(std::time::SystemTime::now());
    let cpu = wait_for(
        "node_cpu_seconds_total in the store",
        Duration::from_secs(20),
        || {
            let found = store.select(
                &[
                    Matcher::equal("__name__", "node_cpu_seconds_total"),
                    Matcher::equal("job", "node"),
                ],
                0,
                now(),
            );
            (!found.is_empty()).then_some(found)
        },
    )
    .await;
    assert!(cpu
        .iter()
        .all(|s| s.labels.get("instance") == Some(node_addr.to_string().as_str())));
    assert!(cpu.iter().any(|s| s.labels.get("mode") == Some("idle")));

    // A commit is not atomic to readers (Prometheus' is not either): the scrape's `up`
    // may land a moment after its samples.
    let up_node = wait_for_up(&store, "node").await;
    assert_eq!(up_node.len(), 1, "one up series for the node job");
    assert_eq!(up_node[0].samples.last().map(|s| s.v), Some(1.0));

    let up_broken = wait_for_up(&store, "broken").await;
    assert_eq!(up_broken[0].samples.last().map(|s| s.v), Some(0.0));
    // All or nothing: the valid line before the malformed one was not ingested.
    let partial = store.select(&[Matcher::equal("__name__", "ok_metric")], 0, now());
    assert!(
        partial.is_empty(),
        "a failed scrape must not be half-ingested: {partial:?}"
    );
    let synthetic = store.select(
        &[
            Matcher::equal("__name__", "scrape_samples_scraped"),
            Matcher::equal("job", "node"),
        ],
        0,
        now(),
    );
    assert!(synthetic[0].samples.last().map(|s| s.v).unwrap_or(0.0) > 100.0);

    let targets = get_json(&format!("http://{}/api/v1/targets", service.local_addr)).await;
    assert_eq!(targets["status"], "success");
    let active = targets["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets");
    assert_eq!(active.len(), 2);
    let by_job = |job: &str| {
        active
            .iter()
            .find(|t| t["labels"]["job"] == job)
            .unwrap_or_else(|| panic!("no target for job {job}: {targets}"))
    };
    let node = by_job("node");
    assert_eq!(node["health"], "up");
    assert_eq!(node["lastError"], "");
    assert_eq!(node["scrapeUrl"], format!("http://{node_addr}/metrics"));
    assert_eq!(
        node["discoveredLabels"]["__address__"],
        node_addr.to_string()
    );
    assert_eq!(node["scrapeInterval"], "1s");
    let broken_t = by_job("broken");
    assert_eq!(broken_t["health"], "down");
    let err = broken_t["lastError"].as_str().unwrap_or_default();
    assert!(err.contains("line 3"), "the error names the line: {err}");
    assert!(err.contains("column"), "the error names the column: {err}");

    service.shutdown().await;
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("redline-test-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// The `up` series of `job`, once the store has it.
async fn wait_for_up(store: &Store, job: &str) -> Vec<SeriesSamples> {
    let now = || redline::scrape::scrape_loop::unix_ms(std::time::SystemTime::now());
    wait_for(
        &format!("up for the {job} job"),
        Duration::from_secs(10),
        || {
            let found = store.select(
                &[Matcher::equal("__name__", "up"), Matcher::equal("job", job)],
                0,
                now(),
            );
            (!found.is_empty()).then_some(found)
        },
    )
    .await
}
