//! "Why was I (not) paged?": everything the pipeline would do with an alert, and why.
//!
//! [`explain`] is a pure function of a label set, a time and the pipeline's state
//! ([`PipelineState`]: the configuration, silences, inhibitor, alerts, aggregation groups,
//! notification log and integrations). Its [`Explanation`] holds:
//!
//! - the route path with every matcher's verdict on every route visited and `continue`
//!   handled as Alertmanager's `Route.Match` ([`routes`]);
//! - per destination, the receiver Alertmanager's tree picks and the one redline notifies
//!   (the `owners:` map and fallback, templated receivers), the owner notifications carry,
//!   `group_by`, the group labels and the group key (Alertmanager's format, as the webhook's
//!   `groupKey`), the group's next flush if the group exists, whether the route's time
//!   intervals mute it now;
//! - per integration of that receiver, what the notification log says (last sent, which
//!   alerts were firing and resolved then, when `repeat_interval` runs out) and when the next
//!   notification would go out if nothing changes, with Alertmanager's reason (`needsUpdate`);
//! - the silences that mute the alert now and the inhibition that applies now (the rule and
//!   the inhibiting alert).
//!
//! [`explain_pipeline`] gathers the state from a running [`Pipeline`]; [`text`] renders an
//! explanation as readable text (`redline explain`). Predictions assume nothing changes
//! before the flush: a silence, a new alert or a resolution changes them.

mod routes;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use routes::{
    matcher_verdict, route_path, IntervalVerdict, MatcherVerdict, RouteVerdict, RouteVisit,
};

use super::alert::{fingerprint, fingerprint_hex, parse_fingerprint, Alert};
use super::dispatch::GroupSnapshot;
use super::inhibit::Inhibitor;
use super::nflog::{needs_update, NflogKey, NotificationLog};
use super::pipeline::{IntegrationInfo, Pipeline};
use super::silence::{Silence, SilenceState};
use crate::config::alertmanager::{
    group_key, AlertmanagerConfig, GroupBy, Owners, ReceiverChoice, RouteOpts,
};
use crate::store::Labels;

/// What [`explain`] reads: the pipeline's state at one moment.
pub struct PipelineState<'a> {
    pub config: &'a AlertmanagerConfig,
    pub silences: &'a [Silence],
    pub inhibitor: &'a Inhibitor,
    /// The alerts held (to show an inhibiting alert's labels).
    pub alerts: &'a [Arc<Alert>],
    pub groups: &'a [GroupSnapshot],
    pub nflog: &'a NotificationLog,
    /// Each receiver's integrations, in configuration order.
    pub integrations: &'a BTreeMap<String, Vec<IntegrationInfo>>,
}

/// A point in time, unix milliseconds; RFC 3339 in JSON (`2026-12-07T20:47:08.5Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i64);

impl Time {
    /// RFC 3339 in UTC (`2026-12-07T20:47:08.5Z`).
    pub fn rfc3339(self) -> String {
        crate::timefmt::rfc3339_nanos(timestamp::system_time(self.0))
    }
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        crate::timefmt::parse_unix_or_rfc3339(&s)
            .map(Time)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid time {s:?}")))
    }
}

/// The time helpers the submodules share.
mod timestamp {
    /// `ms` as a `SystemTime` (negative times as the epoch).
    pub fn system_time(ms: i64) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64)
    }
}

/// The explanation of one label set (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's fingerprint of the labels.
    pub fingerprint: String,
    /// The time everything was evaluated at.
    pub at: Time,
    /// The pipeline's alert with these labels, when it holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertFacts>,
    /// The route tree as walked for these labels.
    pub route: RouteVisit,
    /// The receivers notified, one per destination in match order: `amtool config routes
    /// test` prints the same list (joined by commas) unless redline's owner routing applies.
    pub receivers: Vec<String>,
    pub destinations: Vec<Destination>,
    /// Active silences that match the labels now.
    pub silences: Vec<SilenceMatch>,
    /// The inhibition that mutes the alert now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibition: Option<InhibitionMatch>,
    /// The answer in sentences.
    pub summary: Vec<String>,
}

/// The pipeline's alert with the explained labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFacts {
    /// `firing` or `resolved`.
    pub state: String,
    pub starts_at: Time,
    pub ends_at: Time,
    pub updated_at: Time,
    #[serde(default)]
    pub generator_url: String,
}

/// One route the alert lands on, and what happens there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The route's path in the config (`route.routes[1].routes[0]`).
    pub route: String,
    pub route_id: String,
    /// The receiver Alertmanager would notify (the route's).
    pub route_receiver: String,
    /// The receiver redline notifies.
    pub receiver: String,
    /// `route`, `owner`, `template` or `fallback`.
    pub chosen_by: String,
    /// Why that receiver, in words.
    pub chosen_because: String,
    /// The owner notifications name: the first owner label the alert has, else the receiver.
    pub owner: String,
    /// `label <name>` or `receiver`.
    pub owner_from: String,
    /// The route's `group_by` (`["..."]`: every label).
    pub group_by: Vec<String>,
    pub group_labels: BTreeMap<String, String>,
    /// Alertmanager's group key: the route key, `:`, the group labels.
    pub group_key: String,
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
    /// Whether the route's time intervals mute its notifications now.
    pub muted_by_time: bool,
    /// The aggregation group, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupFacts>,
    /// One entry per integration of the receiver.
    pub integrations: Vec<IntegrationLog>,
}

/// An existing aggregation group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFacts {
    /// How many alerts it holds.
    pub alerts: usize,
    /// Whether the explained alert is one of them.
    pub holds_alert: bool,
    pub has_flushed: bool,
    /// When its timer fires next.
    pub next_flush: Time,
}

/// What the notification log says about one integration and the group, and the next send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationLog {
    /// `webhook[0]`.
    pub integration: String,
    pub send_resolved: bool,
    /// The last notification the integration acknowledged for this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent: Option<Time>,
    /// Fingerprints of the alerts it listed firing and resolved.
    #[serde(default)]
    pub last_firing: Vec<String>,
    #[serde(default)]
    pub last_resolved: Vec<String>,
    /// How the explained alert appeared in it: `firing`, `resolved` or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_last_notified: Option<String>,
    /// `last_sent + repeat_interval`: a flush after this repeats an unchanged group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_due: Option<Time>,
    /// When the next notification goes out if nothing changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_send: Option<Time>,
    /// Its reason: `new_alerts`, `resolved` or `repeat_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_send_reason: Option<String>,
    /// The same in words, or why nothing will be sent.
    pub next_send_note: String,
}

/// An active silence that matches the labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatch {
    pub id: String,
    pub created_by: String,
    pub comment: String,
    pub matchers: String,
    pub starts_at: Time,
    pub ends_at: Time,
}

/// The inhibition that applies: Alertmanager reports the first rule that inhibits and one
/// source alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InhibitionMatch {
    /// The rule's index in `inhibit_rules`.
    pub rule: usize,
    pub source_matchers: String,
    pub target_matchers: String,
    pub equal: Vec<String>,
    pub source_fingerprint: String,
    /// The inhibiting alert's labels (when the pipeline still holds it).
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn fmt_duration(d: std::time::Duration) -> String {
    crate::timefmt::format_duration(d)
}

/// Explains `labels` at `now_ms` (see the module documentation). `alert` is the pipeline's
/// alert with these labels, when it holds one.
pub fn explain(
    state: &PipelineState<'_>,
    labels: &Labels,
    alert: Option<&Alert>,
    now_ms: i64,
) -> Explanation {
    let fp = fingerprint(labels);
    let route = route_path(state.config, labels, now_ms);
    let silences: Vec<SilenceMatch> = state
        .silences
        .iter()
        .filter(|s| s.state(now_ms) == SilenceState::Active && s.matches(labels))
        .map(|s| SilenceMatch {
            id: s.id.clone(),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            matchers: s.matchers.to_string(),
            starts_at: Time(s.starts_at_ms),
            ends_at: Time(s.ends_at_ms),
        })
        .collect();
    let inhibition = state
        .inhibitor
        .inhibition(labels, now_ms)
        .and_then(|(i, source)| {
            let rule = state.inhibitor.rules().get(i)?;
            Some(InhibitionMatch {
                rule: i,
                source_matchers: rule.source_matchers.to_string(),
                target_matchers: rule.target_matchers.to_string(),
                equal: rule.equal.clone(),
                source_fingerprint: fingerprint_hex(source),
                source_labels: state
                    .alerts
                    .iter()
                    .find(|a| a.fingerprint() == source)
                    .map(|a| label_map(&a.labels))
                    .unwrap_or_default(),
            })
        });
    let subject = Subject {
        fp,
        alert,
        muted: !silences.is_empty() || inhibition.is_some(),
    };
    let destinations: Vec<Destination> = state
        .config
        .destinations(labels)
        .into_iter()
        .map(|d| destination(state, &subject, labels, d, now_ms))
        .collect();
    let mut ex = Explanation {
        labels: label_map(labels),
        fingerprint: fingerprint_hex(fp),
        at: Time(now_ms),
        alert: alert.map(|a| AlertFacts {
            state: if a.resolved_at(now_ms) {
                "resolved"
            } else {
                "firing"
            }
            .to_string(),
            starts_at: Time(a.starts_at_ms),
            ends_at: Time(a.ends_at_ms),
            updated_at: Time(a.updated_at_ms),
            generator_url: a.generator_url.clone(),
        }),
        route,
        receivers: destinations.iter().map(|d| d.receiver.clone()).collect(),
        destinations,
        silences,
        inhibition,
        summary: Vec::new(),
    };
    ex.summary = summary(&ex);
    ex
}

/// Explains `labels` with `config` alone: as for a pipeline that holds nothing (no alerts,
/// silences, groups, notifications or integrations). The route path and the destinations'
/// receivers, owners and group keys are those of a running pipeline.
pub fn explain_config(config: &AlertmanagerConfig, labels: &Labels, now_ms: i64) -> Explanation {
    let inhibitor = Inhibitor::new(&config.inhibit_rules);
    let nflog = NotificationLog::new(super::nflog::DEFAULT_NFLOG_RETENTION);
    let state = PipelineState {
        config,
        silences: &[],
        inhibitor: &inhibitor,
        alerts: &[],
        groups: &[],
        nflog: &nflog,
        integrations: &BTreeMap::new(),
    };
    explain(&state, labels, None, now_ms)
}

/// The explained alert as the flush sees it.
struct Subject<'a> {
    fp: u64,
    alert: Option<&'a Alert>,
    /// Silenced or inhibited now.
    muted: bool,
}

fn destination(
    state: &PipelineState<'_>,
    subject: &Subject<'_>,
    labels: &Labels,
    d: crate::config::alertmanager::Destination<'_>,
    now_ms: i64,
) -> Destination {
    let opts = &d.route.opts;
    let group_labels = d.route.group_labels(labels);
    let key = group_key(d.route, &group_labels);
    let default_owners = Owners::default();
    let owners = state.config.owners.as_ref().unwrap_or(&default_owners);
    let owner_label = owners.labels.iter().find(|l| labels.get(l).is_some());
    let (owner, owner_from) = match owner_label {
        Some(l) => (
            labels.get(l).unwrap_or_default().to_string(),
            format!("label {l}"),
        ),
        None => (d.receiver.clone(), "receiver".to_string()),
    };
    let (chosen_by, chosen_because) = match &d.chosen_by {
        ReceiverChoice::Route => ("route", "the matching route's receiver".to_string()),
        ReceiverChoice::Owner(o) => (
            "owner",
            format!(
                "owners.receivers maps owner {o:?} to it (the route's receiver is the root's)"
            ),
        ),
        ReceiverChoice::Template => (
            "template",
            format!(
                "the route's receiver template {:?} renders to it",
                opts.receiver_template
                    .as_ref()
                    .map_or(opts.receiver.as_str(), |t| t.source())
            ),
        ),
        ReceiverChoice::Fallback { rendered: Some(n) } => (
            "fallback",
            format!("the route's receiver template renders {n:?}, which does not exist: the fallback receiver"),
        ),
        ReceiverChoice::Fallback { rendered: None } => (
            "fallback",
            "no owners.receivers entry for the alert's owner: the fallback receiver".to_string(),
        ),
    };
    let group = state
        .groups
        .iter()
        .find(|g| g.route_id == d.route.id() && g.receiver == d.receiver && g.group_key == key);
    let muted_by_time =
        crate::alerting::dispatch::muted_by_time(state.config, opts, now_ms).is_some();
    let flush_at = next_flush(group, subject, opts, now_ms);
    let integrations = state
        .integrations
        .get(&d.receiver)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|info| {
            let nflog_key = NflogKey {
                group_key: key.clone(),
                receiver: d.receiver.clone(),
                integration: info.integration.clone(),
            };
            integration_log(
                state,
                subject,
                group,
                info,
                &nflog_key,
                opts,
                muted_by_time,
                flush_at,
                now_ms,
            )
        })
        .collect();
    Destination {
        route: d.route.config_path().to_string(),
        route_id: d.route.id().to_string(),
        route_receiver: opts.receiver.clone(),
        receiver: d.receiver.clone(),
        chosen_by: chosen_by.to_string(),
        chosen_because,
        owner,
        owner_from,
        group_by: match &opts.group_by {
            GroupBy::All => vec!["...".to_string()],
            GroupBy::Labels(names) => names.clone(),
        },
        group_labels: label_map(&group_labels),
        group_key: key,
        group_wait: fmt_duration(opts.group_wait),
        group_interval: fmt_duration(opts.group_interval),
        repeat_interval: fmt_duration(opts.repeat_interval),
        muted_by_time,
        group: group.map(|g| GroupFacts {
            alerts: g.alerts.len(),
            holds_alert: g.alerts.iter().any(|a| a.fingerprint() == subject.fp),
            has_flushed: g.has_flushed,
            next_flush: Time(g.next_flush_ms),
        }),
        integrations,
    }
}

/// When the group flushes next: its timer, or for a group that does not exist yet
/// `group_wait` from now (at once for an alert that started more than `group_wait` ago, as
/// the dispatcher does).
fn next_flush(
    group: Option<&GroupSnapshot>,
    subject: &Subject<'_>,
    opts: &RouteOpts,
    now_ms: i64,
) -> i64 {
    let wait = opts.group_wait.as_millis() as i64;
    match group {
        Some(g) => g.next_flush_ms.max(now_ms),
        None => match subject.alert {
            Some(a) if a.starts_at_ms.saturating_add(wait) < now_ms => now_ms,
            _ => now_ms.saturating_add(wait),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn integration_log(
    state: &PipelineState<'_>,
    subject: &Subject<'_>,
    group: Option<&GroupSnapshot>,
    info: &IntegrationInfo,
    key: &NflogKey,
    opts: &RouteOpts,
    muted_by_time: bool,
    flush_at: i64,
    now_ms: i64,
) -> IntegrationLog {
    let entry = state.nflog.get(key, now_ms);
    let fp_hex = |s: &BTreeSet<u64>| s.iter().map(|f| fingerprint_hex(*f)).collect::<Vec<_>>();
    let repeat_ms = opts.repeat_interval.as_millis() as i64;
    let mut log = IntegrationLog {
        integration: info.integration.clone(),
        send_resolved: info.send_resolved,
        last_sent: entry.as_ref().map(|e| Time(e.sent_at_ms)),
        last_firing: entry
            .as_ref()
            .map(|e| fp_hex(&e.firing))
            .unwrap_or_default(),
        last_resolved: entry
            .as_ref()
            .map(|e| fp_hex(&e.resolved))
            .unwrap_or_default(),
        alert_last_notified: entry.as_ref().and_then(|e| {
            if e.firing.contains(&subject.fp) {
                Some("firing".to_string())
            } else if e.resolved.contains(&subject.fp) {
                Some("resolved".to_string())
            } else {
                None
            }
        }),
        repeat_due: entry
            .as_ref()
            .map(|e| Time(e.sent_at_ms.saturating_add(repeat_ms))),
        next_send: None,
        next_send_reason: None,
        next_send_note: String::new(),
    };
    if muted_by_time {
        log.next_send_note =
            "the route's time intervals mute it now: its flushes send nothing".to_string();
        return log;
    }
    // The flush at `flush_at`: the group's alerts not silenced or inhibited now, split into
    // firing and resolved at that time, plus the explained alert if it would join.
    let is_muted = |a: &Alert| {
        state
            .silences
            .iter()
            .any(|s| s.state(now_ms) == SilenceState::Active && s.matches(&a.labels))
            || state.inhibitor.inhibition(&a.labels, now_ms).is_some()
    };
    let mut firing = BTreeSet::new();
    let mut resolved = BTreeSet::new();
    for a in group.map_or(&[][..], |g| g.alerts.as_slice()) {
        if is_muted(a) {
            continue;
        }
        if a.resolved_at(flush_at) {
            resolved.insert(a.fingerprint());
        } else {
            firing.insert(a.fingerprint());
        }
    }
    let in_group = group.is_some_and(|g| g.alerts.iter().any(|a| a.fingerprint() == subject.fp));
    if !in_group && !subject.muted && subject.alert.is_none_or(|a| !a.resolved_at(flush_at)) {
        firing.insert(subject.fp);
    }
    if firing.is_empty() && resolved.is_empty() {
        log.next_send_note = if subject.muted {
            "the alert is muted and no other alert of its group would be sent".to_string()
        } else {
            "nothing to send".to_string()
        };
        return log;
    }
    let reason = needs_update(
        entry.as_ref(),
        &firing,
        &resolved,
        info.send_resolved,
        opts.repeat_interval,
        flush_at,
    );
    let muted_note = if subject.muted {
        " (without this alert, which is muted)"
    } else {
        ""
    };
    match (reason, &entry) {
        (Some(r), _) => {
            log.next_send = Some(Time(flush_at));
            log.next_send_reason = Some(r.as_str().to_string());
            log.next_send_note = format!(
                "{} at the group's next flush{muted_note}",
                match r {
                    crate::alerting::NotificationReason::NewAlerts =>
                        "firing alerts the integration was not told about are sent",
                    crate::alerting::NotificationReason::Resolved => "resolved alerts are sent",
                    crate::alerting::NotificationReason::RepeatInterval =>
                        "repeat_interval has passed: the group is sent again",
                }
            );
        }
        (None, Some(e)) if !firing.is_empty() => {
            // Repeated at the first flush strictly after last_sent + repeat_interval.
            let due = e.sent_at_ms.saturating_add(repeat_ms);
            let gi = (opts.group_interval.as_millis() as i64).max(1);
            let at = if flush_at > due {
                flush_at
            } else {
                flush_at.saturating_add(((due - flush_at) / gi + 1).saturating_mul(gi))
            };
            log.next_send = Some(Time(at));
            log.next_send_reason = Some("repeat_interval".to_string());
            log.next_send_note = format!(
                "already notified and unchanged: repeated at the first flush after repeat_interval ({}){muted_note}",
                fmt_duration(opts.repeat_interval)
            );
        }
        (None, _) => {
            log.next_send_note = "already notified; nothing new to send".to_string();
        }
    }
    log
}

fn summary(ex: &Explanation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = &ex.alert {
        out.push(format!(
            "The alert is {} (since {}).",
            a.state,
            if a.state == "resolved" {
                a.ends_at
            } else {
                a.starts_at
            }
            .rfc3339()
        ));
    } else {
        out.push("No alert with these labels is held now; this is where one would go.".into());
    }
    for s in &ex.silences {
        out.push(format!(
            "Silenced by {} (created by {}: {:?}) until {}: no receiver is told about it.",
            s.id,
            s.created_by,
            s.comment,
            s.ends_at.rfc3339()
        ));
    }
    if let Some(i) = &ex.inhibition {
        let name = i
            .source_labels
            .get("alertname")
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        out.push(format!(
            "Inhibited by alert {}{name} under inhibit_rules[{}]: no receiver is told about it.",
            i.source_fingerprint, i.rule
        ));
    }
    for d in &ex.destinations {
        out.push(format!(
            "Routed by {} to {} (owner {}), group {}.",
            d.route, d.receiver, d.owner, d.group_key
        ));
        if d.muted_by_time {
            out.push(format!(
                "  {}: muted now by the route's time intervals.",
                d.receiver
            ));
        }
        for i in &d.integrations {
            let when = i
                .next_send
                .map(|t| format!(" next send {}", t.rfc3339()))
                .unwrap_or_default();
            out.push(format!(
                "  {}/{}:{when} — {}.",
                d.receiver, i.integration, i.next_send_note
            ));
        }
        if d.integrations.is_empty() {
            out.push(format!(
                "  {} has no integrations: nothing is sent.",
                d.receiver
            ));
        }
    }
    out
}

/// What to explain: a label set, or the alert with a fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Labels(Labels),
    /// 16 hex digits, as Alertmanager prints fingerprints.
    Fingerprint(String),
}

/// Why a running pipeline cannot explain a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("invalid fingerprint {0:?}: expected 16 hexadecimal digits")]
    InvalidFingerprint(String),
    #[error("no alert with fingerprint {0}")]
    UnknownAlert(String),
}

/// Explains a label set or an alert of a running pipeline, now.
pub fn explain_pipeline(p: &Pipeline, what: &Target) -> Result<Explanation, ExplainError> {
    let alerts = p.alerts_shared();
    let (labels, alert) = match what {
        Target::Fingerprint(hex) => {
            let fp = parse_fingerprint(&hex.to_ascii_lowercase())
                .ok_or_else(|| ExplainError::InvalidFingerprint(hex.clone()))?;
            let a = alerts
                .iter()
                .find(|a| a.fingerprint() == fp)
                .ok_or_else(|| ExplainError::UnknownAlert(fingerprint_hex(fp)))?;
            (a.labels.clone(), Some(a.clone()))
        }
        Target::Labels(l) => {
            let fp = fingerprint(l);
            (
                l.clone(),
                alerts.iter().find(|a| a.fingerprint() == fp).cloned(),
            )
        }
    };
    let config = p.config();
    let silences = p.silences().list();
    let inhibitor = p.inhibitor();
    let groups = p.groups();
    let integrations = p.receiver_integrations();
    let state = PipelineState {
        config: &config,
        silences: &silences,
        inhibitor: &inhibitor,
        alerts: &alerts,
        groups: &groups,
        nflog: p.notification_log(),
        integrations: &integrations,
    };
    Ok(explain(&state, &labels, alert.as_deref(), p.now_ms()))
}

#[cfg(test)]
mod tests;
