//! Sharding across replicas: two real redline processes with `SHARD=0` and `SHARD=1` and a
//! `hashmod` modulus of 2 over the same static targets split them between them, each target
//! scraped by exactly one replica, exactly as Prometheus' hashmod assigns them.

mod common;

use common::{free_port, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = "global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
  external_labels:
    shard: \"${SHARD}\"
scrape_configs:
  - job_name: app
    relabel_configs:
      - source_labels: [__address__]
        modulus: 2
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        regex: ${SHARD}
        action: keep
    static_configs:
      - targets: [TARGETS]
";

fn start(config: &Path, state: &Path, port: u16, shard: u32) -> ProcessGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_redline"))
        .args(["run", "--config.expand-env", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(state)
        .env("SHARD", shard.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

async fn json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let resp = client
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    serde_json::from_str(&resp.text().await.ok()?).ok()
}

/// Prometheus' hashmod, computed independently: the last 8 bytes of the MD5 of the
/// address as a big-endian integer, modulo `modulus` (Python's hashlib).
fn prometheus_hashmod(addresses: &[String], modulus: u64) -> Vec<u64> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys\n\
             m=int(sys.argv[1])\n\
             for a in sys.argv[2:]:\n    print(int.from_bytes(hashlib.md5(a.encode()).digest()[8:],'big')%m)",
            &modulus.to_string(),
        ])
        .args(addresses)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("a number"))
        .collect()
}

/// The instances a replica lists as up on /api/v1/targets and has `up == 1` for.
async fn scraped(
    client: &reqwest::Client,
    port: u16,
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let base = format!("http://127.0.0.1:{port}");
    let t = json(client, &format!("{base}/api/v1/targets")).await?;
    let targets: BTreeSet<String> = t["data"]["activeTargets"]
        .as_array()?
        .iter()
        .filter(|x| x["health"] == "up")
        .filter_map(|x| x["labels"]["instance"].as_str().map(str::to_string))
        .collect();
    let q = json(client, &format!("{base}/api/v1/query?query=up%3D%3D1")).await?;
    let up: BTreeSet<String> = q["data"]["result"]
        .as_array()?
        .iter()
        .filter_map(|x| x["metric"]["instance"].as_str().map(str::to_string))
        .collect();
    Some((targets, up))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_targets_as_prometheus_hashmod_does() {
    redline::install_crypto_provider();
    let mut servers = Vec::new();
    for i in 0..10 {
        servers.push(
            FixtureServer::start(&format!("fixture_value {i}\n"), "text/plain; version=0.0.4")
                .await,
        );
    }
    let addresses: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let expected = prometheus_hashmod(&addresses, 2);
    assert!(
        expected.contains(&0) && expected.contains(&1),
        "ten loopback ports all hashed to one shard: {expected:?}"
    );
    let dir = TempDir::new("sharding");
    let list: Vec<String> = addresses.iter().map(|a| format!("'{a}'")).collect();
    let config = dir.join("redline.yaml");
    std::fs::write(&config, CONFIG.replace("TARGETS", &list.join(", "))).expect("config");
    let ports = [free_port(), free_port()];
    let _replicas: Vec<ProcessGuard> = (0..2)
        .map(|shard| {
            start(
                &config,
                &dir.join(format!("state-{shard}")),
                ports[shard as usize],
                shard,
            )
        })
        .collect();
    let client = reqwest::Client::new();
    for shard in 0..2u64 {
        let want: BTreeSet<String> = addresses
            .iter()
            .zip(&expected)
            .filter(|(_, h)| **h == shard)
            .map(|(a, _)| a.clone())
            .collect();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let got = scraped(&client, ports[shard as usize]).await;
            if got.as_ref() == Some(&(want.clone(), want.clone())) {
                break;
            }
            assert!(
                Instant::now() < end,
                "shard {shard}: want {want:?}, last seen (targets, up) {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
