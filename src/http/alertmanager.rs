//! The Alertmanager v2 API (`/api/v2/*`), so Prometheus servers, amtool and other
//! Alertmanager clients work against redline unchanged.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v2/alerts` | receive alerts (Prometheus' `alerting.alertmanagers` with `api_version: v2`) |
//! | `GET /api/v2/alerts` | alerts with status; filters `filter`, `active`, `silenced`, `inhibited`, `unprocessed`, `receiver` |
//! | `GET /api/v2/alerts/groups` | aggregation groups, same filters |
//! | `GET /api/v2/silences`, `POST /api/v2/silences` | list (`filter`), create or update |
//! | `GET /api/v2/silence/{id}`, `DELETE /api/v2/silence/{id}` | one silence; expire it |
//! | `GET /api/v2/status` | single node (cluster `disabled`), the configuration text, version, start time |
//! | `GET /api/v2/receivers` | receiver names, each with its integrations and how they fare |
//!
//! Shapes, defaults, filters, sort orders and status codes are Alertmanager 0.25's (its
//! OpenAPI spec and `api/v2/api.go`); times print as `2006-01-02T15:04:05.000Z`. One
//! addition: each receiver of `/api/v2/receivers` also carries `integrations`, in the shape
//! Grafana's Alertmanager gives them (`name`, `sendResolved`, `lastNotifyAttempt`,
//! `lastNotifyAttemptDuration`, `lastNotifyAttemptError`) plus redline's `redline_*` counts;
//! clients that read only `name` (amtool among them) are unaffected. Error bodies
//! are JSON strings, as Alertmanager's, because amtool decodes them as such. Validation
//! errors of `POST /api/v2/alerts` name the alert's index and field
//! (`alerts[2].labels: at least one label pair required`); the valid alerts of a request
//! are kept, as upstream. Request bodies must be `application/json` (parameters such as
//! `charset` allowed): anything else, a missing `Content-Type` included, gets 415 with
//! Alertmanager's message, so a cross-site HTML form (which can only send `text/plain`,
//! `application/x-www-form-urlencoded` or `multipart/form-data`) cannot post a silence.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use crate::alerting::delivery::IntegrationStatus;
use crate::alerting::pipeline::{IntegrationInfo, Pipeline};
use crate::alerting::silence::{ApiMatcher, Silence, SilenceError, SilenceState};
use crate::alerting::{fingerprint_hex, Alert, AlertState, AlertStatus, AlertStatuses};
use crate::config::alertmanager::matchers::{
    am_regex, is_valid_label_name, parse_one_matcher, MatchOp, Matcher,
};
use crate::config::alertmanager::Matchers;
use crate::store::Labels;

/// Largest accepted request body of `POST /api/v2/alerts` and `POST /api/v2/silences` when
/// the configuration sets none: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = crate::config::alertmanager::DEFAULT_MAX_REQUEST_BYTES;

/// What the Alertmanager API handlers share.
#[derive(Clone)]
struct AlertmanagerApi {
    pipeline: Pipeline,
    /// This replica's cluster (HA), for `/api/v2/status`.
    cluster: Option<crate::cluster::Cluster>,
    /// When the API was set up (at start-up), unix milliseconds: `uptime` of `/status`.
    started_at_ms: i64,
}

/// The `/api/v2` routes over the alerting pipeline; without one, every `/api/v2` path answers
/// 404 saying that the configuration has no alerting section. `max_body_bytes` bounds the
/// request bodies (posted alerts and silences).
pub fn routes<S>(
    pipeline: Option<Pipeline>,
    cluster: Option<crate::cluster::Cluster>,
    max_body_bytes: usize,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    static STARTED_AT_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let Some(pipeline) = pipeline else {
        return Router::new().route("/api/v2/{*rest}", any(not_enabled));
    };
    let api = AlertmanagerApi {
        pipeline,
        cluster,
        started_at_ms: *STARTED_AT_MS.get_or_init(crate::timefmt::now_ms),
    };
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/status", get(get_status))
        .route("/api/v2/receivers", get(get_receivers))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(api)
}

async fn not_enabled() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "the Alertmanager API is not enabled: the configuration has no alertmanager section",
    )
}

/// An Alertmanager-style error: the message as a JSON string.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(Value::String(message.into()))).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

// ---------------------------------------------------------------------------------------
// Time

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in unix milliseconds; at or before it a
/// time counts as not given.
const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// `2006-01-02T15:04:05.000Z`, as go-openapi's `strfmt.DateTime` prints.
pub fn am_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let c = crate::timefmt::civil_from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses an RFC 3339 time into unix milliseconds; `Ok(0)` for Go's zero time.
fn parse_am_time(s: &str) -> Result<i64, String> {
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
    let ms = ts.as_millisecond();
    Ok(if ms <= GO_ZERO_TIME_MS { 0 } else { ms })
}

// ---------------------------------------------------------------------------------------
// Query parameters

struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn parse(raw: Option<&str>) -> QueryParams {
        QueryParams(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter as go-openapi reads it; `default` when absent.
    fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "y" | "yes" | "on" => Ok(true),
                "false" | "0" | "f" | "n" | "no" | "off" => Ok(false),
                _ => Err(format!("{key}: {v:?} is not a boolean (true or false)")),
            },
        }
    }

    /// The `filter` matchers: each parameter exactly one matcher, read as Alertmanager's
    /// `parseFilter` reads it (`compat.Matcher`): `a=b,c=d` is the one matcher `a="b,c=d"`.
    fn filter(&self) -> Result<Vec<Matcher>, String> {
        self.all("filter")
            .map(|f| parse_one_matcher(f).map_err(|e| format!("filter {f:?}: {e}")))
            .collect()
    }

    /// The `receiver` regex, anchored.
    fn receiver(&self) -> Result<Option<Regex>, String> {
        match self.get("receiver") {
            None | Some("") => Ok(None),
            Some(r) => am_regex(r)
                .map(Some)
                .map_err(|e| format!("receiver {r:?}: invalid regex: {e}")),
        }
    }
}

/// Alertmanager's `matchFilterLabels`: a matcher with an empty value is satisfied by a
/// missing label (for `=`/`=~`) or skipped for a present one (for `!=`/`!~`).
fn matches_filter(filter: &[Matcher], get: impl Fn(&str) -> Option<String>) -> bool {
    filter.iter().all(|m| {
        let v = get(&m.name);
        match m.op {
            MatchOp::NotRegex | MatchOp::NotEqual if m.value.is_empty() && v.is_some() => true,
            MatchOp::Equal | MatchOp::Regex if m.value.is_empty() && v.is_none() => true,
            _ => m.matches(v.as_deref().unwrap_or("")),
        }
    })
}

// ---------------------------------------------------------------------------------------
// Alerts

fn labels_json(labels: &Labels) -> Value {
    let mut m = Map::new();
    for l in labels {
        m.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(m)
}

/// A `gettableAlert`.
fn gettable_alert(a: &Alert, st: &AlertStatus) -> Value {
    let mut v = json!({
        "annotations": labels_json(&a.annotations),
        "endsAt": am_time(a.ends_at_ms),
        "fingerprint": fingerprint_hex(a.fingerprint()),
        "receivers": st.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": am_time(a.starts_at_ms),
        "status": {
            "inhibitedBy": st.inhibited_by,
            "silencedBy": st.silenced_by,
            "state": st.state.as_str(),
        },
        "updatedAt": am_time(a.updated_at_ms),
        "labels": labels_json(&a.labels),
    });
    if !a.generator_url.is_empty() {
        v["generatorURL"] = Value::String(a.generator_url.clone());
    }
    v
}

/// The filters shared by `GET /alerts` and `GET /alerts/groups`.
struct AlertFilter {
    matchers: Vec<Matcher>,
    receiver: Option<Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
}

impl AlertFilter {
    fn from_query(q: &QueryParams) -> Result<AlertFilter, String> {
        Ok(AlertFilter {
            matchers: q.filter()?,
            receiver: q.receiver()?,
            active: q.bool("active", true)?,
            silenced: q.bool("silenced", true)?,
            inhibited: q.bool("inhibited", true)?,
            unprocessed: q.bool("unprocessed", true)?,
        })
    }

    /// Alertmanager's `alertFilter` plus the receiver filter; the status when it passes.
    fn status(&self, statuses: &AlertStatuses, a: &Alert, now_ms: i64) -> Option<AlertStatus> {
        if a.resolved_at(now_ms) {
            return None;
        }
        let st = statuses.of(a, now_ms);
        if let Some(re) = &self.receiver {
            if !st.receivers.iter().any(|r| re.is_match(r)) {
                return None;
            }
        }
        let pass = (self.active || st.state != AlertState::Active)
            && (self.unprocessed || st.state != AlertState::Unprocessed)
            && (self.silenced || st.silenced_by.is_empty())
            && (self.inhibited || st.inhibited_by.is_empty())
            && matches_filter(&self.matchers, |n| a.labels.get(n).map(str::to_string));
        pass.then_some(st)
    }
}

async fn get_alerts(State(api): State<AlertmanagerApi>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let filter = match AlertFilter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let now = api.pipeline.now_ms();
    let statuses = api.pipeline.statuses();
    // The store lists alerts by fingerprint.
    let alerts = api.pipeline.alerts_shared();
    let out: Vec<Value> = alerts
        .iter()
        .filter_map(|a| {
            filter
                .status(&statuses, a, now)
                .map(|st| gettable_alert(a, &st))
        })
        .collect();
    Json(Value::Array(out)).into_response()
}

async fn get_groups(State(api): State<AlertmanagerApi>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let filter = match AlertFilter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let now = api.pipeline.now_ms();
    let mut groups = api.pipeline.groups();
    groups.sort_by(|a, b| {
        a.group_labels
            .cmp(&b.group_labels)
            .then_with(|| a.receiver.cmp(&b.receiver))
    });
    let alert_filter = filter_without_receiver(&filter);
    let statuses = api.pipeline.statuses();
    let mut out = Vec::new();
    for g in &groups {
        if let Some(re) = &filter.receiver {
            if !re.is_match(&g.receiver) {
                continue;
            }
        }
        let alerts: Vec<Value> = g
            .alerts
            .iter()
            .filter_map(|a| {
                // The group's receiver decides the receiver filter, as upstream.
                let mut st = alert_filter.status(&statuses, a, now)?;
                st.receivers = vec![g.receiver.clone()];
                Some(gettable_alert(a, &st))
            })
            .collect();
        if alerts.is_empty() {
            continue;
        }
        out.push(json!({
            "alerts": alerts,
            "labels": labels_json(&g.group_labels),
            "receiver": {"name": g.receiver},
        }));
    }
    Json(Value::Array(out)).into_response()
}

fn filter_without_receiver(f: &AlertFilter) -> AlertFilter {
    AlertFilter {
        matchers: f.matchers.clone(),
        receiver: None,
        ..*f
    }
}

/// A `postableAlert`.
#[derive(Deserialize)]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", default)]
    starts_at: Option<String>,
    #[serde(rename = "endsAt", default)]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    generator_url: Option<String>,
}

/// Alertmanager's `types.Alert.Validate` after the API's defaults, naming the field.
fn validate_postable(i: usize, p: PostableAlert) -> Result<Alert, String> {
    let time = |field: &str, v: &Option<String>| -> Result<i64, String> {
        match v.as_deref() {
            None | Some("") => Ok(0),
            Some(s) => parse_am_time(s).map_err(|e| format!("alerts[{i}].{field}: {e}")),
        }
    };
    let starts = time("startsAt", &p.starts_at)?;
    let ends = time("endsAt", &p.ends_at)?;
    if ends != 0 && starts != 0 && ends < starts {
        return Err(format!(
            "alerts[{i}].endsAt: start time must be before end time"
        ));
    }
    for (field, set) in [("labels", &p.labels), ("annotations", &p.annotations)] {
        // Alertmanager 0.27's `validateLs`: UTF-8 names (`compat.IsValidLabelName`).
        if let Some(bad) = set.keys().find(|n| !is_valid_label_name(n)) {
            let what = if field == "labels" {
                "invalid label set"
            } else {
                "invalid annotations"
            };
            return Err(format!("alerts[{i}].{field}: {what}: invalid name {bad:?}"));
        }
    }
    // Empty values are dropped, as upstream's `removeEmptyLabels`.
    let labels = Labels::from_pairs(p.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if labels.is_empty() {
        return Err(format!(
            "alerts[{i}].labels: at least one label pair required"
        ));
    }
    Ok(Alert {
        labels,
        annotations: Labels::from_pairs(
            p.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: p.generator_url.unwrap_or_default(),
        updated_at_ms: 0,
        timeout: false,
    })
}

/// go-openapi's media type check of Alertmanager's API: the body must be
/// `application/json`; otherwise 415 with upstream's JSON error (`{"code":415,"message":…}`;
/// a missing `Content-Type` counts as `application/octet-stream`, as in Go).
pub(super) fn json_refusal(headers: &HeaderMap) -> Option<Response> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let media = if media.is_empty() {
        "application/octet-stream".to_string()
    } else {
        media
    };
    if media == "application/json" {
        return None;
    }
    Some(
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({
                "code": 415,
                "message": format!(
                    "unsupported media type {media:?}, only [application/json] are allowed"
                ),
            })),
        )
            .into_response(),
    )
}

/// A JSON request body, or the response refusing it: a Content-Type that is not JSON, or a
/// 400 naming the field (`where_(path)`, from the decoder's path such as `[0].labels`).
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    where_: impl FnOnce(String) -> String,
) -> Result<T, Box<Response>> {
    if let Some(refused) = json_refusal(headers) {
        return Err(Box::new(refused));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = where_(e.path().to_string());
        Box::new(bad_request(format!("{path}: {}", e.into_inner())))
    })
}

async fn post_alerts(
    State(api): State<AlertmanagerApi>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let posted: Vec<PostableAlert> = match json_body(&headers, &body, |path| {
        if path == "." {
            "alerts".to_string()
        } else {
            format!("alerts{path}")
        }
    }) {
        Ok(v) => v,
        Err(refused) => return *refused,
    };
    let mut valid = Vec::with_capacity(posted.len());
    let mut errors = Vec::new();
    for (i, p) in posted.into_iter().enumerate() {
        match validate_postable(i, p) {
            Ok(a) => valid.push(a),
            Err(e) => errors.push(e),
        }
    }
    if !valid.is_empty() {
        if let Err(e) = api.pipeline.put_alerts(valid).await {
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    }
    if !errors.is_empty() {
        return bad_request(errors.join("; "));
    }
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------------------------------
// Silences

fn gettable_silence(s: &Silence, now_ms: i64) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now_ms).as_str()},
        "updatedAt": am_time(s.updated_at_ms),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": am_time(s.ends_at_ms),
        "startsAt": am_time(s.starts_at_ms),
        "matchers": s.matchers.iter().map(ApiMatcher::from_matcher).collect::<Vec<_>>(),
    })
}

/// Alertmanager's `SortSilences`: active by end, then pending by start, then expired by
/// end, latest first.
fn sort_silences(v: &mut [Silence], now_ms: i64) {
    let rank = |s: &Silence| match s.state(now_ms) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    v.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now_ms) {
            SilenceState::Active => a.ends_at_ms.cmp(&b.ends_at_ms),
            SilenceState::Pending => a.starts_at_ms.cmp(&b.starts_at_ms),
            SilenceState::Expired => b.ends_at_ms.cmp(&a.ends_at_ms),
        })
    });
}

async fn get_silences(State(api): State<AlertmanagerApi>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let now = api.pipeline.now_ms();
    let mut silences: Vec<Silence> = api
        .pipeline
        .silences()
        .list()
        .into_iter()
        .filter(|s| {
            // A silence's matchers as a name → pattern map (`CheckSilenceMatchesFilterLabels`).
            matches_filter(&filter, |n| {
                s.matchers
                    .iter()
                    .rev()
                    .find(|m| m.name == n)
                    .map(|m| m.value.clone())
            })
        })
        .collect();
    sort_silences(&mut silences, now);
    Json(Value::Array(
        silences.iter().map(|s| gettable_silence(s, now)).collect(),
    ))
    .into_response()
}

async fn get_silence(State(api): State<AlertmanagerApi>, Path(id): Path<String>) -> Response {
    match api.pipeline.silences().get(&id) {
        Some(s) => Json(gettable_silence(&s, api.pipeline.now_ms())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

/// A `postableSilence`.
#[derive(Deserialize)]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "createdBy")]
    created_by: String,
    comment: String,
}

async fn post_silence(
    State(api): State<AlertmanagerApi>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p: PostableSilence = match json_body(&headers, &body, |path| format!("silence: {path}")) {
        Ok(v) => v,
        Err(refused) => return *refused,
    };
    let mut matchers = Vec::with_capacity(p.matchers.len());
    for (i, m) in p.matchers.iter().enumerate() {
        match m.to_matcher() {
            Ok(m) => matchers.push(m),
            Err(e) => return bad_request(format!("silence: matchers[{i}]: {e}")),
        }
    }
    let starts = match parse_am_time(&p.starts_at) {
        Ok(t) => t,
        Err(e) => return bad_request(format!("silence: startsAt: {e}")),
    };
    let ends = match parse_am_time(&p.ends_at) {
        Ok(t) => t,
        Err(e) => return bad_request(format!("silence: endsAt: {e}")),
    };
    let input = Silence {
        id: p.id.unwrap_or_default(),
        matchers: Matchers(matchers),
        starts_at_ms: starts,
        ends_at_ms: ends,
        updated_at_ms: 0,
        created_by: p.created_by,
        comment: p.comment,
    };
    let now = api.pipeline.now_ms();
    match api.pipeline.silences().upsert(input, now).await {
        Ok(id) => Json(json!({ "silenceID": id })).into_response(),
        Err(e @ SilenceError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ SilenceError::Invalid(_)) => bad_request(format!("failed to create silence: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn delete_silence(State(api): State<AlertmanagerApi>, Path(id): Path<String>) -> Response {
    let now = api.pipeline.now_ms();
    match api.pipeline.silences().expire(&id, now).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e @ SilenceError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        // Alertmanager answers 500 for an already expired silence; so does redline.
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// Status and receivers

async fn get_status(State(api): State<AlertmanagerApi>) -> Response {
    Json(json!({
        "cluster": cluster_json(api.cluster.as_ref()),
        "config": {"original": api.pipeline.config().original},
        "uptime": am_time(api.started_at_ms),
        "versionInfo": {
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": "",
            "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response()
}

/// `cluster` of `/api/v2/status`: Alertmanager's `{name, status, peers: [{name, address}]}`
/// (`disabled` when redline runs alone), plus `redline_lease`: who holds the Lease, whether
/// this replica sends, the Lease's `leaseTransitions` and the last error reaching it.
fn cluster_json(cluster: Option<&crate::cluster::Cluster>) -> Value {
    let Some(c) = cluster else {
        return json!({"name": "", "peers": [], "status": "disabled"});
    };
    let s = c.status();
    let peers: Vec<Value> = s
        .peers
        .iter()
        .map(|p| json!({"name": p, "address": p}))
        .collect();
    json!({
        "name": s.name,
        "status": s.status,
        "peers": peers,
        "redline_lease": {
            "holder": s.lease.holder,
            "is_holder": s.lease.is_holder,
            "transitions": s.lease.transitions,
            "last_error": s.lease.last_error,
        },
    })
}

async fn get_receivers(State(api): State<AlertmanagerApi>) -> Response {
    let cfg = api.pipeline.config();
    let mut integrations = api.pipeline.receiver_integrations();
    let mut statuses: BTreeMap<(String, String), IntegrationStatus> = api
        .pipeline
        .integration_statuses()
        .into_iter()
        .map(|s| ((s.receiver.clone(), s.integration.clone()), s))
        .collect();
    Json(Value::Array(
        cfg.receivers
            .iter()
            .map(|r| {
                let list: Vec<Value> = integrations
                    .remove(&r.name)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| {
                        let key = (r.name.clone(), i.integration.clone());
                        let status = statuses.remove(&key).unwrap_or_default();
                        integration_json(&i, &status)
                    })
                    .collect();
                json!({"name": r.name, "integrations": list})
            })
            .collect(),
    ))
    .into_response()
}

/// One integration of `GET /api/v2/receivers`: the fields of the `integration` object of
/// the Alertmanager API as Grafana's Alertmanager extends it (`name` the integration's
/// kind, `sendResolved`; `lastNotifyAttempt`, `lastNotifyAttemptDuration` in Go's duration
/// format and `lastNotifyAttemptError`, the error of the last attempt when it failed, only
/// after an attempt), then redline's own: `redline_integration` (`slack[0]`),
/// `redline_delivered`, `redline_failed_attempts`, `redline_last_error` (the last error,
/// also when a later attempt succeeded) and `redline_last_error_at`.
fn integration_json(i: &IntegrationInfo, s: &IntegrationStatus) -> Value {
    let kind = i.integration.split('[').next().unwrap_or_default();
    let mut o = Map::new();
    o.insert("name".into(), json!(kind));
    o.insert("sendResolved".into(), json!(i.send_resolved));
    let last_ok = s.last_success_ms.unwrap_or(i64::MIN);
    let last_err = s.last_error_ms.unwrap_or(i64::MIN);
    if let Some(at) = s.last_success_ms.max(s.last_error_ms) {
        o.insert("lastNotifyAttempt".into(), json!(am_time(at)));
        let took = s.last_attempt_duration_ms.unwrap_or_default();
        o.insert(
            "lastNotifyAttemptDuration".into(),
            json!(crate::timefmt::go_duration(took as i64)),
        );
        if last_err > last_ok {
            let e = s.last_error.clone().unwrap_or_default();
            o.insert("lastNotifyAttemptError".into(), json!(e));
        }
    }
    o.insert("redline_integration".into(), json!(i.integration));
    o.insert("redline_delivered".into(), json!(s.delivered));
    o.insert("redline_failed_attempts".into(), json!(s.failed_attempts));
    if let (Some(e), Some(at)) = (&s.last_error, s.last_error_ms) {
        o.insert("redline_last_error".into(), json!(e));
        o.insert("redline_last_error_at".into(), json!(am_time(at)));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alertmanager::parse_matchers;

    #[test]
    fn times_print_as_go_openapi_does() {
        assert_eq!(am_time(1_795_328_455_678), "2026-11-22T06:20:55.678Z");
        assert_eq!(am_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_am_time("2026-11-22T06:20:55.678Z"),
            Ok(1_795_328_455_678)
        );
        assert_eq!(
            parse_am_time("2026-11-22T07:20:55.678+01:00"),
            Ok(1_795_328_455_678)
        );
        assert_eq!(parse_am_time("0001-01-01T00:00:00Z"), Ok(0));
        assert!(parse_am_time("yesterday").is_err());
    }

    fn content_type(v: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn json_bodies_only_as_alertmanager_0_25_answers() {
        // Accepted and refused types as prometheus-alertmanager 0.25 answers them for POST
        // /api/v2/silences and /api/v2/alerts (checked with curl against the Debian binary).
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/JSON",
        ] {
            assert!(json_refusal(&content_type(Some(ok))).is_none(), "{ok}");
        }
        for (sent, shown) in [
            (Some("text/plain"), "text/plain"),
            (
                Some("application/x-www-form-urlencoded"),
                "application/x-www-form-urlencoded",
            ),
            (
                Some("multipart/form-data; boundary=x"),
                "multipart/form-data",
            ),
            (Some("text/json"), "text/json"),
            (None, "application/octet-stream"),
        ] {
            let r = json_refusal(&content_type(sent)).unwrap();
            assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{sent:?}");
            let want = format!(
                "{{\"code\":415,\"message\":\"unsupported media type \\\"{shown}\\\", only [application/json] are allowed\"}}"
            );
            let body =
                futures_util::FutureExt::now_or_never(axum::body::to_bytes(r.into_body(), 1 << 16))
                    .unwrap()
                    .unwrap();
            assert_eq!(String::from_utf8_lossy(&body), want, "{sent:?}");
        }
    }

    #[test]
    fn filter_treats_empty_values_like_alertmanager() {
        let f = parse_matchers(r#"{a="", b!=""}"#).unwrap();
        let get = |n: &str| (n == "b").then(|| "x".to_string());
        assert!(matches_filter(&f, get));
        let f = parse_matchers(r#"b="y""#).unwrap();
        assert!(!matches_filter(&f, get));
    }

    #[test]
    fn postable_alert_errors_name_index_and_field() {
        let p: PostableAlert = serde_json::from_str(r#"{"labels":{}}"#).unwrap();
        assert_eq!(
            validate_postable(2, p).unwrap_err(),
            "alerts[2].labels: at least one label pair required"
        );
        let p: PostableAlert =
            serde_json::from_str(r#"{"labels":{"":"x"},"startsAt":"2026-11-22T06:20:55Z"}"#)
                .unwrap();
        assert_eq!(
            validate_postable(0, p).unwrap_err(),
            "alerts[0].labels: invalid label set: invalid name \"\""
        );
        // UTF-8 names are valid (Alertmanager 0.27's fallback mode).
        let p: PostableAlert = serde_json::from_str(
            r#"{"labels":{"service.name":"api","1a":"x"},"annotations":{"runbook url":"u"},"startsAt":"2026-11-22T06:20:55Z"}"#,
        )
        .unwrap();
        let a = validate_postable(0, p).unwrap();
        assert_eq!(a.labels.get("service.name"), Some("api"));
        assert_eq!(a.annotations.get("runbook url"), Some("u"));
        let p: PostableAlert = serde_json::from_str(
            r#"{"labels":{"a":"x"},"startsAt":"2026-11-22T06:20:55Z","endsAt":"2026-11-22T06:00:00Z"}"#,
        )
        .unwrap();
        assert!(validate_postable(1, p)
            .unwrap_err()
            .starts_with("alerts[1].endsAt: start time must be before end time"));
        let p: PostableAlert =
            serde_json::from_str(r#"{"labels":{"a":"x"},"startsAt":"noon"}"#).unwrap();
        assert!(validate_postable(4, p)
            .unwrap_err()
            .starts_with("alerts[4].startsAt: \"noon\" is not an RFC 3339 time"));
    }
}
