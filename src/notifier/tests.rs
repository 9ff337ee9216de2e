//! The notifier against loopback Alertmanager stand-ins: what is POSTed where, the queue
//! bound, batches, an Alertmanager that is down, and the metrics of each.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;

use super::*;
use crate::config::Config;

/// A loopback Alertmanager stand-in: records every request's path and JSON body. While
/// `closed`, requests are held (after being counted as arrived) until it opens.
#[derive(Clone)]
struct Capture {
    port: u16,
    arrived: Arc<Mutex<usize>>,
    bodies: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// The `Authorization` and `Content-Type` headers of each request.
    headers: Arc<Mutex<Vec<(String, String)>>>,
    open: tokio::sync::watch::Sender<bool>,
}

impl Capture {
    async fn start(open: bool) -> Capture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (open, _) = tokio::sync::watch::channel(open);
        let c = Capture {
            port,
            arrived: Arc::default(),
            bodies: Arc::default(),
            headers: Arc::default(),
            open,
        };
        let shared = c.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let c = shared.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    c.headers
                        .lock()
                        .expect("headers")
                        .push((header("authorization"), header("content-type")));
                    *c.arrived.lock().expect("arrived") += 1;
                    let mut rx = c.open.subscribe();
                    let _ = rx.wait_for(|o| *o).await;
                    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    c.bodies
                        .lock()
                        .expect("bodies")
                        .push((uri.path().to_string(), v));
                    "ok"
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        c
    }

    fn bodies(&self) -> Vec<(String, serde_json::Value)> {
        self.bodies.lock().expect("bodies").clone()
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alert(name: &str, i: usize) -> Alert {
    Alert {
        labels: Labels::from_pairs([("alertname", name.to_string()), ("i", i.to_string())]),
        annotations: Labels::from_pairs([("summary", format!("alert {i}"))]),
        starts_at_ms: 1_700_000_000_123,
        ends_at_ms: 1_700_000_240_123,
        generator_url: format!("http://redline.example/graph?g0.expr=up&i={i}"),
    }
}

/// A notifier for `yaml` with the Alertmanagers of its static configs synced.
fn notifier(yaml: &str, opts: NotifierOptions) -> (Notifier, Registry) {
    crate::install_crypto_provider();
    let cfg = Config::from_yaml_str(yaml, "prometheus.yml").unwrap_or_else(|e| panic!("{e}"));
    let mut registry = Registry::with_prefix("redline");
    let n = Notifier::new(opts, &mut registry);
    n.apply_config(&cfg.alerting, &cfg.global.external_labels);
    for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
        n.sync(i, &am.static_configs);
    }
    (n, registry)
}

/// The value of the metric line `name{alertmanager="url"}`.
fn metric(registry: &Registry, name: &str, url: &str) -> Option<f64> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    let prefix = format!("{name}{{alertmanager=\"{url}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

fn ids(body: &serde_json::Value) -> Vec<String> {
    body.as_array()
        .expect("a JSON list")
        .iter()
        .map(|a| a["labels"]["i"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test]
async fn alerts_are_posted_as_api_v2_json_with_external_labels_and_relabeling() {
    let am = Capture::start(true).await;
    let yaml = format!(
        r#"
global:
  external_labels: {{cluster: eu-1, team: infra, region: west}}
alerting:
  alert_relabel_configs:
    - {{action: labeldrop, regex: team}}
  alertmanagers:
    - path_prefix: /am
      static_configs: [{{targets: ['127.0.0.1:{port}']}}]
      alert_relabel_configs:
        - {{source_labels: [alertname], regex: Dropped, action: drop}}
        - {{target_label: via, replacement: set0}}
"#,
        port = am.port
    );
    let (n, registry) = notifier(&yaml, NotifierOptions::default());
    let mut own_cluster = alert("HighLatency", 1);
    own_cluster.labels = own_cluster.labels.with("cluster", "us-2");
    n.send(vec![own_cluster, alert("Dropped", 2)]);
    wait_until("one POST", || am.bodies().len() == 1).await;
    let (path, body) = &am.bodies()[0];
    assert_eq!(path, "/am/api/v2/alerts");
    // The alert's own `cluster` wins over the external label; `region` is added; `team`
    // (external) was added, then dropped by the global rule; the set's rules dropped
    // `Dropped` and added `via`.
    let want = serde_json::json!([{
        "annotations": {"summary": "alert 1"},
        "endsAt": "2023-11-14T22:17:20.123Z",
        "startsAt": "2023-11-14T22:13:20.123Z",
        "generatorURL": "http://redline.example/graph?g0.expr=up&i=1",
        "labels": {"alertname": "HighLatency", "i": "1", "cluster": "us-2", "region": "west", "via": "set0"},
    }]);
    assert_eq!(body, &want);
    let url = format!("http://127.0.0.1:{}/am/api/v2/alerts", am.port);
    wait_until("sent counted", || {
        metric(&registry, "redline_notifications_sent_total", &url) == Some(1.0)
    })
    .await;
    assert_eq!(
        metric(&registry, "redline_notifications_errors_total", &url),
        Some(0.0)
    );
    assert_eq!(n.alertmanagers().active, vec![url]);
}

#[test]
fn date_time_is_rfc3339_with_milliseconds() {
    // 1_700_000_000 s is 2023-11-14 22:13:20 UTC (19675 days + 80000 s, by hand).
    assert_eq!(
        sendloop::date_time(1_700_000_000_123),
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(sendloop::date_time(0), "1970-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_alerts_and_counts_them() {
    let am = Capture::start(false).await;
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
        am.port
    );
    let (n, registry) = notifier(
        &yaml,
        NotifierOptions {
            queue_capacity: 3,
            max_batch_size: 2,
        },
    );
    let url = format!("http://127.0.0.1:{}/api/v2/alerts", am.port);
    // Alert 0 is taken at once and held in flight by the closed Alertmanager.
    n.send(vec![alert("A", 0)]);
    wait_until("the first POST to arrive", || {
        *am.arrived.lock().expect("arrived") == 1
    })
    .await;
    // 1..=5 one by one into a queue of 3: 1 and 2 are dropped (the oldest).
    for i in 1..=5 {
        n.send(vec![alert("A", i)]);
    }
    assert_eq!(
        metric(&registry, "redline_notifications_dropped_total", &url),
        Some(2.0)
    );
    assert_eq!(
        metric(&registry, "redline_notifications_queue_length", &url),
        Some(3.0)
    );
    am.open.send_replace(true);
    wait_until("three POSTs", || am.bodies().len() == 3).await;
    let got: Vec<Vec<String>> = am.bodies().iter().map(|(_, b)| ids(b)).collect();
    // Batches of at most 2, oldest first; 1 and 2 never sent.
    assert_eq!(got, vec![vec!["0"], vec!["3", "4"], vec!["5"]]);
    // A batch larger than the whole queue keeps its last 3 (6 and 7 dropped).
    n.send((6..=10).map(|i| alert("A", i)).collect());
    assert_eq!(
        metric(&registry, "redline_notifications_dropped_total", &url),
        Some(4.0)
    );
    wait_until("five POSTs", || am.bodies().len() == 5).await;
    let got: Vec<Vec<String>> = am.bodies()[3..].iter().map(|(_, b)| ids(b)).collect();
    assert_eq!(got, vec![vec!["8", "9"], vec!["10"]]);
    wait_until("queue empty", || {
        metric(&registry, "redline_notifications_queue_length", &url) == Some(0.0)
    })
    .await;
    assert_eq!(
        metric(&registry, "redline_notifications_sent_total", &url),
        Some(7.0)
    );
}

#[tokio::test]
async fn an_alertmanager_that_is_down_counts_errors_and_does_not_hold_up_another() {
    let up = Capture::start(true).await;
    // A port nothing listens on.
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{down_port}', '127.0.0.1:{}']}}]\n",
        up.port
    );
    let (n, registry) = notifier(&yaml, NotifierOptions::default());
    let down = format!("http://127.0.0.1:{down_port}/api/v2/alerts");
    let started = Instant::now();
    n.send(vec![alert("A", 1), alert("A", 2)]);
    assert!(started.elapsed() < Duration::from_secs(1), "send waited");
    wait_until("the live Alertmanager's POST", || up.bodies().len() == 1).await;
    assert_eq!(ids(&up.bodies()[0].1), vec!["1", "2"]);
    wait_until("errors counted for the one that is down", || {
        metric(&registry, "redline_notifications_errors_total", &down) == Some(2.0)
    })
    .await;
    assert_eq!(
        metric(&registry, "redline_notifications_dropped_total", &down),
        Some(2.0)
    );
    assert_eq!(
        metric(&registry, "redline_notifications_sent_total", &down),
        Some(0.0)
    );
}

#[tokio::test]
async fn relabel_configs_pick_the_alertmanagers_and_their_path() {
    let am = Capture::start(true).await;
    let yaml = format!(
        r#"
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{port}', '127.0.0.1:1']
          labels: {{role: am}}
      relabel_configs:
        - {{source_labels: [__address__], regex: '.*:1', action: drop}}
        - {{target_label: __alerts_path__, replacement: '/custom/api/v2/alerts'}}
"#,
        port = am.port
    );
    let (n, _registry) = notifier(&yaml, NotifierOptions::default());
    let found = n.alertmanagers();
    assert_eq!(
        found.active,
        vec![format!("http://127.0.0.1:{}/custom/api/v2/alerts", am.port)]
    );
    assert_eq!(found.dropped, vec!["http://127.0.0.1:1/api/v2/alerts"]);
    n.send(vec![alert("A", 1)]);
    wait_until("one POST", || am.bodies().len() == 1).await;
    assert_eq!(am.bodies()[0].0, "/custom/api/v2/alerts");
}

#[tokio::test]
async fn a_reload_keeps_unchanged_sets_and_their_queues() {
    let am = Capture::start(false).await;
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
        am.port
    );
    let (n, registry) = notifier(&yaml, NotifierOptions::default());
    let url = format!("http://127.0.0.1:{}/api/v2/alerts", am.port);
    n.send(vec![alert("A", 0)]);
    wait_until("first POST in flight", || {
        *am.arrived.lock().expect("arrived") == 1
    })
    .await;
    n.send(vec![alert("A", 1)]);
    // The same section again (a reload that changed something else): the queue stays,
    // with no new discovery needed.
    let cfg = Config::from_yaml_str(&yaml, "prometheus.yml").expect("config");
    n.apply_config(&cfg.alerting, &cfg.global.external_labels);
    assert_eq!(n.alertmanagers().active, vec![url.clone()]);
    assert_eq!(
        metric(&registry, "redline_notifications_queue_length", &url),
        Some(1.0)
    );
    // A changed section replaces the set: it has no Alertmanagers until discovery syncs.
    let changed = Config::from_yaml_str(&format!("{yaml}      timeout: 5s\n"), "prometheus.yml")
        .expect("config");
    n.apply_config(&changed.alerting, &changed.global.external_labels);
    assert!(n.alertmanagers().active.is_empty());
    am.open.send_replace(true);
    // The replaced queue sends what it held before it stops.
    wait_until("both alerts delivered", || am.bodies().len() == 2).await;
    assert_eq!(ids(&am.bodies()[1].1), vec!["1"]);
}

#[tokio::test]
async fn the_http_client_fields_authenticate_each_post() {
    let am = Capture::start(true).await;
    let dir = crate::testdir::TempDir::new("notifier-auth");
    std::fs::write(dir.join("password"), "s3cret\n").expect("password file");
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - basic_auth: {{username: prom, password_file: {}}}\n      static_configs: [{{targets: ['127.0.0.1:{}']}}]\n    - authorization: {{credentials: tok3n}}\n      static_configs: [{{targets: ['127.0.0.1:{}']}}]\n      path_prefix: /second\n",
        dir.join("password").display(),
        am.port,
        am.port
    );
    let (n, _registry) = notifier(&yaml, NotifierOptions::default());
    n.send(vec![alert("A", 1)]);
    wait_until("two POSTs", || am.bodies().len() == 2).await;
    let mut got = am.headers.lock().expect("headers").clone();
    got.sort();
    // "prom:s3cret" in base64 (the file's trailing newline trimmed, as Prometheus does):
    // `printf prom:s3cret | base64` = cHJvbTpzM2NyZXQ=.
    assert_eq!(
        got,
        vec![
            (
                "Basic cHJvbTpzM2NyZXQ=".to_string(),
                "application/json".to_string()
            ),
            ("Bearer tok3n".to_string(), "application/json".to_string()),
        ]
    );
}
