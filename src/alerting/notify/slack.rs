//! The Slack integration (`slack_configs`): one message with one attachment per
//! notification, as Alertmanager sends it, to an incoming webhook or, with an app token, to
//! `chat.postMessage`.
//!
//! The message's fields, names and omissions are Alertmanager's: `channel`, `username`,
//! `icon_emoji`, `icon_url`, `link_names` (omitted when empty or false), and `attachments`
//! with `title` (cut at 1024 characters), `title_link`, `pretext`, `text`, `fallback`,
//! `callback_id`, `fields`, `actions`, `image_url`, `thumb_url`, `footer`, `color` and
//! `mrkdwn_in` (default `fallback`, `pretext`, `text`). Every text is a template.
//!
//! redline adds, only where Alertmanager would send nothing: a `Playbook` link button per
//! distinct playbook of the alerts when the config has no `actions`, and an `Owner` field when
//! the config has no `fields`.
//!
//! Answers: 2xx, then the body must say so (`ok` from a webhook, `{"ok": true}` from the Web
//! API, as current Alertmanager checks; 0.25 did not look at the body); 5xx is retried,
//! other statuses are not. Errors name the channel.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{
    fatal, impl_notifier, read_secret, retryable, truncate, Fields, HttpNotifier, Retrier,
};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::slack::{SlackConfig, SlackTarget};

/// Slack's limit on an attachment title, in characters.
const MAX_TITLE_CHARS: usize = 1024;

#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_names: bool,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mrkdwn_in: Vec<String>,
}

#[derive(Serialize)]
struct Field {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    short: bool,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<Confirm>,
}

#[derive(Serialize)]
struct Confirm {
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dismiss_text: String,
}

/// The texts every entry has, by field name.
const TEXTS: [&str; 14] = [
    "channel",
    "username",
    "color",
    "title",
    "title_link",
    "pretext",
    "text",
    "footer",
    "fallback",
    "callback_id",
    "icon_emoji",
    "icon_url",
    "image_url",
    "thumb_url",
];

/// One `slack_configs` entry of a receiver.
pub type SlackNotifier = HttpNotifier<SlackConfig>;

impl SlackNotifier {
    /// The integration `slack[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &SlackConfig,
        ctx: &NotifyContext,
    ) -> Result<SlackNotifier, IntegrationError> {
        let c = config;
        let mut fields = Fields::new(ctx);
        for (name, text) in TEXTS.iter().zip([
            &c.channel,
            &c.username,
            &c.color,
            &c.title,
            &c.title_link,
            &c.pretext,
            &c.text,
            &c.footer,
            &c.fallback,
            &c.callback_id,
            &c.icon_emoji,
            &c.icon_url,
            &c.image_url,
            &c.thumb_url,
        ]) {
            fields.add(path, name, text)?;
        }
        for (i, f) in c.fields.iter().enumerate() {
            fields.add(path, &format!("fields[{i}].title"), &f.title)?;
            fields.add(path, &format!("fields[{i}].value"), &f.value)?;
        }
        for (i, a) in c.actions.iter().enumerate() {
            fields.add_all(
                path,
                &format!("actions[{i}]."),
                &[
                    ("type", &a.kind),
                    ("text", &a.text),
                    ("url", &a.url),
                    ("style", &a.style),
                    ("name", &a.name),
                    ("value", &a.value),
                ],
            )?;
            if let Some(cf) = &a.confirm {
                fields.add_all(
                    path,
                    &format!("actions[{i}].confirm."),
                    &[
                        ("title", &cf.title),
                        ("text", &cf.text),
                        ("ok_text", &cf.ok_text),
                        ("dismiss_text", &cf.dismiss_text),
                    ],
                )?;
            }
        }
        HttpNotifier::with_fields("slack", index, path, c, &c.http, fields)
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let data = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &data);
        let c = &self.config;
        let mut fields = Vec::new();
        for (i, f) in c.fields.iter().enumerate() {
            fields.push(Field {
                title: r(&format!("fields[{i}].title"))?,
                value: r(&format!("fields[{i}].value"))?,
                short: f.short.unwrap_or(c.short_fields),
            });
        }
        let mut actions = Vec::new();
        for (i, a) in c.actions.iter().enumerate() {
            let f = |name: &str| r(&format!("actions[{i}].{name}"));
            actions.push(Action {
                kind: f("type")?,
                text: f("text")?,
                url: f("url")?,
                style: f("style")?,
                name: f("name")?,
                value: f("value")?,
                confirm: match &a.confirm {
                    Some(_) => Some(Confirm {
                        text: f("confirm.text")?,
                        title: f("confirm.title")?,
                        ok_text: f("confirm.ok_text")?,
                        dismiss_text: f("confirm.dismiss_text")?,
                    }),
                    None => None,
                },
            });
        }
        // redline's additions, where Alertmanager sends nothing.
        if c.actions.is_empty() {
            for url in data.playbook_urls() {
                actions.push(Action {
                    kind: "button".into(),
                    text: "Playbook".into(),
                    url: url.to_string(),
                    style: String::new(),
                    name: String::new(),
                    value: String::new(),
                    confirm: None,
                });
            }
        }
        if c.fields.is_empty() {
            if let Some(owner) = &data.owner {
                fields.push(Field {
                    title: "Owner".into(),
                    value: owner.clone(),
                    short: true,
                });
            }
        }
        let mrkdwn_in = if c.mrkdwn_in.is_empty() {
            vec!["fallback".into(), "pretext".into(), "text".into()]
        } else {
            c.mrkdwn_in.clone()
        };
        Ok(Message {
            channel: r("channel")?,
            username: r("username")?,
            icon_emoji: r("icon_emoji")?,
            icon_url: r("icon_url")?,
            link_names: c.link_names,
            attachments: vec![Attachment {
                title: truncate(&r("title")?, MAX_TITLE_CHARS).0,
                title_link: r("title_link")?,
                pretext: r("pretext")?,
                text: r("text")?,
                fallback: r("fallback")?,
                callback_id: r("callback_id")?,
                fields,
                actions,
                image_url: r("image_url")?,
                thumb_url: r("thumb_url")?,
                footer: r("footer")?,
                color: r("color")?,
                mrkdwn_in,
            }],
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let msg = self.message(n)?;
        let channel = msg.channel.clone();
        let in_channel = |e: NotifyError| NotifyError {
            message: format!("channel {channel:?}: {}", e.message),
            ..e
        };
        let resp = match &self.config.target {
            SlackTarget::Webhook(url) => {
                let url = read_secret(url, "api_url")?;
                self.http.post_json(url.expose(), &msg, &[]).await
            }
            SlackTarget::App { url, token } => {
                let token = read_secret(token, "app_token")?;
                let auth = format!("Bearer {}", token.expose());
                self.http
                    .post_json(url, &msg, &[("authorization", auth)])
                    .await
            }
        }?;
        Retrier::STANDARD.check(&resp).map_err(in_channel)?;
        // Slack's Web API answers errors with 200 and `"ok": false`; a webhook answers `ok`.
        if resp.content_type.starts_with("application/json") {
            #[derive(serde::Deserialize)]
            struct Answer {
                #[serde(default)]
                ok: bool,
                #[serde(default)]
                error: String,
            }
            let a: Answer = serde_json::from_str(&resp.body).map_err(|e| {
                in_channel(retryable(format!(
                    "could not unmarshal JSON response {:?}: {e}",
                    resp.body
                )))
            })?;
            if !a.ok {
                return Err(in_channel(fatal(format!(
                    "error response from Slack: {}",
                    a.error
                ))));
            }
        } else if resp.body != "ok" {
            return Err(in_channel(fatal(format!(
                "received an error response from Slack: {}",
                resp.body
            ))));
        }
        Ok(())
    }
}

impl_notifier!(SlackNotifier);
