//! The Prometheus HTTP API (`/api/v1/*`): response envelope, errors and handlers.

use super::AppState;
use crate::store::Labels;
use crate::timefmt::{format_duration, rfc3339_nanos};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The `errorType` values Prometheus uses, with their HTTP status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
}

impl ApiErrorKind {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            ApiErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
            ApiErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            ApiErrorKind::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiErrorKind::Canceled => (StatusCode::SERVICE_UNAVAILABLE, "canceled"),
            ApiErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

/// An API error rendered as `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ApiErrorKind::BadData,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.kind.parts();
        (
            status,
            Json(json!({"status": "error", "errorType": kind, "error": self.message})),
        )
            .into_response()
    }
}

/// `{"status":"success","data":…}` with optional warnings and infos.
pub fn success(data: Value, warnings: &[String], infos: &[String]) -> Response {
    let mut body = Map::new();
    body.insert("status".into(), json!("success"));
    body.insert("data".into(), data);
    if !warnings.is_empty() {
        body.insert("warnings".into(), json!(warnings));
    }
    if !infos.is_empty() {
        body.insert("infos".into(), json!(infos));
    }
    Json(Value::Object(body)).into_response()
}

/// A label set as a JSON object.
pub fn labels_json(labels: &Labels) -> Value {
    let mut m = Map::new();
    for l in labels {
        m.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(m)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
}

/// `GET /api/v1/rules`, with upstream's filters (`type`, `rule_name[]`, `rule_group[]`,
/// `file[]`, `match[]`, `exclude_alerts`) and paging (`group_limit`, `group_next_token`).
async fn rules(
    State(s): State<AppState>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let query = crate::rules::api::RulesQuery::from_pairs(&pairs)
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    let groups = s
        .rules
        .as_ref()
        .map(|r| r.groups_snapshot())
        .unwrap_or_default();
    let data = crate::rules::api::rules_json(&groups, &query)
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    // Rule files the last reload rejected (the groups above are the ones still running):
    // Prometheus' `warnings` field, which clients already show beside the data.
    let warnings: Vec<String> = s
        .rules
        .as_ref()
        .and_then(|r| r.reload_status().last_failure)
        .map(|f| {
            vec![format!(
                "rule files rejected at {}; the previous rules keep running: {}",
                crate::timefmt::rfc3339_nanos(f.at),
                f.error
            )]
        })
        .unwrap_or_default();
    Ok(success(data, &warnings, &[]))
}

/// `GET /api/v1/alerts`: every pending and firing alert.
async fn alerts(State(s): State<AppState>) -> Response {
    let groups = s
        .rules
        .as_ref()
        .map(|r| r.groups_snapshot())
        .unwrap_or_default();
    success(crate::rules::api::alerts_json(&groups), &[], &[])
}

#[derive(Deserialize)]
struct TargetsParams {
    state: Option<String>,
    #[serde(rename = "scrapePool")]
    scrape_pool: Option<String>,
}

/// `GET /api/v1/targets`, shaped as Prometheus answers it.
async fn targets(
    State(s): State<AppState>,
    Query(p): Query<TargetsParams>,
) -> Result<Response, ApiError> {
    let state = p.state.as_deref().unwrap_or("any").to_ascii_lowercase();
    let (want_active, want_dropped) = match state.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid state {other:?}: expected active, dropped or any"
            )))
        }
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = Map::new();
    for (job, pool) in s.targets.snapshot() {
        if p.scrape_pool.as_deref().is_some_and(|want| want != job) {
            continue;
        }
        dropped_counts.insert(job.clone(), json!(pool.dropped.len()));
        if want_active {
            for t in &pool.active {
                let st = t.status();
                let spec = &t.spec;
                active.push(json!({
                    "discoveredLabels": labels_json(&t.discovered_labels()),
                    "labels": labels_json(&spec.labels),
                    "scrapePool": job,
                    "scrapeUrl": spec.url,
                    "globalUrl": spec.url,
                    "lastError": st.last_error,
                    "lastScrape": st.last_scrape.map(rfc3339_nanos)
                        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
                    "lastScrapeDuration": st.last_scrape_duration.as_secs_f64(),
                    "health": st.health.as_str(),
                    "scrapeInterval": format_duration(spec.interval),
                    "scrapeTimeout": format_duration(spec.timeout),
                }));
            }
        }
        if want_dropped {
            for d in &pool.dropped {
                dropped.push(json!({"discoveredLabels": labels_json(d), "scrapePool": job}));
            }
        }
    }
    Ok(success(
        json!({
            "activeTargets": active,
            "droppedTargets": dropped,
            "droppedTargetCounts": dropped_counts,
        }),
        &[],
        &[],
    ))
}
