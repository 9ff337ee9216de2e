//! The math of PromQL's functions on one native histogram, as Prometheus 3 computes it:
//! `histogram_quantile` (exponential interpolation inside exponential buckets, linear in
//! the zero bucket and in custom buckets), `histogram_fraction` (its inverse) and
//! `histogram_stdvar`/`histogram_stddev` (each bucket represented by its geometric mean, the
//! zero bucket by 0, a custom bucket by its arithmetic mean). NaN observations count in
//! `count` but in no bucket; the results say when they made a result NaN or skewed it, for
//! the info annotations PromQL returns.

use super::bounds::{go_exp2, go_log2};
use super::kahan::kahan_inc;
use super::{Bucket, FloatHistogram};

/// How NaN observations affected a quantile (Prometheus' info annotations "input to
/// histogram_quantile has NaN observations, result is NaN" / "… is skewed higher").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantileNanEffect {
    /// The rank lies among the NaN observations: the result is NaN.
    ResultIsNan,
    /// The result is a bucket value, but NaN observations (ranked as +Inf) pushed it up.
    ResultSkewedHigher,
}

/// A quantile and what NaN observations did to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    pub value: f64,
    pub nan_effect: Option<QuantileNanEffect>,
}

/// A fraction, and whether NaN observations (in the count, in no bucket) were left out of
/// it (Prometheus' info "input to histogram_fraction has NaN observations, which are
/// excluded from all fractions").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction {
    pub value: f64,
    pub nan_observations_excluded: bool,
}

impl FloatHistogram {
    /// The `q`-quantile of the observations (`histogram_quantile(q, h)`): -Inf for `q < 0`,
    /// +Inf for `q > 1`, NaN without observations or for a NaN `q`. Inside an exponential
    /// bucket the observations are assumed spread as they would fill a finer schema
    /// evenly (interpolation on the log scale); in the zero bucket and in custom buckets
    /// linearly, with 0 as the natural bound of the zero bucket (or of the first custom
    /// bucket) when all other buckets are on one side of it. A quantile in the +Inf custom
    /// bucket is its lower bound.
    pub fn quantile(&self, q: f64) -> Quantile {
        let plain = |value| Quantile {
            value,
            nan_effect: None,
        };
        if q < 0.0 {
            return plain(f64::NEG_INFINITY);
        }
        if q > 1.0 {
            return plain(f64::INFINITY);
        }
        if self.count == 0.0 || q.is_nan() {
            return plain(f64::NAN);
        }
        // NaN observations are in no bucket, so with them (a NaN sum) only the forward
        // direction finds the right rank; otherwise walk the shorter way.
        let forward = self.sum.is_nan() || q < 0.5;
        let (mut it, mut rank) = if forward {
            (self.all_bucket_iter(), q * self.count)
        } else {
            (self.all_reverse_bucket_iter(), (1.0 - q) * self.count)
        };
        let mut bucket = Bucket {
            lower: 0.0,
            upper: 0.0,
            lower_inclusive: false,
            upper_inclusive: false,
            count: 0.0,
            index: 0,
        };
        let mut count = 0.0;
        for b in it.by_ref() {
            bucket = b;
            if b.count == 0.0 {
                continue;
            }
            count += b.count;
            if count >= rank {
                break;
            }
        }
        if !self.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
            self.natural_zero_bounds(&mut bucket);
        } else if self.uses_custom_buckets() {
            if bucket.lower == f64::NEG_INFINITY {
                if bucket.upper <= 0.0 {
                    return plain(bucket.upper);
                }
                bucket.lower = 0.0;
            } else if bucket.upper == f64::INFINITY {
                return plain(bucket.lower);
            }
        }
        // Rounding can take the running count above the total.
        if count > self.count {
            count = self.count;
        }
        if count < rank {
            // The rank is beyond all buckets: among the NaN observations.
            if self.sum.is_nan() {
                return Quantile {
                    value: f64::NAN,
                    nan_effect: Some(QuantileNanEffect::ResultIsNan),
                };
            }
            return plain(bucket.upper);
        }
        if forward {
            rank -= count - bucket.count;
        } else {
            rank = count - rank;
        }
        let mut nan_effect = None;
        if self.sum.is_nan() {
            // A NaN sum also comes from observing both -Inf and +Inf; only buckets holding
            // fewer observations than the count mean real NaN observations.
            count += it.map(|b| b.count).sum::<f64>();
            if count < self.count {
                nan_effect = Some(QuantileNanEffect::ResultSkewedHigher);
            }
        }
        let fraction = rank / bucket.count;
        let value = if self.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
            bucket.lower + (bucket.upper - bucket.lower) * fraction
        } else {
            let log_lower = go_log2(bucket.lower.abs());
            let log_upper = go_log2(bucket.upper.abs());
            if bucket.lower > 0.0 {
                go_exp2(log_lower + (log_upper - log_lower) * fraction)
            } else {
                -go_exp2(log_upper + (log_lower - log_upper) * (1.0 - fraction))
            }
        };
        Quantile { value, nan_effect }
    }

    /// Zero as the lower (upper) bound of the zero bucket when only positive (negative)
    /// buckets exist.
    fn natural_zero_bounds(&self, bucket: &mut Bucket) {
        if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    }

    /// The fraction of observations between `lower` and `upper`
    /// (`histogram_fraction(lower, upper, h)`), interpolating inside buckets as
    /// [`quantile`](Self::quantile) does: NaN without observations or for a NaN bound, 0
    /// when `lower >= upper`. The denominator is the count, NaN observations included.
    pub fn fraction(&self, lower: f64, upper: f64) -> Fraction {
        let plain = |value| Fraction {
            value,
            nan_observations_excluded: false,
        };
        if self.count == 0.0 || lower.is_nan() || upper.is_nan() {
            return plain(f64::NAN);
        }
        if lower >= upper {
            return plain(0.0);
        }
        let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
        let (mut lower_set, mut upper_set) = (false, false);
        let mut count = 0.0;
        let mut it = self.all_bucket_iter();
        for mut b in it.by_ref() {
            count += b.count;
            let mut zero_bucket = false;
            if b.lower <= 0.0 && b.upper >= 0.0 {
                zero_bucket = true;
                self.natural_zero_bounds(&mut b);
            }
            let linear = self.uses_custom_buckets() || zero_bucket;
            let interpolate = |v: f64| -> f64 {
                if linear {
                    if b.lower == f64::NEG_INFINITY {
                        // Nothing to interpolate in: the whole first bucket counts.
                        return b.count;
                    }
                    rank + b.count * (v - b.lower) / (b.upper - b.lower)
                } else {
                    let log_lower = go_log2(b.lower.abs());
                    let log_upper = go_log2(b.upper.abs());
                    let log_v = go_log2(v.abs());
                    let fraction = if v > 0.0 {
                        (log_v - log_lower) / (log_upper - log_lower)
                    } else {
                        1.0 - ((log_v - log_upper) / (log_lower - log_upper))
                    };
                    rank + b.count * fraction
                }
            };
            if !lower_set && b.lower >= lower {
                lower_rank = rank;
                lower_set = true;
            }
            if !upper_set && b.lower >= upper {
                upper_rank = rank;
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            if !lower_set && b.lower < lower && b.upper > lower {
                lower_rank = interpolate(lower);
                lower_set = true;
            }
            if !upper_set && b.lower < upper && b.upper > upper {
                upper_rank = interpolate(upper);
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            rank += b.count;
        }
        let mut nan_observations_excluded = false;
        if self.sum.is_nan() {
            count += it.map(|b| b.count).sum::<f64>();
            nan_observations_excluded = count < self.count;
        } else {
            count = self.count;
        }
        if !lower_set || lower_rank > count {
            lower_rank = count;
        }
        if !upper_set || upper_rank > count {
            upper_rank = count;
        }
        Fraction {
            value: (upper_rank - lower_rank) / self.count,
            nan_observations_excluded,
        }
    }

    /// The estimated variance of the observations (`histogram_stdvar`): each bucket's
    /// observations taken at one representative value (geometric mean of the bounds for
    /// exponential buckets, 0 in the zero bucket, the arithmetic mean for custom buckets),
    /// around the mean `sum / count`, summed with compensation.
    pub fn stdvar(&self) -> f64 {
        let mean = self.sum / self.count;
        let (mut variance, mut c) = (0.0, 0.0);
        for b in self.all_bucket_iter().filter(|b| b.count != 0.0) {
            let value = if self.uses_custom_buckets() {
                (b.upper + b.lower) / 2.0
            } else if b.lower <= 0.0 && b.upper >= 0.0 {
                0.0
            } else {
                let v = (b.upper * b.lower).sqrt();
                if b.upper < 0.0 {
                    -v
                } else {
                    v
                }
            };
            let delta = value - mean;
            (variance, c) = kahan_inc(b.count * delta * delta, variance, c);
        }
        (variance + c) / self.count
    }

    /// The estimated standard deviation (`histogram_stddev`): the square root of
    /// [`stdvar`](Self::stdvar).
    pub fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    /// `{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}` from
    /// upstream's native_histograms.test: positive buckets (0.5,1]:2, (1,2]:3, (2,4]:0,
    /// (4,8]:1, (8,16]:4.
    fn upstream_quantile_1() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            count: 12.0,
            sum: 100.0,
            zero_count: 2.0,
            zero_threshold: 0.001,
            positive_spans: vec![s(0, 5)],
            positive_buckets: vec![2.0, 3.0, 0.0, 1.0, 4.0],
            ..Default::default()
        }
    }

    #[test]
    fn quantile_by_hand() {
        let h = upstream_quantile_1();
        let q = |q: f64| h.quantile(q).value;
        assert_eq!(q(-1.0), f64::NEG_INFINITY);
        assert_eq!(q(1.001), f64::INFINITY);
        // q=1: rank 0 from the top, the upper bound of the highest bucket.
        assert_eq!(q(1.0), 16.0);
        // q=0.5: rank 6 of 12 from the top is (1,2] (3 below it: 2 zero + 2 + ... ): going
        // down 4 (8,16], 1 (4,8], 0, then 3 in (1,2] reaches 8 ≥ 6; rank 8-6 = 2 of 3 into
        // the bucket from below → 2^(0 + 2/3).
        assert_eq!(q(0.5), go_exp2(2.0 / 3.0));
        assert!((q(0.5) - 2f64.powf(2.0 / 3.0)).abs() < 1e-15);
        // q=0.1: rank 1.2 in the zero bucket [0,0.001] (only positive buckets: lower 0),
        // linear: 0.001 · 1.2/2.
        assert!((q(0.1) - 0.0006).abs() < 1e-18);
        // q=0: the zero bucket's lower bound, 0.
        assert_eq!(q(0.0), 0.0);
        // q=0.9: rank 1.2 from the top inside (8,16] (4 observations): 0.3 from the top,
        // so 2^(3 + 0.7).
        assert!((q(0.9) - 2f64.powf(3.7)).abs() < 1e-12);
        assert!(h.quantile(f64::NAN).value.is_nan());
        assert!(FloatHistogram::default().quantile(0.5).value.is_nan());
    }

    #[test]
    fn quantile_in_negative_and_custom_buckets() {
        // Only negative buckets [-2,-1):2 and [-4,-2):2: the median is -2 (the boundary),
        // q=0.25 lies halfway into [-4,-2) on the log scale: -2^1.5.
        let h = FloatHistogram {
            schema: 0,
            count: 4.0,
            negative_spans: vec![s(1, 2)],
            negative_buckets: vec![2.0, 2.0],
            ..Default::default()
        };
        assert_eq!(h.quantile(0.5).value, -2.0);
        assert!((h.quantile(0.25).value + 2f64.powf(1.5)).abs() < 1e-12);
        // Custom buckets (-Inf,5]:1 (5,10]:2 (10,+Inf]:1: linear inside (5,10]; the first
        // bucket starts at 0; the +Inf bucket answers its lower bound.
        let h = FloatHistogram {
            schema: -53,
            count: 4.0,
            sum: 5.0,
            custom_values: vec![5.0, 10.0],
            positive_spans: vec![s(0, 3)],
            positive_buckets: vec![1.0, 2.0, 1.0],
            ..Default::default()
        };
        assert_eq!(h.quantile(0.5).value, 7.5);
        assert_eq!(h.quantile(0.125).value, 2.5);
        assert_eq!(h.quantile(0.9).value, 10.0);
    }

    #[test]
    fn nan_observations_as_upstream_tests_them() {
        // upstream native_histograms.test, "histogram_nan": 3 NaNs only, and 12 of 15
        // observations in (0.5,1] plus 3 NaNs.
        let all_nan = FloatHistogram {
            schema: 0,
            count: 3.0,
            sum: f64::NAN,
            ..Default::default()
        };
        let some_nan = FloatHistogram {
            schema: 0,
            count: 15.0,
            sum: f64::NAN,
            positive_spans: vec![s(0, 1)],
            positive_buckets: vec![12.0],
            ..Default::default()
        };
        let nan = Some(QuantileNanEffect::ResultIsNan);
        let skewed = Some(QuantileNanEffect::ResultSkewedHigher);
        for q in [1.0, 0.81, 0.4] {
            let r = all_nan.quantile(q);
            assert!(r.value.is_nan() && r.nan_effect == nan);
        }
        assert!(some_nan.quantile(0.81).value.is_nan());
        assert_eq!(some_nan.quantile(0.81).nan_effect, nan);
        assert_eq!(
            some_nan.quantile(0.8),
            Quantile {
                value: 1.0,
                nan_effect: skewed
            }
        );
        assert_eq!(
            some_nan.quantile(0.4),
            Quantile {
                value: 0.7071067811865475,
                nan_effect: skewed
            }
        );
        // 0.4 up to rounding (the upstream file's evals compare with a tolerance too): 6 of
        // the 15 observations lie below 2^-0.5, halfway into (0.5,1] on the log scale.
        let f = some_nan.fraction(f64::NEG_INFINITY, 0.7071067811865475);
        assert!((f.value - 0.4).abs() < 1e-15 && f.nan_observations_excluded);
        assert_eq!(
            some_nan.fraction(f64::NEG_INFINITY, f64::INFINITY),
            Fraction {
                value: 0.8,
                nan_observations_excluded: true
            }
        );
        assert_eq!(
            all_nan.fraction(f64::NEG_INFINITY, 0.7071067811865475),
            Fraction {
                value: 0.0,
                nan_observations_excluded: true
            }
        );
    }

    #[test]
    fn fraction_by_hand() {
        let h = upstream_quantile_1();
        let f = |a: f64, b: f64| h.fraction(a, b).value;
        // Everything, the positive part, the zero bucket's halves (only positive buckets:
        // the zero bucket is [0,0.001]).
        assert_eq!(f(f64::NEG_INFINITY, f64::INFINITY), 1.0);
        assert_eq!(f(0.0, f64::INFINITY), 1.0);
        assert_eq!(f(f64::NEG_INFINITY, 0.0), 0.0);
        assert_eq!(f(0.0, 0.001), 2.0 / 12.0);
        // (1,2] holds 3: halfway on the log scale is √2.
        assert!((f(1.0, std::f64::consts::SQRT_2) - 1.5 / 12.0).abs() < 1e-15);
        assert_eq!(f(2.0, 1.0), 0.0);
        assert!(f(f64::NAN, 1.0).is_nan());
        // Inverse of the quantile.
        let q = h.quantile(0.9).value;
        assert!((f(f64::NEG_INFINITY, q) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn stdvar_uses_bucket_midpoints() {
        // Buckets (1,2]:1 and (4,8]:1 with sum 3·√2+... : representative values √2 and
        // √32 = 4√2; take the sum as their total so the mean is 2.5·√2 and the variance
        // ((1.5√2)² + (1.5√2)²)/2 = 4.5.
        let r2 = std::f64::consts::SQRT_2;
        let h = FloatHistogram {
            schema: 0,
            count: 2.0,
            sum: 5.0 * r2,
            positive_spans: vec![s(1, 1), s(1, 1)],
            positive_buckets: vec![1.0, 1.0],
            ..Default::default()
        };
        assert!((h.stdvar() - 4.5).abs() < 1e-12);
        assert!((h.stddev() - 4.5f64.sqrt()).abs() < 1e-12);
        // Custom buckets use the arithmetic mean: (0,5] is not the first bucket here.
        let h = FloatHistogram {
            schema: -53,
            count: 2.0,
            sum: 10.0,
            custom_values: vec![0.0, 5.0, 10.0],
            positive_spans: vec![s(1, 2)],
            positive_buckets: vec![1.0, 1.0],
            ..Default::default()
        };
        // Values 2.5 and 7.5 around the mean 5: variance 6.25.
        assert_eq!(h.stdvar(), 6.25);
        assert!(FloatHistogram::default().stdvar().is_nan());
    }
}
