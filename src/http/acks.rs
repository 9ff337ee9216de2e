//! `/api/v1/acks`: acknowledgements of firing aggregation groups ([`crate::alerting::ack`]),
//! in the Prometheus API's envelope.
//!
//! - `POST /api/v1/acks` (`application/json`): exactly one of `groupKey` (a group key as the
//!   payloads' `groupKey`), `fingerprint` (16 hex digits: the groups the alert fires in) or
//!   `matchers` (a list of matchers such as `"alertname=\"Down\""`: the groups in which an
//!   alert matching all of them fires); `createdBy`; `comment` (optional); exactly one of
//!   `endsAt` (RFC 3339) or `duration` (`2h`). Answers the new acknowledgements, one per
//!   group; 400 naming the field for invalid input, 404 when no firing group matches.
//! - `GET /api/v1/acks` (optional `groupKey` or `fingerprint` filter): every
//!   acknowledgement, ended ones within the retention included, newest first.
//! - `DELETE /api/v1/acks/{id}`: ends an active acknowledgement now.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::api::{success, ApiError, ApiErrorKind};
use super::AppState;
use crate::alerting::acknowledge::AckTarget;
use crate::alerting::{fingerprint_hex, Ack, AckError, Pipeline};
use crate::timefmt::rfc3339_nanos;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/acks", get(list).post(create))
        .route("/api/v1/acks/{id}", delete(expire))
}

/// An acknowledgement as the API and the pages show it.
pub fn ack_json(a: &Ack, now_ms: i64) -> Value {
    let time = |ms: i64| {
        rfc3339_nanos(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
    };
    json!({
        "id": a.id,
        "groupKey": a.group_key,
        "receiver": a.receiver,
        "fingerprints": a.fingerprints.iter().map(|f| fingerprint_hex(*f)).collect::<Vec<_>>(),
        "createdBy": a.created_by,
        "comment": a.comment,
        "createdAt": time(a.created_at_ms),
        "endsAt": time(a.ends_at_ms),
        "updatedAt": time(a.updated_at_ms),
        "state": a.state(now_ms),
        "endedBy": a.ended_by.map(|e| e.as_str()),
    })
}

fn err(kind: ApiErrorKind, message: impl Into<String>) -> Response {
    ApiError {
        kind,
        message: message.into(),
    }
    .into_response()
}

fn bad(message: impl Into<String>) -> Response {
    err(ApiErrorKind::BadData, message)
}

fn pipeline(s: &AppState) -> Result<&Pipeline, Box<Response>> {
    s.alerting.as_ref().ok_or_else(|| {
        Box::new(err(
            ApiErrorKind::Unavailable,
            "acknowledgements need the alerting pipeline: the configuration has no alertmanager section",
        ))
    })
}

fn ack_error(e: AckError) -> Response {
    match e {
        AckError::Invalid { .. } | AckError::AlreadyEnded(_) => bad(e.to_string()),
        AckError::NoGroup(_) | AckError::NotFound(_) => err(ApiErrorKind::NotFound, e.to_string()),
        AckError::Corrupt { .. } | AckError::State(_) => err(ApiErrorKind::Internal, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostableAck {
    group_key: Option<String>,
    fingerprint: Option<String>,
    matchers: Option<Vec<String>>,
    created_by: Option<String>,
    comment: Option<String>,
    ends_at: Option<String>,
    duration: Option<String>,
}

/// The request's target and end, or the 400 naming the field.
fn validate(p: &PostableAck, now_ms: i64) -> Result<(AckTarget, i64), String> {
    let named = [
        p.group_key.is_some(),
        p.fingerprint.is_some(),
        p.matchers.is_some(),
    ];
    if named.iter().filter(|x| **x).count() != 1 {
        return Err(
            "groupKey, fingerprint, matchers: exactly one is required to name the group".into(),
        );
    }
    let target = if let Some(k) = &p.group_key {
        if k.is_empty() {
            return Err("groupKey: must not be empty".into());
        }
        AckTarget::GroupKey(k.clone())
    } else if let Some(f) = &p.fingerprint {
        let fp = crate::alerting::alert::parse_fingerprint(f)
            .ok_or_else(|| format!("fingerprint: expected 16 hex digits, got {f:?}"))?;
        AckTarget::Fingerprint(fp)
    } else {
        let texts = p.matchers.as_deref().unwrap_or_default();
        if texts.is_empty() {
            return Err("matchers: expected at least one matcher, e.g. alertname=\"Down\"".into());
        }
        let mut ms = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            let m = crate::config::alertmanager::matchers::parse_matcher(t.trim())
                .map_err(|e| format!("matchers[{i}]: {e}"))?;
            ms.push(m);
        }
        if ms.iter().all(|m| m.matches("")) {
            return Err("matchers: at least one matcher must not match the empty string".into());
        }
        AckTarget::Matchers(ms)
    };
    let ends = match (&p.ends_at, &p.duration) {
        (Some(t), None) => crate::timefmt::parse_unix_or_rfc3339(t)
            .ok_or_else(|| format!("endsAt: expected an RFC 3339 time, got {t:?}"))?,
        (None, Some(d)) => {
            let d = crate::timefmt::parse_duration(d).map_err(|e| format!("duration: {e}"))?;
            if d.is_zero() {
                return Err("duration: must be more than 0".into());
            }
            now_ms.saturating_add(d.as_millis().min(i64::MAX as u128) as i64)
        }
        _ => return Err("endsAt, duration: exactly one is required".into()),
    };
    if ends <= now_ms {
        return Err("endsAt: must be in the future".into());
    }
    Ok((target, ends))
}

async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match pipeline(&s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if let Some(refused) = super::alertmanager::json_refusal(&headers) {
        return refused;
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let posted: PostableAck = match serde_path_to_error::deserialize(de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            return if path == "." {
                bad(format!("ack: {}", e.into_inner()))
            } else {
                bad(format!("{path}: {}", e.into_inner()))
            };
        }
    };
    let now = p.now_ms();
    let (target, ends) = match validate(&posted, now) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let created_by = posted.created_by.unwrap_or_default();
    if created_by.trim().is_empty() {
        return bad("createdBy: required: who acknowledges the group");
    }
    let comment = posted.comment.unwrap_or_default();
    match p.acknowledge(target, created_by, comment, ends).await {
        Ok(made) => {
            let now = p.now_ms();
            success(
                Value::Array(made.iter().map(|a| ack_json(a, now)).collect()),
                &[],
                &[],
            )
        }
        Err(e) => ack_error(e),
    }
}

async fn list(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let p = match pipeline(&s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let acks = if let Some(k) = q.get("groupKey") {
        p.acks().of_group(k)
    } else if let Some(f) = q.get("fingerprint") {
        match crate::alerting::alert::parse_fingerprint(f) {
            Some(fp) => p.acks().of_alert(fp),
            None => return bad(format!("fingerprint: expected 16 hex digits, got {f:?}")),
        }
    } else {
        p.acks().list()
    };
    let now = p.now_ms();
    success(
        Value::Array(acks.iter().map(|a| ack_json(a, now)).collect()),
        &[],
        &[],
    )
}

async fn expire(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let p = match pipeline(&s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match p.acks().expire(&id, p.now_ms()).await {
        Ok(a) => success(ack_json(&a, p.now_ms()), &[], &[]),
        Err(e) => ack_error(e),
    }
}
