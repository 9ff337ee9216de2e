//! The Mattermost integration: Alertmanager's `mattermost_configs`, one post to an incoming
//! webhook.
//!
//! One JSON POST to the webhook URL (`webhook_url_file` read on every send) with, each only
//! when not empty: `text`, `channel`, `username`, `icon_url`, `icon_emoji`, `attachments`,
//! `type`, `props` (`card`) and `priority`. Where the text and the top-level attachment
//! fields go follows Alertmanager's newest notifier test (`notify/mattermost/mattermost_test.go`;
//! the notifier source of that version is not in the stored upstream, so the rule is derived
//! from the test's request bodies): without `attachments`, the text and the top-level
//! attachment fields (`title`, `color`, `fallback`, `fields`, …) are sent as one attachment and
//! there is no top-level `text`; with `attachments`, the text stays at the top level beside
//! them and the top-level attachment fields are not sent. The text is cut at 16383 characters
//! (Mattermost's limit). The rendered priority is lowercased; a value other than `urgent`,
//! `important` or `standard` becomes `standard`; `requested_ack` is dropped for `standard`
//! and `persistent_notifications` for anything but `urgent`. A 2xx answer succeeds; 5xx and
//! connection errors are retried, other statuses are not (Alertmanager's default retrier).
//! Errors name the channel and never show the URL.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::data::TemplateData;
use super::http::{fatal, impl_notifier, read_secret, truncate, Fields, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::mattermost::{
    MattermostAttachment, MattermostConfig,
};

/// Mattermost's limit on a post's text, in characters.
pub const MAX_TEXT_CHARS: usize = 16383;

/// One `mattermost_configs` entry of a receiver.
pub type MattermostNotifier = HttpNotifier<MattermostConfig>;

#[derive(Debug, Serialize)]
struct Request {
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment>,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    props: Option<Props>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<Priority>,
}

#[derive(Debug, Default, Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    fallback: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    author_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    author_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    author_icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    footer_icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
}

#[derive(Debug, Serialize)]
struct Field {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    short: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Props {
    #[serde(skip_serializing_if = "String::is_empty")]
    card: String,
}

#[derive(Debug, PartialEq, Serialize)]
struct Priority {
    #[serde(skip_serializing_if = "String::is_empty")]
    priority: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    requested_ack: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    persistent_notifications: bool,
}

/// The texts of one attachment, named `{prefix}{field}` among the notifier's fields.
const ATTACHMENT_TEXTS: [&str; 13] = [
    "fallback",
    "color",
    "pretext",
    "text",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "thumb_url",
    "footer",
    "footer_icon",
    "image_url",
];

fn texts(a: &MattermostAttachment) -> [&String; 13] {
    [
        &a.fallback,
        &a.color,
        &a.pretext,
        &a.text,
        &a.author_name,
        &a.author_link,
        &a.author_icon,
        &a.title,
        &a.title_link,
        &a.thumb_url,
        &a.footer,
        &a.footer_icon,
        &a.image_url,
    ]
}

/// Compiles the texts and fields of attachment `a` as `{prefix}text`, `{prefix}fields[0].title`, ….
fn add_attachment(
    fields: &mut Fields,
    path: &str,
    prefix: &str,
    a: &MattermostAttachment,
) -> Result<(), IntegrationError> {
    for (name, text) in ATTACHMENT_TEXTS.iter().zip(texts(a)) {
        fields.add(path, &format!("{prefix}{name}"), text)?;
    }
    for (i, f) in a.fields.iter().enumerate() {
        fields.add(path, &format!("{prefix}fields[{i}].title"), &f.title)?;
        fields.add(path, &format!("{prefix}fields[{i}].value"), &f.value)?;
    }
    Ok(())
}

/// Renders attachment `a` compiled under `prefix` by [`add_attachment`].
fn render_attachment(
    fields: &Fields,
    prefix: &str,
    a: &MattermostAttachment,
    data: &TemplateData,
) -> Result<Attachment, NotifyError> {
    let r = |name: &str| fields.render(&format!("{prefix}{name}"), data);
    let mut out_fields = Vec::new();
    for (i, f) in a.fields.iter().enumerate() {
        out_fields.push(Field {
            title: r(&format!("fields[{i}].title"))?,
            value: r(&format!("fields[{i}].value"))?,
            short: f.short,
        });
    }
    Ok(Attachment {
        fallback: r("fallback")?,
        color: r("color")?,
        pretext: r("pretext")?,
        text: r("text")?,
        author_name: r("author_name")?,
        author_link: r("author_link")?,
        author_icon: r("author_icon")?,
        title: r("title")?,
        title_link: r("title_link")?,
        fields: out_fields,
        thumb_url: r("thumb_url")?,
        footer: r("footer")?,
        footer_icon: r("footer_icon")?,
        image_url: r("image_url")?,
    })
}

/// Alertmanager's priority rules: the level lowercased, unknown levels `standard`,
/// `requested_ack` only above `standard`, `persistent_notifications` only for `urgent`.
fn sanitize_priority(level: &str, requested_ack: bool, persistent: bool) -> Priority {
    let level = level.to_lowercase();
    let level = match level.as_str() {
        "urgent" | "important" | "standard" => level,
        _ => {
            tracing::warn!(priority = %level, "mattermost: priority set to standard due to invalid value");
            "standard".to_string()
        }
    };
    Priority {
        requested_ack: requested_ack && level != "standard",
        persistent_notifications: persistent && level == "urgent",
        priority: level,
    }
}

impl MattermostNotifier {
    /// The integration `mattermost[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &MattermostConfig,
        ctx: &NotifyContext,
    ) -> Result<MattermostNotifier, IntegrationError> {
        let mut fields = Fields::new(ctx);
        let card = config.props.as_ref().map(|p| &p.card);
        let level = config.priority.as_ref().map(|p| &p.priority);
        let empty = String::new();
        fields.add_all(
            path,
            "",
            &[
                ("channel", &config.channel),
                ("username", &config.username),
                ("icon_url", &config.icon_url),
                ("icon_emoji", &config.icon_emoji),
                ("type", &config.kind),
                ("props.card", card.unwrap_or(&empty)),
                ("priority.priority", level.unwrap_or(&empty)),
            ],
        )?;
        add_attachment(&mut fields, path, "", &config.message)?;
        for (i, a) in config.attachments.iter().enumerate() {
            add_attachment(&mut fields, path, &format!("attachments[{i}]."), a)?;
        }
        HttpNotifier::with_fields("mattermost", index, path, config, &config.http, fields)
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = read_secret(&self.config.webhook_url, "webhook_url_file")?;
        if url.expose().is_empty() {
            return Err(fatal("webhook url missing"));
        }
        let d = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &d);
        let mut message = render_attachment(&self.fields, "", &self.config.message, &d)?;
        let (text, cut) = truncate(&message.text, MAX_TEXT_CHARS);
        if cut {
            tracing::warn!(
                receiver = %n.receiver,
                max_chars = MAX_TEXT_CHARS,
                "mattermost: truncated text"
            );
        }
        let (text, attachments) = if self.config.attachments.is_empty() {
            message.text = text;
            (String::new(), vec![message])
        } else {
            let mut list = Vec::new();
            for (i, a) in self.config.attachments.iter().enumerate() {
                let prefix = format!("attachments[{i}].");
                list.push(render_attachment(&self.fields, &prefix, a, &d)?);
            }
            (text, list)
        };
        let props = match self.config.props {
            Some(_) => Some(Props {
                card: r("props.card")?,
            }),
            None => None,
        };
        let priority = match &self.config.priority {
            Some(p) => Some(sanitize_priority(
                &r("priority.priority")?,
                p.requested_ack,
                p.persistent_notifications,
            )),
            None => None,
        };
        let body = Request {
            text,
            channel: r("channel")?,
            username: r("username")?,
            icon_url: r("icon_url")?,
            icon_emoji: r("icon_emoji")?,
            attachments,
            kind: r("type")?,
            props,
            priority,
        };
        let resp = self.http.post_json(url.expose(), &body, &[]).await?;
        Retrier::STANDARD.check(&resp).map_err(|e| NotifyError {
            message: format!("channel {:?}: {}", body.channel, e.message),
            ..e
        })
    }
}

impl_notifier!(MattermostNotifier);

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults live in the embedded newer-integrations file, which is dropped whole if
    /// it does not parse: it parses, and defines all six.
    #[test]
    fn redlines_mattermost_defaults_are_defined() {
        use crate::gotemplate::{parse_nodes, Dialect};
        let newer = super::super::templates::ALERTMANAGER_NEWER_TMPL;
        let (_, defines) = parse_nodes("default.tmpl", newer, Dialect::Alertmanager)
            .unwrap_or_else(|e| panic!("{e}"));
        for name in [
            "username",
            "title",
            "titlelink",
            "fallback",
            "color",
            "text",
        ] {
            let name = format!("mattermost.default.{name}");
            assert!(defines.contains_key(&name), "{name}");
        }
    }

    #[test]
    fn priority_follows_alertmanagers_rules() {
        let p = |level: &str, ack: bool, persistent: bool| {
            let s = sanitize_priority(level, ack, persistent);
            (s.priority, s.requested_ack, s.persistent_notifications)
        };
        // Lowercased; both flags kept only for urgent.
        assert_eq!(p("URGENT", true, true), ("urgent".into(), true, true));
        // important keeps the acknowledgement, not the persistent notifications.
        assert_eq!(
            p("Important", true, true),
            ("important".into(), true, false)
        );
        // standard drops both.
        assert_eq!(p("standard", true, true), ("standard".into(), false, false));
        // An unknown level (or one that rendered empty) is standard.
        assert_eq!(p("critical", true, true), ("standard".into(), false, false));
        assert_eq!(p("", false, false), ("standard".into(), false, false));
    }
}
