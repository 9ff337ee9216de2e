//! `convert_classic_histograms_to_nhcb`: classic histograms of a scrape become native
//! histograms with custom buckets (NHCB, schema -53) under the family name, as Prometheus 3
//! converts them (`model/textparse/nhcbparse.go` for the text formats, the protobuf parser's
//! `convertToNHCB`, `util/convertnhcb`).
//!
//! The conversion ([`convert`]) takes the buckets as cumulative counts in any order (the
//! first value of a repeated bound wins), checks that they are cumulative and not negative,
//! takes the count from `_count` (or, without one, from the highest bucket; without either it
//! fails), adds a `+Inf` bucket holding the count when there is none and requires the count
//! to equal the `+Inf` bucket's; the sum is `_sum`'s (0 without one). Integer counts keep runs
//! of up to two empty buckets, fractional ones none ([`FloatHistogram::from_classic`]).
//!
//! In the text formats ([`TextCollector`]) only series of a family typed `histogram` are
//! collected: its `_bucket` series with an `le` that reads as a number other than NaN, its
//! `_count` and its `_sum`. Consecutive series of one family with the same labels (`le`
//! aside) make one histogram, emitted when a series of another family or label set, a
//! metadata line or the body's end comes; it takes that labels' set without `le` under the
//! family name, the created timestamp of its first series, and the timestamp the parser read
//! last (the series that ended it, if a series did), as `NHCBParser` does. A histogram that
//! does not convert is dropped without an error. The classic series are stored too only with
//! `always_scrape_classic_histograms`; gauge histograms are not converted.
//!
//! In the protobuf format the decoder hands over each classic histogram as a whole
//! ([`crate::exposition::Sink::classic_histogram`]); a gauge histogram is converted too (with
//! the gauge hint), and a histogram that does not convert fails the scrape, as Prometheus'
//! protobuf parser fails it.
//!
//! Either way the result obeys `native_histogram_bucket_limit` as Prometheus' bucket-limit
//! appender applies it to custom buckets: more buckets than the limit fails the scrape
//! ("histogram bucket limit exceeded"), as they cannot be merged. Exemplars are not stored by
//! redline, so the classic series' exemplars are not carried over.

use crate::exposition::{ClassicHistogram, MetricType, Sample};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::scrape::histogram::HistogramScrapeError;

/// Why classic series do not make a histogram (Prometheus' `convertnhcb` errors).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("count must be provided when no buckets are present")]
    MissingCount,
    #[error("bucket boundary must not be NaN")]
    NanBucket,
    #[error(transparent)]
    Histogram(#[from] HistogramError),
}

/// The classic histogram `buckets` (upper bound, cumulative count), `count` and `sum` as a
/// native histogram with custom buckets; see the module docs.
pub fn convert(
    buckets: &[(f64, f64)],
    count: Option<f64>,
    sum: f64,
) -> Result<FloatHistogram, ConvertError> {
    if count.is_none() && buckets.is_empty() {
        return Err(ConvertError::MissingCount);
    }
    if buckets.iter().any(|(le, _)| le.is_nan()) {
        return Err(ConvertError::NanBucket);
    }
    let h = FloatHistogram::from_classic(buckets, count, sum)?;
    h.validate()?;
    Ok(h)
}

/// `native_histogram_bucket_limit` for a histogram with custom buckets: they cannot be
/// merged, so more than `limit` fails.
pub fn check_bucket_limit(
    h: &FloatHistogram,
    limit: Option<u64>,
) -> Result<(), HistogramScrapeError> {
    match limit {
        Some(limit) if (h.positive_buckets.len() + h.negative_buckets.len()) as u64 > limit => {
            Err(HistogramScrapeError::BucketLimit)
        }
        _ => Ok(()),
    }
}

/// A protobuf classic histogram as a native histogram with custom buckets (a gauge
/// histogram with the gauge hint).
pub fn from_protobuf(c: &ClassicHistogram<'_>) -> Result<FloatHistogram, HistogramScrapeError> {
    let mut h =
        convert(c.buckets, Some(c.count), c.sum).map_err(|e| HistogramScrapeError::Invalid {
            series: c.series.to_string(),
            reason: e.to_string(),
        })?;
    if c.metric_type == MetricType::GaugeHistogram {
        h.counter_reset_hint = CounterResetHint::Gauge;
    }
    Ok(h)
}

/// The empty histogram Prometheus writes at a histogram series' created timestamp: a counter
/// reset, with the schema, zero threshold and custom bounds of the sample that follows.
pub fn start_zero(h: &FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: CounterResetHint::CounterReset,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        custom_values: h.custom_values.clone(),
        ..FloatHistogram::default()
    }
}

/// Which part of a classic histogram a series is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Bucket(f64),
    Count,
    Sum,
}

/// A histogram being collected from consecutive classic series.
struct Group {
    /// The family name.
    base: String,
    /// The labels without `le`, sorted: what the series of one histogram share.
    key: Vec<(String, String)>,
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    created: Option<i64>,
    /// The family's unit (empty for none).
    unit: String,
}

/// A histogram converted from classic series, ready to ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The family name.
    pub name: String,
    /// The series as text: `name{a="x",b="y"}` with the labels sorted, as Prometheus prints
    /// it; the scrape cache's key.
    pub series: String,
    /// Labels without `__name__` and `le`, sorted.
    pub labels: Vec<(String, String)>,
    pub timestamp_ms: Option<i64>,
    pub created_timestamp_ms: Option<i64>,
    /// The family's unit (OpenMetrics `# UNIT`), empty for none.
    pub unit: String,
    pub histogram: FloatHistogram,
}

/// The conversion of the text formats (Prometheus' `NHCBParser`); see the module docs.
pub struct TextCollector {
    keep_classic: bool,
    group: Option<Group>,
    /// The timestamp of the last series read.
    last_ts: Option<i64>,
}

/// The family name of a histogram series and which part it is; `None` for a series that is
/// no part of a classic histogram.
fn part_of<'a>(s: &Sample<'a>) -> Option<(&'a str, Option<Part>)> {
    if s.metric_type != MetricType::Histogram {
        return None;
    }
    if let Some(base) = s.name.strip_suffix("_bucket") {
        let le = s
            .labels
            .get("le")
            .and_then(|v| crate::gostrconv::parse_float(&v).ok())
            .filter(|le| !le.is_nan());
        return Some((base, le.map(Part::Bucket)));
    }
    if let Some(base) = s.name.strip_suffix("_count") {
        return Some((base, Some(Part::Count)));
    }
    if let Some(base) = s.name.strip_suffix("_sum") {
        return Some((base, Some(Part::Sum)));
    }
    Some((s.name, None))
}

fn key_of(s: &Sample<'_>) -> Vec<(String, String)> {
    let mut key: Vec<(String, String)> = s
        .labels
        .iter()
        .filter(|l| l.name != "le")
        .map(|l| (l.name.to_string(), l.value.into_owned()))
        .collect();
    key.sort();
    key
}

/// Whether the labels of `s` without `le` are `key` (what [`key_of`] makes of them),
/// without writing them out: label names are unique within a sample (the text parsers
/// reject duplicates), so every one found in `key` with its value, and as many, is the
/// same set.
fn has_key(s: &Sample<'_>, key: &[(String, String)]) -> bool {
    let mut n = 0;
    for l in s.labels.iter() {
        if l.name == "le" {
            continue;
        }
        n += 1;
        match key.binary_search_by(|(name, _)| name.as_str().cmp(l.name)) {
            Ok(i) if key[i].1 == l.value => {}
            _ => return false,
        }
    }
    n == key.len()
}

impl TextCollector {
    /// A collector; `keep_classic` (`always_scrape_classic_histograms`) passes the classic
    /// series on too.
    pub fn new(keep_classic: bool) -> Self {
        TextCollector {
            keep_classic,
            group: None,
            last_ts: None,
        }
    }

    /// Before the series `s` is ingested: the histogram collected so far when `s` is not part
    /// of it.
    pub fn before(&mut self, s: &Sample<'_>) -> Option<Converted> {
        self.last_ts = s.timestamp_ms;
        let g = self.group.as_ref()?;
        let same = part_of(s).is_some_and(|(base, _)| base == g.base) && has_key(s, &g.key);
        if same {
            return None;
        }
        self.end()
    }

    /// Takes the series `s` into the histogram being collected when it is part of one;
    /// returns whether `s` is to be ingested as a series too.
    pub fn take(&mut self, s: &Sample<'_>) -> bool {
        let Some((base, Some(part))) = part_of(s) else {
            return true;
        };
        let g = self.group.get_or_insert_with(|| Group {
            base: base.to_string(),
            key: key_of(s),
            buckets: Vec::new(),
            count: None,
            sum: 0.0,
            created: s.created_timestamp_ms,
            unit: s.unit.to_string(),
        });
        match part {
            Part::Bucket(le) => g.buckets.push((le, s.value)),
            Part::Count => g.count = Some(s.value),
            Part::Sum => g.sum = s.value,
        }
        self.keep_classic
    }

    /// Ends the histogram being collected (a metadata line, or the end of the body): the
    /// histogram it makes, if it converts.
    pub fn end(&mut self) -> Option<Converted> {
        let g = self.group.take()?;
        let histogram = convert(&g.buckets, g.count, g.sum).ok()?;
        let mut series = g.base.clone();
        if !g.key.is_empty() {
            series.push('{');
            for (i, (n, v)) in g.key.iter().enumerate() {
                if i > 0 {
                    series.push(',');
                }
                series.push_str(n);
                series.push('=');
                series.push_str(&crate::gostrconv::quote(v));
            }
            series.push('}');
        }
        Some(Converted {
            name: g.base,
            series,
            labels: g.key,
            timestamp_ms: self.last_ts,
            created_timestamp_ms: g.created,
            unit: g.unit,
            histogram,
        })
    }
}

#[cfg(test)]
mod tests;
