//! The VictorOps (Splunk On-Call) integration (`victorops_configs`): one event per
//! notification, posted to `{api_url}{api_key}/{routing_key}` as Alertmanager posts it.
//!
//! The event carries `message_type` (the configured type while firing — `CRITICAL` when it
//! is not one of `CRITICAL`, `WARNING`, `INFO` — and `RECOVERY` once all alerts have
//! resolved), `entity_id` (the SHA-256 of the group key), `entity_display_name`,
//! `state_message` (cut at 20480 characters), `monitoring_tool` and the `custom_fields`,
//! every value a template. redline adds nothing.
//!
//! Answers: 2xx succeeds; 5xx is retried, other statuses are not; the body follows the
//! status in errors.

use std::collections::BTreeMap;

use super::build::{IntegrationError, NotifyContext};
use super::http::{
    group_key_hash, impl_notifier, read_secret, truncate, Fields, HttpNotifier, Retrier,
};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::victorops::VictorOpsConfig;

/// VictorOps' limit on a state message, in characters.
const MAX_STATE_MESSAGE_CHARS: usize = 20480;

/// One `victorops_configs` entry of a receiver.
pub type VictorOpsNotifier = HttpNotifier<VictorOpsConfig>;

impl VictorOpsNotifier {
    /// The integration `victorops[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &VictorOpsConfig,
        ctx: &NotifyContext,
    ) -> Result<VictorOpsNotifier, IntegrationError> {
        let c = config;
        let mut fields = Fields::new(ctx);
        fields.add_all(
            path,
            "",
            &[
                ("routing_key", &c.routing_key),
                ("message_type", &c.message_type),
                ("state_message", &c.state_message),
                ("entity_display_name", &c.entity_display_name),
                ("monitoring_tool", &c.monitoring_tool),
            ],
        )?;
        fields.add_map(path, "custom_fields", &c.custom_fields)?;
        HttpNotifier::with_fields("victorops", index, path, c, &c.http, fields)
    }

    /// The event and the routing key.
    fn event(&self, n: &Notification) -> Result<(BTreeMap<String, String>, String), NotifyError> {
        let data = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &data);
        let mut message_type = r("message_type")?;
        if !n.is_firing() {
            message_type = "RECOVERY".into();
        } else if !["CRITICAL", "WARNING", "INFO"].contains(&message_type.as_str()) {
            message_type = "CRITICAL".into();
        }
        let mut event =
            self.fields
                .render_map("custom_fields", &self.config.custom_fields, &data)?;
        event.insert("message_type".into(), message_type);
        event.insert("entity_id".into(), group_key_hash(&n.group_key));
        event.insert("entity_display_name".into(), r("entity_display_name")?);
        event.insert(
            "state_message".into(),
            truncate(&r("state_message")?, MAX_STATE_MESSAGE_CHARS).0,
        );
        event.insert("monitoring_tool".into(), r("monitoring_tool")?);
        Ok((event, r("routing_key")?))
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let (event, routing_key) = self.event(n)?;
        let key = read_secret(&self.config.api_key, "api_key")?;
        let url = format!("{}{}/{routing_key}", self.config.api_url, key.expose());
        let resp = self.http.post_json(&url, &event, &[]).await?;
        Retrier::STANDARD.check(&resp)
    }
}

impl_notifier!(VictorOpsNotifier);
