//! The demo's webhook receiver: an in-process HTTP server on loopback that accepts
//! Alertmanager webhook payloads at `/hook/<receiver>`, prints one line per notification to
//! the console and keeps the last ones, served as JSON at `/notifications`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// How many notifications the sink keeps.
const KEEP: usize = 500;

/// One notification the sink received.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Received {
    /// The receiver named in the URL path.
    pub hook: String,
    /// When it arrived, unix ms.
    pub received_at_ms: i64,
    /// The payload as sent.
    pub payload: serde_json::Value,
}

/// The notifications received so far, newest last.
#[derive(Clone, Default)]
pub struct Sink {
    inner: Arc<Mutex<VecDeque<Received>>>,
    quiet: bool,
}

impl Sink {
    /// A sink that prints each notification (unless `quiet`).
    pub fn new(quiet: bool) -> Sink {
        Sink {
            inner: Arc::default(),
            quiet,
        }
    }

    /// A copy of what was received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Received>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the sink on `127.0.0.1:0`; returns its address.
    pub async fn serve(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/hook/{receiver}", post(hook))
            .route("/notifications", get(list))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(addr)
    }
}

async fn hook(State(sink): State<Sink>, Path(receiver): Path<String>, body: Bytes) -> Response {
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("body is not JSON: {e}\n")).into_response()
        }
    };
    if !sink.quiet {
        println!("{}", summary(&receiver, &payload));
    }
    let mut q = sink.lock();
    if q.len() == KEEP {
        q.pop_front();
    }
    q.push_back(Received {
        hook: receiver,
        received_at_ms: crate::timefmt::now_ms(),
        payload,
    });
    StatusCode::OK.into_response()
}

async fn list(State(sink): State<Sink>) -> Json<Vec<Received>> {
    Json(sink.received())
}

/// One console line for a webhook payload:
/// `[payments-oncall] FIRING 2 × SLOBurnRate owner=team-payments playbook=… (new_alerts)`.
pub fn summary(receiver: &str, p: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let alerts = p["alerts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let firing = alerts.iter().filter(|a| a["status"] == "firing").count();
    let resolved = alerts.len() - firing;
    let name = s(&p["commonLabels"]["alertname"]);
    let name = if name.is_empty() {
        s(&p["groupLabels"]["alertname"])
    } else {
        name
    };
    let first = alerts.first();
    let owner = first.map(|a| s(&a["owner"])).unwrap_or_default();
    let playbook = first
        .map(|a| {
            let p = s(&a["playbookURL"]);
            if p.is_empty() {
                s(&a["annotations"]["runbook_url"])
            } else {
                p
            }
        })
        .unwrap_or_default();
    let mut line = format!("[{receiver}] {}", s(&p["status"]).to_uppercase());
    if firing > 0 {
        line.push_str(&format!(" {firing} firing"));
    }
    if resolved > 0 {
        line.push_str(&format!(" {resolved} resolved"));
    }
    line.push_str(&format!(" × {name}"));
    if !owner.is_empty() {
        line.push_str(&format!(" owner={owner}"));
    }
    if !playbook.is_empty() {
        line.push_str(&format!(" playbook={playbook}"));
    }
    let reason = s(&p["notification_reason"]);
    if !reason.is_empty() {
        line.push_str(&format!(" ({reason})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_receiver_status_alert_owner_and_playbook() {
        let text = std::fs::read_to_string("tests/fixtures/alertmanager_0.25_webhook_firing.json")
            .expect("fixture");
        let p: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            summary("team-api-pager", &p),
            "[team-api-pager] FIRING 2 firing × HighErrorBudgetBurn playbook=https://runbooks.example/api"
        );
    }

    #[tokio::test]
    async fn sink_keeps_what_it_receives() {
        let sink = Sink::new(true);
        let addr = sink.serve().await.unwrap();
        let body = std::fs::read("tests/fixtures/alertmanager_0.25_webhook_resolved.json")
            .expect("fixture");
        crate::install_crypto_provider();
        let client = reqwest::Client::new();
        let r = client
            .post(format!("http://{addr}/hook/platform"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bad = client
            .post(format!("http://{addr}/hook/platform"))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].hook, "platform");
        assert_eq!(got[0].payload["alerts"][0]["status"], "resolved");
    }
}
