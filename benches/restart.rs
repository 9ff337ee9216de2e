//! Restart after a crash and after a clean shutdown, side by side with Debian's Prometheus on
//! the same samples (issue #21): the time from spawning the server to `/-/ready` answering
//! 200, then to a query proving every sample is back; the peak resident memory (`VmHWM`) of
//! the restarted process when it turned ready (replay) and after the proof; and the bytes on
//! disk per sample.
//!
//! The data: `--series` series (default 1,000,000) of the fixtures in `tests/fixtures/`
//! scaled to many "nodes" (kubelet/cAdvisor, kube-state-metrics, kube-scheduler,
//! node_exporter label sets; `support::replica_labels`) plus a `bench_part` label that splits
//! the proof into queries of at most ~20M samples and a `bench_metric` label repeating the
//! metric name (`count_over_time` drops the name, and series of different metrics must stay
//! apart in its result), sampled every 15 s over the `--hours`
//! (default 2) before the start of the run. Counters grow by a per-series rate with jitter
//! (integer counts, or float seconds for `_seconds` families); gauges move along a slow sine
//! with noise, as whole numbers from 100 up and with two decimals below, so no series is
//! constant.
//!
//! Prometheus (`/usr/bin/prometheus`, 127.0.0.1, free port, temporary directory, no scrape
//! jobs, `--web.enable-remote-write-receiver`) receives the samples through remote write
//! (redline's own encoder, `redline::remote::proto`), one minute of every series per round,
//! two senders. redline receives them through its durable store in this process, one commit
//! per node and scrape. Then each server is started and timed in turn: after kill -9 (WAL and
//! chunk files), and after a clean shutdown (Prometheus without and with
//! `--enable-feature=memory-snapshot-on-shutdown`; redline with its shutdown snapshot).
//!
//! Proof of "all data queryable": `count(count_over_time({bench_part="p"}[R]) == S)` at the
//! last sample's time, summed over the parts, must equal the series count, where `S` is the
//! samples per series and `R` covers them all.
//!
//! Not a test: `cargo bench --bench restart -- [--series N] [--hours H] [--workdir DIR]
//! [--keep] [--only prometheus|redline]`. It prints one table and the ratios
//! redline / Prometheus; the figures go to docs/BENCHMARKS.md with the command.

#[path = "support/mod.rs"]
mod support;

use redline::remote::proto::{compress, EncodedLabels, WriteRequest};
use redline::store::{DurableOptions, Labels, SeriesRef, Store, StoreOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::BaseSeries;

const INTERVAL_MS: i64 = 15_000;
/// Samples per series in one remote-write round (one minute at 15 s).
const ROUND_SAMPLES: usize = 4;
/// Series per remote-write request (so 10,000 samples per request).
const REQUEST_SERIES: usize = 2_500;
/// Samples one proof query may touch: under both servers' default `--query.max-samples`
/// (50,000,000), which redline counts over the whole selection.
const PART_SAMPLES: usize = 20_000_000;
/// Samples per series between two checkpoints of redline's store: 10 minutes, the default
/// `storage.wal.checkpoint_interval`.
const CHECKPOINT_SAMPLES: usize = 40;
const PROM_KILL: &str = "prometheus after kill -9";
const PROM_TERM: &str = "prometheus after SIGTERM";
const PROM_SNAPSHOT: &str = "prometheus after SIGTERM, memory snapshot";
const RED_KILL: &str = "redline after kill -9";
const RED_TERM: &str = "redline after SIGTERM, snapshot";
const PROMETHEUS: &str = "/usr/bin/prometheus";
/// How long a server may take to turn ready or to exit.
const DEADLINE: Duration = Duration::from_secs(3_600);

struct Args {
    series: usize,
    hours: usize,
    workdir: PathBuf,
    keep: bool,
    prometheus: bool,
    redline: bool,
}

fn args() -> Args {
    let mut a = Args {
        series: 1_000_000,
        hours: 2,
        workdir: std::env::temp_dir().join(format!("redline-restart-{}", std::process::id())),
        keep: false,
        prometheus: true,
        redline: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--series" => a.series = value("--series").parse().expect("--series: a count"),
            "--hours" => a.hours = value("--hours").parse().expect("--hours: whole hours"),
            "--workdir" => a.workdir = PathBuf::from(value("--workdir")),
            "--keep" => a.keep = true,
            "--only" => match value("--only").as_str() {
                "prometheus" => a.redline = false,
                "redline" => a.prometheus = false,
                other => panic!("--only: prometheus or redline, not {other:?}"),
            },
            // `cargo bench` passes `--bench`; criterion-style filters mean nothing here.
            "--bench" => {}
            other => panic!("unknown argument {other:?}"),
        }
    }
    assert!(
        a.series > 0 && a.hours > 0,
        "--series and --hours must be positive"
    );
    a
}

/// The samples both servers receive.
struct Workload {
    base: Vec<BaseSeries>,
    series: usize,
    samples: usize,
    start_ms: i64,
    parts: usize,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser: a cheap, well-spread hash of the series and sample numbers.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A number in [0, 1) from `x`.
fn unit(x: u64) -> f64 {
    (mix(x) >> 11) as f64 / (1u64 << 53) as f64
}

impl Workload {
    fn new(series: usize, hours: usize) -> Workload {
        let samples = hours * 3_600_000 / INTERVAL_MS as usize;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64;
        let end_ms = now_ms - now_ms % INTERVAL_MS;
        Workload {
            base: support::base_series(),
            series,
            samples,
            start_ms: end_ms - (samples as i64 - 1) * INTERVAL_MS,
            parts: (series * samples).div_ceil(PART_SAMPLES).max(1),
        }
    }

    fn end_ms(&self) -> i64 {
        self.t(self.samples - 1)
    }

    fn t(&self, k: usize) -> i64 {
        self.start_ms + k as i64 * INTERVAL_MS
    }

    fn total_samples(&self) -> u64 {
        (self.series * self.samples) as u64
    }

    fn labels(&self, i: usize) -> Labels {
        let b = &self.base[i % self.base.len()];
        support::replica_labels(b, i / self.base.len())
            .with("bench_part", &(i % self.parts).to_string())
            .with("bench_metric", &b.name)
    }

    /// Series `i`'s value at sample `k`.
    fn value(&self, i: usize, k: usize) -> f64 {
        let b = &self.base[i % self.base.len()];
        let seed = (i as u64) << 24;
        let jitter = unit(seed | k as u64);
        let start = b.value.abs().min(1e12);
        if b.counter {
            // Increments per 15 s between 1 and 1,000; the jitter stays below one increment,
            // so the counter never goes down.
            let step = 1.0 + (mix(seed) % 1_000) as f64;
            if b.name.contains("_seconds") {
                start + (step * k as f64 + jitter * step) / 100.0
            } else {
                start + (step * k as f64 + jitter * step).floor()
            }
        } else {
            let level = start.max(1.0) * (1 + i % 7) as f64;
            let phase = unit(seed) * std::f64::consts::TAU;
            let v = level * (1.0 + 0.1 * (k as f64 / 40.0 + phase).sin() + 0.01 * jitter);
            // Whole numbers (bytes, counts) from 100 up; two decimals below (ratios, load).
            if v >= 100.0 {
                v.round()
            } else {
                (v * 100.0).round() / 100.0
            }
        }
    }

    /// The proof queries, one per part.
    fn proof_queries(&self) -> Vec<String> {
        let range_m = (self.samples as i64 * INTERVAL_MS) / 60_000 + 10;
        (0..self.parts)
            .map(|p| {
                format!(
                    "count(count_over_time({{bench_part=\"{p}\"}}[{range_m}m]) == {})",
                    self.samples
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// HTTP on loopback, one connection per request.

/// `(status, body)` of one request to 127.0.0.1:`port`.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let bad = || std::io::Error::other(format!("malformed HTTP response to {method} {path}"));
    let end = memchr::memmem::find(&resp, b"\r\n\r\n").ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&resp[..end]).to_ascii_lowercase();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let mut body = resp.split_off(end + 4);
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = memchr::memmem::find(b, b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(eol + 2..eol + 2 + size)?);
        b = b.get(eol + 4 + size..)?;
    }
}

/// The value of a one-sample instant vector (0 for an empty one).
fn query_value(port: u16, query: &str, time_ms: i64) -> f64 {
    let qs = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .append_pair("time", &format!("{:.3}", time_ms as f64 / 1000.0))
        .finish();
    let (status, body) =
        http(port, "GET", &format!("/api/v1/query?{qs}"), &[], b"").expect("query request");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{query}: {text}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("query answer is JSON");
    match v["data"]["result"].as_array().map(|r| r.as_slice()) {
        Some([]) => 0.0,
        Some([one]) => one["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{query}: {text}")),
        _ => panic!("{query}: {text}"),
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

// ---------------------------------------------------------------------------------------
// Processes.

/// `field` (`VmHWM:`, `VmRSS:`) of `pid` in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// A server process being measured.
struct Server {
    child: Child,
    port: u16,
    what: String,
}

impl Server {
    fn spawn(what: &str, mut cmd: Command, port: u16, log: &Path) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        Server {
            child,
            port,
            what: what.to_string(),
        }
    }

    /// Polls `/-/ready` until it answers 200.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok((200, _)) = http(self.port, "GET", "/-/ready", &[], b"") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited before it was ready: {status}", self.what);
            }
            assert!(Instant::now() < deadline, "{} not ready", self.what);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kib(&self, field: &str) -> u64 {
        status_kib(self.child.id(), field)
    }

    fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, and waits for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(ok.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} exited with {status}", self.what);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    /// A server left running by a failed run is killed with the bench, never left behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One timed start.
struct Restart {
    what: String,
    ready: Duration,
    proof: Duration,
    hwm_ready_kib: u64,
    rss_ready_kib: u64,
    hwm_end_kib: u64,
    rss_end_kib: u64,
    series_proven: u64,
}

/// Spawns `cmd`, times it to ready and through the proof, and returns it still running.
fn timed_start(what: &str, cmd: Command, port: u16, log: &Path, w: &Workload) -> (Server, Restart) {
    let t0 = Instant::now();
    let mut server = Server::spawn(what, cmd, port, log);
    server.wait_ready();
    let ready = t0.elapsed();
    let (hwm_ready_kib, rss_ready_kib) = (server.kib("VmHWM:"), server.kib("VmRSS:"));
    let mut series_proven = 0;
    for q in w.proof_queries() {
        series_proven += query_value(port, &q, w.end_ms()) as u64;
    }
    let proof = t0.elapsed();
    let r = Restart {
        what: what.to_string(),
        ready,
        proof,
        hwm_ready_kib,
        rss_ready_kib,
        hwm_end_kib: server.kib("VmHWM:"),
        rss_end_kib: server.kib("VmRSS:"),
        series_proven,
    };
    eprintln!(
        "restart: {what}: ready {:.1} s, proven {:.1} s ({} of {} series), VmHWM {} MiB at \
         ready, {} MiB after the proof",
        r.ready.as_secs_f64(),
        r.proof.as_secs_f64(),
        r.series_proven,
        w.series,
        r.hwm_ready_kib / 1024,
        r.hwm_end_kib / 1024
    );
    (server, r)
}

/// Bytes the files under `dir` occupy on disk (allocated blocks, as `du` counts them).
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += disk_bytes(&e.path());
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}

// ---------------------------------------------------------------------------------------
// Prometheus.

/// Results of one server's side.
struct Side {
    ingest: Duration,
    /// What else the side reports about its ingest.
    note: String,
    disk_after_ingest: u64,
    restarts: Vec<Restart>,
}

fn prometheus_cmd(dir: &Path, port: u16, snapshot: bool, retention_h: usize) -> Command {
    let mut cmd = Command::new(PROMETHEUS);
    cmd.arg(format!(
        "--config.file={}",
        dir.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.join("data").display()
    ))
    .arg(format!("--storage.tsdb.retention.time={retention_h}h"))
    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
    .arg("--web.enable-remote-write-receiver")
    .arg("--log.level=warn");
    if snapshot {
        cmd.arg("--enable-feature=memory-snapshot-on-shutdown");
    }
    cmd
}

/// Sends every sample to Prometheus' remote-write receiver.
fn push_remote_write(port: u16, w: &Workload) -> Duration {
    let encoded: Vec<EncodedLabels> = (0..w.series)
        .map(|i| EncodedLabels::new(w.labels(i).iter().map(|l| (&*l.name, &*l.value))))
        .collect();
    let senders = 2;
    let barrier = Barrier::new(senders);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for sender in 0..senders {
            let (encoded, barrier) = (&encoded, &barrier);
            s.spawn(move || {
                let mine = sender * w.series / senders..(sender + 1) * w.series / senders;
                let mut req = WriteRequest::new();
                let mut snappy = snap::raw::Encoder::new();
                let mut samples = Vec::with_capacity(ROUND_SAMPLES);
                for round in (0..w.samples).step_by(ROUND_SAMPLES) {
                    let ks = round..(round + ROUND_SAMPLES).min(w.samples);
                    for batch in mine.clone().step_by(REQUEST_SERIES) {
                        req.clear();
                        let batch = batch..(batch + REQUEST_SERIES).min(mine.end);
                        for (i, labels) in batch.clone().zip(&encoded[batch]) {
                            samples.clear();
                            samples.extend(ks.clone().map(|k| (w.t(k), w.value(i, k))));
                            req.series(labels, &samples);
                        }
                        let body = compress(&mut snappy, req.as_bytes());
                        let (status, text) = http(
                            port,
                            "POST",
                            "/api/v1/write",
                            &[
                                ("Content-Type", "application/x-protobuf"),
                                ("Content-Encoding", "snappy"),
                                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                            ],
                            &body,
                        )
                        .expect("remote write request");
                        assert!(
                            (200..300).contains(&status),
                            "remote write: {status} {}",
                            String::from_utf8_lossy(&text)
                        );
                    }
                    // Both senders finish a minute before either starts the next, so no
                    // sample falls behind Prometheus' appendable window.
                    barrier.wait();
                }
            });
        }
    });
    t0.elapsed()
}

fn prometheus_side(w: &Workload, dir: &Path, retention_h: usize) -> Side {
    std::fs::create_dir_all(dir).expect("workdir");
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").expect("config");
    let log = dir.join("prometheus.log");
    let data = dir.join("data");
    let port = free_port();

    let mut first = Server::spawn(
        "prometheus (ingest)",
        prometheus_cmd(dir, port, false, retention_h),
        port,
        &log,
    );
    first.wait_ready();
    let ingest = push_remote_write(port, w);
    eprintln!(
        "restart: prometheus: {} samples in {:.1} s by remote write",
        w.total_samples(),
        ingest.as_secs_f64()
    );
    first.kill9();
    let disk_after_ingest = disk_bytes(&data);

    // Each start ends with SIGTERM. The second is started with the snapshot feature so that
    // its own shutdown writes one; it still replays the WAL (the first wrote no snapshot).
    let restarts = [(PROM_KILL, false), (PROM_TERM, true), (PROM_SNAPSHOT, true)]
        .into_iter()
        .map(|(what, snapshot)| {
            let cmd = prometheus_cmd(dir, port, snapshot, retention_h);
            let (s, r) = timed_start(what, cmd, port, &log, w);
            s.terminate();
            r
        })
        .collect();
    Side {
        ingest,
        note: String::new(),
        disk_after_ingest,
        restarts,
    }
}

// ---------------------------------------------------------------------------------------
// redline.

fn redline_cmd(dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redline"));
    cmd.arg("--log-level=warn")
        .arg("run")
        .arg(format!("--config={}", dir.join("redline.yml").display()))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--state-dir={}", dir.join("state").display()));
    cmd
}

/// Writes every sample through the durable store, one commit per node and scrape, two
/// writers (as two scrape loops), moving closed chunks to disk once per scraped minute as
/// the service does; then closes the store without a snapshot, which leaves what kill -9
/// after the last commit would.
fn write_durable(w: &Workload, tsdb: &Path, retention_h: usize) -> (Duration, Vec<f64>) {
    let (store, _) = Store::open(
        StoreOptions {
            retention: Duration::from_secs(retention_h as u64 * 3600),
        },
        DurableOptions::new(tsdb),
    )
    .expect("open the durable store");
    let nb = w.base.len();
    let nodes = w.series.div_ceil(nb);
    let writers = 2;
    let barrier = Barrier::new(writers);
    let t0 = Instant::now();
    let checkpoint_seconds = std::thread::scope(|s| {
        let writers: Vec<_> = (0..writers)
            .map(|writer| {
                let (store, barrier) = (&store, &barrier);
                s.spawn(move || {
                    let mut checkpoint_seconds = Vec::new();
                    let mine: Vec<std::ops::Range<usize>> = (writer..nodes)
                        .step_by(writers)
                        .map(|r| r * nb..((r + 1) * nb).min(w.series))
                        .collect();
                    let mut refs: Vec<Vec<SeriesRef>> = vec![Vec::new(); mine.len()];
                    for k in 0..w.samples {
                        let t = w.t(k);
                        for (node, series) in mine.iter().enumerate() {
                            let mut app = store.appender();
                            if k == 0 {
                                for i in series.clone() {
                                    refs[node].push(
                                        app.append(&w.labels(i), t, w.value(i, k)).expect("append"),
                                    );
                                }
                            } else {
                                for (r, i) in refs[node].iter().zip(series.clone()) {
                                    app.append_ref(*r, t, w.value(i, k)).expect("append");
                                }
                            }
                            let stats = app.commit();
                            assert_eq!(
                                stats.appended,
                                series.len(),
                                "commit of node {node} at {t}"
                            );
                        }
                        // The service's cadence in data time: closed chunks to disk at once
                        // (every 10 s), a checkpoint every 10 minutes (the default
                        // `storage.wal.checkpoint_interval`) but none at the end, so the log
                        // holds the longest tail a kill -9 can leave.
                        barrier.wait();
                        if writer == 0 {
                            if (k + 1) % CHECKPOINT_SAMPLES == 0 && k + 1 < w.samples {
                                store.checkpoint().expect("checkpoint");
                                checkpoint_seconds.push(
                                    store
                                        .durable_stats()
                                        .map_or(0.0, |d| d.last_checkpoint_seconds),
                                );
                            } else {
                                store.persist_chunks().expect("persist chunks");
                                store.sync().expect("sync");
                            }
                        }
                        barrier.wait();
                    }
                    checkpoint_seconds
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    store.close(false).expect("close the store");
    (t0.elapsed(), checkpoint_seconds)
}

fn redline_side(w: &Workload, dir: &Path, retention_h: usize) -> Side {
    std::fs::create_dir_all(dir).expect("workdir");
    std::fs::write(
        dir.join("redline.yml"),
        format!("storage:\n  retention: {retention_h}h\n"),
    )
    .expect("config");
    let log = dir.join("redline.log");
    let tsdb = dir.join("state").join("tsdb");
    let port = free_port();
    let (ingest, checkpoint_seconds) = write_durable(w, &tsdb, retention_h);
    let note = format!(
        "{} checkpoints while writing, {:.2} s the longest",
        checkpoint_seconds.len(),
        checkpoint_seconds.iter().copied().fold(0.0, f64::max)
    );
    eprintln!(
        "restart: redline: {} samples in {:.1} s through the durable store ({note})",
        w.total_samples(),
        ingest.as_secs_f64()
    );
    let disk_after_ingest = disk_bytes(&tsdb);
    // The first start's SIGTERM writes the shutdown snapshot the second starts from.
    let restarts = [RED_KILL, RED_TERM]
        .into_iter()
        .map(|what| {
            let (s, r) = timed_start(what, redline_cmd(dir, port), port, &log, w);
            s.terminate();
            r
        })
        .collect();
    Side {
        ingest,
        note,
        disk_after_ingest,
        restarts,
    }
}

// ---------------------------------------------------------------------------------------
// Report.

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn report(w: &Workload, sides: &[(&str, &Side)]) {
    println!(
        "\nrestart: {} series x {} samples (15 s over {} h) = {} samples, {} proof queries",
        w.series,
        w.samples,
        w.samples as i64 * INTERVAL_MS / 3_600_000,
        w.total_samples(),
        w.parts
    );
    println!(
        "| start | ready (s) | all data queried (s) | VmHWM at ready (MiB) | VmRSS at ready (MiB) | VmHWM after proof (MiB) | VmRSS after proof (MiB) | series proven |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (_, side) in sides {
        for r in &side.restarts {
            println!(
                "| {} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {} of {} |",
                r.what,
                r.ready.as_secs_f64(),
                r.proof.as_secs_f64(),
                mib(r.hwm_ready_kib),
                mib(r.rss_ready_kib),
                mib(r.hwm_end_kib),
                mib(r.rss_end_kib),
                r.series_proven,
                w.series
            );
        }
    }
    println!();
    for (name, side) in sides {
        println!(
            "{name}: ingest {:.1} s ({:.0} samples/s{}); on disk after ingest {:.1} MiB, \
             {:.2} bytes/sample",
            side.ingest.as_secs_f64(),
            w.total_samples() as f64 / side.ingest.as_secs_f64(),
            if side.note.is_empty() {
                String::new()
            } else {
                format!("; {}", side.note)
            },
            side.disk_after_ingest as f64 / (1 << 20) as f64,
            side.disk_after_ingest as f64 / w.total_samples() as f64
        );
    }
    let find = |what: &str| {
        sides
            .iter()
            .flat_map(|(_, s)| &s.restarts)
            .find(|r| r.what == what)
    };
    for (red, prom) in [
        (RED_KILL, PROM_KILL),
        (RED_TERM, PROM_TERM),
        (RED_TERM, PROM_SNAPSHOT),
    ] {
        let (Some(r), Some(p)) = (find(red), find(prom)) else {
            continue;
        };
        println!(
            "ratio redline / Prometheus, {red} / {prom}: ready {:.2}, all data queried {:.2}, \
             VmHWM at ready {:.2}, VmRSS at ready {:.2}, VmHWM after the proof {:.2}",
            r.ready.as_secs_f64() / p.ready.as_secs_f64(),
            r.proof.as_secs_f64() / p.proof.as_secs_f64(),
            r.hwm_ready_kib as f64 / p.hwm_ready_kib as f64,
            r.rss_ready_kib as f64 / p.rss_ready_kib as f64,
            r.hwm_end_kib as f64 / p.hwm_end_kib as f64,
        );
    }
    if let [(_, a), (_, b)] = sides {
        println!(
            "ratio redline / Prometheus, bytes on disk after ingest: {:.2}",
            b.disk_after_ingest as f64 / a.disk_after_ingest as f64
        );
    }
}

fn main() {
    let a = args();
    let w = Workload::new(a.series, a.hours);
    let retention_h = a.hours.max(24) + 1;
    eprintln!(
        "restart: {} series ({} fixture series per node), {} samples each, workdir {}",
        w.series,
        w.base.len(),
        w.samples,
        a.workdir.display()
    );
    let mut sides: Vec<(&str, Side)> = Vec::new();
    if a.prometheus {
        let dir = a.workdir.join("prometheus");
        sides.push(("prometheus", prometheus_side(&w, &dir, retention_h)));
        // Its figures are taken: free the disk before redline's side writes.
        if !a.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if a.redline {
        sides.push((
            "redline",
            redline_side(&w, &a.workdir.join("redline"), retention_h),
        ));
    }
    let refs: Vec<(&str, &Side)> = sides.iter().map(|(n, s)| (*n, s)).collect();
    report(&w, &refs);
    let all_proven = sides
        .iter()
        .flat_map(|(_, s)| &s.restarts)
        .all(|r| r.series_proven == w.series as u64);
    if !a.keep {
        let _ = std::fs::remove_dir_all(&a.workdir);
    }
    assert!(all_proven, "a restarted server lost data (see the table)");
}
