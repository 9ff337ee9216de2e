//! redline's own metrics and the events that move them.
//!
//! [`Telemetry`] owns the `prometheus-client` registry served on `/metrics`. Each observable
//! failure or milestone is a small event type (for example [`ScrapeFailed`]) whose `emit()`
//! both logs with stable fields and bumps the matching metric, so logs and `/metrics` never
//! disagree.

use crate::store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;

type JobLabels = Vec<(&'static str, String)>;

fn job_labels(job: &str) -> JobLabels {
    vec![("job", job.to_string())]
}

/// The registry and every metric redline exports about itself.
pub struct Telemetry {
    registry: Registry,
    scrapes: Family<JobLabels, Counter>,
    scrape_failures: Family<JobLabels, Counter>,
    scrape_duration: Family<JobLabels, Histogram>,
    /// Targets being scraped, per job.
    pub active_targets: Family<JobLabels, Gauge>,
}

impl Telemetry {
    /// The registry, with the store's figures read at every encoding.
    pub fn new(store: Arc<Store>) -> Self {
        let mut registry = Registry::with_prefix("redline");
        let scrapes = Family::<JobLabels, Counter>::default();
        registry.register("scrapes", "Scrapes attempted, per job", scrapes.clone());
        let scrape_failures = Family::<JobLabels, Counter>::default();
        registry.register(
            "scrape_failures",
            "Scrapes that failed (connection, HTTP status, parse error or limit), per job",
            scrape_failures.clone(),
        );
        let scrape_duration = Family::<JobLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register_with_unit(
            "scrape_duration",
            "Duration of scrapes, per job",
            Unit::Seconds,
            scrape_duration.clone(),
        );
        registry.register_collector(Box::new(StoreCollector(store)));
        let active_targets = Family::<JobLabels, Gauge>::default();
        registry.register(
            "active_targets",
            "Targets being scraped, per job",
            active_targets.clone(),
        );
        Telemetry {
            registry,
            scrapes,
            scrape_failures,
            scrape_duration,
            active_targets,
        }
    }

    /// The registry, for subsystems that register their own metrics at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds a collector whose metrics are read at every encoding.
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// The registry encoded in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Reads the store's figures and the process' memory when `/metrics` is encoded, so they
/// are never stale and never counted twice.
#[derive(Debug)]
struct StoreCollector(Arc<Store>);

fn encode_counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

fn encode_gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: i64,
) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, unit, g.metric_type())?;
    g.encode(m)
}

fn encode_seconds(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, Some(&Unit::Seconds), g.metric_type())?;
    g.encode(m)
}

/// The durable store's figures (`redline_tsdb_*`), named after Prometheus'
/// `prometheus_tsdb_*` where one exists.
fn encode_durable(e: &mut DescriptorEncoder, d: &crate::store::DurableStats) -> std::fmt::Result {
    let gauges: [(&str, &str, Option<&Unit>, i64); 6] = [
        (
            "tsdb_wal_segments",
            "Segments of the write-ahead log on disk",
            None,
            d.wal_segments as i64,
        ),
        (
            "tsdb_wal_storage_size",
            "Size of the write-ahead log on disk",
            Some(&Unit::Bytes),
            d.wal_bytes as i64,
        ),
        (
            "tsdb_wal_segment_current",
            "Number of the log segment being written",
            None,
            d.wal_current_segment as i64,
        ),
        (
            "tsdb_chunk_files",
            "Chunk files on disk",
            None,
            d.chunk_files as i64,
        ),
        (
            "tsdb_chunk_files_size",
            "Size of the chunk files on disk",
            Some(&Unit::Bytes),
            d.chunk_file_bytes as i64,
        ),
        (
            "tsdb_chunks_on_disk",
            "Closed chunks held in chunk files rather than in memory",
            None,
            d.chunks_on_disk as i64,
        ),
    ];
    for (name, help, unit, v) in gauges {
        encode_gauge(e, name, help, unit, v)?;
    }
    let counters: [(&str, &str, u64); 6] = [
        (
            "tsdb_wal_fsyncs",
            "Syncs of the write-ahead log to disk",
            d.wal_fsyncs_total,
        ),
        (
            "tsdb_wal_write_errors",
            "Failed writes to the write-ahead log",
            d.wal_write_errors_total,
        ),
        (
            "tsdb_chunk_read_errors",
            "Chunks that could not be read back from disk",
            d.chunk_read_errors_total,
        ),
        (
            "tsdb_checkpoints",
            "Checkpoints (snapshot of the head, log cut) written",
            d.checkpoints_total,
        ),
        (
            "tsdb_checkpoint_failures",
            "Checkpoints that failed",
            d.checkpoint_failures_total,
        ),
        (
            "tsdb_corruptions_repaired",
            "Torn or damaged log records, chunk files and snapshots found and repaired at start",
            d.repairs_total,
        ),
    ];
    for (name, help, v) in counters {
        encode_counter(e, name, help, v)?;
    }
    // A float counter: `redline_tsdb_wal_fsync_duration_seconds_total`.
    let fsync_seconds = ConstCounter::new(d.wal_fsync_seconds_total);
    let m = e.encode_descriptor(
        "tsdb_wal_fsync_duration",
        "Time spent syncing the write-ahead log",
        Some(&Unit::Seconds),
        fsync_seconds.metric_type(),
    )?;
    fsync_seconds.encode(m)?;
    encode_seconds(
        e,
        "tsdb_checkpoint_duration",
        "Duration of the last checkpoint",
        d.last_checkpoint_seconds,
    )?;
    encode_seconds(
        e,
        "tsdb_data_replay_duration",
        "Time the start took to restore the store from disk",
        d.replay_seconds,
    )
}

impl Collector for StoreCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = self.0.stats();
        encode_counter(
            &mut e,
            "samples_appended",
            "Samples appended to the store",
            s.samples_appended_total,
        )?;
        encode_counter(
            &mut e,
            "samples_out_of_order",
            "Samples rejected because they were older than their series' last sample",
            s.out_of_order_total,
        )?;
        encode_counter(
            &mut e,
            "samples_duplicate",
            "Samples rejected because their series had a different value at that timestamp",
            s.duplicates_total,
        )?;
        encode_counter(
            &mut e,
            "samples_out_of_bounds",
            "Samples rejected because they were older than the retention period",
            s.out_of_bounds_total,
        )?;
        encode_counter(
            &mut e,
            "series_created",
            "Series created in the store",
            s.series_created_total,
        )?;
        encode_counter(
            &mut e,
            "series_removed",
            "Series removed by retention",
            s.series_removed_total,
        )?;
        encode_gauge(
            &mut e,
            "head_series",
            "Series in the in-memory store",
            None,
            s.series as i64,
        )?;
        encode_gauge(
            &mut e,
            "head_chunks",
            "Compressed sample chunks in the store",
            None,
            s.chunks as i64,
        )?;
        encode_gauge(
            &mut e,
            "head_chunk",
            "Estimated memory held by compressed sample chunks",
            Some(&Unit::Bytes),
            s.chunk_bytes as i64,
        )?;
        encode_gauge(
            &mut e,
            "head_index",
            "Estimated memory held by the series index, label sets and interned strings",
            Some(&Unit::Bytes),
            s.index_bytes as i64,
        )?;
        if let Some(d) = self.0.durable_stats() {
            encode_durable(&mut e, &d)?;
        }
        if let Some(rss) = resident_memory_bytes() {
            encode_gauge(
                &mut e,
                "process_resident_memory",
                "Resident memory of the redline process",
                Some(&Unit::Bytes),
                rss as i64,
            )?;
        }
        Ok(())
    }
}

/// A scrape that succeeded.
pub struct ScrapeSucceeded<'a> {
    pub job: &'a str,
    pub duration_seconds: f64,
}

impl ScrapeSucceeded<'_> {
    pub fn emit(&self, t: &Telemetry) {
        let labels = job_labels(self.job);
        t.scrapes.get_or_create(&labels).inc();
        t.scrape_duration
            .get_or_create(&labels)
            .observe(self.duration_seconds);
    }
}

/// A scrape that failed: connection refused, timeout, HTTP status, parse error or a limit.
pub struct ScrapeFailed<'a> {
    pub job: &'a str,
    pub target: &'a str,
    pub error: &'a str,
    pub duration_seconds: f64,
}

impl ScrapeFailed<'_> {
    pub fn emit(&self, t: &Telemetry) {
        tracing::warn!(
            job = self.job,
            target = self.target,
            error = self.error,
            "scrape failed"
        );
        let labels = job_labels(self.job);
        t.scrapes.get_or_create(&labels).inc();
        t.scrape_failures.get_or_create(&labels).inc();
        t.scrape_duration
            .get_or_create(&labels)
            .observe(self.duration_seconds);
    }
}

/// Reads the resident set size of this process from `/proc/self/statm` (Linux only).
pub fn resident_memory_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}
