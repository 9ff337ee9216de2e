//! The engine's composite SLOs ([`crate::slo::composite`]): after the plain SLOs have read
//! their steps in a round, each composite derives the same steps from its parts' ledgers;
//! after the figures, each composite's figures get its parts' (weight, error ratio, share of
//! the burn, budget).

use super::*;
use crate::slo::composite::{compose_steps, part_figures, PartLedger, StoredPart};
use crate::slo::spec::Sli;

/// Derives every composite's steps up to `target` (exclusive) from its parts' ledgers, and
/// records them in its ledger; the ledger writes for them. The parts have read their steps
/// already; a composite goes no further than its slowest part (one waiting for its first
/// scrape after a restart has not recorded its steps yet).
pub(super) fn compose_round(slos: &mut [SloRuntime], target: i64) -> Vec<LedgerWrite> {
    let index: HashMap<String, usize> = slos
        .iter()
        .enumerate()
        .map(|(i, rt)| (rt.key.clone(), i))
        .collect();
    let mut writes = Vec::new();
    for ci in 0..slos.len() {
        let Sli::Composite(parts) = &slos[ci].spec.sli else {
            continue;
        };
        let found: Vec<(f64, usize)> = parts
            .iter()
            .filter_map(|p| index.get(&p.key).map(|i| (p.weight, *i)))
            .collect();
        let upto = found
            .iter()
            .map(|(_, i)| slos[*i].next_step.unwrap_or(target))
            .fold(target, i64::min);
        let next = slos[ci].next_step.unwrap_or(target - 1);
        if next >= upto {
            continue;
        }
        let ledgers: Vec<PartLedger> = found
            .iter()
            .map(|(w, i)| PartLedger {
                weight: *w,
                ledger: &slos[*i].ledger,
            })
            .collect();
        let (minutes, gaps) = compose_steps(&ledgers, next, upto);
        // Data is absent when it is absent from every part.
        let absent = found
            .iter()
            .map(|(_, i)| slos[*i].absent_steps)
            .min()
            .unwrap_or(ABSENT_STEPS);
        let rt = &mut slos[ci];
        for m in &minutes {
            rt.ledger.record(m.minute, Counts::new(m.bad, m.total));
        }
        for g in &gaps {
            rt.ledger.record_gap(*g);
        }
        rt.absent_steps = absent;
        rt.next_step = Some(upto);
        writes.push(LedgerWrite {
            slo: rt.key.clone(),
            minutes,
            gaps,
            cursor: Some((upto - 1, rt.cursors.to_json())),
            backfill: None,
        });
    }
    writes
}

/// Fills each composite's [`SloFigures::parts`]: every part's weight, its error ratio and
/// share of the composite's burn over the composite's current burn window (ending at `to`),
/// and its own attainment and budget from `figures` (same order as `slos`).
pub fn attach_parts(slos: &[SloRuntime], figures: &mut [SloFigures], to: i64) {
    let index: HashMap<&str, usize> = slos
        .iter()
        .enumerate()
        .map(|(i, rt)| (rt.key.as_str(), i))
        .collect();
    for ci in 0..slos.len() {
        let Sli::Composite(parts) = &slos[ci].spec.sli else {
            continue;
        };
        let fastest = fastest_window(&slos[ci].spec);
        let ledgers: Vec<Option<&Ledger>> = parts
            .iter()
            .map(|p| index.get(p.key.as_str()).map(|i| &slos[*i].ledger))
            .collect();
        let mut out = part_figures(
            parts,
            &ledgers,
            to - dur_steps(fastest),
            to,
            &window_name(fastest),
        );
        for p in &mut out {
            if let Some(f) = index.get(p.slo.as_str()).and_then(|i| figures.get(*i)) {
                p.attainment = Some(f.attainment);
                p.budget_remaining_ratio = Some(f.error_budget.remaining_ratio);
            }
        }
        if let Some(f) = figures.get_mut(ci) {
            f.parts = Some(out);
        }
    }
}

impl SloEngine {
    /// Composes the history of each new composite whose parts' back-fills are done, from
    /// the parts' stored ledgers, as a back-fill chunk the round records like any other
    /// (so the composite's first page shows the period its parts know).
    pub(super) async fn compose_history(&mut self) {
        if self.compose_pending.is_empty() {
            return;
        }
        // Every back-fill task has ended (one that failed half-way sends no last chunk).
        if self.backfill.is_empty() && self.backfill_waiting.is_empty() {
            self.backfill_running.clear();
        }
        let mut waiting = Vec::new();
        for (key, from, to) in std::mem::take(&mut self.compose_pending) {
            let Some(Sli::Composite(parts)) = self
                .slos
                .iter()
                .find(|rt| rt.key == key)
                .map(|rt| rt.spec.sli.clone())
            else {
                continue; // removed by a reload
            };
            if parts.iter().any(|p| self.backfill_running.contains(&p.key)) {
                waiting.push((key, from, to));
                continue;
            }
            let mut stored = Vec::new();
            for p in &parts {
                match self.db.ledger_load(p.key.clone(), from).await {
                    Ok(l) => stored.push(StoredPart::new(p.weight, &l)),
                    Err(e) => {
                        tracing::warn!(slo = %key, part = %p.key, error = %e, "reading a composite SLO's part")
                    }
                }
            }
            let (minutes, gaps) = compose_steps(&stored, from, to);
            self.backfill_waiting.push(BackfillChunk {
                key,
                minutes,
                gaps,
                mark: Backfilled {
                    source: "parts".into(),
                    start_ms: from * self.step_ms,
                    end_ms: to * self.step_ms,
                    complete: true,
                    until_ms: to * self.step_ms,
                },
            });
        }
        self.compose_pending = waiting;
    }
}
