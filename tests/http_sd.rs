//! `http_sd_configs` end to end: redline discovers targets from an HTTP endpoint on loopback
//! whose answer the test changes, and the test reads `/api/v1/targets` as a user would;
//! expected labels are Prometheus' (`discovery/http`), written out by hand. Also the
//! validation of `http_sd_configs` and `dns_sd_configs` entries, by hand and against Debian's
//! promtool.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::discovery::{counter, discovered, job, labels, start, tempdir, wait_targets};
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;

// ---------------------------------------------------------------------------------------------
// http_sd

/// What the HTTP SD endpoint answers, and what it has seen.
struct Endpoint {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    requests: Vec<HeaderMap>,
}

async fn serve_targets(State(ep): State<Arc<Mutex<Endpoint>>>, headers: HeaderMap) -> Response {
    let mut ep = ep.lock().expect("lock");
    ep.requests.push(headers);
    (
        ep.status,
        [(axum::http::header::CONTENT_TYPE, ep.content_type)],
        ep.body.clone(),
    )
        .into_response()
}

/// Waits until the endpoint has answered `n` more requests than `since`.
async fn wait_requests(ep: &Arc<Mutex<Endpoint>>, since: usize, n: usize) {
    common::wait_for("http_sd refreshes", Duration::from_secs(20), || {
        (ep.lock().expect("lock").requests.len() >= since + n).then_some(())
    })
    .await;
}

/// The endpoint's groups become targets with `__meta_url` and their labels; a new answer
/// replaces them (a group that disappeared takes its targets); an answer with a wrong status,
/// content type or body keeps the previous targets; every request says what it accepts and
/// the refresh interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sd_follows_the_endpoint_and_keeps_targets_on_errors() {
    redline::install_crypto_provider();
    let ep = Arc::new(Mutex::new(Endpoint {
        status: StatusCode::OK,
        content_type: "application/json; charset=utf-8",
        body: r#"[{"targets": ["10.1.0.1:9100", "10.1.0.2:9100"], "labels": {"team": "red", "__scheme__": "http"}},
                  {"targets": ["10.1.0.3:9100"]}]"#
            .into(),
        requests: Vec::new(),
    }));
    let app = Router::new()
        .route("/sd", axum::routing::get(serve_targets))
        .with_state(ep.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let url = format!("http://{addr}/sd");
    let sink: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let yaml = format!(
        "scrape_configs:\n{}",
        job(
            "http",
            &format!("http_sd_configs:\n      - url: '{url}'\n        refresh_interval: 200ms"),
            sink
        )
    );
    let svc = start(&yaml, "http", DiscoveryOptions::default()).await;

    let t = wait_targets(&svc, "http", "three targets", |t| t.len() == 3).await;
    let url_l = ("__meta_url", url.as_str());
    assert_eq!(
        t,
        vec![
            labels(
                &[("__address__", "10.1.0.1:9100"), ("team", "red"), url_l],
                "http"
            ),
            labels(
                &[("__address__", "10.1.0.2:9100"), ("team", "red"), url_l],
                "http"
            ),
            labels(&[("__address__", "10.1.0.3:9100"), url_l], "http"),
        ]
    );
    {
        let e = ep.lock().expect("lock");
        let h = &e.requests[0];
        assert_eq!(h["accept"], "application/json");
        assert_eq!(h["x-prometheus-refresh-interval-seconds"], "0.2");
    }

    // A new answer with one group: the second group's target goes.
    ep.lock().expect("lock").body = r#"[{"targets": ["10.1.0.9:9100"]}]"#.into();
    let t = wait_targets(&svc, "http", "the new answer", |t| t.len() == 1).await;
    assert_eq!(
        t,
        vec![labels(&[("__address__", "10.1.0.9:9100"), url_l], "http")]
    );

    // Errors keep the previous targets: a refresh happens (two more requests answered) and
    // the targets are unchanged.
    let failures: [(StatusCode, &'static str, &str); 4] = [
        (
            StatusCode::OK,
            "text/plain",
            r#"[{"targets": ["10.1.0.5:1"]}]"#,
        ),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            r#"[{"targets": ["10.1.0.5:1"]}]"#,
        ),
        (
            StatusCode::OK,
            "application/json",
            r#"{"targets": ["10.1.0.5:1"]}"#,
        ),
        (StatusCode::OK, "application/json", r#"[null]"#),
    ];
    for (status, ctype, body) in failures {
        let since = {
            let mut e = ep.lock().expect("lock");
            e.status = status;
            e.content_type = ctype;
            e.body = body.into();
            e.requests.len()
        };
        wait_requests(&ep, since, 2).await;
        assert_eq!(
            discovered(&svc, "http").await,
            vec![labels(&[("__address__", "10.1.0.9:9100"), url_l], "http")],
            "{status} {ctype} {body}"
        );
    }
    // Each failed refresh was counted (at least two per kind of failure).
    assert!(counter(&svc, "redline_sd_http_failures_total").await >= 8);
    // The control: a good answer again is picked up.
    {
        let mut e = ep.lock().expect("lock");
        e.status = StatusCode::OK;
        e.content_type = "application/json";
        e.body = r#"[{"targets": ["10.1.0.7:9100"]}]"#.into();
    }
    wait_targets(&svc, "http", "recovered", |t| {
        t.len() == 1 && t[0]["__address__"] == "10.1.0.7:9100"
    })
    .await;
    svc.shutdown().await;
}

/// Prometheus' validation of the two entries, with the field path.
#[test]
fn http_and_dns_entries_are_validated_like_prometheus() {
    let cases = [
        (
            "http_sd_configs: [{refresh_interval: 1m}]",
            "http_sd_configs[0].url",
            "URL is missing",
        ),
        (
            "http_sd_configs: [{url: 'ftp://h/x'}]",
            "http_sd_configs[0].url",
            "URL scheme must be 'http' or 'https'",
        ),
        (
            "http_sd_configs: [{url: 'http:///x'}]",
            "http_sd_configs[0].url",
            "host is missing in URL",
        ),
        (
            "dns_sd_configs: [{names: []}]",
            "dns_sd_configs[0].names",
            "DNS-SD config must contain at least one SRV record name",
        ),
        (
            "dns_sd_configs: [{names: [a.example], type: A}]",
            "dns_sd_configs[0].port",
            "a port is required in DNS-SD configs for all record types except SRV",
        ),
        (
            "dns_sd_configs: [{names: [a.example], type: TXT}]",
            "dns_sd_configs[0].type",
            "invalid DNS-SD records type TXT",
        ),
        (
            "dns_sd_configs: [{names: [a.example], timeout: 1s}]",
            "dns_sd_configs[0].timeout",
            "unknown field",
        ),
    ];
    for (entry, path, msg) in cases {
        let yaml = format!("scrape_configs:\n  - job_name: j\n    {entry}\n");
        let e = Config::from_yaml_str(&yaml, "t.yml").expect_err(entry);
        let text = e.to_string();
        assert!(
            text.contains(&format!("scrape_configs[0].{path}")),
            "{entry}: {text}"
        );
        assert!(text.contains(msg), "{entry}: {text}");
    }
    let ok = "scrape_configs:\n  - job_name: j\n    http_sd_configs: [{url: 'https://sd.example/targets', basic_auth: {username: u, password: p}}]\n    dns_sd_configs: [{names: ['_x._tcp.example']}]\n";
    let cfg = Config::from_yaml_str(ok, "t.yml").expect("valid");
    let job = &cfg.scrape_configs[0];
    assert_eq!(
        job.http_sd_configs[0].refresh_interval,
        Duration::from_secs(60)
    );
    assert_eq!(
        job.dns_sd_configs[0].refresh_interval,
        Duration::from_secs(30)
    );
    assert_eq!(
        job.dns_sd_configs[0].record_type,
        redline::config::discovery::DnsRecordType::Srv
    );
}

/// Differential: Debian's `promtool check config` (Prometheus 2.42, which has http_sd and
/// dns_sd) and `redline check config` accept and reject the same entries, and redline's
/// error carries promtool's message.
#[test]
fn validation_agrees_with_promtool() {
    let dir = tempdir("promtool");
    let entries = [
        "dns_sd_configs: [{names: [a.example], type: A}]",
        "dns_sd_configs: [{names: []}]",
        "dns_sd_configs: [{names: [a.example], type: TXT}]",
        "dns_sd_configs: [{names: [a.example], type: a, port: 1}]",
        "dns_sd_configs: [{names: ['_x._tcp.example'], refresh_interval: 5s}]",
        "dns_sd_configs: [{names: [a.example], type: MX, port: 25}]",
        "http_sd_configs: [{refresh_interval: 1m}]",
        "http_sd_configs: [{url: 'ftp://h/x'}]",
        "http_sd_configs: [{url: 'http:///x'}]",
        "http_sd_configs: [{url: 'https://sd.example:8443/targets', refresh_interval: 15s, bearer_token: t}]",
    ];
    for (i, entry) in entries.iter().enumerate() {
        let file = dir.join(format!("c{i}.yml"));
        std::fs::write(
            &file,
            format!("scrape_configs:\n  - job_name: j\n    {entry}\n"),
        )
        .expect("write");
        let run = |bin: &str| {
            let out = std::process::Command::new(bin)
                .args(["check", "config"])
                .arg(&file)
                .output()
                .unwrap_or_else(|e| panic!("{bin}: {e}"));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        };
        let (prom_ok, prom) = run("/usr/bin/promtool");
        let (ours_ok, ours) = run(env!("CARGO_BIN_EXE_redline"));
        assert_eq!(
            ours_ok, prom_ok,
            "{entry}\npromtool: {prom}\nredline: {ours}"
        );
        if !prom_ok {
            let marker = format!("parsing YAML file {}: ", file.display());
            let message = prom
                .lines()
                .find_map(|l| l.split_once(&marker).map(|(_, m)| m.trim().to_string()))
                .unwrap_or_else(|| panic!("no message from promtool: {prom}"));
            assert!(
                ours.contains(&message),
                "{entry}: want {message:?} in {ours}"
            );
        }
    }
}
