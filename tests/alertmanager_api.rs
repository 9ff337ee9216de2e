//! The Alertmanager v2 API of the real binary, driven by Debian's `amtool` (0.25) as a user
//! would: add and query alerts, add, query and expire a silence; and `GET /api/v2/alerts`
//! compared with the response Alertmanager 0.25 gives for the same posted alerts.

mod common;

use common::{free_port, wait_ready, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const AMTOOL: &str = "/usr/bin/amtool";

/// Routes and inhibition matching the Alertmanager set-up the fixture was recorded with.
const ALERTMANAGER_YML: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: team-api-pager
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [job, instance]
receivers:
  - name: default
  - name: team-api-pager
"#;

fn start_redline(dir: &Path, port: u16) -> ProcessGuard {
    std::fs::write(dir.join("alertmanager.yml"), ALERTMANAGER_YML).expect("write config");
    let config = dir.join("redline.yml");
    std::fs::write(
        &config,
        "scrape_configs: []\nalertmanager:\n  config_file: alertmanager.yml\n",
    )
    .expect("write config");
    let child = common::redline_run(&config, port, &dir.join("state"))
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn amtool(port: u16, args: &[&str]) -> Output {
    let out = Command::new(AMTOOL)
        .arg(format!("--alertmanager.url={}", base(port)))
        .args(args)
        .output()
        .expect("run amtool (Debian package prometheus-alertmanager)");
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn get(port: u16, path: &str) -> Value {
    common::get_json(&format!("{}{path}", base(port))).await
}

fn alert_named<'a>(alerts: &'a Value, name: &str) -> Option<&'a Value> {
    alerts
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_alerts_read_back_as_alertmanager_025_shows_them() {
    redline::install_crypto_provider();
    let dir = TempDir::new("am-api-fixture");
    let port = free_port();
    let _redline = start_redline(&dir, port);
    wait_ready(port).await;

    let posted = std::fs::read_to_string("tests/fixtures/alertmanager_api_v2_alerts_post.json")
        .expect("read fixture");
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/api/v2/alerts", base(port)))
        .header("content-type", "application/json")
        .body(posted)
        .send()
        .await
        .expect("POST /api/v2/alerts");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    let got = get(port, "/api/v2/alerts").await;
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/alertmanager_0.25_api_v2_alerts_get.json")
            .expect("read fixture"),
    )
    .expect("fixture is JSON");
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        // Same fields (generatorURL omitted when empty), same values except the times set at
        // receipt (endsAt = receipt + resolve_timeout, updatedAt = receipt).
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(g), keys(w), "fields of {}", w["fingerprint"]);
        for field in [
            "annotations",
            "fingerprint",
            "receivers",
            "startsAt",
            "status",
            "labels",
            "generatorURL",
        ] {
            assert_eq!(g[field], w[field], "{field} of {}", w["fingerprint"]);
        }
        for field in ["endsAt", "updatedAt"] {
            let s = g[field].as_str().unwrap();
            assert!(
                s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.',
                "{field} {s:?} is not printed as 2006-01-02T15:04:05.000Z"
            );
        }
    }

    // The filters amtool uses.
    let active_only = get(port, "/api/v2/alerts?inhibited=false").await;
    assert_eq!(active_only.as_array().unwrap().len(), 2);
    let by_receiver = get(port, "/api/v2/alerts?receiver=default").await;
    assert_eq!(by_receiver.as_array().unwrap().len(), 1);
    let filtered = get(
        port,
        "/api/v2/alerts?filter=instance%3D%2210.0.0.2%3A8080%22",
    )
    .await;
    assert_eq!(filtered[0]["fingerprint"], "5d47baa1121516eb");
    // Each `filter` parameter is one matcher, as Alertmanager reads it: the commas of
    // `alertname=X,severity=page` belong to the value (so nothing matches), and a quoted value
    // followed by a second matcher is a bad matcher (400).
    let both = get(
        port,
        "/api/v2/alerts?filter=alertname%3DHighErrorBudgetBurn%2Cseverity%3Dpage",
    )
    .await;
    assert_eq!(both, serde_json::json!([]));
    let control = get(
        port,
        "/api/v2/alerts?filter=alertname%3DHighErrorBudgetBurn",
    )
    .await;
    assert_eq!(control.as_array().unwrap().len(), 2, "{control:#}");
    let two_quoted = reqwest::get(format!(
        "{}/api/v2/alerts?filter=alertname%3D%22HighErrorBudgetBurn%22%2Cseverity%3D%22page%22",
        base(port)
    ))
    .await
    .expect("GET");
    assert_eq!(two_quoted.status(), 400);

    // Groups: one per alertname and receiver.
    let groups = get(port, "/api/v2/alerts/groups").await;
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    let burn = groups
        .iter()
        .find(|g| g["labels"]["alertname"] == "HighErrorBudgetBurn")
        .expect("HighErrorBudgetBurn group");
    assert_eq!(burn["receiver"]["name"], "team-api-pager");
    assert_eq!(burn["alerts"].as_array().unwrap().len(), 2);

    let receivers = get(port, "/api/v2/receivers").await;
    assert_eq!(
        receivers,
        // Alertmanager's `name`, and redline's `integrations` (none configured here).
        serde_json::json!([
            {"name": "default", "integrations": []},
            {"name": "team-api-pager", "integrations": []}
        ])
    );
    let status = get(port, "/api/v2/status").await;
    assert_eq!(status["cluster"]["status"], "disabled");
    // The configuration as loaded (re-serialized, with no secret in it to redact).
    let shown: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(status["config"]["original"].as_str().unwrap_or_default())
            .expect("config.original is YAML");
    let written: serde_yaml_ng::Value = serde_yaml_ng::from_str(ALERTMANAGER_YML).unwrap();
    assert_eq!(shown, written);

    // Only JSON bodies, as Alertmanager 0.25 answers (415 and its message, checked with
    // curl against the Debian binary): a form cannot post alerts.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let resp = client
            .post(format!("{}/api/v2/alerts", base(port)))
            .header("content-type", content_type)
            .body(r#"[{"labels":{"alertname":"FromAForm"}}]"#)
            .send()
            .await
            .expect("POST /api/v2/alerts");
        assert_eq!(resp.status(), 415, "{content_type}");
        assert_eq!(
            resp.text().await.unwrap(),
            format!(
                "{{\"code\":415,\"message\":\"unsupported media type \\\"{content_type}\\\", only [application/json] are allowed\"}}"
            )
        );
    }
    assert!(alert_named(&get(port, "/api/v2/alerts").await, "FromAForm").is_none());

    // A bad alert is refused with its index and field; the good one in the batch is kept.
    let resp = client
        .post(format!("{}/api/v2/alerts", base(port)))
        .header("content-type", "application/json")
        .body(r#"[{"labels":{"alertname":"Good"}},{"labels":{}}]"#)
        .send()
        .await
        .expect("POST /api/v2/alerts");
    assert_eq!(resp.status(), 400);
    let msg = resp.text().await.unwrap();
    assert!(
        msg.contains("alerts[1].labels: at least one label pair required"),
        "{msg}"
    );
    assert!(alert_named(&get(port, "/api/v2/alerts").await, "Good").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_silences_and_expires() {
    redline::install_crypto_provider();
    let dir = TempDir::new("am-api-amtool");
    let port = free_port();
    let _redline = start_redline(&dir, port);
    wait_ready(port).await;

    // Alerts.
    amtool(
        port,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "severity=warning",
            "instance=node-1",
            "--annotation=summary=disk is full",
        ],
    );
    amtool(
        port,
        &["alert", "add", "alertname=CpuHigh", "instance=node-2"],
    );
    let table = stdout(&amtool(port, &["alert", "query"]));
    assert!(
        table.contains("DiskFull") && table.contains("CpuHigh"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&stdout(&amtool(
        port,
        &["alert", "query", "-o", "json", "alertname=DiskFull"],
    )))
    .expect("amtool -o json prints JSON");
    let disk = alert_named(&json, "DiskFull").expect("DiskFull in amtool's query");
    assert_eq!(disk["annotations"]["summary"], "disk is full");
    assert_eq!(disk["status"]["state"], "active");
    assert!(
        alert_named(&json, "CpuHigh").is_none(),
        "the matcher filtered"
    );

    // A silence.
    let id = stdout(&amtool(
        port,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "--comment=replacing the disk",
            "--author=alice",
            "--duration=2h",
        ],
    ))
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "amtool prints the new silence id: {id:?}");
    let listed = stdout(&amtool(port, &["silence", "query"]));
    assert!(
        listed.contains(&id) && listed.contains("alice") && listed.contains("replacing the disk"),
        "{listed}"
    );
    let listed: Value =
        serde_json::from_str(&stdout(&amtool(port, &["silence", "query", "-o", "json"])))
            .expect("JSON silences");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["matchers"][0]["name"], "alertname");

    // The silenced alert shows as suppressed, with the silence.
    let alerts = get(port, "/api/v2/alerts").await;
    let disk = alert_named(&alerts, "DiskFull").expect("DiskFull");
    assert_eq!(disk["status"]["state"], "suppressed");
    assert_eq!(disk["status"]["silencedBy"], serde_json::json!([id]));
    assert_eq!(
        alert_named(&alerts, "CpuHigh").expect("CpuHigh")["status"]["state"],
        "active"
    );
    // amtool hides silenced alerts unless asked.
    let table = stdout(&amtool(port, &["alert", "query"]));
    assert!(
        !table.contains("DiskFull") && table.contains("CpuHigh"),
        "{table}"
    );
    let table = stdout(&amtool(port, &["alert", "query", "--silenced"]));
    assert!(table.contains("DiskFull"), "{table}");

    // Expire it: the query shows none, the alert is active again.
    amtool(port, &["silence", "expire", &id]);
    let listed = stdout(&amtool(port, &["silence", "query", "-q"]));
    assert_eq!(listed.trim(), "", "no active silence after expiry");
    let expired = stdout(&amtool(port, &["silence", "query", "--expired", "-q"]));
    assert_eq!(expired.trim(), id);
    let alerts = get(port, "/api/v2/alerts").await;
    assert_eq!(
        alert_named(&alerts, "DiskFull").expect("DiskFull")["status"]["state"],
        "active"
    );
    // Expiring again is refused.
    let again = Command::new(AMTOOL)
        .arg(format!("--alertmanager.url={}", base(port)))
        .args(["silence", "expire", &id])
        .output()
        .expect("run amtool");
    assert!(!again.status.success());
}
