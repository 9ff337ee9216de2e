//! The embedded in-memory time-series store.
//!
//! Series are identified by their [`Labels`]; samples are float values at millisecond
//! timestamps. Writers go through an appender; readers through the [`Querier`] trait.

mod labels;
mod matcher;
mod querier;

pub use labels::{Label, Labels, METRIC_NAME};
pub use matcher::{anchored_regex, MatchOp, Matcher};
pub use querier::{Querier, Sample, SeriesSamples};

/// The bit pattern Prometheus writes as a staleness marker: a NaN distinct from the NaN a
/// target can expose.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a value.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is a staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
