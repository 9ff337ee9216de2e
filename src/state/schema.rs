//! The database schema as an ordered list of migrations, and the code that applies them.
//!
//! Every change to the schema is a new [`Migration`] appended to [`MIGRATIONS`] with the next
//! version number; a migration is never edited once released. [`migrate`] applies, each in its
//! own transaction, the migrations newer than the version recorded in the `schema_version`
//! table, and refuses a database written by a newer redline (its schema is unknown here).
//! Later issues add silences, the notification log, pending notifications and the SLO ledger
//! as migrations 2, 3, …

use rusqlite::{params, Connection, OptionalExtension};

/// One step of the schema.
pub struct Migration {
    /// Strictly increasing from 1, without gaps.
    pub version: i64,
    /// What the step adds, recorded in `schema_version.name` for people reading the file.
    pub name: &'static str,
    pub sql: &'static str,
}

/// The schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alert state",
        // One row per alert a rule holds: the pending `for` clock, firing and keep_firing_for
        // times, the last notification and the resolution live in the serialized alert; `state`
        // and `active_at_ms` are copies for people inspecting the file with sqlite3.
        sql: "
        CREATE TABLE alert_state (
            group_file    TEXT    NOT NULL,
            group_name    TEXT    NOT NULL,
            rule_name     TEXT    NOT NULL,
            fingerprint   TEXT    NOT NULL,
            state         TEXT    NOT NULL,
            active_at_ms  INTEGER,
            alert         TEXT    NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            PRIMARY KEY (group_file, group_name, rule_name, fingerprint)
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 2,
        name: "silences",
        // One row per silence, expired ones included until garbage-collected. `matchers` is
        // a JSON array of Alertmanager API matchers ({name, value, isRegex, isEqual}).
        sql: "
        CREATE TABLE silence (
            id            TEXT    NOT NULL PRIMARY KEY,
            matchers      TEXT    NOT NULL,
            starts_at_ms  INTEGER NOT NULL,
            ends_at_ms    INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            created_by    TEXT    NOT NULL,
            comment       TEXT    NOT NULL
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 3,
        name: "alerting pipeline",
        // `am_alert`: alerts the pipeline holds (posted to /api/v2/alerts or handed over by
        // the rules and SLO engines), one JSON row per fingerprint.
        // `nflog`: Alertmanager's notification log, one row per (group, receiver,
        // integration): the fingerprints last notified firing and resolved, and when.
        // `pending_notification`: a notification decided but not yet acknowledged by its
        // integration; written before the first attempt, deleted with the nflog write that
        // records the acknowledgement, replayed after a restart.
        sql: "
        CREATE TABLE am_alert (
            fingerprint   TEXT    NOT NULL PRIMARY KEY,
            alert         TEXT    NOT NULL,
            updated_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE nflog (
            group_key     TEXT    NOT NULL,
            receiver      TEXT    NOT NULL,
            integration   TEXT    NOT NULL,
            firing        TEXT    NOT NULL,
            resolved      TEXT    NOT NULL,
            sent_at_ms    INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL,
            PRIMARY KEY (group_key, receiver, integration)
        ) WITHOUT ROWID;
        CREATE TABLE pending_notification (
            id              INTEGER PRIMARY KEY,
            group_key       TEXT    NOT NULL,
            receiver        TEXT    NOT NULL,
            integration     TEXT    NOT NULL,
            notification    TEXT    NOT NULL,
            created_at_ms   INTEGER NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_ms INTEGER NOT NULL,
            UNIQUE (group_key, receiver, integration)
        );
    ",
    },
    Migration {
        version: 4,
        name: "slo ledger",
        // `slo`: SLO keys (`service/name`) interned to small integers, with the ledger step
        // (60000 ms in production) the rows were written with.
        // `slo_hour`: per SLO and block of 60 ledger steps (step index = ms since the epoch /
        // step; hour = step index / 60), the bad and total counts of each step in a compact
        // blob (see `state::ledger`: integral counts as varints, 4-6 bytes a minute), so 30 days
        // of a busy SLO take ~250 KiB. One row per minute measured 1.35 MiB (interleaved
        // inserts of many SLOs leave B-tree pages half full).
        // `slo_gap`: step ranges [start, end) with no data (redline down and the counters did
        // not allow a back-fill).
        // `slo_cursor`: per SLO the last counter value of each series (JSON) and the step index
        // it belongs to, so a restart continues the reset-aware deltas.
        sql: "
        CREATE TABLE slo (
            id      INTEGER PRIMARY KEY,
            key     TEXT    NOT NULL UNIQUE,
            step_ms INTEGER NOT NULL
        );
        CREATE TABLE slo_hour (
            slo    INTEGER NOT NULL,
            hour   INTEGER NOT NULL,
            steps  BLOB    NOT NULL,
            PRIMARY KEY (slo, hour)
        ) WITHOUT ROWID;
        CREATE TABLE slo_gap (
            slo    INTEGER NOT NULL,
            start  INTEGER NOT NULL,
            end    INTEGER NOT NULL,
            PRIMARY KEY (slo, start)
        ) WITHOUT ROWID;
        CREATE TABLE slo_cursor (
            slo     INTEGER NOT NULL PRIMARY KEY,
            minute  INTEGER NOT NULL,
            cursors TEXT    NOT NULL
        );
    ",
    },
    Migration {
        version: 5,
        name: "slo reports",
        // Keyed by the SLO key (`service/name`) rather than `slo.id`, so a report outlives
        // the SLO's ledger rows (pruned after the period) and a changed ledger step.
        // `slo_backfill`: the steps [start, end) a new SLO's ledger was back-filled with, and
        // from where (`store` or the remote `query_range` endpoint).
        // `slo_alert_history`: every SLO alert raised, when it started and ended (NULL while
        // firing) and its playbook link: the alerts of a report's incidents.
        // `slo_report`: the report of each closed compliance period (JSON, see
        // `slo::report`), by SLO and period (`2026-11`); `owner` for the per-owner reports.
        sql: "
        CREATE TABLE slo_backfill (
            slo_key  TEXT    NOT NULL PRIMARY KEY,
            source   TEXT    NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms   INTEGER NOT NULL,
            complete INTEGER NOT NULL
        );
        CREATE TABLE slo_alert_history (
            slo_key      TEXT    NOT NULL,
            alertname    TEXT    NOT NULL,
            severity     TEXT    NOT NULL,
            starts_at_ms INTEGER NOT NULL,
            ends_at_ms   INTEGER,
            playbook_url TEXT    NOT NULL,
            PRIMARY KEY (slo_key, alertname, severity, starts_at_ms)
        ) WITHOUT ROWID;
        CREATE TABLE slo_report (
            slo_key  TEXT    NOT NULL,
            period   TEXT    NOT NULL,
            owner    TEXT    NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms   INTEGER NOT NULL,
            report   TEXT    NOT NULL,
            PRIMARY KEY (slo_key, period)
        ) WITHOUT ROWID;
        CREATE INDEX slo_report_by_owner ON slo_report (owner, period);
    ",
    },
    SLO_BACKFILL_RESUME,
    // The notification history: see `state::history`.
    Migration {
        version: 7,
        name: super::history::HISTORY_MIGRATION_NAME,
        sql: super::history::HISTORY_MIGRATION,
    },
    Migration {
        version: 8,
        name: "acknowledgements",
        // `alert_ack`: who acknowledged which aggregation group, why, until when, and the
        // firing alerts the acknowledgement covers (see `state::acks`).
        sql: super::acks::ACKS_MIGRATION,
    },
];

/// Where a back-fill stops: the step its SLO's live reading started at, so a restart resumes
/// an unfinished back-fill up to it (`slo_backfill.end_ms` is how far it got). NULL in rows
/// written before.
const SLO_BACKFILL_RESUME: Migration = Migration {
    version: 6,
    name: "slo back-fill resume",
    sql: "ALTER TABLE slo_backfill ADD COLUMN until_ms INTEGER;",
};

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Why a migration could not be applied (the caller adds the database path).
#[derive(Debug)]
pub enum MigrateError {
    Sql {
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    TooNew {
        found: i64,
        known: i64,
    },
}

/// Brings the schema up to [`latest_version`]; returns the version found before.
pub fn migrate(conn: &mut Connection, now_ms: i64) -> Result<i64, MigrateError> {
    let sql_err = |version, name| {
        move |source| MigrateError::Sql {
            version,
            name,
            source,
        }
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version       INTEGER PRIMARY KEY,
            name          TEXT    NOT NULL,
            applied_at_ms INTEGER NOT NULL
        );",
    )
    .map_err(sql_err(0, "schema_version table"))?;
    let found: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(sql_err(0, "schema_version table"))?
        .flatten()
        .unwrap_or(0);
    let known = latest_version();
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = conn.transaction().map_err(sql_err(m.version, m.name))?;
        tx.execute_batch(m.sql)
            .map_err(sql_err(m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms],
        )
        .map_err(sql_err(m.version, m.name))?;
        tx.commit().map_err(sql_err(m.version, m.name))?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {:?}", m.name);
        }
    }

    #[test]
    fn migrate_is_idempotent_and_records_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, 1).unwrap(), 0);
        assert_eq!(migrate(&mut conn, 2).unwrap(), latest_version());
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }

    #[test]
    fn database_from_a_newer_redline_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO schema_version (version, name, applied_at_ms) VALUES (?1, 'future', 0)",
            params![latest_version() + 1],
        )
        .unwrap();
        match migrate(&mut conn, 2) {
            Err(MigrateError::TooNew { found, known }) => {
                assert_eq!(found, latest_version() + 1);
                assert_eq!(known, latest_version());
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }
}
