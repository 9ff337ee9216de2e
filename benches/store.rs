//! Store benchmark: memory per series and per sample on a 1,000,000-series kube-style
//! workload (measured once with a counting global allocator), then criterion timings for
//! appends (by ref and by labels) and for selections on a 100k-series store. The memory run
//! also times a few selections and the cardinality figures of `/api/v1/status/tsdb` once on
//! the 1,000,000-series store.
//!
//! Run with `cargo bench --bench store`. Set `STORE_BENCH_SERIES` to shrink the memory run
//! (e.g. `STORE_BENCH_SERIES=100000`), `STORE_BENCH_SCRAPES` to change the 480 scrapes, and
//! `STORE_BENCH_SKIP_MEMORY=1` to skip it.
//!
//! The workload: 100 kubelet-like targets (`instance`), each with 50 pods of 2 containers;
//! every container exposes 100 of ~200 metric names (the names of
//! `tests/fixtures/kubelet-cadvisor.prom`, padded with kube-state-style names), with
//! `namespace` (40 values), `pod` (deployment-replicaset-suffix names), `container` and
//! `job`. Values: 30% constant (limits, start times), 30% integer counters, 10% float
//! counters with millisecond precision (CPU seconds), 30% page-sized memory gauges that
//! change half the time. Scrapes every 15 s with a per-target offset and a few ms of jitter
//! on 5% of scrapes; 480 scrapes (2 h).
//!
//! Native histograms (`histogram_benches`): 1,000 request-latency series (`benches/latency`:
//! schema 3, 32 buckets, 0..=3 new observations per bucket and scrape) scraped 480 times.
//! Printed once: bytes per histogram sample (the store's chunk bytes and the live heap's
//! growth over the 479 scrapes after the first, divided by their samples) and append
//! ns/sample, beside the same figures for one float counter per series in the same run as
//! the baseline; then the criterion group `store_histogram_append` (one commit of 1,000
//! histograms, the histograms built outside the timing as a scrape's parser builds them).
//! `cargo bench --bench store -- store_histogram` runs only that group (with
//! `STORE_BENCH_SKIP_MEMORY=1` to skip the 1,000,000-series run).

mod latency;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redline::histogram::FloatHistogram;
use redline::store::{Labels, MatchOp, Matcher, Querier, SeriesRef, Store};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes (requested sizes; allocator overhead excluded).
struct CountingAlloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged
// and only updates a counter; the GlobalAlloc contract is upheld by `System`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_782_460_000_000;
const PODS_PER_TARGET: usize = 50;
const CONTAINERS_PER_POD: usize = 2;
const METRICS_PER_CONTAINER: usize = 100;
const SERIES_PER_TARGET: usize = PODS_PER_TARGET * CONTAINERS_PER_POD * METRICS_PER_CONTAINER;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The label vocabulary of the workload.
struct Workload {
    metric_names: Vec<String>,
    namespaces: Vec<String>,
    deployments: Vec<String>,
    containers: Vec<&'static str>,
}

impl Workload {
    fn new() -> Self {
        let mut metric_names: Vec<String> =
            std::fs::read_to_string("tests/fixtures/kubelet-cadvisor.prom")
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| l.split(['{', ' ']).next())
                .map(str::to_string)
                .collect();
        metric_names.sort();
        metric_names.dedup();
        let ksm = [
            "kube_pod_status_phase",
            "kube_pod_container_status_restarts_total",
            "kube_pod_container_resource_requests",
            "kube_pod_container_resource_limits",
            "kube_pod_info",
            "kube_pod_labels",
            "kube_pod_owner",
            "kube_pod_container_info",
            "kube_pod_container_status_ready",
            "kube_pod_container_status_running",
        ];
        let mut i = 0;
        while metric_names.len() < 200 {
            metric_names.push(format!("{}_{}", ksm[i % ksm.len()], i / ksm.len()));
            i += 1;
        }
        metric_names.truncate(200);
        let teams = [
            "payments", "search", "checkout", "identity", "platform", "data", "ml", "edge",
        ];
        let envs = ["prod", "staging", "dev", "canary", "perf"];
        let namespaces = teams
            .iter()
            .flat_map(|t| envs.iter().map(move |e| format!("{t}-{e}")))
            .collect();
        let parts = [
            "api",
            "gateway",
            "worker",
            "indexer",
            "cache",
            "frontend",
            "scheduler",
            "ingest",
            "exporter",
            "controller",
            "auth",
            "billing",
            "router",
            "queue",
            "store",
        ];
        let mut deployments = Vec::new();
        for a in parts {
            for b in parts {
                if a != b {
                    deployments.push(format!("{a}-{b}"));
                }
            }
        }
        let containers = vec![
            "app",
            "istio-proxy",
            "server",
            "worker",
            "sidecar",
            "nginx",
            "redis",
            "envoy",
            "fluent-bit",
            "otel-collector",
            "migrate",
            "manager",
            "kube-rbac-proxy",
            "exporter",
            "main",
            "init-config",
            "cloudsql-proxy",
            "vault-agent",
            "jaeger-agent",
            "api",
        ];
        Workload {
            metric_names,
            namespaces,
            deployments,
            containers,
        }
    }

    /// The label set of series `i` of target `target`.
    fn labels(&self, target: usize, i: usize) -> Labels {
        let metric = i % METRICS_PER_CONTAINER;
        let container_idx = i / METRICS_PER_CONTAINER;
        let pod_idx = container_idx / CONTAINERS_PER_POD;
        let global_pod = target * PODS_PER_TARGET + pod_idx;
        let global_container = target * PODS_PER_TARGET * CONTAINERS_PER_POD + container_idx;
        let mut h = Rng(global_pod as u64 * 0x9e37_79b9 + 1);
        let deploy = &self.deployments[(h.next() as usize) % self.deployments.len()];
        let pod = format!(
            "{deploy}-{:010x}-{:05x}",
            h.next() & 0xff_ffff_ffff,
            h.next() & 0xf_ffff
        );
        let ns = &self.namespaces[(h.next() as usize) % self.namespaces.len()];
        let container =
            self.containers[(global_container * 7 + container_idx) % self.containers.len()];
        let name_idx = (metric + global_container * 13) % self.metric_names.len();
        let name = &self.metric_names[name_idx];
        let job = if name.starts_with("kube_") {
            "kube-state-metrics"
        } else {
            "kubernetes-cadvisor"
        };
        let instance = format!("10.0.{}.{}:10250", target / 200, target % 200 + 10);
        Labels::from_pairs([
            ("__name__", name.as_str()),
            ("container", container),
            ("instance", instance.as_str()),
            ("job", job),
            ("namespace", ns.as_str()),
            ("pod", pod.as_str()),
        ])
    }
}

/// Per-series value model, fixed by a hash of the series index.
#[derive(Clone, Copy)]
struct Value {
    kind: u8,
    v: f64,
}

impl Value {
    fn new(seed: u64) -> Self {
        let kind = (seed % 10) as u8;
        let v = match kind {
            0..=2 => [536_870_912.0, 1.782_468_875e9, 100_000.0][(seed % 3) as usize],
            3..=5 => (seed % 100_000) as f64,
            6 => (seed % 10_000) as f64 / 1000.0,
            _ => ((seed % 100_000) * 4096) as f64,
        };
        Value { kind, v }
    }

    fn step(&mut self, rng: &mut Rng) -> f64 {
        let r = rng.next();
        match self.kind {
            0..=2 => {}
            3..=5 => {
                if !r.is_multiple_of(3) {
                    self.v += ((r >> 8) % 50) as f64;
                }
            }
            6 => {
                self.v = ((self.v * 1000.0).round() + ((r >> 8) % 250) as f64) / 1000.0;
            }
            _ => {
                if r.is_multiple_of(2) {
                    let d = ((r >> 8) % 129) as f64 - 64.0;
                    self.v = (self.v + d * 4096.0).max(0.0);
                }
            }
        }
        self.v
    }
}

fn scrape_time(target: usize, k: i64, rng: &mut Rng) -> i64 {
    let jitter = if rng.next().is_multiple_of(20) {
        (rng.next() % 5) as i64
    } else {
        0
    };
    START_MS + k * INTERVAL_MS + (target as i64 * 97) % INTERVAL_MS + jitter
}

/// Builds `targets` targets' series with `scrapes` scrapes each; returns refs per target.
fn build(store: &Store, w: &Workload, targets: usize, scrapes: i64, on_first: impl FnOnce()) {
    let mut refs: Vec<Vec<SeriesRef>> = (0..targets)
        .map(|_| Vec::with_capacity(SERIES_PER_TARGET))
        .collect();
    let mut values: Vec<Value> = (0..targets * SERIES_PER_TARGET)
        .map(|i| Value::new(Rng(i as u64 * 0x2545_f491 + 7).next()))
        .collect();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    // The first scrape resolves labels; label sets are built on the fly and dropped, so the
    // store holds the only copy of each string afterwards.
    for (target, target_refs) in refs.iter_mut().enumerate() {
        let t = scrape_time(target, 0, &mut rng);
        let mut app = store.appender();
        for i in 0..SERIES_PER_TARGET {
            let v = values[target * SERIES_PER_TARGET + i].step(&mut rng);
            target_refs.push(app.append(&w.labels(target, i), t, v).expect("append"));
        }
        app.commit();
    }
    on_first();
    // The remaining scrapes, targets split over two threads as two scrape workers would.
    let half = targets.div_ceil(2);
    std::thread::scope(|scope| {
        for (part, (refs, values)) in refs
            .chunks(half)
            .zip(values.chunks_mut(half * SERIES_PER_TARGET))
            .enumerate()
        {
            scope.spawn(move || {
                let mut rng = Rng(0x5555_aaaa_0000_0001 + part as u64);
                for k in 1..scrapes {
                    for (ti, target_refs) in refs.iter().enumerate() {
                        let target = part * half + ti;
                        let t = scrape_time(target, k, &mut rng);
                        let mut app = store.appender();
                        for (i, r) in target_refs.iter().enumerate() {
                            let v = values[ti * SERIES_PER_TARGET + i].step(&mut rng);
                            app.append_ref(*r, t, v).expect("append_ref");
                        }
                        app.commit();
                    }
                }
            });
        }
    });
}

fn memory_figures() {
    if std::env::var_os("STORE_BENCH_SKIP_MEMORY").is_some() {
        return;
    }
    let want: usize = std::env::var("STORE_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let targets = want.div_ceil(SERIES_PER_TARGET).max(1);
    let n_series = targets * SERIES_PER_TARGET;
    // 480 scrapes (2 h) is exactly four 120-sample chunks per series; `STORE_BENCH_SCRAPES`
    // (e.g. 540) measures with a partly filled head chunk as well.
    let scrapes: i64 = std::env::var("STORE_BENCH_SCRAPES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(480);
    let w = Workload::new();
    let start = Instant::now();
    // The refs and value models the "scraper" keeps are allocated inside `build` before the
    // store allocates anything; to exclude them, measure them first and subtract.
    let driver_bytes = n_series * (std::mem::size_of::<SeriesRef>() + std::mem::size_of::<Value>())
        + targets * std::mem::size_of::<Vec<SeriesRef>>();
    let store = Store::new();
    let h0 = live();
    let mut h1 = 0;
    let mut stats1 = None;
    build(&store, &w, targets, scrapes, || {
        h1 = live();
        stats1 = Some(store.stats());
    });
    let h2 = live() - driver_bytes;
    let h1 = h1 - driver_bytes;
    let stats = store.stats();
    let stats1 = stats1.unwrap_or_default();
    let samples = stats.samples_appended_total as f64;
    let series_bytes = (h1 - h0) as f64 - stats1.chunk_bytes as f64;
    let sample_bytes = (h2 - h1) as f64 + stats1.chunk_bytes as f64;
    println!(
        "store memory: {n_series} series x {scrapes} samples built in {:.1?}",
        start.elapsed()
    );
    println!(
        "  series: {}, chunks: {}, symbols: {}, samples: {}",
        stats.series, stats.chunks, stats.symbols, stats.samples_appended_total
    );
    println!(
        "  real heap total: {:.1} MiB ({:.1} bytes/sample all-in)",
        (h2 - h0) as f64 / 1048576.0,
        (h2 - h0) as f64 / samples
    );
    println!(
        "  real heap per series (index + labels + symbols + series struct): {:.0} bytes",
        series_bytes / n_series as f64
    );
    println!(
        "  real heap per sample (chunks): {:.3} bytes",
        sample_bytes / samples
    );
    println!(
        "  estimates from Store::stats: index {:.0} bytes/series, chunks {:.3} bytes/sample",
        stats.index_bytes as f64 / n_series as f64,
        stats.chunk_bytes as f64 / samples
    );
    // Queries on the big store, timed once each.
    for (what, ms) in [
        (
            "{__name__=\"container_memory_usage_bytes\"}",
            vec![Matcher::equal("__name__", "container_memory_usage_bytes")],
        ),
        (
            "{namespace=\"payments-prod\", container=\"app\"} last 5m",
            vec![
                Matcher::equal("namespace", "payments-prod"),
                Matcher::equal("container", "app"),
            ],
        ),
    ] {
        let end = START_MS + (scrapes - 1) * INTERVAL_MS;
        let t = Instant::now();
        let got = store.select(&ms, end - 300_000, end);
        println!(
            "  select {what}: {} series in {:.2?}",
            got.len(),
            t.elapsed()
        );
    }
    // `/api/v1/status/tsdb` on the big store, timed once.
    let t = Instant::now();
    let c = store.cardinality(10);
    println!(
        "  cardinality (/api/v1/status/tsdb, limit 10): {} series, {} label pairs in {:.2?}",
        c.num_series,
        c.num_label_pairs,
        t.elapsed()
    );
    drop(store);
}

/// A store holding `targets` full targets with `scrapes` scrapes, and its refs.
fn populated(targets: usize, scrapes: i64) -> (Store, Vec<Vec<SeriesRef>>, Vec<Vec<Labels>>) {
    let w = Workload::new();
    let store = Store::new();
    let labels: Vec<Vec<Labels>> = (0..targets)
        .map(|t| (0..SERIES_PER_TARGET).map(|i| w.labels(t, i)).collect())
        .collect();
    let mut refs = Vec::new();
    let mut rng = Rng(99);
    for (target, ls) in labels.iter().enumerate() {
        let mut app = store.appender();
        refs.push(
            ls.iter()
                .map(|l| app.append(l, START_MS, 1.0).expect("append"))
                .collect::<Vec<_>>(),
        );
        app.commit();
        for k in 1..scrapes {
            let mut app = store.appender();
            let t = scrape_time(target, k, &mut rng);
            for r in &refs[target] {
                app.append_ref(*r, t, (rng.next() % 100) as f64)
                    .expect("append_ref");
            }
            app.commit();
        }
    }
    (store, refs, labels)
}

fn append_benches(c: &mut Criterion) {
    memory_figures();
    let (store, refs, labels) = populated(1, 2);
    let mut g = c.benchmark_group("store_append");
    g.throughput(Throughput::Elements(SERIES_PER_TARGET as u64));
    let mut k = 10i64;
    let mut rng = Rng(5);
    g.bench_function("append_ref_10k_series_per_commit", |b| {
        b.iter(|| {
            k += 1;
            let t = START_MS + k * INTERVAL_MS;
            let mut app = store.appender();
            for r in &refs[0] {
                app.append_ref(*r, t, (rng.next() % 1000) as f64)
                    .expect("append_ref");
            }
            black_box(app.commit())
        })
    });
    g.bench_function("append_labels_10k_series_per_commit", |b| {
        b.iter(|| {
            k += 1;
            let t = START_MS + k * INTERVAL_MS;
            let mut app = store.appender();
            for l in &labels[0] {
                black_box(
                    app.append(l, t, (rng.next() % 1000) as f64)
                        .expect("append"),
                );
            }
            black_box(app.commit())
        })
    });
    g.finish();
}

fn select_benches(c: &mut Criterion) {
    // 10 targets x 10k series = 100k series, 20 scrapes (5 minutes) each.
    let (store, _, _) = populated(10, 20);
    let end = START_MS + 19 * INTERVAL_MS;
    let mut g = c.benchmark_group("store_select_100k");
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (
            "name_and_namespace",
            vec![
                Matcher::equal("__name__", "container_memory_usage_bytes"),
                Matcher::equal("namespace", "payments-prod"),
            ],
        ),
        (
            "name_only",
            vec![Matcher::equal("__name__", "container_memory_usage_bytes")],
        ),
        (
            "regex_pod_and_name_regex",
            vec![
                Matcher::new(
                    MatchOp::Regex,
                    "__name__",
                    "container_network_.*_bytes_total",
                )
                .expect("regex"),
                Matcher::new(MatchOp::Regex, "pod", "api-.*").expect("regex"),
            ],
        ),
        (
            "not_equal_container_empty",
            vec![
                Matcher::equal("__name__", "container_cpu_usage_seconds_total"),
                Matcher::new(MatchOp::NotEqual, "container", "").expect("matcher"),
            ],
        ),
    ];
    for (name, ms) in &cases {
        let n = store.select(ms, end - 300_000, end).len();
        println!("store_select_100k/{name}: selects {n} series");
        g.bench_function(*name, |b| {
            b.iter(|| black_box(store.select(ms, end - 300_000, end)))
        });
    }
    g.finish();
}

/// Native histogram series of the histogram benches.
const HIST_SERIES: usize = 1_000;

fn histogram_labels() -> Vec<Labels> {
    (0..HIST_SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "http_request_duration_seconds".to_string()),
                ("handler", format!("/api/v1/resource{}", i / 6)),
                ("instance", format!("10.0.{}.{}:8080", i / 250, i % 250)),
                ("job", "api".to_string()),
            ])
        })
        .collect()
}

/// Appends `scrapes` scrapes of [`HIST_SERIES`] latency histograms (or of one float counter
/// per series, `floats`) and prints bytes/sample and append ns/sample.
fn histogram_store_figures(floats: bool, scrapes: i64) {
    let what = if floats { "float" } else { "histogram" };
    let labels = histogram_labels();
    let mut rng = latency::Rng(3);
    let mut hs: Vec<FloatHistogram> = (0..HIST_SERIES).map(latency::initial).collect();
    let mut counters: Vec<f64> = hs.iter().map(|h| h.count).collect();
    let store = Store::new();
    let mut app = store.appender();
    let refs: Vec<SeriesRef> = labels
        .iter()
        .zip(&hs)
        .map(|(l, h)| {
            if floats {
                app.append(l, START_MS, h.count)
            } else {
                app.append_histogram(l, START_MS, h.clone())
            }
            .expect("append")
        })
        .collect();
    app.commit();
    let chunk_bytes_before = store.stats().chunk_bytes;
    let live_before = live();
    let mut append = Duration::ZERO;
    for k in 1..scrapes {
        let t = START_MS + k * INTERVAL_MS;
        for h in hs.iter_mut() {
            latency::advance(h, &mut rng);
        }
        if floats {
            for (c, h) in counters.iter_mut().zip(&hs) {
                *c = h.count;
            }
            let started = Instant::now();
            let mut app = store.appender();
            for (r, v) in refs.iter().zip(&counters) {
                app.append_ref(*r, t, *v).expect("append_ref");
            }
            black_box(app.commit());
            append += started.elapsed();
        } else {
            let batch = hs.clone();
            let started = Instant::now();
            let mut app = store.appender();
            for (r, h) in refs.iter().zip(batch) {
                app.append_histogram_ref(*r, t, h)
                    .expect("append_histogram_ref");
            }
            black_box(app.commit());
            append += started.elapsed();
        }
    }
    let samples = (scrapes - 1) as f64 * HIST_SERIES as f64;
    let stats = store.stats();
    let heap = live().saturating_sub(live_before) as f64;
    let chunks = stats.chunk_bytes.saturating_sub(chunk_bytes_before) as f64;
    println!(
        "store_histogram/{what}: {HIST_SERIES} series x {scrapes} scrapes, {} chunks: \
         {:.1} bytes/sample in chunks, {:.1} bytes/sample heap growth, append {:.1} ns/sample",
        stats.chunks,
        chunks / samples,
        heap / samples,
        append.as_nanos() as f64 / samples,
    );
    if !floats {
        println!(
            "store_histogram/histogram: {:.2} bytes per bucket count in chunks ({} buckets, \
             count, sum, zero bucket: {} values a sample)",
            chunks / samples / (latency::BUCKETS + 3) as f64,
            latency::BUCKETS,
            latency::BUCKETS + 3
        );
    }
}

fn histogram_benches(c: &mut Criterion) {
    histogram_store_figures(false, 480);
    histogram_store_figures(true, 480);
    let labels = histogram_labels();
    let store = Store::new();
    let mut hs: Vec<FloatHistogram> = (0..HIST_SERIES).map(latency::initial).collect();
    let mut app = store.appender();
    let refs: Vec<SeriesRef> = labels
        .iter()
        .zip(&hs)
        .map(|(l, h)| {
            app.append_histogram(l, START_MS, h.clone())
                .expect("append")
        })
        .collect();
    app.commit();
    let mut rng = latency::Rng(5);
    let mut k = 0i64;
    let mut g = c.benchmark_group("store_histogram_append");
    g.throughput(Throughput::Elements(HIST_SERIES as u64));
    g.bench_function("append_histogram_ref_1k_series_per_commit", |b| {
        b.iter_batched(
            || {
                for h in hs.iter_mut() {
                    latency::advance(h, &mut rng);
                }
                hs.clone()
            },
            |batch| {
                k += 1;
                let t = START_MS + k * INTERVAL_MS;
                let mut app = store.appender();
                for (r, h) in refs.iter().zip(batch) {
                    app.append_histogram_ref(*r, t, h)
                        .expect("append_histogram_ref");
                }
                black_box(app.commit())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = append_benches, select_benches, histogram_benches
}
criterion_main!(benches);
