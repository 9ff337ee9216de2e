//! The demo's history, back-filled at start so the dashboard opens the way an installation
//! looks after a month: [`backfill`] writes what the cluster's endpoints would have served
//! in the past ([`super::cluster::Cluster::exposition_at`]) into the store, through the
//! scrape's own ingest path ([`crate::scrape::scrape_loop::ingest`], with each target's real
//! labels), then evaluates the recording rules over the recent part of it, as the rules
//! manager would have ([`crate::rules::group::GroupState::eval`]).
//!
//! How far back, and how densely ([`HistoryPlan`]), in ledger steps (a minute at speed 1):
//! - the whole SLO period ([`SLO_PERIOD_STEPS`], 30 days), one sample every
//!   [`SPARSE_STEPS`] steps: what the SLO back-fill from the store reads into the ledgers
//!   ([`crate::slo::backfill`]), so the ledgers and the charts have one source;
//! - every step around the past incident, so its minutes and their burn are exact;
//! - every [`DENSE_INTERVAL`] of real time over the last [`RULES_SPAN`] of real time, with the
//!   recording rules evaluated at each: the dashboard's charts (1 to 6 hours by default).
//!
//! The store's retention must cover the SLO period (the demo's config sets it).

use super::cluster::{Cluster, Endpoint, PAST_INCIDENT_AGO, PAST_INCIDENT_FOR};
use crate::exposition::Format;
use crate::promql::Engine;
use crate::rules::file::RuleGroup;
use crate::rules::group::{EvalContext, GroupState};
use crate::scrape::scrape_loop::{ingest, SeriesCache};
use crate::scrape::target::TargetSpec;
use crate::store::{Labels, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest SLO period of the demo (30 days) in ledger steps, plus an hour so that the
/// period's first step has a sample before it.
pub const SLO_PERIOD_STEPS: i64 = 30 * 1440 + 60;
/// One sample every this many ledger steps over the SLO period.
pub const SPARSE_STEPS: i64 = 10;
/// Real time over which the recording rules are evaluated: the dashboard's longest default
/// chart range.
pub const RULES_SPAN: Duration = Duration::from_secs(6 * 3600);
/// Real time between samples (and rule evaluations) over [`RULES_SPAN`].
pub const DENSE_INTERVAL: Duration = Duration::from_secs(60);

/// When the history has samples and rule evaluations, in real Unix milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryPlan {
    /// Sample times, ascending, all before the start.
    pub samples: Vec<i64>,
    /// Recording-rule evaluation times, ascending, all before the start.
    pub rules: Vec<i64>,
}

impl HistoryPlan {
    /// The plan for a demo starting at `now_ms` whose ledger step is `step_ms` and whose
    /// scenario runs `speed` times faster than real time.
    pub fn new(now_ms: i64, step_ms: i64, speed: f64) -> HistoryPlan {
        let step_ms = step_ms.max(1);
        let first = now_ms - SLO_PERIOD_STEPS * step_ms;
        let mut samples: Vec<i64> = (0..SLO_PERIOD_STEPS / SPARSE_STEPS)
            .map(|k| first + k * SPARSE_STEPS * step_ms)
            .collect();
        // The past incident, half an hour either side, every step.
        let scenario_ms = |secs: f64| now_ms + (secs * 1000.0 / speed) as i64;
        let (a, b) = (
            scenario_ms(-PAST_INCIDENT_AGO - 1800.0),
            scenario_ms(-PAST_INCIDENT_AGO + PAST_INCIDENT_FOR + 1800.0),
        );
        samples.extend((0..).map(|k| a + k * step_ms).take_while(|t| *t < b));
        let dense_ms = DENSE_INTERVAL.as_millis() as i64;
        let span_ms = (RULES_SPAN.as_millis() as i64).min(now_ms - first);
        let rules: Vec<i64> = (1..=span_ms / dense_ms)
            .rev()
            .map(|k| now_ms - k * dense_ms)
            .collect();
        samples.extend(rules.iter().map(|t| t - dense_ms / 2));
        samples.retain(|t| *t >= first && *t < now_ms);
        samples.sort_unstable();
        samples.dedup();
        HistoryPlan { samples, rules }
    }
}

/// What [`backfill`] wrote, and how long it took.
#[derive(Clone, Debug, Default)]
pub struct HistoryStats {
    pub scrapes: usize,
    pub samples: usize,
    pub rule_evaluations: usize,
    pub rule_samples: usize,
    pub duration: Duration,
}

/// Everything [`backfill`] writes with.
pub struct HistoryTargets<'a> {
    /// Each endpoint with the target its job scrapes it as.
    pub targets: Vec<(Endpoint, TargetSpec)>,
    /// The rule groups; their recording rules are evaluated.
    pub groups: &'a [RuleGroup],
    /// The groups' interval when they give none.
    pub evaluation_interval: Duration,
}

/// Writes the cluster's history of `plan` into `store`: every target's exposition at every
/// sample time, then the recording rules at every evaluation time. `now_ms` is scenario time
/// 0; the cluster's counters must start at or before the plan's first sample
/// ([`Cluster::with_history`]).
pub fn backfill(
    store: &Store,
    engine: &Engine,
    cluster: &Cluster,
    with: &HistoryTargets<'_>,
    plan: &HistoryPlan,
    now_ms: i64,
) -> HistoryStats {
    let started = Instant::now();
    let speed = cluster.scenario().speed;
    let mut stats = HistoryStats::default();
    let mut caches: Vec<SeriesCache> = with
        .targets
        .iter()
        .map(|_| SeriesCache::default())
        .collect();
    for &t in &plan.samples {
        let scenario_t = (t - now_ms) as f64 / 1000.0 * speed;
        for ((endpoint, spec), cache) in with.targets.iter().zip(&mut caches) {
            let body = cluster.exposition_at(endpoint, scenario_t);
            match ingest(
                store,
                cache,
                spec,
                body.as_bytes(),
                Format::PrometheusText,
                t,
            ) {
                Ok((app, _)) => {
                    stats.samples += app.commit().appended;
                    stats.scrapes += 1;
                }
                Err(e) => tracing::warn!(job = %spec.job, error = %e, "demo history: scrape"),
            }
        }
    }
    let mut groups: Vec<GroupState> = with
        .groups
        .iter()
        .filter_map(|g| {
            let mut g = g.clone();
            g.rules.retain(|r| !r.is_alerting());
            (!g.rules.is_empty()).then(|| {
                GroupState::new(Arc::new(g)).with_default_interval(with.evaluation_interval)
            })
        })
        .collect();
    let external_labels = Labels::default();
    let ctx = EvalContext {
        engine,
        store,
        external_labels: &external_labels,
        external_url: "",
    };
    for &t in &plan.rules {
        for g in &mut groups {
            let r = g.eval(&ctx, t);
            stats.rule_evaluations += 1;
            stats.rule_samples += r.samples_appended;
        }
    }
    stats.duration = started.elapsed();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_the_slo_period_sparsely_and_the_charts_densely() {
        let now = 1_700_000_000_000;
        let p = HistoryPlan::new(now, 60_000, 1.0);
        assert!(p.samples.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert_eq!(p.samples[0], now - SLO_PERIOD_STEPS * 60_000);
        assert!(*p.samples.last().unwrap() < now);
        // Six hours of rule evaluations a minute apart, the last a minute before the start.
        assert_eq!(p.rules.len(), 360);
        assert_eq!(*p.rules.last().unwrap(), now - 60_000);
        // Every minute around the past incident.
        let at = now - (PAST_INCIDENT_AGO as i64) * 1000;
        let around: Vec<_> = p
            .samples
            .iter()
            .filter(|t| (at..at + 3_600_000).contains(*t))
            .collect();
        assert_eq!(around.len(), 60);
        // Sparse elsewhere: a month of 10-minute samples, plus the incident's and the last
        // six hours' minutes.
        assert!(p.samples.len() < 4_400 + 300 + 360, "{}", p.samples.len());
    }

    #[test]
    fn a_faster_demo_compresses_the_history_not_the_work() {
        let now = 1_700_000_000_000;
        let slow = HistoryPlan::new(now, 60_000, 1.0);
        let fast = HistoryPlan::new(now, 2_000, 30.0);
        assert_eq!(fast.samples[0], now - SLO_PERIOD_STEPS * 2_000);
        assert!(fast.samples.len() <= slow.samples.len());
    }
}
