//! The `alert_ack` table ([`ACKS_MIGRATION`]): one row per acknowledgement of an aggregation
//! group, ended ones included until they are garbage-collected.
//!
//! The acknowledged fingerprints are an opaque JSON text (their shape belongs to
//! [`crate::alerting::ack`]); this module only moves rows. [`StateDb::write_acks`] inserts,
//! replaces and deletes in one transaction.

use super::{sql, StateDb, StateError};
use rusqlite::params;

/// The schema step that adds the table (appended to [`super::schema::MIGRATIONS`]).
pub const ACKS_MIGRATION: &str = "
        CREATE TABLE alert_ack (
            id            TEXT    NOT NULL PRIMARY KEY,
            group_key     TEXT    NOT NULL,
            receiver      TEXT    NOT NULL,
            fingerprints  TEXT    NOT NULL,
            created_by    TEXT    NOT NULL,
            comment       TEXT    NOT NULL,
            created_at_ms INTEGER NOT NULL,
            ends_at_ms    INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            ended_by      TEXT    NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX alert_ack_by_group ON alert_ack (group_key);
";

/// One row of `alert_ack`; also what replicas send each other (`crate::cluster`), hence serde.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AckRow {
    pub id: String,
    pub group_key: String,
    pub receiver: String,
    /// JSON array of fingerprints (16 hex digits): the group's firing alerts when acknowledged.
    pub fingerprints_json: String,
    pub created_by: String,
    pub comment: String,
    pub created_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    /// Why the acknowledgement ended before its expiry (`expired`, `new_alerts`); empty while
    /// it runs to its end.
    pub ended_by: String,
}

impl StateDb {
    /// Inserts or replaces `upserts` and deletes the acknowledgements with ids in `deletes`,
    /// in one transaction.
    pub async fn write_acks(
        &self,
        upserts: Vec<AckRow>,
        deletes: Vec<String>,
    ) -> Result<(), StateError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| {
            const OP: &str = "writing acknowledgements";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            {
                let mut up = tx
                    .prepare(
                        "INSERT OR REPLACE INTO alert_ack (id, group_key, receiver, fingerprints, \
                         created_by, comment, created_at_ms, ends_at_ms, updated_at_ms, ended_by) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .map_err(sql(path, OP))?;
                for a in &upserts {
                    up.execute(params![
                        a.id,
                        a.group_key,
                        a.receiver,
                        a.fingerprints_json,
                        a.created_by,
                        a.comment,
                        a.created_at_ms,
                        a.ends_at_ms,
                        a.updated_at_ms,
                        a.ended_by
                    ])
                    .map_err(sql(path, OP))?;
                }
                let mut del = tx
                    .prepare("DELETE FROM alert_ack WHERE id = ?1")
                    .map_err(sql(path, OP))?;
                for id in &deletes {
                    del.execute(params![id]).map_err(sql(path, OP))?;
                }
            }
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }

    /// Every stored acknowledgement, by id.
    pub async fn load_acks(&self) -> Result<Vec<AckRow>, StateError> {
        self.call(|conn, path| {
            const OP: &str = "reading acknowledgements";
            let mut stmt = conn
                .prepare(
                    "SELECT id, group_key, receiver, fingerprints, created_by, comment, \
                     created_at_ms, ends_at_ms, updated_at_ms, ended_by FROM alert_ack ORDER BY id",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AckRow {
                        id: r.get(0)?,
                        group_key: r.get(1)?,
                        receiver: r.get(2)?,
                        fingerprints_json: r.get(3)?,
                        created_by: r.get(4)?,
                        comment: r.get(5)?,
                        created_at_ms: r.get(6)?,
                        ends_at_ms: r.get(7)?,
                        updated_at_ms: r.get(8)?,
                        ended_by: r.get(9)?,
                    })
                })
                .map_err(sql(path, OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(path, OP))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    fn row(id: &str, ends: i64) -> AckRow {
        AckRow {
            id: id.to_string(),
            group_key: r#"{}:{alertname="Down"}"#.into(),
            receiver: "team".into(),
            fingerprints_json: r#"["00000000000000ff"]"#.into(),
            created_by: "alice".into(),
            comment: "on it".into(),
            created_at_ms: 1,
            ends_at_ms: ends,
            updated_at_ms: 1,
            ended_by: String::new(),
        }
    }

    #[tokio::test]
    async fn ack_rows_survive_a_reopen() {
        let dir = TempDir::new("ack-rows");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        db.write_acks(vec![row("x", 10), row("y", 20)], vec![])
            .await
            .unwrap();
        let mut ended = row("x", 5);
        ended.ended_by = "expired".into();
        db.write_acks(vec![ended.clone()], vec!["y".into()])
            .await
            .unwrap();
        db.close().await;
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        assert_eq!(db.load_acks().await.unwrap(), vec![ended]);
        db.close().await;
    }
}
