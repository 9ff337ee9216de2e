//! The alert store (Alertmanager's `provider/mem`): every alert the pipeline holds, by
//! fingerprint.
//!
//! [`AlertStore::put`] normalises an incoming alert as Alertmanager's API does (no start:
//! now; no end: `now + resolve_timeout` with [`Alert::timeout`] set), merges it with the copy
//! already held ([`Alert::merge`]) when their activity ranges overlap, as upstream (else the
//! new copy replaces the old: an alert firing again after its resolution starts anew), and
//! returns what is now stored, which the pipeline hands to the dispatcher and writes to the
//! state database. The number of *active* (unresolved) alerts is bounded: a new firing alert
//! beyond [`AlertStore::max_active`] is rejected and counted, alerts already held are always
//! updated.
//!
//! Resolved alerts are dropped by [`AlertStore::gc`] once no aggregation group still holds
//! them (every group that held one has notified its resolution), or after a bounded
//! retention whatever the groups say.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use crate::store::Labels;

/// How long a resolved alert is kept at most, even if a group still holds it.
pub const DEFAULT_RESOLVED_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What one [`AlertStore::put`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PutOutcome {
    /// The alerts as now stored (merged), in input order: the store's own `Arc`s, which the
    /// aggregation groups share instead of holding copies.
    pub stored: Vec<Arc<Alert>>,
    /// New firing alerts refused because the active-alert limit was reached.
    pub rejected: usize,
}

/// The alerts the pipeline holds.
#[derive(Debug)]
pub struct AlertStore {
    /// Each alert behind an `Arc`, so that listing them (the dashboard, the API) copies
    /// pointers, not label sets.
    alerts: Mutex<BTreeMap<u64, Arc<Alert>>>,
    max_active: Option<usize>,
}

/// An alert as stored in the state database.
#[derive(Serialize, Deserialize)]
struct AlertJson {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at_ms: i64,
    ends_at_ms: i64,
    generator_url: String,
    updated_at_ms: i64,
    timeout: bool,
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// An alert as JSON, for the state database and pending notifications.
pub fn alert_to_json(a: &Alert) -> serde_json::Value {
    serde_json::to_value(AlertJson {
        labels: to_map(&a.labels),
        annotations: to_map(&a.annotations),
        starts_at_ms: a.starts_at_ms,
        ends_at_ms: a.ends_at_ms,
        generator_url: a.generator_url.clone(),
        updated_at_ms: a.updated_at_ms,
        timeout: a.timeout,
    })
    .unwrap_or(serde_json::Value::Null)
}

/// A row of the state database (a stored alert, a pending notification, a notification log
/// entry) that does not decode; the row is skipped and the error logged.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The row is not JSON, or not the JSON of what it should hold.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid alert: {0}")]
    Alert(#[source] serde_json::Error),
    #[error("invalid pending notification: {0}")]
    Pending(#[source] serde_json::Error),
    #[error("invalid fingerprint {0:?}")]
    Fingerprint(String),
}

/// Reads back [`alert_to_json`]'s output.
pub fn alert_from_json(v: serde_json::Value) -> Result<Alert, DecodeError> {
    let a: AlertJson = serde_json::from_value(v).map_err(DecodeError::Alert)?;
    Ok(Alert {
        labels: Labels::from_pairs(a.labels),
        annotations: Labels::from_pairs(a.annotations),
        starts_at_ms: a.starts_at_ms,
        ends_at_ms: a.ends_at_ms,
        generator_url: a.generator_url,
        updated_at_ms: a.updated_at_ms,
        timeout: a.timeout,
    })
}

/// Alertmanager's API normalisation of a received alert: a missing (0) `starts_at_ms` is
/// `now` (or the end, if that is earlier); a missing (0) `ends_at_ms` is
/// `now + resolve_timeout` with `timeout` set; `updated_at_ms` is `now`.
pub fn normalize(mut a: Alert, now_ms: i64, resolve_timeout: Duration) -> Alert {
    if a.starts_at_ms == 0 {
        a.starts_at_ms = if a.ends_at_ms != 0 && a.ends_at_ms < now_ms {
            a.ends_at_ms
        } else {
            now_ms
        };
    }
    if a.ends_at_ms == 0 {
        a.ends_at_ms = now_ms.saturating_add(resolve_timeout.as_millis() as i64);
        a.timeout = true;
    } else {
        a.timeout = false;
    }
    a.updated_at_ms = now_ms;
    a
}

/// Whether `new` overlaps the activity of `old` (its end or its start falls strictly
/// inside `old`'s range), the condition on which Alertmanager's `provider/mem` merges a
/// received alert with the copy it holds; otherwise the received alert replaces it (an alert
/// firing again after its resolution starts anew).
fn overlaps(old: &Alert, new: &Alert) -> bool {
    let inside = |t: i64| t > old.starts_at_ms && t < old.ends_at_ms;
    inside(new.ends_at_ms) || inside(new.starts_at_ms)
}

impl AlertStore {
    /// An empty store; `max_active` bounds the unresolved alerts (`None`: no bound).
    pub fn new(max_active: Option<usize>) -> AlertStore {
        AlertStore {
            alerts: Mutex::new(BTreeMap::new()),
            max_active,
        }
    }

    /// The active-alert limit.
    pub fn max_active(&self) -> Option<usize> {
        self.max_active
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Alert>>> {
        self.alerts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores already normalised alerts (see [`normalize`]), merging each with the copy held
    /// when their activity ranges overlap.
    pub fn put(&self, alerts: Vec<Alert>, now_ms: i64) -> PutOutcome {
        let mut held = self.lock();
        let mut active = held.values().filter(|a| !a.resolved_at(now_ms)).count();
        let mut out = PutOutcome::default();
        for a in alerts {
            let fp = a.fingerprint();
            let merged = match held.get(&fp) {
                Some(old) => {
                    let was_active = !old.resolved_at(now_ms);
                    let m = if overlaps(old, &a) {
                        old.merge(&a, now_ms)
                    } else {
                        a
                    };
                    match (was_active, m.resolved_at(now_ms)) {
                        (true, true) => active -= 1,
                        (false, false) => active += 1,
                        _ => {}
                    }
                    m
                }
                None => {
                    if !a.resolved_at(now_ms) {
                        if self.max_active.is_some_and(|max| active >= max) {
                            out.rejected += 1;
                            continue;
                        }
                        active += 1;
                    }
                    a
                }
            };
            let merged = Arc::new(merged);
            held.insert(fp, merged.clone());
            out.stored.push(merged);
        }
        out
    }

    /// Puts alerts loaded from the state database back, as they were.
    pub fn restore(&self, alerts: Vec<Alert>) {
        let mut held = self.lock();
        for a in alerts {
            held.insert(a.fingerprint(), Arc::new(a));
        }
    }

    /// The alert with this fingerprint.
    pub fn get(&self, fp: u64) -> Option<Alert> {
        self.lock().get(&fp).map(|a| Alert::clone(a))
    }

    /// Every alert held, by fingerprint.
    pub fn list(&self) -> Vec<Alert> {
        self.lock().values().map(|a| Alert::clone(a)).collect()
    }

    /// Every alert held, by fingerprint, shared: a pointer per alert instead of a copy, for
    /// readers that go through many alerts and keep few (the dashboard's list pages).
    pub fn list_shared(&self) -> Vec<Arc<Alert>> {
        self.lock().values().cloned().collect()
    }

    /// (active, resolved) alert counts at `now_ms`.
    pub fn counts(&self, now_ms: i64) -> (usize, usize) {
        let held = self.lock();
        let active = held.values().filter(|a| !a.resolved_at(now_ms)).count();
        (active, held.len() - active)
    }

    /// Drops resolved alerts that no group holds (`held_by_group` says false), or that
    /// resolved more than `retention` ago. Returns the fingerprints dropped.
    pub fn gc(
        &self,
        now_ms: i64,
        retention: Duration,
        held_by_group: impl Fn(u64) -> bool,
    ) -> Vec<u64> {
        let mut held = self.lock();
        let limit = now_ms.saturating_sub(retention.as_millis() as i64);
        let gone: Vec<u64> = held
            .iter()
            .filter(|(fp, a)| {
                a.resolved_at(now_ms) && (a.ends_at_ms < limit || !held_by_group(**fp))
            })
            .map(|(fp, _)| *fp)
            .collect();
        for fp in &gone {
            held.remove(fp);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RT: Duration = Duration::from_secs(300);

    fn alert(name: &str, starts: i64, ends: i64) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", name)]),
            annotations: Labels::empty(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: 0,
            timeout: false,
        }
    }

    #[test]
    fn missing_end_becomes_resolve_timeout() {
        let a = normalize(alert("A", 0, 0), 10_000, RT);
        assert_eq!(a.starts_at_ms, 10_000);
        assert_eq!(a.ends_at_ms, 310_000);
        assert!(a.timeout);
        assert_eq!(a.updated_at_ms, 10_000);
        let b = normalize(alert("A", 0, 5_000), 10_000, RT);
        assert_eq!(
            b.starts_at_ms, 5_000,
            "a resolved alert without start starts at its end"
        );
        assert!(!b.timeout);
    }

    #[test]
    fn put_merges_with_the_held_copy() {
        let s = AlertStore::new(None);
        s.put(vec![normalize(alert("A", 1_000, 0), 2_000, RT)], 2_000);
        let out = s.put(vec![normalize(alert("A", 1_500, 3_000), 3_000, RT)], 3_000);
        assert_eq!(out.stored.len(), 1);
        let a = &out.stored[0];
        assert_eq!(a.starts_at_ms, 1_000, "earliest start wins");
        assert_eq!(a.ends_at_ms, 3_000, "an explicit resolution wins");
        assert_eq!(s.counts(4_000), (0, 1));
    }

    /// Issue #16 (flapping alerts): an alert firing again after its resolution is a new
    /// activity, as in Alertmanager's `provider/mem` (merged only when the activity ranges
    /// overlap): it starts when it fires again, so its group waits `group_wait` as for any
    /// new alert, instead of inheriting the first start and being flushed at once.
    #[test]
    fn an_alert_firing_again_after_its_resolution_starts_anew() {
        let s = AlertStore::new(None);
        s.put(vec![normalize(alert("A", 0, 0), 1_000, RT)], 1_000);
        s.put(vec![normalize(alert("A", 0, 4_000), 5_000, RT)], 5_000);
        let out = s.put(vec![normalize(alert("A", 0, 0), 10_000, RT)], 10_000);
        let a = &out.stored[0];
        assert_eq!(a.starts_at_ms, 10_000, "not the first activity's start");
        assert_eq!(a.ends_at_ms, 310_000);
        assert!(!a.resolved_at(10_000));
        // Overlapping copies still merge: a re-send with a later start keeps the first one.
        let out = s.put(vec![normalize(alert("A", 12_000, 0), 12_000, RT)], 12_000);
        assert_eq!(out.stored[0].starts_at_ms, 10_000);
    }

    #[test]
    fn active_limit_rejects_new_firing_alerts_only() {
        let s = AlertStore::new(Some(1));
        let out = s.put(
            vec![
                normalize(alert("A", 0, 0), 1_000, RT),
                normalize(alert("B", 0, 0), 1_000, RT),
                normalize(alert("C", 0, 900), 1_000, RT),
            ],
            1_000,
        );
        assert_eq!(out.rejected, 1);
        assert_eq!(out.stored.len(), 2, "A and the resolved C");
        assert!(s.get(alert("B", 0, 0).fingerprint()).is_none());
        // Updating A is always possible.
        let out = s.put(vec![normalize(alert("A", 0, 0), 2_000, RT)], 2_000);
        assert_eq!((out.stored.len(), out.rejected), (1, 0));
    }

    #[test]
    fn gc_keeps_resolved_alerts_a_group_still_holds() {
        let s = AlertStore::new(None);
        let a = normalize(alert("A", 0, 5_000), 6_000, RT);
        let fp = a.fingerprint();
        s.put(vec![a, normalize(alert("B", 0, 0), 6_000, RT)], 6_000);
        assert!(s.gc(7_000, RT, |_| true).is_empty());
        assert_eq!(
            s.gc(7_000, RT, |_| false),
            vec![fp],
            "B is firing and stays"
        );
        // Bounded retention wins over a group that never lets go.
        let c = normalize(alert("C", 0, 5_000), 6_000, RT);
        s.put(vec![c], 6_000);
        assert_eq!(s.gc(5_000 + 301_000, RT, |_| true).len(), 1);
    }

    #[test]
    fn json_round_trip() {
        let mut a = normalize(alert("A", 1, 0), 2, RT);
        a.annotations = Labels::from_pairs([("summary", "s")]);
        a.generator_url = "http://x/graph".into();
        assert_eq!(alert_from_json(alert_to_json(&a)).unwrap(), a);
        assert!(alert_from_json(serde_json::json!({"labels": 1})).is_err());
    }
}
