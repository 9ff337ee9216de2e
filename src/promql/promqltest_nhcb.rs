//! `load_with_nhcb`: besides the float series a `load` block lists, every classic histogram
//! in it (`<name>_bucket{le=…}`, `<name>_count`, `<name>_sum` float series) is also stored as
//! a native histogram with custom buckets (NHCB), as upstream promqltest's
//! `appendCustomHistogram` does.
//!
//! The twin series is named `<name>` and keeps every other label except `le`. At each
//! timestamp the float samples of the `_bucket` series (their `le` read as Go's `ParseFloat`
//! reads it, so `+inf`, `.2` and `1e0` are bounds; an unreadable or NaN `le` leaves the series
//! out), the `_count` and the `_sum` sample become one histogram through
//! [`FloatHistogram::from_classic`]. A classic histogram that does not convert (not
//! cumulative, count mismatch, nothing but a sum) fails the load, as upstream's does.

use crate::gostrconv::parse_float;
use crate::histogram::{FloatHistogram, HistogramError};
use crate::store::{Labels, METRIC_NAME};
use std::collections::BTreeMap;

/// Why a classic histogram of a `load_with_nhcb` block has no native twin.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(super) enum TwinError {
    #[error("{series} at {t}ms: {source}")]
    Convert {
        series: Labels,
        t: i64,
        source: HistogramError,
    },
    #[error("{series} at {t}ms: count must be provided when no buckets are present")]
    MissingCount { series: Labels, t: i64 },
    #[error("{series}: a _bucket series needs an le label")]
    MissingLe { series: Labels },
}

/// What the classic series of one histogram hold at one timestamp.
#[derive(Default)]
struct ClassicParts {
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

/// One native twin: its labels and its samples in time order.
pub(super) type TwinSeries = (Labels, Vec<(i64, FloatHistogram)>);

/// The native custom-bucket twins of the classic histograms among `floats` (each series'
/// float samples as `(timestamp, value)`), each series with its samples in time order.
pub(super) fn custom_bucket_twins<'a>(
    floats: impl IntoIterator<Item = (&'a Labels, Vec<(i64, f64)>)>,
) -> Result<Vec<TwinSeries>, TwinError> {
    let mut collated: BTreeMap<Labels, BTreeMap<i64, ClassicParts>> = BTreeMap::new();
    for (labels, samples) in floats {
        let name = labels.metric_name().unwrap_or("");
        let (base, part) = if let Some(b) = name.strip_suffix("_bucket") {
            let Some(le) = labels.get("le") else {
                return Err(TwinError::MissingLe {
                    series: labels.clone(),
                });
            };
            match parse_float(le) {
                Ok(le) if !le.is_nan() => (b, Part::Bucket(le)),
                _ => continue,
            }
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, Part::Sum)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, Part::Count)
        } else {
            continue;
        };
        let twin = labels.without(&["le"]).with(METRIC_NAME, base);
        let by_time = collated.entry(twin).or_default();
        for (t, v) in samples {
            let parts = by_time.entry(t).or_default();
            match part {
                Part::Bucket(le) => parts.buckets.push((le, v)),
                Part::Count => parts.count = Some(v),
                Part::Sum => parts.sum = v,
            }
        }
    }
    let mut twins = Vec::with_capacity(collated.len());
    for (series, by_time) in collated {
        let mut samples = Vec::with_capacity(by_time.len());
        for (t, parts) in by_time {
            if parts.buckets.is_empty() && parts.count.is_none() {
                return Err(TwinError::MissingCount { series, t });
            }
            match FloatHistogram::from_classic(&parts.buckets, parts.count, parts.sum) {
                Ok(h) => samples.push((t, h)),
                Err(source) => return Err(TwinError::Convert { series, t, source }),
            }
        }
        twins.push((series, samples));
    }
    Ok(twins)
}

#[derive(Clone, Copy)]
enum Part {
    Bucket(f64),
    Count,
    Sum,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// Bounds spelled as upstream's histograms.test spells them (`.2`, `1e0`, `+Inf`): at
    /// t=0 the cumulative counts 5, 7, 11, 12 are buckets 5, 2, 4, 1 over the bounds
    /// 0.1, 0.2, 1; the twin keeps `start`, loses `le`, and is named without `_bucket`.
    #[test]
    fn buckets_of_one_labelset_become_one_native_series() {
        let b = |le: &str| l(&[("__name__", "h_bucket"), ("le", le), ("start", "p")]);
        let series = [
            (b("0.1"), vec![(0, 5.0), (60_000, 6.0)]),
            (b(".2"), vec![(0, 7.0), (60_000, 8.0)]),
            (b("1e0"), vec![(0, 11.0), (60_000, 12.0)]),
            (b("+Inf"), vec![(0, 12.0), (60_000, 13.0)]),
            (l(&[("__name__", "h_sum"), ("start", "p")]), vec![(0, 3.5)]),
            (l(&[("__name__", "other"), ("start", "p")]), vec![(0, 1.0)]),
        ];
        let twins = custom_bucket_twins(series.iter().map(|(l, s)| (l, s.clone()))).unwrap();
        assert_eq!(twins.len(), 1);
        let (labels, samples) = &twins[0];
        assert_eq!(labels, &l(&[("__name__", "h"), ("start", "p")]));
        assert_eq!(samples.len(), 2);
        let (t, h) = &samples[0];
        assert_eq!(*t, 0);
        assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
        assert_eq!(h.custom_values, vec![0.1, 0.2, 1.0]);
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: 0,
                length: 4
            }]
        );
        assert_eq!(h.positive_buckets, vec![5.0, 2.0, 4.0, 1.0]);
        // No _count series: the count is the +Inf bucket's; the sum is the _sum sample.
        assert_eq!((h.count, h.sum), (12.0, 3.5));
        // At 1m there is no _sum sample: the sum is 0.
        assert_eq!((samples[1].1.count, samples[1].1.sum), (13.0, 0.0));
    }

    /// A `_count` alone is a histogram with only the +Inf bucket; a `_sum` alone has no
    /// count to convert; a NaN or unreadable `le` leaves that bucket out.
    #[test]
    fn count_without_buckets_and_sum_without_count() {
        let count = l(&[("__name__", "c_count")]);
        let twins = custom_bucket_twins([(&count, vec![(0, 4.0)])]).unwrap();
        assert_eq!(twins[0].1[0].1.positive_buckets, vec![4.0]);
        assert!(twins[0].1[0].1.custom_values.is_empty());

        let sum = l(&[("__name__", "s_sum")]);
        assert_eq!(
            custom_bucket_twins([(&sum, vec![(0, 4.0)])]),
            Err(TwinError::MissingCount {
                series: l(&[("__name__", "s")]),
                t: 0
            })
        );

        let nan = l(&[("__name__", "n_bucket"), ("le", "NaN")]);
        let word = l(&[("__name__", "n_bucket"), ("le", "high")]);
        let inf = l(&[("__name__", "n_bucket"), ("le", "+inf")]);
        let twins = custom_bucket_twins([
            (&nan, vec![(0, 1.0)]),
            (&word, vec![(0, 1.0)]),
            (&inf, vec![(0, 2.0)]),
        ])
        .unwrap();
        assert_eq!(twins[0].1[0].1.positive_buckets, vec![2.0]);
        assert_eq!(twins[0].1[0].1.count, 2.0);
    }

    /// Counts that fall with a rising bound are not a classic histogram.
    #[test]
    fn non_cumulative_buckets_fail_the_load() {
        let a = l(&[("__name__", "x_bucket"), ("le", "1")]);
        let b = l(&[("__name__", "x_bucket"), ("le", "2")]);
        let r = custom_bucket_twins([(&a, vec![(0, 5.0)]), (&b, vec![(0, 3.0)])]);
        assert!(matches!(
            r,
            Err(TwinError::Convert {
                source: HistogramError::ClassicNotCumulative { .. },
                ..
            })
        ));
    }
}
