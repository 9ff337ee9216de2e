//! Acknowledgements: "I'm on it" for a firing aggregation group, without silencing it.
//!
//! An [`Ack`] names one aggregation group as the dispatcher forms it (group key and
//! receiver), who acknowledged it, why, and until when; it covers the alerts of the group
//! that fired when it was made ([`Ack::fingerprints`]). While it is active the group sends no
//! `repeat_interval` notifications ([`Acks::holds_repeat`], asked by the dispatcher after the
//! notification log decided a repeat is due); everything else goes out as usual: new alerts
//! and resolutions are notified.
//!
//! An acknowledgement ends at its expiry, when it is expired by hand ([`Acks::expire`]), or
//! when an alert it does not cover fires in the group ([`Acks::end_superseded`], called by
//! the flush that notifies that alert): a changed firing set pages as usual and the
//! acknowledgement, made for other alerts, no longer holds the group's repeats. Alerts of the
//! group that resolve do not end it.
//!
//! [`Acks`] is the shared set, kept in memory and written through to the state database's
//! `alert_ack` table before a call returns; ended acknowledgements are kept for a retention
//! (120h after their end, as silences) so the alert pages and the history can show them
//! ([`Acks::of_group`], [`Acks::of_alert`]). Between replicas they are merged as silences are,
//! the later write winning ([`Acks::merge`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use super::alert::{fingerprint_hex, parse_fingerprint};
use super::silence::{new_uuid_v4, DEFAULT_RETENTION_MS};
use crate::state::acks::AckRow;
use crate::state::{StateDb, StateError};

/// Why an acknowledgement ended before its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckEnd {
    /// Expired by hand (`DELETE /api/v1/acks/<id>`).
    Expired,
    /// An alert it did not cover fired in the group.
    NewAlerts,
}

impl AckEnd {
    /// `expired` or `new_alerts`, as the API prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            AckEnd::Expired => "expired",
            AckEnd::NewAlerts => "new_alerts",
        }
    }

    fn parse(s: &str) -> Option<Option<AckEnd>> {
        match s {
            "" => Some(None),
            "expired" => Some(Some(AckEnd::Expired)),
            "new_alerts" => Some(Some(AckEnd::NewAlerts)),
            _ => None,
        }
    }
}

/// One acknowledgement of an aggregation group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// UUID v4.
    pub id: String,
    /// The group's key, as in the notification log and the payloads' `groupKey`.
    pub group_key: String,
    /// The receiver the group notifies.
    pub receiver: String,
    /// The group's firing alerts when it was acknowledged.
    pub fingerprints: BTreeSet<u64>,
    pub created_by: String,
    pub comment: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// When it ends (or ended), unix milliseconds.
    pub ends_at_ms: i64,
    /// When it was last written, unix milliseconds (merges between replicas keep the later).
    pub updated_at_ms: i64,
    /// Why it ended early; `None` while it runs to `ends_at_ms`.
    pub ended_by: Option<AckEnd>,
}

impl Ack {
    /// Whether it holds the group's repeats at `now_ms`: not ended, and before its end.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.ended_by.is_none() && now_ms < self.ends_at_ms
    }

    /// `active` or `expired`.
    pub fn state(&self, now_ms: i64) -> &'static str {
        if self.is_active(now_ms) {
            "active"
        } else {
            "expired"
        }
    }

    /// Whether every alert of `firing` was firing when the group was acknowledged.
    pub fn covers(&self, firing: &BTreeSet<u64>) -> bool {
        firing.is_subset(&self.fingerprints)
    }

    fn to_row(&self) -> AckRow {
        let fps: Vec<String> = self
            .fingerprints
            .iter()
            .map(|f| fingerprint_hex(*f))
            .collect();
        AckRow {
            id: self.id.clone(),
            group_key: self.group_key.clone(),
            receiver: self.receiver.clone(),
            // A list of strings always serializes.
            fingerprints_json: serde_json::to_string(&fps).unwrap_or_else(|_| "[]".into()),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            created_at_ms: self.created_at_ms,
            ends_at_ms: self.ends_at_ms,
            updated_at_ms: self.updated_at_ms,
            ended_by: self.ended_by.map_or("", AckEnd::as_str).to_string(),
        }
    }

    fn from_row(row: AckRow) -> Result<Ack, AckError> {
        let corrupt = |message: String| AckError::Corrupt {
            id: row.id.clone(),
            message,
        };
        let hex: Vec<String> = serde_json::from_str(&row.fingerprints_json)
            .map_err(|e| corrupt(format!("fingerprints: {e}")))?;
        let fingerprints = hex
            .iter()
            .map(|h| parse_fingerprint(h).ok_or_else(|| corrupt(format!("fingerprint {h:?}"))))
            .collect::<Result<BTreeSet<u64>, _>>()?;
        let ended_by = AckEnd::parse(&row.ended_by)
            .ok_or_else(|| corrupt(format!("ended_by {:?}", row.ended_by)))?;
        Ok(Ack {
            id: row.id,
            group_key: row.group_key,
            receiver: row.receiver,
            fingerprints,
            created_by: row.created_by,
            comment: row.comment,
            created_at_ms: row.created_at_ms,
            ends_at_ms: row.ends_at_ms,
            updated_at_ms: row.updated_at_ms,
            ended_by,
        })
    }
}

/// What a new acknowledgement says; the group and its firing alerts come from the caller
/// (the pipeline finds them in the dispatcher's groups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckRequest {
    pub group_key: String,
    pub receiver: String,
    pub fingerprints: BTreeSet<u64>,
    pub created_by: String,
    pub comment: String,
    pub ends_at_ms: i64,
}

/// Why an acknowledgement could not be written or loaded. Field names in messages are the
/// API's (`createdBy`, `endsAt`).
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// The request is not valid: `field: message`.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// No firing group matches what the request names.
    #[error("{0}")]
    NoGroup(String),
    #[error("acknowledgement {0} not found")]
    NotFound(String),
    #[error("acknowledgement {0} already ended")]
    AlreadyEnded(String),
    /// A row of the `alert_ack` table (or of a peer) could not be read.
    #[error("stored acknowledgement {id}: {message}")]
    Corrupt { id: String, message: String },
    #[error(transparent)]
    State(#[from] StateError),
}

impl AckError {
    fn invalid(field: &'static str, message: impl Into<String>) -> AckError {
        AckError::Invalid {
            field,
            message: message.into(),
        }
    }
}

struct Inner {
    db: Option<StateDb>,
    by_id: RwLock<HashMap<String, Ack>>,
    /// Serializes writers, so the database and memory see writes in one order.
    write: tokio::sync::Mutex<()>,
    retention_ms: i64,
}

/// The shared set of acknowledgements (see the module documentation).
#[derive(Clone)]
pub struct Acks {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Acks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acks")
            .field("count", &self.read().len())
            .finish()
    }
}

impl Acks {
    fn with(db: Option<StateDb>, by_id: HashMap<String, Ack>) -> Acks {
        Acks {
            inner: Arc::new(Inner {
                db,
                by_id: RwLock::new(by_id),
                write: tokio::sync::Mutex::new(()),
                retention_ms: DEFAULT_RETENTION_MS,
            }),
        }
    }

    /// An empty set that is not persisted.
    pub fn in_memory() -> Acks {
        Acks::with(None, HashMap::new())
    }

    /// Loads the stored acknowledgements (none without a database); an unreadable row is
    /// skipped and logged.
    pub async fn load(db: Option<StateDb>) -> Result<Acks, AckError> {
        let mut by_id = HashMap::new();
        if let Some(db) = &db {
            for row in db.load_acks().await? {
                match Ack::from_row(row) {
                    Ok(a) => {
                        by_id.insert(a.id.clone(), a);
                    }
                    Err(e) => tracing::warn!(error = %e, "skipping a stored acknowledgement"),
                }
            }
        }
        Ok(Acks::with(db, by_id))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Ack>> {
        self.inner
            .by_id
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn persist(&self, upserts: &[Ack], deletes: &[String]) -> Result<(), AckError> {
        if let Some(db) = &self.inner.db {
            db.write_acks(upserts.iter().map(Ack::to_row).collect(), deletes.to_vec())
                .await?;
        }
        let mut map = self
            .inner
            .by_id
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in deletes {
            map.remove(id);
        }
        for a in upserts {
            map.insert(a.id.clone(), a.clone());
        }
        Ok(())
    }

    /// Creates an acknowledgement; it is committed before this returns.
    pub async fn create(&self, req: AckRequest, now_ms: i64) -> Result<Ack, AckError> {
        if req.created_by.trim().is_empty() {
            return Err(AckError::invalid(
                "createdBy",
                "required: who acknowledges the group",
            ));
        }
        if req.ends_at_ms <= now_ms {
            return Err(AckError::invalid("endsAt", "must be in the future"));
        }
        if req.fingerprints.is_empty() {
            return Err(AckError::NoGroup(format!(
                "group {} of receiver {} has no firing alert to acknowledge",
                req.group_key, req.receiver
            )));
        }
        let _writer = self.inner.write.lock().await;
        let ack = Ack {
            id: new_uuid_v4(),
            group_key: req.group_key,
            receiver: req.receiver,
            fingerprints: req.fingerprints,
            created_by: req.created_by.trim().to_string(),
            comment: req.comment,
            created_at_ms: now_ms,
            ends_at_ms: req.ends_at_ms,
            updated_at_ms: now_ms,
            ended_by: None,
        };
        let deletes = self.ended_beyond_retention(now_ms);
        self.persist(std::slice::from_ref(&ack), &deletes).await?;
        Ok(ack)
    }

    /// Ends an active acknowledgement now; returns it as ended.
    pub async fn expire(&self, id: &str, now_ms: i64) -> Result<Ack, AckError> {
        let _writer = self.inner.write.lock().await;
        let mut ack = self
            .get(id)
            .ok_or_else(|| AckError::NotFound(id.to_string()))?;
        if !ack.is_active(now_ms) {
            return Err(AckError::AlreadyEnded(id.to_string()));
        }
        ack.ended_by = Some(AckEnd::Expired);
        ack.ends_at_ms = now_ms;
        ack.updated_at_ms = now_ms;
        self.persist(std::slice::from_ref(&ack), &[]).await?;
        Ok(ack)
    }

    /// The dispatcher's check, after the notification log found a repeat due: whether an
    /// active acknowledgement of the group covers all of its firing alerts, so the repeat is
    /// not sent.
    pub fn holds_repeat(
        &self,
        group_key: &str,
        receiver: &str,
        firing: &BTreeSet<u64>,
        now_ms: i64,
    ) -> bool {
        self.read().values().any(|a| {
            a.group_key == group_key
                && a.receiver == receiver
                && a.is_active(now_ms)
                && a.covers(firing)
        })
    }

    /// Ends the group's active acknowledgements that do not cover `firing` (an alert fired
    /// after they were made); returns them as ended. A failed write is logged and the
    /// acknowledgement stays (it no longer holds repeats anyway: it does not cover `firing`).
    pub async fn end_superseded(
        &self,
        group_key: &str,
        receiver: &str,
        firing: &BTreeSet<u64>,
        now_ms: i64,
    ) -> Vec<Ack> {
        let superseded = |a: &Ack| {
            a.group_key == group_key
                && a.receiver == receiver
                && a.is_active(now_ms)
                && !a.covers(firing)
        };
        if !self.read().values().any(superseded) {
            return Vec::new();
        }
        let _writer = self.inner.write.lock().await;
        let ended: Vec<Ack> = self
            .read()
            .values()
            .filter(|a| superseded(a))
            .map(|a| Ack {
                ended_by: Some(AckEnd::NewAlerts),
                ends_at_ms: now_ms,
                updated_at_ms: now_ms,
                ..a.clone()
            })
            .collect();
        if let Err(e) = self.persist(&ended, &[]).await {
            tracing::warn!(group_key, error = %e, "ending an acknowledgement");
            return Vec::new();
        }
        for a in &ended {
            tracing::info!(id = %a.id, group_key, "a new alert fired in an acknowledged group; the acknowledgement ends");
        }
        ended
    }

    /// The acknowledgement with this id.
    pub fn get(&self, id: &str) -> Option<Ack> {
        self.read().get(id).cloned()
    }

    /// Every acknowledgement (ended ones within the retention included), newest first.
    pub fn list(&self) -> Vec<Ack> {
        let mut v: Vec<Ack> = self.read().values().cloned().collect();
        v.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        v
    }

    /// The acknowledgements of the group with key `group_key` (every receiver), newest first:
    /// what the alert pages and the notification history show.
    pub fn of_group(&self, group_key: &str) -> Vec<Ack> {
        let mut v = self.list();
        v.retain(|a| a.group_key == group_key);
        v
    }

    /// The acknowledgements that cover the alert with fingerprint `fp`, newest first.
    pub fn of_alert(&self, fp: u64) -> Vec<Ack> {
        let mut v = self.list();
        v.retain(|a| a.fingerprints.contains(&fp));
        v
    }

    /// Every acknowledgement as a row (for replication to other replicas).
    pub fn rows(&self) -> Vec<AckRow> {
        let mut rows: Vec<AckRow> = self.read().values().map(Ack::to_row).collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    }

    /// Merges acknowledgements of another replica: a row is taken when its id is unknown
    /// here or it was written later than ours, unless it ended more than the retention
    /// before `now_ms`; unreadable rows are skipped. Taken rows are committed before they are
    /// in force. Returns the taken acknowledgements that were unknown here.
    pub async fn merge(&self, rows: Vec<AckRow>, now_ms: i64) -> Result<Vec<Ack>, AckError> {
        let _writer = self.inner.write.lock().await;
        let mut upserts = Vec::new();
        let mut new = Vec::new();
        for row in rows {
            let a = match Ack::from_row(row) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a peer's acknowledgement");
                    continue;
                }
            };
            if a.ends_at_ms.saturating_add(self.inner.retention_ms) < now_ms {
                continue;
            }
            let ours = self.read().get(&a.id).map(|o| o.updated_at_ms);
            match ours {
                None => {
                    new.push(a.clone());
                    upserts.push(a);
                }
                Some(t) if t < a.updated_at_ms => upserts.push(a),
                Some(_) => {}
            }
        }
        if !upserts.is_empty() {
            self.persist(&upserts, &[]).await?;
        }
        Ok(new)
    }

    /// Removes acknowledgements that ended more than the retention before `now_ms`; returns
    /// how many.
    pub async fn gc(&self, now_ms: i64) -> Result<usize, AckError> {
        let _writer = self.inner.write.lock().await;
        let deletes = self.ended_beyond_retention(now_ms);
        self.persist(&[], &deletes).await?;
        Ok(deletes.len())
    }

    fn ended_beyond_retention(&self, now_ms: i64) -> Vec<String> {
        self.read()
            .values()
            .filter(|a| a.ends_at_ms.saturating_add(self.inner.retention_ms) < now_ms)
            .map(|a| a.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;
    const KEY: &str = r#"{}:{alertname="Down"}"#;

    fn req(fps: &[u64], ends: i64) -> AckRequest {
        AckRequest {
            group_key: KEY.into(),
            receiver: "team".into(),
            fingerprints: fps.iter().copied().collect(),
            created_by: "alice".into(),
            comment: "on it".into(),
            ends_at_ms: ends,
        }
    }

    fn set(fps: &[u64]) -> BTreeSet<u64> {
        fps.iter().copied().collect()
    }

    #[tokio::test]
    async fn an_active_ack_holds_repeats_of_the_alerts_it_covers_only() {
        let acks = Acks::in_memory();
        acks.create(req(&[1, 2], NOW + 10 * MIN), NOW)
            .await
            .unwrap();
        assert!(acks.holds_repeat(KEY, "team", &set(&[1, 2]), NOW + MIN));
        assert!(
            acks.holds_repeat(KEY, "team", &set(&[2]), NOW + MIN),
            "one of them resolved"
        );
        assert!(!acks.holds_repeat(KEY, "team", &set(&[1, 3]), NOW + MIN));
        assert!(!acks.holds_repeat(KEY, "other", &set(&[1]), NOW + MIN));
        assert!(!acks.holds_repeat("{}:{}", "team", &set(&[1]), NOW + MIN));
        assert!(
            !acks.holds_repeat(KEY, "team", &set(&[1]), NOW + 10 * MIN),
            "ended at its expiry"
        );
    }

    #[tokio::test]
    async fn invalid_requests_name_the_field() {
        let acks = Acks::in_memory();
        let mut r = req(&[1], NOW + MIN);
        r.created_by = " ".into();
        let e = acks.create(r, NOW).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "createdBy: required: who acknowledges the group"
        );
        let e = acks.create(req(&[1], NOW), NOW).await.unwrap_err();
        assert_eq!(e.to_string(), "endsAt: must be in the future");
        let e = acks.create(req(&[], NOW + MIN), NOW).await.unwrap_err();
        assert!(matches!(e, AckError::NoGroup(_)), "{e}");
        assert!(acks.list().is_empty());
    }

    #[tokio::test]
    async fn a_new_alert_ends_the_ack_and_expire_ends_it_by_hand() {
        let acks = Acks::in_memory();
        let a = acks.create(req(&[1], NOW + 60 * MIN), NOW).await.unwrap();
        assert!(acks
            .end_superseded(KEY, "team", &set(&[1]), NOW + MIN)
            .await
            .is_empty());
        let ended = acks
            .end_superseded(KEY, "team", &set(&[1, 2]), NOW + 2 * MIN)
            .await;
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].ended_by, Some(AckEnd::NewAlerts));
        let now = acks.get(&a.id).unwrap();
        assert_eq!(now.state(NOW + 2 * MIN), "expired");
        assert!(!acks.holds_repeat(KEY, "team", &set(&[1]), NOW + 3 * MIN));
        assert!(matches!(
            acks.expire(&a.id, NOW + 3 * MIN).await,
            Err(AckError::AlreadyEnded(_))
        ));
        let b = acks.create(req(&[1], NOW + 60 * MIN), NOW).await.unwrap();
        let e = acks.expire(&b.id, NOW + MIN).await.unwrap();
        assert_eq!(
            (e.ended_by, e.ends_at_ms),
            (Some(AckEnd::Expired), NOW + MIN)
        );
        assert!(matches!(
            acks.expire("nope", NOW).await,
            Err(AckError::NotFound(_))
        ));
        assert_eq!(acks.of_group(KEY).len(), 2);
        assert_eq!(acks.of_alert(1).len(), 2);
        assert!(acks.of_alert(2).is_empty());
    }

    #[tokio::test]
    async fn merge_takes_unknown_and_later_written_acks() {
        let a = Acks::in_memory();
        let b = Acks::in_memory();
        let ack = a.create(req(&[1], NOW + 60 * MIN), NOW).await.unwrap();
        let new = b.merge(a.rows(), NOW).await.unwrap();
        assert_eq!(new, vec![ack.clone()]);
        assert!(b.holds_repeat(KEY, "team", &set(&[1]), NOW + MIN));
        assert!(b.merge(a.rows(), NOW).await.unwrap().is_empty());
        // Expired on b later: taken by a, not undone by a's older copy.
        b.expire(&ack.id, NOW + MIN).await.unwrap();
        b.merge(a.rows(), NOW + MIN).await.unwrap();
        assert!(!b.holds_repeat(KEY, "team", &set(&[1]), NOW + 2 * MIN));
        assert!(a.merge(b.rows(), NOW + MIN).await.unwrap().is_empty());
        assert!(!a.holds_repeat(KEY, "team", &set(&[1]), NOW + 2 * MIN));
        // Ended beyond the retention: neither taken back nor kept.
        let late = NOW + MIN + DEFAULT_RETENTION_MS + 1;
        assert!(Acks::in_memory()
            .merge(b.rows(), late)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(a.gc(late).await.unwrap(), 1);
        assert!(a.list().is_empty());
    }

    #[tokio::test]
    async fn acks_survive_a_restart() {
        let dir = TempDir::new("acks-restart");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let acks = Acks::load(Some(db.clone())).await.unwrap();
        let a = acks
            .create(req(&[7, 9], NOW + 60 * MIN), NOW)
            .await
            .unwrap();
        db.close().await;
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let again = Acks::load(Some(db.clone())).await.unwrap();
        assert_eq!(again.get(&a.id), Some(a));
        assert!(again.holds_repeat(KEY, "team", &set(&[7, 9]), NOW + MIN));
        db.close().await;
    }
}
