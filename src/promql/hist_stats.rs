//! Histogram statistics decoding, as Prometheus' `HistogramStatsIterator`: a selector whose
//! histograms only feed `histogram_count`, `histogram_sum` or `histogram_avg` reads each
//! histogram as its count, sum and schema, without buckets, and settles an `Unknown`
//! counter-reset hint by comparing the sample with the histogram read before it in the
//! same iteration (`CounterReset` or `NotCounterReset`). That comparison is what lets
//! `histogram_count(sum(…))` see a reset that the storage, which hints the first sample of
//! every chunk `Unknown`, does not tell.
//!
//! [`stats_selectors`] finds those selectors in a query (upstream's
//! `detectHistogramStatsDecoding`); [`stats_only`] is the histogram such a selector yields.

use crate::histogram::{CounterResetHint, FloatHistogram};
use promql_parser::parser::Expr;
use std::collections::HashSet;

/// The selectors (by the address of their `VectorSelector`, the key the evaluator caches
/// selections under) that have `histogram_count`, `histogram_sum` or `histogram_avg` above
/// them and no subquery, `histogram_quantile(s)`, `histogram_fraction` or trim operator
/// (`</`, `>/`), which all need the buckets (a subquery for its explicit reset detection).
pub(crate) fn stats_selectors(expr: &Expr) -> HashSet<usize> {
    let mut out = HashSet::new();
    walk(expr, false, false, &mut out);
    out
}

fn walk(expr: &Expr, stats: bool, vetoed: bool, out: &mut HashSet<usize>) {
    match expr {
        Expr::VectorSelector(vs) => {
            if stats && !vetoed {
                out.insert(vs as *const _ as usize);
            }
        }
        Expr::MatrixSelector(ms) => {
            if stats && !vetoed {
                out.insert(&ms.vs as *const _ as usize);
            }
        }
        Expr::Subquery(sq) => walk(&sq.expr, stats, true, out),
        Expr::Call(c) => {
            let (stats, vetoed) = match c.func.name {
                "histogram_count" | "histogram_sum" | "histogram_avg" => (true, vetoed),
                "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
                    (stats, true)
                }
                _ => (stats, vetoed),
            };
            for a in &c.args.args {
                walk(a, stats, vetoed, out);
            }
        }
        Expr::Binary(b) => {
            let op = b.op.to_string();
            let vetoed = vetoed || op == "</" || op == ">/";
            walk(&b.lhs, stats, vetoed, out);
            walk(&b.rhs, stats, vetoed, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_deref() {
                walk(p, stats, vetoed, out);
            }
            walk(&a.expr, stats, vetoed, out);
        }
        Expr::Unary(u) => walk(&u.expr, stats, vetoed, out),
        Expr::Paren(p) => walk(&p.expr, stats, vetoed, out),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_)
        | Expr::Duration(_) => {}
    }
}

/// `h` as a statistics-decoding selector yields it: count, sum and schema only, and an
/// `Unknown` hint settled against `previous`, the histogram the same iteration read before
/// it (`None` when it read none, and the hint stays `Unknown`).
pub(crate) fn stats_only(h: &FloatHistogram, previous: Option<&FloatHistogram>) -> FloatHistogram {
    let counter_reset_hint = match (h.counter_reset_hint, previous) {
        (CounterResetHint::Unknown, Some(p)) if h.detect_reset(p) => CounterResetHint::CounterReset,
        (CounterResetHint::Unknown, Some(_)) => CounterResetHint::NotCounterReset,
        (hint, _) => hint,
    };
    FloatHistogram {
        counter_reset_hint,
        schema: h.schema,
        count: h.count,
        sum: h.sum,
        ..FloatHistogram::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Span;

    fn parse(q: &str) -> Expr {
        promql_parser::parser::parse(q).expect("valid query")
    }

    /// How many selectors of `q` decode statistics only.
    fn count(q: &str) -> usize {
        stats_selectors(&parse(q)).len()
    }

    #[test]
    fn only_selectors_under_a_statistics_function_without_a_veto_decode_statistics() {
        assert_eq!(count("histogram_count(sum(rate(x[5m])))"), 1);
        assert_eq!(count("histogram_sum(x) / histogram_count(y)"), 2);
        assert_eq!(count("histogram_avg(x) + y"), 1);
        assert_eq!(count("sum(x)"), 0);
        // A subquery or a function that needs the buckets anywhere above vetoes it.
        assert_eq!(count("histogram_count(increase(x[40m:9m]))"), 0);
        assert_eq!(count("max_over_time(histogram_count(x)[5m:1m])"), 0);
        assert_eq!(count("histogram_quantile(0.5, histogram_count(x) * y)"), 0);
        assert_eq!(count("histogram_fraction(0, 1, x) + histogram_sum(y)"), 1);
    }

    fn hist(buckets: &[f64], hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: hint,
            count: buckets.iter().sum(),
            sum: 10.0,
            positive_spans: vec![Span {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn an_unknown_hint_is_settled_against_the_previous_histogram() {
        use CounterResetHint::*;
        // Bucket 0 fell from 1 to 0 while the count stayed 1: a reset only the buckets show.
        let before = hist(&[1.0], NotCounterReset);
        let after = hist(&[0.0, 1.0], Unknown);
        let s = stats_only(&after, Some(&before));
        assert_eq!(s.counter_reset_hint, CounterReset);
        assert_eq!((s.count, s.sum), (1.0, 10.0));
        assert!(s.positive_buckets.is_empty() && s.positive_spans.is_empty());
        let grown = hist(&[1.0, 1.0], Unknown);
        assert_eq!(
            stats_only(&grown, Some(&before)).counter_reset_hint,
            NotCounterReset
        );
        // Nothing read before it: still unknown. A stored hint is kept as it is.
        assert_eq!(stats_only(&after, None).counter_reset_hint, Unknown);
        let hinted = hist(&[0.0, 1.0], NotCounterReset);
        assert_eq!(
            stats_only(&hinted, Some(&before)).counter_reset_hint,
            NotCounterReset
        );
        let gauge = hist(&[0.0, 1.0], Gauge);
        assert_eq!(stats_only(&gauge, Some(&before)).counter_reset_hint, Gauge);
    }
}
