//! Native histograms from scrape to alert, with the real `redline run` binary.
//!
//! A loopback target instrumented with a real client library (the Rust `prometheus-client`
//! crate, native histogram of schema 3, served in Prometheus' protobuf format) is scraped by
//! redline; a `histogram_quantile` alert over the native histogram fires; the query API answers
//! an instant `histogram_quantile` and a range query whose `histograms` field has the shape
//! Grafana's heatmap panel reads (`[t, {count, sum, buckets: [[boundary, lower, upper,
//! count], …]}]`).
//!
//! A latency SLO over the same histogram at 300 ms (no bucket boundary there) counts one
//! request in ten as bad.
//!
//! The target observes 9 requests at 50 ms and 1 at 500 ms every 100 ms. Expected values are
//! worked out from schema 3's boundaries (each a factor 2^(1/8) above the last): 0.5 = 2^-1 is
//! a boundary, so the 500 ms requests fall in the bucket (2^(-9/8), 2^-1] = (0.4585, 0.5], and
//! the 0.95 quantile (the 95th of 100 requests, inside the last 10) is interpolated inside
//! that bucket.

mod common;

use common::{free_port, ProcessGuard};
use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use prometheus_client::registry::Registry;
use redline::testdir::TempDir;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Serves `registry` in the protobuf format at `/metrics`, encoding it anew per scrape.
async fn serve(registry: Arc<Mutex<Registry>>) -> std::net::SocketAddr {
    use axum::{http::header, response::IntoResponse, routing::get, Router};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind target");
    let addr = listener.local_addr().expect("target address");
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let body = {
                    let r = registry.lock().expect("registry");
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&r)
                        .expect("protobuf encoding")
                };
                ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    match client.get(url).send().await {
        Ok(r) => serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn enc(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// Polls `check` until it answers, failing with `what` after [`DEADLINE`].
async fn wait<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_native_histogram_flows_to_an_alert_and_a_heatmap_query() {
    redline::install_crypto_provider();
    let histogram = Histogram::new_native(NativeHistogramConfig::with_schema(3));
    let mut registry = Registry::default();
    registry.register("rpc_duration_seconds", "RPC latency", histogram.clone());
    let registry = Arc::new(Mutex::new(registry));
    let target = serve(registry.clone()).await;
    let observer = tokio::spawn(async move {
        loop {
            {
                // Under the registry's lock, so a scrape sees whole batches of ten.
                let _whole = registry.lock().expect("registry");
                for _ in 0..9 {
                    histogram.observe(0.05);
                }
                histogram.observe(0.5);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let dir = TempDir::new("native-histograms-e2e");
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: latency
    interval: 1s
    rules:
      - alert: RpcLatencyHigh
        expr: histogram_quantile(0.95, sum(rate(rpc_duration_seconds[5s]))) > 0.25
        labels:
          severity: page
"#,
    )
    .expect("write rules");
    // A latency SLO at 300 ms, a threshold between the histogram's buckets.
    std::fs::write(
        dir.join("slo.yml"),
        r#"version: redline/v1
service: rpc
owner: team-rpc
slos:
  - name: latency
    objective: 95
    window: {rolling: 30d}
    sli:
      latency:
        metric: rpc_duration_seconds
        selector: '{job="rpc"}'
        threshold: 0.3
        native: true
"#,
    )
    .expect("write slo");
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            r#"global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
  evaluation_interval: 1s
rule_files: [rules.yml]
slo_files: [slo.yml]
slo:
  evaluation_interval: 1s
  ledger_step: 1s
scrape_configs:
  - job_name: rpc
    scrape_native_histograms: true
    static_configs:
      - targets: ['{target}']
"#
        ),
    )
    .expect("write config");
    let port = free_port();
    let _redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .spawn()
            .expect("start redline run"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // The scrape stores the native histogram.
    let scraped = wait("the native histogram to be scraped", || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = get_json(
                &client,
                &format!("{base}/api/v1/query?query=rpc_duration_seconds"),
            )
            .await;
            let r = &body["data"]["result"][0];
            if r.get("histogram").is_some() {
                return Some(r.clone());
            }
            let targets = get_json(&client, &format!("{base}/api/v1/targets")).await;
            eprintln!("not yet: {body}\ntargets: {targets}");
            None
        }
    })
    .await;
    assert_eq!(scraped["metric"]["job"], "rpc", "{scraped}");

    // The alert fires on the native histogram's 0.95 quantile.
    let alert = wait("RpcLatencyHigh to fire", || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = get_json(&client, &format!("{base}/api/v1/alerts")).await;
            body["data"]["alerts"]
                .as_array()?
                .iter()
                .find(|a| a["labels"]["alertname"] == "RpcLatencyHigh" && a["state"] == "firing")
                .cloned()
        }
    })
    .await;
    assert_eq!(alert["labels"]["severity"], "page", "{alert}");

    // The quantile itself: inside the bucket (2^(-9/8), 2^-1].
    let q = "histogram_quantile(0.95, sum(rate(rpc_duration_seconds[5s])))";
    let v: f64 = {
        let body = get_json(&client, &format!("{base}/api/v1/query?query={}", enc(q))).await;
        body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no quantile: {body}"))
    };
    let lower = 2f64.powf(-9.0 / 8.0);
    assert!(v > lower && v <= 0.5, "quantile {v} outside ({lower}, 0.5]");

    // A range query as Grafana's heatmap sends it: `histograms` with every bucket.
    let now = redline::timefmt::now_ms() as f64 / 1000.0;
    let url = format!(
        "{base}/api/v1/query_range?query={}&start={}&end={}&step=1",
        enc("rpc_duration_seconds"),
        now - 5.0,
        now
    );
    let body = get_json(&client, &url).await;
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "matrix", "{body}");
    let series = &body["data"]["result"][0];
    assert_eq!(series["metric"]["job"], "rpc", "{body}");
    assert!(series.get("values").is_none(), "{body}");
    let points = series["histograms"]
        .as_array()
        .unwrap_or_else(|| panic!("no histograms: {body}"));
    assert!(!points.is_empty(), "{body}");
    let (t, h) = (&points[0][0], &points[0][1]);
    assert!(t.is_number(), "{body}");
    let count: f64 = h["count"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("count");
    let sum: f64 = h["sum"].as_str().and_then(|s| s.parse().ok()).expect("sum");
    // Every observation is 0.05 or 0.5, nine of the first per one of the second.
    assert!(count >= 10.0 && count % 10.0 == 0.0, "{h}");
    assert!(
        (sum - count / 10.0 * (9.0 * 0.05 + 0.5)).abs() < 1e-9 * count,
        "{h}"
    );
    let buckets = h["buckets"].as_array().expect("buckets");
    let find = |x: f64| {
        buckets
            .iter()
            .find(|b| {
                let lo: f64 = b[1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                let hi: f64 = b[2]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                lo < x && x <= hi
            })
            .unwrap_or_else(|| panic!("no bucket holds {x}: {h}"))
    };
    let slow = find(0.5);
    assert_eq!(slow[0], 0, "boundary rule: open below, closed above: {h}");
    assert_eq!(slow[2], "0.5", "{h}");
    let slow_n: f64 = slow[3]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("count");
    let fast_n: f64 = find(0.05)[3]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("count");
    assert_eq!(slow_n * 10.0, count, "{h}");
    assert_eq!(fast_n, count - slow_n, "{h}");

    // The SLO counts the 500 ms requests as bad: one in ten. No bucket boundary lies at
    // 300 ms, and none is needed: every observation is far from it.
    let slo = wait("the latency SLO to count requests", || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = get_json(&client, &format!("{base}/api/v1/slos/rpc/latency")).await;
            let d = &body["data"];
            (d["total_events"].as_f64().unwrap_or(0.0) >= 100.0).then(|| d.clone())
        }
    })
    .await;
    let total = slo["total_events"].as_f64().expect("total");
    let bad = slo["bad_events"].as_f64().expect("bad");
    assert!((bad / total - 0.1).abs() < 1e-9, "{bad}/{total}: {slo}");
    observer.abort();
}

/// The same protobuf target scraped by Debian's Prometheus (2.42, native histograms on) and by
/// redline: both query APIs return the same native histogram (count, sum and every bucket with
/// its boundary rule) and the same `histogram_count`/`histogram_sum`. The target's
/// observations are made before either scrapes and do not change. `histogram_quantile` and
/// `histogram_fraction` are not compared: Prometheus 3 interpolates exponentially inside
/// exponential buckets and walks from the top for q >= 0.5, so 2.42's answers differ (here
/// 2.42 gives 0.0743 for the median, redline, following Prometheus 3's algorithm, 0.2973).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redline_and_prometheus_read_the_same_native_histogram() {
    redline::install_crypto_provider();
    let histogram = Histogram::new_native(NativeHistogramConfig::with_schema(2));
    for v in [0.003, 0.02, 0.02, 0.07, 0.3, 0.3, 0.3, 1.7, 12.0, 0.0] {
        histogram.observe(v);
    }
    let mut registry = Registry::default();
    registry.register("job_seconds", "Job duration", histogram);
    let target = serve(Arc::new(Mutex::new(registry))).await;

    let dir = TempDir::new("native-histograms-differential");
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: batch\n    static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(
        dir.join("redline.yml"),
        format!("{scrape}    scrape_native_histograms: true\n"),
    )
    .expect("write redline config");
    std::fs::write(dir.join("prometheus.yml"), &scrape).expect("write prometheus config");
    let port = free_port();
    let _redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .spawn()
            .expect("start redline run"),
    );
    let prom_port = free_port();
    let _prometheus =
        common::start_prometheus(&dir, prom_port, &["--enable-feature=native-histograms"]);
    let client = reqwest::Client::new();
    let ask = |base: String, q: &'static str| {
        let client = client.clone();
        async move {
            let body = get_json(&client, &format!("{base}/api/v1/query?query={}", enc(q))).await;
            let r = body["data"]["result"][0].clone();
            (!r.is_null()).then_some(r)
        }
    };
    let ours = format!("http://127.0.0.1:{port}");
    let theirs = format!("http://127.0.0.1:{prom_port}");
    for q in [
        "job_seconds",
        "histogram_count(job_seconds)",
        "histogram_sum(job_seconds)",
    ] {
        let a = wait(q, || ask(ours.clone(), q)).await;
        let b = wait(q, || ask(theirs.clone(), q)).await;
        let part = |r: &Value| {
            if r.get("histogram").is_some() {
                r["histogram"][1].clone()
            } else {
                r["value"][1].clone()
            }
        };
        assert_eq!(part(&a), part(&b), "{q}: redline {a} vs Prometheus {b}");
        assert_eq!(a["metric"], b["metric"], "{q}");
    }
}
