//! The durable store's cost: commits through `Appender::commit` (the path every scrape, rule
//! evaluation and probe takes) on an in-memory store and on durable stores with each fsync
//! policy, then the bytes on disk per sample and the time a start takes to restore them.
//!
//! Data: `WAL_BENCH_SERIES` series (default 20,000) in "targets" of 200 series, one commit per
//! target per scrape, `WAL_BENCH_SCRAPES` scrapes (default 240: one hour at 15 s), counter-like
//! and gauge-like values. Under `interval` a thread calls `Store::sync` every second, as the
//! service's durability task does; under `always` every commit is synced.
//!
//! `cargo bench --bench wal`

use redline::store::{DurableOptions, FsyncPolicy, Labels, Store, StoreOptions};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TARGET: usize = 200;

fn labels(i: usize) -> Labels {
    let metric = [
        "node_cpu_seconds_total",
        "node_memory_Active_bytes",
        "http_requests_total",
        "container_memory_working_set_bytes",
    ][i % 4];
    Labels::from_pairs([
        ("__name__", metric.to_string()),
        (
            "instance",
            format!("10.0.{}.{}:9100", (i / TARGET) / 250, (i / TARGET) % 250),
        ),
        ("job", "bench".to_string()),
        ("series", (i % TARGET).to_string()),
    ])
}

fn value(i: usize, k: usize) -> f64 {
    if i.is_multiple_of(2) {
        (k * (i % 97 + 1)) as f64 + (k % 7) as f64 * 0.25
    } else {
        1e9 + ((i * 7919 + k * 104_729) % 1_000_003) as f64
    }
}

/// Writes the data; returns the seconds spent committing.
fn write(store: &Store, series: usize, scrapes: usize, all: &[Labels]) -> f64 {
    let start = Instant::now();
    for k in 0..scrapes {
        let t = k as i64 * 15_000;
        for first in (0..series).step_by(TARGET) {
            let mut app = store.appender();
            for (i, l) in all.iter().enumerate().skip(first).take(TARGET) {
                app.append(l, t, value(i, k)).expect("append");
            }
            app.commit();
        }
        if k % 40 == 39 {
            store.persist_chunks().expect("persist");
        }
    }
    start.elapsed().as_secs_f64()
}

fn du(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let m = e.metadata().expect("metadata");
            total += if m.is_dir() { du(&e.path()) } else { m.len() };
        }
    }
    total
}

fn opts() -> StoreOptions {
    StoreOptions {
        retention: Duration::from_secs(365 * 86_400),
    }
}

fn main() {
    let series = count("WAL_BENCH_SERIES", 20_000) / TARGET * TARGET;
    let scrapes = count("WAL_BENCH_SCRAPES", 240);
    let samples = (series * scrapes) as f64;
    let all: Vec<Labels> = (0..series).map(labels).collect();
    println!(
        "{series} series × {scrapes} scrapes = {samples} samples, commits of {TARGET} samples"
    );
    let base = write(&Store::new(), series, scrapes, &all);
    println!(
        "{:<26} {:>10.0} samples/s  (baseline)",
        "in memory",
        samples / base
    );
    for (name, policy) in [
        ("durable, fsync never", FsyncPolicy::Never),
        (
            "durable, fsync every 1s",
            FsyncPolicy::Interval(Duration::from_secs(1)),
        ),
        ("durable, fsync always", FsyncPolicy::Always),
    ] {
        let dir = redline::testdir::TempDir::new("wal-bench");
        let durable = DurableOptions {
            fsync: policy,
            ..DurableOptions::new(dir.path())
        };
        let (store, _) = Store::open(opts(), durable.clone()).expect("open");
        let store = Arc::new(store);
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = matches!(policy, FsyncPolicy::Interval(_)).then(|| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    store.sync().expect("sync");
                }
            })
        });
        let secs = write(&store, series, scrapes, &all);
        stop.store(true, Ordering::Relaxed);
        if let Some(s) = syncer {
            s.join().expect("syncer");
        }
        let d = store.durable_stats().expect("durable");
        println!(
            "{name:<26} {:>10.0} samples/s  ratio to memory {:.2}  fsyncs {}",
            samples / secs,
            base / secs,
            d.wal_fsyncs_total
        );
        if policy == FsyncPolicy::Never {
            store.sync().expect("sync");
            let wal = du(&dir.path().join("wal"));
            let chunks = du(&dir.path().join("chunks"));
            println!(
                "  on disk: log {:.2} B/sample, chunk files {:.2} B/sample (of samples in closed chunks)",
                wal as f64 / samples,
                chunks as f64 / (series * (scrapes / 120 * 120)) as f64
            );
            drop(store);
            let start = Instant::now();
            let (restored, rep) = Store::open(opts(), durable.clone()).expect("reopen");
            println!(
                "  start after kill (log replay): {:.2} s, {} samples replayed, {} series",
                start.elapsed().as_secs_f64(),
                rep.samples_replayed,
                restored.stats().series
            );
            restored.close(true).expect("checkpoint");
            let snap: u64 = std::fs::read_dir(dir.path())
                .expect("dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot."))
                .map(|e| e.metadata().expect("meta").len())
                .sum();
            drop(restored);
            let start = Instant::now();
            let (restored, rep) = Store::open(opts(), durable).expect("reopen");
            println!(
                "  start after a clean stop (snapshot {:.1} MiB): {:.2} s, {} samples replayed, {} series",
                snap as f64 / 1048576.0,
                start.elapsed().as_secs_f64(),
                rep.samples_replayed,
                restored.stats().series
            );
        }
    }
}
