//! The real binary scraping a loopback target, killed with SIGKILL (or stopped with SIGTERM)
//! and restarted on the same state directory: every sample it had committed is still there
//! with the same value and timestamp, and the only gap in the series is the restart.

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
