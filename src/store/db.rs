//! [`Store`]: the sharded in-memory time-series database.
//!
//! Series live in [`SHARDS`] shards chosen by label fingerprint, each behind its own
//! `RwLock`; the postings index and the symbol table each have one lock, taken only when a
//! series is created or removed (writes) or when a query resolves matchers (reads). Locks are
//! always taken in the order shard → symbols and never held across chunk decoding: a query
//! copies the chunk handles it needs out of the shard and decodes after releasing it.
//!
//! Writes go through an [`Appender`](super::Appender); reads through the
//! [`Querier`](super::Querier) implementation in `select.rs`. Retention is driven by the
//! caller's clock: [`Store::gc`] drops whole chunks older than `now - retention` and removes
//! series left without samples. The store never reads the system clock.

use super::postings::Postings;
use super::series::Series;
use super::shard::Shard;
use super::symbols::{Symbol, SymbolTable};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Number of series shards (a power of two).
pub const SHARDS: usize = 256;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

/// Default retention: 6 hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(6 * 3600);

/// A handle to a series, valid until the series is garbage-collected. A series re-created
/// after collection gets a new ref, so a stale cached ref fails cleanly (refs repeat only
/// after 2^32 series creations, and then only if the same slot is hit at the same count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub(crate) u64);

impl SeriesRef {
    /// The ref as a number (stable for the life of the series).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) fn shard(self) -> usize {
        (self.0 as usize) & (SHARDS - 1)
    }
}

/// Store settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long samples are kept, measured back from the `now` given to [`Store::gc`].
    pub retention: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: DEFAULT_RETENTION,
        }
    }
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub chunks_removed: usize,
    pub series_removed: usize,
}

/// Self-monitoring figures. Counters are totals since start; memory figures are estimates.
///
/// `chunk_bytes` is the exact length of every closed chunk's data plus its fixed overhead
/// (the varint time span and the 16-byte handle) and the allocated capacity of every head
/// chunk buffer. `index_bytes` is the capacity of the per-shard series and fingerprint maps
/// times their slot size, the label-id arrays, the postings lists at 10 bytes per id (8 plus
/// typical vector slack) plus ~48 bytes per list, and the symbol table (string bytes plus ~53
/// bytes per string). Allocator overhead is not included. Both are maintained incrementally
/// or read from capacities, so [`Store::stats`] costs one short read lock per shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub series: usize,
    pub chunks: usize,
    pub symbols: usize,
    pub samples_appended_total: u64,
    pub out_of_order_total: u64,
    pub duplicates_total: u64,
    pub out_of_bounds_total: u64,
    pub series_created_total: u64,
    pub series_removed_total: u64,
    pub chunk_bytes: usize,
    pub index_bytes: usize,
}

#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) appended: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) out_of_bounds: AtomicU64,
    pub(crate) created: AtomicU64,
    pub(crate) removed: AtomicU64,
}

/// The in-memory time-series store. `Send + Sync`; share it behind an `Arc`.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    pub(crate) postings: RwLock<Postings>,
    pub(crate) symbols: SymbolTable,
    next_seq: AtomicU64,
    retention_ms: i64,
    /// Samples older than this are rejected as out of bounds: the last retention cutoff.
    min_valid_t: AtomicI64,
    pub(crate) totals: Totals,
    pub(crate) observer: super::appender::ObserverSlot,
    /// The log and chunk files of a durable store ([`Store::open`]); `None` in memory.
    pub(crate) durable: Option<super::durable::Durable>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("retention_ms", &self.retention_ms)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store with the default 6 h retention.
    pub fn new() -> Self {
        Store::with_options(StoreOptions::default())
    }

    pub fn with_options(opts: StoreOptions) -> Self {
        Store {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            postings: RwLock::new(Postings::default()),
            symbols: SymbolTable::default(),
            next_seq: AtomicU64::new(1),
            retention_ms: i64::try_from(opts.retention.as_millis()).unwrap_or(i64::MAX),
            min_valid_t: AtomicI64::new(i64::MIN),
            totals: Totals::default(),
            observer: Default::default(),
            durable: None,
        }
    }

    /// The configured retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// The oldest timestamp an append may still carry (the last retention cutoff, or
    /// `i64::MIN` before the first one).
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_t.load(Ordering::Relaxed)
    }

    pub(crate) fn shard_read(&self, i: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[i].read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn shard_write(&self, i: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[i].write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn postings_read(&self) -> RwLockReadGuard<'_, Postings> {
        self.postings.read().unwrap_or_else(|e| e.into_inner())
    }

    fn postings_write(&self) -> RwLockWriteGuard<'_, Postings> {
        self.postings.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_next_seq(&self, next: u64) {
        self.next_seq.store(next.max(1), Ordering::Relaxed);
    }

    /// Indexes a restored series (unsorted; see [`Store::postings_sort`]).
    pub(crate) fn postings_push_unsorted(&self, id: u64, syms: &[Symbol]) {
        self.postings_write().push_unsorted(id, syms);
    }

    /// Sorts the index after a restore.
    pub(crate) fn postings_sort(&self) {
        self.postings_write().sort_all();
    }

    pub(crate) fn shard_of_fingerprint(fp: u64) -> usize {
        // The high bits: the low ones also pick hash-map buckets inside the shard.
        (fp >> (64 - SHARD_BITS)) as usize
    }

    /// Finds or creates the series with `labels`, marking one pending sample on it.
    /// Returns the ref and whether it was created; `None` when the shard is full.
    pub(crate) fn get_or_create(&self, labels: &super::Labels) -> Option<(SeriesRef, bool)> {
        let fp = labels.fingerprint();
        let si = Self::shard_of_fingerprint(fp);
        {
            let mut shard = self.shard_write(si);
            if let Some(id) = shard.find(fp, labels, &self.symbols) {
                shard.pin(id);
                return Some((SeriesRef(id), false));
            }
        }
        // Intern outside the shard lock; the write lock on symbols is brief.
        let syms = self.symbols.intern_labels(labels);
        let id = {
            let mut shard = self.shard_write(si);
            if let Some(id) = shard.find(fp, labels, &self.symbols) {
                shard.pin(id);
                return Some((SeriesRef(id), false));
            }
            let seq = loop {
                // 32-bit creation counter; 0 marks a free slot, so skip it on wrap-around.
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) as u32;
                if seq != 0 {
                    break seq;
                }
            };
            let id = shard.insert(si, seq, Series::new(syms.clone(), fp))?;
            // Logged under the shard lock, so the record is buffered before any commit
            // that can find the series.
            self.log_series(id, labels);
            id
        };
        self.postings_write().add(id, &syms);
        self.totals.created.fetch_add(1, Ordering::Relaxed);
        Some((SeriesRef(id), true))
    }

    /// Marks one pending sample on series `r`; false when the series no longer exists.
    pub(crate) fn pin(&self, r: SeriesRef) -> bool {
        self.shard_write(r.shard()).pin(r.0)
    }

    /// Removes the given series from the postings index (after they left their shards).
    pub(crate) fn unindex(&self, removed: &[(u64, Box<[Symbol]>)]) {
        if removed.is_empty() {
            return;
        }
        self.postings_write().remove(removed);
        self.totals
            .removed
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
    }

    /// Drops every chunk whose newest sample is older than `before_ms`, removes series left
    /// without samples (unless an appender holds samples for them), and from then on rejects
    /// appends older than `before_ms` as out of bounds.
    pub fn truncate(&self, before_ms: i64) -> GcStats {
        self.min_valid_t.fetch_max(before_ms, Ordering::Relaxed);
        self.log_truncate(before_ms);
        let mut stats = GcStats::default();
        let mut removed: Vec<(u64, Box<[Symbol]>)> = Vec::new();
        for si in 0..SHARDS {
            let (chunks, gone) = self.shard_write(si).truncate(si, before_ms);
            stats.chunks_removed += chunks;
            removed.extend(gone);
        }
        stats.series_removed = removed.len();
        self.unindex(&removed);
        self.remove_chunk_files_before(before_ms);
        stats
    }

    /// Rejects appends older than `before_ms` from now on, without dropping anything (a
    /// restored store takes over its predecessor's last cutoff).
    pub(crate) fn truncate_bound(&self, before_ms: i64) {
        self.min_valid_t.fetch_max(before_ms, Ordering::Relaxed);
    }

    /// Applies retention as of `now_ms` (the caller's clock): `truncate(now_ms - retention)`.
    pub fn gc(&self, now_ms: i64) -> GcStats {
        self.truncate(now_ms.saturating_sub(self.retention_ms))
    }

    /// Current counts and memory estimates (see [`StoreStats`] for how bytes are estimated).
    pub fn stats(&self) -> StoreStats {
        let mut st = StoreStats::default();
        for si in 0..SHARDS {
            let shard = self.shard_read(si);
            st.series += shard.len();
            st.chunks += shard.acct.chunks;
            st.chunk_bytes += shard.acct.closed_bytes + shard.acct.head_bytes;
            st.index_bytes += shard.map_bytes();
        }
        st.index_bytes += self.postings_read().heap_bytes();
        let (n, bytes) = self.symbols.usage();
        st.symbols = n;
        st.index_bytes += bytes;
        let t = &self.totals;
        st.samples_appended_total = t.appended.load(Ordering::Relaxed);
        st.out_of_order_total = t.out_of_order.load(Ordering::Relaxed);
        st.duplicates_total = t.duplicates.load(Ordering::Relaxed);
        st.out_of_bounds_total = t.out_of_bounds.load(Ordering::Relaxed);
        st.series_created_total = t.created.load(Ordering::Relaxed);
        st.series_removed_total = t.removed.load(Ordering::Relaxed);
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<std::sync::Arc<Store>>();
    }

    #[test]
    fn refs_carry_their_shard() {
        let store = Store::new();
        let l = super::super::Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let (r, created) = store.get_or_create(&l).unwrap();
        assert!(created);
        assert_eq!(r.shard(), Store::shard_of_fingerprint(l.fingerprint()));
        let (r2, created2) = store.get_or_create(&l).unwrap();
        assert_eq!((r2, created2), (r, false));
    }
}
