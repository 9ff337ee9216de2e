//! OpenSLO alerting: `AlertPolicy`, `AlertCondition` and `AlertNotificationTarget` objects and
//! an SLO's `spec.alertPolicies`, read into [`PolicyAlert`]s.
//!
//! Each object of the three kinds is checked once, at its own document; a policy's
//! `conditions[]` (exactly one) and `notificationTargets[]` (at least one) are either inline
//! objects (`kind`, `metadata`, `spec`) or references by name (`conditionRef`, `targetRef`) to
//! objects of the same file, and an SLO's `alertPolicies[]` likewise (`alertPolicyRef`). A
//! missing reference is an error at the field that names it. The one condition kind is
//! `burnrate`. The checks that depend on the SLO (a threshold its error ratio can exceed, a
//! lookback within its period) are made per SLO, at `spec.alertPolicies[i]`.

use super::super::policy::{
    check_alert_after, check_for_slo, check_lookback, check_threshold, NotificationTarget,
    PolicyAlert,
};
use super::super::spec::{camel, Objective};
use super::super::Diag;
use super::{Metadata, Object};
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicySpecRaw {
    #[serde(default)]
    description: String,
    #[serde(default)]
    alert_when_no_data: bool,
    #[serde(default)]
    alert_when_resolved: bool,
    #[serde(default)]
    alert_when_breaching: bool,
    conditions: Vec<Value>,
    notification_targets: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConditionSpecRaw {
    #[serde(default)]
    description: String,
    severity: String,
    condition: ConditionRaw,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConditionRaw {
    kind: Option<String>,
    threshold: Option<f64>,
    lookback_window: Option<String>,
    alert_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TargetSpecRaw {
    target: String,
    #[serde(default)]
    description: String,
}

/// An object written inline where a reference could stand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineObject {
    #[allow(dead_code)]
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: String,
    metadata: Metadata,
    spec: Value,
}

#[derive(Debug, Clone)]
struct Condition {
    severity: String,
    threshold: f64,
    lookback: Duration,
    alert_after: Duration,
    description: String,
}

/// The alerting objects of one file, each checked once; `None`: the object has errors
/// (reported at its document).
#[derive(Default)]
pub(super) struct AlertObjects {
    raw: Vec<(String, Object)>,
    conditions: BTreeMap<String, Option<Condition>>,
    targets: BTreeMap<String, Option<NotificationTarget>>,
    policies: BTreeMap<String, Option<PolicyAlert>>,
}

impl AlertObjects {
    /// Keeps an object of one of the three kinds (`prefix`: its document's field prefix).
    pub(super) fn add(&mut self, prefix: String, obj: Object) {
        self.raw.push((prefix, obj));
    }

    /// Checks every kept object: conditions and targets first, then the policies that may
    /// reference them. Leaves `d.prefix` empty.
    pub(super) fn check(&mut self, d: &mut Diag) {
        let raw = std::mem::take(&mut self.raw);
        let mut policies = Vec::new();
        for (prefix, obj) in raw {
            d.prefix = prefix;
            let name = obj.metadata.name.clone();
            let kind = obj.kind.clone();
            let defined = match kind.as_str() {
                "AlertCondition" => self
                    .conditions
                    .insert(name.clone(), condition(d, "spec", obj.spec))
                    .is_some(),
                "AlertNotificationTarget" => self
                    .targets
                    .insert(name.clone(), target(d, "spec", &name, obj.spec))
                    .is_some(),
                _ => {
                    policies.push((d.prefix.clone(), obj));
                    false
                }
            };
            if defined {
                d.err("metadata.name", format!("{kind} {name:?} is defined twice"));
            }
        }
        for (prefix, obj) in policies {
            d.prefix = prefix;
            let name = obj.metadata.name.clone();
            let p = self.policy(d, "spec", &name, obj.spec);
            if self.policies.insert(name.clone(), p).is_some() {
                d.err(
                    "metadata.name",
                    format!("AlertPolicy {name:?} is defined twice"),
                );
            }
        }
        d.prefix.clear();
    }

    /// The alerts of an SLO's `spec.alertPolicies` (`value`), for each objective checked
    /// against its objective and period. `d.prefix` is the SLO's document.
    pub(super) fn for_slo(&self, d: &mut Diag, value: Option<Value>) -> Vec<(String, PolicyAlert)> {
        let items = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                d.err(
                    "spec.alertPolicies",
                    "a list of alert policies: inline AlertPolicy objects or {alertPolicyRef: name}",
                );
                return Vec::new();
            }
        };
        let mut out: Vec<(String, PolicyAlert)> = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("spec.alertPolicies[{i}]");
            let p = match reference(d, &at, item, "alertPolicyRef", "AlertPolicy") {
                Item::Ref(r) => match self.policies.get(&r) {
                    Some(p) => p.clone(),
                    None => {
                        d.err(
                            format!("{at}.alertPolicyRef"),
                            format!("no AlertPolicy named {r:?} in this file"),
                        );
                        None
                    }
                },
                Item::Inline(o) => {
                    let name = o.metadata.name.clone();
                    self.policy(d, &format!("{at}.spec"), &name, o.spec)
                }
                Item::Invalid => None,
            };
            let Some(p) = p else { continue };
            if out.iter().any(|(_, q)| q.alert == p.alert) {
                d.err(
                    &at,
                    format!(
                        "alert policy {:?} is listed twice (or two policies share the alert name {})",
                        p.policy, p.alert
                    ),
                );
                continue;
            }
            out.push((at, p));
        }
        out
    }

    fn policy(&self, d: &mut Diag, at: &str, name: &str, spec: Value) -> Option<PolicyAlert> {
        let raw = d.decode::<PolicySpecRaw>(at, spec)?;
        let before = d.errors.len();
        let condition = match raw.conditions.as_slice() {
            [c] => {
                let cat = format!("{at}.conditions[0]");
                match reference(d, &cat, c.clone(), "conditionRef", "AlertCondition") {
                    Item::Ref(r) => match self.conditions.get(&r) {
                        Some(c) => c.clone(),
                        None => {
                            d.err(
                                format!("{cat}.conditionRef"),
                                format!("no AlertCondition named {r:?} in this file"),
                            );
                            None
                        }
                    },
                    Item::Inline(o) => condition(d, &format!("{cat}.spec"), o.spec),
                    Item::Invalid => None,
                }
            }
            other => {
                d.err(
                    format!("{at}.conditions"),
                    format!(
                        "an alert policy has exactly one condition (OpenSLO allows one); got {}",
                        other.len()
                    ),
                );
                None
            }
        };
        if raw.notification_targets.is_empty() {
            d.err(
                format!("{at}.notificationTargets"),
                "an alert policy needs at least one notification target: its name is the alert's notification_target label, which routes match",
            );
        }
        let mut targets: Vec<NotificationTarget> = Vec::new();
        for (i, t) in raw.notification_targets.into_iter().enumerate() {
            let tat = format!("{at}.notificationTargets[{i}]");
            let t = match reference(d, &tat, t, "targetRef", "AlertNotificationTarget") {
                Item::Ref(r) => match self.targets.get(&r) {
                    Some(t) => t.clone(),
                    None => {
                        d.err(
                            format!("{tat}.targetRef"),
                            format!("no AlertNotificationTarget named {r:?} in this file"),
                        );
                        None
                    }
                },
                Item::Inline(o) => {
                    let name = o.metadata.name.clone();
                    target(d, &format!("{tat}.spec"), &name, o.spec)
                }
                Item::Invalid => None,
            };
            if let Some(t) = t {
                if targets.iter().any(|u| u.name == t.name) {
                    d.err(
                        &tat,
                        format!("notification target {:?} is listed twice", t.name),
                    );
                } else {
                    targets.push(t);
                }
            }
        }
        let condition = condition?;
        if d.errors.len() > before {
            return None;
        }
        let description = [raw.description.trim(), condition.description.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.ends_with(['.', '!', '?']) {
                    s.to_string()
                } else {
                    format!("{s}.")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Some(PolicyAlert {
            policy: name.to_string(),
            alert: camel(&[name]),
            severity: condition.severity,
            threshold: condition.threshold,
            lookback: condition.lookback,
            alert_after: condition.alert_after,
            when_breaching: raw.alert_when_breaching,
            when_no_data: raw.alert_when_no_data,
            when_resolved: raw.alert_when_resolved,
            targets,
            description,
        })
    }
}

/// Checks an SLO's policies against one objective; errors at the policy's entry.
pub(super) fn for_objective(
    d: &mut Diag,
    policies: &[(String, PolicyAlert)],
    objective: Objective,
    period: Duration,
) -> Vec<PolicyAlert> {
    for (at, p) in policies {
        check_for_slo(d, at, p, objective, period);
    }
    policies.iter().map(|(_, p)| p.clone()).collect()
}

enum Item {
    Ref(String),
    Inline(InlineObject),
    Invalid,
}

/// Reads an entry that is either `{<ref_key>: name}` or an inline object of `kind`.
fn reference(d: &mut Diag, at: &str, v: Value, ref_key: &str, kind: &str) -> Item {
    if let Some(r) = v.get(ref_key) {
        let extra = v.as_mapping().map_or(0, |m| m.len().saturating_sub(1));
        return match r.as_str() {
            Some(name) if extra == 0 => Item::Ref(name.to_string()),
            Some(_) => {
                d.err(
                    at,
                    format!("give either {ref_key} or an inline {kind}, not both"),
                );
                Item::Invalid
            }
            None => {
                d.err(
                    format!("{at}.{ref_key}"),
                    format!("the name of an {kind} of this file"),
                );
                Item::Invalid
            }
        };
    }
    if !v.is_mapping() {
        d.err(
            at,
            format!("an inline {kind} (kind, metadata, spec) or {{{ref_key}: name}}"),
        );
        return Item::Invalid;
    }
    let Some(o) = d.decode::<InlineObject>(at, v) else {
        return Item::Invalid;
    };
    if o.kind != kind {
        d.err(
            format!("{at}.kind"),
            format!("an inline {kind} here, got {:?}", o.kind),
        );
        return Item::Invalid;
    }
    Item::Inline(o)
}

fn condition(d: &mut Diag, at: &str, spec: Value) -> Option<Condition> {
    let raw = d.decode::<ConditionSpecRaw>(at, spec)?;
    let c = &raw.condition;
    let cat = format!("{at}.condition");
    // OpenSLO: the kind defaults to burnrate, its only kind.
    if let Some(k) = c.kind.as_deref().filter(|k| *k != "burnrate") {
        d.err(
            format!("{cat}.kind"),
            format!("{k:?} is not a condition kind redline evaluates; the kind is burnrate"),
        );
        return None;
    }
    if raw.severity.trim().is_empty() {
        d.err(
            format!("{at}.severity"),
            "a severity is required, e.g. page",
        );
    }
    let threshold = check_threshold(d, &format!("{cat}.threshold"), c.threshold);
    let lookback = check_lookback(
        d,
        &format!("{cat}.lookbackWindow"),
        c.lookback_window.as_deref(),
    );
    let alert_after = check_alert_after(d, &format!("{cat}.alertAfter"), c.alert_after.as_deref());
    if raw.severity.trim().is_empty() {
        return None;
    }
    Some(Condition {
        severity: raw.severity,
        threshold: threshold?,
        lookback: lookback?,
        alert_after: alert_after?,
        description: raw.description,
    })
}

fn target(d: &mut Diag, at: &str, name: &str, spec: Value) -> Option<NotificationTarget> {
    let raw = d.decode::<TargetSpecRaw>(at, spec)?;
    if raw.target.trim().is_empty() {
        d.err(
            format!("{at}.target"),
            "the kind of target is required, e.g. email or slack",
        );
        return None;
    }
    Some(NotificationTarget {
        name: name.to_string(),
        target: raw.target,
        description: raw.description,
    })
}

#[cfg(test)]
mod tests {
    use crate::slo::policy::PolicyAlert;
    use std::path::Path;
    use std::time::Duration;

    fn load(text: &str) -> Result<Vec<crate::slo::SloSpec>, String> {
        crate::slo::parse_text(Path::new("a.yml"), text).map_err(|e| {
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn the_spec_examples_load_with_refs_and_inline_objects() {
        let specs = crate::slo::load_file(Path::new("tests/data/slo/openslo/alert-policies.yml"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(specs.len(), 1);
        let a = &specs[0].alerting;
        // The policies replace the page and ticket tiers.
        assert!(!a.page.enabled && !a.ticket.enabled);
        let names: Vec<&str> = a.policies.iter().map(|p| p.alert.as_str()).collect();
        assert_eq!(names, ["AlertPolicy", "SlowBurn"]);
        let p: &PolicyAlert = &a.policies[0];
        assert_eq!(p.policy, "AlertPolicy");
        assert_eq!(p.severity, "page");
        assert_eq!(p.threshold, 2.0);
        assert_eq!(p.lookback, Duration::from_secs(3600));
        assert_eq!(p.alert_after, Duration::from_secs(300));
        assert!(p.when_breaching && !p.when_resolved && !p.when_no_data);
        let targets: Vec<(&str, &str)> = p
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t.target.as_str()))
            .collect();
        assert_eq!(
            targets,
            [
                ("OnCallDevopsMailNotification", "email"),
                ("OnCallDevopsSlackNotification", "slack")
            ]
        );
        assert!(p
            .description
            .starts_with("Alert policy for cpu usage breaches"));
        assert!(p.description.ends_with(
            "via email. If the CPU usage is too high for given period then it should alert."
        ));
        let q = &a.policies[1];
        assert_eq!(q.severity, "ticket");
        assert_eq!(q.threshold, 1.5);
        assert_eq!(q.lookback, Duration::from_secs(86_400));
        assert_eq!(q.alert_after, Duration::from_secs(1800));
        assert!(q.when_breaching && q.when_resolved && q.when_no_data);
        assert_eq!(q.targets[0].name, "PlatformTickets");
        assert_eq!(q.targets[0].target, "web-hook");
    }

    const HEAD: &str = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: api}\nspec:\n  service: api\n  indicator:\n    metadata: {name: e}\n    spec:\n      ratioMetric:\n        counter: true\n        bad: {metricSource: {type: Prometheus, spec: {query: 'bad_total'}}}\n        total: {metricSource: {type: Prometheus, spec: {query: 'all_total'}}}\n  timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n";

    fn policy(conditions: &str, targets: &str) -> String {
        format!("{HEAD}  alertPolicies:\n    - kind: AlertPolicy\n      metadata: {{name: p}}\n      spec:\n        alertWhenBreaching: true\n        conditions: {conditions}\n        notificationTargets: {targets}\n")
    }

    const COND: &str = "[{kind: AlertCondition, metadata: {name: c}, spec: {severity: page, condition: {kind: burnrate, threshold: 2, lookbackWindow: 1h}}}]";
    const TARGET: &str =
        "[{kind: AlertNotificationTarget, metadata: {name: t}, spec: {target: email}}]";

    #[test]
    fn alert_after_defaults_to_zero_and_the_kind_to_burnrate() {
        let c = "[{kind: AlertCondition, metadata: {name: c}, spec: {severity: sev1, condition: {threshold: 2, lookbackWindow: 5m}}}]";
        let s = load(&policy(c, TARGET)).unwrap();
        let p = &s[0].alerting.policies[0];
        assert_eq!(p.alert_after, Duration::ZERO);
        assert_eq!(p.severity, "sev1");
        assert_eq!(p.alert, "P");
    }

    #[test]
    fn refs_and_conditions_that_cannot_run_are_errors_with_the_field_path() {
        let at = "spec.alertPolicies[0]";
        let cases: Vec<(String, String, &str)> = vec![
            (
                format!("{HEAD}  alertPolicies:\n    - alertPolicyRef: missing\n"),
                format!("{at}.alertPolicyRef"),
                "no AlertPolicy named \"missing\"",
            ),
            (
                format!("{HEAD}  alertPolicies:\n    - web-fast-burn\n"),
                at.to_string(),
                "an inline AlertPolicy",
            ),
            (
                policy("[{conditionRef: nope}]", TARGET),
                format!("{at}.spec.conditions[0].conditionRef"),
                "no AlertCondition named \"nope\"",
            ),
            (
                policy(&format!("[{c}, {c}]", c = &COND[1..COND.len() - 1]), TARGET),
                format!("{at}.spec.conditions"),
                "exactly one condition",
            ),
            (
                policy("[]", TARGET),
                format!("{at}.spec.conditions"),
                "exactly one condition",
            ),
            (
                policy(COND, "[{targetRef: pager}]"),
                format!("{at}.spec.notificationTargets[0].targetRef"),
                "no AlertNotificationTarget named \"pager\"",
            ),
            (
                policy(COND, "[]"),
                format!("{at}.spec.notificationTargets"),
                "at least one notification target",
            ),
            (
                policy(&COND.replace("kind: burnrate", "kind: latency"), TARGET),
                format!("{at}.spec.conditions[0].spec.condition.kind"),
                "\"latency\" is not a condition kind",
            ),
            (
                policy(&COND.replace("threshold: 2", "threshold: 0"), TARGET),
                format!("{at}.spec.conditions[0].spec.condition.threshold"),
                "> 0",
            ),
            (
                policy(
                    &COND.replace("lookbackWindow: 1h", "lookbackWindow: 4d"),
                    TARGET,
                ),
                format!("{at}.spec.conditions[0].spec.condition.lookbackWindow"),
                "up to 3d",
            ),
            (
                policy(&COND.replace("severity: page, ", ""), TARGET),
                format!("{at}.spec.conditions[0].spec"),
                "severity",
            ),
            (
                // 150 × 1 % = 1.5: an error ratio never exceeds it.
                policy(&COND.replace("threshold: 2", "threshold: 150"), TARGET),
                format!("{at}.threshold"),
                "could never fire",
            ),
            (
                policy(
                    &COND.replace("kind: AlertCondition", "kind: AlertPolicy"),
                    TARGET,
                ),
                format!("{at}.spec.conditions[0].kind"),
                "an inline AlertCondition",
            ),
        ];
        for (text, field, needle) in cases {
            let e = load(&text).unwrap_err();
            assert!(
                e.lines()
                    .any(|l| l.starts_with(&format!("a.yml: {field}: ")) && l.contains(needle)),
                "want {field}: …{needle}…, got:\n{e}"
            );
        }
    }

    #[test]
    fn a_referenced_object_s_errors_are_reported_at_its_document() {
        let text = format!("apiVersion: openslo/v1\nkind: AlertCondition\nmetadata: {{name: c}}\nspec: {{severity: page, condition: {{kind: burnrate, threshold: 2}}}}\n---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {{name: p}}\nspec: {{alertWhenBreaching: true, conditions: [{{conditionRef: c}}], notificationTargets: [{{targetRef: t}}]}}\n---\n{HEAD}  alertPolicies: [{{alertPolicyRef: p}}]\n");
        let e = load(&text).unwrap_err();
        assert!(
            e.contains("a.yml: document[0].spec.condition.lookbackWindow: "),
            "{e}"
        );
        assert!(
            e.contains("a.yml: document[1].spec.notificationTargets[0].targetRef: no AlertNotificationTarget named \"t\""),
            "{e}"
        );
    }
}
