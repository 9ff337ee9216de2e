//! The SLO ledger on disk: per SLO and per ledger step (one minute in production) the bad and
//! total event counts, the gaps redline could not fill, and the counter cursors that let a
//! restart continue where the last run stopped.
//!
//! SLOs are interned to small integers in the `slo` table ([`StateDb::ledger_register`]),
//! with the step their rows were written with: a changed step (a demo run at `--speed` on the
//! same state directory) discards the old rows of that SLO instead of mixing time scales.
//! The steps of an hour (60 steps) of one SLO are one row of `slo_hour` holding a compact
//! blob ([`encode_hour`]): integral counts as varints, others as f64, 4-6 bytes a minute.
//! Rows are written in one transaction per evaluation round ([`StateDb::ledger_write`]), read
//! back by range ([`StateDb::ledger_load`], [`StateDb::ledger_range`]) and pruned beyond the
//! SLO period plus a margin ([`StateDb::ledger_prune`]). The synchronous `*_sync` functions
//! do the same on a bare connection (benchmarks, tests).

use super::{sql, StateDb, StateError};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Event counts of one ledger step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LedgerMinute {
    /// Step index: milliseconds since the epoch divided by the ledger step.
    pub minute: i64,
    pub bad: f64,
    pub total: f64,
}

/// Steps `[start, end)` without data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerGap {
    pub start: i64,
    pub end: i64,
}

/// What one round writes for one SLO.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerWrite {
    /// The SLO key, as registered.
    pub slo: String,
    pub minutes: Vec<LedgerMinute>,
    pub gaps: Vec<LedgerGap>,
    /// The counter cursors (opaque JSON) as of step `.0`.
    pub cursor: Option<(i64, String)>,
    /// The back-fill mark these steps advance, stored in the same transaction: a restart
    /// finds the mark and the steps it covers together or neither.
    pub backfill: Option<super::slo_reports::BackfillRow>,
}

/// An SLO's stored ledger from some step on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredLedger {
    /// Ordered by step.
    pub minutes: Vec<LedgerMinute>,
    /// Ordered by start.
    pub gaps: Vec<LedgerGap>,
    /// The last cursors written and their step.
    pub cursor: Option<(i64, String)>,
}

const REGISTER: &str = "registering SLOs in the ledger";
const WRITE: &str = "writing the SLO ledger";
const READ: &str = "reading the SLO ledger";
const PRUNE: &str = "pruning the SLO ledger";

/// Interns `keys` with `step_ms`; an SLO stored with another step loses its old rows.
pub fn register_sync(
    conn: &mut Connection,
    path: &str,
    keys: &[String],
    step_ms: i64,
) -> Result<HashMap<String, i64>, StateError> {
    let tx = conn.transaction().map_err(sql(path, REGISTER))?;
    let mut ids = HashMap::new();
    for key in keys {
        let found: Option<(i64, i64)> = tx
            .query_row(
                "SELECT id, step_ms FROM slo WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql(path, REGISTER))?;
        let id = match found {
            Some((id, step)) if step == step_ms => id,
            Some((id, step)) => {
                tracing::warn!(slo = %key, old_step_ms = step, new_step_ms = step_ms,
                    "the SLO ledger step changed: discarding the SLO's stored minutes");
                for table in ["slo_hour", "slo_gap", "slo_cursor"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE slo = ?1"), params![id])
                        .map_err(sql(path, REGISTER))?;
                }
                tx.execute(
                    "UPDATE slo SET step_ms = ?1 WHERE id = ?2",
                    params![step_ms, id],
                )
                .map_err(sql(path, REGISTER))?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO slo (key, step_ms) VALUES (?1, ?2)",
                    params![key, step_ms],
                )
                .map_err(sql(path, REGISTER))?;
                tx.last_insert_rowid()
            }
        };
        ids.insert(key.clone(), id);
    }
    tx.commit().map_err(sql(path, REGISTER))?;
    Ok(ids)
}

fn slo_id(conn: &Connection, path: &str, key: &str, op: &'static str) -> Result<i64, StateError> {
    conn.query_row("SELECT id FROM slo WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(sql(path, op))?
    .ok_or_else(|| StateError::Corrupt {
        path: path.to_string(),
        op,
        message: format!("SLO {key:?} is not registered in the ledger"),
    })
}

/// Steps per stored row.
const HOUR: i64 = 60;

/// Encodes the steps of one hour: per step one byte `offset | kind << 6`, then either two
/// LEB128 varints (kind 0: both counts integral, 0 ≤ x < 2^53) or two little-endian f64
/// (kind 1). Ordered by offset.
pub fn encode_hour(steps: &[(u8, f64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(steps.len() * 5);
    let integral = |v: f64| (0.0..9_007_199_254_740_992.0).contains(&v) && v.fract() == 0.0;
    for (off, bad, total) in steps {
        if integral(*bad) && integral(*total) {
            out.push(*off);
            for v in [*bad as u64, *total as u64] {
                let mut v = v;
                loop {
                    let b = (v & 0x7f) as u8;
                    v >>= 7;
                    if v == 0 {
                        out.push(b);
                        break;
                    }
                    out.push(b | 0x80);
                }
            }
        } else {
            out.push(*off | 0x40);
            out.extend_from_slice(&bad.to_le_bytes());
            out.extend_from_slice(&total.to_le_bytes());
        }
    }
    out
}

/// Decodes [`encode_hour`]; `None` when the bytes are not valid.
pub fn decode_hour(b: &[u8]) -> Option<Vec<(u8, f64, f64)>> {
    let mut out = Vec::new();
    let mut i = 0;
    let varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let float =
        |i: usize| -> Option<f64> { Some(f64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
    while i < b.len() {
        let head = b[i];
        i += 1;
        let off = head & 0x3f;
        if head & 0x40 == 0 {
            let bad = varint(&mut i)? as f64;
            let total = varint(&mut i)? as f64;
            out.push((off, bad, total));
        } else {
            out.push((off, float(i)?, float(i + 8)?));
            i += 16;
        }
    }
    Some(out)
}

fn corrupt(path: &str, op: &'static str, key: &str, hour: i64) -> StateError {
    StateError::Corrupt {
        path: path.to_string(),
        op,
        message: format!("SLO {key:?} hour {hour}: the steps blob is not valid"),
    }
}

/// Writes every SLO's new steps, gaps and cursors in one transaction (a re-written step
/// replaces the stored one).
pub fn write_sync(
    conn: &mut Connection,
    path: &str,
    writes: &[LedgerWrite],
) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(sql(path, WRITE))?;
    {
        let mut get = tx
            .prepare("SELECT steps FROM slo_hour WHERE slo = ?1 AND hour = ?2")
            .map_err(sql(path, WRITE))?;
        let mut put = tx
            .prepare("INSERT OR REPLACE INTO slo_hour (slo, hour, steps) VALUES (?1, ?2, ?3)")
            .map_err(sql(path, WRITE))?;
        let mut gap = tx
            .prepare("INSERT OR REPLACE INTO slo_gap (slo, start, end) VALUES (?1, ?2, ?3)")
            .map_err(sql(path, WRITE))?;
        let mut cursor = tx
            .prepare("INSERT OR REPLACE INTO slo_cursor (slo, minute, cursors) VALUES (?1, ?2, ?3)")
            .map_err(sql(path, WRITE))?;
        for w in writes {
            let id = slo_id(&tx, path, &w.slo, WRITE)?;
            let mut by_hour: std::collections::BTreeMap<i64, Vec<&LedgerMinute>> =
                std::collections::BTreeMap::new();
            for m in &w.minutes {
                by_hour
                    .entry(m.minute.div_euclid(HOUR))
                    .or_default()
                    .push(m);
            }
            for (hour, minutes) in by_hour {
                let old: Option<Vec<u8>> = get
                    .query_row(params![id, hour], |r| r.get(0))
                    .optional()
                    .map_err(sql(path, WRITE))?;
                let mut steps = match old {
                    Some(b) => decode_hour(&b).ok_or_else(|| corrupt(path, WRITE, &w.slo, hour))?,
                    None => Vec::new(),
                };
                for m in minutes {
                    let off = m.minute.rem_euclid(HOUR) as u8;
                    steps.retain(|s| s.0 != off);
                    steps.push((off, m.bad, m.total));
                }
                steps.sort_by_key(|s| s.0);
                put.execute(params![id, hour, encode_hour(&steps)])
                    .map_err(sql(path, WRITE))?;
            }
            for g in &w.gaps {
                gap.execute(params![id, g.start, g.end])
                    .map_err(sql(path, WRITE))?;
            }
            if let Some((m, json)) = &w.cursor {
                cursor
                    .execute(params![id, m, json])
                    .map_err(sql(path, WRITE))?;
            }
            if let Some(b) = &w.backfill {
                super::slo_reports::backfill_put_tx(&tx, path, b)?;
            }
        }
    }
    tx.commit().map_err(sql(path, WRITE))
}

/// Steps in `[from, to)` of one SLO, ordered.
pub fn range_sync(
    conn: &Connection,
    path: &str,
    key: &str,
    from: i64,
    to: i64,
) -> Result<Vec<LedgerMinute>, StateError> {
    let id = slo_id(conn, path, key, READ)?;
    let mut stmt = conn
        .prepare(
            "SELECT hour, steps FROM slo_hour WHERE slo = ?1 AND hour >= ?2 \
             AND hour <= ?3 ORDER BY hour",
        )
        .map_err(sql(path, READ))?;
    let last_hour = if to == i64::MAX {
        i64::MAX
    } else {
        (to - 1).div_euclid(HOUR)
    };
    let rows = stmt
        .query_map(params![id, from.div_euclid(HOUR), last_hour], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sql(path, READ))?;
    let mut out = Vec::new();
    for row in rows {
        let (hour, blob) = row.map_err(sql(path, READ))?;
        let steps = decode_hour(&blob).ok_or_else(|| corrupt(path, READ, key, hour))?;
        for (off, bad, total) in steps {
            let minute = hour * HOUR + i64::from(off);
            if minute >= from && minute < to {
                out.push(LedgerMinute { minute, bad, total });
            }
        }
    }
    Ok(out)
}

/// One SLO's steps and gaps from step `from` on, and its cursors.
pub fn load_sync(
    conn: &Connection,
    path: &str,
    key: &str,
    from: i64,
) -> Result<StoredLedger, StateError> {
    let minutes = range_sync(conn, path, key, from, i64::MAX)?;
    let id = slo_id(conn, path, key, READ)?;
    let mut stmt = conn
        .prepare("SELECT start, end FROM slo_gap WHERE slo = ?1 AND end > ?2 ORDER BY start")
        .map_err(sql(path, READ))?;
    let gaps = stmt
        .query_map(params![id, from], |r| {
            Ok(LedgerGap {
                start: r.get(0)?,
                end: r.get(1)?,
            })
        })
        .map_err(sql(path, READ))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql(path, READ))?;
    let cursor = conn
        .query_row(
            "SELECT minute, cursors FROM slo_cursor WHERE slo = ?1",
            params![id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(sql(path, READ))?;
    Ok(StoredLedger {
        minutes,
        gaps,
        cursor,
    })
}

/// Deletes the hours of steps wholly before each SLO's cut-off step, and the gaps that end
/// before it; returns the rows deleted.
pub fn prune_sync(
    conn: &mut Connection,
    path: &str,
    before: &[(String, i64)],
) -> Result<usize, StateError> {
    let tx = conn.transaction().map_err(sql(path, PRUNE))?;
    let mut n = 0;
    for (key, cut) in before {
        let id = slo_id(&tx, path, key, PRUNE)?;
        // Whole hours only: the hour holding the cut-off stays.
        n += tx
            .execute(
                "DELETE FROM slo_hour WHERE slo = ?1 AND hour < ?2",
                params![id, cut.div_euclid(HOUR)],
            )
            .map_err(sql(path, PRUNE))?;
        n += tx
            .execute(
                "DELETE FROM slo_gap WHERE slo = ?1 AND end <= ?2",
                params![id, cut],
            )
            .map_err(sql(path, PRUNE))?;
    }
    tx.commit().map_err(sql(path, PRUNE))?;
    Ok(n)
}

impl StateDb {
    /// Interns the SLO keys (`service/name`) for a ledger with steps of `step_ms`.
    pub async fn ledger_register(
        &self,
        keys: Vec<String>,
        step_ms: i64,
    ) -> Result<HashMap<String, i64>, StateError> {
        self.call(move |conn, path| register_sync(conn, path, &keys, step_ms))
            .await
    }

    /// Writes one round of the ledger; resolves once committed.
    pub async fn ledger_write(&self, writes: Vec<LedgerWrite>) -> Result<(), StateError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.call(move |conn, path| write_sync(conn, path, &writes))
            .await
    }

    /// One SLO's ledger from step `from` on.
    pub async fn ledger_load(&self, key: String, from: i64) -> Result<StoredLedger, StateError> {
        self.call(move |conn, path| load_sync(conn, path, &key, from))
            .await
    }

    /// One SLO's steps in `[from, to)`.
    pub async fn ledger_range(
        &self,
        key: String,
        from: i64,
        to: i64,
    ) -> Result<Vec<LedgerMinute>, StateError> {
        self.call(move |conn, path| range_sync(conn, path, &key, from, to))
            .await
    }

    /// Deletes what lies before each SLO's cut-off step.
    pub async fn ledger_prune(&self, before: Vec<(String, i64)>) -> Result<usize, StateError> {
        self.call(move |conn, path| prune_sync(conn, path, &before))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_dir::TempDir;

    fn m(minute: i64, bad: f64, total: f64) -> LedgerMinute {
        LedgerMinute { minute, bad, total }
    }

    #[tokio::test]
    async fn ledger_survives_reopen_and_prunes_by_range() {
        let dir = TempDir::new("ledger");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let ids = db
            .ledger_register(vec!["checkout/avail".into()], 60_000)
            .await
            .unwrap();
        assert_eq!(ids.len(), 1);
        db.ledger_write(vec![LedgerWrite {
            slo: "checkout/avail".into(),
            minutes: vec![m(100, 0.0, 50.0), m(101, 2.0, 40.0), m(125, 0.5, 10.25)],
            gaps: vec![LedgerGap {
                start: 90,
                end: 100,
            }],
            cursor: Some((125, "{\"a\":1}".into())),
            backfill: None,
        }])
        .await
        .unwrap();
        db.close().await;

        let db = StateDb::open_in_dir(dir.path()).unwrap();
        db.ledger_register(vec!["checkout/avail".into()], 60_000)
            .await
            .unwrap();
        let got = db.ledger_load("checkout/avail".into(), 0).await.unwrap();
        assert_eq!(
            got.minutes,
            vec![m(100, 0.0, 50.0), m(101, 2.0, 40.0), m(125, 0.5, 10.25)]
        );
        assert_eq!(
            got.gaps,
            vec![LedgerGap {
                start: 90,
                end: 100
            }]
        );
        assert_eq!(got.cursor, Some((125, "{\"a\":1}".to_string())));
        let r = db
            .ledger_range("checkout/avail".into(), 101, 102)
            .await
            .unwrap();
        assert_eq!(r, vec![m(101, 2.0, 40.0)]);
        let n = db
            .ledger_prune(vec![("checkout/avail".into(), 120)])
            .await
            .unwrap();
        assert_eq!(n, 2, "the hour of steps 60..119 and the gap");
        let got = db.ledger_load("checkout/avail".into(), 0).await.unwrap();
        assert_eq!(got.minutes, vec![m(125, 0.5, 10.25)]);
        assert!(got.gaps.is_empty());
    }

    #[test]
    fn hour_blobs_round_trip_and_stay_small() {
        let steps: Vec<(u8, f64, f64)> = (0..60u8)
            .map(|o| (o, f64::from(o % 3), 1000.0 + f64::from(o)))
            .collect();
        let b = encode_hour(&steps);
        // One header byte, one byte for the bad count and two for the total.
        assert_eq!(b.len(), 60 * 4);
        assert_eq!(decode_hour(&b), Some(steps));
        let odd = vec![(7u8, 0.5, 33.333), (8, 1.0, 2.0)];
        assert_eq!(decode_hour(&encode_hour(&odd)), Some(odd));
        assert_eq!(decode_hour(&[0x00, 0x80]), None, "truncated varint");
        assert_eq!(decode_hour(&[0x41, 0, 0]), None, "truncated float");
    }

    #[tokio::test]
    async fn changed_step_discards_old_rows() {
        let dir = TempDir::new("ledger-step");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        db.ledger_register(vec!["s/a".into()], 60_000)
            .await
            .unwrap();
        db.ledger_write(vec![LedgerWrite {
            slo: "s/a".into(),
            minutes: vec![m(5, 1.0, 2.0)],
            ..LedgerWrite::default()
        }])
        .await
        .unwrap();
        db.ledger_register(vec!["s/a".into()], 1_000).await.unwrap();
        let got = db.ledger_load("s/a".into(), 0).await.unwrap();
        assert!(got.minutes.is_empty());
    }

    #[tokio::test]
    async fn unregistered_slo_is_an_error_naming_it() {
        let dir = TempDir::new("ledger-unknown");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let e = db.ledger_load("nope/x".into(), 0).await.unwrap_err();
        assert!(
            e.to_string().contains("\"nope/x\" is not registered"),
            "{e}"
        );
    }
}
