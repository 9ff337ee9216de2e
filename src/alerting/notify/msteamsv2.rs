//! The Microsoft Teams v2 integration: Alertmanager's `msteamsv2_configs`, an Adaptive Card
//! POSTed to a Power Automate workflow webhook.
//!
//! The body is Alertmanager's: a `message` with one attachment of content type
//! `application/vnd.microsoft.card.adaptive` (`contentUrl` null) holding an `AdaptiveCard`
//! version 1.2 with two `TextBlock`s, the rendered `title` (bolder, medium, wrapped,
//! `heading`, color `Attention` while firing, `Good` once resolved) and the rendered `text`
//! (wrapped), and `msteams.width` `full`. Retries as `msteams_configs`.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{impl_notifier, read_secret, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::msteams::MsTeamsV2Config;

/// One `msteamsv2_configs` entry of a receiver.
pub type MsTeamsV2Notifier = HttpNotifier<MsTeamsV2Config>;

#[derive(Debug, Serialize)]
struct Message {
    #[serde(rename = "type")]
    kind: &'static str,
    attachments: Vec<Attachment>,
}

#[derive(Debug, Serialize)]
struct Attachment {
    #[serde(rename = "contentType")]
    content_type: &'static str,
    #[serde(rename = "contentUrl")]
    content_url: Option<String>,
    content: Card,
}

#[derive(Debug, Serialize)]
struct Card {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    body: Vec<TextBlock>,
    msteams: Width,
}

#[derive(Debug, Serialize)]
struct TextBlock {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    weight: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    size: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    wrap: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    style: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    color: &'static str,
}

#[derive(Debug, Serialize)]
struct Width {
    width: &'static str,
}

impl MsTeamsV2Notifier {
    /// The integration `msteamsv2[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &MsTeamsV2Config,
        ctx: &NotifyContext,
    ) -> Result<MsTeamsV2Notifier, IntegrationError> {
        HttpNotifier::with_texts(
            "msteamsv2",
            index,
            path,
            config,
            &config.http,
            ctx,
            &[("title", &config.title), ("text", &config.text)],
        )
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = read_secret(&self.config.webhook_url, "webhook_url_file")?;
        let data = self.fields.data(n);
        let body = Message {
            kind: "message",
            attachments: vec![Attachment {
                content_type: "application/vnd.microsoft.card.adaptive",
                content_url: None,
                content: Card {
                    schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                    kind: "AdaptiveCard",
                    version: "1.2",
                    body: vec![
                        TextBlock {
                            kind: "TextBlock",
                            text: self.fields.render("title", &data)?,
                            weight: "Bolder",
                            size: "Medium",
                            wrap: true,
                            style: "heading",
                            color: if n.is_firing() { "Attention" } else { "Good" },
                        },
                        TextBlock {
                            kind: "TextBlock",
                            text: self.fields.render("text", &data)?,
                            weight: "",
                            size: "",
                            wrap: true,
                            style: "",
                            color: "",
                        },
                    ],
                    msteams: Width { width: "full" },
                },
            }],
        };
        let resp = self.http.post_json(url.expose(), &body, &[]).await?;
        Retrier::STANDARD.check(&resp)
    }
}

impl_notifier!(MsTeamsV2Notifier);
