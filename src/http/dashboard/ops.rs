//! The operational pages: alerts, silences, targets, rules and playbooks.
//!
//! Alerts come from the alerting pipeline (firing, silenced, inhibited) and the rules runtime
//! (pending alerts; all alerts when no pipeline runs in the process). The
//! silence forms POST with the page's CSRF token ([`super::security`]); a POST without a
//! valid token is refused with 403 before anything changes.

use super::markdown;
use super::pages::urlencode;
use super::{PageCtx, WebAccess};
use crate::alerting::matchers::go_quote;
use crate::http::AppState;
use crate::store::Labels;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// One alert as the pages show it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertView {
    pub name: String,
    pub labels: Labels,
    /// `firing`, `pending`, `silenced` or `inhibited`.
    pub state: &'static str,
    pub owner: String,
    pub severity: String,
    pub summary: String,
    /// Link to the playbook, when there is one.
    pub playbook: Option<String>,
    /// Since when (formatted in the viewer's zone).
    pub since: String,
    pub value: f64,
}

impl AlertView {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }

    /// The silence matchers for this alert, one per line (`name="value"`).
    pub fn silence_matchers(&self) -> String {
        self.labels
            .iter()
            .map(|l| format!("{}={}", l.name, go_quote(&l.value)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The view model of the alert's row.
    pub fn row(&self) -> Json {
        json!({
            "name": self.name,
            "state": self.state,
            "owner": self.owner,
            "severity": self.severity,
            "summary": self.summary,
            "playbook": self.playbook,
            "since": self.since,
            "labels": self.labels.iter().filter(|l| &*l.name != "alertname").map(|l| json!({"name": &*l.name, "value": &*l.value})).collect::<Vec<_>>(),
            "matchers": self.silence_matchers(),
        })
    }
}

/// The playbook link of an alert: its `runbook_url`/`playbook_url` annotation when it is an
/// http(s) or site-relative link, else `/playbooks/<alertname>` when that playbook exists.
fn playbook_link(s: &AppState, name: &str, annotations: &Labels) -> Option<String> {
    for key in ["playbook_url", "runbook_url"] {
        if let Some(u) = annotations.get(key) {
            if u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/') {
                return Some(u.to_string());
            }
        }
    }
    let dir = s.playbooks_dir.as_ref()?;
    valid_name(name)
        .then(|| dir.join(format!("{name}.md")))
        .filter(|p| p.is_file())
        .map(|_| format!("/playbooks/{}", urlencode(name)))
}

fn owner_of(labels: &Labels, receivers: &[String]) -> String {
    labels
        .get("owner")
        .or(labels.get("team"))
        .map(str::to_string)
        .or_else(|| receivers.first().cloned())
        .unwrap_or_default()
}

/// The alerts to show, firing first: with an alerting pipeline, its unresolved alerts with
/// their status (firing, silenced or inhibited) plus the rules' pending alerts; without one,
/// the rules' pending and firing alerts.
pub fn alert_views(s: &AppState, ctx: &PageCtx) -> Vec<AlertView> {
    let mut out = Vec::new();
    if let Some(p) = s.alerting.as_ref() {
        let now = p.now_ms();
        let (config, silences, inhibitor) = (p.config(), p.silences(), p.inhibitor());
        for a in p.alerts().into_iter().filter(|a| !a.resolved_at(now)) {
            let st = crate::alerting::alert_status(&a, &config, silences, &inhibitor, now);
            let state = if !st.silenced_by.is_empty() {
                "silenced"
            } else if !st.inhibited_by.is_empty() {
                "inhibited"
            } else {
                "firing"
            };
            let name = a.labels.get("alertname").unwrap_or("").to_string();
            out.push(AlertView {
                playbook: playbook_link(s, &name, &a.annotations),
                owner: owner_of(&a.labels, &st.receivers),
                severity: a.labels.get("severity").unwrap_or("").to_string(),
                summary: summary_of(&a.annotations),
                since: ctx.time(a.starts_at_ms),
                value: f64::NAN,
                labels: a.labels,
                state,
                name,
            });
        }
    }
    let pipeline = s.alerting.is_some();
    if let Some(rules) = s.rules.as_ref() {
        for g in rules.groups_snapshot() {
            for (rule, a) in &g.alerts {
                let state = match a.state {
                    crate::rules::AlertState::Firing if !pipeline => "firing",
                    crate::rules::AlertState::Pending => "pending",
                    _ => continue,
                };
                let name = a.labels.get("alertname").unwrap_or(rule).to_string();
                out.push(AlertView {
                    playbook: playbook_link(s, &name, &a.annotations),
                    owner: owner_of(&a.labels, &[]),
                    severity: a.labels.get("severity").unwrap_or("").to_string(),
                    summary: summary_of(&a.annotations),
                    since: ctx.time(a.fired_at_ms.unwrap_or(a.active_at_ms)),
                    labels: a.labels.clone(),
                    value: a.value,
                    state,
                    name,
                });
            }
        }
    }
    let rank = |st: &str| match st {
        "firing" => 0,
        "pending" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| (rank(a.state), &a.owner, &a.name).cmp(&(rank(b.state), &b.owner, &b.name)));
    out
}

fn summary_of(annotations: &Labels) -> String {
    annotations
        .get("summary")
        .or(annotations.get("description"))
        .unwrap_or("")
        .to_string()
}

/// `GET /alerts`: active, silenced and inhibited alerts.
pub async fn alerts(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let all = alert_views(&s, &ctx);
    let section = |states: &[&str]| -> Vec<Json> {
        all.iter()
            .filter(|a| states.contains(&a.state))
            .map(AlertView::row)
            .collect()
    };
    let mut data = ctx.layout("Alerts", "/alerts", None);
    let (active, silenced, inhibited) = (
        section(&["firing", "pending"]),
        section(&["silenced"]),
        section(&["inhibited"]),
    );
    let extra = json!({
        "active_count": active.len(),
        "silenced_count": silenced.len(),
        "inhibited_count": inhibited.len(),
        "active": active,
        "silenced": silenced,
        "inhibited": inhibited,
        "can_silence": !ctx.read_only && silences_available(&s),
        "deliveries": delivery_rows(&s, &ctx),
    });
    if let (Some(a), Json::Object(b)) = (data.as_object_mut(), extra) {
        a.extend(b);
    }
    ctx.respond("alerts", &data)
}

/// Per receiver integration: notifications delivered, failed attempts and the last error,
/// failing integrations first.
fn delivery_rows(s: &AppState, ctx: &PageCtx) -> Vec<Json> {
    let Some(p) = s.alerting.as_ref() else {
        return Vec::new();
    };
    let failing = |x: &crate::alerting::delivery::IntegrationStatus| {
        x.last_error_ms.unwrap_or(i64::MIN) > x.last_success_ms.unwrap_or(i64::MIN)
    };
    let mut statuses = p.integration_statuses();
    statuses.sort_by(|a, b| {
        (!failing(a), &a.receiver, &a.integration).cmp(&(!failing(b), &b.receiver, &b.integration))
    });
    statuses
        .into_iter()
        .map(|x| {
            let failing = failing(&x);
            json!({
                "receiver": x.receiver,
                "integration": x.integration,
                "delivered": x.delivered,
                "failed_attempts": x.failed_attempts,
                "failing": failing,
                "last_success": x.last_success_ms.map(|t| ctx.time(t)),
                "last_error": x.last_error,
                "last_error_at": x.last_error_ms.map(|t| ctx.time(t)),
            })
        })
        .collect()
}

/// A silence as the pages show it.
#[derive(Clone, Debug, PartialEq)]
pub struct SilenceView {
    pub id: String,
    pub matchers: String,
    pub state: String,
    pub starts: String,
    pub ends: String,
    pub created_by: String,
    pub comment: String,
}

/// Whether this process keeps silences.
fn silences_available(s: &AppState) -> bool {
    s.alerting.is_some()
}

/// The silences, active first, then newest; `None` when this process keeps no silences.
fn silence_list(s: &AppState, ctx: &PageCtx) -> Option<Vec<SilenceView>> {
    let p = s.alerting.as_ref()?;
    let now = p.now_ms();
    let mut list = p.silences().list();
    list.sort_by(|a, b| {
        let rank =
            |x: &crate::alerting::Silence| x.state(now) == crate::alerting::SilenceState::Expired;
        (rank(a), std::cmp::Reverse(a.updated_at_ms))
            .cmp(&(rank(b), std::cmp::Reverse(b.updated_at_ms)))
    });
    Some(
        list.into_iter()
            .map(|x| SilenceView {
                matchers: x.matchers.to_string(),
                state: x.state(now).as_str().to_string(),
                starts: ctx.time(x.starts_at_ms),
                ends: ctx.time(x.ends_at_ms),
                id: x.id,
                created_by: x.created_by,
                comment: x.comment,
            })
            .collect(),
    )
}

fn unavailable() -> (StatusCode, String) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "silences are not available in this process (no alerting pipeline runs)".into(),
    )
}

/// Creates a silence; returns its id.
async fn silence_create(
    s: &AppState,
    matchers: Vec<crate::alerting::Matcher>,
    duration_ms: i64,
    created_by: String,
    comment: String,
) -> Result<String, (StatusCode, String)> {
    let p = s.alerting.as_ref().ok_or_else(unavailable)?;
    let now = p.now_ms();
    let silence = crate::alerting::Silence {
        id: String::new(),
        matchers: crate::alerting::Matchers(matchers),
        starts_at_ms: now,
        ends_at_ms: now + duration_ms,
        updated_at_ms: now,
        created_by,
        comment,
    };
    p.silences()
        .upsert(silence, now)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// Expires a silence.
async fn silence_expire(s: &AppState, id: &str) -> Result<(), (StatusCode, String)> {
    let p = s.alerting.as_ref().ok_or_else(unavailable)?;
    p.silences()
        .expire(id, p.now_ms())
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// `GET /silences`: the list, a create form (prefilled from `?matchers=`) and expire buttons.
pub async fn silences(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let list = silence_list(&s, &ctx);
    let mut data = ctx.layout("Silences", "/silences", None);
    let extra = json!({
        "available": list.is_some(),
        "can_change": !ctx.read_only && list.is_some(),
        "silences": list.unwrap_or_default().iter().map(|v| json!({
            "id": v.id,
            "expire_href": format!("/silences/{}/expire", urlencode(&v.id)),
            "matchers": v.matchers,
            "state": v.state,
            "starts": v.starts,
            "ends": v.ends,
            "created_by": v.created_by,
            "comment": v.comment,
            "active": v.state != "expired",
        })).collect::<Vec<_>>(),
        "prefill": ctx.param("matchers").unwrap_or(""),
        "created_by": ctx.identity.display().unwrap_or_default(),
        "created": ctx.param("created"),
        "expired": ctx.param("expired"),
    });
    if let (Some(a), Json::Object(b)) = (data.as_object_mut(), extra) {
        a.extend(b);
    }
    ctx.respond("silences", &data)
}

/// The refusal of a form whose CSRF token does not match the viewer's cookie and identity;
/// `None` when the token is valid.
fn csrf_refusal(
    web: &WebAccess,
    ctx: &PageCtx,
    form: &HashMap<String, String>,
) -> Option<Response> {
    let token = form.get("csrf_token").map(String::as_str).unwrap_or("");
    if web.check_csrf(&ctx.identity, &ctx.nonce, token) {
        None
    } else {
        Some(ctx.message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form's CSRF token is missing or does not match this browser session. Reload the page and submit again.",
        ))
    }
}

/// Parses the silence form's matchers, one per line (`name="value"`, `name=~"re"`, ...).
pub fn parse_matcher_lines(text: &str) -> Result<Vec<crate::alerting::Matcher>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_end_matches(',');
        if line.is_empty() {
            continue;
        }
        out.push(
            crate::alerting::matchers::parse_matcher(line)
                .map_err(|e| format!("matchers line {}: {e}", i + 1))?,
        );
    }
    if out.is_empty() {
        return Err("matchers: expected at least one matcher, e.g. alertname=\"X\"".into());
    }
    Ok(out)
}

/// `POST /silences`: creates a silence from the form (CSRF-checked).
pub async fn create_silence(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = csrf_refusal(&s.web, &ctx, &form) {
        return r;
    }
    let field = |n: &str| {
        form.get(n)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let matchers = match parse_matcher_lines(&field("matchers")) {
        Ok(m) => m,
        Err(e) => return ctx.message(StatusCode::BAD_REQUEST, "Invalid silence", &e),
    };
    let duration = field("duration");
    let duration = if duration.is_empty() {
        "2h".into()
    } else {
        duration
    };
    let Ok(d) = promql_parser::util::parse_duration(&duration) else {
        return ctx.message(
            StatusCode::BAD_REQUEST,
            "Invalid silence",
            &format!("duration: expected a duration such as 30m, 2h or 1d, got {duration:?}"),
        );
    };
    // With authentication, the silence is the signed-in user's whatever the form says, so
    // nobody creates a silence in someone else's name; without it, as sent.
    let created_by = match (ctx.identity.display(), field("created_by")) {
        (Some(signed_in), _) => signed_in,
        (None, c) if !c.is_empty() => c,
        _ => {
            return ctx.message(
                StatusCode::BAD_REQUEST,
                "Invalid silence",
                "created_by: expected who creates the silence",
            )
        }
    };
    let comment = field("comment");
    if comment.is_empty() {
        return ctx.message(
            StatusCode::BAD_REQUEST,
            "Invalid silence",
            "comment: expected why the alerts are silenced",
        );
    }
    match silence_create(&s, matchers, d.as_millis() as i64, created_by, comment).await {
        Ok(id) => Redirect::to(&format!("/silences?created={}", urlencode(&id))).into_response(),
        Err((status, e)) => ctx.message(status, "Silence not created", &e),
    }
}

/// `POST /silences/{id}/expire` (CSRF-checked).
pub async fn expire_silence(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ctx: PageCtx,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = csrf_refusal(&s.web, &ctx, &form) {
        return r;
    }
    match silence_expire(&s, &id).await {
        Ok(()) => Redirect::to(&format!("/silences?expired={}", urlencode(&id))).into_response(),
        Err((status, e)) => ctx.message(status, "Silence not expired", &e),
    }
}

/// A scrape URL without credentials (`user:password@` is removed).
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    url.to_string()
}

/// `GET /targets`: every scrape target's health, last error and scrape duration.
pub async fn targets(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let mut jobs = Vec::new();
    for (job, pool) in s.targets.snapshot() {
        let mut up = 0;
        let rows: Vec<Json> = pool
            .active
            .iter()
            .map(|t| {
                let st = t.status();
                if st.health.as_str() == "up" {
                    up += 1;
                }
                json!({
                    "url": redact_url(&t.spec.url),
                    "labels": t.spec.labels.iter().filter(|l| !l.name.starts_with("__")).map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>(),
                    "health": st.health.as_str(),
                    "error": st.last_error,
                    "last": st.last_scrape.map(|t| ctx.time(crate::scrape::scrape_loop::unix_ms(t))),
                    "duration": super::chart::Unit::Seconds.format(st.last_scrape_duration.as_secs_f64()),
                    "samples": st.last_samples,
                })
            })
            .collect();
        jobs.push(json!({"job": job, "up": up, "total": rows.len(), "targets": rows, "dropped": pool.dropped.len()}));
    }
    let mut data = ctx.layout("Targets", "/targets", Some(30));
    data["jobs"] = json!(jobs);
    ctx.respond("targets", &data)
}

/// `GET /rules`: rule groups, their rules, state and last error.
pub async fn rules(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let mut groups = Vec::new();
    let mut warning = None;
    if let Some(r) = s.rules.as_ref() {
        if let Some(f) = r.reload_status().last_failure {
            warning = Some(match f.file {
                Some(file) => format!("{file}: {}", f.error),
                None => f.error,
            });
        }
        for g in r.groups_snapshot() {
            let rules: Vec<Json> = g
                .rules
                .iter()
                .map(|h| {
                    let rule = g.group.rules.get(h.index);
                    let firing = g
                        .alerts
                        .iter()
                        .filter(|(n, a)| {
                            n == &h.name && a.state == crate::rules::AlertState::Firing
                        })
                        .count();
                    let pending = g
                        .alerts
                        .iter()
                        .filter(|(n, a)| {
                            n == &h.name && a.state == crate::rules::AlertState::Pending
                        })
                        .count();
                    let state = if h.kind == "alerting" {
                        if firing > 0 {
                            "firing"
                        } else if pending > 0 {
                            "pending"
                        } else {
                            "inactive"
                        }
                    } else {
                        ""
                    };
                    json!({
                        "name": h.name,
                        "kind": h.kind,
                        "expr": rule.map(|r| r.expr.trim().to_string()).unwrap_or_default(),
                        "health": h.health.as_str(),
                        "error": h.last_error,
                        "state": state,
                        "firing": firing,
                        "pending": pending,
                        "last": h.last_evaluation_ms.map(|t| ctx.time(t)),
                        "took": super::chart::Unit::Seconds.format(h.evaluation_time.as_secs_f64()),
                    })
                })
                .collect();
            groups.push(json!({
                "name": g.group.name,
                "file": g.group.file.display().to_string(),
                "interval": crate::timefmt::prometheus_duration(g.interval),
                "rules": rules,
            }));
        }
    }
    let mut data = ctx.layout("Rules", "/rules", Some(30));
    data["groups"] = json!(groups);
    data["warning"] = json!(warning);
    data["available"] = json!(s.rules.is_some());
    ctx.respond("rules", &data)
}

/// A playbook name: letters, digits, `_`, `-`, `:`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':')
}

/// `GET /playbooks`: the playbooks with their titles.
pub async fn playbooks(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let mut list = Vec::new();
    if let Some(dir) = s.playbooks_dir.as_ref() {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                let Some(name) = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".md"))
                else {
                    continue;
                };
                if !valid_name(name) {
                    continue;
                }
                let title = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| {
                        t.lines()
                            .find_map(|l| l.strip_prefix("# ").map(|x| x.trim().to_string()))
                    })
                    .unwrap_or_default();
                list.push((name.to_string(), title));
            }
        }
    }
    list.sort();
    let mut data = ctx.layout("Playbooks", "/playbooks", None);
    data["configured"] = json!(s.playbooks_dir.is_some());
    data["playbooks"] = json!(list
        .iter()
        .map(
            |(n, t)| json!({"name": n, "title": t, "href": format!("/playbooks/{}", urlencode(n))})
        )
        .collect::<Vec<_>>());
    ctx.respond("playbooks", &data)
}

/// `GET /playbooks/{name}`: rendered HTML for browsers (`Accept: text/html`); the Markdown
/// source for other clients, for `/playbooks/{name}.md` and for `?raw=1`.
pub async fn playbook(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ctx: PageCtx,
) -> Response {
    let (name, raw_suffix) = match name.strip_suffix(".md") {
        Some(n) => (n.to_string(), true),
        None => (name, false),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let raw = raw_suffix || ctx.param("raw").is_some_and(|v| v != "0") || !wants_html;
    let text = match s.playbooks_dir.as_ref().filter(|_| valid_name(&name)) {
        Some(dir) => tokio::fs::read_to_string(dir.join(format!("{name}.md")))
            .await
            .ok(),
        None => None,
    };
    let Some(text) = text else {
        if raw {
            return (StatusCode::NOT_FOUND, format!("no playbook for {name}\n")).into_response();
        }
        return ctx.message(
            StatusCode::NOT_FOUND,
            "No such playbook",
            &format!("There is no playbook for {name:?}."),
        );
    };
    if raw {
        return (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            text,
        )
            .into_response();
    }
    let mut data = ctx.layout(&format!("Playbook {name}"), "/playbooks", None);
    data["name"] = json!(name);
    data["html"] = json!(markdown::to_html(&text));
    data["raw_href"] = json!(format!("/playbooks/{}.md", urlencode(&name)));
    ctx.respond("playbook", &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_scrape_urls() {
        assert_eq!(
            redact_url("http://user:pw@host:9100/metrics?x=1"),
            "http://host:9100/metrics?x=1"
        );
        assert_eq!(redact_url("http://host/metrics"), "http://host/metrics");
    }

    #[test]
    fn matcher_lines_parse_and_errors_name_the_line() {
        let m = parse_matcher_lines("alertname=\"X\"\n\nowner=~\"team-.*\"\n").unwrap();
        assert_eq!(m.len(), 2);
        let e = parse_matcher_lines("alertname=\"X\"\n=broken").unwrap_err();
        assert!(e.starts_with("matchers line 2"), "{e}");
        assert!(parse_matcher_lines("  \n").is_err());
    }

    #[test]
    fn playbook_names_are_restricted() {
        assert!(valid_name("KubePodCrashLooping"));
        assert!(!valid_name("../etc/passwd"));
        assert!(!valid_name(""));
    }
}
