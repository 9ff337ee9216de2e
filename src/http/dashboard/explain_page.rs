//! `/explain`: "why was I (not) paged?" on the dashboard ([`crate::alerting::explain`]).
//!
//! A GET form with one text field, `labels` (`{alertname="Down", severity="page"}`, or
//! `name="value"` pairs separated by commas or lines), or `?fingerprint=` for an alert the
//! pipeline holds (the alert list links every alert here). The page shows the summary, the
//! route tree as nested lists with each matcher's verdict, each destination (receiver, owner,
//! group, what the notification log says and the next send), silences and the inhibition.

use super::pages::urlencode;
use super::PageCtx;
use crate::alerting::explain::{explain_pipeline, Explanation, RouteVerdict, RouteVisit, Target};
use crate::config::alertmanager::parse_matchers;
use crate::http::AppState;
use crate::store::{Labels, MatchOp};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

/// Parses the form's label text: `name="value"` pairs, with or without braces, separated by
/// commas or lines. Only `=` is allowed: a label set, not a selector.
pub fn parse_label_text(text: &str) -> Result<Labels, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let matchers = parse_matchers(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        for m in matchers {
            if m.op != MatchOp::Equal {
                return Err(format!(
                    "line {}: {m}: labels are name=\"value\" pairs",
                    i + 1
                ));
            }
            if pairs.iter().any(|(n, _)| *n == m.name) {
                return Err(format!("label {:?} is given more than once", m.name));
            }
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    Ok(Labels::from_pairs(pairs))
}

/// The `/explain` link for an alert with these labels.
pub fn explain_href(labels: &Labels) -> String {
    format!("/explain?labels={}", urlencode(&label_text(labels)))
}

fn label_text(labels: &Labels) -> String {
    crate::config::alertmanager::labelset_string(labels)
}

fn route_model(r: &RouteVisit) -> Json {
    let verdict = match r.verdict {
        RouteVerdict::Matched if r.destination => "destination",
        RouteVerdict::Matched => "matched",
        RouteVerdict::NotMatched => "not-matched",
        RouteVerdict::NotTried => "not-tried",
    };
    json!({
        "path": r.path,
        "selector": r.selector,
        "receiver": r.receiver,
        "continue": r.continue_matching,
        "verdict": verdict,
        "stopped_by": r.stopped_by,
        "matchers": r.matchers,
        "time_intervals": r.time_intervals,
        "has_intervals": !r.time_intervals.is_empty(),
        "muted_now": r.muted_now,
        "routes": r.routes.iter().map(route_model).collect::<Vec<_>>(),
    })
}

/// The page's view model of an explanation, times in the viewer's zone.
pub fn explanation_model(ex: &Explanation, ctx: &PageCtx) -> Json {
    let t = |ms: i64| ctx.time(ms);
    json!({
        "labels": ex.labels.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "fingerprint": ex.fingerprint,
        "at": t(ex.at.0),
        "alert": ex.alert.as_ref().map(|a| json!({
            "state": a.state, "starts_at": t(a.starts_at.0), "ends_at": t(a.ends_at.0),
        })),
        "summary": ex.summary,
        "route": route_model(&ex.route),
        "receivers": ex.receivers.join(","),
        "destinations": ex.destinations.iter().map(|d| json!({
            "route": d.route,
            "receiver": d.receiver,
            "route_receiver": d.route_receiver,
            "chosen_because": d.chosen_because,
            "owner": d.owner,
            "owner_from": d.owner_from,
            "group_by": d.group_by.join(", "),
            "group_key": d.group_key,
            "timing": format!("group_wait {}, group_interval {}, repeat_interval {}", d.group_wait, d.group_interval, d.repeat_interval),
            "muted_by_time": d.muted_by_time,
            "group": d.group.as_ref().map(|g| json!({
                "alerts": g.alerts, "holds_alert": g.holds_alert, "next_flush": t(g.next_flush.0),
            })),
            "integrations": d.integrations.iter().map(|i| json!({
                "integration": i.integration,
                "last_sent": i.last_sent.map(|x| t(x.0)),
                "alert_last_notified": i.alert_last_notified,
                "repeat_due": i.repeat_due.map(|x| t(x.0)),
                "next_send": i.next_send.map(|x| t(x.0)),
                "next_send_reason": i.next_send_reason,
                "note": i.next_send_note,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "silences": ex.silences.iter().map(|s| json!({
            "id": s.id, "created_by": s.created_by, "comment": s.comment,
            "matchers": s.matchers, "ends_at": t(s.ends_at.0),
        })).collect::<Vec<_>>(),
        "inhibition": ex.inhibition.as_ref().map(|i| json!({
            "rule": i.rule,
            "source_fingerprint": i.source_fingerprint,
            "source_labels": label_text(&Labels::from_pairs(i.source_labels.clone())),
            "source_matchers": i.source_matchers,
            "target_matchers": i.target_matchers,
            "equal": i.equal.join(", "),
        })),
    })
}

/// `GET /explain`.
pub async fn explain(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let text = ctx.param("labels").unwrap_or("").to_string();
    let fingerprint = ctx.param("fingerprint").unwrap_or("").trim().to_string();
    let mut data = ctx.layout("Explain", "/explain", None);
    data["labels_text"] = json!(text);
    let target = if !fingerprint.is_empty() {
        Some(Ok(Target::Fingerprint(fingerprint)))
    } else if !text.trim().is_empty() {
        Some(parse_label_text(&text).map(Target::Labels))
    } else {
        None
    };
    let mut status = StatusCode::OK;
    match (target, &s.alerting) {
        (None, _) => {}
        (Some(Err(e)), _) => {
            status = StatusCode::BAD_REQUEST;
            data["error"] = json!(e);
        }
        (Some(Ok(_)), None) => {
            status = StatusCode::SERVICE_UNAVAILABLE;
            data["error"] = json!("no alerting pipeline runs in this process");
        }
        (Some(Ok(t)), Some(p)) => match explain_pipeline(p, &t) {
            Ok(ex) => {
                if data["labels_text"] == json!("") {
                    data["labels_text"] = json!(label_text(&Labels::from_pairs(ex.labels.clone())));
                }
                data["ex"] = explanation_model(&ex, &ctx);
            }
            Err(e) => {
                status = StatusCode::NOT_FOUND;
                data["error"] = json!(e.to_string());
            }
        },
    }
    ctx.respond_status(status, "explain", &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_text_takes_braces_commas_and_lines() {
        let want = Labels::from_pairs([("alertname", "Down"), ("severity", "page")]);
        for text in [
            r#"{alertname="Down", severity="page"}"#,
            "alertname=Down, severity=page",
            "alertname=\"Down\"\nseverity=\"page\"\n",
        ] {
            assert_eq!(parse_label_text(text).unwrap(), want, "{text}");
        }
        assert_eq!(
            parse_label_text(r#"severity=~"p.*""#).unwrap_err(),
            r#"line 1: severity=~"p.*": labels are name="value" pairs"#
        );
        assert!(parse_label_text("a=1\na=2")
            .unwrap_err()
            .contains("more than once"));
        // The alert list's link reads back to the same labels.
        let href = explain_href(&want);
        let text = href.strip_prefix("/explain?labels=").unwrap();
        let decoded: String = form_urlencoded::parse(format!("l={text}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(parse_label_text(&decoded).unwrap(), want);
    }
}
