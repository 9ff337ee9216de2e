//! The counter-reset hints PromQL sees on stored native histograms, as Prometheus' query
//! path hands them out.
//!
//! Two rules decide them. [`as_queried`]: the store marks the first sample of a chunk cut
//! by a counter reset `CounterReset`, but Prometheus' chunk iterator reads every chunk's
//! first sample as `Unknown` (it cannot know whether the previous chunk still exists or was
//! added later out of order, prometheus/prometheus#15346), so the evaluator does the same.
//! [`StatsSelectors`]: a selector whose histograms only feed `histogram_count`,
//! `histogram_sum` or `histogram_avg` is read through Prometheus' `HistogramStatsIterator`,
//! which keeps only schema, count and sum and replaces an `Unknown` hint by a counter-reset
//! detection against the sample read just before ([`stats_view`]). That is how
//! `histogram_count(sum(x))` can report conflicting counter resets that `sum(x)` cannot.

use crate::histogram::{CounterResetHint, FloatHistogram};
use crate::store::HistogramSample;
use promql_parser::parser::Expr;
use std::collections::HashSet;
use std::sync::Arc;

/// A series' histograms with the hints Prometheus' chunk iterator gives them: a chunk's
/// first sample says `Unknown` even after a counter reset.
pub(crate) fn as_queried(hists: &[HistogramSample]) -> Vec<HistogramSample> {
    hists
        .iter()
        .map(|p| {
            if p.h.counter_reset_hint != CounterResetHint::CounterReset {
                return p.clone();
            }
            let mut h = (*p.h).clone();
            h.counter_reset_hint = CounterResetHint::Unknown;
            HistogramSample {
                t: p.t,
                h: Arc::new(h),
            }
        })
        .collect()
}

/// The vector selectors (by address) whose histograms are read for their count and sum
/// only (upstream's `detectHistogramStatsDecoding`).
#[derive(Default)]
pub(crate) struct StatsSelectors(HashSet<usize>);

impl StatsSelectors {
    /// Finds the selectors in `expr`: walking up from a selector, a `histogram_count`,
    /// `histogram_sum` or `histogram_avg` call marks it, and a subquery or a function that
    /// needs the buckets (`histogram_quantile`, `histogram_quantiles`,
    /// `histogram_fraction`) ends the walk unmarked.
    pub(crate) fn find(expr: &Expr) -> Self {
        let mut out = StatsSelectors::default();
        out.walk(expr, &mut Vec::new());
        out
    }

    pub(crate) fn contains(&self, vs: usize) -> bool {
        self.0.contains(&vs)
    }

    fn walk<'e>(&mut self, expr: &'e Expr, path: &mut Vec<&'e Expr>) {
        let selector = match expr {
            Expr::VectorSelector(vs) => Some(vs as *const _ as usize),
            Expr::MatrixSelector(ms) => Some(&ms.vs as *const _ as usize),
            _ => None,
        };
        if let Some(key) = selector {
            if stats_only(path) {
                self.0.insert(key);
            }
            return;
        }
        path.push(expr);
        match expr {
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p, path);
                }
                self.walk(&a.expr, path);
            }
            Expr::Unary(u) => self.walk(&u.expr, path),
            Expr::Binary(b) => {
                self.walk(&b.lhs, path);
                self.walk(&b.rhs, path);
            }
            Expr::Paren(p) => self.walk(&p.expr, path),
            Expr::Subquery(s) => self.walk(&s.expr, path),
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.walk(a, path);
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// Whether a selector below the ancestors `path` (outermost first) is stats-decoded.
fn stats_only(path: &[&Expr]) -> bool {
    let mut skip = false;
    for e in path.iter().rev() {
        match e {
            Expr::Subquery(_) => return false,
            Expr::Call(c) => match c.func.name {
                "histogram_count" | "histogram_sum" | "histogram_avg" => skip = true,
                "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
                    return false
                }
                _ => {}
            },
            _ => {}
        }
    }
    skip
}

/// Sample `i` of `hists` as the stats iterator returns it: schema, count, sum and a hint. An
/// `Unknown` hint becomes `CounterReset` or `NotCounterReset` by comparison with the
/// previous sample when the iterator read that one too, that is when it lies at or after
/// `read_from` (where the iterator was positioned for this window).
pub(crate) fn stats_view(hists: &[HistogramSample], i: usize, read_from: i64) -> FloatHistogram {
    let cur = &hists[i].h;
    let mut hint = cur.counter_reset_hint;
    if hint == CounterResetHint::Unknown {
        if let Some(prev) = i.checked_sub(1).and_then(|j| hists.get(j)) {
            if prev.t >= read_from {
                hint = if cur.detect_reset(&prev.h) {
                    CounterResetHint::CounterReset
                } else {
                    CounterResetHint::NotCounterReset
                };
            }
        }
    }
    FloatHistogram {
        counter_reset_hint: hint,
        // The schema stays, so that exponential and custom buckets still do not mix.
        schema: cur.schema,
        count: cur.count,
        sum: cur.sum,
        ..FloatHistogram::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Span;

    fn h(t: i64, counts: &[f64], hint: CounterResetHint) -> HistogramSample {
        HistogramSample {
            t,
            h: Arc::new(FloatHistogram {
                counter_reset_hint: hint,
                count: counts.iter().sum(),
                sum: 1.0,
                positive_spans: vec![Span {
                    offset: 0,
                    length: counts.len() as u32,
                }],
                positive_buckets: counts.to_vec(),
                ..FloatHistogram::default()
            }),
        }
    }

    #[test]
    fn a_chunk_cut_by_a_reset_starts_with_an_unknown_hint() {
        use CounterResetHint::*;
        let stored = [
            h(1, &[2.0], Unknown),
            h(2, &[1.0], CounterReset),
            h(3, &[2.0], NotCounterReset),
        ];
        let got: Vec<_> = as_queried(&stored)
            .iter()
            .map(|p| p.h.counter_reset_hint)
            .collect();
        assert_eq!(got, vec![Unknown, Unknown, NotCounterReset]);
    }

    #[test]
    fn stats_view_detects_resets_against_the_sample_read_before() {
        use CounterResetHint::*;
        // 3 observations, then 1 (a reset: count and bucket went down), then 2.
        let s = [
            h(1_000, &[3.0], Unknown),
            h(2_000, &[1.0], Unknown),
            h(3_000, &[2.0], Unknown),
            h(4_000, &[2.0], Gauge),
        ];
        let hint = |i, from| stats_view(&s, i, from).counter_reset_hint;
        assert_eq!(hint(0, 0), Unknown, "nothing read before the first sample");
        assert_eq!(hint(1, 0), CounterReset);
        assert_eq!(hint(2, 0), NotCounterReset);
        assert_eq!(hint(3, 0), Gauge, "explicit hints are kept");
        // The previous sample lies before where the iterator started: not compared.
        assert_eq!(hint(1, 1_001), Unknown);
        assert_eq!(
            hint(1, 1_000),
            CounterReset,
            "a sample at the start is read"
        );
        let v = stats_view(&s, 2, 0);
        assert_eq!((v.count, v.sum), (2.0, 1.0));
        assert!(v.positive_buckets.is_empty(), "only count and sum are kept");
    }

    #[test]
    fn stats_decoding_follows_the_functions_above_a_selector() {
        let marked = |q: &str| {
            let e = promql_parser::parser::parse(q).expect("parses");
            let s = StatsSelectors::find(&e);
            let mut keys = Vec::new();
            collect_selectors(&e, &mut keys);
            keys.iter().map(|k| s.contains(*k)).collect::<Vec<_>>()
        };
        assert_eq!(marked("histogram_count(sum(x))"), vec![true]);
        assert_eq!(marked("histogram_sum(sum_over_time(x[5m]))"), vec![true]);
        assert_eq!(
            marked("histogram_avg(x) + histogram_count(y)"),
            vec![true, true]
        );
        assert_eq!(marked("sum(x)"), vec![false]);
        assert_eq!(
            marked("histogram_count(histogram_quantile(0.5, x))"),
            vec![false]
        );
        assert_eq!(
            marked("histogram_count(sum_over_time(x[5m:1m]))"),
            vec![false]
        );
    }

    fn collect_selectors(e: &Expr, out: &mut Vec<usize>) {
        match e {
            Expr::VectorSelector(vs) => out.push(vs as *const _ as usize),
            Expr::MatrixSelector(ms) => out.push(&ms.vs as *const _ as usize),
            Expr::Aggregate(a) => collect_selectors(&a.expr, out),
            Expr::Binary(b) => {
                collect_selectors(&b.lhs, out);
                collect_selectors(&b.rhs, out);
            }
            Expr::Paren(p) => collect_selectors(&p.expr, out),
            Expr::Subquery(s) => collect_selectors(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
            _ => {}
        }
    }
}
