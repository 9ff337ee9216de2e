//! SLO reports per compliance period ([`crate::slo::report`]): the API and the printable pages.
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/v1/slos/{name}/reports`, `/api/v1/slos/{service}/{name}/reports` | every period of one SLO |
//! | `GET /api/v1/reports?owner=…&period=YYYY-MM` | the reports of an owner and/or a month |
//! | `GET /reports` | the index: owners and months |
//! | `GET /reports/{owner}/{YYYY-MM}` | one owner's report of one month, printable to PDF |
//!
//! Each SLO reports on its own compliance periods (a calendar window's months or weeks in its
//! zone, UTC months for a rolling window), each with its ID (`period`), start, end and zone.
//! An owner's report of a month (`period=YYYY-MM`) lists every period of the owner's SLOs that
//! shares a day with that month, days counted in each SLO's zone
//! ([`crate::slo::report::shares_a_day`]): a weekly SLO's weeks, a month from the 15th twice.
//!
//! The API answers JSON in Prometheus' envelope, or CSV ([`crate::slo::report::to_csv`]) with
//! `?format=csv` or `Accept: text/csv`. The pages print cleanly: the print stylesheet hides
//! the navigation and starts each SLO on a new page.

use super::api::{success, ApiError, ApiErrorKind};
use super::dashboard::chart::escape;
use super::AppState;
use crate::slo::report::{self, Period, ReportQuery, SloReport, SloReports};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

/// The report routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/slos/{name}/reports", get(of_slo))
        .route("/api/v1/slos/{service}/{name}/reports", get(of_service_slo))
        .route("/api/v1/reports", get(list))
        .route("/reports", get(index_page))
        .route("/reports/{owner}/{period}", get(owner_page))
}

#[derive(Deserialize, Default)]
struct Params {
    owner: Option<String>,
    period: Option<String>,
    format: Option<String>,
}

fn bad(message: String) -> Response {
    ApiError {
        kind: ApiErrorKind::BadData,
        message,
    }
    .into_response()
}

fn reports_of(s: &AppState) -> Option<SloReports> {
    s.slos
        .as_ref()
        .map(|v| v.reports.clone())
        .filter(SloReports::is_available)
}

fn wants_csv(p: &Params, h: &HeaderMap) -> bool {
    p.format.as_deref() == Some("csv")
        || h.get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))
}

fn answer(r: Vec<SloReport>, csv: bool) -> Response {
    if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report::to_csv(&r),
        )
            .into_response()
    } else {
        success(json!(r), &[], &[])
    }
}

async fn fetch(s: &AppState, filter: ReportQuery) -> Result<Vec<SloReport>, Response> {
    let Some(reports) = reports_of(s) else {
        return Err(ApiError {
            kind: ApiErrorKind::Unavailable,
            message: "the SLO engine is not running".into(),
        }
        .into_response());
    };
    reports
        .list(filter, crate::timefmt::now_ms())
        .await
        .map_err(|e| {
            ApiError {
                kind: ApiErrorKind::Internal,
                message: e.to_string(),
            }
            .into_response()
        })
}

async fn slo_reports(s: &AppState, id: &str, p: &Params, h: &HeaderMap) -> Response {
    let Some(f) = s.slos.as_ref().and_then(|v| v.get(id)) else {
        return ApiError {
            kind: ApiErrorKind::NotFound,
            message: format!("no SLO {id:?}: give service/name, or a name that is unique"),
        }
        .into_response();
    };
    let filter = ReportQuery {
        slo_key: Some(format!("{}/{}", f.service, f.name)),
        ..ReportQuery::default()
    };
    match fetch(s, filter).await {
        Ok(r) => answer(r, wants_csv(p, h)),
        Err(e) => e,
    }
}

async fn of_slo(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
    h: HeaderMap,
) -> Response {
    slo_reports(&s, &name, &p, &h).await
}

async fn of_service_slo(
    State(s): State<AppState>,
    Path((service, name)): Path<(String, String)>,
    Query(p): Query<Params>,
    h: HeaderMap,
) -> Response {
    slo_reports(&s, &format!("{service}/{name}"), &p, &h).await
}

async fn list(State(s): State<AppState>, Query(p): Query<Params>, h: HeaderMap) -> Response {
    let month = match p.period.as_deref().map(|m| (m, Period::parse(m))) {
        None => None,
        Some((_, Some(month))) => Some(month),
        Some((m, None)) => return bad(format!("period {m:?} is not a month (YYYY-MM)")),
    };
    let filter = ReportQuery {
        owner: p.owner.clone(),
        month,
        slo_key: None,
    };
    match fetch(&s, filter).await {
        Ok(r) => answer(r, wants_csv(&p, &h)),
        Err(e) => e,
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111}
nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left}
td.num{text-align:right}
section.slo{margin-bottom:2rem}
.met{color:#186a3b}.missed{color:#a93226}
@media print{nav,.noprint{display:none}body{margin:0}
section.slo{break-before:page}section.slo:first-of-type{break-before:auto}
table{break-inside:avoid}a{color:inherit;text-decoration:none}}
";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><nav><a href=\"/\">Overview</a>\
         <a href=\"/reports\">Reports</a></nav><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    ))
}

fn pct(r: f64) -> String {
    format!("{:.3} %", r * 100.0)
}

fn time(ms: i64) -> String {
    let c = crate::timefmt::civil_from_unix(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn index_page(State(s): State<AppState>) -> Response {
    let Some(reports) = reports_of(&s) else {
        return page("Reports", "<p>The SLO engine is not running.</p>").into_response();
    };
    let entries = match reports.index(crate::timefmt::now_ms()).await {
        Ok(e) => e,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                page("Reports", &format!("<p>{}</p>", escape(&e.to_string()))),
            )
                .into_response()
        }
    };
    let mut rows = String::new();
    for e in &entries {
        rows.push_str(&format!(
            "<tr class=\"report\"><td>{p}</td><td><a href=\"/reports/{ou}/{p}\">{o}</a></td>\
             <td class=\"num\">{n}</td><td>{state}</td></tr>",
            p = escape(&e.period),
            ou = path_segment(&e.owner),
            o = escape(&e.owner),
            n = e.reports,
            state = if e.closed { "closed" } else { "in progress" },
        ));
    }
    let body = format!(
        "<p>One report per owner and month: each SLO's compliance periods that share a day with \
         the month (its calendar window's months or weeks in its zone; UTC months for a rolling \
         window); also as \
         <a href=\"/api/v1/reports\">JSON</a> and <a href=\"/api/v1/reports?format=csv\">CSV</a>.</p>\
         <table class=\"reports\"><tr><th>month</th><th>owner</th><th>SLO periods</th><th></th></tr>{rows}</table>"
    );
    page("Reports", &body).into_response()
}

fn slo_section(r: &SloReport) -> String {
    let mut incidents = String::new();
    for i in &r.incidents {
        let alerts: Vec<String> = i
            .alerts
            .iter()
            .map(|a| {
                let name = format!("{} ({})", escape(&a.alertname), escape(&a.severity));
                if a.playbook_url.is_empty() {
                    name
                } else {
                    format!(
                        "<a class=\"playbook\" href=\"{}\">{name}</a>",
                        escape(&a.playbook_url)
                    )
                }
            })
            .collect();
        incidents.push_str(&format!(
            "<tr class=\"incident\"><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            time(i.start_ms),
            time(i.end_ms),
            i.minutes,
            pct(i.budget_consumed_ratio),
            if alerts.is_empty() {
                "none".to_string()
            } else {
                alerts.join(", ")
            }
        ));
    }
    let incidents = if r.incidents.is_empty() {
        "<p>No incidents.</p>".to_string()
    } else {
        format!(
            "<table class=\"incidents\"><tr><th>start</th><th>end</th><th>minutes</th>\
             <th>budget consumed</th><th>alerts</th></tr>{incidents}</table>"
        )
    };
    format!(
        "<section class=\"slo\" data-slo=\"{slo}\"><h2>{service} / {name}</h2>\
         <table class=\"figures\">\
         <tr><th>period</th><td class=\"period\" data-period=\"{period}\">{period}: {start} to {end} \
         ({zone})</td></tr>\
         <tr><th>objective</th><td class=\"num\">{objective} %</td></tr>\
         <tr><th>attainment</th><td class=\"num {cls}\" data-value=\"{att}\">{attp}</td></tr>\
         <tr><th>budget spent</th><td class=\"num\" data-value=\"{spent}\">{spentp}</td></tr>\
         <tr><th>downtime minutes</th><td class=\"num\">{down}</td></tr>\
         <tr><th>incidents</th><td class=\"num\">{n}</td></tr>\
         <tr><th>events (bad / total)</th><td class=\"num\">{bad} / {total}</td></tr>\
         <tr><th>minutes without data</th><td class=\"num\">{gaps}</td></tr>\
         </table><h3>Incidents</h3>{incidents}</section>",
        slo = escape(&r.slo),
        period = escape(&r.period),
        start = time(r.start_ms),
        end = time(r.end_ms),
        zone = escape(&r.time_zone),
        service = escape(&r.service),
        name = escape(&r.name),
        objective = r.objective,
        cls = if r.objective_met { "met" } else { "missed" },
        att = r.attainment,
        attp = pct(r.attainment),
        spent = r.budget_spent_ratio,
        spentp = pct(r.budget_spent_ratio),
        down = r.downtime_minutes,
        n = r.incidents.len(),
        bad = r.bad_events,
        total = r.total_events,
        gaps = r.gap_minutes,
    )
}

async fn owner_page(
    State(s): State<AppState>,
    Path((owner, period)): Path<(String, String)>,
) -> Response {
    let Some(p) = Period::parse(&period) else {
        return (
            StatusCode::NOT_FOUND,
            page(
                "No such report",
                "<p>The period must be a month (YYYY-MM).</p>",
            ),
        )
            .into_response();
    };
    let filter = ReportQuery {
        owner: Some(owner.clone()),
        month: Some(p.clone()),
        slo_key: None,
    };
    let reports = match fetch(&s, filter).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let title = format!("SLO report: {owner}, {}", p.name);
    if reports.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            page(
                &title,
                "<p>No SLO of this owner has a report for this period.</p>",
            ),
        )
            .into_response();
    }
    let csv = format!(
        "/api/v1/reports?owner={}&period={}&format=csv",
        path_segment(&owner),
        p.name
    );
    let mut body = format!(
        "<p>{} to {} ({}). <a class=\"noprint\" href=\"{}\">CSV</a></p>",
        time(p.start_ms),
        time(p.end_ms),
        if reports.iter().all(|r| r.closed) {
            "closed"
        } else {
            "in progress"
        },
        escape(&csv)
    );
    for r in &reports {
        body.push_str(&slo_section(r));
    }
    page(&title, &body).into_response()
}
