//! Delivery of notifications to integrations: one bounded queue and one worker per
//! integration, retries with exponential backoff and jitter, and the crash-safe bookkeeping.
//!
//! For each notification the dispatcher decides to send, [`Delivery::begin`] marks it the
//! latest for its (group, receiver, integration) — an older one still retrying is superseded
//! and stops — and the job goes to the integration's [`IntegrationQueue`]. The worker runs
//! each job in its own task (a slow receiver holds only its own jobs), and the job:
//!
//! 1. writes a `pending_notification` row (a newer one replaces an older one) before the
//!    first attempt;
//! 2. attempts delivery; on a retryable error waits `initial * 2^n` (capped, with jitter)
//!    and tries again until its deadline (the group's next flush) or until superseded;
//! 3. on acknowledgement, in one transaction, deletes the pending row and records the
//!    notification in the log ([`crate::state::StateDb::ack_notification`]).
//!
//! Before the pending row and before every attempt the job asks the [`SendGate`]
//! (high availability: only the Lease holder sends); a closed gate ends the job as
//! [`DeliveryOutcome::Standby`], with nothing sent or logged. Each attempt runs with the
//! notification's idempotency key ([`super::replica`]). A job between its first attempt and
//! its end is also kept in memory as a [`PendingNotification`], which peers replicate, and
//! what peers report pending is kept for the takeover ([`Delivery::take_peer_pending`]).
//!
//! At start-up the pipeline replays the pending rows, so a notification decided before a
//! crash and never acknowledged is delivered once after the restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::alert::{fingerprint_hex, parse_fingerprint};
use super::history::{NotificationHistory, NotifyReason};
use super::nflog::{NflogKey, NotificationLog};
use super::notify::{Notification, NotificationReason, NotifiedAlert, Notifier};
use super::provider::{alert_from_json, alert_to_json, DecodeError};
use super::replica::{idempotency_key, with_idempotency_key, SendGate};
use crate::backoff::Backoff;
use crate::clock::SharedClock;
use crate::state::pipeline::PendingRow;
use crate::state::StateDb;
use crate::store::Labels;

/// How many jobs of one integration run at once.
const CONCURRENT_JOBS: usize = 8;

type IntegrationLabels = Vec<(&'static str, String)>;

/// The pipeline's delivery metrics, registered on `/metrics`.
#[derive(Clone, Debug)]
pub struct DeliveryMetrics {
    /// Attempts, per integration and receiver (`redline_notifications_total`).
    pub notifications: Family<IntegrationLabels, Counter>,
    /// Failed attempts (`redline_notifications_failed_total`).
    pub failed: Family<IntegrationLabels, Counter>,
    /// Time from a job's start to its acknowledgement
    /// (`redline_notification_latency_seconds`).
    pub latency: Histogram,
    /// Alerts dropped from notifications by `max_alerts_per_group`
    /// (`redline_notification_alerts_dropped_total`).
    pub dropped_alerts: Counter,
    /// History entries dropped because the writer was behind
    /// (`redline_notification_history_dropped_total`).
    pub history_dropped: Counter,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        DeliveryMetrics {
            notifications: Family::default(),
            failed: Family::default(),
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            dropped_alerts: Counter::default(),
            history_dropped: Counter::default(),
        }
    }
}

impl DeliveryMetrics {
    /// Registers the metrics (the registry adds the `redline_` prefix).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "notifications",
            "Notification delivery attempts, per integration and receiver",
            self.notifications.clone(),
        );
        r.register(
            "notifications_failed",
            "Notification delivery attempts that failed, per integration and receiver",
            self.failed.clone(),
        );
        r.register_with_unit(
            "notification_latency",
            "Time from a notification's first attempt to its acknowledgement",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register(
            "notification_alerts_dropped",
            "Alerts left out of notifications because a group exceeded max_alerts_per_group",
            self.dropped_alerts.clone(),
        );
        r.register(
            "notification_history_dropped",
            "Notification history entries dropped because the state database writer was behind",
            self.history_dropped.clone(),
        );
    }
}

/// How one integration fares, for the alerts page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrationStatus {
    pub receiver: String,
    pub integration: String,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub last_success_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// How long the last attempt (delivered or failed) took, milliseconds.
    pub last_attempt_duration_ms: Option<u64>,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Not delivered: the error of the last attempt.
    Failed(String),
    /// A newer notification for the same group and integration took over.
    Superseded,
    /// This replica may not send (it does not hold the Lease): the holder sends.
    Standby,
}

/// One notification for one integration.
pub struct DeliveryJob {
    pub key: NflogKey,
    /// What is sent (already without resolved alerts if the integration drops them).
    pub notification: Notification,
    /// Recorded in the log on acknowledgement.
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    /// No attempt starts after this.
    pub deadline: tokio::time::Instant,
    /// Set for a job replayed from the state database.
    pub pending_id: Option<i64>,
    pub generation: u64,
    pub done: Option<oneshot::Sender<DeliveryOutcome>>,
}

/// A notification this replica decided to send and has not had acknowledged, as its peers
/// see it (high availability: a new Lease holder sends it at once, [`Delivery::take_over`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotification {
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    /// The notification as [`pending_json`] writes it.
    pub notification: String,
    /// When it was decided (the sender's clock), unix milliseconds.
    pub created_at_ms: i64,
}

struct Inflight {
    generation: u64,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
}

/// State shared by every integration's worker; it survives config reloads.
pub struct Delivery {
    db: Option<StateDb>,
    nflog: Arc<NotificationLog>,
    clock: SharedClock,
    backoff: Backoff,
    inflight: Mutex<HashMap<NflogKey, Inflight>>,
    generation: AtomicU64,
    status: Mutex<BTreeMap<(String, String), IntegrationStatus>>,
    /// Whether this replica may send (HA); always open when redline runs alone.
    gate: SendGate,
    /// This replica's jobs between their first attempt and their end, with their generation.
    pending: Mutex<HashMap<NflogKey, (u64, PendingNotification)>>,
    /// What each peer (by replica name) last reported pending.
    peer_pending: Mutex<BTreeMap<String, Vec<PendingNotification>>>,
    /// Where notifications, attempts and suppressions are recorded.
    history: NotificationHistory,
    /// The metrics.
    pub metrics: DeliveryMetrics,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

/// Whether a new notification is needed, given what is being delivered for the same key.
pub enum Begin {
    /// Send it; the job carries this generation.
    Send(u64),
    /// An identical notification is being delivered: do not send another.
    InFlight,
}

impl Delivery {
    /// Shared delivery state.
    pub fn new(
        db: Option<StateDb>,
        nflog: Arc<NotificationLog>,
        clock: SharedClock,
        backoff: Backoff,
        metrics: DeliveryMetrics,
    ) -> Delivery {
        Delivery {
            db,
            nflog,
            clock,
            backoff,
            inflight: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(1),
            status: Mutex::new(BTreeMap::new()),
            gate: SendGate::always(),
            pending: Mutex::new(HashMap::new()),
            peer_pending: Mutex::new(BTreeMap::new()),
            history: NotificationHistory::disabled(),
            metrics,
        }
    }

    /// The delivery with a send gate (high availability: only the Lease holder sends).
    pub fn with_gate(mut self, gate: SendGate) -> Delivery {
        self.gate = gate;
        self
    }

    /// The delivery recording to `history`.
    pub fn with_history(mut self, history: NotificationHistory) -> Delivery {
        self.history = history;
        self
    }

    /// The notification history.
    pub fn history(&self) -> &NotificationHistory {
        &self.history
    }

    /// Whether this replica may send now.
    pub fn may_send(&self) -> bool {
        self.gate.may_send()
    }

    /// The notification log.
    pub fn nflog(&self) -> &Arc<NotificationLog> {
        &self.nflog
    }

    /// The state database, if any.
    pub fn db(&self) -> Option<&StateDb> {
        self.db.as_ref()
    }

    /// What this replica has decided to send and not had acknowledged (for its peers).
    pub fn pending(&self) -> Vec<PendingNotification> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<PendingNotification> = pending.values().map(|(_, p)| p.clone()).collect();
        out.sort_by_key(|p| p.created_at_ms);
        out
    }

    /// Records what peer `replica` reported pending, replacing its previous report.
    pub fn set_peer_pending(&self, replica: &str, pending: Vec<PendingNotification>) {
        self.peer_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(replica.to_string(), pending);
    }

    /// Takes every peer's pending notifications (once): those the notification log does not
    /// show delivered since they were decided, for [`crate::alerting::Pipeline`] to send.
    pub fn take_peer_pending(&self) -> Vec<PendingNotification> {
        let taken =
            std::mem::take(&mut *self.peer_pending.lock().unwrap_or_else(|p| p.into_inner()));
        let now = self.clock.now_ms();
        taken
            .into_values()
            .flatten()
            .filter(|p| {
                let key = NflogKey {
                    group_key: p.group_key.clone(),
                    receiver: p.receiver.clone(),
                    integration: p.integration.clone(),
                };
                self.nflog
                    .get(&key, now)
                    .is_none_or(|e| e.sent_at_ms < p.created_at_ms)
            })
            .collect()
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<NflogKey, Inflight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a notification about (`firing`, `resolved`) as the latest for `key`,
    /// superseding an older one still retrying, unless the same sets are in flight.
    pub fn begin(&self, key: &NflogKey, firing: &BTreeSet<u64>, resolved: &BTreeSet<u64>) -> Begin {
        let mut inflight = self.inflight();
        if let Some(i) = inflight.get(key) {
            if &i.firing == firing && &i.resolved == resolved {
                return Begin::InFlight;
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        inflight.insert(
            key.clone(),
            Inflight {
                generation,
                firing: firing.clone(),
                resolved: resolved.clone(),
            },
        );
        Begin::Send(generation)
    }

    fn is_current(&self, key: &NflogKey, generation: u64) -> bool {
        self.inflight()
            .get(key)
            .is_some_and(|i| i.generation == generation)
    }

    fn finish(&self, key: &NflogKey, generation: u64) {
        let mut inflight = self.inflight();
        if inflight
            .get(key)
            .is_some_and(|i| i.generation == generation)
        {
            inflight.remove(key);
        }
    }

    /// Records a notification that needs no delivery (nothing left to send for an
    /// integration without `send_resolved`) as if acknowledged.
    pub async fn record_without_sending(
        &self,
        key: &NflogKey,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
    ) {
        // Only the sending replica writes the log; the others receive its entries.
        if !self.gate.may_send() {
            return;
        }
        let row = self
            .nflog
            .record(key, firing, resolved, self.clock.now_ms());
        if let Some(db) = &self.db {
            if let Err(e) = db.ack_notification(None, row).await {
                tracing::error!(error = %e, "recording a notification in the log");
            }
        }
    }

    /// Every integration's status, by receiver and integration.
    pub fn statuses(&self) -> Vec<IntegrationStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn update_status(&self, key: &NflogKey, f: impl FnOnce(&mut IntegrationStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let e = s
            .entry((key.receiver.clone(), key.integration.clone()))
            .or_insert_with(|| IntegrationStatus {
                receiver: key.receiver.clone(),
                integration: key.integration.clone(),
                ..IntegrationStatus::default()
            });
        f(e);
    }

    async fn run(&self, notifier: &dyn Notifier, mut job: DeliveryJob) {
        let started = tokio::time::Instant::now();
        let labels: IntegrationLabels = vec![
            ("integration", job.key.integration.clone()),
            ("receiver", job.key.receiver.clone()),
        ];
        if !self.gate.may_send() {
            self.finish(&job.key, job.generation);
            if let Some(done) = job.done.take() {
                let _ = done.send(DeliveryOutcome::Standby);
            }
            return;
        }
        let previous_sent_ms = self
            .nflog
            .get(&job.key, self.clock.now_ms())
            .map(|e| e.sent_at_ms);
        let idempotency = idempotency_key(&job.key, &job.firing, &job.resolved, previous_sent_ms);
        let entry = self.history.notification(
            &job.key,
            &job.notification,
            NotifyReason::of(job.notification.reason, previous_sent_ms.is_some()),
            &idempotency,
            job.pending_id.is_some(),
        );
        let decided = pending_json(&job.notification, &job.firing, &job.resolved);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                job.key.clone(),
                (
                    job.generation,
                    PendingNotification {
                        group_key: job.key.group_key.clone(),
                        receiver: job.key.receiver.clone(),
                        integration: job.key.integration.clone(),
                        notification: decided.clone(),
                        created_at_ms: self.clock.now_ms(),
                    },
                ),
            );
        if job.pending_id.is_none() {
            if let Some(db) = &self.db {
                let now = self.clock.now_ms();
                let row = PendingRow {
                    id: 0,
                    group_key: job.key.group_key.clone(),
                    receiver: job.key.receiver.clone(),
                    integration: job.key.integration.clone(),
                    notification_json: decided,
                    created_at_ms: now,
                    attempts: 0,
                    next_attempt_ms: now,
                };
                match db.put_pending_notification(row).await {
                    Ok(id) => job.pending_id = Some(id),
                    Err(e) => tracing::error!(error = %e, "recording a pending notification"),
                }
            }
        }
        let mut attempt: u32 = 0;
        let outcome = loop {
            if !self.is_current(&job.key, job.generation) {
                break DeliveryOutcome::Superseded;
            }
            if !self.gate.may_send() {
                // The Lease was lost while retrying: the new holder sends from its groups.
                if let (Some(db), Some(id)) = (&self.db, job.pending_id) {
                    if let Err(e) = db.drop_pending_notification(id).await {
                        tracing::error!(error = %e, "dropping a pending notification");
                    }
                }
                break DeliveryOutcome::Standby;
            }
            attempt += 1;
            self.metrics.notifications.get_or_create(&labels).inc();
            let attempt_started = tokio::time::Instant::now();
            let result =
                with_idempotency_key(idempotency.clone(), notifier.notify(&job.notification)).await;
            let elapsed = attempt_started.elapsed();
            let took = Some(elapsed.as_millis() as u64);
            let now = self.clock.now_ms();
            self.history.attempt(
                entry,
                attempt,
                now,
                elapsed,
                result.as_ref().err().map(|e| e.message.as_str()),
            );
            match result {
                Ok(()) => {
                    let row = self.nflog.record(
                        &job.key,
                        std::mem::take(&mut job.firing),
                        std::mem::take(&mut job.resolved),
                        now,
                    );
                    if let Some(db) = &self.db {
                        if let Err(e) = db.ack_notification(job.pending_id, row).await {
                            tracing::error!(error = %e, "recording an acknowledged notification");
                        }
                    }
                    self.metrics
                        .latency
                        .observe(started.elapsed().as_secs_f64());
                    self.update_status(&job.key, |s| {
                        s.delivered += 1;
                        s.last_success_ms = Some(now);
                        s.last_attempt_duration_ms = took;
                    });
                    tracing::debug!(
                        receiver = %job.key.receiver,
                        integration = %job.key.integration,
                        group_key = %job.key.group_key,
                        attempts = attempt,
                        "notification delivered"
                    );
                    break DeliveryOutcome::Delivered;
                }
                Err(e) => {
                    self.metrics.failed.get_or_create(&labels).inc();
                    self.update_status(&job.key, |s| {
                        s.failed_attempts += 1;
                        s.last_error = Some(e.message.clone());
                        s.last_error_ms = Some(now);
                        s.last_attempt_duration_ms = took;
                    });
                    let wait = self.backoff.jittered(attempt);
                    let give_up = !e.retryable || tokio::time::Instant::now() + wait > job.deadline;
                    tracing::warn!(
                        receiver = %job.key.receiver,
                        integration = %job.key.integration,
                        group_key = %job.key.group_key,
                        attempt,
                        retryable = e.retryable,
                        giving_up = give_up,
                        error = %e.message,
                        "notification failed"
                    );
                    if give_up {
                        if let (Some(db), Some(id)) = (&self.db, job.pending_id) {
                            if let Err(e) = db.drop_pending_notification(id).await {
                                tracing::error!(error = %e, "dropping a pending notification");
                            }
                        }
                        break DeliveryOutcome::Failed(e.message);
                    }
                    if let (Some(db), Some(id)) = (&self.db, job.pending_id) {
                        let next = now + wait.as_millis() as i64;
                        if let Err(e) = db.pending_attempted(id, i64::from(attempt), next).await {
                            tracing::warn!(error = %e, "updating a pending notification");
                        }
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        };
        self.finish(&job.key, job.generation);
        let (ended, error) = match &outcome {
            DeliveryOutcome::Delivered => ("delivered", None),
            DeliveryOutcome::Failed(e) => ("failed", Some(e.as_str())),
            DeliveryOutcome::Superseded => ("superseded", None),
            DeliveryOutcome::Standby => ("standby", None),
        };
        self.history
            .finish(entry, ended, error, self.clock.now_ms());
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending
                .get(&job.key)
                .is_some_and(|(g, _)| *g == job.generation)
            {
                pending.remove(&job.key);
            }
        }
        if let Some(done) = job.done.take() {
            let _ = done.send(outcome);
        }
    }
}

/// The queue in front of one integration of one receiver.
#[derive(Clone)]
pub struct IntegrationQueue {
    /// The integration.
    pub notifier: Arc<dyn Notifier>,
    pub receiver: String,
    tx: mpsc::Sender<DeliveryJob>,
}

impl IntegrationQueue {
    /// Starts the integration's worker with a queue of `capacity` jobs. The worker ends
    /// when every clone of the queue is dropped, after the queued jobs.
    pub fn spawn(
        delivery: Arc<Delivery>,
        receiver: &str,
        notifier: Arc<dyn Notifier>,
        capacity: usize,
    ) -> IntegrationQueue {
        let (tx, mut rx) = mpsc::channel::<DeliveryJob>(capacity.max(1));
        let worker_notifier = notifier.clone();
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(CONCURRENT_JOBS));
            while let Some(job) = rx.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let delivery = delivery.clone();
                let notifier = worker_notifier.clone();
                tokio::spawn(async move {
                    delivery.run(notifier.as_ref(), job).await;
                    drop(permit);
                });
            }
        });
        IntegrationQueue {
            notifier,
            receiver: receiver.to_string(),
            tx,
        }
    }

    /// The integration's name (`webhook[0]`).
    pub fn integration(&self) -> &str {
        self.notifier.integration()
    }

    /// Queues a job without waiting; a full queue (or a stopped worker) refuses it at once.
    pub fn submit(&self, job: DeliveryJob) -> Result<(), QueueFull> {
        self.tx.try_send(job).map_err(|_| QueueFull)
    }
}

/// An integration's queue refused a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the integration's delivery queue is full")]
pub struct QueueFull;

#[derive(Serialize, Deserialize)]
struct PendingJson {
    receiver: String,
    group_key: String,
    group_labels: BTreeMap<String, String>,
    alerts: Vec<PendingAlert>,
    now_ms: i64,
    reason: NotificationReason,
    firing: Vec<String>,
    resolved: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PendingAlert {
    alert: serde_json::Value,
    owner: Option<String>,
    playbook_url: Option<String>,
}

fn hexes(s: &BTreeSet<u64>) -> Vec<String> {
    s.iter().map(|fp| fingerprint_hex(*fp)).collect()
}

/// A pending notification as stored in `pending_notification.notification`.
pub fn pending_json(n: &Notification, firing: &BTreeSet<u64>, resolved: &BTreeSet<u64>) -> String {
    let p = PendingJson {
        receiver: n.receiver.clone(),
        group_key: n.group_key.clone(),
        group_labels: n
            .group_labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        alerts: n
            .alerts
            .iter()
            .map(|a| PendingAlert {
                alert: alert_to_json(&a.alert),
                owner: a.owner.clone(),
                playbook_url: a.playbook_url.clone(),
            })
            .collect(),
        now_ms: n.now_ms,
        reason: n.reason,
        firing: hexes(firing),
        resolved: hexes(resolved),
    };
    serde_json::to_string(&p).unwrap_or_default()
}

/// Reads back [`pending_json`]: the notification and its firing and resolved sets.
pub fn parse_pending(
    text: &str,
) -> Result<(Notification, BTreeSet<u64>, BTreeSet<u64>), DecodeError> {
    let p: PendingJson = serde_json::from_str(text).map_err(DecodeError::Pending)?;
    let fps = |v: &[String]| -> Result<BTreeSet<u64>, DecodeError> {
        v.iter()
            .map(|h| parse_fingerprint(h).ok_or_else(|| DecodeError::Fingerprint(h.clone())))
            .collect()
    };
    let mut alerts = Vec::with_capacity(p.alerts.len());
    for a in p.alerts {
        alerts.push(NotifiedAlert {
            alert: alert_from_json(a.alert)?,
            owner: a.owner,
            playbook_url: a.playbook_url,
        });
    }
    Ok((
        Notification {
            receiver: p.receiver,
            group_key: p.group_key,
            group_labels: Labels::from_pairs(p.group_labels),
            alerts,
            now_ms: p.now_ms,
            reason: p.reason,
        },
        fps(&p.firing)?,
        fps(&p.resolved)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::{Alert, NotifyError};
    use futures_util::future::BoxFuture;
    use std::time::Duration;

    fn notification() -> Notification {
        Notification {
            receiver: "team".into(),
            group_key: "{}:{}".into(),
            group_labels: Labels::empty(),
            alerts: vec![NotifiedAlert {
                alert: Alert {
                    labels: Labels::from_pairs([("alertname", "A")]),
                    annotations: Labels::empty(),
                    starts_at_ms: 1,
                    ends_at_ms: 100,
                    generator_url: String::new(),
                    updated_at_ms: 1,
                    timeout: true,
                },
                owner: Some("db".into()),
                playbook_url: None,
            }],
            now_ms: 5,
            reason: NotificationReason::NewAlerts,
        }
    }

    #[test]
    fn pending_notification_round_trips() {
        let n = notification();
        let firing: BTreeSet<u64> = [n.alerts[0].alert.fingerprint()].into();
        let text = pending_json(&n, &firing, &BTreeSet::new());
        let (back, f, r) = parse_pending(&text).unwrap();
        assert_eq!(back, n);
        assert_eq!(f, firing);
        assert!(r.is_empty());
        assert!(parse_pending("{").is_err());
    }

    /// Fails `failures` times with a retryable error, then succeeds.
    struct Flaky {
        failures: AtomicU64,
        calls: AtomicU64,
        /// The idempotency key each call saw.
        keys: Mutex<Vec<Option<String>>>,
    }

    impl Flaky {
        fn failing(failures: u64) -> Arc<Flaky> {
            Arc::new(Flaky {
                failures: AtomicU64::new(failures),
                calls: AtomicU64::new(0),
                keys: Mutex::new(Vec::new()),
            })
        }
    }

    impl Notifier for Flaky {
        fn integration(&self) -> &str {
            "webhook[0]"
        }
        fn send_resolved(&self) -> bool {
            true
        }
        fn notify<'a>(&'a self, _n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let key = crate::alerting::replica::current_idempotency_key();
                self.keys.lock().unwrap().push(key);
                if self.failures.load(Ordering::SeqCst) > 0 {
                    self.failures.fetch_sub(1, Ordering::SeqCst);
                    return Err(NotifyError {
                        retryable: true,
                        message: "503".into(),
                    });
                }
                Ok(())
            })
        }
    }

    /// A delivery with no state directory, on a paused clock at 1s, logging to the returned log.
    fn delivery() -> (Arc<NotificationLog>, Arc<Delivery>) {
        let nflog = Arc::new(NotificationLog::new(Duration::from_secs(3600)));
        let d = Arc::new(Delivery::new(
            None,
            nflog.clone(),
            crate::clock::TokioClock::starting_at_ms(1_000).shared(),
            Backoff::default(),
            DeliveryMetrics::default(),
        ));
        (nflog, d)
    }

    /// The job that sends [`notification`] for `firing` under [`key`], and the receiver of its
    /// outcome.
    fn job(
        firing: BTreeSet<u64>,
        within: Duration,
        generation: u64,
    ) -> (DeliveryJob, oneshot::Receiver<DeliveryOutcome>) {
        let (tx, rx) = oneshot::channel();
        let job = DeliveryJob {
            key: key(),
            notification: notification(),
            firing,
            resolved: BTreeSet::new(),
            deadline: tokio::time::Instant::now() + within,
            pending_id: None,
            generation,
            done: Some(tx),
        };
        (job, rx)
    }

    fn key() -> NflogKey {
        NflogKey {
            group_key: "{}:{}".into(),
            receiver: "team".into(),
            integration: "webhook[0]".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_acknowledged_then_logs() {
        let (nflog, d) = delivery();
        let flaky = Flaky::failing(3);
        let q = IntegrationQueue::spawn(d.clone(), "team", flaky.clone(), 4);
        let firing: BTreeSet<u64> = [1].into();
        let Begin::Send(generation) = d.begin(&key(), &firing, &BTreeSet::new()) else {
            panic!("nothing in flight yet");
        };
        assert!(matches!(
            d.begin(&key(), &firing, &BTreeSet::new()),
            Begin::InFlight
        ));
        let (job, rx) = job(firing.clone(), Duration::from_secs(60), generation);
        assert!(q.submit(job).is_ok());
        assert_eq!(rx.await.unwrap(), DeliveryOutcome::Delivered);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
        assert_eq!(nflog.get(&key(), 0).unwrap().firing, firing);
        let s = d.statuses();
        assert_eq!(s[0].delivered, 1);
        assert_eq!(s[0].failed_attempts, 3);
        assert_eq!(s[0].last_error.as_deref(), Some("503"));
    }

    #[tokio::test(start_paused = true)]
    async fn pending_while_unacknowledged_and_peers_pending_taken_once() {
        let (nflog, d) = delivery();
        let flaky = Flaky::failing(1_000);
        let q = IntegrationQueue::spawn(d.clone(), "team", flaky.clone(), 4);
        let firing: BTreeSet<u64> = [1].into();
        let Begin::Send(generation) = d.begin(&key(), &firing, &BTreeSet::new()) else {
            panic!("nothing in flight yet");
        };
        let (job, rx) = job(firing.clone(), Duration::from_secs(10), generation);
        assert!(q.submit(job).is_ok());
        // Retrying: pending, as peers see it.
        while flaky.calls.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pending = d.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].receiver, "team");
        let (n, f, _) = parse_pending(&pending[0].notification).unwrap();
        assert_eq!((n, f), (notification(), firing.clone()));
        // Given up: no longer pending.
        assert_eq!(rx.await.unwrap(), DeliveryOutcome::Failed("503".into()));
        assert!(d.pending().is_empty());

        // A peer's report: one notification the log shows delivered since (at 1000 ms,
        // decided at 900 ms), one it does not. Only the latter is taken, and only once.
        nflog.record(&key(), firing.clone(), BTreeSet::new(), 1_000);
        let mut other = pending[0].clone();
        other.receiver = "other".into();
        let mut delivered = pending[0].clone();
        delivered.created_at_ms = 900;
        d.set_peer_pending("r1", vec![delivered, other.clone()]);
        assert_eq!(d.take_peer_pending(), vec![other]);
        assert!(d.take_peer_pending().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let (nflog, d) = delivery();
        let flaky = Flaky::failing(1_000);
        let q = IntegrationQueue::spawn(d.clone(), "team", flaky.clone(), 4);
        let Begin::Send(generation) = d.begin(&key(), &[1].into(), &BTreeSet::new()) else {
            panic!("nothing in flight yet");
        };
        let (job, rx) = job([1].into(), Duration::from_secs(10), generation);
        assert!(q.submit(job).is_ok());
        assert_eq!(rx.await.unwrap(), DeliveryOutcome::Failed("503".into()));
        let calls = flaky.calls.load(Ordering::SeqCst);
        assert!(
            (2..=5).contains(&calls),
            "{calls} attempts within 10s of backoff"
        );
        assert!(
            nflog.get(&key(), 0).is_none(),
            "nothing acknowledged, nothing logged"
        );
        // The key is free again for the next flush.
        assert!(matches!(
            d.begin(&key(), &[1].into(), &BTreeSet::new()),
            Begin::Send(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn standby_replica_neither_sends_nor_logs_and_retries_keep_one_key() {
        let (nflog, d) = delivery();
        let gate = crate::alerting::replica::SendGate::replica();
        let d = Arc::new(Arc::try_unwrap(d).unwrap().with_gate(gate.clone()));
        let flaky = Flaky::failing(1);
        let q = IntegrationQueue::spawn(d.clone(), "team", flaky.clone(), 4);
        let firing: BTreeSet<u64> = [1].into();
        let Begin::Send(generation) = d.begin(&key(), &firing, &BTreeSet::new()) else {
            panic!("nothing in flight yet");
        };
        let (j, rx) = job(firing.clone(), Duration::from_secs(60), generation);
        assert!(q.submit(j).is_ok());
        assert_eq!(rx.await.unwrap(), DeliveryOutcome::Standby);
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            0,
            "a standby sends nothing"
        );
        assert!(nflog.get(&key(), 0).is_none(), "and logs nothing");
        // Control: the same job once the gate is open is sent (after one retry).
        gate.open_until(tokio::time::Instant::now() + Duration::from_secs(3600));
        let Begin::Send(generation) = d.begin(&key(), &firing, &BTreeSet::new()) else {
            panic!("the standby job finished");
        };
        let (j, rx) = job(firing.clone(), Duration::from_secs(60), generation);
        assert!(q.submit(j).is_ok());
        assert_eq!(rx.await.unwrap(), DeliveryOutcome::Delivered);
        let keys = flaky.keys.lock().unwrap().clone();
        let expected =
            crate::alerting::replica::idempotency_key(&key(), &firing, &BTreeSet::new(), None);
        assert_eq!(keys, vec![Some(expected.clone()), Some(expected)]);
    }
}
