//! The SQLite database of everything that must survive a restart: the only place that writes SQL.
//!
//! [`StateDb::open`] opens (or creates) the file in WAL mode, applies the schema migrations
//! ([`schema`]) and starts one writer thread that owns the connection. Callers hold cheap
//! clones of the [`StateDb`] handle and send it typed requests over a bounded channel; every
//! request runs in its own transaction and its future resolves only after the commit, so an
//! acknowledged write survives a crash of the process (`synchronous=FULL`: also an OS crash).
//! The alert-state table is in [`alerts`]; silences, the notification log, pending
//! notifications, the SLO ledger and the notification history ([`history`]) come as further
//! migrations and sibling modules.
//!
//! Users may inspect the file with `sqlite3 STATE_DIR/redline.db` while redline runs.

pub mod acks;
pub mod alerts;
pub mod history;
pub mod ledger;
pub mod pipeline;
pub mod schema;
pub mod silences;
pub mod slo_reports;

pub use alerts::{AlertChanges, AlertRecord, GroupKey};

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

/// The database's file name inside the state directory.
pub const DB_FILE_NAME: &str = "redline.db";

/// How many requests may wait for the writer before senders wait in turn.
const QUEUE_CAPACITY: usize = 256;

/// Errors of the state database; each names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: creating its directory: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("state database {path}: opening: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state database {path}: applying schema migration {version} ({name}): {source}")]
    Migrate {
        path: String,
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path}: schema version {found} is newer than this redline knows \
         ({known}); it was written by a newer redline, refusing to use it"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("state database {path}: {op}: {source}")]
    Sql {
        path: String,
        op: &'static str,
        source: rusqlite::Error,
    },
    #[error("state database {path}: {op}: stored row is not valid: {message}")]
    Corrupt {
        path: String,
        op: &'static str,
        message: String,
    },
    #[error("state database {path}: the writer has stopped")]
    Closed { path: String },
    #[error("state database {path}: starting the writer thread: {source}")]
    Thread {
        path: String,
        source: std::io::Error,
    },
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Command {
    Run(Job),
    Close(oneshot::Sender<()>),
}

/// A handle on the open database; clones share the one writer.
#[derive(Clone)]
pub struct StateDb {
    path: Arc<str>,
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").field("path", &self.path).finish()
    }
}

impl StateDb {
    /// Opens `STATE_DIR/redline.db`, creating the directory and the file as needed.
    pub fn open_in_dir(state_dir: &Path) -> Result<StateDb, StateError> {
        Self::open(&state_dir.join(DB_FILE_NAME))
    }

    /// Opens (or creates) the database at `path`, migrates it and starts the writer thread.
    /// Blocking: call it at start-up, or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<StateDb, StateError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
                path: shown.clone(),
                source,
            })?;
        }
        let mut conn = open_connection(path).map_err(|source| StateError::Open {
            path: shown.clone(),
            source,
        })?;
        schema::migrate(&mut conn, now_ms()).map_err(|e| match e {
            schema::MigrateError::Sql {
                version,
                name,
                source,
            } => StateError::Migrate {
                path: shown.clone(),
                version,
                name,
                source,
            },
            schema::MigrateError::TooNew { found, known } => StateError::TooNew {
                path: shown.clone(),
                found,
                known,
            },
        })?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let thread_path = PathBuf::from(path);
        std::thread::Builder::new()
            .name("redline-state".into())
            .spawn(move || writer(conn, rx, thread_path))
            .map_err(|source| StateError::Thread {
                path: shown.clone(),
                source,
            })?;
        Ok(StateDb {
            path: shown.into(),
            tx,
        })
    }

    /// The database file, as shown in errors.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Finishes the queued requests and closes the connection (checkpointing the WAL). Other
    /// clones get [`StateError::Closed`] afterwards. Dropping every handle closes it as well.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        let tx = self.tx.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if tx.blocking_send(Command::Close(reply)).is_ok() {
                let _ = done.blocking_recv();
            }
        })
        .await;
    }

    /// Runs `f` on the writer's connection and waits for its result. The wait happens on
    /// tokio's blocking pool, so a runtime with paused time (tests) does not jump ahead while
    /// a write is in flight.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> Result<T, StateError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let path = self.path.clone();
        let job: Job = Box::new(move |conn: &mut Connection| {
            let _ = reply.send(f(conn, &path));
        });
        let tx = self.tx.clone();
        let waited = tokio::task::spawn_blocking(move || {
            tx.blocking_send(Command::Run(job)).ok()?;
            result.blocking_recv().ok()
        })
        .await;
        match waited {
            Ok(Some(r)) => r,
            _ => Err(StateError::Closed {
                path: self.path.to_string(),
            }),
        }
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // `journal_mode` answers with the mode now in force.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "state database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// The writer thread: runs requests in arrival order until closed or every handle is gone.
fn writer(conn: Connection, mut rx: mpsc::Receiver<Command>, path: PathBuf) {
    let mut conn = conn;
    let mut closed_by: Option<oneshot::Sender<()>> = None;
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Command::Run(job) => job(&mut conn),
            Command::Close(reply) => {
                closed_by = Some(reply);
                break;
            }
        }
    }
    rx.close();
    if let Err((_, e)) = conn.close() {
        tracing::warn!(path = %path.display(), error = %e, "closing the state database");
    }
    if let Some(reply) = closed_by {
        let _ = reply.send(());
    }
}

pub(crate) use crate::timefmt::now_ms;

/// Wraps a rusqlite error with the database path and the operation.
pub(crate) fn sql(path: &str, op: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    let path = path.to_string();
    move |source| StateError::Sql { path, op, source }
}

#[cfg(test)]
pub(crate) mod test_dir {
    pub use crate::testdir::TempDir;
}
