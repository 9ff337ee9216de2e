//! Relabeling cost per series, in ns/series, for typical `metric_relabel_configs`.
//!
//! The scrape loop runs metric relabeling once per new series (series-cache misses), so this
//! is the price of a first scrape or of churn. Label sets look like cAdvisor's container
//! series. Groups:
//! - `drop_only`: two `drop` rules that rarely match (the common "drop noisy metrics" case;
//!   no label set is copied);
//! - `mixed`: drop rules, a `labeldrop` and a `replace` with capture groups (copies);
//! - `hashmod`: target sharding (`hashmod` + `keep`), as run on discovered targets.
//!
//! Before each group the bench prints a plain `ns/series` median: `cargo bench --bench relabel`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redline::relabel::{process, process_cow, RawRelabelConfig, RelabelConfig};
use redline::store::Labels;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("rules parse");
    raw.into_iter()
        .map(|r| RelabelConfig::new(r).expect("valid rule"))
        .collect()
}

fn series(n: usize) -> Vec<Labels> {
    let names = [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_network_receive_bytes_total",
        "container_fs_reads_bytes_total",
        "container_tasks_state",
    ];
    (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", names[i % names.len()].to_string()),
                ("container", format!("app-{}", i % 7)),
                ("id", format!("/kubepods/burstable/pod{i:08x}/{i:016x}")),
                ("image", format!("registry.example.com/team/app:{}", i % 13)),
                ("name", format!("k8s_app_{i}")),
                ("namespace", format!("ns-{}", i % 11)),
                ("pod", format!("web-{}-7d9f8c6b5-x{:04}", i % 17, i % 9973)),
                ("instance", "10.0.1.10:10250".to_string()),
                ("job", "kubelet".to_string()),
            ])
        })
        .collect()
}

const DROP_ONLY: &str = r#"
- {source_labels: [__name__], regex: "container_(network_tcp_usage_total|memory_failures_total)", action: drop}
- {source_labels: [__name__, image], separator: "@", regex: "container_.*@", action: drop}
"#;

const MIXED: &str = r#"
- {source_labels: [__name__], regex: "container_(network_tcp_usage_total|memory_failures_total)", action: drop}
- {source_labels: [__name__, image], separator: "@", regex: "container_.*@", action: drop}
- {action: labeldrop, regex: "(id|name)"}
- {source_labels: [pod], regex: "(.+)-[a-z0-9]+-[a-z0-9]+", target_label: deployment, replacement: "$1"}
"#;

const HASHMOD: &str = r#"
- {source_labels: [instance, pod], modulus: 4, target_label: __tmp_hash, action: hashmod}
- {source_labels: [__tmp_hash], regex: "1", action: keep}
"#;

fn median_ns_per_series(input: &[Labels], cfg: &[RelabelConfig]) -> f64 {
    let mut runs: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            let mut kept = 0usize;
            for l in input {
                if process_cow(black_box(l), cfg).is_some() {
                    kept += 1;
                }
            }
            black_box(kept);
            start.elapsed().as_nanos() as f64 / input.len() as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn bench(c: &mut Criterion) {
    let input = series(10_000);
    // Baseline on the same (possibly busy) machine: one anchored regex match per series.
    let re = regex::Regex::new("^(?s:container_(network_tcp_usage_total|memory_failures_total))$")
        .expect("regex");
    let mut runs: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            let hits = input
                .iter()
                .filter(|l| re.is_match(black_box(l.get("__name__").unwrap_or(""))))
                .count();
            black_box(hits);
            start.elapsed().as_nanos() as f64 / input.len() as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!("baseline/regex_is_match: {:.0} ns/series", runs[4]);
    for (name, yaml) in [
        ("drop_only", DROP_ONLY),
        ("mixed", MIXED),
        ("hashmod", HASHMOD),
    ] {
        let cfg = rules(yaml);
        println!(
            "relabel/{name}: {:.0} ns/series (median of 9 runs over {} series)",
            median_ns_per_series(&input, &cfg),
            input.len()
        );
        let mut g = c.benchmark_group(format!("relabel/{name}"));
        g.throughput(Throughput::Elements(input.len() as u64));
        g.bench_function("process", |b| {
            b.iter(|| {
                let mut kept = 0usize;
                for l in &input {
                    if process(black_box(l), &cfg).is_some() {
                        kept += 1;
                    }
                }
                kept
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
