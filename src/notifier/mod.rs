//! Sending rule alerts to Alertmanagers the way Prometheus 3's notifier does
//! (`notifier/manager.go`, `alertmanagerset.go`, `sendloop.go`), for the Alertmanagers of
//! prometheus.yml's `alerting:` section.
//!
//! [`Notifier::send`] takes the alerts a rule evaluation hands on (as Prometheus'
//! `Manager.Send`): the global `external_labels` are added where an alert lacks them, the
//! global `alert_relabel_configs` run, then each Alertmanager set
//! ([`crate::config::alerting::AlertmanagerConfig`]) applies its own
//! `alert_relabel_configs` and appends the alerts to the queue of every Alertmanager it has
//! discovered. Each Alertmanager has its own bounded queue ([`NotifierOptions::queue_capacity`],
//! Prometheus' default 10,000; when full the oldest alerts are dropped and counted) and one
//! task that POSTs batches of at most [`NotifierOptions::max_batch_size`] (256) alerts as
//! Alertmanager API v2 JSON to `<__scheme__>://<__address__><__alerts_path__>`, each under
//! the set's `timeout`. A failed batch is not retried (the rules engine re-sends firing
//! alerts every resend delay): it counts as errors and drops. Sending never blocks the
//! caller, so an Alertmanager that is down or slow delays nothing but its own queue.
//!
//! Which Alertmanagers a set has comes from service discovery, which the caller runs and
//! reports through [`Notifier::sync`] (as Prometheus' discovery manager feeds
//! `Manager.Run`): each target gets `__scheme__` and `__alerts_path__` from the config,
//! the group's labels, then the set's `relabel_configs`. [`Notifier::apply_config`] takes a
//! new `alerting:` section; a set whose configuration is unchanged keeps its Alertmanagers
//! and queues. Metrics per Alertmanager (`alertmanager` label: its URL) are Prometheus'
//! with redline's prefix: `redline_notifications_sent_total`, `_errors_total`,
//! `_dropped_total`, `_queue_length`, `_latency_histogram_seconds`, plus
//! `redline_notifications_queue_capacity` and `redline_notifications_alertmanagers_discovered`.

mod sendloop;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::config::alerting::{AlertingConfig, AlertmanagerConfig};
use crate::config::discovery::{TargetGroup, ADDRESS_LABEL};
use crate::config::{Auth, SecretSource};
use crate::relabel::RelabelConfig;
use crate::store::Labels;
use sendloop::SendLoop;

/// Prometheus' `--alertmanager.notification-queue-capacity` default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Prometheus' `DefaultMaxBatchSize`: alerts per request.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 256;

/// The label holding a discovered Alertmanager's scheme.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The label holding the path alerts are POSTed to.
pub const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// One alert as sent to Alertmanager (Prometheus' `notifier.Alert`). Times are
/// milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub generator_url: String,
}

/// Runtime knobs that are flags in Prometheus.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Alerts queued per Alertmanager (`--alertmanager.notification-queue-capacity`).
    pub queue_capacity: usize,
    /// Alerts per request (`--alertmanager.notification-batch-size`).
    pub max_batch_size: usize,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
        }
    }
}

type AmLabels = Vec<(&'static str, String)>;

/// The notifier's metrics, per Alertmanager URL.
#[derive(Clone)]
pub(crate) struct Metrics {
    sent: Family<AmLabels, Counter>,
    errors: Family<AmLabels, Counter>,
    dropped: Family<AmLabels, Counter>,
    queue_length: Family<AmLabels, Gauge>,
    latency: Family<AmLabels, Histogram>,
    queue_capacity: Gauge,
    discovered: Gauge,
}

fn am_labels(url: &str) -> AmLabels {
    vec![("alertmanager", url.to_string())]
}

impl Metrics {
    fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            sent: Family::default(),
            errors: Family::default(),
            dropped: Family::default(),
            queue_length: Family::default(),
            // Prometheus' latency_histogram_seconds buckets.
            latency: Family::new_with_constructor(|| Histogram::new([0.01, 0.1, 1.0, 10.0])),
            queue_capacity: Gauge::default(),
            discovered: Gauge::default(),
        };
        registry.register(
            "notifications_sent",
            "Total number of alerts sent, per Alertmanager",
            m.sent.clone(),
        );
        registry.register(
            "notifications_errors",
            "Total number of sent alerts affected by errors, per Alertmanager",
            m.errors.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Total number of alerts dropped due to errors when sending to Alertmanager or a full queue",
            m.dropped.clone(),
        );
        registry.register(
            "notifications_queue_length",
            "The number of alert notifications in the queue, per Alertmanager",
            m.queue_length.clone(),
        );
        registry.register_with_unit(
            "notifications_latency_histogram",
            "Latency histogram for sending alert notifications",
            Unit::Seconds,
            m.latency.clone(),
        );
        registry.register(
            "notifications_queue_capacity",
            "The capacity of the alert notifications queue",
            m.queue_capacity.clone(),
        );
        registry.register(
            "notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active",
            m.discovered.clone(),
        );
        m
    }

    /// Starts the counters of a new Alertmanager at 0, as Prometheus does.
    fn init(&self, url: &str) {
        let l = am_labels(url);
        let _ = self.sent.get_or_create(&l);
        let _ = self.errors.get_or_create(&l);
        let _ = self.dropped.get_or_create(&l);
        let _ = self.queue_length.get_or_create(&l);
    }

    /// Removes the series of an Alertmanager that is gone.
    fn remove(&self, url: &str) {
        let l = am_labels(url);
        self.sent.remove(&l);
        self.errors.remove(&l);
        self.dropped.remove(&l);
        self.queue_length.remove(&l);
        self.latency.remove(&l);
    }
}

/// Prometheus' notifier: the Alertmanager sets of the current `alerting:` section and a
/// queue per discovered Alertmanager. Cheap to clone (shared).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    opts: NotifierOptions,
    metrics: Metrics,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    external_labels: Labels,
    relabel: Vec<RelabelConfig>,
    sets: Vec<Arc<AlertmanagerSet>>,
}

/// One `alertmanagers` entry and the Alertmanagers found for it.
struct AlertmanagerSet {
    cfg: AlertmanagerConfig,
    /// Identifies the configuration (secrets included), to keep a set across a reload.
    key: String,
    client: Result<reqwest::Client, crate::httpclient::ClientError>,
    targets: RwLock<SetTargets>,
}

#[derive(Default)]
struct SetTargets {
    /// Keyed by URL, deduplicated.
    active: BTreeMap<String, Arc<SendLoop>>,
    /// The labels (before relabeling) of the targets `relabel_configs` dropped.
    dropped: Vec<Labels>,
}

/// A discovered Alertmanager as the status API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredAlertmanagers {
    /// The URLs alerts are sent to.
    pub active: Vec<String>,
    /// The URLs of targets that relabeling dropped.
    pub dropped: Vec<String>,
}

fn lock_read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Notifier {
    /// A notifier with no Alertmanagers; its metrics go into `registry`.
    pub fn new(opts: NotifierOptions, registry: &mut Registry) -> Notifier {
        let metrics = Metrics::register(registry);
        metrics
            .queue_capacity
            .set(i64::try_from(opts.queue_capacity).unwrap_or(i64::MAX));
        Notifier {
            inner: Arc::new(Inner {
                opts,
                metrics,
                state: RwLock::new(State::default()),
            }),
        }
    }

    /// Takes a new `alerting:` section and external labels. Sets whose configuration is
    /// unchanged keep their Alertmanagers and queues; the others start empty until
    /// [`Notifier::sync`] reports their targets, and the queues of removed sets stop.
    /// Call within the tokio runtime.
    pub fn apply_config(&self, cfg: &AlertingConfig, external_labels: &Labels) {
        let mut state = lock_write(&self.inner.state);
        let mut old: Vec<Arc<AlertmanagerSet>> = std::mem::take(&mut state.sets);
        let mut sets = Vec::with_capacity(cfg.alertmanagers.len());
        for am in &cfg.alertmanagers {
            let key = config_key(am);
            let set = match old.iter().position(|s| s.key == key) {
                Some(i) => old.remove(i),
                None => Arc::new(AlertmanagerSet {
                    client: crate::httpclient::http_client(&am.http),
                    cfg: am.clone(),
                    key,
                    targets: RwLock::new(SetTargets::default()),
                }),
            };
            if let Err(e) = &set.client {
                tracing::error!(error = %e, "building the HTTP client of an Alertmanager set; its alerts cannot be sent");
            }
            sets.push(set);
        }
        for gone in old {
            let mut t = lock_write(&gone.targets);
            for (_, l) in std::mem::take(&mut t.active) {
                l.stop();
            }
        }
        state.sets = sets;
        state.external_labels = external_labels.clone();
        state.relabel = cfg.alert_relabel_configs.clone();
        drop(state);
        self.update_discovered();
    }

    /// The discovered targets of set `index` (its position in `alertmanagers`): Prometheus'
    /// `alertmanagerSet.sync`. Alertmanagers that stay keep their queues; new ones start
    /// one; those gone stop theirs (sending what is queued first). Call within the tokio
    /// runtime.
    pub fn sync(&self, index: usize, groups: &[TargetGroup]) {
        let state = lock_read(&self.inner.state);
        let Some(set) = state.sets.get(index).cloned() else {
            tracing::error!(index, "couldn't sync alert manager set: invalid id");
            return;
        };
        drop(state);
        let mut urls: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        for g in groups {
            match alertmanagers_from_group(g, &set.cfg) {
                Ok((found, d)) => {
                    urls.extend(found);
                    dropped.extend(d);
                }
                Err(e) => tracing::error!(error = %e, "Creating discovered Alertmanagers failed"),
            }
        }
        let mut t = lock_write(&set.targets);
        let mut active = BTreeMap::new();
        for url in urls {
            if active.contains_key(&url) {
                continue;
            }
            let l = match t.active.remove(&url) {
                Some(l) => l,
                None => {
                    self.inner.metrics.init(&url);
                    SendLoop::start(
                        url.clone(),
                        set.client.clone(),
                        &set.cfg,
                        &self.inner.opts,
                        self.inner.metrics.clone(),
                    )
                }
            };
            active.insert(url, l);
        }
        for (_, l) in std::mem::replace(&mut t.active, active) {
            l.stop();
        }
        t.dropped = dropped;
        drop(t);
        self.update_discovered();
    }

    fn update_discovered(&self) {
        let n: usize = lock_read(&self.inner.state)
            .sets
            .iter()
            .map(|s| lock_read(&s.targets).active.len())
            .sum();
        self.inner
            .metrics
            .discovered
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Queues `alerts` for every Alertmanager (Prometheus' `Manager.Send`). Never waits for
    /// an Alertmanager.
    pub fn send(&self, alerts: Vec<Alert>) {
        let state = lock_read(&self.inner.state);
        if state.sets.is_empty() {
            return;
        }
        let alerts = relabel_alerts(&state.relabel, &state.external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        for set in &state.sets {
            let relabeled;
            let for_set = if set.cfg.alert_relabel_configs.is_empty() {
                &alerts
            } else {
                relabeled = relabel_alerts(
                    &set.cfg.alert_relabel_configs,
                    &Labels::empty(),
                    alerts.clone(),
                );
                if relabeled.is_empty() {
                    continue;
                }
                &relabeled
            };
            for l in lock_read(&set.targets).active.values() {
                l.add(for_set);
            }
        }
    }

    /// The Alertmanagers alerts go to, and those relabeling dropped.
    pub fn alertmanagers(&self) -> DiscoveredAlertmanagers {
        let state = lock_read(&self.inner.state);
        let mut out = DiscoveredAlertmanagers {
            active: Vec::new(),
            dropped: Vec::new(),
        };
        for s in &state.sets {
            let t = lock_read(&s.targets);
            out.active.extend(t.active.keys().cloned());
            out.dropped
                .extend(t.dropped.iter().filter_map(|l| alertmanager_url(l).ok()));
        }
        out
    }

    /// Stops every queue, sending what each holds first (Prometheus 3's
    /// `--alertmanager.drain-notification-queue-on-shutdown`, default true), and waits for
    /// them.
    pub async fn shutdown(&self) {
        let sets = std::mem::take(&mut lock_write(&self.inner.state).sets);
        let mut loops = Vec::new();
        for s in sets {
            loops.extend(std::mem::take(&mut lock_write(&s.targets).active).into_values());
        }
        for l in &loops {
            l.stop();
        }
        for l in loops {
            l.finished().await;
        }
    }
}

/// Prometheus' `relabelAlerts`: external labels added where the alert has no (or an empty)
/// value, then the rules; alerts a rule drops are left out.
fn relabel_alerts(configs: &[RelabelConfig], external: &Labels, alerts: Vec<Alert>) -> Vec<Alert> {
    let mut out = Vec::with_capacity(alerts.len());
    for mut a in alerts {
        for l in external.iter() {
            if a.labels.get(&l.name).is_none_or(str::is_empty) {
                a.labels = a.labels.with(&l.name, &l.value);
            }
        }
        if configs.is_empty() {
            out.push(a);
            continue;
        }
        if let Some(labels) = crate::relabel::process(&a.labels, configs) {
            a.labels = labels;
            out.push(a);
        }
    }
    out
}

/// Why a discovered target is not an Alertmanager.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not a valid hostname")]
    InvalidAddress(String),
}

/// Prometheus' `AlertmanagerFromGroup`: the URLs of the group's Alertmanagers, and the
/// labels of those relabeling dropped.
fn alertmanagers_from_group(
    g: &TargetGroup,
    cfg: &AlertmanagerConfig,
) -> Result<(Vec<String>, Vec<Labels>), TargetError> {
    let mut found = Vec::new();
    let mut dropped = Vec::new();
    let path = cfg.alerts_path();
    for t in &g.targets {
        let mut labels = t
            .with(SCHEME_LABEL, cfg.scheme.as_str())
            .with(ALERTS_PATH_LABEL, &path);
        // The group's labels where the target itself has none (these can override the
        // configured scheme and path, as in Prometheus).
        for l in g.labels.iter() {
            if t.get(&l.name).is_none() {
                labels = labels.with(&l.name, &l.value);
            }
        }
        match crate::relabel::process(&labels, &cfg.relabel_configs) {
            None => dropped.push(labels),
            Some(kept) => found.push(alertmanager_url(&kept)?),
        }
    }
    Ok((found, dropped))
}

/// `<__scheme__>://<__address__><__alerts_path__>`, as Go's `url.URL` prints it.
fn alertmanager_url(labels: &Labels) -> Result<String, TargetError> {
    let addr = labels.get(ADDRESS_LABEL).unwrap_or("");
    if addr.contains('/') {
        return Err(TargetError::InvalidAddress(addr.to_string()));
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    let path = labels.get(ALERTS_PATH_LABEL).unwrap_or("");
    let sep = if path.is_empty() || path.starts_with('/') {
        ""
    } else {
        "/"
    };
    Ok(format!("{scheme}://{addr}{sep}{path}"))
}

/// A key for an Alertmanager set's configuration, secrets included (their `Debug` hides
/// them, so a changed password would otherwise look unchanged).
fn config_key(cfg: &AlertmanagerConfig) -> String {
    let mut key = format!("{cfg:?}");
    let mut secret = |s: &SecretSource| {
        if let SecretSource::Inline(v) = s {
            key.push('\u{0}');
            key.push_str(v.expose());
        }
    };
    match &cfg.http.auth {
        Some(Auth::Basic(b)) => b.password.iter().for_each(&mut secret),
        Some(Auth::Authorization(a)) => a.credentials.iter().for_each(&mut secret),
        Some(Auth::OAuth2(o)) => o.client_secret.iter().for_each(&mut secret),
        None => {}
    }
    if let Some(k) = &cfg.http.tls.key {
        secret(k);
    }
    key
}

#[cfg(test)]
mod tests;
