//! `GET /api/v1/alertmanagers`: the Alertmanagers rule alerts are sent to (prometheus.yml's
//! `alerting:`), in Prometheus' shape: `activeAlertmanagers` and `droppedAlertmanagers`
//! (those `relabel_configs` dropped), each `{"url": ...}`.

use super::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/alertmanagers", get(alertmanagers))
}

async fn alertmanagers(State(s): State<AppState>) -> Response {
    let found = s.notifier.as_ref().map(|n| n.alertmanagers());
    let urls = |v: Option<&Vec<String>>| -> Vec<serde_json::Value> {
        v.into_iter()
            .flatten()
            .map(|u| json!({ "url": u }))
            .collect()
    };
    super::api::success(
        json!({
            "activeAlertmanagers": urls(found.as_ref().map(|f| &f.active)),
            "droppedAlertmanagers": urls(found.as_ref().map(|f| &f.dropped)),
        }),
        &[],
        &[],
    )
}
