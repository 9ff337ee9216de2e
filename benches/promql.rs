//! PromQL evaluation over the real fixtures scaled to ~100k series: kubernetes-mixin-style
//! rule expressions, ms per evaluation.
//!
//! `cargo bench --bench promql` runs the criterion groups. With `REDLINE_WRITE_OM=FILE` set it
//! instead writes the same data as an OpenMetrics file and exits; `benches/compare_prometheus.py`
//! uses that to load identical data into Prometheus and redline (`REDLINE_OM_END_MS` sets the
//! last timestamp, `REDLINE_OM_REPLICAS` the number of replicas, default [`REPLICAS`]).
//!
//! The group `promql_histogram_quantile` measures `histogram_quantile(0.99,
//! sum(rate(h[5m])))` over 200 native latency histograms (`benches/latency`: schema 3, 32
//! buckets, 41 scrapes 15 s apart) beside the classic-bucket equivalent over the same
//! observations: one `_bucket` series per native bucket bound plus `+Inf` (33 per
//! histogram, 6,600 series) summed `by (le)`. Both answers are printed; they differ a little
//! since a native histogram interpolates exponentially inside a bucket and a classic one
//! linearly. `cargo bench --bench promql -- histogram_quantile` runs only that group.

mod latency;
mod support;

use criterion::Criterion;
use redline::promql::{Engine, EngineOptions};
use redline::store::{Labels, Store};
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 11 replicas of the four fixtures: 11 × 9,160 ≈ 100k series.
pub const REPLICAS: usize = 11;
/// Points per series and their spacing: 15 minutes at 30 s.
pub const SAMPLES: usize = 31;
pub const INTERVAL_MS: i64 = 30_000;

/// The kubernetes-mixin-style expressions measured, by name.
pub const QUERIES: [(&str, &str); 7] = [
    (
        "cpu_rate_by_pod",
        r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job="kubelet", container!=""}[5m]))"#,
    ),
    (
        "memory_join_pod_info",
        r#"sum by (namespace, pod) (container_memory_working_set_bytes{job="kubelet", container!=""}) * on (namespace, pod) group_left (node) max by (namespace, pod, node) (kube_pod_info)"#,
    ),
    (
        "scheduler_plugin_p99",
        r#"histogram_quantile(0.99, sum by (le, plugin) (rate(scheduler_plugin_execution_duration_seconds_bucket{job="kube-scheduler"}[5m])))"#,
    ),
    (
        "rest_client_p99_by_verb",
        r#"histogram_quantile(0.99, sum by (le, verb) (rate(rest_client_request_duration_seconds_bucket[5m])))"#,
    ),
    (
        "node_cpu_utilisation",
        r#"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))"#,
    ),
    (
        "cpu_requests_by_namespace",
        r#"sum by (namespace) (kube_pod_container_resource_requests{resource="cpu"})"#,
    ),
    (
        "restarts_increase",
        r#"sum by (namespace) (increase(kube_pod_container_status_restarts_total[10m]))"#,
    ),
];

fn end_ms() -> i64 {
    // A fixed minute boundary keeps runs comparable.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now - now % 60_000
}

/// Native latency histograms of the histogram group, their scrapes and spacing.
const HIST_SERIES: usize = 200;
const HIST_SCRAPES: usize = 41;
const HIST_INTERVAL_MS: i64 = 15_000;

const NATIVE_P99: &str = "histogram_quantile(0.99, sum(rate(http_request_duration_seconds[5m])))";
const CLASSIC_P99: &str =
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))";

/// Two stores of the same observations ending at `end`: native histograms, and classic
/// `_bucket` series (cumulative counts per native bucket bound, then `+Inf`).
fn histogram_stores(end: i64) -> (Store, Store) {
    let native = Store::new();
    let classic = Store::new();
    let bounds: Vec<String> = latency::bucket_indexes()
        .into_iter()
        .map(|i| latency::upper_bound(i).to_string())
        .chain(std::iter::once("+Inf".to_string()))
        .collect();
    let series_labels = |i: usize, name: &str, le: Option<&str>| {
        let mut pairs = vec![
            ("__name__", name.to_string()),
            ("handler", format!("/api/v1/resource{}", i / 6)),
            ("instance", format!("10.0.0.{}:8080", i % 6)),
        ];
        if let Some(le) = le {
            pairs.push(("le", le.to_string()));
        }
        Labels::from_pairs(pairs)
    };
    let native_labels: Vec<Labels> = (0..HIST_SERIES)
        .map(|i| series_labels(i, "http_request_duration_seconds", None))
        .collect();
    let classic_labels: Vec<Vec<Labels>> = (0..HIST_SERIES)
        .map(|i| {
            bounds
                .iter()
                .map(|le| series_labels(i, "http_request_duration_seconds_bucket", Some(le)))
                .collect()
        })
        .collect();
    let mut hs: Vec<_> = (0..HIST_SERIES).map(latency::initial).collect();
    let mut rng = latency::Rng(17);
    let start = end - (HIST_SCRAPES as i64 - 1) * HIST_INTERVAL_MS;
    for k in 0..HIST_SCRAPES {
        let t = start + k as i64 * HIST_INTERVAL_MS;
        if k > 0 {
            for h in hs.iter_mut() {
                latency::advance(h, &mut rng);
            }
        }
        let mut app = native.appender();
        for (l, h) in native_labels.iter().zip(&hs) {
            app.append_histogram(l, t, h.clone())
                .expect("append_histogram");
        }
        app.commit();
        let mut app = classic.appender();
        for (ls, h) in classic_labels.iter().zip(&hs) {
            let mut cumulative = h.zero_count;
            for (l, c) in ls.iter().zip(&h.positive_buckets) {
                cumulative += c;
                app.append(l, t, cumulative).expect("append");
            }
            let inf = ls.last().expect("+Inf bucket");
            app.append(inf, t, h.count).expect("append");
        }
        app.commit();
    }
    (native, classic)
}

fn bench_histogram_quantile(c: &mut Criterion, engine: &Engine, end: i64) {
    let (native, classic) = histogram_stores(end);
    let cases = [
        ("native", &native, NATIVE_P99),
        ("classic", &classic, CLASSIC_P99),
    ];
    for (name, store, q) in cases {
        let r = engine
            .instant_query(store, q, end)
            .expect("query evaluates");
        let v = match &r.value {
            redline::promql::Value::Vector(v) if v.len() == 1 => v[0].v,
            other => panic!("{name}: expected one sample, got {other:?}"),
        };
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = std::time::Instant::now();
            black_box(engine.instant_query(store, q, end).unwrap());
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "promql_histogram_quantile/{name}: p99 = {v:.6} s, {} series, median {:.3} ms/evaluation",
            store.stats().series,
            times[times.len() / 2]
        );
    }
    let mut g = c.benchmark_group("promql_histogram_quantile");
    for (name, store, q) in cases {
        g.bench_function(format!("instant/{name}"), |b| {
            b.iter(|| black_box(engine.instant_query(store, q, end).unwrap()))
        });
        g.bench_function(format!("range_5m_step15s/{name}"), |b| {
            b.iter(|| {
                black_box(
                    engine
                        .range_query(store, q, end - 300_000, end, 15_000)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn main() {
    let base = support::base_series();
    if let Ok(path) = std::env::var("REDLINE_WRITE_OM") {
        let end = std::env::var("REDLINE_OM_END_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(end_ms);
        let f = std::fs::File::create(&path).expect("create OpenMetrics file");
        let mut w = std::io::BufWriter::new(f);
        let replicas = match std::env::var("REDLINE_OM_REPLICAS") {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("REDLINE_OM_REPLICAS={v:?}: expected a count")),
            Err(_) => REPLICAS,
        };
        let n = support::write_openmetrics(&base, replicas, SAMPLES, INTERVAL_MS, end, &mut w)
            .expect("write OpenMetrics file");
        eprintln!(
            "wrote {n} samples ({} series) ending at {end} to {path}",
            base.len() * replicas
        );
        return;
    }
    let end = end_ms();
    let store = support::scaled_store(&base, REPLICAS, SAMPLES, INTERVAL_MS, end);
    println!(
        "promql bench store: {} series, {} samples",
        store.stats().series,
        store.stats().samples_appended_total
    );
    let engine = Engine::new(EngineOptions::default());
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("promql_instant_100k");
    for (name, q) in QUERIES {
        let r = engine
            .instant_query(&store, q, end)
            .expect("query evaluates");
        if let redline::promql::Value::Vector(v) = &r.value {
            println!("{name}: {} series in the result", v.len());
            assert!(!v.is_empty(), "{name} returned nothing on the fixtures");
        }
        g.bench_function(name, |b| {
            b.iter(|| black_box(engine.instant_query(&store, q, end).unwrap()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("promql_range_100k_15m_step30s");
    for (name, q) in QUERIES {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    engine
                        .range_query(&store, q, end - 900_000, end, 30_000)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
    bench_histogram_quantile(&mut c, &engine, end);
    c.final_summary();
}
