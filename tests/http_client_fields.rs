//! prometheus/common's HTTP client fields at work: the proxy settings (`proxy_url`,
//! `no_proxy`, `proxy_connect_header`) against a loopback HTTP proxy the test runs, with
//! their validation messages (`ProxyConfig.Validate`), and `follow_redirects`.

mod common;

use axum::routing::get;
use axum::Router;
use common::wait_for;
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A plain HTTP proxy that answers every request itself with a metric, recording each
/// request's head (request line and headers).
async fn proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    seen.lock().unwrap().push(head);
                    let body = "via_proxy 1\n";
                    let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    if w.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A target that answers directly.
async fn direct_target() -> SocketAddr {
    let app = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4",
                )],
                "direct 1\n",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn now() -> i64 {
    redline::timefmt::unix_ms(SystemTime::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_go_through_proxy_url_except_no_proxy_hosts() {
    let (proxy_addr, seen) = proxy().await;
    let direct = direct_target().await;
    // Nothing listens at the proxied target's address: only the proxy can answer for it.
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = unreachable.local_addr().unwrap();
    drop(unreachable);
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: proxied\n    proxy_url: http://{proxy_addr}\n    proxy_connect_header:\n      X-Proxy-Token: [secret-1]\n    static_configs: [{{targets: ['{target}']}}]\n  - job_name: bypass\n    proxy_url: http://{proxy_addr}\n    no_proxy: 127.0.0.1\n    static_configs: [{{targets: ['{direct}']}}]\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "p.yml").unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("redline-proxy-{}", std::process::id()));
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir),
    )
    .await
    .expect("service starts");
    let store = svc.store.clone();
    for (metric, job) in [("via_proxy", "proxied"), ("direct", "bypass")] {
        wait_for(
            &format!("{metric} from {job}"),
            Duration::from_secs(10),
            || {
                store
                    .select(
                        &[
                            Matcher::equal("__name__", metric),
                            Matcher::equal("job", job),
                        ],
                        0,
                        now(),
                    )
                    .first()
                    .map(|_| ())
            },
        )
        .await;
    }
    let heads = seen.lock().unwrap().clone();
    // Every request the proxy saw is the proxied job's, in absolute form.
    assert!(!heads.is_empty());
    for head in &heads {
        assert!(
            head.starts_with(&format!("GET http://{target}/metrics HTTP/1.1\r\n")),
            "{head}"
        );
    }
    svc.shutdown().await;
}

#[test]
fn proxy_settings_are_validated_as_prometheus_does() {
    let err = |yaml: &str| {
        Config::from_yaml_str(yaml, "p.yml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    no_proxy: localhost\n"),
        "p.yml:3:15: scrape_configs[0].no_proxy: if no_proxy is configured, proxy_url must also be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    proxy_url: http://p:3128\n    proxy_from_environment: true\n"),
        "p.yml:4:29: scrape_configs[0].proxy_from_environment: if proxy_from_environment is configured, proxy_url must not be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    proxy_connect_header: {X-A: [b]}\n"),
        "p.yml:3:27: scrape_configs[0].proxy_connect_header: if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"
    );
    // Alertmanager's `http_config` takes the same fields (its conf.good.yml sets
    // `global.http_config.proxy_url`).
    let cfg = Config::from_yaml_str(
        "alertmanager:\n  config:\n    global:\n      http_config:\n        proxy_url: http://127.0.0.1:3128\n    route: {receiver: r}\n    receivers: [{name: r}]\n",
        "p.yml",
    );
    assert!(cfg.is_ok(), "{:?}", cfg.err().map(|e| e.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_unless_follow_redirects_is_false() {
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async { axum::response::Redirect::to("/real") }),
        )
        .route(
            "/real",
            get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    "redirected 1\n",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: follows\n    static_configs: [{{targets: ['{addr}']}}]\n  - job_name: stays\n    follow_redirects: false\n    static_configs: [{{targets: ['{addr}']}}]\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "r.yml").unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("redline-redirect-{}", std::process::id()));
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir),
    )
    .await
    .expect("service starts");
    let targets = svc.targets.clone();
    let status = |job: &'static str| {
        let targets = targets.clone();
        async move {
            wait_for(
                &format!("a scrape of {job}"),
                Duration::from_secs(10),
                || {
                    targets
                        .snapshot()
                        .get(job)
                        .and_then(|p| p.active.first().cloned())
                        .and_then(|t| {
                            let s = t.status();
                            s.last_scrape
                                .map(|_| (s.health.as_str().to_string(), s.last_error.clone()))
                        })
                },
            )
            .await
        }
    };
    assert_eq!(status("follows").await, ("up".into(), "".into()));
    // As Prometheus: the redirect itself is the answer, and it is not a 2xx.
    assert_eq!(
        status("stays").await,
        (
            "down".into(),
            "server returned HTTP status 303 See Other".into()
        )
    );
    svc.shutdown().await;
}
