//! The differential harness for Alertmanager's integrations: Debian's
//! `prometheus-alertmanager` (0.25) and redline load the same `alertmanager.yml`, whose
//! integration URLs point at a [`FakeReceiver`] of their own (the text `FAKE` in the config
//! becomes `http://127.0.0.1:PORT` of that system's fake); both get the same alerts through
//! `POST /api/v2/alerts`, and the test compares what each fake received.
//!
//! Both run with the same `--web.external-url`, so links made from it (`title_link`,
//! `client_url`, `source`) match. Alertmanager runs without clustering
//! (`--cluster.listen-address=`) and with its data in the test's temp dir. Everything is on
//! 127.0.0.1; both processes are killed when the [`Pair`] drops.

use super::fake_http::{FakeReceiver, Recorded};
use super::TempDir;
use super::{free_port, wait_for, ProcessGuard};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// How long a test waits for a notification.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Which system a fake or process belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Alertmanager,
    Redline,
}

/// Alertmanager and redline side by side, each with its fake receiver.
pub struct Pair {
    pub am_fake: FakeReceiver,
    pub rl_fake: FakeReceiver,
    pub am_port: u16,
    pub rl_port: u16,
    /// The external URL both were given.
    pub external_url: String,
    _am: ProcessGuard,
    _rl: ProcessGuard,
    pub dir: TempDir,
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

async fn wait_ready(port: u16, what: &str) {
    let url = format!("http://127.0.0.1:{port}/-/ready");
    let end = std::time::Instant::now() + DEADLINE;
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < end,
            "{what} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Pair {
    /// Starts both with `config` (`FAKE` replaced per side) and the template `files`
    /// (name, text) written beside it.
    pub async fn start(tag: &str, config: &str, files: &[(&str, &str)]) -> Pair {
        redline::install_crypto_provider();
        assert!(
            Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: install the Debian package prometheus-alertmanager (tests/run-all.sh)"
        );
        let dir = TempDir::new(tag);
        let am_fake = FakeReceiver::start().await;
        let rl_fake = FakeReceiver::start().await;
        let external_url = format!("http://127.0.0.1:{}", free_port());
        for (side, fake) in [("am", &am_fake), ("rl", &rl_fake)] {
            write(
                &dir.join(side).join("alertmanager.yml"),
                &config.replace("FAKE", &fake.url()),
            );
            for (name, text) in files {
                write(&dir.join(side).join(name), text);
            }
        }
        let am_port = free_port();
        let am = Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.join("am/alertmanager.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .arg(format!("--storage.path={}", dir.join("am/data").display()))
            .arg(format!("--web.external-url={external_url}"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("am/alertmanager.log"))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = ProcessGuard(am);
        let rl_port = free_port();
        let redline_yml = dir.join("rl/redline.yml");
        write(
            &redline_yml,
            "scrape_configs: []\nalertmanager:\n  config_file: alertmanager.yml\n",
        );
        let rl = super::redline_run(&redline_yml, rl_port, &dir.join("rl/state"))
            .arg(format!("--web.external-url={external_url}"))
            .stderr(
                std::fs::File::create(dir.join("rl/redline.log"))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("start redline run");
        let rl = ProcessGuard(rl);
        wait_ready(am_port, "prometheus-alertmanager").await;
        wait_ready(rl_port, "redline").await;
        Pair {
            am_fake,
            rl_fake,
            am_port,
            rl_port,
            external_url,
            _am: am,
            _rl: rl,
            dir,
        }
    }

    /// POSTs the same alerts (Alertmanager's v2 JSON) to both.
    pub async fn post_alerts(&self, alerts: &serde_json::Value) {
        let client = reqwest::Client::new();
        for port in [self.am_port, self.rl_port] {
            let r = client
                .post(format!("http://127.0.0.1:{port}/api/v2/alerts"))
                .header("content-type", "application/json")
                .body(alerts.to_string())
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST alerts to {port}: {e}"));
            assert!(
                r.status().is_success(),
                "POST alerts to {port}: {}",
                r.status()
            );
        }
    }

    /// Waits until both fakes have `count` requests to `path_prefix`; returns them
    /// (Alertmanager's, redline's), in arrival order.
    pub async fn requests(
        &self,
        path_prefix: &str,
        count: usize,
    ) -> (Vec<Recorded>, Vec<Recorded>) {
        let am = self.am_fake.wait_for(path_prefix, count, DEADLINE).await;
        let rl = self.rl_fake.wait_for(path_prefix, count, DEADLINE).await;
        (am, rl)
    }

    /// The logs of both processes, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.join(p)).unwrap_or_default();
        format!(
            "--- alertmanager.log\n{}\n--- redline.log\n{}",
            read("am/alertmanager.log"),
            read("rl/redline.log")
        )
    }
}

/// Every field of `am` is in `rl` with the same value (objects recursively; arrays element
/// by element, same length); fields only `rl` has are allowed (redline's additions) unless
/// `strict`. Returns the differences as `path: am=… rl=…` lines.
pub fn json_subset_diff(am: &serde_json::Value, rl: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", am, rl, &mut out);
    out
}

fn diff_at(path: &str, am: &serde_json::Value, rl: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (am, rl) {
        (Value::Object(a), Value::Object(r)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match r.get(k) {
                    Some(rv) => diff_at(&p, v, rv, out),
                    None => out.push(format!("{p}: am={v} rl=<missing>")),
                }
            }
        }
        (Value::Array(a), Value::Array(r)) if a.len() == r.len() => {
            for (i, (av, rv)) in a.iter().zip(r).enumerate() {
                diff_at(&format!("{path}[{i}]"), av, rv, out);
            }
        }
        _ if am == rl => {}
        _ => out.push(format!("{path}: am={am} rl={rl}")),
    }
}

/// Asserts that each of redline's requests carries every field of Alertmanager's
/// corresponding one (same order of arrival), and the same method and path.
pub fn assert_same_requests(what: &str, am: &[Recorded], rl: &[Recorded], pair: &Pair) {
    assert_eq!(
        am.len(),
        rl.len(),
        "{what}: request counts differ\n{}",
        pair.logs()
    );
    for (i, (a, r)) in am.iter().zip(rl).enumerate() {
        assert_eq!(a.method, r.method, "{what}[{i}] method");
        assert_eq!(a.path, r.path, "{what}[{i}] path");
        let diffs = json_subset_diff(&a.json(), &r.json());
        assert!(
            diffs.is_empty(),
            "{what}[{i}]: redline's request differs from Alertmanager's:\n{}\n--- alertmanager sent\n{}\n--- redline sent\n{}",
            diffs.join("\n"),
            a.body,
            r.body
        );
    }
}

/// `wait_for` re-exported for tests that poll something else.
pub async fn poll<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_for(what, DEADLINE, check).await
}

/// When the test's alerts started: the first time a test asks, as RFC 3339. An alert that
/// started longer than `group_wait` ago makes its group flush at once (in Alertmanager and in
/// redline alike), and Alertmanager may then flush before it has taken the second alert of the
/// same POST; alerts that start now make both wait `group_wait` for the whole batch.
pub fn alerts_started_at() -> &'static str {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AT.get_or_init(now_rfc3339)
}

/// Now, to the millisecond (the precision senders such as Prometheus use and redline keeps),
/// as RFC 3339 (also the end of alerts that resolve now).
pub fn now_rfc3339() -> String {
    let ms = redline::timefmt::now_ms() as u64;
    redline::timefmt::rfc3339_nanos(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}
