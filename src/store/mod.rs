//! The embedded in-memory time-series store.
//!
//! Series are identified by their [`Labels`]; samples are float values or native histograms
//! ([`FloatHistogram`](crate::histogram::FloatHistogram)) at millisecond timestamps. Writers
//! go through an appender; readers through the [`Querier`] trait.
//!
//! ```
//! use redline::store::{Labels, Matcher, Querier, Store};
//!
//! let store = Store::new();
//! let mut app = store.appender();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
//! let r = app.append(&up, 1_000, 1.0).unwrap();
//! app.append_ref(r, 16_000, 1.0).unwrap();
//! let stats = app.commit();
//! assert_eq!(stats.appended, 2);
//!
//! let got = store.select(&[Matcher::equal("job", "api")], 0, 20_000);
//! assert_eq!(got[0].labels, up);
//! assert_eq!(got[0].samples.len(), 2);
//! ```
//!
//! Inside: [`Store`] (`db.rs`) shards series by fingerprint; `shard.rs` is a slab of series with
//! its fingerprint map; `series.rs` holds a series' chunks; `chunk.rs` and `bits.rs` are the XOR (Gorilla) encoding of floats, `histchunk.rs` the
//! chunks of histogram samples; `symbols.rs` interns label
//! strings; `postings.rs` is the inverted index that answers matchers; `appender.rs` buffers
//! writes until commit; `select.rs` implements [`Querier`]; `cardinality.rs` computes the
//! [`Cardinality`] figures of `/api/v1/status/tsdb`.

mod appender;
mod bits;
mod cardinality;
mod chunk;
mod chunkfile;
mod db;
mod durable;
mod histchunk;
mod labels;
mod matcher;
mod postings;
mod querier;
mod select;
mod series;
mod shard;
mod symbols;
#[cfg(test)]
mod tests;
mod wal;

pub use appender::{
    AppendError, AppendObserver, AppendStats, Appender, CommittedHistogram, CommittedSample,
};
pub use cardinality::{Cardinality, CardinalityStat};
pub use chunk::SAMPLES_PER_CHUNK;
pub use db::{GcStats, SeriesRef, Store, StoreOptions, StoreStats, DEFAULT_RETENTION, SHARDS};
pub use durable::{DurableError, DurableOptions, DurableStats, ReplayReport};
pub use labels::{
    is_legacy_label_name, is_legacy_metric_name, Label, Labels, METADATA_LABELS, METRIC_NAME,
    METRIC_TYPE, METRIC_UNIT,
};
pub use matcher::{anchored_regex, MatchOp, Matcher};
pub use querier::{
    HistogramSample, Querier, Sample, SelectError, SelectLimits, Selection, SeriesSamples,
};
pub(crate) use shard::MixBuild;
pub use wal::{FsyncPolicy, WalRepair};

/// The bit pattern Prometheus writes as a staleness marker: a NaN distinct from the NaN a
/// target can expose.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a value.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is a staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
