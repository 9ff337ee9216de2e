//! prometheus.yml's `alerting:` end to end, against the real peers: redline evaluates a rule
//! that fires and sends it, as Prometheus' notifier does, to Debian's
//! `prometheus-alertmanager` (0.25, static_configs) and to a loopback capture server
//! (file_sd_configs); Debian's `prometheus` (2.42) runs the same rule file with the same
//! `alerting:` section against a second Alertmanager and capture server. What each
//! Alertmanager shows, and what each sender POSTed, must agree: labels (external labels
//! added, `alert_relabel_configs` applied), annotations, generatorURL, and the validity
//! (`endsAt`) of a firing alert. A third Alertmanager of redline's that never
//! answers holds up neither the others nor rule evaluation.

mod common;

use axum::response::IntoResponse;
use common::{free_port, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// The requests a capture server received: path, User-Agent, JSON body.
type Captured = Arc<Mutex<Vec<(String, String, Value)>>>;

/// redline's `/metrics` text.
async fn metrics_text(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

fn start_alertmanager(dir: &Path, port: u16) -> ProcessGuard {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "Debian's prometheus-alertmanager is not installed: run `bash tests/run-all.sh`, which installs it"
    );
    std::fs::create_dir_all(dir).expect("alertmanager dir");
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n",
    )
    .expect("write alertmanager.yml");
    ProcessGuard(
        Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager"),
    )
}

/// A loopback server that records every POST (path, User-Agent, JSON body) and answers
/// 200; with `answer` false it never answers (an Alertmanager that hangs).
async fn start_capture(answer: bool) -> (u16, Captured) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind capture");
    let port = listener.local_addr().expect("capture address").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let shared = got.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                if !answer {
                    std::future::pending::<()>().await;
                }
                let ua = headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                shared
                    .lock()
                    .expect("captured")
                    .push((uri.path().to_string(), ua, v));
                "ok"
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, got)
}

/// Polls `check` every 100 ms until it returns `Some`, failing with `what` after `limit`.
async fn wait<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(url: &str) -> Option<Value> {
    let resp = reqwest::get(url).await.ok()?;
    serde_json::from_str(&resp.text().await.ok()?).ok()
}

/// The alert named `name` in an Alertmanager's `GET /api/v2/alerts`.
async fn alert_in(am_port: u16, name: &str) -> Option<Value> {
    let list = get_json(&format!("http://127.0.0.1:{am_port}/api/v2/alerts")).await?;
    list.as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .cloned()
}

/// RFC 3339 (`2026-12-07T03:10:00.123Z`, UTC) to milliseconds since the epoch.
fn rfc3339_ms(s: &str) -> i64 {
    let (date, time) = s.split_once('T').expect("date and time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let time = time.strip_suffix('Z').expect("UTC");
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().expect("time")).collect();
    let ms: i64 = format!("{frac:0<3}")[..3].parse().expect("fraction");
    // Days from civil (Howard Hinnant), written out for the test.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000) + ms
}

const RULES: &str = r#"groups:
  - name: notifier
    rules:
      - alert: AlwaysFiring
        expr: vector(1) * 2 > 1
        labels:
          severity: page
        annotations:
          summary: "value {{ $value }}"
"#;

/// The shared `alerting:` section: the real Alertmanager by static_configs, the capture
/// server by file_sd_configs, the `replica` external label dropped.
fn alerting(am_port: u16) -> String {
    format!(
        r#"alerting:
  alert_relabel_configs:
    - {{action: labeldrop, regex: replica}}
  alertmanagers:
    - api_version: v2
      static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]
    - api_version: v2
      path_prefix: /capture
      file_sd_configs: [{{files: [capture.json]}}]
"#
    )
}

fn config(dir: &Path, am_port: u16, capture_port: u16, extra_alertmanagers: &str) {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
    std::fs::write(
        dir.join("capture.json"),
        format!(r#"[{{"targets": ["127.0.0.1:{capture_port}"]}}]"#),
    )
    .expect("capture.json");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels: {{cluster: test-1, replica: a}}\nrule_files: [rules.yml]\n{}{extra_alertmanagers}",
            alerting(am_port)
        ),
    )
    .expect("prometheus.yml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_alerts_reach_alertmanager_as_prometheus_sends_them() {
    redline::install_crypto_provider();
    let root = TempDir::new("notifier-am");

    let (am_r, am_p) = (free_port(), free_port());
    let _am_r = start_alertmanager(&root.join("am-redline"), am_r);
    let _am_p = start_alertmanager(&root.join("am-prometheus"), am_p);
    let (cap_r, got_r) = start_capture(true).await;
    let (cap_p, got_p) = start_capture(true).await;
    let (hang_port, _) = start_capture(false).await;

    // Both link to the same external URL (a loopback address), so generatorURLs compare.
    let redline_port = free_port();
    let external = format!("http://127.0.0.1:{redline_port}");

    let rdir = root.join("redline");
    config(
        &rdir,
        am_r,
        cap_r,
        &format!(
            "    - static_configs: [{{targets: ['127.0.0.1:{hang_port}']}}]\n      timeout: 30s\n"
        ),
    );
    let _redline = ProcessGuard(
        common::redline_run(
            &rdir.join("prometheus.yml"),
            redline_port,
            &rdir.join("state"),
        )
        .arg(format!("--web.external-url={external}"))
        .arg("--rules.alert.resend-delay=1s")
        .spawn()
        .expect("start redline run"),
    );

    let pdir = root.join("prometheus");
    config(&pdir, am_p, cap_p, "");
    let prometheus_port = free_port();
    let _prometheus = common::start_prometheus(
        &pdir,
        prometheus_port,
        &[
            &format!("--web.external-url={external}"),
            "--rules.alert.resend-delay=1s",
        ],
    );

    let limit = Duration::from_secs(90);
    let from_redline = wait("the alert in redline's Alertmanager", limit, async || {
        alert_in(am_r, "AlwaysFiring").await
    })
    .await;
    let from_prometheus = wait("the alert in Prometheus' Alertmanager", limit, async || {
        alert_in(am_p, "AlwaysFiring").await
    })
    .await;

    // What Prometheus would send, by hand: the rule's labels, the external label `cluster`
    // (`replica` dropped by alert_relabel_configs), the annotation expanded with the value
    // 2, and Go's url.QueryEscape of the expression in the table link.
    let want_labels = serde_json::json!({
        "alertname": "AlwaysFiring", "severity": "page", "cluster": "test-1"
    });
    let want_generator = format!("{external}/graph?g0.expr=vector%281%29+%2A+2+%3E+1&g0.tab=1");
    for (who, a) in [("redline", &from_redline), ("prometheus", &from_prometheus)] {
        assert_eq!(a["labels"], want_labels, "{who}: {a:#}");
        assert_eq!(
            a["annotations"],
            serde_json::json!({"summary": "value 2"}),
            "{who}: {a:#}"
        );
        assert_eq!(a["generatorURL"], want_generator.as_str(), "{who}: {a:#}");
        assert_eq!(a["status"]["state"], "active", "{who}: {a:#}");
    }
    // The same fields, whole, from both senders (Alertmanager's own fields aside).
    for field in ["labels", "annotations", "generatorURL"] {
        assert_eq!(from_redline[field], from_prometheus[field], "{field}");
    }

    // What each sender POSTed to its capture server (found by file_sd, under path_prefix).
    let first = async |got: &Captured, who: &str| {
        wait(
            &format!("{who}'s POST to the capture server"),
            limit,
            async || got.lock().expect("captured").first().cloned(),
        )
        .await
    };
    let (path_r, ua_r, body_r) = first(&got_r, "redline").await;
    let (path_p, ua_p, body_p) = first(&got_p, "prometheus").await;
    assert_eq!(path_r, "/capture/api/v2/alerts");
    assert_eq!(path_p, "/capture/api/v2/alerts");
    assert!(ua_p.starts_with("Prometheus/"), "{ua_p}");
    assert!(ua_r.starts_with("redline/"), "{ua_r}");
    let (ar, ap) = (&body_r[0], &body_p[0]);
    assert_eq!(body_r.as_array().map(Vec::len), Some(1), "{body_r:#}");
    assert_eq!(body_p.as_array().map(Vec::len), Some(1), "{body_p:#}");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(ar), keys(ap), "redline {ar:#}\nprometheus {ap:#}");
    for field in ["labels", "annotations", "generatorURL"] {
        assert_eq!(ar[field], ap[field], "{field}");
    }
    // A firing alert sent at evaluation `t` has endsAt = t + 4 × max(resend delay 1s,
    // evaluation interval 1s) = t + 4s, and evaluations fall on whole intervals after the
    // one that fired it (startsAt), so endsAt - startsAt is 4s plus a whole number of
    // seconds (exactly 4s for the send of the firing evaluation itself, which an
    // Alertmanager not yet discovered misses).
    for (who, a) in [("redline", ar), ("prometheus", ap)] {
        let starts = rfc3339_ms(a["startsAt"].as_str().expect("startsAt"));
        let ends = rfc3339_ms(a["endsAt"].as_str().expect("endsAt"));
        let validity = ends - starts;
        assert!(
            validity >= 4_000 && (validity - 4_000) % 1_000 == 0,
            "{who}: endsAt - startsAt = {validity} ms: {a:#}"
        );
    }
    // Alertmanager keeps the startsAt redline sent.
    assert_eq!(
        rfc3339_ms(from_redline["startsAt"].as_str().expect("startsAt")),
        rfc3339_ms(ar["startsAt"].as_str().expect("startsAt")),
    );

    // `/api/v1/alertmanagers` in Prometheus' shape: `<scheme>://<address><path>` for each,
    // the file_sd one under its path_prefix (redline also has the one that hangs).
    let listed = async |port: u16| -> Vec<String> {
        let v = get_json(&format!("http://127.0.0.1:{port}/api/v1/alertmanagers")).await;
        let Some(v) = v else { return Vec::new() };
        assert_eq!(v["status"], "success", "{v:#}");
        assert_eq!(
            v["data"]["droppedAlertmanagers"],
            serde_json::json!([]),
            "{v:#}"
        );
        let mut urls: Vec<String> = v["data"]["activeAlertmanagers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["url"].as_str().map(str::to_string))
            .collect();
        urls.sort();
        urls
    };
    let mut want_p = vec![
        format!("http://127.0.0.1:{am_p}/api/v2/alerts"),
        format!("http://127.0.0.1:{cap_p}/capture/api/v2/alerts"),
    ];
    want_p.sort();
    let mut want_r = vec![
        format!("http://127.0.0.1:{am_r}/api/v2/alerts"),
        format!("http://127.0.0.1:{cap_r}/capture/api/v2/alerts"),
        format!("http://127.0.0.1:{hang_port}/api/v2/alerts"),
    ];
    want_r.sort();
    let got_p = wait("Prometheus' /api/v1/alertmanagers", limit, async || {
        let l = listed(prometheus_port).await;
        (l.len() == 2).then_some(l)
    })
    .await;
    assert_eq!(got_p, want_p);
    assert_eq!(listed(redline_port).await, want_r);

    // The Alertmanager that never answers holds up neither the others nor evaluation:
    // redline's capture server keeps receiving re-sends every second.
    let sends = got_r.lock().expect("captured").len();
    wait("re-sends while one Alertmanager hangs", limit, async || {
        (got_r.lock().expect("captured").len() >= sends + 2).then_some(())
    })
    .await;
    let metrics = metrics_text(redline_port).await;
    let line = format!(
        "redline_notifications_sent_total{{alertmanager=\"http://127.0.0.1:{am_r}/api/v2/alerts\"}} "
    );
    assert!(
        metrics.lines().any(|l| l.starts_with(&line)),
        "no {line} in /metrics"
    );
}

/// A reload applies a changed `alerting:` section: alerts go to the new Alertmanager and no
/// longer to the old one; redline's own `alertmanager:` pipeline (a webhook receiver here)
/// keeps working beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_alerts_to_the_new_alertmanagers_and_the_pipeline_keeps_working() {
    redline::install_crypto_provider();
    let dir = TempDir::new("notifier-reload");
    let (old_port, old) = start_capture(true).await;
    let (new_port, new) = start_capture(true).await;
    let (hook_port, hook) = start_capture(true).await;
    std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
    let write = |am_port: u16| {
        std::fs::write(
            dir.join("redline.yml"),
            format!(
                r#"global: {{evaluation_interval: 1s}}
rule_files: [rules.yml]
alertmanager:
  config:
    route: {{receiver: hook, group_by: [alertname], group_wait: 1s}}
    receivers:
      - name: hook
        webhook_configs: [{{url: 'http://127.0.0.1:{hook_port}/hook'}}]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]
"#
            ),
        )
        .expect("write config")
    };
    write(old_port);
    let port = free_port();
    let _redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .arg("--rules.alert.resend-delay=1s")
            .spawn()
            .expect("start redline run"),
    );
    let limit = Duration::from_secs(60);
    let count = |c: &Captured| c.lock().expect("captured").len();
    wait("the first Alertmanager's POST", limit, async || {
        (count(&old) > 0).then_some(())
    })
    .await;
    // Both happen: the pipeline's webhook gets Alertmanager's notification.
    let (path, _, payload) = wait("the webhook notification", limit, async || {
        hook.lock().expect("captured").first().cloned()
    })
    .await;
    assert_eq!(path, "/hook");
    assert_eq!(payload["alerts"][0]["labels"]["alertname"], "AlwaysFiring");

    write(new_port);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/-/reload"))
        .send()
        .await
        .expect("reload request");
    assert!(resp.status().is_success(), "reload: {}", resp.status());
    wait("the new Alertmanager's POST", limit, async || {
        (count(&new) > 0).then_some(())
    })
    .await;
    // The control: the new one receives three more re-sends; the old one, at the same
    // rate before the reload, gets none of them.
    let old_after = count(&old);
    let new_after = count(&new);
    wait(
        "three more re-sends to the new Alertmanager",
        limit,
        async || (count(&new) >= new_after + 3).then_some(()),
    )
    .await;
    assert_eq!(
        count(&old),
        old_after,
        "the old Alertmanager still receives"
    );
    assert_eq!(new.lock().expect("captured")[0].0, "/api/v2/alerts");
}

/// A fake Kubernetes API server on loopback with one Running pod (IP 127.0.0.1) whose
/// `web` port is `am_port` and whose `metrics` port is not an Alertmanager: lists answer
/// with it, watches stay open with no events.
async fn start_kubernetes_api(am_port: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind api");
    let port = listener.local_addr().expect("api address").port();
    let pod = serde_json::json!({
        "metadata": {"name": "alertmanager-0", "namespace": "monitoring",
            "uid": "0d9b3c4e-0000-4000-8000-000000000001", "resourceVersion": "7",
            "labels": {"app": "alertmanager"}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "alertmanager",
            "ports": [{"name": "web", "containerPort": am_port, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 1, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let pod = pod.clone();
        async move {
            let watch = uri.query().unwrap_or("").contains("watch=true")
                || uri.query().unwrap_or("").contains("watch=1");
            if uri.path() != "/api/v1/pods" {
                return (axum::http::StatusCode::NOT_FOUND, "not found").into_response();
            }
            if watch {
                let stream = futures_util::stream::pending::<Result<String, std::io::Error>>();
                return (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    axum::body::Body::from_stream(stream),
                )
                    .into_response();
            }
            let list = serde_json::json!({"kind": "PodList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "7"}, "items": [pod]});
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                list.to_string(),
            )
                .into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// `kubernetes_sd_configs` finds the Alertmanager: the pod's `web` port, kept by
/// `relabel_configs` over the pod's `__meta_kubernetes_*` labels, receives the alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_sd_finds_the_alertmanager_pod() {
    redline::install_crypto_provider();
    let dir = TempDir::new("notifier-k8s");
    let (am_port, got) = start_capture(true).await;
    let api = start_kubernetes_api(am_port).await;
    let (_redline, port) = run_until_first_post(
        &dir,
        &format!(
            r#"    - kubernetes_sd_configs:
        - {{role: pod, api_server: 'http://127.0.0.1:{api}'}}
      relabel_configs:
        - {{source_labels: [__meta_kubernetes_pod_label_app], regex: alertmanager, action: keep}}
        - {{source_labels: [__meta_kubernetes_pod_container_port_name], regex: web, action: keep}}
"#
        ),
        "a POST to the pod's web port",
        &got,
    )
    .await;
    let metrics = metrics_text(port).await;
    // One Alertmanager: the `metrics` port was dropped by relabeling.
    assert!(
        metrics
            .lines()
            .any(|l| l == "redline_notifications_alertmanagers_discovered 1"),
        "{metrics}"
    );
}

/// `http_sd_configs` finds the Alertmanager: the address a loopback HTTP SD endpoint lists
/// receives the alerts (the discovery providers are the scrape jobs'; this checks that an
/// `alertmanagers` entry hands its http_sd entries to them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sd_finds_the_alertmanager() {
    redline::install_crypto_provider();
    let dir = TempDir::new("notifier-httpsd");
    let (am_port, got) = start_capture(true).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sd");
    let sd = listener.local_addr().expect("sd address").port();
    let app = axum::Router::new().route(
        "/targets",
        axum::routing::get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                format!(r#"[{{"targets": ["127.0.0.1:{am_port}"], "labels": {{"team": "sre"}}}}]"#),
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let _ = run_until_first_post(
        &dir,
        &format!(
            r#"    - http_sd_configs: [{{url: 'http://127.0.0.1:{sd}/targets'}}]
      relabel_configs:
        - {{source_labels: [team], regex: sre, action: keep}}
"#
        ),
        "a POST to the Alertmanager http_sd lists",
        &got,
    )
    .await;
}

/// Starts `redline run` with the always-firing rule, `alertmanagers` (the entries of
/// `alerting.alertmanagers`, indented under it) and a resend delay of 1 s; waits for the
/// first POST `got` captures and checks it is the alert, on API v2. The process and its port.
async fn run_until_first_post(
    dir: &TempDir,
    alertmanagers: &str,
    what: &str,
    got: &Captured,
) -> (ProcessGuard, u16) {
    std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n{alertmanagers}"
        ),
    )
    .expect("config");
    let port = free_port();
    let redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .arg("--rules.alert.resend-delay=1s")
            .spawn()
            .expect("start redline run"),
    );
    let (path, _, body) = wait(what, Duration::from_secs(60), async || {
        got.lock().expect("captured").first().cloned()
    })
    .await;
    assert_eq!(path, "/api/v2/alerts");
    assert_eq!(body[0]["labels"]["alertname"], "AlwaysFiring");
    (redline, port)
}
