//! The real binary routes a rule's alert to its owner's webhook: Alertmanager's payload with
//! redline's owner and playbook link, then the resolution; no repeat before `repeat_interval`
//! while a control alert on a route with a short `repeat_interval` is repeated.

mod common;
mod webhook_sink;

use common::{free_port, wait_for, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use std::time::Duration;
use webhook_sink::{Answer, WebhookSink};

const RULES: &str = r#"
groups:
  - name: payments
    interval: 500ms
    rules:
      - alert: PaymentsDown
        expr: payments_up == 0
        labels:
          owner: payments
          severity: page
        annotations:
          summary: payments is down
          runbook_url: https://runbooks.example/payments
      - alert: PaymentsControl
        expr: control_up == 0
        labels:
          owner: payments
"#;

fn config(sink: &str, target: &str) -> String {
    format!(
        r#"
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
  external_labels: {{cluster: test}}
rule_files: ['alerts.rules.yml']
scrape_configs:
  - job_name: payments
    static_configs: [{{targets: ['{target}']}}]
alertmanager:
  config:
    route:
      receiver: triage
      group_by: [alertname]
      group_wait: 1s
      group_interval: 2s
      repeat_interval: 1h
      routes:
        - receiver: triage
          matchers: ['alertname="PaymentsControl"']
          repeat_interval: 2s
    receivers:
      - name: triage
      - name: team-payments
        webhook_configs: [{{url: '{sink}', send_resolved: true}}]
    owners:
      receivers: {{payments: team-payments}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_alert_reaches_the_owner_webhook_then_resolves() {
    let sink = WebhookSink::start(Answer::Ack).await;
    let target =
        FixtureServer::start("payments_up 0\ncontrol_up 1\n", "text/plain; version=0.0.4").await;
    let dir = TempDir::new("alerting");
    std::fs::write(dir.join("alerts.rules.yml"), RULES).unwrap();
    let cfg = dir.join("redline.yml");
    std::fs::write(&cfg, config(&sink.url(), &target.addr.to_string())).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("redline.log")).unwrap();
    let _redline = ProcessGuard(
        common::redline_run(&cfg, port, &dir.join("state"))
            .stderr(log)
            .spawn()
            .expect("start redline"),
    );

    let firing = wait_for("the firing notification", Duration::from_secs(60), || {
        sink.acknowledged().into_iter().next()
    })
    .await;
    assert_eq!(firing["receiver"], "team-payments", "{firing:#}");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["groupKey"], r#"{}:{alertname="PaymentsDown"}"#);
    assert_eq!(
        firing["groupLabels"],
        serde_json::json!({"alertname": "PaymentsDown"})
    );
    assert_eq!(firing["notification_reason"], "new_alerts");
    assert_eq!(firing["truncatedAlerts"], 0);
    assert_eq!(firing["externalURL"], format!("http://127.0.0.1:{port}"));
    let alerts = firing["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "PaymentsDown");
    assert_eq!(a["labels"]["cluster"], "test", "external labels are added");
    assert_eq!(a["labels"]["owner"], "payments");
    assert_eq!(a["annotations"]["summary"], "payments is down");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["owner"], "payments");
    assert_eq!(a["playbookURL"], "https://runbooks.example/payments");
    assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
    let generator = a["generatorURL"].as_str().unwrap();
    assert_eq!(
        generator,
        format!("http://127.0.0.1:{port}/graph?g0.expr=payments_up+%3D%3D+0&g0.tab=1")
    );

    // Deliveries and held alerts are on /metrics.
    redline::install_crypto_provider();
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    assert!(
        metrics.contains(
            r#"redline_notifications_total{integration="webhook[0]",receiver="team-payments"} "#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"redline_alerts{state="active"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("redline_notification_latency_seconds_count 1"),
        "{metrics}"
    );
    // ... and on the alerts page, per receiver integration.
    let page = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/alerts"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /alerts")
        .text()
        .await
        .expect("alerts page");
    let row = page
        .split("<tr class=\"delivery")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no delivery row on /alerts:\n{page}"));
    assert!(
        row.contains("<td>team-payments</td><td>webhook[0]</td><td>1</td><td>0</td>"),
        "{row}"
    );

    // The control alert starts firing; its route repeats every 2s (one group_interval). Once
    // it has been repeated twice, PaymentsDown (repeat_interval 1h) has been through the same
    // flushes and is still notified once.
    target.set_body("payments_up 0\ncontrol_up 0\n");
    let firing_of = |name: &str| {
        sink.acknowledged()
            .into_iter()
            .filter(|b| b["status"] == "firing" && b["groupLabels"]["alertname"] == name)
            .collect::<Vec<_>>()
    };
    let control = wait_for(
        "two repeats of the control alert",
        Duration::from_secs(60),
        || {
            let n = firing_of("PaymentsControl");
            (n.len() >= 3).then_some(n)
        },
    )
    .await;
    assert_eq!(control[0]["notification_reason"], "new_alerts");
    assert_eq!(control[1]["notification_reason"], "repeat_interval");
    assert_eq!(
        firing_of("PaymentsDown").len(),
        1,
        "no repeat within repeat_interval"
    );

    // The service comes back: the receiver is told the alert resolved.
    target.set_body("payments_up 1\ncontrol_up 0\n");
    let resolved = wait_for("the resolved notification", Duration::from_secs(60), || {
        sink.acknowledged()
            .into_iter()
            .find(|b| b["status"] == "resolved")
    })
    .await;
    assert_eq!(resolved["groupLabels"]["alertname"], "PaymentsDown");
    assert_eq!(resolved["notification_reason"], "resolved");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(resolved["alerts"][0]["fingerprint"], a["fingerprint"]);
    assert_eq!(
        firing_of("PaymentsDown").len(),
        1,
        "no repeat within repeat_interval"
    );
}
