//! Alertmanager's integrations, differentially: Debian's `prometheus-alertmanager` (0.25) and
//! redline load the same `alertmanager.yml`, get the same alerts, and each integration's
//! requests from redline must carry every field Alertmanager's carry, with the same values
//! (see tests/common/am_differential.rs). Fields only redline sends are its documented
//! additions (docs/integrations.md).

mod common;

use common::am_differential::{assert_same_requests, Pair};
use serde_json::{json, Value};

/// Two alerts of one group, started at a fixed time; `resolved` ends them in the past.
fn alerts(resolved: bool) -> Value {
    let ends = if resolved {
        json!("2026-01-01T00:10:00Z")
    } else {
        Value::Null
    };
    let one = |instance: &str, summary: &str| {
        let mut a = json!({
            "labels": {"alertname": "HighErrorRate", "severity": "page", "job": "api", "instance": instance},
            "annotations": {"summary": summary, "runbook_url": "https://runbooks.example/api"},
            "startsAt": "2026-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up"
        });
        if !ends.is_null() {
            a["endsAt"] = ends.clone();
        }
        a
    };
    json!([
        one("10.0.0.1:8080", "api errors at 5%"),
        one("10.0.0.2:8080", "api errors at 7%")
    ])
}

const ROUTE: &str = r#"
route:
  receiver: all
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
"#;

/// The harness itself, on the webhook both already speak: the payloads agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_requests_match_alertmanager() {
    let config =
        format!("{ROUTE}receivers:\n  - name: all\n    webhook_configs:\n      - url: FAKE/hook\n");
    let pair = Pair::start("diff-webhook", &config, &[]).await;
    pair.post_alerts(&alerts(false)).await;
    let (am, rl) = pair.requests("/hook", 1).await;
    assert_same_requests("webhook firing", &am[..1], &rl[..1], &pair);
    assert_eq!(rl[0].json()["status"], "firing");
    pair.post_alerts(&alerts(true)).await;
    let (am, rl) = pair.requests("/hook", 2).await;
    assert_same_requests("webhook resolved", &am[1..2], &rl[1..2], &pair);
    assert_eq!(rl[1].json()["status"], "resolved");
}
