//! The notification the recorded bodies of tests/fixtures/alertmanager-notifiers were made
//! for, the fixtures themselves, and a receiver `team` whose integrations point at a
//! recording fake: what the tests of the integrations newer than Alertmanager 0.25 share.

use std::path::Path;

use redline::alerting::alert::Alert;
use redline::alerting::notify::{
    integrations, Notification, NotificationReason, NotifiedAlert, Notifier, NotifyContext,
};
use redline::config::alertmanager::AlertmanagerConfig;
use redline::store::Labels;
use serde_json::Value;

use super::fake_http::FakeReceiver;

/// The external URL the fixtures' texts were rendered with.
pub const EXTERNAL_URL: &str = "http://am.example:9093";
pub const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// The JSON fixture `name` of tests/fixtures/alertmanager-notifiers.
pub fn fixture(name: &str) -> Value {
    let path = Path::new("tests/fixtures/alertmanager-notifiers").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The notification the fixtures were recorded for (SOURCES.md): receiver `team`, grouped
/// by `alertname`, two alerts started at 2026-01-01T00:00:00Z, resolved at 00:10.
pub fn notification(resolved: bool) -> Notification {
    let alert = |instance: &str, summary: &str| NotifiedAlert {
        alert: Alert {
            labels: Labels::from_pairs([
                ("alertname", "HighErrorRate"),
                ("instance", instance),
                ("job", "api"),
                ("severity", "page"),
            ]),
            annotations: Labels::from_pairs([
                ("runbook_url", "https://runbooks.example/api"),
                ("summary", summary),
            ]),
            starts_at_ms: T0,
            ends_at_ms: if resolved {
                T0 + 600_000
            } else {
                T0 + 3_600_000
            },
            generator_url: "http://prometheus.example:9090/graph?g0.expr=up".into(),
            updated_at_ms: T0,
            timeout: false,
        },
        owner: None,
        playbook_url: None,
    };
    Notification {
        receiver: "team".into(),
        group_key: r#"{}:{alertname="HighErrorRate"}"#.into(),
        group_labels: Labels::from_pairs([("alertname", "HighErrorRate")]),
        alerts: vec![
            alert("10.0.0.1:8080", "api errors at 5%"),
            alert("10.0.0.2:8080", "api errors at 7%"),
        ],
        now_ms: T0 + 900_000,
        reason: if resolved {
            NotificationReason::Resolved
        } else {
            NotificationReason::NewAlerts
        },
    }
}

/// An Alertmanager config with one receiver `team` made of `receiver_lists` (YAML indented
/// for a receiver's keys), `FAKE` replaced by the fake's URL.
pub fn config(receiver_lists: &str, fake: &FakeReceiver) -> AlertmanagerConfig {
    let text = format!(
        "route: {{receiver: team}}\nreceivers:\n  - name: team\n{}",
        receiver_lists.replace("FAKE", &fake.url())
    );
    AlertmanagerConfig::from_yaml_str(&text, "alertmanager.yml").unwrap_or_else(|e| panic!("{e}"))
}

/// The integrations of receiver `team` in `cfg`, with Alertmanager's default templates and
/// [`EXTERNAL_URL`]; a build error fails the test with its message.
pub fn team_integrations(cfg: &AlertmanagerConfig) -> Vec<std::sync::Arc<dyn Notifier>> {
    let ctx = NotifyContext::new(EXTERNAL_URL, "");
    integrations(cfg.receiver("team").expect("receiver team"), &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`team_integrations`] of the Alertmanager config `text` read in `dir`, whose `templates:`
/// files (relative to `dir`) are loaded too.
pub fn team_integrations_with_templates(
    text: &str,
    dir: &Path,
) -> Vec<std::sync::Arc<dyn Notifier>> {
    let cfg =
        AlertmanagerConfig::from_yaml_str_in(text, "am.yml", dir).unwrap_or_else(|e| panic!("{e}"));
    let ctx = NotifyContext::for_config(&cfg, EXTERNAL_URL, "").unwrap_or_else(|e| panic!("{e}"));
    integrations(cfg.receiver("team").expect("receiver team"), &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
}
