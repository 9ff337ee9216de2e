//! The per-target scrape loop: fetch, parse, relabel, append, report.
//!
//! One tokio task per target. Each scrape fetches the body (bounded by `body_size_limit`),
//! parses it into an [`IngestSink`] that appends into a store appender, and commits only
//! when the whole body parsed and every limit held: a malformed line or an exceeded limit
//! fails the scrape as a whole, as in Prometheus. Series that disappear between scrapes,
//! and every series of a failed or removed target, get staleness markers. The synthetic
//! series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written after
//! every scrape.

use crate::exposition::{self, Format, ParseOptions, Sample, Sink, SinkError};
use crate::scrape::client::JobClient;
use crate::scrape::relabel;
use crate::scrape::target::{Health, Target, TargetSpec, TargetStatus};
use crate::store::{
    is_stale_nan, Appender, Label, Labels, SeriesRef, Store, METRIC_NAME, STALE_NAN,
};
use crate::telemetry::{ScrapeFailed, ScrapeSucceeded, Telemetry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// Why a scrape failed; the text is what `/api/v1/targets` shows as `lastError`.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("{0}")]
    Fetch(String),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("body size limit exceeded: the body is larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("parse error: {0}")]
    Parse(String),
    #[error("context deadline exceeded: scrape timeout of {0:?} reached")]
    Timeout(Duration),
}

/// What the scrape cache knows about one exposed series text.
#[derive(Clone, Copy)]
enum CacheEntry {
    /// Appended under this ref; `seen` is the iteration of the last scrape exposing it.
    Series { r: SeriesRef, seen: u64 },
    /// Dropped by metric relabeling.
    Dropped { seen: u64 },
}

/// Per-target memory between scrapes: series refs by exposed text, for speed and staleness.
/// Series exposed with explicit timestamps are kept out of staleness handling, as upstream.
pub struct SeriesCache {
    /// Keyed by series text (hundreds of bytes for cAdvisor series), hashed with xxh3: this
    /// lookup runs for every sample of every scrape.
    entries: HashMap<Box<str>, CacheEntry, Xxh3DefaultBuilder>,
    /// The iteration of the last successful scrape (starts at 1; 0 marks "not exposed").
    iteration: u64,
}

impl Default for SeriesCache {
    fn default() -> Self {
        SeriesCache {
            entries: HashMap::with_hasher(Xxh3DefaultBuilder::new()),
            iteration: 1,
        }
    }
}

/// `seen` value of series that take no part in staleness (explicit timestamps).
const SEEN_NEVER_STALE: u64 = u64::MAX;

impl SeriesCache {
    /// After a failed scrape: the refs that were exposed (by the last successful scrape or
    /// by the aborted one), which all go stale now. They count as not exposed from here on.
    fn fail(&mut self) -> Vec<SeriesRef> {
        let last = self.iteration;
        let aborted = last.wrapping_add(1);
        let mut out = Vec::new();
        for e in self.entries.values_mut() {
            match e {
                CacheEntry::Series { r, seen } if *seen == last || *seen == aborted => {
                    out.push(*r);
                    *seen = 0;
                }
                CacheEntry::Dropped { seen } if *seen == aborted => *seen = 0,
                _ => {}
            }
        }
        out
    }

    /// Refs that the previous successful scrape exposed and the current one did not.
    fn vanished(&self) -> Vec<SeriesRef> {
        let prev = self.iteration.wrapping_sub(1);
        self.entries
            .values()
            .filter_map(|e| match *e {
                CacheEntry::Series { r, seen } if seen == prev => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Every ref the last successful scrape exposed.
    fn last_exposed(&self) -> Vec<SeriesRef> {
        let last = self.iteration;
        self.entries
            .values()
            .filter_map(|e| match *e {
                CacheEntry::Series { r, seen } if seen == last => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Forgets entries not seen for a while so the cache tracks the target's current series.
    fn prune(&mut self) {
        let keep_after = self.iteration.saturating_sub(10);
        self.entries.retain(|_, e| match *e {
            CacheEntry::Series { seen, .. } | CacheEntry::Dropped { seen } => {
                seen >= keep_after || seen == SEEN_NEVER_STALE
            }
        });
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
/// miss) and appends into the scrape's appender.
pub struct IngestSink<'a, 'c> {
    spec: &'a TargetSpec,
    cache: &'c mut SeriesCache,
    app: Appender<'a>,
    default_t: i64,
    iteration: u64,
    counts: IngestCounts,
}

impl<'a, 'c> IngestSink<'a, 'c> {
    pub fn new(
        spec: &'a TargetSpec,
        cache: &'c mut SeriesCache,
        app: Appender<'a>,
        default_t: i64,
    ) -> Self {
        let iteration = cache.iteration.wrapping_add(1);
        IngestSink {
            spec,
            cache,
            app,
            default_t,
            iteration,
            counts: IngestCounts::default(),
        }
    }

    fn resolve(&self, sample: &Sample<'_>) -> Result<Option<Labels>, SinkError> {
        let mut v: Vec<Label> =
            Vec::with_capacity(sample.labels.len() + self.spec.labels.len() + 1);
        v.push(Label::new(METRIC_NAME, sample.name));
        for l in sample.labels {
            v.push(Label::new(l.name, &*l.value));
        }
        let scraped = Labels::from_vec(v);
        let merged = merge_target_labels(&scraped, &self.spec.labels, self.spec.honor_labels);
        let Some(out) = relabel::process(&merged, &self.spec.metric_relabel_configs) else {
            return Ok(None);
        };
        check_label_limits(&out, &self.spec.limits)?;
        Ok(Some(out))
    }
}

impl<'a> IngestSink<'a, '_> {
    /// Ends the parse: the appender to commit (or roll back) and the counts.
    pub fn finish(self) -> (Appender<'a>, IngestCounts) {
        (self.app, self.counts)
    }
}

impl Sink for IngestSink<'_, '_> {
    fn sample(&mut self, sample: &Sample<'_>) -> Result<(), SinkError> {
        self.counts.scraped += 1;
        let t = match sample.timestamp_ms {
            Some(ts) if self.spec.honor_timestamps => ts,
            _ => self.default_t,
        };
        let iteration = self.iteration;
        let cached = self.cache.entries.get_mut(sample.series).map(|e| {
            let old = *e;
            match e {
                CacheEntry::Series { seen, .. } | CacheEntry::Dropped { seen } => {
                    if *seen != SEEN_NEVER_STALE {
                        *seen = iteration;
                    }
                }
            }
            old
        });
        let r = match cached {
            Some(CacheEntry::Dropped { .. }) => return Ok(()),
            Some(CacheEntry::Series { r, .. }) => match self.app.append_ref(r, t, sample.value) {
                Ok(()) => Some(r),
                Err(_) => None, // the series was garbage-collected: resolve it again
            },
            None => None,
        };
        if r.is_none() {
            match self.resolve(sample)? {
                None => {
                    self.cache.entries.insert(
                        sample.series.into(),
                        CacheEntry::Dropped { seen: iteration },
                    );
                    return Ok(());
                }
                Some(labels) => {
                    let r = self
                        .app
                        .append(&labels, t, sample.value)
                        .map_err(|e| SinkError(e.to_string()))?;
                    // Series with explicit timestamps do not take part in staleness.
                    let seen = if sample.timestamp_ms.is_some() && self.spec.honor_timestamps {
                        SEEN_NEVER_STALE
                    } else {
                        iteration
                    };
                    self.cache
                        .entries
                        .insert(sample.series.into(), CacheEntry::Series { r, seen });
                }
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

/// Milliseconds since the epoch for a wall-clock time.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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

    /// After the first scrape following a hand-over with a fresh cache: staleness markers
    /// for the predecessor's series this scrape did not expose (all of them if it failed).
    fn settle_inherited(&mut self, scraped: bool) {
        let Some(inherited) = self.inherited.take() else {
            return;
        };
        let exposed: std::collections::HashSet<SeriesRef> = if scraped {
            self.cache.last_exposed().into_iter().collect()
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
            let format = Format::from_content_type(&content_type);
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
/// exposed and this one did not; all or nothing. The caller commits.
fn ingest<'s>(
    store: &'s Store,
    cache: &mut SeriesCache,
    spec: &'s TargetSpec,
    body: &[u8],
    format: Format,
    t: i64,
) -> Result<(Appender<'s>, IngestCounts), ScrapeError> {
    let mut sink = IngestSink::new(spec, cache, store.appender(), t);
    let parsed = exposition::parse(body, format, &ParseOptions::default(), &mut sink);
    let IngestSink {
        mut app,
        iteration,
        counts,
        ..
    } = sink;
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

    #[test]
    fn offsets_fall_inside_the_interval() {
        let l = Labels::from_pairs([("job", "a")]);
        let iv = Duration::from_secs(15);
        assert!(scrape_offset(&l, "http://127.0.0.1:1/metrics", iv) < iv);
    }
}
