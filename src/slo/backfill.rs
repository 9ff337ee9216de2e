//! Back-fill: a new SLO's ledger filled for its whole period from history, so its first page
//! is not empty.
//!
//! When an SLO first appears (at start-up or on a reload) with an empty ledger, the engine
//! ([`super::engine::SloEngine::load`]) starts its live reading at the current step and hands
//! the steps before it, back to the start of the SLO period, to one background task
//! ([`spawn`]). The task reads them in chunks of [`CHUNK_STEPS`] steps, oldest first, and sends
//! each chunk ([`BackfillChunk`]) to the engine, which records it in the ledger and the state
//! database at its next round; the round never waits for the back-fill.
//!
//! Where the steps come from:
//! - **the local store** ([`BackfillSource::Store`]): through the very per-step reading the
//!   live round uses ([`super::sli::read_step`]: exact counter deltas with cursors, or the
//!   PromQL fallback), from the step of the store's oldest sample on. Steps before it are a
//!   gap: the store does not have them.
//! - **a remote Prometheus-compatible query API** ([`BackfillSource::Remote`], with
//!   `rule_query_url`): the SLI's event queries with the ledger step as their window
//!   ([`super::spec::Sli::event_queries`]), run with `query_range` at the ledger step; a rate
//!   times the step is the step's events, as the live PromQL fallback reads them. A step the
//!   answer has no `total` sample for is a gap; so are the steps of a chunk whose query failed.
//!
//! Back-filled steps are marked: the figures carry `backfilled_from` (source and step range),
//! kept in the state database (`slo_backfill`) with the step the live reading started at.
//!
//! **Resume.** The engine records the plan before the first chunk, and each chunk's steps
//! and the mark they advance (the first step not yet recorded) in one transaction. A restart
//! that finds an unfinished mark ([`BackfillJob::resume`]) reads on from that step to the
//! live reading's start, with the counter cursors a reading that had gone on would hold
//! ([`super::sli::cursors_at`]): no step is counted twice or left out. A finished back-fill
//! is not redone. A reload resumes the same way and drops the old engine's back-fill.

use super::figures::Counts;
use super::sli::{cursors_at, read_step, Cursors, SliSource};
use super::spec::{Sli, SloSpec};
use crate::promql::Engine;
use crate::rules::querier::RemoteQuerier;
use crate::state::ledger::{LedgerGap, LedgerMinute};
use crate::store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Steps read per chunk: six hours of minutes, one chunk one message to the engine.
pub const CHUNK_STEPS: i64 = 360;
/// Chunks waiting for the engine's next round before the back-fill task waits too.
pub const QUEUED_CHUNKS: usize = 64;

/// Where back-filled steps come from.
#[derive(Clone, Debug)]
pub enum BackfillSource {
    /// The local store, through the live round's per-step reading.
    Store,
    /// A remote query API (`rule_query_url`), through `query_range`.
    Remote(Box<RemoteQuerier>),
}

impl BackfillSource {
    /// `store`, or the remote API's `query_range` endpoint.
    pub fn name(&self) -> String {
        match self {
            BackfillSource::Store => "store".into(),
            BackfillSource::Remote(r) => r.range_endpoint(),
        }
    }
}

/// What the figures and the API show of a back-fill: `source` filled steps
/// `[start_ms, end_ms)`; `complete` once every chunk is in the ledger.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backfilled {
    pub source: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub complete: bool,
    /// Where the live reading started: the back-fill's end.
    #[serde(skip)]
    pub until_ms: i64,
}

/// One SLO's steps to fill: `[from, to)`.
#[derive(Clone, Debug)]
pub struct BackfillJob {
    pub key: String,
    pub source: SliSource,
    pub sli: Sli,
    pub from: i64,
    pub to: i64,
    /// A resumed job: the first step the back-fill filled before the restart (its mark's
    /// start); `from` is where it stopped.
    pub resumed_from: Option<i64>,
}

impl BackfillJob {
    /// The job for a new SLO whose live reading starts at step `to`: its period before that.
    /// `None` for a probe SLI, which has no history to read.
    pub fn for_new_slo(
        spec: &SloSpec,
        key: &str,
        source: &SliSource,
        from: i64,
        to: i64,
    ) -> Option<Self> {
        // A composite's history is composed from its parts' ledgers by the engine.
        if matches!(source, SliSource::Probe(_) | SliSource::Composite) || from >= to {
            return None;
        }
        Some(BackfillJob {
            key: key.to_string(),
            source: source.clone(),
            sli: spec.sli.clone(),
            from,
            to,
            resumed_from: None,
        })
    }

    /// The rest of an unfinished back-fill whose mark says it filled `[start, from)` before
    /// a restart: steps `[from, to)`. `None` when nothing is left.
    pub fn resume(
        spec: &SloSpec,
        key: &str,
        source: &SliSource,
        start: i64,
        from: i64,
        to: i64,
    ) -> Option<Self> {
        let mut job = BackfillJob::for_new_slo(spec, key, source, from, to)?;
        // Nothing recorded yet: the job as planned, read as it would have been.
        job.resumed_from = (start < from).then_some(start);
        Some(job)
    }

    /// The mark of this job before its first chunk.
    pub fn plan(&self, source: &BackfillSource, step_ms: i64) -> Backfilled {
        let start = self.resumed_from.unwrap_or(self.from);
        Backfilled {
            source: source.name(),
            start_ms: start * step_ms,
            end_ms: self.from * step_ms,
            complete: false,
            until_ms: self.to * step_ms,
        }
    }
}

/// One chunk of back-filled steps for the engine to record.
#[derive(Clone, Debug, PartialEq)]
pub struct BackfillChunk {
    pub key: String,
    pub minutes: Vec<LedgerMinute>,
    pub gaps: Vec<LedgerGap>,
    /// The SLO's back-fill so far, in ms.
    pub mark: Backfilled,
}

/// Everything the back-fill task reads with.
pub struct BackfillContext {
    pub store: Arc<Store>,
    pub engine: Arc<Engine>,
    pub source: BackfillSource,
    pub step_ms: i64,
    /// The timeout of one remote query.
    pub timeout: Duration,
}

/// Starts the task that fills `jobs` one after the other and sends their chunks on `tx`.
pub fn spawn(
    jobs: Vec<BackfillJob>,
    ctx: BackfillContext,
    tx: mpsc::Sender<BackfillChunk>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ctx = Arc::new(ctx);
        for job in jobs {
            tracing::info!(slo = %job.key, source = %ctx.source.name(), steps = job.to - job.from,
                "back-filling the SLO ledger");
            let ok = match &ctx.source {
                BackfillSource::Store => from_store(&job, &ctx, &tx).await,
                BackfillSource::Remote(r) => from_remote(&job, r, &ctx, &tx).await,
            };
            if !ok {
                return; // the engine is gone
            }
        }
    })
}

/// Merges steps into `[start, end)` ranges.
fn gap_ranges(steps: impl IntoIterator<Item = i64>) -> Vec<LedgerGap> {
    let mut out: Vec<LedgerGap> = Vec::new();
    for s in steps {
        match out.last_mut() {
            Some(g) if g.end == s => g.end = s + 1,
            _ => out.push(LedgerGap {
                start: s,
                end: s + 1,
            }),
        }
    }
    out
}

/// The mark after a chunk: steps from `start` (a resumed job's first step instead) to `end`
/// are in the ledger; complete once `end` reaches the job's end.
fn mark(job: &BackfillJob, ctx: &BackfillContext, start: i64, end: i64) -> Backfilled {
    Backfilled {
        source: ctx.source.name(),
        start_ms: job.resumed_from.unwrap_or(start) * ctx.step_ms,
        end_ms: end * ctx.step_ms,
        complete: end >= job.to,
        until_ms: job.to * ctx.step_ms,
    }
}

/// The step a sample at `t_ms` belongs to: step `s` holds `(s·step, (s+1)·step]`.
fn step_of(t_ms: i64, step_ms: i64) -> i64 {
    (t_ms - 1).div_euclid(step_ms)
}

async fn from_store(
    job: &BackfillJob,
    ctx: &Arc<BackfillContext>,
    tx: &mpsc::Sender<BackfillChunk>,
) -> bool {
    let store = ctx.store.clone();
    let oldest = tokio::task::spawn_blocking(move || store.cardinality(1).min_time)
        .await
        .unwrap_or(i64::MAX);
    let first = if oldest == i64::MAX {
        job.to
    } else {
        step_of(oldest, ctx.step_ms).clamp(job.from, job.to)
    };
    let mut gaps = Vec::new();
    if first > job.from {
        gaps.push(LedgerGap {
            start: job.from,
            end: first,
        });
    }
    if first >= job.to {
        let chunk = BackfillChunk {
            key: job.key.clone(),
            minutes: Vec::new(),
            gaps,
            mark: mark(job, ctx, first, job.to),
        };
        return tx.send(chunk).await.is_ok();
    }
    // A resumed job reads on with the cursors an uninterrupted one would have here.
    let mut cursors = if job.resumed_from.is_some() {
        let (ctx, src) = (ctx.clone(), job.source.clone());
        tokio::task::spawn_blocking(move || {
            cursors_at(&src, &ctx.engine, ctx.store.as_ref(), first * ctx.step_ms)
        })
        .await
        .unwrap_or_default()
    } else {
        Cursors::default()
    };
    let mut s = first;
    while s < job.to {
        let end = (s + CHUNK_STEPS).min(job.to);
        let (c, minutes) = {
            let ctx = ctx.clone();
            let src = job.source.clone();
            let mut cur = std::mem::take(&mut cursors);
            let r = tokio::task::spawn_blocking(move || {
                let mut minutes = Vec::with_capacity((end - s) as usize);
                for step in s..end {
                    let r = read_step(
                        &src,
                        &ctx.engine,
                        ctx.store.as_ref(),
                        &mut cur,
                        step * ctx.step_ms,
                        (step + 1) * ctx.step_ms,
                        false,
                    );
                    minutes.push(LedgerMinute {
                        minute: step,
                        bad: r.counts.bad,
                        total: r.counts.total,
                    });
                }
                (cur, minutes)
            })
            .await;
            match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(slo = %job.key, error = %e, "the SLO back-fill failed");
                    return true;
                }
            }
        };
        cursors = c;
        let chunk = BackfillChunk {
            key: job.key.clone(),
            minutes,
            gaps: std::mem::take(&mut gaps),
            mark: mark(job, ctx, first, end),
        };
        if tx.send(chunk).await.is_err() {
            return false;
        }
        s = end;
    }
    true
}

/// Per step, the sum over series of a range query's samples at the step's end.
fn per_step(
    series: &[crate::rules::querier::range::RangeSeries],
    step_ms: i64,
) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for s in series {
        for &(t, v) in &s.samples {
            if v.is_finite() {
                *out.entry(step_of(t, step_ms)).or_insert(0.0) += v;
            }
        }
    }
    out
}

async fn from_remote(
    job: &BackfillJob,
    remote: &RemoteQuerier,
    ctx: &Arc<BackfillContext>,
    tx: &mpsc::Sender<BackfillChunk>,
) -> bool {
    let step = Duration::from_millis(ctx.step_ms as u64);
    let window = crate::timefmt::format_duration(step);
    let Some(q) = job.sli.event_queries(&window) else {
        tracing::warn!(slo = %job.key, "this SLI kind has no event queries to back-fill with");
        let chunk = BackfillChunk {
            key: job.key.clone(),
            minutes: Vec::new(),
            gaps: vec![LedgerGap {
                start: job.from,
                end: job.to,
            }],
            mark: mark(job, ctx, job.to, job.to),
        };
        return tx.send(chunk).await.is_ok();
    };
    // Ratio and latency queries are per-second rates; availability's count slices.
    let scale = match job.sli {
        Sli::Availability { .. } => 1.0,
        _ => step.as_secs_f64(),
    };
    let mut s = job.from;
    // A gap reaching the end of a chunk may go on in the next one: sent once it ends.
    let mut open_gap: Option<LedgerGap> = None;
    while s < job.to {
        let end = (s + CHUNK_STEPS).min(job.to);
        // The sample at (k+1)·step is step k's events.
        let (a, b) = ((s + 1) * ctx.step_ms, end * ctx.step_ms);
        let total = remote.query_range(&q.total, a, b, step, ctx.timeout).await;
        let errors = remote.query_range(&q.errors, a, b, step, ctx.timeout).await;
        let (minutes, gaps) = match (total, errors) {
            (Ok(t), Ok(e)) => {
                let t = per_step(&t, ctx.step_ms);
                let e = per_step(&e, ctx.step_ms);
                let mut minutes = Vec::new();
                let mut missing = Vec::new();
                for step in s..end {
                    match t.get(&step) {
                        Some(&total) => {
                            let c = Counts::new(
                                e.get(&step).copied().unwrap_or(0.0) * scale,
                                total * scale,
                            );
                            minutes.push(LedgerMinute {
                                minute: step,
                                bad: c.bad.clamp(0.0, c.total.max(0.0)),
                                total: c.total.max(0.0),
                            });
                        }
                        None => missing.push(step),
                    }
                }
                (minutes, gap_ranges(missing))
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(slo = %job.key, error = %e, "back-filling the SLO from the remote query API");
                (Vec::new(), vec![LedgerGap { start: s, end }])
            }
        };
        let mut closed = Vec::new();
        for g in gaps {
            match open_gap.take() {
                Some(o) if o.end == g.start => {
                    open_gap = Some(LedgerGap {
                        start: o.start,
                        end: g.end,
                    })
                }
                Some(o) => {
                    closed.push(o);
                    open_gap = Some(g);
                }
                None => open_gap = Some(g),
            }
        }
        // Open only while it reaches the end of this chunk and more chunks follow.
        if let Some(o) = open_gap.filter(|o| o.end < end || end >= job.to) {
            closed.push(o);
            open_gap = None;
        }
        // The steps of an open gap are not recorded yet: the mark stops before them, so a
        // resumed back-fill does not skip them.
        let done = open_gap.map_or(end, |o| o.start);
        let chunk = BackfillChunk {
            key: job.key.clone(),
            minutes,
            gaps: closed,
            mark: mark(job, ctx, job.from, done),
        };
        if tx.send(chunk).await.is_err() {
            return false;
        }
        s = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_steps_merge_into_gaps() {
        assert_eq!(
            gap_ranges([3, 4, 5, 9, 11, 12]),
            vec![
                LedgerGap { start: 3, end: 6 },
                LedgerGap { start: 9, end: 10 },
                LedgerGap { start: 11, end: 13 }
            ]
        );
        assert!(gap_ranges([]).is_empty());
    }

    #[test]
    fn a_sample_at_a_step_boundary_belongs_to_the_step_it_ends() {
        // Step 2 of a 60 s ledger holds (120 s, 180 s].
        assert_eq!(step_of(180_000, 60_000), 2);
        assert_eq!(step_of(120_001, 60_000), 2);
        assert_eq!(step_of(120_000, 60_000), 1);
    }
}
