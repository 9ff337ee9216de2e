//! Histograms coming in: the integer wire form of a native histogram (spans with
//! delta-encoded counts, as the protobuf exposition and remote write carry it), a classic
//! histogram converted to custom buckets (NHCB, Prometheus' `convertnhcb`), and the scrape
//! limits `native_histogram_bucket_limit` and `native_histogram_min_bucket_factor` as
//! Prometheus' scrape loop applies them.

use super::{
    is_exponential_schema, CounterResetHint, FloatHistogram, HistogramError, Span,
    CUSTOM_BUCKETS_SCHEMA,
};

/// A native histogram with integer counts as it travels: bucket counts are deltas, each to
/// the previous bucket of its side (the first to zero).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegerHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub count: u64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    pub positive_deltas: Vec<i64>,
    pub negative_deltas: Vec<i64>,
    pub custom_values: Vec<f64>,
}

fn absolute(deltas: &[i64]) -> Vec<f64> {
    let mut current = 0i64;
    deltas
        .iter()
        .map(|d| {
            current = current.wrapping_add(*d);
            current as f64
        })
        .collect()
}

impl IntegerHistogram {
    /// The float histogram with absolute counts, validated.
    pub fn to_float(&self) -> Result<FloatHistogram, HistogramError> {
        let h = FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_deltas),
            negative_buckets: absolute(&self.negative_deltas),
            custom_values: self.custom_values.clone(),
        };
        h.validate()?;
        Ok(h)
    }
}

/// The highest schema whose bucket growth factor (`2^(2^-schema)`) is at least `factor`
/// (`native_histogram_min_bucket_factor`; a factor ≤ 1 means no limit beyond schema 8).
pub fn max_schema_for_bucket_factor(factor: f64) -> i32 {
    let factor = if factor <= 1.0 { 1.00271 } else { factor };
    let floor = (-factor.log2().log2()).floor();
    if floor >= 8.0 {
        8
    } else if floor <= -4.0 || floor.is_nan() {
        -4
    } else {
        floor as i32
    }
}

impl FloatHistogram {
    /// Applies `native_histogram_bucket_limit`: halves the resolution until at most `limit`
    /// buckets (empty ones included) remain; an error when the lowest schema (-4) still has
    /// too many, or when custom buckets exceed it (they cannot be merged).
    pub fn limit_buckets(&mut self, limit: usize) -> Result<(), HistogramError> {
        let buckets = |h: &FloatHistogram| h.positive_buckets.len() + h.negative_buckets.len();
        if buckets(self) > limit && !is_exponential_schema(self.schema) {
            return Err(HistogramError::BucketLimitExceeded {
                buckets: buckets(self),
                limit,
            });
        }
        while buckets(self) > limit {
            if self.schema <= super::EXPONENTIAL_SCHEMA_MIN {
                return Err(HistogramError::BucketLimitExceeded {
                    buckets: buckets(self),
                    limit,
                });
            }
            self.reduce_resolution(self.schema - 1)?;
        }
        Ok(())
    }

    /// Applies `native_histogram_min_bucket_factor`: an exponential histogram finer than
    /// `max_schema` is reduced to it.
    pub fn limit_schema(&mut self, max_schema: i32) -> Result<(), HistogramError> {
        if is_exponential_schema(self.schema) && self.schema > max_schema {
            self.reduce_resolution(max_schema.max(super::EXPONENTIAL_SCHEMA_MIN))?;
        }
        Ok(())
    }

    /// A classic histogram as a custom-bucket native histogram: `buckets` are
    /// `(upper bound, cumulative count)` in any order (duplicates of a bound are ignored),
    /// `count` the `_count` sample if there is one. A missing +Inf bucket is added with the
    /// count; the count must equal the +Inf bucket's. Integer counts are compacted keeping
    /// runs of up to 2 empty buckets, fractional ones keeping none (as Prometheus does for
    /// its integer and float results).
    pub fn from_classic(
        buckets: &[(f64, f64)],
        count: Option<f64>,
        sum: f64,
    ) -> Result<FloatHistogram, HistogramError> {
        let mut sorted: Vec<(f64, f64)> = Vec::with_capacity(buckets.len() + 1);
        for &(le, c) in buckets {
            if c < 0.0 || c.is_nan() {
                return Err(HistogramError::ClassicNegativeBucketCount { le, count: c });
            }
            let i = sorted.partition_point(|(b, _)| *b < le);
            if sorted.get(i).is_some_and(|(b, _)| *b == le) {
                continue;
            }
            if i > 0 && c < sorted[i - 1].1 {
                return Err(HistogramError::ClassicNotCumulative {
                    le,
                    count: c,
                    neighbour: sorted[i - 1].1,
                });
            }
            if let Some((_, next)) = sorted.get(i) {
                if c > *next {
                    return Err(HistogramError::ClassicNotCumulative {
                        le,
                        count: c,
                        neighbour: *next,
                    });
                }
            }
            sorted.insert(i, (le, c));
        }
        if let Some(c) = count {
            if c < 0.0 {
                return Err(HistogramError::NegativeCount(c));
            }
        }
        let count = count.or(sorted.last().map(|(_, c)| *c)).unwrap_or(0.0);
        if sorted.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
            sorted.push((f64::INFINITY, count));
        }
        let last = sorted[sorted.len() - 1].1;
        if count != last {
            return Err(HistogramError::ClassicCountMismatch {
                count,
                inf_count: last,
            });
        }
        let integer = sorted.iter().all(|(_, c)| c.fract() == 0.0) && count.fract() == 0.0;
        let mut previous = 0.0;
        let mut h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum,
            positive_spans: vec![Span {
                offset: 0,
                length: sorted.len() as u32,
            }],
            positive_buckets: sorted
                .iter()
                .map(|(_, c)| {
                    let b = c - previous;
                    previous = *c;
                    b
                })
                .collect(),
            custom_values: sorted[..sorted.len() - 1]
                .iter()
                .map(|(le, _)| *le)
                .collect(),
            ..Default::default()
        };
        h.compact(if integer { 2 } else { 0 });
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn integer_wire_form_to_absolute_counts() {
        // Deltas [2, 1, -3] are absolute counts 2, 3, 0.
        let ih = IntegerHistogram {
            schema: 0,
            count: 6,
            sum: 10.0,
            zero_count: 1,
            zero_threshold: 0.001,
            positive_spans: vec![s(0, 3)],
            positive_deltas: vec![2, 1, -3],
            negative_spans: vec![s(2, 1)],
            negative_deltas: vec![0],
            ..Default::default()
        };
        let h = ih.to_float().unwrap();
        assert_eq!(h.positive_buckets, vec![2.0, 3.0, 0.0]);
        assert_eq!(
            (h.count, h.zero_count, h.negative_buckets.clone()),
            (6.0, 1.0, vec![0.0])
        );
        // A delta that makes a count negative is rejected by validation.
        let bad = IntegerHistogram {
            positive_deltas: vec![2, -3, 1],
            ..ih
        };
        assert!(matches!(
            bad.to_float(),
            Err(HistogramError::NegativeBucketCount { bucket: 2, .. })
        ));
    }

    #[test]
    fn bucket_limit_reduces_resolution_until_it_fits() {
        // Schema 2, 8 consecutive buckets from index 1: schema 1 has 4, schema 0 has 2.
        let mut h = FloatHistogram {
            schema: 2,
            count: 8.0,
            positive_spans: vec![s(1, 8)],
            positive_buckets: vec![1.0; 8],
            ..Default::default()
        };
        h.limit_buckets(4).unwrap();
        assert_eq!((h.schema, h.positive_buckets.clone()), (1, vec![2.0; 4]));
        h.limit_buckets(2).unwrap();
        assert_eq!((h.schema, h.positive_buckets.clone()), (0, vec![4.0; 2]));
        // Buckets far apart never merge into one: at schema -4 it still has two.
        let mut far = FloatHistogram {
            schema: 0,
            positive_spans: vec![s(-100, 1), s(300, 1)],
            positive_buckets: vec![1.0, 1.0],
            ..Default::default()
        };
        assert_eq!(
            far.limit_buckets(1),
            Err(HistogramError::BucketLimitExceeded {
                buckets: 2,
                limit: 1
            })
        );
        let mut nhcb = FloatHistogram::from_classic(&[(1.0, 1.0), (2.0, 2.0)], None, 0.0).unwrap();
        assert!(nhcb.limit_buckets(1).is_err());
        assert!(nhcb.limit_buckets(3).is_ok());
    }

    #[test]
    fn min_bucket_factor_picks_a_schema() {
        // Growth factor per schema: 2^(2^-s). Factor 2 → schema 0, 4 → -1, 1.1 → 2
        // (2^(1/4) = 1.19 ≥ 1.1 but 2^(1/8) = 1.09 < 1.1), ≤ 1 → the finest, 8.
        assert_eq!(max_schema_for_bucket_factor(2.0), 0);
        assert_eq!(max_schema_for_bucket_factor(4.0), -1);
        assert_eq!(max_schema_for_bucket_factor(1.1), 2);
        assert_eq!(max_schema_for_bucket_factor(1.0), 8);
        assert_eq!(max_schema_for_bucket_factor(1e300), -4);
        let mut h = FloatHistogram {
            schema: 3,
            positive_spans: vec![s(1, 8)],
            positive_buckets: vec![1.0; 8],
            ..Default::default()
        };
        h.limit_schema(2).unwrap();
        assert_eq!((h.schema, h.positive_buckets.clone()), (2, vec![2.0; 4]));
        h.limit_schema(5).unwrap();
        assert_eq!(h.schema, 2);
    }

    #[test]
    fn classic_to_custom_buckets() {
        // le=0.1:1, le=0.5:3, le=+Inf:6 (given out of order) → buckets 1, 2, 3.
        let h = FloatHistogram::from_classic(
            &[(0.5, 3.0), (f64::INFINITY, 6.0), (0.1, 1.0)],
            Some(6.0),
            4.2,
        )
        .unwrap();
        assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
        assert_eq!(h.custom_values, vec![0.1, 0.5]);
        assert_eq!(h.positive_buckets, vec![1.0, 2.0, 3.0]);
        assert_eq!((h.count, h.sum), (6.0, 4.2));
        assert_eq!(h.validate(), Ok(()));
        // No +Inf bucket: it is added with the count; empty buckets compact away.
        let h = FloatHistogram::from_classic(
            &[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (5.0, 2.0)],
            Some(2.0),
            1.0,
        )
        .unwrap();
        assert_eq!(h.custom_values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            (h.positive_spans.clone(), h.positive_buckets.clone()),
            (vec![s(4, 1)], vec![2.0])
        );
        // Not cumulative, count mismatch, negative counts.
        assert!(matches!(
            FloatHistogram::from_classic(&[(1.0, 5.0), (2.0, 3.0)], None, 0.0),
            Err(HistogramError::ClassicNotCumulative { .. })
        ));
        assert!(matches!(
            FloatHistogram::from_classic(&[(1.0, 1.0), (f64::INFINITY, 2.0)], Some(3.0), 0.0),
            Err(HistogramError::ClassicCountMismatch { .. })
        ));
        assert!(FloatHistogram::from_classic(&[(1.0, -1.0)], None, 0.0).is_err());
    }
}
