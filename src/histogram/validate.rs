//! The consistency check of a histogram (Prometheus' `FloatHistogram.Validate`) and the
//! errors of the histogram module.

use std::fmt;

use super::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};

/// Which bucket list an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Positive,
    Negative,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Positive => "positive side",
            Side::Negative => "negative side",
        })
    }
}

/// What is wrong with a histogram, or why an operation on histograms cannot be done. The
/// messages follow Prometheus' (`model/histogram` errors, wrapped the same way).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HistogramError {
    #[error("invalid histogram schema {0}")]
    InvalidSchema(i32),
    #[error("{side}: span number {span} with offset {offset}: histogram has a span whose offset is negative")]
    SpanNegativeOffset {
        side: Side,
        span: usize,
        offset: i32,
    },
    #[error("{side}: spans need {need} buckets, have {have} buckets: histogram spans specify different number of buckets than provided")]
    SpansBucketsMismatch { side: Side, need: u64, have: usize },
    #[error("{side}: bucket number {bucket} has observation count of {count}: histogram has a bucket whose observation count is negative")]
    NegativeBucketCount {
        side: Side,
        bucket: usize,
        count: f64,
    },
    #[error("zero bucket has observation count of {0}: histogram has a bucket whose observation count is negative")]
    NegativeZeroCount(f64),
    #[error("observation count is {0}: histogram's observation count is negative")]
    NegativeCount(f64),
    #[error("custom buckets: previous bound is {previous} and current is {current}: histogram custom bounds must be in strictly increasing order")]
    CustomBoundsNotIncreasing { previous: f64, current: f64 },
    #[error("custom buckets: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite")]
    CustomBoundsInfinite,
    #[error("custom buckets: only {bounds} custom bounds defined which is insufficient to cover total span length of {span_length}: histogram custom bounds are too few")]
    CustomBoundsTooFew { bounds: usize, span_length: u64 },
    #[error("histogram with custom buckets must not have zero count")]
    CustomBucketsZeroCount,
    #[error("histogram with custom buckets must not have zero threshold")]
    CustomBucketsZeroThreshold,
    #[error("histogram with custom buckets must not have negative spans")]
    CustomBucketsNegativeSpans,
    #[error("histogram with custom buckets must not have negative buckets")]
    CustomBucketsNegativeBuckets,
    #[error("histogram with exponential schema must not have custom bounds")]
    ExponentialSchemaCustomBounds,
    #[error("cannot apply this operation on histograms with a mix of exponential and custom bucket schemas")]
    IncompatibleSchema,
    #[error("cannot reduce resolution from schema {from} to {to}")]
    CannotReduceResolution { from: i32, to: i32 },
    #[error("histogram has {buckets} buckets, more than the limit of {limit} even at the lowest resolution")]
    BucketLimitExceeded { buckets: usize, limit: usize },
}

impl FloatHistogram {
    /// Checks that the spans and bucket lists agree, that no count is negative and that the
    /// fields fit the schema (exponential: no custom values; custom: increasing finite
    /// bounds covering the spans, no zero bucket, no negative buckets). Like Prometheus, it
    /// does not check that `count` is at least the sum of the buckets (float rounding).
    pub fn validate(&self) -> Result<(), HistogramError> {
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            check_custom_bounds(
                &self.custom_values,
                &self.positive_spans,
                self.positive_buckets.len(),
            )?;
            if self.zero_count != 0.0 {
                return Err(HistogramError::CustomBucketsZeroCount);
            }
            if self.zero_threshold != 0.0 {
                return Err(HistogramError::CustomBucketsZeroThreshold);
            }
            if !self.negative_spans.is_empty() {
                return Err(HistogramError::CustomBucketsNegativeSpans);
            }
            if !self.negative_buckets.is_empty() {
                return Err(HistogramError::CustomBucketsNegativeBuckets);
            }
        } else if super::is_exponential_schema(self.schema) {
            check_spans(
                Side::Positive,
                &self.positive_spans,
                self.positive_buckets.len(),
            )?;
            check_spans(
                Side::Negative,
                &self.negative_spans,
                self.negative_buckets.len(),
            )?;
            check_counts(Side::Negative, &self.negative_buckets)?;
            if self.zero_count < 0.0 {
                return Err(HistogramError::NegativeZeroCount(self.zero_count));
            }
            if !self.custom_values.is_empty() {
                return Err(HistogramError::ExponentialSchemaCustomBounds);
            }
        } else {
            return Err(HistogramError::InvalidSchema(self.schema));
        }
        if self.count < 0.0 {
            return Err(HistogramError::NegativeCount(self.count));
        }
        check_counts(Side::Positive, &self.positive_buckets)
    }
}

fn check_spans(side: Side, spans: &[Span], buckets: usize) -> Result<(), HistogramError> {
    for (n, span) in spans.iter().enumerate().skip(1) {
        if span.offset < 0 {
            return Err(HistogramError::SpanNegativeOffset {
                side,
                span: n + 1,
                offset: span.offset,
            });
        }
    }
    let need: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if need != buckets as u64 {
        return Err(HistogramError::SpansBucketsMismatch {
            side,
            need,
            have: buckets,
        });
    }
    Ok(())
}

fn check_counts(side: Side, counts: &[f64]) -> Result<(), HistogramError> {
    match counts.iter().position(|c| *c < 0.0) {
        Some(i) => Err(HistogramError::NegativeBucketCount {
            side,
            bucket: i + 1,
            count: counts[i],
        }),
        None => Ok(()),
    }
}

fn check_custom_bounds(
    bounds: &[f64],
    spans: &[Span],
    buckets: usize,
) -> Result<(), HistogramError> {
    for pair in bounds.windows(2) {
        // `!(a < b)` also rejects NaN bounds, which Prometheus lets through unordered.
        if pair[0].partial_cmp(&pair[1]) != Some(std::cmp::Ordering::Less) {
            return Err(HistogramError::CustomBoundsNotIncreasing {
                previous: pair[0],
                current: pair[1],
            });
        }
    }
    if let Some(first) = bounds.first() {
        if first.is_nan() {
            return Err(HistogramError::CustomBoundsNotIncreasing {
                previous: f64::NEG_INFINITY,
                current: *first,
            });
        }
    }
    if bounds.last() == Some(&f64::INFINITY) {
        return Err(HistogramError::CustomBoundsInfinite);
    }
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(HistogramError::SpanNegativeOffset {
                side: Side::Positive,
                span: n + 1,
                offset: span.offset,
            });
        }
    }
    let need: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if need != buckets as u64 {
        return Err(HistogramError::SpansBucketsMismatch {
            side: Side::Positive,
            need,
            have: buckets,
        });
    }
    let span_length: u64 = spans
        .iter()
        .map(|s| u64::from(s.length) + s.offset as u64)
        .sum();
    if (bounds.len() as u64) + 1 < span_length {
        return Err(HistogramError::CustomBoundsTooFew {
            bounds: bounds.len(),
            span_length,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Breakage = Box<dyn Fn(&mut FloatHistogram)>;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn valid() -> FloatHistogram {
        FloatHistogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 6.0,
            sum: 3.0,
            positive_spans: vec![s(-1, 2), s(3, 1)],
            positive_buckets: vec![1.0, 2.0, 1.0],
            negative_spans: vec![s(0, 1)],
            negative_buckets: vec![1.0],
            ..Default::default()
        }
    }

    #[test]
    fn accepts_consistent_histograms() {
        assert_eq!(valid().validate(), Ok(()));
        let nhcb = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            custom_values: vec![1.0, 2.0],
            positive_spans: vec![s(0, 1), s(1, 1)],
            positive_buckets: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(nhcb.validate(), Ok(()));
    }

    #[test]
    fn names_what_is_inconsistent() {
        let cases: Vec<(Breakage, HistogramError)> = vec![
            (Box::new(|h| h.schema = 9), HistogramError::InvalidSchema(9)),
            (
                Box::new(|h| h.schema = -5),
                HistogramError::InvalidSchema(-5),
            ),
            (
                Box::new(|h| h.positive_buckets.pop().map(drop).unwrap_or(())),
                HistogramError::SpansBucketsMismatch {
                    side: Side::Positive,
                    need: 3,
                    have: 2,
                },
            ),
            (
                Box::new(|h| h.negative_spans[0].length = 2),
                HistogramError::SpansBucketsMismatch {
                    side: Side::Negative,
                    need: 2,
                    have: 1,
                },
            ),
            (
                Box::new(|h| h.positive_spans[1].offset = -1),
                HistogramError::SpanNegativeOffset {
                    side: Side::Positive,
                    span: 2,
                    offset: -1,
                },
            ),
            (
                Box::new(|h| h.positive_buckets[1] = -2.0),
                HistogramError::NegativeBucketCount {
                    side: Side::Positive,
                    bucket: 2,
                    count: -2.0,
                },
            ),
            (
                Box::new(|h| h.zero_count = -1.0),
                HistogramError::NegativeZeroCount(-1.0),
            ),
            (
                Box::new(|h| h.count = -1.0),
                HistogramError::NegativeCount(-1.0),
            ),
            (
                Box::new(|h| h.custom_values = vec![1.0]),
                HistogramError::ExponentialSchemaCustomBounds,
            ),
        ];
        for (break_it, want) in cases {
            let mut h = valid();
            break_it(&mut h);
            assert_eq!(h.validate(), Err(want));
        }
        let err = valid().validate().err();
        assert!(err.is_none());
        let mut h = valid();
        h.positive_buckets.pop();
        assert_eq!(
            h.validate().unwrap_err().to_string(),
            "positive side: spans need 3 buckets, have 2 buckets: histogram spans specify different number of buckets than provided"
        );
    }

    #[test]
    fn custom_bucket_rules() {
        let base = || FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 2.0,
            custom_values: vec![1.0, 2.0],
            positive_spans: vec![s(0, 2)],
            positive_buckets: vec![1.0, 1.0],
            ..Default::default()
        };
        let cases: Vec<(Breakage, HistogramError)> = vec![
            (
                Box::new(|h| h.custom_values = vec![2.0, 1.0]),
                HistogramError::CustomBoundsNotIncreasing {
                    previous: 2.0,
                    current: 1.0,
                },
            ),
            (
                Box::new(|h| h.custom_values = vec![1.0, f64::INFINITY]),
                HistogramError::CustomBoundsInfinite,
            ),
            (
                Box::new(|h| h.positive_spans = vec![s(2, 2)]),
                HistogramError::CustomBoundsTooFew {
                    bounds: 2,
                    span_length: 4,
                },
            ),
            (
                Box::new(|h| h.positive_spans = vec![s(-1, 2)]),
                HistogramError::SpanNegativeOffset {
                    side: Side::Positive,
                    span: 1,
                    offset: -1,
                },
            ),
            (
                Box::new(|h| h.zero_count = 1.0),
                HistogramError::CustomBucketsZeroCount,
            ),
            (
                Box::new(|h| h.zero_threshold = 0.1),
                HistogramError::CustomBucketsZeroThreshold,
            ),
            (
                Box::new(|h| h.negative_spans = vec![s(0, 0)]),
                HistogramError::CustomBucketsNegativeSpans,
            ),
            (
                Box::new(|h| h.negative_buckets = vec![1.0]),
                HistogramError::CustomBucketsNegativeBuckets,
            ),
        ];
        for (break_it, want) in cases {
            let mut h = base();
            break_it(&mut h);
            assert_eq!(h.validate(), Err(want));
        }
        let mut h = base();
        h.custom_values = vec![f64::NAN, 1.0];
        assert!(h.validate().is_err(), "NaN bounds are not ordered");
    }
}
