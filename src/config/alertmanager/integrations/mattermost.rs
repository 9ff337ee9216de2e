//! `mattermost_configs`: Alertmanager's Mattermost integration (a post to an incoming
//! webhook, Slack-compatible attachments).
//!
//! Defaults as Alertmanager's: `send_resolved: true`; `username`, `color`, `text`, `title`,
//! `title_link` and `fallback` the `mattermost.default.*` templates; `webhook_url` /
//! `webhook_url_file` from the entry, else from `global.mattermost_webhook_url(_file)`, one
//! of them required. Fields need a `title` and a `value`.

use serde::Deserialize;

use super::{default_template, http, non_empty, tmpl, webhook_url};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMattermostConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub webhook_url: Option<String>,
    pub webhook_url_file: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub text: Option<String>,
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub author_name: Option<String>,
    pub author_link: Option<String>,
    pub author_icon: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub fields: Option<Vec<MattermostField>>,
    pub thumb_url: Option<String>,
    pub footer: Option<String>,
    pub footer_icon: Option<String>,
    pub image_url: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    pub attachments: Option<Vec<MattermostAttachment>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub props: Option<MattermostProps>,
    pub priority: Option<MattermostPriority>,
}

/// One attachment field (Slack-compatible).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MattermostField {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// An attachment given in full (`attachments:`); its texts are templates.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MattermostAttachment {
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub author_name: Option<String>,
    pub author_link: Option<String>,
    pub author_icon: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub fields: Option<Vec<MattermostField>>,
    pub thumb_url: Option<String>,
    pub footer: Option<String>,
    pub footer_icon: Option<String>,
    pub image_url: Option<String>,
}

/// `props:` (only `card` takes effect in Mattermost).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MattermostProps {
    pub card: Option<String>,
}

/// `priority:` of the post.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MattermostPriority {
    pub priority: Option<String>,
    pub requested_ack: Option<bool>,
    pub persistent_notifications: Option<bool>,
}

/// One `mattermost_configs` entry. Texts are templates; empty ones are not sent.
#[derive(Clone, Debug)]
pub struct MattermostConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub webhook_url: SecretSource,
    pub channel: String,
    pub username: String,
    pub text: String,
    pub fallback: String,
    pub color: String,
    pub pretext: String,
    pub author_name: String,
    pub author_link: String,
    pub author_icon: String,
    pub title: String,
    pub title_link: String,
    pub fields: Vec<MattermostField>,
    pub thumb_url: String,
    pub footer: String,
    pub footer_icon: String,
    pub image_url: String,
    pub icon_url: String,
    pub icon_emoji: String,
    pub attachments: Vec<MattermostAttachment>,
    pub kind: String,
    pub props: Option<MattermostProps>,
    pub priority: Option<MattermostPriority>,
}

fn check_fields(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    fields: &[MattermostField],
) -> Result<(), ConfigError> {
    for (i, f) in fields.iter().enumerate() {
        if f.title.is_empty() {
            return Err(ctx.err(
                &path.index(i),
                "missing title in Mattermost field configuration",
            ));
        }
        if f.value.is_empty() {
            return Err(ctx.err(
                &path.index(i),
                "missing value in Mattermost field configuration",
            ));
        }
    }
    Ok(())
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawMattermostConfig,
    global: &GlobalConfig,
) -> Result<MattermostConfig, ConfigError> {
    let webhook_url = match webhook_url(ctx, path, c.webhook_url, c.webhook_url_file)? {
        Some(u) => u,
        None => global.chat.mattermost_webhook_url.clone().ok_or_else(|| {
            ctx.err(
                path,
                "missing webhook_url or webhook_url_file on mattermost_config",
            )
        })?,
    };
    let fields = c.fields.unwrap_or_default();
    check_fields(ctx, &path.key("fields"), &fields)?;
    let attachments = c.attachments.unwrap_or_default();
    for (i, a) in attachments.iter().enumerate() {
        check_fields(
            ctx,
            &path.key("attachments").index(i).key("fields"),
            a.fields.as_deref().unwrap_or_default(),
        )?;
    }
    let text = |v: Option<String>| non_empty(v).unwrap_or_default();
    Ok(MattermostConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http(ctx, path, c.http_config, global)?,
        webhook_url,
        channel: text(c.channel),
        username: tmpl(c.username, &default_template("mattermost.default.username")),
        text: tmpl(c.text, &default_template("mattermost.default.text")),
        fallback: tmpl(c.fallback, &default_template("mattermost.default.fallback")),
        color: tmpl(c.color, &default_template("mattermost.default.color")),
        pretext: text(c.pretext),
        author_name: text(c.author_name),
        author_link: text(c.author_link),
        author_icon: text(c.author_icon),
        title: tmpl(c.title, &default_template("mattermost.default.title")),
        title_link: tmpl(
            c.title_link,
            &default_template("mattermost.default.titlelink"),
        ),
        fields,
        thumb_url: text(c.thumb_url),
        footer: text(c.footer),
        footer_icon: text(c.footer_icon),
        image_url: text(c.image_url),
        icon_url: text(c.icon_url),
        icon_emoji: text(c.icon_emoji),
        attachments,
        kind: text(c.kind),
        props: c.props,
        priority: c.priority,
    })
}
