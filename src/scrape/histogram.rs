//! Native histograms of a scrape: the exposition's wire histogram
//! ([`crate::exposition::NativeHistogram`]) made into the store's [`FloatHistogram`] under
//! the job's settings, as Prometheus' scrape appenders do it.
//!
//! Integer bucket deltas become absolute counts (a running sum, as Prometheus' `Histogram`
//! holds them, then as floats as its `ToFloat` does); a gauge histogram gets the `Gauge`
//! counter-reset hint. Then, in the order of Prometheus' appender chain: a schema above the
//! one `native_histogram_min_bucket_factor` allows is reduced to it (`maxSchemaAppender`,
//! `pickSchema`); a histogram with more buckets than `native_histogram_bucket_limit` has its
//! resolution halved until it fits, and fails the scrape ("histogram bucket limit
//! exceeded") when even schema -4 does not, or when its buckets are custom
//! (`bucketLimitAppender`); last the histogram is validated as the TSDB validates it
//! ([`FloatHistogram::validate`]) and compacted (`Compact(0)`), and an invalid one fails the
//! scrape with the series and the reason.

use crate::config::HistogramConfig;
use crate::exposition::{HistogramCounts, NativeHistogram, ResetHint};
use crate::histogram::{
    is_exponential_schema, CounterResetHint, FloatHistogram, Span, EXPONENTIAL_SCHEMA_MAX,
    EXPONENTIAL_SCHEMA_MIN,
};

/// Why a scraped native histogram is not stored; fails the scrape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramScrapeError {
    /// Prometheus' `errBucketLimit` text.
    #[error("histogram bucket limit exceeded")]
    BucketLimit,
    #[error("native histogram {series}: {reason}")]
    Invalid { series: String, reason: String },
}

/// Prometheus' `pickSchema`: the largest schema whose bucket growth factor is at least
/// `factor` (a factor of at most 1 counts as 1.00271, which is schema 8).
pub fn max_schema(factor: Option<f64>) -> i32 {
    let factor = match factor {
        Some(f) if f > 1.0 => f,
        _ => 1.00271,
    };
    let floor = (-factor.log2().log2()).floor();
    if floor >= f64::from(EXPONENTIAL_SCHEMA_MAX) {
        EXPONENTIAL_SCHEMA_MAX
    } else if floor <= f64::from(EXPONENTIAL_SCHEMA_MIN) {
        EXPONENTIAL_SCHEMA_MIN
    } else {
        floor as i32
    }
}

fn spans(s: &[crate::exposition::BucketSpan]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

/// Absolute counts from deltas; `None` when the running sum leaves i64.
fn absolute(deltas: &[i64]) -> Option<Vec<f64>> {
    let mut current: i64 = 0;
    let mut out = Vec::with_capacity(deltas.len());
    for &d in deltas {
        current = current.checked_add(d)?;
        out.push(current as f64);
    }
    Some(out)
}

/// The store's histogram for `wire` (the sample of series `series`), under `cfg`.
pub fn to_float_histogram(
    wire: &NativeHistogram<'_>,
    series: &str,
    cfg: &HistogramConfig,
) -> Result<FloatHistogram, HistogramScrapeError> {
    let invalid = |reason: String| HistogramScrapeError::Invalid {
        series: series.to_string(),
        reason,
    };
    let (count, zero_count, positive_buckets, negative_buckets) = match wire.counts {
        HistogramCounts::Integer {
            count,
            zero_count,
            positive_deltas,
            negative_deltas,
        } => {
            let overflow = || invalid("bucket count overflows a 64-bit integer".to_string());
            (
                count as f64,
                zero_count as f64,
                absolute(positive_deltas).ok_or_else(overflow)?,
                absolute(negative_deltas).ok_or_else(overflow)?,
            )
        }
        HistogramCounts::Float {
            count,
            zero_count,
            positive_counts,
            negative_counts,
        } => (
            count,
            zero_count,
            positive_counts.to_vec(),
            negative_counts.to_vec(),
        ),
    };
    let mut h = FloatHistogram {
        counter_reset_hint: match wire.reset_hint {
            ResetHint::Gauge => CounterResetHint::Gauge,
            ResetHint::Unknown => CounterResetHint::Unknown,
        },
        schema: wire.schema,
        zero_threshold: wire.zero_threshold,
        zero_count,
        count,
        sum: wire.sum,
        positive_spans: spans(wire.positive_spans),
        negative_spans: spans(wire.negative_spans),
        positive_buckets,
        negative_buckets,
        custom_values: Vec::new(),
    };
    h.validate().map_err(|e| invalid(e.to_string()))?;
    h.compact(0);
    let max = max_schema(cfg.min_bucket_factor);
    if is_exponential_schema(h.schema) && h.schema > max {
        h.reduce_resolution(max)
            .map_err(|e| invalid(e.to_string()))?;
    }
    if let Some(limit) = cfg.bucket_limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let buckets = |h: &FloatHistogram| h.positive_buckets.len() + h.negative_buckets.len();
        while buckets(&h) > limit {
            if !is_exponential_schema(h.schema) || h.schema <= EXPONENTIAL_SCHEMA_MIN {
                return Err(HistogramScrapeError::BucketLimit);
            }
            let target = h.schema - 1;
            h.reduce_resolution(target)
                .map_err(|e| invalid(e.to_string()))?;
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::BucketSpan;

    #[test]
    fn pick_schema_follows_prometheus() {
        // Schema s has bucket factor 2^(2^-s): schema 3's is 1.0905, schema 2's 1.1892, so
        // the largest schema whose factor is at least 1.1 is 2 (-log2(log2(1.1)) = 2.86).
        assert_eq!(max_schema(Some(1.1)), 2);
        // 2 is schema 0's factor exactly: -log2(log2(2)) = 0.
        assert_eq!(max_schema(Some(2.0)), 0);
        // 65536 = 2^16: -log2(16) = -4; larger factors stay at -4.
        assert_eq!(max_schema(Some(65536.0)), -4);
        assert_eq!(max_schema(Some(1e300)), -4);
        // Unset, 0 or at most 1: schema 8.
        assert_eq!(max_schema(None), 8);
        assert_eq!(max_schema(Some(1.0)), 8);
        assert_eq!(max_schema(Some(1.001)), 8);
    }

    fn wire<'a>(
        schema: i32,
        spans: &'a [BucketSpan],
        deltas: &'a [i64],
        count: u64,
    ) -> NativeHistogram<'a> {
        NativeHistogram {
            schema,
            zero_threshold: 0.001,
            sum: 10.0,
            positive_spans: spans,
            negative_spans: &[],
            counts: HistogramCounts::Integer {
                count,
                zero_count: 1,
                positive_deltas: deltas,
                negative_deltas: &[],
            },
            reset_hint: ResetHint::Unknown,
        }
    }

    #[test]
    fn deltas_become_absolute_counts() {
        let spans = [BucketSpan {
            offset: 0,
            length: 4,
        }];
        // Deltas 2, +1, -2, +3 are counts 2, 3, 1, 4; with the zero bucket's 1, 11 in all.
        let h = to_float_histogram(
            &wire(0, &spans, &[2, 1, -2, 3], 11),
            "h",
            &HistogramConfig::default(),
        )
        .expect("valid");
        assert_eq!(h.positive_buckets, vec![2.0, 3.0, 1.0, 4.0]);
        assert_eq!((h.count, h.zero_count, h.sum), (11.0, 1.0, 10.0));
        assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
    }

    #[test]
    fn a_negative_bucket_fails_with_the_series() {
        let spans = [BucketSpan {
            offset: 0,
            length: 2,
        }];
        let e = to_float_histogram(
            &wire(0, &spans, &[1, -2], 3),
            "h{a=\"b\"}",
            &HistogramConfig::default(),
        )
        .expect_err("bucket 1 is -1");
        let HistogramScrapeError::Invalid { series, reason } = e else {
            panic!("{e:?}")
        };
        assert_eq!(series, "h{a=\"b\"}");
        assert!(reason.contains("negative"), "{reason}");
    }

    #[test]
    fn bucket_limit_halves_the_resolution_until_it_fits() {
        // Schema 1, buckets 1..=4 (indexes 1, 2, 3, 4), one observation each. At schema 0
        // bucket i of schema 1 goes to (i+1)/2: indexes 1,2 -> 1; 3,4 -> 2: two buckets of 2.
        let spans = [BucketSpan {
            offset: 1,
            length: 4,
        }];
        let cfg = HistogramConfig {
            bucket_limit: Some(2),
            ..HistogramConfig::default()
        };
        let h = to_float_histogram(&wire(1, &spans, &[1, 0, 0, 0], 5), "h", &cfg).expect("fits");
        assert_eq!(h.schema, 0);
        assert_eq!(h.positive_buckets, vec![2.0, 2.0]);
        // A limit no schema meets: one bucket at index 1 and one at 2^20 stay two buckets
        // down to schema -4 (1 -> 1, 2^20 -> 2^16).
        let far = [
            BucketSpan {
                offset: 1,
                length: 1,
            },
            BucketSpan {
                offset: (1 << 20) - 2,
                length: 1,
            },
        ];
        let cfg = HistogramConfig {
            bucket_limit: Some(1),
            ..HistogramConfig::default()
        };
        assert_eq!(
            to_float_histogram(&wire(0, &far, &[1, 0], 3), "h", &cfg),
            Err(HistogramScrapeError::BucketLimit)
        );
    }

    #[test]
    fn min_bucket_factor_caps_the_schema() {
        let spans = [BucketSpan {
            offset: 1,
            length: 4,
        }];
        // Factor 2 allows schema 0 at most: schema 2 goes down two steps, 4 buckets of one
        // observation (indexes 1..=4) into index ceil(i/4) = 1: one bucket of 4.
        let cfg = HistogramConfig {
            min_bucket_factor: Some(2.0),
            ..HistogramConfig::default()
        };
        let h = to_float_histogram(&wire(2, &spans, &[1, 0, 0, 0], 5), "h", &cfg).expect("ok");
        assert_eq!(h.schema, 0);
        assert_eq!(h.positive_buckets, vec![4.0]);
    }
}
