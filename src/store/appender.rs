//! Buffered, all-or-nothing writes into the [`Store`].
//!
//! An [`Appender`] collects samples (one scrape, one rule evaluation, one test load) and
//! writes them on [`Appender::commit`]; [`Appender::rollback`] (or dropping the appender)
//! discards them, so a failed scrape adds nothing. New series are created, and indexed, at
//! `append` time so the caller gets a [`SeriesRef`] to cache; each buffered sample pins its
//! series against garbage collection until the appender finishes, and a series created by an
//! appender that ends up with no sample is removed again. A caller that knows its series in
//! advance (the scrape loop: those of the previous scrape) can [`Appender::hold`] them in one
//! pass, one lock per shard, and then buffer their samples with [`Appender::append_held`]
//! without touching the store at all.
//!
//! [`Appender::commit`] visits the samples grouped by shard (a stable counting sort of
//! indices), so each shard is locked once per commit and the samples of one series keep
//! their order.
//!
//! Native histogram samples ([`Appender::append_histogram`]) are buffered beside the floats,
//! in the same order, and follow the same rules; a series may change from floats to
//! histograms and back (each change starts a new chunk). Staleness markers are float
//! samples, for histogram series too.
//!
//! Problems with individual samples are not errors of `append`: out-of-order samples
//! (older than the series' newest), duplicates (same timestamp, different value; a
//! bit-identical repeat is dropped silently, as in Prometheus) and samples older than the last
//! retention cutoff (out of bounds) are rejected at commit, per series, and counted in
//! [`AppendStats`] and the store's totals. The data already stored is never touched by them.
//! The zero sample a scrape writes at a series' created timestamp
//! ([`Appender::append_start_zero`]) follows the same rules, except that its rejection is
//! not counted: Prometheus' `AppendSTZeroSample` drops it without a word, as it does after
//! every first scrape of a long-lived counter.
//!
//! A durable store ([`Store::open`]) writes the samples a commit wrote to its write-ahead log
//! once the shard locks are released, in one write.
//!
//! An [`AppendObserver`] set with [`Store::set_append_observer`] sees every float sample a
//! commit wrote (after the shard locks are released), as Prometheus' remote write sees its WAL.
//! Without one a commit pays one uncontended read lock.

use super::db::SHARDS;
use super::db::{SeriesRef, Store};
use super::series::Outcome;
use super::symbols::Symbol;
use super::Labels;
use crate::histogram::FloatHistogram;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

/// A sample a commit wrote into the store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CommittedSample {
    pub series: SeriesRef,
    pub t_ms: i64,
    /// The value; staleness markers keep their bit pattern.
    pub v: f64,
}

/// A histogram sample a commit wrote, for the write-ahead log: `after` float samples of
/// the commit's written ones came before it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WrittenHistogram {
    pub(crate) after: usize,
    pub(crate) series: SeriesRef,
    pub(crate) t_ms: i64,
    /// Its position in the commit's histograms.
    pub(crate) index: usize,
}

/// A native histogram sample a commit wrote into the store.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedHistogram {
    pub series: SeriesRef,
    pub t_ms: i64,
    pub h: Arc<FloatHistogram>,
}

/// Sees the samples of every commit. Called on the committing thread, so it must not
/// block: hand the samples on (or drop and count them) and return.
pub trait AppendObserver: Send + Sync {
    /// The float samples one commit wrote, grouped by shard; samples of one series in order.
    fn committed(&self, samples: &[CommittedSample]);

    /// The native histogram samples one commit wrote (after [`AppendObserver::committed`]
    /// got its floats), grouped by shard; samples of one series in order. Ignored unless
    /// implemented.
    fn committed_histograms(&self, _samples: &[CommittedHistogram]) {}
}

/// The store's observer slot.
#[derive(Default)]
pub(crate) struct ObserverSlot(RwLock<Option<Arc<dyn AppendObserver>>>);

impl ObserverSlot {
    fn get(&self) -> Option<Arc<dyn AppendObserver>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Why a sample could not even be buffered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The ref's series was garbage-collected (or never existed): resolve it again by labels.
    #[error("unknown series ref {0}")]
    UnknownSeries(u64),
    /// A series must have at least one label.
    #[error("empty label set")]
    EmptyLabels,
    /// The store cannot hold more series (2^24 per shard, ~4 billion in all).
    #[error("series limit of the store reached")]
    StoreFull,
    /// One appender cannot buffer more than 2^32 - 1 histogram samples.
    #[error("histogram limit of one appender reached")]
    TooManyHistograms,
}

/// What a commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples written.
    pub appended: usize,
    /// Samples older than their series' newest sample.
    pub out_of_order: usize,
    /// Samples at their series' newest timestamp with a different value.
    pub duplicates: usize,
    /// Samples older than the last retention cutoff.
    pub out_of_bounds: usize,
    /// Series this appender created (they exist even if all their samples were rejected).
    pub series_created: usize,
}

impl AppendStats {
    /// Samples that were rejected for any reason.
    pub fn rejected(&self) -> usize {
        self.out_of_order + self.duplicates + self.out_of_bounds
    }
}

enum StoreHandle<'a> {
    Borrowed(&'a Store),
    Shared(Arc<Store>),
}

impl Deref for StoreHandle<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        match self {
            StoreHandle::Borrowed(s) => s,
            StoreHandle::Shared(s) => s,
        }
    }
}

#[derive(Clone, Copy)]
struct Pending {
    r: SeriesRef,
    t: i64,
    v: f64,
    /// The sample pinned its series itself (released at commit); `false` for a sample of a
    /// series the appender holds (see [`Appender::hold`]).
    pinned: bool,
    /// For a histogram sample (`v` unused), its position in the appender's histograms plus
    /// one.
    histogram: Option<NonZeroU32>,
    /// A created-timestamp zero sample: rejected without being counted.
    quiet: bool,
}

/// A batch of samples to write atomically with respect to failure (not visibility: other
/// readers may see part of a commit while it runs, as in Prometheus).
pub struct Appender<'a> {
    store: StoreHandle<'a>,
    pending: Vec<Pending>,
    /// Series pinned once each for the appender's life by [`Appender::hold`], grouped by
    /// shard.
    held: Vec<SeriesRef>,
    /// The histograms of the buffered histogram samples.
    histograms: Vec<FloatHistogram>,
    created: usize,
}

impl Store {
    /// Sets (or with `None` removes) the observer of committed samples.
    pub fn set_append_observer(&self, observer: Option<Arc<dyn AppendObserver>>) {
        *self.observer.0.write().unwrap_or_else(|e| e.into_inner()) = observer;
    }

    /// An appender borrowing the store.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            store: StoreHandle::Borrowed(self),
            pending: Vec::new(),
            held: Vec::new(),
            histograms: Vec::new(),
            created: 0,
        }
    }

    /// An appender owning a handle to the store, for callers that must move it (e.g. into a
    /// spawned task).
    pub fn shared_appender(self: &Arc<Self>) -> Appender<'static> {
        Appender {
            store: StoreHandle::Shared(self.clone()),
            pending: Vec::new(),
            held: Vec::new(),
            histograms: Vec::new(),
            created: 0,
        }
    }
}

impl Appender<'_> {
    /// Buffers a sample for the series `labels`, creating the series if it is new.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let (r, created) = self
            .store
            .get_or_create(labels)
            .ok_or(AppendError::StoreFull)?;
        if created {
            self.created += 1;
        }
        self.pending.push(Pending {
            r,
            t: t_ms,
            v,
            pinned: true,
            histogram: None,
            quiet: false,
        });
        Ok(r)
    }

    /// Buffers a sample for a series known by ref. Fails with
    /// [`AppendError::UnknownSeries`] when the series has been garbage-collected.
    pub fn append_ref(&mut self, r: SeriesRef, t_ms: i64, v: f64) -> Result<(), AppendError> {
        if !self.store.pin(r) {
            return Err(AppendError::UnknownSeries(r.0));
        }
        self.pending.push(Pending {
            r,
            t: t_ms,
            v,
            pinned: true,
            histogram: None,
            quiet: false,
        });
        Ok(())
    }

    /// Buffers a native histogram sample for the series `labels`, creating the series if it
    /// is new. At commit it follows the rules of float samples: out of order, out of bounds,
    /// or a duplicate (at the series' newest timestamp, unless it equals the histogram there)
    /// are rejected and counted.
    pub fn append_histogram(
        &mut self,
        labels: &Labels,
        t_ms: i64,
        h: FloatHistogram,
    ) -> Result<SeriesRef, AppendError> {
        let index = self.histogram_slot()?;
        let r = self.append(labels, t_ms, 0.0)?;
        self.mark_histogram(index, h);
        Ok(r)
    }

    /// Buffers a native histogram sample for a series known by ref (see
    /// [`Appender::append_ref`]).
    pub fn append_histogram_ref(
        &mut self,
        r: SeriesRef,
        t_ms: i64,
        h: FloatHistogram,
    ) -> Result<(), AppendError> {
        let index = self.histogram_slot()?;
        self.append_ref(r, t_ms, 0.0)?;
        self.mark_histogram(index, h);
        Ok(())
    }

    /// Buffers the zero sample Prometheus writes at a series' created (start) timestamp
    /// `t_ms`, before the series' first sample (`created-timestamp-zero-ingestion`): the
    /// float 0, or for a histogram series the empty histogram `zero`. At commit it is
    /// written only where it would be in order; when it is not (every scrape after the
    /// first, for a series whose created timestamp stays the same) it is dropped without
    /// being counted, as Prometheus drops it. Fails as [`Appender::append_ref`].
    pub fn append_start_zero(
        &mut self,
        r: SeriesRef,
        t_ms: i64,
        zero: Option<FloatHistogram>,
    ) -> Result<(), AppendError> {
        let index = match zero {
            Some(_) => Some(self.histogram_slot()?),
            None => None,
        };
        self.append_ref(r, t_ms, 0.0)?;
        if let Some(p) = self.pending.last_mut() {
            p.quiet = true;
        }
        if let (Some(index), Some(h)) = (index, zero) {
            self.mark_histogram(index, h);
        }
        Ok(())
    }

    /// As [`Appender::append_start_zero`] for the series `labels`, creating it if it is new.
    pub fn append_start_zero_labels(
        &mut self,
        labels: &Labels,
        t_ms: i64,
        zero: Option<FloatHistogram>,
    ) -> Result<SeriesRef, AppendError> {
        let index = match zero {
            Some(_) => Some(self.histogram_slot()?),
            None => None,
        };
        let r = self.append(labels, t_ms, 0.0)?;
        if let Some(p) = self.pending.last_mut() {
            p.quiet = true;
        }
        if let (Some(index), Some(h)) = (index, zero) {
            self.mark_histogram(index, h);
        }
        Ok(r)
    }

    /// The tag the next buffered histogram gets.
    fn histogram_slot(&self) -> Result<NonZeroU32, AppendError> {
        u32::try_from(self.histograms.len() + 1)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(AppendError::TooManyHistograms)
    }

    /// Turns the sample just buffered into the histogram sample `h`.
    fn mark_histogram(&mut self, index: NonZeroU32, h: FloatHistogram) {
        if let Some(p) = self.pending.last_mut() {
            p.histogram = Some(index);
            self.histograms.push(h);
        }
    }

    /// Series this appender created so far.
    pub fn series_created(&self) -> usize {
        self.created
    }

    /// Pins each series of `refs` once for the life of the appender, taking each shard's lock
    /// once for all of them rather than once per sample, and reports in `exists` (one entry
    /// per ref) which still exist. Samples for an existing held series can then be buffered
    /// with [`Appender::append_held`], which does not touch the store. A ref may be held more
    /// than once; every hold is released when the appender commits or rolls back.
    ///
    /// A caller that knows which series it is about to write (the scrape loop knows the
    /// series of the previous scrape) thereby pays one pin per series instead of a lock per
    /// sample, with the same guarantee: a held series is never garbage-collected before the
    /// appender ends.
    pub fn hold(&mut self, refs: &[SeriesRef], exists: &mut Vec<bool>) {
        exists.clear();
        exists.resize(refs.len(), false);
        let store: &Store = &self.store;
        let by_shard = shard_order(refs.len(), |i| refs[i].shard());
        for run in by_shard.chunk_by(|a, b| refs[*a as usize].shard() == refs[*b as usize].shard())
        {
            let mut shard = store.shard_write(refs[run[0] as usize].shard());
            for &i in run {
                let r = refs[i as usize];
                if shard.pin(r.0) {
                    exists[i as usize] = true;
                    self.held.push(r);
                }
            }
        }
        // Commit releases the holds shard by shard: keep them grouped across calls.
        if !self.held.is_sorted_by_key(|r| r.shard()) {
            self.held.sort_by_key(|r| r.shard());
        }
    }

    /// Buffers a sample for a series this appender holds (one that [`Appender::hold`]
    /// reported as existing): no lock, no check. A ref that is not held is a caller bug: its
    /// sample is still applied at commit if the series exists, but it is not protected from
    /// garbage collection meanwhile.
    pub fn append_held(&mut self, r: SeriesRef, t_ms: i64, v: f64) {
        self.pending.push(Pending {
            r,
            t: t_ms,
            v,
            pinned: false,
            histogram: None,
            quiet: false,
        });
    }

    /// Number of samples buffered so far.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes the buffered samples. Samples are applied in the order they were appended.
    pub fn commit(mut self) -> AppendStats {
        let mut stats = AppendStats {
            series_created: self.created,
            ..AppendStats::default()
        };
        let pending = std::mem::take(&mut self.pending);
        let held = std::mem::take(&mut self.held);
        let histograms = std::mem::take(&mut self.histograms);
        let store: &Store = &self.store;
        let min_valid = store.min_valid_time();
        let observer = store.observer.get();
        // The samples written, for the observer and the write-ahead log.
        let collect = observer.is_some() || store.is_durable();
        let mut written: Vec<CommittedSample> = Vec::new();
        let mut written_histograms: Vec<WrittenHistogram> = Vec::new();
        if collect {
            written.reserve(pending.len());
        }
        let mut removed: Vec<(u64, Box<[Symbol]>)> = Vec::new();
        // Visit the samples grouped by shard so each shard is locked once; the grouping is
        // stable, so samples of one series keep their order. The holds (already grouped by
        // shard) are released under the same lock, after the shard's samples.
        let by_shard = shard_order(pending.len(), |i| pending[i].r.shard());
        let mut runs = by_shard
            .chunk_by(|a, b| pending[*a as usize].r.shard() == pending[*b as usize].r.shard())
            .peekable();
        let mut holds = held.chunk_by(|a, b| a.shard() == b.shard()).peekable();
        loop {
            let next_run = runs.peek().map(|run| pending[run[0] as usize].r.shard());
            let next_hold = holds.peek().map(|h| h[0].shard());
            let si = match (next_run, next_hold) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            let mut shard = store.shard_write(si);
            if next_run == Some(si) {
                for &i in runs.next().unwrap_or(&[]) {
                    let p = pending[i as usize];
                    let outcome = if p.t < min_valid {
                        if !p.quiet {
                            stats.out_of_bounds += 1;
                        }
                        None
                    } else if let Some(i) = p.histogram {
                        let h = &histograms[i.get() as usize - 1];
                        shard.append_histogram(p.r.0, p.t, h)
                    } else {
                        // A pinned or held series always exists; `None` cannot happen.
                        shard.append(p.r.0, p.t, p.v)
                    };
                    match outcome {
                        Some(Outcome::Appended) => {
                            stats.appended += 1;
                            if collect {
                                match p.histogram {
                                    None => written.push(CommittedSample {
                                        series: p.r,
                                        t_ms: p.t,
                                        v: p.v,
                                    }),
                                    Some(i) => written_histograms.push(WrittenHistogram {
                                        after: written.len(),
                                        series: p.r,
                                        t_ms: p.t,
                                        index: i.get() as usize - 1,
                                    }),
                                }
                            }
                        }
                        Some(Outcome::OutOfOrder | Outcome::Duplicate) if p.quiet => {}
                        Some(Outcome::OutOfOrder) => stats.out_of_order += 1,
                        Some(Outcome::Duplicate) => stats.duplicates += 1,
                        Some(Outcome::Identical) | None => {}
                    }
                    if p.pinned {
                        if let Some(labels) = shard.unpin(p.r.0) {
                            removed.push((p.r.0, labels));
                        }
                    }
                }
            }
            if next_hold == Some(si) {
                for r in holds.next().unwrap_or(&[]) {
                    if let Some(labels) = shard.unpin(r.0) {
                        removed.push((r.0, labels));
                    }
                }
            }
        }
        store.unindex(&removed);
        if !written_histograms.is_empty() {
            store.log_commit(&written, &written_histograms, &histograms);
        } else if !written.is_empty() {
            store.log_samples(&written);
        }
        if let Some(o) = observer {
            if !written.is_empty() {
                o.committed(&written);
            }
            if !written_histograms.is_empty() {
                let committed: Vec<CommittedHistogram> = written_histograms
                    .iter()
                    .map(|w| CommittedHistogram {
                        series: w.series,
                        t_ms: w.t_ms,
                        h: Arc::new(histograms[w.index].clone()),
                    })
                    .collect();
                o.committed_histograms(&committed);
            }
        }
        let t = &store.totals;
        t.appended
            .fetch_add(stats.appended as u64, Ordering::Relaxed);
        t.out_of_order
            .fetch_add(stats.out_of_order as u64, Ordering::Relaxed);
        t.duplicates
            .fetch_add(stats.duplicates as u64, Ordering::Relaxed);
        t.out_of_bounds
            .fetch_add(stats.out_of_bounds as u64, Ordering::Relaxed);
        stats
    }

    /// Discards the buffered samples.
    pub fn rollback(mut self) {
        self.release();
    }

    /// Releases every pin of the buffered samples and every hold, and removes series left
    /// empty and unpinned.
    fn release(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let held = std::mem::take(&mut self.held);
        self.histograms.clear();
        if pending.is_empty() && held.is_empty() {
            return;
        }
        let store: &Store = &self.store;
        let mut removed: Vec<(u64, Box<[Symbol]>)> = Vec::new();
        let pinned = pending.iter().filter(|p| p.pinned).map(|p| p.r);
        for r in pinned.chain(held) {
            if let Some(labels) = store.shard_write(r.shard()).unpin(r.0) {
                removed.push((r.0, labels));
            }
        }
        store.unindex(&removed);
    }
}

/// The indices `0..n` ordered by shard (`shard_of(i)`), stably: a counting sort.
fn shard_order(n: usize, shard_of: impl Fn(usize) -> usize) -> Vec<u32> {
    let mut starts = [0u32; SHARDS + 1];
    for i in 0..n {
        starts[shard_of(i) + 1] += 1;
    }
    for i in 1..=SHARDS {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![0u32; n];
    for i in 0..n {
        let pos = &mut starts[shard_of(i)];
        out[*pos as usize] = i as u32;
        *pos += 1;
    }
    out
}

impl Drop for Appender<'_> {
    /// An appender dropped without commit rolls back.
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Querier;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<CommittedSample>>);

    impl AppendObserver for Collect {
        fn committed(&self, samples: &[CommittedSample]) {
            self.0.lock().expect("collected").extend_from_slice(samples);
        }
    }

    #[test]
    fn observer_sees_written_samples_only() {
        let store = Store::new();
        let seen = Arc::new(Collect::default());
        store.set_append_observer(Some(seen.clone()));
        let up = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let mut app = store.appender();
        let r = app.append(&up, 2_000, 1.0).expect("append");
        app.append_ref(r, 1_000, 1.0).expect("append"); // out of order: not written
        app.append_ref(r, 3_000, crate::store::STALE_NAN)
            .expect("append");
        assert_eq!(app.commit().appended, 2);
        let got = seen.0.lock().expect("collected").clone();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].series, got[0].t_ms, got[0].v), (r, 2_000, 1.0));
        assert!(crate::store::is_stale_nan(got[1].v));

        // A rolled-back appender and a removed observer report nothing.
        let mut app = store.appender();
        app.append_ref(r, 4_000, 1.0).expect("append");
        app.rollback();
        store.set_append_observer(None);
        let mut app = store.appender();
        app.append_ref(r, 5_000, 1.0).expect("append");
        app.commit();
        assert_eq!(seen.0.lock().expect("collected").len(), 2);
    }

    #[test]
    fn held_series_survive_gc_until_the_appender_ends() {
        let store = Store::new();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let mut app = store.appender();
        let ra = app.append(&a, 1_000, 1.0).expect("append");
        let rb = app.append(&b, 1_000, 1.0).expect("append");
        app.commit();

        let mut app = store.appender();
        let mut exists = Vec::new();
        app.hold(&[rb, ra, ra], &mut exists);
        assert_eq!(exists, [true, true, true]);
        // Retention empties both series; held, neither is removed.
        store.truncate(10_000);
        assert_eq!(store.stats().series, 2);
        app.append_held(ra, 20_000, 2.0);
        assert_eq!(app.commit().appended, 1);
        // The commit released every hold: `b`, empty, is gone; `a` has its new sample.
        assert_eq!(store.stats().series, 1);
        let got = store.select(&[], i64::MIN, i64::MAX);
        assert_eq!(
            got[0].samples,
            vec![crate::store::Sample { t: 20_000, v: 2.0 }]
        );

        // A collected ref is reported as not existing; a rollback releases the holds.
        let mut app = store.appender();
        app.hold(&[ra, rb], &mut exists);
        assert_eq!(exists, [true, false]);
        app.rollback();
        assert_eq!(store.truncate(30_000).series_removed, 1);
        assert_eq!(store.stats().series, 0);
    }

    #[test]
    fn start_zero_samples_out_of_order_are_dropped_uncounted() {
        let store = Store::new();
        let c = Labels::from_pairs([("__name__", "c_total")]);
        // First scrape: zero at the created timestamp 1000, then the value at 2000.
        let mut app = store.appender();
        let r = app.append_start_zero_labels(&c, 1_000, None).expect("zero");
        app.append_ref(r, 2_000, 5.0).expect("value");
        let stats = app.commit();
        assert_eq!((stats.appended, stats.out_of_order), (2, 0));
        // Second scrape: the zero at 1000 is behind 2000 and is dropped, not counted.
        let mut app = store.appender();
        app.append_start_zero(r, 1_000, None).expect("zero");
        app.append_ref(r, 3_000, 6.0).expect("value");
        let stats = app.commit();
        assert_eq!((stats.appended, stats.rejected()), (1, 0));
        assert_eq!(store.stats().out_of_order_total, 0);
        // Control: the same sample appended as an ordinary one is counted out of order.
        let mut app = store.appender();
        app.append_ref(r, 1_000, 0.0).expect("sample");
        assert_eq!(app.commit().out_of_order, 1);
        assert_eq!(store.stats().out_of_order_total, 1);
        let got = store.select(
            &[crate::store::Matcher::equal("__name__", "c_total")],
            0,
            10_000,
        );
        let values: Vec<(i64, f64)> = got[0].samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(values, [(1_000, 0.0), (2_000, 5.0), (3_000, 6.0)]);
    }
}
