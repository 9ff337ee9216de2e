//! The Microsoft Teams integration: Alertmanager's `msteams_configs`, an Office 365
//! connector card (`MessageCard`) POSTed to an incoming webhook.
//!
//! The body is Alertmanager's: `@context` `http://schema.org/extensions`, `type`
//! `MessageCard`, the rendered `title`, `summary` and `text`, and `themeColor` `8C1A1A`
//! while firing, `2DC72D` once resolved. A 2xx answer succeeds, 5xx and connection errors
//! are retried, anything else (429 included) is not: Alertmanager's default retrier.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{impl_notifier, read_secret, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::msteams::MsTeamsConfig;

/// `themeColor` while any alert fires.
pub const COLOR_FIRING: &str = "8C1A1A";
/// `themeColor` once all alerts resolved.
pub const COLOR_RESOLVED: &str = "2DC72D";

/// One `msteams_configs` entry of a receiver.
pub type MsTeamsNotifier = HttpNotifier<MsTeamsConfig>;

#[derive(Debug, Serialize)]
struct MessageCard {
    #[serde(rename = "@context")]
    context: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    summary: String,
    text: String,
    #[serde(rename = "themeColor")]
    theme_color: &'static str,
}

impl MsTeamsNotifier {
    /// The integration `msteams[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &MsTeamsConfig,
        ctx: &NotifyContext,
    ) -> Result<MsTeamsNotifier, IntegrationError> {
        HttpNotifier::with_texts(
            "msteams",
            index,
            path,
            config,
            &config.http,
            ctx,
            &[
                ("title", &config.title),
                ("summary", &config.summary),
                ("text", &config.text),
            ],
        )
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = read_secret(&self.config.webhook_url, "webhook_url_file")?;
        let data = self.fields.data(n);
        let body = MessageCard {
            context: "http://schema.org/extensions",
            kind: "MessageCard",
            title: self.fields.render("title", &data)?,
            summary: self.fields.render("summary", &data)?,
            text: self.fields.render("text", &data)?,
            theme_color: if n.is_firing() {
                COLOR_FIRING
            } else {
                COLOR_RESOLVED
            },
        };
        let resp = self.http.post_json(url.expose(), &body, &[]).await?;
        Retrier::STANDARD.check(&resp)
    }
}

impl_notifier!(MsTeamsNotifier);
