//! The operational pages: alerts, silences, targets, rules and playbooks.
//!
//! Alerts come from the alerting pipeline (firing, silenced, inhibited) and the rules runtime
//! (pending alerts; all alerts when no pipeline runs in the process). Alert, silence and
//! target lists render one page ([`super::listing`]) of what their filters select. The
//! silence forms POST with the page's CSRF token ([`super::security`]); a POST without a
//! valid token is refused with 403 before anything changes.

use super::listing::{self, Paging};
use super::pages::urlencode;
use super::{markdown, playbooks};
use super::{PageCtx, WebAccess};
use crate::gostrconv::quote as go_quote;
use crate::http::AppState;
use crate::store::Labels;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;

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

    /// The link to the alert's timeline (`/alerts/<fingerprint>`), for alerts the alerting
    /// pipeline holds (a pending rule alert has not reached it).
    pub fn timeline_href(&self) -> Option<String> {
        (self.state != "pending").then(|| {
            format!(
                "/alerts/{}",
                crate::alerting::fingerprint_hex(crate::alerting::fingerprint(&self.labels))
            )
        })
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
            "timeline": self.timeline_href(),
            "explain": super::explain_page::explain_href(&self.labels),
        })
    }
}

/// The playbook link of an alert: its `runbook_url`/`playbook_url` annotation when it is an
/// http(s) or site-relative link, else `/playbooks/<alertname>` when that playbook exists.
pub(crate) fn playbook_link(s: &AppState, name: &str, annotations: &Labels) -> Option<String> {
    for key in ["playbook_url", "runbook_url"] {
        if let Some(u) = annotations.get(key) {
            if u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/') {
                return Some(u.to_string());
            }
        }
    }
    playbooks::exists(s, name).then(|| format!("/playbooks/{}", urlencode(name)))
}

fn owner_of(labels: &Labels, receivers: &[String]) -> String {
    labels
        .get("owner")
        .or(labels.get("team"))
        .map(str::to_string)
        .or_else(|| receivers.first().cloned())
        .unwrap_or_default()
}

/// Where an alert the pages list comes from.
enum AlertSource {
    /// The alerting pipeline's alert, shared with its store.
    Pipeline(Arc<crate::alerting::Alert>),
    /// A rule's alert (pending; also firing when no pipeline runs here).
    Rule {
        rule: String,
        alert: crate::rules::Alert,
    },
}

/// An alert the pages may list, before its row is built: its state and owner (what lists
/// sort and count by) and where it comes from. Rows ([`AlertView`]) are built only for the
/// alerts a page shows.
pub struct AlertEntry {
    /// `firing`, `pending`, `silenced` or `inhibited`.
    pub state: &'static str,
    pub owner: String,
    source: AlertSource,
}

impl AlertEntry {
    /// The alert's labels.
    pub fn labels(&self) -> &Labels {
        match &self.source {
            AlertSource::Pipeline(a) => &a.labels,
            AlertSource::Rule { alert, .. } => &alert.labels,
        }
    }

    /// The fingerprint of a pipeline alert (`None` for a rule's alert).
    pub fn fingerprint(&self) -> Option<u64> {
        match &self.source {
            AlertSource::Pipeline(a) => Some(a.fingerprint()),
            AlertSource::Rule { .. } => None,
        }
    }

    /// The alert's name: its `alertname`, or the rule's name.
    pub fn name(&self) -> &str {
        match &self.source {
            AlertSource::Pipeline(a) => a.labels.get("alertname").unwrap_or(""),
            AlertSource::Rule { rule, alert } => alert.labels.get("alertname").unwrap_or(rule),
        }
    }

    /// The row the pages show.
    pub fn view(&self, s: &AppState, ctx: &PageCtx) -> AlertView {
        let name = self.name().to_string();
        let (annotations, since, value) = match &self.source {
            AlertSource::Pipeline(a) => (&a.annotations, a.starts_at_ms, f64::NAN),
            AlertSource::Rule { alert, .. } => (
                &alert.annotations,
                alert.fired_at_ms.unwrap_or(alert.active_at_ms),
                alert.value,
            ),
        };
        AlertView {
            playbook: playbook_link(s, &name, annotations),
            owner: self.owner.clone(),
            severity: self.labels().get("severity").unwrap_or("").to_string(),
            summary: summary_of(annotations),
            since: ctx.time(since),
            labels: self.labels().clone(),
            value,
            state: self.state,
            name,
        }
    }
}

/// Which alerts a list shows: Alertmanager's `filter` matchers, its `receiver` regex
/// (anchored) and states.
#[derive(Default)]
pub struct AlertFilter {
    pub matchers: Vec<crate::config::alertmanager::Matcher>,
    pub receiver: Option<regex::Regex>,
    /// `None`: every state.
    pub states: Option<Vec<String>>,
}

impl AlertFilter {
    /// The filter of a page's URL: `filter` (matchers, `{a="b", c=~"d"}` or `a="b",c=~"d"`),
    /// `receiver` (a regex) and `state` (comma-separated: firing, pending, silenced,
    /// inhibited). A value that does not parse is an error naming the parameter.
    pub fn of(ctx: &PageCtx) -> Result<AlertFilter, String> {
        let mut f = AlertFilter::default();
        if let Some(m) = ctx.param("filter").map(str::trim).filter(|m| !m.is_empty()) {
            f.matchers = crate::config::alertmanager::parse_matchers(m)
                .map_err(|e| format!("filter: {e}"))?;
        }
        if let Some(r) = ctx.param("receiver").filter(|r| !r.is_empty()) {
            f.receiver = Some(
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("receiver {r:?}: invalid regex: {e}"))?,
            );
        }
        if let Some(st) = ctx.param("state").filter(|s| !s.is_empty()) {
            let states: Vec<String> = st.split(',').map(|x| x.trim().to_string()).collect();
            if let Some(bad) = states.iter().find(|x| !ALERT_STATES.contains(&x.as_str())) {
                return Err(format!(
                    "state: expected firing, pending, silenced or inhibited, got {bad:?}"
                ));
            }
            f.states = Some(states);
        }
        Ok(f)
    }

    fn passes_labels(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }

    fn passes_state(&self, state: &str) -> bool {
        self.states
            .as_ref()
            .is_none_or(|st| st.iter().any(|x| x == state))
    }
}

/// The states an alert list tells apart, in the order it lists them.
pub const ALERT_STATES: [&str; 4] = ["firing", "pending", "silenced", "inhibited"];

/// The alerts a filter selects, sorted as the pages list them (firing, then pending, then
/// silenced and inhibited; by owner and name), and how many alerts of each state of
/// [`ALERT_STATES`] pass the filter's matchers and receiver (whatever its states). With an
/// alerting pipeline: its unresolved alerts with their status plus the rules' pending
/// alerts; without one, the rules' pending and firing alerts.
pub fn alert_entries(s: &AppState, filter: &AlertFilter) -> (Vec<AlertEntry>, [usize; 4]) {
    let mut out = Vec::new();
    let mut counts = [0usize; 4];
    let mut count = |state: &str| {
        if let Some(i) = ALERT_STATES.iter().position(|x| *x == state) {
            counts[i] += 1;
        }
    };
    if let Some(p) = s.alerting.as_ref() {
        let now = p.now_ms();
        let statuses = p.statuses();
        for a in p.alerts_shared() {
            if a.resolved_at(now) || !filter.passes_labels(&a.labels) {
                continue;
            }
            let st = statuses.of(&a, now);
            if let Some(re) = &filter.receiver {
                if !st.receivers.iter().any(|r| re.is_match(r)) {
                    continue;
                }
            }
            let state = if !st.silenced_by.is_empty() {
                "silenced"
            } else if !st.inhibited_by.is_empty() {
                "inhibited"
            } else {
                "firing"
            };
            count(state);
            if filter.passes_state(state) {
                out.push(AlertEntry {
                    owner: owner_of(&a.labels, &st.receivers),
                    state,
                    source: AlertSource::Pipeline(a),
                });
            }
        }
    }
    let pipeline = s.alerting.is_some();
    // The rules' alerts are not routed: a receiver filter leaves them out.
    if let Some(rules) = s.rules.as_ref().filter(|_| filter.receiver.is_none()) {
        for g in rules.groups_snapshot() {
            for (rule, a) in g.alerts {
                let state = match a.state {
                    crate::rules::AlertState::Firing if !pipeline => "firing",
                    crate::rules::AlertState::Pending => "pending",
                    _ => continue,
                };
                if !filter.passes_labels(&a.labels) {
                    continue;
                }
                count(state);
                if filter.passes_state(state) {
                    out.push(AlertEntry {
                        owner: owner_of(&a.labels, &[]),
                        state,
                        source: AlertSource::Rule { rule, alert: a },
                    });
                }
            }
        }
    }
    let rank = |st: &str| match st {
        "firing" => 0,
        "pending" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        (rank(a.state), &a.owner, a.name()).cmp(&(rank(b.state), &b.owner, b.name()))
    });
    (out, counts)
}

fn summary_of(annotations: &Labels) -> String {
    annotations
        .get("summary")
        .or(annotations.get("description"))
        .unwrap_or("")
        .to_string()
}

/// `GET /alerts`: one page of the alerts a filter selects (`filter`, `receiver`, `state`;
/// `limit`, `page`), with the number of alerts of each state and the page's place in the
/// list. Rows are built for the page only.
pub async fn alerts(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let (filter, paging) = match (AlertFilter::of(&ctx), Paging::of(&ctx)) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(e), _) | (_, Err(e)) => {
            return ctx.message(StatusCode::BAD_REQUEST, "Invalid alert filter", &e)
        }
    };
    let (entries, counts) = alert_entries(&s, &filter);
    let rows: Vec<Json> = entries[paging.range(entries.len())]
        .iter()
        .map(|e| {
            let mut row = e.view(&s, &ctx).row();
            super::acks::annotate_row(&mut row, &s, e, &ctx);
            row
        })
        .collect();
    let mut state_query = ctx.query.clone();
    state_query.remove("page");
    let states: Vec<Json> = ALERT_STATES
        .iter()
        .zip(counts)
        .map(|(st, n)| {
            let mut q = state_query.clone();
            q.insert("state".into(), st.to_string());
            json!({
                "state": st,
                "count": n,
                "href": listing::href("/alerts", &q),
                "selected": filter.states.as_ref().is_some_and(|x| x.len() == 1 && x[0] == *st),
            })
        })
        .collect();
    state_query.remove("state");
    let mut data = ctx.layout("Alerts", "/alerts", None);
    let extra = json!({
        "alerts": rows,
        "states": states,
        "all_href": listing::href("/alerts", &state_query),
        "pager": paging.model("/alerts", &ctx.query, entries.len()),
        "filter": ctx.param("filter").unwrap_or(""),
        "receiver": ctx.param("receiver").unwrap_or(""),
        "state": ctx.param("state").unwrap_or(""),
        "limit": paging.limit,
        "can_silence": !ctx.read_only && silences_available(&s),
        "can_ack": !ctx.read_only && silences_available(&s),
        "acked": ctx.param("acked"),
        "deliveries": delivery_rows(&s, &ctx),
        // HA: which replica sends (absent when redline runs alone).
        "cluster": s.cluster.as_ref().map(|c| {
            let st = c.status();
            json!({"name": st.name, "holder": st.lease.holder, "is_holder": st.lease.is_holder})
        }),
    });
    drop(entries);
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

/// One page of the silences a filter selects, active and pending first, then newest, and
/// how many the filter selects; `None` when this process keeps no silences. The filter is
/// the page's `state` (pending, active, expired; comma-separated) and `filter` (matchers
/// checked, as Alertmanager's API does, against the label set the silence's own matchers
/// name: `{name: value}`).
fn silence_list(
    s: &AppState,
    ctx: &PageCtx,
    paging: &Paging,
) -> Result<Option<(Vec<SilenceView>, usize)>, String> {
    let Some(p) = s.alerting.as_ref() else {
        return Ok(None);
    };
    let matchers = match ctx.param("filter").map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => {
            crate::config::alertmanager::parse_matchers(m).map_err(|e| format!("filter: {e}"))?
        }
        None => Vec::new(),
    };
    let states: Option<Vec<&str>> = ctx
        .param("state")
        .filter(|x| !x.is_empty())
        .map(|x| x.split(',').map(str::trim).collect());
    if let Some(bad) = states
        .iter()
        .flatten()
        .find(|x| !["pending", "active", "expired"].contains(x))
    {
        return Err(format!(
            "state: expected pending, active or expired, got {bad:?}"
        ));
    }
    let now = p.now_ms();
    let mut list: Vec<crate::alerting::Silence> = p
        .silences()
        .list()
        .into_iter()
        .filter(|x| {
            states
                .as_ref()
                .is_none_or(|st| st.contains(&x.state(now).as_str()))
                && (matchers.is_empty() || {
                    let named = Labels::from_pairs(
                        x.matchers
                            .0
                            .iter()
                            .map(|m| (m.name.clone(), m.value.clone())),
                    );
                    matchers.iter().all(|m| m.matches_labels(&named))
                })
        })
        .collect();
    let total = list.len();
    list.sort_by(|a, b| {
        let rank =
            |x: &crate::alerting::Silence| x.state(now) == crate::alerting::SilenceState::Expired;
        (rank(a), std::cmp::Reverse(a.updated_at_ms))
            .cmp(&(rank(b), std::cmp::Reverse(b.updated_at_ms)))
    });
    let views = list
        .drain(paging.range(total))
        .map(|x| SilenceView {
            matchers: x.matchers.to_string(),
            state: x.state(now).as_str().to_string(),
            starts: ctx.time(x.starts_at_ms),
            ends: ctx.time(x.ends_at_ms),
            id: x.id,
            created_by: x.created_by,
            comment: x.comment,
        })
        .collect();
    Ok(Some((views, total)))
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
    matchers: Vec<crate::config::alertmanager::Matcher>,
    duration_ms: i64,
    created_by: String,
    comment: String,
) -> Result<String, (StatusCode, String)> {
    let p = s.alerting.as_ref().ok_or_else(unavailable)?;
    let now = p.now_ms();
    let silence = crate::alerting::Silence {
        id: String::new(),
        matchers: crate::config::alertmanager::Matchers(matchers),
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

/// `GET /silences`: one page of the list (`state`, `filter`; `limit`, `page`), a create form
/// (prefilled from `?matchers=`) and expire buttons.
pub async fn silences(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let paging = match Paging::of(&ctx) {
        Ok(p) => p,
        Err(e) => return ctx.message(StatusCode::BAD_REQUEST, "Invalid silence filter", &e),
    };
    let list = match silence_list(&s, &ctx, &paging) {
        Ok(l) => l,
        Err(e) => return ctx.message(StatusCode::BAD_REQUEST, "Invalid silence filter", &e),
    };
    let mut data = ctx.layout("Silences", "/silences", None);
    let available = list.is_some();
    let (list, total) = list.unwrap_or_default();
    let extra = json!({
        "available": available,
        "can_change": !ctx.read_only && available,
        "pager": paging.model("/silences", &ctx.query, total),
        "filter": ctx.param("filter").unwrap_or(""),
        "state": ctx.param("state").unwrap_or(""),
        "limit": paging.limit,
        "silences": list.iter().map(|v| json!({
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
pub(super) fn csrf_refusal(
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
pub fn parse_matcher_lines(
    text: &str,
) -> Result<Vec<crate::config::alertmanager::Matcher>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_end_matches(',');
        if line.is_empty() {
            continue;
        }
        out.push(
            crate::config::alertmanager::matchers::parse_matcher(line)
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

/// `GET /targets`: per job, how many targets are up; and one page (`limit`, `page`) of the
/// targets a filter selects (`job`, exact; `health`: up, down or unknown), with their health,
/// last error and scrape duration. Rows are built for the page only.
pub async fn targets(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let paging = match Paging::of(&ctx) {
        Ok(p) => p,
        Err(e) => return ctx.message(StatusCode::BAD_REQUEST, "Invalid target filter", &e),
    };
    let job_filter = ctx.param("job").filter(|j| !j.is_empty());
    let health_filter = ctx.param("health").filter(|h| !h.is_empty());
    if let Some(h) = health_filter.filter(|h| !["up", "down", "unknown"].contains(h)) {
        return ctx.message(
            StatusCode::BAD_REQUEST,
            "Invalid target filter",
            &format!("health: expected up, down or unknown, got {h:?}"),
        );
    }
    let mut summaries = Vec::new();
    let mut selected = Vec::new();
    for (job, pool) in s.targets.snapshot() {
        let mut up = 0;
        for t in &pool.active {
            let health = t.status().health.as_str();
            if health == "up" {
                up += 1;
            }
            if job_filter.is_none_or(|j| j == job) && health_filter.is_none_or(|h| h == health) {
                selected.push((job.clone(), t.clone()));
            }
        }
        let mut q = HashMap::new();
        q.insert("job".to_string(), job.clone());
        summaries.push(json!({
            "job": job,
            "up": up,
            "total": pool.active.len(),
            "dropped": pool.dropped.len(),
            "href": listing::href("/targets", &q),
            "selected": job_filter == Some(job.as_str()),
        }));
    }
    let total = selected.len();
    // The page's rows, grouped by job in list order.
    let mut jobs: Vec<(String, Vec<Json>)> = Vec::new();
    for (job, t) in &selected[paging.range(total)] {
        let st = t.status();
        let row = json!({
            "url": redact_url(&t.spec.url),
            "labels": t.spec.labels.iter().filter(|l| !l.name.starts_with("__")).map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>(),
            "health": st.health.as_str(),
            "error": st.last_error,
            "last": st.last_scrape.map(|t| ctx.time(crate::timefmt::unix_ms(t))),
            "duration": super::chart::Unit::Seconds.format(st.last_scrape_duration.as_secs_f64()),
            "samples": st.last_samples,
        });
        match jobs.last_mut() {
            Some((j, rows)) if j == job => rows.push(row),
            _ => jobs.push((job.clone(), vec![row])),
        }
    }
    drop(selected);
    let mut data = ctx.layout("Targets", "/targets", Some(30));
    data["summaries"] = json!(summaries);
    data["jobs"] = json!(jobs
        .into_iter()
        .map(|(job, rows)| json!({"job": job, "targets": rows}))
        .collect::<Vec<_>>());
    data["pager"] = paging.model("/targets", &ctx.query, total);
    data["job"] = json!(job_filter.unwrap_or(""));
    data["health"] = json!(health_filter.unwrap_or(""));
    data["limit"] = json!(paging.limit);
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
                "interval": crate::timefmt::format_duration(g.interval),
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

/// The playbook index model: every playbook with its title.
fn playbook_index(s: &AppState, ctx: &PageCtx, title: &str) -> Json {
    let mut data = ctx.layout(title, "/playbooks", None);
    data["playbooks"] = json!(playbooks::list(s)
        .iter()
        .map(
            |(n, t)| json!({"name": n, "title": t, "href": format!("/playbooks/{}", urlencode(n))})
        )
        .collect::<Vec<_>>());
    data
}

/// `GET /playbooks`: the playbooks with their titles.
pub async fn playbooks(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let data = playbook_index(&s, &ctx, "Playbooks");
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
    let Some(text) = playbooks::read(&s, &name).await else {
        if raw {
            return (StatusCode::NOT_FOUND, format!("no playbook for {name}\n")).into_response();
        }
        // A link to a playbook not written yet (the fallback link every notification has)
        // still leads somewhere useful: the index of those that exist.
        let mut data = playbook_index(&s, &ctx, "Playbooks");
        data["missing"] = json!(name);
        return ctx.respond_status(StatusCode::NOT_FOUND, "playbooks", &data);
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
        assert!(playbooks::valid_name("KubePodCrashLooping"));
        assert!(!playbooks::valid_name("../etc/passwd"));
        assert!(!playbooks::valid_name(""));
    }
}
