//! The HTTP side of scraping: content negotiation, gzip, authentication and TLS
//! (CA file, server_name, client certificates, insecure_skip_verify) against real servers
//! on loopback; certificates are made by the test with the `openssl` command.

mod common;

use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{wait_for, ServiceInDir};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier};
use redline::testdir::TempDir;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now() -> i64 {
    redline::timefmt::unix_ms(SystemTime::now())
}

async fn start(yaml: &str, name: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
    ServiceInDir::start(cfg, &format!("http-{name}"), at, Default::default()).await
}

async fn up_of(svc: &Service, job: &str) -> f64 {
    let store = svc.store.clone();
    wait_for(&format!("up for {job}"), Duration::from_secs(10), || {
        let s = store.select(
            &[Matcher::equal("__name__", "up"), Matcher::equal("job", job)],
            0,
            now(),
        );
        s.first().and_then(|s| s.samples.last()).map(|p| p.v)
    })
    .await
}

fn has_series(svc: &Service, name: &str) -> bool {
    !svc.store
        .select(&[Matcher::equal("__name__", name)], 0, now())
        .is_empty()
}

/// A server that records request headers and answers from a closure.
async fn recording_server(
    respond: impl Fn(&HeaderMap) -> axum::response::Response + Send + Sync + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let respond = Arc::new(respond);
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let seen = s2.clone();
            let respond = respond.clone();
            async move {
                seen.lock().unwrap().push(headers.clone());
                respond(&headers)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn gzip(body: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_preferred_and_gzip_accepted() {
    // A timestamp a little in the past, with a fraction of a second.
    let ts_ms = (now() / 1000 - 30) * 1000 + 500;
    let om = format!(
        "# TYPE om_metric gauge\nom_metric{{a=\"1\"}} 7 {}.5\n# EOF\n",
        ts_ms / 1000
    );
    let (addr, seen) = recording_server(move |_| {
        (
            [
                (
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            gzip(&om),
        )
            .into_response()
    })
    .await;
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: om\n    honor_timestamps: true\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let svc = start(&yaml, "om").await;
    assert_eq!(up_of(&svc, "om").await, 1.0);
    let s = svc
        .store
        .select(&[Matcher::equal("__name__", "om_metric")], 0, i64::MAX / 2);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].samples[0].t, ts_ms,
        "OpenMetrics float-second timestamp honoured"
    );
    let headers = seen.lock().unwrap()[0].clone();
    let accept = headers[header::ACCEPT].to_str().unwrap().to_string();
    assert!(
        accept.starts_with("application/openmetrics-text"),
        "OpenMetrics preferred: {accept}"
    );
    assert!(
        accept.contains("text/plain;version=0.0.4"),
        "text format accepted: {accept}"
    );
    assert!(headers[header::ACCEPT_ENCODING]
        .to_str()
        .unwrap()
        .contains("gzip"));
    assert!(headers.contains_key("x-prometheus-scrape-timeout-seconds"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_bearer_token_file() {
    let (addr, _) = recording_server(|h| {
        let auth = h
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // "scraper:s3cret" and the token file's contents.
        if auth == "Basic c2NyYXBlcjpzM2NyZXQ=" || auth == "Bearer token-from-file" {
            "authed 1\n".into_response()
        } else {
            (axum::http::StatusCode::UNAUTHORIZED, "no").into_response()
        }
    })
    .await;
    let dir = TempDir::new("http-auth-files");
    let token = dir.join("token");
    std::fs::write(&token, "token-from-file\n").unwrap();
    let yaml = format!(
        "
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: basic
    basic_auth: {{username: scraper, password: s3cret}}
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: bearer
    authorization: {{credentials_file: '{}'}}
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: none
    static_configs: [{{targets: ['{addr}']}}]
",
        token.display()
    );
    let svc = start(&yaml, "auth").await;
    assert_eq!(up_of(&svc, "basic").await, 1.0);
    assert_eq!(up_of(&svc, "bearer").await, 1.0);
    assert_eq!(up_of(&svc, "none").await, 0.0);
    let t = svc.targets.snapshot();
    let err = t["none"].active[0].status().last_error;
    assert!(err.contains("401"), "{err}");
    svc.shutdown().await;
}

/// Makes a CA, a server certificate for `target.internal` and a client certificate.
fn make_pki(dir: &Path) {
    let run = |args: &[&str]| common::openssl(dir, args);
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=DNS:target.internal\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=redline test CA",
    ]);
    for (name, cn) in [("server", "target.internal"), ("client", "redline")] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        let (csr, pem, ext) = (
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.cnf"),
        );
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}

/// A TLS server that requires a client certificate signed by the CA and answers every
/// request with a fixed exposition body.
async fn tls_server(dir: &Path) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = "tls_metric 1\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_server_name_and_client_certificate() {
    let dir = TempDir::new("http-pki");
    make_pki(&dir);
    let addr = tls_server(&dir).await;
    let d = dir.display();
    let yaml = format!(
        "
global:
  # Generous: a TLS handshake on a loaded 2-core machine must not time out.
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: mtls
    scheme: https
    tls_config:
      ca_file: {d}/ca.pem
      cert_file: {d}/client.pem
      key_file: {d}/client.key
      server_name: target.internal
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: wrong-name
    scheme: https
    tls_config:
      ca_file: {d}/ca.pem
      cert_file: {d}/client.pem
      key_file: {d}/client.key
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: no-client-cert
    scheme: https
    tls_config:
      insecure_skip_verify: true
    static_configs: [{{targets: ['{addr}']}}]
"
    );
    let svc = start(&yaml, "tls").await;
    assert_eq!(
        up_of(&svc, "mtls").await,
        1.0,
        "{:?}",
        svc.targets.snapshot()["mtls"].active[0].status()
    );
    assert!(has_series(&svc, "tls_metric"));
    // The certificate is for target.internal, not 127.0.0.1: verification must fail.
    assert_eq!(up_of(&svc, "wrong-name").await, 0.0);
    // The server demands a client certificate.
    assert_eq!(up_of(&svc, "no-client-cert").await, 0.0);
    // Each fails for its own reason, as the targets page shows it.
    let pools = svc.targets.snapshot();
    let err = |job: &str| pools[job].active[0].status().last_error;
    assert!(
        err("wrong-name").contains("certificate not valid for name"),
        "{}",
        err("wrong-name")
    );
    // In TLS 1.3 the server checks the client certificate after the client's handshake has
    // finished, so the client may already be sending its request when the server's alert
    // arrives and report the connection closed instead. Every scrape is a new connection:
    // wait (bounded) for one whose error carries the alert.
    let last_error = wait_for(
        "a no-client-cert scrape that reports the server's alert",
        Duration::from_secs(20),
        || {
            let e = svc.targets.snapshot()["no-client-cert"].active[0]
                .status()
                .last_error;
            e.contains("CertificateRequired").then_some(e)
        },
    )
    .await;
    assert!(last_error.contains("CertificateRequired"), "{last_error}");
    svc.shutdown().await;
}

/// A target that refuses the connection: the scrape error keeps the request error as its
/// source, for callers that walk the chain, and its text (the targets page's `lastError`)
/// is still that error with its causes on one line, naming the URL and why it failed.
#[tokio::test]
async fn refused_scrape_keeps_the_request_error_as_source() {
    use redline::config::{HttpClientSettings, ScrapeProtocol};
    use redline::scrape::client::JobClient;
    redline::install_crypto_provider();
    // A port nobody listens on any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local addr").port()
    };
    let client = JobClient::new(
        &HttpClientSettings::default(),
        ScrapeProtocol::accept_header(&ScrapeProtocol::DEFAULT),
    )
    .expect("client builds");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let err = client
        .fetch(&url, Duration::from_secs(5), 0, 0)
        .await
        .expect_err("nothing listens");
    let source = std::error::Error::source(&err).expect("the scrape error keeps its source");
    let request = source
        .downcast_ref::<reqwest::Error>()
        .expect("the source is the request error");
    assert!(request.is_connect(), "{request:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("error sending request for url ({url})")),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
}
