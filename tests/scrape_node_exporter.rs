//! redline scrapes a real node_exporter, and a target serving a malformed body shows as down
//! with the parse error, as an SRE would check on the targets page.
//!
//! What redline stored from one scrape is compared with node_exporter's own `/metrics`,
//! fetched directly just before and just after that scrape and parsed by Python's
//! `prometheus_client` (tests/exposition_differential.py): the same label sets, the
//! sample count `scrape_samples_scraped` reports, and the same counter values.

mod common;

use common::{get_json, start_node_exporter, wait_for, FixtureServer};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier, SeriesSamples, Store};
use redline::testdir::TempDir;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A series' labels, `__name__` included.
type Key = BTreeMap<String, String>;

/// node_exporter's own `/metrics`, parsed by `prometheus_client`: each series' labels,
/// value and family type.
async fn node_exporter_metrics(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
) -> Vec<(Key, f64, String)> {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        // Prometheus' default Accept header, as redline sends it.
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        )
        .send()
        .await
        .expect("GET node_exporter /metrics");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let format = if content_type.starts_with("application/openmetrics-text") {
        "openmetrics"
    } else {
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        "text"
    };
    let body = resp.text().await.expect("node_exporter body");
    let file = dir.join("node_exporter.metrics");
    std::fs::write(&file, body).expect("write node_exporter body");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exposition_differential.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .arg(format)
        .output()
        .expect("python3 runs (install Python 3 and `python3 -m pip install prometheus-client`)");
    assert!(
        out.status.success(),
        "prometheus_client failed on node_exporter's /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("python output is UTF-8")
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("python output is JSON");
            // A label with an empty value is no label, in Prometheus' data model.
            let mut key: Key = v["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_string(),
                        p[1].as_str().unwrap().to_string(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect();
            key.insert(
                "__name__".into(),
                v["name"].as_str().expect("name").to_string(),
            );
            let value = match v["value"].as_str().expect("value") {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().expect("python value"),
            };
            (key, value, v["type"].as_str().expect("type").to_string())
        })
        .collect()
}

/// Series whose value never decreases: counters, and the buckets, counts and sums of
/// histograms and summaries (node_exporter observes no negative values).
fn monotonic(key: &Key, family_type: &str) -> bool {
    let name = &key["__name__"];
    match family_type {
        "counter" => true,
        "histogram" => true,
        "summary" => name.ends_with("_count") || name.ends_with("_sum"),
        _ => false,
    }
}

const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

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
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), state_dir.to_path_buf()),
    )
    .await
    .expect("service starts");
    let store = service.store.clone();

    let now = || redline::timefmt::unix_ms(std::time::SystemTime::now());
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

    // One redline scrape between two direct reads of node_exporter's /metrics.
    let before = node_exporter_metrics(node_addr, &state_dir).await;
    let read_before = now();
    let t = wait_for(
        "a redline scrape after the direct read",
        Duration::from_secs(20),
        || {
            let up = store.select(
                &[
                    Matcher::equal("__name__", "up"),
                    Matcher::equal("job", "node"),
                ],
                read_before,
                now(),
            );
            up.first()
                .and_then(|s| s.samples.iter().map(|s| s.t).find(|t| *t > read_before))
        },
    )
    .await;
    let after = node_exporter_metrics(node_addr, &state_dir).await;
    let scraped: BTreeMap<Key, f64> = store
        .select(&[Matcher::equal("job", "node")], t, t)
        .into_iter()
        .filter_map(|s| {
            let v = s.samples.iter().find(|x| x.t == t)?.v;
            let mut key: Key = s
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            assert_eq!(key.remove("job").as_deref(), Some("node"));
            assert_eq!(
                key.remove("instance"),
                Some(node_addr.to_string()),
                "{key:?}"
            );
            (!redline::store::is_stale_nan(v) && !SYNTHETIC.contains(&key["__name__"].as_str()))
                .then_some((key, v))
        })
        .collect();
    let keys =
        |m: &[(Key, f64, String)]| m.iter().map(|(k, _, _)| k.clone()).collect::<BTreeSet<_>>();
    let (before_keys, after_keys) = (keys(&before), keys(&after));
    assert_eq!(
        before_keys.len(),
        before.len(),
        "node_exporter repeats no series"
    );
    let in_both: BTreeSet<&Key> = before_keys.intersection(&after_keys).collect();
    let in_either: BTreeSet<&Key> = before_keys.union(&after_keys).collect();
    let missing: Vec<&&Key> = in_both
        .iter()
        .filter(|k| !scraped.contains_key(**k))
        .collect();
    assert!(
        missing.is_empty(),
        "node_exporter served these before and after, redline stored none: {missing:?}"
    );
    let invented: Vec<&Key> = scraped.keys().filter(|k| !in_either.contains(k)).collect();
    assert!(
        invented.is_empty(),
        "redline stored series node_exporter did not serve: {invented:?}"
    );
    assert!(
        in_both.len() > 100,
        "node_exporter served {} series",
        in_both.len()
    );
    let samples_scraped = store
        .select(
            &[
                Matcher::equal("__name__", "scrape_samples_scraped"),
                Matcher::equal("job", "node"),
            ],
            t,
            t,
        )
        .first()
        .and_then(|s| s.samples.iter().find(|x| x.t == t).map(|x| x.v))
        .expect("scrape_samples_scraped of the scrape");
    assert_eq!(
        samples_scraped,
        scraped.len() as f64,
        "scrape_samples_scraped counts what was stored"
    );
    // Counters equal before and after had that value in between.
    let after_values: BTreeMap<&Key, f64> = after.iter().map(|(k, v, _)| (k, *v)).collect();
    let mut compared = 0;
    for (key, v, family_type) in &before {
        if monotonic(key, family_type) && after_values.get(key) == Some(v) {
            assert_eq!(scraped.get(key), Some(v), "{key:?}");
            compared += 1;
        }
    }
    assert!(
        compared > 50,
        "only {compared} unchanging counters compared"
    );

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

fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("test-{name}"))
}

/// The `up` series of `job`, once the store has it.
async fn wait_for_up(store: &Store, job: &str) -> Vec<SeriesSamples> {
    let now = || redline::timefmt::unix_ms(std::time::SystemTime::now());
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
