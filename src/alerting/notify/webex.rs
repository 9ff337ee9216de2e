//! The Webex integration: Alertmanager's `webex_configs`, a message POSTed to a room.
//!
//! One JSON POST to `api_url` with the `http_config` authorization (the bot token):
//! `{"markdown": <message>, "roomId": <room_id>}`, the message cut at 7439 bytes (Webex's
//! limit, as Alertmanager cuts it). `room_id` is sent as written: Alertmanager 0.25 does not
//! render it as a template (the differential test shows it). A 2xx answer succeeds, 5xx and connection errors are
//! retried, anything else is not.

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{impl_notifier, HttpNotifier, Retrier};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::webex::WebexConfig;

/// Webex's limit on a message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 7439;

/// One `webex_configs` entry of a receiver.
pub type WebexNotifier = HttpNotifier<WebexConfig>;

#[derive(Debug, Serialize)]
struct Message {
    markdown: String,
    #[serde(rename = "roomId")]
    room_id: String,
}

/// At most `n` bytes of `s`, cut at a character boundary, with Alertmanager's `…` marker
/// when cut (`notify.TruncateInBytes`).
fn truncate_bytes(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mark = "…";
    let mut end = n.saturating_sub(mark.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{mark}", &s[..end])
}

impl WebexNotifier {
    /// The integration `webex[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &WebexConfig,
        ctx: &NotifyContext,
    ) -> Result<WebexNotifier, IntegrationError> {
        HttpNotifier::with_texts(
            "webex",
            index,
            path,
            config,
            &config.http,
            ctx,
            &[("message", &config.message)],
        )
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let data = self.fields.data(n);
        let body = Message {
            markdown: truncate_bytes(&self.fields.render("message", &data)?, MAX_MESSAGE_BYTES),
            room_id: self.config.room_id.clone(),
        };
        let resp = self
            .http
            .post_json(&self.config.api_url, &body, &[])
            .await?;
        Retrier::STANDARD.check(&resp)
    }
}

impl_notifier!(WebexNotifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_in_bytes_at_a_character_boundary() {
        assert_eq!(truncate_bytes("abc", 3), "abc");
        // "é" is 2 bytes, "…" 3: 6 bytes leave room for "ab" and the marker only.
        assert_eq!(truncate_bytes("abéééé", 6), "ab…");
        assert_eq!(truncate_bytes("abcdefgh", 6).len(), 6);
    }
}
