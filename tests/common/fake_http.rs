//! The receiving end of HTTP integrations in tests: a loopback server that records every
//! request (method, path with query, headers, body) and answers each path with a status,
//! content type and body the test sets (by default `200 ok`, as a Slack incoming webhook
//! answers), at once or, for a request the test holds open, on the test's signal.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/slack/T0/B0?x=1`.
    pub path: String,
    /// Header names lower-cased; a repeated header's values joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Recorded {
    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON: {e}: {}",
                self.method, self.path, self.body
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An answer: status, content type, body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Extra headers (e.g. `Retry-After`).
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn new(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: content_type.to_string(),
            body: body.to_string(),
            headers: Vec::new(),
        }
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    /// Per path: answers used once each, in order, before the standing one.
    queued: BTreeMap<String, VecDeque<Answer>>,
    /// Per path: the answer once the queue is empty.
    standing: BTreeMap<String, Answer>,
    /// Per path: requests to hold open (recorded at once, answered on a signal), in order.
    held: BTreeMap<String, VecDeque<tokio::sync::oneshot::Receiver<()>>>,
}

/// The fake receiver.
#[derive(Clone)]
pub struct FakeReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeReceiver {
    pub async fn start() -> FakeReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake receiver");
        let addr = listener.local_addr().expect("fake receiver address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move {
                    let path = uri
                        .path_and_query()
                        .map_or_else(|| uri.path().to_string(), |p| p.to_string());
                    let (answer, hold) = {
                        let mut st = shared.lock().expect("fake receiver state");
                        st.requests.push(Recorded {
                            method: method.to_string(),
                            path: path.clone(),
                            headers: headers
                                .keys()
                                .map(|k| {
                                    // A repeated header shows all its values, joined with ", ".
                                    let values: Vec<String> = headers
                                        .get_all(k)
                                        .iter()
                                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                                        .collect();
                                    (k.as_str().to_ascii_lowercase(), values.join(", "))
                                })
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let bare = uri.path().to_string();
                        let answer = st
                            .queued
                            .get_mut(&bare)
                            .and_then(VecDeque::pop_front)
                            .or_else(|| st.standing.get(&bare).cloned())
                            .unwrap_or_else(|| Answer::new(200, "text/plain", "ok"));
                        let hold = st.held.get_mut(&bare).and_then(VecDeque::pop_front);
                        (answer, hold)
                    };
                    if let Some(signal) = hold {
                        // Answers once the test signals (or drops the sender).
                        let _ = signal.await;
                    }
                    let mut resp = (
                        StatusCode::from_u16(answer.status).expect("valid status"),
                        [(axum::http::header::CONTENT_TYPE, answer.content_type)],
                        answer.body,
                    )
                        .into_response();
                    for (k, v) in answer.headers {
                        resp.headers_mut().insert(
                            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header"),
                            v.parse().expect("header value"),
                        );
                    }
                    resp
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeReceiver { addr, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every request to `path` (without query) with `answer` from now on.
    pub fn answer(&self, path: &str, answer: Answer) {
        self.state
            .lock()
            .expect("fake receiver state")
            .standing
            .insert(path.to_string(), answer);
    }

    /// Answers the next request to `path` with `answer`, once.
    pub fn answer_once(&self, path: &str, answer: Answer) {
        self.state
            .lock()
            .expect("fake receiver state")
            .queued
            .entry(path.to_string())
            .or_default()
            .push_back(answer);
    }

    /// Holds the next request to `path` (without query) open: it is recorded on arrival and
    /// answered only once the returned sender is used or dropped.
    pub fn hold_next(&self, path: &str) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.state
            .lock()
            .expect("fake receiver state")
            .held
            .entry(path.to_string())
            .or_default()
            .push_back(rx);
        tx
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .lock()
            .expect("fake receiver state")
            .requests
            .clone()
    }

    /// The requests to paths starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Waits until `count` requests to paths starting with `prefix` have arrived.
    pub async fn wait_for(&self, prefix: &str, count: usize, deadline: Duration) -> Vec<Recorded> {
        super::wait_for(
            &format!("{count} request(s) to {prefix} at {}", self.addr),
            deadline,
            || {
                let r = self.requests_to(prefix);
                (r.len() >= count).then_some(r)
            },
        )
        .await
    }
}
