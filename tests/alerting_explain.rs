//! "Why was I (not) paged?" against a running redline: the explanation of each alert agrees
//! with what a real webhook receiver got. One alert is notified (explain: sent, the
//! notification log's entry, a repeat after repeat_interval), one is silenced (the silence's
//! id, author and comment), one is inhibited (the rule and the inhibiting alert), one is
//! held by a mute time interval; the receiver got only the first. The API's errors, the
//! dashboard page, the alert list's links and `redline explain` are checked on the same
//! server.

mod webhook_sink;

use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use webhook_sink::{Answer, WebhookSink};

fn client() -> reqwest::Client {
    redline::install_crypto_provider();
    reqwest::Client::new()
}

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, body) = get(url).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn config(sink: &str) -> String {
    format!(
        r#"alertmanager:
  config:
    route:
      receiver: triage
      group_by: [alertname]
      group_wait: 100ms
      group_interval: 1s
      repeat_interval: 1h
      routes:
        - matchers: ['maintenance="yes"']
          receiver: pager
          mute_time_intervals: [always]
        - matchers: ['severity="page"']
          receiver: pager
    inhibit_rules:
      - source_matchers: ['alertname="ClusterDown"']
        target_matchers: ['alertname!="ClusterDown"']
        equal: [cluster]
    time_intervals:
      - name: always
        time_intervals: [{{times: [{{start_time: '00:00', end_time: '24:00'}}]}}]
    receivers:
      - name: triage
      - name: pager
        webhook_configs: [{{url: '{sink}'}}]
"#
    )
}

fn rfc3339(t: SystemTime) -> String {
    redline::timefmt::rfc3339_nanos(t)
}

/// The fingerprint `/api/v2/alerts` gives the alert named `name`.
async fn fingerprint_of(base: &str, name: &str) -> String {
    let (_, alerts) = get_json(&format!("{base}/api/v2/alerts")).await;
    alerts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["labels"]["alertname"] == name))
        .and_then(|a| a["fingerprint"].as_str())
        .unwrap_or_else(|| panic!("alert {name} in {alerts}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_agree_with_what_the_receiver_got() {
    let sink = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("explain-e2e");
    let cfg = Config::from_yaml_str(&config(&sink.url()), "redline.yml").expect("config");
    let opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}", svc.local_addr);

    let now = SystemTime::now();
    let (status, created) = post_json(
        &format!("{base}/api/v2/silences"),
        json!({
            "matchers": [{"name": "alertname", "value": "Disk", "isRegex": false}],
            "startsAt": rfc3339(now),
            "endsAt": rfc3339(now + Duration::from_secs(3600)),
            "createdBy": "ana",
            "comment": "disk swap"
        }),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let silence_id = created["silenceID"]
        .as_str()
        .expect("silenceID")
        .to_string();

    let (status, _) = post_json(
        &format!("{base}/api/v2/alerts"),
        json!([
            {"labels": {"alertname": "Down", "severity": "page", "cluster": "us"}},
            {"labels": {"alertname": "Disk", "severity": "page", "cluster": "us"}},
            {"labels": {"alertname": "ClusterDown", "cluster": "ap"}},
            {"labels": {"alertname": "Latency", "severity": "page", "cluster": "ap"}},
            {"labels": {"alertname": "Backup", "maintenance": "yes"}}
        ]),
    )
    .await;
    assert_eq!(status, 200);

    // The receiver is told about Down (and nothing else, checked below).
    let end = Instant::now() + Duration::from_secs(20);
    while sink.acknowledged().is_empty() {
        assert!(Instant::now() < end, "Down is notified");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let down_fp = fingerprint_of(&base, "Down").await;
    // Wait until the notification log has recorded the acknowledged send.
    let explain_down = format!("{base}/api/v1/explain?fingerprint={down_fp}");
    let down = loop {
        let (status, body) = get_json(&explain_down).await;
        assert_eq!(status, 200, "{body}");
        let d = body["data"].clone();
        if d["destinations"][0]["integrations"][0]["last_sent"].is_string() {
            break d;
        }
        assert!(Instant::now() < end, "the log records the send: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(down["alert"]["state"], "firing");
    assert_eq!(down["receivers"], json!(["pager"]));
    let d = &down["destinations"][0];
    assert_eq!(d["route"], "route.routes[1]");
    assert_eq!(d["group_key"], r#"{}/{severity="page"}:{alertname="Down"}"#);
    assert_eq!(d["owner"], "pager", "no owner label: the receiver");
    assert_eq!(d["group"]["holds_alert"], true);
    let i = &d["integrations"][0];
    assert_eq!(i["integration"], "webhook[0]");
    assert_eq!(i["alert_last_notified"], "firing");
    assert_eq!(i["last_firing"], json!([down_fp]));
    assert_eq!(
        i["next_send_reason"], "repeat_interval",
        "told already, unchanged: next is the repeat: {i}"
    );
    let last = redline::timefmt::parse_unix_or_rfc3339(i["last_sent"].as_str().unwrap()).unwrap();
    let due = redline::timefmt::parse_unix_or_rfc3339(i["repeat_due"].as_str().unwrap()).unwrap();
    assert_eq!(due - last, 3_600_000, "repeat_interval after the send");
    // The route path: the maintenance route was tried and failed on its one matcher.
    let tried = &down["route"]["routes"][0];
    assert_eq!(tried["verdict"], "not_matched");
    assert_eq!(tried["matchers"][0]["matched"], false);

    // Silenced: the silence is named.
    let (status, disk) = get_json(&format!(
        "{base}/api/v1/explain?alertname=Disk&severity=page&cluster=us"
    ))
    .await;
    assert_eq!(status, 200, "{disk}");
    let s = &disk["data"]["silences"][0];
    assert_eq!(s["id"], silence_id.as_str());
    assert_eq!(s["created_by"], "ana");
    assert_eq!(s["comment"], "disk swap");
    assert!(disk["data"]["destinations"][0]["integrations"][0]["next_send"].is_null());

    // Inhibited: the rule and the source alert.
    let (status, latency) = post_json(
        &format!("{base}/api/v1/explain"),
        json!({"labels": {"alertname": "Latency", "severity": "page", "cluster": "ap"}}),
    )
    .await;
    assert_eq!(status, 200, "{latency}");
    let inh = &latency["data"]["inhibition"];
    assert_eq!(inh["rule"], 0);
    assert_eq!(
        inh["source_fingerprint"],
        fingerprint_of(&base, "ClusterDown").await.as_str()
    );
    assert_eq!(inh["source_labels"]["alertname"], "ClusterDown");
    assert_eq!(inh["equal"], json!(["cluster"]));

    // Muted by a time interval.
    let (_, backup) = get_json(&format!(
        "{base}/api/v1/explain?alertname=Backup&maintenance=yes"
    ))
    .await;
    let d = &backup["data"]["destinations"][0];
    assert_eq!(d["muted_by_time"], true);
    assert_eq!(
        backup["data"]["route"]["routes"][0]["time_intervals"],
        json!([{"name": "always", "kind": "mute", "contains_now": true}])
    );

    // Control: what the receiver got is what the explanations say — Down only.
    let names: Vec<String> = sink
        .acknowledged()
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(names.iter().all(|n| n == "Down"), "only Down: {names:?}");

    // Errors.
    let (status, body) = get_json(&format!(
        "{base}/api/v1/explain?fingerprint=0000000000000001"
    ))
    .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = get_json(&format!("{base}/api/v1/explain?fingerprint=xyz")).await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );
    let (status, _) = get_json(&format!("{base}/api/v1/explain?a=1&a=2")).await;
    assert_eq!(status, 400);
    let (status, _) = post_json(&format!("{base}/api/v1/explain"), json!({"lables": {}})).await;
    assert_eq!(status, 400);

    // The dashboard page and the alert list's links.
    let (status, html) = get(&format!(
        "{base}/explain?labels=%7Balertname%3D%22Latency%22%2C+severity%3D%22page%22%2C+cluster%3D%22ap%22%7D"
    ))
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Inhibited by alert"), "{html}");
    assert!(
        html.contains(r#"<strong class="receivers">pager</strong>"#),
        "{html}"
    );
    let (status, html) = get(&format!("{base}/explain?fingerprint={down_fp}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("repeat_interval"), "{html}");
    let (_, alerts_page) = get(&format!("{base}/alerts")).await;
    assert!(
        alerts_page.contains(r#"<a class="explain" href="/explain?labels"#),
        "each alert links to its explanation: {alerts_page}"
    );

    // The command line, text and JSON.
    let bin = env!("CARGO_BIN_EXE_redline");
    let out = Command::new(bin)
        .args([
            "explain",
            "--url",
            &base,
            "alertname=Down",
            "severity=page",
            "cluster=us",
        ])
        .output()
        .expect("run redline explain");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Receivers: pager\n"), "{text}");
    assert!(
        text.contains(r#"{severity="page"}  receiver: pager  [MATCHED, destination]"#),
        "{text}"
    );
    assert!(text.contains("webhook[0]: last sent"), "{text}");
    let out = Command::new(bin)
        .args([
            "explain",
            "--json",
            "--url",
            &base,
            "--fingerprint",
            &down_fp,
        ])
        .output()
        .expect("run redline explain --json");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["fingerprint"], down_fp.as_str());
    assert_eq!(v["receivers"], json!(["pager"]));
    // Clear errors: a URL that is not one, a label that is not name=value.
    let out = Command::new(bin)
        .args(["explain", "--url", "127.0.0.1:9", "a=b"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid --url \"127.0.0.1:9\""), "{err}");
    let out = Command::new(bin)
        .args(["explain", "--url", &base, "severity=~page"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("labels must be specified as key=value pairs"),
        "{err}"
    );

    svc.shutdown().await;
}
