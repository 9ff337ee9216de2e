//! `mattermost_configs`: Alertmanager's Mattermost integration (an incoming-webhook post with
//! Slack-style attachments, a message priority and props).
//!
//! Defaults as Alertmanager's (`notify/mattermost/config.go`): `send_resolved: true`;
//! `username`, `color`, `text`, `title`, `title_link` and `fallback` the
//! `mattermost.default.*` templates; everything else empty (not sent). `webhook_url` /
//! `webhook_url_file` (at most one) fall back to `global.mattermost_webhook_url(_file)`, and
//! one of the four is required (`config/config.go`). A `fields` entry needs a `title` and a
//! `value`, in the entry and in each of its `attachments`.
//!
//! The top-level attachment fields (`text`, `title`, `color`, `fields`, …) are kept as one
//! [`MattermostAttachment`], [`MattermostConfig::message`], the shape of each of
//! [`MattermostConfig::attachments`]; the notifier decides where each goes in the request.

use serde::Deserialize;

use super::{http_or_global, non_empty, template_or, webhook_url};
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

/// One attachment field; `title` and `value` are templates, both required.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MattermostField {
    pub title: String,
    pub value: String,
    /// Sent only when set.
    pub short: Option<bool>,
}

/// One attachment (an `attachments` entry, or the entry's own top-level fields). Texts are
/// templates; empty ones are not sent.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MattermostAttachment {
    pub fallback: String,
    pub color: String,
    pub pretext: String,
    pub text: String,
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
}

/// `props`: only `card` (a template) takes effect.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MattermostProps {
    pub card: String,
}

/// `priority`: the level (a template) and its two flags.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MattermostPriority {
    pub priority: String,
    pub requested_ack: bool,
    pub persistent_notifications: bool,
}

/// One `mattermost_configs` entry.
#[derive(Clone, Debug)]
pub struct MattermostConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    /// The entry's, else the global one.
    pub webhook_url: SecretSource,
    /// Template texts; empty ones are not sent.
    pub channel: String,
    pub username: String,
    pub icon_url: String,
    pub icon_emoji: String,
    pub kind: String,
    /// The top-level attachment fields, `text` among them.
    pub message: MattermostAttachment,
    pub attachments: Vec<MattermostAttachment>,
    /// Sent only when `card` is not empty.
    pub props: Option<MattermostProps>,
    /// Sent only when `priority` is not empty.
    pub priority: Option<MattermostPriority>,
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
            &a.fields,
        )?;
    }
    let text = |v: Option<String>| non_empty(v).unwrap_or_default();
    let default =
        |v: Option<String>, name: &str| template_or(v, &format!("mattermost.default.{name}"));
    Ok(MattermostConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        webhook_url,
        channel: text(c.channel),
        username: default(c.username, "username"),
        icon_url: text(c.icon_url),
        icon_emoji: text(c.icon_emoji),
        kind: text(c.kind),
        message: MattermostAttachment {
            fallback: default(c.fallback, "fallback"),
            color: default(c.color, "color"),
            pretext: text(c.pretext),
            text: default(c.text, "text"),
            author_name: text(c.author_name),
            author_link: text(c.author_link),
            author_icon: text(c.author_icon),
            title: default(c.title, "title"),
            title_link: default(c.title_link, "titlelink"),
            fields,
            thumb_url: text(c.thumb_url),
            footer: text(c.footer),
            footer_icon: text(c.footer_icon),
            image_url: text(c.image_url),
        },
        attachments,
        props: c.props.filter(|p| !p.card.is_empty()),
        priority: c.priority.filter(|p| !p.priority.is_empty()),
    })
}

/// Alertmanager's `MattermostField.Validate`: a title and a value in every field.
fn check_fields(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    fields: &[MattermostField],
) -> Result<(), ConfigError> {
    for (i, f) in fields.iter().enumerate() {
        for (name, value) in [("title", &f.title), ("value", &f.value)] {
            if value.is_empty() {
                return Err(ctx.err(
                    &path.index(i).key(name),
                    format!("missing {name} in Mattermost field configuration"),
                ));
            }
        }
    }
    Ok(())
}
