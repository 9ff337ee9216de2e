//! The notification log (Alertmanager's `nflog`): per (group key, receiver, integration),
//! which alerts were last notified firing and resolved, and when.
//!
//! The dispatcher asks [`needs_update`] — Alertmanager's `DedupStage.needsUpdate` — whether a
//! group must be notified again, and records an acknowledged notification with
//! [`NotificationLog::record`]. Entries live in memory and in the state database's `nflog`
//! table (written by the delivery in the same transaction that deletes the pending
//! notification); they expire `retention` after the notification (Alertmanager keeps 120h).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::alert::{fingerprint_hex, parse_fingerprint};
use super::notify::NotificationReason;
use crate::state::pipeline::NflogRow;

/// Alertmanager's default `--data.retention`.
pub const DEFAULT_NFLOG_RETENTION: Duration = Duration::from_secs(120 * 3600);

/// What identifies an entry: (group key, receiver, integration).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NflogKey {
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
}

/// The last notification of one integration about one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NflogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub sent_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Alertmanager's `DedupStage.needsUpdate`, with the reason: `None` when nothing needs
/// sending.
pub fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: Duration,
    now_ms: i64,
) -> Option<NotificationReason> {
    let Some(entry) = entry else {
        return (!firing.is_empty()).then_some(NotificationReason::NewAlerts);
    };
    if !firing.is_subset(&entry.firing) {
        return Some(NotificationReason::NewAlerts);
    }
    if firing.is_empty() {
        // All resolved: notify (whatever send_resolved says) only if the receiver was told
        // something was firing, so the log is cleared.
        return (!entry.firing.is_empty()).then_some(NotificationReason::Resolved);
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return Some(NotificationReason::Resolved);
    }
    (entry.sent_at_ms < now_ms - repeat_interval.as_millis() as i64)
        .then_some(NotificationReason::RepeatInterval)
}

/// The log.
#[derive(Debug)]
pub struct NotificationLog {
    entries: Mutex<HashMap<NflogKey, NflogEntry>>,
    retention: Duration,
}

fn fps_json(s: &BTreeSet<u64>) -> String {
    let v: Vec<String> = s.iter().map(|fp| fingerprint_hex(*fp)).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_string())
}

fn fps_from_json(s: &str) -> Result<BTreeSet<u64>, super::provider::DecodeError> {
    let v: Vec<String> = serde_json::from_str(s)?;
    v.iter()
        .map(|h| {
            parse_fingerprint(h).ok_or_else(|| super::provider::DecodeError::Fingerprint(h.clone()))
        })
        .collect()
}

/// The database row of an entry.
fn row(key: &NflogKey, e: &NflogEntry) -> NflogRow {
    NflogRow {
        group_key: key.group_key.clone(),
        receiver: key.receiver.clone(),
        integration: key.integration.clone(),
        firing_json: fps_json(&e.firing),
        resolved_json: fps_json(&e.resolved),
        sent_at_ms: e.sent_at_ms,
        expires_at_ms: e.expires_at_ms,
    }
}

impl NotificationLog {
    /// An empty log whose entries expire `retention` after their notification.
    pub fn new(retention: Duration) -> NotificationLog {
        NotificationLog {
            entries: Mutex::new(HashMap::new()),
            retention,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NflogKey, NflogEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, unless expired at `now_ms`.
    pub fn get(&self, key: &NflogKey, now_ms: i64) -> Option<NflogEntry> {
        self.lock()
            .get(key)
            .filter(|e| e.expires_at_ms > now_ms)
            .cloned()
    }

    /// Records an acknowledged notification; returns the row to persist.
    pub fn record(
        &self,
        key: &NflogKey,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        now_ms: i64,
    ) -> NflogRow {
        let entry = NflogEntry {
            firing,
            resolved,
            sent_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(self.retention.as_millis() as i64),
        };
        let r = row(key, &entry);
        self.lock().insert(key.clone(), entry);
        r
    }

    /// Loads rows read from the state database; invalid rows are skipped and logged.
    pub fn load(&self, rows: Vec<NflogRow>) {
        let mut entries = self.lock();
        for r in rows {
            let parsed = fps_from_json(&r.firing_json)
                .and_then(|f| fps_from_json(&r.resolved_json).map(|res| (f, res)));
            match parsed {
                Ok((firing, resolved)) => {
                    entries.insert(
                        NflogKey {
                            group_key: r.group_key,
                            receiver: r.receiver,
                            integration: r.integration,
                        },
                        NflogEntry {
                            firing,
                            resolved,
                            sent_at_ms: r.sent_at_ms,
                            expires_at_ms: r.expires_at_ms,
                        },
                    );
                }
                Err(e) => tracing::warn!(
                    group_key = %r.group_key,
                    receiver = %r.receiver,
                    error = %e,
                    "skipping an invalid notification log entry"
                ),
            }
        }
    }

    /// Every entry as a row (for replication to other replicas).
    pub fn rows(&self) -> Vec<NflogRow> {
        let mut rows: Vec<NflogRow> = self.lock().iter().map(|(k, e)| row(k, e)).collect();
        rows.sort_by(|a, b| {
            (&a.group_key, &a.receiver, &a.integration).cmp(&(
                &b.group_key,
                &b.receiver,
                &b.integration,
            ))
        });
        rows
    }

    /// Merges rows from another replica: a row replaces the entry for its key only when its
    /// notification was sent later (as Alertmanager's nflog merges gossip); invalid rows are
    /// skipped. Returns the rows taken, to persist.
    pub fn merge(&self, rows: Vec<NflogRow>) -> Vec<NflogRow> {
        let newer: Vec<NflogRow> = {
            let entries = self.lock();
            rows.into_iter()
                .filter(|r| {
                    let key = NflogKey {
                        group_key: r.group_key.clone(),
                        receiver: r.receiver.clone(),
                        integration: r.integration.clone(),
                    };
                    entries
                        .get(&key)
                        .is_none_or(|e| e.sent_at_ms < r.sent_at_ms)
                })
                .collect()
        };
        self.load(newer.clone());
        newer
    }

    /// Drops entries expired at `now_ms`.
    pub fn gc(&self, now_ms: i64) {
        self.lock().retain(|_, e| e.expires_at_ms > now_ms);
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotificationReason::*;

    const REPEAT: Duration = Duration::from_secs(3600);

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    /// [`needs_update`] with the repeat interval [`REPEAT`].
    fn update(
        e: Option<&NflogEntry>,
        firing: &[u64],
        resolved: &[u64],
        send_resolved: bool,
        now_ms: i64,
    ) -> Option<NotificationReason> {
        needs_update(
            e,
            &set(firing),
            &set(resolved),
            send_resolved,
            REPEAT,
            now_ms,
        )
    }

    fn entry(firing: &[u64], resolved: &[u64], sent: i64) -> NflogEntry {
        NflogEntry {
            firing: set(firing),
            resolved: set(resolved),
            sent_at_ms: sent,
            expires_at_ms: i64::MAX,
        }
    }

    #[test]
    fn first_notification_only_with_firing_alerts() {
        assert_eq!(update(None, &[1], &[], true, 0), Some(NewAlerts));
        assert_eq!(update(None, &[], &[1], true, 0), None);
    }

    #[test]
    fn new_firing_alert_is_notified_at_once() {
        let e = entry(&[1], &[], 0);
        assert_eq!(update(Some(&e), &[1, 2], &[], true, 1), Some(NewAlerts));
        // A subset of what was notified is nothing new.
        let e = entry(&[1, 2], &[], 0);
        assert_eq!(update(Some(&e), &[1], &[], false, 1), None);
    }

    #[test]
    fn resolved_alerts_depend_on_send_resolved() {
        let e = entry(&[1, 2], &[], 0);
        assert_eq!(update(Some(&e), &[1], &[2], true, 1), Some(Resolved));
        assert_eq!(update(Some(&e), &[1], &[2], false, 1), None);
        // Already told about this resolution.
        let e = entry(&[1], &[2], 0);
        assert_eq!(update(Some(&e), &[1], &[2], true, 1), None);
    }

    #[test]
    fn all_resolved_clears_the_log_whatever_send_resolved_says() {
        let e = entry(&[1], &[], 0);
        assert_eq!(update(Some(&e), &[], &[1], false, 1), Some(Resolved));
        // Nothing was firing before: the receiver never heard of these alerts.
        let e = entry(&[], &[1], 0);
        assert_eq!(update(Some(&e), &[], &[1, 2], true, 1), None);
    }

    #[test]
    fn repeat_after_the_interval_only() {
        let e = entry(&[1], &[], 1_000);
        let repeat_ms = REPEAT.as_millis() as i64;
        assert_eq!(update(Some(&e), &[1], &[], true, 1_000 + repeat_ms), None);
        assert_eq!(
            update(Some(&e), &[1], &[], true, 1_001 + repeat_ms),
            Some(RepeatInterval)
        );
    }

    #[test]
    fn merge_keeps_the_later_notification() {
        let key = NflogKey {
            group_key: "{}:{}".into(),
            receiver: "r".into(),
            integration: "webhook[0]".into(),
        };
        let a = NotificationLog::new(Duration::from_secs(10));
        let b = NotificationLog::new(Duration::from_secs(10));
        a.record(&key, set(&[1]), set(&[]), 1_000);
        assert_eq!(b.merge(a.rows()).len(), 1);
        assert_eq!(b.get(&key, 1_500), a.get(&key, 1_500));
        // b notified later: a's older entry does not replace it, and b's wins on a.
        b.record(&key, set(&[1, 2]), set(&[]), 2_000);
        assert!(b.merge(a.rows()).is_empty());
        assert_eq!(a.merge(b.rows()).len(), 1);
        assert_eq!(a.get(&key, 2_500).unwrap().firing, set(&[1, 2]));
    }

    #[test]
    fn record_load_round_trip_and_expiry() {
        let log = NotificationLog::new(Duration::from_secs(10));
        let key = NflogKey {
            group_key: "{}:{}".into(),
            receiver: "r".into(),
            integration: "webhook[0]".into(),
        };
        let row = log.record(&key, set(&[7]), set(&[8]), 1_000);
        assert_eq!(row.expires_at_ms, 11_000);
        let other = NotificationLog::new(Duration::from_secs(10));
        other.load(vec![row]);
        assert_eq!(other.get(&key, 2_000), log.get(&key, 2_000));
        assert_eq!(other.get(&key, 2_000).unwrap().firing, set(&[7]));
        assert!(other.get(&key, 11_000).is_none());
        other.gc(11_000);
        assert!(other.is_empty());
    }
}
