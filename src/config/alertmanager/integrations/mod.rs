//! Alertmanager's chat and push receivers, read unchanged: `telegram_configs`,
//! `discord_configs`, `webex_configs`, `msteams_configs`, `msteamsv2_configs`,
//! `pushover_configs` and `rocketchat_configs`, one file each. Each file
//! holds the raw serde struct (what the user wrote, unknown fields rejected), the typed
//! config with Alertmanager's defaults (`send_resolved`, the default templates, global URLs
//! and tokens), and the validation `config/notifiers.go` and `config/config.go` do, with
//! errors naming the field path.
//!
//! [`ChatGlobals`] holds the `global` settings these integrations inherit
//! (`telegram_api_url`, `webex_api_url`, `rocketchat_*`). Receiver kinds redline leaves
//! out are rejected by the raw reader with the reason ([`left_out`]).
//! Template fields stay text here; they are compiled when the notifiers are built.
//! Secrets are [`SecretSource`]s: never printed, `*_file` read on every send.

pub mod discord;
pub mod msteams;
pub mod pushover;
pub mod rocketchat;
pub mod telegram;
pub mod webex;

use super::build::Ctx;
use super::raw::RawHttpConfig;
use super::receivers::{http_config, GlobalConfig};
use crate::config::{ConfigError, FieldPath, HttpClientSettings, Secret, SecretSource};

/// Alertmanager's default `telegram_api_url`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// Alertmanager's default `webex_api_url`.
pub const DEFAULT_WEBEX_API_URL: &str = "https://webexapis.com/v1/messages";
/// Alertmanager's default `rocketchat_api_url`.
pub const DEFAULT_ROCKETCHAT_API_URL: &str = "https://open.rocket.chat/";

/// The `global` settings of these integrations, as written.
#[derive(Debug, Default)]
pub struct RawChatGlobals {
    pub telegram_api_url: Option<String>,
    pub webex_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<String>,
    pub rocketchat_token_file: Option<String>,
    pub rocketchat_token_id: Option<String>,
    pub rocketchat_token_id_file: Option<String>,
}

/// The `global` settings of these integrations, with Alertmanager's defaults.
#[derive(Clone, Debug)]
pub struct ChatGlobals {
    /// Default [`DEFAULT_TELEGRAM_API_URL`].
    pub telegram_api_url: String,
    /// Default [`DEFAULT_WEBEX_API_URL`].
    pub webex_api_url: String,
    /// Default [`DEFAULT_ROCKETCHAT_API_URL`].
    pub rocketchat_api_url: String,
    pub rocketchat_token: Option<SecretSource>,
    pub rocketchat_token_id: Option<SecretSource>,
}

impl Default for ChatGlobals {
    fn default() -> Self {
        ChatGlobals {
            telegram_api_url: DEFAULT_TELEGRAM_API_URL.to_string(),
            webex_api_url: DEFAULT_WEBEX_API_URL.to_string(),
            rocketchat_api_url: DEFAULT_ROCKETCHAT_API_URL.to_string(),
            rocketchat_token: None,
            rocketchat_token_id: None,
        }
    }
}

/// Validates the globals; `path` is the `global` section's.
pub(crate) fn globals(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    g: RawChatGlobals,
) -> Result<ChatGlobals, ConfigError> {
    let d = ChatGlobals::default();
    let url_or = |field: &str, v: Option<String>, default: String| match non_empty(v) {
        Some(u) => http_url(ctx, &path.key(field), &u).map(|()| u),
        None => Ok(default),
    };
    Ok(ChatGlobals {
        telegram_api_url: url_or("telegram_api_url", g.telegram_api_url, d.telegram_api_url)?,
        webex_api_url: url_or("webex_api_url", g.webex_api_url, d.webex_api_url)?,
        rocketchat_api_url: url_or(
            "rocketchat_api_url",
            g.rocketchat_api_url,
            d.rocketchat_api_url,
        )?,
        rocketchat_token: secret(
            ctx,
            path,
            ("rocketchat_token", g.rocketchat_token),
            ("rocketchat_token_file", g.rocketchat_token_file),
        )?,
        rocketchat_token_id: secret(
            ctx,
            path,
            ("rocketchat_token_id", g.rocketchat_token_id),
            ("rocketchat_token_id_file", g.rocketchat_token_id_file),
        )?,
    })
}

/// The receiver lists redline reads (the message of a rejected one names them).
pub const SUPPORTED: &str = "webhook_configs, email_configs, telegram_configs, discord_configs, \
webex_configs, msteams_configs, msteamsv2_configs, pushover_configs, rocketchat_configs";

/// The error for a receiver list redline leaves out, with the reason where there is one.
pub fn left_out(kind: &str) -> String {
    let why = match kind {
        "sns_configs" => " (Amazon SNS needs an AWS SDK: SigV4 signing and the AWS credential chain)",
        "wechat_configs" => " (WeChat's access-token exchange is not implemented; use a webhook_configs bridge)",
        "jira_configs" => " (Jira issues are searched, created and transitioned through Jira's REST API, which redline does not implement; use a webhook_configs bridge)",
        "incidentio_configs" => " (incident.io is not implemented; its alert source accepts webhook_configs)",
        "mattermost_configs" => " (Alertmanager's Mattermost integration is newer than the releases redline follows and still changing; use a webhook_configs bridge)",
        _ => "",
    };
    format!("receiver type {kind} is not supported by redline{why} (supported: {SUPPORTED})")
}

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A secret given inline or as a file, at most one of them (Alertmanager: "at most one of
/// `x` & `x_file` must be configured"); files resolve against the config's directory.
pub(crate) fn secret(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    (inline_field, inline): (&str, Option<String>),
    (file_field, file): (&str, Option<String>),
) -> Result<Option<SecretSource>, ConfigError> {
    match (non_empty(inline), non_empty(file)) {
        (Some(_), Some(_)) => Err(ctx.err(
            &path.key(file_field),
            format!("at most one of {inline_field} & {file_field} must be configured"),
        )),
        (Some(s), None) => Ok(Some(SecretSource::Inline(Secret::new(s)))),
        (None, Some(f)) => Ok(Some(SecretSource::File(ctx.resolve(&f)))),
        (None, None) => Ok(None),
    }
}

/// An `http`/`https` URL with a host, as Alertmanager's `URL` and `SecretURL` types demand.
/// The value is never quoted back (it may carry a token).
pub(crate) fn http_url(ctx: &Ctx<'_>, path: &FieldPath, u: &str) -> Result<(), ConfigError> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or_else(|| {
            let scheme = u.split_once("://").map_or("", |(s, _)| s);
            ctx.err(path, format!("unsupported scheme {scheme:?} for URL"))
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ctx.err(path, "URL has no host"));
    }
    Ok(())
}

/// A required secret URL (`webhook_url` / `webhook_url_file`), validated when inline.
pub(crate) fn webhook_url(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    url: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    let s = secret(ctx, path, ("webhook_url", url), ("webhook_url_file", file))?;
    if let Some(SecretSource::Inline(u)) = &s {
        http_url(ctx, &path.key("webhook_url"), u.expose())?;
    }
    Ok(s)
}

/// The entry's `http_config`, or the global one.
pub(crate) fn http(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    h: Option<RawHttpConfig>,
    global: &GlobalConfig,
) -> Result<HttpClientSettings, ConfigError> {
    match h {
        Some(h) => http_config(ctx, &path.key("http_config"), h),
        None => Ok(global.http.clone()),
    }
}

/// A template field with Alertmanager's default when absent or empty.
pub(crate) fn tmpl(v: Option<String>, default: &str) -> String {
    non_empty(v).unwrap_or_else(|| default.to_string())
}

/// `{{ template "NAME" . }}`, as Alertmanager writes a field's default.
pub(crate) fn default_template(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

/// Builds every entry of one `*_configs` list.
pub(crate) fn each<R, T>(
    path: &FieldPath,
    field: &str,
    list: Option<Vec<R>>,
    mut build: impl FnMut(&FieldPath, R) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let mut out = Vec::new();
    for (i, r) in list.unwrap_or_default().into_iter().enumerate() {
        out.push(build(&path.key(field).index(i), r)?);
    }
    Ok(out)
}

/// The receiver's chat integrations, built from its raw lists.
#[derive(Clone, Debug, Default)]
pub struct ChatConfigs {
    pub telegram_configs: Vec<telegram::TelegramConfig>,
    pub discord_configs: Vec<discord::DiscordConfig>,
    pub webex_configs: Vec<webex::WebexConfig>,
    pub msteams_configs: Vec<msteams::MsTeamsConfig>,
    pub msteamsv2_configs: Vec<msteams::MsTeamsV2Config>,
    pub pushover_configs: Vec<pushover::PushoverConfig>,
    pub rocketchat_configs: Vec<rocketchat::RocketchatConfig>,
}

/// The raw lists of one receiver.
#[derive(Debug, Default)]
pub struct RawChatConfigs {
    pub telegram_configs: Option<Vec<telegram::RawTelegramConfig>>,
    pub discord_configs: Option<Vec<discord::RawDiscordConfig>>,
    pub webex_configs: Option<Vec<webex::RawWebexConfig>>,
    pub msteams_configs: Option<Vec<msteams::RawMsTeamsConfig>>,
    pub msteamsv2_configs: Option<Vec<msteams::RawMsTeamsV2Config>>,
    pub pushover_configs: Option<Vec<pushover::RawPushoverConfig>>,
    pub rocketchat_configs: Option<Vec<rocketchat::RawRocketchatConfig>>,
}

/// Builds a receiver's chat integrations; `path` is the receiver's.
pub(crate) fn configs(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    r: RawChatConfigs,
    global: &GlobalConfig,
) -> Result<ChatConfigs, ConfigError> {
    Ok(ChatConfigs {
        telegram_configs: each(path, "telegram_configs", r.telegram_configs, |p, c| {
            telegram::build(ctx, p, c, global)
        })?,
        discord_configs: each(path, "discord_configs", r.discord_configs, |p, c| {
            discord::build(ctx, p, c, global)
        })?,
        webex_configs: each(path, "webex_configs", r.webex_configs, |p, c| {
            webex::build(ctx, p, c, global)
        })?,
        msteams_configs: each(path, "msteams_configs", r.msteams_configs, |p, c| {
            msteams::build(ctx, p, c, global)
        })?,
        msteamsv2_configs: each(path, "msteamsv2_configs", r.msteamsv2_configs, |p, c| {
            msteams::build_v2(ctx, p, c, global)
        })?,
        pushover_configs: each(path, "pushover_configs", r.pushover_configs, |p, c| {
            pushover::build(ctx, p, c, global)
        })?,
        rocketchat_configs: each(path, "rocketchat_configs", r.rocketchat_configs, |p, c| {
            rocketchat::build(ctx, p, c, global)
        })?,
    })
}

#[cfg(test)]
mod tests;
