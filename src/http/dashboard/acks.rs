//! Acknowledgements on the dashboard: the "Acknowledge" form of a firing alert on `/alerts`
//! (`POST /acks`, CSRF-checked: who, comment, expiry; it acknowledges every group the alert
//! fires in) and the acknowledgement shown on the alert's row ([`annotate_row`]).

use super::ops::{csrf_refusal, AlertEntry};
use super::PageCtx;
use crate::alerting::acknowledge::AckTarget;
use crate::alerting::fingerprint_hex;
use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// Adds to an alert's row its fingerprint (pipeline alerts that fire: what the form
/// acknowledges) and the active acknowledgement that covers it, if any.
pub fn annotate_row(row: &mut Json, s: &AppState, entry: &AlertEntry, ctx: &PageCtx) {
    let (Some(p), Some(fp), Json::Object(row)) = (s.alerting.as_ref(), entry.fingerprint(), row)
    else {
        return;
    };
    let now = p.now_ms();
    if let Some(a) = p.acks().of_alert(fp).into_iter().find(|a| a.is_active(now)) {
        row.insert(
            "ack".into(),
            json!({
                "created_by": a.created_by,
                "comment": a.comment,
                "until": ctx.time(a.ends_at_ms),
            }),
        );
    } else if entry.state == "firing" {
        row.insert("fingerprint".into(), json!(fingerprint_hex(fp)));
    }
}

/// `POST /acks`: acknowledges the groups a firing alert is in, from the form on `/alerts`.
pub async fn create_ack(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = csrf_refusal(&s.web, &ctx, &form) {
        return r;
    }
    let Some(p) = s.alerting.as_ref() else {
        return ctx.message(
            StatusCode::NOT_FOUND,
            "Not acknowledged",
            "acknowledgements need the alerting pipeline: the configuration has no alertmanager section",
        );
    };
    let field = |n: &str| {
        form.get(n)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let refuse = |m: &str| ctx.message(StatusCode::BAD_REQUEST, "Invalid acknowledgement", m);
    let fp = field("fingerprint");
    let Some(fp) = crate::alerting::alert::parse_fingerprint(&fp) else {
        return refuse(&format!("fingerprint: expected 16 hex digits, got {fp:?}"));
    };
    let duration = match field("duration") {
        d if d.is_empty() => "1h".to_string(),
        d => d,
    };
    let d = match crate::timefmt::parse_duration(&duration) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            return refuse(&format!(
                "duration: expected a duration such as 30m, 2h or 1d, got {duration:?}"
            ))
        }
    };
    // Signed in: the acknowledgement is the user's whatever the form says, as for silences.
    let created_by = match (ctx.identity.display(), field("created_by")) {
        (Some(signed_in), _) => signed_in,
        (None, c) if !c.is_empty() => c,
        _ => return refuse("created_by: expected who acknowledges the alert"),
    };
    let ends = p.now_ms().saturating_add(d.as_millis() as i64);
    match p
        .acknowledge(
            AckTarget::Fingerprint(fp),
            created_by,
            field("comment"),
            ends,
        )
        .await
    {
        Ok(made) => Redirect::to(&format!("/alerts?acked={}", made.len())).into_response(),
        Err(e @ crate::alerting::AckError::NoGroup(_)) => {
            ctx.message(StatusCode::NOT_FOUND, "Not acknowledged", &e.to_string())
        }
        Err(e) => ctx.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not acknowledged",
            &e.to_string(),
        ),
    }
}
