//! `/api/v1/explain`: "why was I (not) paged?" for a label set or an alert
//! ([`crate::alerting::explain`]), in the Prometheus-style envelope.
//!
//! - `GET /api/v1/explain?alertname=Down&severity=page`: each query parameter is a label;
//! - `GET /api/v1/explain?fingerprint=<16 hex digits>`: the pipeline's alert with that
//!   fingerprint (then no other parameter is allowed; a label named `fingerprint` is
//!   explained with `POST`);
//! - `POST /api/v1/explain` with `{"labels": {...}}` or `{"fingerprint": "..."}`.
//!
//! A label given twice, a fingerprint that is not 16 hex digits or a body that does not
//! decode is `bad_data` (400); an unknown fingerprint is `not_found` (404); without an
//! alerting pipeline in the process, `unavailable` (503).

use super::api::{success, ApiError, ApiErrorKind};
use super::AppState;
use crate::alerting::explain::{explain_pipeline, ExplainError, Explanation, Target};
use crate::store::Labels;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The explain routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/explain", get(explain_get).post(explain_post))
}

/// The target of a `GET` query string (see the module documentation).
pub fn target_of_query(query: &str) -> Result<Target, String> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some((_, fp)) = pairs.iter().find(|(k, _)| k == "fingerprint") {
        if pairs.len() > 1 {
            return Err(
                "fingerprint cannot be combined with labels (POST {\"labels\": …} explains a label named fingerprint)"
                    .to_string(),
            );
        }
        return Ok(Target::Fingerprint(fp.clone()));
    }
    let mut seen = BTreeMap::new();
    for (k, v) in &pairs {
        if k.is_empty() {
            return Err("empty label name".to_string());
        }
        if seen.insert(k.as_str(), v.as_str()).is_some() {
            return Err(format!("label {k:?} is given more than once"));
        }
    }
    Ok(Target::Labels(Labels::from_pairs(seen)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainBody {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    fingerprint: Option<String>,
}

fn answer(s: &AppState, target: Result<Target, String>) -> Response {
    let target = match target {
        Ok(t) => t,
        Err(e) => return ApiError::bad_data(e).into_response(),
    };
    let Some(p) = &s.alerting else {
        return ApiError {
            kind: ApiErrorKind::Unavailable,
            message: "no alerting pipeline runs in this process".into(),
        }
        .into_response();
    };
    match explain_pipeline(p, &target) {
        Ok(ex) => success(explanation_json(&ex), &[], &[]),
        Err(e @ ExplainError::InvalidFingerprint(_)) => {
            ApiError::bad_data(e.to_string()).into_response()
        }
        Err(e @ ExplainError::UnknownAlert(_)) => ApiError {
            kind: ApiErrorKind::NotFound,
            message: e.to_string(),
        }
        .into_response(),
    }
}

fn explanation_json(ex: &Explanation) -> serde_json::Value {
    // Plain structs of strings, numbers and maps: serializing cannot fail.
    serde_json::to_value(ex).unwrap_or(serde_json::Value::Null)
}

async fn explain_get(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    answer(&s, target_of_query(q.as_deref().unwrap_or("")))
}

async fn explain_post(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let target = serde_json::from_slice::<ExplainBody>(&body)
        .map_err(|e| format!("invalid body: {e}"))
        .and_then(|b| match (b.labels, b.fingerprint) {
            (Some(_), Some(_)) => Err("give labels or fingerprint, not both".to_string()),
            (None, Some(fp)) => Ok(Target::Fingerprint(fp)),
            (Some(l), None) => Ok(Target::Labels(Labels::from_pairs(l))),
            (None, None) => Err("give labels or fingerprint".to_string()),
        });
    answer(&s, target)
}

/// Why `redline explain` could not get an explanation from a server.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid --url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("asking {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: the answer is not an explanation: {reason}")]
    Decode { url: String, reason: String },
}

/// Asks the redline at `base_url` (`http://host:port`, optionally with `user:password@`
/// for basic auth and a path prefix) to explain `target`: `POST /api/v1/explain`.
pub async fn fetch(base_url: &str, target: &Target) -> Result<Explanation, FetchError> {
    let bad = |reason: String| FetchError::Url {
        url: base_url.to_string(),
        reason,
    };
    let base = reqwest::Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(bad("expected http://host:port or https://host:port".into()));
    }
    let url = format!("{}/api/v1/explain", base.as_str().trim_end_matches('/'));
    let shown = {
        let mut u = base.clone();
        let _ = u.set_password(None);
        let _ = u.set_username("");
        format!("{}/api/v1/explain", u.as_str().trim_end_matches('/'))
    };
    let body = match target {
        Target::Labels(l) => serde_json::json!({ "labels": super::api::labels_json(l) }),
        Target::Fingerprint(fp) => serde_json::json!({ "fingerprint": fp }),
    };
    crate::install_crypto_provider();
    let request = |source| FetchError::Request {
        url: shown.clone(),
        source,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(request)?;
    let resp = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(request)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(request)?;
    let decoded: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => {
            return Err(FetchError::Refused {
                url: shown,
                status,
                message: text.trim().chars().take(300).collect(),
            })
        }
    };
    if decoded["status"] != "success" {
        return Err(FetchError::Refused {
            url: shown,
            status,
            message: decoded["error"]
                .as_str()
                .unwrap_or("no error message")
                .to_string(),
        });
    }
    serde_json::from_value(decoded["data"].clone()).map_err(|e| FetchError::Decode {
        url: shown,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_name_labels_or_one_fingerprint() {
        assert_eq!(
            target_of_query("alertname=Down&severity=page").unwrap(),
            Target::Labels(Labels::from_pairs([
                ("alertname", "Down"),
                ("severity", "page")
            ]))
        );
        assert_eq!(
            target_of_query("fingerprint=0123456789abcdef").unwrap(),
            Target::Fingerprint("0123456789abcdef".into())
        );
        assert!(target_of_query("fingerprint=1&a=b")
            .unwrap_err()
            .contains("cannot be combined"));
        assert_eq!(
            target_of_query("a=1&a=2").unwrap_err(),
            "label \"a\" is given more than once"
        );
        assert_eq!(
            target_of_query("").unwrap(),
            Target::Labels(Labels::empty())
        );
    }
}
