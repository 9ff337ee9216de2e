//! `opsgenie_configs`: Opsgenie's Alert API v2, with Alertmanager's defaults: `send_resolved`
//! true, the `opsgenie.default.*` templates for message, description and source, the API key
//! (`api_key`, `api_key_file`) and URL (`api_url`) falling back to the global
//! `opsgenie_api_key` / `opsgenie_api_key_file` / `opsgenie_api_url`. Responder types are
//! `team`, `teams`, `user`, `escalation` or `schedule` (any case, sent as written), or a
//! template.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{checked_url, http_or_global, secret_or_file, template_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpsGenieConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub api_url: Option<String>,
    pub message: Option<String>,
    pub description: Option<String>,
    pub source: Option<String>,
    pub details: Option<BTreeMap<String, String>>,
    pub entity: Option<String>,
    pub responders: Option<Vec<RawOpsGenieResponder>>,
    pub actions: Option<String>,
    pub tags: Option<String>,
    pub note: Option<String>,
    pub priority: Option<String>,
    pub update_alerts: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpsGenieResponder {
    pub id: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// One `opsgenie_configs` entry. Text fields are template text.
#[derive(Clone, Debug)]
pub struct OpsGenieConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub api_key: SecretSource,
    /// Ends with the API's base path (`https://api.opsgenie.com/`); `v2/alerts` is appended.
    pub api_url: String,
    pub message: String,
    pub description: String,
    pub source: String,
    pub details: BTreeMap<String, String>,
    pub entity: String,
    pub responders: Vec<OpsGenieResponder>,
    /// Comma-separated, templated.
    pub actions: String,
    /// Comma-separated, templated.
    pub tags: String,
    pub note: String,
    pub priority: String,
    pub update_alerts: bool,
}

#[derive(Clone, Debug)]
pub struct OpsGenieResponder {
    pub id: String,
    pub name: String,
    pub username: String,
    /// As written (checked case-insensitively unless a template).
    pub kind: String,
}

const RESPONDER_TYPES: [&str; 5] = ["team", "teams", "user", "escalation", "schedule"];

pub(crate) fn opsgenie(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    o: RawOpsGenieConfig,
    global: &GlobalConfig,
) -> Result<OpsGenieConfig, ConfigError> {
    let g = &global.integrations;
    let api_key = match secret_or_file(ctx, path, "api_key", o.api_key, o.api_key_file)? {
        Some(k) => k,
        None => g.opsgenie_api_key.clone().ok_or_else(|| {
            ctx.err(
                path,
                "no global OpsGenie API Key set either inline or in a file",
            )
        })?,
    };
    let api_url =
        checked_url(ctx, path, "api_url", o.api_url)?.unwrap_or_else(|| g.opsgenie_api_url.clone());
    let mut responders = Vec::new();
    for (i, r) in o.responders.unwrap_or_default().into_iter().enumerate() {
        let p = path.key("responders").index(i);
        let (id, name, username) = (
            r.id.unwrap_or_default(),
            r.name.unwrap_or_default(),
            r.username.unwrap_or_default(),
        );
        if id.is_empty() && name.is_empty() && username.is_empty() {
            return Err(ctx.err(
                &p,
                "opsGenieConfig responder has to have at least one of id, username or name specified",
            ));
        }
        // Checked lower-cased, sent as written (Alertmanager lower-cases a copy).
        let kind = r.kind.unwrap_or_default();
        if !kind.contains("{{") && !RESPONDER_TYPES.contains(&kind.to_lowercase().as_str()) {
            return Err(ctx.err(
                &p.key("type"),
                format!("opsGenieConfig responder type {kind:?} does not match valid options ^(team|teams|user|escalation|schedule)$"),
            ));
        }
        responders.push(OpsGenieResponder {
            id,
            name,
            username,
            kind,
        });
    }
    Ok(OpsGenieConfig {
        send_resolved: o.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, o.http_config, &global.http)?,
        api_key,
        api_url,
        message: template_or(o.message, "opsgenie.default.message"),
        description: template_or(o.description, "opsgenie.default.description"),
        source: template_or(o.source, "opsgenie.default.source"),
        details: o.details.unwrap_or_default(),
        entity: o.entity.unwrap_or_default(),
        responders,
        actions: o.actions.unwrap_or_default(),
        tags: o.tags.unwrap_or_default(),
        note: o.note.unwrap_or_default(),
        priority: o.priority.unwrap_or_default(),
        update_alerts: o.update_alerts.unwrap_or(false),
    })
}
