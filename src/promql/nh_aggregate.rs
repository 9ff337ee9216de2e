//! Aggregations over instant vectors that hold native histogram samples, as Prometheus 3
//! does them: `sum` and `avg` add histograms (a group that mixes histograms and floats is
//! dropped with a warning; histograms that cannot be added drop their group with a
//! warning), `count`, `group`, `limitk` and `limit_ratio` take histogram samples like
//! floats, and the others (`min`, `max`, `topk`, `bottomk`, `stddev`, `stdvar`, `quantile`,
//! `count_values`) ignore them with an info.
//!
//! [`HistogramMean`] is the arithmetic `sum`/`avg` share with `sum_over_time`/
//! `avg_over_time`: Kahan-compensated addition of every count, the sum and every bucket
//! ([`KahanSum`]), and for means the switch to an incremental mean once the direct sum
//! would overflow. [`ResetHints`] is upstream's rule for the "conflicting counter resets"
//! warning: some input said `CounterReset` and another `NotCounterReset`.

use super::aggregate::{grouping_key, kahan_sum_inc};
use super::eval::{EvalResult, Evaluator};
use super::memo::{ptr, FastMap};
use super::nh_range::mixed_exponential_custom;
use super::value::{Sample, Val};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError, KahanSum};
use crate::store::Labels;
use promql_parser::parser::{AggregateExpr, Expr};
use std::rc::Rc;
use std::sync::Arc;

/// What to do with an aggregation's input that holds histograms: the finished result, or
/// the input for the float code (with histograms removed where the operator ignores them).
pub(crate) enum Prepared {
    Done(Val),
    Floats(Vec<Sample>),
}

struct Group {
    labels: Rc<Labels>,
    count: f64,
    sum: f64,
    comp: f64,
    hist: Option<HistogramMean>,
    has_hist: bool,
    floats: bool,
    broken: bool,
    /// Whether any member's name is to be dropped (see the float aggregation's group).
    drop_name: bool,
}

/// Which counter-reset hints the inputs of a histogram sum carried. Upstream warns about
/// "conflicting counter resets" when one input said `CounterReset` and another
/// `NotCounterReset`, whatever the order and whatever lies between; `Unknown` and `Gauge`
/// conflict with nothing.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ResetHints {
    reset: bool,
    not_reset: bool,
}

impl ResetHints {
    pub(crate) fn see(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset = true,
            CounterResetHint::NotCounterReset => self.not_reset = true,
            CounterResetHint::Unknown | CounterResetHint::Gauge => {}
        }
    }

    pub(crate) fn conflict(&self) -> bool {
        self.reset && self.not_reset
    }
}

/// A running compensated sum of histograms that can also yield their mean, as upstream's
/// `sum`/`avg` aggregation and `sum_over_time`/`avg_over_time` compute them: every
/// addition is Kahan-compensated ([`KahanSum`]); for the mean, the direct sum is kept as
/// long as it does not overflow, and from the first addition that would overflow on, the
/// running mean is updated incrementally (`mean = mean·(n-1)/n + h/n`, compensated too).
#[derive(Clone, Debug)]
pub(crate) struct HistogramMean {
    /// The running sum, or once `incremental`, the running mean.
    acc: KahanSum,
    count: f64,
    incremental: bool,
    hints: ResetHints,
    reconciled: bool,
}

impl HistogramMean {
    pub(crate) fn new(first: &FloatHistogram) -> Self {
        let mut hints = ResetHints::default();
        hints.see(first);
        HistogramMean {
            acc: KahanSum::new(first.clone()),
            count: 1.0,
            incremental: false,
            hints,
            reconciled: false,
        }
    }

    /// Adds `h` to the sum (for `sum` and `sum_over_time`).
    pub(crate) fn add_to_sum(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        self.hints.see(h);
        self.count += 1.0;
        let o = self.acc.add(h)?;
        self.reconciled |= o.nhcb_bounds_reconciled;
        Ok(())
    }

    /// Adds `h` to the mean (for `avg` and `avg_over_time`).
    pub(crate) fn add_to_mean(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        self.hints.see(h);
        self.count += 1.0;
        let n = self.count;
        if !self.incremental {
            let mut trial = self.acc.clone();
            let o = trial.add(h)?;
            self.reconciled |= o.nhcb_bounds_reconciled;
            if !trial.has_overflow() {
                self.acc = trial;
                return Ok(());
            }
            // The sum would overflow: continue from the mean of the samples so far.
            self.incremental = true;
            self.acc.div(n - 1.0);
        }
        self.acc.mul((n - 1.0) / n);
        let mut part = h.clone();
        part.div(n);
        let o = self.acc.add(&part)?;
        self.reconciled |= o.nhcb_bounds_reconciled;
        Ok(())
    }

    /// The input hints seen so far.
    pub(crate) fn hints(&self) -> ResetHints {
        self.hints
    }

    /// Whether an addition mapped mismatched custom bounds onto common ones.
    pub(crate) fn reconciled(&self) -> bool {
        self.reconciled
    }

    /// The compensated sum (after [`add_to_sum`](Self::add_to_sum) only).
    pub(crate) fn sum(&self) -> FloatHistogram {
        self.acc.value()
    }

    /// The mean (after [`add_to_mean`](Self::add_to_mean) only): the sum and its
    /// compensation are divided by the count before they are added, as upstream does.
    pub(crate) fn mean(mut self) -> FloatHistogram {
        if !self.incremental {
            self.acc.div(self.count);
        }
        self.acc.value()
    }
}

/// Raises the annotations upstream adds once a histogram sum or mean is complete.
pub(crate) fn note_hints(ev: &Evaluator, m: &HistogramMean, node: &Expr) {
    if m.hints().conflict() {
        ev.annotate(
            true,
            "conflicting counter resets during histogram aggregation",
            node,
        );
    }
    if m.reconciled() {
        ev.annotate(
            false,
            "mismatched custom buckets were reconciled during aggregation",
            node,
        );
    }
}

pub(crate) fn prepare(
    ev: &Evaluator,
    op: &str,
    a: &AggregateExpr,
    input: Vec<Sample>,
    ts: i64,
) -> EvalResult<Prepared> {
    match op {
        "count" | "group" | "limitk" | "limit_ratio" => Ok(Prepared::Floats(input)),
        "sum" | "avg" => Ok(Prepared::Done(sum_or_avg(ev, op, a, input, ts))),
        _ => {
            ev.annotate(
                false,
                &format!("ignored histogram in {op} aggregation"),
                &a.expr,
            );
            // `topk`/`bottomk` keep each member's own name flag, so their histograms can go
            // now; the other aggregations of floats skip them group by group.
            let input = match op {
                "topk" | "bottomk" => input.into_iter().filter(|s| s.h.is_none()).collect(),
                _ => input,
            };
            Ok(Prepared::Floats(input))
        }
    }
}

fn sum_or_avg(ev: &Evaluator, op: &str, a: &AggregateExpr, input: Vec<Sample>, ts: i64) -> Val {
    let node: &Expr = &a.expr;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: FastMap<usize, usize> = FastMap::default();
    let tag = a as *const AggregateExpr as usize;
    for s in input {
        let key = ev
            .memo
            .derive(tag, &s.labels, false, |l, _| grouping_key(l, &a.modifier));
        let gi = *index.entry(ptr(&key)).or_insert_with(|| {
            groups.push(Group {
                labels: key.clone(),
                count: 0.0,
                sum: 0.0,
                comp: 0.0,
                hist: None,
                has_hist: false,
                floats: false,
                broken: false,
                drop_name: false,
            });
            groups.len() - 1
        });
        let g = &mut groups[gi];
        if !g.broken {
            g.drop_name |= s.drop_name;
        }
        let first = g.count == 0.0;
        g.count += 1.0;
        if g.broken {
            continue;
        }
        match &s.h {
            None => {
                g.floats = true;
                (g.sum, g.comp) = kahan_sum_inc(s.v, g.sum, g.comp);
            }
            Some(h) => {
                g.has_hist = true;
                // Like upstream, a group that began with a float keeps no histogram: it
                // is dropped as mixed anyway.
                if first {
                    g.hist = Some(HistogramMean::new(h));
                    continue;
                }
                let Some(acc) = &mut g.hist else { continue };
                let added = if op == "avg" {
                    acc.add_to_mean(h)
                } else {
                    acc.add_to_sum(h)
                };
                if let Err(e) = added {
                    if e == HistogramError::IncompatibleSchema {
                        let name = s.labels.metric_name().unwrap_or("");
                        ev.annotate(true, &mixed_exponential_custom(name), node);
                    }
                    g.broken = true;
                }
            }
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let (v, h) = if g.has_hist {
            if g.floats {
                ev.annotate(
                    true,
                    "encountered a mix of histograms and floats for aggregation",
                    node,
                );
                continue;
            }
            let Some(acc) = g.hist else { continue };
            if g.broken {
                continue;
            }
            note_hints(ev, &acc, node);
            let mut h = if op == "avg" { acc.mean() } else { acc.sum() };
            h.compact(0);
            (0.0, Some(Arc::new(h)))
        } else {
            let s = if g.sum.is_infinite() {
                g.sum
            } else {
                g.sum + g.comp
            };
            (if op == "avg" { s / g.count } else { s }, None)
        };
        out.push(Sample {
            labels: g.labels,
            v,
            h,
            t: ts,
            drop_name: g.drop_name,
        });
    }
    Val::Vector(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(count: f64, sum: f64, hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: hint,
            count,
            sum,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn sum_compensates_cancelling_magnitudes() {
        // Sums 1, 1e100, 1, -1e100: a plain sum absorbs the ones and ends at 0; with
        // compensation the ones survive: 1 + 1 = 2. Counts 1+2+3+4 = 10.
        let u = CounterResetHint::Unknown;
        let mut m = HistogramMean::new(&h(1.0, 1.0, u));
        for (count, sum) in [(2.0, 1e100), (3.0, 1.0), (4.0, -1e100)] {
            m.add_to_sum(&h(count, sum, u)).unwrap();
        }
        let s = m.sum();
        assert_eq!((s.count, s.sum), (10.0, 2.0));
    }

    #[test]
    fn mean_switches_to_incremental_before_the_count_overflows() {
        // Counts f64::MAX and 1e308 overflow when added, so from the second sample on the
        // mean is updated incrementally: MAX·1/2 + 1e308/2 after the second sample, that
        // ·2/3 + 3/3 after the third.
        let u = CounterResetHint::Unknown;
        let mut m = HistogramMean::new(&h(f64::MAX, 3.0, u));
        m.add_to_mean(&h(1e308, 6.0, u)).unwrap();
        m.add_to_mean(&h(3.0, 9.0, u)).unwrap();
        let mean = m.mean();
        let want = (f64::MAX / 2.0 + 1e308 / 2.0) * (2.0 / 3.0) + 1.0;
        assert!(mean.count.is_finite());
        assert!(((mean.count - want) / want).abs() < 1e-15, "{}", mean.count);
        // The sums (3, 6, 9) never overflow on their own, but the mean of all parts
        // follows the same incremental path: (3/2 + 6/2)·2/3 + 9/3 = 6.
        assert_eq!(mean.sum, 6.0);
    }

    #[test]
    fn direct_mean_divides_sum_and_compensation_separately() {
        // 3.1 + 1e100 - 1e100 + 1.3: compensated 4.4; over four samples 1.1.
        let u = CounterResetHint::Unknown;
        let mut m = HistogramMean::new(&h(1.0, 3.1, u));
        for sum in [1e100, -1e100, 1.3] {
            m.add_to_mean(&h(1.0, sum, u)).unwrap();
        }
        let mean = m.mean();
        assert_eq!(mean.count, 1.0);
        assert_eq!(mean.sum, 3.1 / 4.0 + 1.3 / 4.0);
    }

    #[test]
    fn reset_hints_conflict_only_for_reset_and_not_reset() {
        use CounterResetHint::*;
        let seen = |hints: &[CounterResetHint]| {
            let mut m = HistogramMean::new(&h(1.0, 1.0, hints[0]));
            for &hint in &hints[1..] {
                m.add_to_sum(&h(1.0, 1.0, hint)).unwrap();
            }
            m.hints().conflict()
        };
        assert!(seen(&[CounterReset, NotCounterReset]));
        assert!(seen(&[NotCounterReset, Gauge, Unknown, CounterReset]));
        assert!(!seen(&[NotCounterReset, Gauge, Unknown]));
        assert!(!seen(&[CounterReset, Unknown, Gauge]));
    }
}
