//! The Rocket.Chat integration: Alertmanager's `rocketchat_configs`, `chat.postMessage`
//! with one attachment.
//!
//! One JSON POST to `{api_url}/api/v1/chat.postMessage` with the `X-Auth-Token` (token) and
//! `X-User-Id` (token ID) headers; the body is Alertmanager's `PostMessage`: `channel`,
//! `emoji`, `avatar` (the rendered `icon_url`), and one attachment with `title` (cut at 1024
//! characters), `title_link`, `text`, `image_url`, `thumb_url`, `color`, the `fields` (each
//! `short` from the field or `short_fields`) and the `actions` (always `button`); empty
//! texts are left out. A 2xx answer with `"success": true` succeeds; 5xx and connection
//! errors are retried; other statuses, `success: false` and a 2xx body that is not JSON are
//! not, except that Alertmanager retries an unparsable body, and so does redline. Errors
//! name the channel.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{fatal, impl_notifier, read_secret, retryable, truncate, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::rocketchat::RocketchatConfig;

/// One `rocketchat_configs` entry of a receiver.
pub type RocketchatNotifier = HttpNotifier<RocketchatConfig>;

#[derive(Debug, Serialize)]
struct PostMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    avatar: String,
    attachments: Vec<Attachment>,
}

#[derive(Debug, Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
}

#[derive(Debug, Serialize)]
struct Field {
    short: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
}

#[derive(Debug, Serialize)]
struct Action {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    is_webview: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    msg: String,
    msg_in_chat_window: bool,
}

impl RocketchatNotifier {
    /// The integration `rocketchat[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &RocketchatConfig,
        ctx: &NotifyContext,
    ) -> Result<RocketchatNotifier, IntegrationError> {
        let mut n = HttpNotifier::with_texts(
            "rocketchat",
            index,
            path,
            config,
            &config.http,
            ctx,
            &[
                ("title", &config.title),
                ("title_link", &config.title_link),
                ("text", &config.text),
                ("image_url", &config.image_url),
                ("thumb_url", &config.thumb_url),
                ("color", &config.color),
                ("channel", &config.channel),
                ("emoji", &config.emoji),
                ("icon_url", &config.icon_url),
            ],
        )?;
        for (i, f) in config.fields.iter().enumerate() {
            for (name, text) in [("title", &f.title), ("value", &f.value)] {
                let text = text.as_deref().unwrap_or_default();
                n.fields.add(path, &format!("fields[{i}].{name}"), text)?;
            }
        }
        for (i, a) in config.actions.iter().enumerate() {
            for (name, text) in [("text", &a.text), ("url", &a.url), ("msg", &a.msg)] {
                let text = text.as_deref().unwrap_or_default();
                n.fields.add(path, &format!("actions[{i}].{name}"), text)?;
            }
        }
        Ok(n)
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let token = read_secret(&self.config.token, "token_file")?;
        let token_id = read_secret(&self.config.token_id, "token_id_file")?;
        let d = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &d);
        let mut fields = Vec::new();
        for (i, f) in self.config.fields.iter().enumerate() {
            fields.push(Field {
                short: f.short.unwrap_or(self.config.short_fields),
                title: r(&format!("fields[{i}].title"))?,
                value: r(&format!("fields[{i}].value"))?,
            });
        }
        let mut actions = Vec::new();
        for i in 0..self.config.actions.len() {
            actions.push(Action {
                kind: "button",
                text: r(&format!("actions[{i}].text"))?,
                url: r(&format!("actions[{i}].url"))?,
                is_webview: false,
                msg: r(&format!("actions[{i}].msg"))?,
                msg_in_chat_window: false,
            });
        }
        let body = PostMessage {
            channel: r("channel")?,
            emoji: r("emoji")?,
            avatar: r("icon_url")?,
            attachments: vec![Attachment {
                title: truncate(&r("title")?, 1024).0,
                title_link: r("title_link")?,
                text: r("text")?,
                image_url: r("image_url")?,
                thumb_url: r("thumb_url")?,
                color: r("color")?,
                fields,
                actions,
            }],
        };
        let url = format!(
            "{}/api/v1/chat.postMessage",
            self.config.api_url.trim_end_matches('/')
        );
        let resp = self
            .http
            .post_json(
                &url,
                &body,
                &[
                    ("X-Auth-Token", token.expose().to_string()),
                    ("X-User-Id", token_id.expose().to_string()),
                ],
            )
            .await?;
        let channel = |e: NotifyError| NotifyError {
            message: format!("channel {:?}: {}", body.channel, e.message),
            ..e
        };
        Retrier::STANDARD.check(&resp).map_err(channel)?;
        check_answer(&resp.body).map_err(channel)
    }
}

/// Rocket.Chat reports errors in 200 answers: `{"success": false, "error": "…"}`.
fn check_answer(body: &str) -> Result<(), NotifyError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        success: bool,
        #[serde(default)]
        error: String,
    }
    match serde_json::from_str::<Answer>(body) {
        Err(e) => Err(retryable(format!(
            "could not unmarshal JSON response {body:?}: {e}"
        ))),
        Ok(a) if !a.success => Err(fatal(format!(
            "error response from Rocketchat: {}",
            a.error
        ))),
        Ok(_) => Ok(()),
    }
}

impl_notifier!(RocketchatNotifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_200_answers_fail_and_unparsable_ones_retry() {
        assert!(check_answer(r#"{"success":true}"#).is_ok());
        let e = check_answer(r#"{"success":false,"error":"room not found"}"#).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.message, "error response from Rocketchat: room not found");
        assert!(check_answer("<html>").unwrap_err().retryable);
    }
}
