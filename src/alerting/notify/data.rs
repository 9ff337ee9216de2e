//! The data a notification template sees: Alertmanager's `template.Data`, plus what redline
//! adds (the group's owner, each alert's owner and playbook link, why the group is notified,
//! and the dashboard's address).
//!
//! [`TemplateData`] is built once per notification from a [`Notification`] and the
//! [`NotifyContext`]. It renders two ways: as a Go value for users' Alertmanager templates
//! (`{{ .CommonLabels.alertname }}`, `{{ range .Alerts.Firing }}`, with Alertmanager's field
//! names and methods), and serialised for redline's handlebars templates, with the same
//! field names (`{{CommonLabels.alertname}}`, `{{#each Alerts}}`) and, for convenience,
//! `Firing` and `Resolved` lists, times as RFC 3339 text and the subject line.
//!
//! Common labels and annotations are computed as Alertmanager computes them: those present
//! with the same value in every alert of the notification. A firing alert's `EndsAt` is Go's
//! zero time, as Alertmanager hides an end that has not been reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::build::NotifyContext;
use super::{Notification, NotificationReason, NotifiedAlert};
use crate::alerting::alert::fingerprint_hex;
use crate::alerting::Alert;
use crate::gotemplate::exec::{GoStruct, GO_ZERO_TIME_MS, V};
use crate::gotemplate::funcs::{go_time_format, RFC3339_NANO};
use crate::store::Labels;

/// A label or annotation map, sorted by name.
pub type Kv = BTreeMap<String, String>;

/// One alert as templates see it (Alertmanager's `template.Alert`, plus redline's fields).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertData {
    /// `firing` or `resolved`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Labels")]
    pub labels: Kv,
    #[serde(rename = "Annotations")]
    pub annotations: Kv,
    /// Unix milliseconds.
    #[serde(skip)]
    pub starts_at_ms: i64,
    /// Unix milliseconds; Go's zero time for a firing alert.
    #[serde(skip)]
    pub ends_at_ms: i64,
    /// `StartsAt` as RFC 3339 (for handlebars).
    #[serde(rename = "StartsAt")]
    pub starts_at: String,
    /// `EndsAt` as RFC 3339, empty for a firing alert (for handlebars).
    #[serde(rename = "EndsAt")]
    pub ends_at: String,
    #[serde(rename = "GeneratorURL")]
    pub generator_url: String,
    /// 16 hex digits.
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    /// The alert's owner, when known.
    #[serde(rename = "Owner")]
    pub owner: Option<String>,
    /// The alert's playbook link, when known.
    #[serde(rename = "PlaybookURL")]
    pub playbook_url: Option<String>,
    /// The alert's `value` annotation, when it has one.
    #[serde(rename = "Value")]
    pub value: Option<String>,
}

/// Alertmanager's `template.Data` with redline's additions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateData {
    #[serde(rename = "Receiver")]
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Alerts")]
    pub alerts: Vec<AlertData>,
    #[serde(rename = "GroupLabels")]
    pub group_labels: Kv,
    #[serde(rename = "CommonLabels")]
    pub common_labels: Kv,
    #[serde(rename = "CommonAnnotations")]
    pub common_annotations: Kv,
    #[serde(rename = "ExternalURL")]
    pub external_url: String,
    /// The owner of the group's alerts: theirs when they agree, else the distinct owners
    /// joined with ", "; `None` when no alert has one.
    #[serde(rename = "Owner")]
    pub owner: Option<String>,
    /// `new_alerts`, `resolved` or `repeat_interval`.
    #[serde(rename = "NotificationReason")]
    pub notification_reason: String,
    /// The dashboard's base address.
    #[serde(rename = "DashboardURL")]
    pub dashboard_url: String,
    /// The dashboard's alerts page: `{DashboardURL}/alerts`.
    #[serde(rename = "AlertsURL")]
    pub alerts_url: String,
    #[serde(rename = "GroupKey")]
    pub group_key: String,
}

fn kv(l: &Labels) -> Kv {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// Labels present with the same value in every map (Alertmanager's common labels).
fn common<'a>(mut maps: impl Iterator<Item = &'a Kv>) -> Kv {
    let Some(first) = maps.next() else {
        return Kv::new();
    };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

/// Go's `time.Time` printed as RFC 3339 with nanoseconds (`2026-11-22T06:20:55Z`).
pub fn rfc3339(ms: i64) -> String {
    go_time_format(ms, RFC3339_NANO)
}

impl TemplateData {
    /// The data for one notification.
    pub fn new(n: &Notification, ctx: &NotifyContext) -> TemplateData {
        Self::with_urls(n, &ctx.external_url, &ctx.dashboard_url)
    }

    /// [`TemplateData::new`] from the two addresses alone (an empty `dashboard_url` means
    /// the external URL).
    pub fn with_urls(n: &Notification, external_url: &str, dashboard_url: &str) -> TemplateData {
        let alerts: Vec<AlertData> = n
            .alerts
            .iter()
            .map(|na| {
                let a = &na.alert;
                let resolved = a.resolved_at(n.now_ms);
                let ends_at_ms = if resolved {
                    a.ends_at_ms
                } else {
                    GO_ZERO_TIME_MS
                };
                let annotations = kv(&a.annotations);
                AlertData {
                    status: if resolved { "resolved" } else { "firing" }.to_string(),
                    labels: kv(&a.labels),
                    value: annotations.get("value").cloned(),
                    annotations,
                    starts_at_ms: a.starts_at_ms,
                    ends_at_ms,
                    starts_at: rfc3339(a.starts_at_ms),
                    ends_at: if resolved {
                        rfc3339(a.ends_at_ms)
                    } else {
                        String::new()
                    },
                    generator_url: a.generator_url.clone(),
                    fingerprint: fingerprint_hex(a.fingerprint()),
                    owner: na.owner.clone(),
                    playbook_url: na.playbook_url.clone(),
                }
            })
            .collect();
        let mut owners: Vec<&str> = Vec::new();
        for o in alerts.iter().filter_map(|a| a.owner.as_deref()) {
            if !owners.contains(&o) {
                owners.push(o);
            }
        }
        let dashboard_url = if dashboard_url.is_empty() {
            external_url
        } else {
            dashboard_url
        }
        .trim_end_matches('/')
        .to_string();
        TemplateData {
            receiver: n.receiver.clone(),
            status: if n.is_firing() { "firing" } else { "resolved" }.to_string(),
            group_labels: kv(&n.group_labels),
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            external_url: external_url.to_string(),
            owner: (!owners.is_empty()).then(|| owners.join(", ")),
            notification_reason: n.reason.as_str().to_string(),
            alerts_url: format!("{dashboard_url}/alerts"),
            dashboard_url,
            group_key: n.group_key.clone(),
            alerts,
        }
    }

    /// The alerts' distinct playbook links, in notification order (what integrations add
    /// as a button or link).
    pub fn playbook_urls(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.alerts.iter().filter_map(|a| a.playbook_url.as_deref()) {
            if !p.is_empty() && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The firing alerts, in notification order.
    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    /// The resolved alerts, in notification order.
    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// Alertmanager's default subject (`__subject`):
    /// `[FIRING:2] HighErrorBudgetBurn api (page)` — status and firing count, the group
    /// labels' values, then the values of the common labels that are not group labels.
    pub fn subject(&self) -> String {
        let mut s = format!("[{}", self.status.to_uppercase());
        if self.status == "firing" {
            s.push_str(&format!(":{}", self.firing().count()));
        }
        s.push_str("] ");
        let group: Vec<&str> = self.group_labels.values().map(String::as_str).collect();
        s.push_str(&group.join(" "));
        s.push(' ');
        if self.common_labels.len() > self.group_labels.len() {
            let rest: Vec<&str> = self
                .common_labels
                .iter()
                .filter(|(k, _)| !self.group_labels.contains_key(*k))
                .map(|(_, v)| v.as_str())
                .collect();
            s.push_str(&format!("({})", rest.join(" ")));
        }
        s
    }

    /// The data as a Go value, for Alertmanager-style templates.
    pub(crate) fn to_go(&self) -> V {
        let kvv = |m: &Kv| V::Kv(Arc::new(m.clone()));
        let opt = |o: &Option<String>| V::Str(o.clone().unwrap_or_default());
        let alerts = self
            .alerts
            .iter()
            .map(|a| {
                V::Struct(Arc::new(GoStruct {
                    type_name: "template.Alert",
                    fields: vec![
                        ("Status", V::Str(a.status.clone())),
                        ("Labels", kvv(&a.labels)),
                        ("Annotations", kvv(&a.annotations)),
                        ("StartsAt", V::Time(a.starts_at_ms)),
                        ("EndsAt", V::Time(a.ends_at_ms)),
                        ("GeneratorURL", V::Str(a.generator_url.clone())),
                        ("Fingerprint", V::Str(a.fingerprint.clone())),
                        ("Owner", opt(&a.owner)),
                        ("PlaybookURL", opt(&a.playbook_url)),
                        ("Value", opt(&a.value)),
                    ],
                }))
            })
            .collect();
        V::Struct(Arc::new(GoStruct {
            type_name: "template.Data",
            fields: vec![
                ("Receiver", V::Str(self.receiver.clone())),
                ("Status", V::Str(self.status.clone())),
                ("Alerts", V::Alerts(Arc::new(alerts))),
                ("GroupLabels", kvv(&self.group_labels)),
                ("CommonLabels", kvv(&self.common_labels)),
                ("CommonAnnotations", kvv(&self.common_annotations)),
                ("ExternalURL", V::Str(self.external_url.clone())),
                ("Owner", opt(&self.owner)),
                (
                    "NotificationReason",
                    V::Str(self.notification_reason.clone()),
                ),
                ("DashboardURL", V::Str(self.dashboard_url.clone())),
                ("AlertsURL", V::Str(self.alerts_url.clone())),
                ("GroupKey", V::Str(self.group_key.clone())),
            ],
        }))
    }

    /// The data as handlebars sees it: the fields above plus `Firing`, `Resolved` (lists of
    /// alerts), `FiringCount`, `ResolvedCount` and `Subject`.
    pub fn to_handlebars(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(m) = &mut v {
            let list = |it: Vec<&AlertData>| serde_json::to_value(it).unwrap_or_default();
            m.insert("Firing".into(), list(self.firing().collect()));
            m.insert("Resolved".into(), list(self.resolved().collect()));
            m.insert("FiringCount".into(), self.firing().count().into());
            m.insert("ResolvedCount".into(), self.resolved().count().into());
            m.insert("Subject".into(), self.subject().into());
        }
        v
    }
}

/// One alert of [`sample_notification`]: `HighErrorBudgetBurn` of job `api` on `instance`,
/// with owner and playbook.
pub(crate) fn sample_alert(
    instance: &str,
    summary: &str,
    starts_at_ms: i64,
    ends_at_ms: i64,
    updated_at_ms: i64,
) -> NotifiedAlert {
    NotifiedAlert {
        alert: Alert {
            labels: Labels::from_pairs([
                ("alertname", "HighErrorBudgetBurn"),
                ("instance", instance),
                ("job", "api"),
                ("severity", "page"),
            ]),
            annotations: Labels::from_pairs([
                ("runbook_url", "https://runbooks.example/api"),
                ("summary", summary),
            ]),
            starts_at_ms,
            ends_at_ms,
            generator_url: "http://prometheus.example:9090/graph?g0.expr=x".into(),
            updated_at_ms,
            timeout: false,
        },
        owner: Some("team-api".into()),
        playbook_url: Some("https://runbooks.example/api".into()),
    }
}

/// A notification shaped like Alertmanager's own example (two `HighErrorBudgetBurn` alerts of
/// job `api`, started 2026-11-22T06:20:55Z, with owner and playbook), the second resolved
/// when `resolved_second`. Templates are tried on it when a config is loaded.
pub(crate) fn sample_notification(resolved_second: bool) -> Notification {
    let starts = 1_795_328_455_000;
    let now = starts + 600_000;
    let alert = |instance: &str, summary: &str, ends: i64| {
        sample_alert(instance, summary, starts, ends, now)
    };
    let second_end = if resolved_second {
        now - 1000
    } else {
        now + 300_000
    };
    Notification {
        receiver: "team-api-pager".into(),
        group_key: r#"{}/{severity="page"}:{alertname="HighErrorBudgetBurn", job="api"}"#.into(),
        group_labels: Labels::from_pairs([("alertname", "HighErrorBudgetBurn"), ("job", "api")]),
        alerts: vec![
            alert(
                "10.0.0.1:8080",
                "api burning error budget (9.091%)",
                now + 300_000,
            ),
            alert(
                "10.0.0.2:8080",
                "api burning error budget (8.000%)",
                second_end,
            ),
        ],
        now_ms: now,
        reason: NotificationReason::NewAlerts,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The notification of `tests/fixtures/alertmanager_0.25_webhook_firing.json`,
    /// with owners and playbooks.
    pub(crate) fn fixture_notification(resolved_second: bool) -> Notification {
        sample_notification(resolved_second)
    }

    pub(crate) fn ctx() -> NotifyContext {
        NotifyContext::new("http://127.0.0.1:19093", "")
    }

    #[test]
    fn common_labels_and_annotations_are_those_all_alerts_share() {
        let d = TemplateData::new(&fixture_notification(false), &ctx());
        // As in the Alertmanager 0.25 fixture's commonLabels / commonAnnotations.
        assert_eq!(
            d.common_labels,
            Kv::from([
                ("alertname".into(), "HighErrorBudgetBurn".into()),
                ("job".into(), "api".into()),
                ("severity".into(), "page".into()),
            ])
        );
        assert_eq!(
            d.common_annotations,
            Kv::from([("runbook_url".into(), "https://runbooks.example/api".into())])
        );
        assert_eq!(d.alerts[0].fingerprint, "96a75c28b9cf7b7a");
        assert_eq!(d.alerts[0].starts_at, "2026-11-22T06:20:55Z");
        assert_eq!(d.alerts_url, "http://127.0.0.1:19093/alerts");
        assert_eq!(d.owner.as_deref(), Some("team-api"));
    }

    #[test]
    fn firing_and_resolved_split_by_end_time() {
        let d = TemplateData::new(&fixture_notification(true), &ctx());
        assert_eq!(d.status, "firing");
        assert_eq!(d.firing().count(), 1);
        let resolved: Vec<_> = d.resolved().collect();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].labels["instance"], "10.0.0.2:8080");
        assert!(!resolved[0].ends_at.is_empty());
        assert_eq!(
            d.firing().next().map(|a| a.ends_at_ms),
            Some(GO_ZERO_TIME_MS)
        );
        let hbs = d.to_handlebars();
        assert_eq!(hbs["FiringCount"], 1);
        assert_eq!(hbs["Resolved"][0]["Labels"]["instance"], "10.0.0.2:8080");
    }

    #[test]
    fn subject_is_alertmanagers_default() {
        let mut n = fixture_notification(false);
        let d = TemplateData::new(&n, &ctx());
        assert_eq!(d.subject(), "[FIRING:2] HighErrorBudgetBurn api (page)");
        n.group_labels = Labels::from_pairs([("alertname", "HighErrorBudgetBurn")]);
        let d = TemplateData::new(&n, &ctx());
        assert_eq!(d.subject(), "[FIRING:2] HighErrorBudgetBurn (api page)");
        for a in &mut n.alerts {
            a.alert.ends_at_ms = n.now_ms - 1;
        }
        let d = TemplateData::new(&n, &ctx());
        assert_eq!(d.subject(), "[RESOLVED] HighErrorBudgetBurn (api page)");
    }
}
