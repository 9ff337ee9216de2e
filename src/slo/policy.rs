//! Alert policies: the burn-rate alerts an SLO spec names itself, in place of the default page
//! and ticket tiers (OpenSLO's `AlertPolicy` with its `AlertCondition` and
//! `AlertNotificationTarget`s, read by [`super::openslo`]).
//!
//! A [`PolicyAlert`] is one single-window burn-rate condition: it holds when the SLO's burn rate
//! over `lookback` is above `threshold` and the window holds the traffic the low-traffic guard
//! asks for. Like a Prometheus rule with `for`, it is *pending* from the round it starts to
//! hold and *firing* once it has held for `alert_after`; it resolves the round it stops
//! holding. [`policy_rows`] decides that from the ledger and the rounds' earlier states, and
//! [`policy_alerts`] turns the rows into the alerts the engine sends down the same path as the
//! tier alerts (labels `owner`, `slo`, `service`, `severity`, playbook link).
//!
//! **Notification targets.** The engine sends one alert per notification target, each with the
//! label `notification_target` set to the target's name, so an Alertmanager route matches it
//! with a plain equality matcher; each target's alert is grouped, silenced and resolved on its
//! own. (One alert with a label listing every target would need regular-expression matchers
//! that break when one target's name is part of another's.)
//!
//! **Resolved notifications.** Whether a resolution is notified is decided, as in Alertmanager,
//! by each integration's `send_resolved` (the dispatcher drops resolved alerts from the
//! notification of an integration without it); an alert source cannot ask for it per alert: an
//! alert the engine stopped refreshing resolves when its `ends_at` passes, and is notified as
//! resolved all the same. So the engine resolves a policy alert like any other and puts the
//! policy's `alertWhenResolved` on it as the label `alert_when_resolved` (`true`/`false`), for a
//! route to send it to a receiver whose integrations' `send_resolved` says the same
//! (`rules/slo/README.md` shows the route).

use super::engine::{alert_annotations, alert_labels, SloFigures, WantedAlert};
use super::ledger::Ledger;
use super::spec::{round12, window_name, Alerting, Objective};
use super::Diag;
use crate::store::Labels;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest lookback window: the ledger keeps each minute of the last three days.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(3 * 86_400);

/// One alert of an alert policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyAlert {
    /// The policy's name, the alert's `alert_policy` label.
    pub policy: String,
    /// The alert name: the policy's name in CamelCase.
    pub alert: String,
    /// The condition's severity, the `severity` label.
    pub severity: String,
    /// The burn rate the lookback window must exceed.
    pub threshold: f64,
    pub lookback: Duration,
    /// How long the condition holds before the alert fires (the rule's `for`).
    pub alert_after: Duration,
    /// Fire when the condition holds (`alertWhenBreaching`).
    pub when_breaching: bool,
    /// Fire `<alert>NoData` when the SLI has no data (`alertWhenNoData`).
    pub when_no_data: bool,
    /// The `alert_when_resolved` label (`alertWhenResolved`).
    pub when_resolved: bool,
    /// At least one.
    pub targets: Vec<NotificationTarget>,
    /// The policy's and the condition's descriptions.
    pub description: String,
}

/// Where a policy's alerts are sent: a name routes match on, and what the spec says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationTarget {
    pub name: String,
    /// `email`, `slack`, … as written.
    pub target: String,
    pub description: String,
}

impl Alerting {
    /// With alert policies, the SLO's alerts are exactly the policies' ones: the page and
    /// ticket tiers are switched off (their burn rates are still measured).
    pub fn with_policies(mut self, policies: Vec<PolicyAlert>) -> Alerting {
        if !policies.is_empty() {
            self.page.enabled = false;
            self.ticket.enabled = false;
        }
        self.policies = policies;
        self
    }
}

/// Checks a condition's burn-rate threshold: a number > 0.
pub(crate) fn check_threshold(d: &mut Diag, field: &str, threshold: Option<f64>) -> Option<f64> {
    match threshold {
        Some(t) if t.is_finite() && t > 0.0 => Some(t),
        Some(t) => {
            d.err(
                field,
                format!("the burn rate to alert above, a number > 0; got {t}"),
            );
            None
        }
        None => {
            d.err(
                field,
                "a burnrate condition needs threshold, the burn rate to alert above, e.g. 2",
            );
            None
        }
    }
}

/// Checks a lookback window: whole minutes (the ledger's step), from 1m to [`MAX_LOOKBACK`].
pub(crate) fn check_lookback(d: &mut Diag, field: &str, text: Option<&str>) -> Option<Duration> {
    let Some(text) = text else {
        d.err(field, "a burnrate condition needs lookbackWindow, e.g. 1h");
        return None;
    };
    let w = super::spec::check_duration(d, field, text)?;
    if w.subsec_nanos() != 0 || !w.as_secs().is_multiple_of(60) || w > MAX_LOOKBACK {
        d.err(
            field,
            format!("a lookback window is a whole number of minutes up to 3d (redline keeps each minute of the last three days); got {text}"),
        );
        return None;
    }
    Some(w)
}

/// Checks `alertAfter`: a duration ≥ 0; absent is 0 (fire at the first round that breaches).
pub(crate) fn check_alert_after(d: &mut Diag, field: &str, text: Option<&str>) -> Option<Duration> {
    match text.map(crate::timefmt::parse_duration) {
        None => Some(Duration::ZERO),
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            d.err(field, e.to_string());
            None
        }
    }
}

/// The checks that depend on the SLO a policy is attached to: a threshold the error ratio can
/// exceed, a lookback no longer than the SLO's period.
pub(crate) fn check_for_slo(
    d: &mut Diag,
    field: &str,
    p: &PolicyAlert,
    objective: Objective,
    period: Duration,
) {
    let ratio = p.threshold * objective.error_budget();
    if p.when_breaching && ratio >= 1.0 {
        d.err(
            format!("{field}.threshold"),
            format!(
                "burn rate {} × error budget {} = {} ≥ 1: an error ratio can never exceed it, so the alert could never fire",
                p.threshold,
                objective.error_budget(),
                round12(ratio)
            ),
        );
    }
    if p.lookback > period {
        d.err(
            format!("{field}.lookbackWindow"),
            format!(
                "the lookback window {} is longer than the SLO's period {}",
                window_name(p.lookback),
                window_name(period)
            ),
        );
    }
}

/// A policy alert's state after a round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyAlertRow {
    pub alert: String,
    pub policy: String,
    pub severity: String,
    pub lookback_window: String,
    pub threshold: f64,
    /// The burn rate over the lookback window.
    pub burn_rate: f64,
    /// Events counted in the lookback window (what the low-traffic guard counts).
    pub window_events: f64,
    /// Above the threshold, but the window holds less traffic than the guard asks for.
    pub held_low_traffic: bool,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
    /// Since when the condition holds (ms), while pending or firing.
    pub active_since_ms: Option<i64>,
    /// The notification targets' names.
    pub notification_targets: Vec<String>,
}

/// The rows of an SLO's policy alerts for the round whose first incomplete step is `to`;
/// `since` holds each alert's `active_since_ms` after the previous round. The wait is counted
/// in ledger steps (each stands for a minute), as the windows are.
pub(crate) fn policy_rows(
    alerting: &Alerting,
    ledger: &Ledger,
    since: &[Option<i64>],
    error_budget: f64,
    to: i64,
    step_ms: i64,
) -> Vec<PolicyAlertRow> {
    let now_ms = to * step_ms;
    alerting
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let steps = (p.lookback.as_secs() as i64 / 60).max(1);
            let burn =
                super::figures::burn_rate(ledger.budget_counts(to - steps, to), error_budget);
            let events = ledger.sum(to - steps, to).total;
            let above = p.when_breaching && burn > p.threshold;
            let guard_ok = alerting.min_traffic.met(events, p.lookback.as_secs_f64());
            let holds = above && guard_ok;
            let active_since_ms = holds.then(|| since.get(i).copied().flatten().unwrap_or(now_ms));
            let firing = active_since_ms.is_some_and(|s| {
                (now_ms - s) as f64 / step_ms as f64 >= p.alert_after.as_secs_f64() / 60.0
            });
            PolicyAlertRow {
                alert: p.alert.clone(),
                policy: p.policy.clone(),
                severity: p.severity.clone(),
                lookback_window: window_name(p.lookback),
                threshold: p.threshold,
                burn_rate: burn,
                window_events: events,
                held_low_traffic: above && !guard_ok,
                state: match (active_since_ms, firing) {
                    (None, _) => "inactive",
                    (Some(_), false) => "pending",
                    (Some(_), true) => "firing",
                }
                .to_string(),
                active_since_ms,
                notification_targets: p.targets.iter().map(|t| t.name.clone()).collect(),
            }
        })
        .collect()
}

/// The names of the policies' alerts firing after a round (each once, whatever its targets).
pub(crate) fn policy_firing(
    alerting: &Alerting,
    rows: &[PolicyAlertRow],
    data_absent: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (p, r) in alerting.policies.iter().zip(rows) {
        if r.state == "firing" {
            out.push(p.alert.clone());
        }
        if data_absent && p.when_no_data {
            out.push(no_data_alert(p));
        }
    }
    out
}

/// The name of a policy's no-data alert.
pub fn no_data_alert(p: &PolicyAlert) -> String {
    format!("{}NoData", p.alert)
}

/// The labels a policy alert for `target` carries beside the SLO's own.
pub fn target_labels(p: &PolicyAlert, t: &NotificationTarget) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("alert_policy".to_string(), p.policy.clone()),
        ("notification_target".to_string(), t.name.clone()),
        (
            "alert_when_resolved".to_string(),
            p.when_resolved.to_string(),
        ),
    ])
}

/// The annotations a policy alert for `target` carries beside summary and description.
pub fn target_annotations(t: &NotificationTarget) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([("notification_target_type".to_string(), t.target.clone())]);
    if !t.description.is_empty() {
        a.insert(
            "notification_target_description".into(),
            t.description.clone(),
        );
    }
    a
}

/// The alerts an SLO's policies call for after a round: per firing policy, and per policy
/// with `when_no_data` while the SLI has no data, one alert per notification target.
pub(crate) fn policy_alerts(
    alerting: &Alerting,
    spec: &super::SloSpec,
    f: &SloFigures,
    external_url: &str,
) -> Vec<WantedAlert> {
    let who = format!("{}/{}", spec.service, spec.name);
    let mut out = Vec::new();
    for (p, row) in alerting.policies.iter().zip(&f.policy_alerts) {
        let mut wanted = Vec::new();
        if row.state == "firing" {
            wanted.push((
                p.alert.clone(),
                row.lookback_window.clone(),
                format!(
                    "SLO {who} is burning its error budget {:.1}x too fast over {}",
                    row.burn_rate, row.lookback_window
                ),
                format!(
                    "Burn rate {:.2} over {}, above {} for {} (alert policy {}; objective {} % over {}); {:.1} % of the budget left.{}",
                    row.burn_rate,
                    row.lookback_window,
                    p.threshold,
                    crate::timefmt::format_duration(p.alert_after),
                    p.policy,
                    f.objective,
                    f.window,
                    f.error_budget.remaining_ratio * 100.0,
                    described(&p.description)
                ),
            ));
        }
        if f.data_absent && p.when_no_data {
            wanted.push((
                no_data_alert(p),
                "absent".to_string(),
                format!("SLO {who} has no SLI data"),
                format!(
                    "The SLI of {who} returned no data for {} minutes or more, so alert policy {} cannot measure its burn rate.{}",
                    super::engine::ABSENT_STEPS,
                    p.policy,
                    described(&p.description)
                ),
            ));
        }
        for (alertname, tier, summary, description) in wanted {
            for t in &p.targets {
                out.push(WantedAlert {
                    labels: Labels::from_pairs(alert_labels(
                        spec,
                        &alertname,
                        &p.severity,
                        &tier,
                        &target_labels(p, t),
                    )),
                    annotations: alert_annotations(
                        spec,
                        external_url,
                        &alertname,
                        &target_annotations(t),
                        summary.clone(),
                        description.clone(),
                    ),
                });
            }
        }
    }
    out
}

fn described(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" {description}")
    }
}

#[cfg(test)]
mod tests {
    use crate::slo::engine::{compute_figures, decide_alerts, SloRuntime, BURN_RATE_ALERT};
    use crate::slo::figures::Counts;
    use crate::slo::sli::SliSource;
    use std::sync::Arc;

    const STEP: i64 = 60_000;

    /// The OpenSLO example: AlertPolicy (1h burn above 2 for 5m; mail and Slack targets) and
    /// slow-burn (1d burn above 1.5 for 30m, no-data alert; one target), budget 0.001. Its
    /// ledger is filled by hand: 1000 events a minute from step 0, 500 of them bad in steps
    /// 100 … 109.
    fn runtime() -> SloRuntime {
        let spec = crate::slo::load_file(std::path::Path::new(
            "tests/data/slo/openslo/alert-policies.yml",
        ))
        .unwrap()
        .remove(0);
        let mut rt = SloRuntime::new(spec, SliSource::Probe(Arc::default()));
        for s in 0..400 {
            let bad = if (100..110).contains(&s) { 500.0 } else { 0.0 };
            rt.ledger.record(s, Counts::new(bad, 1000.0));
        }
        rt
    }

    /// One round: figures at `to`, and the policies' states kept for the next, as the
    /// engine's round does.
    fn round(rt: &mut SloRuntime, to: i64) -> crate::slo::engine::SloFigures {
        let f = compute_figures(rt, to, STEP);
        rt.policy_since = f.policy_alerts.iter().map(|r| r.active_since_ms).collect();
        f
    }

    fn names(alerts: &[crate::slo::engine::WantedAlert]) -> Vec<(String, String)> {
        alerts
            .iter()
            .map(|a| {
                (
                    a.labels.get("alertname").unwrap_or_default().to_string(),
                    a.labels
                        .get("notification_target")
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_policy_alert_is_pending_for_alert_after_then_fires_once_per_target() {
        let mut rt = runtime();
        // Round at 100: steps < 100 are clean, burn 0: inactive.
        let f = round(&mut rt, 100);
        assert_eq!(f.policy_alerts[0].state, "inactive");
        // Round at 101: the 1h window [41, 101) holds 60,000 events, 500 bad: ratio 1/120,
        // burn (1/120) / 0.001 = 8.33 > 2: pending since step 101. The 1d window holds the
        // 101,000 events since step 0: burn 500 / 101,000 / 0.001 = 4.95 > 1.5: pending.
        let f = round(&mut rt, 101);
        let p = &f.policy_alerts[0];
        assert!(
            (p.burn_rate - 500.0 / 60_000.0 / 0.001).abs() < 1e-9,
            "{p:?}"
        );
        assert_eq!(p.window_events, 60_000.0);
        assert_eq!(
            (p.state.as_str(), p.active_since_ms),
            ("pending", Some(101 * STEP))
        );
        assert_eq!(f.policy_alerts[1].state, "pending");
        assert!((f.policy_alerts[1].burn_rate - 500.0 / 101_000.0 / 0.001).abs() < 1e-9);
        assert!(decide_alerts(&rt.spec, &f, "").is_empty());
        // Rounds 102 … 105 hold it 1 … 4 minutes: still pending.
        for to in 102..106 {
            let f = round(&mut rt, to);
            assert_eq!(f.policy_alerts[0].state, "pending", "round {to}");
            assert!(decide_alerts(&rt.spec, &f, "").is_empty(), "round {to}");
        }
        // Round 106: held 5 minutes = alertAfter: firing, one alert per target.
        let f = round(&mut rt, 106);
        assert_eq!(f.policy_alerts[0].state, "firing");
        assert_eq!(f.policy_alerts[0].active_since_ms, Some(101 * STEP));
        assert_eq!(f.policy_alerts[1].state, "pending", "slow-burn waits 30m");
        assert_eq!(f.firing_alerts, ["AlertPolicy"]);
        let alerts = decide_alerts(&rt.spec, &f, "http://redline:9090");
        assert_eq!(
            names(&alerts),
            [
                ("AlertPolicy".into(), "OnCallDevopsMailNotification".into()),
                ("AlertPolicy".into(), "OnCallDevopsSlackNotification".into())
            ]
        );
        let l = &alerts[0].labels;
        assert_eq!(l.get("severity"), Some("page"));
        assert_eq!(l.get("owner"), Some("platform"));
        assert_eq!(l.get("slo"), Some("api-availability"));
        assert_eq!(l.get("service"), Some("api"));
        assert_eq!(l.get("alert_policy"), Some("AlertPolicy"));
        assert_eq!(l.get("alert_when_resolved"), Some("false"));
        assert_eq!(l.get("tier"), Some("1h"));
        let a = &alerts[1].annotations;
        assert_eq!(a.get("notification_target_type"), Some("slack"));
        assert_eq!(
            a.get("runbook_url"),
            Some("http://redline:9090/playbooks/AlertPolicy")
        );
        // The page and ticket tiers are off: their rows are gone and SLOBurnRate never fires.
        assert!(f.burn_rates.is_empty());
        assert!(alerts
            .iter()
            .all(|a| a.labels.get("alertname") != Some(BURN_RATE_ALERT)));
        // Round 131: slow-burn held 30 minutes: firing; AlertPolicy still (the 1h window
        // [71, 131) holds the bad steps).
        let f = round(&mut rt, 131);
        assert_eq!(f.firing_alerts, ["AlertPolicy", "SlowBurn"]);
        let slow = decide_alerts(&rt.spec, &f, "");
        let slow = slow
            .iter()
            .find(|a| a.labels.get("alertname") == Some("SlowBurn"))
            .unwrap();
        assert_eq!(slow.labels.get("severity"), Some("ticket"));
        assert_eq!(
            slow.labels.get("notification_target"),
            Some("PlatformTickets")
        );
        assert_eq!(slow.labels.get("alert_when_resolved"), Some("true"));
        // Round 170: the 1h window [110, 170) is clean: AlertPolicy resolves at once.
        let f = round(&mut rt, 170);
        assert_eq!(f.policy_alerts[0].state, "inactive");
        assert_eq!(f.policy_alerts[0].active_since_ms, None);
        assert_eq!(
            names(&decide_alerts(&rt.spec, &f, "")),
            [("SlowBurn".into(), "PlatformTickets".into())]
        );
    }

    /// The low-traffic guard counts the lookback window's events: 60,000 in the hour are
    /// fewer than 100,000, so the breach is held back; the 1d window holds 101,000 and may
    /// go pending.
    #[test]
    fn the_low_traffic_guard_holds_back_a_policy_alert() {
        let mut rt = runtime();
        rt.spec.alerting.min_traffic.events = Some(100_000.0);
        let f = round(&mut rt, 101);
        let p = &f.policy_alerts[0];
        assert!(p.held_low_traffic && p.state == "inactive", "{p:?}");
        assert_eq!(f.policy_alerts[1].state, "pending");
        // Control: without the guard the same round makes it pending.
        rt.spec.alerting.min_traffic.events = None;
        rt.policy_since.clear();
        assert_eq!(round(&mut rt, 101).policy_alerts[0].state, "pending");
    }

    /// Without SLI data only the policies that ask for it (alertWhenNoData) alert, per target;
    /// the default SLODataAbsent is not sent for an SLO with policies.
    #[test]
    fn no_data_alerts_only_for_policies_that_ask() {
        let mut rt = runtime();
        let mut f = round(&mut rt, 100);
        f.data_absent = true;
        assert_eq!(
            names(&decide_alerts(&rt.spec, &f, "")),
            [("SlowBurnNoData".into(), "PlatformTickets".into())]
        );
        // alertWhenBreaching: false, and no other flag: nothing, even while breaching.
        let mut quiet = runtime();
        for p in &mut quiet.spec.alerting.policies {
            p.when_breaching = false;
            p.when_no_data = false;
        }
        let mut f = round(&mut quiet, 106);
        f.data_absent = true;
        assert!(f.policy_alerts.iter().all(|r| r.state == "inactive"));
        assert!(decide_alerts(&quiet.spec, &f, "").is_empty());
    }
}
