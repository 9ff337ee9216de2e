//! Every notification carries each alert's owner and playbook link, also for an alert that
//! has no owner label and no `runbook_url`: its owner is the receiver it is sent to, and its
//! playbook link is redline's `/playbooks/<alertname>`, which shows that playbook (a shipped
//! one, with no `--playbooks-dir`) or the index of all playbooks.

mod common;
mod webhook_sink;

use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::testdir::TempDir;
use std::time::{Duration, Instant};
use webhook_sink::{Answer, WebhookSink};

async fn post_alerts(base: &str, body: serde_json::Value) {
    redline::install_crypto_provider();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v2/alerts"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/v2/alerts");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("Accept", "text/html")
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_without_owner_or_runbook_gets_both_from_the_fallbacks() {
    let sink = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("owner-fb");
    let yaml = format!(
        "alertmanager:\n  config:\n    route:\n      receiver: sre-triage\n      group_by: [alertname]\n      group_wait: 100ms\n      group_interval: 1s\n    receivers:\n      - name: sre-triage\n        webhook_configs: [{{url: '{}'}}]\n",
        sink.url()
    );
    let cfg = Config::from_yaml_str(&yaml, "redline.yml").expect("config");
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    opts.external_url = Some("http://redline.example:9090".into());
    // No --playbooks-dir: the shipped playbooks are built in.
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}", svc.local_addr);

    post_alerts(
        &base,
        serde_json::json!([
            {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"}},
            {"labels": {"alertname": "NoPlaybookYet"}},
            {"labels": {"alertname": "Owned", "team": "payments"},
             "annotations": {"runbook_url": "https://wiki.example/owned"}}
        ]),
    )
    .await;

    let end = Instant::now() + Duration::from_secs(20);
    let alerts = loop {
        let got: Vec<serde_json::Value> = sink
            .acknowledged()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .collect();
        if got.len() >= 3 {
            break got;
        }
        assert!(Instant::now() < end, "three alerts notified: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let by_name = |n: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == n)
            .unwrap_or_else(|| panic!("{n} in {alerts:?}"))
            .clone()
    };
    let crash = by_name("KubePodCrashLooping");
    assert_eq!(crash["owner"], "sre-triage", "{crash}");
    assert_eq!(
        crash["playbookURL"],
        "http://redline.example:9090/playbooks/KubePodCrashLooping"
    );
    let none = by_name("NoPlaybookYet");
    assert_eq!(none["owner"], "sre-triage");
    assert_eq!(
        none["playbookURL"],
        "http://redline.example:9090/playbooks/NoPlaybookYet"
    );
    // Control: an alert with an owner label and a runbook keeps both.
    let owned = by_name("Owned");
    assert_eq!(owned["owner"], "payments");
    assert_eq!(owned["playbookURL"], "https://wiki.example/owned");

    // The links work on this redline (the external URL's host is the test's stand-in).
    let (status, html) = get(&format!("{base}/playbooks/KubePodCrashLooping")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1>KubePodCrashLooping"),
        "the shipped playbook: {html}"
    );
    let (status, html) = get(&format!("{base}/playbooks/NoPlaybookYet")).await;
    assert_eq!(status, 404);
    assert!(html.contains("There is no playbook for"), "{html}");
    assert!(
        html.contains("href=\"/playbooks/KubePodCrashLooping\""),
        "the index of the playbooks there are: {html}"
    );

    svc.shutdown().await;
}
