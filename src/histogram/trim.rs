//! Trimming a histogram at a value: the math of PromQL's `h </ x` (keep the observations
//! below `x`) and `h >/ x` (keep those above), Prometheus 3's `FloatHistogram.TrimBuckets`.
//!
//! [`FloatHistogram::trim`] walks the populated buckets of both sides. A bucket wholly on the
//! kept side stays, one wholly on the other side is emptied, and the bucket containing `x`
//! keeps the part of its count on the kept side: interpolated linearly for custom buckets,
//! exponentially (in log2 of the value) for exponential buckets. The zero bucket is split
//! linearly, over `[-threshold, threshold]`, or over only its non-negative (non-positive)
//! half when the histogram has positive (negative) buckets only. A bucket with an infinite
//! bound (custom buckets' first and last) has no known distribution; [`infinite_bucket`]
//! keeps or drops it whole, except that a first bucket `(-Inf, u]` with `u > 0` is treated
//! as `[0, u]` when the cut is positive.
//!
//! When any count changed, `count` becomes the sum of the kept counts and `sum` is estimated
//! afresh: each kept count times the midpoint of its surviving interval (the arithmetic mean
//! of the bounds for custom and zero buckets, the geometric mean for exponential ones, see
//! [`midpoint`]). When nothing changed the histogram comes back as it was, `count` and `sum`
//! included.

use super::{Bucket, FloatHistogram};

/// Which side of the cut a trim keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimSide {
    /// `</`: the observations below the cut.
    KeepBelow,
    /// `>/`: the observations above the cut.
    KeepAbove,
}

impl FloatHistogram {
    /// A copy holding only the observations on the kept side of `cut` (see the module
    /// documentation). Empty buckets are removed from the result.
    pub fn trim(&self, cut: f64, side: TrimSide) -> FloatHistogram {
        let mut out = self.clone();
        let linear = self.uses_custom_buckets();
        let mut kept_count = 0.0;
        let mut kept_sum = 0.0;
        let mut changed = false;
        let mut has = [false, false];
        for (s, positive) in [true, false].into_iter().enumerate() {
            let buckets: Vec<Bucket> = if positive {
                self.positive_bucket_iter().collect()
            } else {
                self.negative_bucket_iter().collect()
            };
            let counts = if positive {
                &mut out.positive_buckets
            } else {
                &mut out.negative_buckets
            };
            for (i, b) in buckets.iter().enumerate() {
                if b.count == 0.0 {
                    continue;
                }
                has[s] = true;
                let (wholly_kept, partly_kept) = match side {
                    TrimSide::KeepBelow => (b.upper <= cut, b.lower < cut),
                    TrimSide::KeepAbove => (b.lower >= cut, b.upper > cut),
                };
                let (count, mid) = if wholly_kept {
                    (b.count, midpoint(b.lower, b.upper, positive, linear))
                } else if partly_kept {
                    split_bucket(b, cut, side, positive, linear)
                } else {
                    (0.0, 0.0)
                };
                kept_count += count;
                kept_sum += mid * count;
                if let Some(c) = counts.get_mut(i) {
                    if *c != count {
                        *c = count;
                        changed = true;
                    }
                }
            }
        }
        if let Some(zero) = self.zero_bucket() {
            if zero.count > 0.0 {
                let (count, mid) = split_zero_bucket(&zero, cut, has[1], has[0], side);
                if out.zero_count != count {
                    out.zero_count = count;
                    changed = true;
                }
                kept_sum += mid * count;
                kept_count += count;
            }
        }
        if changed {
            out.count = kept_count;
            out.sum = kept_sum;
            out.compact(0);
        }
        out
    }
}

/// The count the bucket containing `cut` keeps, and the midpoint of its surviving interval.
fn split_bucket(b: &Bucket, cut: f64, side: TrimSide, positive: bool, linear: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinite_bucket(b, cut, side);
    }
    let below = count_below(b, cut, positive, linear);
    match side {
        TrimSide::KeepBelow => (below, midpoint(b.lower, cut, positive, linear)),
        TrimSide::KeepAbove => (b.count - below, midpoint(cut, b.upper, positive, linear)),
    }
}

/// The part of a finite bucket's count at or below `cut`: a linear share of the width for
/// custom buckets; for exponential ones a share of the width in log2 of the absolute value,
/// measured from the bound nearer zero (the lower bound of a positive bucket, the upper of a
/// negative one).
fn count_below(b: &Bucket, cut: f64, positive: bool, linear: bool) -> f64 {
    if cut <= b.lower {
        return 0.0;
    }
    if cut >= b.upper {
        return b.count;
    }
    let fraction = if linear {
        (cut - b.lower) / (b.upper - b.lower)
    } else {
        let (lo, hi, v) = (b.lower.abs().log2(), b.upper.abs().log2(), cut.abs().log2());
        if positive {
            (v - lo) / (hi - lo)
        } else {
            1.0 - (v - hi) / (lo - hi)
        }
    };
    b.count * fraction
}

/// A bucket with an infinite bound, which the cut falls into: its observations have no known
/// distribution, so it is kept or dropped whole, except that `(-Inf, u]` with a finite
/// `u > 0` counts as `[0, u]` (interpolated linearly) when the cut is positive (for `</`) or
/// non-negative (for `>/`). Returns the kept count and the value standing for it in the sum.
fn infinite_bucket(b: &Bucket, cut: f64, side: TrimSide) -> (f64, f64) {
    let finite_or_zero = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        return match side {
            TrimSide::KeepBelow => {
                if cut >= b.upper {
                    (b.count, 0.0)
                } else if cut > 0.0 && b.upper > 0.0 && b.upper != f64::INFINITY {
                    (b.count * cut / b.upper, cut / 2.0)
                } else if b.upper <= 0.0 {
                    (b.count, cut)
                } else {
                    (0.0, finite_or_zero(b.upper))
                }
            }
            TrimSide::KeepAbove => {
                if cut <= b.lower {
                    (b.count, 0.0)
                } else if cut >= 0.0 && b.upper > cut && b.upper != f64::INFINITY {
                    (b.count * (1.0 - cut / b.upper), (cut + b.upper) / 2.0)
                } else {
                    (0.0, finite_or_zero(b.upper))
                }
            }
        };
    }
    // The last bucket, `(l, +Inf]`.
    match side {
        // Some of its observations may lie above any cut at or above `l`, and all of them
        // lie above a cut below `l`: dropped either way.
        TrimSide::KeepBelow => (0.0, finite_or_zero(b.lower)),
        TrimSide::KeepAbove if cut >= b.lower => (b.count, cut),
        TrimSide::KeepAbove => (0.0, finite_or_zero(b.lower)),
    }
}

/// The zero bucket's kept count and the midpoint of its surviving interval. It spans
/// `[-threshold, threshold]`, narrowed to `[0, threshold]` when the histogram has positive
/// buckets only and to `[-threshold, 0]` when it has negative buckets only; the split is
/// linear.
fn split_zero_bucket(
    zero: &Bucket,
    cut: f64,
    has_negative: bool,
    has_positive: bool,
    side: TrimSide,
) -> (f64, f64) {
    let mut lower = zero.lower;
    let mut upper = zero.upper;
    if has_negative && !has_positive {
        upper = 0.0;
    }
    if has_positive && !has_negative {
        lower = 0.0;
    }
    let whole = (zero.count, (lower + upper) / 2.0);
    let (fraction, mid) = match side {
        TrimSide::KeepBelow => {
            if cut <= lower {
                return (0.0, 0.0);
            }
            if cut >= upper {
                return whole;
            }
            ((cut - lower) / (upper - lower), (lower + cut) / 2.0)
        }
        TrimSide::KeepAbove => {
            if cut <= lower {
                return whole;
            }
            if cut >= upper {
                return (0.0, 0.0);
            }
            ((upper - cut) / (upper - lower), (cut + upper) / 2.0)
        }
    };
    (zero.count * fraction, mid)
}

/// The value standing for the observations in `[lower, upper]` in the estimated sum: the
/// arithmetic mean of the bounds for linear (custom) buckets, the geometric mean (negated on
/// the negative side) for exponential ones. An infinite lower bound gives `upper / 2` for a
/// positive `upper` and `upper` otherwise; an infinite upper bound gives `lower`; both
/// infinite give 0.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        return if upper > 0.0 { upper / 2.0 } else { upper };
    }
    if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let geometric = (lower * upper).abs().sqrt();
    if positive {
        geometric
    } else {
        -geometric
    }
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!(close(got, want), "got {got}, want {want}");
    }

    /// Schema 0, positive buckets (0.5,1]:10, (1,2]:10, (2,4]:10; count 30, sum 100.
    fn exponential() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            count: 30.0,
            sum: 100.0,
            positive_spans: vec![s(0, 3)],
            positive_buckets: vec![10.0, 10.0, 10.0],
            ..Default::default()
        }
    }

    /// Custom bounds 5 and 10: (-Inf,5]:2, (5,10]:4, (10,+Inf]:6; count 12, sum 50.
    fn custom() -> FloatHistogram {
        FloatHistogram {
            schema: super::super::CUSTOM_BUCKETS_SCHEMA,
            count: 12.0,
            sum: 50.0,
            custom_values: vec![5.0, 10.0],
            positive_spans: vec![s(0, 3)],
            positive_buckets: vec![2.0, 4.0, 6.0],
            ..Default::default()
        }
    }

    #[test]
    fn cut_on_a_bucket_boundary_keeps_whole_buckets() {
        let h = exponential();
        let below = h.trim(2.0, TrimSide::KeepBelow);
        // (0.5,1] and (1,2] whole; sum from geometric midpoints: 10·√0.5 + 10·√2 = 15·√2.
        assert_eq!(below.positive_buckets, vec![10.0, 10.0]);
        assert_eq!(below.positive_spans, vec![s(0, 2)]);
        assert_eq!(below.count, 20.0);
        assert_close(below.sum, 15.0 * 2f64.sqrt());

        let above = h.trim(2.0, TrimSide::KeepAbove);
        // Only (2,4], at index 2: 10·√8 = 20·√2.
        assert_eq!(above.positive_buckets, vec![10.0]);
        assert_eq!(above.positive_spans, vec![s(2, 1)]);
        assert_eq!(above.count, 10.0);
        assert_close(above.sum, 20.0 * 2f64.sqrt());
        // The input is left alone.
        assert_eq!(h, exponential());
    }

    #[test]
    fn exponential_bucket_splits_in_log_space() {
        // 2^1.5 lies half way between 2 and 4 in log2: (2,4] keeps 5 below, 5 above.
        let cut = 2f64.powf(1.5);
        let below = exponential().trim(cut, TrimSide::KeepBelow);
        assert_close(below.count, 25.0);
        assert_close(below.positive_buckets[2], 5.0);
        // Surviving (2, 2^1.5]: geometric midpoint √(2·2^1.5) = 2^1.25.
        let want = 10.0 * 0.5f64.sqrt() + 10.0 * 2f64.sqrt() + 5.0 * 2f64.powf(1.25);
        assert_close(below.sum, want);

        let above = exponential().trim(cut, TrimSide::KeepAbove);
        assert_close(above.count, 5.0);
        assert_eq!(above.positive_spans, vec![s(2, 1)]);
        // Surviving (2^1.5, 4]: √(2^1.5·4) = 2^1.75.
        assert_close(above.sum, 5.0 * 2f64.powf(1.75));
    }

    #[test]
    fn negative_bucket_splits_from_its_bound_nearer_zero() {
        // Negative bucket index 1 is [-2,-1) with 8 observations.
        let h = FloatHistogram {
            schema: 0,
            count: 8.0,
            sum: -12.0,
            negative_spans: vec![s(1, 1)],
            negative_buckets: vec![8.0],
            ..Default::default()
        };
        // -√2 is half way between -1 and -2 in log2 of the absolute value.
        let below = h.trim(-(2f64.sqrt()), TrimSide::KeepBelow);
        assert_close(below.count, 4.0);
        // Surviving [-2, -√2]: midpoint -√(2·√2) = -2^0.75.
        assert_close(below.sum, -4.0 * 2f64.powf(0.75));
        let above = h.trim(-(2f64.sqrt()), TrimSide::KeepAbove);
        assert_close(above.count, 4.0);
        // Surviving [-√2, -1]: -√(√2) = -2^0.25.
        assert_close(above.sum, -4.0 * 2f64.powf(0.25));
    }

    #[test]
    fn custom_bucket_splits_linearly() {
        let below = custom().trim(7.5, TrimSide::KeepBelow);
        // (-Inf,5] whole, its midpoint 5/2; half of (5,10] with midpoint 6.25; (10,+Inf]
        // dropped: count 2 + 2, sum 2·2.5 + 2·6.25 = 17.5.
        assert_eq!(below.positive_buckets, vec![2.0, 2.0]);
        assert_eq!(below.count, 4.0);
        assert_close(below.sum, 17.5);

        let above = custom().trim(7.5, TrimSide::KeepAbove);
        // (-Inf,5] dropped; half of (5,10] at 8.75; (10,+Inf] whole at its lower bound 10:
        // count 2 + 6, sum 2·8.75 + 6·10 = 77.5.
        assert_eq!(above.positive_spans, vec![s(1, 2)]);
        assert_eq!(above.positive_buckets, vec![2.0, 6.0]);
        assert_eq!(above.count, 8.0);
        assert_close(above.sum, 77.5);
    }

    #[test]
    fn infinite_custom_buckets_are_kept_or_dropped_whole() {
        // A cut inside (10,+Inf]: `>/` keeps all 6, each counted as the cut, 12.
        let above = custom().trim(12.0, TrimSide::KeepAbove);
        assert_eq!(above.count, 6.0);
        assert_close(above.sum, 72.0);
        // `</` drops all of it; the rest is whole: 2·2.5 + 4·7.5 = 35.
        let below = custom().trim(12.0, TrimSide::KeepBelow);
        assert_eq!(below.count, 6.0);
        assert_close(below.sum, 35.0);
        // A positive cut inside (-Inf,5] reads it as [0,5]: 2·2/5 = 0.8 kept, at 2/2 = 1.
        let low = custom().trim(2.0, TrimSide::KeepBelow);
        assert_close(low.count, 0.8);
        assert_close(low.sum, 0.8);
        // A negative cut below a non-positive first bound keeps that bucket whole, each
        // observation counted as the cut.
        let h = FloatHistogram {
            custom_values: vec![-5.0],
            positive_buckets: vec![1.0, 100.0],
            positive_spans: vec![s(0, 2)],
            count: 101.0,
            sum: 33.0,
            ..custom()
        };
        let neg = h.trim(-10.0, TrimSide::KeepBelow);
        assert_eq!(neg.count, 1.0);
        assert_close(neg.sum, -10.0);
    }

    #[test]
    fn zero_bucket_splits_linearly_over_the_side_in_use() {
        // No other buckets: the zero bucket spans [-0.1, 0.1]; a cut at 0.05 leaves a quarter
        // above it, with midpoint 0.075.
        let zero_only = FloatHistogram {
            schema: 0,
            count: 4.0,
            zero_count: 4.0,
            zero_threshold: 0.1,
            ..Default::default()
        };
        let above = zero_only.trim(0.05, TrimSide::KeepAbove);
        assert_close(above.count, 1.0);
        assert_close(above.zero_count, 1.0);
        assert_close(above.sum, 0.075);
        // Positive buckets only: the zero bucket spans [0, 0.5]; a cut at 0.25 keeps half
        // below it (midpoint 0.125), and (0.5,1] lies wholly above.
        let positive = FloatHistogram {
            schema: 0,
            count: 12.0,
            sum: 8.0,
            zero_count: 2.0,
            zero_threshold: 0.5,
            positive_spans: vec![s(0, 1)],
            positive_buckets: vec![10.0],
            ..Default::default()
        };
        let below = positive.trim(0.25, TrimSide::KeepBelow);
        assert_close(below.count, 1.0);
        assert_close(below.sum, 0.125);
        assert!(below.positive_buckets.is_empty());
    }

    #[test]
    fn nothing_trimmed_keeps_count_and_sum() {
        // The estimated sum would differ from 100; an untouched histogram keeps its own.
        let h = exponential();
        assert_eq!(h.trim(f64::NEG_INFINITY, TrimSide::KeepAbove), h);
        assert_eq!(h.trim(0.5, TrimSide::KeepAbove), h);
        assert_eq!(h.trim(f64::INFINITY, TrimSide::KeepBelow), h);
        // Everything trimmed: an empty histogram of the same schema.
        let empty = h.trim(f64::INFINITY, TrimSide::KeepAbove);
        assert_eq!(empty.count, 0.0);
        assert_eq!(empty.sum, 0.0);
        assert!(empty.positive_buckets.is_empty() && empty.positive_spans.is_empty());
        assert_eq!(empty.schema, 0);
    }
}
