//! The read side of the store, as the PromQL engine sees it.
//!
//! [`Querier`] is the only way query code reads samples, so the engine can run over the
//! in-memory store, over a test fixture, or over a remote API without knowing which.

use super::{Labels, Matcher};

/// A float sample: milliseconds since the epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// One series and its samples in a requested time range, oldest first. Staleness markers
/// are included as samples whose value is [`STALE_NAN`](super::STALE_NAN) (test with
/// [`is_stale_nan`](super::is_stale_nan)); the query engine interprets them.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Read access to series and samples. Time ranges are inclusive milliseconds.
pub trait Querier: Send + Sync {
    /// Every series matching all `matchers` that has at least one sample in
    /// `[mint, maxt]`, with those samples, sorted by label set.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples>;

    /// Label sets of the series matching all `matchers` with samples in `[mint, maxt]`,
    /// sorted. An empty `matchers` slice selects every series.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels>;

    /// Sorted, unique label names of the series selected as by [`Querier::series`].
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;

    /// Sorted, unique values of label `name` over the series selected as by
    /// [`Querier::series`].
    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;
}
