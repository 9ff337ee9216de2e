//! A scrape target as the scrape loop runs it, and its health as the API reports it.
//!
//! [`TargetSpec`] is everything a loop needs, fixed when the target is created from
//! discovery and the job's config. [`Target`] pairs a spec with its mutable
//! [`TargetStatus`]; [`TargetSet`] is the shared view `/api/v1/targets` reads.

use crate::relabel::{NameValidation, RelabelConfig};
use crate::store::Labels;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Per-scrape limits; `0` means no limit, as in Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    pub body_size_bytes: u64,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
}

/// What a scrape loop needs to scrape one target.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    /// The scrape pool (job name) the target belongs to.
    pub job: String,
    /// The URL scraped, with `params` in the query string.
    pub url: String,
    /// Final target labels (after relabeling): attached to every scraped series.
    pub labels: Labels,
    /// Labels as discovery reported them, before relabeling.
    pub discovered_labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`: series exposed with explicit timestamps get staleness
    /// markers too when they disappear.
    pub track_timestamps_staleness: bool,
    pub metric_relabel_configs: Arc<Vec<RelabelConfig>>,
    pub limits: ScrapeLimits,
    /// `metric_name_validation_scheme`: a scraped series whose names this scheme rejects
    /// (after metric relabeling) fails the scrape.
    pub name_validation: NameValidation,
    /// The job's native-histogram settings.
    pub histograms: crate::config::HistogramConfig,
    /// Prometheus' `type-and-unit-labels` feature: each series gets its family's type and
    /// unit as `__type__` and `__unit__` (see [`crate::scrape::metadata_labels`]).
    pub type_and_unit_labels: bool,
    /// Prometheus' `created-timestamp-zero-ingestion` feature: a series with a created
    /// timestamp (protobuf `created_timestamp`, OpenMetrics `_created`) gets a zero sample at
    /// that timestamp before its first sample, and OpenMetrics `_created` series are not
    /// stored.
    pub created_timestamp_zero_ingestion: bool,
}

impl TargetSpec {
    /// A spec with no target labels, no relabeling and no limits, keeping the exposed
    /// timestamps: for loading a file into a store (`redline debug load`, benchmarks).
    pub fn unlabelled(url: &str) -> TargetSpec {
        TargetSpec {
            job: String::new(),
            url: url.to_string(),
            labels: Labels::empty(),
            discovered_labels: Labels::empty(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
            honor_labels: true,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            metric_relabel_configs: Arc::new(Vec::new()),
            limits: ScrapeLimits::default(),
            name_validation: NameValidation::Utf8,
            histograms: crate::config::HistogramConfig::default(),
            type_and_unit_labels: false,
            created_timestamp_zero_ingestion: false,
        }
    }
}

/// Health as Prometheus reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of the most recent scrape.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    pub last_samples: u64,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_scrape_duration: Duration::ZERO,
            last_samples: 0,
        }
    }
}

/// A target being scraped.
#[derive(Debug)]
pub struct Target {
    pub spec: Arc<TargetSpec>,
    status: Mutex<TargetStatus>,
    /// The latest discovered labels: discovery may change `__meta_*` labels of a target
    /// whose final labels stay the same, and the targets API shows the latest, as Prometheus.
    discovered: Mutex<Labels>,
}

impl Target {
    pub fn new(spec: TargetSpec) -> Self {
        Target {
            discovered: Mutex::new(spec.discovered_labels.clone()),
            spec: Arc::new(spec),
            status: Mutex::new(TargetStatus::default()),
        }
    }

    /// The labels discovery gave this target most recently, before relabeling.
    pub fn discovered_labels(&self) -> Labels {
        self.discovered
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|_| self.spec.discovered_labels.clone())
    }

    pub(crate) fn set_discovered_labels(&self, labels: Labels) {
        if let Ok(mut l) = self.discovered.lock() {
            *l = labels;
        }
    }

    /// A copy of the current status.
    pub fn status(&self) -> TargetStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn set_status(&self, status: TargetStatus) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}

/// The targets of one scrape pool.
#[derive(Debug, Default, Clone)]
pub struct PoolTargets {
    pub active: Vec<Arc<Target>>,
    /// Discovered label sets of targets that relabeling dropped.
    pub dropped: Vec<Labels>,
}

/// Every scrape pool's targets, shared between the scrape manager (writer) and the HTTP API.
#[derive(Debug, Default)]
pub struct TargetSet {
    pools: RwLock<BTreeMap<String, PoolTargets>>,
}

impl TargetSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the targets of pool `job`.
    pub fn set_pool(&self, job: &str, targets: PoolTargets) {
        if let Ok(mut p) = self.pools.write() {
            p.insert(job.to_string(), targets);
        }
    }

    /// Removes pool `job`.
    pub fn remove_pool(&self, job: &str) {
        if let Ok(mut p) = self.pools.write() {
            p.remove(job);
        }
    }

    /// A snapshot of every pool, by job name.
    pub fn snapshot(&self) -> BTreeMap<String, PoolTargets> {
        self.pools.read().map(|p| p.clone()).unwrap_or_default()
    }
}
