//! Acknowledgements against the real binary: an acknowledged group sends no repeats (a real
//! webhook receiver, `repeat_interval: 2s`) until the acknowledgement expires, a new alert in
//! the group is notified and ends it, a resolution still goes out; acknowledgements survive a
//! restart; PagerDuty gets an `acknowledge` event with the trigger's `dedup_key`; the CLI
//! round trip; and the API's validation errors.

mod common;
mod webhook_sink;

use common::fake_http::FakeReceiver;
use common::{wait_for, TempDir};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use webhook_sink::{Answer, WebhookSink};

const DEADLINE: Duration = Duration::from_secs(30);

/// group_interval 1s and repeat_interval 2s: an unacknowledged group is repeated every ~3s
/// (a repeat is due once the last notification is more than 2s old, at the next flush).
fn webhook_config(sink: &str) -> String {
    format!(
        r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: team
    webhook_configs: [{{url: '{sink}', send_resolved: true}}]
"#
    )
}

fn rfc3339_in(secs: i64) -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(secs.max(0) as u64);
    redline::timefmt::rfc3339_nanos(t)
}

async fn post_alerts(port: u16, alerts: Value) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alerts.to_string())
        .send()
        .await
        .expect("post alerts");
    assert!(r.status().is_success(), "{:?}", r.text().await);
}

/// A firing alert (ends in an hour, so it needs no re-sending) or, with `resolved`, one
/// that ended now.
fn alert(name: &str, instance: &str, resolved: bool) -> Value {
    json!({
        "labels": {"alertname": name, "instance": instance},
        "startsAt": rfc3339_in(0),
        "endsAt": if resolved { rfc3339_in(0) } else { rfc3339_in(3600) },
    })
}

/// POSTs an acknowledgement request; the status and the body.
async fn post_ack(port: u16, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/acks"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("post ack");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({"text": text})),
    )
}

async fn ack_down(port: u16, duration: &str) -> String {
    let (status, body) = post_ack(
        port,
        &json!({"matchers": ["alertname=\"Down\""], "createdBy": "alice", "comment": "on it", "duration": duration}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"][0]["id"].as_str().expect("ack id").to_string()
}

/// The sink's acknowledged notifications of group `name`, with their arrival.
fn of_group(sink: &WebhookSink, name: &str) -> Vec<(Instant, Value)> {
    let key = format!(r#"{{}}:{{alertname="{name}"}}"#);
    sink.received()
        .into_iter()
        .filter(|r| r.answered == Answer::Ack && r.body["groupKey"] == key.as_str())
        .map(|r| (r.at, r.body))
        .collect()
}

fn after(v: &[(Instant, Value)], t: Instant) -> Vec<Value> {
    v.iter()
        .filter(|(at, _)| *at > t)
        .map(|(_, b)| b.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_stops_repeats_until_it_expires_and_lets_new_alerts_and_resolutions_through() {
    redline::install_crypto_provider();
    let sink = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("acks-webhook");
    let (_redline, port) =
        common::run_with_alertmanager(&dir, &webhook_config(&sink.url()), &[]).await;
    post_alerts(
        port,
        json!([alert("Down", "a", false), alert("Control", "x", false)]),
    )
    .await;

    // Without an acknowledgement, repeats arrive.
    wait_for("Down notified and repeated", DEADLINE, || {
        let n = of_group(&sink, "Down");
        (n.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(
        of_group(&sink, "Down")[1].1["notification_reason"],
        "repeat_interval"
    );

    // Acknowledged for 9s: the Control group is repeated twice meanwhile, Down not at all
    // (a notification already on its way when the acknowledgement came may still land within
    // a second).
    ack_down(port, "9s").await;
    let t_ack = Instant::now();
    wait_for("two Control repeats after the ack", DEADLINE, || {
        (after(&of_group(&sink, "Control"), t_ack).len() >= 2).then_some(())
    })
    .await;
    let held = after(
        &of_group(&sink, "Down"),
        t_ack + Duration::from_millis(1500),
    );
    assert!(held.is_empty(), "repeats while acknowledged: {held:?}");

    // Expired: repeats resume.
    let resumed = wait_for("a Down repeat after the ack expired", DEADLINE, || {
        after(&of_group(&sink, "Down"), t_ack + Duration::from_secs(9))
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(resumed["notification_reason"], "repeat_interval");

    // Acknowledged again; a new alert joins: notified, and the acknowledgement ends.
    let id = ack_down(port, "1h").await;
    let t_new = Instant::now();
    post_alerts(port, json!([alert("Down", "b", false)])).await;
    let joined = wait_for("the new alert notified", DEADLINE, || {
        after(&of_group(&sink, "Down"), t_new)
            .into_iter()
            .find(|b| b["notification_reason"] == "new_alerts")
    })
    .await;
    assert_eq!(
        joined["alerts"].as_array().map(Vec::len),
        Some(2),
        "{joined}"
    );
    let listed = common::get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/acks?groupKey={}",
        urlencode(r#"{}:{alertname="Down"}"#)
    ))
    .await;
    let ended = listed["data"]
        .as_array()
        .and_then(|v| v.iter().find(|a| a["id"] == id.as_str()))
        .unwrap_or_else(|| panic!("ack {id} listed: {listed}"));
    assert_eq!(ended["state"], "expired", "{ended}");
    assert_eq!(ended["endedBy"], "new_alerts", "{ended}");
    assert_eq!(ended["createdBy"], "alice");
    assert_eq!(ended["comment"], "on it");

    // Acknowledged with both; a resolves: the resolution is sent.
    ack_down(port, "1h").await;
    let t_res = Instant::now();
    post_alerts(port, json!([alert("Down", "a", true)])).await;
    let resolved = wait_for("the resolution", DEADLINE, || {
        after(&of_group(&sink, "Down"), t_res)
            .into_iter()
            .find(|b| b["notification_reason"] == "resolved")
    })
    .await;
    let statuses: Vec<&str> = resolved["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["status"].as_str())
        .collect();
    assert_eq!(statuses, ["resolved", "firing"], "{resolved}");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_survives_a_restart() {
    redline::install_crypto_provider();
    let sink = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("acks-restart");
    let config = webhook_config(&sink.url());
    let (first, port) = common::run_with_alertmanager(&dir, &config, &[]).await;
    post_alerts(
        port,
        json!([alert("Down", "a", false), alert("Control", "x", false)]),
    )
    .await;
    wait_for("Down notified", DEADLINE, || {
        (!of_group(&sink, "Down").is_empty()).then_some(())
    })
    .await;
    let id = ack_down(port, "1h").await;
    drop(first);

    let (_second, port) = common::run_with_alertmanager(&dir, &config, &[]).await;
    let t_restart = Instant::now();
    let listed = common::get_json(&format!("http://127.0.0.1:{port}/api/v1/acks")).await;
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["data"][0]["state"], "active", "{listed}");
    // The restored Control group is repeated twice; the acknowledged Down group is not.
    wait_for("two Control repeats after the restart", DEADLINE, || {
        (after(&of_group(&sink, "Control"), t_restart).len() >= 2).then_some(())
    })
    .await;
    let held = after(&of_group(&sink, "Down"), t_restart);
    assert!(held.is_empty(), "repeats after the restart: {held:?}");
}

fn redline_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redline"))
        .args(args)
        .output()
        .expect("redline runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// PagerDuty Events API v2: the trigger, then (acknowledged from the CLI) an event with
/// `event_action: acknowledge` and the trigger's `dedup_key` (PagerDuty's documented
/// acknowledge event: routing key, dedup key, action; no payload). The CLI lists and expires
/// the acknowledgement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_gets_an_acknowledge_event_and_the_cli_round_trips() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("acks-pagerduty");
    let config = format!(
        r#"
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    pagerduty_configs:
      - routing_key: rk-oncall
        url: {}/pd
"#,
        fake.url()
    );
    let (_redline, port) = common::run_with_alertmanager(&dir, &config, &[]).await;
    post_alerts(port, json!([alert("PdDown", "a", false)])).await;
    let trigger = fake.wait_for("/pd", 1, DEADLINE).await[0].json();
    assert_eq!(trigger["event_action"], "trigger", "{trigger}");
    let dedup = trigger["dedup_key"]
        .as_str()
        .expect("dedup_key")
        .to_string();

    let url = format!("http://127.0.0.1:{port}");
    let (ok, out, err) = redline_cli(&[
        "ack",
        "add",
        "--url",
        &url,
        "--author",
        "carol",
        "--comment",
        "looking",
        "--duration",
        "30m",
        "PdDown",
    ]);
    assert!(ok, "ack add: {err}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "one id printed: {out:?}");

    let ack = fake.wait_for("/pd", 2, DEADLINE).await[1].json();
    assert_eq!(
        ack,
        json!({"routing_key": "rk-oncall", "dedup_key": dedup, "event_action": "acknowledge"})
    );

    let (ok, out, err) = redline_cli(&["ack", "query", "--url", &url]);
    assert!(ok, "ack query: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("carol") && lines[1].contains("active"),
        "{out}"
    );
    assert!(lines[1].ends_with("looking"), "{out}");

    let (ok, _, err) = redline_cli(&["ack", "expire", "--url", &url, &id]);
    assert!(ok, "ack expire: {err}");
    let (_, out, _) = redline_cli(&["ack", "query", "--url", &url]);
    assert!(out.contains("expired (expired)"), "{out}");
    let (ok, _, err) = redline_cli(&["ack", "expire", "--url", &url, &id]);
    assert!(!ok);
    assert!(
        err.contains(&format!("acknowledgement {id} already ended")),
        "{err}"
    );
    let (ok, _, err) = redline_cli(&["ack", "add", "--url", &url, "job=~("]);
    assert!(!ok);
    assert!(err.contains("matcher \"job=~(\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_names_the_field_of_an_invalid_request() {
    redline::install_crypto_provider();
    let sink = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("acks-api");
    let (_redline, port) =
        common::run_with_alertmanager(&dir, &webhook_config(&sink.url()), &[]).await;
    post_alerts(port, json!([alert("Down", "a", false)])).await;
    let ok = r#""matchers": ["alertname=\"Down\""], "createdBy": "a", "duration": "1h""#;
    let cases = [
        (
            "{}",
            400,
            "groupKey, fingerprint, matchers: exactly one is required to name the group",
        ),
        (
            r#"{"matchers": ["a=\"b\""], "groupKey": "k", "createdBy": "a", "duration": "1h"}"#,
            400,
            "groupKey, fingerprint, matchers: exactly one is required to name the group",
        ),
        (
            r#"{"matchers": ["alertname=\"Down\""], "duration": "1h"}"#,
            400,
            "createdBy: required: who acknowledges the group",
        ),
        (
            r#"{"matchers": [], "createdBy": "a", "duration": "1h"}"#,
            400,
            "matchers: expected at least one matcher, e.g. alertname=\"Down\"",
        ),
        (
            r#"{"fingerprint": "xyz", "createdBy": "a", "duration": "1h"}"#,
            400,
            "fingerprint: expected 16 hex digits, got \"xyz\"",
        ),
        (
            r#"{"matchers": ["alertname=\"Down\""], "createdBy": "a"}"#,
            400,
            "endsAt, duration: exactly one is required",
        ),
        (
            r#"{"matchers": ["alertname=\"Down\""], "createdBy": "a", "endsAt": "2001-01-01T00:00:00Z"}"#,
            400,
            "endsAt: must be in the future",
        ),
        (
            r#"{"matchers": ["alertname=\"Down\""], "createdBy": "a", "endsAt": "tomorrow"}"#,
            400,
            "endsAt: expected an RFC 3339 time, got \"tomorrow\"",
        ),
        (
            r#"{"matchers": ["alertname=\"Up\""], "createdBy": "a", "duration": "1h"}"#,
            404,
            "matchers: no firing alert matches",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = post_ack(port, body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(message)),
            "{body}: {answer}"
        );
    }
    // Errors whose text comes from a parser: the field is named first.
    for (body, field) in [
        (format!(r#"{{{ok}, "comment": 5}}"#), "comment: "),
        (
            r#"{"matchers": ["job=~\"(\""], "createdBy": "a", "duration": "1h"}"#.to_string(),
            "matchers[0]: ",
        ),
        (
            r#"{"matchers": ["alertname=\"Down\""], "createdBy": "a", "duration": "soon"}"#
                .to_string(),
            "duration: ",
        ),
    ] {
        let (got, answer) = post_ack(port, &body).await;
        let e = answer["error"].as_str().unwrap_or_default();
        assert!(got == 400 && e.starts_with(field), "{body}: {got} {answer}");
    }
    let (got, answer) = post_ack(port, &format!(r#"{{{ok}, "until": "x"}}"#)).await;
    assert_eq!(got, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field `until`"),
        "{answer}"
    );
    // Not JSON: refused as the Alertmanager API refuses it.
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/acks"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("createdBy=a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // Control: the valid request is taken.
    let (got, answer) = post_ack(port, &format!("{{{ok}}}")).await;
    assert_eq!(got, 200, "{answer}");
    let r = reqwest::Client::new()
        .delete(format!("http://127.0.0.1:{port}/api/v1/acks/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

/// High availability (tests/common/ha.rs: two replicas, a fake Lease, Control repeated every
/// second or two): an acknowledgement made on the standby reaches the holder by replication
/// and holds the holder's repeats, while the holder goes on sending heartbeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_made_on_the_standby_holds_the_holders_repeats() {
    use common::fake_lease::FakeLeaseApi;
    use common::ha::Replicas;
    redline::install_crypto_provider();
    let api = FakeLeaseApi::start(2).await;
    let sink = FakeReceiver::start().await;
    let replicas = Replicas::start("acks-ha", &api, &sink, "1s");
    let first = sink
        .wait_for("/control", 1, Duration::from_secs(60))
        .await
        .remove(0);
    let holder = replicas.sender(&first);
    let standby_url = replicas.external_url(1 - holder);
    let (status, body) = {
        let r = reqwest::Client::new()
            .post(format!("{standby_url}/api/v1/acks"))
            .header("content-type", "application/json")
            .body(
                json!({"matchers": ["alertname=\"Control\""], "createdBy": "dana", "duration": "1h"})
                    .to_string(),
            )
            .send()
            .await
            .expect("post ack to the standby");
        (
            r.status().as_u16(),
            serde_json::from_str::<Value>(&r.text().await.unwrap_or_default()).unwrap_or_default(),
        )
    };
    assert_eq!(status, 200, "{body}");
    let id = body["data"][0]["id"].as_str().unwrap().to_string();
    let holder_url = replicas.external_url(holder);
    let made = Instant::now();
    loop {
        let listed = common::get_json(&format!("{holder_url}/api/v1/acks")).await;
        if listed["data"]
            .as_array()
            .is_some_and(|v| v.iter().any(|a| a["id"] == id.as_str()))
        {
            break;
        }
        assert!(
            made.elapsed() < DEADLINE,
            "the ack never reached the holder"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once a heartbeat was sent after the ack arrived, no Control repeat follows, while three
    // more heartbeats do.
    assert_eq!(
        common::ha::sent_during_three_heartbeats(&sink, "/control").await,
        0,
        "the holder repeated an acknowledged group"
    );
}
