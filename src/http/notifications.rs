//! The notification history over HTTP: `GET /api/v1/notifications` (every notification
//! attempt and suppression, filtered and paged) and `GET /api/v1/alerts/{fingerprint}/timeline`
//! (one alert's story: pending, firing, its route, its group's flushes, notifications and
//! their outcomes, suppressions, resolution). The dashboard's `/notifications` and
//! `/alerts/{fingerprint}` pages render the same data ([`history_page`], [`timeline`]).
//!
//! Filters of `/api/v1/notifications`, as the other `/api/v1` lists take them: `receiver`,
//! `owner`, `alertname` (exact values; an entry passes when one of its alerts has the owner or
//! name), `match[]` (Prometheus series selectors over the alerts' labels, repeatable: an entry
//! passes when one of its alerts matches one selector), `start`/`end` (RFC 3339 or Unix
//! seconds). Paging: `limit` (default 100, at most 1000; larger is lowered) and
//! `next_token`, the answer's `nextToken`, absent on the last page. Newest first.

use super::api::{success, ApiError, ApiErrorKind};
use super::AppState;
use crate::alerting::history::HistoryError;
use crate::alerting::{fingerprint_hex, Alert};
use crate::state::history::{HistoryPage, HistoryQuery, HistoryRow};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeSet;

/// Entries in one answer when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`; a larger one is lowered to it.
pub const MAX_LIMIT: usize = 1000;
/// Entries of one alert (and of its groups) a timeline reads at most.
const TIMELINE_ENTRIES: usize = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/alerts/{fingerprint}/timeline", get(timeline_api))
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    crate::timefmt::rfc3339_nanos(t)
}

/// Why a history request failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryRequestError {
    #[error("{0}")]
    BadParam(String),
    #[error("no alerting pipeline runs in this process")]
    NoPipeline,
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl From<HistoryRequestError> for ApiError {
    fn from(e: HistoryRequestError) -> ApiError {
        let kind = match &e {
            HistoryRequestError::BadParam(_) => ApiErrorKind::BadData,
            HistoryRequestError::NoPipeline
            | HistoryRequestError::History(HistoryError::Disabled) => ApiErrorKind::Unavailable,
            HistoryRequestError::History(HistoryError::State(_)) => ApiErrorKind::Internal,
        };
        ApiError {
            kind,
            message: e.to_string(),
        }
    }
}

/// The history query of a request's parameters (see the module documentation).
pub fn parse_query(pairs: &[(String, String)]) -> Result<HistoryQuery, HistoryRequestError> {
    let bad = HistoryRequestError::BadParam;
    let mut q = HistoryQuery {
        limit: DEFAULT_LIMIT,
        ..HistoryQuery::default()
    };
    for (k, v) in pairs {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "receiver" => q.receiver = Some(v.to_string()),
            "owner" => q.owner = Some(v.to_string()),
            "alertname" => q.alertname = Some(v.to_string()),
            "match[]" => q.matchers.extend(
                crate::promql::parse_selector(v).map_err(|e| bad(format!("match[]: {e}")))?,
            ),
            "start" | "end" => {
                let t = super::params::parse_time(v).map_err(|e| bad(format!("{k}: {e}")))?;
                if k == "start" {
                    q.start_ms = Some(t);
                } else {
                    q.end_ms = Some(t);
                }
            }
            "limit" => {
                q.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        bad(format!(
                            "limit: expected a positive whole number, got {v:?}"
                        ))
                    })?
                    .min(MAX_LIMIT)
            }
            "next_token" => {
                q.before_id = Some(
                    v.parse::<i64>()
                        .map_err(|_| bad(format!("next_token: not a token of this API: {v:?}")))?,
                )
            }
            _ => {}
        }
    }
    if let (Some(s), Some(e)) = (q.start_ms, q.end_ms) {
        if e < s {
            return Err(bad("end: before start".into()));
        }
    }
    Ok(q)
}

/// One history entry as JSON.
pub fn entry_json(e: &HistoryRow) -> Json {
    let integration = e.integration.split_once('[').and_then(|(name, rest)| {
        let index: u32 = rest.strip_suffix(']')?.parse().ok()?;
        Some(json!({"name": name, "index": index}))
    });
    let alerts: Vec<Json> = e
        .alerts
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("fingerprint".into(), json!(a.fingerprint));
            m.insert("status".into(), json!(a.status));
            m.insert("alertname".into(), json!(a.alertname));
            m.insert("owner".into(), json!(a.owner));
            m.insert(
                "labels".into(),
                serde_json::from_str(&a.labels_json).unwrap_or(Json::Null),
            );
            if let Some(s) = &a.suppressed_by_json {
                m.insert(
                    "suppressedBy".into(),
                    serde_json::from_str(s).unwrap_or(Json::Null),
                );
            }
            Json::Object(m)
        })
        .collect();
    let attempts: Vec<Json> = e
        .attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "time": rfc3339(a.at_ms),
                "durationMs": a.duration_ms,
                "outcome": if a.error.is_some() { "failed" } else { "delivered" },
                "error": a.error,
            })
        })
        .collect();
    json!({
        "id": e.id,
        "time": rfc3339(e.at_ms),
        "kind": e.kind,
        "groupKey": e.group_key,
        "receiver": e.receiver,
        "integration": integration,
        "reason": e.reason,
        "outcome": e.outcome,
        "error": e.error,
        "retried": e.attempts.len() > 1,
        "attempts": attempts,
        "idempotencyKey": e.idempotency_key,
        "replayed": e.replayed,
        "finishedAt": e.finished_at_ms.map(rfc3339),
        "detail": e.detail_json.as_deref().and_then(|d| serde_json::from_str::<Json>(d).ok()),
        "alerts": alerts,
    })
}

/// One page of the history a request selects.
pub async fn history_page(
    s: &AppState,
    pairs: &[(String, String)],
) -> Result<(HistoryQuery, HistoryPage), HistoryRequestError> {
    let q = parse_query(pairs)?;
    let p = s.alerting.as_ref().ok_or(HistoryRequestError::NoPipeline)?;
    let page = p.history().query(q.clone()).await?;
    Ok((q, page))
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `GET /api/v1/notifications`.
async fn notifications(
    State(s): State<AppState>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let (_, page) = history_page(&s, &query_pairs(q.as_deref())).await?;
    let entries: Vec<Json> = page.entries.iter().map(entry_json).collect();
    let mut data = json!({ "notifications": entries });
    if let Some(next) = page.next_before_id {
        data["nextToken"] = json!(next.to_string());
    }
    Ok(success(data, &[], &[]))
}

/// What raised an alert: the rule (from the rules runtime, while it holds the alert) or the
/// SLO (an `slo` label), with links.
fn source_json(
    s: &AppState,
    labels: &crate::store::Labels,
    generator_url: &str,
    origin: Option<&crate::state::history::OriginRow>,
) -> (Json, Vec<Json>) {
    let mut events = Vec::new();
    if let Some(slo) = labels.get("slo") {
        let name = slo.to_string();
        return (
            json!({"kind": "slo", "slo": name, "link": format!("/slos/{}", super::dashboard::urlencode(&name))}),
            events,
        );
    }
    let rule = s.rules.as_ref().and_then(|r| {
        r.groups_snapshot().into_iter().find_map(|g| {
            g.alerts.into_iter().find_map(|(rule, a)| {
                a.labels
                    .iter()
                    .all(|l| labels.get(&l.name) == Some(&*l.value))
                    .then(|| {
                        (
                            g.group.name.clone(),
                            g.group.file.display().to_string(),
                            rule,
                            a,
                        )
                    })
            })
        })
    });
    match rule {
        Some((group, file, rule, a)) => {
            events.push(json!({"event": "pending", "time": rfc3339(a.active_at_ms), "timeMs": a.active_at_ms, "value": a.value}));
            if let Some(t) = a.fired_at_ms {
                events.push(
                    json!({"event": "firing", "time": rfc3339(t), "timeMs": t, "value": a.value}),
                );
            }
            if let Some(t) = a.resolved_at_ms {
                events.push(json!({"event": "resolved", "time": rfc3339(t), "timeMs": t}));
            }
            (
                json!({"kind": "rule", "rule": rule, "group": group, "file": file, "value": a.value,
                       "link": "/rules", "expression": (!generator_url.is_empty()).then_some(generator_url)}),
                events,
            )
        }
        None if origin.is_some() => {
            let Some(o) = origin else {
                return (json!({"kind": "api"}), events);
            };
            events.push(json!({"event": "pending", "time": rfc3339(o.pending_at_ms), "timeMs": o.pending_at_ms}));
            if let Some(t) = o.firing_at_ms {
                events.push(
                    json!({"event": "firing", "time": rfc3339(t), "timeMs": t, "value": o.value}),
                );
            }
            if let Some(t) = o.resolved_at_ms {
                events.push(json!({"event": "resolved", "time": rfc3339(t), "timeMs": t}));
            }
            (
                json!({"kind": "rule", "rule": o.rule, "expr": o.expr, "value": o.value,
                       "link": "/rules", "expression": (!generator_url.is_empty()).then_some(generator_url)}),
                events,
            )
        }
        None if !generator_url.is_empty() => {
            (json!({"kind": "rule", "expression": generator_url}), events)
        }
        None => (json!({"kind": "api"}), events),
    }
}

/// The acknowledgements of the alert's groups, as timeline events. Hook for the
/// acknowledgement table: none exists in this build, so there are none.
fn ack_events(_s: &AppState, _group_keys: &BTreeSet<String>) -> Vec<Json> {
    Vec::new()
}

/// The timeline of the alert with fingerprint `fp_hex` (16 hex digits): `None` when neither
/// the pipeline nor the history knows it.
pub async fn timeline(s: &AppState, fp_hex: &str) -> Result<Option<Json>, HistoryRequestError> {
    let fp = crate::alerting::alert::parse_fingerprint(fp_hex).ok_or_else(|| {
        HistoryRequestError::BadParam(format!(
            "fingerprint: expected 16 hex digits, got {fp_hex:?}"
        ))
    })?;
    let p = s.alerting.as_ref().ok_or(HistoryRequestError::NoPipeline)?;
    let history = p.history();
    let own = history
        .query(HistoryQuery {
            fingerprint: Some(fingerprint_hex(fp)),
            limit: TIMELINE_ENTRIES,
            ..HistoryQuery::default()
        })
        .await?;
    let alert: Option<Alert> = p.alert(fp);
    let labels = match &alert {
        Some(a) => a.labels.clone(),
        None => {
            let Some(labels_json) = own
                .entries
                .iter()
                .flat_map(|e| e.alerts.iter())
                .find(|a| a.fingerprint == fingerprint_hex(fp))
                .map(|a| a.labels_json.clone())
            else {
                return Ok(None);
            };
            let map: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&labels_json).unwrap_or_default();
            crate::store::Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
    };
    let now = p.now_ms();
    let config = p.config();
    // The route path under the configuration in force.
    let mut group_keys: BTreeSet<String> = BTreeSet::new();
    let route: Vec<Json> = config
        .destinations(&labels)
        .iter()
        .map(|d| {
            let key = crate::config::alertmanager::route::group_key(
                d.route,
                &d.route.group_labels(&labels),
            );
            group_keys.insert(key.clone());
            json!({
                "route": d.route.config_path(),
                "receiver": d.receiver,
                "continue": d.route.continue_matching,
                "groupKey": key,
                "groupBy": crate::http::api::labels_json(&d.route.group_labels(&labels)),
                "receiverChosenBy": format!("{:?}", d.chosen_by),
            })
        })
        .collect();
    group_keys.extend(own.entries.iter().map(|e| e.group_key.clone()));
    let groups = history
        .query(HistoryQuery {
            group_keys: group_keys.iter().cloned().collect(),
            limit: TIMELINE_ENTRIES,
            ..HistoryQuery::default()
        })
        .await?;
    let generator_url = alert.as_ref().map_or("", |a| a.generator_url.as_str());
    let origin = history.origin(fp).await?;
    let (source, mut events) = source_json(s, &labels, generator_url, origin.as_ref());
    if let Some(a) = &alert {
        if !events.iter().any(|e| e["event"] == "firing") {
            events.push(json!({"event": "firing", "time": rfc3339(a.starts_at_ms), "timeMs": a.starts_at_ms}));
        }
        if a.resolved_at(now) && !events.iter().any(|e| e["event"] == "resolved") {
            events.push(
                json!({"event": "resolved", "time": rfc3339(a.ends_at_ms), "timeMs": a.ends_at_ms}),
            );
        }
    }
    let hex = fingerprint_hex(fp);
    let mut flushes: BTreeSet<(i64, String, String)> = BTreeSet::new();
    for e in &groups.entries {
        flushes.insert((e.at_ms, e.group_key.clone(), e.receiver.clone()));
    }
    for (t, key, receiver) in &flushes {
        events.push(json!({"event": "flush", "time": rfc3339(*t), "timeMs": t, "groupKey": key, "receiver": receiver}));
    }
    let mut notifications = Vec::new();
    for e in own.entries.iter().rev() {
        let mine = e.alerts.iter().find(|a| a.fingerprint == hex);
        let status = mine.map_or("", |a| a.status.as_str());
        let event = if e.kind == "notification" {
            if status == "resolved" {
                "resolved_notification"
            } else {
                "notification"
            }
        } else {
            "suppressed"
        };
        let mut ev = json!({
            "event": event,
            "time": rfc3339(e.at_ms),
            "timeMs": e.at_ms,
            "id": e.id,
            "groupKey": e.group_key,
            "receiver": e.receiver,
            "integration": e.integration,
            "reason": e.reason,
            "outcome": e.outcome,
            "attempts": e.attempts.len(),
            "error": e.error,
        });
        if let Some(by) = mine.and_then(|a| a.suppressed_by_json.as_deref()) {
            ev["suppressedBy"] = serde_json::from_str(by).unwrap_or(Json::Null);
        } else if let Some(d) = e.detail_json.as_deref() {
            ev["suppressedBy"] = serde_json::from_str(d).unwrap_or(Json::Null);
        }
        events.push(ev);
        notifications.push(entry_json(e));
    }
    events.extend(ack_events(s, &group_keys));
    // Stable: the same instant keeps pending < firing < flush < notification order.
    events.sort_by_key(|e| e["timeMs"].as_i64().unwrap_or(0));
    let name = labels.get("alertname").unwrap_or("").to_string();
    let annotations = alert
        .as_ref()
        .map(|a| a.annotations.clone())
        .unwrap_or_default();
    let state = match &alert {
        Some(a) if a.resolved_at(now) => "resolved",
        Some(a) => {
            let st = p.statuses().of(a, now);
            if !st.silenced_by.is_empty() {
                "silenced"
            } else if !st.inhibited_by.is_empty() {
                "inhibited"
            } else {
                "firing"
            }
        }
        None => "unknown",
    };
    Ok(Some(json!({
        "fingerprint": hex,
        "alertname": name,
        "state": state,
        "labels": crate::http::api::labels_json(&labels),
        "annotations": crate::http::api::labels_json(&annotations),
        "startsAt": alert.as_ref().map(|a| rfc3339(a.starts_at_ms)),
        "endsAt": alert.as_ref().map(|a| rfc3339(a.ends_at_ms)),
        "source": source,
        // The playbook link the pages use, else redline's playbook page for the name (its
        // index when there is none), so the playbook is one click away.
        "playbookURL": super::dashboard::playbook_link(s, &name, &annotations)
            .unwrap_or_else(|| format!("/playbooks/{}", super::dashboard::urlencode(&name))),
        "route": route,
        "events": events,
        "notifications": notifications,
    })))
}

/// `GET /api/v1/alerts/{fingerprint}/timeline`.
async fn timeline_api(
    State(s): State<AppState>,
    Path(fp): Path<String>,
) -> Result<Response, ApiError> {
    match timeline(&s, &fp).await? {
        Some(t) => Ok(success(t, &[], &[])),
        None => Err(ApiError {
            kind: ApiErrorKind::NotFound,
            message: format!("no alert with fingerprint {fp} is held or in the history"),
        }),
    }
}
