//! The Discord integration: Alertmanager's `discord_configs`, a webhook execution with one
//! embed.
//!
//! One JSON POST to the webhook URL: `content` (the rendered `content`, cut at 2000
//! characters, empty by default), one embed with `title` (cut at 256 characters),
//! `description` (the rendered `message`, cut at 4096) and `color` (red `0x992D22` while
//! firing, green `0x2ECC71` once resolved), and `username` / `avatar_url` when configured.
//! A 2xx answer succeeds, 5xx and connection errors are retried, anything else is not
//! (Alertmanager's default retrier). `webhook_url_file` is read on every send.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{impl_notifier, read_secret, truncate, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::discord::DiscordConfig;

/// The embed color while any alert fires.
pub const COLOR_FIRING: u32 = 0x992D22;
/// The embed color once all alerts resolved.
pub const COLOR_RESOLVED: u32 = 0x2ECC71;

/// One `discord_configs` entry of a receiver.
pub type DiscordNotifier = HttpNotifier<DiscordConfig>;

#[derive(Debug, Serialize)]
struct Webhook {
    content: String,
    embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    avatar_url: String,
}

#[derive(Debug, Serialize)]
struct Embed {
    title: String,
    description: String,
    color: u32,
}

impl DiscordNotifier {
    /// The integration `discord[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &DiscordConfig,
        ctx: &NotifyContext,
    ) -> Result<DiscordNotifier, IntegrationError> {
        HttpNotifier::with_texts(
            "discord",
            index,
            path,
            config,
            &config.http,
            ctx,
            &[
                ("title", &config.title),
                ("message", &config.message),
                ("content", &config.content),
            ],
        )
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = read_secret(&self.config.webhook_url, "webhook_url_file")?;
        let data = self.fields.data(n);
        let body = Webhook {
            content: truncate(&self.fields.render("content", &data)?, 2000).0,
            embeds: vec![Embed {
                title: truncate(&self.fields.render("title", &data)?, 256).0,
                description: truncate(&self.fields.render("message", &data)?, 4096).0,
                color: if n.is_firing() {
                    COLOR_FIRING
                } else {
                    COLOR_RESOLVED
                },
            }],
            username: self.config.username.clone(),
            avatar_url: self.config.avatar_url.clone(),
        };
        let resp = self.http.post_json(url.expose(), &body, &[]).await?;
        Retrier::STANDARD.check(&resp)
    }
}

impl_notifier!(DiscordNotifier);
