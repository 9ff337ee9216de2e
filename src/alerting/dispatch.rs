//! The dispatcher (Alertmanager's `dispatch` package): alerts into aggregation groups, and
//! groups flushed into notifications on Alertmanager's schedule.
//!
//! Each alert goes, for every route the tree matches ([`AlertmanagerConfig::destinations`]),
//! into the aggregation group keyed by the route, the chosen receiver and the alert's group
//! labels. A new group waits `group_wait` before its first flush (no wait if the alert
//! started more than `group_wait` ago), then flushes every `group_interval`. A flush:
//!
//! 1. stops if the route is muted now (`mute_time_intervals`) or outside its
//!    `active_time_intervals`;
//! 2. drops silenced and inhibited alerts ([`AlertMuter`]); when none is left it stops there,
//!    as Alertmanager's notification pipeline does: nothing is sent and the notification log
//!    keeps what the receivers were last told;
//! 3. keeps at most `max_alerts_per_group` alerts, dropping (and counting) the oldest;
//! 4. sorts them as Alertmanager does (by `job`, `instance`, then the label sets) and adds
//!    each alert's owner and playbook link;
//! 5. per integration of the receiver, asks the notification log whether anything must be
//!    sent ([`needs_update`]) and hands the notification to delivery.
//!
//! Between 4 and 5, the group's acknowledgements ([`super::ack`]) are asked: an alert they do
//! not cover ends them, and an active one holds a due `repeat_interval` notification.
//!
//! When every integration has succeeded, the resolved alerts that were notified (and not
//! updated meanwhile) leave the group; an empty group is removed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::ack::Acks;
use super::alert::Alert;
use super::delivery::{Begin, Delivery, DeliveryJob, DeliveryOutcome, IntegrationQueue};
use super::history::{Suppressed, Suppression};
use super::nflog::{needs_update, NflogKey};
use super::notify::{Notification, NotificationReason, NotifiedAlert};
use crate::clock::SharedClock;
use crate::config::alertmanager::owners::Owners;
use crate::config::alertmanager::route::{group_key, RouteOpts};
use crate::config::alertmanager::AlertmanagerConfig;
use crate::store::Labels;

/// Decides whether an alert is silenced or inhibited.
pub trait AlertMuter: Send + Sync {
    /// What mutes notifications about an alert with these labels at `now_ms` (the
    /// inhibition before a silence, as Alertmanager's stages run), if anything.
    fn muted_by(&self, labels: &Labels, now_ms: i64) -> Option<Suppression>;

    /// Whether notifications about an alert with these labels are muted at `now_ms`.
    fn is_muted(&self, labels: &Labels, now_ms: i64) -> bool {
        self.muted_by(labels, now_ms).is_some()
    }
}

/// Mutes nothing.
pub struct NoMuter;

impl AlertMuter for NoMuter {
    fn muted_by(&self, _labels: &Labels, _now_ms: i64) -> Option<Suppression> {
        None
    }
}

/// Dispatcher settings that are not in Alertmanager's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchOptions {
    /// Most alerts in one notification; the oldest beyond it are dropped. Default 1000.
    pub max_alerts_per_group: usize,
    /// Where redline serves playbooks (`<external-url>/playbooks`): an alert with no other
    /// playbook link gets `<playbooks_url>/<alertname>`. `None`: no such fallback.
    pub playbooks_url: Option<String>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            max_alerts_per_group: 1000,
            playbooks_url: None,
        }
    }
}

/// One aggregation group as the API shows it (`/api/v2/alerts/groups`).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSnapshot {
    pub route_id: String,
    pub receiver: String,
    pub group_key: String,
    pub group_labels: Labels,
    /// By fingerprint.
    pub alerts: Vec<Alert>,
    /// When the group's timer fires next (its first flush after `group_wait`, then every
    /// `group_interval` after the start of the previous flush), unix milliseconds.
    pub next_flush_ms: i64,
    /// Whether the group has flushed at least once.
    pub has_flushed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupId {
    route_id: String,
    receiver: String,
    group_key: String,
}

struct AggrGroup {
    id: GroupId,
    group_labels: Labels,
    opts: RouteOpts,
    /// The store's alerts, shared: a group holds a pointer per alert, not a copy.
    alerts: Mutex<std::collections::BTreeMap<u64, Arc<Alert>>>,
    has_flushed: AtomicBool,
    /// See [`GroupSnapshot::next_flush_ms`].
    next_flush_ms: AtomicI64,
    wake: Notify,
}

impl AggrGroup {
    fn alerts(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Arc<Alert>>> {
        self.alerts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The groups and their timer tasks.
type GroupTable = HashMap<GroupId, (Arc<AggrGroup>, JoinHandle<()>)>;

struct Shared {
    config: Arc<AlertmanagerConfig>,
    groups: Mutex<GroupTable>,
    muter: Arc<dyn AlertMuter>,
    delivery: Arc<Delivery>,
    integrations: HashMap<String, Vec<IntegrationQueue>>,
    opts: DispatchOptions,
    clock: SharedClock,
    /// The acknowledgements that hold repeats ([`Dispatcher::set_acks`]); none: no check.
    acks: std::sync::OnceLock<Acks>,
}

/// The running dispatcher of one configuration.
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

/// Alertmanager's `types.AlertSlice` order: by `job`, then `instance` (an alert without the
/// label after one with it), then by the label sets.
pub fn alert_order(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Greater,
            (Some(_), None) => return Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    labels_before(a, b)
}

/// Go's `model.LabelSet.Before`.
fn labels_before(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    let (a, b) = (a.as_slice(), b.as_slice());
    for (x, y) in a.iter().zip(b.iter()) {
        let c = x.name.cmp(&y.name).then_with(|| x.value.cmp(&y.value));
        if c != std::cmp::Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// The time interval that mutes a route at `now_ms`: one of its `mute_time_intervals` it is
/// in, or its `active_time_intervals` when it is in none of them.
pub fn muted_by_time(
    config: &AlertmanagerConfig,
    opts: &RouteOpts,
    now_ms: i64,
) -> Option<Suppression> {
    let t = UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
    let inside = |n: &String| config.time_intervals.get(n).is_some_and(|i| i.contains(t));
    if let Some(name) = opts.mute_time_intervals.iter().find(|n| inside(n)) {
        return Some(Suppression::MuteTimeInterval { name: name.clone() });
    }
    (!opts.active_time_intervals.is_empty() && !opts.active_time_intervals.iter().any(inside)).then(
        || Suppression::ActiveTimeInterval {
            names: opts.active_time_intervals.clone(),
        },
    )
}

/// An alert's owner: its owner label (the owners map), else the receiver notified.
fn owner_for(config: &AlertmanagerConfig, labels: &Labels, receiver: &str) -> String {
    let default_owners = Owners::default();
    let owners = config.owners.as_ref().unwrap_or(&default_owners);
    owners.owner_of(labels).unwrap_or(receiver).to_string()
}

/// The history record of alerts a flush held back.
fn held_back<'a>(
    s: &Shared,
    g: &AggrGroup,
    alerts: impl Iterator<Item = (&'a Alert, Suppression)>,
    now: i64,
) -> Vec<Suppressed<'a>> {
    alerts
        .map(|(a, by)| Suppressed {
            owner: owner_for(&s.config, &a.labels, &g.id.receiver),
            resolved: a.resolved_at(now),
            alert: a,
            by,
        })
        .collect()
}

impl Dispatcher {
    /// A dispatcher for `config`; `integrations` holds each receiver's queues.
    pub fn new(
        config: Arc<AlertmanagerConfig>,
        integrations: HashMap<String, Vec<IntegrationQueue>>,
        muter: Arc<dyn AlertMuter>,
        delivery: Arc<Delivery>,
        opts: DispatchOptions,
        clock: SharedClock,
    ) -> Dispatcher {
        Dispatcher {
            shared: Arc::new(Shared {
                config,
                groups: Mutex::new(HashMap::new()),
                muter,
                delivery,
                integrations,
                opts,
                clock,
                acks: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Lets active acknowledgements hold the groups' repeats (see [`super::ack`]); set once,
    /// before the first alert is processed.
    pub fn set_acks(&self, acks: Acks) {
        let _ = self.shared.acks.set(acks);
    }

    /// The queues of `receiver`'s integrations, in configuration order.
    pub fn queues(&self, receiver: &str) -> &[IntegrationQueue] {
        self.shared
            .integrations
            .get(receiver)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The configuration it dispatches with.
    pub fn config(&self) -> &Arc<AlertmanagerConfig> {
        &self.shared.config
    }

    /// The queue of integration `integration` of `receiver`.
    pub fn queue(&self, receiver: &str, integration: &str) -> Option<&IntegrationQueue> {
        self.shared
            .integrations
            .get(receiver)?
            .iter()
            .find(|q| q.integration() == integration)
    }

    /// Puts an alert (the store's shared copy) into the groups of every route it takes.
    pub fn process(&self, alert: &Arc<Alert>) {
        let s = &self.shared;
        let now = s.clock.now_ms();
        let fp = alert.fingerprint();
        let mut groups = s.groups.lock().unwrap_or_else(|p| p.into_inner());
        for dest in s.config.destinations(&alert.labels) {
            let group_labels = dest.route.group_labels(&alert.labels);
            let id = GroupId {
                route_id: dest.route.id().to_string(),
                receiver: dest.receiver.clone(),
                group_key: group_key(dest.route, &group_labels),
            };
            let group = match groups.get(&id) {
                Some((g, _)) => g.clone(),
                None => {
                    let g = Arc::new(AggrGroup {
                        id: id.clone(),
                        group_labels,
                        opts: dest.route.opts.clone(),
                        alerts: Mutex::new(Default::default()),
                        has_flushed: AtomicBool::new(false),
                        next_flush_ms: AtomicI64::new(
                            now.saturating_add(dest.route.opts.group_wait.as_millis() as i64),
                        ),
                        wake: Notify::new(),
                    });
                    let task = tokio::spawn(run_group(s.clone(), g.clone()));
                    groups.insert(id, (g.clone(), task));
                    g
                }
            };
            group.alerts().insert(fp, alert.clone());
            let wait_ms = group.opts.group_wait.as_millis() as i64;
            if !group.has_flushed.load(Ordering::Acquire)
                && alert.starts_at_ms.saturating_add(wait_ms) < now
            {
                group.next_flush_ms.store(now, Ordering::Release);
                group.wake.notify_one();
            }
        }
    }

    /// The aggregation groups, sorted by route and group key.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        let groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<GroupSnapshot> = groups
            .values()
            .map(|(g, _)| GroupSnapshot {
                route_id: g.id.route_id.clone(),
                receiver: g.id.receiver.clone(),
                group_key: g.id.group_key.clone(),
                group_labels: g.group_labels.clone(),
                alerts: g.alerts().values().map(|a| Alert::clone(a)).collect(),
                next_flush_ms: g.next_flush_ms.load(Ordering::Acquire),
                has_flushed: g.has_flushed.load(Ordering::Acquire),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.route_id, &a.group_key, &a.receiver).cmp(&(&b.route_id, &b.group_key, &b.receiver))
        });
        out
    }

    /// Fingerprints of every alert some group holds.
    pub fn held_fingerprints(&self) -> HashSet<u64> {
        let groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .values()
            .flat_map(|(g, _)| g.alerts().keys().copied().collect::<Vec<_>>())
            .collect()
    }

    /// Stops every group's timer (on reload or shutdown); deliveries already queued go on.
    pub fn stop(&self) {
        let mut groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
        for (_, (_, task)) in groups.drain() {
            task.abort();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run_group(s: Arc<Shared>, g: Arc<AggrGroup>) {
    tokio::select! {
        _ = tokio::time::sleep(g.opts.group_wait) => {}
        _ = g.wake.notified() => {}
    }
    loop {
        // As Alertmanager: the next flush is due group_interval after this one starts,
        // however long delivery takes.
        let next = tokio::time::Instant::now() + g.opts.group_interval;
        let interval_ms = g.opts.group_interval.as_millis() as i64;
        g.next_flush_ms.store(
            s.clock.now_ms().saturating_add(interval_ms),
            Ordering::Release,
        );
        g.has_flushed.store(true, Ordering::Release);
        flush(&s, &g).await;
        {
            let mut groups = s.groups.lock().unwrap_or_else(|p| p.into_inner());
            if g.alerts().is_empty() {
                if let Some((_, task)) = groups.remove(&g.id) {
                    drop(task);
                }
                return;
            }
        }
        tokio::time::sleep_until(next).await;
    }
}

/// Flushes a group once (see the module documentation).
async fn flush(s: &Shared, g: &AggrGroup) {
    let now = s.clock.now_ms();
    let snapshot: Vec<Arc<Alert>> = g.alerts().values().cloned().collect();
    let history = s.delivery.history();
    if let Some(by) = muted_by_time(&s.config, &g.opts, now) {
        tracing::debug!(group_key = %g.id.group_key, "notifications muted by a time interval");
        let held = held_back(s, g, snapshot.iter().map(|a| (&**a, by.clone())), now);
        history.suppressed(&g.id.group_key, &g.id.receiver, "", now, held);
        remove_resolved(g, &snapshot, now);
        return;
    }
    let mut muted: Vec<(&Alert, Suppression)> = Vec::new();
    let mut unmuted: Vec<u64> = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for a in &snapshot {
        match s.muter.muted_by(&a.labels, now) {
            Some(by) => muted.push((a, by)),
            None => {
                unmuted.push(a.fingerprint());
                alerts.push(Alert::clone(a));
            }
        }
    }
    history.unmuted(&g.id.group_key, &g.id.receiver, &unmuted);
    let held = held_back(s, g, muted.into_iter(), now);
    history.suppressed(&g.id.group_key, &g.id.receiver, "", now, held);
    if alerts.is_empty() {
        // As Alertmanager's stages, which stop when the mute stages leave no alert: nothing
        // is deduplicated or sent and the log keeps what the receivers were last told (so a
        // silence ending later does not re-page before repeat_interval). The flush counts as
        // done: the muted resolved alerts leave the group.
        remove_resolved(g, &snapshot, now);
        return;
    }
    let max = s.opts.max_alerts_per_group.max(1);
    if alerts.len() > max {
        alerts.sort_by_key(|a| std::cmp::Reverse(a.starts_at_ms));
        let dropped = alerts.len() - max;
        alerts.truncate(max);
        s.delivery.metrics.dropped_alerts.inc_by(dropped as u64);
        tracing::warn!(
            group_key = %g.id.group_key,
            dropped,
            max_alerts_per_group = max,
            "group has too many alerts; the oldest are left out of the notification"
        );
    }
    alerts.sort_by(|a, b| alert_order(&a.labels, &b.labels));
    let firing: BTreeSet<u64> = alerts
        .iter()
        .filter(|a| !a.resolved_at(now))
        .map(Alert::fingerprint)
        .collect();
    let resolved: BTreeSet<u64> = alerts
        .iter()
        .filter(|a| a.resolved_at(now))
        .map(Alert::fingerprint)
        .collect();
    let notified: Vec<NotifiedAlert> = alerts
        .into_iter()
        .map(|a| NotifiedAlert {
            // An alert without an owner label is owned by the receiver it is sent to.
            owner: Some(owner_for(&s.config, &a.labels, &g.id.receiver)),
            playbook_url: s
                .config
                .playbook_url(&a.labels, a.annotations.get("runbook_url"))
                .or_else(|| {
                    let base = s.opts.playbooks_url.as_deref()?;
                    let name = a.labels.get("alertname").unwrap_or_default();
                    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
                    Some(format!("{base}/{}", name.replace('+', "%20")))
                }),
            alert: a,
        })
        .collect();
    // Acknowledgements: an alert they do not cover ends them; active ones hold repeats.
    let acks = s.acks.get();
    if let Some(acks) = acks {
        acks.end_superseded(&g.id.group_key, &g.id.receiver, &firing, now)
            .await;
    }
    let mut waits: Vec<oneshot::Receiver<DeliveryOutcome>> = Vec::new();
    let mut all_ok = true;
    let deadline = tokio::time::Instant::now() + g.opts.group_interval;
    for q in s
        .integrations
        .get(&g.id.receiver)
        .map_or(&[][..], Vec::as_slice)
    {
        let key = NflogKey {
            group_key: g.id.group_key.clone(),
            receiver: g.id.receiver.clone(),
            integration: q.integration().to_string(),
        };
        let entry = s.delivery.nflog().get(&key, now);
        let send_resolved = q.notifier.send_resolved();
        let Some(reason) = needs_update(
            entry.as_ref(),
            &firing,
            &resolved,
            send_resolved,
            g.opts.repeat_interval,
            now,
        ) else {
            if let Some(e) = &entry {
                let by = Suppression::Dedup {
                    last_sent_at_ms: e.sent_at_ms,
                };
                let held = held_back(s, g, notified.iter().map(|n| (&n.alert, by.clone())), now);
                history.suppressed(&g.id.group_key, &g.id.receiver, q.integration(), now, held);
            }
            continue;
        };
        if reason == NotificationReason::RepeatInterval
            && acks.is_some_and(|a| a.holds_repeat(&g.id.group_key, &g.id.receiver, &firing, now))
        {
            tracing::debug!(group_key = %g.id.group_key, "repeat held by an acknowledgement");
            continue;
        }
        let n = Notification {
            receiver: g.id.receiver.clone(),
            group_key: g.id.group_key.clone(),
            group_labels: g.group_labels.clone(),
            alerts: notified.clone(),
            now_ms: now,
            reason,
        };
        let n = if send_resolved {
            Some(n)
        } else {
            n.without_resolved()
        };
        let Some(n) = n else {
            let held = held_back(
                s,
                g,
                notified
                    .iter()
                    .map(|n| (&n.alert, Suppression::SendResolved)),
                now,
            );
            history.suppressed(&g.id.group_key, &g.id.receiver, q.integration(), now, held);
            s.delivery
                .record_without_sending(&key, firing.clone(), resolved.clone())
                .await;
            continue;
        };
        let generation = match s.delivery.begin(&key, &firing, &resolved) {
            Begin::Send(generation) => generation,
            Begin::InFlight => {
                all_ok = false;
                continue;
            }
        };
        let (done, wait) = oneshot::channel();
        let job = DeliveryJob {
            key,
            notification: n,
            firing: firing.clone(),
            resolved: resolved.clone(),
            deadline,
            pending_id: None,
            generation,
            done: Some(done),
        };
        if q.submit(job).is_err() {
            tracing::warn!(
                receiver = %g.id.receiver,
                integration = q.integration(),
                "the integration's queue is full; the notification waits for the next flush"
            );
            all_ok = false;
            continue;
        }
        waits.push(wait);
    }
    for w in waits {
        let outcome = tokio::time::timeout_at(deadline, w).await;
        if !matches!(outcome, Ok(Ok(DeliveryOutcome::Delivered))) {
            all_ok = false;
        }
    }
    if all_ok {
        remove_resolved(g, &snapshot, now);
    }
}

/// Drops the resolved alerts of `snapshot` that were not updated since.
fn remove_resolved(g: &AggrGroup, snapshot: &[Arc<Alert>], now: i64) {
    let mut held = g.alerts();
    for a in snapshot.iter().filter(|a| a.resolved_at(now)) {
        let fp = a.fingerprint();
        if held.get(&fp) == Some(a) {
            held.remove(&fp);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alerting::notify::{Notifier, NotifyError};
    use crate::alerting::pipeline::{IntegrationFactory, Pipeline, PipelineOptions};
    use crate::alerting::NotificationReason;
    use crate::config::alertmanager::Receiver;
    use futures_util::future::BoxFuture;
    use std::sync::atomic::AtomicBool;

    pub(crate) const T0: i64 = 1_800_000_000_000;
    pub(crate) const SEC: Duration = Duration::from_secs(1);

    /// Records what it is sent; acknowledges unless told to hang.
    pub(crate) struct Recorder {
        send_resolved: bool,
        hang: AtomicBool,
        sent: Mutex<Vec<Notification>>,
    }

    impl Notifier for Recorder {
        fn integration(&self) -> &str {
            "webhook[0]"
        }
        fn send_resolved(&self) -> bool {
            self.send_resolved
        }
        fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
            Box::pin(async move {
                self.sent.lock().unwrap().push(n.clone());
                if self.hang.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
        }
    }

    impl Recorder {
        pub(crate) fn new(send_resolved: bool) -> Arc<Recorder> {
            Arc::new(Recorder {
                send_resolved,
                hang: AtomicBool::new(false),
                sent: Mutex::new(Vec::new()),
            })
        }
        pub(crate) fn sent(&self) -> Vec<Notification> {
            self.sent.lock().unwrap().clone()
        }
    }

    pub(crate) fn factory(rec: Arc<Recorder>) -> IntegrationFactory {
        Arc::new(move |cfg: &AlertmanagerConfig| {
            Ok(cfg
                .receivers
                .iter()
                .map(|r: &Receiver| {
                    let n: Vec<Arc<dyn Notifier>> = if r.webhook_configs.is_empty() {
                        Vec::new()
                    } else {
                        vec![rec.clone()]
                    };
                    (r.name.clone(), n)
                })
                .collect())
        })
    }

    pub(crate) fn config(route: &str) -> Arc<AlertmanagerConfig> {
        let text = format!(
            "route:\n{route}\nreceivers:\n  - name: team\n    webhook_configs: [{{url: 'http://127.0.0.1:9/'}}]\n"
        );
        Arc::new(AlertmanagerConfig::from_yaml_str(&text, "alertmanager.yml").unwrap())
    }

    pub(crate) const ROUTE: &str = "  receiver: team\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h";

    /// A pipeline on [`ROUTE`] with default options, sending to a recorder that takes
    /// resolved notifications.
    pub(crate) async fn start_default() -> (Arc<Recorder>, Pipeline) {
        let rec = Recorder::new(true);
        let p = start(config(ROUTE), rec.clone(), PipelineOptions::default()).await;
        (rec, p)
    }

    pub(crate) async fn start(
        cfg: Arc<AlertmanagerConfig>,
        rec: Arc<Recorder>,
        opts: PipelineOptions,
    ) -> Pipeline {
        Pipeline::start_with_clock(
            cfg,
            opts,
            None,
            factory(rec),
            crate::clock::TokioClock::starting_at_ms(T0).shared(),
        )
        .await
        .unwrap()
    }

    pub(crate) fn alert(p: &Pipeline, pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::empty(),
            starts_at_ms: p.now_ms(),
            ends_at_ms: 0,
            generator_url: String::new(),
            updated_at_ms: 0,
            timeout: false,
        }
    }

    /// Puts one firing alert per label set.
    pub(crate) async fn put(p: &Pipeline, label_sets: &[&[(&str, &str)]]) {
        let alerts = label_sets.iter().map(|pairs| alert(p, pairs)).collect();
        p.put_alerts(alerts).await.unwrap();
    }

    /// Puts one firing `Down` alert per instance.
    pub(crate) async fn put_down(p: &Pipeline, instances: &[&str]) {
        let alerts = instances
            .iter()
            .map(|&i| alert(p, &[("alertname", "Down"), ("instance", i)]))
            .collect();
        p.put_alerts(alerts).await.unwrap();
    }

    pub(crate) fn resolved(mut a: Alert, at: i64) -> Alert {
        a.ends_at_ms = at;
        a
    }

    pub(crate) fn names(n: &Notification) -> Vec<String> {
        n.alerts
            .iter()
            .map(|a| a.alert.labels.get("instance").unwrap_or("").to_string())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn alerts_with_the_same_group_labels_are_notified_together_after_group_wait() {
        let (rec, p) = start_default().await;
        p.put_alerts(vec![
            alert(
                &p,
                &[("alertname", "Down"), ("instance", "b"), ("job", "api")],
            ),
            alert(
                &p,
                &[("alertname", "Down"), ("instance", "a"), ("job", "api")],
            ),
            alert(&p, &[("alertname", "Other"), ("instance", "c")]),
        ])
        .await
        .unwrap();
        tokio::time::sleep(29 * SEC).await;
        assert!(rec.sent().is_empty(), "nothing before group_wait");
        tokio::time::sleep(2 * SEC).await;
        let mut sent = rec.sent();
        sent.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].group_key, r#"{}:{alertname="Down"}"#);
        assert_eq!(names(&sent[0]), ["a", "b"], "Alertmanager's order");
        assert_eq!(sent[0].reason, NotificationReason::NewAlerts);
        assert_eq!(sent[1].group_key, r#"{}:{alertname="Other"}"#);
        assert_eq!(p.groups().len(), 2);
    }

    // Each aggregation group used to hold its own copy of every alert (labels, annotations
    // and URL allocated again per group): memory per active alert doubled with one route and
    // grew with every route an alert takes.
    #[tokio::test(start_paused = true)]
    async fn groups_share_the_stores_alert_instead_of_copying_it() {
        let rec = Recorder::new(true);
        // Two routes: the alert is in two groups.
        let route = format!(
            "{ROUTE}
  routes:
    - {{receiver: team, continue: true}}
    - {{receiver: team, group_by: [job]}}"
        );
        let p = start(config(&route), rec.clone(), PipelineOptions::default()).await;
        p.put_alerts(vec![alert(&p, &[("alertname", "Down"), ("job", "api")])])
            .await
            .unwrap();
        assert_eq!(p.groups().len(), 2, "one group per route");
        let held = p.alerts_shared();
        assert_eq!(held.len(), 1);
        // This test's reference, the store's and one per group: nothing else holds a copy.
        assert_eq!(Arc::strong_count(&held[0]), 1 + 1 + 2);
        // Updated, the alert is still held once, and the groups see the update.
        let mut again = alert(&p, &[("alertname", "Down"), ("job", "api")]);
        again.annotations = Labels::from_pairs([("summary", "now with a summary")]);
        drop(held);
        p.put_alerts(vec![again]).await.unwrap();
        let held = p.alerts_shared();
        assert_eq!(Arc::strong_count(&held[0]), 1 + 1 + 2);
        for g in p.groups() {
            assert_eq!(
                g.alerts[0].annotations.get("summary"),
                Some("now with a summary")
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn group_by_all_labels_makes_one_group_per_alert() {
        let rec = Recorder::new(true);
        let route = ROUTE.replace("[alertname]", "['...']");
        let p = start(config(&route), rec.clone(), PipelineOptions::default()).await;
        put_down(&p, &["a", "b"]).await;
        tokio::time::sleep(31 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 2);
        assert!(sent
            .iter()
            .any(|n| n.group_key == r#"{}:{alertname="Down", instance="a"}"#));
    }

    #[tokio::test(start_paused = true)]
    async fn new_alerts_wait_for_group_interval_and_repeats_wait_for_repeat_interval() {
        let (rec, p) = start_default().await;
        put_down(&p, &["a"]).await;
        tokio::time::sleep(31 * SEC).await;
        assert_eq!(rec.sent().len(), 1);
        // A second alert joins (the first is re-sent, as Prometheus does): told at the next
        // group_interval (30s + 5m), not before.
        put_down(&p, &["a", "b"]).await;
        tokio::time::sleep(4 * 60 * SEC).await;
        assert_eq!(rec.sent().len(), 1);
        tokio::time::sleep(60 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(names(&sent[1]), ["a", "b"]);
        assert_eq!(sent[1].reason, NotificationReason::NewAlerts);
        // Keep the alerts firing (re-sent within resolve_timeout); nothing changes: the next
        // message comes after repeat_interval (1h after the last one, at 5m30s), at the
        // group_interval tick of 70m30s, and no other in the 72 minutes.
        for _ in 0..18 {
            let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
            let b = alert(&p, &[("alertname", "Down"), ("instance", "b")]);
            p.put_alerts(vec![a, b]).await.unwrap();
            tokio::time::sleep(4 * 60 * SEC).await;
        }
        let sent = rec.sent();
        let when: Vec<(i64, NotificationReason)> = sent
            .iter()
            .map(|n| ((n.now_ms - T0) / 1000, n.reason))
            .collect();
        assert_eq!(sent.len(), 3, "one repeat in 72 minutes: {when:?}");
        assert_eq!(sent[2].reason, NotificationReason::RepeatInterval);
    }

    #[tokio::test(start_paused = true)]
    async fn resolution_is_sent_when_send_resolved_and_the_group_then_goes_away() {
        let (rec, p) = start_default().await;
        let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
        p.put_alerts(vec![a.clone()]).await.unwrap();
        tokio::time::sleep(31 * SEC).await;
        p.put_alerts(vec![resolved(a, p.now_ms())]).await.unwrap();
        tokio::time::sleep(5 * 60 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].reason, NotificationReason::Resolved);
        assert!(!sent[1].is_firing());
        assert!(
            p.groups().is_empty(),
            "resolved and notified: the group is removed"
        );
        p.gc().await;
        assert!(
            p.alerts().is_empty(),
            "no group holds the resolved alert any more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn resolution_is_not_sent_without_send_resolved() {
        let rec = Recorder::new(false);
        let p = start(config(ROUTE), rec.clone(), PipelineOptions::default()).await;
        let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
        let b = alert(&p, &[("alertname", "Down"), ("instance", "b")]);
        p.put_alerts(vec![a.clone(), b.clone()]).await.unwrap();
        tokio::time::sleep(31 * SEC).await;
        // One of two resolves: nothing to tell a receiver that ignores resolutions.
        p.put_alerts(vec![resolved(a, p.now_ms())]).await.unwrap();
        tokio::time::sleep(5 * 60 * SEC).await;
        assert_eq!(rec.sent().len(), 1);
        // Both resolved: nothing is sent, the log is cleared and the group removed.
        p.put_alerts(vec![resolved(b, p.now_ms())]).await.unwrap();
        tokio::time::sleep(5 * 60 * SEC).await;
        assert_eq!(rec.sent().len(), 1);
        assert!(p.groups().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn max_alerts_per_group_keeps_the_newest() {
        let rec = Recorder::new(true);
        let opts = PipelineOptions {
            max_alerts_per_group: 2,
            ..PipelineOptions::default()
        };
        let p = start(config(ROUTE), rec.clone(), opts).await;
        for i in ["a", "b", "c"] {
            put_down(&p, &[i]).await;
            tokio::time::sleep(SEC).await;
        }
        tokio::time::sleep(30 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(names(&sent[0]), ["b", "c"], "the oldest, a, is dropped");
    }

    /// A route muted by a time interval sends nothing while an unmuted route in the same
    /// pipeline, flushed on the same schedule, is notified: the control shows the muted
    /// alert would have been sent.
    #[tokio::test(start_paused = true)]
    async fn mute_time_intervals_hold_notifications() {
        let rec = Recorder::new(true);
        let text = format!(
            "route:\n{ROUTE}\n  routes:\n    - receiver: team\n      matchers: ['alertname=\"Down\"']\n      mute_time_intervals: [always]\nreceivers:\n  - name: team\n    webhook_configs: [{{url: 'http://127.0.0.1:9/'}}]\ntime_intervals:\n  - name: always\n    time_intervals: [{{times: [{{start_time: '00:00', end_time: '24:00'}}]}}]\n"
        );
        let cfg = Arc::new(AlertmanagerConfig::from_yaml_str(&text, "am.yml").unwrap());
        let p = start(cfg, rec.clone(), PipelineOptions::default()).await;
        put(&p, &[&[("alertname", "Down")], &[("alertname", "Control")]]).await;
        // Both groups flush at 30s and again at 5m30s, both still firing (resolve_timeout is
        // 5m, the sender re-sends them at 4m); the control is not repeated before 1h.
        tokio::time::sleep(4 * 60 * SEC).await;
        put(&p, &[&[("alertname", "Down")], &[("alertname", "Control")]]).await;
        tokio::time::sleep(2 * 60 * SEC).await;
        let sent: Vec<String> = rec.sent().iter().map(|n| n.group_key.clone()).collect();
        assert_eq!(
            sent,
            [r#"{}:{alertname="Control"}"#],
            "the unmuted group is notified, the muted one is not"
        );
        assert!(
            p.groups().iter().any(|g| g.group_key.contains("Down")),
            "the muted alert is still grouped: {:?}",
            p.groups()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn silenced_alerts_are_left_out() {
        use crate::alerting::silence::Silence;
        let (rec, p) = start_default().await;
        let now = p.now_ms();
        let silence = Silence {
            matchers: crate::config::alertmanager::Matchers(
                crate::config::alertmanager::parse_matchers(r#"{instance="a"}"#).unwrap(),
            ),
            starts_at_ms: now,
            ends_at_ms: now + 3_600_000,
            created_by: "test".into(),
            comment: "maintenance".into(),
            id: String::new(),
            updated_at_ms: 0,
        };
        p.silences().upsert(silence, now).await.unwrap();
        put_down(&p, &["a", "b"]).await;
        tokio::time::sleep(31 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(names(&sent[0]), ["b"]);
    }

    fn silence_for(p: &Pipeline, matchers: &str) -> crate::alerting::silence::Silence {
        let now = p.now_ms();
        crate::alerting::silence::Silence {
            matchers: crate::config::alertmanager::Matchers(
                crate::config::alertmanager::parse_matchers(matchers).unwrap(),
            ),
            starts_at_ms: now,
            ends_at_ms: now + 3_600_000,
            created_by: "test".into(),
            comment: "maintenance".into(),
            id: String::new(),
            updated_at_ms: 0,
        }
    }

    /// Issue #16: silencing an alert already notified sent `{"status":"resolved","alerts":[]}`
    /// at the next flush, and expiring the silence re-paged at once. As Alertmanager (its
    /// stages stop when the mute stages leave no alert), a group whose alerts are all muted
    /// sends nothing and keeps its log entry, so after the silence the alert is repeated only
    /// when `repeat_interval` has passed since it was notified.
    #[tokio::test(start_paused = true)]
    async fn silencing_a_notified_alert_sends_nothing_and_its_expiry_does_not_repage() {
        let (rec, p) = start_default().await;
        let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
        p.put_alerts(vec![a.clone()]).await.unwrap();
        tokio::time::sleep(31 * SEC).await;
        assert_eq!(rec.sent().len(), 1, "notified at 30s");
        let id = p
            .silences()
            .upsert(silence_for(&p, r#"{instance="a"}"#), p.now_ms())
            .await
            .unwrap();
        // Silenced over two flushes (5m30s, 10m30s), the alert kept firing by its sender.
        for _ in 0..3 {
            p.put_alerts(vec![a.clone()]).await.unwrap();
            tokio::time::sleep(4 * 60 * SEC).await;
        }
        assert_eq!(
            rec.sent().len(),
            1,
            "nothing is sent about a muted group: {:?}",
            rec.sent()
        );
        // Expired at 12m31s; flushes at 15m30s and 20m30s see the alert again: the receiver
        // was told at 30s and nothing changed, so nothing is sent before repeat_interval (1h).
        p.silences().expire(&id, p.now_ms()).await.unwrap();
        for _ in 0..3 {
            p.put_alerts(vec![a.clone()]).await.unwrap();
            tokio::time::sleep(3 * 60 * SEC).await;
        }
        assert_eq!(rec.sent().len(), 1, "no re-page before repeat_interval");
        // Control: a resolution is still told.
        p.put_alerts(vec![resolved(a, p.now_ms())]).await.unwrap();
        tokio::time::sleep(5 * 60 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].reason, NotificationReason::Resolved);
        assert_eq!(names(&sent[1]), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn reload_keeps_alerts_and_the_log() {
        let (rec, p) = start_default().await;
        put_down(&p, &["a"]).await;
        tokio::time::sleep(31 * SEC).await;
        assert_eq!(rec.sent().len(), 1);
        p.reload(config(&ROUTE.replace("group_wait: 30s", "group_wait: 10s")))
            .unwrap();
        assert_eq!(p.alerts().len(), 1);
        tokio::time::sleep(60 * SEC).await;
        assert_eq!(
            rec.sent().len(),
            1,
            "the log says the receiver already knows"
        );
    }

    /// Issue #16 (a resolved alert missed the flush after it in some runs, so the group's
    /// last notification still listed it firing, or an uninhibited alert was not told):
    /// `put_alerts` wrote the state database before handing the alerts to the inhibitor and
    /// the groups, so a flush due while the write waited went out without them. As in
    /// Alertmanager, where the dispatcher sees an alert as soon as the API has stored it, the
    /// groups must hold the update while the write still waits for the database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn groups_see_a_posted_resolution_while_the_database_is_busy() {
        let dir = crate::state::test_dir::TempDir::new("pipeline-busy-db");
        let db = crate::state::StateDb::open_in_dir(dir.path()).unwrap();
        let rec = Recorder::new(true);
        let p = Pipeline::start(
            config(ROUTE),
            PipelineOptions::default(),
            Some(db.clone()),
            factory(rec.clone()),
        )
        .await
        .unwrap();
        let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
        p.put_alerts(vec![a.clone()]).await.unwrap();
        // Another connection holds the write lock (the pipeline waits up to its 5s busy
        // timeout).
        let lock = rusqlite::Connection::open(dir.path().join(crate::state::DB_FILE_NAME)).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        let end = p.now_ms() - 1_000;
        let put = tokio::spawn({
            let p = p.clone();
            async move { p.put_alerts(vec![resolved(a, end)]).await }
        });
        let in_group = |p: &Pipeline| {
            p.groups()
                .iter()
                .flat_map(|g| g.alerts.iter())
                .any(|a| a.ends_at_ms == end)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while !in_group(&p) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let seen = in_group(&p);
        let still_writing = !put.is_finished();
        lock.execute_batch("COMMIT").unwrap();
        put.await.unwrap().unwrap();
        assert!(still_writing, "control: the write waited for the lock");
        assert!(
            seen,
            "the group holds the resolution before it is persisted"
        );
        p.shutdown().await;
        db.close().await;
    }

    #[tokio::test(start_paused = true)]
    async fn restart_resends_an_unacknowledged_notification_once() {
        let dir = crate::state::test_dir::TempDir::new("pipeline-restart");
        let db = crate::state::StateDb::open_in_dir(dir.path()).unwrap();
        let hung = Recorder::new(true);
        hung.hang.store(true, Ordering::SeqCst);
        let p1 = Pipeline::start_with_clock(
            config(ROUTE),
            PipelineOptions::default(),
            Some(db.clone()),
            factory(hung.clone()),
            crate::clock::TokioClock::starting_at_ms(T0).shared(),
        )
        .await
        .unwrap();
        p1.put_alerts(vec![alert(
            &p1,
            &[("alertname", "Down"), ("instance", "a")],
        )])
        .await
        .unwrap();
        tokio::time::sleep(31 * SEC).await;
        assert_eq!(hung.sent().len(), 1, "attempted, never acknowledged");
        p1.shutdown().await;
        drop(p1);

        // A new process on the same database.
        let rec = Recorder::new(true);
        let p2 = Pipeline::start_with_clock(
            config(ROUTE),
            PipelineOptions::default(),
            Some(db.clone()),
            factory(rec.clone()),
            crate::clock::TokioClock::starting_at_ms(T0 + 40_000).shared(),
        )
        .await
        .unwrap();
        assert_eq!(p2.alerts().len(), 1, "the alert is restored");
        tokio::time::sleep(2 * SEC).await;
        let sent = rec.sent();
        assert_eq!(sent.len(), 1, "the pending notification is resent");
        assert_eq!(names(&sent[0]), ["a"]);
        // The rebuilt group flushes (its alert is old) and finds the log up to date.
        tokio::time::sleep(2 * 60 * SEC).await;
        assert_eq!(rec.sent().len(), 1, "delivered once");
        p2.shutdown().await;
        db.close().await;
    }
}
