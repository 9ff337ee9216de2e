//! `/api/v1/slos`: every SLO's figures as the SLO engine computed them in its last round.
//!
//! `GET /api/v1/slos` lists each SLO with its attainment, error budget (ratio, events, time),
//! burn rates and time to exhaustion; `GET /api/v1/slos/{service}/{name}` (or `{name}` when
//! unique) adds the budget burn-down over the window and the burn-rate table (each window
//! pair, its factor, the current burn rates, firing or held back). Prometheus-style envelope.

use super::api::{success, ApiError, ApiErrorKind};
use super::AppState;
use crate::slo::engine::SloFigures;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// The SLO routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/slos", get(list))
        .route("/api/v1/slos/{name}", get(one))
        .route("/api/v1/slos/{service}/{name}", get(one_of_service))
}

/// The list entry: everything but the burn-down and hourly SLI lines.
fn summary(f: &SloFigures) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("burn_down");
        o.remove("sli_hourly");
        o.insert("id".into(), json!(format!("{}/{}", f.service, f.name)));
    }
    v
}

fn detail(f: &SloFigures) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(format!("{}/{}", f.service, f.name)));
        for (key, line) in [("burn_down", &f.burn_down), ("sli_hourly", &f.sli_hourly)] {
            o.insert(
                key.into(),
                json!(line
                    .iter()
                    .map(|(t, r)| json!([*t as f64 / 1000.0, r]))
                    .collect::<Vec<_>>()),
            );
        }
    }
    v
}

fn unavailable() -> Response {
    ApiError {
        kind: ApiErrorKind::Unavailable,
        message: "the SLO engine is not running".into(),
    }
    .into_response()
}

async fn list(State(s): State<AppState>) -> Response {
    match &s.slos {
        Some(view) => {
            let all: Vec<Value> = view.list().iter().map(summary).collect();
            success(json!(all), &[], &[])
        }
        None => success(json!([]), &[], &[]),
    }
}

fn found(s: &AppState, id: &str) -> Response {
    let Some(view) = &s.slos else {
        return unavailable();
    };
    match view.get(id) {
        Some(f) => success(detail(&f), &[], &[]),
        None => ApiError {
            kind: ApiErrorKind::NotFound,
            message: format!("no SLO {id:?}: give service/name, or a name that is unique"),
        }
        .into_response(),
    }
}

async fn one(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    found(&s, &name)
}

async fn one_of_service(
    State(s): State<AppState>,
    Path((service, name)): Path<(String, String)>,
) -> Response {
    found(&s, &format!("{service}/{name}"))
}
