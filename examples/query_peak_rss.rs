//! Peak memory of a query that stops just under `max_samples`, per sample, from the
//! process's peak RSS (`VmHWM` in /proc/self/status), and the RSS after a refused query.
//!
//! cargo run --release --example query_peak_rss -- [MAX_SAMPLES]
use redline::promql::testing::MemQuerier;
use redline::promql::{Engine, EngineOptions, Value};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let max: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let engine = Engine::new(EngineOptions {
        max_samples: max,
        timeout: None,
        ..EngineOptions::default()
    });
    let store = MemQuerier::new();
    let before = status_kib("VmHWM:");
    // One sample per 1 ms step, 1,000 fewer steps than the limit.
    let steps = max - 1000;
    let q = format!("count_over_time(vector(1)[{steps}ms:1ms])");
    let r = engine
        .instant_query(&store, &q, steps as i64)
        .expect("under the limit");
    let Value::Vector(v) = r.value else {
        panic!("vector")
    };
    let peak = status_kib("VmHWM:");
    let grew = (peak - before) * 1024;
    println!(
        "{q}: {} samples, peak RSS +{} MiB, {:.1} bytes per sample",
        v[0].v,
        grew >> 20,
        grew as f64 / v[0].v
    );
    // A query refused by the limit, then the RSS that stays.
    let over = format!("count_over_time(vector(1)[{}ms:1ms])", max * 2);
    let e = engine.instant_query(&store, &over, 0).unwrap_err();
    println!(
        "{over}: {e}; RSS after: {} MiB (peak {} MiB)",
        status_kib("VmRSS:") >> 10,
        status_kib("VmHWM:") >> 10
    );
}
