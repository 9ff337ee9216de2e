//! The signal pages: overview, SLO detail, USE and RED.
//!
//! SLO figures are read from the series the SLO recording rules write (`slo:*`, labelled
//! `slo_service` and `slo_name`, see [`crate::slo::generate`]); the USE and RED pages render
//! the panels of the built-in dashboard definitions ([`super::defs`]).

use super::chart::{Chart, Series, Style, Unit};
use super::defs::{self, Dashboard, PanelKind, Severity};
use super::listing;
use super::ops::{alert_entries, AlertFilter, AlertView};
use super::{instant_queries, range_queries, time_range, PageCtx};
use crate::http::AppState;
use crate::promql::{InstantSample, RangeSeries};
use crate::store::Labels;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::time::Duration;

/// A burn-rate alert's window pair, as the SRE workbook sets them for a 30-day period.
pub struct WindowPair {
    pub long: &'static str,
    pub short: &'static str,
    pub factor: f64,
    pub tier: &'static str,
}

/// The multi-window multi-burn-rate pairs: page on (1h, 5m) and (6h, 30m), ticket on (1d, 2h)
/// and (3d, 6h).
pub const WINDOW_PAIRS: [WindowPair; 4] = [
    WindowPair {
        long: "1h",
        short: "5m",
        factor: 14.4,
        tier: "page",
    },
    WindowPair {
        long: "6h",
        short: "30m",
        factor: 6.0,
        tier: "page",
    },
    WindowPair {
        long: "1d",
        short: "2h",
        factor: 3.0,
        tier: "ticket",
    },
    WindowPair {
        long: "3d",
        short: "6h",
        factor: 1.0,
        tier: "ticket",
    },
];

/// One row of the burn-rate table.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnRow {
    pub long: String,
    pub short: String,
    pub factor: f64,
    /// `page` or `ticket`.
    pub tier: String,
    /// Burn rate over the long and the short window (error ratio / error budget).
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    /// The pair's alert fires.
    pub firing: bool,
}

impl BurnRow {
    /// A row whose firing state follows from its burn rates: both windows above the factor.
    pub fn new(p: &WindowPair, long_burn: Option<f64>, short_burn: Option<f64>) -> BurnRow {
        let firing =
            matches!((long_burn, short_burn), (Some(l), Some(s)) if l > p.factor && s > p.factor);
        BurnRow {
            long: p.long.into(),
            short: p.short.into(),
            factor: p.factor,
            tier: p.tier.into(),
            long_burn,
            short_burn,
            firing,
        }
    }

    /// The pair's effective burn: the lower of its two windows.
    pub fn burn(&self) -> Option<f64> {
        match (self.long_burn, self.short_burn) {
            (Some(l), Some(s)) => Some(l.min(s)),
            (l, s) => l.or(s),
        }
    }
}

/// One SLO's current figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SloView {
    pub name: String,
    pub service: String,
    pub owner: String,
    /// The objective as a ratio (0.999).
    pub objective: f64,
    /// The error budget as a ratio of events (0.001).
    pub error_budget: f64,
    /// Share of good events over the period so far.
    pub attainment: f64,
    /// Remaining error budget, 1 = untouched, ≤ 0 = spent.
    pub budget_remaining: f64,
    /// The SLO window as written (`30d`).
    pub window: String,
    pub period: Duration,
    pub burns: Vec<BurnRow>,
    /// Until the budget is spent at the current burn rate; `None` when not burning.
    pub exhaustion: Option<Duration>,
    /// Remaining budget over the window (ms, ratio), when the SLO engine keeps it.
    pub burn_down: Vec<(i64, f64)>,
    /// The SLI of each hour of the window (ms, ratio), when the SLO engine keeps it.
    pub sli_hourly: Vec<(i64, f64)>,
    pub window_start_ms: Option<i64>,
    /// The calendar period now running, for a calendar window.
    pub calendar: Option<CalendarPeriod>,
    /// A composite SLO's parts; empty for other SLOs.
    pub parts: Vec<PartView>,
}

/// One part of a composite SLO on its page.
#[derive(Clone, Debug, PartialEq)]
pub struct PartView {
    /// `service/name`.
    pub slo: String,
    pub weight: f64,
    pub weight_share: f64,
    /// Over `window`: the part's error ratio and its share of the composite's bad events.
    pub error_ratio: f64,
    pub burn_share: f64,
    pub window: String,
    /// The part's own remaining budget, when it is evaluated.
    pub remaining: Option<f64>,
}

impl PartView {
    fn model(&self) -> Json {
        json!({
            "slo": self.slo,
            "href": format!("/slos/{}", urlencode(&self.slo)),
            "weight": format!("{}", self.weight),
            "weight_share": Unit::Percent.format(self.weight_share),
            "error_ratio": Unit::Percent.format(self.error_ratio),
            "burn_share": Unit::Percent.format(self.burn_share),
            "window": self.window,
            "remaining": self.remaining.map(|r| Unit::Percent.format(r)),
            "bar": self.remaining.map(budget_bar),
            "class": self.remaining.map(|r| budget_severity(r).class()),
        })
    }
}

/// A calendar compliance period: `[start, end)` in ms and the SLO's IANA zone.
#[derive(Clone, Debug, PartialEq)]
pub struct CalendarPeriod {
    pub start_ms: i64,
    pub end_ms: i64,
    pub time_zone: String,
}

impl CalendarPeriod {
    /// Start, end (both in the SLO's zone) and the time left at `now_ms`, for the SLO page.
    pub fn model(&self, now_ms: i64) -> Json {
        let tz = jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| {
                    t.to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        };
        let left = Duration::from_millis((self.end_ms - now_ms).max(0) as u64);
        json!({
            "start": local(self.start_ms),
            "end": local(self.end_ms),
            "time_zone": self.time_zone,
            "left": human_duration(left),
        })
    }
}

impl SloView {
    /// The worst burn: the most urgent pair above its factor (pairs are in urgency order,
    /// page before ticket), else the pair closest to its factor; with its burn.
    pub fn worst(&self) -> Option<(&BurnRow, f64)> {
        let rated = || self.burns.iter().filter_map(|b| b.burn().map(|v| (b, v)));
        rated()
            .find(|(b, v)| b.firing || *v > b.factor)
            .or_else(|| rated().max_by(|a, b| (a.1 / a.0.factor).total_cmp(&(b.1 / b.0.factor))))
    }

    /// From the SLO engine's figures.
    pub fn from_figures(f: &crate::slo::engine::SloFigures) -> SloView {
        let period = f
            .window_end_ms
            .checked_sub(f.window_start_ms)
            .filter(|d| *d > 0)
            .map(|d| Duration::from_millis(d as u64))
            .unwrap_or(Duration::from_secs(30 * 86400));
        SloView {
            name: f.name.clone(),
            service: f.service.clone(),
            owner: f.owner.clone(),
            objective: f.objective / 100.0,
            error_budget: f.error_budget.ratio,
            attainment: f.attainment,
            budget_remaining: f.error_budget.remaining_ratio,
            window: f.window.clone(),
            period,
            burns: f
                .burn_rates
                .iter()
                .map(|b| BurnRow {
                    long: b.long_window.clone(),
                    short: b.short_window.clone(),
                    factor: b.factor,
                    tier: b.severity.clone(),
                    long_burn: Some(b.long_burn_rate),
                    short_burn: Some(b.short_burn_rate),
                    firing: b.firing,
                })
                .collect(),
            exhaustion: f
                .time_to_exhaustion_seconds
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(1e12))),
            burn_down: f.burn_down.clone(),
            sli_hourly: f.sli_hourly.clone(),
            window_start_ms: Some(f.window_start_ms),
            calendar: f.period.time_zone.as_ref().map(|tz| CalendarPeriod {
                start_ms: f.period.start_ms,
                end_ms: f.period.end_ms,
                time_zone: tz.clone(),
            }),
            parts: f
                .parts
                .iter()
                .flatten()
                .map(|p| PartView {
                    slo: p.slo.clone(),
                    weight: p.weight,
                    weight_share: p.weight_share,
                    error_ratio: p.error_ratio,
                    burn_share: p.burn_share,
                    window: p.window.clone(),
                    remaining: p.budget_remaining_ratio,
                })
                .collect(),
        }
    }
}

/// Every SLO's figures, fewest remaining budget first: from the SLO engine when it runs
/// SLOs in this process, else from the series of generated SLO rules in the store.
pub async fn slo_views(s: &AppState, t_ms: i64) -> Vec<SloView> {
    let mut out = match engine_slos(s) {
        Some(figures) => figures.iter().map(SloView::from_figures).collect(),
        None => slo_views_from_rules(s, t_ms).await,
    };
    out.sort_by(|a, b| {
        a.budget_remaining
            .total_cmp(&b.budget_remaining)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// The SLO engine's figures, when it runs any SLO (`slo_files`); `None` leaves the
/// dashboard to the series of generated SLO rules.
fn engine_slos(s: &AppState) -> Option<Vec<crate::slo::engine::SloFigures>> {
    s.slos
        .as_ref()
        .map(|engine| engine.list())
        .filter(|l| !l.is_empty())
}

/// Time until a budget with `remaining` (ratio) left is spent at `burn` over `period`.
pub fn exhaustion(remaining: f64, burn: Option<f64>, period: Duration) -> Option<Duration> {
    let burn = burn?;
    if burn <= 0.0 || !burn.is_finite() {
        return None;
    }
    let secs = remaining.max(0.0) * period.as_secs_f64() / burn;
    Some(Duration::from_secs_f64(secs.min(1e12)))
}

/// Reads every SLO's figures from the series `redline slo generate` rules write
/// (`slo:*{slo_service, slo_name}`) at `t_ms`.
async fn slo_views_from_rules(s: &AppState, t_ms: i64) -> Vec<SloView> {
    let mut exprs = vec![
        "slo:objective:ratio".to_string(),
        "slo:period_error_budget_remaining:ratio".to_string(),
        "slo:error_budget:ratio".to_string(),
        "slo:time_period:days".to_string(),
        "slo:info".to_string(),
    ];
    for p in &WINDOW_PAIRS {
        exprs.push(format!("slo:sli_error:ratio_rate{}", p.long));
        exprs.push(format!("slo:sli_error:ratio_rate{}", p.short));
    }
    let results = instant_queries(s, exprs, t_ms).await;
    let by_slo = |i: usize| -> BTreeMap<(String, String), (f64, Labels)> {
        results
            .get(i)
            .and_then(|r| r.as_ref().ok())
            .map(|v| {
                v.iter()
                    .map(|x| {
                        (
                            (
                                x.labels.get("slo_service").unwrap_or("").to_string(),
                                x.labels.get("slo_name").unwrap_or("").to_string(),
                            ),
                            (x.v, x.labels.clone()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let objective = by_slo(0);
    let remaining = by_slo(1);
    let budget = by_slo(2);
    let days = by_slo(3);
    let info = by_slo(4);
    let windows: Vec<_> = (0..WINDOW_PAIRS.len() * 2).map(|i| by_slo(5 + i)).collect();
    let mut out = Vec::new();
    for (key, (obj, _)) in &objective {
        let eb = budget.get(key).map(|x| x.0).unwrap_or(1.0 - obj);
        let rem = remaining.get(key).map(|x| x.0).unwrap_or(1.0);
        let burn_of = |i: usize| {
            windows[i]
                .get(key)
                .map(|x| if eb > 0.0 { x.0 / eb } else { 0.0 })
        };
        let burns: Vec<BurnRow> = WINDOW_PAIRS
            .iter()
            .enumerate()
            .map(|(i, p)| BurnRow::new(p, burn_of(2 * i), burn_of(2 * i + 1)))
            .collect();
        let period =
            Duration::from_secs_f64(days.get(key).map(|x| x.0).unwrap_or(30.0).max(0.0) * 86400.0);
        let owner = info
            .get(key)
            .and_then(|x| x.1.get("owner").or(x.1.get("team")).map(str::to_string))
            .unwrap_or_default();
        out.push(SloView {
            service: key.0.clone(),
            name: key.1.clone(),
            owner,
            objective: *obj,
            error_budget: eb,
            attainment: (1.0 - (1.0 - rem) * eb).clamp(0.0, 1.0),
            budget_remaining: rem,
            window: crate::timefmt::format_duration(period),
            exhaustion: exhaustion(rem, burns[0].long_burn, period),
            period,
            burns,
            burn_down: Vec::new(),
            sli_hourly: Vec::new(),
            window_start_ms: None,
            calendar: None,
            parts: Vec::new(),
        });
    }
    out
}

/// `d` as `3d 4h`, `2h 5m`, `40m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60);
    if days > 365 {
        "over a year".into()
    } else if days > 0 {
        format!("{days}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{}m", m.max(1))
    }
}

/// A horizontal bar for a 0..1 share (budget remaining), as inline SVG (no inline styles).
pub fn budget_bar(remaining: f64) -> String {
    let r = if remaining.is_finite() {
        remaining.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let class = budget_severity(remaining).class();
    format!(
        r#"<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{} of the error budget left"><rect class="track" width="100" height="8"/><rect class="fill {class}" width="{:.1}" height="8"/></svg>"#,
        Unit::Percent.format(remaining),
        r * 100.0
    )
}

fn budget_severity(remaining: f64) -> Severity {
    defs::Thresholds {
        warning: Some(0.25),
        critical: Some(0.0),
        lower_is_worse: true,
    }
    .severity(remaining)
}

/// The view model of one SLO row.
pub fn slo_row(v: &SloView) -> Json {
    let worst = v.worst();
    json!({
        "name": v.name,
        "service": v.service,
        "owner": v.owner,
        "href": format!("/slos/{}", urlencode(&v.name)),
        "composite": !v.parts.is_empty(),
        "objective": Unit::Percent.format(v.objective),
        "attainment": Unit::Percent.format(v.attainment),
        "remaining": Unit::Percent.format(v.budget_remaining),
        "bar": budget_bar(v.budget_remaining),
        "class": budget_severity(v.budget_remaining).class(),
        "worst_burn": worst.map(|w| format!("{:.2}×", w.1)),
        "worst_pair": worst.map(|w| format!("{}/{}", w.0.long, w.0.short)),
        "worst_tier": worst.map(|w| if w.1 > w.0.factor { w.0.tier.as_str() } else { "none" }),
        "exhaustion": if v.budget_remaining <= 0.0 {
            Some("exhausted".to_string())
        } else {
            v.exhaustion.map(human_duration)
        },
    })
}

/// Percent-encodes a path segment.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Owners the overview lists at most: those with the most firing alerts.
pub const OVERVIEW_OWNERS: usize = 10;
/// Firing alerts the overview lists at most per owner; the rest are counted.
pub const OVERVIEW_ALERTS_PER_OWNER: usize = 5;

/// An owner, their number of firing alerts, and the first of them.
pub type OwnerAlerts<'a, T> = (&'a str, usize, Vec<T>);

/// Firing alerts by owner, bounded: every owner's count, and for the [`OVERVIEW_OWNERS`]
/// owners with the most firing alerts (then by name) their first
/// [`OVERVIEW_ALERTS_PER_OWNER`] alerts. `items` are (owner, alert) in list order. Returns
/// the number of firing alerts, the number of owners, and the owners shown.
pub fn top_owners<'a, T>(
    items: impl IntoIterator<Item = (&'a str, T)>,
) -> (usize, usize, Vec<OwnerAlerts<'a, T>>) {
    let mut owners: BTreeMap<&str, (usize, Vec<T>)> = BTreeMap::new();
    let mut firing = 0;
    for (owner, item) in items {
        firing += 1;
        let e = owners
            .entry(if owner.is_empty() {
                "(no owner)"
            } else {
                owner
            })
            .or_default();
        e.0 += 1;
        if e.1.len() < OVERVIEW_ALERTS_PER_OWNER {
            e.1.push(item);
        }
    }
    let owner_count = owners.len();
    let mut list: Vec<OwnerAlerts<'a, T>> =
        owners.into_iter().map(|(o, (n, v))| (o, n, v)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    list.truncate(OVERVIEW_OWNERS);
    (firing, owner_count, list)
}

/// The overview's view model: SLOs by remaining budget and firing alerts by owner (see
/// [`top_owners`]; `alerts` may hold other states, only firing ones count).
pub fn overview_model(slos: &[SloView], alerts: &[AlertView]) -> Json {
    let (firing, owner_count, top) = top_owners(
        alerts
            .iter()
            .filter(|a| a.state == "firing")
            .map(|a| (a.owner.as_str(), a)),
    );
    let top = top
        .into_iter()
        .map(|(o, n, v)| (o, n, v.into_iter().map(AlertView::row).collect()))
        .collect();
    overview_model_of(slos, firing, owner_count, top)
}

fn overview_model_of(
    slos: &[SloView],
    firing: usize,
    owner_count: usize,
    top: Vec<(&str, usize, Vec<Json>)>,
) -> Json {
    let shown = top.len();
    // Built from values rather than with `json!` over vectors, which would serialize (deep
    // copy) every row once more.
    let owners: Vec<Json> = top
        .into_iter()
        .map(|(o, n, a)| {
            let mut m = serde_json::Map::new();
            m.insert("owner".into(), Json::from(o));
            m.insert("count".into(), Json::from(n));
            m.insert("more".into(), Json::from(n - a.len()));
            m.insert("alerts".into(), Json::Array(a));
            Json::Object(m)
        })
        .collect();
    let mut m = serde_json::Map::new();
    m.insert(
        "slos".into(),
        Json::Array(slos.iter().map(slo_row).collect()),
    );
    m.insert("owners".into(), Json::Array(owners));
    m.insert("owners_more".into(), Json::from(owner_count - shown));
    m.insert("firing".into(), Json::from(firing));
    Json::Object(m)
}

/// `GET /`: SLOs sorted by remaining budget, firing alerts by owner (the owners with the
/// most, a few alerts each; rows are built for those only).
pub async fn overview(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let now = crate::timefmt::now_ms();
    let slos = slo_views(&s, now).await;
    let filter = AlertFilter {
        states: Some(vec!["firing".into()]),
        ..AlertFilter::default()
    };
    let (entries, _) = alert_entries(&s, &filter);
    let (firing, owner_count, top) = top_owners(entries.iter().map(|e| (e.owner.as_str(), e)));
    let top = top
        .into_iter()
        .map(|(o, n, v)| {
            (
                o,
                n,
                v.into_iter().map(|e| e.view(&s, &ctx).row()).collect(),
            )
        })
        .collect();
    let mut data = ctx.layout("Overview", "/", Some(30));
    merge(
        &mut data,
        overview_model_of(&slos, firing, owner_count, top),
    );
    ctx.respond("overview", &data)
}

pub(super) fn merge(into: &mut Json, from: Json) {
    if let (Some(a), Json::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn series_of(r: &Result<Vec<RangeSeries>, String>, legend: &str) -> Vec<Series> {
    r.as_ref()
        .map(|m| {
            m.iter()
                .map(|rs| Series {
                    name: if legend.is_empty() {
                        rs.labels.to_string()
                    } else {
                        defs::expand_legend(legend, |n| rs.labels.get(n))
                    },
                    points: rs.samples.iter().map(|p| (p.t, p.v)).collect(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /slos/{name}`: one SLO in detail.
pub async fn slo(State(s): State<AppState>, Path(name): Path<String>, ctx: PageCtx) -> Response {
    let now = crate::timefmt::now_ms();
    let slos = slo_views(&s, now).await;
    let Some(v) = slos
        .into_iter()
        .find(|v| v.name == name || format!("{}/{}", v.service, v.name) == name)
    else {
        return ctx.message(
            StatusCode::NOT_FOUND,
            "No such SLO",
            &format!("There is no SLO named {name:?}. The overview lists every SLO."),
        );
    };
    let (start, end, step, range) = time_range(&ctx, Duration::from_secs(6 * 3600));
    let engine = s.slos.as_ref().is_some_and(|e| !e.is_empty());
    let (budget_expr, sli_expr) = if engine {
        let sel = format!("slo={:?},service={:?}", v.name.as_str(), v.service.as_str());
        (
            format!("slo:error_budget_remaining:ratio{{{sel}}}"),
            format!(
                "clamp_min(1 - slo:burn_rate:ratio{{{sel},window=\"5m\"}} * {}, 0)",
                v.error_budget
            ),
        )
    } else {
        let sel = format!(
            "slo_service={:?},slo_name={:?}",
            v.service.as_str(),
            v.name.as_str()
        );
        (
            format!("slo:period_error_budget_remaining:ratio{{{sel}}}"),
            format!("1 - slo:sli_error:ratio_rate5m{{{sel}}}"),
        )
    };
    let svc = format!("{{service={:?}}}", v.service.as_str());
    let exprs = vec![
        budget_expr,
        sli_expr,
        format!("max(service:http_request_duration_seconds:p50_5m{svc})"),
        format!("max(service:http_request_duration_seconds:p90_5m{svc})"),
        format!("max(service:http_request_duration_seconds:p99_5m{svc})"),
    ];
    let r = range_queries(&s, exprs, start, end, step).await;
    let gap = step * 3;
    // The burn-down over the whole SLO window when the engine keeps it; else what the store
    // holds over the page's range.
    let (budget, budget_start, budget_gap) = match v.window_start_ms {
        Some(ws) if !v.burn_down.is_empty() => (
            vec![Series {
                name: "budget remaining".into(),
                points: v.burn_down.clone(),
            }],
            ws,
            2 * 3_600_000,
        ),
        _ => (series_of(&r[0], "budget remaining"), start, gap),
    };
    // The SLI per hour over the whole SLO window from the ledger, as the burn-down, when the
    // engine keeps it; else its 5m series over the page's range.
    let (sli, sli_title, sli_start, sli_gap) = match v.window_start_ms {
        Some(ws) if !v.sli_hourly.is_empty() => (
            vec![Series {
                name: "SLI per hour".into(),
                points: v.sli_hourly.clone(),
            }],
            "SLI per hour",
            ws,
            2 * 3_600_000,
        ),
        _ => (series_of(&r[1], "SLI"), "SLI (5m)", start, gap),
    };
    let mut latency = Vec::new();
    for (i, q) in ["p50", "p90", "p99"].iter().enumerate() {
        latency.extend(series_of(&r[2 + i], q));
    }
    let budget_chart = Chart {
        title: "Error budget remaining",
        unit: Unit::Percent,
        style: Style::Area,
        series: &budget,
        start_ms: budget_start,
        end_ms: end,
        thresholds: &[0.25],
        include: &[0.0, 1.0],
        max_gap_ms: budget_gap,
        tz: &ctx.tz,
    }
    .render();
    let objective = [v.objective];
    let sli_chart = Chart {
        title: sli_title,
        unit: Unit::Percent,
        style: Style::Line,
        series: &sli,
        start_ms: sli_start,
        end_ms: end,
        thresholds: &objective,
        include: &[],
        max_gap_ms: sli_gap,
        tz: &ctx.tz,
    }
    .render();
    let has_latency = latency.iter().any(|s| !s.points.is_empty());
    let latency_chart = has_latency.then(|| {
        Chart {
            title: "Latency p50/p90/p99",
            unit: Unit::Seconds,
            style: Style::Line,
            series: &latency,
            start_ms: start,
            end_ms: end,
            thresholds: &[],
            include: &[0.0],
            max_gap_ms: gap,
            tz: &ctx.tz,
        }
        .render()
    });
    // The SLO's alerts only get rows (an SLO has a handful: its burn-rate tiers).
    let alerts: Vec<Json> = alert_entries(&s, &AlertFilter::default())
        .0
        .iter()
        .filter(|e| e.labels().get("slo") == Some(v.name.as_str()))
        .take(listing::MAX_PAGE_SIZE)
        .map(|e| e.view(&s, &ctx).row())
        .collect();
    let burns: Vec<Json> = v
        .burns
        .iter()
        .map(|b| {
            json!({
                "pair": format!("{} / {}", b.long, b.short),
                "factor": format!("{}×", b.factor),
                "tier": b.tier,
                "long": b.long_burn.map(|x| format!("{x:.2}×")),
                "short": b.short_burn.map(|x| format!("{x:.2}×")),
                "firing": b.firing,
            })
        })
        .collect();
    let mut data = ctx.layout(&format!("SLO {}", v.name), "/", Some(30));
    merge(
        &mut data,
        json!({
            "slo": slo_row(&v),
            "period": v.window,
            "calendar": v.calendar.as_ref().map(|c| c.model(now)),
            "range": range,
            "budget_chart": budget_chart,
            "sli_chart": sli_chart,
            "latency_chart": latency_chart,
            "burns": burns,
            "parts": v.parts.iter().map(PartView::model).collect::<Vec<_>>(),
            "alerts": alerts,
            "playbook": "/playbooks/SLOBurnRate",
        }),
    );
    ctx.respond("slo", &data)
}

/// One table of current values: rows keyed by the dashboard's key labels, a column per
/// table panel, grouped by signal.
pub struct SignalTable {
    pub key: Vec<String>,
    /// `(signal, panel title, unit, thresholds)`.
    pub columns: Vec<(String, String, Unit, Option<defs::Thresholds>)>,
    /// Key values → one value per column.
    pub rows: BTreeMap<Vec<String>, Vec<Option<f64>>>,
}

/// The USE signals in the order the page shows them.
const USE_SIGNALS: [&str; 3] = ["utilisation", "saturation", "errors"];

/// Builds the table of `d`'s table panels from their instant results (`results[i]` for the
/// i-th table panel).
pub fn signal_table(d: &Dashboard, results: &[Result<Vec<InstantSample>, String>]) -> SignalTable {
    let panels: Vec<_> = USE_SIGNALS
        .iter()
        .flat_map(|sig| {
            d.panels.iter().enumerate().filter(move |(_, p)| {
                p.kind == PanelKind::Table && p.signal.as_deref() == Some(sig)
            })
        })
        .collect();
    let order: Vec<usize> = panels.iter().map(|(i, _)| *i).collect();
    let table_index: Vec<usize> = d
        .panels
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == PanelKind::Table)
        .map(|(i, _)| i)
        .collect();
    let mut rows: BTreeMap<Vec<String>, Vec<Option<f64>>> = BTreeMap::new();
    for (col, panel_idx) in order.iter().enumerate() {
        let Some(ri) = table_index.iter().position(|i| i == panel_idx) else {
            continue;
        };
        let Some(Ok(samples)) = results.get(ri) else {
            continue;
        };
        for smp in samples {
            let key: Vec<String> = d
                .key
                .iter()
                .map(|k| smp.labels.get(k).unwrap_or("").to_string())
                .collect();
            let row = rows.entry(key).or_insert_with(|| vec![None; order.len()]);
            let cell = &mut row[col];
            *cell = Some(cell.map_or(smp.v, |c: f64| c.max(smp.v)));
        }
    }
    SignalTable {
        key: d.key.clone(),
        columns: panels
            .iter()
            .map(|(_, p)| {
                (
                    p.signal.clone().unwrap_or_default(),
                    p.title.clone(),
                    p.unit,
                    p.thresholds,
                )
            })
            .collect(),
        rows,
    }
}

impl SignalTable {
    /// The view model, sorted by column `sort` (`None`: by worst severity, then key) in `desc`
    /// order; sort links keep the `other` query parameters.
    pub fn model(&self, prefix: &str, sort: Option<usize>, desc: bool, other: &str) -> Json {
        let severity = |col: usize, v: Option<f64>| -> Severity {
            match (v, self.columns[col].3) {
                (Some(v), Some(t)) => t.severity(v),
                _ => Severity::Ok,
            }
        };
        let mut rows: Vec<(&Vec<String>, &Vec<Option<f64>>)> = self.rows.iter().collect();
        match sort {
            Some(c) if c < self.columns.len() => rows.sort_by(|a, b| {
                let (x, y) = (
                    a.1[c].unwrap_or(f64::NEG_INFINITY),
                    b.1[c].unwrap_or(f64::NEG_INFINITY),
                );
                let o = x.total_cmp(&y).then_with(|| a.0.cmp(b.0));
                if desc {
                    o.reverse()
                } else {
                    o
                }
            }),
            _ => rows.sort_by(|a, b| {
                let worst = |r: &Vec<Option<f64>>| {
                    (0..r.len())
                        .map(|c| severity(c, r[c]))
                        .max()
                        .unwrap_or(Severity::Ok)
                };
                worst(b.1).cmp(&worst(a.1)).then_with(|| a.0.cmp(b.0))
            }),
        }
        let link = |c: usize| {
            let dir = if sort == Some(c) && desc {
                "asc"
            } else {
                "desc"
            };
            format!("?{prefix}sort={c}&amp;{prefix}dir={dir}{other}")
        };
        let mut groups: Vec<Json> = Vec::new();
        for sig in USE_SIGNALS {
            let span = self.columns.iter().filter(|c| c.0 == sig).count();
            if span > 0 {
                groups.push(json!({"signal": sig, "span": span}));
            }
        }
        json!({
            "key": self.key,
            "key_len": self.key.len(),
            "groups": groups,
            "columns": self.columns.iter().enumerate().map(|(i, c)| json!({
                "title": c.1,
                "signal": c.0,
                "href": link(i),
                "sorted": sort == Some(i),
                "arrow": if sort == Some(i) { if desc { "▼" } else { "▲" } } else { "" },
            })).collect::<Vec<_>>(),
            "rows": rows.iter().map(|(k, vals)| json!({
                "key": k,
                "cells": vals.iter().enumerate().map(|(c, v)| json!({
                    "value": v.map(|v| self.columns[c].2.format(v)).unwrap_or_else(|| "–".into()),
                    "class": severity(c, *v).class(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "empty": rows.is_empty(),
        })
    }
}

async fn table_for(s: &AppState, d: &Dashboard, now: i64) -> SignalTable {
    let exprs: Vec<String> = d
        .panels
        .iter()
        .filter(|p| p.kind == PanelKind::Table)
        .map(|p| {
            p.queries()
                .first()
                .map(|q| q.expr.clone())
                .unwrap_or_default()
        })
        .collect();
    let results = instant_queries(s, exprs, now).await;
    signal_table(d, &results)
}

/// Charts for the line panels of `d` over the page's range.
async fn line_charts(s: &AppState, ctx: &PageCtx, d: &Dashboard, default: Duration) -> Vec<Json> {
    let (start, end, step, _) = time_range(ctx, default);
    let lines = LinePanels::query(s, d, start, end, step).await;
    let mut i = 0;
    let mut out = Vec::new();
    for (p, qs) in lines.panels.iter().zip(&lines.queries) {
        let mut series = Vec::new();
        for q in qs {
            series.extend(series_of(
                &lines.results[i],
                q.legend.as_deref().unwrap_or(""),
            ));
            i += 1;
        }
        let include: &[f64] = if p.unit == Unit::Percent { &[0.0] } else { &[] };
        out.push(line_chart(
            p,
            &p.title,
            &series,
            include,
            (start, end, step),
            ctx,
        ));
    }
    out
}

/// The line panels of a dashboard, their queries, and each query's range result, in the
/// order of the queries, panel by panel.
struct LinePanels<'d> {
    panels: Vec<&'d defs::Panel>,
    queries: Vec<Vec<defs::Target>>,
    results: Vec<Result<Vec<RangeSeries>, String>>,
}

impl<'d> LinePanels<'d> {
    async fn query(s: &AppState, d: &'d Dashboard, start: i64, end: i64, step: i64) -> Self {
        let panels: Vec<_> = d
            .panels
            .iter()
            .filter(|p| p.kind == PanelKind::Line)
            .collect();
        let queries: Vec<Vec<defs::Target>> = panels.iter().map(|p| p.queries()).collect();
        let exprs: Vec<String> = queries.iter().flatten().map(|q| q.expr.clone()).collect();
        let results = range_queries(s, exprs, start, end, step).await;
        LinePanels {
            panels,
            queries,
            results,
        }
    }
}

/// A line panel's chart over `(start, end, step)`, titled `title`: the page's `title` and
/// `svg`.
fn line_chart(
    p: &defs::Panel,
    title: &str,
    series: &[Series],
    include: &[f64],
    (start, end, step): (i64, i64, i64),
    ctx: &PageCtx,
) -> Json {
    let levels = p.threshold_levels();
    json!({
        "title": p.title,
        "svg": Chart {
            title,
            unit: p.unit,
            style: Style::Line,
            series,
            start_ms: start,
            end_ms: end,
            thresholds: &levels,
            include,
            max_gap_ms: step * 3,
            tz: &ctx.tz,
        }.render(),
    })
}

/// `GET /use`: per node and per container, utilisation, saturation and errors side by side.
pub async fn use_page(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let now = crate::timefmt::now_ms();
    let (Some(nodes), Some(containers)) = (
        defs::builtin_dashboard("redline-use-node"),
        defs::builtin_dashboard("redline-use-container"),
    ) else {
        return ctx.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "USE",
            "the built-in USE dashboard definitions are missing",
        );
    };
    let node_table = table_for(&s, nodes, now).await;
    let container_table = table_for(&s, containers, now).await;
    let param_usize = |n: &str| ctx.param(n).and_then(|v| v.parse::<usize>().ok());
    let desc = |n: &str| ctx.param(n) != Some("asc");
    let keep = |prefix: &str| {
        let mut q = String::new();
        for k in ["sort", "dir"] {
            if let Some(v) = ctx.param(&format!("{prefix}{k}")) {
                q.push_str(&format!("&amp;{prefix}{k}={}", urlencode(v)));
            }
        }
        q
    };
    let charts = line_charts(&s, &ctx, nodes, Duration::from_secs(3600)).await;
    let mut data = ctx.layout("USE", "/use", Some(30));
    merge(
        &mut data,
        json!({
            "nodes": node_table.model("n", param_usize("nsort"), desc("ndir"), &keep("c")),
            "containers": container_table.model("c", param_usize("csort"), desc("cdir"), &keep("n")),
            "charts": charts,
        }),
    );
    ctx.respond("use", &data)
}

/// `GET /red`: per service, request rate, error ratio and latency quantiles over time.
pub async fn red(State(s): State<AppState>, ctx: PageCtx) -> Response {
    let Some(d) = defs::builtin_dashboard("redline-red-service") else {
        return ctx.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RED",
            "the built-in RED dashboard definition is missing",
        );
    };
    let (start, end, step, range) = time_range(&ctx, Duration::from_secs(3600));
    let LinePanels {
        panels,
        queries,
        results,
    } = LinePanels::query(&s, d, start, end, step).await;
    // service key → panel → series
    let mut services: BTreeMap<Vec<String>, Vec<Vec<Series>>> = BTreeMap::new();
    let mut i = 0;
    for (pi, qs) in queries.iter().enumerate() {
        for q in qs {
            if let Ok(m) = &results[i] {
                for rs in m {
                    let key: Vec<String> = d
                        .key
                        .iter()
                        .map(|k| rs.labels.get(k).unwrap_or("").to_string())
                        .collect();
                    let entry = services
                        .entry(key)
                        .or_insert_with(|| vec![Vec::new(); panels.len()]);
                    let legend = q.legend.as_deref().unwrap_or("");
                    let name = defs::expand_legend(legend, |n| rs.labels.get(n));
                    entry[pi].push(Series {
                        name: name.trim().to_string(),
                        points: rs.samples.iter().map(|p| (p.t, p.v)).collect(),
                    });
                }
            }
            i += 1;
        }
    }
    let rows: Vec<Json> = services
        .iter()
        .map(|(key, per_panel)| {
            let charts: Vec<Json> = panels
                .iter()
                .zip(per_panel)
                .map(|(p, series)| {
                    let title = format!("{} — {}", key.join("/"), p.title);
                    line_chart(p, &title, series, &[0.0], (start, end, step), &ctx)
                })
                .collect();
            json!({
                "name": key.last().cloned().unwrap_or_default(),
                "key": key.join("/"),
                "charts": charts,
            })
        })
        .collect();
    let mut data = ctx.layout("RED", "/red", Some(30));
    merge(
        &mut data,
        json!({"services": rows, "range": range, "empty": services.is_empty()}),
    );
    ctx.respond("red", &data)
}
