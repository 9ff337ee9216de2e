//! Composite SLOs: a user journey made of several SLOs, each with a weight, measured against
//! an objective of its own.
//!
//! A composite's SLI is [`Sli::Composite`]: a list of [`CompositePart`]s naming other SLOs of
//! the loaded set. [`resolve`] checks the list against the whole set once every file is read
//! (a part may live in another file): the part exists, is not composite itself, is measured
//! over the composite's window, and is listed once.
//!
//! **Semantics: the weighted average of the parts' error ratios, step by step.** Each ledger
//! step (a minute), a part with traffic contributes its error ratio `bad_i / total_i` with its
//! weight `w_i`; [`compose_step`] gives the composite's step
//!
//! ```text
//! bad_c   = Σ w_i · bad_i / total_i     over the parts with traffic in the step
//! total_c = Σ w_i                       over the same parts
//! ```
//!
//! so a step's error ratio `bad_c / total_c` is the weighted average of the error ratios of
//! the parts that had traffic, and a window's is the weighted average over its steps. The
//! composite's ledger holds these derived steps, and everything downstream (budget, burn
//! rates, alert tiers, the low-traffic guard, which then counts weight-minutes, the forecast,
//! calendar periods, reports) runs on them unchanged. A step in which no part had traffic has
//! no events; a step that every part lost to a gap is a gap of the composite.
//!
//! [`compose_steps`] derives a stretch of steps from the parts' in-memory ledgers (the engine
//! reads the parts before their composites in every round); [`part_figures`] gives each
//! part's error ratio and share of the composite's burn over a window, for the API.

use super::figures::{self, Counts};
use super::ledger::Ledger;
use super::spec::{
    build_alerting, AlertingInput, Budgeting, CompositePart, Objective, Sli, SloSpec,
};
use super::{Diag, SloError};
use crate::state::ledger::{LedgerGap, LedgerMinute};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The composite's counts for one step from each part's `(weight, counts)`: the parts with
/// traffic each add their error ratio times their weight to `bad` and their weight to
/// `total`; parts without traffic are left out.
pub fn compose_step(parts: impl IntoIterator<Item = (f64, Counts)>) -> Counts {
    let mut c = Counts::default();
    for (w, p) in parts {
        if p.total > 0.0 {
            c.bad += w * (p.bad / p.total).clamp(0.0, 1.0);
            c.total += w;
        }
    }
    c
}

/// A part's steps as a composite reads them.
pub trait PartSteps {
    /// The part's weight.
    fn weight(&self) -> f64;
    /// The events of one step.
    fn step(&self, s: i64) -> Counts;
    /// The gaps of the part, `[start, end)`.
    fn gaps(&self) -> &[LedgerGap];
    /// The first step known one by one.
    fn kept_from(&self) -> i64;
}

/// One part as the engine sees it in a round: its weight and its in-memory ledger (which
/// keeps the last three days step by step).
pub struct PartLedger<'a> {
    pub weight: f64,
    pub ledger: &'a Ledger,
}

impl PartSteps for PartLedger<'_> {
    fn weight(&self) -> f64 {
        self.weight
    }
    fn step(&self, s: i64) -> Counts {
        self.ledger.sum(s, s + 1)
    }
    fn gaps(&self) -> &[LedgerGap] {
        self.ledger.gaps()
    }
    fn kept_from(&self) -> i64 {
        self.ledger.detail_start()
    }
}

/// One part as stored: its weight and its ledger rows from the database, every step of the
/// period (a new composite's history is composed from these).
pub struct StoredPart {
    pub weight: f64,
    pub steps: std::collections::HashMap<i64, Counts>,
    pub gaps: Vec<LedgerGap>,
}

impl StoredPart {
    pub fn new(weight: f64, stored: &crate::state::ledger::StoredLedger) -> StoredPart {
        let mut steps = std::collections::HashMap::new();
        for m in &stored.minutes {
            let c: &mut Counts = steps.entry(m.minute).or_default();
            c.add(Counts::new(m.bad, m.total));
        }
        StoredPart {
            weight,
            steps,
            gaps: stored.gaps.clone(),
        }
    }
}

impl PartSteps for StoredPart {
    fn weight(&self) -> f64 {
        self.weight
    }
    fn step(&self, s: i64) -> Counts {
        self.steps.get(&s).copied().unwrap_or_default()
    }
    fn gaps(&self) -> &[LedgerGap] {
        &self.gaps
    }
    fn kept_from(&self) -> i64 {
        i64::MIN
    }
}

fn in_gap(gaps: &[LedgerGap], step: i64) -> bool {
    gaps.iter().any(|g| g.start <= step && step < g.end)
}

/// The composite's steps `[from, to)` from its parts: a step every part lost to a gap (or
/// that is older than what a part keeps step by step) is a gap, any other step is
/// [`compose_step`] of the parts' counts. A composite without parts has only gaps.
pub fn compose_steps<P: PartSteps>(
    parts: &[P],
    from: i64,
    to: i64,
) -> (Vec<LedgerMinute>, Vec<LedgerGap>) {
    let mut minutes = Vec::new();
    let mut gaps: Vec<LedgerGap> = Vec::new();
    let kept_from = parts.iter().map(|p| p.kept_from()).max().unwrap_or(to);
    for s in from..to {
        let lost = s < kept_from || parts.iter().all(|p| in_gap(p.gaps(), s));
        if lost {
            match gaps.last_mut() {
                Some(g) if g.end == s => g.end = s + 1,
                _ => gaps.push(LedgerGap {
                    start: s,
                    end: s + 1,
                }),
            }
            continue;
        }
        let c = compose_step(parts.iter().map(|p| (p.weight(), p.step(s))));
        minutes.push(LedgerMinute {
            minute: s,
            bad: c.bad,
            total: c.total,
        });
    }
    (minutes, gaps)
}

/// One part of a composite in the API: which SLO, its weight, and how it burns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartFigures {
    /// The part's `service/name`, its id in `/api/v1/slos/<id>`.
    pub slo: String,
    pub service: String,
    pub name: String,
    pub weight: f64,
    /// The weight over the sum of the weights.
    pub weight_share: f64,
    /// The part's own error ratio (bad / total events) over `window`.
    pub error_ratio: f64,
    /// The part's share of the composite's bad events over `window` (the parts' shares sum
    /// to 1); 0 when the composite did not burn.
    pub burn_share: f64,
    /// The window the two figures above cover: the composite's current burn window.
    pub window: String,
    /// The part's own figures, from the same round: `null` when the part is not evaluated.
    pub attainment: Option<f64>,
    pub budget_remaining_ratio: Option<f64>,
}

/// Each part's error ratio and share of the composite's burn over the steps `[from, to)`.
/// The share is summed step by step as the composite's steps are: a part's `w · bad / total`
/// in each step it had traffic, over the composite's `bad` of the window.
pub fn part_figures(
    parts: &[CompositePart],
    ledgers: &[Option<&Ledger>],
    from: i64,
    to: i64,
    window: &str,
) -> Vec<PartFigures> {
    let weights: f64 = parts.iter().map(|p| p.weight).sum();
    let mut contributed = vec![0.0; parts.len()];
    for s in from..to {
        for (i, (p, l)) in parts.iter().zip(ledgers).enumerate() {
            if let Some(l) = l {
                let c = l.sum(s, s + 1);
                if c.total > 0.0 {
                    contributed[i] += p.weight * (c.bad / c.total).clamp(0.0, 1.0);
                }
            }
        }
    }
    let bad: f64 = contributed.iter().sum();
    parts
        .iter()
        .zip(ledgers)
        .zip(contributed)
        .map(|((p, l), mine)| {
            let (service, name) = p.key.split_once('/').unwrap_or(("", &p.key));
            PartFigures {
                slo: p.key.clone(),
                service: service.to_string(),
                name: name.to_string(),
                weight: p.weight,
                weight_share: if weights > 0.0 {
                    p.weight / weights
                } else {
                    0.0
                },
                error_ratio: l.map_or(0.0, |l| figures::error_ratio(l.sum(from, to))),
                burn_share: if bad > 0.0 { mine / bad } else { 0.0 },
                window: window.to_string(),
                attainment: None,
                budget_remaining_ratio: None,
            }
        })
        .collect()
}

/// Resolves every composite's parts against `specs` (the whole loaded set) and checks them;
/// the errors carry the part's field path.
pub fn resolve(specs: &mut [SloSpec]) -> Vec<SloError> {
    let by_key: BTreeMap<String, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{}/{}", s.service, s.name), i))
        .collect();
    let mut resolved: Vec<(usize, usize, String)> = Vec::new();
    let mut errors = Vec::new();
    for (ci, c) in specs.iter().enumerate() {
        let Sli::Composite(parts) = &c.sli else {
            continue;
        };
        let err = |errors: &mut Vec<SloError>, field: &str, message: String| {
            errors.push(SloError {
                file: c.file.clone(),
                field: field.to_string(),
                message,
            })
        };
        let mut seen = BTreeSet::new();
        for (pi, p) in parts.iter().enumerate() {
            let field = format!("{}.slo", p.field);
            let found = if !p.key.is_empty() {
                by_key.get(&p.key).copied()
            } else if p.slo.contains('/') {
                by_key.get(&p.slo).copied()
            } else {
                // A bare name: the composite's own service first, else the one SLO so named.
                let own = format!("{}/{}", c.service, p.slo);
                match by_key.get(&own) {
                    Some(i) => Some(*i),
                    None => {
                        let named: Vec<usize> = specs
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| s.name == p.slo)
                            .map(|(i, _)| i)
                            .collect();
                        if named.len() > 1 {
                            let services: Vec<&str> =
                                named.iter().map(|i| specs[*i].service.as_str()).collect();
                            err(
                                &mut errors,
                                &field,
                                format!(
                                "{:?} names an SLO of several services ({}); write service/name",
                                p.slo,
                                services.join(", ")
                            ),
                            );
                            continue;
                        }
                        named.first().copied()
                    }
                }
            };
            let Some(i) = found else {
                err(
                    &mut errors,
                    &field,
                    format!(
                        "no SLO named {:?} among the loaded SLO files (a part is `name`, an SLO of the composite's service, or `service/name`)",
                        p.slo
                    ),
                );
                continue;
            };
            let part = &specs[i];
            let key = format!("{}/{}", part.service, part.name);
            if i == ci || matches!(part.sli, Sli::Composite(_)) {
                err(
                    &mut errors,
                    &field,
                    format!("{key} is a composite SLO: a part must be a plain SLO (composites do not nest)"),
                );
                continue;
            }
            if part.window != c.window {
                err(
                    &mut errors,
                    &field,
                    format!(
                        "{key} is measured over {}, the composite over {}: a composite and its parts need the same window, so the parts' budgets shown beside the composite's cover the same period",
                        part.window.name(),
                        c.window.name()
                    ),
                );
                continue;
            }
            if !seen.insert(key.clone()) {
                err(
                    &mut errors,
                    &field,
                    format!("{key} is listed twice; give it one part with the sum of the weights"),
                );
                continue;
            }
            resolved.push((ci, pi, key));
        }
    }
    for (ci, pi, key) in resolved {
        if let Sli::Composite(parts) = &mut specs[ci].sli {
            parts[pi].key = key;
        }
    }
    errors
}

/// The composite SLO of OpenSLO's composite form over its objectives' SLOs `parts` (weights
/// `weights`): named as the SLO, measured over their window, its objective the weighted mean
/// of theirs (OpenSLO v1 has no field for a composite's own target; at that objective the
/// composite burns at rate 1 when every part does). The parts must be budgeted alike: the
/// composite is budgeted as they are.
pub(crate) fn of_objectives(
    d: &mut Diag,
    name: &str,
    parts: &[SloSpec],
    weights: &[f64],
) -> Option<SloSpec> {
    let first = parts.first()?;
    for (i, p) in parts.iter().enumerate() {
        if p.budgeting != first.budgeting {
            d.err(
                format!("spec.objectives[{i}]"),
                format!(
                    "the objectives of a composite SLO share its budgeting: {} differs from the first objective's {}",
                    budgeting_text(&p.budgeting),
                    budgeting_text(&first.budgeting)
                ),
            );
            return None;
        }
    }
    let total: f64 = weights.iter().sum();
    let target = parts
        .iter()
        .zip(weights)
        .map(|(p, w)| p.objective.0 * w)
        .sum::<f64>()
        / total;
    let objective = Objective(super::spec::round12(target));
    let alerting = build_alerting(
        d,
        "spec",
        &first.service,
        name,
        &first.window,
        objective,
        AlertingInput::default(),
    );
    let composite = parts
        .iter()
        .zip(weights)
        .map(|(p, w)| CompositePart {
            slo: p.name.clone(),
            key: format!("{}/{}", p.service, p.name),
            weight: *w,
            field: p.field.clone(),
        })
        .collect();
    Some(SloSpec {
        name: name.to_string(),
        field: format!("{}spec.objectives", d.prefix),
        objective,
        sli: Sli::Composite(composite),
        alerting,
        ..first.clone()
    })
}

fn budgeting_text(b: &Budgeting) -> String {
    match b {
        Budgeting::Occurrences => "Occurrences".into(),
        Budgeting::Timeslices { slice, target } => format!(
            "Timeslices of {} at {target}",
            super::spec::window_name(*slice)
        ),
        Budgeting::RatioTimeslices { slice } => {
            format!("RatioTimeslices of {}", super::spec::window_name(*slice))
        }
    }
}

#[cfg(test)]
mod tests;
