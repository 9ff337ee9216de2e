//! The notification history's tables ([`HISTORY_MIGRATION`]): every notification the
//! pipeline decided to send, each attempt and its outcome, and every suppression (silence,
//! inhibition, time interval, notification-log dedup) that kept alerts from a receiver.
//!
//! `notification_history` has one row per entry (`kind` `notification` or `suppressed`),
//! `notification_history_alert` the alerts of each entry (with their labels, owner and, for
//! a suppression, what suppressed them) and `notification_attempt` each delivery attempt.
//! Entry ids are assigned by the caller ([`crate::alerting::history`]) in the order of
//! events, so the id is also the paging cursor. The history is bounded by
//! [`StateDb::prune_history`] (age and count); children go with their entry
//! (`ON DELETE CASCADE`).

use super::{sql, StateDb, StateError};
use crate::store::{Labels, Matcher};
use rusqlite::{params, Connection, OptionalExtension};

/// The migration that adds the history (appended to [`super::schema::MIGRATIONS`]).
pub const HISTORY_MIGRATION_NAME: &str = "notification history";
/// Its SQL.
pub const HISTORY_MIGRATION: &str = "
    CREATE TABLE notification_history (
        id              INTEGER PRIMARY KEY,
        at_ms           INTEGER NOT NULL,
        kind            TEXT    NOT NULL,
        group_key       TEXT    NOT NULL,
        receiver        TEXT    NOT NULL,
        integration     TEXT    NOT NULL,
        reason          TEXT    NOT NULL,
        outcome         TEXT    NOT NULL,
        error           TEXT,
        idempotency_key TEXT,
        replayed        INTEGER NOT NULL DEFAULT 0,
        finished_at_ms  INTEGER,
        detail          TEXT
    );
    CREATE INDEX notification_history_at ON notification_history (at_ms);
    CREATE INDEX notification_history_group ON notification_history (group_key, id);
    CREATE TABLE notification_history_alert (
        entry_id      INTEGER NOT NULL REFERENCES notification_history (id) ON DELETE CASCADE,
        fingerprint   TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        alertname     TEXT    NOT NULL,
        owner         TEXT    NOT NULL,
        labels        TEXT    NOT NULL,
        suppressed_by TEXT,
        PRIMARY KEY (entry_id, fingerprint)
    ) WITHOUT ROWID;
    CREATE INDEX notification_history_alert_fp ON notification_history_alert (fingerprint, entry_id);
    CREATE TABLE notification_attempt (
        entry_id    INTEGER NOT NULL REFERENCES notification_history (id) ON DELETE CASCADE,
        attempt     INTEGER NOT NULL,
        at_ms       INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        error       TEXT,
        PRIMARY KEY (entry_id, attempt)
    ) WITHOUT ROWID;
    CREATE TABLE alert_origin (
        fingerprint    TEXT    NOT NULL PRIMARY KEY,
        rule           TEXT    NOT NULL,
        expr           TEXT    NOT NULL,
        pending_at_ms  INTEGER NOT NULL,
        firing_at_ms   INTEGER,
        value          REAL,
        resolved_at_ms INTEGER,
        updated_at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
";

/// Where a rule's alert came from and when it went pending and firing (`alert_origin`),
/// kept with the history so a timeline outlives the rule's own memory of the alert.
#[derive(Clone, Debug, PartialEq)]
pub struct OriginRow {
    /// The pipeline's fingerprint (16 hex digits).
    pub fingerprint: String,
    pub rule: String,
    pub expr: String,
    pub pending_at_ms: i64,
    pub firing_at_ms: Option<i64>,
    /// The expression's value when the alert started firing.
    pub value: Option<f64>,
    pub resolved_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

/// One alert of an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryAlertRow {
    /// 16 hex digits.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub alertname: String,
    pub owner: String,
    /// JSON object of the alert's labels.
    pub labels_json: String,
    /// JSON of what suppressed it (suppression entries), else `None`.
    pub suppressed_by_json: Option<String>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRow {
    /// 1 for the first attempt.
    pub attempt: i64,
    pub at_ms: i64,
    pub duration_ms: i64,
    /// `None`: delivered.
    pub error: Option<String>,
}

/// One entry with its alerts and attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    pub id: i64,
    pub at_ms: i64,
    /// `notification` or `suppressed`.
    pub kind: String,
    pub group_key: String,
    pub receiver: String,
    /// `webhook[0]`; empty for a suppression before the integrations (muting).
    pub integration: String,
    pub reason: String,
    pub outcome: String,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub replayed: bool,
    pub finished_at_ms: Option<i64>,
    /// JSON with the reason's details (a suppression's time interval, the dedup's last send).
    pub detail_json: Option<String>,
    pub alerts: Vec<HistoryAlertRow>,
    pub attempts: Vec<AttemptRow>,
}

/// One write to the history, applied in order in one transaction per batch.
#[derive(Clone, Debug, PartialEq)]
pub enum HistoryWrite {
    /// A new entry (its attempts, if any, are written as given).
    Entry(Box<HistoryRow>),
    /// An attempt of entry `entry_id`.
    Attempt { entry_id: i64, attempt: AttemptRow },
    /// A rule alert's origin, inserted or replaced.
    Origin(OriginRow),
    /// The end of a notification: its outcome and last error.
    Finish {
        entry_id: i64,
        outcome: String,
        error: Option<String>,
        at_ms: i64,
    },
}

/// Which entries a query selects, newest first.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub receiver: Option<String>,
    /// Some alert of the entry has this owner.
    pub owner: Option<String>,
    /// Some alert of the entry has this `alertname`.
    pub alertname: Option<String>,
    /// Some alert of the entry has this fingerprint (16 hex digits).
    pub fingerprint: Option<String>,
    /// Entries of these groups (any, when empty).
    pub group_keys: Vec<String>,
    /// `at_ms >= start_ms`.
    pub start_ms: Option<i64>,
    /// `at_ms <= end_ms`.
    pub end_ms: Option<i64>,
    /// Matcher groups (`match[]`): an entry passes when one alert of it matches every
    /// matcher of one group. Empty: every entry.
    pub matchers: Vec<Vec<Matcher>>,
    /// Entries older than this id (the paging cursor).
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// One page of entries, and the cursor of the next one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryPage {
    pub entries: Vec<HistoryRow>,
    /// Set when more entries pass the filters.
    pub next_before_id: Option<i64>,
}

fn labels_match(labels_json: &str, groups: &[Vec<Matcher>]) -> bool {
    let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(labels_json)
    else {
        return false;
    };
    let labels = Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    groups.iter().any(|g| {
        g.iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    })
}

fn insert_entry(conn: &Connection, path: &str, e: &HistoryRow) -> Result<(), StateError> {
    const OP: &str = "writing the notification history";
    conn.execute(
        "INSERT OR REPLACE INTO notification_history (id, at_ms, kind, group_key, receiver, \
         integration, reason, outcome, error, idempotency_key, replayed, finished_at_ms, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            e.id,
            e.at_ms,
            e.kind,
            e.group_key,
            e.receiver,
            e.integration,
            e.reason,
            e.outcome,
            e.error,
            e.idempotency_key,
            e.replayed,
            e.finished_at_ms,
            e.detail_json
        ],
    )
    .map_err(sql(path, OP))?;
    let mut stmt = conn
        .prepare(
            "INSERT OR REPLACE INTO notification_history_alert (entry_id, fingerprint, status, \
             alertname, owner, labels, suppressed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sql(path, OP))?;
    for a in &e.alerts {
        stmt.execute(params![
            e.id,
            a.fingerprint,
            a.status,
            a.alertname,
            a.owner,
            a.labels_json,
            a.suppressed_by_json
        ])
        .map_err(sql(path, OP))?;
    }
    for a in &e.attempts {
        insert_attempt(conn, path, e.id, a)?;
    }
    Ok(())
}

fn insert_attempt(
    conn: &Connection,
    path: &str,
    entry_id: i64,
    a: &AttemptRow,
) -> Result<(), StateError> {
    // An entry pruned while its notification still retried takes no more attempts.
    conn.prepare(
        "INSERT OR REPLACE INTO notification_attempt (entry_id, attempt, at_ms, duration_ms, \
         error) SELECT ?1, ?2, ?3, ?4, ?5 \
         WHERE EXISTS (SELECT 1 FROM notification_history WHERE id = ?1)",
    )
    .and_then(|mut s| {
        s.execute(params![
            entry_id,
            a.attempt,
            a.at_ms,
            a.duration_ms,
            a.error
        ])
    })
    .map_err(sql(path, "writing a notification attempt"))?;
    Ok(())
}

fn read_children(conn: &Connection, path: &str, e: &mut HistoryRow) -> Result<(), StateError> {
    const OP: &str = "reading the notification history";
    let mut stmt = conn
        .prepare(
            "SELECT fingerprint, status, alertname, owner, labels, suppressed_by \
             FROM notification_history_alert WHERE entry_id = ?1 ORDER BY alertname, fingerprint",
        )
        .map_err(sql(path, OP))?;
    e.alerts = stmt
        .query_map(params![e.id], |r| {
            Ok(HistoryAlertRow {
                fingerprint: r.get(0)?,
                status: r.get(1)?,
                alertname: r.get(2)?,
                owner: r.get(3)?,
                labels_json: r.get(4)?,
                suppressed_by_json: r.get(5)?,
            })
        })
        .map_err(sql(path, OP))?
        .collect::<Result<_, _>>()
        .map_err(sql(path, OP))?;
    let mut stmt = conn
        .prepare(
            "SELECT attempt, at_ms, duration_ms, error FROM notification_attempt \
             WHERE entry_id = ?1 ORDER BY attempt",
        )
        .map_err(sql(path, OP))?;
    e.attempts = stmt
        .query_map(params![e.id], |r| {
            Ok(AttemptRow {
                attempt: r.get(0)?,
                at_ms: r.get(1)?,
                duration_ms: r.get(2)?,
                error: r.get(3)?,
            })
        })
        .map_err(sql(path, OP))?
        .collect::<Result<_, _>>()
        .map_err(sql(path, OP))?;
    Ok(())
}

/// How many entries one query reads from SQLite at a time while label matchers filter them.
const SCAN_BATCH: i64 = 500;

fn query(conn: &Connection, path: &str, q: &HistoryQuery) -> Result<HistoryPage, StateError> {
    const OP: &str = "reading the notification history";
    let mut where_sql = vec!["h.id < ?1".to_string()];
    let mut args: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Null];
    let mut push = |cond: &str, v: rusqlite::types::Value| {
        args.push(v);
        where_sql.push(cond.replace('?', &format!("?{}", args.len())));
    };
    if let Some(r) = &q.receiver {
        push("h.receiver = ?", r.clone().into());
    }
    if let Some(t) = q.start_ms {
        push("h.at_ms >= ?", t.into());
    }
    if let Some(t) = q.end_ms {
        push("h.at_ms <= ?", t.into());
    }
    if let Some(o) = &q.owner {
        push(
            "EXISTS (SELECT 1 FROM notification_history_alert a WHERE a.entry_id = h.id AND a.owner = ?)",
            o.clone().into(),
        );
    }
    if let Some(n) = &q.alertname {
        push(
            "EXISTS (SELECT 1 FROM notification_history_alert a WHERE a.entry_id = h.id AND a.alertname = ?)",
            n.clone().into(),
        );
    }
    if let Some(fp) = &q.fingerprint {
        push(
            "EXISTS (SELECT 1 FROM notification_history_alert a WHERE a.entry_id = h.id AND a.fingerprint = ?)",
            fp.clone().into(),
        );
    }
    if !q.group_keys.is_empty() {
        let mut marks = Vec::new();
        for k in &q.group_keys {
            args.push(k.clone().into());
            marks.push(format!("?{}", args.len()));
        }
        where_sql.push(format!("h.group_key IN ({})", marks.join(", ")));
    }
    let text = format!(
        "SELECT h.id, h.at_ms, h.kind, h.group_key, h.receiver, h.integration, h.reason, \
         h.outcome, h.error, h.idempotency_key, h.replayed, h.finished_at_ms, h.detail \
         FROM notification_history h WHERE {} ORDER BY h.id DESC LIMIT {SCAN_BATCH}",
        where_sql.join(" AND ")
    );
    let mut stmt = conn.prepare(&text).map_err(sql(path, OP))?;
    let limit = q.limit.max(1);
    let mut cursor = q.before_id.unwrap_or(i64::MAX);
    let mut out: Vec<HistoryRow> = Vec::new();
    loop {
        args[0] = cursor.into();
        let batch: Vec<HistoryRow> = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(HistoryRow {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    kind: r.get(2)?,
                    group_key: r.get(3)?,
                    receiver: r.get(4)?,
                    integration: r.get(5)?,
                    reason: r.get(6)?,
                    outcome: r.get(7)?,
                    error: r.get(8)?,
                    idempotency_key: r.get(9)?,
                    replayed: r.get(10)?,
                    finished_at_ms: r.get(11)?,
                    detail_json: r.get(12)?,
                    alerts: Vec::new(),
                    attempts: Vec::new(),
                })
            })
            .map_err(sql(path, OP))?
            .collect::<Result<_, _>>()
            .map_err(sql(path, OP))?;
        let full = batch.len() as i64 == SCAN_BATCH;
        for mut e in batch {
            cursor = e.id;
            read_children(conn, path, &mut e)?;
            if !q.matchers.is_empty()
                && !e
                    .alerts
                    .iter()
                    .any(|a| labels_match(&a.labels_json, &q.matchers))
            {
                continue;
            }
            if out.len() == limit {
                // One more passes: there is a next page, starting after the last one kept.
                let next = out.last().map(|l| l.id);
                return Ok(HistoryPage {
                    entries: out,
                    next_before_id: next,
                });
            }
            out.push(e);
        }
        if !full {
            return Ok(HistoryPage {
                entries: out,
                next_before_id: None,
            });
        }
    }
}

impl StateDb {
    /// Applies history writes in order, in one transaction.
    pub async fn write_history(&self, writes: Vec<HistoryWrite>) -> Result<(), StateError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| {
            const OP: &str = "writing the notification history";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            for w in &writes {
                match w {
                    HistoryWrite::Entry(e) => insert_entry(&tx, path, e)?,
                    HistoryWrite::Attempt { entry_id, attempt } => {
                        insert_attempt(&tx, path, *entry_id, attempt)?
                    }
                    HistoryWrite::Origin(o) => {
                        tx.execute(
                            "INSERT OR REPLACE INTO alert_origin (fingerprint, rule, expr, \
                             pending_at_ms, firing_at_ms, value, resolved_at_ms, updated_at_ms) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                o.fingerprint,
                                o.rule,
                                o.expr,
                                o.pending_at_ms,
                                o.firing_at_ms,
                                o.value.filter(|v| v.is_finite()),
                                o.resolved_at_ms,
                                o.updated_at_ms
                            ],
                        )
                        .map_err(sql(path, OP))?;
                    }
                    HistoryWrite::Finish {
                        entry_id,
                        outcome,
                        error,
                        at_ms,
                    } => {
                        tx.execute(
                            "UPDATE notification_history SET outcome = ?2, error = ?3, \
                             finished_at_ms = ?4 WHERE id = ?1",
                            params![entry_id, outcome, error, at_ms],
                        )
                        .map_err(sql(path, OP))?;
                    }
                }
            }
            tx.commit().map_err(sql(path, OP))
        })
        .await
    }

    /// The origin of the rule alert with this fingerprint (16 hex digits), if recorded.
    pub async fn alert_origin(&self, fingerprint: String) -> Result<Option<OriginRow>, StateError> {
        self.call(move |conn, path| {
            conn.query_row(
                "SELECT fingerprint, rule, expr, pending_at_ms, firing_at_ms, value, \
                 resolved_at_ms, updated_at_ms FROM alert_origin WHERE fingerprint = ?1",
                params![fingerprint],
                |r| {
                    Ok(OriginRow {
                        fingerprint: r.get(0)?,
                        rule: r.get(1)?,
                        expr: r.get(2)?,
                        pending_at_ms: r.get(3)?,
                        firing_at_ms: r.get(4)?,
                        value: r.get(5)?,
                        resolved_at_ms: r.get(6)?,
                        updated_at_ms: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(sql(path, "reading an alert's origin"))
        })
        .await
    }

    /// The largest entry id written (0 when the history is empty).
    pub async fn history_max_id(&self) -> Result<i64, StateError> {
        self.call(|conn, path| {
            conn.query_row("SELECT MAX(id) FROM notification_history", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()
            .map(|v| v.flatten().unwrap_or(0))
            .map_err(sql(path, "reading the notification history"))
        })
        .await
    }

    /// One page of the entries `q` selects, newest first.
    pub async fn query_history(&self, q: HistoryQuery) -> Result<HistoryPage, StateError> {
        self.call(move |conn, path| query(conn, path, &q)).await
    }

    /// Deletes entries older than `before_ms` and, beyond the newest `max_entries`, the
    /// oldest; returns how many entries went.
    pub async fn prune_history(
        &self,
        before_ms: i64,
        max_entries: usize,
    ) -> Result<usize, StateError> {
        self.call(move |conn, path| {
            const OP: &str = "pruning the notification history";
            let tx = conn.transaction().map_err(sql(path, OP))?;
            let mut n = tx
                .execute(
                    "DELETE FROM notification_history WHERE at_ms < ?1",
                    params![before_ms],
                )
                .map_err(sql(path, OP))?;
            n += tx
                .execute(
                    "DELETE FROM notification_history WHERE id <= (SELECT id FROM \
                     notification_history ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                    params![i64::try_from(max_entries).unwrap_or(i64::MAX)],
                )
                .map_err(sql(path, OP))?;
            tx.execute(
                "DELETE FROM alert_origin WHERE updated_at_ms < ?1",
                params![before_ms],
            )
            .map_err(sql(path, OP))?;
            tx.commit().map_err(sql(path, OP))?;
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    fn entry(id: i64, at_ms: i64, receiver: &str, alertname: &str) -> HistoryRow {
        HistoryRow {
            id,
            at_ms,
            kind: "notification".into(),
            group_key: format!("{{}}:{{alertname=\"{alertname}\"}}"),
            receiver: receiver.into(),
            integration: "webhook[0]".into(),
            reason: "first".into(),
            outcome: "pending".into(),
            error: None,
            idempotency_key: None,
            replayed: false,
            finished_at_ms: None,
            detail_json: None,
            alerts: vec![HistoryAlertRow {
                fingerprint: format!("{id:016x}"),
                status: "firing".into(),
                alertname: alertname.into(),
                owner: "team".into(),
                labels_json: format!(r#"{{"alertname":"{alertname}","instance":"i{}"}}"#, id % 2),
                suppressed_by_json: None,
            }],
            attempts: vec![],
        }
    }

    #[tokio::test]
    async fn pages_filters_and_prune() {
        let dir = TempDir::new("history-state");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let writes = (1..=7)
            .map(|i| {
                HistoryWrite::Entry(Box::new(entry(
                    i,
                    i * 1000,
                    if i % 2 == 0 { "a" } else { "b" },
                    "Down",
                )))
            })
            .chain([
                HistoryWrite::Attempt {
                    entry_id: 3,
                    attempt: AttemptRow {
                        attempt: 1,
                        at_ms: 3001,
                        duration_ms: 5,
                        error: Some("503".into()),
                    },
                },
                HistoryWrite::Finish {
                    entry_id: 3,
                    outcome: "failed".into(),
                    error: Some("503".into()),
                    at_ms: 3002,
                },
                // The attempt of an entry that is not there is dropped, not an error.
                HistoryWrite::Attempt {
                    entry_id: 99,
                    attempt: AttemptRow {
                        attempt: 1,
                        at_ms: 1,
                        duration_ms: 1,
                        error: None,
                    },
                },
            ])
            .collect();
        db.write_history(writes).await.unwrap();
        assert_eq!(db.history_max_id().await.unwrap(), 7);
        let q = HistoryQuery {
            receiver: Some("b".into()),
            limit: 2,
            ..HistoryQuery::default()
        };
        let p1 = db.query_history(q.clone()).await.unwrap();
        let ids: Vec<i64> = p1.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [7, 5]);
        assert_eq!(p1.next_before_id, Some(5));
        let p2 = db
            .query_history(HistoryQuery {
                before_id: p1.next_before_id,
                ..q.clone()
            })
            .await
            .unwrap();
        let ids: Vec<i64> = p2.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [3, 1]);
        assert_eq!(p2.next_before_id, None);
        assert_eq!(p2.entries[0].outcome, "failed");
        assert_eq!(p2.entries[0].attempts.len(), 1);
        // Label matchers: instance i0 are the even ids.
        let m = vec![vec![Matcher::equal("instance", "i0")]];
        let p = db
            .query_history(HistoryQuery {
                matchers: m,
                limit: 10,
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        let ids: Vec<i64> = p.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [6, 4, 2]);
        // Time range.
        let p = db
            .query_history(HistoryQuery {
                start_ms: Some(2000),
                end_ms: Some(3000),
                limit: 10,
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(p.entries.len(), 2);
        // Older than 3 s: 1 and 2 go; then keep the newest 3 of 3..=7: 3 and 4 go.
        assert_eq!(db.prune_history(3000, 3).await.unwrap(), 4);
        let p = db
            .query_history(HistoryQuery {
                limit: 10,
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        let ids: Vec<i64> = p.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [7, 6, 5]);
        db.close().await;
    }
}
