//! What the SLO reports read besides the ledger, and the reports of closed periods.
//!
//! - `slo_backfill`: where a new SLO's ledger was back-filled from ([`BackfillRow`]),
//! - `slo_alert_history`: each SLO alert raised, with its start, end and playbook link
//!   ([`AlertHistoryRow`]): the alerts a report lists under each incident,
//! - `slo_report`: one row per SLO and closed compliance period ([`ReportRow`]), the report
//!   as JSON (its shape belongs to `slo::report`), so a period's figures survive the ledger's
//!   retention.
//!
//! Rows are keyed by the SLO key (`service/name`), not the ledger's interned id, so they stay
//! when the SLO's ledger rows go.

use super::{sql, StateDb, StateError};
use rusqlite::{params, Connection, OptionalExtension};

/// A back-fill's source and step range, in ms: it filled `[start_ms, end_ms)` of
/// `[start_ms, until_ms)`; `end_ms` is the first step not yet in the ledger. The row is
/// written with the ledger steps it covers, in one transaction ([`super::ledger::LedgerWrite`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BackfillRow {
    pub slo_key: String,
    pub source: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Where the SLO's live reading started; `None` in rows from before it was kept.
    pub until_ms: Option<i64>,
    pub complete: bool,
}

/// One SLO alert raised.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertHistoryRow {
    pub slo_key: String,
    pub alertname: String,
    pub severity: String,
    pub starts_at_ms: i64,
    /// `None` while it fires.
    pub ends_at_ms: Option<i64>,
    pub playbook_url: String,
}

/// The report of one SLO's closed period.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRow {
    pub slo_key: String,
    /// The period's ID (`2026-11`, `2026-11-15/P1M[Europe/Berlin]`, `2026-12-06/P1W`).
    pub period: String,
    pub owner: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The report, JSON.
    pub report: String,
}

const WRITE: &str = "writing SLO reports";
const READ: &str = "reading SLO reports";

/// Records (replaces) one back-fill mark in the caller's transaction.
pub(super) fn backfill_put_tx(
    tx: &rusqlite::Transaction<'_>,
    path: &str,
    r: &BackfillRow,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT OR REPLACE INTO slo_backfill \
         (slo_key, source, start_ms, end_ms, until_ms, complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![r.slo_key, r.source, r.start_ms, r.end_ms, r.until_ms, r.complete],
    )
    .map_err(sql(path, WRITE))?;
    Ok(())
}

fn backfill_put_sync(
    conn: &mut Connection,
    path: &str,
    rows: &[BackfillRow],
) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(sql(path, WRITE))?;
    for r in rows {
        backfill_put_tx(&tx, path, r)?;
    }
    tx.commit().map_err(sql(path, WRITE))
}

fn backfill_get_sync(
    conn: &Connection,
    path: &str,
    key: &str,
) -> Result<Option<BackfillRow>, StateError> {
    conn.query_row(
        "SELECT slo_key, source, start_ms, end_ms, until_ms, complete FROM slo_backfill \
         WHERE slo_key = ?1",
        params![key],
        |r| {
            Ok(BackfillRow {
                slo_key: r.get(0)?,
                source: r.get(1)?,
                start_ms: r.get(2)?,
                end_ms: r.get(3)?,
                until_ms: r.get(4)?,
                complete: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(sql(path, READ))
}

/// Records alerts that started (`ends_at_ms` `None`) and the ends of those resolved.
fn alerts_put_sync(
    conn: &mut Connection,
    path: &str,
    rows: &[AlertHistoryRow],
) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(sql(path, WRITE))?;
    for r in rows {
        tx.execute(
            "INSERT INTO slo_alert_history \
             (slo_key, alertname, severity, starts_at_ms, ends_at_ms, playbook_url) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (slo_key, alertname, severity, starts_at_ms) \
             DO UPDATE SET ends_at_ms = excluded.ends_at_ms",
            params![
                r.slo_key,
                r.alertname,
                r.severity,
                r.starts_at_ms,
                r.ends_at_ms,
                r.playbook_url
            ],
        )
        .map_err(sql(path, WRITE))?;
    }
    tx.commit().map_err(sql(path, WRITE))
}

/// The alerts of one SLO active at some time in `[from_ms, to_ms)`, oldest first.
fn alerts_sync(
    conn: &Connection,
    path: &str,
    key: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<AlertHistoryRow>, StateError> {
    let mut stmt = conn
        .prepare(
            "SELECT slo_key, alertname, severity, starts_at_ms, ends_at_ms, playbook_url \
             FROM slo_alert_history WHERE slo_key = ?1 AND starts_at_ms < ?3 \
             AND (ends_at_ms IS NULL OR ends_at_ms > ?2) ORDER BY starts_at_ms, alertname",
        )
        .map_err(sql(path, READ))?;
    let rows = stmt
        .query_map(params![key, from_ms, to_ms], |r| {
            Ok(AlertHistoryRow {
                slo_key: r.get(0)?,
                alertname: r.get(1)?,
                severity: r.get(2)?,
                starts_at_ms: r.get(3)?,
                ends_at_ms: r.get(4)?,
                playbook_url: r.get(5)?,
            })
        })
        .map_err(sql(path, READ))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql(path, READ))?;
    Ok(rows)
}

fn reports_put_sync(
    conn: &mut Connection,
    path: &str,
    rows: &[ReportRow],
) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(sql(path, WRITE))?;
    for r in rows {
        tx.execute(
            "INSERT OR REPLACE INTO slo_report (slo_key, period, owner, start_ms, end_ms, report) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.slo_key, r.period, r.owner, r.start_ms, r.end_ms, r.report],
        )
        .map_err(sql(path, WRITE))?;
    }
    tx.commit().map_err(sql(path, WRITE))
}

/// Which stored reports to read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportFilter {
    pub slo_key: Option<String>,
    pub owner: Option<String>,
    /// The period ID, exactly.
    pub period: Option<String>,
    /// Periods overlapping `[from_ms, to_ms)`.
    pub overlapping: Option<(i64, i64)>,
}

fn reports_sync(
    conn: &Connection,
    path: &str,
    f: &ReportFilter,
) -> Result<Vec<ReportRow>, StateError> {
    let mut stmt = conn
        .prepare(
            "SELECT slo_key, period, owner, start_ms, end_ms, report FROM slo_report \
             WHERE (?1 IS NULL OR slo_key = ?1) AND (?2 IS NULL OR owner = ?2) \
             AND (?3 IS NULL OR period = ?3) AND (?4 IS NULL OR end_ms > ?4) \
             AND (?5 IS NULL OR start_ms < ?5) ORDER BY owner, start_ms, slo_key, period",
        )
        .map_err(sql(path, READ))?;
    let (from, to) = f.overlapping.unzip();
    let rows = stmt
        .query_map(params![f.slo_key, f.owner, f.period, from, to], |r| {
            Ok(ReportRow {
                slo_key: r.get(0)?,
                period: r.get(1)?,
                owner: r.get(2)?,
                start_ms: r.get(3)?,
                end_ms: r.get(4)?,
                report: r.get(5)?,
            })
        })
        .map_err(sql(path, READ))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql(path, READ))?;
    Ok(rows)
}

impl StateDb {
    /// Records (replaces) back-fill marks.
    pub async fn backfill_put(&self, rows: Vec<BackfillRow>) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| backfill_put_sync(conn, path, &rows))
            .await
    }

    /// The back-fill mark of one SLO.
    pub async fn backfill_get(&self, key: String) -> Result<Option<BackfillRow>, StateError> {
        self.call(move |conn, path| backfill_get_sync(conn, path, &key))
            .await
    }

    /// Records SLO alerts that started, and the ends of those resolved.
    pub async fn slo_alerts_put(&self, rows: Vec<AlertHistoryRow>) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| alerts_put_sync(conn, path, &rows))
            .await
    }

    /// One SLO's alerts active at some time in `[from_ms, to_ms)`.
    pub async fn slo_alerts(
        &self,
        key: String,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AlertHistoryRow>, StateError> {
        self.call(move |conn, path| alerts_sync(conn, path, &key, from_ms, to_ms))
            .await
    }

    /// Stores (replaces) reports of closed periods.
    pub async fn reports_put(&self, rows: Vec<ReportRow>) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| reports_put_sync(conn, path, &rows))
            .await
    }

    /// Stored reports matching `filter`, by owner, period and SLO.
    pub async fn reports(&self, filter: ReportFilter) -> Result<Vec<ReportRow>, StateError> {
        self.call(move |conn, path| reports_sync(conn, path, &filter))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    #[tokio::test]
    async fn reports_alerts_and_backfill_marks_survive_reopen() {
        let dir = TempDir::new("slo-reports");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let report = |key: &str, period: &str, owner: &str| ReportRow {
            slo_key: key.into(),
            period: period.into(),
            owner: owner.into(),
            start_ms: 0,
            end_ms: 10,
            report: "{}".into(),
        };
        db.reports_put(vec![
            report("a/x", "2026-10", "team-a"),
            report("a/x", "2026-11", "team-a"),
            report("b/y", "2026-11", "team-b"),
        ])
        .await
        .unwrap();
        let alert = |start: i64, end: Option<i64>| AlertHistoryRow {
            slo_key: "a/x".into(),
            alertname: "SLOBurnRate".into(),
            severity: "page".into(),
            starts_at_ms: start,
            ends_at_ms: end,
            playbook_url: "http://r/playbooks/SLOBurnRate".into(),
        };
        db.slo_alerts_put(vec![alert(100, None), alert(500, None)])
            .await
            .unwrap();
        // The first one resolves at 200.
        db.slo_alerts_put(vec![alert(100, Some(200))])
            .await
            .unwrap();
        db.backfill_put(vec![BackfillRow {
            slo_key: "a/x".into(),
            source: "store".into(),
            start_ms: 1,
            end_ms: 2,
            until_ms: Some(2),
            complete: true,
        }])
        .await
        .unwrap();
        db.close().await;

        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let team_a = db
            .reports(ReportFilter {
                owner: Some("team-a".into()),
                ..ReportFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            team_a.iter().map(|r| r.period.as_str()).collect::<Vec<_>>(),
            ["2026-10", "2026-11"]
        );
        let nov = db
            .reports(ReportFilter {
                period: Some("2026-11".into()),
                ..ReportFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(nov.len(), 2);
        // [150, 300) overlaps the alert of 100..200 and not the one from 500.
        assert_eq!(
            db.slo_alerts("a/x".into(), 150, 300).await.unwrap(),
            vec![alert(100, Some(200))]
        );
        // [250, 600): the open one from 500 only.
        assert_eq!(
            db.slo_alerts("a/x".into(), 250, 600).await.unwrap(),
            vec![alert(500, None)]
        );
        let mark = db.backfill_get("a/x".into()).await.unwrap().unwrap();
        assert_eq!((mark.source.as_str(), mark.complete), ("store", true));
        assert_eq!(db.backfill_get("b/y".into()).await.unwrap(), None);
    }
}
