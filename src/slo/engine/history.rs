//! The engine's history work around a round: a new SLO's back-fill started at load and its
//! chunks recorded at each round ([`super::super::backfill`]), each SLO alert's start and end
//! kept in the alert history, and each compliance period closed into a stored report
//! ([`super::super::report`]) at the first round after it ends.

use super::*;
use crate::rules::querier::RemoteQuerier;
use crate::slo::backfill::{self, BackfillContext, BackfillJob, BackfillSource, QUEUED_CHUNKS};
use crate::slo::report::{self, Period, ReportSubject};
use crate::state::ledger::StoredLedger;
use crate::state::slo_reports::{AlertHistoryRow, BackfillRow, ReportFilter};

/// Prepares a new SLO (an empty ledger) for its back-fill: its live reading starts at
/// `now_step` ([`start_live`]); the job covers the SLO period before `now_step`.
pub(super) fn start_new(
    rt: &mut SloRuntime,
    engine: &Engine,
    store: &Store,
    now_step: i64,
    step_ms: i64,
) -> Option<BackfillJob> {
    let from = now_step - period_steps(&rt.spec.window);
    let job = BackfillJob::for_new_slo(&rt.spec, &rt.key, &rt.source, from, now_step)?;
    start_live(rt, engine, store, now_step, step_ms);
    Some(job)
}

/// Starts an SLO's live reading at `now_step` with the cursors a reading up to it would
/// hold, so the back-fill's steps and the live ones meet without a lost counter delta.
fn start_live(rt: &mut SloRuntime, engine: &Engine, store: &Store, now_step: i64, step_ms: i64) {
    rt.next_step = Some(now_step);
    rt.cursors = crate::slo::sli::cursors_at(&rt.source, engine, store, now_step * step_ms);
}

/// Decides an SLO's back-fill at load, from its stored ledger and back-fill mark:
/// - nothing stored: a new SLO, back-filled for its period ([`start_new`]);
/// - an unfinished back-fill: resumed from where its mark says it stopped, up to where the
///   live reading started; when the live reading had stored nothing yet, up to now, and the
///   live reading starts now as for a new SLO;
/// - a finished back-fill, or steps stored without a mark: none.
///
/// Returns the job, and whether the live reading was set up here (else it continues from the
/// stored ledger).
pub(super) async fn plan_backfill(
    rt: &mut SloRuntime,
    db: &StateDb,
    stored: &StoredLedger,
    engine: &Engine,
    store: &Store,
    now_step: i64,
    step_ms: i64,
) -> (Option<BackfillJob>, bool) {
    let mark = match db.backfill_get(rt.key.clone()).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(slo = %rt.key, error = %e, "reading the SLO back-fill mark");
            None
        }
    };
    rt.backfilled = mark.as_ref().map(backfilled_of);
    let nothing_stored =
        stored.minutes.is_empty() && stored.gaps.is_empty() && stored.cursor.is_none();
    let Some(m) = mark.filter(|m| !m.complete && !nothing_stored) else {
        if nothing_stored && rt.backfilled.as_ref().is_none_or(|b| !b.complete) {
            return (start_new(rt, engine, store, now_step, step_ms), true);
        }
        return (None, false);
    };
    let Some(until) = m.until_ms.map(|u| u.div_euclid(step_ms)) else {
        tracing::warn!(slo = %rt.key, "the SLO back-fill mark does not say where it ends; not resumed");
        return (None, false);
    };
    let (start, done) = (m.start_ms.div_euclid(step_ms), m.end_ms.div_euclid(step_ms));
    let live_started = stored.cursor.is_some()
        || stored.minutes.last().is_some_and(|x| x.minute >= until)
        || stored.gaps.iter().any(|g| g.end > until);
    tracing::info!(slo = %rt.key, from = done, "resuming the SLO back-fill");
    if live_started {
        let job = BackfillJob::resume(&rt.spec, &rt.key, &rt.source, start, done, until);
        return (job, false);
    }
    let job = BackfillJob::resume(&rt.spec, &rt.key, &rt.source, start, done, now_step);
    start_live(rt, engine, store, now_step, step_ms);
    (job, true)
}

/// The stored row of a back-fill mark.
fn mark_row(key: &str, m: &Backfilled) -> BackfillRow {
    BackfillRow {
        slo_key: key.to_string(),
        source: m.source.clone(),
        start_ms: m.start_ms,
        end_ms: m.end_ms,
        until_ms: Some(m.until_ms),
        complete: m.complete,
    }
}

/// The mark of a stored row.
fn backfilled_of(row: &BackfillRow) -> Backfilled {
    Backfilled {
        source: row.source.clone(),
        start_ms: row.start_ms,
        end_ms: row.end_ms,
        complete: row.complete,
        until_ms: row.until_ms.unwrap_or(row.end_ms),
    }
}

/// The history row of an SLO alert that started (`ends` `None`) or resolved.
pub(super) fn alert_row(
    labels: &Labels,
    annotations: &Labels,
    starts: i64,
    ends: Option<i64>,
) -> AlertHistoryRow {
    let get = |l: &Labels, k: &str| l.get(k).unwrap_or_default().to_string();
    AlertHistoryRow {
        slo_key: format!("{}/{}", get(labels, "service"), get(labels, "slo")),
        alertname: get(labels, "alertname"),
        severity: get(labels, "severity"),
        starts_at_ms: starts,
        ends_at_ms: ends,
        playbook_url: get(annotations, "runbook_url"),
    }
}

impl SloEngine {
    /// Stores the plan of each of `jobs` (so a restart before its first chunk resumes it),
    /// starts their back-fill and points the reports at this engine's SLOs.
    pub(super) async fn with_history(mut self, jobs: Vec<BackfillJob>) -> SloEngine {
        if !jobs.is_empty() {
            let (source, timeout) = match &self.opts.backfill_query {
                Some(c) => (
                    BackfillSource::Remote(Box::new(RemoteQuerier::new(c))),
                    c.timeout_for(self.opts.evaluation_interval),
                ),
                None => (BackfillSource::Store, self.opts.evaluation_interval),
            };
            let mut rows = Vec::new();
            for job in &jobs {
                let plan = job.plan(&source, self.step_ms);
                rows.push(mark_row(&job.key, &plan));
                if let Some(rt) = self.slos.iter_mut().find(|rt| rt.key == job.key) {
                    rt.backfilled = Some(plan);
                }
            }
            if let Err(e) = self.db.backfill_put(rows).await {
                tracing::warn!(error = %e, "recording the SLO back-fill plans");
            }
            let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
            let ctx = BackfillContext {
                store: self.store.clone(),
                engine: self.engine.clone(),
                source,
                step_ms: self.step_ms,
                timeout,
            };
            // The task ends with its last job, or when the engine is gone.
            drop(backfill::spawn(jobs, ctx, tx));
            self.backfill.push(rx);
        }
        self.attach_reports();
        self
    }

    /// Gives the view's reports this engine's database and SLOs.
    pub(super) fn attach_reports(&self) {
        let subjects = self.slos.iter().map(report_subject).collect();
        self.view
            .reports
            .attach(self.db.clone(), subjects, self.step_ms);
    }

    /// Waits until every back-fill task has sent its last chunk; the next round records
    /// them. For tests and tools: the service's rounds never wait.
    pub async fn wait_backfill(&mut self) {
        for rx in &mut self.backfill {
            while let Some(c) = rx.recv().await {
                self.backfill_waiting.push(c);
            }
        }
        self.backfill.clear();
    }

    /// Keeps the first `chunks` back-fill chunks for the next round and ends the back-fill
    /// there, as a stop of the service between two chunks would: for tests of the resume.
    pub async fn stop_backfill_after(&mut self, chunks: usize) {
        for rx in &mut self.backfill {
            while self.backfill_waiting.len() < chunks {
                match rx.recv().await {
                    Some(c) => self.backfill_waiting.push(c),
                    None => break,
                }
            }
        }
        self.backfill.clear();
    }

    /// Records the back-fill chunks that arrived since the last round in the ledgers; the
    /// ledger writes for them.
    pub(super) fn take_backfill(&mut self) -> Vec<LedgerWrite> {
        let mut chunks = std::mem::take(&mut self.backfill_waiting);
        self.backfill.retain_mut(|rx| loop {
            match rx.try_recv() {
                Ok(c) => chunks.push(c),
                Err(mpsc::error::TryRecvError::Empty) => break true,
                Err(mpsc::error::TryRecvError::Disconnected) => break false,
            }
        });
        let mut writes = Vec::new();
        for c in chunks {
            let Some(rt) = self.slos.iter_mut().find(|rt| rt.key == c.key) else {
                continue; // removed by a reload
            };
            for m in &c.minutes {
                rt.ledger.record(m.minute, Counts::new(m.bad, m.total));
            }
            for g in &c.gaps {
                rt.ledger.record_gap(*g);
            }
            rt.backfilled = Some(c.mark.clone());
            writes.push(LedgerWrite {
                backfill: Some(mark_row(&c.key, &c.mark)),
                slo: c.key.clone(),
                minutes: c.minutes,
                gaps: c.gaps,
                cursor: None,
            });
            self.backfill_after.push((c.key, c.mark));
        }
        writes
    }

    /// After the ledger write (which stored the back-fill marks with their steps): reloads
    /// the ledger of each SLO whose back-fill completed (steps recorded behind the live ones
    /// reach only the hourly sums in memory; the reload puts them in the detail too).
    pub(super) async fn backfill_written(&mut self) {
        let after = std::mem::take(&mut self.backfill_after);
        if after.is_empty() {
            return;
        }
        let now_step = crate::timefmt::now_ms() / self.step_ms;
        for (key, m) in after.iter().filter(|(_, m)| m.complete) {
            self.backfill_running.remove(key);
            let Some(rt) = self.slos.iter_mut().find(|rt| rt.key == *key) else {
                continue;
            };
            let from = load_from(&rt.spec, now_step.max(rt.next_step.unwrap_or(now_step)));
            match self.db.ledger_load(key.clone(), from).await {
                Ok(stored) => {
                    rt.ledger = fresh_ledger(&rt.spec);
                    rt.ledger.load(&stored.minutes, &stored.gaps);
                    tracing::info!(slo = %key, source = %m.source, "SLO back-fill complete");
                }
                Err(e) => {
                    tracing::warn!(slo = %key, error = %e, "reloading the back-filled SLO ledger")
                }
            }
        }
    }

    /// Stores the report of the period before the current one for every SLO that has not
    /// been checked in the current period (once per SLO and period, and after a start). Each
    /// SLO's periods are its own ([`report_subject`]).
    pub(super) async fn close_periods(&mut self, now_ms: i64) {
        let mut rows = Vec::new();
        for rt in &self.slos {
            let who = report_subject(rt);
            let Some(current) = Period::of(&who.calendar, now_ms) else {
                continue;
            };
            if self.period_checked.get(&rt.key) == Some(&current.name) {
                continue;
            }
            let Some(prev) = current.previous(&who.calendar) else {
                continue;
            };
            let filter = ReportFilter {
                slo_key: Some(rt.key.clone()),
                period: Some(prev.name.clone()),
                ..ReportFilter::default()
            };
            let done = match self.db.reports(filter).await {
                Ok(found) if !found.is_empty() => true,
                Ok(_) => {
                    match report::compute_from_db(&self.db, &who, &prev, true, self.step_ms).await {
                        Ok(r) => {
                            // A period the SLO did not exist in has nothing to report.
                            if r.measured_minutes > 0 || r.gap_minutes > 0 {
                                rows.push(report::report_row(&r));
                            }
                            true
                        }
                        Err(e) => {
                            tracing::warn!(slo = %rt.key, error = %e, "closing the SLO report period");
                            false
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(slo = %rt.key, error = %e, "reading the SLO reports");
                    false
                }
            };
            if done {
                self.period_checked.insert(rt.key.clone(), current.name);
            }
        }
        if let Err(e) = self.db.reports_put(rows).await {
            tracing::warn!(error = %e, "storing the SLO reports");
        }
    }
}

/// Who an SLO's reports are about, and its compliance periods: a calendar window's own
/// periods, in its zone; UTC calendar months for a rolling window.
pub(super) fn report_subject(rt: &SloRuntime) -> ReportSubject {
    ReportSubject {
        service: rt.spec.service.clone(),
        name: rt.spec.name.clone(),
        owner: rt.spec.owner.clone(),
        objective: rt.spec.objective.0,
        calendar: match &rt.spec.window {
            SloWindow::Calendar(c) => c.clone(),
            SloWindow::Rolling(_) => crate::slo::calendar::CalendarWindow::month_utc(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::report::{to_csv, ReportQuery};
    use crate::state::test_dir::TempDir;

    const SPECS: &str = r#"
version: redline/v1
service: shop
owner: team-shop
slos:
  - name: weekly
    objective: 99
    window: {calendar: week, start_day: sunday, time_zone: Europe/Berlin}
    sli:
      ratio:
        errors: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total[{{.window}}]))
  - name: monthly
    objective: 99
    window: {rolling: 30d}
    sli:
      ratio:
        errors: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total[{{.window}}]))
"#;

    /// Minutes since the epoch of a UTC date, hour and minute (independent of jiff).
    fn minute(y: i64, m: u32, d: u32, h: i64, min: i64) -> i64 {
        crate::timefmt::days_from_civil(y, m, d) * 1440 + h * 60 + min
    }

    fn steps(slo: &str, minutes: &[(i64, f64, f64)]) -> LedgerWrite {
        LedgerWrite {
            slo: slo.into(),
            minutes: minutes
                .iter()
                .map(|&(minute, bad, total)| LedgerMinute { minute, bad, total })
                .collect(),
            ..LedgerWrite::default()
        }
    }

    /// The owner team-shop's report of a month.
    async fn owner_month(e: &SloEngine, month: &str, now: i64) -> Vec<report::SloReport> {
        let q = ReportQuery {
            owner: Some("team-shop".into()),
            month: Period::parse(month),
            ..ReportQuery::default()
        };
        e.view().reports.list(q, now).await.unwrap()
    }

    #[tokio::test]
    async fn each_slo_closes_and_stores_its_own_periods() {
        let dir = TempDir::new("slo-periods-close");
        let f = dir.path().join("shop.yml");
        std::fs::write(&f, SPECS).unwrap();
        let specs = crate::slo::load_file(&f).unwrap();
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(8);
        let mut e = SloEngine::load(
            specs,
            Arc::new(Store::new()),
            db.clone(),
            Arc::new(Engine::default()),
            tx,
            SloEngineOptions {
                backfill: false,
                ..SloEngineOptions::default()
            },
            HashMap::new(),
        )
        .await
        .unwrap();
        // The weekly SLO's week of the spring DST change in Berlin runs from Sunday 30 March
        // 2025 00:00 CET (29 March 23:00 UTC) to Sunday 6 April 00:00 CEST (5 April 22:00
        // UTC). Its first minute: 10 bad of 100; its last (21:59 UTC): 0 of 100; the minute
        // after it belongs to the next week (30 of 100).
        let week = minute(2025, 3, 29, 23, 0);
        let next_week = minute(2025, 4, 5, 22, 0);
        // The rolling SLO reports UTC months: 31 March 23:59 UTC is March (5 of 100).
        db.ledger_write(vec![
            steps(
                "shop/weekly",
                &[
                    (week, 10.0, 100.0),
                    (next_week - 1, 0.0, 100.0),
                    (next_week, 30.0, 100.0),
                ],
            ),
            steps("shop/monthly", &[(minute(2025, 3, 31, 23, 59), 5.0, 100.0)]),
        ])
        .await
        .unwrap();
        // Sunday 6 April 2025 12:00 UTC: both SLOs' previous periods have ended.
        let now = minute(2025, 4, 6, 12, 0) * 60_000;
        e.close_periods(now).await;
        e.close_periods(now + 60_000).await; // once per period: no second row
        let rows = db
            .reports(ReportFilter {
                owner: Some("team-shop".into()),
                ..ReportFilter::default()
            })
            .await
            .unwrap();
        let got: Vec<(&str, &str, i64, i64)> = rows
            .iter()
            .map(|r| (r.slo_key.as_str(), r.period.as_str(), r.start_ms, r.end_ms))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "shop/monthly",
                    "2025-03",
                    minute(2025, 3, 1, 0, 0) * 60_000,
                    minute(2025, 4, 1, 0, 0) * 60_000
                ),
                (
                    "shop/weekly",
                    "2025-03-30/P1W[Europe/Berlin]",
                    week * 60_000,
                    next_week * 60_000
                ),
            ]
        );
        let stored: crate::slo::report::SloReport = serde_json::from_str(&rows[1].report).unwrap();
        // Two minutes of the week: 10 bad of 200.
        assert_eq!((stored.bad_events, stored.total_events), (10.0, 200.0));
        assert_eq!(stored.time_zone, "Europe/Berlin");
        assert!(stored.closed);

        // The owner's April: the stored DST week (its days 1–5 April are April's), the
        // weekly SLO's current week (from 6 April) and the rolling SLO's current April. The
        // stored March of the rolling SLO shares no day with April.
        let april = owner_month(&e, "2025-04", now).await;
        let got: Vec<(&str, &str, bool)> = april
            .iter()
            .map(|r| (r.slo.as_str(), r.period.as_str(), r.closed))
            .collect();
        assert_eq!(
            got,
            [
                ("shop/weekly", "2025-03-30/P1W[Europe/Berlin]", true),
                ("shop/monthly", "2025-04", false),
                ("shop/weekly", "2025-04-06/P1W[Europe/Berlin]", false),
            ]
        );
        // The current week holds the 30 of 100 minute.
        assert_eq!((april[2].bad_events, april[2].total_events), (30.0, 100.0));
        // The CSV has the JSON's rows, field by field.
        let csv = to_csv(&april);
        let mut lines = csv.split("\r\n");
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        for r in &april {
            let row: Vec<&str> = lines.next().unwrap().split(',').collect();
            let col = |c: &str| row[head.iter().position(|h| *h == c).unwrap()];
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(col("period"), json["period"]);
            assert_eq!(col("time_zone"), json["time_zone"]);
            assert_eq!(col("slo"), json["name"]);
            for c in [
                "total_events",
                "bad_events",
                "attainment",
                "budget_spent_ratio",
            ] {
                assert_eq!(
                    col(c).parse::<f64>().unwrap(),
                    json[c].as_f64().unwrap(),
                    "{c}"
                );
            }
        }
        // The owner's March: the rolling SLO's March and the DST week (30 and 31 March).
        let march = owner_month(&e, "2025-03", now).await;
        let got: Vec<&str> = march.iter().map(|r| r.period.as_str()).collect();
        assert_eq!(got, ["2025-03", "2025-03-30/P1W[Europe/Berlin]"]);
        // The index: March and April, newest first.
        let index = e.view().reports.index(now).await.unwrap();
        let got: Vec<(&str, usize)> = index
            .iter()
            .map(|i| (i.period.as_str(), i.reports))
            .collect();
        assert_eq!(got, [("2025-04", 3), ("2025-03", 2)]);
    }
}
