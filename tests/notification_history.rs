//! The notification history and the alert timeline, with real components on loopback: an
//! in-process redline routes alerts posted to its Alertmanager API (and a rule's alert) to
//! webhook receivers on loopback, one of which fails its first request. The history is read
//! back through `GET /api/v1/notifications` and `GET /api/v1/alerts/{fp}/timeline`, field by
//! field, and the dashboard pages are fetched.
//!
//! Expected reasons follow Alertmanager's stages: an alert matched by an active silence is
//! held back by the silence; a target alert with a firing source alert of an inhibit rule
//! (same `equal` labels) is held back by that source; a receiver never told about a group is
//! sent a first notification; webhook 503 answers are retried (Alertmanager's `Retrier`:
//! 5xx retry), so a receiver that fails once gets the notification on the second attempt.

mod common;
mod webhook_sink;

use common::{get_json, wait_for, FixtureServer, ServiceInDir};
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::ServiceOptions;
use serde_json::{json, Value};
use std::time::Duration;
use webhook_sink::{Answer, WebhookSink};

fn config(ok: &str, flaky: &str, max_entries: usize) -> String {
    format!(
        r#"
alertmanager:
  notification_history: {{retention: 1h, max_entries: {max_entries}}}
  config:
    route:
      receiver: ok
      group_by: [alertname]
      group_wait: 1s
      group_interval: 30s
      repeat_interval: 1h
      routes:
        - matchers: ['alertname="Flaky"']
          receiver: flaky
    receivers:
      - name: ok
        webhook_configs: [{{url: '{ok}', send_resolved: true}}]
      - name: flaky
        webhook_configs: [{{url: '{flaky}'}}]
    inhibit_rules:
      - source_matchers: ['alertname="ClusterDown"']
        target_matchers: ['alertname="NodeDown"']
        equal: [cluster]
"#
    )
}

async fn start(yaml: &str, tag: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str(yaml, "test.yml").expect("config parses");
    ServiceInDir::start(
        cfg,
        tag,
        |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir),
        DiscoveryOptions::default(),
    )
    .await
}

async fn post(url: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST answers");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
    let text = r.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every history entry, following `nextToken` from `first`.
async fn all_pages(base: &str, first: &str) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut url = format!("{base}/api/v1/notifications?{first}");
    loop {
        let j = get_json(&url).await;
        assert_eq!(j["status"], "success", "{j:#}");
        pages += 1;
        out.extend(
            j["data"]["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match j["data"]["nextToken"].as_str() {
            Some(t) => url = format!("{base}/api/v1/notifications?{first}&next_token={t}"),
            None => return (out, pages),
        }
    }
}

/// The entries of `query` once `ready` holds for them (the delivery records an outcome
/// after the receiver's answer), failing after 10 s.
async fn entries_when(base: &str, query: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = entries(base, query).await;
        if ready(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < end, "{query}: {v:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn entries(base: &str, query: &str) -> Vec<Value> {
    let j = get_json(&format!("{base}/api/v1/notifications?{query}")).await;
    assert_eq!(j["status"], "success", "{query}: {j:#}");
    j["data"]["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_delivered_retried_silenced_and_inhibited_with_their_reasons() {
    redline::install_crypto_provider();
    let ok = WebhookSink::start(Answer::Ack).await;
    let flaky = WebhookSink::start(Answer::Ack).await;
    flaky.fail_next(1);
    let svc = start(&config(&ok.url(), &flaky.url(), 1000), "history").await;
    let base = format!("http://{}", svc.local_addr);

    let silence = post(
        &format!("{base}/api/v2/silences"),
        json!({
            "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": false, "isEqual": true}],
            "startsAt": "2000-01-01T00:00:00Z",
            "endsAt": "2999-01-01T00:00:00Z",
            "createdBy": "alice",
            "comment": "maintenance window",
        }),
    )
    .await;
    let silence_id = silence["silenceID"]
        .as_str()
        .expect("silence id")
        .to_string();
    post(
        &format!("{base}/api/v2/alerts"),
        json!([
            {"labels": {"alertname": "Delivered", "owner": "team-a", "instance": "i1"}},
            {"labels": {"alertname": "Flaky", "owner": "team-b"}},
            {"labels": {"alertname": "Silenced", "owner": "team-a"}},
            {"labels": {"alertname": "ClusterDown", "cluster": "c1"}},
            {"labels": {"alertname": "NodeDown", "cluster": "c1", "node": "n1"}},
        ]),
    )
    .await;
    wait_for(
        "both webhooks acknowledged",
        Duration::from_secs(20),
        || (ok.acknowledged().len() == 2 && flaky.acknowledged().len() == 1).then_some(()),
    )
    .await;
    assert_eq!(flaky.received().len(), 2, "one 503, then the retry");

    let finished = |v: &[Value]| v.len() == 1 && v[0]["outcome"] == "delivered";
    let delivered = entries_when(&base, "alertname=Delivered", finished).await;
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let d = &delivered[0];
    assert_eq!(d["kind"], "notification");
    assert_eq!(d["receiver"], "ok");
    assert_eq!(d["integration"], json!({"name": "webhook", "index": 0}));
    assert_eq!(d["groupKey"], r#"{}:{alertname="Delivered"}"#);
    assert_eq!(d["reason"], "first_notification");
    assert_eq!(d["outcome"], "delivered");
    assert_eq!(d["retried"], false);
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["attempts"][0]["attempt"], 1);
    assert_eq!(d["attempts"][0]["outcome"], "delivered");
    assert_eq!(d["attempts"][0]["error"], Value::Null);
    assert_eq!(d["idempotencyKey"].as_str().map(str::len), Some(64));
    assert_eq!(d["alerts"][0]["alertname"], "Delivered");
    assert_eq!(d["alerts"][0]["status"], "firing");
    assert_eq!(d["alerts"][0]["owner"], "team-a");
    assert_eq!(
        d["alerts"][0]["labels"],
        json!({"alertname": "Delivered", "owner": "team-a", "instance": "i1"})
    );

    let retried = entries_when(&base, "alertname=Flaky", finished).await;
    assert_eq!(retried.len(), 1, "{retried:#?}");
    let f = &retried[0];
    assert_eq!(f["receiver"], "flaky");
    assert_eq!(f["reason"], "first_notification");
    assert_eq!(f["outcome"], "delivered");
    assert_eq!(f["retried"], true);
    assert_eq!(f["attempts"][0]["attempt"], 1);
    assert_eq!(f["attempts"][0]["outcome"], "failed");
    let err = f["attempts"][0]["error"]
        .as_str()
        .expect("the first attempt's error");
    assert!(err.contains("503"), "{err}");
    assert_eq!(f["attempts"][1]["attempt"], 2);
    assert_eq!(f["attempts"][1]["outcome"], "delivered");
    assert_eq!(f["error"], Value::Null, "delivered in the end");

    let silenced = entries(&base, "alertname=Silenced").await;
    assert_eq!(silenced.len(), 1, "{silenced:#?}");
    let s = &silenced[0];
    assert_eq!(s["kind"], "suppressed");
    assert_eq!(s["receiver"], "ok");
    assert_eq!(
        s["integration"],
        Value::Null,
        "held back before any integration"
    );
    assert_eq!(s["reason"], "silenced");
    assert_eq!(s["outcome"], "suppressed");
    assert_eq!(
        s["alerts"][0]["suppressedBy"],
        json!({"kind": "silence", "id": silence_id, "createdBy": "alice", "comment": "maintenance window"})
    );
    assert_eq!(s["alerts"][0]["alertname"], "Silenced");

    let source = entries_when(&base, "alertname=ClusterDown", finished).await;
    assert_eq!(source.len(), 1);
    assert_eq!(source[0]["outcome"], "delivered");
    let inhibited = entries(&base, "alertname=NodeDown").await;
    assert_eq!(inhibited.len(), 1, "{inhibited:#?}");
    let i = &inhibited[0];
    assert_eq!(i["kind"], "suppressed");
    assert_eq!(i["reason"], "inhibited");
    assert_eq!(
        i["alerts"][0]["suppressedBy"],
        json!({
            "kind": "inhibition",
            "fingerprint": source[0]["alerts"][0]["fingerprint"],
            "labels": {"alertname": "ClusterDown", "cluster": "c1"},
        })
    );
    // Control: nothing about the held-back alerts reached a receiver.
    for n in ok.acknowledged() {
        let name = &n["alerts"][0]["labels"]["alertname"];
        assert!(name == "Delivered" || name == "ClusterDown", "{n:#}");
    }

    // Filters.
    let names = |v: &[Value]| -> Vec<String> {
        let mut n: Vec<String> = v
            .iter()
            .map(|e| {
                e["alerts"][0]["alertname"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&entries(&base, "receiver=flaky").await), ["Flaky"]);
    assert_eq!(
        names(&entries(&base, "owner=team-a").await),
        ["Delivered", "Silenced"]
    );
    assert_eq!(
        names(&entries(&base, "match[]=%7Bcluster%3D%22c1%22%7D").await),
        ["ClusterDown", "NodeDown"]
    );
    assert_eq!(
        names(
            &entries(
                &base,
                "match[]=%7Bowner%3D~%22team-.%22%2Calertname%21%3D%22Silenced%22%7D"
            )
            .await
        ),
        ["Delivered", "Flaky"]
    );
    assert!(entries(&base, "start=2999-01-01T00:00:00Z")
        .await
        .is_empty());
    assert_eq!(entries(&base, "end=2999-01-01T00:00:00Z").await.len(), 5);
    let bad = reqwest::get(format!("{base}/api/v1/notifications?match[]=%7B"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Paging: two at a time gives the same five entries as one page, newest first.
    let (whole, pages) = all_pages(&base, "limit=1000").await;
    assert_eq!((whole.len(), pages), (5, 1));
    let (paged, pages) = all_pages(&base, "limit=2").await;
    assert_eq!(pages, 3);
    assert_eq!(paged, whole);
    let ids: Vec<i64> = whole.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // The page renders the entries and links each alert to its timeline.
    let html = reqwest::get(format!("{base}/notifications?receiver=ok"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fp = d["alerts"][0]["fingerprint"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"/alerts/{fp}\"")), "{html}");
    assert!(html.contains("maintenance window"), "{html}");
    assert!(!html.contains(">Flaky<"), "filtered out: {html}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_prunes_the_oldest_entries() {
    let ok = WebhookSink::start(Answer::Ack).await;
    let svc = start(&config(&ok.url(), &ok.url(), 2), "history-prune").await;
    let base = format!("http://{}", svc.local_addr);
    post(
        &format!("{base}/api/v2/alerts"),
        json!([
            {"labels": {"alertname": "A"}},
            {"labels": {"alertname": "B"}},
            {"labels": {"alertname": "C"}},
        ]),
    )
    .await;
    wait_for("three notifications", Duration::from_secs(20), || {
        (ok.acknowledged().len() == 3).then_some(())
    })
    .await;
    let p = svc.pipeline();
    let before = entries_when(&base, "limit=10", |v| {
        v.len() == 3 && v.iter().all(|e| e["outcome"] == "delivered")
    })
    .await;
    assert_eq!(before.len(), 3, "{before:#?}");
    // The collector's pass (every gc_interval) keeps the newest max_entries.
    p.gc().await;
    let after = entries(&base, "limit=10").await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[..], before[..2], "the oldest went");
    // An hour of retention later, everything is older than it.
    let pruned = p
        .history()
        .prune(p.now_ms() + 3_600_000 + 1)
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    assert!(entries(&base, "").await.is_empty());
    svc.shutdown().await;
}

const TIMELINE_RULES: &str = r#"
groups:
  - name: history
    interval: 200ms
    rules:
      - alert: TimelineDown
        expr: tl_up == 0
        for: 1s
        labels:
          owner: team-t
        annotations:
          summary: timeline target down
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_of_a_rule_alert_pending_firing_notified_resolved() {
    redline::install_crypto_provider();
    let sink = WebhookSink::start(Answer::Ack).await;
    let target = FixtureServer::start("tl_up 0\n", "text/plain; version=0.0.4").await;
    let dir = redline::testdir::TempDir::new("history-timeline");
    std::fs::write(dir.join("tl.rules.yml"), TIMELINE_RULES).unwrap();
    let cfg_path = dir.join("redline.yml");
    std::fs::write(
        &cfg_path,
        format!(
            r#"
global: {{scrape_interval: 200ms, scrape_timeout: 200ms, evaluation_interval: 200ms}}
rule_files: ['tl.rules.yml']
scrape_configs:
  - job_name: tl
    static_configs: [{{targets: ['{}']}}]
alertmanager:
  config:
    route:
      receiver: team
      group_by: [alertname]
      group_wait: 500ms
      group_interval: 1s
      repeat_interval: 1h
    receivers:
      - name: team
        webhook_configs: [{{url: '{}', send_resolved: true}}]
"#,
            target.addr,
            sink.url()
        ),
    )
    .unwrap();
    let cfg = Config::load_file(&cfg_path).expect("config loads");
    let svc = redline::service::Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state")),
    )
    .await
    .expect("service starts");
    let base = format!("http://{}", svc.local_addr);

    let firing = wait_for("the firing notification", Duration::from_secs(30), || {
        sink.acknowledged().into_iter().next()
    })
    .await;
    let fp = firing["alerts"][0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    // While it fires, the alert list links to its timeline.
    let alerts_page = reqwest::get(format!("{base}/alerts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        alerts_page.contains(&format!("href=\"/alerts/{fp}\"")),
        "{alerts_page}"
    );
    target.set_body("tl_up 1\n");
    wait_for("the resolved notification", Duration::from_secs(30), || {
        sink.acknowledged()
            .into_iter()
            .find(|n| n["status"] == "resolved")
    })
    .await;

    let t = get_json(&format!("{base}/api/v1/alerts/{fp}/timeline")).await;
    assert_eq!(t["status"], "success", "{t:#}");
    let t = &t["data"];
    assert_eq!(t["fingerprint"], fp.as_str());
    assert_eq!(t["alertname"], "TimelineDown");
    assert_eq!(t["state"], "resolved");
    assert_eq!(t["source"]["kind"], "rule");
    assert_eq!(t["source"]["rule"], "TimelineDown");
    assert_eq!(t["source"]["expr"], "tl_up == 0");
    assert_eq!(t["source"]["value"], 0.0);
    assert_eq!(t["route"][0]["receiver"], "team");
    assert_eq!(t["route"][0]["route"], "route");
    assert_eq!(
        t["route"][0]["groupKey"],
        r#"{}:{alertname="TimelineDown"}"#
    );
    assert_eq!(t["playbookURL"], "/playbooks/TimelineDown");
    let events = t["events"].as_array().expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .filter(|k| *k != "flush")
        .collect();
    assert_eq!(
        kinds,
        [
            "pending",
            "firing",
            "notification",
            "resolved",
            "resolved_notification"
        ],
        "{events:#?}"
    );
    let at = |k: &str| {
        events
            .iter()
            .find(|e| e["event"] == k)
            .and_then(|e| e["timeMs"].as_i64())
            .unwrap()
    };
    // `for: 1s`: firing at least a second after pending.
    assert!(at("firing") - at("pending") >= 1000, "{events:#?}");
    let sent = events
        .iter()
        .find(|e| e["event"] == "notification")
        .unwrap();
    assert_eq!(sent["outcome"], "delivered");
    assert_eq!(sent["reason"], "first_notification");
    assert_eq!(sent["receiver"], "team");
    let resolved = events
        .iter()
        .find(|e| e["event"] == "resolved_notification")
        .unwrap();
    assert_eq!(resolved["reason"], "resolved");
    assert_eq!(resolved["outcome"], "delivered");
    assert!(
        events.iter().filter(|e| e["event"] == "flush").count() >= 2,
        "each notifying flush of its group: {events:#?}"
    );

    let page = reqwest::get(format!("{base}/alerts/{fp}")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("TimelineDown"), "{html}");
    assert!(html.contains("resolved_notification"), "{html}");
    assert!(html.contains("href=\"/playbooks/TimelineDown\""), "{html}");
    let missing = reqwest::get(format!("{base}/alerts/0123456789abcdef"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = reqwest::get(format!("{base}/api/v1/alerts/0123456789abcdef/timeline"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    svc.shutdown().await;
}
