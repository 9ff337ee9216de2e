//! The notification history pages: `/notifications` (the history with the API's filters,
//! one page at a time) and `/alerts/{fingerprint}` (one alert's timeline). Both render what
//! [`crate::http::notifications`] serves as JSON.

use super::PageCtx;
use crate::http::notifications::{self, HistoryRequestError};
use crate::http::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

fn error_page(ctx: &PageCtx, e: HistoryRequestError) -> Response {
    let status = match e {
        HistoryRequestError::BadParam(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    ctx.message(status, "Notification history", &e.to_string())
}

/// The rows of entries, with times in the viewer's zone and links to the alerts.
fn entry_rows(ctx: &PageCtx, entries: &[crate::state::history::HistoryRow]) -> Vec<Json> {
    entries
        .iter()
        .map(|e| {
            let mut v = notifications::entry_json(e);
            v["when"] = json!(ctx.time(e.at_ms));
            v["attempt_count"] = json!(e.attempts.len());
            v["failed_attempts"] = json!(e.attempts.iter().filter(|a| a.error.is_some()).count());
            v["integration_name"] = json!(if e.integration.is_empty() {
                "–"
            } else {
                e.integration.as_str()
            });
            v
        })
        .collect()
}

/// `GET /notifications`.
pub async fn notifications_page(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
    ctx: PageCtx,
) -> Response {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let (_, page) = match notifications::history_page(&s, &pairs).await {
        Ok(p) => p,
        Err(e) => return error_page(&ctx, e),
    };
    let next = page.next_before_id.map(|id| {
        let mut kept: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "next_token")
            .cloned()
            .collect();
        kept.push(("next_token".into(), id.to_string()));
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        format!("/notifications?{qs}")
    });
    let param = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
            .to_string()
    };
    let mut data = ctx.layout("Notifications", "/notifications", None);
    let extra = json!({
        "entries": entry_rows(&ctx, &page.entries),
        "next": next,
        "first": pairs.iter().any(|(k, _)| k == "next_token"),
        "receiver": param("receiver"),
        "owner": param("owner"),
        "alertname": param("alertname"),
        "match": param("match[]"),
        "start": param("start"),
        "end": param("end"),
        "limit": param("limit"),
    });
    if let (Some(a), Json::Object(b)) = (data.as_object_mut(), extra) {
        a.extend(b);
    }
    ctx.respond("notifications", &data)
}

/// A JSON object's members as `{name, value}` rows.
fn pairs(obj: &Json) -> Vec<Json> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /alerts/{fingerprint}`.
pub async fn alert_page(
    State(s): State<AppState>,
    Path(fp): Path<String>,
    ctx: PageCtx,
) -> Response {
    let t = match notifications::timeline(&s, &fp).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return ctx.message(
                StatusCode::NOT_FOUND,
                "Unknown alert",
                &format!("No alert with fingerprint {fp} is held or in the notification history."),
            )
        }
        Err(e) => return error_page(&ctx, e),
    };
    let title = format!("Alert {}", t["alertname"].as_str().unwrap_or(""));
    let mut data = ctx.layout(&title, "/alerts", None);
    let mut t = t;
    if let Some(events) = t["events"].as_array_mut() {
        for e in events {
            let when = e["timeMs"].as_i64().map(|ms| ctx.time(ms));
            e["when"] = json!(when);
            e["detail"] = json!(e
                .get("suppressedBy")
                .filter(|v| !v.is_null())
                .map(|v| v.to_string()));
        }
    }
    let labels = pairs(&t["labels"]);
    let annotations = pairs(&t["annotations"]);
    data["alert"] = t;
    data["label_list"] = json!(labels);
    data["annotation_list"] = json!(annotations);
    ctx.respond("alert", &data)
}
