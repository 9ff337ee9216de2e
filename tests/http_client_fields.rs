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
use redline::testdir::TempDir;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// An HTTP proxy that answers every plain request itself with a metric and accepts every
/// `CONNECT` (then closes the tunnel), recording each request's head (request line and
/// headers).
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
                    let connect = head.starts_with("CONNECT ");
                    seen.lock().unwrap().push(head);
                    if connect {
                        // Tunnel accepted, then closed: the TLS handshake behind it fails,
                        // which is enough to see what the client sent the proxy.
                        let _ = w
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await;
                        return;
                    }
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
async fn scrapes_go_through_proxy_url_except_no_proxy_hosts_and_https_through_connect() {
    let (proxy_addr, seen) = proxy().await;
    let direct = direct_target().await;
    // Nothing listens at the proxied target's address: only the proxy can answer for it.
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = unreachable.local_addr().unwrap();
    drop(unreachable);
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: proxied\n    proxy_url: http://{proxy_addr}\n    static_configs: [{{targets: ['{target}']}}]\n  - job_name: bypass\n    proxy_url: http://{proxy_addr}\n    no_proxy: 127.0.0.1\n    static_configs: [{{targets: ['{direct}']}}]\n  - job_name: tunnelled\n    scheme: https\n    proxy_url: http://{proxy_addr}\n    proxy_connect_header:\n      X-Proxy-Token: [secret-1]\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "p.yml").unwrap_or_else(|e| panic!("{e}"));
    let dir = TempDir::new("proxy");
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf()),
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
    // The https job's scrape goes through a CONNECT tunnel, with the connect header.
    let connect = wait_for("a CONNECT at the proxy", Duration::from_secs(10), || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|h| h.starts_with("CONNECT "))
            .cloned()
    })
    .await;
    assert!(
        connect.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{connect}"
    );
    assert!(
        connect
            .to_ascii_lowercase()
            .contains("\r\nx-proxy-token: secret-1\r\n"),
        "{connect}"
    );
    let heads = seen.lock().unwrap().clone();
    // Every plain request the proxy saw is the proxied job's, in absolute form: none from
    // the `no_proxy` job.
    let plain: Vec<&String> = heads
        .iter()
        .filter(|h| !h.starts_with("CONNECT "))
        .collect();
    assert!(!plain.is_empty());
    for head in plain {
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
    let dir = TempDir::new("redirect");
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf()),
    )
    .await
    .expect("service starts");
    assert_eq!(
        common::target_health(&svc, "follows").await,
        ("up".into(), "".into())
    );
    // As Prometheus: the redirect itself is the answer, and it is not a 2xx.
    assert_eq!(
        common::target_health(&svc, "stays").await,
        (
            "down".into(),
            "server returned HTTP status 303 See Other".into()
        )
    );
    svc.shutdown().await;
}

/// What the token endpoint saw: (Authorization header, Content-Type, body) per request.
type TokenRequests = Arc<Mutex<Vec<(String, String, String)>>>;

/// A loopback OAuth 2.0 token endpoint handing out `tok-N` (N counting requests), valid for
/// `expires_in` seconds, and a target that answers only `Bearer tok-…`.
async fn oauth2_servers(expires_in: u64) -> (SocketAddr, TokenRequests, SocketAddr) {
    let seen: TokenRequests = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let token = Router::new().route(
        "/oauth2/token",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = s2.clone();
            async move {
                let h = |n: axum::http::HeaderName| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let mut seen = seen.lock().unwrap();
                seen.push((
                    h(axum::http::header::AUTHORIZATION),
                    h(axum::http::header::CONTENT_TYPE),
                    body,
                ));
                axum::Json(serde_json::json!({
                    "access_token": format!("tok-{}", seen.len()),
                    "token_type": "bearer",
                    "expires_in": expires_in,
                }))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, token).await;
    });
    let target = Router::new().route(
        "/metrics",
        get(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if auth.starts_with("Bearer tok-") {
                (
                    axum::http::StatusCode::OK,
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    format!("authorized{{token=\"{}\"}} 1\n", &auth[7..]),
                )
            } else {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    [(axum::http::header::CONTENT_TYPE, "text/plain")],
                    String::new(),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, target).await;
    });
    (token_addr, seen, target_addr)
}

async fn tokens_used(svc: &Service, job: &str, at_least: usize) -> Vec<String> {
    let store = svc.store.clone();
    wait_for(
        &format!("{at_least} tokens used by {job}"),
        Duration::from_secs(15),
        || {
            let s = store.select(
                &[
                    Matcher::equal("__name__", "authorized"),
                    Matcher::equal("job", job),
                ],
                0,
                now(),
            );
            let tokens: Vec<String> = s
                .iter()
                .map(|s| s.labels.get("token").unwrap_or_default().to_string())
                .collect();
            (tokens.len() >= at_least).then_some(tokens)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials_token_is_fetched_as_prometheus_does_and_cached() {
    let (token_addr, seen, target) = oauth2_servers(3600).await;
    let dir = TempDir::new("oauth2");
    std::fs::write(dir.join("secret"), "s3cr:t/x\n").unwrap();
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: oauth\n    oauth2:\n      client_id: redline id\n      client_secret_file: secret\n      scopes: [metrics.read, 'team:sre']\n      token_url: http://{token_addr}/oauth2/token\n      endpoint_params: {{audience: 'https://api.example.test'}}\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    let cfg = Config::from_yaml_str_in(&yaml, "o.yml", &dir).unwrap_or_else(|e| panic!("{e}"));
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state")),
    )
    .await
    .expect("service starts");
    // Several scrapes use the one token.
    let store = svc.store.clone();
    wait_for("five authorized scrapes", Duration::from_secs(15), || {
        let s = store.select(
            &[
                Matcher::equal("__name__", "up"),
                Matcher::equal("job", "oauth"),
            ],
            0,
            now(),
        );
        s.first()
            .filter(|s| s.samples.iter().filter(|p| p.v == 1.0).count() >= 5)
            .map(|_| ())
    })
    .await;
    assert_eq!(tokens_used(&svc, "oauth", 1).await, ["tok-1"]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the token is cached: {seen:?}");
    let (auth, content_type, body) = &seen[0];
    // Go's clientcredentials: basic auth of the URL-query-escaped id and secret (the file's
    // contents, trimmed), a form body with keys sorted and values query-escaped.
    let expected_auth = format!("Basic {}", base64_std("redline+id:s3cr%3At%2Fx"));
    assert_eq!(auth, &expected_auth);
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        body,
        "audience=https%3A%2F%2Fapi.example.test&grant_type=client_credentials&scope=metrics.read+team%3Asre"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_is_renewed_when_it_expires() {
    // A 5-second token is within the 10-second renewal margin at once: every scrape
    // fetches a new one.
    let (token_addr, seen, target) = oauth2_servers(5).await;
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: short\n    oauth2:\n      client_id: a\n      client_secret: b\n      token_url: http://{token_addr}/oauth2/token\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "o.yml").unwrap_or_else(|e| panic!("{e}"));
    let dir = TempDir::new("oauth2s");
    let svc = Service::start(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf()),
    )
    .await
    .expect("service starts");
    let tokens = tokens_used(&svc, "short", 3).await;
    assert!(tokens.contains(&"tok-3".to_string()), "{tokens:?}");
    assert!(seen.lock().unwrap().len() >= 3);
    assert_eq!(seen.lock().unwrap()[0].2, "grant_type=client_credentials");
    svc.shutdown().await;
}

/// Standard base64 with padding, written out so the expected header does not come from the
/// code under test.
fn base64_std(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn oauth2_settings_are_validated_as_prometheus_does() {
    let err = |yaml: &str| {
        Config::from_yaml_str(yaml, "o.yml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    oauth2: {token_url: 'http://t'}\n"),
        "o.yml:3:13: scrape_configs[0].oauth2.client_id: oauth2 client_id must be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n"),
        "o.yml:3:13: scrape_configs[0].oauth2.token_url: oauth2 token_url must be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    oauth2: {client_id: x, token_url: 'http://t'}\n"),
        "o.yml:4:13: scrape_configs[0].oauth2: at most one of basic_auth, oauth2 & authorization must be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    bearer_token: t\n    oauth2: {client_id: x, token_url: 'http://t'}\n"),
        "o.yml:3:19: scrape_configs[0].bearer_token: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
    );
    assert_eq!(
        err("scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x, token_url: 'http://t', client_secret: s, client_secret_file: f}\n"),
        "o.yml:3:89: scrape_configs[0].oauth2.client_secret_file: at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"
    );
}
