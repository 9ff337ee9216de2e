//! The alerting pipeline: the handle the rules engine, the SLO engine, the Alertmanager API
//! and the dashboard share.
//!
//! ```text
//! put_alerts ─► AlertStore (merge, limit) ─► Inhibitor.observe ─► Dispatcher (groups)
//!            ─► am_alert (SQLite)
//!   flush: time intervals → silences/inhibition (none left: stop) → nflog dedup
//!          → IntegrationQueue → Notifier
//!             └► pending_notification      ack: nflog + delete pending
//! ```
//!
//! [`Pipeline::start`] loads what the state database holds (alerts, notification log,
//! silences), replays the notifications that were never acknowledged, and rebuilds the
//! aggregation groups. [`Pipeline::reload`] rebuilds the dispatcher, the integrations and the
//! inhibitor for a new configuration and keeps the alerts, the silences and the log, as
//! Alertmanager does. A background task drops resolved alerts no group holds any more and
//! expired log entries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use tokio::task::JoinHandle;

use super::ack::{Ack, AckError, AckRequest, Acks};
use super::acknowledge::{firing_groups, send_notices, AckTarget};
use super::alert::{fingerprint_hex, Alert};
use super::delivery::{
    parse_pending, Begin, Delivery, DeliveryJob, DeliveryMetrics, IntegrationQueue,
    IntegrationStatus, PendingNotification,
};
use super::dispatch::{AlertMuter, DispatchOptions, Dispatcher, GroupSnapshot};
use super::history::{labels_map, HistoryOptions, NotificationHistory, Suppression};
use super::inhibit::Inhibitor;
use super::nflog::{NflogKey, NotificationLog, DEFAULT_NFLOG_RETENTION};
use super::notify::build::{all_integrations, IntegrationError, NotifyContext};
use super::notify::Notifier;
use super::provider::{
    alert_from_json, alert_to_json, normalize, AlertStore, DecodeError, DEFAULT_RESOLVED_RETENTION,
};
use super::silence::{SilenceError, Silences};
use super::status::{AlertState, AlertStatus, StatusCache};
use crate::backoff::Backoff;
use crate::clock::SharedClock;
use crate::config::alertmanager::AlertmanagerConfig;
use crate::state::pipeline::StoredAlert;
use crate::state::{StateDb, StateError};
use crate::store::Labels;
use crate::telemetry::Telemetry;

/// Builds the integrations (webhook, email, …) of every receiver of a configuration:
/// `(receiver name, integrations in config order)`. Called at start and on every reload; an
/// error rejects the configuration.
pub type IntegrationFactory = Arc<
    dyn Fn(&AlertmanagerConfig) -> Result<Vec<(String, Vec<Arc<dyn Notifier>>)>, IntegrationError>
        + Send
        + Sync,
>;

/// The factory of redline's integrations ([`super::notify::build::all_integrations`]) with the
/// config's templates; `external_url` is the payloads' `externalURL`, `dashboard_url` the
/// base of links back to the dashboard (empty: the external URL).
pub fn standard_integrations(external_url: String, dashboard_url: String) -> IntegrationFactory {
    Arc::new(move |cfg: &AlertmanagerConfig| {
        let ctx = NotifyContext::for_config(cfg, &external_url, &dashboard_url)?;
        all_integrations(cfg, &ctx)
    })
}

/// Pipeline settings that are not in Alertmanager's file.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Most active alerts held; `None`: no limit.
    pub max_alerts: Option<usize>,
    /// Most alerts in one notification. Default 1000.
    pub max_alerts_per_group: usize,
    /// How long notification log entries are kept. Default 120h.
    pub nflog_retention: Duration,
    /// How long a resolved alert is kept at most. Default 24h.
    pub resolved_retention: Duration,
    /// Jobs waiting per integration. Default 1024.
    pub queue_capacity: usize,
    pub backoff: Backoff,
    /// How long a notification replayed at start-up is retried. Default 1h.
    pub replay_deadline: Duration,
    /// How often resolved alerts and expired log entries are dropped. Default 1m.
    pub gc_interval: Duration,
    /// The largest request body the Alertmanager API accepts. Default 16 MiB.
    pub max_request_bytes: usize,
    /// See [`DispatchOptions::playbooks_url`]. Default `None`.
    pub playbooks_url: Option<String>,
    /// Whether this replica may send (high availability). Default: always open.
    pub send_gate: crate::alerting::replica::SendGate,
    /// How much notification history is kept (`alertmanager.notification_history`).
    pub history: HistoryOptions,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            max_alerts: None,
            max_alerts_per_group: DispatchOptions::default().max_alerts_per_group,
            nflog_retention: DEFAULT_NFLOG_RETENTION,
            resolved_retention: DEFAULT_RESOLVED_RETENTION,
            queue_capacity: 1024,
            backoff: Backoff::default(),
            replay_deadline: Duration::from_secs(3600),
            gc_interval: Duration::from_secs(60),
            max_request_bytes: crate::config::alertmanager::DEFAULT_MAX_REQUEST_BYTES,
            playbooks_url: None,
            send_gate: crate::alerting::replica::SendGate::always(),
            history: HistoryOptions::default(),
        }
    }
}

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{rejected} alert(s) rejected: the limit of {limit} active alerts (alertmanager.max_alerts) is reached")]
    TooManyAlerts { limit: usize, rejected: usize },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Silences(#[from] SilenceError),
    #[error(transparent)]
    Acks(#[from] AckError),
    #[error("building integrations: {0}")]
    Integrations(#[source] IntegrationError),
}

struct Running {
    config: Arc<AlertmanagerConfig>,
    dispatcher: Arc<Dispatcher>,
    inhibitor: Arc<Inhibitor>,
    /// Alert statuses under this configuration and inhibitor.
    statuses: Arc<StatusCache>,
    /// Each receiver's integrations, in configuration order.
    integrations: BTreeMap<String, Vec<IntegrationInfo>>,
}

/// One integration of a receiver as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationInfo {
    /// redline's name for it: `slack[0]`.
    pub integration: String,
    /// `send_resolved`.
    pub send_resolved: bool,
}

/// The statuses of the pipeline's alerts under the configuration in force when
/// [`Pipeline::statuses`] was called; computed once per alert and kept while nothing they
/// depend on changes (see [`StatusCache`]).
pub struct AlertStatuses {
    config: Arc<AlertmanagerConfig>,
    inhibitor: Arc<Inhibitor>,
    cache: Arc<StatusCache>,
    silences: Silences,
}

impl AlertStatuses {
    /// The status of `alert` at `now_ms` (as [`super::alert_status`]).
    pub fn of(&self, alert: &Alert, now_ms: i64) -> AlertStatus {
        self.cache
            .status(alert, &self.config, &self.silences, &self.inhibitor, now_ms)
    }
}

struct Inner {
    clock: SharedClock,
    store: Arc<AlertStore>,
    delivery: Arc<Delivery>,
    db: Option<StateDb>,
    silences: Silences,
    acks: Acks,
    running: RwLock<Running>,
    factory: IntegrationFactory,
    opts: PipelineOptions,
    /// Orders puts, so the database sees them in the order the store did.
    put_lock: tokio::sync::Mutex<()>,
    gc_task: Mutex<Option<JoinHandle<()>>>,
}

/// The running pipeline; clones share it.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

struct PipelineMuter {
    silences: Silences,
    inhibitor: Arc<Inhibitor>,
    /// To name the inhibiting alert's labels.
    store: Arc<AlertStore>,
}

impl AlertMuter for PipelineMuter {
    fn muted_by(&self, labels: &Labels, now_ms: i64) -> Option<Suppression> {
        if let Some(fp) = self.inhibitor.inhibited_by(labels, now_ms).first() {
            return Some(Suppression::Inhibition {
                fingerprint: fingerprint_hex(*fp),
                labels: self
                    .store
                    .get(*fp)
                    .map(|a| labels_map(&a.labels))
                    .unwrap_or_default(),
            });
        }
        let id = self
            .silences
            .silenced_by(labels, now_ms)
            .into_iter()
            .next()?;
        let s = self.silences.get(&id);
        Some(Suppression::Silence {
            created_by: s.as_ref().map(|s| s.created_by.clone()).unwrap_or_default(),
            comment: s.map(|s| s.comment).unwrap_or_default(),
            id,
        })
    }
}

fn build_running(
    config: Arc<AlertmanagerConfig>,
    factory: &IntegrationFactory,
    delivery: &Arc<Delivery>,
    silences: &Silences,
    store: &Arc<AlertStore>,
    opts: &PipelineOptions,
    clock: SharedClock,
) -> Result<Running, PipelineError> {
    let mut integrations: HashMap<String, Vec<IntegrationQueue>> = HashMap::new();
    let mut infos = BTreeMap::new();
    for (receiver, notifiers) in factory(&config).map_err(PipelineError::Integrations)? {
        let info = notifiers
            .iter()
            .map(|n| IntegrationInfo {
                integration: n.integration().to_string(),
                send_resolved: n.send_resolved(),
            })
            .collect();
        infos.insert(receiver.clone(), info);
        let queues = notifiers
            .into_iter()
            .map(|n| IntegrationQueue::spawn(delivery.clone(), &receiver, n, opts.queue_capacity))
            .collect();
        integrations.insert(receiver, queues);
    }
    let inhibitor = Arc::new(Inhibitor::new(&config.inhibit_rules));
    let now = clock.now_ms();
    for a in store.list_shared() {
        inhibitor.observe(&a, now);
    }
    let muter = Arc::new(PipelineMuter {
        silences: silences.clone(),
        inhibitor: inhibitor.clone(),
        store: store.clone(),
    });
    let dispatcher = Arc::new(Dispatcher::new(
        config.clone(),
        integrations,
        muter,
        delivery.clone(),
        DispatchOptions {
            max_alerts_per_group: opts.max_alerts_per_group,
            playbooks_url: opts.playbooks_url.clone(),
        },
        clock,
    ));
    Ok(Running {
        config,
        dispatcher,
        inhibitor,
        statuses: Arc::new(StatusCache::new()),
        integrations: infos,
    })
}

/// Queues the notification `json` ([`parse_pending`]'s input) for `key` again, unless its
/// integration is gone or an identical one is in flight; whether it was queued.
fn resubmit(
    dispatcher: &Dispatcher,
    delivery: &Delivery,
    key: NflogKey,
    json: &str,
    pending_id: Option<i64>,
    deadline: tokio::time::Instant,
) -> bool {
    let Ok((notification, firing, resolved)) = parse_pending(json) else {
        return false;
    };
    let Some(q) = dispatcher.queue(&key.receiver, &key.integration) else {
        return false;
    };
    let Begin::Send(generation) = delivery.begin(&key, &firing, &resolved) else {
        return false;
    };
    q.submit(DeliveryJob {
        key,
        notification,
        firing,
        resolved,
        deadline,
        pending_id,
        generation,
        done: None,
    })
    .is_ok()
}

impl Pipeline {
    /// The notification log's entries, for other replicas (HA).
    pub fn nflog_rows(&self) -> Vec<crate::state::pipeline::NflogRow> {
        self.inner.delivery.nflog().rows()
    }

    /// Merges notification-log entries of another replica (HA): newer ones are taken and
    /// persisted; returns how many.
    pub async fn merge_nflog(&self, rows: Vec<crate::state::pipeline::NflogRow>) -> usize {
        let taken = self.inner.delivery.nflog().merge(rows);
        let n = taken.len();
        if let Some(db) = &self.inner.db {
            for row in taken {
                if let Err(e) = db.ack_notification(None, row).await {
                    tracing::error!(error = %e, "recording a replicated notification log entry");
                }
            }
        }
        n
    }

    /// What this replica has decided to send and not had acknowledged, for its peers (HA).
    pub fn pending_notifications(&self) -> Vec<PendingNotification> {
        self.inner.delivery.pending()
    }

    /// Records what peer `replica` reported pending (HA), replacing its previous report.
    pub fn set_peer_pending(&self, replica: &str, pending: Vec<PendingNotification>) {
        self.inner.delivery.set_peer_pending(replica, pending);
    }

    /// On taking the Lease (HA): sends at once what the peers last reported pending and the
    /// notification log does not show delivered, instead of waiting for the groups' next
    /// flush; one identical to a notification already in flight here is not sent twice.
    /// Returns how many were sent.
    pub fn take_over_pending(&self) -> usize {
        let dispatcher = self.running().dispatcher.clone();
        let deadline = tokio::time::Instant::now() + self.inner.opts.replay_deadline;
        let mut sent = 0;
        for p in self.inner.delivery.take_peer_pending() {
            let key = NflogKey {
                group_key: p.group_key,
                receiver: p.receiver,
                integration: p.integration,
            };
            if resubmit(
                &dispatcher,
                &self.inner.delivery,
                key.clone(),
                &p.notification,
                None,
                deadline,
            ) {
                tracing::info!(receiver = %key.receiver, integration = %key.integration, group_key = %key.group_key, "taking over a notification a peer left pending");
                sent += 1;
            }
        }
        sent
    }

    /// The notification history (recorded only with a state database).
    pub fn history(&self) -> &NotificationHistory {
        self.inner.delivery.history()
    }

    /// The alert with this fingerprint, if held.
    pub fn alert(&self, fingerprint: u64) -> Option<Alert> {
        self.inner.store.get(fingerprint)
    }

    /// The largest request body the Alertmanager API accepts for this pipeline.
    pub fn max_request_bytes(&self) -> usize {
        self.inner.opts.max_request_bytes
    }

    /// Starts the pipeline: loads the stored state, replays pending notifications, rebuilds
    /// the groups and starts the garbage collector. Must be called within a tokio runtime.
    pub async fn start(
        config: Arc<AlertmanagerConfig>,
        opts: PipelineOptions,
        db: Option<StateDb>,
        integrations: IntegrationFactory,
    ) -> Result<Pipeline, PipelineError> {
        Self::start_with_clock(config, opts, db, integrations, crate::clock::system()).await
    }

    /// [`Pipeline::start`] with a given clock (tests with paused time).
    pub async fn start_with_clock(
        config: Arc<AlertmanagerConfig>,
        opts: PipelineOptions,
        db: Option<StateDb>,
        integrations: IntegrationFactory,
        clock: SharedClock,
    ) -> Result<Pipeline, PipelineError> {
        let now = clock.now_ms();
        let nflog = Arc::new(NotificationLog::new(opts.nflog_retention));
        let store = Arc::new(AlertStore::new(opts.max_alerts));
        let mut pending = Vec::new();
        if let Some(db) = &db {
            nflog.load(db.load_nflog(now).await?);
            let mut restored = Vec::new();
            for row in db.load_pipeline_alerts().await? {
                let parsed = serde_json::from_str(&row.alert_json)
                    .map_err(DecodeError::Json)
                    .and_then(alert_from_json);
                match parsed {
                    Ok(a) => restored.push(a),
                    Err(e) => {
                        tracing::warn!(fingerprint = row.fingerprint, error = %e, "skipping a stored alert")
                    }
                }
            }
            store.restore(restored);
            pending = db.load_pending_notifications().await?;
        }
        let silences = Silences::load(db.clone()).await?;
        let metrics = DeliveryMetrics::default();
        let history = match &db {
            Some(db) => {
                NotificationHistory::start(
                    db.clone(),
                    opts.history,
                    metrics.history_dropped.clone(),
                )
                .await?
            }
            None => NotificationHistory::disabled(),
        };
        let acks = Acks::load(db.clone()).await?;
        let delivery = Arc::new(
            Delivery::new(db.clone(), nflog, clock.clone(), opts.backoff, metrics)
                .with_gate(opts.send_gate.clone())
                .with_history(history),
        );
        let alerts = store.list_shared();
        let running = build_running(
            config,
            &integrations,
            &delivery,
            &silences,
            &store,
            &opts,
            clock.clone(),
        )?;
        let dispatcher = running.dispatcher.clone();
        dispatcher.set_acks(acks.clone());
        let pipeline = Pipeline {
            inner: Arc::new(Inner {
                clock,
                store,
                delivery: delivery.clone(),
                db: db.clone(),
                silences,
                acks,
                running: RwLock::new(running),
                factory: integrations,
                opts: opts.clone(),
                put_lock: tokio::sync::Mutex::new(()),
                gc_task: Mutex::new(None),
            }),
        };
        // Replays first, so the groups rebuilt below find them in flight.
        for row in pending {
            let replayed = resubmit(
                &dispatcher,
                &delivery,
                NflogKey {
                    group_key: row.group_key.clone(),
                    receiver: row.receiver.clone(),
                    integration: row.integration.clone(),
                },
                &row.notification_json,
                Some(row.id),
                tokio::time::Instant::now() + opts.replay_deadline,
            );
            if replayed {
                tracing::info!(receiver = %row.receiver, integration = %row.integration, group_key = %row.group_key, "resending a notification not acknowledged before the restart");
            } else if let Some(db) = &db {
                tracing::warn!(receiver = %row.receiver, integration = %row.integration, "dropping a pending notification whose receiver or integration no longer exists");
                db.drop_pending_notification(row.id).await?;
            }
        }
        for a in &alerts {
            dispatcher.process(a);
        }
        let task = tokio::spawn(gc_loop(Arc::downgrade(&pipeline.inner)));
        *pipeline
            .inner
            .gc_task
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(pipeline)
    }

    fn running(&self) -> std::sync::RwLockReadGuard<'_, Running> {
        self.inner.running.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Receives alerts (from a sender's point of view, as `POST /api/v2/alerts`): a zero
    /// `starts_at_ms` means now, a zero `ends_at_ms` means `now + resolve_timeout`. They are
    /// stored, seen by the inhibitor, put into their groups and persisted, in that order,
    /// before this returns. Alerts beyond the active-alert
    /// limit are rejected with [`PipelineError::TooManyAlerts`]; the others are kept.
    pub async fn put_alerts(&self, alerts: Vec<Alert>) -> Result<(), PipelineError> {
        let _order = self.inner.put_lock.lock().await;
        let now = self.inner.clock.now_ms();
        let (resolve_timeout, dispatcher, inhibitor) = {
            let r = self.running();
            (
                r.config.global.resolve_timeout,
                r.dispatcher.clone(),
                r.inhibitor.clone(),
            )
        };
        let statuses = self.statuses();
        let normalized = alerts
            .into_iter()
            .map(|a| normalize(a, now, resolve_timeout))
            .collect();
        let outcome = self.inner.store.put(normalized, now);
        // Inhibition first, so a source and its targets posted together are seen together;
        // then the groups. Both before the write to the database, which may wait: a flush due
        // meanwhile must already see what the store holds (Alertmanager's dispatcher sees an
        // alert as soon as its API stored it). The put lock keeps the database's order.
        for a in &outcome.stored {
            inhibitor.observe(a, now);
        }
        for a in &outcome.stored {
            dispatcher.process(a);
        }
        // Each alert's status as it arrives (Alertmanager's marker), so that lists of alerts
        // find it computed.
        for a in outcome.stored.iter().filter(|a| !a.resolved_at(now)) {
            statuses.of(a, now);
        }
        if let Some(db) = &self.inner.db {
            let rows = outcome
                .stored
                .iter()
                .map(|a| StoredAlert {
                    fingerprint: a.fingerprint(),
                    alert_json: alert_to_json(a).to_string(),
                    updated_at_ms: a.updated_at_ms,
                })
                .collect();
            db.write_pipeline_alerts(rows, Vec::new()).await?;
        }
        if outcome.rejected > 0 {
            return Err(PipelineError::TooManyAlerts {
                limit: self.inner.store.max_active().unwrap_or(0),
                rejected: outcome.rejected,
            });
        }
        Ok(())
    }

    /// Every alert held, by fingerprint.
    pub fn alerts(&self) -> Vec<Alert> {
        self.inner.store.list()
    }

    /// Every alert held, by fingerprint, shared instead of copied.
    pub fn alerts_shared(&self) -> Vec<Arc<Alert>> {
        self.inner.store.list_shared()
    }

    /// The notification log (what each integration was last told about each group).
    pub fn notification_log(&self) -> &Arc<NotificationLog> {
        self.inner.delivery.nflog()
    }

    /// The aggregation groups.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        self.running().dispatcher.groups()
    }

    /// The statuses of alerts under the configuration in force, computed once and kept
    /// while the silences, the inhibiting alerts and the configuration stay the same.
    pub fn statuses(&self) -> AlertStatuses {
        let r = self.running();
        AlertStatuses {
            config: r.config.clone(),
            inhibitor: r.inhibitor.clone(),
            cache: r.statuses.clone(),
            silences: self.inner.silences.clone(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<AlertmanagerConfig> {
        self.running().config.clone()
    }

    /// The silences.
    pub fn silences(&self) -> &Silences {
        &self.inner.silences
    }

    /// The acknowledgements ([`super::ack`]): `of_group` and `of_alert` read those of a group
    /// or an alert.
    pub fn acks(&self) -> &Acks {
        &self.inner.acks
    }

    /// Acknowledges every firing group `target` names, until `ends_at_ms`, and tells their
    /// receivers where an integration has a message for it; returns the new
    /// acknowledgements. No firing group named is [`AckError::NoGroup`].
    pub async fn acknowledge(
        &self,
        target: AckTarget,
        created_by: String,
        comment: String,
        ends_at_ms: i64,
    ) -> Result<Vec<Ack>, AckError> {
        let now = self.now_ms();
        let dispatcher = self.running().dispatcher.clone();
        let groups = firing_groups(&dispatcher, &target, now);
        if groups.is_empty() {
            return Err(AckError::NoGroup(match target {
                AckTarget::GroupKey(k) => format!("groupKey: no firing group has the key {k}"),
                AckTarget::Fingerprint(fp) => format!(
                    "fingerprint: no firing alert has the fingerprint {}",
                    super::alert::fingerprint_hex(fp)
                ),
                AckTarget::Matchers(_) => "matchers: no firing alert matches".to_string(),
            }));
        }
        let mut made = Vec::with_capacity(groups.len());
        for g in groups {
            let req = AckRequest {
                group_key: g.group_key,
                receiver: g.receiver,
                fingerprints: g.firing,
                created_by: created_by.clone(),
                comment: comment.clone(),
                ends_at_ms,
            };
            made.push(self.inner.acks.create(req, now).await?);
        }
        for a in &made {
            send_notices(
                &dispatcher,
                &self.inner.delivery,
                a,
                now,
                self.inner.opts.backoff,
            );
        }
        Ok(made)
    }

    /// Merges acknowledgements of another replica (HA); those new here are sent to the
    /// receivers if this replica may send. Returns how many were new.
    pub async fn merge_acks(&self, rows: Vec<crate::state::acks::AckRow>) -> usize {
        let now = self.now_ms();
        let new = match self.inner.acks.merge(rows, now).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "merging a peer's acknowledgements");
                return 0;
            }
        };
        let dispatcher = self.running().dispatcher.clone();
        for a in new.iter().filter(|a| a.is_active(now)) {
            send_notices(
                &dispatcher,
                &self.inner.delivery,
                a,
                now,
                self.inner.opts.backoff,
            );
        }
        new.len()
    }

    /// The inhibitor of the configuration in force (replaced on reload).
    pub fn inhibitor(&self) -> Arc<Inhibitor> {
        self.running().inhibitor.clone()
    }

    /// The pipeline's clock, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Each receiver's integrations under the configuration in force, in configuration
    /// order (a receiver without any is absent).
    pub fn receiver_integrations(&self) -> BTreeMap<String, Vec<IntegrationInfo>> {
        self.running().integrations.clone()
    }

    /// How each integration fares: deliveries, failed attempts, the last error.
    pub fn integration_statuses(&self) -> Vec<IntegrationStatus> {
        self.inner.delivery.statuses()
    }

    /// Applies a new configuration: new routes, receivers and inhibit rules; alerts,
    /// silences and the notification log stay. On error the running configuration stays.
    pub fn reload(&self, config: Arc<AlertmanagerConfig>) -> Result<(), PipelineError> {
        let alerts = self.inner.store.list_shared();
        let running = build_running(
            config,
            &self.inner.factory,
            &self.inner.delivery,
            &self.inner.silences,
            &self.inner.store,
            &self.inner.opts,
            self.inner.clock.clone(),
        )?;
        let new = running.dispatcher.clone();
        new.set_acks(self.inner.acks.clone());
        let old = {
            let mut r = self
                .inner
                .running
                .write()
                .unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *r, running)
        };
        old.dispatcher.stop();
        for a in &alerts {
            new.process(a);
        }
        tracing::info!(alerts = alerts.len(), "alerting configuration reloaded");
        Ok(())
    }

    /// Registers the pipeline's metrics: `redline_notifications_total`,
    /// `redline_notifications_failed_total`, `redline_notification_latency_seconds`,
    /// `redline_alerts{state}`.
    pub fn register_metrics(&self, telemetry: &mut Telemetry) {
        self.inner
            .delivery
            .metrics
            .register(telemetry.registry_mut());
        telemetry.register_collector(Box::new(AlertsCollector(self.clone())));
    }

    /// Drops resolved alerts no group holds and expired log entries now (the background
    /// task does this every `gc_interval`).
    pub async fn gc(&self) {
        gc_once(&self.inner).await;
    }

    /// Stops the groups' timers and the garbage collector. Notifications not acknowledged
    /// stay pending in the state database and are resent at the next start.
    pub async fn shutdown(&self) {
        if let Some(t) = self
            .inner
            .gc_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            t.abort();
        }
        self.running().dispatcher.stop();
    }
}

async fn gc_once(inner: &Inner) {
    // Under the put lock: an alert posted again while its resolved copy is collected must not
    // be forgotten by the inhibitor or lose its row to the collection's delete.
    let _order = inner.put_lock.lock().await;
    let now = inner.clock.now_ms();
    let (held, inhibitor, statuses) = {
        let r = inner.running.read().unwrap_or_else(|p| p.into_inner());
        (
            r.dispatcher.held_fingerprints(),
            r.inhibitor.clone(),
            r.statuses.clone(),
        )
    };
    let gone = inner
        .store
        .gc(now, inner.opts.resolved_retention, |fp| held.contains(&fp));
    for fp in &gone {
        inhibitor.forget(*fp);
        statuses.forget(*fp);
    }
    inner.delivery.nflog().gc(now);
    if let Some(db) = &inner.db {
        if let Err(e) = db.write_pipeline_alerts(Vec::new(), gone).await {
            tracing::warn!(error = %e, "deleting resolved alerts");
        }
        if let Err(e) = db.expire_nflog(now).await {
            tracing::warn!(error = %e, "expiring the notification log");
        }
    }
    if let Err(e) = inner.silences.gc(now).await {
        tracing::warn!(error = %e, "expiring silences");
    }
    if inner.db.is_some() {
        match inner.delivery.history().prune(now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "pruned the notification history"),
            Err(e) => tracing::warn!(error = %e, "pruning the notification history"),
        }
    }
    if let Err(e) = inner.acks.gc(now).await {
        tracing::warn!(error = %e, "dropping ended acknowledgements");
    }
}

async fn gc_loop(inner: std::sync::Weak<Inner>) {
    let interval = match inner.upgrade() {
        Some(i) => i.opts.gc_interval,
        None => return,
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(i) = inner.upgrade() else {
            return;
        };
        gc_once(&i).await;
    }
}

/// `redline_alerts{state}`: active and suppressed (silenced or inhibited) firing alerts.
struct AlertsCollector(Pipeline);

impl std::fmt::Debug for AlertsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlertsCollector")
    }
}

impl Collector for AlertsCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let p = &self.0;
        let now = p.now_ms();
        let statuses = p.statuses();
        let (mut active, mut suppressed) = (0i64, 0i64);
        for a in p.alerts_shared().iter().filter(|a| !a.resolved_at(now)) {
            if statuses.of(a, now).state == AlertState::Suppressed {
                suppressed += 1;
            } else {
                active += 1;
            }
        }
        let mut family = e.encode_descriptor(
            "alerts",
            "Firing alerts held by the alerting pipeline, by state",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (state, v) in [("active", active), ("suppressed", suppressed)] {
            let labels = [("state", state)];
            let m = family.encode_family(&labels)?;
            ConstGauge::new(v).encode(m)?;
        }
        Ok(())
    }
}
