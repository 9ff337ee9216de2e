//! The webhook integration: Alertmanager's webhook payload (version "4") POSTed as JSON.
//!
//! The payload's fields, their names and their order are exactly Alertmanager 0.25's
//! (`receiver`, `status`, `alerts`, `groupLabels`, `commonLabels`, `commonAnnotations`,
//! `externalURL`, `version`, `groupKey`, `truncatedAlerts`), times are printed as Go prints a
//! `time.Time` (RFC 3339, UTC, fraction trimmed of trailing zeros), and a firing alert's
//! `endsAt` is Go's zero time `0001-01-01T00:00:00Z`. redline adds fields that existing
//! receivers ignore: the top-level `notification_reason` and `idempotencyKey` (the
//! notification's key, the same on every replica; omitted outside a delivery), and per alert
//! `owner` and `playbookURL` (omitted when unknown).
//!
//! A 2xx answer acknowledges the notification; 5xx, 429 and connection errors are
//! retryable; any other status is not. `url_file` is read on every send, as credential files
//! are.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::http::{impl_notifier, read_secret, HttpIntegration, Retrier};
use super::{Notification, NotifiedAlert, NotifyError};
use crate::alerting::alert::fingerprint_hex;
use crate::config::alertmanager::WebhookConfig;
use crate::httpclient::ClientError;
use crate::store::Labels;

/// The timeout of one POST when the config sets none.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Go's zero `time.Time`, as a firing alert's `endsAt`.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One `webhook_configs` entry of a receiver.
pub struct WebhookNotifier {
    integration: String,
    config: WebhookConfig,
    http: HttpIntegration,
    external_url: String,
}

/// The webhook's answers: 5xx and 429 are retried; the body is not reported.
const RETRIER: Retrier = Retrier {
    retry_codes: &[429],
    with_body: false,
};

impl WebhookNotifier {
    /// The integration `webhook[index]` of a receiver; `external_url` is the payload's
    /// `externalURL`.
    pub fn new(
        index: usize,
        config: &WebhookConfig,
        external_url: &str,
    ) -> Result<WebhookNotifier, ClientError> {
        Ok(WebhookNotifier {
            integration: format!("webhook[{index}]"),
            http: HttpIntegration::new(&config.http)?
                .with_timeout(config.timeout.unwrap_or(DEFAULT_WEBHOOK_TIMEOUT)),
            config: config.clone(),
            external_url: external_url.to_string(),
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = read_secret(&self.config.url, "url_file")?;
        let body = payload(n, &self.external_url, self.config.max_alerts);
        let resp = self.http.post_json(url.expose(), &body, &[]).await?;
        RETRIER.check(&resp)
    }
}

impl_notifier!(WebhookNotifier);

/// Alertmanager's webhook message, version "4", with redline's additive fields.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookPayload {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<WebhookAlert>,
    #[serde(rename = "groupLabels")]
    pub group_labels: BTreeMap<String, String>,
    #[serde(rename = "commonLabels")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: &'static str,
    #[serde(rename = "groupKey")]
    pub group_key: String,
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
    /// redline: why the group is notified now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_reason: Option<&'static str>,
    /// redline: the notification's idempotency key, the same on every replica (HA; see
    /// [`crate::alerting::replica`]); also sent as the `Idempotency-Key` header.
    #[serde(rename = "idempotencyKey", skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// One alert of a [`WebhookPayload`].
#[derive(Clone, Debug, Serialize)]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    /// redline: the alert's owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// redline: the playbook link.
    #[serde(rename = "playbookURL", skip_serializing_if = "Option::is_none")]
    pub playbook_url: Option<String>,
}

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// A time in ms as Go's `time.Time` marshals to JSON (UTC).
pub fn go_time(ms: i64) -> String {
    if ms <= 0 {
        return if ms == 0 {
            "1970-01-01T00:00:00Z".to_string()
        } else {
            GO_ZERO_TIME.to_string()
        };
    }
    crate::timefmt::rfc3339_nanos(UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// Labels present with the same value in every label set (`commonLabels`).
fn common<'a>(sets: impl Iterator<Item = &'a Labels>) -> BTreeMap<String, String> {
    let mut out: Option<BTreeMap<String, String>> = None;
    for s in sets {
        let m = map(s);
        out = Some(match out {
            None => m,
            Some(c) => c.into_iter().filter(|(k, v)| m.get(k) == Some(v)).collect(),
        });
    }
    out.unwrap_or_default()
}

fn webhook_alert(a: &NotifiedAlert, now_ms: i64) -> WebhookAlert {
    let resolved = a.alert.resolved_at(now_ms);
    WebhookAlert {
        status: if resolved { "resolved" } else { "firing" },
        labels: map(&a.alert.labels),
        annotations: map(&a.alert.annotations),
        starts_at: go_time(a.alert.starts_at_ms),
        ends_at: if resolved {
            go_time(a.alert.ends_at_ms)
        } else {
            GO_ZERO_TIME.to_string()
        },
        generator_url: a.alert.generator_url.clone(),
        fingerprint: fingerprint_hex(a.alert.fingerprint()),
        owner: a.owner.clone(),
        playbook_url: a.playbook_url.clone(),
    }
}

/// The payload for a notification; `max_alerts` > 0 keeps only the first alerts and
/// counts the others in `truncatedAlerts`. `commonLabels` and `commonAnnotations` are
/// computed over all the group's alerts, as Alertmanager does before truncating.
pub fn payload(n: &Notification, external_url: &str, max_alerts: u64) -> WebhookPayload {
    let total = n.alerts.len() as u64;
    let kept = if max_alerts > 0 && total > max_alerts {
        max_alerts as usize
    } else {
        n.alerts.len()
    };
    WebhookPayload {
        receiver: n.receiver.clone(),
        status: if n.is_firing() { "firing" } else { "resolved" },
        alerts: n.alerts[..kept]
            .iter()
            .map(|a| webhook_alert(a, n.now_ms))
            .collect(),
        group_labels: map(&n.group_labels),
        common_labels: common(n.alerts.iter().map(|a| &a.alert.labels)),
        common_annotations: common(n.alerts.iter().map(|a| &a.alert.annotations)),
        external_url: external_url.to_string(),
        version: "4",
        group_key: n.group_key.clone(),
        truncated_alerts: total - kept as u64,
        notification_reason: Some(n.reason.as_str()),
        idempotency_key: crate::alerting::replica::current_idempotency_key(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::Notifier;
    use crate::alerting::{Alert, NotificationReason};
    use serde_json::Value;

    const FIRING: &str = "tests/fixtures/alertmanager_0.25_webhook_firing.json";
    const RESOLVED: &str = "tests/fixtures/alertmanager_0.25_webhook_resolved.json";
    const GEN: &str = "http://prometheus.example:9090/graph?g0.expr=job%3Ahttp_errors%3Aratio_rate5m+%3E+0.0144&g0.tab=1";
    /// 2026-11-22T06:20:55Z
    const STARTS: i64 = 1_795_328_455_000;

    /// [`sample_alert`](crate::alerting::notify::data::sample_alert) as Alertmanager's
    /// fixture has it: no owner or playbook, its own generator URL.
    fn fixture_alert(instance: &str, summary: &str, ends_at_ms: i64) -> NotifiedAlert {
        let sample = crate::alerting::notify::data::sample_alert(
            instance, summary, STARTS, ends_at_ms, STARTS,
        );
        NotifiedAlert {
            alert: Alert {
                generator_url: GEN.to_string(),
                ..sample.alert
            },
            owner: None,
            playbook_url: None,
        }
    }

    fn notification(first_ends: i64, now_ms: i64) -> Notification {
        Notification {
            receiver: "team-api-pager".into(),
            group_key: r#"{}/{severity="page"}:{alertname="HighErrorBudgetBurn", job="api"}"#
                .into(),
            group_labels: Labels::from_pairs([
                ("alertname", "HighErrorBudgetBurn"),
                ("job", "api"),
            ]),
            alerts: vec![
                fixture_alert(
                    "10.0.0.1:8080",
                    "api burning error budget (9.091%)",
                    first_ends,
                ),
                fixture_alert(
                    "10.0.0.2:8080",
                    "api burning error budget (8.000%)",
                    now_ms + 300_000,
                ),
            ],
            now_ms,
            reason: NotificationReason::NewAlerts,
        }
    }

    /// The payload as Alertmanager would print it (4-space indent), without redline's fields.
    fn alertmanager_text(mut p: WebhookPayload) -> String {
        p.notification_reason = None;
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        p.serialize(&mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn check_against(fixture: &str, p: WebhookPayload) {
        let text = std::fs::read_to_string(fixture).unwrap();
        let want: Value = serde_json::from_str(&text).unwrap();
        let mut got = serde_json::to_value(&p).unwrap();
        assert_eq!(got["notification_reason"], "new_alerts");
        got.as_object_mut().unwrap().remove("notification_reason");
        assert_eq!(got, want, "payload differs from {fixture}");
        // Same bytes, hence same field order, as Alertmanager's output.
        assert_eq!(
            alertmanager_text(p),
            text.trim_end(),
            "field order differs from {fixture}"
        );
    }

    #[test]
    fn firing_payload_matches_alertmanager_fixture() {
        let now = STARTS + 10_000;
        let n = notification(now + 300_000, now);
        check_against(FIRING, payload(&n, "http://127.0.0.1:19093", 0));
    }

    #[test]
    fn resolved_payload_matches_alertmanager_fixture() {
        // 2026-11-22T06:21:14Z
        let ends = STARTS + 19_000;
        let n = notification(ends, ends + 1_000);
        check_against(RESOLVED, payload(&n, "http://127.0.0.1:19093", 0));
    }

    #[test]
    fn owner_and_playbook_are_added_only_when_known() {
        let now = STARTS + 10_000;
        let mut n = notification(now + 300_000, now);
        n.alerts[0].owner = Some("payments".into());
        n.alerts[0].playbook_url = Some("https://runbooks.example/api".into());
        let v = serde_json::to_value(payload(&n, "http://x", 0)).unwrap();
        assert_eq!(v["alerts"][0]["owner"], "payments");
        assert_eq!(
            v["alerts"][0]["playbookURL"],
            "https://runbooks.example/api"
        );
        assert!(v["alerts"][1].get("owner").is_none());
        assert!(v["alerts"][1].get("playbookURL").is_none());
    }

    #[test]
    fn max_alerts_truncates_and_counts() {
        let now = STARTS + 10_000;
        let n = notification(now + 300_000, now);
        let p = payload(&n, "http://x", 1);
        assert_eq!(p.alerts.len(), 1);
        assert_eq!(p.truncated_alerts, 1);
        assert_eq!(p.alerts[0].fingerprint, "96a75c28b9cf7b7a");
        // Common labels still cover the whole group.
        assert!(!p.common_labels.contains_key("instance"));
    }

    #[test]
    fn go_time_trims_the_fraction() {
        assert_eq!(go_time(STARTS), "2026-11-22T06:20:55Z");
        assert_eq!(go_time(STARTS + 120), "2026-11-22T06:20:55.12Z");
    }

    async fn sink(status: u16) -> (String, tokio::sync::mpsc::Receiver<Value>) {
        use axum::routing::post;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let app = axum::Router::new().route(
            "/hook",
            post(move |body: axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(body.0).await;
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        (format!("http://{addr}/hook"), rx)
    }

    fn config(url: &str) -> WebhookConfig {
        WebhookConfig {
            send_resolved: true,
            url: crate::config::SecretSource::Inline(crate::config::Secret::new(url)),
            max_alerts: 0,
            timeout: Some(Duration::from_secs(5)),
            http: crate::config::HttpClientSettings::default(),
        }
    }

    #[tokio::test]
    async fn posts_json_and_classifies_statuses() {
        crate::install_crypto_provider();
        let now = STARTS + 10_000;
        let n = notification(now + 300_000, now);
        let (url, mut rx) = sink(200).await;
        let w = WebhookNotifier::new(0, &config(&url), "http://redline").unwrap();
        assert_eq!(w.integration(), "webhook[0]");
        w.notify(&n).await.unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got["receiver"], "team-api-pager");
        assert_eq!(got["externalURL"], "http://redline");

        let (url, _rx) = sink(503).await;
        let w = WebhookNotifier::new(0, &config(&url), "http://redline").unwrap();
        assert!(w.notify(&n).await.unwrap_err().retryable);
        let (url, _rx) = sink(400).await;
        let w = WebhookNotifier::new(0, &config(&url), "http://redline").unwrap();
        let e = w.notify(&n).await.unwrap_err();
        assert!(!e.retryable);
        assert!(e.message.contains("400"), "{e}");
        // Nothing listens on port 9 of loopback.
        let w = WebhookNotifier::new(0, &config("http://127.0.0.1:9/"), "x").unwrap();
        assert!(w.notify(&n).await.unwrap_err().retryable);
    }
}
