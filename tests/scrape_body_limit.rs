//! The scrape `body_size_limit`: counted on the decompressed bytes as they stream in, the
//! scrape failing with Prometheus' error as soon as the limit is reached, and redline's own
//! default (100 MiB) applying when the configuration sets none.
//!
//! The targets here are raw loopback TCP servers that count what they manage to write, so
//! the tests assert on bytes: an endless body must stop being read near the limit.

mod common;

use common::wait_for;
use redline::config::{Config, HttpClientSettings, ScrapeProtocol, DEFAULT_BODY_SIZE_LIMIT};
use redline::scrape::client::JobClient;
use redline::scrape::scrape_loop::ScrapeError;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;

/// What a loopback target sends after its headers.
#[derive(Clone)]
enum Body {
    /// `n 1\n` lines for ever (chunked), until the client goes away.
    Endless,
    /// These bytes, with `Content-Length` and, when `gzip`, `Content-Encoding: gzip`.
    Fixed { bytes: Arc<Vec<u8>>, gzip: bool },
}

/// What a target wrote: body bytes it managed to write (to the socket, so kernel buffers
/// included), and how many connections it has finished answering.
#[derive(Default)]
struct Written {
    bytes: AtomicU64,
    finished: AtomicU64,
}

/// A loopback target answering every connection with `body`.
async fn target(body: Body) -> (SocketAddr, Arc<Written>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind target");
    let addr = listener.local_addr().expect("target address");
    let written = Arc::new(Written::default());
    let count = written.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 4096];
                let _ = sock.read(&mut req).await;
                match body {
                    Body::Endless => {
                        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nTransfer-Encoding: chunked\r\n\r\n";
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let line = "endless_metric{instance_label=\"x\"} 1\n".repeat(1800);
                        let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                        while sock.write_all(chunk.as_bytes()).await.is_ok() {
                            count.bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
                        }
                        count.finished.fetch_add(1, Ordering::SeqCst);
                    }
                    Body::Fixed { bytes, gzip } => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
                            if gzip { "Content-Encoding: gzip\r\n" } else { "" },
                            bytes.len()
                        );
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        for piece in bytes.chunks(64 * 1024) {
                            if sock.write_all(piece).await.is_err() {
                                return;
                            }
                            count.bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    (addr, written)
}

fn client() -> JobClient {
    redline::install_crypto_provider();
    JobClient::new(
        &HttpClientSettings::default(),
        ScrapeProtocol::accept_header(&ScrapeProtocol::DEFAULT),
    )
    .expect("client builds")
}

async fn fetch(addr: SocketAddr, limit: u64) -> Result<Vec<u8>, ScrapeError> {
    client()
        .fetch(
            &format!("http://{addr}/metrics"),
            Duration::from_secs(60),
            limit,
            0,
        )
        .await
        .map(|(body, _)| body)
}

/// Exposition text of exactly `n` bytes: `a 1\n` lines padded by a comment.
fn body_of_len(n: usize) -> Vec<u8> {
    let mut s = "a 1\n".repeat(n / 4 - 1);
    while s.len() < n - 1 {
        s.push('#');
    }
    s.push('\n');
    assert_eq!(s.len(), n);
    s.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_stops_being_read_at_the_limit() {
    let (addr, written) = target(Body::Endless).await;
    let limit = 4 * MIB;
    let err = fetch(addr, limit).await.expect_err("an endless body fails");
    assert!(matches!(err, ScrapeError::BodyTooLarge(_)), "{err:?}");
    assert_eq!(err.to_string(), "body size limit exceeded");
    // The target could push at most the limit plus what the loopback socket buffers hold
    // (a few MiB with autotuning) before redline stopped reading and closed the connection.
    wait_for(
        "the target sees the connection closed",
        Duration::from_secs(20),
        || (written.finished.load(Ordering::SeqCst) == 1).then_some(()),
    )
    .await;
    let sent = written.bytes.load(Ordering::SeqCst);
    assert!(
        sent >= limit,
        "the read went up to the limit ({sent} bytes)"
    );
    assert!(
        sent < limit + 32 * MIB,
        "redline kept reading past the limit: the target wrote {sent} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_counts_decompressed_bytes() {
    // 64 MiB of exposition compresses to a few hundred KiB.
    let plain = "bomb_metric 1\n".repeat((64 * MIB as usize) / 14);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(plain.as_bytes()).expect("gzip");
    let gz = enc.finish().expect("gzip");
    let compressed = gz.len() as u64;
    assert!(
        compressed < 2 * MIB,
        "the bomb is small on the wire: {compressed}"
    );
    let (addr, _) = target(Body::Fixed {
        bytes: Arc::new(gz),
        gzip: true,
    })
    .await;
    // The limit is above the compressed size and far below the decompressed size: only
    // counting decompressed bytes fails the scrape.
    let err = fetch(addr, 4 * MIB)
        .await
        .expect_err("a gzip bomb over the limit fails");
    assert_eq!(err.to_string(), "body size limit exceeded");
    // Control: the same bomb with room for it is read whole.
    let body = fetch(addr, 0).await.expect("no limit: read whole");
    assert_eq!(body.len(), plain.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_of_exactly_the_limit_fails_as_in_prometheus() {
    // Prometheus reads through `io.LimitReader(body, limit)` and fails when `n >= limit`:
    // a body of exactly `limit` bytes fails, one byte less passes.
    let limit = 1024;
    let (at, _) = target(Body::Fixed {
        bytes: Arc::new(body_of_len(limit)),
        gzip: false,
    })
    .await;
    let err = fetch(at, limit as u64).await.expect_err("limit bytes fail");
    assert_eq!(err.to_string(), "body size limit exceeded");
    let (under, _) = target(Body::Fixed {
        bytes: Arc::new(body_of_len(limit - 1)),
        gzip: false,
    })
    .await;
    let body = fetch(under, limit as u64)
        .await
        .expect("limit-1 bytes pass");
    assert_eq!(body.len(), limit - 1);
}

#[test]
fn default_body_size_limit_is_100_mib_and_overridable() {
    let jobs = |yaml: &str| {
        Config::from_yaml_str(yaml, "test.yml")
            .expect("config parses")
            .scrape_configs
            .iter()
            .map(|c| (c.job_name.clone(), c.limits.body_size_limit))
            .collect::<Vec<_>>()
    };
    assert_eq!(DEFAULT_BODY_SIZE_LIMIT, 100 * MIB);
    let none_set = "scrape_configs: [{job_name: a}, {job_name: b, body_size_limit: 1GB}, {job_name: c, body_size_limit: 0}]";
    assert_eq!(
        jobs(none_set),
        vec![
            ("a".to_string(), Some(100 * MIB)),
            ("b".to_string(), Some(1 << 30)),
            // A job's 0 inherits the global value, as in Prometheus.
            ("c".to_string(), Some(100 * MIB)),
        ]
    );
    let lifted = "global: {body_size_limit: 0}\nscrape_configs: [{job_name: a}, {job_name: b, body_size_limit: 2MB}]";
    assert_eq!(
        jobs(lifted),
        vec![("a".to_string(), None), ("b".to_string(), Some(2 * MIB))]
    );
    let global = "global: {body_size_limit: 10MB}\nscrape_configs: [{job_name: a}]";
    assert_eq!(jobs(global), vec![("a".to_string(), Some(10 * MIB))]);
}
