//! `GET /graph`: one expression, its current result and a chart of it. Every notification's
//! `generatorURL` (`<external-url>/graph?g0.expr=...&g0.tab=1`, as Prometheus writes it)
//! lands here, so the link in a page or an email shows what fired.
//!
//! It reads Prometheus' own parameters (`g0.expr`, `g0.range_input`), and runs the query
//! through the query API's limits and permits ([`crate::http::query::run_query`]): a query
//! typed here costs no more than the same one sent to `/api/v1/query`.

use super::chart::{Chart, Series, Style, Unit};
use super::pages::urlencode;
use super::PageCtx;
use crate::http::query::run_query;
use crate::http::AppState;
use crate::promql::{InstantSample, RangeSeries, Value};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::time::Duration;

/// Rows of the instant result shown; the rest are counted.
const MAX_ROWS: usize = 200;
/// Series drawn on the chart; the rest are counted.
const MAX_SERIES: usize = 50;
/// Ranges offered beside the chart (any Prometheus duration works in the URL).
const RANGES: [&str; 7] = ["5m", "15m", "1h", "6h", "1d", "7d", "30d"];

/// The chart's range: `g0.range_input` (a Prometheus duration, 1m to 31d), default 1h.
fn range(ctx: &PageCtx) -> Duration {
    ctx.param("g0.range_input")
        .or_else(|| ctx.param("range"))
        .and_then(|r| promql_parser::util::parse_duration(r).ok())
        .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(31 * 86400))
        .unwrap_or(Duration::from_secs(3600))
}

/// The instant result as table rows: the series' labels and its value.
fn rows(v: &Value, ctx: &PageCtx) -> (Vec<serde_json::Value>, usize) {
    let samples: Vec<InstantSample> = match v {
        Value::Vector(v) => v.clone(),
        Value::Scalar { t, v } => vec![InstantSample {
            labels: Default::default(),
            t: *t,
            v: *v,
            h: None,
        }],
        _ => Vec::new(),
    };
    let total = samples.len();
    let rows = samples
        .iter()
        .take(MAX_ROWS)
        .map(|s| {
            json!({
                "labels": if s.labels.is_empty() { "{}".to_string() } else { s.labels.to_string() },
                "value": crate::http::query::format_value(s.v),
                "at": ctx.time(s.t),
            })
        })
        .collect();
    (rows, total)
}

/// `GET /graph?g0.expr=EXPR[&g0.range_input=1h]`.
pub async fn graph(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let expr = ctx.param("g0.expr").unwrap_or("").trim().to_string();
    let range = range(&ctx);
    let range_text = crate::timefmt::format_duration(range);
    let mut data = ctx.layout("Graph", "/graph", None);
    let mut model = json!({
        "expr": expr,
        "range": range_text,
        "ranges": RANGES.iter().map(|r| json!({
            "label": r,
            "href": format!("/graph?g0.expr={}&amp;g0.range_input={r}", urlencode(&expr)),
            "active": *r == range_text,
        })).collect::<Vec<_>>(),
    });
    if !expr.is_empty() {
        let end = crate::timefmt::now_ms();
        let start = end - range.as_millis() as i64;
        let step = ((range.as_millis() as i64) / 240).max(1000);
        let timeout = s.query.max_timeout();
        let (x, y) = (expr.clone(), expr.clone());
        let instant = run_query(&s, timeout, move |e, q| e.instant_query(q, &x, end)).await;
        let ranged = run_query(&s, timeout, move |e, q| {
            e.range_query(q, &y, start, end, step)
        })
        .await;
        match instant {
            Err(e) => model["error"] = json!(e.message),
            Ok(r) => {
                let (rows, total) = rows(&r.value, &ctx);
                model["rows"] = json!(rows);
                model["total"] = json!(total);
                model["truncated"] = json!(total > rows.len());
                model["evaluated_at"] = json!(ctx.time(end));
                model["warnings"] = json!(r.warnings);
            }
        }
        if let Ok(r) = ranged {
            let matrix: Vec<RangeSeries> = match r.value {
                Value::Matrix(m) => m,
                _ => Vec::new(),
            };
            let series: Vec<Series> = matrix
                .iter()
                .take(MAX_SERIES)
                .map(|rs| Series {
                    name: rs.labels.to_string(),
                    points: rs.samples.iter().map(|p| (p.t, p.v)).collect(),
                })
                .collect();
            model["series_total"] = json!(matrix.len());
            model["series_truncated"] = json!(matrix.len() > series.len());
            model["svg"] = json!(Chart {
                title: &expr,
                unit: Unit::Short,
                style: Style::Line,
                series: &series,
                start_ms: start,
                end_ms: end,
                thresholds: &[],
                include: &[],
                max_gap_ms: step * 3,
                tz: &ctx.tz,
            }
            .render());
        }
    }
    super::pages::merge(&mut data, model);
    ctx.respond("graph", &data)
}
