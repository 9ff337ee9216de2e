//! Native histograms: Prometheus' sparse, exponential-bucket histogram sample type.
//!
//! A [`FloatHistogram`] is one sample of a native histogram series, with absolute (not
//! delta-encoded) bucket counts. Buckets of an exponential schema `s` (-4..=8) have
//! boundaries at powers of `2^(2^-s)`: bucket index `i` covers `(base^(i-1), base^i]`; the
//! zero bucket covers `[-zero_threshold, zero_threshold]`. Populated buckets are listed by
//! spans: each [`Span`] skips `offset` bucket indexes after the previous span's end (the
//! first span's offset is the index of its first bucket) and then covers `length` buckets,
//! whose counts follow in order in `positive_buckets`/`negative_buckets`. Schema
//! [`CUSTOM_BUCKETS_SCHEMA`] (-53) has custom bucket boundaries instead: `custom_values` are
//! the upper bounds (the last bucket's upper bound is +Inf), only positive buckets, no zero
//! bucket.
//!
//! This is the one histogram type of redline: the scrape decodes integer and float native
//! histograms into it, the store keeps it, PromQL computes with it and the APIs render it.
//! It is a leaf module: it imports nothing of redline's.
//!
//! The operations follow Prometheus 3's `model/histogram` and the histogram parts of
//! `promql`: [`FloatHistogram::validate`]; bucket iterators yielding [`Bucket`]s with bounds
//! for every schema ([`bounds`]); `compact`, `equals` and `Display` (Prometheus' `String`);
//! arithmetic ([`arith`]: `mul`, `div`, `add`, `sub` across schemas, zero thresholds and
//! custom bounds, `reduce_resolution`, `detect_reset`) and compensated summation
//! ([`KahanSum`]); and the PromQL functions' math ([`stats`]: `histogram_quantile`,
//! `histogram_fraction`, `histogram_stddev`/`_stdvar`); trimming at a value (`trim`, the
//! `</` and `>/` operators); and histograms coming in
//! ([`convert`]: the integer wire form, classic histograms as custom buckets, the scrape
//! bucket limits).

pub mod arith;
pub mod bounds;
pub mod convert;
mod format;
mod iter;
mod kahan;
mod layout;
pub mod stats;
mod trim;
mod validate;

pub use arith::ArithOutcome;
pub use bounds::{bucket_bound, exponential_bound, is_exponential_schema};
pub use convert::{max_schema_for_bucket_factor, IntegerHistogram};
pub use iter::{AllBucketIter, Bucket, BucketIter, ReverseBucketIter};
pub use kahan::{kahan_inc, KahanSum};
pub use stats::{Fraction, Quantile, QuantileNanEffect};
pub use trim::TrimSide;
pub use validate::{HistogramError, Side};

/// The schema of native histograms with custom bucket boundaries (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// The smallest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// The largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// A run of populated buckets: `offset` bucket indexes skipped since the previous span's
/// end (for the first span: the index of its first bucket), then `length` buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// What the producer of a histogram says about counter resets (Prometheus'
/// `CounterResetHint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterResetHint {
    /// Not known: a reader compares with the previous sample.
    #[default]
    Unknown,
    /// A counter reset happened just before this sample.
    CounterReset,
    /// No counter reset since the previous sample.
    NotCounterReset,
    /// A gauge histogram: counts may go up and down, never a reset.
    Gauge,
}

/// One native histogram sample with float counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    /// -4..=8 for exponential buckets, [`CUSTOM_BUCKETS_SCHEMA`] for custom ones.
    pub schema: i32,
    /// The zero bucket's half-width.
    pub zero_threshold: f64,
    pub zero_count: f64,
    /// Observations in all buckets (NaN observations are counted here and in no bucket).
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the positive buckets the spans list, in index order.
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only), ascending.
    pub custom_values: Vec<f64>,
}

impl FloatHistogram {
    /// Whether the schema is the custom-buckets one.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }
}
