//! `discord_configs`: Alertmanager's Discord integration (a webhook execution with one embed).
//!
//! Defaults as Alertmanager's: `send_resolved: true`, `title` the `discord.default.title`
//! template, `message` `discord.default.message`; `content`, `username` and `avatar_url` empty
//! (not sent). One of `webhook_url` / `webhook_url_file` is required.

use serde::Deserialize;

use super::{http_or_global, non_empty, template_or, webhook_url};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscordConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub webhook_url: Option<String>,
    pub webhook_url_file: Option<String>,
    pub content: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
}

/// One `discord_configs` entry.
#[derive(Clone, Debug)]
pub struct DiscordConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub webhook_url: SecretSource,
    /// Template texts.
    pub title: String,
    pub message: String,
    /// Empty: not sent.
    pub content: String,
    pub username: String,
    pub avatar_url: String,
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawDiscordConfig,
    global: &GlobalConfig,
) -> Result<DiscordConfig, ConfigError> {
    let webhook_url =
        webhook_url(ctx, path, c.webhook_url, c.webhook_url_file)?.ok_or_else(|| {
            ctx.err(
                path,
                "one of webhook_url or webhook_url_file must be configured",
            )
        })?;
    Ok(DiscordConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        webhook_url,
        title: template_or(c.title, "discord.default.title"),
        message: template_or(c.message, "discord.default.message"),
        content: non_empty(c.content).unwrap_or_default(),
        username: non_empty(c.username).unwrap_or_default(),
        avatar_url: non_empty(c.avatar_url).unwrap_or_default(),
    })
}
