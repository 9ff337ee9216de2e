//! The Pushover integration: Alertmanager's `pushover_configs`, a POST to Pushover's
//! messages API with the message in the query string (as Alertmanager sends it, with an
//! empty `text/plain` body).
//!
//! Parameters, as Alertmanager sets them: `token`, `user`, `title` (cut at 250
//! characters), `message` (HTML-escaped when `html: true`, cut at 1024 characters, trimmed,
//! `(no details)` when empty), `html=1` / `monospace=1` when set, `url` (cut at 512),
//! `url_title`, `priority`, `retry` and `expire` in whole seconds, `device`, `sound`, and
//! `ttl` in seconds when positive. A 2xx answer succeeds, 5xx and connection errors are
//! retried, anything else is not. The URL carries the token: errors never show it.
//!
//! Alertmanager's Pushover URL is fixed (`https://api.pushover.net/1/messages.json`), and so
//! is redline's; only tests point it elsewhere ([`PushoverNotifier::with_api_url`]).

use std::sync::Arc;

use super::build::{IntegrationError, NotifyContext};
use super::http::{
    fatal, impl_notifier, read_secret, retryable, truncate, Fields, HttpResponse, Retrier,
};
use super::templates::{FieldTemplate, NotificationTemplates};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::pushover::PushoverConfig;
use crate::config::Auth;
use crate::httpclient::{apply_auth, error_chain, http_client};

/// Pushover's messages API.
pub const API_URL: &str = "https://api.pushover.net/1/messages.json";

/// One `pushover_configs` entry of a receiver.
pub struct PushoverNotifier {
    integration: String,
    config: PushoverConfig,
    client: reqwest::Client,
    auth: Option<Auth>,
    api_url: String,
    fields: Fields,
    templates: Arc<NotificationTemplates>,
    /// The message, compiled HTML-escaping when `html: true`.
    message: FieldTemplate,
}

impl PushoverNotifier {
    /// The integration `pushover[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &PushoverConfig,
        ctx: &NotifyContext,
    ) -> Result<PushoverNotifier, IntegrationError> {
        let mut fields = Fields::new(ctx);
        fields.add_all(
            path,
            "",
            &[
                ("title", &config.title),
                ("url", &config.url),
                ("url_title", &config.url_title),
                ("priority", &config.priority),
                ("device", &config.device),
                ("sound", &config.sound),
            ],
        )?;
        let message =
            ctx.templates
                .compile(&format!("{path}.message"), &config.message, config.html)?;
        let client = http_client(&config.http).map_err(|source| IntegrationError::Client {
            field: path.to_string(),
            source,
        })?;
        Ok(PushoverNotifier {
            integration: format!("pushover[{index}]"),
            client,
            auth: config.http.auth.clone(),
            api_url: API_URL.to_string(),
            fields,
            templates: ctx.templates.clone(),
            message,
            config: config.clone(),
        })
    }

    /// Sends to `url` instead of Pushover (tests point it at a loopback server).
    pub fn with_api_url(mut self, url: &str) -> PushoverNotifier {
        self.api_url = url.to_string();
        self
    }

    /// The request's parameters, in Alertmanager's order (Go's `url.Values.Encode` sorts
    /// them by name when encoding).
    pub fn parameters(&self, n: &Notification) -> Result<Vec<(String, String)>, NotifyError> {
        let token = read_secret(&self.config.token, "token_file")?;
        let user = read_secret(&self.config.user_key, "user_key_file")?;
        let data = self.fields.data(n);
        let mut p: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| p.push((k.to_string(), v));
        add("token", token.expose().to_string());
        add("user", user.expose().to_string());
        add(
            "title",
            truncate(&self.fields.render("title", &data)?, 250).0,
        );
        if self.config.html {
            add("html", "1".into());
        }
        let message = self
            .message
            .render(&self.templates, &data)
            .map_err(|e| fatal(format!("template message: {e}")))?;
        if self.config.monospace {
            add("monospace", "1".into());
        }
        let message = truncate(&message, 1024).0.trim().to_string();
        add(
            "message",
            if message.is_empty() {
                "(no details)".to_string()
            } else {
                message
            },
        );
        add("url", truncate(&self.fields.render("url", &data)?, 512).0);
        add("url_title", self.fields.render("url_title", &data)?);
        add("priority", self.fields.render("priority", &data)?);
        add("retry", self.config.retry.as_secs().to_string());
        add("expire", self.config.expire.as_secs().to_string());
        add("device", self.fields.render("device", &data)?);
        add("sound", self.fields.render("sound", &data)?);
        if self.config.ttl.as_secs() > 0 {
            add("ttl", self.config.ttl.as_secs().to_string());
        }
        Ok(p)
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut params = self.parameters(n)?;
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let url = format!("{}?{query}", self.api_url);
        let req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain");
        // HA: the notification's idempotency key, as on every HTTP integration.
        let req = match crate::alerting::replica::current_idempotency_key() {
            Some(key) => req.header(crate::alerting::replica::IDEMPOTENCY_HEADER, key),
            None => req,
        };
        let req = apply_auth(req, self.auth.as_ref())
            .await
            .map_err(|e| fatal(format!("reading credentials: {e}")))?;
        // The URL carries the token and user key: errors never show it.
        let resp = req
            .send()
            .await
            .map_err(|e| retryable(error_chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Retrier::STANDARD.check(&HttpResponse {
            status,
            content_type: String::new(),
            body,
        })
    }
}

impl_notifier!(PushoverNotifier);
