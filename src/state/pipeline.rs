//! The alerting pipeline's tables (migration 3): the alerts it holds (`am_alert`), its
//! notification log (`nflog`) and the notifications decided but not yet acknowledged
//! (`pending_notification`).
//!
//! Alerts and notifications are opaque JSON here: their shape belongs to
//! [`crate::alerting`]. The one write that must be atomic is [`StateDb::ack_notification`]:
//! it deletes the pending row and records the notification in the log in one transaction,
//! so after a crash a notification is either still pending (and resent) or logged (and not
//! resent), never both and never neither.

use super::{sql, StateDb, StateError};
use rusqlite::{params, Connection};

/// One row of `am_alert`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    pub fingerprint: u64,
    pub alert_json: String,
    pub updated_at_ms: i64,
}

/// One row of `nflog`: what one integration of one receiver was last told about a group.
/// Also what replicas send each other (`crate::cluster`), hence serde.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NflogRow {
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    /// JSON array of fingerprints (16 hex digits) notified firing.
    pub firing_json: String,
    /// JSON array of fingerprints notified resolved.
    pub resolved_json: String,
    pub sent_at_ms: i64,
    pub expires_at_ms: i64,
}

/// One row of `pending_notification`.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRow {
    /// Assigned by the database; a newer notification for the same key gets a new id.
    pub id: i64,
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    pub notification_json: String,
    pub created_at_ms: i64,
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

fn hex(fp: u64) -> String {
    format!("{fp:016x}")
}

fn upsert_nflog(
    conn: &Connection,
    path: &str,
    op: &'static str,
    e: &NflogRow,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT OR REPLACE INTO nflog (group_key, receiver, integration, firing, resolved, \
         sent_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            e.group_key,
            e.receiver,
            e.integration,
            e.firing_json,
            e.resolved_json,
            e.sent_at_ms,
            e.expires_at_ms
        ],
    )
    .map_err(sql(path, op))?;
    Ok(())
}

impl StateDb {
    /// Inserts or replaces alerts and deletes others, in one transaction.
    pub async fn write_pipeline_alerts(
        &self,
        upserts: Vec<StoredAlert>,
        deletes: Vec<u64>,
    ) -> Result<(), StateError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| {
            const OP: &str = "writing pipeline alerts";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            {
                let mut up = tx
                    .prepare(
                        "INSERT OR REPLACE INTO am_alert (fingerprint, alert, updated_at_ms) \
                         VALUES (?1, ?2, ?3)",
                    )
                    .map_err(sql(path, OP))?;
                for a in &upserts {
                    up.execute(params![hex(a.fingerprint), a.alert_json, a.updated_at_ms])
                        .map_err(sql(path, OP))?;
                }
                let mut del = tx
                    .prepare("DELETE FROM am_alert WHERE fingerprint = ?1")
                    .map_err(sql(path, OP))?;
                for fp in &deletes {
                    del.execute(params![hex(*fp)]).map_err(sql(path, OP))?;
                }
            }
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }

    /// Every alert the pipeline stored.
    pub async fn load_pipeline_alerts(&self) -> Result<Vec<StoredAlert>, StateError> {
        self.call(|conn, path| {
            const OP: &str = "reading pipeline alerts";
            let mut stmt = conn
                .prepare(
                    "SELECT fingerprint, alert, updated_at_ms FROM am_alert ORDER BY fingerprint",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(sql(path, OP))?;
            let mut out = Vec::new();
            for row in rows {
                let (fp, alert_json, updated_at_ms) = row.map_err(sql(path, OP))?;
                let fingerprint =
                    u64::from_str_radix(&fp, 16).map_err(|e| StateError::Corrupt {
                        path: path.to_string(),
                        op: OP,
                        message: format!("fingerprint {fp:?}: {e}"),
                    })?;
                out.push(StoredAlert {
                    fingerprint,
                    alert_json,
                    updated_at_ms,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The notification log's entries that have not expired at `now_ms`; expired ones are
    /// deleted.
    pub async fn load_nflog(&self, now_ms: i64) -> Result<Vec<NflogRow>, StateError> {
        self.call(move |conn, path| {
            const OP: &str = "reading the notification log";
            conn.execute(
                "DELETE FROM nflog WHERE expires_at_ms <= ?1",
                params![now_ms],
            )
            .map_err(sql(path, OP))?;
            let mut stmt = conn
                .prepare(
                    "SELECT group_key, receiver, integration, firing, resolved, sent_at_ms, \
                     expires_at_ms FROM nflog",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(NflogRow {
                        group_key: r.get(0)?,
                        receiver: r.get(1)?,
                        integration: r.get(2)?,
                        firing_json: r.get(3)?,
                        resolved_json: r.get(4)?,
                        sent_at_ms: r.get(5)?,
                        expires_at_ms: r.get(6)?,
                    })
                })
                .map_err(sql(path, OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(path, OP))
        })
        .await
    }

    /// Deletes notification log entries expired at `now_ms`.
    pub async fn expire_nflog(&self, now_ms: i64) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute(
                "DELETE FROM nflog WHERE expires_at_ms <= ?1",
                params![now_ms],
            )
            .map_err(sql(path, "expiring the notification log"))?;
            Ok(())
        })
        .await
    }

    /// Records a notification about to be attempted, replacing an older pending one for the
    /// same (group, receiver, integration). Returns the row's new id.
    pub async fn put_pending_notification(&self, row: PendingRow) -> Result<i64, StateError> {
        self.call(move |conn, path| {
            const OP: &str = "writing a pending notification";
            conn.execute(
                "INSERT OR REPLACE INTO pending_notification (group_key, receiver, integration, \
                 notification, created_at_ms, attempts, next_attempt_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.group_key,
                    row.receiver,
                    row.integration,
                    row.notification_json,
                    row.created_at_ms,
                    row.attempts,
                    row.next_attempt_ms
                ],
            )
            .map_err(sql(path, OP))?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Notifications decided but never acknowledged, oldest first.
    pub async fn load_pending_notifications(&self) -> Result<Vec<PendingRow>, StateError> {
        self.call(|conn, path| {
            const OP: &str = "reading pending notifications";
            let mut stmt = conn
                .prepare(
                    "SELECT id, group_key, receiver, integration, notification, created_at_ms, \
                     attempts, next_attempt_ms FROM pending_notification ORDER BY id",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PendingRow {
                        id: r.get(0)?,
                        group_key: r.get(1)?,
                        receiver: r.get(2)?,
                        integration: r.get(3)?,
                        notification_json: r.get(4)?,
                        created_at_ms: r.get(5)?,
                        attempts: r.get(6)?,
                        next_attempt_ms: r.get(7)?,
                    })
                })
                .map_err(sql(path, OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(path, OP))
        })
        .await
    }

    /// Counts an attempt of a pending notification.
    pub async fn pending_attempted(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_ms: i64,
    ) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute(
                "UPDATE pending_notification SET attempts = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, attempts, next_attempt_ms],
            )
            .map_err(sql(path, "updating a pending notification"))?;
            Ok(())
        })
        .await
    }

    /// Drops a pending notification that will not be delivered (superseded or given up).
    pub async fn drop_pending_notification(&self, id: i64) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute(
                "DELETE FROM pending_notification WHERE id = ?1",
                params![id],
            )
            .map_err(sql(path, "deleting a pending notification"))?;
            Ok(())
        })
        .await
    }

    /// An acknowledged notification: in one transaction, deletes pending row `pending_id`
    /// (if still there) and records `entry` in the notification log.
    pub async fn ack_notification(
        &self,
        pending_id: Option<i64>,
        entry: NflogRow,
    ) -> Result<(), StateError> {
        self.call(move |conn, path| {
            const OP: &str = "recording an acknowledged notification";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            if let Some(id) = pending_id {
                tx.execute(
                    "DELETE FROM pending_notification WHERE id = ?1",
                    params![id],
                )
                .map_err(sql(path, OP))?;
            }
            upsert_nflog(&tx, path, OP, &entry)?;
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    fn entry(sent: i64) -> NflogRow {
        NflogRow {
            group_key: "{}:{}".into(),
            receiver: "team".into(),
            integration: "webhook[0]".into(),
            firing_json: r#"["0000000000000001"]"#.into(),
            resolved_json: "[]".into(),
            sent_at_ms: sent,
            expires_at_ms: sent + 1000,
        }
    }

    fn pending(json: &str) -> PendingRow {
        PendingRow {
            id: 0,
            group_key: "{}:{}".into(),
            receiver: "team".into(),
            integration: "webhook[0]".into(),
            notification_json: json.into(),
            created_at_ms: 1,
            attempts: 0,
            next_attempt_ms: 1,
        }
    }

    #[tokio::test]
    async fn ack_replaces_pending_with_a_log_entry_in_one_step() {
        let dir = TempDir::new("pipeline-state");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let first = db.put_pending_notification(pending("a")).await.unwrap();
        let second = db.put_pending_notification(pending("b")).await.unwrap();
        assert_ne!(first, second, "a newer notification gets a new id");
        let rows = db.load_pending_notifications().await.unwrap();
        assert_eq!(rows.len(), 1, "the newer notification replaces the older");
        assert_eq!(rows[0].notification_json, "b");
        // Acknowledging the superseded one does not delete the newer one.
        db.ack_notification(Some(first), entry(10)).await.unwrap();
        assert_eq!(db.load_pending_notifications().await.unwrap().len(), 1);
        db.ack_notification(Some(second), entry(20)).await.unwrap();
        assert!(db.load_pending_notifications().await.unwrap().is_empty());
        let log = db.load_nflog(25).await.unwrap();
        assert_eq!(log, vec![entry(20)]);
        assert!(db.load_nflog(2000).await.unwrap().is_empty(), "expired");
        db.close().await;
    }

    #[tokio::test]
    async fn alerts_round_trip() {
        let dir = TempDir::new("pipeline-alerts");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let a = StoredAlert {
            fingerprint: 0x96a7_5c28_b9cf_7b7a,
            alert_json: "{}".into(),
            updated_at_ms: 5,
        };
        db.write_pipeline_alerts(vec![a.clone()], vec![])
            .await
            .unwrap();
        assert_eq!(db.load_pipeline_alerts().await.unwrap(), vec![a.clone()]);
        db.write_pipeline_alerts(vec![], vec![a.fingerprint])
            .await
            .unwrap();
        assert!(db.load_pipeline_alerts().await.unwrap().is_empty());
        db.close().await;
    }
}
