//! The notification history: what was sent to whom and when, and what kept alerts from a
//! receiver.
//!
//! [`NotificationHistory`] is the recorder the dispatcher and the delivery share. The
//! delivery records each notification it starts ([`NotificationHistory::notification`]:
//! group, receiver, integration, alerts, [`NotifyReason`], idempotency key), each attempt and
//! the end ([`NotificationHistory::attempt`], [`NotificationHistory::finish`]); the
//! dispatcher records what a flush held back ([`NotificationHistory::suppressed`]: the
//! [`Suppression`] of each alert — silence, inhibition, mute or active time interval, the
//! notification log's dedup, `send_resolved: false`).
//!
//! Recording never waits on the database: entries go over a bounded channel to one task
//! that writes them in batches through the state database's writer thread (a full channel
//! drops the entry and counts it in `redline_notification_history_dropped_total`). Entry ids
//! are assigned here, in event order, continuing after the largest id stored, so they order
//! the history and serve as the paging cursor. A suppression is recorded when it starts or
//! changes for an alert, not at every flush that repeats it, so a silence over a day is one
//! entry, not one per `group_interval`. The history is bounded by age and count
//! ([`HistoryOptions`], `alertmanager.notification_history` in the config), enforced by
//! [`NotificationHistory::prune`], which the pipeline's collector calls every `gc_interval`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::alert::{fingerprint_hex, Alert};
use super::nflog::NflogKey;
use super::notify::{Notification, NotificationReason};
use crate::state::history::{
    AttemptRow, HistoryAlertRow, HistoryPage, HistoryQuery, HistoryRow, HistoryWrite, OriginRow,
};
use crate::state::{StateDb, StateError};
use crate::store::Labels;

/// Entries waiting for the writer before new ones are dropped.
const CHANNEL_CAPACITY: usize = 4096;
/// Most writes in one transaction.
const BATCH: usize = 512;

/// How much history is kept (the config's `alertmanager.notification_history`).
pub type HistoryOptions = crate::config::alertmanager::NotificationHistorySettings;

/// Why a notification was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyReason {
    /// The receiver had not been told about the group (no log entry).
    FirstNotification,
    /// Firing alerts the receiver was not told about joined the group.
    NewAlerts,
    /// Alerts the receiver was told were firing have resolved.
    Resolved,
    /// Nothing changed; `repeat_interval` elapsed.
    RepeatInterval,
}

impl NotifyReason {
    /// The dispatcher's reason, told apart by whether the receiver had been notified before.
    pub fn of(reason: NotificationReason, notified_before: bool) -> NotifyReason {
        match reason {
            NotificationReason::NewAlerts if !notified_before => NotifyReason::FirstNotification,
            NotificationReason::NewAlerts => NotifyReason::NewAlerts,
            NotificationReason::Resolved => NotifyReason::Resolved,
            NotificationReason::RepeatInterval => NotifyReason::RepeatInterval,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyReason::FirstNotification => "first_notification",
            NotifyReason::NewAlerts => "new_alerts",
            NotifyReason::Resolved => "resolved",
            NotifyReason::RepeatInterval => "repeat_interval",
        }
    }
}

/// What kept an alert from a receiver at a flush.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suppression {
    /// An active silence matched (the first, by id).
    Silence {
        id: String,
        #[serde(rename = "createdBy")]
        created_by: String,
        comment: String,
    },
    /// A firing source alert inhibited it (the one Alertmanager reports).
    Inhibition {
        fingerprint: String,
        labels: BTreeMap<String, String>,
    },
    /// The route is in one of its `mute_time_intervals`.
    MuteTimeInterval { name: String },
    /// The route has `active_time_intervals` and is in none of them.
    ActiveTimeInterval { names: Vec<String> },
    /// The notification log says the receiver already knows (`DedupStage`).
    Dedup {
        #[serde(rename = "lastSentAtMs")]
        last_sent_at_ms: i64,
    },
    /// Resolved, and the integration does not send resolutions (`send_resolved: false`).
    SendResolved,
}

impl Suppression {
    /// The entry's reason: `silenced`, `inhibited`, `mute_time_interval`,
    /// `active_time_interval`, `dedup` or `send_resolved`.
    pub fn reason(&self) -> &'static str {
        match self {
            Suppression::Silence { .. } => "silenced",
            Suppression::Inhibition { .. } => "inhibited",
            Suppression::MuteTimeInterval { .. } => "mute_time_interval",
            Suppression::ActiveTimeInterval { .. } => "active_time_interval",
            Suppression::Dedup { .. } => "dedup",
            Suppression::SendResolved => "send_resolved",
        }
    }
}

/// One alert held back by a flush.
pub struct Suppressed<'a> {
    pub alert: &'a Alert,
    pub owner: String,
    pub resolved: bool,
    pub by: Suppression,
}

/// A map of labels as JSON objects show them.
pub fn labels_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn alert_row(a: &Alert, owner: &str, resolved: bool, by: Option<&Suppression>) -> HistoryAlertRow {
    HistoryAlertRow {
        fingerprint: fingerprint_hex(a.fingerprint()),
        status: if resolved { "resolved" } else { "firing" }.into(),
        alertname: a.labels.get("alertname").unwrap_or("").to_string(),
        owner: owner.to_string(),
        labels_json: serde_json::to_string(&labels_map(&a.labels)).unwrap_or_default(),
        suppressed_by_json: by.and_then(|s| serde_json::to_string(s).ok()),
    }
}

enum Msg {
    Write(HistoryWrite),
    /// Answered once everything sent before is written.
    Flush(oneshot::Sender<()>),
}

/// What was last recorded as suppressing an alert for a (group, receiver, integration):
/// (group key, receiver, integration, fingerprint) → (suppression, when).
type LastSuppressed = HashMap<(String, String, String, u64), (Suppression, i64)>;

/// A rule alert's times as last recorded: (pending, firing, resolved).
type OriginTimes = (i64, Option<i64>, Option<i64>);

struct Recorder {
    db: StateDb,
    /// What was last recorded per fingerprint, so a resent alert writes nothing.
    origins: Mutex<HashMap<u64, OriginTimes>>,
    tx: mpsc::Sender<Msg>,
    next_id: AtomicI64,
    opts: HistoryOptions,
    last: Mutex<LastSuppressed>,
    dropped: Counter,
}

/// The recorder; clones share it. Without a state database it records nothing.
#[derive(Clone, Default)]
pub struct NotificationHistory {
    inner: Option<Arc<Recorder>>,
}

impl std::fmt::Debug for NotificationHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationHistory")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

/// Errors of history queries.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the notification history needs the state database, and this pipeline has none")]
    Disabled,
    #[error(transparent)]
    State(#[from] StateError),
}

async fn write_loop(db: StateDb, mut rx: mpsc::Receiver<Msg>) {
    let mut buf = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut buf, BATCH).await > 0 {
        let mut writes = Vec::with_capacity(buf.len());
        let mut flushes = Vec::new();
        for m in buf.drain(..) {
            match m {
                Msg::Write(w) => writes.push(w),
                Msg::Flush(done) => flushes.push(done),
            }
        }
        if let Err(e) = db.write_history(writes).await {
            tracing::warn!(error = %e, "writing the notification history");
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

impl NotificationHistory {
    /// A recorder writing to `db`, continuing after the entries it holds; starts its
    /// writer task.
    pub async fn start(
        db: StateDb,
        opts: HistoryOptions,
        dropped: Counter,
    ) -> Result<NotificationHistory, StateError> {
        let max = db.history_max_id().await?;
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(write_loop(db.clone(), rx));
        Ok(NotificationHistory {
            inner: Some(Arc::new(Recorder {
                db,
                origins: Mutex::new(HashMap::new()),
                tx,
                next_id: AtomicI64::new(max + 1),
                opts,
                last: Mutex::new(HashMap::new()),
                dropped,
            })),
        })
    }

    /// A recorder that records nothing (no state database).
    pub fn disabled() -> NotificationHistory {
        NotificationHistory::default()
    }

    /// How much history is kept (the defaults when disabled).
    pub fn options(&self) -> HistoryOptions {
        self.inner.as_ref().map(|r| r.opts).unwrap_or_default()
    }

    fn send(r: &Recorder, w: HistoryWrite) {
        if r.tx.try_send(Msg::Write(w)).is_err() {
            r.dropped.inc();
            tracing::warn!("notification history: the writer is behind; an entry was dropped");
        }
    }

    fn last(r: &Recorder) -> std::sync::MutexGuard<'_, LastSuppressed> {
        r.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a notification about to be delivered; returns its entry id.
    pub fn notification(
        &self,
        key: &NflogKey,
        n: &Notification,
        reason: NotifyReason,
        idempotency_key: &str,
        replayed: bool,
    ) -> Option<i64> {
        let r = self.inner.as_ref()?;
        let id = r.next_id.fetch_add(1, Ordering::Relaxed);
        let alerts = n
            .alerts
            .iter()
            .map(|a| {
                alert_row(
                    &a.alert,
                    a.owner.as_deref().unwrap_or(&key.receiver),
                    a.alert.resolved_at(n.now_ms),
                    None,
                )
            })
            .collect();
        // A delivered alert is no longer held back for this integration.
        {
            let mut last = Self::last(r);
            for a in &n.alerts {
                last.remove(&(
                    key.group_key.clone(),
                    key.receiver.clone(),
                    key.integration.clone(),
                    a.alert.fingerprint(),
                ));
            }
        }
        Self::send(
            r,
            HistoryWrite::Entry(Box::new(HistoryRow {
                id,
                at_ms: n.now_ms,
                kind: "notification".into(),
                group_key: key.group_key.clone(),
                receiver: key.receiver.clone(),
                integration: key.integration.clone(),
                reason: reason.as_str().into(),
                outcome: "pending".into(),
                error: None,
                idempotency_key: Some(idempotency_key.to_string()),
                replayed,
                finished_at_ms: None,
                detail_json: None,
                alerts,
                attempts: Vec::new(),
            })),
        );
        Some(id)
    }

    /// Records attempt `attempt` (from 1) of entry `id`; `error` is `None` when delivered.
    pub fn attempt(
        &self,
        id: Option<i64>,
        attempt: u32,
        at_ms: i64,
        took: Duration,
        error: Option<&str>,
    ) {
        let (Some(r), Some(entry_id)) = (self.inner.as_ref(), id) else {
            return;
        };
        Self::send(
            r,
            HistoryWrite::Attempt {
                entry_id,
                attempt: AttemptRow {
                    attempt: i64::from(attempt),
                    at_ms,
                    duration_ms: i64::try_from(took.as_millis()).unwrap_or(i64::MAX),
                    error: error.map(str::to_string),
                },
            },
        );
    }

    /// Records how notification `id` ended: `delivered`, `failed`, `superseded`, `standby`.
    pub fn finish(&self, id: Option<i64>, outcome: &str, error: Option<&str>, at_ms: i64) {
        let (Some(r), Some(entry_id)) = (self.inner.as_ref(), id) else {
            return;
        };
        Self::send(
            r,
            HistoryWrite::Finish {
                entry_id,
                outcome: outcome.to_string(),
                error: error.map(str::to_string),
                at_ms,
            },
        );
    }

    /// Records alerts a flush held back from `receiver` (`integration` empty when held back
    /// before the integrations: muting). Only alerts whose suppression started or changed
    /// since the last record are written, one entry per kind of suppression.
    pub fn suppressed(
        &self,
        group_key: &str,
        receiver: &str,
        integration: &str,
        at_ms: i64,
        held: Vec<Suppressed<'_>>,
    ) {
        let Some(r) = self.inner.as_ref() else {
            return;
        };
        let mut by_reason: BTreeMap<&'static str, Vec<HistoryAlertRow>> = BTreeMap::new();
        let mut detail: BTreeMap<&'static str, &Suppression> = BTreeMap::new();
        {
            let mut last = Self::last(r);
            for s in &held {
                let k = (
                    group_key.to_string(),
                    receiver.to_string(),
                    integration.to_string(),
                    s.alert.fingerprint(),
                );
                if last.get(&k).is_some_and(|(prev, _)| *prev == s.by) {
                    continue;
                }
                last.insert(k, (s.by.clone(), at_ms));
                by_reason.entry(s.by.reason()).or_default().push(alert_row(
                    s.alert,
                    &s.owner,
                    s.resolved,
                    Some(&s.by),
                ));
                detail.entry(s.by.reason()).or_insert(&s.by);
            }
        }
        for (reason, alerts) in by_reason {
            let id = r.next_id.fetch_add(1, Ordering::Relaxed);
            // Entry-wide details (time intervals, the log's last send); per-alert ones
            // (silence, inhibiting alert) are on the alerts.
            let detail_json = detail
                .get(reason)
                .filter(|s| {
                    matches!(
                        s,
                        Suppression::MuteTimeInterval { .. }
                            | Suppression::ActiveTimeInterval { .. }
                            | Suppression::Dedup { .. }
                    )
                })
                .and_then(|s| serde_json::to_string(s).ok());
            Self::send(
                r,
                HistoryWrite::Entry(Box::new(HistoryRow {
                    id,
                    at_ms,
                    kind: "suppressed".into(),
                    group_key: group_key.to_string(),
                    receiver: receiver.to_string(),
                    integration: integration.to_string(),
                    reason: reason.into(),
                    outcome: "suppressed".into(),
                    error: None,
                    idempotency_key: None,
                    replayed: false,
                    finished_at_ms: None,
                    detail_json,
                    alerts,
                    attempts: Vec::new(),
                })),
            );
        }
    }

    /// Forgets the muting recorded for these alerts of a group (a flush found them not
    /// muted), so that a later mute is recorded again.
    pub fn unmuted(&self, group_key: &str, receiver: &str, fingerprints: &[u64]) {
        let Some(r) = self.inner.as_ref() else {
            return;
        };
        let mut last = Self::last(r);
        for fp in fingerprints {
            last.remove(&(
                group_key.to_string(),
                receiver.to_string(),
                String::new(),
                *fp,
            ));
        }
    }

    /// Records where a rule's alert (fingerprint `fp` in the pipeline) came from: the rule,
    /// its expression, when it went pending, fired (and with what value) and resolved.
    /// Written when one of those times changes.
    #[allow(clippy::too_many_arguments)]
    pub fn rule_alert(
        &self,
        fp: u64,
        rule: &str,
        expr: &str,
        pending_at_ms: i64,
        firing_at_ms: Option<i64>,
        value: f64,
        resolved_at_ms: Option<i64>,
        now_ms: i64,
    ) {
        let Some(r) = self.inner.as_ref() else {
            return;
        };
        let times = (pending_at_ms, firing_at_ms, resolved_at_ms);
        {
            let mut origins = r.origins.lock().unwrap_or_else(|p| p.into_inner());
            if origins.get(&fp) == Some(&times) {
                return;
            }
            origins.insert(fp, times);
        }
        Self::send(
            r,
            HistoryWrite::Origin(OriginRow {
                fingerprint: fingerprint_hex(fp),
                rule: rule.to_string(),
                expr: expr.to_string(),
                pending_at_ms,
                firing_at_ms,
                value: Some(value),
                resolved_at_ms,
                updated_at_ms: now_ms,
            }),
        );
    }

    /// The recorded origin of the rule alert with fingerprint `fp`.
    pub async fn origin(&self, fp: u64) -> Result<Option<OriginRow>, HistoryError> {
        let r = self.inner.as_ref().ok_or(HistoryError::Disabled)?;
        self.flush().await;
        Ok(r.db.alert_origin(fingerprint_hex(fp)).await?)
    }

    /// Waits until everything recorded before is written.
    pub async fn flush(&self) {
        let Some(r) = self.inner.as_ref() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if r.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Deletes entries beyond the retention and the count at `now_ms`; returns how many.
    pub async fn prune(&self, now_ms: i64) -> Result<usize, HistoryError> {
        let r = self.inner.as_ref().ok_or(HistoryError::Disabled)?;
        let cutoff =
            now_ms.saturating_sub(i64::try_from(r.opts.retention.as_millis()).unwrap_or(i64::MAX));
        Self::last(r).retain(|_, (_, at)| *at >= cutoff);
        r.origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (pending, _, resolved)| resolved.unwrap_or(*pending) >= cutoff);
        self.flush().await;
        Ok(r.db.prune_history(cutoff, r.opts.max_entries).await?)
    }

    /// One page of entries, newest first, with everything recorded so far.
    pub async fn query(&self, q: HistoryQuery) -> Result<HistoryPage, HistoryError> {
        let r = self.inner.as_ref().ok_or(HistoryError::Disabled)?;
        self.flush().await;
        Ok(r.db.query_history(q).await?)
    }
}
