//! The differential alert-timeline harness: one scripted timeline played, side by side and in
//! real time, into Debian's `prometheus-alertmanager` (0.25) and into redline's binary with the
//! same routing configuration, each sending to its own loopback webhook sink. Alertmanager's
//! notifications are the expected value; the two sequences are compared group by group.
//!
//! A scenario is an Alertmanager configuration (without receivers' URLs, which the harness
//! fills in) and a list of steps at offsets from the start: alerts posted to `/api/v2/alerts`
//! (firing without `endsAt`, or resolved with `endsAt` one second in the past), silences
//! created and expired through `/api/v2/silences`, and, for redline only, a stall of its
//! state database. Offsets are chosen between flush
//! boundaries (with `group_wait: 2s` and `group_interval: 4s`, groups created at 0 flush at
//! 2, 6, 10, … s: steps go at 0, 4, 8, … s), so timer differences of a few milliseconds
//! between the two implementations cannot change what either sends.
#![allow(dead_code)]

use crate::common::{free_port, ProcessGuard};
use crate::webhook_sink::{Answer, WebhookSink};
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// `{{SINK}}` in a scenario's configuration is replaced by each side's webhook URL.
pub const SINK: &str = "{{SINK}}";

/// One alert as the scenario names it: `alertname` plus other labels.
#[derive(Clone, Debug)]
pub struct A {
    pub labels: Vec<(&'static str, &'static str)>,
}

/// An alert with these labels.
pub fn alert(labels: &[(&'static str, &'static str)]) -> A {
    A {
        labels: labels.to_vec(),
    }
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Posts these alerts firing, without `endsAt` (the receiver applies `resolve_timeout`).
    Fire(Vec<A>),
    /// Posts these alerts resolved: `endsAt` one second ago.
    Resolve(Vec<A>),
    /// Creates a silence (for an hour) with equality matchers; `name` refers to it later.
    Silence {
        name: &'static str,
        matchers: Vec<(&'static str, &'static str)>,
    },
    /// Expires the silence created under `name`.
    Expire(&'static str),
    /// redline only (Alertmanager keeps no database): another connection holds the write
    /// lock of redline's state database for this many seconds, as a stalled disk would.
    /// redline waits up to 5 s for it; what it notifies must not change.
    StallDatabase(f64),
}

/// An action at an offset from the start, in seconds.
#[derive(Clone, Debug)]
pub struct Step {
    pub at_s: f64,
    pub action: Action,
}

pub fn at(at_s: f64, action: Action) -> Step {
    Step { at_s, action }
}

/// A scenario: Alertmanager's configuration, the steps, when the notifications are compared,
/// and what Alertmanager is expected to send (hand-written from Alertmanager's documented
/// semantics, so the harness cannot pass by comparing two empty or two wrong sequences).
pub struct Scenario {
    pub name: &'static str,
    pub config: String,
    pub steps: Vec<Step>,
    pub end_s: f64,
    /// Per group key, the notifications in order, each as [`Notice::short`] prints it.
    pub expected: Vec<(&'static str, Vec<&'static str>)>,
}

/// One notification as compared: status, firing and resolved alerts (label sets, sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub status: String,
    pub firing: Vec<String>,
    pub resolved: Vec<String>,
}

impl Notice {
    fn from_payload(body: &Value) -> Notice {
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        for a in body["alerts"].as_array().map_or(&[][..], Vec::as_slice) {
            let labels: BTreeMap<String, String> = a["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let text = labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(",");
            let text = format!("{{{text}}}");
            if a["status"] == "resolved" {
                resolved.push(text);
            } else {
                firing.push(text);
            }
        }
        firing.sort();
        resolved.sort();
        Notice {
            status: body["status"].as_str().unwrap_or("").to_string(),
            firing,
            resolved,
        }
    }

    /// `firing [a b] resolved [c]`, alerts named by their `instance` label.
    pub fn short(&self) -> String {
        let names = |v: &[String]| {
            v.iter()
                .map(|l| {
                    l.split(',')
                        .find_map(|p| {
                            p.trim_start_matches('{')
                                .strip_prefix("instance=")
                                .map(|s| s.trim_end_matches('}').trim_matches('"').to_string())
                        })
                        .unwrap_or_else(|| l.clone())
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "{} [{}] resolved [{}]",
            self.status,
            names(&self.firing),
            names(&self.resolved)
        )
    }
}

/// Notifications per group key, in the order received, with the offset they arrived at.
pub type Timeline = BTreeMap<String, Vec<(f64, Notice)>>;

fn timeline(sink: &WebhookSink, start: Instant) -> Timeline {
    let mut out: Timeline = BTreeMap::new();
    for r in sink.received() {
        let key = r.body["groupKey"].as_str().unwrap_or("").to_string();
        let offset = r.at.saturating_duration_since(start).as_secs_f64();
        out.entry(key)
            .or_default()
            .push((offset, Notice::from_payload(&r.body)));
    }
    out
}

fn sequences(t: &Timeline) -> BTreeMap<String, Vec<Notice>> {
    t.iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(_, n)| n.clone()).collect()))
        .collect()
}

/// Prints a timeline for a failure message.
pub fn render(t: &Timeline) -> String {
    let mut s = String::new();
    for (k, v) in t {
        s.push_str(&format!("  {k}\n"));
        for (at, n) in v {
            s.push_str(&format!("    {at:6.2}s  {}\n", n.short()));
        }
    }
    s
}

/// One side of the comparison: a running Alertmanager-compatible server and its sink.
struct Side {
    base: String,
    sink: WebhookSink,
    _process: ProcessGuard,
}

fn start_alertmanager(dir: &Path, config: &str, port: u16) -> ProcessGuard {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "Debian's prometheus-alertmanager is not installed: run `bash tests/run-all.sh`, which installs it"
    );
    std::fs::write(dir.join("alertmanager.yml"), config).expect("write config");
    let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log file");
    ProcessGuard(
        Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No cluster: no gossip, and no settling before the first notification.
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-alertmanager"),
    )
}

fn start_redline(dir: &Path, config: &str, port: u16) -> ProcessGuard {
    std::fs::write(dir.join("alertmanager.yml"), config).expect("write config");
    let redline_yml = dir.join("redline.yml");
    std::fs::write(
        &redline_yml,
        "scrape_configs: []\nalertmanager:\n  config_file: alertmanager.yml\n",
    )
    .expect("write config");
    let log = std::fs::File::create(dir.join("redline.log")).expect("log file");
    ProcessGuard(
        Command::new(env!("CARGO_BIN_EXE_redline"))
            .args(["run", "--config"])
            .arg(&redline_yml)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
            .arg(dir.join("state"))
            .env("RUST_LOG", "redline::alerting=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start redline run"),
    )
}

/// Whether process `pid` holds the socket listening on `127.0.0.1:port` (from
/// `/proc/net/tcp` and the process's descriptors). Ports come from [`free_port`], which
/// releases them before the server binds: with many servers starting at once another one may
/// take the port first, and the harness must not talk to it.
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(tcp) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 9 && f[1] == local && f[3] == "0A").then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
}

/// Starts a server with `start(port)` on a free loopback port and waits until this very
/// process listens there and answers `/-/ready`; another port is tried if it lost the port.
async fn start_ready(
    client: &reqwest::Client,
    what: &str,
    start: impl Fn(u16) -> ProcessGuard,
) -> (ProcessGuard, String) {
    for _ in 0..5 {
        let port = free_port();
        let mut guard = start(port);
        let base = format!("http://127.0.0.1:{port}");
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if guard.0.try_wait().ok().flatten().is_some() {
                break; // exited: most likely the port was taken meanwhile
            }
            if listens_on(guard.0.id(), port) {
                if let Ok(r) = client.get(format!("{base}/-/ready")).send().await {
                    if r.status().is_success() {
                        return (guard, base);
                    }
                }
            }
            assert!(Instant::now() < end, "{what} at {base} never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("{what} could not start on a free port in 5 tries");
}

fn rfc3339(t: SystemTime) -> String {
    redline::timefmt::rfc3339_nanos(t)
}

fn alert_json(a: &A, ends_at: Option<SystemTime>) -> Value {
    let labels: serde_json::Map<String, Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut v = json!({ "labels": labels });
    if let Some(end) = ends_at {
        v["endsAt"] = json!(rfc3339(end));
    }
    v
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "POST {url}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn act(
    client: &reqwest::Client,
    base: &str,
    action: &Action,
    silences: &mut HashMap<&'static str, String>,
    database: Option<&Path>,
) {
    match action {
        Action::StallDatabase(secs) => {
            let Some(path) = database else {
                return;
            };
            let conn = rusqlite::Connection::open(path).expect("open redline's state database");
            conn.execute_batch("BEGIN IMMEDIATE")
                .expect("take the database's write lock");
            let hold = Duration::from_secs_f64(*secs);
            // The stall itself: the lock is held for `hold`, then released.
            std::thread::spawn(move || {
                std::thread::sleep(hold);
                let _ = conn.execute_batch("COMMIT");
            });
        }
        Action::Fire(alerts) => {
            let body: Vec<Value> = alerts.iter().map(|a| alert_json(a, None)).collect();
            post(client, &format!("{base}/api/v2/alerts"), &json!(body)).await;
        }
        Action::Resolve(alerts) => {
            let end = SystemTime::now() - Duration::from_secs(1);
            let body: Vec<Value> = alerts.iter().map(|a| alert_json(a, Some(end))).collect();
            post(client, &format!("{base}/api/v2/alerts"), &json!(body)).await;
        }
        Action::Silence { name, matchers } => {
            let now = SystemTime::now();
            let body = json!({
                "matchers": matchers.iter().map(|(n, v)| json!({
                    "name": n, "value": v, "isRegex": false, "isEqual": true
                })).collect::<Vec<_>>(),
                "startsAt": rfc3339(now),
                "endsAt": rfc3339(now + Duration::from_secs(3600)),
                "createdBy": "timeline",
                "comment": "scenario",
            });
            let r = post(client, &format!("{base}/api/v2/silences"), &body).await;
            let id = r["silenceID"]
                .as_str()
                .unwrap_or_else(|| panic!("no silenceID from {base}: {r}"))
                .to_string();
            silences.insert(name, id);
        }
        Action::Expire(name) => {
            let id = silences
                .get(name)
                .unwrap_or_else(|| panic!("silence {name} was never created"));
            let url = format!("{base}/api/v2/silence/{id}");
            let r = client
                .delete(&url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
            assert!(r.status().is_success(), "DELETE {url}: {}", r.status());
        }
    }
}

/// What one run of a scenario produced on both sides.
pub struct Run {
    pub alertmanager: Timeline,
    pub redline: Timeline,
}

impl Run {
    /// Redline's notifications equal Alertmanager's, group by group.
    pub fn agrees(&self) -> bool {
        sequences(&self.alertmanager) == sequences(&self.redline)
    }

    /// Alertmanager's notifications as [`Notice::short`] prints them, per group key.
    pub fn alertmanager_short(&self) -> Vec<(String, Vec<String>)> {
        self.alertmanager
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|(_, n)| n.short()).collect()))
            .collect()
    }
}

/// Plays the scenario once into both sides.
pub async fn play(s: &Scenario) -> Run {
    redline::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let am_dir = TempDir::new(&format!("{}-am", s.name));
    let rl_dir = TempDir::new(&format!("{}-redline", s.name));
    let am_sink = WebhookSink::start(Answer::Ack).await;
    let rl_sink = WebhookSink::start(Answer::Ack).await;
    let am_config = s.config.replace(SINK, &am_sink.url());
    let rl_config = s.config.replace(SINK, &rl_sink.url());
    let ((am_process, am_base), (rl_process, rl_base)) = tokio::join!(
        start_ready(&client, "prometheus-alertmanager", |port| {
            start_alertmanager(&am_dir, &am_config, port)
        }),
        start_ready(&client, "redline", |port| start_redline(
            &rl_dir, &rl_config, port
        )),
    );
    let am = Side {
        base: am_base,
        _process: am_process,
        sink: am_sink,
    };
    let rl = Side {
        base: rl_base,
        _process: rl_process,
        sink: rl_sink,
    };
    let rl_database = rl_dir.join("state").join(redline::state::DB_FILE_NAME);
    let start = Instant::now();
    let (mut am_silences, mut rl_silences) = (HashMap::new(), HashMap::new());
    for step in &s.steps {
        tokio::time::sleep_until((start + Duration::from_secs_f64(step.at_s)).into()).await;
        tokio::join!(
            act(&client, &am.base, &step.action, &mut am_silences, None),
            act(
                &client,
                &rl.base,
                &step.action,
                &mut rl_silences,
                Some(&rl_database)
            ),
        );
    }
    // The script's end: the last flush it provokes is more than a second before it.
    tokio::time::sleep_until((start + Duration::from_secs_f64(s.end_s)).into()).await;
    let run = Run {
        alertmanager: timeline(&am.sink, start),
        redline: timeline(&rl.sink, start),
    };
    if !run.agrees() {
        if let Ok(dir) = std::env::var("REDLINE_TIMELINE_KEEP") {
            let keep = Path::new(&dir).join(format!("{}-{}", s.name, std::process::id()));
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::fs::copy(am_dir.join("alertmanager.log"), keep.join("am.log"));
            let _ = std::fs::copy(rl_dir.join("redline.log"), keep.join("redline.log"));
        }
    }
    run
}

/// Plays the scenario `repeats` times at once and asserts that Alertmanager sent what the
/// scenario expects every time and redline sent the same, group by group, every time.
pub async fn check(s: Scenario, repeats: usize) {
    let runs = futures_util::future::join_all((0..repeats).map(|_| play(&s))).await;
    let expected: Vec<(String, Vec<String>)> = s
        .expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|n| n.to_string()).collect()))
        .collect();
    let mut failures = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if run.alertmanager_short() != expected {
            failures.push(format!(
                "run {i}: Alertmanager did not send what the scenario expects ({expected:?}); the scenario's timing is off:\n{}",
                render(&run.alertmanager)
            ));
        } else if !run.agrees() {
            failures.push(format!(
                "run {i}: redline differs from Alertmanager.\nAlertmanager:\n{}redline:\n{}",
                render(&run.alertmanager),
                render(&run.redline)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "scenario {} failed in {} of {repeats} runs:\n{}",
        s.name,
        failures.len(),
        failures.join("\n")
    );
}
