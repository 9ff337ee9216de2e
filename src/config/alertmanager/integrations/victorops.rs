//! `victorops_configs`: VictorOps' (Splunk On-Call) REST integration, with Alertmanager's
//! defaults: `send_resolved` true, `message_type` `CRITICAL`, the `victorops.default.*`
//! templates for state_message, entity_display_name and monitoring_tool, the API key
//! (`api_key`, `api_key_file`) and URL (`api_url`) falling back to the global
//! `victorops_api_key` / `victorops_api_key_file` / `victorops_api_url`. `routing_key` is
//! required; `custom_fields` may not reuse the fields Alertmanager sets.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{checked_url, http_or_global, non_empty, secret_or_file, template_or, text_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVictorOpsConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub api_url: Option<String>,
    pub routing_key: Option<String>,
    pub message_type: Option<String>,
    pub state_message: Option<String>,
    pub entity_display_name: Option<String>,
    pub monitoring_tool: Option<String>,
    pub custom_fields: Option<BTreeMap<String, String>>,
}

/// One `victorops_configs` entry. Text fields are template text.
#[derive(Clone, Debug)]
pub struct VictorOpsConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub api_key: SecretSource,
    /// The events are posted to `{api_url}{api_key}/{routing_key}`.
    pub api_url: String,
    pub routing_key: String,
    pub message_type: String,
    pub state_message: String,
    pub entity_display_name: String,
    pub monitoring_tool: String,
    pub custom_fields: BTreeMap<String, String>,
}

/// The fields Alertmanager sets itself, which `custom_fields` may not name.
const RESERVED: [&str; 7] = [
    "routing_key",
    "message_type",
    "state_message",
    "entity_display_name",
    "monitoring_tool",
    "entity_id",
    "entity_state",
];

pub(crate) fn victorops(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    v: RawVictorOpsConfig,
    global: &GlobalConfig,
) -> Result<VictorOpsConfig, ConfigError> {
    let g = &global.integrations;
    let routing_key = non_empty(v.routing_key)
        .ok_or_else(|| ctx.err(path, "missing Routing key in VictorOps config"))?;
    let api_key = match secret_or_file(ctx, path, "api_key", v.api_key, v.api_key_file)? {
        Some(k) => k,
        None => g.victorops_api_key.clone().ok_or_else(|| {
            ctx.err(
                path,
                "no global VictorOps API Key set either inline or in a file",
            )
        })?,
    };
    let api_url = checked_url(ctx, path, "api_url", v.api_url)?
        .unwrap_or_else(|| g.victorops_api_url.clone());
    let custom_fields = v.custom_fields.unwrap_or_default();
    for r in RESERVED {
        if custom_fields.contains_key(r) {
            return Err(ctx.err(
                &path.key("custom_fields").key(r),
                format!("victorOps config contains custom field {r} which cannot be used as it conflicts with the fixed/static fields"),
            ));
        }
    }
    Ok(VictorOpsConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, v.http_config, &global.http)?,
        api_key,
        api_url,
        routing_key,
        message_type: text_or(v.message_type, "CRITICAL"),
        state_message: template_or(v.state_message, "victorops.default.state_message"),
        entity_display_name: template_or(
            v.entity_display_name,
            "victorops.default.entity_display_name",
        ),
        monitoring_tool: template_or(v.monitoring_tool, "victorops.default.monitoring_tool"),
        custom_fields,
    })
}
