//! Debian's real Prometheus server uses redline as its Alertmanager (`api_version: v2`): it
//! evaluates a rule that always fires and posts the alert; redline routes it to a webhook
//! receiver, and the webhook sink started by the test receives Alertmanager's payload with
//! Prometheus' alert in it.

mod common;

use common::{free_port, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A webhook receiver on loopback that keeps every JSON body posted to `/hook`.
async fn start_sink() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook sink");
    let port = listener.local_addr().expect("sink address").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let shared = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    shared.lock().expect("sink bodies").push(v);
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_posts_alerts_that_redline_routes_to_the_webhook() {
    redline::install_crypto_provider();
    let dir = TempDir::new("prometheus-sender");
    let (sink_port, received) = start_sink().await;

    // redline, routing severity=page to the sink.
    let redline_port = free_port();
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            r#"scrape_configs: []
alertmanager:
  config:
    route:
      receiver: nobody
      group_by: [alertname]
      group_wait: 1s
      routes:
        - matchers: ['severity="page"']
          receiver: sink
    receivers:
      - name: nobody
      - name: sink
        webhook_configs:
          - url: http://127.0.0.1:{sink_port}/hook
"#
        ),
    )
    .expect("write redline config");
    let _redline = ProcessGuard(
        Command::new(env!("CARGO_BIN_EXE_redline"))
            .args(["run", "--config"])
            .arg(dir.join("redline.yml"))
            .args([
                "--listen",
                &format!("127.0.0.1:{redline_port}"),
                "--state-dir",
            ])
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redline run"),
    );

    // Prometheus, sending to redline.
    let prom_port = free_port();
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: sender
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: page
          team: api
        annotations:
          summary: always firing
"#,
    )
    .expect("write rules");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            r#"global:
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ['127.0.0.1:{redline_port}']
"#
        ),
    )
    .expect("write prometheus config");
    // Alerts evaluated before Prometheus has discovered its Alertmanager are resent after
    // this delay (default 1m).
    let _prometheus = common::start_prometheus(&dir, prom_port, &["--rules.alert.resend-delay=1s"]);

    let deadline = Instant::now() + Duration::from_secs(90);
    let payload = loop {
        let first = received.lock().expect("sink bodies").first().cloned();
        if let Some(p) = first {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook received nothing from Prometheus through redline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(payload["version"], "4");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["receiver"], "sink");
    assert_eq!(payload["groupLabels"]["alertname"], "AlwaysFiring");
    let alerts = payload["alerts"].as_array().expect("alerts array");
    assert_eq!(alerts.len(), 1, "{payload:#}");
    let a = &alerts[0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(a["labels"]["team"], "api");
    assert_eq!(a["annotations"]["summary"], "always firing");
    // Prometheus' link back to the expression.
    let gen = a["generatorURL"].as_str().unwrap_or("");
    assert!(
        gen.contains("/graph?g0.expr=vector%281%29"),
        "generatorURL from Prometheus: {gen:?}"
    );
    assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
}
