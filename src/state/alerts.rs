//! Alert state: per (group file, group name, rule name, alert label fingerprint) the rules
//! engine's serialized alert, so a restart neither re-pages nor resets a `for` clock.
//!
//! The rules manager writes only what changed after each evaluation ([`AlertChanges`]: rows
//! to upsert, rows to delete, in one transaction), reads a group's rows back before the
//! group's first evaluation ([`StateDb::load_group_alerts`]) and drops the rows of groups
//! that no longer exist ([`StateDb::retain_alert_groups`]). The alert itself is opaque JSON
//! here: its shape belongs to `rules`.

use super::{sql, StateDb, StateError};
use rusqlite::params;

/// A rule group's identity: the file it came from and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub file: String,
    pub name: String,
}

/// One alert as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub rule: String,
    /// Fingerprint of the alert's labels; stored as 16 hex digits.
    pub fingerprint: u64,
    /// `pending`, `firing` or `inactive` (resolved, still remembered): for people reading the file.
    pub state: String,
    /// When the alert became active, in ms since the epoch: for people reading the file.
    pub active_at_ms: Option<i64>,
    /// The serialized alert (JSON).
    pub alert_json: String,
}

/// What changed in one group since the last write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertChanges {
    /// Rows to insert or replace.
    pub upserts: Vec<AlertRecord>,
    /// Rows to delete: (rule name, fingerprint).
    pub deletes: Vec<(String, u64)>,
}

impl AlertChanges {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

fn hex(fp: u64) -> String {
    format!("{fp:016x}")
}

impl StateDb {
    /// Applies `changes` to `group`'s rows in one transaction; resolves once committed.
    pub async fn write_alert_changes(
        &self,
        group: &GroupKey,
        changes: AlertChanges,
        now_ms: i64,
    ) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let group = group.clone();
        self.call(move |conn, path| {
            const OP: &str = "writing alert state";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            {
                let mut up = tx
                    .prepare(
                        "INSERT OR REPLACE INTO alert_state (group_file, group_name, rule_name, \
                         fingerprint, state, active_at_ms, alert, updated_at_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .map_err(sql(path, OP))?;
                for r in &changes.upserts {
                    up.execute(params![
                        group.file,
                        group.name,
                        r.rule,
                        hex(r.fingerprint),
                        r.state,
                        r.active_at_ms,
                        r.alert_json,
                        now_ms
                    ])
                    .map_err(sql(path, OP))?;
                }
                let mut del = tx
                    .prepare(
                        "DELETE FROM alert_state WHERE group_file = ?1 AND group_name = ?2 \
                         AND rule_name = ?3 AND fingerprint = ?4",
                    )
                    .map_err(sql(path, OP))?;
                for (rule, fp) in &changes.deletes {
                    del.execute(params![group.file, group.name, rule, hex(*fp)])
                        .map_err(sql(path, OP))?;
                }
            }
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }

    /// Every stored alert of `group`, ordered by rule name and fingerprint.
    pub async fn load_group_alerts(
        &self,
        group: &GroupKey,
    ) -> Result<Vec<AlertRecord>, StateError> {
        let group = group.clone();
        self.call(move |conn, path| {
            const OP: &str = "reading alert state";
            let mut stmt = conn
                .prepare(
                    "SELECT rule_name, fingerprint, state, active_at_ms, alert FROM alert_state \
                     WHERE group_file = ?1 AND group_name = ?2 ORDER BY rule_name, fingerprint",
                )
                .map_err(sql(path, OP))?;
            let rows = stmt
                .query_map(params![group.file, group.name], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .map_err(sql(path, OP))?;
            let mut out = Vec::new();
            for row in rows {
                let (rule, fp, state, active_at_ms, alert_json) = row.map_err(sql(path, OP))?;
                let fingerprint =
                    u64::from_str_radix(&fp, 16).map_err(|e| StateError::Corrupt {
                        path: path.to_string(),
                        op: OP,
                        message: format!("fingerprint {fp:?} of rule {rule:?}: {e}"),
                    })?;
                out.push(AlertRecord {
                    rule,
                    fingerprint,
                    state,
                    active_at_ms,
                    alert_json,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Deletes the alert rows of every group not in `keep`; returns how many rows went.
    pub async fn retain_alert_groups(&self, keep: Vec<GroupKey>) -> Result<usize, StateError> {
        self.call(move |conn, path| {
            const OP: &str = "deleting alert state of removed groups";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            let stored: Vec<(String, String)> = {
                let mut stmt = tx
                    .prepare("SELECT DISTINCT group_file, group_name FROM alert_state")
                    .map_err(sql(path, OP))?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(sql(path, OP))?;
                rows.collect::<Result<_, _>>().map_err(sql(path, OP))?
            };
            let mut deleted = 0;
            for (file, name) in stored {
                if keep.iter().any(|k| k.file == file && k.name == name) {
                    continue;
                }
                deleted += tx
                    .execute(
                        "DELETE FROM alert_state WHERE group_file = ?1 AND group_name = ?2",
                        params![file, name],
                    )
                    .map_err(sql(path, OP))?;
            }
            tx.commit().map_err(sql(path, OP))?;
            Ok(deleted)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    fn key(name: &str) -> GroupKey {
        GroupKey {
            file: "rules/node.yml".into(),
            name: name.into(),
        }
    }

    fn record(rule: &str, fp: u64, state: &str) -> AlertRecord {
        AlertRecord {
            rule: rule.into(),
            fingerprint: fp,
            state: state.into(),
            active_at_ms: Some(1_000),
            alert_json: format!(r#"{{"rule":"{rule}","state":"{state}"}}"#),
        }
    }

    #[tokio::test]
    async fn write_reopen_read_back() {
        let dir = TempDir::new("state-reopen");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let changes = AlertChanges {
            upserts: vec![
                record("HighLoad", 0xdead_beef, "pending"),
                record("HighLoad", u64::MAX, "firing"),
            ],
            deletes: vec![],
        };
        db.write_alert_changes(&key("node"), changes, 5)
            .await
            .unwrap();
        db.close().await;
        assert!(matches!(
            db.load_group_alerts(&key("node")).await,
            Err(StateError::Closed { .. })
        ));

        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let got = db.load_group_alerts(&key("node")).await.unwrap();
        assert_eq!(
            got,
            vec![
                record("HighLoad", 0xdead_beef, "pending"),
                record("HighLoad", u64::MAX, "firing")
            ]
        );
        assert!(db
            .load_group_alerts(&key("other"))
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn upsert_replaces_and_delete_removes() {
        let dir = TempDir::new("state-upsert");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let g = key("node");
        let first = AlertChanges {
            upserts: vec![record("A", 1, "pending"), record("B", 2, "pending")],
            deletes: vec![],
        };
        db.write_alert_changes(&g, first, 1).await.unwrap();
        let second = AlertChanges {
            upserts: vec![record("A", 1, "firing")],
            deletes: vec![("B".into(), 2)],
        };
        db.write_alert_changes(&g, second, 2).await.unwrap();
        assert_eq!(
            db.load_group_alerts(&g).await.unwrap(),
            vec![record("A", 1, "firing")]
        );
    }

    #[tokio::test]
    async fn retain_drops_only_removed_groups() {
        let dir = TempDir::new("state-retain");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        for name in ["kept", "gone"] {
            let c = AlertChanges {
                upserts: vec![record("A", 1, "firing"), record("B", 2, "pending")],
                deletes: vec![],
            };
            db.write_alert_changes(&key(name), c, 1).await.unwrap();
        }
        assert_eq!(db.retain_alert_groups(vec![key("kept")]).await.unwrap(), 2);
        assert_eq!(db.load_group_alerts(&key("kept")).await.unwrap().len(), 2);
        assert!(db.load_group_alerts(&key("gone")).await.unwrap().is_empty());
    }

    /// A crash is the files on disk at the moment of the crash: copy them while the writer
    /// still holds the database open (no checkpoint, no clean close) and open the copy.
    #[tokio::test]
    async fn crash_after_acknowledged_write_loses_nothing() {
        let dir = TempDir::new("state-crash");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let g = key("node");
        for i in 0..50u64 {
            let c = AlertChanges {
                upserts: vec![record("A", i, "pending")],
                deletes: vec![],
            };
            db.write_alert_changes(&g, c, i as i64).await.unwrap();
        }
        let crashed = TempDir::new("state-crash-copy");
        for f in ["redline.db", "redline.db-wal"] {
            let from = dir.path().join(f);
            if from.exists() {
                std::fs::copy(&from, crashed.path().join(f)).unwrap();
            }
        }
        assert!(
            crashed.path().join("redline.db-wal").exists(),
            "the acknowledged writes should still be in the WAL, not checkpointed"
        );
        let reopened = StateDb::open_in_dir(crashed.path()).unwrap();
        assert_eq!(reopened.load_group_alerts(&g).await.unwrap().len(), 50);
        drop(db);
    }

    #[test]
    fn open_error_names_the_path() {
        let dir = TempDir::new("state-bad");
        // A directory where the database file should be.
        let path = dir.path().join("redline.db");
        std::fs::create_dir_all(&path).unwrap();
        let err = StateDb::open(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
