//! The rules runtime: one task per rule group, evaluating on the group's schedule, persisting
//! alert state and handing alerts to the notifier.
//!
//! [`spawn`] starts a [`RuleManagerHandle`]; [`RuleManagerHandle::reload`] loads rule files and
//! (re)starts the groups. Each group runs on its interval (the group's `interval` or the global
//! `evaluation_interval`) at a stable offset, `hash(file, name) mod interval`, so its evaluation
//! timestamps are the same slots across restarts and reloads (upstream `Group.EvalTimestamp`).
//! An evaluation that overruns skips the slots it covered and counts them as missed. After each
//! evaluation the group's alerts that changed are written to the state database
//! ([`crate::state`]) before the alerts to notify are sent, and a group starting for the first
//! time puts its persisted alerts back before its first evaluation: a restart neither re-pages
//! nor resets a `for` clock. A reload keeps the state of groups and rules that still exist
//! ([`GroupState::copy_state_from`]), marks removed groups' series stale and drops their
//! persisted alerts; a rule file that fails to load leaves the running rules in place and is
//! kept as [`LoadFailure`] for the API.
//!
//! Sleeping uses `tokio::time` (tests pause it); evaluation timestamps come from an injected
//! [`Clock`], so tests control them too ([`crate::clock::TokioClock`] moves with tokio's
//! paused clock).

use super::alerting::{Alert, RuleAlerts};
use super::file::{load_rule_files, RuleFileError, RuleGroup};
use super::group::{EvalContext, GroupState, RuleHealth};
use super::querier::RemoteQuerier;
use crate::promql::Engine;
use crate::state::{GroupKey, StateDb};
use crate::store::{Labels, Store};
use crate::timefmt::unix_ms;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod persist;

pub use persist::{decode_alert, encode_alert};
use persist::{diff_alerts, restore_from};

use crate::clock::Clock;

/// The owned inputs of every evaluation (an [`EvalContext`] is built from them each time).
#[derive(Clone)]
pub struct RuleContext {
    pub engine: Arc<Engine>,
    pub store: Arc<Store>,
    /// The config's `external_labels` (templates' `$externalLabels`).
    pub external_labels: Labels,
    /// `$externalURL` in templates.
    pub external_url: String,
}

/// Global settings of the rules runtime.
#[derive(Clone, Debug)]
pub struct RuleManagerOptions {
    /// The global `evaluation_interval`, for groups without `interval`.
    pub evaluation_interval: Duration,
    /// The global `rule_query_offset`, for groups without `query_offset`.
    pub query_offset: Duration,
    /// `--rules.alert.resend-delay`.
    pub resend_delay: Duration,
    /// `rule_query_url`: the remote query API every group evaluates against; `None`: the
    /// local engine and store.
    pub remote_query: Option<Arc<RemoteQuerier>>,
}

impl Default for RuleManagerOptions {
    fn default() -> Self {
        RuleManagerOptions {
            evaluation_interval: Duration::from_secs(60),
            query_offset: Duration::ZERO,
            resend_delay: super::alerting::DEFAULT_RESEND_DELAY,
            remote_query: None,
        }
    }
}

/// Counters and gauges of one group, for `/metrics` (`redline_rule_group_*`). Counters survive
/// reloads of the group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupStats {
    pub interval: Duration,
    /// Rules in the group.
    pub rules: usize,
    /// Evaluations run.
    pub evaluations_total: u64,
    /// Rule evaluations that failed (summed over the group's rules).
    pub rule_failures_total: u64,
    /// Scheduled slots skipped because an evaluation overran.
    pub iterations_missed_total: u64,
    /// Sum of evaluation durations, seconds (with `evaluations_total`, a summary's sum/count).
    pub duration_seconds_sum: f64,
    pub last_duration: Duration,
    /// The last evaluation's timestamp, ms since the epoch.
    pub last_evaluation_ms: Option<i64>,
    /// Writes of alert state that failed (the evaluation went on; the write is retried with
    /// the next evaluation's changes).
    pub persist_failures_total: u64,
    /// Alert batches dropped because the notifier's queue was full.
    pub notifications_dropped_total: u64,
}

/// One group as the API shows it: its definition, rule health, active alerts and stats.
#[derive(Clone, Debug)]
pub struct GroupSnapshot {
    pub group: Arc<RuleGroup>,
    /// The effective interval.
    pub interval: Duration,
    pub rules: Vec<RuleHealth>,
    /// Pending and firing alerts: `(rule name, alert)`, in rule order.
    pub alerts: Vec<(String, Alert)>,
    pub stats: GroupStats,
}

/// The last rule-file load that failed.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadFailure {
    /// The file (or `rule_files` pattern) at fault, when known.
    pub file: Option<String>,
    pub error: String,
    pub at: SystemTime,
}

/// The outcome of the reloads so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReloadStatus {
    pub last_success: Option<SystemTime>,
    /// The last failure; cleared by the next successful load.
    pub last_failure: Option<LoadFailure>,
}

/// Why a reload was rejected (the running rules stay).
#[derive(Debug, thiserror::Error)]
pub enum RuleReloadError {
    /// The message includes the file error's, so the error is not also its `source`: a
    /// chain printer (`{:#}`) would print the file error twice.
    #[error("loading rule files: {0}")]
    Load(RuleFileError),
    #[error("the rule manager has shut down")]
    ShutDown,
}

impl From<RuleFileError> for RuleReloadError {
    fn from(e: RuleFileError) -> Self {
        RuleReloadError::Load(e)
    }
}

/// A group's key in the manager and the state database.
pub fn group_key(g: &RuleGroup) -> GroupKey {
    GroupKey {
        file: g.file.display().to_string(),
        name: g.name.clone(),
    }
}

/// The group's stable offset within its interval: `hash(file, name) mod interval`, in whole
/// milliseconds (the store's resolution) so evaluation timestamps are exact.
pub fn group_offset(key: &GroupKey, interval: Duration) -> Duration {
    let ms = interval.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    let mut buf = Vec::with_capacity(key.file.len() + key.name.len() + 1);
    buf.extend_from_slice(key.file.as_bytes());
    buf.push(0xff);
    buf.extend_from_slice(key.name.as_bytes());
    Duration::from_millis(xxhash_rust::xxh3::xxh3_64(&buf) % ms)
}

/// Upstream `EvalTimestamp`: the latest slot `base + offset <= now` of the grid
/// `offset + k × interval` (nanoseconds since the epoch).
pub fn eval_slot(now: SystemTime, interval: Duration, offset: Duration) -> SystemTime {
    let itv = interval.as_nanos() as i128;
    if itv == 0 {
        return now;
    }
    let now_ns = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let off = offset.as_nanos() as i128;
    let adj = now_ns - off;
    let slot = adj - adj.rem_euclid(itv) + off;
    if slot >= 0 {
        UNIX_EPOCH + Duration::from_nanos(slot as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos((-slot) as u64)
    }
}

/// What every group task shares.
struct Deps {
    ctx: RuleContext,
    opts: RuleManagerOptions,
    state: Option<StateDb>,
    notify: mpsc::Sender<Vec<RuleAlerts>>,
    clock: Arc<dyn Clock>,
}

/// What a group task hands back when stopped, so a reload can carry it over.
struct GroupRun {
    state: GroupState,
    /// The serialized alerts as last written to the database, by (rule, fingerprint).
    persisted: HashMap<(String, u64), String>,
    stats: GroupStats,
}

struct GroupTask {
    key: GroupKey,
    slot: Arc<Mutex<GroupSnapshot>>,
    stop: watch::Sender<bool>,
    join: JoinHandle<GroupRun>,
}

/// The running groups. Usually driven through a [`RuleManagerHandle`].
pub struct RuleManager {
    deps: Arc<Deps>,
    tasks: Vec<GroupTask>,
    view: Arc<RwLock<Vec<Arc<Mutex<GroupSnapshot>>>>>,
}

impl RuleManager {
    pub fn new(
        ctx: RuleContext,
        opts: RuleManagerOptions,
        state: Option<StateDb>,
        notify: mpsc::Sender<Vec<RuleAlerts>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RuleManager {
            deps: Arc::new(Deps {
                ctx,
                opts,
                state,
                notify,
                clock,
            }),
            tasks: Vec::new(),
            view: Arc::new(RwLock::new(Vec::new())),
        }
    }

    /// Takes new global settings (a config reload); they apply from the next [`Self::reload`],
    /// which restarts every group.
    pub fn set_options(&mut self, opts: RuleManagerOptions) {
        let d = &self.deps;
        self.deps = Arc::new(Deps {
            ctx: d.ctx.clone(),
            opts,
            state: d.state.clone(),
            notify: d.notify.clone(),
            clock: d.clock.clone(),
        });
    }

    fn new_state(&self, g: Arc<RuleGroup>) -> GroupState {
        GroupState::new(g)
            .with_default_interval(self.deps.opts.evaluation_interval)
            .with_default_query_offset(self.deps.opts.query_offset)
            .with_resend_delay(self.deps.opts.resend_delay)
            .with_remote_querier(self.deps.opts.remote_query.clone())
    }

    /// Replaces the running groups with `groups`. Groups with the same file and name keep
    /// their state (alerts of rules with the same name and labels, counters); new groups get
    /// their persisted alerts back; removed groups stop, their series are marked stale and
    /// their persisted alerts deleted. A group appearing twice (same file and name) runs once.
    pub async fn reload(&mut self, groups: Vec<RuleGroup>) {
        let mut wanted: Vec<(GroupKey, Arc<RuleGroup>)> = Vec::new();
        for g in groups {
            let key = group_key(&g);
            if wanted.iter().any(|(k, _)| *k == key) {
                tracing::warn!(file = %key.file, group = %key.name, "rule group loaded twice; running it once");
                continue;
            }
            wanted.push((key, Arc::new(g)));
        }
        // Stop every running group; each hands back its state after its current evaluation.
        let old = std::mem::take(&mut self.tasks);
        for t in &old {
            let _ = t.stop.send(true);
        }
        let mut previous: HashMap<GroupKey, GroupRun> = HashMap::new();
        for t in old {
            match t.join.await {
                Ok(run) => {
                    previous.insert(t.key, run);
                }
                Err(e) => {
                    tracing::error!(file = %t.key.file, group = %t.key.name, error = %e, "rule group task failed");
                }
            }
        }
        let now_ms = unix_ms(self.deps.clock.now());
        for (key, run) in previous.iter() {
            if !wanted.iter().any(|(k, _)| k == key) {
                let n = run.state.mark_stale(&self.deps.ctx.store, now_ms);
                tracing::info!(file = %key.file, group = %key.name, stale_markers = n, "rule group removed");
            }
        }
        if let Some(db) = &self.deps.state {
            let keep = wanted.iter().map(|(k, _)| k.clone()).collect();
            if let Err(e) = db.retain_alert_groups(keep).await {
                tracing::warn!(error = %e, "dropping the alert state of removed rule groups");
            }
        }
        let mut view = Vec::with_capacity(wanted.len());
        for (key, group) in wanted {
            let run = match previous.remove(&key) {
                Some(prev) => {
                    let mut state = self.new_state(group);
                    state.copy_state_from(&prev.state);
                    GroupRun {
                        state,
                        persisted: prev.persisted,
                        stats: prev.stats,
                    }
                }
                None => self.restored(&key, group).await,
            };
            let task = spawn_group(key, run, self.deps.clone());
            view.push(task.slot.clone());
            self.tasks.push(task);
        }
        if let Ok(mut v) = self.view.write() {
            *v = view;
        }
    }

    /// A fresh group with its persisted alerts put back.
    async fn restored(&self, key: &GroupKey, group: Arc<RuleGroup>) -> GroupRun {
        let mut state = self.new_state(group);
        let mut persisted = HashMap::new();
        if let Some(db) = &self.deps.state {
            match db.load_group_alerts(key).await {
                Ok(records) => {
                    let mut by_rule: HashMap<String, Vec<Alert>> = HashMap::new();
                    for r in records {
                        match decode_alert(&r.alert_json) {
                            Ok(a) => by_rule.entry(r.rule.clone()).or_default().push(a),
                            Err(e) => {
                                tracing::warn!(file = %key.file, group = %key.name, rule = %r.rule, error = %e, "skipping a persisted alert that does not parse")
                            }
                        }
                        persisted.insert((r.rule, r.fingerprint), r.alert_json);
                    }
                    let n: usize = by_rule.values().map(Vec::len).sum();
                    for (rule, alerts) in by_rule {
                        state.restore(&rule, alerts);
                    }
                    if n > 0 {
                        tracing::info!(file = %key.file, group = %key.name, alerts = n, "restored alert state");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading persisted alert state; the group starts without it")
                }
            }
        }
        GroupRun {
            state,
            persisted,
            stats: GroupStats::default(),
        }
    }

    /// Stops every group after its current evaluation (their state is already persisted).
    pub async fn stop(&mut self) {
        for t in &self.tasks {
            let _ = t.stop.send(true);
        }
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.join.await;
        }
        if let Ok(mut v) = self.view.write() {
            v.clear();
        }
    }

    /// Every group's latest snapshot, in load order.
    pub fn snapshot(&self) -> Vec<GroupSnapshot> {
        read_view(&self.view)
    }
}

fn read_view(view: &RwLock<Vec<Arc<Mutex<GroupSnapshot>>>>) -> Vec<GroupSnapshot> {
    let slots = match view.read() {
        Ok(v) => v.clone(),
        Err(p) => p.into_inner().clone(),
    };
    slots
        .iter()
        .map(|s| match s.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        })
        .collect()
}

fn snapshot_of(state: &GroupState, stats: &GroupStats) -> GroupSnapshot {
    GroupSnapshot {
        group: state.group().clone(),
        interval: state.interval(),
        rules: state.rules_health(),
        alerts: state.alerts(),
        stats: stats.clone(),
    }
}

fn spawn_group(key: GroupKey, mut run: GroupRun, deps: Arc<Deps>) -> GroupTask {
    run.stats.interval = run.state.interval();
    run.stats.rules = run.state.group().rules.len();
    let slot = Arc::new(Mutex::new(snapshot_of(&run.state, &run.stats)));
    let (stop, stop_rx) = watch::channel(false);
    let join = tokio::spawn(run_group(key.clone(), run, deps, slot.clone(), stop_rx));
    GroupTask {
        key,
        slot,
        stop,
        join,
    }
}

/// Sleeps until the clock reads `target`; false if told to stop first.
async fn sleep_until(
    clock: &dyn Clock,
    target: SystemTime,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let delay = target.duration_since(clock.now()).unwrap_or(Duration::ZERO);
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

async fn run_group(
    key: GroupKey,
    mut run: GroupRun,
    deps: Arc<Deps>,
    slot: Arc<Mutex<GroupSnapshot>>,
    mut stop: watch::Receiver<bool>,
) -> GroupRun {
    let interval = run.state.interval();
    if interval.is_zero() {
        tracing::error!(file = %key.file, group = %key.name, "rule group has a zero interval; not evaluating it");
        let _ = stop.wait_for(|s| *s).await;
        return run;
    }
    let offset = group_offset(&key, interval);
    let mut slot_ts = eval_slot(deps.clock.now(), interval, offset) + interval;
    loop {
        if !sleep_until(deps.clock.as_ref(), slot_ts, &mut stop).await {
            return run;
        }
        run = evaluate_once(&key, run, &deps, unix_ms(slot_ts)).await;
        if let Ok(mut s) = slot.lock() {
            *s = snapshot_of(&run.state, &run.stats);
        }
        // The next slot; slots an overrunning evaluation covered are skipped and counted.
        let behind = deps
            .clock
            .now()
            .duration_since(slot_ts)
            .unwrap_or(Duration::ZERO);
        let steps = (behind.as_nanos() / interval.as_nanos()).max(1);
        if steps > 1 {
            let missed = (steps - 1) as u64;
            run.stats.iterations_missed_total += missed;
            tracing::warn!(file = %key.file, group = %key.name, missed, "rule group evaluation overran its interval");
        }
        slot_ts += interval * steps as u32;
        if *stop.borrow() {
            return run;
        }
    }
}

/// One evaluation at `t_ms`: evaluate (on the blocking pool), persist what changed, then send.
async fn evaluate_once(key: &GroupKey, run: GroupRun, deps: &Arc<Deps>, t_ms: i64) -> GroupRun {
    let GroupRun {
        state,
        mut persisted,
        mut stats,
    } = run;
    let for_eval = deps.clone();
    let group = state.group().clone();
    let evaluated = tokio::task::spawn_blocking(move || {
        let mut state = state;
        let ctx = &for_eval.ctx;
        let ec = EvalContext {
            engine: &ctx.engine,
            store: &ctx.store,
            external_labels: &ctx.external_labels,
            external_url: &ctx.external_url,
        };
        let out = state.eval(&ec, t_ms);
        (state, out)
    })
    .await;
    let (state, out) = match evaluated {
        Ok(v) => v,
        Err(e) => {
            // The evaluation panicked and took the state with it: start again from what was
            // persisted, so pending clocks and firing alerts survive.
            tracing::error!(file = %key.file, group = %key.name, error = %e, "rule group evaluation panicked");
            stats.rule_failures_total += 1;
            let mut fresh = GroupState::new(group)
                .with_default_interval(deps.opts.evaluation_interval)
                .with_default_query_offset(deps.opts.query_offset)
                .with_resend_delay(deps.opts.resend_delay)
                .with_remote_querier(deps.opts.remote_query.clone());
            restore_from(&mut fresh, &persisted);
            return GroupRun {
                state: fresh,
                persisted,
                stats,
            };
        }
    };
    stats.evaluations_total += 1;
    stats.rule_failures_total += out.rule_errors.len() as u64;
    stats.duration_seconds_sum += out.duration.as_secs_f64();
    stats.last_duration = out.duration;
    stats.last_evaluation_ms = Some(t_ms);
    for (rule, error) in &out.rule_errors {
        tracing::warn!(file = %key.file, group = %key.name, rule, error, "rule evaluation failed");
    }

    if let Some(db) = &deps.state {
        let (changes, next) = diff_alerts(&persisted, &state.all_alerts());
        if !changes.is_empty() {
            match db.write_alert_changes(key, changes, t_ms).await {
                Ok(()) => persisted = next,
                Err(e) => {
                    stats.persist_failures_total += 1;
                    tracing::error!(error = %e, "persisting alert state");
                }
            }
        }
    }

    if !out.to_notify.is_empty() {
        match deps.notify.try_send(out.to_notify) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                stats.notifications_dropped_total += 1;
                let alerts: usize = batch.iter().map(|r| r.alerts.len()).sum();
                tracing::warn!(file = %key.file, group = %key.name, alerts, "notifier queue full; dropping alerts");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("no notifier attached; alerts not sent");
            }
        }
    }
    GroupRun {
        state,
        persisted,
        stats,
    }
}

/// A running rules runtime; clones share it.
#[derive(Clone)]
pub struct RuleManagerHandle {
    manager: Arc<tokio::sync::Mutex<Option<RuleManager>>>,
    view: Arc<RwLock<Vec<Arc<Mutex<GroupSnapshot>>>>>,
    status: Arc<Mutex<ReloadStatus>>,
    clock: Arc<dyn Clock>,
}

/// Starts the rules runtime with no groups; call [`RuleManagerHandle::reload`] with the
/// config's `rule_files` to load them. `notify` receives the alerts to send after every
/// evaluation that has any, per rule with the rule's expression (external labels not added). Must be called within a tokio runtime.
pub fn spawn(
    ctx: RuleContext,
    opts: RuleManagerOptions,
    state: Option<StateDb>,
    notify: mpsc::Sender<Vec<RuleAlerts>>,
    clock: Arc<dyn Clock>,
) -> RuleManagerHandle {
    let manager = RuleManager::new(ctx, opts, state, notify, clock.clone());
    RuleManagerHandle {
        view: manager.view.clone(),
        manager: Arc::new(tokio::sync::Mutex::new(Some(manager))),
        status: Arc::new(Mutex::new(ReloadStatus::default())),
        clock,
    }
}

impl std::fmt::Debug for RuleManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManagerHandle").finish_non_exhaustive()
    }
}

impl RuleManagerHandle {
    /// Loads the rule files matched by `patterns` (the config's `rule_files`, resolved against
    /// the config's directory) and runs them, keeping the state of what still exists. On a
    /// load error nothing changes; the error is returned and kept in [`Self::reload_status`].
    /// Returns the number of groups now running.
    pub async fn reload<P: AsRef<Path>>(&self, patterns: &[P]) -> Result<usize, RuleReloadError> {
        self.reload_inner(patterns, None).await
    }

    /// [`Self::reload`] after a config reload: the new global settings (evaluation interval,
    /// query offset, resend delay, remote query API) apply if, and only if, the rule files
    /// load.
    pub async fn reload_with_options<P: AsRef<Path>>(
        &self,
        patterns: &[P],
        opts: RuleManagerOptions,
    ) -> Result<usize, RuleReloadError> {
        self.reload_inner(patterns, Some(opts)).await
    }

    async fn reload_inner<P: AsRef<Path>>(
        &self,
        patterns: &[P],
        opts: Option<RuleManagerOptions>,
    ) -> Result<usize, RuleReloadError> {
        match load_rule_files(patterns) {
            Ok(groups) => {
                if let Some(opts) = opts {
                    let mut guard = self.manager.lock().await;
                    guard
                        .as_mut()
                        .ok_or(RuleReloadError::ShutDown)?
                        .set_options(opts);
                }
                self.reload_groups(groups).await
            }
            Err(e) => {
                tracing::error!(error = %e, "rule files rejected; the running rules stay");
                self.record_load_failure(&e);
                Err(RuleReloadError::Load(e))
            }
        }
    }

    /// Records that rule files were rejected (by this handle's reload, or by a reload of the
    /// whole configuration that checked them first): `/api/v1/rules` warns and
    /// `redline_rules_last_reload_successful` is 0 until a load succeeds. The running rules
    /// stay.
    pub fn record_load_failure(&self, e: &RuleFileError) {
        let failure = LoadFailure {
            file: error_file(e),
            error: e.to_string(),
            at: self.clock.now(),
        };
        if let Ok(mut s) = self.status.lock() {
            s.last_failure = Some(failure);
        }
    }

    /// Runs already loaded `groups` (see [`RuleManager::reload`]).
    pub async fn reload_groups(&self, groups: Vec<RuleGroup>) -> Result<usize, RuleReloadError> {
        let mut guard = self.manager.lock().await;
        let m = guard.as_mut().ok_or(RuleReloadError::ShutDown)?;
        let n = groups.len();
        m.reload(groups).await;
        if let Ok(mut s) = self.status.lock() {
            s.last_success = Some(self.clock.now());
            s.last_failure = None;
        }
        tracing::info!(groups = n, "rules loaded");
        Ok(m.tasks.len())
    }

    /// Every group's latest snapshot, in load order. Never waits for an evaluation.
    pub fn groups_snapshot(&self) -> Vec<GroupSnapshot> {
        read_view(&self.view)
    }

    /// The last successful load and the last failure (for the API and `/metrics`).
    pub fn reload_status(&self) -> ReloadStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Stops every group after its current evaluation. Later reloads fail with `ShutDown`.
    pub async fn shutdown(&self) {
        let mut guard = self.manager.lock().await;
        if let Some(mut m) = guard.take() {
            m.stop().await;
        }
    }
}

fn error_file(e: &RuleFileError) -> Option<String> {
    match e {
        RuleFileError::Read { path, .. }
        | RuleFileError::Yaml { path, .. }
        | RuleFileError::Group { path, .. }
        | RuleFileError::Rule { path, .. } => Some(path.display().to_string()),
        RuleFileError::Pattern { pattern, .. } => Some(pattern.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn eval_slot_is_the_latest_grid_point_not_after_now() {
        let itv = Duration::from_secs(60);
        let off = Duration::from_secs(7);
        // 1_000_000_020 is a multiple of 60 s.
        assert_eq!(eval_slot(at(1_000_000_047), itv, off), at(1_000_000_027));
        assert_eq!(eval_slot(at(1_000_000_027), itv, off), at(1_000_000_027));
        assert_eq!(eval_slot(at(1_000_000_026), itv, off), at(999_999_967));
    }

    #[test]
    fn group_offset_is_stable_and_within_the_interval() {
        let k = GroupKey {
            file: "/etc/rules/node.yml".into(),
            name: "node".into(),
        };
        let itv = Duration::from_secs(30);
        let a = group_offset(&k, itv);
        assert_eq!(a, group_offset(&k.clone(), itv));
        assert!(a < itv);
        let other = GroupKey {
            name: "node2".into(),
            ..k
        };
        assert_ne!(group_offset(&other, itv), a);
    }
}
