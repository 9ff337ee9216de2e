//! `webex_configs`: Alertmanager's Webex integration (a message POSTed to a room).
//!
//! Defaults as Alertmanager's: `send_resolved: true`, `api_url` from `global.webex_api_url`
//! (`https://webexapis.com/v1/messages`), `message` the `webex.default.message` template.
//! `room_id` is required, and so is the entry's own `http_config.authorization` (the bot
//! token): Alertmanager checks it before the global `http_config` applies.

use serde::Deserialize;

use super::{checked_url, http_or_global, non_empty, template_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{Auth, ConfigError, FieldPath, HttpClientSettings};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebexConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_url: Option<String>,
    pub message: Option<String>,
    pub room_id: Option<String>,
}

/// One `webex_configs` entry.
#[derive(Clone, Debug)]
pub struct WebexConfig {
    /// Default true.
    pub send_resolved: bool,
    /// Carries the `Authorization` header (the bot token).
    pub http: HttpClientSettings,
    pub api_url: String,
    /// Sent as written (Alertmanager 0.25 does not template it).
    pub room_id: String,
    /// Template text.
    pub message: String,
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawWebexConfig,
    global: &GlobalConfig,
) -> Result<WebexConfig, ConfigError> {
    let room_id =
        non_empty(c.room_id).ok_or_else(|| ctx.err(path, "missing room_id on webex_config"))?;
    let has_auth = c.http_config.is_some();
    let http = http_or_global(ctx, path, c.http_config, &global.http)?;
    if !has_auth || !matches!(http.auth, Some(Auth::Authorization(_))) {
        return Err(ctx.err(
            &path.key("http_config"),
            "missing webex_configs.http_config.authorization",
        ));
    }
    let api_url = checked_url(ctx, path, "api_url", c.api_url)?
        .unwrap_or_else(|| global.chat.webex_api_url.clone());
    Ok(WebexConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http,
        api_url,
        room_id,
        message: template_or(c.message, "webex.default.message"),
    })
}
