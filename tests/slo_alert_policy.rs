//! An OpenSLO alert policy in a real `redline run`, as its user checks it: the SLO's policy
//! (burn rate over 5m above 2, `alertAfter: 3m`, two notification targets) goes pending, then
//! fires once it has held for 3 minutes, and the Alertmanager route that matches the
//! `notification_target` label delivers that target's alert to a loopback webhook, while the
//! other target's alert goes to the default receiver.
//!
//! Time is compressed with `slo.ledger_step: 1s` (one ledger "minute" per second), so the 5m
//! lookback is 5 steps and `alertAfter: 3m` is 3 steps (3 s).

mod common;
mod webhook_sink;

use common::{free_port, wait_for, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use std::time::Duration;
use webhook_sink::{Answer, WebhookSink};

const SLO: &str = r#"
apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: OnCallMail
spec:
  description: The on-call mailing list
  target: email
---
apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: TeamHook
spec:
  description: The shop team's chat hook
  target: web-hook
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: fast-burn
spec:
  description: The shop burns its budget fast
  alertWhenBreaching: true
  alertWhenResolved: false
  conditions:
    - kind: AlertCondition
      metadata:
        name: five-minute-burn
      spec:
        severity: page
        condition:
          kind: burnrate
          threshold: 2
          lookbackWindow: 5m
          alertAfter: 3m
  notificationTargets:
    - targetRef: OnCallMail
    - targetRef: TeamHook
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: requests
  labels:
    owner: team-shop
spec:
  service: shop
  indicator:
    metadata:
      name: shop-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{job="app",code="500"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{job="app"})
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
  alertPolicies:
    - alertPolicyRef: fast-burn
"#;

fn config(app: &str, sink: &str) -> String {
    format!(
        r#"
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
slo_files: ['slo.yml']
slo:
  evaluation_interval: 1s
  ledger_step: 1s
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{app}']}}]
alertmanager:
  config:
    route:
      receiver: triage
      group_by: [alertname, notification_target]
      group_wait: 500ms
      group_interval: 1s
      repeat_interval: 1h
      routes:
        # The policy asks for no resolved notifications: its alerts say
        # alert_when_resolved="false", and this route's receiver does not send them.
        - receiver: team-hook
          matchers: ['notification_target="TeamHook"', 'alert_when_resolved="false"']
    receivers:
      - name: triage
      - name: team-hook
        webhook_configs: [{{url: '{sink}', send_resolved: false}}]
"#
    )
}

fn body(ticks: u64) -> String {
    // Per tick 90 good and 10 failed requests: 10 % errors, a burn rate of 0.1 / 0.01 = 10.
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
        90 * ticks,
        10 * ticks
    )
}

async fn get_json_opt(url: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(url).await.ok()?;
    serde_json::from_str(&r.text().await.ok()?).ok()
}

/// The SLO's policy row from `/api/v1/slos`.
async fn policy_row(port: u16) -> Option<serde_json::Value> {
    let v = get_json_opt(&format!(
        "http://127.0.0.1:{port}/api/v1/slos/shop/requests"
    ))
    .await?;
    Some(v["data"]["policy_alerts"][0].clone()).filter(|r| r.is_object())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_alert_goes_pending_then_fires_and_routes_on_its_notification_target() {
    redline::install_crypto_provider();
    let sink = WebhookSink::start(Answer::Ack).await;
    let app = FixtureServer::start(&body(0), "text/plain").await;
    {
        let app = app.clone();
        tokio::spawn(async move {
            for t in 1.. {
                tokio::time::sleep(Duration::from_millis(100)).await;
                app.set_body(&body(t));
            }
        });
    }
    let dir = TempDir::new("slo-alert-policy");
    std::fs::write(dir.join("slo.yml"), SLO).unwrap();
    std::fs::write(
        dir.join("redline.yml"),
        config(&app.addr.to_string(), &sink.url()),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("redline.log")).unwrap();
    let _redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .stderr(log)
            .spawn()
            .expect("start redline"),
    );

    // Pending first: the condition holds, the 3 steps of alertAfter have not passed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let pending = loop {
        if let Some(r) = policy_row(port).await.filter(|r| r["state"] == "pending") {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the policy alert never went pending: {:?}\n{}",
            policy_row(port).await,
            std::fs::read_to_string(dir.join("redline.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(pending["alert"], "FastBurn", "{pending}");
    assert_eq!(pending["severity"], "page");
    assert_eq!(pending["lookback_window"], "5m");
    let since = pending["active_since_ms"].as_i64().expect("active since");
    assert!(pending["burn_rate"].as_f64().unwrap() > 2.0, "{pending}");
    // No notification while pending.
    assert!(sink.acknowledged().is_empty());

    // Then firing, and the TeamHook alert reaches the webhook.
    let note = wait_for("the TeamHook notification", Duration::from_secs(60), || {
        sink.acknowledged().into_iter().next()
    })
    .await;
    assert_eq!(note["receiver"], "team-hook", "{note:#}");
    assert_eq!(note["status"], "firing");
    let alerts = note["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{note:#}");
    let a = &alerts[0];
    assert_eq!(a["labels"]["alertname"], "FastBurn");
    assert_eq!(a["labels"]["notification_target"], "TeamHook");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["owner"], "team-shop");
    assert_eq!(a["labels"]["alert_policy"], "fast-burn");
    assert_eq!(a["labels"]["alert_when_resolved"], "false");
    assert_eq!(a["annotations"]["notification_target_type"], "web-hook");
    assert_eq!(
        a["playbookURL"],
        format!("http://127.0.0.1:{port}/playbooks/FastBurn")
    );
    // It fired no sooner than alertAfter (3 steps of 1 s) after the condition began to hold.
    let starts = redline::timefmt::parse_unix_or_rfc3339(a["startsAt"].as_str().expect("startsAt"))
        .expect("startsAt parses");
    assert!(
        starts - since >= 3_000,
        "fired {} ms after pending",
        starts - since
    );

    // Control: the OnCallMail alert fires too, but its route is the default receiver's.
    let all = get_json_opt(&format!("http://127.0.0.1:{port}/api/v2/alerts"))
        .await
        .expect("alerts API");
    let mail = all
        .as_array()
        .expect("alert list")
        .iter()
        .find(|x| x["labels"]["notification_target"] == "OnCallMail")
        .unwrap_or_else(|| panic!("no OnCallMail alert in {all:#}"));
    assert_eq!(mail["labels"]["alertname"], "FastBurn");
    assert_eq!(mail["receivers"][0]["name"], "triage", "{mail:#}");
    assert!(sink
        .acknowledged()
        .iter()
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .all(|a| a["labels"]["notification_target"] == "TeamHook"));
}
