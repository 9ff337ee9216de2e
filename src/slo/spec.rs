//! The typed SLO spec ([`SloSpec`]) every input format is validated into.
//!
//! [`SloSpec`] says which service, who owns it, the objective, the window (rolling, or a
//! calendar month or week in a time zone: [`CalendarWindow`]), how the budget is counted
//! ([`Budgeting`]: events, or good time slices), the SLI ([`Sli`]: ratio of counters, latency from a classic histogram bucket,
//! availability from a 0/1 gauge, or an HTTP probe) and the multi-window multi-burn-rate
//! alerting ([`Alerting`]), whose factors are derived from the window by [`burn_rate_factor`]
//! unless overridden. The checks shared by the three readers (PromQL with a `{{.window}}`
//! placeholder, bucket boundaries, durations) live here too.

use super::calendar::CalendarWindow;
use super::Diag;
use crate::timefmt::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

const DAY: u64 = 86_400;

/// Which format an SLO was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    Native,
    Sloth,
    OpenSlo,
    Pyrra,
}

/// One validated SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    pub format: SpecFormat,
    /// The file it came from and the path of the SLO in it (`slos[0]`, `document[2]`).
    pub file: PathBuf,
    pub field: String,
    pub service: String,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub objective: Objective,
    pub window: SloWindow,
    pub budgeting: Budgeting,
    pub sli: Sli,
    /// Extra labels put on every generated series and alert.
    pub labels: BTreeMap<String, String>,
    pub alerting: Alerting,
}

/// The objective as a percentage in (0, 100), e.g. 99.9.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective(pub f64);

impl Objective {
    /// The objective as a ratio, e.g. 0.999.
    pub fn ratio(self) -> f64 {
        round12(self.0 / 100.0)
    }
    /// The error budget as a ratio of events, e.g. 0.001 for 99.9 %.
    pub fn error_budget(self) -> f64 {
        round12((100.0 - self.0) / 100.0)
    }
}

/// Rounds to 12 significant digits, so `1 - 0.999` prints as `0.001`.
pub(crate) fn round12(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.11e}").parse().unwrap_or(v)
}

/// The period the objective is measured over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloWindow {
    Rolling(Duration),
    /// A calendar month or week in a time zone; the budget is full again at each period start.
    /// Burn-rate factors use its nominal length (30 or 7 days); the ledger measures the
    /// period itself.
    Calendar(CalendarWindow),
}

impl SloWindow {
    /// The length used for burn-rate factors and the generated period window.
    pub fn period(&self) -> Duration {
        match self {
            SloWindow::Rolling(d) => *d,
            SloWindow::Calendar(c) => Duration::from_secs(c.nominal_seconds()),
        }
    }

    /// `30d`, `calendar month`, `calendar week`: the API's and the `slo:` series' name for
    /// the window.
    pub fn name(&self) -> String {
        match self {
            SloWindow::Rolling(d) => window_name(*d),
            SloWindow::Calendar(c) => format!("calendar {}", c.unit_name()),
        }
    }
}

/// How the error budget is counted (OpenSLO's `budgetingMethod`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Bad events against all events.
    Occurrences,
    /// Bad time slices against all time slices of the window: a slice is good when its share
    /// of good events is at least `target` (a slice without events is good).
    Timeslices { slice: Duration, target: f64 },
    /// The average of the slices' good ratios (slices without events left out).
    RatioTimeslices { slice: Duration },
}

impl Budgeting {
    /// `Occurrences`, `Timeslices`, `RatioTimeslices`: OpenSLO's names.
    pub fn name(&self) -> &'static str {
        match self {
            Budgeting::Occurrences => "Occurrences",
            Budgeting::Timeslices { .. } => "Timeslices",
            Budgeting::RatioTimeslices { .. } => "RatioTimeslices",
        }
    }

    /// The slice length, for the slice methods.
    pub fn slice(&self) -> Option<Duration> {
        match self {
            Budgeting::Occurrences => None,
            Budgeting::Timeslices { slice, .. } | Budgeting::RatioTimeslices { slice } => {
                Some(*slice)
            }
        }
    }
}

/// Checks `Timeslices`' slice target: the share of good events a slice needs, in (0, 1].
pub(crate) fn check_slice_target(d: &mut Diag, field: &str, target: Option<f64>) -> Option<f64> {
    match target {
        Some(t) if t > 0.0 && t <= 1.0 => Some(t),
        Some(t) => {
            d.err(
                field,
                format!("the share of good events a slice needs, in (0, 1], e.g. 0.95; got {t}"),
            );
            None
        }
        None => {
            d.err(
                field,
                "time slices need the share of good events that makes a slice good, e.g. 0.95",
            );
            None
        }
    }
}

/// Checks a slice length for the time-slice methods: whole minutes (the ledger's step), a
/// divisor of an hour (slices never straddle the ledger's hour blocks), and no longer than
/// the shortest burn-rate window of an enabled alert tier or alert policy (a window must hold
/// a slice).
pub(crate) fn check_slice(d: &mut Diag, field: &str, slice: Duration, alerting: &Alerting) {
    let s = slice.as_secs();
    if slice.subsec_nanos() != 0 || s == 0 || !s.is_multiple_of(60) || !3600u64.is_multiple_of(s) {
        d.err(
            field,
            format!(
                "a time slice is a whole number of minutes that divides an hour (1m, 2m, 5m, 10m, 15m, 30m, 1h); got {}",
                crate::timefmt::format_duration(slice)
            ),
        );
        return;
    }
    let shortest = [&alerting.page, &alerting.ticket]
        .into_iter()
        .filter(|t| t.enabled)
        .flat_map(|t| t.windows.iter().map(|w| w.short))
        .chain(alerting.policies.iter().map(|p| p.lookback))
        .min();
    if let Some(w) = shortest.filter(|w| *w < slice) {
        d.err(
            field,
            format!(
                "a time slice of {} is longer than the {} burn-rate window, which would never hold a whole slice; use a slice of at most {}",
                window_name(slice),
                window_name(w),
                window_name(w)
            ),
        );
    }
}

/// What counts as a bad event.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Two counter-rate queries with a `{{.window}}` placeholder.
    Ratio {
        events: RatioEvents,
        total: String,
    },
    /// Sloth's `raw.error_ratio_query`: one query that yields the error ratio over `{{.window}}`.
    ErrorRatio {
        query: String,
    },
    Latency(LatencySli),
    /// A 0/1 gauge (`up`, `probe_success`): each sample is one time slice, 0 is a bad slice.
    Availability {
        query: String,
    },
    /// redline probes the URL itself (runtime); there is no Prometheus data to generate from.
    Probe(ProbeSpec),
    /// A user journey: the weighted error ratios of other SLOs of the loaded set, step by step
    /// ([`super::composite`]).
    Composite(Vec<CompositePart>),
}

/// One part of a composite SLO: another SLO of the loaded set and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositePart {
    /// The part as written: `name` or `service/name`.
    pub slo: String,
    /// The part's key (`service/name`) once resolved against the loaded set
    /// ([`super::composite::resolve`]); an inline part's from the start.
    pub key: String,
    /// > 0; 1 unless given.
    pub weight: f64,
    /// The part's field path in its file, for errors.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RatioEvents {
    /// Rate of bad events.
    Bad(String),
    /// Rate of good events.
    Good(String),
}

/// Share of requests faster than a threshold, from a classic histogram (the `_bucket` series
/// whose `le` is the threshold against `_count`) or, with `native`, from a native histogram
/// (`histogram_fraction(0, threshold, …)` of its rate: any threshold, no bucket boundary
/// needed; requests are counted exactly up to the threshold's bucket and estimated within it,
/// as Prometheus interpolates).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySli {
    /// Histogram name; for a classic histogram without `_bucket`/`_count`.
    pub metric: String,
    /// Label matchers without braces, e.g. `job="checkout"`; may be empty.
    pub matchers: String,
    pub threshold: BucketBoundary,
    /// The metric is a native histogram.
    pub native: bool,
}

/// A classic histogram bucket boundary (`le` label value).
#[derive(Debug, Clone, PartialEq)]
pub struct BucketBoundary {
    /// As written in the spec, which must be the `le` value the exporter writes.
    pub written: String,
    pub seconds: f64,
}

impl BucketBoundary {
    /// The `le` values that denote this boundary: as written, and the form Prometheus 3
    /// normalises integral boundaries to (`1` ↔ `1.0`).
    pub fn le_values(&self) -> Vec<String> {
        let mut v = vec![self.written.clone()];
        let w = &self.written;
        if !w.contains(['.', 'e', 'E']) {
            v.push(format!("{w}.0"));
        } else if let Some(int) = w.strip_suffix(".0") {
            v.push(int.to_string());
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub method: String,
    pub url: String,
    pub expected_status: u16,
    pub timeout: Duration,
    pub interval: Duration,
}

/// PromQL giving the rate of bad and total events over a window (per second for counters;
/// sample counts for availability slices). The runtime ledger evaluates these at `1m`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQueries {
    pub errors: String,
    pub total: String,
}

impl Sli {
    /// The bad/total event queries for `window` (a PromQL duration such as `5m`), or `None`
    /// for kinds without event counts (Sloth raw error ratio, probe).
    pub fn event_queries(&self, window: &str) -> Option<EventQueries> {
        let w = |q: &str| with_window(q, window);
        match self {
            Sli::Ratio { events, total } => {
                let t = w(total);
                let errors = match events {
                    RatioEvents::Bad(b) => format!("({}) or (({t}) * 0)", w(b)),
                    RatioEvents::Good(g) => format!("({t}) - (({}) or (({t}) * 0))", w(g)),
                };
                Some(EventQueries { errors, total: t })
            }
            Sli::Latency(l) if l.native => {
                let rate = format!("rate({}{{{}}}[{window}])", l.metric, l.matchers);
                let t = format!("sum(histogram_count({rate}))");
                let g = format!(
                    "sum(histogram_fraction(0, {}, {rate}) * histogram_count({rate}))",
                    l.threshold.written
                );
                Some(EventQueries {
                    errors: format!("({t}) - (({g}) or (({t}) * 0))"),
                    total: t,
                })
            }
            Sli::Latency(l) => {
                let sep = if l.matchers.is_empty() { "" } else { "," };
                let les = l.threshold.le_values().join("|").replace('.', "\\\\.");
                let t = format!("sum(rate({}_count{{{}}}[{window}]))", l.metric, l.matchers);
                let g = format!(
                    "sum(rate({}_bucket{{{}{sep}le=~\"{les}\"}}[{window}]))",
                    l.metric, l.matchers
                );
                Some(EventQueries {
                    errors: format!("({t}) - (({g}) or (({t}) * 0))"),
                    total: t,
                })
            }
            Sli::Availability { query } => {
                let range = if is_vector_selector(query) {
                    format!("{query}[{window}]")
                } else {
                    format!("({query})[{window}:1m]")
                };
                let t = format!("sum(count_over_time({range}))");
                Some(EventQueries {
                    errors: format!("{t} - sum(sum_over_time({range}))"),
                    total: t,
                })
            }
            Sli::ErrorRatio { .. } | Sli::Probe(_) | Sli::Composite(_) => None,
        }
    }
}

fn is_vector_selector(q: &str) -> bool {
    matches!(
        crate::promql::Engine::parse(q),
        Ok(promql_parser::parser::Expr::VectorSelector(_))
    )
}

/// Multi-window multi-burn-rate alerting for one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    pub page: AlertTier,
    pub ticket: AlertTier,
    /// Labels and annotations on every alert of the SLO (tier ones take precedence).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Name of the alert that fires when the SLI has no data.
    pub absent_alert: String,
    /// The least traffic a burn-rate pair needs in its short window to fire (`min_events`,
    /// `min_rate`); the config's `slo` section fills the bounds an SLO leaves unset.
    pub min_traffic: crate::config::slo::MinTraffic,
    /// The budget-exhaustion forecast ([`super::forecast`]); `None`: no forecast.
    pub forecast: Option<super::forecast::Forecast>,
    /// Alert policies ([`super::policy`]); when there are any, they replace the tiers.
    pub policies: Vec<super::policy::PolicyAlert>,
}

/// One alert tier (page or ticket): two burn-rate windows, either of which fires it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTier {
    pub enabled: bool,
    pub alert: String,
    pub windows: [BurnRateWindow; 2],
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Fire when the error ratio exceeds `factor` × error budget over both `long` and `short`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRateWindow {
    pub long: Duration,
    pub short: Duration,
    /// Share of the period's budget (in %) spent in `long` at this burn rate.
    pub budget_percent: f64,
    pub factor: f64,
}

/// The burn rate at which `budget_percent` % of the budget of `period` is spent in `long`:
/// `budget × period / long`. For 30 days: 2 % in 1h = 14.4, 5 % in 6h = 6, 10 % in 1d = 3,
/// 10 % in 3d = 1 (the SRE workbook's table).
pub fn burn_rate_factor(period: Duration, long: Duration, budget_percent: f64) -> f64 {
    round12(budget_percent * period.as_secs_f64() / (100.0 * long.as_secs_f64()))
}

/// The workbook's windows: (long, short, budget %) for page and ticket.
pub(crate) const PAGE_WINDOWS: [(u64, u64, f64); 2] = [(3600, 300, 2.0), (6 * 3600, 1800, 5.0)];
pub(crate) const TICKET_WINDOWS: [(u64, u64, f64); 2] =
    [(DAY, 2 * 3600, 10.0), (3 * DAY, 6 * 3600, 10.0)];

fn tier_windows(period: Duration, table: [(u64, u64, f64); 2]) -> [BurnRateWindow; 2] {
    table.map(|(long, short, budget)| {
        let long = Duration::from_secs(long);
        BurnRateWindow {
            long,
            short: Duration::from_secs(short),
            budget_percent: budget,
            factor: burn_rate_factor(period, long, budget),
        }
    })
}

/// What a format says about one alert tier; `None` fields take defaults. Read as written by
/// the native format's `alerting.page` and `alerting.ticket`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TierInput {
    pub disable: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Overrides keyed by the long window (`1h`, `6h` / `1d`, `3d`), with their field path.
    pub factors: BTreeMap<String, f64>,
}

/// What a format says about alerting. Read as written by the native format's `alerting`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertingInput {
    /// One name for both tiers (Sloth's `alerting.name`); default `<Service><Name>BurnRate…`.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub page: TierInput,
    pub ticket: TierInput,
    /// Events the short window of a burn-rate pair must hold for it to fire.
    pub min_events: Option<f64>,
    /// Events per second over the short window of a burn-rate pair for it to fire.
    pub min_rate: Option<f64>,
    pub forecast: Option<super::forecast::ForecastInput>,
}

/// Decodes each entry of a file's `slos` list as `R` and builds it with
/// `build(d, "slos[i]", raw)`; an empty list is an error.
pub(crate) fn each_slo<R: for<'de> Deserialize<'de>>(
    d: &mut Diag,
    slos: Vec<serde_yaml_ng::Value>,
    mut build: impl FnMut(&mut Diag, &str, R) -> Option<SloSpec>,
) -> Vec<SloSpec> {
    if slos.is_empty() {
        d.err("slos", "no SLOs listed");
    }
    let mut out = Vec::new();
    for (i, v) in slos.into_iter().enumerate() {
        let at = format!("slos[{i}]");
        if let Some(s) = d.decode::<R>(&at, v).and_then(|raw| build(d, &at, raw)) {
            out.push(s);
        }
    }
    out
}

/// `checkout` + `requests-availability` → `CheckoutRequestsAvailability`.
pub(crate) fn camel(parts: &[&str]) -> String {
    let mut s: String = parts
        .iter()
        .flat_map(|p| p.split(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "Slo");
    }
    s
}

/// Builds the typed alerting; `field` is the path of the alerting section for errors.
pub(crate) fn build_alerting(
    d: &mut Diag,
    field: &str,
    service: &str,
    name: &str,
    window: &SloWindow,
    objective: Objective,
    input: AlertingInput,
) -> Alerting {
    let base = camel(&[service, name]);
    let period = window.period();
    let forecast = input
        .forecast
        .and_then(|f| super::forecast::build_forecast(d, &format!("{field}.forecast"), period, f));
    if let Some(n) = &input.name {
        if !is_metric_name(n) {
            d.err(
                format!("{field}.name"),
                format!("{n:?} is not a valid alert name (letters, digits, _ and not starting with a digit)"),
            );
        }
    }
    check_alert_labels(d, field, &input.labels, &input.annotations);
    check_alert_labels(
        d,
        &format!("{field}.page"),
        &input.page.labels,
        &input.page.annotations,
    );
    check_alert_labels(
        d,
        &format!("{field}.ticket"),
        &input.ticket.labels,
        &input.ticket.annotations,
    );
    let mut tier = |tier: &str, t: TierInput, table, default_name: String| {
        let mut windows = tier_windows(period, table);
        for (key, f) in &t.factors {
            let path = format!("{field}.{tier}.factors.{key}");
            match windows.iter_mut().find(|w| window_name(w.long) == *key) {
                Some(w) if f.is_finite() && *f > 0.0 => w.factor = *f,
                Some(_) => d.err(&path, format!("burn-rate factor must be > 0, got {f}")),
                None => d.err(
                    &path,
                    format!(
                        "unknown window {key:?}: {tier} factors are keyed by the long window, {} or {}",
                        window_name(windows[0].long),
                        window_name(windows[1].long)
                    ),
                ),
            }
        }
        if !t.disable {
            for w in &windows {
                let threshold = w.factor * objective.error_budget();
                if threshold >= 1.0 {
                    d.err(
                        format!("{field}.{tier}.factors.{}", window_name(w.long)),
                        format!(
                            "burn rate {} × error budget {} = {} ≥ 1: an error ratio can never exceed it, so the {tier} alert could never fire; set a lower factor or disable the {tier} alert",
                            w.factor,
                            objective.error_budget(),
                            round12(threshold)
                        ),
                    );
                }
            }
        }
        AlertTier {
            enabled: !t.disable,
            alert: default_name,
            windows,
            labels: t.labels,
            annotations: t.annotations,
        }
    };
    let (page_name, ticket_name) = match &input.name {
        Some(n) => (n.clone(), n.clone()),
        None => (
            format!("{base}BurnRatePage"),
            format!("{base}BurnRateTicket"),
        ),
    };
    let page = tier("page", input.page, PAGE_WINDOWS, page_name);
    let ticket = tier("ticket", input.ticket, TICKET_WINDOWS, ticket_name);
    let min_traffic = crate::config::slo::MinTraffic {
        events: input.min_events,
        rate: input.min_rate,
    };
    if let Err((bound, msg)) = min_traffic.check() {
        d.err(format!("{field}.{bound}"), msg);
    }
    Alerting {
        min_traffic,
        page,
        ticket,
        labels: input.labels,
        annotations: input.annotations,
        absent_alert: format!("{base}SLIDataAbsent"),
        forecast,
        policies: Vec::new(),
    }
}

/// The labels and annotations of generated alerting rules are rule labels and annotations:
/// they are checked as the rule loader checks them (label names as Prometheus 3 allows them,
/// values templates that parse), so the generated file loads.
fn check_alert_labels(
    d: &mut Diag,
    field: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) {
    for (kind, map) in [("labels", labels), ("annotations", annotations)] {
        for (name, value) in map {
            let path = format!("{field}.{kind}.{name}");
            if kind == "labels" && !crate::rules::file::is_rule_label_name(name) {
                d.err(
                    &path,
                    format!("{name:?} is not a label name a rule may set"),
                );
            } else if name.is_empty() {
                d.err(&path, "an annotation name must not be empty");
            } else if let Err(e) = crate::gotemplate::Template::parse(name, value) {
                d.err(&path, format!("not a valid template: {e}"));
            }
        }
    }
}

pub(crate) fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// Formats a window as one unit (`5m`, `6h`, `28d`), the form used in rule names and ranges.
pub fn window_name(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, mult) in [("d", DAY), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(mult) {
            return format!("{}{unit}", s / mult);
        }
    }
    format!("{s}s")
}

fn window_placeholder() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\{\{\s*\.window\s*\}\}").expect("static regex"))
}

/// Replaces Sloth's `{{.window}}` placeholder with a PromQL duration.
pub fn with_window(query: &str, window: &str) -> String {
    window_placeholder()
        .replace_all(query, regex::NoExpand(window))
        .into_owned()
}

/// Checks a query that must contain `{{.window}}` and be valid PromQL once it is filled in.
pub(crate) fn check_window_query(d: &mut Diag, field: &str, query: &str) -> Option<String> {
    let query = crate::promql::strip_comments(query);
    let q = query.trim();
    if q.is_empty() {
        d.err(field, "empty query");
        return None;
    }
    if !window_placeholder().is_match(q) {
        d.err(
            field,
            "the query has no {{.window}} placeholder: write the range as [{{.window}}], e.g. sum(rate(http_requests_total[{{.window}}]))",
        );
        return None;
    }
    check_promql(d, field, &with_window(q, "5m"))?;
    Some(q.to_string())
}

/// Checks that `query` parses as PromQL; returns it without comments and surrounding
/// whitespace, ready to be embedded in generated expressions.
pub(crate) fn check_promql(d: &mut Diag, field: &str, query: &str) -> Option<String> {
    match crate::promql::Engine::parse(query) {
        Ok(_) => Some(crate::promql::strip_comments(query).trim().to_string()),
        Err(e) => {
            d.err(field, format!("invalid PromQL {query:?}: {e}"));
            None
        }
    }
}

/// Validates a histogram bucket boundary written as a plain decimal number (`0.25`, `1`, `2.5`).
/// The threshold of a native-histogram latency SLI: any positive finite number of seconds.
pub(crate) fn check_native_threshold(
    d: &mut Diag,
    field: &str,
    written: &str,
) -> Option<BucketBoundary> {
    match written.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Some(BucketBoundary {
            written: written.to_string(),
            seconds: v,
        }),
        _ => {
            d.err(
                field,
                format!("{written:?} must be a positive finite number of seconds (e.g. 0.3)"),
            );
            None
        }
    }
}

pub(crate) fn check_bucket_boundary(
    d: &mut Diag,
    field: &str,
    written: &str,
) -> Option<BucketBoundary> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$").expect("static regex")
    });
    let bad = |d: &mut Diag, why: &str| {
        d.err(
            field,
            format!(
                "{why}: the threshold must be a bucket boundary of the histogram, written exactly as its `le` label value (e.g. \"0.25\", \"1\", \"2.5\"); requests are counted from that one bucket, so a value between boundaries or written differently (\"0.250\", \"250ms\") matches no series"
            ),
        )
    };
    if !re.is_match(written) {
        bad(d, &format!("{written:?} is not a plain decimal number"));
        return None;
    }
    match written.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Some(BucketBoundary {
            written: written.to_string(),
            seconds: v,
        }),
        _ => {
            bad(d, &format!("{written:?} must be a positive finite number"));
            None
        }
    }
}

pub(crate) fn check_duration(d: &mut Diag, field: &str, s: &str) -> Option<Duration> {
    match parse_duration(s) {
        Ok(v) if !v.is_zero() => Some(v),
        Ok(_) => {
            d.err(field, "duration must be > 0");
            None
        }
        Err(e) => {
            d.err(field, e.to_string());
            None
        }
    }
}

/// Checks the SLO's name-like fields, shared by all formats.
pub(crate) fn check_ident(d: &mut Diag, field: &str, s: &str) {
    if s.trim().is_empty() {
        d.err(field, "must not be empty");
    } else if s.contains(['"', '\\', '\n', '{', '}']) {
        d.err(
            field,
            format!("{s:?} must not contain quotes, backslashes, braces or newlines"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn factors(period_days: u64) -> Vec<f64> {
        let p = Duration::from_secs(period_days * DAY);
        PAGE_WINDOWS
            .iter()
            .chain(TICKET_WINDOWS.iter())
            .map(|(long, _, budget)| burn_rate_factor(p, Duration::from_secs(*long), *budget))
            .collect()
    }

    #[test]
    fn workbook_factors_for_30_days() {
        assert_eq!(factors(30), vec![14.4, 6.0, 3.0, 1.0]);
    }

    #[test]
    fn factors_recomputed_for_28_days() {
        // 2 % of a 28d budget in 1h = 0.02 × 672h / 1h, and so on.
        assert_eq!(factors(28), vec![13.44, 5.6, 2.8, 0.933333333333]);
    }

    #[test]
    fn calendar_month_uses_30_days() {
        let month = SloWindow::Calendar(CalendarWindow::month_utc());
        assert_eq!(month.period(), Duration::from_secs(30 * DAY));
        assert_eq!(
            burn_rate_factor(month.period(), Duration::from_secs(H), 2.0),
            14.4
        );
    }

    #[test]
    fn error_budget_prints_clean() {
        assert_eq!(Objective(99.9).error_budget(), 0.001);
        assert_eq!(Objective(99.9).ratio(), 0.999);
        assert_eq!(Objective(95.0).error_budget(), 0.05);
    }

    #[test]
    fn alert_names_are_camel_case_of_service_and_name() {
        assert_eq!(
            camel(&["checkout", "requests-availability"]),
            "CheckoutRequestsAvailability"
        );
        assert_eq!(
            camel(&["k8s-apiserver", "p99_latency"]),
            "K8sApiserverP99Latency"
        );
        assert_eq!(camel(&["3scale", "x"]), "Slo3scaleX");
    }

    #[test]
    fn window_placeholder_with_or_without_spaces() {
        assert_eq!(with_window("rate(x[{{.window}}])", "5m"), "rate(x[5m])");
        assert_eq!(with_window("rate(x[{{ .window }}])", "1h"), "rate(x[1h])");
    }

    #[test]
    fn integral_bucket_boundaries_match_prometheus_3_normalised_form() {
        let b = |w: &str| {
            BucketBoundary {
                written: w.into(),
                seconds: 0.0,
            }
            .le_values()
        };
        assert_eq!(b("1"), vec!["1", "1.0"]);
        assert_eq!(b("2.0"), vec!["2.0", "2"]);
        assert_eq!(b("0.25"), vec!["0.25"]);
    }

    #[test]
    fn bucket_boundary_format() {
        let p = std::path::Path::new("f.yml");
        let mut d = Diag::new(p);
        assert!(check_bucket_boundary(&mut d, "t", "0.3").is_some());
        assert!(check_bucket_boundary(&mut d, "t", "1e-3").is_some());
        assert!(d.errors.is_empty());
        for bad in ["300ms", "+Inf", "0", "-1", ".5", "0.3s"] {
            assert!(check_bucket_boundary(&mut d, "t", bad).is_none(), "{bad}");
        }
        assert_eq!(d.errors.len(), 6);
        assert!(d.errors[0].message.contains("must be a bucket boundary"));
    }

    #[test]
    fn factor_too_high_for_objective_is_an_error() {
        let p = std::path::Path::new("f.yml");
        let mut d = Diag::new(p);
        let a = build_alerting(
            &mut d,
            "slos[0].alerting",
            "svc",
            "slo",
            &SloWindow::Rolling(Duration::from_secs(30 * DAY)),
            Objective(90.0),
            AlertingInput::default(),
        );
        assert_eq!(a.page.windows[0].factor, 14.4);
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        assert_eq!(d.errors[0].field, "slos[0].alerting.page.factors.1h");
    }

    #[test]
    fn factor_overrides_by_long_window() {
        let p = std::path::Path::new("f.yml");
        let mut d = Diag::new(p);
        let input = AlertingInput {
            page: TierInput {
                factors: BTreeMap::from([("1h".into(), 10.0), ("2h".into(), 3.0)]),
                ..TierInput::default()
            },
            ..AlertingInput::default()
        };
        let a = build_alerting(
            &mut d,
            "alerting",
            "svc",
            "slo",
            &SloWindow::Rolling(Duration::from_secs(28 * DAY)),
            Objective(99.9),
            input,
        );
        assert_eq!(a.page.windows[0].factor, 10.0);
        assert_eq!(a.page.windows[1].factor, 5.6);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].field, "alerting.page.factors.2h");
    }
}
