//! The harness of the high-availability tests and benchmark (tests/cluster_ha.rs,
//! benches/ha.rs): real `redline run` replicas of one cluster on loopback, each with its own
//! listener of a [`FakeLeaseApi`] and all sending to one [`FakeReceiver`]. Each replica's
//! external URL (its own listen address) is the payload's `externalURL`, so every delivery
//! names its sender. Lease timings are short: 2 s duration, 1.5 s renew deadline, 0.5 s
//! retry period.

use super::fake_http::{FakeReceiver, Recorded};
use super::fake_lease::FakeLeaseApi;
use super::{free_port, ProcessGuard};
use std::path::Path;
use std::time::Duration;

pub const RULES: &str = r#"
groups:
  - name: ha
    interval: 500ms
    rules:
      - alert: AlwaysOn
        expr: vector(1)
      - alert: Control
        expr: vector(1)
      - alert: Heartbeat
        expr: vector(1)
"#;

/// The config of replica `i`, whose peers listen on `peer_ports`; AlwaysOn's group is
/// flushed every `group_interval`, Control's and Heartbeat's every second.
pub fn config(
    i: usize,
    peer_ports: &[u16],
    sink: &str,
    replication_interval: &str,
    group_interval: &str,
) -> String {
    let peers: Vec<String> = peer_ports
        .iter()
        .map(|p| format!("'http://127.0.0.1:{p}'"))
        .collect();
    let peers = peers.join(", ");
    format!(
        r#"
rule_files: ['ha.rules.yml']
scrape_configs: []
alertmanager:
  config:
    route:
      receiver: team
      group_by: [alertname]
      group_wait: 500ms
      group_interval: {group_interval}
      repeat_interval: 1h
      routes:
        - receiver: control
          matchers: ['alertname="Control"']
          group_interval: 1s
          repeat_interval: 1s
        - receiver: heartbeat
          matchers: ['alertname="Heartbeat"']
          group_interval: 1s
          repeat_interval: 1s
    receivers:
      - name: heartbeat
        webhook_configs: [{{url: '{sink}/heartbeat'}}]
      - name: team
        webhook_configs: [{{url: '{sink}/team'}}]
      - name: control
        webhook_configs: [{{url: '{sink}/control'}}]
cluster:
  replica: r{i}
  peers: [{peers}]
  replication_interval: {replication_interval}
  lease:
    namespace: monitoring
    name: redline-notifications
    duration: 2s
    renew_deadline: 1500ms
    retry_period: 500ms
    kubeconfig_file: kubeconfig-{i}
"#
    )
}

pub struct Replicas {
    pub dir: super::TempDir,
    pub ports: Vec<u16>,
    pub procs: Vec<Option<ProcessGuard>>,
}

impl Replicas {
    /// As many replicas as `api` has listeners, started.
    pub fn start(
        tag: &str,
        api: &FakeLeaseApi,
        sink: &FakeReceiver,
        group_interval: &str,
    ) -> Replicas {
        let intervals = vec!["500ms"; api.listeners()];
        let mut r = Replicas::prepare(tag, api, sink, &intervals, group_interval);
        for i in 0..intervals.len() {
            r.start_one(i);
        }
        r
    }

    /// Writes the files of one replica per replication interval; starts none.
    pub fn prepare(
        tag: &str,
        api: &FakeLeaseApi,
        sink: &FakeReceiver,
        intervals: &[&str],
        group_interval: &str,
    ) -> Replicas {
        let dir = super::TempDir::new(&format!("ha-{tag}"));
        std::fs::write(dir.join("ha.rules.yml"), RULES).unwrap();
        let ports: Vec<u16> = intervals.iter().map(|_| free_port()).collect();
        let mut procs = Vec::new();
        for (i, interval) in intervals.iter().enumerate() {
            std::fs::write(dir.join(format!("kubeconfig-{i}")), api.kubeconfig(i)).unwrap();
            let d = dir.join(format!("r{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let peers: Vec<u16> = (0..ports.len())
                .filter(|p| *p != i)
                .map(|p| ports[p])
                .collect();
            std::fs::write(
                dir.join(format!("redline-{i}.yml")),
                config(i, &peers, &sink.url(), interval, group_interval),
            )
            .unwrap();
            procs.push(None);
        }
        Replicas { dir, ports, procs }
    }

    pub fn start_one(&mut self, i: usize) {
        self.procs[i] = Some(start(&self.dir, i, self.ports[i]));
    }

    pub fn external_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// Which replica sent `r`.
    pub fn sender(&self, r: &Recorded) -> usize {
        let url = r.json()["externalURL"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (0..self.ports.len())
            .find(|i| self.external_url(*i) == url)
            .unwrap_or_else(|| panic!("a delivery from an unknown sender {url}"))
    }

    /// The value of the sample `series` (name with labels) on replica `i`'s `/metrics`.
    pub async fn metric(&self, i: usize, series: &str) -> Option<f64> {
        redline::install_crypto_provider();
        let text = reqwest::get(format!("{}/metrics", self.external_url(i)))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    pub async fn status(&self, i: usize) -> serde_json::Value {
        super::get_json(&format!("{}/api/v2/status", self.external_url(i))).await
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        // The processes stop before their directory (a field, dropped after this) goes.
        self.procs.clear();
    }
}

fn start(dir: &Path, i: usize, port: u16) -> ProcessGuard {
    let log = std::fs::File::create(dir.join(format!("r{i}.log"))).expect("log file");
    ProcessGuard(
        super::redline_run(
            &dir.join(format!("redline-{i}.yml")),
            port,
            &dir.join(format!("r{i}")),
        )
        .stderr(log)
        .spawn()
        .expect("start redline run"),
    )
}

/// Polls replica `i`'s state for its peers until `check` accepts it.
pub async fn wait_for_state(
    replicas: &Replicas,
    i: usize,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let url = format!("{}/api/cluster/v1/state", replicas.external_url(i));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = super::get_json(&url).await;
        if check(&state) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica r{i} never had {what}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn has_row(state: &serde_json::Value, list: &str, receiver: &str) -> bool {
    state[list]
        .as_array()
        .is_some_and(|rows| rows.iter().any(|r| r["receiver"] == receiver))
}

/// Waits until replica `i` reports its cluster status `ready` in `/api/v2/status` (it has
/// caught up from its peers); a replica that does not listen yet is "not yet".
pub async fn wait_ready(replicas: &Replicas, i: usize) {
    redline::install_crypto_provider();
    let url = format!("{}/api/v2/status", replicas.external_url(i));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = match reqwest::get(&url).await {
            Ok(resp) => resp.text().await.is_ok_and(|t| {
                serde_json::from_str::<serde_json::Value>(&t)
                    .is_ok_and(|s| s["cluster"]["status"] == "ready")
            }),
            Err(_) => false,
        };
        if ready {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "r{i} never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many deliveries to `path` the sink got while three heartbeats were sent, counted from
/// the first heartbeat after this call (so a notification already on its way when the caller's
/// change arrived does not count). Heartbeats are repeated every second or two: zero means
/// the change holds `path`'s group, which would have been repeated meanwhile.
pub async fn sent_during_three_heartbeats(sink: &FakeReceiver, path: &str) -> usize {
    let hb = sink.requests_to("/heartbeat").len();
    sink.wait_for("/heartbeat", hb + 1, Duration::from_secs(60))
        .await;
    let then = sink.requests_to(path).len();
    sink.wait_for("/heartbeat", hb + 4, Duration::from_secs(60))
        .await;
    sink.requests_to(path).len() - then
}
