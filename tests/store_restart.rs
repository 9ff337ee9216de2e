//! The real binary scraping a loopback target, killed with SIGKILL (or stopped with SIGTERM)
//! and restarted on the same state directory: every sample it had committed is still there
//! with the same value and timestamp, and the only gap in the series is the restart.
//!
//! Native histogram samples get the same test at the store's level: this test binary runs
//! itself as a child process that writes histograms into a durable store until it is killed
//! with SIGKILL, and the store reopened in the test holds every one it reported committed.

mod common;

use common::{free_port, wait_ready, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use std::path::Path;
use std::time::{Duration, Instant};

/// The scrape interval of the test job.
const INTERVAL_MS: i64 = 200;

fn config(dir: &Path, target: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("redline.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: {INTERVAL_MS}ms\n  scrape_timeout: {INTERVAL_MS}ms\n\
             scrape_configs:\n  - job_name: ticks\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    path
}

fn start(config: &Path, state: &Path, port: u16) -> ProcessGuard {
    ProcessGuard(
        common::redline_run(config, port, state)
            .spawn()
            .expect("start redline run"),
    )
}

/// The raw samples of `ticks` over the last hour: (timestamp in ms, value).
async fn samples(port: u16) -> Vec<(i64, String)> {
    samples_of(port, "ticks").await
}

/// The raw samples of `metric` over the last hour: (timestamp in ms, value).
async fn samples_of(port: u16, metric: &str) -> Vec<(i64, String)> {
    let v = common::get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query={metric}%5B1h%5D"
    ))
    .await;
    assert_eq!(v["status"], "success", "{v}");
    let Some(series) = v["data"]["result"].as_array().and_then(|r| r.first()) else {
        return Vec::new();
    };
    series["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| {
            let t = p[0].as_f64().expect("timestamp");
            (
                (t * 1000.0).round() as i64,
                p[1].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

async fn wait_samples(port: u16, at_least: usize) -> Vec<(i64, String)> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = samples(port).await;
        if got.len() >= at_least {
            return got;
        }
        assert!(
            Instant::now() < end,
            "only {} samples of ticks after 30 s",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A target whose `ticks` counter goes up every 50 ms, so every scrape has its own value.
async fn ticking_target() -> FixtureServer {
    let server = FixtureServer::start("ticks 0\n", "text/plain; version=0.0.4").await;
    let s = server.clone();
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            n += 1;
            s.set_body(&format!("# TYPE ticks counter\nticks {n}\n"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    server
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Checks that the series has no gap but the restart: the samples either side of the stop
/// are at most the restart's length plus two intervals apart (the last scrape before the
/// stop and the first after it are each at most an interval away), and every other gap is
/// under three intervals.
fn only_the_real_gap(samples: &[(i64, String)], stop_ms: i64, ready_ms: i64) {
    let last_before = samples
        .iter()
        .rev()
        .find(|s| s.0 <= stop_ms)
        .expect("a sample before the stop")
        .0;
    let first_after = samples
        .iter()
        .find(|s| s.0 > stop_ms)
        .expect("a sample after the restart")
        .0;
    assert!(
        first_after - last_before <= ready_ms - stop_ms + 2 * INTERVAL_MS,
        "the gap over the restart ({last_before}..{first_after}) is longer than the restart \
         ({stop_ms}..{ready_ms}) plus two intervals"
    );
    for w in samples.windows(2) {
        if w[0].0 != last_before {
            assert!(
                w[1].0 - w[0].0 < 3 * INTERVAL_MS,
                "a gap outside the restart: {w:?}"
            );
        }
    }
}

async fn restart_keeps_samples(kill: impl FnOnce(&mut ProcessGuard)) -> TempDir {
    redline::install_crypto_provider();
    let dir = TempDir::new("store-restart");
    let target = ticking_target().await;
    let cfg = config(dir.path(), target.addr);
    let state = dir.path().join("state");
    let port = free_port();
    let mut first = start(&cfg, &state, port);
    wait_ready(port).await;
    let before = wait_samples(port, 15).await;
    let stop_ms = now_ms();
    kill(&mut first);
    drop(first);

    let port = free_port();
    let _second = start(&cfg, &state, port);
    wait_ready(port).await;
    let ready_ms = now_ms();
    let after = samples(port).await;
    assert!(
        after.len() >= before.len() && after[..before.len()] == before[..],
        "every sample seen before the stop is there after it, same value and timestamp:\n\
         before {before:?}\nafter {after:?}"
    );
    // Scraping goes on, into the same series.
    let later = wait_samples(port, after.len() + 10).await;
    assert_eq!(later[..after.len()], after[..]);
    let values: Vec<u64> = later.iter().map(|(_, v)| v.parse().expect("int")).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "one counter, rising: {values:?}"
    );
    // count_over_time over the whole stretch counts every stored sample.
    let v = common::get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query=count_over_time(ticks%5B1h%5D)&time={}",
        later.last().expect("samples").0 as f64 / 1000.0
    ))
    .await;
    let counted: usize = v["data"]["result"][0]["value"][1]
        .as_str()
        .expect("a count")
        .parse()
        .expect("int");
    assert_eq!(counted, later.len());
    only_the_real_gap(&later, stop_ms, ready_ms);
    // The restore and the log are on /metrics.
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    assert!(value("redline_tsdb_data_replay_duration_seconds") > 0.0);
    assert!(value("redline_tsdb_wal_segments") >= 1.0);
    assert!(value("redline_tsdb_wal_storage_size_bytes") > 0.0);
    assert!(value("redline_tsdb_wal_fsync_duration_seconds_total") >= 0.0);
    assert!(
        metrics.contains("# TYPE redline_tsdb_wal_fsync_duration_seconds counter"),
        "{metrics}"
    );
    // A kill during a write can leave one torn record, cut at the start; nothing else.
    assert!(value("redline_tsdb_corruptions_repaired_total") <= 1.0);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_scraping_loses_no_committed_sample() {
    restart_keeps_samples(|p| {
        p.0.kill().expect("SIGKILL");
        p.0.wait().expect("reaped");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_writes_a_snapshot_and_the_restart_restores_from_it() {
    let dir = restart_keeps_samples(|p| {
        let pid = p.0.id().to_string();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let end = Instant::now() + Duration::from_secs(30);
        while p.0.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < end, "redline did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await;
    let tsdb = dir.path().join("state").join("tsdb");
    let snapshots: Vec<String> = std::fs::read_dir(&tsdb)
        .expect("tsdb dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snapshot."))
        .collect();
    assert!(
        !snapshots.is_empty(),
        "the stop wrote a snapshot: {snapshots:?}"
    );
}

/// The instant value of `query` now: `None` when the result is empty.
async fn instant(port: u16, query: &str) -> Option<String> {
    let v = common::get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query={query}"
    ))
    .await;
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_series_the_target_no_longer_exposes_go_stale() {
    redline::install_crypto_provider();
    let dir = TempDir::new("store-restart");
    let target = FixtureServer::start("kept 1\ngone 2\n", "text/plain; version=0.0.4").await;
    let cfg = config(dir.path(), target.addr);
    let state = dir.path().join("state");
    let port = free_port();
    let mut first = start(&cfg, &state, port);
    wait_ready(port).await;
    let end = Instant::now() + Duration::from_secs(30);
    while instant(port, "gone").await.is_none() {
        assert!(Instant::now() < end, "gone was never scraped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("reaped");
    // While redline is down the target stops exposing `gone`.
    target.set_body("kept 1\n");
    let port = free_port();
    let _second = start(&cfg, &state, port);
    wait_ready(port).await;
    // Without a staleness marker `gone` would answer for five more minutes (the lookback).
    let end = Instant::now() + Duration::from_secs(30);
    while instant(port, "gone").await.is_some() {
        assert!(
            Instant::now() < end,
            "`gone` got no staleness marker after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What the target still exposes, and the scrape's own series, stay live.
    for _ in 0..5 {
        assert_eq!(instant(port, "kept").await.as_deref(), Some("1"));
        assert_eq!(instant(port, "up").await.as_deref(), Some("1"));
        tokio::time::sleep(Duration::from_millis(INTERVAL_MS as u64)).await;
    }
    // `gone`'s samples from before the restart are all still stored.
    assert!(!samples_of(port, "gone").await.is_empty());
}

/// In the environment of the child process of
/// `histogram_samples_survive_kill_9_of_the_writing_process`: the store directory to write.
const HISTOGRAM_WRITER_DIR: &str = "REDLINE_TEST_HISTOGRAM_WRITER_DIR";

/// Scrapes between counter resets of the written histograms.
const RESET_EVERY: i64 = 150;

/// The histogram series `s` has at step `k`: a request-latency histogram of schema 3 with 30
/// populated buckets in two spans, counts growing every step and restarting from zero every
/// [`RESET_EVERY`] steps (a restarted server).
fn latency(s: i64, k: i64) -> redline::histogram::FloatHistogram {
    use redline::histogram::{FloatHistogram, Span};
    let n = k % RESET_EVERY + 1;
    let buckets: Vec<f64> = (0..30).map(|i| (n * ((i + s) % 5 + 1)) as f64).collect();
    let count = buckets.iter().sum::<f64>() + n as f64;
    FloatHistogram {
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: n as f64,
        count,
        sum: count * 0.125 + s as f64,
        positive_spans: vec![
            Span {
                offset: -20,
                length: 18,
            },
            Span {
                offset: 2,
                length: 12,
            },
        ],
        positive_buckets: buckets,
        ..FloatHistogram::default()
    }
}

/// The child: commits a histogram per series and a float every step, checkpoints and moves
/// chunks to disk now and then, and prints `committed <k>` after each commit, until killed
/// (or, should the test be gone, for at most a minute).
fn write_histograms_until_killed(dir: &Path) {
    use redline::store::{DurableOptions, FsyncPolicy, Labels, Store, StoreOptions};
    use std::io::Write;
    let opts = DurableOptions {
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 << 10,
        chunk_file_bytes: 256 << 10,
        ..DurableOptions::new(dir)
    };
    let (store, _) = Store::open(StoreOptions::default(), opts).expect("open the store");
    let series: Vec<Labels> = (0..3)
        .map(|s| Labels::from_pairs([("__name__", "latency".to_string()), ("s", s.to_string())]))
        .collect();
    let up = Labels::from_pairs([("__name__", "up")]);
    let end = Instant::now() + Duration::from_secs(60);
    let mut out = std::io::stdout().lock();
    for k in 0.. {
        let mut app = store.appender();
        for (s, l) in series.iter().enumerate() {
            app.append_histogram(l, k * 15_000, latency(s as i64, k))
                .expect("append");
        }
        app.append(&up, k * 15_000, 1.0).expect("append");
        app.commit();
        if k % 97 == 96 {
            store.checkpoint().expect("checkpoint");
        } else if k % 31 == 30 {
            store.persist_chunks().expect("persist");
        }
        writeln!(out, "committed {k}").expect("stdout");
        out.flush().expect("stdout");
        if Instant::now() > end {
            return;
        }
    }
}

#[test]
fn histogram_samples_survive_kill_9_of_the_writing_process() {
    use redline::histogram::CounterResetHint;
    use redline::store::{DurableOptions, Querier, Store, StoreOptions};
    use std::io::BufRead;
    if let Some(dir) = std::env::var_os(HISTOGRAM_WRITER_DIR) {
        write_histograms_until_killed(Path::new(&dir));
        return;
    }
    let dir = TempDir::new("histogram-kill9");
    let mut child = ProcessGuard(
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "histogram_samples_survive_kill_9_of_the_writing_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HISTOGRAM_WRITER_DIR, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the writer"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(k) = line.strip_prefix("committed ") {
                if tx.send(k.parse::<i64>().expect("step")).is_err() {
                    return;
                }
            }
        }
    });
    // Past two counter resets, several checkpoints and chunk moves; killed mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reported = -1;
    while reported < 2 * RESET_EVERY + 40 {
        let left = deadline.saturating_duration_since(Instant::now());
        reported = rx.recv_timeout(left).expect("the writer reports commits");
    }
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");
    // Commits reported after the last one read may exist too.
    while let Ok(k) = rx.try_recv() {
        reported = k;
    }

    let opts = DurableOptions::new(dir.path());
    let (store, report) = Store::open(StoreOptions::default(), opts).expect("reopen");
    assert!(
        report.repairs() <= 1,
        "at most a torn last record: {report:?}"
    );
    let got = store.select(&[], i64::MIN, i64::MAX);
    assert_eq!(got.len(), 4, "three histogram series and up");
    for (s, series) in got.iter().filter(|s| !s.histograms.is_empty()).enumerate() {
        assert_eq!(series.labels.get("s"), Some(s.to_string().as_str()));
        let n = series.histograms.len() as i64;
        assert!(n > reported, "{n} histograms, {reported} commits reported");
        for (k, hs) in series.histograms.iter().enumerate() {
            let k = k as i64;
            assert_eq!(hs.t, k * 15_000);
            let mut want = latency(s as i64, k);
            want.counter_reset_hint = hs.h.counter_reset_hint;
            assert_eq!(*hs.h, want, "series {s} step {k}");
            if k > 0 && k % RESET_EVERY == 0 {
                // A reset starts a chunk; its first sample reads back `Unknown`, as
                // Prometheus 3 reads a chunk's first sample whatever its header says.
                assert_eq!(
                    hs.h.counter_reset_hint,
                    CounterResetHint::Unknown,
                    "step {k}"
                );
            }
        }
    }
    let up = got.iter().find(|s| s.histograms.is_empty()).expect("up");
    assert!(up.samples.len() as i64 > reported);
}
