//! A webhook receiver on loopback for the alerting tests: records every request and answers
//! 200, 503, or holds the request unanswered, as the test says.
#![allow(dead_code)]

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ack = 0,
    Unavailable = 1,
    /// Never answers (until the sender gives up or dies).
    Hold = 2,
}

/// One request the sink received, and how it was answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: serde_json::Value,
    pub answered: Answer,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Clone)]
pub struct WebhookSink {
    pub addr: SocketAddr,
    answer: Arc<AtomicU8>,
    /// Requests still to answer 503 before answering as `answer` says.
    failures: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookSink {
    pub async fn start(answer: Answer) -> WebhookSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook sink");
        let addr = listener.local_addr().expect("sink address");
        let sink = WebhookSink {
            addr,
            answer: Arc::new(AtomicU8::new(answer as u8)),
            failures: Arc::new(AtomicUsize::new(0)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let s = sink.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    let fail = s
                        .failures
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let answered = match s.answer.load(Ordering::SeqCst) {
                        _ if fail => Answer::Unavailable,
                        0 => Answer::Ack,
                        1 => Answer::Unavailable,
                        _ => Answer::Hold,
                    };
                    let at = std::time::Instant::now();
                    let body: serde_json::Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|e| serde_json::json!({ "invalid_json": e.to_string() }));
                    s.received
                        .lock()
                        .expect("sink")
                        .push(Received { body, answered, at });
                    match answered {
                        Answer::Ack => StatusCode::OK,
                        Answer::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                        Answer::Hold => {
                            std::future::pending::<()>().await;
                            StatusCode::OK
                        }
                    }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers the next `n` requests 503, then as the answer says.
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    pub fn set_answer(&self, a: Answer) {
        self.answer.store(a as u8, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("sink").clone()
    }

    /// Requests answered 200.
    pub fn acknowledged(&self) -> Vec<serde_json::Value> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == Answer::Ack)
            .map(|r| r.body)
            .collect()
    }
}
