//! The Telegram integration: Alertmanager's `telegram_configs`, a Bot API `sendMessage`.
//!
//! One request per notification: `POST {api_url}/bot{token}/sendMessage` with a JSON body
//! whose values are strings, as Alertmanager's Telegram client sends them: `chat_id`,
//! `text` (the rendered `message`, HTML-escaped when `parse_mode` is `HTML`, cut at 4096
//! characters), `disable_web_page_preview: "true"`, and when set `parse_mode`,
//! `disable_notification: "true"` and `message_thread_id`.
//!
//! Telegram answers `{"ok": true, …}`; any other answer (a non-2xx status, `ok: false`, a
//! body that is not JSON) or no answer fails the attempt, and Alertmanager retries every
//! Telegram failure, so redline does too. The bot token is part of the URL: errors never
//! show it.

use std::sync::Arc;

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{impl_notifier, read_secret, retryable, truncate, Fields, HttpIntegration};
use super::templates::{FieldTemplate, NotificationTemplates};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::telegram::TelegramConfig;

/// Telegram's limit on a message's length, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// One `telegram_configs` entry of a receiver.
pub struct TelegramNotifier {
    integration: String,
    config: TelegramConfig,
    http: HttpIntegration,
    fields: Fields,
    templates: Arc<NotificationTemplates>,
    /// The message, compiled HTML-escaping when `parse_mode` is `HTML`.
    message: FieldTemplate,
}

/// The `sendMessage` request as Alertmanager's client encodes it: every value a string.
#[derive(Debug, Serialize)]
struct SendMessage {
    chat_id: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_thread_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parse_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_notification: Option<&'static str>,
    disable_web_page_preview: &'static str,
}

impl TelegramNotifier {
    /// The integration `telegram[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &TelegramConfig,
        ctx: &NotifyContext,
    ) -> Result<TelegramNotifier, IntegrationError> {
        let message = ctx.templates.compile(
            &format!("{path}.message"),
            &config.message,
            config.parse_mode == "HTML",
        )?;
        Ok(TelegramNotifier {
            integration: format!("telegram[{index}]"),
            http: HttpIntegration::for_entry(path, &config.http)?,
            fields: Fields::new(ctx),
            templates: ctx.templates.clone(),
            message,
            config: config.clone(),
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let token = read_secret(&self.config.bot_token, "bot_token_file")?;
        let data = self.fields.data(n);
        let text = self
            .message
            .render(&self.templates, &data)
            .map_err(|e| super::http::fatal(format!("template message: {e}")))?;
        let (text, _) = truncate(&text, MAX_MESSAGE_CHARS);
        let body = SendMessage {
            chat_id: self.config.chat_id.to_string(),
            text,
            message_thread_id: (self.config.message_thread_id != 0)
                .then(|| self.config.message_thread_id.to_string()),
            parse_mode: (!self.config.parse_mode.is_empty())
                .then(|| self.config.parse_mode.clone()),
            disable_notification: self.config.disable_notifications.then_some("true"),
            disable_web_page_preview: "true",
        };
        let url = format!("{}/bot{}/sendMessage", self.config.api_url, token.expose());
        let resp = self.http.post_json(&url, &body, &[]).await?;
        check(resp.status, &resp.body)
    }
}

/// Telegram's verdict: 2xx with `"ok": true` succeeds; anything else is retried, as
/// Alertmanager retries every Telegram error. The description Telegram gives is kept.
fn check(status: u16, body: &str) -> Result<(), NotifyError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        ok: bool,
        #[serde(default)]
        description: String,
    }
    match serde_json::from_str::<Answer>(body) {
        Ok(a) if a.ok && status / 100 == 2 => Ok(()),
        Ok(a) if !a.description.is_empty() => {
            Err(retryable(format!("telegram: {} ({status})", a.description)))
        }
        _ => Err(retryable(format!("unexpected status code {status}"))),
    }
}

impl_notifier!(TelegramNotifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_is_retried_and_ok_true_succeeds() {
        assert!(check(200, r#"{"ok":true,"result":{}}"#).is_ok());
        for (status, body) in [
            (
                200,
                r#"{"ok":false,"description":"Bad Request: chat not found"}"#,
            ),
            (
                400,
                r#"{"ok":false,"description":"Bad Request: chat not found"}"#,
            ),
            (200, ""),
            (500, "oops"),
            (429, r#"{"ok":false,"description":"Too Many Requests"}"#),
        ] {
            let e = check(status, body).unwrap_err();
            assert!(e.retryable, "{status} {body}");
        }
        assert_eq!(
            check(
                400,
                r#"{"ok":false,"description":"Bad Request: chat not found"}"#
            )
            .unwrap_err()
            .message,
            "telegram: Bad Request: chat not found (400)"
        );
    }
}
