//! The dashboard: server-rendered HTML pages over the store, the rules, the alerts and the
//! SLOs, readable without JavaScript and printable.
//!
//! Pages are `handlebars` templates embedded from `templates/` and filled with view models
//! built here; charts are SVG drawn by [`chart`] on the server; the panels of the USE, RED and
//! SLO pages come from the dashboard definitions of [`defs`] (the same ones exported to
//! Grafana). [`security`] guards every route (auth, read-only, CSRF, security headers). List
//! pages show one page of rows at most ([`listing`]).
//!
//! | page | shows |
//! |---|---|
//! | `/` | SLOs by remaining budget, firing alerts: counts and the top owners |
//! | `/slos/{name}` | budget burn-down, SLI, burn-rate table, latency, alerts, playbook |
//! | `/use` | per node and per container: utilisation, saturation, errors |
//! | `/red` | per service: request rate, error ratio, p50/p90/p99 |
//! | `/alerts`, `/silences` | one page of alerts (filters: matchers, receiver, state); silences with create/expire forms |
//! | `/alerts/{fingerprint}` | one alert's timeline: raised by, route, flushes, notifications, suppressions ([`history`]) |
//! | `/notifications` | the notification history (filters: receiver, owner, alertname, `match[]`, time range) |
//! | `/alerts`, `/silences` | one page of alerts (filters: matchers, receiver, state) with acknowledge forms and the acknowledgements; silences with create/expire forms |
//! | `/targets`, `/rules` | scrape health; rule groups and their state |
//! | `/playbooks`, `/playbooks/{name}` | playbooks rendered from Markdown (`.md` for the source) |
//! | `/graph?g0.expr=...` | one expression: a chart and its current result (alerts' `generatorURL`) |
//! | `/explain?labels=...` | why an alert was (not) paged: route path, receiver, group, silences, next send |
//!
//! Times on charts are shown in the viewer's zone: `?tz=Europe/Paris` (an IANA name), `?tz=local`
//! (the server's zone) or UTC (default); the choice is kept in the `tz` cookie.

mod acks;
pub mod chart;
pub mod defs;
mod explain_page;
mod graph;
mod history;
pub mod listing;
mod markdown;
mod ops;
mod pages;
pub mod playbooks;
pub mod security;

pub(crate) use ops::playbook_link;
pub use ops::AlertView;
pub(crate) use pages::urlencode;
pub use pages::{BurnRow, SloView, WindowPair, WINDOW_PAIRS};
pub use security::{guard, Identity, WebAccess};

use super::AppState;
use crate::promql::{Engine, EngineOptions, InstantSample, RangeSeries, Value};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use handlebars::Handlebars;
use jiff::tz::TimeZone;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// The stylesheet served at `/static/redline.css`.
pub const CSS: &str = include_str!("templates/redline.css");

const TEMPLATES: [(&str, &str); 16] = [
    ("layout", include_str!("templates/layout.hbs")),
    ("overview", include_str!("templates/overview.hbs")),
    ("slo", include_str!("templates/slo.hbs")),
    ("use", include_str!("templates/use.hbs")),
    ("red", include_str!("templates/red.hbs")),
    ("alerts", include_str!("templates/alerts.hbs")),
    ("silences", include_str!("templates/silences.hbs")),
    ("targets", include_str!("templates/targets.hbs")),
    ("rules", include_str!("templates/rules.hbs")),
    ("playbooks", include_str!("templates/playbooks.hbs")),
    ("playbook", include_str!("templates/playbook.hbs")),
    ("message", include_str!("templates/message.hbs")),
    ("graph", include_str!("templates/graph.hbs")),
    ("notifications", include_str!("templates/notifications.hbs")),
    ("alert", include_str!("templates/alert.hbs")),
    ("explain", include_str!("templates/explain.hbs")),
];

/// The dashboard's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/slos/{name}", get(pages::slo))
        .route("/use", get(pages::use_page))
        .route("/red", get(pages::red))
        .route("/alerts", get(ops::alerts))
        .route("/alerts/{fingerprint}", get(history::alert_page))
        .route("/notifications", get(history::notifications_page))
        .route("/silences", get(ops::silences).post(ops::create_silence))
        .route("/silences/{id}/expire", post(ops::expire_silence))
        .route("/acks", post(acks::create_ack))
        .route("/targets", get(ops::targets))
        .route("/rules", get(ops::rules))
        .route("/playbooks", get(ops::playbooks))
        .route("/playbooks/{name}", get(ops::playbook))
        .route("/graph", get(graph::graph))
        .route("/explain", get(explain_page::explain))
        .route("/static/redline.css", get(css))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

fn registry() -> &'static Handlebars<'static> {
    static REG: OnceLock<Handlebars<'static>> = OnceLock::new();
    REG.get_or_init(|| {
        let mut h = Handlebars::new();
        h.set_strict_mode(false);
        for (name, text) in TEMPLATES {
            if let Err(e) = h.register_template_string(name, text) {
                // The templates are compiled in and covered by tests; report and go on.
                tracing::error!(template = name, error = %e, "dashboard template is invalid");
            }
        }
        if let Err(e) = h.register_partial("layout", TEMPLATES[0].1) {
            tracing::error!(error = %e, "dashboard layout template is invalid");
        }
        h
    })
}

/// A dashboard page template that failed to render, with handlebars' error as its source.
#[derive(Debug, thiserror::Error)]
#[error("rendering {page}: {source}")]
pub struct RenderError {
    pub page: String,
    #[source]
    pub source: handlebars::RenderError,
}

/// Renders the page template `name` with `data`.
pub fn render(name: &str, data: &Json) -> Result<String, RenderError> {
    render_value(name, data.clone())
}

/// [`render`] taking the data by value: handlebars then uses it as the context as it is,
/// instead of serializing it into a new JSON value first.
pub fn render_value(name: &str, data: Json) -> Result<String, RenderError> {
    registry()
        .render_with_context(name, &handlebars::Context::from(data))
        .map_err(|source| RenderError {
            page: name.to_string(),
            source,
        })
}

/// The overview page for `slos` and `alerts`, as `GET /` renders it (for benchmarks and
/// tests; times in UTC, no user).
pub fn render_overview(slos: &[SloView], alerts: &[AlertView]) -> Result<String, RenderError> {
    let ctx = PageCtx::new(
        &WebAccess::default(),
        &HeaderMap::new(),
        Identity::Anonymous,
        HashMap::new(),
    );
    let mut data = ctx.layout("Overview", "/", Some(30));
    if let (Some(a), Json::Object(b)) = (data.as_object_mut(), pages::overview_model(slos, alerts))
    {
        a.extend(b);
    }
    render_value("overview", data)
}

/// What every page needs to know about the request: the viewer's time zone, who they are,
/// their CSRF token and query parameters.
pub struct PageCtx {
    pub tz: TimeZone,
    /// As chosen: `UTC`, `local` or an IANA name.
    pub tz_name: String,
    pub identity: Identity,
    pub read_only: bool,
    /// The CSRF token for forms on this page.
    pub csrf: String,
    /// The CSRF nonce from the cookie (or a new one).
    pub nonce: String,
    set_cookies: Vec<String>,
    pub query: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageCtx
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app: AppState = axum::extract::FromRef::from_ref(state);
        let identity =
            <axum::Extension<Identity> as OptionalFromRequestParts<S>>::from_request_parts(
                parts, state,
            )
            .await
            .ok()
            .flatten()
            .map(|e| e.0)
            .unwrap_or(Identity::Anonymous);
        let query: HashMap<String, String> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Ok(PageCtx::new(&app.web, &parts.headers, identity, query))
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Resolves a `tz` choice: `UTC`, `local` (the server's zone) or an IANA zone name.
pub fn resolve_tz(name: &str) -> Option<TimeZone> {
    match name {
        "" | "UTC" | "utc" => Some(TimeZone::UTC),
        "local" => Some(TimeZone::system()),
        n => TimeZone::get(n).ok(),
    }
}

impl PageCtx {
    fn new(
        web: &WebAccess,
        headers: &HeaderMap,
        identity: Identity,
        query: HashMap<String, String>,
    ) -> PageCtx {
        let mut set_cookies = Vec::new();
        let from_query = query.get("tz").cloned();
        let choice = from_query
            .clone()
            .or_else(|| cookie(headers, "tz").map(|s| s.replace("%2F", "/")))
            .unwrap_or_else(|| "UTC".into());
        let (tz, tz_name) = match resolve_tz(&choice) {
            Some(tz) => (tz, choice),
            None => (TimeZone::UTC, "UTC".into()),
        };
        if from_query.is_some() {
            set_cookies.push(format!(
                "tz={}; Path=/; SameSite=Strict; Max-Age=31536000",
                tz_name.replace('/', "%2F")
            ));
        }
        let nonce = match cookie(headers, security::CSRF_COOKIE) {
            Some(n) if n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()) => n.to_string(),
            _ => {
                let n = security::new_nonce();
                set_cookies.push(format!(
                    "{}={n}; Path=/; HttpOnly; SameSite=Strict",
                    security::CSRF_COOKIE
                ));
                n
            }
        };
        PageCtx {
            csrf: web.csrf_token(&identity, &nonce),
            tz,
            tz_name,
            identity,
            read_only: web.read_only(),
            nonce,
            set_cookies,
            query,
        }
    }

    /// The layout's variables for a page titled `title` under nav entry `nav`.
    pub fn layout(&self, title: &str, nav: &str, refresh: Option<u32>) -> Json {
        let entries = [
            ("/", "Overview"),
            ("/use", "USE"),
            ("/red", "RED"),
            ("/alerts", "Alerts"),
            ("/silences", "Silences"),
            ("/notifications", "Notifications"),
            ("/targets", "Targets"),
            ("/rules", "Rules"),
            ("/playbooks", "Playbooks"),
            ("/graph", "Graph"),
            ("/explain", "Explain"),
        ];
        let zones = ["UTC", "local"];
        json!({
            "title": title,
            "nav": entries.iter().map(|(href, label)| json!({
                "href": href, "label": label, "active": *href == nav
            })).collect::<Vec<_>>(),
            "user": self.identity.display(),
            "read_only": self.read_only,
            "tz": self.tz_name,
            "tz_custom": !zones.contains(&self.tz_name.as_str()),
            "refresh": refresh,
            "csrf": self.csrf,
        })
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// `t` (ms) formatted in the viewer's zone.
    pub fn time(&self, ms: i64) -> String {
        chart::format_time(ms, &self.tz, "%Y-%m-%d %H:%M:%S %Z")
    }

    /// The HTML response for a rendered page, with any cookies to set.
    pub fn respond(&self, page: &str, data: &Json) -> Response {
        self.respond_status(StatusCode::OK, page, data)
    }

    /// As [`PageCtx::respond`] with a status.
    pub fn respond_status(&self, status: StatusCode, page: &str, data: &Json) -> Response {
        let mut r = match render(page, data) {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "dashboard page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
            }
        };
        for c in &self.set_cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// A page with just a heading and a message (errors, empty states).
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let mut data = self.layout(title, "", None);
        data["heading"] = json!(title);
        data["text"] = json!(text);
        self.respond_status(status, "message", &data)
    }
}

/// The engine dashboard queries run with: a short timeout, the query API's lookback and
/// feature switches.
fn engine(limits: &crate::http::QueryLimits) -> Engine {
    Engine::new(EngineOptions {
        timeout: Some(Duration::from_secs(10)),
        max_samples: 5_000_000,
        lookback_delta: limits.lookback_delta,
        features: limits.features,
        ..EngineOptions::default()
    })
}

/// Runs `query` for each expression on a blocking thread with the dashboard's engine; a failed
/// query gives its error text.
async fn each_query<T: Clone + Send + 'static>(
    s: &AppState,
    exprs: Vec<String>,
    query: impl Fn(&Engine, &dyn crate::store::Querier, &str) -> Result<Vec<T>, String> + Send + 'static,
) -> Vec<Result<Vec<T>, String>> {
    let store = s.store.clone();
    let n = exprs.len();
    let e = engine(s.query.limits());
    tokio::task::spawn_blocking(move || {
        exprs.iter().map(|x| query(&e, store.as_ref(), x)).collect()
    })
    .await
    .unwrap_or_else(|e| vec![Err(format!("query task failed: {e}")); n])
}

/// Evaluates each expression at `t_ms`; a failed query gives its error text.
pub async fn instant_queries(
    s: &AppState,
    exprs: Vec<String>,
    t_ms: i64,
) -> Vec<Result<Vec<InstantSample>, String>> {
    each_query(s, exprs, move |e, store, x| {
        match e.instant_query(store, x, t_ms) {
            Ok(r) => match r.value {
                Value::Vector(v) => Ok(v),
                Value::Scalar { t, v } => Ok(vec![InstantSample {
                    labels: crate::store::Labels::default(),
                    t,
                    v,
                    h: None,
                }]),
                _ => Ok(Vec::new()),
            },
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Evaluates each expression over `[start, end]` at `step` (ms).
pub async fn range_queries(
    s: &AppState,
    exprs: Vec<String>,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Vec<Result<Vec<RangeSeries>, String>> {
    each_query(s, exprs, move |e, store, x| {
        match e.range_query(store, x, start_ms, end_ms, step_ms) {
            Ok(r) => match r.value {
                Value::Matrix(m) => Ok(m),
                _ => Ok(Vec::new()),
            },
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// A chart's time range from `?range=` (a Prometheus duration, default `default`), ending now,
/// and a step giving about 240 points.
pub fn time_range(ctx: &PageCtx, default: Duration) -> (i64, i64, i64, String) {
    let range = ctx
        .param("range")
        .and_then(|r| promql_parser::util::parse_duration(r).ok())
        .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(31 * 86400))
        .unwrap_or(default);
    let end = crate::timefmt::now_ms();
    let start = end - range.as_millis() as i64;
    let step = ((range.as_millis() as i64) / 240).max(1000);
    (start, end, step, crate::timefmt::format_duration(range))
}

#[cfg(test)]
mod tests;
