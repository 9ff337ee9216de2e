//! Silences: Alertmanager's model and rules, kept in memory and persisted in the state
//! database.
//!
//! A [`Silence`] mutes every alert whose labels its matchers accept while it is
//! [`SilenceState::Active`]: from `starts_at` to `ends_at`, both included (Alertmanager's
//! `getState`: pending before the start, expired only *after* the end). [`Silences`] is the
//! shared set: cheap to clone, read without waiting ([`Silences::silenced_by`] is a scan under
//! a read lock), written one at a time. Every write is committed to the `silence` table
//! ([`crate::state::silences`]) before it becomes visible, so an acknowledged silence survives
//! a crash.
//!
//! [`Silences::upsert`] follows Alertmanager's `Silences.Set` and its API handler:
//!
//! - without an id it creates a silence with a new UUID v4; a start in the past becomes now;
//! - with the id of a known silence it updates it in place when the matchers are unchanged and
//!   the change is allowed in the silence's state (active: same start and an end not in the
//!   past; pending: a start not in the past); otherwise it expires the old silence (unless
//!   already expired) and creates a new one under a new id, in one transaction;
//! - an unknown id is [`SilenceError::NotFound`];
//! - invalid input is [`SilenceError::Invalid`] with upstream's message: no matchers, only
//!   matchers that match the empty string, a start not before the end, an end in the past.
//!
//! Expired silences are kept for a retention (Alertmanager's default 120h, measured from the
//! end) and then removed by [`Silences::gc`], which also runs on every write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::config::alertmanager::matchers::{MatchOp, Matcher, MatcherError, Matchers};
use crate::state::silences::SilenceRow;
use crate::state::{StateDb, StateError};
use crate::store::Labels;

/// How long an expired silence is kept (Alertmanager's `--data.retention` default, 120h).
pub const DEFAULT_RETENTION_MS: i64 = 120 * 3600 * 1000;

/// A silence's state at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Mutes matching alerts now.
    Active,
    /// Ended.
    Expired,
}

impl SilenceState {
    /// `"pending"`, `"active"` or `"expired"`, as the Alertmanager API prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    /// UUID v4; empty in input to [`Silences::upsert`] to create a new silence.
    pub id: String,
    pub matchers: Matchers,
    /// Unix milliseconds.
    pub starts_at_ms: i64,
    /// Unix milliseconds.
    pub ends_at_ms: i64,
    /// When the silence was last written, unix milliseconds (set by [`Silences`]).
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    /// Alertmanager's `getState`: pending before the start, expired after the end, else active.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else if now_ms > self.ends_at_ms {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// Whether the silence's matchers accept the label set (regardless of its state).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.matches(labels)
    }

    fn to_row(&self) -> SilenceRow {
        let api: Vec<ApiMatcher> = self.matchers.iter().map(ApiMatcher::from_matcher).collect();
        SilenceRow {
            id: self.id.clone(),
            // Serializing plain structs of strings and bools cannot fail.
            matchers_json: serde_json::to_string(&api).unwrap_or_else(|_| "[]".to_string()),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            updated_at_ms: self.updated_at_ms,
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        }
    }

    fn from_row(row: SilenceRow) -> Result<Silence, SilenceError> {
        let corrupt = |message: String| SilenceError::Corrupt {
            id: row.id.clone(),
            message,
        };
        let api: Vec<ApiMatcher> = serde_json::from_str(&row.matchers_json)
            .map_err(|e| corrupt(format!("matchers: {e}")))?;
        let matchers = api
            .iter()
            .map(ApiMatcher::to_matcher)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(format!("matchers: {e}")))?;
        Ok(Silence {
            id: row.id,
            matchers: Matchers(matchers),
            starts_at_ms: row.starts_at_ms,
            ends_at_ms: row.ends_at_ms,
            updated_at_ms: row.updated_at_ms,
            created_by: row.created_by,
            comment: row.comment,
        })
    }
}

/// A matcher as the Alertmanager v2 API writes it: `{name, value, isRegex, isEqual}`
/// (`isEqual` defaults to true, as for clients older than Alertmanager 0.22).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl ApiMatcher {
    /// The API form of a matcher.
    pub fn from_matcher(m: &Matcher) -> ApiMatcher {
        ApiMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.op, MatchOp::Regex | MatchOp::NotRegex),
            is_equal: matches!(m.op, MatchOp::Equal | MatchOp::Regex),
        }
    }

    /// The matcher; fails on an invalid regex.
    pub fn to_matcher(&self) -> Result<Matcher, MatcherError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(op, self.name.clone(), self.value.clone())
    }
}

/// Why a silence could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    /// An update named an id that does not exist (the API answers 404).
    #[error("silence {0} not found")]
    NotFound(String),
    /// The silence is not valid; the message is Alertmanager's.
    #[error("{0}")]
    Invalid(String),
    /// Expiring a silence that has already ended.
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    /// A row of the `silence` table could not be read back.
    #[error("stored silence {id}: {message}")]
    Corrupt { id: String, message: String },
    #[error(transparent)]
    State(#[from] StateError),
}

struct Inner {
    db: Option<StateDb>,
    by_id: RwLock<HashMap<String, Silence>>,
    /// Serializes writers, so the database and memory see writes in one order.
    write: tokio::sync::Mutex<()>,
    retention_ms: AtomicI64,
    /// Bumped after every change of `by_id`, so that statuses computed from the silences
    /// can tell they are stale ([`Silences::version`]).
    version: AtomicU64,
}

/// The shared set of silences (see the module documentation).
#[derive(Clone)]
pub struct Silences {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Silences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Silences")
            .field("count", &self.read().len())
            .finish()
    }
}

impl Silences {
    /// An empty set that is not persisted.
    pub fn in_memory() -> Silences {
        Silences {
            inner: Arc::new(Inner {
                db: None,
                by_id: RwLock::new(HashMap::new()),
                write: tokio::sync::Mutex::new(()),
                retention_ms: AtomicI64::new(DEFAULT_RETENTION_MS),
                version: AtomicU64::new(0),
            }),
        }
    }

    /// Loads the stored silences (none without a database). Those expired longer than the
    /// retention ago go at the next write or [`Silences::gc`].
    pub async fn load(db: Option<StateDb>) -> Result<Silences, SilenceError> {
        let mut by_id = HashMap::new();
        if let Some(db) = &db {
            for row in db.load_silences().await? {
                let s = Silence::from_row(row)?;
                by_id.insert(s.id.clone(), s);
            }
        }
        Ok(Silences {
            inner: Arc::new(Inner {
                db,
                by_id: RwLock::new(by_id),
                write: tokio::sync::Mutex::new(()),
                retention_ms: AtomicI64::new(DEFAULT_RETENTION_MS),
                version: AtomicU64::new(0),
            }),
        })
    }

    /// How long expired silences are kept, in milliseconds after their end.
    pub fn retention_ms(&self) -> i64 {
        self.inner.retention_ms.load(Ordering::Relaxed)
    }

    /// Changes the retention of expired silences.
    pub fn set_retention_ms(&self, ms: i64) {
        self.inner.retention_ms.store(ms, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Silence>> {
        // A poisoned lock only means a reader panicked; the map itself is always consistent
        // because writers replace whole entries.
        self.inner
            .by_id
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn apply(&self, upserts: &[Silence], deletes: &[String]) {
        let mut map = self
            .inner
            .by_id
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in deletes {
            map.remove(id);
        }
        for s in upserts {
            map.insert(s.id.clone(), s.clone());
        }
        // After the change, under the write lock: a reader that sees the new version reads
        // the new map.
        self.inner.version.fetch_add(1, Ordering::Release);
    }

    /// A number that changes whenever a silence is created, updated, expired or dropped.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// The earliest time after which [`Silences::silenced_by`] may answer differently than at
    /// `now_ms` for the same silences (a silence starts or ends): every answer at `t` with
    /// `now_ms <= t < next_change_after(now_ms)` equals the one at `now_ms`. `i64::MAX` when
    /// no silence starts or ends after `now_ms`.
    pub fn next_change_after(&self, now_ms: i64) -> i64 {
        let map = self.read();
        map.values()
            // Active from `starts_at_ms` on, expired from `ends_at_ms + 1` on.
            .flat_map(|s| [s.starts_at_ms, s.ends_at_ms.saturating_add(1)])
            .filter(|t| *t > now_ms)
            .min()
            .unwrap_or(i64::MAX)
    }

    async fn persist(&self, upserts: &[Silence], deletes: &[String]) -> Result<(), SilenceError> {
        if let Some(db) = &self.inner.db {
            db.write_silences(
                upserts.iter().map(Silence::to_row).collect(),
                deletes.to_vec(),
            )
            .await?;
        }
        self.apply(upserts, deletes);
        Ok(())
    }

    /// The ids of the silences that are active at `now_ms` and match `labels`, sorted.
    pub fn silenced_by(&self, labels: &Labels, now_ms: i64) -> Vec<String> {
        let map = self.read();
        let mut ids: Vec<String> = map
            .values()
            .filter(|s| s.state(now_ms) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every silence (expired ones within the retention included), by id.
    pub fn list(&self) -> Vec<Silence> {
        let mut v: Vec<Silence> = self.read().values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The silence with this id.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.read().get(id).cloned()
    }

    /// Creates or updates a silence with Alertmanager's rules (see the module documentation)
    /// and returns its id, which is new unless the silence was updated in place. `id`,
    /// `updated_at_ms` of the input: the id to update (empty to create); ignored.
    pub async fn upsert(&self, input: Silence, now_ms: i64) -> Result<String, SilenceError> {
        validate_input(&input, now_ms)?;
        let _writer = self.inner.write.lock().await;
        let mut upserts = Vec::with_capacity(2);
        if !input.id.is_empty() {
            let prev = self
                .get(&input.id)
                .ok_or_else(|| SilenceError::NotFound(input.id.clone()))?;
            if can_update(&prev, &input, now_ms) {
                let mut s = input;
                s.updated_at_ms = now_ms;
                let id = s.id.clone();
                upserts.push(s);
                let deletes = self.expired_beyond_retention(now_ms);
                self.persist(&upserts, &deletes).await?;
                return Ok(id);
            }
            if prev.state(now_ms) != SilenceState::Expired {
                upserts.push(expired_copy(prev, now_ms));
            }
        }
        let mut s = input;
        s.id = new_uuid_v4();
        s.starts_at_ms = s.starts_at_ms.max(now_ms);
        s.updated_at_ms = now_ms;
        if s.ends_at_ms < s.starts_at_ms {
            return Err(SilenceError::Invalid(
                "end time must not be before start time".to_string(),
            ));
        }
        let id = s.id.clone();
        upserts.push(s);
        let deletes = self.expired_beyond_retention(now_ms);
        self.persist(&upserts, &deletes).await?;
        Ok(id)
    }

    /// Expires a silence now: an active one ends now, a pending one starts and ends now.
    pub async fn expire(&self, id: &str, now_ms: i64) -> Result<(), SilenceError> {
        let _writer = self.inner.write.lock().await;
        let prev = self
            .get(id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if prev.state(now_ms) == SilenceState::Expired {
            return Err(SilenceError::AlreadyExpired(id.to_string()));
        }
        self.persist(&[expired_copy(prev, now_ms)], &[]).await
    }

    /// Every silence as a row (for replication to other replicas).
    pub fn rows(&self) -> Vec<SilenceRow> {
        self.list().iter().map(Silence::to_row).collect()
    }

    /// Merges silences from another replica: a row is taken when its id is unknown here or it
    /// was written later than ours (`updated_at_ms`, as Alertmanager merges gossiped
    /// silences), unless it ended more than the retention before `now_ms`. Taken rows are
    /// committed to the database before they are in force. Returns how many were taken.
    pub async fn merge(&self, rows: Vec<SilenceRow>, now_ms: i64) -> Result<usize, SilenceError> {
        let _writer = self.inner.write.lock().await;
        let retention = self.retention_ms();
        let mut upserts = Vec::new();
        for row in rows {
            let s = Silence::from_row(row)?;
            if s.ends_at_ms.saturating_add(retention) < now_ms {
                continue;
            }
            let newer = self
                .read()
                .get(&s.id)
                .is_none_or(|ours| ours.updated_at_ms < s.updated_at_ms);
            if newer {
                upserts.push(s);
            }
        }
        let n = upserts.len();
        if n > 0 {
            self.persist(&upserts, &[]).await?;
        }
        Ok(n)
    }

    /// Removes silences that ended more than the retention before `now_ms`; returns how many.
    pub async fn gc(&self, now_ms: i64) -> Result<usize, SilenceError> {
        let _writer = self.inner.write.lock().await;
        let deletes = self.expired_beyond_retention(now_ms);
        let n = deletes.len();
        self.persist(&[], &deletes).await?;
        Ok(n)
    }

    fn expired_beyond_retention(&self, now_ms: i64) -> Vec<String> {
        let retention = self.retention_ms();
        self.read()
            .values()
            .filter(|s| s.ends_at_ms.saturating_add(retention) < now_ms)
            .map(|s| s.id.clone())
            .collect()
    }
}

/// Alertmanager's `expire`: an active silence ends now, a pending one starts and ends now.
fn expired_copy(mut s: Silence, now_ms: i64) -> Silence {
    if s.state(now_ms) == SilenceState::Pending {
        s.starts_at_ms = now_ms;
    }
    s.ends_at_ms = now_ms;
    s.updated_at_ms = now_ms;
    s
}

/// Alertmanager's `canUpdate`: same matchers, and a change the current state allows.
fn can_update(prev: &Silence, next: &Silence, now_ms: i64) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    match prev.state(now_ms) {
        SilenceState::Active => next.starts_at_ms == prev.starts_at_ms && next.ends_at_ms >= now_ms,
        SilenceState::Pending => next.starts_at_ms >= now_ms,
        SilenceState::Expired => false,
    }
}

/// The checks of Alertmanager's `postSilencesHandler` and `validateSilence`.
fn validate_input(s: &Silence, now_ms: i64) -> Result<(), SilenceError> {
    let invalid = |m: String| Err(SilenceError::Invalid(m));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required".to_string());
    }
    for (i, m) in s.matchers.iter().enumerate() {
        if m.name.is_empty() {
            return invalid(format!(
                "invalid label matcher {i}: invalid label name \"\""
            ));
        }
    }
    if s.matchers.iter().all(|m| m.matches("")) {
        return invalid("at least one matcher must not match the empty string".to_string());
    }
    if s.starts_at_ms >= s.ends_at_ms {
        return invalid("start time must be before end time".to_string());
    }
    if s.ends_at_ms < now_ms {
        return invalid("end time can't be in the past".to_string());
    }
    Ok(())
}

/// A random UUID v4 (RFC 4122): 16 bytes from `/dev/urandom`, or, where that cannot be read,
/// from xxh3 over the time, a process-wide counter and the process id.
pub fn new_uuid_v4() -> String {
    let mut b = [0u8; 16];
    if !read_urandom(&mut b) {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut seed = Vec::with_capacity(32);
        seed.extend_from_slice(&nanos.to_le_bytes());
        seed.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        seed.extend_from_slice(&std::process::id().to_le_bytes());
        b = xxhash_rust::xxh3::xxh3_128(&seed).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn read_urandom(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::alertmanager::matchers::parse_matchers;
    use crate::state::test_dir::TempDir;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_800_000_000_000;

    /// A silence of `matchers` from `starts` to `ends` (status's tests use it too).
    pub(crate) fn sil(matchers: &str, starts: i64, ends: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: Matchers(parse_matchers(matchers).unwrap()),
            starts_at_ms: starts,
            ends_at_ms: ends,
            updated_at_ms: 0,
            created_by: "alice".into(),
            comment: "maintenance".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn invalid_message(r: Result<String, SilenceError>) -> String {
        match r {
            Err(SilenceError::Invalid(m)) => m,
            other => panic!("expected an invalid-silence error, got {other:?}"),
        }
    }

    #[test]
    fn state_follows_alertmanager_boundaries() {
        let s = sil("a=b", NOW, NOW + MIN);
        assert_eq!(s.state(NOW - 1), SilenceState::Pending);
        assert_eq!(s.state(NOW), SilenceState::Active);
        assert_eq!(s.state(NOW + MIN), SilenceState::Active);
        assert_eq!(s.state(NOW + MIN + 1), SilenceState::Expired);
        assert_eq!(SilenceState::Expired.as_str(), "expired");
    }

    #[test]
    fn uuid_v4_format() {
        let id = new_uuid_v4();
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&id), "{id}");
        assert_ne!(new_uuid_v4(), id);
    }

    #[tokio::test]
    async fn merge_takes_unknown_and_later_written_silences_only() {
        let a = Silences::in_memory();
        let b = Silences::in_memory();
        let id = a
            .upsert(sil("job=api", NOW, NOW + 60 * MIN), NOW)
            .await
            .unwrap();
        assert_eq!(b.merge(a.rows(), NOW).await.unwrap(), 1);
        let page = labels(&[("job", "api")]);
        assert_eq!(b.silenced_by(&page, NOW + MIN), vec![id.clone()]);
        // Nothing new: nothing taken.
        assert_eq!(b.merge(a.rows(), NOW).await.unwrap(), 0);
        // Expired on b later: b's version wins on a, a's older one does not win on b.
        b.expire(&id, NOW + MIN).await.unwrap();
        assert_eq!(b.merge(a.rows(), NOW + MIN).await.unwrap(), 0);
        assert_eq!(a.merge(b.rows(), NOW + MIN).await.unwrap(), 1);
        assert!(a.silenced_by(&page, NOW + 2 * MIN).is_empty());
        // Beyond the retention: not taken back.
        let c = Silences::in_memory();
        let later = NOW + MIN + DEFAULT_RETENTION_MS + 1;
        assert_eq!(c.merge(a.rows(), later).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn active_silence_mutes_only_matching_alerts() {
        let s = Silences::in_memory();
        let id = s
            .upsert(
                sil(
                    r#"{job="api", severity=~"page|ticket"}"#,
                    NOW,
                    NOW + 60 * MIN,
                ),
                NOW,
            )
            .await
            .unwrap();
        let page = labels(&[("job", "api"), ("severity", "page")]);
        assert_eq!(s.silenced_by(&page, NOW + MIN), vec![id.clone()]);
        assert!(s
            .silenced_by(&labels(&[("job", "api"), ("severity", "info")]), NOW + MIN)
            .is_empty());
        assert!(s
            .silenced_by(&labels(&[("job", "db"), ("severity", "page")]), NOW + MIN)
            .is_empty());
        // Not after the end.
        assert!(s.silenced_by(&page, NOW + 61 * MIN).is_empty());
        let got = s.get(&id).unwrap();
        assert_eq!(got.created_by, "alice");
        assert_eq!(got.updated_at_ms, NOW);
        assert_eq!(s.list().len(), 1);
    }

    #[tokio::test]
    async fn pending_silence_mutes_nothing_until_it_starts() {
        let s = Silences::in_memory();
        let id = s
            .upsert(sil("a=b", NOW + 10 * MIN, NOW + 20 * MIN), NOW)
            .await
            .unwrap();
        let l = labels(&[("a", "b")]);
        assert!(s.silenced_by(&l, NOW).is_empty());
        assert_eq!(s.silenced_by(&l, NOW + 10 * MIN), vec![id]);
    }

    #[tokio::test]
    async fn start_in_the_past_becomes_now() {
        let s = Silences::in_memory();
        let id = s
            .upsert(sil("a=b", NOW - 10 * MIN, NOW + MIN), NOW)
            .await
            .unwrap();
        assert_eq!(s.get(&id).unwrap().starts_at_ms, NOW);
    }

    #[tokio::test]
    async fn validation_errors_are_alertmanagers() {
        let s = Silences::in_memory();
        let mut none = sil("a=b", NOW, NOW + MIN);
        none.matchers = Matchers::default();
        assert_eq!(
            invalid_message(s.upsert(none, NOW).await),
            "at least one matcher required"
        );
        assert_eq!(
            invalid_message(
                s.upsert(sil(r#"{a="", b=~".*"}"#, NOW, NOW + MIN), NOW)
                    .await
            ),
            "at least one matcher must not match the empty string"
        );
        assert_eq!(
            invalid_message(s.upsert(sil("a=b", NOW + MIN, NOW), NOW).await),
            "start time must be before end time"
        );
        assert_eq!(
            invalid_message(s.upsert(sil("a=b", NOW - 2 * MIN, NOW - MIN), NOW).await),
            "end time can't be in the past"
        );
        assert!(s.list().is_empty());
        match s
            .upsert(
                Silence {
                    id: "no-such-id".into(),
                    ..sil("a=b", NOW, NOW + MIN)
                },
                NOW,
            )
            .await
        {
            Err(SilenceError::NotFound(id)) => assert_eq!(id, "no-such-id"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn updating_the_end_of_an_active_silence_keeps_its_id() {
        let s = Silences::in_memory();
        let id = s.upsert(sil("a=b", NOW, NOW + MIN), NOW).await.unwrap();
        let update = Silence {
            id: id.clone(),
            comment: "longer".into(),
            ..sil("a=b", NOW, NOW + 30 * MIN)
        };
        let same = s.upsert(update, NOW + 1000).await.unwrap();
        assert_eq!(same, id);
        let got = s.get(&id).unwrap();
        assert_eq!(got.ends_at_ms, NOW + 30 * MIN);
        assert_eq!(got.comment, "longer");
        assert_eq!(got.updated_at_ms, NOW + 1000);
        assert_eq!(s.list().len(), 1);
    }

    #[tokio::test]
    async fn changing_matchers_of_an_active_silence_expires_it_and_creates_a_new_one() {
        let s = Silences::in_memory();
        let id = s.upsert(sil("a=b", NOW, NOW + MIN), NOW).await.unwrap();
        let t = NOW + 1000;
        let update = Silence {
            id: id.clone(),
            ..sil("a=c", NOW, NOW + 30 * MIN)
        };
        let new_id = s.upsert(update, t).await.unwrap();
        assert_ne!(new_id, id);
        let old = s.get(&id).unwrap();
        assert_eq!(old.ends_at_ms, t);
        assert_eq!(old.state(t + 1), SilenceState::Expired);
        assert_eq!(s.get(&new_id).unwrap().state(t + 1), SilenceState::Active);
        // Moving the start of an active silence also replaces it.
        let moved = Silence {
            id: new_id.clone(),
            ..sil("a=c", t + 5 * MIN, NOW + 30 * MIN)
        };
        let third = s.upsert(moved, t + 2000).await.unwrap();
        assert_ne!(third, new_id);
        assert_eq!(s.list().len(), 3);
    }

    #[tokio::test]
    async fn updating_an_expired_silence_creates_a_new_one() {
        let s = Silences::in_memory();
        let id = s.upsert(sil("a=b", NOW, NOW + MIN), NOW).await.unwrap();
        let later = NOW + 2 * MIN;
        let update = Silence {
            id: id.clone(),
            ..sil("a=b", later, later + MIN)
        };
        let new_id = s.upsert(update, later).await.unwrap();
        assert_ne!(new_id, id);
        // The expired one is untouched.
        assert_eq!(s.get(&id).unwrap().ends_at_ms, NOW + MIN);
    }

    #[tokio::test]
    async fn expire_ends_active_and_pending_silences_and_refuses_expired_ones() {
        let s = Silences::in_memory();
        let active = s.upsert(sil("a=b", NOW, NOW + MIN), NOW).await.unwrap();
        let pending = s
            .upsert(sil("a=b", NOW + 10 * MIN, NOW + 20 * MIN), NOW)
            .await
            .unwrap();
        let t = NOW + 1000;
        s.expire(&active, t).await.unwrap();
        s.expire(&pending, t).await.unwrap();
        let p = s.get(&pending).unwrap();
        assert_eq!((p.starts_at_ms, p.ends_at_ms), (t, t));
        assert!(s.silenced_by(&labels(&[("a", "b")]), t + 1).is_empty());
        match s.expire(&active, t + 1).await {
            Err(e @ SilenceError::AlreadyExpired(_)) => {
                assert_eq!(e.to_string(), format!("silence {active} already expired"))
            }
            other => panic!("expected AlreadyExpired, got {other:?}"),
        }
        assert!(matches!(
            s.expire("nope", t).await,
            Err(SilenceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn expired_silences_are_collected_after_the_retention() {
        let s = Silences::in_memory();
        let id = s.upsert(sil("a=b", NOW, NOW + MIN), NOW).await.unwrap();
        assert_eq!(s.gc(NOW + MIN + DEFAULT_RETENTION_MS).await.unwrap(), 0);
        assert!(s.get(&id).is_some());
        assert_eq!(s.gc(NOW + MIN + DEFAULT_RETENTION_MS + 1).await.unwrap(), 1);
        assert!(s.get(&id).is_none());
    }

    #[tokio::test]
    async fn silences_survive_a_restart() {
        let dir = TempDir::new("silences");
        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let s = Silences::load(Some(db.clone())).await.unwrap();
        let now = crate::timefmt::now_ms();
        let id = s
            .upsert(
                sil(
                    r#"{job=~"api|web", env!="dev", "ünï code"!~"x.*"}"#,
                    now,
                    now + 60 * MIN,
                ),
                now,
            )
            .await
            .unwrap();
        let expired = s.upsert(sil("a=b", now, now + MIN), now).await.unwrap();
        s.expire(&expired, now + 1).await.unwrap();
        let before = s.list();
        db.close().await;

        let db = StateDb::open_in_dir(dir.path()).unwrap();
        let s = Silences::load(Some(db.clone())).await.unwrap();
        assert_eq!(s.list(), before);
        let l = labels(&[("job", "web"), ("env", "prod")]);
        assert_eq!(s.silenced_by(&l, now + MIN), vec![id]);
        db.close().await;
    }

    #[test]
    fn api_matchers_round_trip() {
        for text in [r#"a="b""#, r#"a!="b""#, r#"a=~"b.*""#, r#"a!~"b|c""#] {
            let m = parse_matchers(text).unwrap().remove(0);
            let api = ApiMatcher::from_matcher(&m);
            assert_eq!(api.to_matcher().unwrap(), m, "{text}");
        }
        let legacy: ApiMatcher =
            serde_json::from_str(r#"{"name":"a","value":"b","isRegex":false}"#).unwrap();
        assert!(legacy.is_equal);
    }
}
