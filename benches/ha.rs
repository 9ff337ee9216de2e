//! High availability: failover time and replication lag of two real `redline run` replicas
//! (this bench profile's binary) with the fake Lease API server and webhook receiver of the
//! HA tests (tests/common/ha.rs, included as is), on loopback. Lease 2 s, renew deadline
//! 1.5 s, retry period 0.5 s, replication interval 500 ms, Heartbeat repeated every second.
//!
//! - failover: kill -9 of the Lease holder → the first delivery from the other replica;
//!   the killed replica is restarted and, once both are ready again, the next holder is
//!   killed (`HA_BENCH_KILLS` times, default 10);
//! - replication lag: a silence created through one replica's API → listed by the other's
//!   (`HA_BENCH_SILENCES` times, default 20, alternating replicas; polled every 10 ms).
//!
//! Prints each sample in order, then the median, the maximum and the minimum.
//!
//! `cargo bench --bench ha`

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_http::FakeReceiver;
use common::fake_lease::FakeLeaseApi;
use common::ha::Replicas;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(60);

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Polls `check` every [`POLL`] until it returns `Some`; panics after [`PATIENCE`].
async fn poll<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let end = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The response's body as JSON, if it is.
async fn json(resp: reqwest::Response) -> Option<serde_json::Value> {
    serde_json::from_slice(&resp.bytes().await.ok()?).ok()
}

/// Whether replica `i` answers and has joined the election, and whom it sees holding.
async fn holder_seen_by(replicas: &Replicas, i: usize) -> Option<String> {
    let url = format!("{}/api/v2/status", replicas.external_url(i));
    let status = json(reqwest::get(url).await.ok()?).await?;
    if status["cluster"]["status"] != "ready" {
        return None;
    }
    status["cluster"]["redline_lease"]["holder"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    let each: Vec<String> = samples
        .iter()
        .map(|d| format!("{:.0}", d.as_millis()))
        .collect();
    println!("{what}, each in ms: {}", each.join(" "));
    samples.sort();
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!(
        "{what}: n={} median={median:.2?} max={max:.2?} min={:.2?}",
        samples.len(),
        samples[0]
    );
}

/// Waits until both replicas are ready and agree on the holder; returns its name.
async fn both_ready(replicas: &Replicas) -> String {
    poll("both replicas ready", || async {
        let a = holder_seen_by(replicas, 0).await?;
        let b = holder_seen_by(replicas, 1).await?;
        (a == b).then_some(a)
    })
    .await
}

async fn failover(replicas: &mut Replicas, sink: &FakeReceiver, kills: usize) -> Vec<Duration> {
    let mut samples = Vec::new();
    for _ in 0..kills {
        let holder = both_ready(replicas).await;
        let old: usize = holder
            .trim_start_matches('r')
            .parse()
            .expect("replica name");
        let seen = sink.requests().len();
        poll("a delivery from the holder", || async {
            sink.requests()[seen..]
                .iter()
                .any(|r| replicas.sender(r) == old)
                .then_some(())
        })
        .await;
        let mut proc = replicas.procs[old].take().expect("the holder runs");
        let before = sink.requests().len();
        proc.0.kill().expect("SIGKILL");
        let killed = Instant::now();
        let _ = proc.0.wait();
        poll("a delivery from the new holder", || async {
            sink.requests()[before..]
                .iter()
                .any(|r| replicas.sender(r) == 1 - old)
                .then_some(())
        })
        .await;
        samples.push(killed.elapsed());
        replicas.start_one(old);
    }
    samples
}

async fn replication_lag(replicas: &Replicas, silences: usize) -> Vec<Duration> {
    both_ready(replicas).await;
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    for n in 0..silences {
        let (from, to) = (n % 2, 1 - n % 2);
        let body = serde_json::json!({
            "matchers": [{"name": "bench", "value": n.to_string(), "isRegex": false, "isEqual": true}],
            "startsAt": common::am_differential::now_rfc3339(),
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "bench",
            "comment": "replication lag",
        });
        let resp = client
            .post(format!("{}/api/v2/silences", replicas.external_url(from)))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST a silence");
        let created = Instant::now();
        let id = json(resp).await.expect("its id")["silenceID"]
            .as_str()
            .expect("silenceID")
            .to_string();
        let url = format!("{}/api/v2/silences", replicas.external_url(to));
        poll("the silence on the other replica", || async {
            let list = json(client.get(&url).send().await.ok()?).await?;
            list.as_array()?
                .iter()
                .any(|s| s["id"] == id.as_str())
                .then_some(())
        })
        .await;
        samples.push(created.elapsed());
    }
    samples
}

fn main() {
    let kills = count("HA_BENCH_KILLS", 10);
    let silences = count("HA_BENCH_SILENCES", 20);
    redline::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let api = FakeLeaseApi::start(2).await;
        let sink = FakeReceiver::start().await;
        let mut replicas = Replicas::start("bench", &api, &sink, "1s");
        report(
            "failover (kill -9 of the holder -> first delivery by the other replica)",
            failover(&mut replicas, &sink, kills).await,
        );
        report(
            "replication lag (silence created on one replica -> listed by the other)",
            replication_lag(&replicas, silences).await,
        );
    });
}
