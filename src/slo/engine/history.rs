//! The engine's history work around a round: a new SLO's back-fill started at load and its
//! chunks recorded at each round ([`super::super::backfill`]), each SLO alert's start and end
//! kept in the alert history, and each compliance period closed into a stored report
//! ([`super::super::report`]) at the first round after it ends.

use super::*;
use crate::rules::querier::RemoteQuerier;
use crate::slo::backfill::{self, BackfillContext, BackfillJob, BackfillSource, QUEUED_CHUNKS};
use crate::slo::report::{self, Period, ReportSubject};
use crate::state::slo_reports::{AlertHistoryRow, BackfillRow, ReportFilter};

/// Prepares a new SLO (an empty ledger) for its back-fill: its live reading starts at
/// `now_step` with cursors primed on the step before, so the back-fill's steps and the live
/// ones meet without a lost counter delta; the job covers the SLO period before `now_step`.
pub(super) fn start_new(
    rt: &mut SloRuntime,
    engine: &Engine,
    store: &Store,
    now_step: i64,
    step_ms: i64,
) -> Option<BackfillJob> {
    let from = now_step - period_steps(&rt.spec.window);
    let job = BackfillJob::for_new_slo(&rt.spec, &rt.key, &rt.source, from, now_step)?;
    rt.next_step = Some(now_step);
    if rt.source.uses_cursors() {
        let _ = read_step(
            &rt.source,
            engine,
            store,
            &mut rt.cursors,
            (now_step - 1) * step_ms,
            now_step * step_ms,
            false,
        );
    }
    Some(job)
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
    /// Loads the SLOs' back-fill marks, starts the back-fill of `jobs` and points the
    /// reports at this engine's SLOs.
    pub(super) async fn with_history(mut self, jobs: Vec<BackfillJob>) -> SloEngine {
        for rt in &mut self.slos {
            match self.db.backfill_get(rt.key.clone()).await {
                Ok(Some(row)) => {
                    rt.backfilled = Some(Backfilled {
                        source: row.source,
                        start_ms: row.start_ms,
                        end_ms: row.end_ms,
                        complete: row.complete,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(slo = %rt.key, error = %e, "reading the SLO back-fill mark")
                }
            }
        }
        if !jobs.is_empty() {
            let (source, timeout) = match &self.opts.backfill_query {
                Some(c) => (
                    BackfillSource::Remote(Box::new(RemoteQuerier::new(c))),
                    c.timeout_for(self.opts.evaluation_interval),
                ),
                None => (BackfillSource::Store, self.opts.evaluation_interval),
            };
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
        let subjects = self
            .slos
            .iter()
            .map(|rt| ReportSubject {
                service: rt.spec.service.clone(),
                name: rt.spec.name.clone(),
                owner: rt.spec.owner.clone(),
                objective: rt.spec.objective.0,
            })
            .collect();
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
            self.backfill_after.push((c.key.clone(), c.mark));
            writes.push(LedgerWrite {
                slo: c.key,
                minutes: c.minutes,
                gaps: c.gaps,
                cursor: None,
            });
        }
        writes
    }

    /// After the ledger write: stores the back-fill marks, and reloads the ledger of each SLO
    /// whose back-fill completed (steps recorded behind the live ones reach only the hourly
    /// sums in memory; the reload puts them in the detail too).
    pub(super) async fn backfill_written(&mut self) {
        let after = std::mem::take(&mut self.backfill_after);
        if after.is_empty() {
            return;
        }
        let rows = after
            .iter()
            .map(|(key, m)| BackfillRow {
                slo_key: key.clone(),
                source: m.source.clone(),
                start_ms: m.start_ms,
                end_ms: m.end_ms,
                complete: m.complete,
            })
            .collect();
        if let Err(e) = self.db.backfill_put(rows).await {
            tracing::warn!(error = %e, "recording the SLO back-fill");
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
    /// been checked in the current period (once per SLO and period, and after a start).
    pub(super) async fn close_periods(&mut self, now_ms: i64) {
        let current = Period::month_of(now_ms);
        let prev = current.previous();
        let mut rows = Vec::new();
        for rt in &self.slos {
            if self.period_checked.get(&rt.key) == Some(&current.name) {
                continue;
            }
            let filter = ReportFilter {
                slo_key: Some(rt.key.clone()),
                period: Some(prev.name.clone()),
                owner: None,
            };
            let who = ReportSubject {
                service: rt.spec.service.clone(),
                name: rt.spec.name.clone(),
                owner: rt.spec.owner.clone(),
                objective: rt.spec.objective.0,
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
                self.period_checked
                    .insert(rt.key.clone(), current.name.clone());
            }
        }
        if let Err(e) = self.db.reports_put(rows).await {
            tracing::warn!(error = %e, "storing the SLO reports");
        }
    }
}
