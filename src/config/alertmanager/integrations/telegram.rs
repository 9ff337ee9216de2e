//! `telegram_configs`: Alertmanager's Telegram integration (`sendMessage` of the Bot API).
//!
//! Defaults as Alertmanager's: `send_resolved: true`, `api_url` from `global.telegram_api_url`
//! (`https://api.telegram.org`), `message` the `telegram.default.message` template,
//! `parse_mode: HTML`. `bot_token` or `bot_token_file` (one of them) and a non-zero `chat_id`
//! are required.

use serde::Deserialize;

use super::{checked_url, http_or_global, secret_or_file, template_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegramConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_url: Option<String>,
    pub bot_token: Option<String>,
    pub bot_token_file: Option<String>,
    pub chat_id: Option<i64>,
    pub message_thread_id: Option<i64>,
    pub message: Option<String>,
    pub disable_notifications: Option<bool>,
    pub parse_mode: Option<String>,
}

/// One `telegram_configs` entry.
#[derive(Clone, Debug)]
pub struct TelegramConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    /// The Bot API's base URL; requests go to `{api_url}/bot{token}/sendMessage`.
    pub api_url: String,
    pub bot_token: SecretSource,
    pub chat_id: i64,
    /// 0: not sent.
    pub message_thread_id: i64,
    /// Template text.
    pub message: String,
    pub disable_notifications: bool,
    /// `HTML` (default), `Markdown`, `MarkdownV2`, or empty for plain text.
    pub parse_mode: String,
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawTelegramConfig,
    global: &GlobalConfig,
) -> Result<TelegramConfig, ConfigError> {
    let bot_token = secret_or_file(ctx, path, "bot_token", c.bot_token, c.bot_token_file)?
        .ok_or_else(|| {
            ctx.err(
                path,
                "missing bot_token or bot_token_file on telegram_config",
            )
        })?;
    let chat_id = c.chat_id.unwrap_or(0);
    if chat_id == 0 {
        return Err(ctx.err(path, "missing chat_id on telegram_config"));
    }
    let parse_mode = c.parse_mode.unwrap_or_else(|| "HTML".to_string());
    if !matches!(parse_mode.as_str(), "" | "Markdown" | "MarkdownV2" | "HTML") {
        return Err(ctx.err(
            &path.key("parse_mode"),
            "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
        ));
    }
    let api_url = checked_url(ctx, path, "api_url", c.api_url)?
        .unwrap_or_else(|| global.chat.telegram_api_url.clone());
    Ok(TelegramConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        api_url,
        bot_token,
        chat_id,
        message_thread_id: c.message_thread_id.unwrap_or(0),
        message: template_or(c.message, "telegram.default.message"),
        disable_notifications: c.disable_notifications.unwrap_or(false),
        parse_mode,
    })
}
