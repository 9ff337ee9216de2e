//! Prometheus 3's scrape fields at work against loopback targets: the `Accept` header from
//! `scrape_protocols` and `metric_name_escaping_scheme`, `Accept-Encoding` from
//! `enable_compression`, `fallback_scrape_protocol` for a target without a usable
//! `Content-Type`, and `track_timestamps_staleness`. Expected headers and messages are
//! Prometheus 3's (scrape/scrape.go `acceptHeader`, `acceptEncodingHeader`;
//! model/textparse `extractMediaType`).

mod common;

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::{target_health as health, wait_for, ServiceInDir};
use redline::config::Config;
use redline::service::ServiceOptions;
use redline::store::{Matcher, Querier};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

fn now() -> i64 {
    redline::timefmt::unix_ms(SystemTime::now())
}

async fn start(yaml: &str, name: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
    ServiceInDir::start(cfg, &format!("p3-{name}"), at, Default::default()).await
}

/// A target answering from `respond` (given how many scrapes came before), recording each
/// request's headers.
async fn target(
    respond: impl Fn(usize) -> Response + Send + Sync + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let s2 = seen.clone();
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            s2.lock().unwrap().push(headers);
            let r = respond(n);
            async move { r }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn text(body: &'static str) -> impl Fn(usize) -> Response {
    move |_| ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_accept_encoding_follow_the_job() {
    let (a, seen_a) = target(text("m 1\n")).await;
    let (b, seen_b) = target(text("m 1\n")).await;
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: default\n    static_configs: [{{targets: ['{a}']}}]\n  - job_name: tuned\n    scrape_protocols: [PrometheusText1.0.0, PrometheusText0.0.4]\n    metric_name_escaping_scheme: underscores\n    enable_compression: false\n    static_configs: [{{targets: ['{b}']}}]\n"
    );
    let svc = start(&yaml, "accept").await;
    assert_eq!(health(&svc, "default").await.0, "up");
    assert_eq!(health(&svc, "tuned").await.0, "up");
    let a = seen_a.lock().unwrap()[0].clone();
    assert_eq!(
        a[header::ACCEPT],
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    assert_eq!(a[header::ACCEPT_ENCODING], "gzip");
    let b = seen_b.lock().unwrap()[0].clone();
    assert_eq!(
        b[header::ACCEPT],
        "text/plain;version=1.0.0;escaping=underscores;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
    );
    assert_eq!(b[header::ACCEPT_ENCODING], "identity");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_scrape_protocol_reads_a_target_without_a_usable_content_type() {
    let bare = |_| Response::new(axum::body::Body::from("bare_metric 3\n"));
    let (no_type, _) = target(bare).await;
    let (no_type_fallback, _) = target(bare).await;
    let json = |_| {
        (
            [(header::CONTENT_TYPE, "application/json")],
            "json_metric 4\n",
        )
            .into_response()
    };
    let (unknown, _) = target(json).await;
    let (unknown_fallback, _) = target(json).await;
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bare\n    static_configs: [{{targets: ['{no_type}']}}]\n  - job_name: bare-fallback\n    fallback_scrape_protocol: PrometheusText0.0.4\n    static_configs: [{{targets: ['{no_type_fallback}']}}]\n  - job_name: json\n    static_configs: [{{targets: ['{unknown}']}}]\n  - job_name: json-fallback\n    fallback_scrape_protocol: PrometheusText1.0.0\n    static_configs: [{{targets: ['{unknown_fallback}']}}]\n"
    );
    let svc = start(&yaml, "fallback").await;
    assert_eq!(
        health(&svc, "bare").await,
        (
            "down".to_string(),
            "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".to_string()
        )
    );
    assert_eq!(
        health(&svc, "json").await,
        (
            "down".to_string(),
            "received unsupported Content-Type \"application/json\" and no fallback_scrape_protocol specified for target".to_string()
        )
    );
    assert_eq!(
        health(&svc, "bare-fallback").await,
        ("up".into(), "".into())
    );
    assert_eq!(
        health(&svc, "json-fallback").await,
        ("up".into(), "".into())
    );
    let got = |name: &str| {
        svc.store
            .select(&[Matcher::equal("__name__", name)], 0, now())
            .iter()
            .map(|s| s.labels.get("job").unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(got("bare_metric"), ["bare-fallback"]);
    assert_eq!(got("json_metric"), ["json-fallback"]);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_timestamps_staleness_marks_vanished_timestamped_series_stale() {
    // The first scrape exposes a series with an explicit timestamp; later ones do not.
    let ts = now() / 1000 * 1000 - 5_000;
    let body = move |n: usize| {
        let b = if n == 0 {
            format!("stamped 1 {ts}\nalways 1\n")
        } else {
            "always 1\n".to_string()
        };
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], b).into_response()
    };
    let (tracked, seen_tracked) = target(body).await;
    let (untracked, seen_untracked) = target(body).await;
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: tracked\n    track_timestamps_staleness: true\n    static_configs: [{{targets: ['{tracked}']}}]\n  - job_name: untracked\n    static_configs: [{{targets: ['{untracked}']}}]\n"
    );
    let svc = start(&yaml, "tsstale").await;
    let stamped = |job: &str| {
        svc.store
            .select(
                &[
                    Matcher::equal("__name__", "stamped"),
                    Matcher::equal("job", job),
                ],
                0,
                i64::MAX / 2,
            )
            .first()
            .map(|s| s.samples.clone())
            .unwrap_or_default()
    };
    // The tracked job writes a staleness marker after the series vanishes.
    wait_for(
        "a staleness marker for `stamped`",
        Duration::from_secs(10),
        || {
            stamped("tracked")
                .iter()
                .any(|p| redline::store::is_stale_nan(p.v))
                .then_some(())
        },
    )
    .await;
    // The untracked job (Prometheus' default) has scraped as often and wrote none.
    wait_for("three scrapes of each", Duration::from_secs(10), || {
        (seen_untracked.lock().unwrap().len() >= 3 && seen_tracked.lock().unwrap().len() >= 3)
            .then_some(())
    })
    .await;
    let untracked_samples = stamped("untracked");
    assert_eq!(untracked_samples.len(), 1, "{untracked_samples:?}");
    assert_eq!(untracked_samples[0].t, ts);
    assert_eq!(untracked_samples[0].v, 1.0);
    svc.shutdown().await;
}
