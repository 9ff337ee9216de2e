//! Remote-write costs, in ns/sample:
//! - `encode`: building a `prometheus.WriteRequest` of 2,000 samples (one per series, as a
//!   scrape produces them) with kubelet/cAdvisor-like labels, and its snappy compression;
//!   the labels are pre-encoded, as the sender caches them per series;
//! - `observer`: what the store's commit pays per sample for the remote-write hook (a
//!   commit of 2,000 samples with and without a `QueueObserver` feeding 4 shards).
//!
//! Before each group the bench prints a plain median: `cargo bench --bench remote_write`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redline::config::Config;
use redline::remote::proto::{compress, EncodedLabels, WriteRequest};
use redline::remote::{Queue, QueueObserver};
use redline::store::{Labels, SeriesRef, Store};

const BATCH: usize = 2_000;

fn kubelet_series(n: usize) -> Vec<Labels> {
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
                ("cluster", "eu-1".to_string()),
                ("container", format!("app-{}", i % 7)),
                ("id", format!("/kubepods/burstable/pod{i:08x}/{i:016x}")),
                ("image", format!("registry.example.com/team/app:{}", i % 13)),
                ("instance", "10.0.1.10:10250".to_string()),
                ("job", "kubelet".to_string()),
                ("metrics_path", "/metrics/cadvisor".to_string()),
                ("name", format!("k8s_app_{i}")),
                ("namespace", format!("ns-{}", i % 11)),
                ("node", "node-a".to_string()),
                ("pod", format!("web-{}-7d9f8c6b5-x{:04}", i % 17, i % 9973)),
            ])
        })
        .collect()
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn encode_batch(labels: &[EncodedLabels], req: &mut WriteRequest, t: i64) {
    req.clear();
    for (i, l) in labels.iter().enumerate() {
        req.series(l, &[(t, i as f64 * 1.5)]);
    }
}

fn bench_encode(c: &mut Criterion) {
    let series = kubelet_series(BATCH);
    let labels: Vec<EncodedLabels> = series
        .iter()
        .map(|l| EncodedLabels::new(l.iter().map(|l| (&*l.name, &*l.value))))
        .collect();
    let mut req = WriteRequest::new();
    let mut snappy = snap::raw::Encoder::new();
    let mut sizes = (0, 0);
    let (enc, total): (Vec<f64>, Vec<f64>) = (0..15)
        .map(|k| {
            let start = Instant::now();
            encode_batch(&labels, &mut req, 1_700_000_000_000 + k);
            let encoded = start.elapsed();
            let body = compress(&mut snappy, req.as_bytes());
            let all = start.elapsed();
            sizes = (req.as_bytes().len(), body.len());
            black_box(body);
            (
                encoded.as_nanos() as f64 / BATCH as f64,
                all.as_nanos() as f64 / BATCH as f64,
            )
        })
        .unzip();
    println!(
        "remote_write/encode: {:.0} ns/sample protobuf, {:.0} ns/sample protobuf + snappy \
         (median of 15 batches of {BATCH}; {} bytes -> {} bytes snappy)",
        median(enc),
        median(total),
        sizes.0,
        sizes.1
    );
    let mut g = c.benchmark_group("remote_write/encode");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("protobuf+snappy", |b| {
        b.iter(|| {
            encode_batch(&labels, &mut req, 1_700_000_000_000);
            compress(&mut snappy, req.as_bytes()).len()
        })
    });
    g.finish();
}

/// A store holding the kubelet series, and their refs.
fn store_with_series() -> (Store, Vec<SeriesRef>) {
    let store = Store::new();
    let mut app = store.appender();
    let refs = kubelet_series(BATCH)
        .iter()
        .map(|l| app.append(l, 0, 0.0).expect("append"))
        .collect();
    app.commit();
    (store, refs)
}

fn commit_batch(store: &Store, refs: &[SeriesRef], t: i64) {
    let mut app = store.appender();
    for r in refs {
        app.append_ref(*r, t, 1.0).expect("append");
    }
    black_box(app.commit());
}

fn bench_observer(c: &mut Criterion) {
    let cfg = Config::from_yaml_str(
        "remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    queue_config: {capacity: 100000}\n",
        "bench.yml",
    )
    .expect("config");
    let queue = Arc::new(Queue::new(cfg.remote_write[0].clone()));
    let (store, refs) = store_with_series();
    let mut t = 0i64;
    let per_sample = |observe: bool, t: &mut i64| -> f64 {
        store.set_append_observer(if observe {
            Some(Arc::new(QueueObserver::new(vec![queue.clone()])))
        } else {
            None
        });
        let runs = (0..31)
            .map(|_| {
                *t += 1;
                let start = Instant::now();
                commit_batch(&store, &refs, *t);
                let d = start.elapsed();
                queue.clear();
                d.as_nanos() as f64 / BATCH as f64
            })
            .collect();
        median(runs)
    };
    let without = per_sample(false, &mut t);
    let with = per_sample(true, &mut t);
    println!(
        "remote_write/observer: commit {without:.0} ns/sample without, {with:.0} ns/sample with \
         the remote-write observer (+{:.0} ns/sample; median of 31 commits of {BATCH})",
        with - without
    );
    let mut g = c.benchmark_group("remote_write/commit");
    g.throughput(Throughput::Elements(BATCH as u64));
    for observe in [false, true] {
        store.set_append_observer(if observe {
            Some(Arc::new(QueueObserver::new(vec![queue.clone()])))
        } else {
            None
        });
        let name = if observe {
            "with_observer"
        } else {
            "without_observer"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    t += 1;
                    let start = Instant::now();
                    commit_batch(&store, &refs, t);
                    total += start.elapsed();
                    queue.clear();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_encode, bench_observer);
criterion_main!(benches);
