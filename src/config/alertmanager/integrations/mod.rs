//! The receiver integrations beyond webhook and email, one file each: their raw
//! `*_configs` entries as written, their typed configs with Alertmanager's defaults
//! (`config/notifiers.go`) and the rules between fields, and the `global` settings they
//! inherit (`slack_api_url`, `pagerduty_url`, `opsgenie_api_url`, …).
//!
//! The chat and push integrations (`telegram_configs`, `discord_configs`, `webex_configs`,
//! `msteams_configs`, `msteamsv2_configs`, `pushover_configs`, `rocketchat_configs`,
//! `mattermost_configs`) are grouped as [`ChatConfigs`], with the globals they inherit in
//! [`ChatGlobals`] (`telegram_api_url`, `webex_api_url`, `rocketchat_*`,
//! `mattermost_webhook_url*`). Receiver kinds redline leaves out
//! are rejected by the raw reader with the reason ([`left_out`]).
//!
//! What every integration shares lives here: a secret given inline or as `*_file` (at most one
//! of them; files are resolved against the config file's directory and read on use), URL
//! validation as Alertmanager's `URL`/`SecretURL` types do it, the entry's `http_config`
//! falling back to the global one, the `{{ template "NAME" . }}` defaults, and `Entries`,
//! which builds every entry of a receiver's `*_configs` list (webhook and email included)
//! with one builder signature. Templated fields stay text here; they are compiled when
//! the notifiers are built (`alerting::notify`), which names the field of a template that
//! does not compile.

pub mod discord;
pub mod mattermost;
pub mod msteams;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod rocketchat;
pub mod slack;
pub mod telegram;
pub mod victorops;
pub mod webex;

use super::build::Ctx;
use super::raw::{RawGlobal, RawHttpConfig};
use super::receivers::{http_config, GlobalConfig};
use crate::config::{ConfigError, FieldPath, HttpClientSettings, Secret, SecretSource};

/// Alertmanager's default `global.pagerduty_url`.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Alertmanager's default `global.opsgenie_api_url`.
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com/";
/// Alertmanager's default `global.victorops_api_url`.
pub const DEFAULT_VICTOROPS_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";

/// The `global` settings the integrations inherit.
#[derive(Clone, Debug, Default)]
pub struct IntegrationGlobals {
    pub slack_api_url: Option<SecretSource>,
    /// Default [`DEFAULT_PAGERDUTY_URL`].
    pub pagerduty_url: String,
    /// Default [`DEFAULT_OPSGENIE_API_URL`].
    pub opsgenie_api_url: String,
    pub opsgenie_api_key: Option<SecretSource>,
    /// Default [`DEFAULT_VICTOROPS_API_URL`].
    pub victorops_api_url: String,
    pub victorops_api_key: Option<SecretSource>,
}

/// Validates the integrations' globals; `path` is the `global` section's.
pub(crate) fn globals(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    g: &RawGlobal,
) -> Result<IntegrationGlobals, ConfigError> {
    let url_or = |key: &str, v: Option<String>, default: &str| {
        Ok(checked_url(ctx, path, key, v)?.unwrap_or_else(|| default.to_string()))
    };
    let slack_api_url = secret_url(
        ctx,
        path,
        "slack_api_url",
        g.slack_api_url.clone(),
        g.slack_api_url_file.clone(),
    )?;
    Ok(IntegrationGlobals {
        slack_api_url,
        pagerduty_url: url_or(
            "pagerduty_url",
            g.pagerduty_url.clone(),
            DEFAULT_PAGERDUTY_URL,
        )?,
        opsgenie_api_url: url_or(
            "opsgenie_api_url",
            g.opsgenie_api_url.clone(),
            DEFAULT_OPSGENIE_API_URL,
        )?,
        opsgenie_api_key: secret_or_file(
            ctx,
            path,
            "opsgenie_api_key",
            g.opsgenie_api_key.clone(),
            g.opsgenie_api_key_file.clone(),
        )?,
        victorops_api_url: url_or(
            "victorops_api_url",
            g.victorops_api_url.clone(),
            DEFAULT_VICTOROPS_API_URL,
        )?,
        victorops_api_key: secret_or_file(
            ctx,
            path,
            "victorops_api_key",
            g.victorops_api_key.clone(),
            g.victorops_api_key_file.clone(),
        )?,
    })
}

/// Alertmanager's default `telegram_api_url`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// Alertmanager's default `webex_api_url`.
pub const DEFAULT_WEBEX_API_URL: &str = "https://webexapis.com/v1/messages";
/// Alertmanager's default `rocketchat_api_url`.
pub const DEFAULT_ROCKETCHAT_API_URL: &str = "https://open.rocket.chat/";

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
    /// No default: an entry without its own URL needs it.
    pub mattermost_webhook_url: Option<SecretSource>,
}

impl Default for ChatGlobals {
    fn default() -> Self {
        ChatGlobals {
            telegram_api_url: DEFAULT_TELEGRAM_API_URL.to_string(),
            webex_api_url: DEFAULT_WEBEX_API_URL.to_string(),
            rocketchat_api_url: DEFAULT_ROCKETCHAT_API_URL.to_string(),
            rocketchat_token: None,
            rocketchat_token_id: None,
            mattermost_webhook_url: None,
        }
    }
}

/// Validates the globals; `path` is the `global` section's.
pub(crate) fn chat_globals(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    g: &RawGlobal,
) -> Result<ChatGlobals, ConfigError> {
    let d = ChatGlobals::default();
    let url_or = |key: &str, v: Option<String>, default: String| {
        checked_url(ctx, path, key, v).map(|u| u.unwrap_or(default))
    };
    Ok(ChatGlobals {
        telegram_api_url: url_or(
            "telegram_api_url",
            g.telegram_api_url.clone(),
            d.telegram_api_url,
        )?,
        webex_api_url: url_or("webex_api_url", g.webex_api_url.clone(), d.webex_api_url)?,
        rocketchat_api_url: url_or(
            "rocketchat_api_url",
            g.rocketchat_api_url.clone(),
            d.rocketchat_api_url,
        )?,
        rocketchat_token: secret_or_file(
            ctx,
            path,
            "rocketchat_token",
            g.rocketchat_token.clone(),
            g.rocketchat_token_file.clone(),
        )?,
        rocketchat_token_id: secret_or_file(
            ctx,
            path,
            "rocketchat_token_id",
            g.rocketchat_token_id.clone(),
            g.rocketchat_token_id_file.clone(),
        )?,
        mattermost_webhook_url: secret_url(
            ctx,
            path,
            "mattermost_webhook_url",
            g.mattermost_webhook_url.clone(),
            g.mattermost_webhook_url_file.clone(),
        )?,
    })
}

/// The receiver lists redline reads (the message of a rejected one names them).
pub const SUPPORTED: &str = "webhook_configs, email_configs, slack_configs, pagerduty_configs, \
opsgenie_configs, victorops_configs, telegram_configs, discord_configs, webex_configs, msteams_configs, msteamsv2_configs, pushover_configs, rocketchat_configs, mattermost_configs";

/// The error for a receiver list redline leaves out, with the reason where there is one.
pub fn left_out(kind: &str) -> String {
    let why = match kind {
        "sns_configs" => " (Amazon SNS needs an AWS SDK: SigV4 signing and the AWS credential chain)",
        "wechat_configs" => " (WeChat's access-token exchange is not implemented; use a webhook_configs bridge)",
        "jira_configs" => " (Jira issues are searched, created and transitioned through Jira's REST API, which redline does not implement; use a webhook_configs bridge)",
        "incidentio_configs" => " (incident.io is not implemented; its alert source accepts webhook_configs)",
        _ => "",
    };
    format!("receiver type {kind} is not supported by redline{why} (supported: {SUPPORTED})")
}

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// `NAME` inline or `NAME_file` (a path resolved against the config's directory), at most
/// one of them, as Alertmanager requires.
pub(crate) fn secret_or_file(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    name: &str,
    inline: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    match (non_empty(inline), non_empty(file)) {
        (Some(_), Some(_)) => Err(ctx.err(
            &path.key(&format!("{name}_file")),
            format!("at most one of {name} & {name}_file must be configured"),
        )),
        (Some(s), None) => Ok(Some(SecretSource::Inline(Secret::new(s)))),
        (None, Some(f)) => Ok(Some(SecretSource::File(ctx.resolve(&f)))),
        (None, None) => Ok(None),
    }
}

/// Alertmanager's URL rules: an `http` or `https` scheme and a host.
pub(crate) fn check_url(ctx: &Ctx<'_>, path: &FieldPath, u: &str) -> Result<(), ConfigError> {
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

/// The URL in field `field` of `path`, checked as [`check_url`] does, if one is given.
pub(crate) fn checked_url(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    field: &str,
    v: Option<String>,
) -> Result<Option<String>, ConfigError> {
    match non_empty(v) {
        Some(u) => check_url(ctx, &path.key(field), &u).map(|()| Some(u)),
        None => Ok(None),
    }
}

/// The entry's `http_config`, or the global one.
pub(crate) fn http_or_global(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    h: Option<RawHttpConfig>,
    global: &HttpClientSettings,
) -> Result<HttpClientSettings, ConfigError> {
    match h {
        Some(h) => http_config(ctx, &path.key("http_config"), h),
        None => Ok(global.clone()),
    }
}

/// A template text, or the default when absent (an empty text stays empty, as in Go).
pub(crate) fn text_or(v: Option<String>, default: &str) -> String {
    v.unwrap_or_else(|| default.to_string())
}

/// A template text, or Alertmanager's default for the field, `{{ template "NAME" . }}`.
pub(crate) fn template_or(v: Option<String>, name: &str) -> String {
    v.unwrap_or_else(|| default_template(name))
}

/// A secret URL given as `NAME` or `NAME_file` (at most one), validated when inline.
pub(crate) fn secret_url(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    name: &str,
    url: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    let s = secret_or_file(ctx, path, name, url, file)?;
    if let Some(SecretSource::Inline(u)) = &s {
        check_url(ctx, &path.key(name), u.expose())?;
    }
    Ok(s)
}

/// `webhook_url` / `webhook_url_file`, validated when inline.
pub(crate) fn webhook_url(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    url: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    secret_url(ctx, path, "webhook_url", url, file)
}

/// `{{ template "NAME" . }}`, as Alertmanager writes a field's default.
pub(crate) fn default_template(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

/// Builds a receiver's `*_configs` lists: every entry of one list by the same function,
/// each at its own path (`receivers[0].slack_configs[1]`).
pub(crate) struct Entries<'a> {
    pub ctx: &'a Ctx<'a>,
    /// The receiver's path.
    pub path: &'a FieldPath,
    pub global: &'a GlobalConfig,
}

/// How one kind of entry is built from what was written.
pub(crate) type EntryBuilder<R, T> =
    fn(&Ctx<'_>, &FieldPath, R, &GlobalConfig) -> Result<T, ConfigError>;

impl Entries<'_> {
    /// Builds every entry of the list `field`.
    pub(crate) fn build<R, T>(
        &self,
        field: &str,
        list: Option<Vec<R>>,
        build: EntryBuilder<R, T>,
    ) -> Result<Vec<T>, ConfigError> {
        let mut out = Vec::new();
        for (i, r) in list.unwrap_or_default().into_iter().enumerate() {
            let path = self.path.key(field).index(i);
            out.push(build(self.ctx, &path, r, self.global)?);
        }
        Ok(out)
    }
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
    pub mattermost_configs: Vec<mattermost::MattermostConfig>,
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
    pub mattermost_configs: Option<Vec<mattermost::RawMattermostConfig>>,
}

/// Builds a receiver's chat integrations.
pub(crate) fn configs(e: &Entries<'_>, r: RawChatConfigs) -> Result<ChatConfigs, ConfigError> {
    Ok(ChatConfigs {
        telegram_configs: e.build("telegram_configs", r.telegram_configs, telegram::build)?,
        discord_configs: e.build("discord_configs", r.discord_configs, discord::build)?,
        webex_configs: e.build("webex_configs", r.webex_configs, webex::build)?,
        msteams_configs: e.build("msteams_configs", r.msteams_configs, msteams::build)?,
        msteamsv2_configs: e.build("msteamsv2_configs", r.msteamsv2_configs, msteams::build_v2)?,
        pushover_configs: e.build("pushover_configs", r.pushover_configs, pushover::build)?,
        rocketchat_configs: e.build(
            "rocketchat_configs",
            r.rocketchat_configs,
            rocketchat::build,
        )?,
        mattermost_configs: e.build(
            "mattermost_configs",
            r.mattermost_configs,
            mattermost::build,
        )?,
    })
}

#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod tests;
