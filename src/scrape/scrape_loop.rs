//! The per-target scrape loop: fetch, parse, relabel, append, report.
//!
//! One tokio task per target. Each scrape fetches the body (bounded by `body_size_limit`)
//! and hands it to [`ingest`], the one entry point from a body to the store: it parses the
//! body into an [`IngestSink`] that appends into a store appender, ends the parse in the
//! series cache (the scrape's order becomes the next scrape's guess), and the scrape commits
//! only when the whole body parsed and every limit held: a malformed line or an exceeded
//! limit fails the scrape as a whole, as in Prometheus. Series that disappear between scrapes,
//! and every series of a failed or removed target, get staleness markers. The synthetic
//! series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written after
//! every scrape.

use crate::exposition::{
    self, ClassicHistogram, Format, HistogramSample, LabelRef, MetricType, ParseError,
    ParseErrorKind, ParseOptions, ParseStats, Sample, SampleLabels, Sink, SinkError,
};
use crate::histogram::FloatHistogram;
use crate::relabel;
use crate::scrape::client::JobClient;
use crate::scrape::metadata_labels::{scraped_labels, SeriesMetadata};
use crate::scrape::nhcb::{self, Converted, TextCollector};
use crate::scrape::target::{Health, Target, TargetSpec, TargetStatus};
use crate::store::{
    is_stale_nan, Appender, Label, Labels, MixBuild, SeriesRef, Store, METRIC_NAME, STALE_NAN,
};
use crate::telemetry::{ScrapeFailed, ScrapeSucceeded, Telemetry};
use crate::timefmt::unix_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Why a scrape failed; the text is what `/api/v1/targets` shows as `lastError`.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed (connection, TLS, redirect, a body cut short): the error and its
    /// causes on one line, as Prometheus shows them.
    #[error("{}", crate::httpclient::error_chain(.0))]
    Fetch(#[source] reqwest::Error),
    /// A credential file (`password_file`, `credentials_file`, …) could not be read.
    #[error("reading credentials: {0}")]
    Credentials(#[source] std::io::Error),
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The uncompressed body reached `body_size_limit` (the limit in bytes); the text is
    /// Prometheus' own.
    #[error("body size limit exceeded")]
    BodyTooLarge(u64),
    #[error("parse error: {0}")]
    Parse(String),
    /// The response's `Content-Type` names no format redline reads and the job has no
    /// `fallback_scrape_protocol`; the text is Prometheus 3's.
    #[error("{0}")]
    ContentType(String),
    #[error("context deadline exceeded: scrape timeout of {0:?} reached")]
    Timeout(Duration),
}

/// What the scrape cache knows about one exposed series text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolved {
    /// Appended under this ref.
    Series(SeriesRef),
    /// Dropped by metric relabeling.
    Dropped,
}

/// One exposed series text the cache remembers.
struct CacheSlot {
    /// The exposed text (`Sample::series`).
    key: Box<str>,
    /// The hash it is indexed under in `SeriesCache::by_hash`.
    hash: u64,
    resolved: Resolved,
    /// The iteration of the last scrape exposing it (0: not exposed; [`SEEN_NEVER_STALE`]
    /// for series exposed with explicit timestamps).
    seen: u64,
    /// Where the series stood in the order of the scrape that last exposed it: a hint that
    /// lets the positional check pick up again after an insertion or removal.
    pos: u32,
    /// The next slot whose key has the same hash ([`NO_SLOT`] ends the chain).
    next: u32,
    /// The scrape (`SeriesCache::scrape`) whose appender holds this series for its next
    /// sample; any other value: not held, append by ref (which pins).
    held: u32,
}

/// "No slot" in the hash chains and positions.
const NO_SLOT: u32 = u32::MAX;

/// The result of looking a series text up in the cache.
enum Lookup {
    Hit(u32),
    /// Not cached; carries the text's hash for the insert.
    Miss(u64),
}

/// Per-target memory between scrapes: series refs by exposed text, for speed and staleness.
/// Series exposed with explicit timestamps are kept out of staleness handling, as upstream.
///
/// A target exposes its series in the same order scrape after scrape, so the cache keeps
/// the order of the last scrape and first checks whether sample `i` is the series the last
/// scrape had next: one comparison of the text (which the parser just read, so it is in
/// cache) and no hashing. Only when that fails (a series appeared or vanished, or the target
/// reordered) is the text hashed with xxh3 and looked up in the hash index, and the position
/// picks up again after the series found there. Slots live in a slab addressed by `u32`;
/// the index maps a text's 64-bit hash to the first slot with that hash, and slots with the
/// same hash (a collision: two texts, one hash) are chained, always told apart by their text.
pub struct SeriesCache {
    slots: Vec<Option<CacheSlot>>,
    free: Vec<u32>,
    /// xxh3 of the text → first slot of the chain of texts with that hash.
    by_hash: HashMap<u64, u32, MixBuild>,
    /// The slots in the order the last scrape exposed them.
    order: Vec<u32>,
    /// The order of the scrape in progress.
    next_order: Vec<u32>,
    /// The position in `order` the next sample is expected at.
    cursor: usize,
    /// The iteration of the last successful scrape (starts at 1; 0 marks "not exposed").
    iteration: u64,
    /// Counts scrapes, successful or not, to mark slots held (never 0).
    scrape: u32,
    /// Buffers for holding the expected series, kept between scrapes.
    hold_refs: Vec<SeriesRef>,
    hold_slots: Vec<u32>,
    hold_exists: Vec<bool>,
    /// Samples found where the last scrape's order expected them, since the cache was made.
    positional_hits: u64,
}

impl Default for SeriesCache {
    fn default() -> Self {
        SeriesCache {
            slots: Vec::new(),
            free: Vec::new(),
            by_hash: HashMap::default(),
            order: Vec::new(),
            next_order: Vec::new(),
            cursor: 0,
            iteration: 1,
            scrape: 0,
            hold_refs: Vec::new(),
            hold_slots: Vec::new(),
            hold_exists: Vec::new(),
            positional_hits: 0,
        }
    }
}

/// `seen` value of series that take no part in staleness (explicit timestamps).
const SEEN_NEVER_STALE: u64 = u64::MAX;

fn text_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

impl SeriesCache {
    fn live(&self) -> impl Iterator<Item = &CacheSlot> {
        self.slots.iter().flatten()
    }

    /// Number of series texts cached.
    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Samples found where the last scrape's order expected them (one comparison, no hash),
    /// counted over the cache's life.
    pub fn positional_hits(&self) -> u64 {
        self.positional_hits
    }

    /// Readies the cache for a scrape: the positional check starts at the first series, and
    /// `app` holds every series the last scrape appended (one lock per shard), so their
    /// samples are buffered without a lock each. Series collected since are not held; their
    /// samples go through `append_ref`, which fails and has them resolved again.
    fn begin(&mut self, app: &mut Appender<'_>) {
        self.cursor = 0;
        self.next_order.clear();
        self.scrape = self.scrape.wrapping_add(1).max(1);
        self.hold_refs.clear();
        self.hold_slots.clear();
        for &i in &self.order {
            if let Some(Some(slot)) = self.slots.get(i as usize) {
                if let Resolved::Series(r) = slot.resolved {
                    self.hold_refs.push(r);
                    self.hold_slots.push(i);
                }
            }
        }
        app.hold(&self.hold_refs, &mut self.hold_exists);
        for (&i, &exists) in self.hold_slots.iter().zip(&self.hold_exists) {
            if let (true, Some(Some(slot))) = (exists, self.slots.get_mut(i as usize)) {
                slot.held = self.scrape;
            }
        }
    }

    /// Ends a scrape (successful or not): its order becomes the hint for the next one, and
    /// holds its samples did not use are forgotten (the appender releases them all).
    fn end(&mut self) {
        for &i in &self.hold_slots {
            if let Some(Some(slot)) = self.slots.get_mut(i as usize) {
                slot.held = 0;
            }
        }
        std::mem::swap(&mut self.order, &mut self.next_order);
        self.next_order.clear();
    }

    /// Finds the slot of `text`: first where the last scrape's order expects it, then by
    /// hash.
    fn lookup(&mut self, text: &str) -> Lookup {
        let pos = self.cursor;
        if let Some(&i) = self.order.get(pos) {
            if let Some(Some(slot)) = self.slots.get(i as usize) {
                if *slot.key == *text {
                    self.cursor = pos + 1;
                    self.positional_hits += 1;
                    return Lookup::Hit(i);
                }
            }
        }
        self.find_hashed(text, text_hash(text))
    }

    /// Finds the slot of `text` (whose hash is `h`) in the hash index.
    fn find_hashed(&mut self, text: &str, h: u64) -> Lookup {
        let mut i = match self.by_hash.get(&h) {
            Some(&i) => i,
            None => return Lookup::Miss(h),
        };
        while let Some(Some(slot)) = self.slots.get(i as usize) {
            if *slot.key == *text {
                if slot.pos != NO_SLOT {
                    self.cursor = slot.pos as usize + 1;
                }
                return Lookup::Hit(i);
            }
            i = slot.next;
        }
        Lookup::Miss(h)
    }

    /// Marks slot `i` exposed by the scrape in progress (iteration `iteration`) at the next
    /// position of its order; returns what the slot held and whether the scrape's appender
    /// holds its series for this sample (a hold serves one sample: a series exposed twice in
    /// a scrape appends its second sample by ref).
    fn expose(&mut self, i: u32, iteration: u64) -> Option<(Resolved, bool)> {
        let pos = self.next_order.len() as u32;
        let scrape = self.scrape;
        let slot = self.slots.get_mut(i as usize)?.as_mut()?;
        let held = slot.held == scrape;
        slot.held = 0;
        let old = (slot.resolved, held);
        if slot.seen != SEEN_NEVER_STALE {
            slot.seen = iteration;
        }
        slot.pos = pos;
        self.next_order.push(i);
        Some(old)
    }

    /// Sets what slot `i` holds.
    fn set(&mut self, i: u32, resolved: Resolved, seen: u64) {
        if let Some(Some(slot)) = self.slots.get_mut(i as usize) {
            slot.resolved = resolved;
            slot.seen = seen;
        }
    }

    /// Caches a new text (`h` is its hash) exposed at the next position of the scrape in
    /// progress.
    fn insert(&mut self, text: &str, h: u64, resolved: Resolved, seen: u64) {
        let next = self.by_hash.get(&h).copied().unwrap_or(NO_SLOT);
        let slot = CacheSlot {
            key: text.into(),
            hash: h,
            resolved,
            seen,
            pos: self.next_order.len() as u32,
            next,
            held: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_hash.insert(h, i);
        self.next_order.push(i);
    }

    /// Forgets slot `i`, unlinking it from its hash chain.
    fn remove(&mut self, i: u32) {
        let Some(slot) = self.slots.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        self.free.push(i);
        let h = slot.hash;
        match self.by_hash.get(&h).copied() {
            Some(first) if first == i => {
                if slot.next == NO_SLOT {
                    self.by_hash.remove(&h);
                } else {
                    self.by_hash.insert(h, slot.next);
                }
            }
            Some(first) => {
                let mut j = first;
                while let Some(Some(s)) = self.slots.get_mut(j as usize) {
                    if s.next == i {
                        s.next = slot.next;
                        break;
                    }
                    j = s.next;
                }
            }
            None => {}
        }
    }

    /// After a failed scrape: the refs that were exposed (by the last successful scrape or
    /// by the aborted one), which all go stale now. They count as not exposed from here on.
    fn fail(&mut self) -> Vec<SeriesRef> {
        let last = self.iteration;
        let aborted = last.wrapping_add(1);
        let mut out = Vec::new();
        for slot in self.slots.iter_mut().flatten() {
            match slot.resolved {
                Resolved::Series(r) if slot.seen == last || slot.seen == aborted => {
                    out.push(r);
                    slot.seen = 0;
                }
                Resolved::Dropped if slot.seen == aborted => slot.seen = 0,
                _ => {}
            }
        }
        out
    }

    /// Refs that the previous successful scrape exposed and the current one did not.
    fn vanished(&self) -> Vec<SeriesRef> {
        let prev = self.iteration.wrapping_sub(1);
        self.live()
            .filter_map(|s| match s.resolved {
                Resolved::Series(r) if s.seen == prev => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Every ref cached as exposed with explicit timestamps (no staleness for those).
    fn never_stale(&self) -> Vec<SeriesRef> {
        self.live()
            .filter_map(|s| match s.resolved {
                Resolved::Series(r) if s.seen == SEEN_NEVER_STALE => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Every ref the last successful scrape exposed.
    fn last_exposed(&self) -> Vec<SeriesRef> {
        let last = self.iteration;
        self.live()
            .filter_map(|s| match s.resolved {
                Resolved::Series(r) if s.seen == last => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Forgets entries not seen for a while so the cache tracks the target's current series.
    fn prune(&mut self) {
        let keep_after = self.iteration.saturating_sub(10);
        let old: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let seen = s.as_ref()?.seen;
                (seen < keep_after && seen != SEEN_NEVER_STALE).then_some(i as u32)
            })
            .collect();
        for i in old {
            self.remove(i);
        }
    }
}

/// The counts a successful parse produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestCounts {
    pub scraped: u64,
    pub post_relabel: u64,
}

/// The parser's sink during a scrape: resolves each exposed series through the cache
/// (building labels, merging target labels and applying `metric_relabel_configs` only on a
/// miss) and appends into the scrape's appender. Only [`ingest_with`] makes one and ends it,
/// so no parse can skip the cache's end of scrape.
pub struct IngestSink<'a, 'c> {
    spec: &'a TargetSpec,
    cache: &'c mut SeriesCache,
    app: Appender<'a>,
    default_t: i64,
    iteration: u64,
    counts: IngestCounts,
    /// `convert_classic_histograms_to_nhcb` in the text formats.
    nhcb: Option<TextCollector>,
    /// A failure while ingesting a converted histogram at a metadata line, which cannot
    /// fail the parse there: it fails it at the next sample or at the end.
    deferred: Option<SinkError>,
}

impl<'a, 'c> IngestSink<'a, 'c> {
    fn new(
        spec: &'a TargetSpec,
        cache: &'c mut SeriesCache,
        app: Appender<'a>,
        default_t: i64,
    ) -> Self {
        let iteration = cache.iteration.wrapping_add(1);
        let mut app = app;
        cache.begin(&mut app);
        IngestSink {
            spec,
            cache,
            app,
            default_t,
            iteration,
            counts: IngestCounts::default(),
            nhcb: None,
            deferred: None,
        }
    }

    fn resolve(
        &self,
        name: &str,
        labels: SampleLabels<'_>,
        metadata: SeriesMetadata<'_>,
    ) -> Result<Option<Labels>, SinkError> {
        let metadata = self.spec.type_and_unit_labels.then_some(metadata);
        let scraped = scraped_labels(name, labels, metadata, self.spec.labels.len());
        let merged = merge_target_labels(&scraped, &self.spec.labels, self.spec.honor_labels);
        let Some(out) = relabel::process(&merged, &self.spec.metric_relabel_configs) else {
            return Ok(None);
        };
        check_names(&out, self.spec.name_validation)?;
        check_label_limits(&out, &self.spec.limits)?;
        Ok(Some(out))
    }
}

impl<'a> IngestSink<'a, '_> {
    /// Ends the parse: the appender to commit (or roll back) and the counts. The order in
    /// which this scrape exposed its series becomes the cache's guess for the next one.
    fn finish(self) -> (Appender<'a>, IngestCounts) {
        self.cache.end();
        (self.app, self.counts)
    }
}

/// A scraped value: a float sample or a native histogram.
enum Value {
    Float(f64),
    Histogram(FloatHistogram),
}

impl Value {
    /// The zero sample written at the series' created timestamp before this value: 0, or an
    /// empty histogram like this one ([`nhcb::start_zero`]).
    fn start_zero(&self) -> Option<FloatHistogram> {
        match self {
            Value::Float(_) => None,
            Value::Histogram(h) => Some(nhcb::start_zero(h)),
        }
    }
}

impl IngestSink<'_, '_> {
    /// Appends one exposed series' value: by the cached ref when the cache knows the
    /// series text, else by labels (built, merged with the target's and relabeled only
    /// here), caching the outcome; then counts it against `sample_limit`.
    ///
    /// With `created-timestamp-zero-ingestion`, a value whose series has a created timestamp
    /// before the value's timestamp is preceded by a zero sample at the created timestamp
    /// ([`Appender::append_start_zero`]), as Prometheus' scrape loop appends it.
    fn ingest_value(
        &mut self,
        name: &str,
        series: &str,
        labels: SampleLabels<'_>,
        metadata: SeriesMetadata<'_>,
        stamps: Stamps,
        value: Value,
    ) -> Result<(), SinkError> {
        let Stamps {
            timestamp_ms,
            created_ms,
        } = stamps;
        self.counts.scraped += 1;
        let t = match timestamp_ms {
            Some(ts) if self.spec.honor_timestamps => ts,
            _ => self.default_t,
        };
        let zero_at = created_ms.filter(|&c| self.spec.created_timestamp_zero_ingestion && c < t);
        let iteration = self.iteration;
        let (slot, hash) = match self.cache.lookup(series) {
            Lookup::Hit(i) => (Some(i), 0),
            Lookup::Miss(h) => (None, h),
        };
        let cached = slot.and_then(|i| self.cache.expose(i, iteration));
        if let (Some(ct), Some((Resolved::Series(r), _))) = (zero_at, cached) {
            // A series collected since it was cached fails here and below, and is resolved
            // again with its zero sample.
            let _ = self.app.append_start_zero(r, ct, value.start_zero());
        }
        let r = match (cached, &value) {
            (Some((Resolved::Dropped, _)), _) => return Ok(()),
            (Some((Resolved::Series(r), true)), Value::Float(v)) => {
                self.app.append_held(r, t, *v);
                Some(r)
            }
            (Some((Resolved::Series(r), false)), Value::Float(v)) => {
                match self.app.append_ref(r, t, *v) {
                    Ok(()) => Some(r),
                    Err(_) => None, // the series was garbage-collected: resolve it again
                }
            }
            (Some((Resolved::Series(r), _)), Value::Histogram(h)) => {
                match self.app.append_histogram_ref(r, t, h.clone()) {
                    Ok(()) => Some(r),
                    Err(_) => None,
                }
            }
            (None, _) => None,
        };
        if r.is_none() {
            let resolved = match self.resolve(name, labels, metadata)? {
                None => (Resolved::Dropped, iteration),
                Some(labels) => {
                    let r = match zero_at {
                        Some(ct) => {
                            let zero = value.start_zero();
                            self.app
                                .append_start_zero_labels(&labels, ct, zero)
                                .and_then(|r| match value {
                                    Value::Float(v) => self.app.append_ref(r, t, v).map(|_| r),
                                    Value::Histogram(h) => {
                                        self.app.append_histogram_ref(r, t, h).map(|_| r)
                                    }
                                })
                        }
                        None => match value {
                            Value::Float(v) => self.app.append(&labels, t, v),
                            Value::Histogram(h) => self.app.append_histogram(&labels, t, h),
                        },
                    }
                    .map_err(|e| SinkError(e.to_string()))?;
                    // Series with explicit timestamps do not take part in staleness,
                    // unless `track_timestamps_staleness` asks for it.
                    let seen = if timestamp_ms.is_some()
                        && self.spec.honor_timestamps
                        && !self.spec.track_timestamps_staleness
                    {
                        SEEN_NEVER_STALE
                    } else {
                        iteration
                    };
                    (Resolved::Series(r), seen)
                }
            };
            match slot {
                Some(i) => self.cache.set(i, resolved.0, resolved.1),
                None => self.cache.insert(series, hash, resolved.0, resolved.1),
            }
            if resolved.0 == Resolved::Dropped {
                return Ok(());
            }
        }
        self.counts.post_relabel += 1;
        let limit = self.spec.limits.sample_limit;
        if limit > 0 && self.counts.post_relabel > limit {
            return Err(SinkError(format!(
                "sample limit exceeded: more than {limit} samples"
            )));
        }
        Ok(())
    }
}

/// A sample's own timestamp and its series' created timestamp, as the exposition gave them.
struct Stamps {
    timestamp_ms: Option<i64>,
    created_ms: Option<i64>,
}

impl IngestSink<'_, '_> {
    /// A histogram converted from classic series of the text formats.
    fn ingest_converted(&mut self, c: Converted) -> Result<(), SinkError> {
        nhcb::check_bucket_limit(&c.histogram, self.spec.histograms.bucket_limit)
            .map_err(|e| SinkError(e.to_string()))?;
        let labels: Vec<LabelRef<'_>> = c
            .labels
            .iter()
            .map(|(n, v)| LabelRef {
                name: n,
                value: std::borrow::Cow::Borrowed(v),
            })
            .collect();
        self.ingest_value(
            &c.name,
            &c.series,
            SampleLabels::decoded(&labels),
            SeriesMetadata {
                metric_type: MetricType::Histogram,
                unit: &c.unit,
            },
            Stamps {
                timestamp_ms: c.timestamp_ms,
                created_ms: c.created_timestamp_ms,
            },
            Value::Histogram(c.histogram),
        )
    }

    /// Ends the body: the histogram the text formats' conversion still collects.
    fn end_of_body(&mut self) -> Result<(), ParseError> {
        let sink_error = |e: SinkError| ParseError {
            line: 0,
            column: 0,
            message: e.0,
            kind: ParseErrorKind::Sink,
        };
        if let Some(e) = self.deferred.take() {
            return Err(sink_error(e));
        }
        if let Some(c) = self.nhcb.as_mut().and_then(TextCollector::end) {
            self.ingest_converted(c).map_err(sink_error)?;
        }
        Ok(())
    }
}

impl Sink for IngestSink<'_, '_> {
    fn metadata(
        &mut self,
        _family: &str,
        _kind: MetricType,
        _help: Option<&str>,
        _unit: Option<&str>,
    ) {
        if let Some(c) = self.nhcb.as_mut().and_then(TextCollector::end) {
            if let Err(e) = self.ingest_converted(c) {
                self.deferred.get_or_insert(e);
            }
        }
    }

    fn sample(&mut self, sample: &Sample<'_>) -> Result<(), SinkError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if self.nhcb.is_some() {
            if let Some(c) = self.nhcb.as_mut().and_then(|n| n.before(sample)) {
                self.ingest_converted(c)?;
            }
            if !self.nhcb.as_mut().is_none_or(|n| n.take(sample)) {
                return Ok(());
            }
        }
        self.ingest_value(
            sample.name,
            sample.series,
            sample.labels,
            SeriesMetadata {
                metric_type: sample.metric_type,
                unit: sample.unit,
            },
            Stamps {
                timestamp_ms: sample.timestamp_ms,
                created_ms: sample.created_timestamp_ms,
            },
            Value::Float(sample.value),
        )
    }

    /// A classic histogram of a protobuf body (`convert_classic_histograms_to_nhcb`):
    /// converted ([`nhcb::from_protobuf`]; a histogram that does not convert fails the
    /// scrape) and appended as a histogram sample under the family name.
    fn classic_histogram(&mut self, c: &ClassicHistogram<'_>) -> Result<(), SinkError> {
        let h = nhcb::from_protobuf(c)
            .and_then(|h| {
                nhcb::check_bucket_limit(&h, self.spec.histograms.bucket_limit)?;
                Ok(h)
            })
            .map_err(|e| SinkError(e.to_string()))?;
        self.ingest_value(
            c.name,
            c.series,
            c.labels,
            SeriesMetadata {
                metric_type: c.metric_type,
                unit: c.unit,
            },
            Stamps {
                timestamp_ms: c.timestamp_ms,
                created_ms: c.created_timestamp_ms,
            },
            Value::Histogram(h),
        )
    }

    /// A native histogram (protobuf scrapes with `scrape_native_histograms`): converted
    /// under the job's limits ([`super::histogram`]) and appended as a histogram sample.
    /// It counts as one sample for `sample_limit`, as in Prometheus.
    fn histogram(&mut self, h: &HistogramSample<'_>) -> Result<(), SinkError> {
        let fh = super::histogram::to_float_histogram(h.histogram, h.series, &self.spec.histograms)
            .map_err(|e| SinkError(e.to_string()))?;
        self.ingest_value(
            h.name,
            h.series,
            h.labels,
            SeriesMetadata {
                metric_type: h.metric_type,
                unit: h.unit,
            },
            Stamps {
                timestamp_ms: h.timestamp_ms,
                created_ms: h.created_timestamp_ms,
            },
            Value::Histogram(fh),
        )
    }
}

/// Merges target labels into a scraped label set. Without `honor_labels`, a scraped label
/// that collides with a target label is kept as `exported_<name>` (repeatedly prefixed
/// until free) and the target's value wins; with it, the scraped value wins.
pub fn merge_target_labels(scraped: &Labels, target: &Labels, honor_labels: bool) -> Labels {
    if target.is_empty() {
        return scraped.clone();
    }
    let mut out: Vec<Label> = scraped.iter().cloned().collect();
    for tl in target {
        match scraped.get(&tl.name) {
            None => out.push(tl.clone()),
            Some(_) if honor_labels => {}
            Some(sv) => {
                let mut name = format!("exported_{}", tl.name);
                while scraped.get(&name).is_some() || target.get(&name).is_some() {
                    name = format!("exported_{name}");
                }
                out.retain(|l| l.name != tl.name);
                out.push(Label::new(name, sv));
                out.push(tl.clone());
            }
        }
    }
    Labels::from_vec(out)
}

/// Prometheus' checks of a series after metric relabeling, with its messages: a metric
/// name must be left, and every name must be valid under `metric_name_validation_scheme`.
fn check_names(labels: &Labels, names: relabel::NameValidation) -> Result<(), SinkError> {
    if labels.metric_name().is_none() {
        return Err(SinkError(format!(
            "missing metric name ({METRIC_NAME} label)"
        )));
    }
    if !names.labels_valid(labels) {
        return Err(SinkError(format!(
            "invalid metric name or label names: {}",
            labels_string(labels)
        )));
    }
    Ok(())
}

/// A label set as Prometheus 3 prints it (`labels.Labels.String`):
/// `{__name__="a.b", "c.d"="x", job="y"}`, names quoted when they are not legacy names,
/// names and values quoted as Go's `strconv.Quote`.
fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if relabel::is_legacy_label_name(&l.name) {
            out.push_str(&l.name);
        } else {
            out.push_str(&crate::gostrconv::quote(&l.name));
        }
        out.push('=');
        out.push_str(&crate::gostrconv::quote(&l.value));
    }
    out.push('}');
    out
}

fn check_label_limits(
    labels: &Labels,
    limits: &crate::scrape::target::ScrapeLimits,
) -> Result<(), SinkError> {
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(SinkError(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            labels.metric_name().unwrap_or(""),
            labels.len(),
            limits.label_limit
        )));
    }
    for l in labels {
        if limits.label_name_length_limit > 0
            && l.name.len() as u64 > limits.label_name_length_limit
        {
            return Err(SinkError(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                labels.metric_name().unwrap_or(""),
                l.name,
                l.name.len(),
                limits.label_name_length_limit
            )));
        }
        if limits.label_value_length_limit > 0
            && l.value.len() as u64 > limits.label_value_length_limit
        {
            return Err(SinkError(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value length: {}, limit: {})",
                labels.metric_name().unwrap_or(""),
                l.name,
                l.value.len(),
                limits.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// The offset within the interval at which a target is scraped: stable per target, so
/// targets spread over the interval and a restart keeps each target's phase.
pub fn scrape_offset(labels: &Labels, url: &str, interval: Duration) -> Duration {
    let iv = interval.as_millis().max(1) as u64;
    let h = labels.fingerprint() ^ xxhash_rust::xxh3::xxh3_64(url.as_bytes());
    let now = unix_ms(SystemTime::now()) as u64;
    let offset = (h % iv + iv - now % iv) % iv;
    Duration::from_millis(offset)
}

/// One target's scrape loop.
pub struct ScrapeLoop {
    target: Arc<Target>,
    client: JobClient,
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    cache: SeriesCache,
    report_refs: HashMap<&'static str, SeriesRef>,
    last_body_size: usize,
    /// Series a predecessor loop exposed, when its cache could not be reused (see
    /// [`LoopCarry`]): those the first scrape does not expose again get staleness markers.
    inherited: Option<Vec<SeriesRef>>,
}

/// How a running loop is told to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopControl {
    /// Keep scraping.
    Run,
    /// Stop and write staleness markers for everything the target exposed.
    Stop,
    /// Stop without staleness markers and hand the loop's memory to a successor scraping
    /// the same target (a reload that changed the job's config).
    HandOver,
}

/// What a loop hands to its successor on a reload: the series cache, so series the target
/// keeps exposing continue without a gap and those it stops exposing go stale.
pub struct LoopCarry {
    cache: SeriesCache,
    inherited: Option<Vec<SeriesRef>>,
    report_refs: HashMap<&'static str, SeriesRef>,
    last_body_size: usize,
}

/// How far back a loop with no predecessor looks for its target's series left live in the
/// store: Prometheus' default lookback, past which a series without samples is absent from
/// queries anyway.
const RESTORED_LOOKBACK: Duration = Duration::from_secs(300);

/// Names of the synthetic series written after every scrape.
const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl ScrapeLoop {
    pub fn new(
        target: Arc<Target>,
        client: JobClient,
        store: Arc<Store>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        ScrapeLoop {
            target,
            client,
            store,
            telemetry,
            cache: SeriesCache::default(),
            report_refs: HashMap::new(),
            last_body_size: 0,
            inherited: None,
        }
    }

    /// Takes over a predecessor's memory. With `reuse_cache` (the series identity did not
    /// change: same metric relabeling, honor settings and label limits) the cache continues
    /// as is; otherwise the cache starts empty and the series the predecessor exposed that
    /// the first scrape does not expose get staleness markers.
    pub fn adopt(&mut self, carry: LoopCarry, reuse_cache: bool) {
        self.report_refs = carry.report_refs;
        self.last_body_size = carry.last_body_size;
        if reuse_cache {
            self.cache = carry.cache;
            self.inherited = carry.inherited;
        } else {
            let mut refs = carry.cache.last_exposed();
            refs.extend(carry.inherited.unwrap_or_default());
            self.inherited = Some(refs);
        }
    }

    /// Scrapes on the target's interval until `stop` leaves [`LoopControl::Run`]. On
    /// [`LoopControl::Stop`] it writes staleness markers for everything the target exposed
    /// and returns `None`; on [`LoopControl::HandOver`] it returns its memory for the loop
    /// that replaces it.
    pub async fn run(mut self, mut stop: watch::Receiver<LoopControl>) -> Option<LoopCarry> {
        let spec = self.target.spec.clone();
        let offset = scrape_offset(&spec.labels, &spec.url, spec.interval);
        // The control value now; a dropped sender counts as `Stop`.
        let control = |stop: &watch::Receiver<LoopControl>, alive: bool| {
            if alive {
                *stop.borrow()
            } else {
                LoopControl::Stop
            }
        };
        let mut now = *stop.borrow_and_update();
        if now == LoopControl::Run {
            tokio::select! {
                _ = tokio::time::sleep(offset) => {}
                changed = stop.changed() => now = control(&stop, changed.is_ok()),
            }
        }
        self.inherit_from_store();
        let mut ticker = tokio::time::interval(spec.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while now == LoopControl::Run {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = stop.changed() => {
                    now = control(&stop, changed.is_ok());
                    continue;
                }
            }
            let outcome = self.scrape_once().await;
            self.settle_inherited(outcome.is_ok());
            now = *stop.borrow();
        }
        if now == LoopControl::HandOver {
            return Some(LoopCarry {
                cache: self.cache,
                inherited: self.inherited,
                report_refs: self.report_refs,
                last_body_size: self.last_body_size,
            });
        }
        self.mark_all_stale(unix_ms(SystemTime::now()));
        None
    }

    /// A loop with no predecessor (the first after a start, or a new target) takes the
    /// target's series the store still holds as live, ended by no staleness marker within
    /// the last [`RESTORED_LOOKBACK`]: after a restart without a clean stop (which would have
    /// written the markers) they are what the last scrape before it exposed, and the ones
    /// the first scrape does not expose again get their staleness markers, as they would
    /// have without the restart. Recording rules' series (names with a colon, which
    /// Prometheus reserves for them) often keep the target's labels too; they are the rules',
    /// not the target's, and stay as they are.
    fn inherit_from_store(&mut self) {
        if self.inherited.is_some() || self.cache.len() > 0 {
            return;
        }
        let mut matchers: Vec<crate::store::Matcher> = self
            .target
            .spec
            .labels
            .iter()
            .map(|l| crate::store::Matcher::equal(&*l.name, &*l.value))
            .collect();
        if matchers.is_empty() {
            return;
        }
        if let Ok(m) = crate::store::Matcher::new(
            crate::store::MatchOp::NotRegex,
            crate::store::METRIC_NAME,
            ".*:.*",
        ) {
            matchers.push(m);
        }
        let now = unix_ms(SystemTime::now());
        let lookback = RESTORED_LOOKBACK.as_millis() as i64;
        let refs = self.store.unfinished_series(&matchers, now - lookback, now);
        if !refs.is_empty() {
            self.inherited = Some(refs);
        }
    }

    /// After the first scrape following a hand-over with a fresh cache (or a start on a
    /// restored store): staleness markers for the predecessor's series this scrape did not
    /// expose (all of them if it failed).
    fn settle_inherited(&mut self, scraped: bool) {
        let Some(inherited) = self.inherited.take() else {
            return;
        };
        let exposed: std::collections::HashSet<SeriesRef> = if scraped {
            let mut e = self.cache.last_exposed();
            e.extend(self.cache.never_stale());
            // The scrape's own series (`up`, `scrape_*`) were just written too.
            e.extend(self.report_refs.values().copied());
            e.into_iter().collect()
        } else {
            Default::default()
        };
        let gone: Vec<SeriesRef> = inherited
            .into_iter()
            .filter(|r| !exposed.contains(r))
            .collect();
        self.append_stale(&gone, unix_ms(SystemTime::now()));
    }

    /// Runs one scrape now and records its outcome.
    pub async fn scrape_once(&mut self) -> Result<(), ScrapeError> {
        let spec = self.target.spec.clone();
        let started_wall = SystemTime::now();
        let started = Instant::now();
        let t = unix_ms(started_wall);
        let fetched = tokio::time::timeout(
            spec.timeout,
            self.client.fetch(
                &spec.url,
                spec.timeout,
                spec.limits.body_size_bytes,
                self.last_body_size,
            ),
        )
        .await
        .unwrap_or(Err(ScrapeError::Timeout(spec.timeout)));
        let store = self.store.clone();
        let outcome = fetched.and_then(|(body, content_type)| {
            self.last_body_size = body.len();
            let format = self.client.format(&content_type)?;
            ingest(&store, &mut self.cache, &spec, &body, format, t)
        });
        let duration = started.elapsed();
        // The scrape's samples, its staleness markers and its report series are one commit,
        // as in Prometheus: a reader that sees the scrape's data also sees its `up`.
        let (mut app, result, counts) = match outcome {
            Ok((app, counts)) => (app, Ok(()), counts),
            Err(e) => {
                // Everything the target exposed is now stale.
                let mut app = store.appender();
                append_stale_into(&mut app, &self.cache.fail(), t);
                (app, Err(e), IngestCounts::default())
            }
        };
        let (health, error) = match &result {
            Ok(()) => (Health::Up, String::new()),
            Err(e) => (Health::Down, e.to_string()),
        };
        let added = app.series_created() as u64;
        let values = [
            if result.is_ok() { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            counts.scraped as f64,
            counts.post_relabel as f64,
            added as f64,
        ];
        append_report_into(&mut app, &mut self.report_refs, &spec, t, &values);
        app.commit();
        let secs = duration.as_secs_f64();
        match &result {
            Ok(_) => ScrapeSucceeded {
                job: &spec.job,
                duration_seconds: secs,
            }
            .emit(&self.telemetry),
            Err(_) => ScrapeFailed {
                job: &spec.job,
                target: &spec.url,
                error: &error,
                duration_seconds: secs,
            }
            .emit(&self.telemetry),
        }
        self.target.set_status(TargetStatus {
            health,
            last_error: error,
            last_scrape: Some(started_wall),
            last_scrape_duration: duration,
            last_samples: counts.scraped,
        });
        result
    }

    fn append_stale(&self, refs: &[SeriesRef], t: i64) {
        if refs.is_empty() {
            return;
        }
        let mut app = self.store.appender();
        append_stale_into(&mut app, refs, t);
        app.commit();
    }

    /// Staleness markers for every series of the target, its synthetic series included:
    /// called when the target goes away.
    fn mark_all_stale(&mut self, t: i64) {
        let mut refs = self.cache.last_exposed();
        refs.extend(self.inherited.take().unwrap_or_default());
        self.append_stale(&refs, t);
        let spec = self.target.spec.clone();
        if !self.report_refs.is_empty() {
            let mut app = self.store.appender();
            append_report_into(&mut app, &mut self.report_refs, &spec, t, &[STALE_NAN; 5]);
            app.commit();
        }
        debug_assert!(is_stale_nan(STALE_NAN));
    }
}

/// Parses `body` into an appender, with staleness markers for the series the last scrape
/// exposed and this one did not; all or nothing. The caller commits. This is what a scrape
/// does with the body it fetched, and every other way into the store from an exposition
/// body (`redline debug load`, tests, benchmarks) goes through it or [`ingest_with`].
pub fn ingest<'s>(
    store: &'s Store,
    cache: &mut SeriesCache,
    spec: &'s TargetSpec,
    body: &[u8],
    format: Format,
    t: i64,
) -> Result<(Appender<'s>, IngestCounts), ScrapeError> {
    let convert = spec.histograms.convert_classic_histograms_to_nhcb;
    let keep_classic = spec.histograms.always_scrape_classic_histograms;
    let options = ParseOptions {
        native_histograms: spec.histograms.scrape_native_histograms,
        keep_classic_histograms: keep_classic,
        classic_histograms: convert,
        created_timestamps: spec.created_timestamp_zero_ingestion,
        ..ParseOptions::default()
    };
    ingest_with(store, cache, spec, t, |sink| {
        if convert && format != Format::Protobuf {
            sink.nhcb = Some(TextCollector::new(keep_classic));
        }
        let stats = exposition::parse(body, format, &options, sink)?;
        sink.end_of_body()?;
        Ok(stats)
    })
}

/// As [`ingest`], with the parse done by `parse`, which hands the samples to the scrape's
/// sink (a test's sink that wraps it, for instance). Whatever `parse` returns, the parse
/// ends in the series cache before the appender is committed or rolled back.
pub fn ingest_with<'s>(
    store: &'s Store,
    cache: &mut SeriesCache,
    spec: &'s TargetSpec,
    t: i64,
    parse: impl FnOnce(&mut IngestSink<'s, '_>) -> Result<ParseStats, ParseError>,
) -> Result<(Appender<'s>, IngestCounts), ScrapeError> {
    let mut sink = IngestSink::new(spec, cache, store.appender(), t);
    let parsed = parse(&mut sink);
    let iteration = sink.iteration;
    let (mut app, counts) = sink.finish();
    if let Err(e) = parsed {
        app.rollback();
        return Err(ScrapeError::Parse(e.to_string()));
    }
    cache.iteration = iteration;
    append_stale_into(&mut app, &cache.vanished(), t);
    cache.prune();
    Ok((app, counts))
}

fn append_stale_into(app: &mut Appender<'_>, refs: &[SeriesRef], t: i64) {
    for r in refs {
        let _ = app.append_ref(*r, t, STALE_NAN);
    }
}

/// Appends the synthetic series of one scrape (`up`, `scrape_duration_seconds`, ...),
/// remembering their refs.
fn append_report_into(
    app: &mut Appender<'_>,
    report_refs: &mut HashMap<&'static str, SeriesRef>,
    spec: &TargetSpec,
    t: i64,
    values: &[f64; 5],
) {
    for (name, v) in REPORT_SERIES.iter().zip(values) {
        if let Some(r) = report_refs.get(name) {
            if app.append_ref(*r, t, *v).is_ok() {
                continue;
            }
        }
        let labels = spec.labels.with(METRIC_NAME, name);
        if let Ok(r) = app.append(&labels, t, *v) {
            report_refs.insert(name, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Querier;

    #[test]
    fn colliding_scraped_labels_become_exported() {
        let scraped =
            Labels::from_pairs([("__name__", "m"), ("job", "app"), ("exported_job", "x")]);
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let merged = merge_target_labels(&scraped, &target, false);
        assert_eq!(merged.get("job"), Some("node"));
        assert_eq!(merged.get("exported_exported_job"), Some("app"));
        assert_eq!(merged.get("exported_job"), Some("x"));
        assert_eq!(merged.get("instance"), Some("h:1"));
        let honored = merge_target_labels(&scraped, &target, true);
        assert_eq!(honored.get("job"), Some("app"));
        assert_eq!(honored.get("instance"), Some("h:1"));
    }

    /// One scrape of `body` into `store` as the scrape loop takes it ([`ingest`]), committed.
    fn scrape_into(
        store: &Store,
        spec: &TargetSpec,
        cache: &mut SeriesCache,
        body: &str,
        t: i64,
    ) -> (IngestCounts, crate::store::AppendStats) {
        let (app, counts) = ingest(
            store,
            cache,
            spec,
            body.as_bytes(),
            Format::PrometheusText,
            t,
        )
        .expect("parses");
        (counts, app.commit())
    }

    #[test]
    fn legacy_validation_fails_the_scrape_on_a_utf8_name() {
        // Prometheus 3 (scrape.go): after metric relabeling, `lset.IsValid(scheme)` or the
        // scrape fails with "invalid metric name or label names: " and the label set as
        // `labels.Labels.String` prints it (non-legacy names quoted, ", " between labels).
        let body = "{\"http.server.duration\", \"service.name\"=\"api\"} 1\nok_metric 2\n";
        let mut spec = TargetSpec::unlabelled("http://127.0.0.1:1/metrics");
        spec.name_validation = relabel::NameValidation::Legacy;
        let store = Store::new();
        let mut cache = SeriesCache::default();
        let e = ingest(
            &store,
            &mut cache,
            &spec,
            body.as_bytes(),
            Format::PrometheusText,
            1000,
        )
        .err()
        .expect("legacy validation rejects the dotted names");
        let want = r#"invalid metric name or label names: {__name__="http.server.duration", "service.name"="api"}"#;
        assert!(e.to_string().ends_with(want), "{e}");
        assert!(store
            .select(
                &[crate::store::Matcher::equal(METRIC_NAME, "ok_metric")],
                0,
                2000
            )
            .is_empty());

        // Control: the same body under UTF-8 validation (Prometheus 3's default) is stored.
        spec.name_validation = relabel::NameValidation::Utf8;
        scrape_into(&store, &spec, &mut cache, body, 1000);
        assert_eq!(
            values_of(&store, "http.server.duration"),
            [(1000, Some(1.0))]
        );
        let got = store.select(
            &[crate::store::Matcher::equal(
                METRIC_NAME,
                "http.server.duration",
            )],
            0,
            2000,
        );
        assert_eq!(got[0].labels.get("service.name"), Some("api"));
    }

    #[test]
    fn legacy_validation_accepts_colons_in_metric_names_only() {
        let mut spec = TargetSpec::unlabelled("http://127.0.0.1:1/metrics");
        spec.name_validation = relabel::NameValidation::Legacy;
        let store = Store::new();
        let mut cache = SeriesCache::default();
        scrape_into(&store, &spec, &mut cache, "job:rate5m 1\n", 1000);
        assert_eq!(values_of(&store, "job:rate5m"), [(1000, Some(1.0))]);
        let e = ingest(
            &store,
            &mut cache,
            &spec,
            b"m{\"a:b\"=\"x\"} 1\n",
            Format::PrometheusText,
            2000,
        )
        .err()
        .expect("a colon is not legacy in a label name");
        assert!(
            e.to_string()
                .ends_with(r#"invalid metric name or label names: {__name__="m", "a:b"="x"}"#),
            "{e}"
        );
    }

    #[test]
    fn relabeling_away_the_metric_name_fails_the_scrape() {
        let mut spec = TargetSpec::unlabelled("http://127.0.0.1:1/metrics");
        let drop_name: crate::relabel::RawRelabelConfig =
            serde_yaml_ng::from_str("{action: labeldrop, regex: __name__}").unwrap();
        spec.metric_relabel_configs =
            Arc::new(vec![crate::relabel::RelabelConfig::new(drop_name).unwrap()]);
        let e = ingest(
            &Store::new(),
            &mut SeriesCache::default(),
            &spec,
            b"m{a=\"x\"} 1\n",
            Format::PrometheusText,
            1000,
        )
        .err()
        .expect("no metric name left");
        assert!(
            e.to_string()
                .ends_with("missing metric name (__name__ label)"),
            "{e}"
        );
    }

    /// The samples of series `name`; `None` is a staleness marker.
    fn values_of(store: &Store, name: &str) -> Vec<(i64, Option<f64>)> {
        let got = store.select(
            &[crate::store::Matcher::equal(METRIC_NAME, name)],
            i64::MIN,
            i64::MAX,
        );
        assert_eq!(got.len(), 1, "{name}");
        got[0]
            .samples
            .iter()
            .map(|s| (s.t, (!is_stale_nan(s.v)).then_some(s.v)))
            .collect()
    }

    #[test]
    fn series_cache_follows_insertions_removals_and_reordering() {
        let store = Store::new();
        let spec = TargetSpec::unlabelled("http://t/metrics");
        let mut cache = SeriesCache::default();
        let scrapes = [
            "a 1\nb{x=\"1\"} 1\nc 1\nd 1\n",
            // `b` vanished, `e` appeared in the middle.
            "a 2\ne 2\nc 2\nd 2\n",
            // Reordered, `b` back.
            "d 3\nc 3\nb{x=\"1\"} 3\na 3\ne 3\n",
            // A duplicate series in one scrape: the second sample is a duplicate.
            "a 4\na 5\nc 4\n",
        ];
        // Series the previous scrape exposed and this one does not: a staleness marker each
        // (scrape 2: `b`; scrape 4: `b`, `d`, `e`).
        let vanished = [0, 1, 0, 3];
        for (i, body) in scrapes.iter().enumerate() {
            let t = (i as i64 + 1) * 15_000;
            let (counts, stats) = scrape_into(&store, &spec, &mut cache, body, t);
            assert_eq!(counts.scraped as usize, body.lines().count());
            assert_eq!(
                stats.appended + stats.duplicates,
                body.lines().count() + vanished[i]
            );
        }
        assert_eq!(store.stats().series, 5);
        assert_eq!(cache.len(), 5);
        assert_eq!(
            values_of(&store, "a"),
            vec![
                (15_000, Some(1.0)),
                (30_000, Some(2.0)),
                (45_000, Some(3.0)),
                (60_000, Some(4.0))
            ]
        );
        assert_eq!(
            values_of(&store, "b"),
            vec![
                (15_000, Some(1.0)),
                (30_000, None),
                (45_000, Some(3.0)),
                (60_000, None)
            ]
        );
        assert_eq!(
            values_of(&store, "e"),
            vec![(30_000, Some(2.0)), (45_000, Some(3.0)), (60_000, None)]
        );
        assert_eq!(store.stats().duplicates_total, 1);
    }

    #[test]
    fn series_cache_tells_texts_with_one_hash_apart() {
        let mut cache = SeriesCache::default();
        let r = |n| Resolved::Series(SeriesRef(n));
        // Two texts under one hash, as a real xxh3 collision would put them.
        cache.insert("a", 42, r(1), 1);
        cache.insert("b", 42, r(2), 1);
        cache.insert("c", 43, r(3), 1);
        let slot_of = |cache: &mut SeriesCache, text: &str| match cache.find_hashed(text, 42) {
            Lookup::Hit(i) => cache.slots[i as usize].as_ref().map(|s| s.resolved),
            Lookup::Miss(_) => None,
        };
        assert_eq!(slot_of(&mut cache, "a"), Some(r(1)));
        assert_eq!(slot_of(&mut cache, "b"), Some(r(2)));
        assert_eq!(slot_of(&mut cache, "c"), None);
        cache.remove(0); // "a", the tail of the chain
        assert_eq!(slot_of(&mut cache, "a"), None);
        assert_eq!(slot_of(&mut cache, "b"), Some(r(2)));
        cache.insert("a", 42, r(4), 1); // reuses slot 0, now the head
        cache.remove(1); // "b", now the tail
        assert_eq!(slot_of(&mut cache, "a"), Some(r(4)));
        assert_eq!(slot_of(&mut cache, "b"), None);
        cache.remove(0);
        cache.remove(2);
        assert!(cache.by_hash.is_empty());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn cached_series_collected_by_gc_is_resolved_again() {
        let store = Store::new();
        let spec = TargetSpec::unlabelled("http://t/metrics");
        let mut cache = SeriesCache::default();
        scrape_into(&store, &spec, &mut cache, "a 1\nb 1\n", 15_000);
        // Retention removes both series (and their refs) while the cache keeps them.
        store.gc(15_000 + store.retention_ms() + 60_000);
        assert_eq!(store.stats().series, 0);
        let t = 15_000 + store.retention_ms() + 75_000;
        let (counts, stats) = scrape_into(&store, &spec, &mut cache, "a 2\nb 2\n", t);
        assert_eq!((counts.post_relabel, stats.appended), (2, 2));
        assert_eq!(stats.series_created, 2);
        assert_eq!(values_of(&store, "a"), vec![(t, Some(2.0))]);
        // The new refs are cached: the next scrape creates nothing.
        let (_, stats) = scrape_into(&store, &spec, &mut cache, "a 3\nb 3\n", t + 15_000);
        assert_eq!((stats.appended, stats.series_created), (2, 0));
    }

    /// A loopback target answering every `GET /metrics` with `body`.
    async fn loopback_target(body: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the target");
        let addr = listener.local_addr().expect("target address");
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    body,
                )
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    /// Regression: the scrape loop took the appender out of its sink without ending the
    /// parse in the series cache, so under `redline run` the cache never learnt the order of
    /// a scrape and found no series by position (only tests and benches ended the parse).
    #[tokio::test]
    async fn scrape_loop_finds_the_third_scrapes_series_by_position() {
        crate::install_crypto_provider();
        let body = "a 1\nb{x=\"1\"} 1\nc 1\n";
        let addr = loopback_target(body).await;
        let store = Arc::new(Store::new());
        let spec = TargetSpec::unlabelled(&format!("http://{addr}/metrics"));
        let client = JobClient::new(
            &crate::config::HttpClientSettings::default(),
            crate::config::ScrapeProtocol::accept_header(&crate::config::ScrapeProtocol::DEFAULT),
        )
        .expect("client builds");
        let telemetry = Arc::new(Telemetry::new(store.clone()));
        let target = Arc::new(Target::new(spec));
        let mut lp = ScrapeLoop::new(target.clone(), client, store.clone(), telemetry);
        lp.scrape_once().await.expect("first scrape");
        lp.scrape_once().await.expect("second scrape");
        let before = lp.cache.positional_hits();
        lp.scrape_once().await.expect("third scrape");
        // The third scrape exposes the second's three series in the same order: each one is
        // where the cache expects it.
        assert_eq!(lp.cache.positional_hits() - before, 3);
        assert_eq!(target.status().health, Health::Up);
        assert_eq!(target.status().last_samples, 3);
    }

    /// A loopback target answering `GET /metrics` with the protobuf body `body` holds
    /// at the time of the request.
    async fn protobuf_target(body: Arc<std::sync::Mutex<Vec<u8>>>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the target");
        let addr = listener.local_addr().expect("target address");
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let bytes = body.lock().map(|b| b.clone()).unwrap_or_default();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                        )],
                        bytes,
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    /// `rpc_seconds`, a native histogram with classic buckets too, and the gauge `g`.
    fn native_body(with_histogram: bool) -> Vec<u8> {
        use crate::exposition::protobuf::encode::{delimited, Message as M};
        // metrics.proto: Histogram{sample_count=1, sample_sum=2, bucket=3, schema=5,
        // zero_threshold=6, zero_count=7, positive_span=12, positive_delta=13}.
        let h = M::new()
            .varint(1, 6)
            .double(2, 12.5)
            .message(3, M::new().varint(1, 3).double(2, 1.0))
            .sint(5, 0)
            .double(6, 0.001)
            .varint(7, 1)
            .message(12, M::new().sint(1, 0).varint(2, 2))
            .packed_sint(13, &[2, 1]);
        let hist = M::new()
            .str(1, "rpc_seconds")
            .varint(3, 4)
            .message(4, M::new().message(7, h));
        let gauge = M::new()
            .str(1, "g")
            .varint(3, 1)
            .message(4, M::new().message(2, M::new().double(1, 1.0)));
        if with_histogram {
            delimited(&[hist, gauge])
        } else {
            delimited(&[gauge])
        }
    }

    fn select_name(store: &Store, name: &str) -> Vec<crate::store::SeriesSamples> {
        store.select(
            &[crate::store::Matcher::equal(METRIC_NAME, name)],
            i64::MIN,
            i64::MAX,
        )
    }

    /// A protobuf scrape with `scrape_native_histograms` stores the native histogram as a
    /// histogram sample (and not its classic series); when the target stops exposing it,
    /// the series gets a staleness marker. Without the setting the same body gives the
    /// classic series.
    #[tokio::test]
    async fn protobuf_scrape_stores_native_histograms() {
        crate::install_crypto_provider();
        let body = Arc::new(std::sync::Mutex::new(native_body(true)));
        let addr = protobuf_target(body.clone()).await;
        let store = Arc::new(Store::new());
        let telemetry = Arc::new(Telemetry::new(store.clone()));
        let mut spec = TargetSpec::unlabelled(&format!("http://{addr}/metrics"));
        spec.histograms.scrape_native_histograms = true;
        let client = JobClient::new(
            &crate::config::HttpClientSettings::default(),
            crate::config::ScrapeProtocol::accept_header(
                &crate::config::ScrapeProtocol::DEFAULT_PROTO_FIRST,
            ),
        )
        .expect("client builds");
        let target = Arc::new(Target::new(spec.clone()));
        let mut lp = ScrapeLoop::new(
            target.clone(),
            client.clone(),
            store.clone(),
            telemetry.clone(),
        );
        lp.scrape_once().await.expect("first scrape");
        let got = select_name(&store, "rpc_seconds");
        assert_eq!(got.len(), 1);
        assert!(got[0].samples.is_empty(), "{:?}", got[0].samples);
        assert_eq!(got[0].histograms.len(), 1);
        // Deltas 2, +1 are counts 2 and 3 in buckets 0 and 1 (spans: offset 0, length 2);
        // zero bucket 1; count 6, sum 12.5 as sent.
        let want = FloatHistogram {
            counter_reset_hint: crate::histogram::CounterResetHint::Unknown,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 6.0,
            sum: 12.5,
            positive_spans: vec![crate::histogram::Span {
                offset: 0,
                length: 2,
            }],
            negative_spans: vec![],
            positive_buckets: vec![2.0, 3.0],
            negative_buckets: vec![],
            custom_values: vec![],
        };
        assert_eq!(*got[0].histograms[0].h, want);
        assert!(select_name(&store, "rpc_seconds_bucket").is_empty());
        assert_eq!(target.status().last_samples, 2);

        *body.lock().expect("body") = native_body(false);
        lp.scrape_once().await.expect("second scrape");
        let got = select_name(&store, "rpc_seconds");
        assert_eq!(got[0].histograms.len(), 1);
        assert_eq!(got[0].samples.len(), 1, "one staleness marker");
        assert!(is_stale_nan(got[0].samples[0].v));
        assert!(got[0].samples[0].t > got[0].histograms[0].t);

        // Control: the same body without `scrape_native_histograms` is a classic histogram.
        let classic_store = Arc::new(Store::new());
        let mut spec = spec;
        spec.histograms.scrape_native_histograms = false;
        *body.lock().expect("body") = native_body(true);
        let mut lp = ScrapeLoop::new(
            Arc::new(Target::new(spec)),
            client,
            classic_store.clone(),
            telemetry,
        );
        lp.scrape_once().await.expect("classic scrape");
        assert_eq!(values_of(&classic_store, "rpc_seconds_count").len(), 1);
        let les: Vec<_> = select_name(&classic_store, "rpc_seconds_bucket")
            .iter()
            .map(|s| (s.labels.get("le").unwrap_or("").to_string(), s.samples[0].v))
            .collect();
        assert_eq!(les, [("+Inf".to_string(), 6.0), ("1.0".to_string(), 3.0)]);
        assert!(select_name(&classic_store, "rpc_seconds").is_empty());
    }

    #[test]
    fn offsets_fall_inside_the_interval() {
        let l = Labels::from_pairs([("job", "a")]);
        let iv = Duration::from_secs(15);
        assert!(scrape_offset(&l, "http://127.0.0.1:1/metrics", iv) < iv);
    }
}
