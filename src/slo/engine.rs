//! The SLO runtime: every ledger step, count each SLO's events, persist them, recompute every
//! figure and burn-rate alert, write `slo:` series, and hand alerts to the pipeline.
//!
//! [`spawn`] loads each SLO's ledger and counter cursors from the state database and starts
//! one task that runs a round at every `evaluation_interval`, aligned to the interval. A round
//! 1. reads every completed ledger step since the last one ([`super::sli::read_step`]),
//! 2. writes the new steps, gaps and cursors in one transaction,
//! 3. computes the figures ([`SloFigures`]) from in-memory window sums ([`Ledger`]),
//! 4. decides the alerts ([`decide_alerts`]) and sends them on the alerts channel,
//! 5. appends the `slo:` series to the store (names in `rules/slo/README.md`).
//!
//! **Time scale.** The ledger step is one minute. For tests and demos `ledger_step` may be
//! shorter: one step then *stands for* a minute, and every window (5m … 30d) is counted in
//! steps, so a demo at 60× speed shows a month of budget in 12 hours.
//!
//! **Restarts.** The last cursors are stored with the last step written. At the first round
//! after a start with steps missing in between, the counters are read from the stored cursors
//! to now in one go. When no counter went down across the gap, the increase is exact and is
//! spread evenly over the missing steps (the split inside the gap is unknown; the sum is
//! not). When a counter went down (its process restarted too) or the SLI is not counter-based,
//! the missing steps are stored as a gap: no events, no budget consumed, shown as a gap.
//! The store starts empty, so that first read waits (up to `RESTART_GRACE_STEPS` rounds'
//! steps) until the SLI's counters have been scraped again.
//!
//! **Alerts.** Multi-window multi-burn-rate, as the SRE workbook: a window pair fires when the
//! burn rate exceeds its factor over both the long and the short window. Pairs are ordered
//! fastest first (page 1h/5m, page 6h/30m, ticket 1d/2h, ticket 3d/6h); only the fastest firing
//! pair of an SLO fires, the slower ones are held back. `SLODataAbsent` fires after
//! [`ABSENT_STEPS`] steps without SLI data and `SLOBudgetExhausted` when the window's budget
//! is spent. Firing alerts are re-sent every round with `ends_at = now + 4 × interval`;
//! resolved ones once with `ends_at = now`.

use super::backfill::{BackfillChunk, Backfilled};
use super::figures::{self, Counts, ErrorBudget};
use super::forecast::{forecast, ExhaustionForecast, EXHAUSTION_ALERT};
use super::ledger::{Ledger, SliceRule, BLOCK};
use super::policy::{policy_alerts, policy_firing, policy_rows, PolicyAlertRow};
use super::sli::{read_step, Cursors, SliSource};
use super::spec::{window_name, Budgeting, SloSpec, SloWindow};
use crate::alerting::Alert;
use crate::promql::Engine;
use crate::state::ledger::{LedgerGap, LedgerMinute, LedgerWrite};
use crate::state::{StateDb, StateError};
use crate::store::{Labels, Store};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The name of the multi-window burn-rate alert.
pub const BURN_RATE_ALERT: &str = "SLOBurnRate";
/// The name of the alert raised when an SLI has no data.
pub const DATA_ABSENT_ALERT: &str = "SLODataAbsent";
/// The name of the alert raised when the window's error budget is spent.
pub const BUDGET_EXHAUSTED_ALERT: &str = "SLOBudgetExhausted";

/// A nominal ledger minute, in seconds.
const MINUTE: i64 = 60;
/// Steps without SLI data before `SLODataAbsent` fires.
pub const ABSENT_STEPS: u32 = 5;
/// Steps the in-memory ledger keeps one by one: the longest burn-rate window (3d) and a block.
const DETAIL_STEPS: i64 = 3 * 24 * 60 + BLOCK;
/// The most steps one round reads one by one; a longer stretch is treated as a gap.
const MAX_CATCH_UP: i64 = 6 * 60;
/// Steps the back-fill after a restart waits for the SLI's counters to be scraped again (the
/// store starts empty): a round before the first scrape would otherwise find no data and
/// record the whole restart as a gap.
const RESTART_GRACE_STEPS: i64 = 5;

/// Runtime settings of the SLO engine.
#[derive(Clone, Debug)]
pub struct SloEngineOptions {
    /// How often a round runs. Default 1m.
    pub evaluation_interval: Duration,
    /// The real time one ledger minute takes: 1m except in tests and demos.
    pub ledger_step: Duration,
    /// How long ledger rows are kept; default the SLO period plus one day.
    pub ledger_retention: Option<Duration>,
    /// Base URL of playbook links (`<external_url>/playbooks/<alertname>`).
    pub external_url: String,
    /// `rule_query_url`: a new SLO's ledger is back-filled from this query API instead of
    /// the local store ([`super::backfill`]).
    pub backfill_query: Option<crate::config::rule_query::RuleQueryConfig>,
    /// Back-fill the ledger of an SLO that appears with an empty one. Default true.
    pub backfill: bool,
}

impl Default for SloEngineOptions {
    fn default() -> Self {
        SloEngineOptions {
            evaluation_interval: Duration::from_secs(60),
            ledger_step: Duration::from_secs(60),
            ledger_retention: None,
            external_url: String::new(),
            backfill_query: None,
            backfill: true,
        }
    }
}

/// One row of the burn-rate table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BurnRateRow {
    /// `page` or `ticket`.
    pub severity: String,
    pub long_window: String,
    pub short_window: String,
    pub factor: f64,
    pub long_burn_rate: f64,
    pub short_burn_rate: f64,
    /// Both windows above the factor.
    pub above_threshold: bool,
    /// The alert of this pair fires (the fastest pair above its threshold).
    pub firing: bool,
    /// Above its threshold but held back by a faster firing pair.
    pub held_back: bool,
    /// Events counted in the short window.
    pub short_window_events: f64,
    /// Above its threshold but held back because the short window holds less traffic than
    /// `min_events`/`min_rate` ask for; a slower pair may fire instead.
    pub held_low_traffic: bool,
}

/// A stretch without data, in ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GapRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Every figure of one SLO after a round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloFigures {
    pub service: String,
    pub name: String,
    pub owner: String,
    pub description: String,
    /// Percent, e.g. 99.9.
    pub objective: f64,
    /// `30d`, `28d`, `calendar month` or `calendar week`.
    pub window: String,
    /// The compliance period: for a calendar window the month or week now running, which
    /// ends in the future; for a rolling window the window up to now.
    pub period: Period,
    /// `Occurrences`, `Timeslices` or `RatioTimeslices`; with a time-slice method the
    /// events, attainment, budget and burn rates count slices (see `rules/slo/README.md`).
    pub budgeting: String,
    /// The slice length (`1m`) of a time-slice method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_slice: Option<String>,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub good_events: f64,
    pub bad_events: f64,
    pub total_events: f64,
    /// Share of good events over the window; 1 without events.
    pub attainment: f64,
    pub error_budget: ErrorBudget,
    /// Burn rate over the fastest configured long window (1h by default).
    pub current_burn_rate: f64,
    pub current_burn_window: String,
    /// `null` when nothing burns.
    pub time_to_exhaustion_seconds: Option<f64>,
    pub burn_rates: Vec<BurnRateRow>,
    /// Every alert window's burn rate, by window name.
    pub window_burn_rates: BTreeMap<String, f64>,
    pub data_absent: bool,
    pub budget_exhausted: bool,
    /// Remaining budget ratio at the end of each hour of the window (ms, ratio).
    pub burn_down: Vec<(i64, f64)>,
    /// The SLI of each hour of the window (ms of the hour's end, good ÷ total events of the
    /// hour, or of its time slices); hours without events are left out.
    pub sli_hourly: Vec<(i64, f64)>,
    pub gaps: Vec<GapRange>,
    /// Names of the alerts firing now (`SLOBurnRate`, …).
    pub firing_alerts: Vec<String>,
    /// The steps back-filled when the SLO appeared, and from where; `null` when none were.
    pub backfilled_from: Option<Backfilled>,
    /// The budget-exhaustion forecast, when the spec asks for one.
    pub exhaustion_forecast: Option<ExhaustionForecast>,
    /// The alert policies' conditions and states ([`super::policy`]), when the spec has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_alerts: Vec<PolicyAlertRow>,
    /// A composite SLO's parts ([`super::composite`]); absent for other SLOs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<super::composite::PartFigures>>,
}

/// The compliance period of an SLO's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Period {
    /// `rolling` or `calendar`.
    pub kind: String,
    /// RFC 3339, UTC.
    pub start: String,
    pub end: String,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
    /// The IANA zone of a calendar period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One SLO's runtime state.
pub struct SloRuntime {
    pub spec: SloSpec,
    pub key: String,
    pub source: SliSource,
    pub ledger: Ledger,
    pub cursors: Cursors,
    /// The next step to read.
    next_step: Option<i64>,
    /// The stored cursors are older than the next step (first round after a restart).
    after_restart: bool,
    /// The first step a round after the restart reached: the back-fill waits for the SLI's
    /// first scrape from there, for [`RESTART_GRACE_STEPS`].
    restart_seen: Option<i64>,
    absent_steps: u32,
    /// What was back-filled into the ledger when the SLO appeared.
    pub backfilled: Option<Backfilled>,
    /// Per alert policy, since when (ms) its condition holds: pending or firing.
    pub(crate) policy_since: Vec<Option<i64>>,
}

impl SloRuntime {
    /// A runtime for `spec` with an empty ledger.
    pub fn new(spec: SloSpec, source: SliSource) -> SloRuntime {
        SloRuntime {
            key: slo_key(&spec),
            ledger: fresh_ledger(&spec),
            spec,
            source,
            cursors: Cursors::default(),
            next_step: None,
            after_restart: false,
            restart_seen: None,
            absent_steps: 0,
            backfilled: None,
            policy_since: Vec::new(),
        }
    }
}

/// An empty ledger sized for `spec`'s window.
fn fresh_ledger(spec: &SloSpec) -> Ledger {
    Ledger::new(DETAIL_STEPS, period_steps(&spec.window) + 31 * 24 * 60)
        .with_slices(slice_rule(&spec.budgeting))
}

/// The first step of an SLO's ledger loaded from the database when `now_step` is current.
fn load_from(spec: &SloSpec, now_step: i64) -> i64 {
    (now_step - period_steps(&spec.window) - BLOCK).div_euclid(BLOCK) * BLOCK
}

/// `service/name`: the SLO's identity in the ledger and the API.
pub fn slo_key(s: &SloSpec) -> String {
    format!("{}/{}", s.service, s.name)
}

/// The ledger's slice rule for a budgeting method.
pub fn slice_rule(b: &Budgeting) -> Option<SliceRule> {
    match *b {
        Budgeting::Occurrences => None,
        Budgeting::Timeslices { slice, target } => Some(SliceRule::Good {
            steps: dur_steps(slice),
            target,
        }),
        Budgeting::RatioTimeslices { slice } => Some(SliceRule::Ratio {
            steps: dur_steps(slice),
        }),
    }
}

/// The most steps a window spans (a calendar period's longest month or week, with an hour
/// of daylight saving).
fn period_steps(w: &SloWindow) -> i64 {
    match w {
        SloWindow::Rolling(d) => (d.as_secs() as i64 / MINUTE).max(1),
        SloWindow::Calendar(c) => match c.unit {
            super::calendar::CalendarUnit::Month { .. } => 31 * 24 * 60 + 60,
            super::calendar::CalendarUnit::Week { .. } => 7 * 24 * 60 + 60,
        },
    }
}

fn dur_steps(d: Duration) -> i64 {
    (d.as_secs() as i64 / MINUTE).max(1)
}

/// The window `[from, to)` in steps, and its length in seconds, for a round whose last
/// complete step is `to − 1`. A calendar window is the period step `to − 1` lies in, from its
/// start to `to`, and its length is the whole period's (a DST month is an hour shorter or
/// longer). Steps are read as minutes of the calendar: with a test step shorter than a minute,
/// the calendar runs faster than the clock.
pub fn window_steps(w: &SloWindow, to: i64, _step_ms: i64) -> (i64, i64, f64) {
    match w {
        SloWindow::Rolling(d) => {
            let n = dur_steps(*d);
            (to - n, to, d.as_secs_f64())
        }
        SloWindow::Calendar(_) => {
            let (start, end) = calendar_period_steps(w, to);
            (start.min(to), to, ((end - start) * MINUTE) as f64)
        }
    }
}

/// The calendar period `[start, end)` in steps that step `to − 1` lies in; for a rolling
/// window, the window ending at `to`.
pub fn calendar_period_steps(w: &SloWindow, to: i64) -> (i64, i64) {
    match w {
        SloWindow::Rolling(d) => (to - dur_steps(*d), to),
        SloWindow::Calendar(c) => match c.period_at((to - 1) * MINUTE) {
            Some((start, end)) => (start.div_euclid(MINUTE), end.div_euclid(MINUTE)),
            // Only outside the years −9999…9999: an empty period.
            None => (to, to),
        },
    }
}

/// Computes every figure of one SLO over its ledger; `to` is the first step not yet complete.
pub fn compute_figures(rt: &SloRuntime, to: i64, step_ms: i64) -> SloFigures {
    let spec = &rt.spec;
    let eb = spec.objective.error_budget();
    let (from, to, window_secs) = window_steps(&spec.window, to, step_ms);
    let counts = rt.ledger.budget_counts(from, to);
    // Time slices: the budget is a share of every slice of the period, not of those so far.
    let budget_base = match (spec.budgeting, spec.budgeting.slice()) {
        (Budgeting::Timeslices { .. }, Some(slice)) => {
            Counts::new(counts.bad, (window_secs / slice.as_secs_f64()).floor())
        }
        _ => counts,
    };
    let budget = figures::error_budget(budget_base, eb, window_secs);
    let mut window_burn_rates = BTreeMap::new();
    let mut rows = Vec::new();
    let mut fired = false;
    for (severity, tier) in [
        ("page", &spec.alerting.page),
        ("ticket", &spec.alerting.ticket),
    ] {
        for w in &tier.windows {
            let long = figures::burn_rate(rt.ledger.budget_counts(to - dur_steps(w.long), to), eb);
            let short =
                figures::burn_rate(rt.ledger.budget_counts(to - dur_steps(w.short), to), eb);
            // The guard counts events, whatever the budget counts.
            let short_counts = rt.ledger.sum(to - dur_steps(w.short), to);
            window_burn_rates.insert(window_name(w.long), long);
            window_burn_rates.insert(window_name(w.short), short);
            if !tier.enabled {
                continue;
            }
            let above = long > w.factor && short > w.factor;
            let low_traffic = !spec
                .alerting
                .min_traffic
                .met(short_counts.total, w.short.as_secs_f64());
            let held_low_traffic = above && low_traffic;
            let above = above && !low_traffic;
            let firing = above && !fired;
            rows.push(BurnRateRow {
                severity: severity.to_string(),
                long_window: window_name(w.long),
                short_window: window_name(w.short),
                factor: w.factor,
                long_burn_rate: long,
                short_burn_rate: short,
                above_threshold: above || held_low_traffic,
                firing,
                held_back: above && fired,
                short_window_events: short_counts.total,
                held_low_traffic,
            });
            fired |= above;
        }
    }
    let fastest = fastest_window(spec);
    let current = figures::burn_rate(rt.ledger.budget_counts(to - dur_steps(fastest), to), eb);
    let stretches = rt.ledger.stretches(from, to);
    let burn_down = figures::burn_down(&stretches, eb, budget_base)
        .into_iter()
        .map(|(s, r)| (s * step_ms, r))
        .collect();
    let sli_hourly = stretches
        .iter()
        .filter(|(_, c)| c.total > 0.0)
        .map(|(s, c)| (s * step_ms, figures::attainment(*c)))
        .collect();
    let data_absent = rt.absent_steps >= ABSENT_STEPS;
    let budget_exhausted = counts.total > 0.0 && budget.remaining_ratio <= 0.0;
    let mut firing_alerts = Vec::new();
    if rows.iter().any(|r| r.firing) {
        firing_alerts.push(BURN_RATE_ALERT.to_string());
    }
    if data_absent {
        firing_alerts.push(DATA_ABSENT_ALERT.to_string());
    }
    if budget_exhausted {
        firing_alerts.push(BUDGET_EXHAUSTED_ALERT.to_string());
    }
    let exhaustion_forecast = spec.alerting.forecast.as_ref().map(|f| {
        forecast(
            f,
            &rt.ledger,
            to,
            to * step_ms,
            counts,
            &budget,
            window_secs,
        )
    });
    if exhaustion_forecast.as_ref().is_some_and(|f| f.firing) {
        firing_alerts.push(EXHAUSTION_ALERT.to_string());
    }
    let policy_alerts = policy_rows(
        &spec.alerting,
        &rt.ledger,
        &rt.policy_since,
        eb,
        to,
        step_ms,
    );
    for r in &policy_alerts {
        window_burn_rates.insert(r.lookback_window.clone(), r.burn_rate);
    }
    if !spec.alerting.policies.is_empty() {
        // An SLO with alert policies sends exactly the policies' alerts.
        firing_alerts = policy_firing(&spec.alerting, &policy_alerts, data_absent);
    }
    SloFigures {
        service: spec.service.clone(),
        name: spec.name.clone(),
        owner: spec.owner.clone(),
        description: spec.description.clone(),
        objective: spec.objective.0,
        window: spec.window.name(),
        period: period(&spec.window, to, step_ms),
        budgeting: spec.budgeting.name().to_string(),
        time_slice: spec.budgeting.slice().map(window_name),
        window_start_ms: from * step_ms,
        window_end_ms: to * step_ms,
        good_events: counts.good(),
        bad_events: counts.bad,
        total_events: counts.total,
        attainment: figures::attainment(counts),
        error_budget: budget,
        current_burn_rate: current,
        current_burn_window: window_name(fastest),
        time_to_exhaustion_seconds: figures::time_to_exhaustion(
            budget.remaining_ratio,
            current,
            window_secs,
        ),
        burn_rates: rows,
        window_burn_rates,
        data_absent,
        budget_exhausted,
        burn_down,
        sli_hourly,
        gaps: rt
            .ledger
            .gaps()
            .iter()
            .filter(|g| g.end > from)
            .map(|g| GapRange {
                start_ms: g.start * step_ms,
                end_ms: g.end * step_ms,
            })
            .collect(),
        firing_alerts,
        backfilled_from: rt.backfilled.clone(),
        exhaustion_forecast,
        policy_alerts,
        parts: None,
    }
}

/// The fastest long burn-rate window of the SLO (1h by default): the current burn rate's.
fn fastest_window(spec: &SloSpec) -> Duration {
    spec.alerting
        .page
        .windows
        .iter()
        .chain(spec.alerting.ticket.windows.iter())
        .map(|w| w.long)
        .min()
        .unwrap_or(Duration::from_secs(3600))
}

/// The period of a round whose first incomplete step is `to`.
fn period(w: &SloWindow, to: i64, step_ms: i64) -> Period {
    let (start, end) = calendar_period_steps(w, to);
    let rfc = |ms: i64| {
        crate::timefmt::rfc3339_nanos(
            std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
        )
    };
    let (kind, time_zone) = match w {
        SloWindow::Rolling(_) => ("rolling", None),
        SloWindow::Calendar(c) => ("calendar", Some(c.zone.name().to_string())),
    };
    Period {
        kind: kind.into(),
        start: rfc(start * step_ms),
        end: rfc(end * step_ms),
        start_ms: start * step_ms,
        end_ms: end * step_ms,
        time_zone,
    }
}

/// An alert the engine wants firing now.
#[derive(Clone, Debug, PartialEq)]
pub struct WantedAlert {
    pub labels: Labels,
    pub annotations: Labels,
}

/// The labels of an SLO alert: the SLO's and its alerting section's labels, `extra`, then
/// `alertname`, `slo`, `service`, `owner`, `severity` and `tier`.
pub fn alert_labels(
    spec: &SloSpec,
    alertname: &str,
    severity: &str,
    tier: &str,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = spec.labels.clone();
    l.extend(spec.alerting.labels.clone());
    l.extend(extra.clone());
    l.insert("alertname".into(), alertname.into());
    l.insert("slo".into(), spec.name.clone());
    l.insert("service".into(), spec.service.clone());
    l.insert("owner".into(), spec.owner.clone());
    l.insert("severity".into(), severity.into());
    l.insert("tier".into(), tier.into());
    l
}

/// The annotations of an SLO alert: the alerting section's, `extra`, `summary`,
/// `description`, and a playbook link under `external_url` unless one is given.
pub fn alert_annotations(
    spec: &SloSpec,
    external_url: &str,
    alertname: &str,
    extra: &BTreeMap<String, String>,
    summary: String,
    description: String,
) -> Labels {
    let mut a: BTreeMap<String, String> = spec.alerting.annotations.clone();
    a.extend(extra.clone());
    a.insert("summary".into(), summary);
    a.insert("description".into(), description);
    if !a.contains_key("runbook_url") && !external_url.is_empty() {
        a.insert(
            "runbook_url".into(),
            format!(
                "{}/playbooks/{alertname}",
                external_url.trim_end_matches('/')
            ),
        );
    }
    Labels::from_pairs(a)
}

/// The alerts an SLO's figures call for. With alert policies, exactly the policies' alerts.
pub fn decide_alerts(spec: &SloSpec, f: &SloFigures, external_url: &str) -> Vec<WantedAlert> {
    if !spec.alerting.policies.is_empty() {
        return policy_alerts(&spec.alerting, spec, f, external_url);
    }
    let mut out = Vec::new();
    let base = |alertname: &str, severity: &str, tier: &str, extra: &BTreeMap<String, String>| {
        alert_labels(spec, alertname, severity, tier, extra)
    };
    let annotations = |alertname: &str,
                       extra: &BTreeMap<String, String>,
                       summary: String,
                       description: String| {
        alert_annotations(spec, external_url, alertname, extra, summary, description)
    };
    let who = format!("{}/{}", spec.service, spec.name);
    if let Some(r) = f.burn_rates.iter().find(|r| r.firing) {
        let tier = if r.severity == "page" {
            &spec.alerting.page
        } else {
            &spec.alerting.ticket
        };
        let tier_name = format!("{}/{}", r.long_window, r.short_window);
        out.push(WantedAlert {
            labels: Labels::from_pairs(base(BURN_RATE_ALERT, &r.severity, &tier_name, &tier.labels)),
            annotations: annotations(
                BURN_RATE_ALERT,
                &tier.annotations,
                format!(
                    "SLO {who} is burning its error budget {:.1}x too fast",
                    r.long_burn_rate
                ),
                format!(
                    "Burn rate {:.2} over {} and {:.2} over {}, above {} (objective {} % over {}); {:.1} % of the budget left.",
                    r.long_burn_rate,
                    r.long_window,
                    r.short_burn_rate,
                    r.short_window,
                    r.factor,
                    f.objective,
                    f.window,
                    f.error_budget.remaining_ratio * 100.0
                ),
            ),
        });
    }
    let none = BTreeMap::new();
    if f.data_absent {
        out.push(WantedAlert {
            labels: Labels::from_pairs(base(DATA_ABSENT_ALERT, "ticket", "absent", &none)),
            annotations: annotations(
                DATA_ABSENT_ALERT,
                &none,
                format!("SLO {who} has no SLI data"),
                format!(
                    "The SLI of {who} returned no data for {ABSENT_STEPS} minutes or more; its budget and burn rates are not measured."
                ),
            ),
        });
    }
    if f.budget_exhausted {
        out.push(WantedAlert {
            labels: Labels::from_pairs(base(BUDGET_EXHAUSTED_ALERT, "ticket", "budget", &none)),
            annotations: annotations(
                BUDGET_EXHAUSTED_ALERT,
                &none,
                format!("SLO {who} has spent its error budget"),
                format!(
                    "Attainment {:.4} % over {} is below the objective {} %; {:.1} % of the budget left.",
                    f.attainment * 100.0,
                    f.window,
                    f.objective,
                    f.error_budget.remaining_ratio * 100.0
                ),
            ),
        });
    }
    if let Some(fc) = f.exhaustion_forecast.as_ref().filter(|fc| fc.firing) {
        let at = fc
            .at_ms
            .map_or_else(String::new, super::forecast::rfc3339_ms);
        let extra = BTreeMap::from([("exhaustion_time".to_string(), at.clone())]);
        out.push(WantedAlert {
            labels: Labels::from_pairs(base(EXHAUSTION_ALERT, "ticket", "forecast", &none)),
            annotations: annotations(
                EXHAUSTION_ALERT,
                &extra,
                format!("SLO {who} will spend its error budget by {at}"),
                super::forecast::description(f, fc),
            ),
        });
    }
    out
}

/// What the HTTP API and `/metrics` read.
#[derive(Clone, Default)]
pub struct SloView {
    figures: Arc<RwLock<Vec<SloFigures>>>,
    /// The per-period reports of these SLOs.
    pub reports: super::report::SloReports,
}

impl SloView {
    /// Every SLO's figures after the last round, in spec order.
    pub fn list(&self) -> Vec<SloFigures> {
        self.figures.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Whether the engine runs no SLO.
    pub fn is_empty(&self) -> bool {
        self.figures.read().map(|g| g.is_empty()).unwrap_or(true)
    }

    /// One SLO by `service/name`, or by `name` when that is unique.
    pub fn get(&self, id: &str) -> Option<SloFigures> {
        let all = self.list();
        if let Some(f) = all
            .iter()
            .find(|f| format!("{}/{}", f.service, f.name) == id)
        {
            return Some(f.clone());
        }
        let mut by_name = all.into_iter().filter(|f| f.name == id);
        match (by_name.next(), by_name.next()) {
            (Some(f), None) => Some(f),
            _ => None,
        }
    }

    fn set(&self, v: Vec<SloFigures>) {
        if let Ok(mut g) = self.figures.write() {
            *g = v;
        }
    }
}

/// A handle on the running engine.
#[derive(Clone)]
pub struct SloEngineHandle {
    pub view: SloView,
    stop: watch::Sender<bool>,
    /// A reloaded engine for the running task to continue with.
    swap: mpsc::Sender<SloEngine>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// The engine's task has ended, so it cannot take reloaded SLOs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SLO engine has stopped")]
pub struct EngineStopped;

impl SloEngineHandle {
    /// Hands `next` (the reloaded SLOs, their ledgers loaded) to the running task, which
    /// continues with it from its next round: the figures stay on the same [`SloView`] and
    /// alerts of SLOs that are gone are resolved there.
    pub async fn replace(&self, next: SloEngine) -> Result<(), EngineStopped> {
        self.swap.send(next).await.map_err(|_| EngineStopped)
    }

    /// Stops the engine after its current round.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Everything a round needs.
pub struct SloEngine {
    pub slos: Vec<SloRuntime>,
    store: Arc<Store>,
    db: StateDb,
    engine: Arc<Engine>,
    alerts: mpsc::Sender<Vec<Alert>>,
    opts: SloEngineOptions,
    step_ms: i64,
    /// Active alerts by fingerprint: (labels, annotations, starts_at).
    active: HashMap<u64, (Labels, Labels, i64)>,
    view: SloView,
    rounds: u64,
    /// Chunks of the back-fill task ([`super::backfill`]) not yet recorded.
    backfill: Vec<mpsc::Receiver<BackfillChunk>>,
    backfill_waiting: Vec<BackfillChunk>,
    /// Back-fill marks recorded this round, for the database and ledger reloads.
    backfill_after: Vec<(String, Backfilled)>,
    /// Per SLO, the current period as of its last check for a period to close.
    period_checked: HashMap<String, String>,
    /// New composites whose history is composed from their parts' stored ledgers once the
    /// parts' back-fills are done: (key, from, to) in steps.
    compose_pending: Vec<(String, i64, i64)>,
    /// SLOs whose back-fill has not completed yet.
    backfill_running: std::collections::HashSet<String>,
}

/// Starts the task of an engine built by [`SloEngine::load`].
pub fn spawn(mut e: SloEngine) -> SloEngineHandle {
    let view = e.view.clone();
    let (stop, mut stop_rx) = watch::channel(false);
    let (swap, mut swap_rx) = mpsc::channel::<SloEngine>(1);
    let task = tokio::spawn(async move {
        let interval = e.opts.evaluation_interval.max(Duration::from_millis(10));
        loop {
            let now = crate::timefmt::now_ms();
            let iv = interval.as_millis() as i64;
            // Aligned to the interval, a little after the boundary so the step's last
            // scrape has landed.
            let next = (now / iv + 1) * iv + (iv / 20).min(2_000);
            let wait = Duration::from_millis((next - now).max(1) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop_rx.changed() => return,
                next = swap_rx.recv() => {
                    if let Some(next) = next {
                        e = e.succeeded_by(next);
                    }
                    continue;
                }
            }
            e.round(crate::timefmt::now_ms()).await;
        }
    });
    SloEngineHandle {
        view,
        stop,
        swap,
        task: Arc::new(Mutex::new(Some(task))),
    }
}

impl SloEngine {
    /// Builds the runtime of every SLO and loads its stored ledger and cursors.
    pub async fn load(
        specs: Vec<SloSpec>,
        store: Arc<Store>,
        db: StateDb,
        engine: Arc<Engine>,
        alerts: mpsc::Sender<Vec<Alert>>,
        opts: SloEngineOptions,
        probes: HashMap<String, Arc<Mutex<Counts>>>,
    ) -> Result<SloEngine, StateError> {
        let step_ms = (opts.ledger_step.as_millis() as i64).max(1);
        // PromQL fallbacks read one step of real time.
        let step_name = crate::timefmt::format_duration(opts.ledger_step);
        let mut slos = Vec::new();
        for spec in specs {
            let key = slo_key(&spec);
            let source =
                match SliSource::for_sli(&key, &spec.sli, &step_name, probes.get(&key).cloned()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "SLO not evaluated");
                        continue;
                    }
                };
            slos.push(SloRuntime::new(spec, source));
        }
        let keys: Vec<String> = slos.iter().map(|s| s.key.clone()).collect();
        db.ledger_register(keys, step_ms).await?;
        let now_step = crate::timefmt::now_ms() / step_ms;
        let mut jobs = Vec::new();
        let mut compose_pending = Vec::new();
        for rt in &mut slos {
            let from = load_from(&rt.spec, now_step);
            let stored = db.ledger_load(rt.key.clone(), from).await?;
            rt.ledger.load(&stored.minutes, &stored.gaps);
            if opts.backfill {
                if matches!(rt.source, SliSource::Composite)
                    && stored.minutes.is_empty()
                    && stored.gaps.is_empty()
                    && stored.cursor.is_none()
                {
                    let from = now_step - period_steps(&rt.spec.window);
                    compose_pending.push((rt.key.clone(), from, now_step));
                }
                let (job, live_set) =
                    history::plan_backfill(rt, &db, &stored, &engine, &store, now_step, step_ms)
                        .await;
                jobs.extend(job);
                if live_set {
                    continue;
                }
            }
            if let Some((m, json)) = &stored.cursor {
                match Cursors::from_json(json) {
                    Some(c) => rt.cursors = c,
                    None => {
                        tracing::warn!(slo = %rt.key, "stored SLO cursors are not valid; counting afresh")
                    }
                }
                rt.next_step = Some(m + 1);
                rt.after_restart = true;
            } else if let Some(l) = rt.ledger.last_step() {
                rt.next_step = Some(l + 1);
                rt.after_restart = true;
            }
        }
        Ok(SloEngine {
            slos,
            store,
            db,
            engine,
            alerts,
            opts,
            step_ms,
            active: HashMap::new(),
            view: SloView::default(),
            rounds: 0,
            backfill: Vec::new(),
            backfill_waiting: Vec::new(),
            backfill_after: Vec::new(),
            period_checked: HashMap::new(),
            compose_pending,
            backfill_running: jobs.iter().map(|j| j.key.clone()).collect(),
        }
        .with_history(jobs)
        .await)
    }

    /// `next` taking over from this engine on a reload: it publishes on the same view, and
    /// keeps the active alerts so that the next round resolves those of SLOs now gone.
    fn succeeded_by(mut self, mut next: SloEngine) -> SloEngine {
        next.view = self.view.clone();
        next.attach_reports();
        // A back-fill still running ends with this engine (its task stops at its next
        // chunk): `next` was loaded from the marks it stored, and resumes each SLO's from there.
        next.active = std::mem::take(&mut self.active);
        next.rounds = self.rounds;
        // Pending and firing policy alerts keep their start when their SLO's policies stay.
        for rt in &mut next.slos {
            if let Some(old) = self
                .slos
                .iter()
                .find(|o| o.key == rt.key && o.spec.alerting.policies == rt.spec.alerting.policies)
            {
                rt.policy_since = old.policy_since.clone();
            }
        }
        next
    }

    /// The figures the API reads.
    pub fn view(&self) -> SloView {
        self.view.clone()
    }

    /// One round at `now_ms`: read, persist, compute, alert, write series.
    pub async fn round(&mut self, now_ms: i64) {
        let step_ms = self.step_ms;
        let target = now_ms / step_ms; // steps < target are complete
        self.compose_history().await;
        let mut writes = self.take_backfill();
        for rt in &mut self.slos {
            if matches!(rt.source, SliSource::Composite) {
                continue;
            }
            let w = read_steps(rt, &self.engine, &self.store, target, step_ms);
            if !w.minutes.is_empty() || !w.gaps.is_empty() || w.cursor.is_some() {
                writes.push(w);
            }
        }
        // Composites after their parts, from the steps just read.
        writes.extend(parts::compose_round(&mut self.slos, target));
        if let Err(e) = self.db.ledger_write(writes).await {
            tracing::error!(error = %e, "writing the SLO ledger failed; the steps stay in memory");
        }
        self.backfill_written().await;
        self.close_periods(now_ms).await;
        // Edge blocks for windows reaching back past the in-memory detail.
        for rt in &mut self.slos {
            let (from, _, _) = window_steps(&rt.spec.window, target, step_ms);
            if let Some(b) = rt.ledger.edge_needed(from) {
                match self
                    .db
                    .ledger_range(rt.key.clone(), b * BLOCK, (b + 1) * BLOCK)
                    .await
                {
                    Ok(m) => rt.ledger.set_edge(b, &m),
                    Err(e) => tracing::warn!(slo = %rt.key, error = %e, "reading the SLO ledger"),
                }
            }
        }
        let mut figures: Vec<SloFigures> = self
            .slos
            .iter()
            .map(|rt| compute_figures(rt, target, step_ms))
            .collect();
        for (rt, f) in self.slos.iter_mut().zip(&figures) {
            rt.policy_since = f.policy_alerts.iter().map(|r| r.active_since_ms).collect();
        }
        parts::attach_parts(&self.slos, &mut figures, target);
        self.send_alerts(&figures, now_ms).await;
        write_series(&self.store, &figures, now_ms);
        self.view.set(figures);
        self.rounds += 1;
        if self.rounds % 60 == 1 {
            let cut: Vec<(String, i64)> = self
                .slos
                .iter()
                .map(|rt| {
                    let keep = match self.opts.ledger_retention {
                        Some(d) => dur_steps(d),
                        // The SLO period, and at least the longest month a report
                        // closes (a rolling window's reports are UTC months), plus a day.
                        None => period_steps(&rt.spec.window).max(31 * 24 * 60 + 60) + 24 * 60,
                    };
                    (rt.key.clone(), target - keep)
                })
                .collect();
            if let Err(e) = self.db.ledger_prune(cut).await {
                tracing::warn!(error = %e, "pruning the SLO ledger");
            }
        }
    }

    async fn send_alerts(&mut self, figures: &[SloFigures], now_ms: i64) {
        let ends = now_ms + 4 * self.opts.evaluation_interval.as_millis() as i64;
        let mut batch = Vec::new();
        let mut still = HashMap::new();
        let mut history = Vec::new();
        for (rt, f) in self.slos.iter().zip(figures) {
            for w in decide_alerts(&rt.spec, f, &self.opts.external_url) {
                let fp = crate::alerting::fingerprint(&w.labels);
                let starts = self.active.get(&fp).map_or(now_ms, |a| a.2);
                if !self.active.contains_key(&fp) {
                    history.push(history::alert_row(&w.labels, &w.annotations, starts, None));
                }
                batch.push(Alert {
                    labels: w.labels.clone(),
                    annotations: w.annotations.clone(),
                    starts_at_ms: starts,
                    ends_at_ms: ends,
                    generator_url: format!(
                        "{}/api/v1/slos/{}",
                        self.opts.external_url.trim_end_matches('/'),
                        rt.key
                    ),
                    updated_at_ms: now_ms,
                    timeout: false,
                });
                still.insert(fp, (w.labels, w.annotations, starts));
            }
        }
        for (fp, (labels, annotations, starts)) in self.active.drain() {
            if !still.contains_key(&fp) {
                history.push(history::alert_row(
                    &labels,
                    &annotations,
                    starts,
                    Some(now_ms),
                ));
                batch.push(Alert {
                    labels,
                    annotations,
                    starts_at_ms: starts,
                    ends_at_ms: now_ms,
                    generator_url: String::new(),
                    updated_at_ms: now_ms,
                    timeout: false,
                });
            }
        }
        self.active = still;
        if let Err(e) = self.db.slo_alerts_put(history).await {
            tracing::warn!(error = %e, "recording the SLO alert history");
        }
        if !batch.is_empty() && self.alerts.send(batch).await.is_err() {
            tracing::warn!("the alerts channel is closed; SLO alerts are not delivered");
        }
    }
}

/// Reads the steps of one SLO up to `target` (exclusive) and records them in its ledger.
fn read_steps(
    rt: &mut SloRuntime,
    engine: &Engine,
    store: &Store,
    target: i64,
    step_ms: i64,
) -> LedgerWrite {
    let mut w = LedgerWrite {
        slo: rt.key.clone(),
        ..LedgerWrite::default()
    };
    let next = rt.next_step.unwrap_or(target - 1);
    if next >= target {
        return w;
    }
    let mut minutes = Vec::new();
    let mut gaps = Vec::new();
    let mut first = next;
    if rt.after_restart || target - next > MAX_CATCH_UP {
        rt.after_restart = false;
        if target - next > 1 {
            let backfilled = if rt.source.uses_cursors() && target - next <= 31 * 24 * 60 {
                let stored = rt.cursors.clone();
                let r = read_step(
                    &rt.source,
                    engine,
                    store,
                    &mut rt.cursors,
                    next * step_ms,
                    target * step_ms,
                    true,
                );
                let seen = *rt.restart_seen.get_or_insert(target);
                if !r.has_data && target - seen < RESTART_GRACE_STEPS {
                    // Not scraped since the start yet: try again next round.
                    rt.cursors = stored;
                    rt.after_restart = true;
                    return w;
                }
                if r.has_data && !r.reset_across_gap {
                    let n = (target - next) as f64;
                    for s in next..target {
                        minutes.push(LedgerMinute {
                            minute: s,
                            bad: r.counts.bad / n,
                            total: r.counts.total / n,
                        });
                    }
                    true
                } else {
                    false
                }
            } else {
                false
            };
            if !backfilled {
                gaps.push(LedgerGap {
                    start: next,
                    end: target - 1,
                });
                first = target - 1;
                // Re-base the cursors on what the store has now.
                if rt.source.uses_cursors() {
                    rt.cursors = Cursors::default();
                    let _ = read_step(
                        &rt.source,
                        engine,
                        store,
                        &mut rt.cursors,
                        (target - 2) * step_ms,
                        (target - 1) * step_ms,
                        false,
                    );
                }
            } else {
                first = target;
            }
        }
    }
    for s in first..target {
        let r = read_step(
            &rt.source,
            engine,
            store,
            &mut rt.cursors,
            s * step_ms,
            (s + 1) * step_ms,
            false,
        );
        if r.has_data {
            rt.absent_steps = 0;
        } else {
            rt.absent_steps = rt.absent_steps.saturating_add(1);
        }
        minutes.push(LedgerMinute {
            minute: s,
            bad: r.counts.bad,
            total: r.counts.total,
        });
    }
    for m in &minutes {
        rt.ledger.record(m.minute, Counts::new(m.bad, m.total));
    }
    for g in &gaps {
        rt.ledger.record_gap(*g);
    }
    rt.next_step = Some(target);
    w.minutes = minutes;
    w.gaps = gaps;
    w.cursor = Some((target - 1, rt.cursors.to_json()));
    w
}

/// Labels of an SLO's series.
fn series_labels(name: &str, f: &SloFigures, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![
        ("__name__", name.to_string()),
        ("slo", f.name.clone()),
        ("service", f.service.clone()),
        ("owner", f.owner.clone()),
    ];
    for (k, v) in extra {
        pairs.push((k, v.to_string()));
    }
    Labels::from_pairs(pairs)
}

/// Every `slo:` series of the figures as (labels, value); names in `rules/slo/README.md`.
pub fn series_of(f: &SloFigures) -> Vec<(Labels, f64)> {
    let w = [("window", f.window.as_str())];
    let mut out = vec![
        (
            series_labels("slo:objective:ratio", f, &w),
            f.objective / 100.0,
        ),
        (series_labels("slo:attainment:ratio", f, &w), f.attainment),
        (series_labels("slo:events:total", f, &w), f.total_events),
        (series_labels("slo:events_bad:total", f, &w), f.bad_events),
        (
            series_labels("slo:error_budget:ratio", f, &w),
            f.error_budget.ratio,
        ),
        (
            series_labels("slo:error_budget_remaining:ratio", f, &w),
            f.error_budget.remaining_ratio,
        ),
        (
            series_labels("slo:error_budget_consumed:ratio", f, &w),
            f.error_budget.consumed_ratio,
        ),
        (
            series_labels("slo:error_budget_remaining:events", f, &w),
            f.error_budget.remaining_events,
        ),
        (
            series_labels("slo:error_budget_remaining:seconds", f, &w),
            f.error_budget.remaining_seconds,
        ),
        (
            series_labels("slo:time_to_exhaustion:seconds", f, &w),
            f.time_to_exhaustion_seconds.unwrap_or(f64::INFINITY),
        ),
        (
            series_labels("slo:data_absent:bool", f, &[]),
            if f.data_absent { 1.0 } else { 0.0 },
        ),
    ];
    for (win, rate) in &f.window_burn_rates {
        out.push((
            series_labels("slo:burn_rate:ratio", f, &[("window", win.as_str())]),
            *rate,
        ));
    }
    out
}

fn write_series(store: &Store, figures: &[SloFigures], now_ms: i64) {
    let mut app = store.appender();
    for f in figures {
        for (l, v) in series_of(f) {
            if let Err(e) = app.append(&l, now_ms, v) {
                tracing::warn!(series = %l, error = %e, "writing an SLO series");
            }
        }
    }
    app.commit();
}

mod history;
pub mod parts;
#[cfg(test)]
mod tests;
