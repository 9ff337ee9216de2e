//! The Alertmanager config file as the user wrote it: serde structs mirroring
//! `alertmanager.yml`, plus redline's `owners:` section.
//!
//! Every struct denies unknown fields, so a typo fails with its position. Receiver kinds and
//! settings redline does not implement are typed [`Unsupported`]: accepted when absent or
//! empty, an error at their own path otherwise. Global settings that only serve receiver
//! kinds redline lacks (`wechat_api_url`, …) are accepted and unused, so existing files keep
//! loading; any receiver that would use them is rejected. The integrations' own entries are
//! in [`super::integrations`].

use std::collections::BTreeMap;

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;

use super::integrations as chat;
pub use super::integrations::opsgenie::RawOpsGenieConfig;
pub use super::integrations::pagerduty::RawPagerdutyConfig;
pub use super::integrations::slack::RawSlackConfig;
pub use super::integrations::victorops::RawVictorOpsConfig;
use crate::config::raw::{RawTlsConfig, Unsupported};
use crate::config::units::PromDuration;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanagerConfig {
    pub global: Option<RawGlobal>,
    pub route: Option<RawRoute>,
    pub inhibit_rules: Option<Vec<RawInhibitRule>>,
    pub receivers: Option<Vec<RawReceiver>>,
    pub templates: Option<Vec<String>>,
    pub time_intervals: Option<Vec<RawNamedTimeInterval>>,
    pub mute_time_intervals: Option<Vec<RawNamedTimeInterval>>,
    pub tracing: Option<Unsupported>,
    /// redline's addition.
    pub owners: Option<RawOwners>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub resolve_timeout: Option<PromDuration>,
    pub http_config: Option<RawHttpConfig>,
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<String>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<RawTlsConfig>,
    // Settings of the integrations (`integrations::IntegrationGlobals`).
    pub slack_api_url: Option<String>,
    pub slack_api_url_file: Option<String>,
    pub victorops_api_key: Option<String>,
    pub victorops_api_key_file: Option<String>,
    pub victorops_api_url: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_key: Option<String>,
    pub opsgenie_api_key_file: Option<String>,
    pub opsgenie_api_url: Option<String>,
    // Settings of receiver kinds redline does not implement: accepted, unused.
    pub wechat_api_url: Option<IgnoredAny>,
    pub wechat_api_secret: Option<IgnoredAny>,
    pub wechat_api_corp_id: Option<IgnoredAny>,
    pub jira_api_url: Option<IgnoredAny>,
    // Settings of the chat integrations (`super::integrations`).
    pub telegram_api_url: Option<String>,
    pub webex_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<String>,
    pub rocketchat_token_file: Option<String>,
    pub rocketchat_token_id: Option<String>,
    pub rocketchat_token_id_file: Option<String>,
    pub mattermost_webhook_url: Option<String>,
    pub mattermost_webhook_url_file: Option<String>,
}

crate::config::http_client::with_http_client_fields! {
/// prometheus/common's `HTTPClientConfig` as Alertmanager embeds it.
pub struct RawHttpConfig {
}
}

/// One node of the route tree.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "match")]
    pub match_eq: Option<BTreeMap<String, Text>>,
    pub match_re: Option<BTreeMap<String, Text>>,
    pub matchers: Option<Vec<String>>,
    #[serde(rename = "continue")]
    pub continue_matching: Option<bool>,
    pub routes: Option<Vec<RawRoute>>,
    pub group_wait: Option<PromDuration>,
    pub group_interval: Option<PromDuration>,
    pub repeat_interval: Option<PromDuration>,
    pub mute_time_intervals: Option<Vec<String>>,
    pub active_time_intervals: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    pub source_match: Option<BTreeMap<String, Text>>,
    pub source_match_re: Option<BTreeMap<String, Text>>,
    pub source_matchers: Option<Vec<String>>,
    pub target_match: Option<BTreeMap<String, Text>>,
    pub target_match_re: Option<BTreeMap<String, Text>>,
    pub target_matchers: Option<Vec<String>>,
    pub equal: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub name: Option<String>,
    pub webhook_configs: Option<Vec<RawWebhookConfig>>,
    pub email_configs: Option<Vec<RawEmailConfig>>,
    pub opsgenie_configs: Option<Vec<RawOpsGenieConfig>>,
    pub pagerduty_configs: Option<Vec<RawPagerdutyConfig>>,
    pub slack_configs: Option<Vec<RawSlackConfig>>,
    pub victorops_configs: Option<Vec<RawVictorOpsConfig>>,
    // The chat integrations (`super::integrations`).
    pub telegram_configs: Option<Vec<chat::telegram::RawTelegramConfig>>,
    pub discord_configs: Option<Vec<chat::discord::RawDiscordConfig>>,
    pub webex_configs: Option<Vec<chat::webex::RawWebexConfig>>,
    pub msteams_configs: Option<Vec<chat::msteams::RawMsTeamsConfig>>,
    pub msteamsv2_configs: Option<Vec<chat::msteams::RawMsTeamsV2Config>>,
    pub pushover_configs: Option<Vec<chat::pushover::RawPushoverConfig>>,
    pub rocketchat_configs: Option<Vec<chat::rocketchat::RawRocketchatConfig>>,
    pub mattermost_configs: Option<Vec<chat::mattermost::RawMattermostConfig>>,
    // Left out, rejected with the reason (`chat::left_out`).
    pub sns_configs: Option<Unsupported>,
    pub wechat_configs: Option<Unsupported>,
    pub jira_configs: Option<Unsupported>,
    pub incidentio_configs: Option<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhookConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub max_alerts: Option<u64>,
    pub timeout: Option<PromDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailConfig {
    pub send_resolved: Option<bool>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub hello: Option<String>,
    pub smarthost: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub auth_password_file: Option<String>,
    pub auth_secret: Option<String>,
    pub auth_identity: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub require_tls: Option<bool>,
    pub tls_config: Option<RawTlsConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamedTimeInterval {
    pub name: Option<String>,
    pub time_intervals: Option<Vec<RawTimeInterval>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeInterval {
    pub times: Option<Vec<RawTimeRange>>,
    pub weekdays: Option<Vec<Text>>,
    pub days_of_month: Option<Vec<Text>>,
    pub months: Option<Vec<Text>>,
    pub years: Option<Vec<Text>>,
    pub location: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeRange {
    pub start_time: Option<Text>,
    pub end_time: Option<Text>,
}

/// redline's `owners:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOwners {
    pub labels: Option<Vec<String>>,
    pub receivers: Option<BTreeMap<String, String>>,
    pub fallback_receiver: Option<String>,
    pub playbook_url_template: Option<String>,
}

/// A YAML scalar read as text, as Go's YAML decoder hands `500` or `2024` to a string field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
}
