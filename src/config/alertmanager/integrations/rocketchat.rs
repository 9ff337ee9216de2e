//! `rocketchat_configs`: Alertmanager's Rocket.Chat integration (`chat.postMessage` with one
//! attachment, authenticated by a personal access token).
//!
//! Defaults as Alertmanager's: `send_resolved: false`; `api_url` from
//! `global.rocketchat_api_url` (`https://open.rocket.chat/`); `token` / `token_id` (or their
//! `_file` forms) from the entry, else from `global.rocketchat_token*` /
//! `global.rocketchat_token_id*`, required; `color`
//! `{{ if eq .Status "firing" }}red{{ else }}green{{ end }}`; `emoji`, `icon_url`, `text`,
//! `title` and `title_link` the `rocketchat.default.*` templates.

use serde::Deserialize;

use super::{checked_url, http_or_global, non_empty, secret_or_file, template_or, text_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

/// Alertmanager's default `color`.
pub const DEFAULT_COLOR: &str = r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRocketchatConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_url: Option<String>,
    pub token_id: Option<String>,
    pub token_id_file: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub channel: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub text: Option<String>,
    pub fields: Option<Vec<RocketchatField>>,
    pub short_fields: Option<bool>,
    pub emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    pub link_names: Option<bool>,
    pub actions: Option<Vec<RocketchatAction>>,
}

/// One attachment field; texts are templates.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RocketchatField {
    pub title: Option<String>,
    pub value: Option<String>,
    pub short: Option<bool>,
}

/// One attachment button; texts are templates.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RocketchatAction {
    /// Ignored: Alertmanager always sends `button`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub msg: Option<String>,
}

/// One `rocketchat_configs` entry. Texts are templates.
#[derive(Clone, Debug)]
pub struct RocketchatConfig {
    /// Default false.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub api_url: String,
    pub token_id: SecretSource,
    pub token: SecretSource,
    pub channel: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub text: String,
    pub fields: Vec<RocketchatField>,
    pub short_fields: bool,
    pub emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    pub actions: Vec<RocketchatAction>,
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawRocketchatConfig,
    global: &GlobalConfig,
) -> Result<RocketchatConfig, ConfigError> {
    let token = match secret_or_file(ctx, path, "token", c.token, c.token_file)? {
        Some(t) => t,
        None => global.chat.rocketchat_token.clone().ok_or_else(|| {
            ctx.err(
                path,
                "no global Rocketchat Token set either inline or in a file",
            )
        })?,
    };
    let token_id = match secret_or_file(ctx, path, "token_id", c.token_id, c.token_id_file)? {
        Some(t) => t,
        None => global.chat.rocketchat_token_id.clone().ok_or_else(|| {
            ctx.err(
                path,
                "no global Rocketchat TokenID set either inline or in a file",
            )
        })?,
    };
    let api_url = checked_url(ctx, path, "api_url", c.api_url)?
        .unwrap_or_else(|| global.chat.rocketchat_api_url.clone());
    let text = |v: Option<String>| non_empty(v).unwrap_or_default();
    Ok(RocketchatConfig {
        send_resolved: c.send_resolved.unwrap_or(false),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        api_url,
        token_id,
        token,
        channel: text(c.channel),
        color: text_or(c.color, DEFAULT_COLOR),
        title: template_or(c.title, "rocketchat.default.title"),
        title_link: template_or(c.title_link, "rocketchat.default.titlelink"),
        text: template_or(c.text, "rocketchat.default.text"),
        fields: c.fields.unwrap_or_default(),
        short_fields: c.short_fields.unwrap_or(false),
        emoji: template_or(c.emoji, "rocketchat.default.emoji"),
        icon_url: template_or(c.icon_url, "rocketchat.default.iconurl"),
        image_url: text(c.image_url),
        thumb_url: text(c.thumb_url),
        link_names: c.link_names.unwrap_or(false),
        actions: c.actions.unwrap_or_default(),
    })
}
