//! The `silence` table (migration 2): one row per silence, expired ones included until they
//! are garbage-collected.
//!
//! Matchers are stored as an opaque JSON text (Alertmanager API matchers, see
//! [`crate::alerting::silence`]); this module only moves rows. [`StateDb::write_silences`]
//! inserts, replaces and deletes in one transaction, so replacing an active silence (expire
//! the old one, create the new one) is atomic.

use super::{sql, StateDb, StateError};
use rusqlite::params;

/// One row of `silence`; also what replicas send each other (`crate::cluster`), hence serde.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SilenceRow {
    pub id: String,
    /// JSON array of `{name, value, isRegex, isEqual}`.
    pub matchers_json: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

impl StateDb {
    /// Inserts or replaces `upserts` and deletes the silences with ids in `deletes`, in one
    /// transaction.
    pub async fn write_silences(
        &self,
        upserts: Vec<SilenceRow>,
        deletes: Vec<String>,
    ) -> Result<(), StateError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| {
            const OP: &str = "writing silences";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            {
                let mut up = tx
                    .prepare(
                        "INSERT OR REPLACE INTO silence (id, matchers, starts_at_ms, ends_at_ms, \
                         updated_at_ms, created_by, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(sql(path, OP))?;
                for s in &upserts {
                    up.execute(params![
                        s.id,
                        s.matchers_json,
                        s.starts_at_ms,
                        s.ends_at_ms,
                        s.updated_at_ms,
                        s.created_by,
                        s.comment
                    ])
                    .map_err(sql(path, OP))?;
                }
                let mut del = tx
                    .prepare("DELETE FROM silence WHERE id = ?1")
                    .map_err(sql(path, OP))?;
                for id in &deletes {
                    del.execute(params![id]).map_err(sql(path, OP))?;
                }
            }
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }

    /// Every stored silence, by id.
    pub async fn load_silences(&self) -> Result<Vec<SilenceRow>, StateError> {
        self.call(|conn, path| {
            const OP: &str = "reading silences";
            let mut stmt = conn
                .prepare(
                    "SELECT id, matchers, starts_at_ms, ends_at_ms, updated_at_ms, created_by, \
                     comment FROM silence ORDER BY id",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(SilenceRow {
                        id: r.get(0)?,
                        matchers_json: r.get(1)?,
                        starts_at_ms: r.get(2)?,
                        ends_at_ms: r.get(3)?,
                        updated_at_ms: r.get(4)?,
                        created_by: r.get(5)?,
                        comment: r.get(6)?,
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

    fn row(id: &str, ends: i64) -> SilenceRow {
        SilenceRow {
            id: id.to_string(),
            matchers_json: r#"[{"name":"a","value":"b","isRegex":false,"isEqual":true}]"#.into(),
            starts_at_ms: 1,
            ends_at_ms: ends,
            updated_at_ms: 1,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[tokio::test]
    async fn silence_rows_survive_a_reopen() {
        let dir = TempDir::new("silence-rows");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        db.write_silences(vec![row("x", 10), row("y", 20)], vec![])
            .await
            .unwrap();
        db.write_silences(vec![row("x", 30)], vec!["y".into()])
            .await
            .unwrap();
        db.close().await;
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        assert_eq!(db.load_silences().await.unwrap(), vec![row("x", 30)]);
        db.close().await;
    }
}
