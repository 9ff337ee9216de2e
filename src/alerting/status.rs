//! An alert's status as the Alertmanager v2 API and the dashboard show it: whether it is
//! silenced or inhibited (and by what), and the receivers its routes choose.
//!
//! As Alertmanager's `GET /api/v2/alerts`, the status is computed when asked, from the current
//! silences and inhibitor: `suppressed` when some silence or inhibition mutes it, `active`
//! otherwise. `unprocessed` exists for API compatibility (an alert not yet seen by the
//! pipeline); [`alert_status`] never returns it.

use serde::Serialize;

use super::alert::{fingerprint_hex, Alert};
use super::inhibit::Inhibitor;
use super::silence::Silences;
use super::AlertmanagerConfig;

/// Alertmanager's alert states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Unprocessed,
    Active,
    Suppressed,
}

impl AlertState {
    /// `"unprocessed"`, `"active"` or `"suppressed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unprocessed => "unprocessed",
            AlertState::Active => "active",
            AlertState::Suppressed => "suppressed",
        }
    }
}

/// The status of one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertStatus {
    pub state: AlertState,
    /// Ids of the active silences muting the alert, sorted.
    pub silenced_by: Vec<String>,
    /// Fingerprints (16 hex digits) of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// The receiver of each matching route, in route order (repeats kept, as upstream).
    pub receivers: Vec<String>,
}

/// Computes an alert's status at `now_ms`.
pub fn alert_status(
    alert: &Alert,
    config: &AlertmanagerConfig,
    silences: &Silences,
    inhibitor: &Inhibitor,
    now_ms: i64,
) -> AlertStatus {
    let inhibited_by: Vec<String> = inhibitor
        .inhibited_by(&alert.labels, now_ms)
        .into_iter()
        .map(fingerprint_hex)
        .collect();
    let silenced_by = silences.silenced_by(&alert.labels, now_ms);
    let receivers = config
        .destinations(&alert.labels)
        .into_iter()
        .map(|d| d.receiver)
        .collect();
    let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
        AlertState::Active
    } else {
        AlertState::Suppressed
    };
    AlertStatus {
        state,
        silenced_by,
        inhibited_by,
        receivers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matchers::{parse_matchers, Matchers};
    use crate::alerting::silence::Silence;
    use crate::store::Labels;

    const NOW: i64 = 1_800_000_000_000;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::empty(),
            starts_at_ms: NOW - 1000,
            ends_at_ms: NOW + 300_000,
            generator_url: String::new(),
            updated_at_ms: NOW,
            timeout: true,
        }
    }

    #[tokio::test]
    async fn status_shows_silences_inhibitions_and_receivers() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            r#"
route:
  receiver: default
  routes:
    - matchers: ['severity="page"']
      receiver: pager
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [job]
receivers: [{name: default}, {name: pager}]
"#,
            "alertmanager.yml",
        )
        .unwrap();
        let ih = Inhibitor::new(&cfg.inhibit_rules);
        let silences = Silences::in_memory();
        let page = alert(&[("alertname", "Burn"), ("severity", "page"), ("job", "api")]);
        let ticket = alert(&[
            ("alertname", "Slow"),
            ("severity", "ticket"),
            ("job", "api"),
        ]);
        ih.observe(&page, NOW);
        ih.observe(&ticket, NOW);

        let st = alert_status(&page, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Active);
        assert_eq!(st.receivers, vec!["pager"]);
        assert!(st.silenced_by.is_empty() && st.inhibited_by.is_empty());

        let st = alert_status(&ticket, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Suppressed);
        assert_eq!(st.inhibited_by, vec![fingerprint_hex(page.fingerprint())]);
        assert_eq!(st.receivers, vec!["default"]);

        let id = silences
            .upsert(
                Silence {
                    id: String::new(),
                    matchers: Matchers(parse_matchers("alertname=Burn").unwrap()),
                    starts_at_ms: NOW,
                    ends_at_ms: NOW + 60_000,
                    updated_at_ms: 0,
                    created_by: "a".into(),
                    comment: "c".into(),
                },
                NOW,
            )
            .await
            .unwrap();
        let st = alert_status(&page, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Suppressed);
        assert_eq!(st.silenced_by, vec![id]);
        assert_eq!(AlertState::Suppressed.as_str(), "suppressed");
    }
}
