//! The alert state machine of one alerting rule, as Prometheus 3.x `rules/alerting.go` runs it.
//!
//! [`Alert`] is one alert instance (one label set) with its lifecycle timestamps; [`AlertState`]
//! is `pending`, `firing` or `inactive` (resolved, kept for [`RESOLVED_RETENTION`] so the
//! resolution is re-sent). [`ActiveAlerts`] holds the alerts of one rule and applies one
//! evaluation's result to them ([`ActiveAlerts::update`]): new label sets start pending, pending
//! alerts fire once they have been active for the rule's `for`, alerts that vanish resolve
//! (unless `keep_firing_for` holds them), pending ones are dropped at once. Which alerts go to
//! the notifier is decided by [`ActiveAlerts::take_to_send`] (upstream `sendAlerts` and
//! `needsSending`).

use crate::store::Labels;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a resolved alert is kept (and re-sent) after it resolved: upstream `resolvedRetention`.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// The minimum time between two sends of the same alert: upstream `--rules.alert.resend-delay`.
pub const DEFAULT_RESEND_DELAY: Duration = Duration::from_secs(60);

/// The state of one alert instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved (or never fired): no longer active.
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Active for at least the rule's `for`, or held by `keep_firing_for`.
    Firing,
}

impl AlertState {
    /// The name Prometheus uses (`alertstate` label, API `state` field).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl std::fmt::Display for AlertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alerts of one alerting rule to send, with the rule's expression, as Prometheus' rules
/// engine calls its notifier (`NotifyFunc(ctx, expr, alerts...)`): the notifier links each
/// alert to its own rule's expression (`generatorURL`), even when several rules share one
/// `alert:` name.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleAlerts {
    /// The rule's expression as written in the rule file.
    pub expr: String,
    pub alerts: Vec<Alert>,
}

/// One alert instance. Times are milliseconds since the epoch. Serializable so the runtime can
/// persist it (labels and annotations serialize as JSON objects).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identifying labels: the expression's result labels without `__name__`, plus the rule's
    /// (expanded) labels and `alertname`. External labels are not included.
    #[serde(with = "labels_as_map")]
    pub labels: Labels,
    /// Expanded annotations.
    #[serde(with = "labels_as_map")]
    pub annotations: Labels,
    pub state: AlertState,
    /// The expression's value at the last evaluation that produced this alert.
    pub value: f64,
    /// When the alert became active (pending); `for` counts from here.
    pub active_at_ms: i64,
    /// When the alert started firing.
    pub fired_at_ms: Option<i64>,
    /// When the alert resolved (became inactive).
    pub resolved_at_ms: Option<i64>,
    /// When the alert was last handed to the notifier.
    pub last_sent_ms: Option<i64>,
    /// Until when the last send is valid: Alertmanager's `endsAt` for a firing alert.
    pub valid_until_ms: i64,
    /// Since when `keep_firing_for` holds the alert firing although the expression no longer
    /// returns it.
    pub keep_firing_since_ms: Option<i64>,
}

impl Alert {
    /// The `endsAt` the notifier should send: the resolution time for a resolved alert,
    /// `valid_until` otherwise (upstream `main.go` `sendAlerts`).
    pub fn ends_at_ms(&self) -> i64 {
        self.resolved_at_ms.unwrap_or(self.valid_until_ms)
    }

    /// Upstream `needsSending`: pending alerts never; a resolution not yet sent at once;
    /// otherwise when the last send is older than `resend_delay` (strictly).
    pub fn needs_sending(&self, t_ms: i64, resend_delay: Duration) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_ms.unwrap_or(i64::MIN);
        if let Some(r) = self.resolved_at_ms {
            if r > last {
                return true;
            }
        }
        match self.last_sent_ms {
            None => true,
            Some(l) => l.saturating_add(resend_delay.as_millis() as i64) < t_ms,
        }
    }
}

/// The alerts of one rule, keyed by their identifying labels.
#[derive(Clone, Debug, Default)]
pub struct ActiveAlerts {
    alerts: BTreeMap<Labels, Alert>,
}

/// One alert candidate produced by an evaluation (labels and annotations already expanded).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
}

impl ActiveAlerts {
    /// Every alert, in label order.
    pub fn iter(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Drops every alert (upstream does this when a rule exceeds the group limit).
    pub fn clear(&mut self) {
        self.alerts.clear();
    }

    /// Puts persisted alerts back, replacing any alert with the same labels.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        for a in alerts {
            self.alerts.insert(a.labels.clone(), a);
        }
    }

    /// Applies one evaluation at `t_ms` (upstream `AlertingRule.Eval` after the query):
    /// returns the number of pending or firing alerts afterwards. `candidates` must have
    /// unique label sets (the caller checks and reports duplicates).
    pub fn update(
        &mut self,
        candidates: Vec<Candidate>,
        t_ms: i64,
        hold: Duration,
        keep_firing_for: Duration,
    ) -> usize {
        let mut seen: std::collections::BTreeSet<Labels> = Default::default();
        for c in candidates {
            seen.insert(c.labels.clone());
            match self.alerts.get_mut(&c.labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = c.value;
                    a.annotations = c.annotations;
                }
                _ => {
                    self.alerts.insert(
                        c.labels.clone(),
                        Alert {
                            labels: c.labels,
                            annotations: c.annotations,
                            state: AlertState::Pending,
                            value: c.value,
                            active_at_ms: t_ms,
                            fired_at_ms: None,
                            resolved_at_ms: None,
                            last_sent_ms: None,
                            valid_until_ms: 0,
                            keep_firing_since_ms: None,
                        },
                    );
                }
            }
        }
        let hold_ms = hold.as_millis() as i64;
        let keep_ms = keep_firing_for.as_millis() as i64;
        let retention_ms = RESOLVED_RETENTION.as_millis() as i64;
        let mut num_active = 0;
        let mut remove = Vec::new();
        for (key, a) in self.alerts.iter_mut() {
            if !seen.contains(key) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_ms > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(t_ms);
                    if t_ms - since < keep_ms {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at_ms.is_some_and(|r| t_ms - r > retention_ms)
                {
                    remove.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(t_ms);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since_ms = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && t_ms - a.active_at_ms >= hold_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(t_ms);
            }
        }
        for k in remove {
            self.alerts.remove(&k);
        }
        num_active
    }

    /// Upstream `sendAlerts`: marks every alert that needs sending at `t_ms` as sent, sets its
    /// `valid_until` to `t + 4 × max(interval, resend_delay)` and returns copies of them.
    pub fn take_to_send(
        &mut self,
        t_ms: i64,
        resend_delay: Duration,
        interval: Duration,
    ) -> Vec<Alert> {
        let delta = resend_delay.max(interval).as_millis() as i64;
        let mut out = Vec::new();
        for a in self.alerts.values_mut() {
            if a.needs_sending(t_ms, resend_delay) {
                a.last_sent_ms = Some(t_ms);
                a.valid_until_ms = t_ms + 4 * delta;
                out.push(a.clone());
            }
        }
        out
    }
}

/// Serde for [`Labels`] as a JSON object `{"name": "value"}`.
pub(crate) mod labels_as_map {
    use super::*;

    pub fn serialize<S: Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, &str> = l.iter().map(|l| (&*l.name, &*l.value)).collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        let m: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
        Ok(Labels::from_pairs(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn cand(instance: &str) -> Candidate {
        Candidate {
            labels: Labels::from_pairs([("alertname", "Down"), ("instance", instance)]),
            annotations: Labels::empty(),
            value: 1.0,
        }
    }

    fn only(a: &ActiveAlerts) -> Alert {
        assert_eq!(a.len(), 1, "{a:?}");
        a.iter().next().cloned().expect("one alert")
    }

    #[test]
    fn pending_then_firing_after_for() {
        let mut a = ActiveAlerts::default();
        let hold = Duration::from_secs(300);
        assert_eq!(a.update(vec![cand("a")], 0, hold, Duration::ZERO), 1);
        assert_eq!(only(&a).state, AlertState::Pending);
        a.update(vec![cand("a")], 4 * MIN, hold, Duration::ZERO);
        assert_eq!(only(&a).state, AlertState::Pending);
        a.update(vec![cand("a")], 5 * MIN, hold, Duration::ZERO);
        let al = only(&a);
        assert_eq!(al.state, AlertState::Firing);
        assert_eq!(al.fired_at_ms, Some(5 * MIN));
        assert_eq!(al.active_at_ms, 0);
    }

    #[test]
    fn pending_alert_that_vanishes_is_dropped_at_once() {
        let mut a = ActiveAlerts::default();
        a.update(vec![cand("a")], 0, Duration::from_secs(300), Duration::ZERO);
        assert_eq!(
            a.update(vec![], MIN, Duration::from_secs(300), Duration::ZERO),
            0
        );
        assert!(a.is_empty());
    }

    #[test]
    fn resolved_alert_is_kept_for_fifteen_minutes_then_dropped() {
        let mut a = ActiveAlerts::default();
        a.update(vec![cand("a")], 0, Duration::ZERO, Duration::ZERO);
        assert_eq!(only(&a).state, AlertState::Firing);
        a.update(vec![], MIN, Duration::ZERO, Duration::ZERO);
        let al = only(&a);
        assert_eq!(al.state, AlertState::Inactive);
        assert_eq!(al.resolved_at_ms, Some(MIN));
        // Exactly 15m after resolving it is still retained (upstream compares with `>`).
        a.update(vec![], 16 * MIN, Duration::ZERO, Duration::ZERO);
        assert_eq!(only(&a).state, AlertState::Inactive);
        a.update(vec![], 16 * MIN + 1, Duration::ZERO, Duration::ZERO);
        assert!(a.is_empty());
    }

    #[test]
    fn resolved_alert_that_returns_starts_pending_again() {
        let mut a = ActiveAlerts::default();
        let hold = Duration::from_secs(120);
        a.update(vec![cand("a")], 0, Duration::ZERO, Duration::ZERO);
        a.update(vec![], MIN, hold, Duration::ZERO);
        a.update(vec![cand("a")], 2 * MIN, hold, Duration::ZERO);
        let al = only(&a);
        assert_eq!(al.state, AlertState::Pending);
        assert_eq!(al.active_at_ms, 2 * MIN);
        assert_eq!(al.resolved_at_ms, None);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut a = ActiveAlerts::default();
        let keep = Duration::from_secs(600);
        a.update(vec![cand("a")], 0, Duration::ZERO, keep);
        assert_eq!(a.update(vec![], MIN, Duration::ZERO, keep), 1);
        let al = only(&a);
        assert_eq!(al.state, AlertState::Firing);
        assert_eq!(al.keep_firing_since_ms, Some(MIN));
        a.update(vec![], 10 * MIN, Duration::ZERO, keep);
        assert_eq!(only(&a).state, AlertState::Firing);
        a.update(vec![], 11 * MIN, Duration::ZERO, keep);
        let al = only(&a);
        assert_eq!(al.state, AlertState::Inactive);
        assert_eq!(al.resolved_at_ms, Some(11 * MIN));
    }

    #[test]
    fn keep_firing_since_resets_when_the_expression_returns_the_alert_again() {
        let mut a = ActiveAlerts::default();
        let keep = Duration::from_secs(600);
        a.update(vec![cand("a")], 0, Duration::ZERO, keep);
        a.update(vec![], MIN, Duration::ZERO, keep);
        a.update(vec![cand("a")], 2 * MIN, Duration::ZERO, keep);
        assert_eq!(only(&a).keep_firing_since_ms, None);
    }

    #[test]
    fn resend_delay_and_valid_until() {
        let mut a = ActiveAlerts::default();
        let resend = DEFAULT_RESEND_DELAY;
        let itv = Duration::from_secs(15);
        a.update(vec![cand("a")], 0, Duration::ZERO, Duration::ZERO);
        let sent = a.take_to_send(0, resend, itv);
        assert_eq!(sent.len(), 1);
        // 4 × max(15s, 1m) = 4m.
        assert_eq!(sent[0].valid_until_ms, 4 * MIN);
        // Not again before the resend delay has passed (strictly).
        assert!(a.take_to_send(30_000, resend, itv).is_empty());
        assert!(a.take_to_send(MIN, resend, itv).is_empty());
        assert_eq!(a.take_to_send(MIN + 15_000, resend, itv).len(), 1);
        // A resolution is sent at once, then re-sent every resend delay while retained.
        a.update(vec![], MIN + 30_000, Duration::ZERO, Duration::ZERO);
        let sent = a.take_to_send(MIN + 30_000, resend, itv);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].state, AlertState::Inactive);
        assert_eq!(sent[0].ends_at_ms(), MIN + 30_000);
        assert!(a.take_to_send(2 * MIN, resend, itv).is_empty());
        assert_eq!(a.take_to_send(3 * MIN, resend, itv).len(), 1);
    }

    #[test]
    fn valid_until_uses_the_group_interval_when_longer_than_resend_delay() {
        let mut a = ActiveAlerts::default();
        a.update(vec![cand("a")], 0, Duration::ZERO, Duration::ZERO);
        let sent = a.take_to_send(0, DEFAULT_RESEND_DELAY, Duration::from_secs(300));
        assert_eq!(sent[0].valid_until_ms, 4 * 5 * MIN);
    }

    #[test]
    fn pending_alerts_are_never_sent() {
        let mut a = ActiveAlerts::default();
        a.update(vec![cand("a")], 0, Duration::from_secs(300), Duration::ZERO);
        assert!(a
            .take_to_send(0, DEFAULT_RESEND_DELAY, Duration::ZERO)
            .is_empty());
    }

    #[test]
    fn alert_round_trips_through_json() {
        let mut a = ActiveAlerts::default();
        a.update(vec![cand("a")], 0, Duration::ZERO, Duration::ZERO);
        let al = only(&a);
        let json = serde_json::to_string(&al).expect("serialize");
        assert!(
            json.contains(r#""labels":{"alertname":"Down","instance":"a"}"#),
            "{json}"
        );
        assert!(json.contains(r#""state":"firing""#), "{json}");
        let back: Alert = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, al);
    }
}
