//! The remote-write 1.0 sender: one [`Queue`] per `remote_write` entry, each with a fixed
//! number of shards, each shard a bounded buffer and one tokio task that sends it.
//!
//! The store's commit path hands every committed sample to [`QueueObserver`] (an
//! [`AppendObserver`]), which pushes it into the shard its series hashes to. A full shard
//! (`queue_config.capacity` samples) drops the new samples and counts them
//! (`reason="queue_full"`): unlike Prometheus, which reads its WAL, redline has no log to
//! fall back on, and it never makes a scrape or a rule evaluation wait for a receiver.
//!
//! A shard's task sends when `max_samples_per_send` samples are buffered or
//! `batch_send_deadline` has passed. It resolves each series' labels once (by series ref,
//! with a two-generation cache so series that stopped are forgotten): the global
//! `external_labels` are added where the series lacks them, then `write_relabel_configs`
//! run. Samples of a series are grouped into one `TimeSeries` per request, in order; one
//! series always goes to the same shard, and a shard has one request in flight, so a
//! series' samples arrive in order. 5xx replies, network errors and (with
//! `retry_on_http_429`) 429 are retried with exponential backoff from `min_backoff` to
//! `max_backoff`, or after the `Retry-After` the receiver asked for; other 4xx replies drop
//! the batch (`reason="non_recoverable"`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::proto::{compress, EncodedLabels, WriteRequest};
use crate::config::remote_write::RemoteWriteConfig;
use crate::config::Auth;
use crate::histogram::FloatHistogram;
use crate::store::{AppendObserver, CommittedHistogram, CommittedSample, Labels, SeriesRef, Store};

/// How long a resolved series stays cached without a sample (one to two of these).
const CACHE_GENERATION: Duration = Duration::from_secs(10 * 60);
/// How much of an error reply's body is kept for the log.
const MAX_ERROR_BODY: usize = 512;

/// The counters of one queue, read by the `/metrics` collector.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_non_recoverable: AtomicU64,
    dropped_too_old: AtomicU64,
    dropped_relabel: AtomicU64,
    bytes_sent: AtomicU64,
    requests_sent: AtomicU64,
    pending: AtomicI64,
    highest_appended_ms: AtomicI64,
    highest_sent_ms: AtomicI64,
    /// When the queue started (the lag's base until something is sent).
    started_ms: i64,
}

/// A sample waiting in a shard: a float or a native histogram of a series.
#[derive(Clone, Debug)]
struct Queued {
    series: SeriesRef,
    t_ms: i64,
    value: QueuedValue,
}

#[derive(Clone, Debug)]
enum QueuedValue {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

/// A sample a commit wrote, as a shard buffers it.
trait Committed {
    fn series(&self) -> SeriesRef;
    fn queued(&self) -> Queued;
}

impl Committed for CommittedSample {
    fn series(&self) -> SeriesRef {
        self.series
    }
    fn queued(&self) -> Queued {
        Queued {
            series: self.series,
            t_ms: self.t_ms,
            value: QueuedValue::Float(self.v),
        }
    }
}

impl Committed for CommittedHistogram {
    fn series(&self) -> SeriesRef {
        self.series
    }
    fn queued(&self) -> Queued {
        Queued {
            series: self.series,
            t_ms: self.t_ms,
            value: QueuedValue::Histogram(self.h.clone()),
        }
    }
}

/// One shard: a bounded buffer and the signal that it holds a full batch.
#[derive(Debug, Default)]
struct Shard {
    buf: Mutex<VecDeque<Queued>>,
    full: Notify,
}

impl Shard {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue of one `remote_write` entry.
#[derive(Debug)]
pub struct Queue {
    cfg: RemoteWriteConfig,
    /// The URL with any password replaced, for metrics and logs.
    shown_url: String,
    shards: Box<[Shard]>,
    counters: Counters,
}

impl Queue {
    /// A queue for `cfg` with empty shards (no task sends it until [`spawn`] starts one).
    pub fn new(cfg: RemoteWriteConfig) -> Queue {
        let n = cfg.queue.shards();
        Queue {
            shards: (0..n).map(|_| Shard::default()).collect(),
            shown_url: redacted(&cfg.url),
            cfg,
            counters: Counters {
                highest_appended_ms: AtomicI64::new(i64::MIN),
                highest_sent_ms: AtomicI64::new(i64::MIN),
                started_ms: crate::timefmt::now_ms(),
                ..Counters::default()
            },
        }
    }

    /// The `remote_name` of the queue.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Samples buffered in the shards now.
    pub fn buffered(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Empties every shard, returning how many samples were discarded. They are not
    /// counted as dropped (this is for measuring the queue, not for the running service).
    pub fn clear(&self) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut buf = s.lock();
            n += buf.len();
            buf.clear();
        }
        self.counters.pending.fetch_sub(n as i64, Ordering::Relaxed);
        n
    }

    fn shard_of(&self, series: SeriesRef) -> usize {
        let h = series.as_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        (h as usize) % self.shards.len()
    }

    /// Buffers the samples of one commit, dropping what does not fit.
    fn push<T: Committed>(&self, samples: &[T], max_t: i64) {
        let c = &self.counters;
        c.highest_appended_ms.fetch_max(max_t, Ordering::Relaxed);
        let cap = self.cfg.queue.capacity;
        let batch = self.cfg.queue.max_samples_per_send;
        let (mut pushed, mut dropped) = (0i64, 0u64);
        for (i, shard) in self.shards.iter().enumerate() {
            let mut buf = shard.lock();
            let before = buf.len();
            for s in samples {
                if self.shards.len() > 1 && self.shard_of(s.series()) != i {
                    continue;
                }
                if buf.len() < cap {
                    buf.push_back(s.queued());
                } else {
                    dropped += 1;
                }
            }
            let after = buf.len();
            drop(buf);
            pushed += (after - before) as i64;
            if after >= batch && before < after {
                shard.full.notify_one();
            }
        }
        c.pending.fetch_add(pushed, Ordering::Relaxed);
        if dropped > 0 {
            c.dropped_queue_full.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// `url` with its password, if any, shown as `xxxxx` (as Prometheus labels its queues).
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Hands committed samples to every queue. Set it on the store with
/// [`Store::set_append_observer`].
pub struct QueueObserver {
    queues: Vec<Arc<Queue>>,
}

impl QueueObserver {
    /// An observer feeding `queues`.
    pub fn new(queues: Vec<Arc<Queue>>) -> QueueObserver {
        QueueObserver { queues }
    }
}

impl AppendObserver for QueueObserver {
    fn committed(&self, samples: &[CommittedSample]) {
        let max_t = samples.iter().map(|s| s.t_ms).max().unwrap_or(i64::MIN);
        for q in &self.queues {
            q.push(samples, max_t);
        }
    }

    fn committed_histograms(&self, samples: &[CommittedHistogram]) {
        let max_t = samples.iter().map(|s| s.t_ms).max().unwrap_or(i64::MIN);
        for q in &self.queues {
            q.push(samples, max_t);
        }
    }
}

/// The running remote-write queues of a service.
pub struct RemoteWrite {
    store: Arc<Store>,
    running: Running,
    /// The queues `/metrics` reports: the running ones, swapped on reload.
    listed: Arc<RwLock<Vec<Arc<Queue>>>>,
    /// What the running queues were started from, to tell whether a reload changes them.
    /// `RemoteWriteConfig` holds compiled relabel regexes, which have no equality; the
    /// `Debug` rendering covers every field and the regexes' source text.
    started_from: String,
}

/// One generation of queues with their shard tasks.
#[derive(Default)]
struct Running {
    queues: Vec<Arc<Queue>>,
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts one queue per entry, each with its shard tasks (nothing for no entries).
    fn start(
        configs: &[RemoteWriteConfig],
        external_labels: &Labels,
        store: &Arc<Store>,
    ) -> Running {
        let queues: Vec<Arc<Queue>> = configs
            .iter()
            .map(|c| Arc::new(Queue::new(c.clone())))
            .collect();
        if queues.is_empty() {
            return Running::default();
        }
        crate::install_crypto_provider();
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for q in &queues {
            if q.cfg.metadata.send {
                tracing::info!(
                    remote_name = %q.cfg.name,
                    "remote write: metric metadata is not sent (redline keeps no metadata)"
                );
            }
            let client = crate::httpclient::http_client(&q.cfg.http)
                .map_err(|e| format!("remote_write {}: {e}", q.cfg.name));
            if let Err(e) = &client {
                tracing::error!(remote_name = %q.cfg.name, url = %q.shown_url, error = %e,
                    "building the remote write client; every batch is dropped until the config changes");
            }
            let sender = Arc::new(Sender {
                queue: q.clone(),
                client,
                store: store.clone(),
                external_labels: external_labels.clone(),
            });
            for i in 0..q.shards.len() {
                tasks.push(tokio::spawn(run_shard(sender.clone(), i, stop_rx.clone())));
            }
        }
        Running {
            queues,
            stop: Some(stop),
            tasks,
        }
    }

    /// The store observer feeding these queues, `None` when there are none.
    fn observer(&self) -> Option<Arc<dyn AppendObserver>> {
        (!self.queues.is_empty()).then(|| {
            Arc::new(QueueObserver {
                queues: self.queues.clone(),
            }) as Arc<dyn AppendObserver>
        })
    }

    /// Tells the shards to stop, lets them send what is buffered for at most `flush`
    /// (retries included), then abandons what is left.
    async fn stop(self, flush: Duration) {
        let Some(stop) = self.stop else {
            return;
        };
        let _ = stop.send(true);
        let aborts: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(flush, all).await.is_err() {
            for a in aborts {
                a.abort();
            }
            let left: i64 = self
                .queues
                .iter()
                .map(|q| q.counters.pending.load(Ordering::Relaxed))
                .sum();
            tracing::warn!(
                samples = left,
                "remote write: samples still unsent when the queues stopped were dropped"
            );
        }
    }
}

fn config_key(configs: &[RemoteWriteConfig], external_labels: &Labels) -> String {
    format!("{configs:?}{external_labels:?}")
}

impl RemoteWrite {
    /// The queues, in config order.
    pub fn queues(&self) -> &[Arc<Queue>] {
        &self.running.queues
    }

    /// Applies a reloaded `remote_write` section. Unchanged (with the same external labels),
    /// the queues keep running. Otherwise the new queues start and take over the store's
    /// commits first, then the old ones flush what they hold for at most `flush`: no sample
    /// committed meanwhile is skipped. Returns whether anything changed.
    pub async fn reload(
        &mut self,
        configs: &[RemoteWriteConfig],
        external_labels: &Labels,
        flush: Duration,
    ) -> bool {
        let key = config_key(configs, external_labels);
        if key == self.started_from {
            return false;
        }
        let next = Running::start(configs, external_labels, &self.store);
        self.store.set_append_observer(next.observer());
        if let Ok(mut listed) = self.listed.write() {
            *listed = next.queues.clone();
        }
        let old = std::mem::replace(&mut self.running, next);
        self.started_from = key;
        old.stop(flush).await;
        tracing::info!(
            queues = self.running.queues.len(),
            "remote write queues reloaded"
        );
        true
    }

    /// Stops observing the store, sends what is buffered for at most `flush` (retries
    /// included), then abandons what is left.
    pub async fn shutdown(&mut self, flush: Duration) {
        if self.running.queues.is_empty() {
            return;
        }
        self.store.set_append_observer(None);
        std::mem::take(&mut self.running).stop(flush).await;
    }
}

/// Starts one queue per `remote_write` entry, observing `store`, and registers the queues'
/// metrics. With no entries nothing runs and the store is not observed. Call within the
/// tokio runtime.
pub fn spawn(
    configs: &[RemoteWriteConfig],
    external_labels: &Labels,
    store: Arc<Store>,
    telemetry: &mut crate::telemetry::Telemetry,
) -> RemoteWrite {
    let running = Running::start(configs, external_labels, &store);
    let listed = Arc::new(RwLock::new(running.queues.clone()));
    telemetry.register_collector(Box::new(QueueCollector(listed.clone())));
    if let Some(observer) = running.observer() {
        store.set_append_observer(Some(observer));
    }
    RemoteWrite {
        store,
        running,
        listed,
        started_from: config_key(configs, external_labels),
    }
}

/// What a shard's task needs to send.
struct Sender {
    queue: Arc<Queue>,
    client: Result<reqwest::Client, String>,
    store: Arc<Store>,
    external_labels: Labels,
}

/// A series as the receiver sees it.
#[derive(Clone)]
enum Resolved {
    Send(EncodedLabels),
    /// Dropped by `write_relabel_configs`.
    Dropped,
}

/// Series refs resolved to encoded labels, in two generations: entries unused for a whole
/// generation are forgotten.
struct SeriesCache {
    current: HashMap<u64, Resolved>,
    previous: HashMap<u64, Resolved>,
    turned: tokio::time::Instant,
}

impl SeriesCache {
    fn new() -> SeriesCache {
        SeriesCache {
            current: HashMap::new(),
            previous: HashMap::new(),
            turned: tokio::time::Instant::now(),
        }
    }

    fn maybe_turn(&mut self) {
        if self.turned.elapsed() >= CACHE_GENERATION {
            self.previous = std::mem::take(&mut self.current);
            self.turned = tokio::time::Instant::now();
        }
    }
}

/// Why a request failed.
enum SendError {
    Recoverable {
        reason: String,
        retry_after: Option<Duration>,
    },
    NonRecoverable(String),
}

/// A failed remote-write request: logged with stable fields and counted.
struct RemoteWriteFailed<'a> {
    queue: &'a Queue,
    error: &'a str,
    samples: usize,
    retried: bool,
}

impl RemoteWriteFailed<'_> {
    fn emit(&self) {
        let c = &self.queue.counters;
        let n = self.samples as u64;
        if self.retried {
            tracing::warn!(remote_name = %self.queue.cfg.name, url = %self.queue.shown_url,
                error = self.error, samples = self.samples, "remote write failed; retrying");
            c.retried.fetch_add(n, Ordering::Relaxed);
        } else {
            tracing::error!(remote_name = %self.queue.cfg.name, url = %self.queue.shown_url,
                error = self.error, samples = self.samples,
                "remote write failed with a non-recoverable error; batch dropped");
            c.failed.fetch_add(n, Ordering::Relaxed);
            c.dropped_non_recoverable.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Sender {
    fn resolve(&self, r: crate::store::SeriesRef) -> Option<Resolved> {
        let mut labels = self.store.series_labels(r)?;
        for l in self.external_labels.iter() {
            if labels.get(&l.name).is_none() {
                labels = labels.with(&l.name, &l.value);
            }
        }
        let out = match crate::relabel::process(&labels, &self.queue.cfg.write_relabel_configs) {
            Some(l) if !l.is_empty() => {
                Resolved::Send(EncodedLabels::new(l.iter().map(|l| (&*l.name, &*l.value))))
            }
            _ => Resolved::Dropped,
        };
        Some(out)
    }

    fn lookup(&self, cache: &mut SeriesCache, r: crate::store::SeriesRef) -> Option<Resolved> {
        let k = r.as_u64();
        if let Some(x) = cache.current.get(&k) {
            return Some(x.clone());
        }
        let found = match cache.previous.remove(&k) {
            Some(x) => x,
            None => self.resolve(r)?,
        };
        cache.current.insert(k, found.clone());
        Some(found)
    }

    /// Builds the request for `batch` into `req`; returns its highest timestamp.
    fn build(&self, batch: &[Queued], cache: &mut SeriesCache, req: &mut WriteRequest) -> i64 {
        let c = &self.queue.counters;
        let (max_t, too_old, relabeled) = self.assemble(batch, cache, req, self.oldest_allowed());
        c.dropped_too_old.fetch_add(too_old, Ordering::Relaxed);
        c.dropped_relabel.fetch_add(relabeled, Ordering::Relaxed);
        max_t
    }

    /// Builds the request for the samples of `batch` at or after `oldest`; returns the
    /// highest timestamp sent and the samples left out as too old and as relabeled away.
    fn assemble(
        &self,
        batch: &[Queued],
        cache: &mut SeriesCache,
        req: &mut WriteRequest,
        oldest: i64,
    ) -> (i64, u64, u64) {
        /// A series' labels, float samples and histogram samples in the request.
        type Entry<'b> = (
            EncodedLabels,
            Vec<(i64, f64)>,
            Vec<(i64, &'b FloatHistogram)>,
        );
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut series: Vec<Entry<'_>> = Vec::new();
        let (mut too_old, mut relabeled) = (0u64, 0u64);
        let mut max_t = i64::MIN;
        for s in batch {
            if s.t_ms < oldest {
                too_old += 1;
                continue;
            }
            match self.lookup(cache, s.series) {
                // The series left the store (retention) before its sample was sent.
                None => too_old += 1,
                Some(Resolved::Dropped) => relabeled += 1,
                Some(Resolved::Send(labels)) => {
                    let i = *index.entry(s.series.as_u64()).or_insert_with(|| {
                        series.push((labels, Vec::new(), Vec::new()));
                        series.len() - 1
                    });
                    match &s.value {
                        QueuedValue::Float(v) => series[i].1.push((s.t_ms, *v)),
                        QueuedValue::Histogram(h) => series[i].2.push((s.t_ms, h)),
                    }
                    max_t = max_t.max(s.t_ms);
                }
            }
        }
        req.clear();
        for (labels, samples, histograms) in &series {
            if !samples.is_empty() {
                req.series(labels, samples);
            }
            if !histograms.is_empty() {
                req.histogram_series(labels, histograms);
            }
        }
        (max_t, too_old, relabeled)
    }

    /// The oldest timestamp `sample_age_limit` still lets through now (`i64::MIN` without
    /// a limit).
    fn oldest_allowed(&self) -> i64 {
        let limit = self.queue.cfg.queue.sample_age_limit;
        if limit.is_zero() {
            i64::MIN
        } else {
            crate::timefmt::now_ms()
                .saturating_sub(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX))
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SendError> {
        let cfg = &self.queue.cfg;
        let client = self
            .client
            .as_ref()
            .map_err(|e| SendError::NonRecoverable(e.clone()))?;
        let mut req = client
            .post(&cfg.url)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .timeout(cfg.remote_timeout)
            .body(body);
        for (k, v) in &cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let auth: Option<&Auth> = cfg.http.auth.as_ref();
        let req = crate::httpclient::apply_auth(req, auth)
            .await
            .map_err(|e| SendError::Recoverable {
                reason: format!("reading credentials: {e}"),
                retry_after: None,
            })?;
        let resp = req.send().await.map_err(|e| SendError::Recoverable {
            reason: crate::httpclient::error_chain(&e.without_url()),
            retry_after: None,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]);
        let reason = format!("server returned HTTP status {status}: {}", text.trim());
        if status.is_server_error()
            || (status == reqwest::StatusCode::TOO_MANY_REQUESTS && cfg.queue.retry_on_http_429)
        {
            Err(SendError::Recoverable {
                reason,
                retry_after,
            })
        } else {
            Err(SendError::NonRecoverable(reason))
        }
    }

    /// Sends one batch, retrying recoverable failures until it is accepted.
    async fn send(
        &self,
        batch: &[Queued],
        cache: &mut SeriesCache,
        req: &mut WriteRequest,
        snappy: &mut snap::raw::Encoder,
    ) {
        let mut max_t = self.build(batch, cache, req);
        let mut n = req.samples();
        if n == 0 {
            return;
        }
        let mut body = compress(snappy, req.as_bytes());
        let q = &self.queue;
        let backoff = crate::backoff::Backoff {
            initial: q.cfg.queue.min_backoff,
            max: q.cfg.queue.max_backoff,
        };
        let mut failures = 0u32;
        let mut retrying: Option<Vec<Queued>> = None;
        loop {
            // As upstream, a retried request is rebuilt without the samples that outlived
            // `sample_age_limit` while the receiver was failing.
            if let Some(current) = retrying.as_mut() {
                let oldest = self.oldest_allowed();
                if current.iter().any(|s| s.t_ms < oldest) {
                    current.retain(|s| s.t_ms >= oldest);
                    // Relabel outcomes are cached, so every sample missing from the rebuilt
                    // request aged out (or its series left the store) since the last try.
                    let before = n;
                    (max_t, _, _) = self.assemble(current, cache, req, oldest);
                    n = req.samples();
                    q.counters
                        .dropped_too_old
                        .fetch_add(before.saturating_sub(n) as u64, Ordering::Relaxed);
                    if n == 0 {
                        return;
                    }
                    body = compress(snappy, req.as_bytes());
                }
            }
            match self.post(body.clone()).await {
                Ok(()) => {
                    let c = &q.counters;
                    c.sent.fetch_add(n as u64, Ordering::Relaxed);
                    c.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
                    c.requests_sent.fetch_add(1, Ordering::Relaxed);
                    c.highest_sent_ms.fetch_max(max_t, Ordering::Relaxed);
                    return;
                }
                Err(SendError::NonRecoverable(error)) => {
                    RemoteWriteFailed {
                        queue: q,
                        error: &error,
                        samples: n,
                        retried: false,
                    }
                    .emit();
                    return;
                }
                Err(SendError::Recoverable {
                    reason,
                    retry_after,
                }) => {
                    RemoteWriteFailed {
                        queue: q,
                        error: &reason,
                        samples: n,
                        retried: true,
                    }
                    .emit();
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(retry_after.unwrap_or_else(|| backoff.delay(failures)))
                        .await;
                    if retrying.is_none() && !q.cfg.queue.sample_age_limit.is_zero() {
                        retrying = Some(batch.to_vec());
                    }
                }
            }
        }
    }
}

/// `Retry-After`: delay seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?;
    let ms = when.timestamp().as_millisecond() - crate::timefmt::now_ms();
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// Takes up to `n` samples from the front of a shard.
fn take(shard: &Shard, n: usize) -> Vec<Queued> {
    let mut buf = shard.lock();
    let k = n.min(buf.len());
    buf.drain(..k).collect()
}

/// The task of shard `i`: waits for a full batch or the deadline, sends, and on stop sends
/// what is left.
async fn run_shard(s: Arc<Sender>, i: usize, mut stop: watch::Receiver<bool>) {
    let q = &s.queue;
    let shard = &q.shards[i];
    let max = q.cfg.queue.max_samples_per_send;
    let deadline = q.cfg.queue.batch_send_deadline;
    let mut cache = SeriesCache::new();
    let mut req = WriteRequest::new();
    let mut snappy = snap::raw::Encoder::new();
    let mut flush_at = tokio::time::Instant::now() + deadline;
    loop {
        let stopping = loop {
            if shard.lock().len() >= max {
                break false;
            }
            tokio::select! {
                _ = shard.full.notified() => {}
                _ = tokio::time::sleep_until(flush_at) => break false,
                _ = stop.wait_for(|v| *v) => break true,
            }
        };
        loop {
            let batch = take(shard, max);
            if batch.is_empty() {
                break;
            }
            cache.maybe_turn();
            s.send(&batch, &mut cache, &mut req, &mut snappy).await;
            q.counters
                .pending
                .fetch_sub(batch.len() as i64, Ordering::Relaxed);
            // A partial batch went out on the deadline; a full one may be followed by more.
            if !stopping && batch.len() < max {
                break;
            }
        }
        if stopping {
            return;
        }
        flush_at = tokio::time::Instant::now() + deadline;
    }
}

/// Encodes every queue's figures when `/metrics` is read.
#[derive(Debug)]
struct QueueCollector(Arc<RwLock<Vec<Arc<Queue>>>>);

fn labels(q: &Queue) -> Vec<(&'static str, String)> {
    vec![
        ("remote_name", q.cfg.name.clone()),
        ("url", q.shown_url.clone()),
    ]
}

fn seconds(ms: i64) -> f64 {
    if ms == i64::MIN {
        0.0
    } else {
        ms as f64 / 1000.0
    }
}

impl Collector for QueueCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let queues = self.0.read().map(|q| q.clone()).unwrap_or_default();
        if queues.is_empty() {
            return Ok(());
        }
        type Get = fn(&Counters) -> u64;
        let counters: [(&str, &str, Get); 5] = [
            (
                "remote_write_samples_sent",
                "Samples the remote accepted",
                |c| c.sent.load(Ordering::Relaxed),
            ),
            (
                "remote_write_samples_failed",
                "Samples in requests that failed with a non-recoverable error",
                |c| c.failed.load(Ordering::Relaxed),
            ),
            (
                "remote_write_samples_retried",
                "Samples in requests that failed with a recoverable error and were retried",
                |c| c.retried.load(Ordering::Relaxed),
            ),
            (
                "remote_write_sent_bytes",
                "Bytes of compressed request bodies the remote accepted",
                |c| c.bytes_sent.load(Ordering::Relaxed),
            ),
            (
                "remote_write_requests_sent",
                "Requests the remote accepted",
                |c| c.requests_sent.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in counters {
            let mut m =
                e.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
            for q in &queues {
                ConstCounter::new(get(&q.counters)).encode(m.encode_family(&labels(q))?)?;
            }
        }
        let mut m = e.encode_descriptor(
            "remote_write_samples_dropped",
            "Samples not sent, by reason: queue_full, non_recoverable, too_old, relabel",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for q in &queues {
            let c = &q.counters;
            for (reason, v) in [
                ("queue_full", &c.dropped_queue_full),
                ("non_recoverable", &c.dropped_non_recoverable),
                ("too_old", &c.dropped_too_old),
                ("relabel", &c.dropped_relabel),
            ] {
                let mut l = labels(q);
                l.push(("reason", reason.to_string()));
                ConstCounter::new(v.load(Ordering::Relaxed)).encode(m.encode_family(&l)?)?;
            }
        }
        type GetF = fn(&Counters) -> f64;
        let gauges: [(&str, &str, Option<Unit>, GetF); 4] = [
            (
                "remote_write_samples_pending",
                "Samples buffered or in flight",
                None,
                |c| c.pending.load(Ordering::Relaxed).max(0) as f64,
            ),
            (
                "remote_write_highest_appended_timestamp",
                "Newest sample timestamp handed to the queue",
                Some(Unit::Seconds),
                |c| seconds(c.highest_appended_ms.load(Ordering::Relaxed)),
            ),
            (
                "remote_write_highest_sent_timestamp",
                "Newest sample timestamp the remote accepted",
                Some(Unit::Seconds),
                |c| seconds(c.highest_sent_ms.load(Ordering::Relaxed)),
            ),
            (
                "remote_write_lag",
                "Newest appended minus newest sent sample timestamp (the queue's start time until a sample is sent)",
                Some(Unit::Seconds),
                |c| {
                    let appended = c.highest_appended_ms.load(Ordering::Relaxed);
                    let sent = c.highest_sent_ms.load(Ordering::Relaxed).max(c.started_ms);
                    if appended == i64::MIN {
                        0.0
                    } else {
                        appended.saturating_sub(sent).max(0) as f64 / 1000.0
                    }
                },
            ),
        ];
        for (name, help, unit, get) in gauges {
            let mut m = e.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                ConstGauge::new(0.0f64).metric_type(),
            )?;
            for q in &queues {
                ConstGauge::new(get(&q.counters)).encode(m.encode_family(&labels(q))?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(yaml_queue: &str) -> Queue {
        let cfg = crate::config::Config::from_yaml_str(
            &format!("remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    queue_config: {yaml_queue}\n"),
            "redline.yml",
        )
        .expect("config loads");
        Queue::new(cfg.remote_write[0].clone())
    }

    fn samples(store: &Store, n: usize) -> Vec<CommittedSample> {
        (0..n)
            .map(|i| {
                let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
                let (series, _) = store.get_or_create(&l).expect("series");
                CommittedSample {
                    series,
                    t_ms: i as i64,
                    v: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn a_full_shard_drops_and_counts() {
        let store = Store::new();
        let q = queue("{capacity: 10, max_shards: 1}");
        assert_eq!(q.shards.len(), 1);
        q.push(&samples(&store, 25), 24);
        assert_eq!(q.shards[0].lock().len(), 10);
        let c = &q.counters;
        assert_eq!(c.dropped_queue_full.load(Ordering::Relaxed), 15);
        assert_eq!(c.pending.load(Ordering::Relaxed), 10);
        assert_eq!(c.highest_appended_ms.load(Ordering::Relaxed), 24);
    }

    #[test]
    fn a_series_always_lands_in_the_same_shard() {
        let store = Store::new();
        let q = queue("{capacity: 1000}");
        assert_eq!(q.shards.len(), 4);
        let s = samples(&store, 200);
        q.push(&s, 199);
        q.push(&s, 199);
        let mut used = 0;
        for (i, shard) in q.shards.iter().enumerate() {
            let buf = shard.lock();
            used += usize::from(!buf.is_empty());
            assert!(buf.iter().all(|x| q.shard_of(x.series) == i));
        }
        assert!(used > 1, "all series in one shard");
    }

    #[test]
    fn passwords_in_urls_are_not_shown() {
        let q = queue("{}").shown_url;
        assert_eq!(q, "http://127.0.0.1:9/api/v1/write");
        assert_eq!(
            redacted("https://u:s3cr3t@mimir.example/api/v1/push"),
            "https://u:xxxxx@mimir.example/api/v1/push"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
