//! Per-period SLO reports: what an SLO delivered in one compliance period, from its ledger.
//!
//! The compliance period of an SLO with a rolling window (and of a calendar-month window) is
//! the UTC calendar month ([`Period`], named `YYYY-MM`). For each SLO and period a
//! [`SloReport`] holds:
//! - **attainment**: good ÷ total events of the period (1 without events), and whether it met
//!   the objective;
//! - **budget spent**: bad events ÷ (error budget ratio × total events), as the figures'
//!   `consumed_ratio` (above 1 once overspent);
//! - **downtime minutes**: ledger steps (minutes) with events whose error ratio, bad ÷ total,
//!   exceeded the error budget ratio (1 − objective): minutes that burned budget faster than
//!   the pace that spends exactly the whole budget over the period (burn rate above 1). Steps
//!   without events and gap steps are never downtime;
//! - **incidents**: each maximal run of consecutive downtime minutes, with its start and end,
//!   the bad events in it, the share of the period's budget it consumed (its bad events ÷ the
//!   period's budget), and the SLO alerts active at some time in it with their playbook links.
//!
//! Gap steps (no data) are counted as `gap_minutes`. A step is counted as a minute: with a
//! shortened `ledger_step` (demos, tests) one step stands for one minute, as in the engine.
//!
//! The engine ([`super::engine`]) closes a period at the first round after it ends and stores
//! the report in SQLite (`slo_report`), so the history outlives the ledger's retention;
//! [`SloReports`] serves stored and current reports to the API and the dashboard, and
//! [`to_csv`] gives the CSV form.

use super::calendar::{CalendarWindow, Zone};
use super::figures::{self, Counts};
use crate::state::ledger::{LedgerGap, LedgerMinute};
use crate::state::slo_reports::{AlertHistoryRow, ReportFilter, ReportRow};
use crate::state::{StateDb, StateError};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// One compliance period of an SLO: `[start_ms, end_ms)`, its ID ([`CalendarWindow::period_id`]:
/// `2026-11` for a UTC month from the 1st, `2025-03-15/P1M[Europe/Berlin]`, `2025-03-30/P1W`)
/// and the IANA zone its days are counted in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub time_zone: String,
}

const DAY_MS: i64 = 86_400_000;

fn utc_name() -> String {
    "UTC".into()
}

impl Period {
    /// The period of `calendar` holding `t_ms`; `None` only outside the years −9999…9999.
    pub fn of(calendar: &CalendarWindow, t_ms: i64) -> Option<Period> {
        let (start, end) = calendar.period_at(t_ms.div_euclid(1000))?;
        Some(Period {
            name: calendar.period_id(start)?,
            start_ms: start * 1000,
            end_ms: end * 1000,
            time_zone: calendar.zone.name().to_string(),
        })
    }

    /// The UTC calendar month holding `t_ms`.
    pub fn month_of(t_ms: i64) -> Period {
        let c = crate::timefmt::civil_from_unix(t_ms.div_euclid(1000));
        Period::month(c.year, c.month)
    }

    fn month(year: i64, month: u32) -> Period {
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Period {
            name: format!("{year:04}-{month:02}"),
            start_ms: crate::timefmt::days_from_civil(year, month, 1) * DAY_MS,
            end_ms: crate::timefmt::days_from_civil(ny, nm, 1) * DAY_MS,
            time_zone: utc_name(),
        }
    }

    /// The UTC month named `YYYY-MM`, or `None`: the month of an owner's report.
    pub fn parse(name: &str) -> Option<Period> {
        let (y, m) = name.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (y, m): (i64, u32) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&m).then(|| Period::month(y, m))
    }

    /// The period of `calendar` before this one.
    pub fn previous(&self, calendar: &CalendarWindow) -> Option<Period> {
        Period::of(calendar, self.start_ms - 1)
    }
}

/// The local days `[first, end)` of the period `[start_ms, end_ms)` in `zone` (UTC when
/// the name is not known).
fn local_days(zone: &str, start_ms: i64, end_ms: i64) -> Option<(Date, Date)> {
    let z = Zone::named(zone).unwrap_or_else(|_| Zone::utc());
    Some((
        z.date_of(start_ms.div_euclid(1000))?,
        z.date_of(end_ms.div_euclid(1000))?,
    ))
}

/// Whether a period `[start_ms, end_ms)` of `zone` shares a day with the UTC month `month`:
/// its days counted in its own zone, the month's by its dates. An owner's report of a month
/// lists every period that does, so a weekly SLO's weeks across the month's first or last
/// day appear in both months, and a month from the 15th in both months it spans.
pub fn shares_a_day(zone: &str, start_ms: i64, end_ms: i64, month: &Period) -> bool {
    let (Some((first, end)), Some((m_first, m_end))) = (
        local_days(zone, start_ms, end_ms),
        local_days("UTC", month.start_ms, month.end_ms),
    ) else {
        return false;
    };
    first < m_end && end > m_first
}

/// The UTC month names (`YYYY-MM`) a period of `zone` shares a day with, oldest first.
pub fn months_of(zone: &str, start_ms: i64, end_ms: i64) -> Vec<String> {
    let Some((first, end)) = local_days(zone, start_ms, end_ms) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut month = first.first_of_month();
    // The end day is exclusive: a period ending at a month's first midnight stops before it.
    while month < end {
        out.push(format!("{:04}-{:02}", month.year(), month.month()));
        match month.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => month = next,
            Err(_) => break,
        }
    }
    out
}

/// An SLO alert active during an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentAlert {
    pub alertname: String,
    pub severity: String,
    pub starts_at_ms: i64,
    /// `null` while it fires.
    pub ends_at_ms: Option<i64>,
    /// The alert's `runbook_url` (redline's playbook page by default).
    pub playbook_url: String,
}

/// A stretch of budget burn: consecutive downtime minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub start_ms: i64,
    /// The end of its last minute.
    pub end_ms: i64,
    pub minutes: u64,
    pub bad_events: f64,
    /// Its bad events ÷ the period's budget (error budget ratio × the period's events).
    pub budget_consumed_ratio: f64,
    pub alerts: Vec<IncidentAlert>,
}

/// What one SLO delivered in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloReport {
    /// `service/name`.
    pub slo: String,
    pub service: String,
    pub name: String,
    pub owner: String,
    /// Percent.
    pub objective: f64,
    /// The period's ID ([`Period`]).
    pub period: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The IANA zone the period's days are counted in (reports stored before periods had
    /// zones were UTC months).
    #[serde(default = "utc_name")]
    pub time_zone: String,
    /// The period has ended (the report is final and stored).
    pub closed: bool,
    pub total_events: f64,
    pub bad_events: f64,
    pub good_events: f64,
    pub attainment: f64,
    pub objective_met: bool,
    pub error_budget_ratio: f64,
    pub budget_spent_ratio: f64,
    pub downtime_minutes: u64,
    /// Minutes with events.
    pub measured_minutes: u64,
    pub gap_minutes: u64,
    pub incidents: Vec<Incident>,
}

/// Who the report is about.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSubject {
    pub service: String,
    pub name: String,
    pub owner: String,
    /// Percent.
    pub objective: f64,
    /// The SLO's compliance periods: its own calendar window, or UTC months for a rolling
    /// window.
    pub calendar: CalendarWindow,
}

impl ReportSubject {
    pub fn key(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }
}

/// Computes the report of `period` from the ledger's steps (`minutes`, `gaps`, with steps of
/// `step_ms`) and the SLO's alerts; `closed`: the period has ended.
pub fn compute(
    who: &ReportSubject,
    period: &Period,
    closed: bool,
    step_ms: i64,
    minutes: &[LedgerMinute],
    gaps: &[LedgerGap],
    alerts: &[AlertHistoryRow],
) -> SloReport {
    let eb = super::spec::Objective(who.objective).error_budget();
    // Steps whose start lies in the period.
    let first =
        period.start_ms.div_euclid(step_ms) + i64::from(period.start_ms.rem_euclid(step_ms) != 0);
    let end = period.end_ms.div_euclid(step_ms) + i64::from(period.end_ms.rem_euclid(step_ms) != 0);
    let inside = |s: i64| s >= first && s < end;
    let mut steps: BTreeMap<i64, Counts> = BTreeMap::new();
    for m in minutes.iter().filter(|m| inside(m.minute)) {
        steps
            .entry(m.minute)
            .or_default()
            .add(Counts::new(m.bad, m.total));
    }
    let mut sum = Counts::default();
    for c in steps.values() {
        sum.add(*c);
    }
    let budget_events = eb * sum.total;
    let spent = |bad: f64| {
        if budget_events > 0.0 {
            bad / budget_events
        } else {
            0.0
        }
    };
    let down = |c: &Counts| c.total > 0.0 && c.bad / c.total > eb;
    let mut incidents: Vec<Incident> = Vec::new();
    let mut prev: Option<i64> = None;
    for (&s, c) in steps.iter().filter(|(_, c)| down(c)) {
        let start_ms = s * step_ms;
        match incidents.last_mut() {
            Some(i) if prev == Some(s - 1) => {
                i.end_ms = start_ms + step_ms;
                i.minutes += 1;
                i.bad_events += c.bad;
            }
            _ => incidents.push(Incident {
                start_ms,
                end_ms: start_ms + step_ms,
                minutes: 1,
                bad_events: c.bad,
                budget_consumed_ratio: 0.0,
                alerts: Vec::new(),
            }),
        }
        prev = Some(s);
    }
    for i in &mut incidents {
        i.budget_consumed_ratio = spent(i.bad_events);
        i.alerts = alerts
            .iter()
            .filter(|a| a.starts_at_ms < i.end_ms && a.ends_at_ms.is_none_or(|e| e > i.start_ms))
            .map(|a| IncidentAlert {
                alertname: a.alertname.clone(),
                severity: a.severity.clone(),
                starts_at_ms: a.starts_at_ms,
                ends_at_ms: a.ends_at_ms,
                playbook_url: a.playbook_url.clone(),
            })
            .collect();
    }
    let gap_minutes = gaps
        .iter()
        .map(|g| (g.end.min(end) - g.start.max(first)).max(0) as u64)
        .sum();
    let attainment = figures::attainment(sum);
    SloReport {
        slo: who.key(),
        service: who.service.clone(),
        name: who.name.clone(),
        owner: who.owner.clone(),
        objective: who.objective,
        period: period.name.clone(),
        start_ms: period.start_ms,
        end_ms: period.end_ms,
        time_zone: period.time_zone.clone(),
        closed,
        total_events: sum.total,
        bad_events: sum.bad,
        good_events: sum.good(),
        attainment,
        objective_met: attainment * 100.0 >= who.objective,
        error_budget_ratio: eb,
        budget_spent_ratio: spent(sum.bad),
        downtime_minutes: incidents.iter().map(|i| i.minutes).sum(),
        measured_minutes: steps.values().filter(|c| c.total > 0.0).count() as u64,
        gap_minutes,
        incidents,
    }
}

/// The CSV columns, one row per SLO and period.
pub const CSV_HEADER: &str =
    "owner,service,slo,period,start,end,time_zone,closed,objective_percent,\
attainment,objective_met,total_events,bad_events,budget_spent_ratio,downtime_minutes,\
incidents,gap_minutes";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn rfc3339(ms: i64) -> String {
    let c = crate::timefmt::civil_from_unix(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The reports as CSV (RFC 4180: CRLF line ends, quoted fields where needed); numbers as
/// Rust prints `f64`, which reads back to the same value.
pub fn to_csv(reports: &[SloReport]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for r in reports {
        let row = [
            csv_field(&r.owner),
            csv_field(&r.service),
            csv_field(&r.name),
            csv_field(&r.period),
            rfc3339(r.start_ms),
            rfc3339(r.end_ms),
            csv_field(&r.time_zone),
            r.closed.to_string(),
            r.objective.to_string(),
            r.attainment.to_string(),
            r.objective_met.to_string(),
            r.total_events.to_string(),
            r.bad_events.to_string(),
            r.budget_spent_ratio.to_string(),
            r.downtime_minutes.to_string(),
            r.incidents.len().to_string(),
            r.gap_minutes.to_string(),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("stored report of {slo} {period} is not valid: {message}")]
    Stored {
        slo: String,
        period: String,
        message: String,
    },
}

/// The SLOs a [`SloReports`] knows now: each one's subject.
#[derive(Clone, Debug, Default)]
struct Known {
    subjects: Vec<ReportSubject>,
    step_ms: i64,
}

/// Reports for the API and the dashboard: stored closed periods from SQLite, the current
/// period computed from the ledger on demand. Cheap to clone.
#[derive(Clone, Default)]
pub struct SloReports {
    db: Arc<RwLock<Option<StateDb>>>,
    known: Arc<RwLock<Known>>,
}

impl std::fmt::Debug for SloReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SloReports")
    }
}

/// One SLO's report of a period computed from the database (ledger and alert history).
pub async fn compute_from_db(
    db: &StateDb,
    who: &ReportSubject,
    period: &Period,
    closed: bool,
    step_ms: i64,
) -> Result<SloReport, StateError> {
    let key = who.key();
    let from = period.start_ms.div_euclid(step_ms);
    let stored = match db.ledger_load(key.clone(), from).await {
        Ok(s) => s,
        // Not registered (yet): no steps.
        Err(StateError::Corrupt { .. }) => Default::default(),
        Err(e) => return Err(e),
    };
    let alerts = db.slo_alerts(key, period.start_ms, period.end_ms).await?;
    Ok(compute(
        who,
        period,
        closed,
        step_ms,
        &stored.minutes,
        &stored.gaps,
        &alerts,
    ))
}

/// The stored row of a closed report.
pub fn report_row(r: &SloReport) -> ReportRow {
    ReportRow {
        slo_key: r.slo.clone(),
        period: r.period.clone(),
        owner: r.owner.clone(),
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        report: serde_json::to_string(r).unwrap_or_else(|_| "{}".into()),
    }
}

fn from_row(row: &ReportRow) -> Result<SloReport, ReportError> {
    serde_json::from_str(&row.report).map_err(|e| ReportError::Stored {
        slo: row.slo_key.clone(),
        period: row.period.clone(),
        message: e.to_string(),
    })
}

/// One entry of the reports index: an owner's report of a UTC month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportIndexEntry {
    pub owner: String,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// The SLO periods sharing a day with it (a weekly SLO has several).
    pub reports: usize,
    pub closed: bool,
}

impl SloReports {
    /// Points the reports at the engine's database and SLOs (each engine load).
    pub fn attach(&self, db: StateDb, subjects: Vec<ReportSubject>, step_ms: i64) {
        if let Ok(mut g) = self.db.write() {
            *g = Some(db);
        }
        if let Ok(mut g) = self.known.write() {
            *g = Known { subjects, step_ms };
        }
    }

    fn parts(&self) -> Option<(StateDb, Known)> {
        let db = self.db.read().ok()?.clone()?;
        let known = self.known.read().ok()?.clone();
        Some((db, known))
    }

    /// Whether reports can be served (the engine runs with a database).
    pub fn is_available(&self) -> bool {
        self.parts().is_some()
    }

    /// Every report of `query`: stored closed periods, and the current period (at `now_ms`)
    /// of each running SLO matching it. Sorted by owner, period start, SLO.
    pub async fn list(
        &self,
        query: ReportQuery,
        now_ms: i64,
    ) -> Result<Vec<SloReport>, ReportError> {
        let Some((db, known)) = self.parts() else {
            return Ok(Vec::new());
        };
        let in_month = |zone: &str, start: i64, end: i64| {
            query
                .month
                .as_ref()
                .is_none_or(|m| shares_a_day(zone, start, end, m))
        };
        let filter = ReportFilter {
            slo_key: query.slo_key.clone(),
            owner: query.owner.clone(),
            period: None,
            // A day's slack each side for the zones; `in_month` decides by local days.
            overlapping: query
                .month
                .as_ref()
                .map(|m| (m.start_ms - DAY_MS, m.end_ms + DAY_MS)),
        };
        let mut out = Vec::new();
        for row in db.reports(filter).await? {
            let r = from_row(&row)?;
            if in_month(&r.time_zone, r.start_ms, r.end_ms) {
                out.push(r);
            }
        }
        for who in &known.subjects {
            if query.owner.as_ref().is_some_and(|o| *o != who.owner)
                || query.slo_key.as_ref().is_some_and(|k| *k != who.key())
            {
                continue;
            }
            let Some(current) = Period::of(&who.calendar, now_ms) else {
                continue;
            };
            if !in_month(&current.time_zone, current.start_ms, current.end_ms) {
                continue;
            }
            out.retain(|r: &SloReport| !(r.slo == who.key() && r.period == current.name));
            out.push(compute_from_db(&db, who, &current, false, known.step_ms).await?);
        }
        out.sort_by(|a, b| {
            (&a.owner, a.start_ms, &a.slo, a.end_ms).cmp(&(&b.owner, b.start_ms, &b.slo, b.end_ms))
        });
        Ok(out)
    }

    /// Owners and the UTC months their SLOs' periods share a day with, newest month first.
    pub async fn index(&self, now_ms: i64) -> Result<Vec<ReportIndexEntry>, ReportError> {
        let all = self.list(ReportQuery::default(), now_ms).await?;
        let mut by: BTreeMap<(String, String), (usize, bool)> = BTreeMap::new();
        for r in &all {
            for month in months_of(&r.time_zone, r.start_ms, r.end_ms) {
                let e = by.entry((r.owner.clone(), month)).or_insert((0, true));
                e.0 += 1;
                e.1 &= r.closed;
            }
        }
        let mut out: Vec<ReportIndexEntry> = by
            .into_iter()
            .map(|((owner, period), (reports, closed))| ReportIndexEntry {
                owner,
                period,
                reports,
                closed,
            })
            .collect();
        out.sort_by(|a, b| b.period.cmp(&a.period).then(a.owner.cmp(&b.owner)));
        Ok(out)
    }
}

/// Which reports [`SloReports::list`] answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportQuery {
    pub slo_key: Option<String>,
    pub owner: Option<String>,
    /// Periods sharing a day with this UTC month ([`shares_a_day`]).
    pub month: Option<Period>,
}

#[cfg(test)]
mod tests;
