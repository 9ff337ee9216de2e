//! The integrations against the recording fake only, for what Alertmanager 0.25 cannot be
//! compared on (tests/integrations_differential.rs compares the rest): PagerDuty's v1 events
//! (0.25 always posts them to PagerDuty's public endpoint), Slack's app token with
//! `chat.postMessage` (newer than 0.25), `*_file` secrets read on use, retries on 429, and
//! what the dashboard's alerts page and `/api/v2/receivers` show per integration — delivery
//! counts and the last error, which never shows a secret URL.

mod common;

use common::am_differential::DEADLINE;
use common::fake_http::{Answer, FakeReceiver};
use common::TempDir;
use common::{free_port, wait_for};
use serde_json::json;

async fn get_text(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

const SLACK_TOKEN_PATH: &str = "/services/T000/B000/SECRET-TOKEN";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_send_retry_and_show_on_the_dashboard() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("integrations-fake");
    // A URL with a token, on a port nothing listens on: the error must not show it.
    let dead = format!("http://127.0.0.1:{}{SLACK_TOKEN_PATH}", free_port());
    std::fs::write(dir.join("slack_url"), format!("{}/from-file\n", fake.url())).unwrap();
    std::fs::write(dir.join("pd_key"), "v1-service-key-from-file\n").unwrap();
    let external = "http://redline.example:9090";
    let config = format!(
        r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    slack_configs:
      - api_url_file: slack_url
        channel: '#file'
      - app_token: xoxb-app-token
        app_url: {fake}/api/chat.postMessage
        channel: '#app'
      - api_url: {dead}
        channel: '#dead'
    pagerduty_configs:
      - service_key_file: pd_key
        url: {fake}/v1
      - routing_key: rk-retry
        url: {fake}/pd-retry
      - routing_key: rk-invalid
        url: {fake}/pd-invalid
  - name: quiet
    webhook_configs:
      - url: {fake}/never
        send_resolved: false
"#,
        fake = fake.url()
    );
    fake.answer(
        "/api/chat.postMessage",
        Answer::new(200, "application/json", r#"{"ok":true,"ts":"1.2"}"#),
    );
    fake.answer_once(
        "/pd-retry",
        Answer::new(429, "application/json", r#"{"status":"throttle"}"#),
    );
    fake.answer(
        "/pd-invalid",
        Answer::new(
            400,
            "application/json",
            r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#,
        ),
    );
    let flag = format!("--web.external-url={external}");
    let (_redline, port) = common::run_with_alertmanager(&dir, &config, &[&flag]).await;
    let alerts = json!([{
        "labels": {"alertname": "Down", "job": "api", "severity": "page"},
        "annotations": {"summary": "api is down"},
        "startsAt": "2026-01-01T00:00:00Z"
    }]);
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alerts.to_string())
        .send()
        .await
        .expect("post alerts");
    assert!(r.status().is_success());

    // Slack from api_url_file: the URL is read from the file.
    let file = fake.wait_for("/from-file", 1, DEADLINE).await;
    assert_eq!(file[0].json()["channel"], "#file");

    // Slack with an app token: Bearer token, the same message to app_url.
    let app = fake.wait_for("/api/chat.postMessage", 1, DEADLINE).await;
    assert_eq!(app[0].method, "POST");
    assert_eq!(
        app[0].header("authorization"),
        Some("Bearer xoxb-app-token")
    );
    assert_eq!(app[0].header("content-type"), Some("application/json"));
    let body = app[0].json();
    assert_eq!(body["channel"], "#app");
    assert_eq!(body["username"], "Alertmanager");
    assert_eq!(
        body["attachments"][0]["title"],
        "[FIRING:1] Down (api page)"
    );

    // PagerDuty v1, key from its file: Alertmanager 0.25's v1 event, field for field.
    let v1 = fake.wait_for("/v1", 1, DEADLINE).await;
    let key = "7ff0d9a1b2a6bd1b6e7c82cdb79a94e1d1deeddd89f44c3dbf2c2e2b8b4a7dc9";
    let mut body = v1[0].json();
    let incident_key = body["incident_key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(incident_key.len(), 64, "{body}");
    assert!(
        incident_key.chars().all(|c| c.is_ascii_hexdigit()),
        "{body}"
    );
    body["incident_key"] = json!(key);
    assert_eq!(
        body,
        json!({
            "service_key": "v1-service-key-from-file",
            "incident_key": key,
            "event_type": "trigger",
            "description": "[FIRING:1] Down (api page)",
            "event_action": "",
            "payload": null,
            "client": "Alertmanager",
            "client_url": format!("{external}/#/alerts?receiver=team"),
            "details": {
                "firing": "Labels:\n - alertname = Down\n - job = api\n - severity = page\nAnnotations:\n - summary = api is down\nSource: \n",
                "num_firing": "1",
                "num_resolved": "0",
                "resolved": "",
                // redline's addition: the group's owner (here the receiver it routed to).
                "owner": "team"
            }
        })
    );

    // PagerDuty v2 answers 429 once: retried, then delivered.
    let retried = fake.wait_for("/pd-retry", 2, DEADLINE).await;
    assert_eq!(retried[0].body, retried[1].body);

    // The dashboard lists every integration with its counts and last error.
    let page = wait_for("the dashboard to show every delivery", DEADLINE, || {
        let page = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Runtime::new()
                    .expect("runtime")
                    .block_on(get_text(&format!("http://127.0.0.1:{port}/alerts")))
            })
            .join()
            .expect("page fetch")
        });
        let done = ["slack[0]", "slack[1]", "pagerduty[0]", "pagerduty[1]"]
            .iter()
            .all(|i| page.contains(&format!("<td>{i}</td><td>1</td>")))
            && page.contains(
                "Event object is invalid: Length of &#x27;routing_key&#x27; is incorrect",
            )
            && page.contains("<td>slack[2]</td><td>0</td>");
        done.then_some(page)
    })
    .await;
    assert!(page.contains("unexpected status code 400"), "{page}");
    assert!(
        !page.contains("SECRET-TOKEN"),
        "the dead Slack URL's token leaked:\n{page}"
    );
    assert!(!page.contains("xoxb-app-token"));
    // 429 counted as a failed attempt of pagerduty[1].
    assert!(
        page.contains("<td>pagerduty[1]</td><td>1</td><td>1</td>"),
        "{page}"
    );

    // /api/v2/receivers lists the receivers, as Alertmanager does, each with its
    // integrations: kind, send_resolved, the last attempt, its error when it failed, and
    // redline's counts.
    let receivers = common::get_json(&format!("http://127.0.0.1:{port}/api/v2/receivers")).await;
    let list = receivers.as_array().expect("an array of receivers");
    let names: Vec<&str> = list.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["team", "quiet"], "{receivers}");
    let team = list[0]["integrations"]
        .as_array()
        .expect("team's integrations");
    let mut ids: Vec<&str> = team
        .iter()
        .filter_map(|i| i["redline_integration"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "pagerduty[0]",
            "pagerduty[1]",
            "pagerduty[2]",
            "slack[0]",
            "slack[1]",
            "slack[2]"
        ],
        "{receivers}"
    );
    let by_id = |id: &str| {
        team.iter()
            .find(|i| i["redline_integration"] == id)
            .unwrap_or_else(|| panic!("{id} in {receivers}"))
    };
    let attempted = |i: &serde_json::Value| {
        let at = i["lastNotifyAttempt"].as_str().unwrap_or_default();
        assert!(at.starts_with("20") && at.ends_with('Z'), "{i}");
        let took = i["lastNotifyAttemptDuration"].as_str().unwrap_or_default();
        assert!(
            took.ends_with('s') && took.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{i}"
        );
    };
    for (id, kind, send_resolved) in [
        ("pagerduty[0]", "pagerduty", true),
        ("pagerduty[1]", "pagerduty", true),
        ("slack[0]", "slack", false),
        ("slack[1]", "slack", false),
    ] {
        let i = by_id(id);
        assert_eq!(i["name"], kind, "{i}");
        assert_eq!(i["sendResolved"], send_resolved, "{i}");
        assert_eq!(i["redline_delivered"], 1, "{i}");
        attempted(i);
        assert!(i.get("lastNotifyAttemptError").is_none(), "{i}");
    }
    // pagerduty[1]: 429 once, then delivered: the last attempt has no error, the earlier
    // one is counted and kept.
    let retried = by_id("pagerduty[1]");
    assert_eq!(retried["redline_failed_attempts"], 1, "{retried}");
    assert!(
        retried["redline_last_error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("unexpected status code 429"),
        "{retried}"
    );
    // pagerduty[2] and slack[2] never delivered: the last attempt's error.
    let invalid = by_id("pagerduty[2]");
    assert_eq!(invalid["redline_delivered"], 0);
    attempted(invalid);
    let e = invalid["lastNotifyAttemptError"]
        .as_str()
        .unwrap_or_default();
    assert!(
        e.contains("unexpected status code 400") && e.contains("Event object is invalid"),
        "{invalid}"
    );
    assert_eq!(invalid["redline_last_error"], e);
    let dead = by_id("slack[2]");
    assert_eq!(dead["name"], "slack");
    assert_eq!(dead["redline_delivered"], 0);
    let failures = dead["redline_failed_attempts"].as_u64().unwrap_or_default();
    assert!(failures >= 1, "{dead}");
    attempted(dead);
    let e = dead["lastNotifyAttemptError"].as_str().unwrap_or_default();
    assert!(!e.is_empty(), "{dead}");
    assert!(
        !receivers.to_string().contains("SECRET-TOKEN"),
        "{receivers}"
    );
    // A receiver nothing routes to: its integration, never attempted.
    assert_eq!(
        list[1]["integrations"],
        json!([{
            "name": "webhook",
            "sendResolved": false,
            "redline_integration": "webhook[0]",
            "redline_delivered": 0,
            "redline_failed_attempts": 0
        }])
    );
}
