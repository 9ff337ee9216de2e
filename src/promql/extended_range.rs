//! The `anchored` and `smoothed` selector modifiers (Prometheus 3,
//! `--enable-feature=promql-extended-range-selectors`), evaluated as upstream's engine does.
//!
//! Both widen what a range selector reads: `anchored` adds the lookback delta before the
//! range (the last sample before the range stands for its start), `smoothed` adds it on both
//! sides (the samples around each boundary are interpolated to the boundary). Only some
//! functions can use such a range ([`ANCHORED_FUNCTIONS`], [`SMOOTHED_FUNCTIONS`], upstream's
//! `AnchoredSafeFunctions` and `SmoothedSafeFunctions`); any other one is an execution error
//! with upstream's text.
//!
//! - [`eval_call`] is `rate`/`increase`/`delta` (upstream's `extendedRate`) and
//!   `changes`/`resets` (`pickFirstSampleIndex`) over such a range;
//! - [`select_matrix`] is the bare range selector (`x[5m] anchored` as a query), whose
//!   series are extended with a sample at each boundary (`extendFloats`);
//! - [`smoothed_instant`] is the instant selector `x smoothed`: the value at the evaluation
//!   time interpolated between the samples around it (`smoothSeries`).
//!
//! Native histograms are refused with the execution error upstream's engine gives for them.

use super::eval::{exec_err, millis, EvalResult, Evaluator};
use super::value::{Point, RangeArg, Sample, Series, Val};
use crate::store::{is_stale_nan, Labels};
use promql_parser::parser::{Expr, MatrixSelector, VectorSelector};
use std::rc::Rc;

/// The functions a range selector with `anchored` may be passed to, sorted as upstream lists
/// them in its error.
pub(crate) const ANCHORED_FUNCTIONS: [&str; 5] = ["changes", "delta", "increase", "rate", "resets"];
/// The functions a range selector with `smoothed` may be passed to.
pub(crate) const SMOOTHED_FUNCTIONS: [&str; 3] = ["delta", "increase", "rate"];

const HISTOGRAMS_IN_CALL: &str =
    "smoothed and anchored modifiers do not work with native histograms";
const HISTOGRAMS_IN_SELECTOR: &str = "anchored modifier is not supported with histograms";

/// A selector's range at one step: `(start, end]` as written, and the samples read for it.
struct Extended {
    start: i64,
    end: i64,
    smoothed: bool,
    /// Each series with float samples in the widened window, stale markers dropped.
    series: Vec<(Rc<Labels>, Vec<Point>)>,
}

/// Reads the float samples of `vs` in `(from, to]` per series. A series with a native
/// histogram sample there is refused with `hist_err`.
fn read(
    ev: &Evaluator,
    vs: &VectorSelector,
    from: i64,
    to: i64,
    hist_err: &str,
) -> EvalResult<Vec<(Rc<Labels>, Vec<Point>)>> {
    let data = ev.series_for(vs)?;
    let mut out = Vec::new();
    let mut n = 0;
    for s in data.iter() {
        let lo = s.samples.partition_point(|p| p.t <= from);
        let hi = s.samples.partition_point(|p| p.t <= to);
        let points: Vec<Point> = s.samples[lo..hi]
            .iter()
            .filter(|p| !is_stale_nan(p.v))
            .copied()
            .collect();
        let hlo = s.hists.partition_point(|p| p.t <= from);
        let hhi = s.hists.partition_point(|p| p.t <= to);
        if hlo < hhi {
            return exec_err(hist_err);
        }
        if points.is_empty() {
            continue;
        }
        n += points.len();
        out.push((s.labels.clone(), points));
    }
    ev.account(n)?;
    Ok(out)
}

/// The samples `ms` reads at step `ts`: its range widened by the lookback delta before it,
/// and for `smoothed` after it too (upstream's `matrixIterSlice` bounds for these selectors).
fn read_range(
    ev: &Evaluator,
    ms: &MatrixSelector,
    ts: i64,
    hist_err: &str,
) -> EvalResult<Extended> {
    let end = ev.modified_time(&ms.vs.at, &ms.vs.offset, ts);
    let start = end.saturating_sub(millis(ms.range));
    let smoothed = ms.vs.smoothed;
    let from = start.saturating_sub(ev.lookback);
    let to = if smoothed {
        end.saturating_add(ev.lookback)
    } else {
        end
    };
    Ok(Extended {
        start,
        end,
        smoothed,
        series: read(ev, &ms.vs, from, to, hist_err)?,
    })
}

/// The time range `collect_ranges` must load for a selector with these modifiers, given the
/// plain one (`start` already lowered by the range or the lookback delta).
pub(crate) fn widen(vs: &VectorSelector, start: i64, end: i64, lookback: i64) -> (i64, i64) {
    if vs.smoothed {
        (start.saturating_sub(lookback), end.saturating_add(lookback))
    } else if vs.anchored {
        (start.saturating_sub(lookback), end)
    } else {
        (start, end)
    }
}

/// Go's `sort.Search(n, f)` over timestamps: the first index below `n` whose sample is
/// after `t` (`after`) or at or after it (`!after`), else `n`.
fn search(f: &[Point], n: usize, t: i64, after: bool) -> usize {
    let head = &f[..n.min(f.len())];
    if after {
        head.partition_point(|p| p.t <= t)
    } else {
        head.partition_point(|p| p.t < t)
    }
}

/// Upstream's `interpolate`: the value at `t` on the line through `p1` and `p2`; for a
/// counter that went down between them, the line starts from 0 (the counter after its reset).
fn interpolate(p1: Point, p2: Point, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.v;
    let y2 = p2.v;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// The value at the range start: the first sample's, or for `smoothed` with that sample
/// before the start, interpolated between it and the next.
fn pick_left(f: &[Point], first: usize, start: i64, smoothed: bool, is_counter: bool) -> f64 {
    match (f.get(first), f.get(first + 1)) {
        (Some(a), Some(b)) if smoothed && a.t < start => interpolate(*a, *b, start, is_counter),
        (Some(a), _) => a.v,
        (None, _) => f64::NAN,
    }
}

/// The value at the range end: the last sample's, or for `smoothed` with that sample after
/// the end, interpolated between the one before it and it.
fn pick_right(f: &[Point], last: usize, end: i64, smoothed: bool, is_counter: bool) -> f64 {
    let prev = last.checked_sub(1).and_then(|i| f.get(i));
    match (prev, f.get(last)) {
        (Some(a), Some(b)) if smoothed && b.t > end => interpolate(*a, *b, end, is_counter),
        (_, Some(b)) => b.v,
        (_, None) => f64::NAN,
    }
}

/// Upstream's `correctForCounterResets`: what the drops from `left` through `points` to
/// `right` took away.
fn correct_for_counter_resets(left: f64, right: f64, points: &[Point]) -> f64 {
    let mut correction = 0.0;
    let mut prev = left;
    for p in points {
        if p.v < prev {
            correction += prev;
        }
        prev = p.v;
    }
    if right < prev {
        correction += prev;
    }
    correction
}

/// The indices of the boundary samples of `f` for the range `(start, end]`: the last sample
/// at or before the start (or the first one), and the last sample (for `smoothed`, the first
/// at or after the end, or the last one). `None` when no sample lies after the start.
fn boundaries(f: &[Point], start: i64, end: i64, smoothed: bool) -> Option<(usize, usize)> {
    let last0 = f.len().checked_sub(1)?;
    let first = search(f, last0, start, true).saturating_sub(1);
    let last = if smoothed {
        search(f, last0, end, false)
    } else {
        last0
    };
    if f[last].t <= start {
        return None;
    }
    Some((first, last))
}

/// The samples strictly inside the range once the boundary samples are replaced by the
/// boundary values: `f[first..=last]` without a first sample at or before the start and a
/// last one at or after the end.
fn inner(f: &[Point], first: usize, last: usize, start: i64, end: i64) -> &[Point] {
    let lo = if f[first].t <= start {
        first + 1
    } else {
        first
    };
    let hi = if f[last].t >= end { last } else { last + 1 };
    f.get(lo..hi).unwrap_or(&[])
}

/// Upstream's `extendedRate`: `rate`, `increase` (`is_counter`) and `delta` over an anchored
/// or smoothed range, from the boundary values rather than by extrapolation.
fn extended_rate(
    f: &[Point],
    r: &Extended,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = boundaries(f, r.start, r.end, r.smoothed)?;
    if r.smoothed && f[first].t > r.end {
        return None;
    }
    let left = pick_left(f, first, r.start, r.smoothed, is_counter);
    let right = pick_right(f, last, r.end, r.smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        result += correct_for_counter_resets(left, right, inner(f, first, last, r.start, r.end));
    }
    if is_rate {
        result /= range_ms as f64 / 1000.0;
    }
    Some(result)
}

/// `changes` and `resets` over an anchored range: counted from the last sample at or before
/// the range start (upstream's `pickFirstSampleIndex`).
fn anchored_count(f: &[Point], start: i64, changes: bool) -> Option<f64> {
    let last = f.last()?;
    if last.t <= start {
        return None;
    }
    let first = search(f, f.len() - 1, start, true).saturating_sub(1);
    let counted = f[first..]
        .windows(2)
        .filter(|w| {
            if changes {
                w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan())
            } else {
                w[1].v < w[0].v
            }
        })
        .count();
    Some(counted as f64)
}

/// A range function called on a range selector carrying `anchored` or `smoothed`
/// (`args[mi]` is that selector, `ms`).
pub(crate) fn eval_call(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    ms: &MatrixSelector,
    ts: i64,
) -> EvalResult<Val> {
    let (modifier, allowed): (&str, &[&str]) = if ms.vs.anchored {
        ("anchored", &ANCHORED_FUNCTIONS)
    } else {
        ("smoothed", &SMOOTHED_FUNCTIONS)
    };
    if !allowed.contains(&name) {
        return exec_err(format!(
            "{modifier} modifier can only be used with: {} - not with {name}",
            allowed.join(", ")
        ));
    }
    let r = read_range(ev, ms, ts, HISTOGRAMS_IN_CALL)?;
    let range_ms = millis(ms.range);
    let mut out = Vec::new();
    for (labels, f) in &r.series {
        let v = match name {
            "rate" => extended_rate(f, &r, range_ms, true, true),
            "increase" => extended_rate(f, &r, range_ms, true, false),
            "delta" => extended_rate(f, &r, range_ms, false, false),
            "changes" => anchored_count(f, r.start, true),
            _ => anchored_count(f, r.start, false),
        };
        // Upstream checks the name of a series that gave a result.
        if v.is_some() && (name == "rate" || name == "increase") {
            super::range_functions::check_counter_name(ev, labels, args[0]);
        }
        if let Some(v) = v {
            out.push(Sample {
                labels: labels.clone(),
                v,
                h: None,
                t: ts,
                drop_name: true,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// Upstream's `extendFloats`: the samples inside the range with a sample added at each
/// boundary, valued as the boundary sample (`anchored`) or interpolated (`smoothed`).
fn extend_floats(f: &[Point], start: i64, end: i64, smoothed: bool) -> Vec<Point> {
    let Some((first, last)) = boundaries(f, start, end, smoothed) else {
        return Vec::new();
    };
    let left = pick_left(f, first, start, smoothed, false);
    let right = pick_right(f, last, end, smoothed, false);
    let mid = inner(f, first, last, start, end);
    let mut out = Vec::with_capacity(mid.len() + 2);
    out.push(Point { t: start, v: left });
    out.extend_from_slice(mid);
    out.push(Point { t: end, v: right });
    out
}

/// A range selector with `anchored` or `smoothed` evaluated on its own (a query
/// `x[5m] anchored`, or the argument of a function that then refuses it).
pub(crate) fn select_matrix(ev: &Evaluator, ms: &MatrixSelector, ts: i64) -> EvalResult<RangeArg> {
    let r = read_range(ev, ms, ts, HISTOGRAMS_IN_SELECTOR)?;
    let mut series = Vec::new();
    for (labels, f) in &r.series {
        let points = extend_floats(f, r.start, r.end, r.smoothed);
        if points.is_empty() {
            continue;
        }
        series.push(Series {
            labels: labels.clone(),
            points,
            hists: Vec::new(),
            drop_name: false,
        });
    }
    Ok(RangeArg {
        series,
        start: r.start,
        end: r.end,
    })
}

/// Upstream's `smoothSeries` at one step: each series' value at the selector's time, the
/// sample there, else interpolated between the samples around it within the lookback delta
/// either side, else the last one before it.
pub(crate) fn smoothed_instant(
    ev: &Evaluator,
    vs: &VectorSelector,
    ts: i64,
) -> EvalResult<Vec<Sample>> {
    let t = ev.modified_time(&vs.at, &vs.offset, ts);
    let series = read(
        ev,
        vs,
        t.saturating_sub(ev.lookback),
        t.saturating_add(ev.lookback),
        HISTOGRAMS_IN_CALL,
    )?;
    let mut out = Vec::new();
    for (labels, f) in series {
        let i = f.partition_point(|p| p.t < t);
        let v = match (i.checked_sub(1).map(|j| f[j]), f.get(i)) {
            (_, Some(next)) if next.t == t => next.v,
            (Some(prev), Some(next)) => interpolate(prev, *next, t, false),
            (Some(prev), None) => prev.v,
            (None, _) => continue,
        };
        out.push(Sample {
            labels,
            v,
            h: None,
            t,
            drop_name: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    fn range(start: i64, end: i64, smoothed: bool) -> Extended {
        Extended {
            start,
            end,
            smoothed,
            series: Vec::new(),
        }
    }

    /// Samples 10@0s 20@60s 5@120s 15@180s, range (60s, 180s].
    /// anchored: left = 20 (the sample at the start), right = 15; the drop 20 -> 5 inside
    /// adds 20: increase = 15 - 20 + 20 = 15.
    #[test]
    fn anchored_increase_counts_the_reset_inside() {
        let f = pts(&[(0, 10.0), (60_000, 20.0), (120_000, 5.0), (180_000, 15.0)]);
        let r = range(60_000, 180_000, false);
        assert_eq!(extended_rate(&f, &r, 120_000, true, false), Some(15.0));
        // delta ignores the reset: 15 - 20.
        assert_eq!(extended_rate(&f, &r, 120_000, false, false), Some(-5.0));
        // rate: 15 over 120 s.
        assert_eq!(extended_rate(&f, &r, 120_000, true, true), Some(0.125));
    }

    /// Samples 0@0s 60@60s 120@120s, range (30s, 90s] smoothed: left interpolated at 30 s
    /// between 0 and 60 is 30, right at 90 s between 60 and 120 is 90: delta 60.
    #[test]
    fn smoothed_delta_interpolates_both_boundaries() {
        let f = pts(&[(0, 0.0), (60_000, 60.0), (120_000, 120.0)]);
        let r = range(30_000, 90_000, true);
        assert_eq!(extended_rate(&f, &r, 60_000, false, false), Some(60.0));
    }

    /// A smoothed counter that resets between 60 s (100) and 120 s (20): the right boundary
    /// at 90 s is interpolated from 0 (after the reset) to 20, giving 10; the correction adds
    /// the 100 before the drop: increase = 10 - 50 + 100 = 60, with left at 30 s between 0
    /// and 100 being 50.
    #[test]
    fn smoothed_increase_interpolates_a_reset_from_zero() {
        let f = pts(&[(0, 0.0), (60_000, 100.0), (120_000, 20.0)]);
        let r = range(30_000, 90_000, true);
        assert_eq!(extended_rate(&f, &r, 60_000, true, false), Some(60.0));
    }

    #[test]
    fn no_sample_after_the_start_gives_no_result() {
        let f = pts(&[(0, 1.0), (60_000, 2.0)]);
        assert_eq!(
            extended_rate(&f, &range(60_000, 120_000, false), 60_000, true, false),
            None
        );
        assert_eq!(anchored_count(&f, 60_000, true), None);
    }

    /// 1@0s 1@60s 2@120s 1@180s, anchored (60s, 180s]: counted from the sample at 60 s:
    /// changes 1->2->1 = 2, resets 2->1 = 1.
    #[test]
    fn anchored_changes_and_resets_start_at_the_boundary_sample() {
        let f = pts(&[(0, 1.0), (60_000, 1.0), (120_000, 2.0), (180_000, 1.0)]);
        assert_eq!(anchored_count(&f, 60_000, true), Some(2.0));
        assert_eq!(anchored_count(&f, 60_000, false), Some(1.0));
    }

    /// extendFloats over 1@30s 2@90s for (60s, 120s]: anchored gives 1@60 2@90 2@120;
    /// smoothed 1.5@60 (between 1 and 2) 2@90 2@120 (no sample after the end).
    #[test]
    fn extend_floats_adds_the_boundaries() {
        let f = pts(&[(30_000, 1.0), (90_000, 2.0)]);
        assert_eq!(
            extend_floats(&f, 60_000, 120_000, false),
            pts(&[(60_000, 1.0), (90_000, 2.0), (120_000, 2.0)])
        );
        assert_eq!(
            extend_floats(&f, 60_000, 120_000, true),
            pts(&[(60_000, 1.5), (90_000, 2.0), (120_000, 2.0)])
        );
    }

    fn engine() -> crate::promql::Engine {
        crate::promql::Engine::new(crate::promql::EngineOptions {
            features: crate::features::Features {
                extended_range_selectors: true,
                ..Default::default()
            },
            ..crate::promql::EngineOptions::default()
        })
    }

    /// gauge 1@0s 3@60s 2@120s; `gauge[1m] anchored` at 150 s is the range (90s, 150s]:
    /// 3 (the sample at 60 s) at 90 s, 2 at 120 s, and 2 again at 150 s.
    #[test]
    fn a_bare_anchored_range_selector_has_boundary_samples() {
        let l = Labels::from_pairs([("__name__", "gauge")]);
        let mut q = crate::promql::testing::MemQuerier::new();
        for (t, v) in [(0, 1.0), (60_000, 3.0), (120_000, 2.0)] {
            q.append(&l, t, v);
        }
        let r = engine()
            .instant_query(&q, "gauge[1m] anchored", 150_000)
            .expect("evaluates");
        let crate::promql::Value::Matrix(m) = r.value else {
            panic!("expected a matrix, got {:?}", r.value);
        };
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].samples,
            pts(&[(90_000, 3.0), (120_000, 2.0), (150_000, 2.0)])
        );
    }

    #[test]
    fn native_histograms_are_refused_with_upstreams_errors() {
        use crate::histogram::FloatHistogram;
        let l = Labels::from_pairs([("__name__", "h")]);
        let mut q = crate::promql::testing::MemQuerier::new();
        for t in [0, 60_000] {
            let h = FloatHistogram {
                count: 1.0,
                sum: 1.0,
                ..FloatHistogram::default()
            };
            q.append_histogram(&l, t, h);
        }
        let err = |query: &str| match engine().instant_query(&q, query, 60_000) {
            Err(crate::promql::QueryError::Execution(m)) => m,
            other => panic!("{query}: expected an execution error, got {other:?}"),
        };
        assert_eq!(err("rate(h[1m] anchored)"), HISTOGRAMS_IN_CALL);
        assert_eq!(err("delta(h[1m] smoothed)"), HISTOGRAMS_IN_CALL);
        assert_eq!(err("h smoothed"), HISTOGRAMS_IN_CALL);
        assert_eq!(err("h[1m] anchored"), HISTOGRAMS_IN_SELECTOR);
        // Control: the same histograms without a modifier evaluate.
        engine()
            .instant_query(&q, "rate(h[1m])", 60_000)
            .expect("rate of histograms");
    }
}
