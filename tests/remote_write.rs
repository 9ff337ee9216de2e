//! `remote_write:` against real receivers, with the real `redline run` binary.
//!
//! - Debian's Prometheus (2.42) with `--web.enable-remote-write-receiver` receives the series
//!   redline scrapes and records: Prometheus' `/api/v1/query` answers with the labels and
//!   values redline's own query API gives.
//! - A loopback receiver (tests/remote_write/receiver.rs, its own snappy + protobuf decoder)
//!   that fails the first requests with 500: every sample redline stored arrives exactly once,
//!   and `/metrics` counts the retries; external labels and write_relabel_configs apply;
//!   on SIGTERM the staleness markers are flushed to the receiver before redline exits.
//! - A receiver answering 400: batches are dropped and counted as non-recoverable.
//! - No receiver at all: the queue stays bounded, drops are counted, `/-/healthy` answers
//!   and scraping goes on.

mod common;
#[path = "remote_write/receiver.rs"]
mod receiver;

use common::{free_port, FixtureServer, ProcessGuard};
use receiver::{LabelSet, Receiver};
use redline::testdir::TempDir;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

const EXPOSITION: &str = r#"# TYPE demo_requests_total counter
demo_requests_total{code="200",path="/api/v1/a,b"} 1027
demo_requests_total{code="500",path="/q\"uote"} 3
# TYPE demo_temperature gauge
demo_temperature{room="kök"} 21.5
"#;

const RULES: &str = r#"groups:
  - name: demo
    interval: 1s
    rules:
      - record: job:demo_requests:sum
        expr: sum by (job) (demo_requests_total)
"#;

/// A running `redline run`.
struct Redline {
    _process: ProcessGuard,
    api: Api,
}

impl std::ops::Deref for Redline {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// redline's HTTP API.
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Redline {
    /// Starts redline with `config` (rules in `rules.yml` beside it) and waits until ready.
    async fn start(dir: &Path, config: &str) -> Redline {
        redline::install_crypto_provider();
        std::fs::write(dir.join("rules.yml"), RULES).expect("write rules");
        std::fs::write(dir.join("redline.yml"), config).expect("write redline config");
        let port = free_port();
        let process = ProcessGuard(
            common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
                .spawn()
                .expect("start redline run"),
        );
        let r = Redline {
            _process: process,
            api: Api {
                base: format!("http://127.0.0.1:{port}"),
                client: reqwest::Client::new(),
            },
        };
        r.wait("redline to be ready", |r| async move {
            r.status("/-/ready").await.filter(|s| *s == 200)
        })
        .await;
        r
    }
}

impl Api {
    async fn status(&self, path: &str) -> Option<u16> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        Some(resp.status().as_u16())
    }

    async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("GET /metrics");
        resp.text().await.expect("metrics body")
    }

    /// The value of the first `/metrics` line for `name` whose labels contain every
    /// `labels` fragment (0 when there is none).
    async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_value(&self.metrics().await, name, labels).unwrap_or(0.0)
    }

    async fn query(&self, q: &str) -> Value {
        query(&self.client, &self.base, q).await
    }

    /// Polls `check` until it answers, failing with `what` after [`DEADLINE`].
    async fn wait<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut(Api) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = check(self.clone()).await {
                return v;
            }
            assert!(
                Instant::now() < end,
                "timed out after {DEADLINE:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn metric_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// GETs `<base>/api/v1/query?query=q` and returns `data.result` (Null while unanswered).
async fn query(client: &reqwest::Client, base: &str, q: &str) -> Value {
    let Ok(resp) = client
        .get(format!(
            "{base}/api/v1/query?query={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        ))
        .send()
        .await
    else {
        return Value::Null;
    };
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    body["data"]["result"].clone()
}

/// `(labels, value)` of an instant-vector result, sorted.
fn vector(result: &Value) -> Vec<(LabelSet, String)> {
    let mut out: Vec<(LabelSet, String)> = result
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            (labels, s["value"][1].as_str().unwrap_or("").to_string())
        })
        .collect();
    out.sort();
    out
}

fn redline_config(scrape: std::net::SocketAddr, remote_write: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['{scrape}']
{remote_write}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_scraped_and_recorded_series() {
    let dir = TempDir::new("remote-write-prometheus");
    let fixture = FixtureServer::start(EXPOSITION, "text/plain; version=0.0.4").await;

    let prom_port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").expect("write config");
    let _prometheus =
        common::start_prometheus(&dir, prom_port, &["--web.enable-remote-write-receiver"]);
    let prom_base = format!("http://127.0.0.1:{prom_port}");

    let redline = Redline::start(
        &dir,
        &redline_config(
            fixture.addr,
            &format!(
                r#"remote_write:
  - url: {prom_base}/api/v1/write
    name: prometheus
    queue_config:
      batch_send_deadline: 500ms
"#
            ),
        ),
    )
    .await;

    let q = r#"{__name__=~"demo_requests_total|demo_temperature|up|job:demo_requests:sum"}"#;
    let ours = redline
        .wait("redline to scrape and record", |r| async move {
            let v = vector(&r.query(q).await);
            (v.len() == 5).then_some(v)
        })
        .await;
    assert!(
        ours.iter()
            .any(|(l, v)| l["__name__"] == "job:demo_requests:sum" && v == "1030"),
        "{ours:?}"
    );
    assert!(
        ours.iter()
            .any(|(l, _)| l.get("room").map(String::as_str) == Some("kök")),
        "{ours:?}"
    );

    let client = reqwest::Client::new();
    let end = Instant::now() + DEADLINE;
    let theirs = loop {
        let v = vector(&query(&client, &prom_base, q).await);
        if v == ours {
            break v;
        }
        assert!(
            Instant::now() < end,
            "Prometheus did not receive redline's series.\nredline: {ours:#?}\nPrometheus: {v:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(theirs, ours);
    assert!(
        redline
            .metric(
                "redline_remote_write_samples_sent_total",
                &["remote_name=\"prometheus\""]
            )
            .await
            > 0.0
    );
}

/// `(labels without the external label, timestamp ms)` of every sample accepted.
fn accepted_samples(rx: &Receiver) -> Vec<(LabelSet, i64)> {
    rx.with(|seen| {
        seen.accepted
            .iter()
            .flat_map(|s| {
                let mut l = s.labels.clone();
                l.remove("cluster");
                s.samples.iter().map(move |(t, _)| (l.clone(), *t))
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_retried_and_every_sample_arrives_once() {
    let dir = TempDir::new("remote-write-retry");
    let fixture = FixtureServer::start(EXPOSITION, "text/plain; version=0.0.4").await;
    // The first three requests fail with 500, then everything is accepted.
    let rx = Receiver::start(|n| if n < 3 { 500 } else { 204 }).await;
    let config = redline_config(
        fixture.addr,
        &format!(
            r#"remote_write:
  - url: {}
    name: flaky
    write_relabel_configs:
      - source_labels: [__name__]
        regex: demo_temperature
        action: drop
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 200ms
"#,
            rx.url()
        ),
    )
    .replace("global:\n", "global:\n  external_labels: {cluster: eu-1}\n");
    let redline = Redline::start(&dir, &config).await;

    // Let a few scrapes and evaluations pass, then take what redline stored.
    redline
        .wait("three scrapes", |r| async move {
            let v = r.query("count_over_time(up[1m])").await;
            let n: f64 = v[0]["value"][1].as_str()?.parse().ok()?;
            (n >= 3.0).then_some(())
        })
        .await;
    let mut stored: BTreeSet<(LabelSet, i64)> = BTreeSet::new();
    for q in [
        "demo_requests_total[1m]",
        "up[1m]",
        "job:demo_requests:sum[1m]",
    ] {
        let result = redline.query(q).await;
        for s in result.as_array().expect("matrix") {
            let labels: LabelSet = s["metric"]
                .as_object()
                .expect("metric")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect();
            for p in s["values"].as_array().expect("values") {
                let t = (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64;
                stored.insert((labels.clone(), t));
            }
        }
    }
    assert!(
        stored.len() >= 9,
        "three scrapes of three series: {stored:?}"
    );

    let end = Instant::now() + DEADLINE;
    loop {
        let got: BTreeSet<(LabelSet, i64)> = accepted_samples(&rx).into_iter().collect();
        let missing: Vec<_> = stored.difference(&got).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "samples redline stored never arrived: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = accepted_samples(&rx);
    let mut counts: BTreeMap<&(LabelSet, i64), usize> = BTreeMap::new();
    for s in &all {
        *counts.entry(s).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "samples received more than once: {twice:?}"
    );

    rx.with(|seen| {
        assert!(seen.errors.is_empty(), "protocol errors: {:?}", seen.errors);
        assert_eq!(&seen.requests[..3], &[500, 500, 500]);
        for s in &seen.accepted {
            assert_eq!(s.labels.get("cluster").map(String::as_str), Some("eu-1"));
            assert_ne!(
                s.labels["__name__"], "demo_temperature",
                "relabel drop ignored"
            );
            let ts: Vec<i64> = s.samples.iter().map(|p| p.0).collect();
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "out of order: {ts:?}");
        }
        assert!(seen
            .accepted
            .iter()
            .any(|s| s.samples.iter().any(|p| f64::from_bits(p.1) == 1027.0)));
    });
    let flaky = ["remote_name=\"flaky\""];
    assert!(
        redline
            .metric("redline_remote_write_samples_retried_total", &flaky)
            .await
            > 0.0
    );
    assert!(
        redline
            .metric(
                "redline_remote_write_samples_dropped_total",
                &["remote_name=\"flaky\"", "reason=\"relabel\""]
            )
            .await
            > 0.0
    );
    assert_eq!(
        redline
            .metric("redline_remote_write_samples_failed_total", &flaky)
            .await,
        0.0
    );

    // A graceful stop writes staleness markers and flushes them before exiting.
    let mut redline = redline;
    let pid = redline._process.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let end = Instant::now() + DEADLINE;
    while redline
        ._process
        .0
        .try_wait()
        .expect("redline process")
        .is_none()
    {
        assert!(Instant::now() < end, "redline did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rx.with(|seen| {
        let stale_up = seen.accepted.iter().any(|s| {
            s.labels["__name__"] == "up"
                && s.samples
                    .iter()
                    .any(|p| p.1 == redline::store::STALE_NAN_BITS)
        });
        assert!(stale_up, "no staleness marker for up arrived");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_batches_shed_samples_older_than_the_age_limit() {
    let dir = TempDir::new("remote-write-age-limit");
    let fixture = FixtureServer::start(EXPOSITION, "text/plain; version=0.0.4").await;
    // Eight failures with backoff 0.5 s, 1 s, 1 s, ...: the first scrape's samples are
    // retried for ~6 s, three times the age limit.
    let rx = Receiver::start(|n| if n < 8 { 500 } else { 204 }).await;
    let config = redline_config(
        fixture.addr,
        &format!(
            r#"remote_write:
  - url: {}
    name: aging
    queue_config:
      max_shards: 1
      batch_send_deadline: 200ms
      min_backoff: 500ms
      max_backoff: 1s
      sample_age_limit: 2s
"#,
            rx.url()
        ),
    );
    let redline = Redline::start(&dir, &config).await;

    let first_up = redline
        .wait("the first scrape", |r| async move {
            let v = r.query("up[1m]").await;
            let t = v[0]["values"][0][0].as_f64()?;
            Some((t * 1000.0).round() as i64)
        })
        .await;
    let end = Instant::now() + DEADLINE;
    while rx.with(|seen| seen.accepted.is_empty()) {
        assert!(Instant::now() < end, "no request was ever accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up_times: Vec<i64> = accepted_samples(&rx)
        .into_iter()
        .filter(|(l, _)| l["__name__"] == "up")
        .map(|(_, t)| t)
        .collect();
    assert!(
        !up_times.contains(&first_up),
        "the first scrape's `up` outlived sample_age_limit yet was still sent: {up_times:?}"
    );
    rx.with(|seen| assert!(seen.errors.is_empty(), "protocol errors: {:?}", seen.errors));
    assert!(
        redline
            .metric(
                "redline_remote_write_samples_dropped_total",
                &["remote_name=\"aging\"", "reason=\"too_old\""]
            )
            .await
            > 0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_batches_are_dropped_as_non_recoverable() {
    let dir = TempDir::new("remote-write-bad-request");
    let fixture = FixtureServer::start(EXPOSITION, "text/plain; version=0.0.4").await;
    let rx = Receiver::start(|_| 400).await;
    let redline = Redline::start(
        &dir,
        &redline_config(
            fixture.addr,
            &format!(
                "remote_write:\n  - url: {}\n    name: strict\n    queue_config: {{batch_send_deadline: 200ms}}\n",
                rx.url()
            ),
        ),
    )
    .await;
    let labels = ["remote_name=\"strict\"", "reason=\"non_recoverable\""];
    let dropped = redline
        .wait("non-recoverable drops", |r| async move {
            let n = r
                .metric("redline_remote_write_samples_dropped_total", &labels)
                .await;
            (n >= 10.0).then_some(n)
        })
        .await;
    let failed = redline
        .metric(
            "redline_remote_write_samples_failed_total",
            &["remote_name=\"strict\""],
        )
        .await;
    assert!(failed >= dropped, "failed {failed} < dropped {dropped}");
    assert_eq!(
        redline
            .metric(
                "redline_remote_write_samples_retried_total",
                &["remote_name=\"strict\""]
            )
            .await,
        0.0,
        "a 400 must not be retried"
    );
    assert_eq!(
        redline
            .metric(
                "redline_remote_write_samples_sent_total",
                &["remote_name=\"strict\""]
            )
            .await,
        0.0
    );
    rx.with(|seen| {
        assert!(seen.errors.is_empty(), "protocol errors: {:?}", seen.errors);
        assert!(seen.requests.len() >= 2, "{:?}", seen.requests);
        assert!(seen.accepted.is_empty());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_keeps_the_queue_bounded_and_scraping_going() {
    let dir = TempDir::new("remote-write-down");
    let mut body = String::from("# TYPE wide gauge\n");
    for i in 0..300 {
        body.push_str(&format!("wide{{i=\"{i}\"}} {i}\n"));
    }
    let fixture = FixtureServer::start(&body, "text/plain; version=0.0.4").await;
    // Nothing listens on this port.
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let redline = Redline::start(
        &dir,
        &redline_config(
            fixture.addr,
            &format!(
                r#"remote_write:
  - url: {url}
    name: down
    queue_config:
      capacity: 100
      max_shards: 1
      max_samples_per_send: 50
      batch_send_deadline: 100ms
      min_backoff: 50ms
      max_backoff: 500ms
"#
            ),
        ),
    )
    .await;
    let down = ["remote_name=\"down\""];
    redline
        .wait("queue-full drops", |r| async move {
            let n = r
                .metric(
                    "redline_remote_write_samples_dropped_total",
                    &["remote_name=\"down\"", "reason=\"queue_full\""],
                )
                .await;
            (n > 300.0).then_some(())
        })
        .await;
    let scrapes_before = redline
        .metric("redline_scrapes_total", &["job=\"demo\""])
        .await;
    for _ in 0..5 {
        let pending = redline
            .metric("redline_remote_write_samples_pending", &down)
            .await;
        // One shard: its buffer (capacity) plus the batch being retried.
        assert!(pending <= 150.0, "pending {pending} exceeds the bound");
        assert_eq!(redline.status("/-/healthy").await, Some(200));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        redline
            .metric("redline_remote_write_samples_retried_total", &down)
            .await
            > 0.0
    );
    assert_eq!(
        redline
            .metric("redline_remote_write_samples_sent_total", &down)
            .await,
        0.0
    );
    redline
        .wait("scraping to go on", |r| async move {
            let n = r.metric("redline_scrapes_total", &["job=\"demo\""]).await;
            (n > scrapes_before).then_some(())
        })
        .await;
    let up = vector(&redline.query("up").await);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].1, "1");
    let wide = vector(&redline.query("count(wide)").await);
    assert_eq!(wide[0].1, "300");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_moves_remote_write_to_a_new_receiver() {
    let dir = TempDir::new("remote-write-reload");
    let fixture = FixtureServer::start(EXPOSITION, "text/plain; version=0.0.4").await;
    let first = Receiver::start(|_| 204).await;
    let second = Receiver::start(|_| 204).await;
    let section = |rx: &Receiver, name: &str| {
        format!(
            "remote_write:\n  - url: {}\n    name: {name}\n    queue_config: {{batch_send_deadline: 200ms}}\n",
            rx.url()
        )
    };
    let redline = Redline::start(
        &dir,
        &redline_config(fixture.addr, &section(&first, "first")),
    )
    .await;
    redline
        .wait("samples at the first receiver", |_| async {
            (!accepted_samples(&first).is_empty()).then_some(())
        })
        .await;

    // The same section again: a reload leaves the queue running. A restarted queue would
    // start its counters from zero: read right after the reload, they still hold the three
    // requests sent before it (a new queue cannot have sent three batches in that time:
    // one scrape a second), and the same queue keeps sending.
    let requests = |api: Api| async move {
        api.metric(
            "redline_remote_write_requests_sent_total",
            &["remote_name=\"first\""],
        )
        .await
    };
    let requests_before = redline
        .wait("three requests to the first receiver", |r| async move {
            let n = requests(r).await;
            (n >= 3.0).then_some(n)
        })
        .await;
    let reload = |api: Api| async move {
        api.client
            .post(format!("{}/-/reload", api.base))
            .send()
            .await
            .expect("POST /-/reload")
            .status()
            .as_u16()
    };
    assert_eq!(reload(redline.api.clone()).await, 200);
    let requests_after = requests(redline.api.clone()).await;
    assert!(
        requests_after >= requests_before,
        "an unchanged queue is not restarted: {requests_after} requests counted after the \
         reload, {requests_before} before"
    );
    redline
        .wait("the unchanged queue to send again", |r| async move {
            (requests(r).await > requests_after).then_some(())
        })
        .await;

    // A new URL: the second receiver gets the samples from then on.
    std::fs::write(
        dir.join("redline.yml"),
        redline_config(fixture.addr, &section(&second, "second")),
    )
    .expect("rewrite config");
    assert_eq!(reload(redline.api.clone()).await, 200);
    redline
        .wait("samples at the second receiver", |_| async {
            (!accepted_samples(&second).is_empty()).then_some(())
        })
        .await;
    let first_total = accepted_samples(&first).len();
    let metrics = redline.metrics().await;
    assert!(
        metrics.contains("remote_name=\"second\""),
        "/metrics reports the new queue"
    );
    assert!(
        !metrics.contains("remote_name=\"first\""),
        "/metrics no longer reports the old queue"
    );
    // Two more scrapes reach the second receiver (samples stamped two scrape intervals
    // after the newest it had): those would have gone to the first one too had its queue
    // kept being fed.
    let newest = |rx: &Receiver| {
        accepted_samples(rx)
            .iter()
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(i64::MIN)
    };
    let mark = newest(&second);
    redline
        .wait("two more scrapes at the second receiver", |_| async {
            (newest(&second) >= mark + 2_000).then_some(())
        })
        .await;
    assert_eq!(
        accepted_samples(&first).len(),
        first_total,
        "the old receiver gets nothing after the reload"
    );
    assert!(accepted_samples(&second).len() > 1);
}

/// redline's encoding of a native histogram, decoded by Debian's Prometheus (2.42, native
/// histograms enabled): the histogram it stores and serves is the one redline sent. The
/// expected buckets are worked out by hand: schema -1 has base 4, so bucket -2 is
/// (4^-3, 4^-2] and bucket -1 is (4^-2, 4^-1]; the zero bucket is [-0.001, 0.001].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_decodes_redlines_native_histograms() {
    use redline::histogram::{FloatHistogram, Span};
    use redline::remote::proto::{compress, EncodedLabels, WriteRequest};

    let dir = TempDir::new("remote-write-histogram");
    let prom_port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").expect("write config");
    let _prometheus = common::start_prometheus(
        &dir,
        prom_port,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let prom_base = format!("http://127.0.0.1:{prom_port}");

    let h = FloatHistogram {
        schema: -1,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 6.0,
        sum: 2.5,
        positive_spans: vec![Span {
            offset: -2,
            length: 2,
        }],
        positive_buckets: vec![3.0, 2.0],
        ..FloatHistogram::default()
    };
    let now_ms = redline::timefmt::now_ms();
    let mut req = WriteRequest::new();
    req.histogram_series(
        &EncodedLabels::new([("__name__", "rpc_duration_seconds"), ("job", "api")]),
        &[(now_ms, &h)],
    );
    let body = compress(&mut snap::raw::Encoder::new(), req.as_bytes());

    redline::install_crypto_provider();
    let client = reqwest::Client::new();
    let end = Instant::now() + DEADLINE;
    loop {
        let sent = client
            .post(format!("{prom_base}/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => panic!("Prometheus refused the request: {}", r.status()),
            Err(_) => {
                assert!(Instant::now() < end, "Prometheus did not start");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let result = query(&client, &prom_base, "rpc_duration_seconds").await;
    let sample = &result[0];
    assert_eq!(sample["metric"]["job"], "api", "{result}");
    let hist = &sample["histogram"][1];
    assert_eq!(hist["count"], "6", "{result}");
    assert_eq!(hist["sum"], "2.5", "{result}");
    assert_eq!(
        hist["buckets"],
        serde_json::json!([
            [3, "-0.001", "0.001", "1"],
            [0, "0.015625", "0.0625", "3"],
            [0, "0.0625", "0.25", "2"]
        ]),
        "{result}"
    );
}

/// Native histograms committed to the store go through the remote-write queue (the one
/// `redline run` starts, beside a float sample of the same commit) to Debian's Prometheus,
/// whose query API then serves the histogram bucket by bucket (schema 0: bucket 1 is (1, 2],
/// bucket 2 is (2, 4]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_queue_sends_native_histograms() {
    use redline::histogram::{FloatHistogram, Span};
    use redline::store::{Labels, Store};

    let dir = TempDir::new("remote-write-queue-histogram");
    let prom_port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").expect("write config");
    let _prometheus = common::start_prometheus(
        &dir,
        prom_port,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let prom_base = format!("http://127.0.0.1:{prom_port}");
    let cfg = redline::config::Config::from_yaml_str(
        &format!(
            "remote_write:\n  - url: {prom_base}/api/v1/write\n    queue_config: {{batch_send_deadline: 200ms, min_backoff: 100ms, max_backoff: 200ms}}\n"
        ),
        "redline.yml",
    )
    .expect("config loads");
    let store = std::sync::Arc::new(Store::new());
    let mut telemetry = redline::telemetry::Telemetry::new(store.clone());
    let mut rw = redline::remote::spawn(
        &cfg.remote_write,
        &Labels::empty(),
        store.clone(),
        &mut telemetry,
    );

    let now_ms = redline::timefmt::now_ms();
    let h = FloatHistogram {
        schema: 0,
        count: 7.0,
        sum: 11.5,
        positive_spans: vec![Span {
            offset: 1,
            length: 2,
        }],
        positive_buckets: vec![4.0, 3.0],
        ..FloatHistogram::default()
    };
    let mut app = store.appender();
    app.append_histogram(
        &Labels::from_pairs([("__name__", "rpc_seconds"), ("job", "api")]),
        now_ms,
        h,
    )
    .expect("buffered");
    app.append(
        &Labels::from_pairs([("__name__", "up"), ("job", "api")]),
        now_ms,
        1.0,
    )
    .expect("buffered");
    app.commit();

    let client = reqwest::Client::new();
    let end = Instant::now() + DEADLINE;
    let result = loop {
        let r = query(&client, &prom_base, "rpc_seconds").await;
        if r.as_array().is_some_and(|a| !a.is_empty()) {
            break r;
        }
        assert!(
            Instant::now() < end,
            "Prometheus did not receive the histogram"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hist = &result[0]["histogram"][1];
    assert_eq!(hist["count"], "7", "{result}");
    assert_eq!(hist["sum"], "11.5", "{result}");
    assert_eq!(
        hist["buckets"],
        serde_json::json!([[0, "1", "2", "4"], [0, "2", "4", "3"]]),
        "{result}"
    );
    rw.shutdown(Duration::from_secs(1)).await;
}
