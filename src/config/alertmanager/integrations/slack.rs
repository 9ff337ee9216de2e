//! `slack_configs`: Slack's incoming webhooks (`api_url`, `api_url_file`, or the global
//! `slack_api_url` / `slack_api_url_file`), with Alertmanager's defaults: `send_resolved`
//! false, the `slack.default.*` templates for username, title, title_link, pretext, text,
//! fallback, callback_id, icon_emoji, icon_url and footer, and a color of `danger` while
//! firing and `good` once resolved.
//!
//! redline also posts with a Slack app token (`app_token`, `app_token_file`, `app_url`,
//! default `https://slack.com/api/chat.postMessage`), as issue #19 names the fields: the token
//! is sent as `Authorization: Bearer …` to `app_url`, and the message is the same. These
//! fields are not in Alertmanager 0.25; Alertmanager's documented way, `api_url:
//! https://slack.com/api/chat.postMessage` with `http_config.authorization`, works as well.

use serde::Deserialize;

use super::{
    checked_url, http_or_global, non_empty, secret_or_file, secret_url, template_or, text_or,
};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

/// Slack's Web API method for posting with an app token.
pub const DEFAULT_SLACK_APP_URL: &str = "https://slack.com/api/chat.postMessage";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub api_url: Option<String>,
    pub api_url_file: Option<String>,
    pub app_token: Option<String>,
    pub app_token_file: Option<String>,
    pub app_url: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub fields: Option<Vec<RawSlackField>>,
    pub short_fields: Option<bool>,
    pub footer: Option<String>,
    pub fallback: Option<String>,
    pub callback_id: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    pub link_names: Option<bool>,
    pub mrkdwn_in: Option<Vec<String>>,
    pub actions: Option<Vec<RawSlackAction>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackField {
    pub title: Option<String>,
    pub value: Option<String>,
    pub short: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackAction {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub style: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub confirm: Option<RawSlackConfirm>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfirm {
    pub text: Option<String>,
    pub title: Option<String>,
    pub ok_text: Option<String>,
    pub dismiss_text: Option<String>,
}

/// Where a Slack message goes.
#[derive(Clone, Debug)]
pub enum SlackTarget {
    /// An incoming webhook URL (a secret: it carries the token).
    Webhook(SecretSource),
    /// `chat.postMessage` (or `app_url`) with an app token.
    App { url: String, token: SecretSource },
}

/// One `slack_configs` entry. Text fields are template text.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// Default false.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub target: SlackTarget,
    pub channel: String,
    pub username: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    pub footer: String,
    pub fallback: String,
    pub callback_id: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    /// Empty means Alertmanager's `["fallback", "pretext", "text"]`.
    pub mrkdwn_in: Vec<String>,
    pub actions: Vec<SlackAction>,
}

#[derive(Clone, Debug)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    /// `None`: the entry's `short_fields`.
    pub short: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct SlackAction {
    pub kind: String,
    pub text: String,
    pub url: String,
    pub style: String,
    pub name: String,
    pub value: String,
    pub confirm: Option<SlackConfirm>,
}

#[derive(Clone, Debug)]
pub struct SlackConfirm {
    pub text: String,
    pub title: String,
    pub ok_text: String,
    pub dismiss_text: String,
}

pub(crate) fn slack(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    s: RawSlackConfig,
    global: &GlobalConfig,
) -> Result<SlackConfig, ConfigError> {
    let g = &global.integrations;
    let own_url = secret_url(ctx, path, "api_url", s.api_url, s.api_url_file)?;
    let token = secret_or_file(ctx, path, "app_token", s.app_token, s.app_token_file)?;
    let target =
        match (own_url, token) {
            (Some(_), Some(_)) => return Err(ctx.err(
                path,
                "at most one of api_url/api_url_file & app_token/app_token_file must be configured",
            )),
            (None, Some(token)) => {
                let url = checked_url(ctx, path, "app_url", s.app_url)?
                    .unwrap_or_else(|| DEFAULT_SLACK_APP_URL.to_string());
                SlackTarget::App { url, token }
            }
            (Some(u), None) => SlackTarget::Webhook(u),
            (None, None) => SlackTarget::Webhook(g.slack_api_url.clone().ok_or_else(|| {
                ctx.err(
                    path,
                    "no global Slack API URL set either inline or in a file",
                )
            })?),
        };
    let mut fields = Vec::new();
    for (i, f) in s.fields.unwrap_or_default().into_iter().enumerate() {
        let p = path.key("fields").index(i);
        let title = non_empty(f.title)
            .ok_or_else(|| ctx.err(&p, "missing title in Slack field configuration"))?;
        let value = non_empty(f.value)
            .ok_or_else(|| ctx.err(&p, "missing value in Slack field configuration"))?;
        fields.push(SlackField {
            title,
            value,
            short: f.short,
        });
    }
    let mut actions = Vec::new();
    for (i, a) in s.actions.unwrap_or_default().into_iter().enumerate() {
        let p = path.key("actions").index(i);
        let kind = non_empty(a.kind)
            .ok_or_else(|| ctx.err(&p, "missing type in Slack action configuration"))?;
        let text = non_empty(a.text)
            .ok_or_else(|| ctx.err(&p, "missing text in Slack action configuration"))?;
        let confirm = match a.confirm {
            Some(c) => Some(SlackConfirm {
                text: non_empty(c.text).ok_or_else(|| {
                    ctx.err(
                        &p.key("confirm"),
                        "missing text in Slack confirmation configuration",
                    )
                })?,
                title: c.title.unwrap_or_default(),
                ok_text: c.ok_text.unwrap_or_default(),
                dismiss_text: c.dismiss_text.unwrap_or_default(),
            }),
            None => None,
        };
        // A URL button drops the message-action fields; otherwise a name is required.
        let (url, name, value, confirm) = match (non_empty(a.url), non_empty(a.name)) {
            (Some(url), _) => (url, String::new(), String::new(), None),
            (None, Some(name)) => (String::new(), name, a.value.unwrap_or_default(), confirm),
            (None, None) => {
                return Err(ctx.err(&p, "missing name or url in Slack action configuration"))
            }
        };
        actions.push(SlackAction {
            kind,
            text,
            url,
            style: a.style.unwrap_or_default(),
            name,
            value,
            confirm,
        });
    }
    Ok(SlackConfig {
        send_resolved: s.send_resolved.unwrap_or(false),
        http: http_or_global(ctx, path, s.http_config, &global.http)?,
        target,
        channel: s.channel.unwrap_or_default(),
        username: template_or(s.username, "slack.default.username"),
        color: text_or(
            s.color,
            r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#,
        ),
        title: template_or(s.title, "slack.default.title"),
        title_link: template_or(s.title_link, "slack.default.titlelink"),
        pretext: template_or(s.pretext, "slack.default.pretext"),
        text: template_or(s.text, "slack.default.text"),
        fields,
        short_fields: s.short_fields.unwrap_or(false),
        footer: template_or(s.footer, "slack.default.footer"),
        fallback: template_or(s.fallback, "slack.default.fallback"),
        callback_id: template_or(s.callback_id, "slack.default.callbackid"),
        icon_emoji: template_or(s.icon_emoji, "slack.default.iconemoji"),
        icon_url: template_or(s.icon_url, "slack.default.iconurl"),
        image_url: s.image_url.unwrap_or_default(),
        thumb_url: s.thumb_url.unwrap_or_default(),
        link_names: s.link_names.unwrap_or(false),
        mrkdwn_in: s.mrkdwn_in.unwrap_or_default(),
        actions,
    })
}
