//! PromQL evaluation over the real fixtures scaled to ~100k series: kubernetes-mixin-style
//! rule expressions, ms per evaluation.
//!
//! `cargo bench --bench promql` runs the criterion groups. With `REDLINE_WRITE_OM=FILE` set it
//! instead writes the same data as an OpenMetrics file and exits; `benches/compare_prometheus.py`
//! uses that to load identical data into Prometheus and redline (`REDLINE_OM_END_MS` sets the
//! last timestamp, `REDLINE_OM_REPLICAS` the number of replicas, default [`REPLICAS`]).

mod support;

use criterion::Criterion;
use redline::promql::{Engine, EngineOptions};
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
    c.final_summary();
}
