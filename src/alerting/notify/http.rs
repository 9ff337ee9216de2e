//! What every HTTP integration (webhook, Slack, PagerDuty, Opsgenie, VictorOps, …) shares:
//! the client built from the integration's `http_config`, one JSON POST, the answer read
//! with a bound, classified as Alertmanager classifies it, and the templated fields.
//!
//! - [`HttpIntegration::new`] builds the reqwest client from the `http_config` (the entry's
//!   own, or the global one the config reader already fell back to);
//!   [`HttpIntegration::post_json`] sends one request with the configured authentication
//!   (credential files re-read each time) and any extra headers, and reads at most
//!   [`MAX_RESPONSE_BODY`] bytes of the answer. A request that gets no answer (refused, reset,
//!   timed out) is retryable, and its error never shows the URL: integration URLs carry
//!   tokens, and Alertmanager redacts them too (`notify.RedactURL`).
//! - [`Retrier`] is Alertmanager's `notify.Retrier`: a 2xx answer succeeds; a 5xx answer, or
//!   one of the integration's extra retry codes (429 for PagerDuty), is retried; anything else
//!   fails for good. The message is `unexpected status code N`, followed by `: details` when
//!   the integration reports the body.
//! - [`Fields`] compiles an integration's templated fields at config load (errors name the
//!   field) and renders them per notification over Alertmanager's template data, with
//!   Alertmanager's `default.tmpl` and the user's `templates:` files available.
//! - [`read_secret`] reads a `*_file` secret on use, naming the field when it cannot.

use std::collections::BTreeMap;
use std::time::Duration;

use super::build::{IntegrationError, NotifyContext};
use super::data::TemplateData;
use super::templates::FieldTemplate;
use super::{Notification, NotifyError};
use crate::config::{Auth, HttpClientSettings, Secret, SecretSource};
use crate::httpclient::{apply_auth, error_chain, http_client, ClientError};

/// How much of an answer's body is read (for error details and Slack's `ok`); the rest is
/// dropped.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// A failure that trying again cannot fix.
pub fn fatal(message: impl Into<String>) -> NotifyError {
    NotifyError {
        retryable: false,
        message: message.into(),
    }
}

/// A failure that trying again may fix.
pub fn retryable(message: impl Into<String>) -> NotifyError {
    NotifyError {
        retryable: true,
        message: message.into(),
    }
}

/// Reads a secret (inline, or a `*_file` read now); `field` names it in the error.
pub fn read_secret(src: &SecretSource, field: &str) -> Result<Secret, NotifyError> {
    src.read()
        .map_err(|e| fatal(format!("reading {field}: {e}")))
}

/// The answer to one request, its body cut at [`MAX_RESPONSE_BODY`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    pub body: String,
}

/// One integration's HTTP client and authentication.
pub struct HttpIntegration {
    client: reqwest::Client,
    auth: Option<Auth>,
    timeout: Option<Duration>,
}

/// Implements [`super::Notifier`] for an integration struct that has `integration: String`,
/// `config.send_resolved` and `async fn send(&self, &Notification) -> Result<(), NotifyError>`.
/// `impl_notifier!(T, { fn acknowledge … })` adds the items in braces to the impl.
macro_rules! impl_notifier {
    ($t:ty) => {
        $crate::alerting::notify::http::impl_notifier!($t, {});
    };
    ($t:ty, { $($extra:tt)* }) => {
        impl $crate::alerting::notify::Notifier for $t {
            fn integration(&self) -> &str {
                &self.integration
            }

            fn send_resolved(&self) -> bool {
                self.config.send_resolved
            }

            fn notify<'a>(
                &'a self,
                n: &'a $crate::alerting::notify::Notification,
            ) -> futures_util::future::BoxFuture<
                'a,
                Result<(), $crate::alerting::notify::NotifyError>,
            > {
                Box::pin(self.send(n))
            }

            $($extra)*
        }
    };
}
pub(crate) use impl_notifier;

/// An HTTP integration whose request is made from its config and its template fields (Slack,
/// PagerDuty, Opsgenie, VictorOps, Discord, Teams, Webex, Rocket.Chat): each kind is an
/// `HttpNotifier<ItsConfig>` with its own `send`.
pub struct HttpNotifier<C> {
    pub(crate) integration: String,
    pub(crate) config: C,
    pub(crate) http: HttpIntegration,
    pub(crate) fields: Fields,
}

impl<C: Clone> HttpNotifier<C> {
    /// The integration `kind[index]` of the entry `config` at `path`, with its compiled
    /// template `fields`; an unusable `http_config` is an error naming the entry.
    pub(crate) fn with_fields(
        kind: &str,
        index: usize,
        path: &str,
        config: &C,
        http: &HttpClientSettings,
        fields: Fields,
    ) -> Result<HttpNotifier<C>, IntegrationError> {
        Ok(HttpNotifier {
            integration: format!("{kind}[{index}]"),
            config: config.clone(),
            http: HttpIntegration::for_entry(path, http)?,
            fields,
        })
    }

    /// [`HttpNotifier::with_fields`] with the fields `texts` compiled (errors name the field).
    pub(crate) fn with_texts(
        kind: &str,
        index: usize,
        path: &str,
        config: &C,
        http: &HttpClientSettings,
        ctx: &NotifyContext,
        texts: &[(&str, &String)],
    ) -> Result<HttpNotifier<C>, IntegrationError> {
        let mut fields = Fields::new(ctx);
        fields.add_all(path, "", texts)?;
        HttpNotifier::with_fields(kind, index, path, config, http, fields)
    }
}

impl HttpIntegration {
    /// The client of the entry at `path` (`receivers[0].slack_configs[1]`); an unusable
    /// `http_config` is an error naming it.
    pub fn for_entry(
        path: &str,
        http: &HttpClientSettings,
    ) -> Result<HttpIntegration, IntegrationError> {
        HttpIntegration::new(http).map_err(|source| IntegrationError::Client {
            field: path.to_string(),
            source,
        })
    }

    /// The client for an `http_config`.
    pub fn new(http: &HttpClientSettings) -> Result<HttpIntegration, ClientError> {
        Ok(HttpIntegration {
            client: http_client(http)?,
            auth: http.auth.clone(),
            timeout: None,
        })
    }

    /// Bounds each request (the webhook's `timeout`); without one a request runs until the
    /// delivery's deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> HttpIntegration {
        self.timeout = Some(timeout);
        self
    }

    /// POSTs `body` as JSON to `url` with the `http_config` authentication and `headers`
    /// (an integration's own `Authorization` header replaces the `http_config` one, as in
    /// Alertmanager).
    pub async fn post_json(
        &self,
        url: &str,
        body: &impl serde::Serialize,
        headers: &[(&str, String)],
    ) -> Result<HttpResponse, NotifyError> {
        self.send_json(reqwest::Method::POST, url, body, headers)
            .await
    }

    /// As [`HttpIntegration::post_json`], with another method (Opsgenie's updates `PUT`).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &impl serde::Serialize,
        headers: &[(&str, String)],
    ) -> Result<HttpResponse, NotifyError> {
        let body =
            serde_json::to_vec(body).map_err(|e| fatal(format!("encoding the payload: {e}")))?;
        let mut req = self
            .client
            .request(method, url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(t) = self.timeout {
            req = req.timeout(t);
        }
        // The integration's own Authorization wins: prometheus/common's round trippers leave
        // a request that already has one alone.
        let own_auth = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        let auth = if own_auth { None } else { self.auth.as_ref() };
        let mut req = apply_auth(req, auth)
            .await
            .map_err(|e| fatal(format!("reading credentials: {e}")))?;
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        // HA: every HTTP integration carries the notification's idempotency key.
        if let Some(key) = crate::alerting::replica::current_idempotency_key() {
            req = req.header(crate::alerting::replica::IDEMPOTENCY_HEADER, key);
        }
        // The URL may carry a token: errors never show it.
        let mut resp = req
            .send()
            .await
            .map_err(|e| retryable(error_chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut bytes = Vec::new();
        // A body that breaks off is kept as far as it came: the status decides.
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = MAX_RESPONSE_BODY - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if bytes.len() >= MAX_RESPONSE_BODY {
                break;
            }
        }
        Ok(HttpResponse {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Alertmanager's `notify.Retrier`: which answers succeed, which are retried.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retrier {
    /// Status codes retried besides 5xx.
    pub retry_codes: &'static [u16],
    /// Whether the body follows the status in the error (Alertmanager's integrations pass
    /// it, or details made from it, except the webhook).
    pub with_body: bool,
}

impl Retrier {
    /// 5xx retried, the body reported: what most of Alertmanager's integrations do (Slack,
    /// VictorOps, Discord, Teams, Webex, Pushover, Rocket.Chat).
    pub const STANDARD: Retrier = Retrier {
        retry_codes: &[],
        with_body: true,
    };

    /// `Ok` for 2xx; otherwise the error, retryable for 5xx and the extra codes.
    pub fn check(&self, resp: &HttpResponse) -> Result<(), NotifyError> {
        self.check_with(resp, |r| {
            if self.with_body {
                r.body.clone()
            } else {
                String::new()
            }
        })
    }

    /// As [`Retrier::check`], with the integration's own details (Alertmanager's
    /// `CustomDetailsFunc`); empty details add nothing.
    pub fn check_with(
        &self,
        resp: &HttpResponse,
        details: impl FnOnce(&HttpResponse) -> String,
    ) -> Result<(), NotifyError> {
        if resp.status / 100 == 2 {
            return Ok(());
        }
        let retry = resp.status / 100 == 5 || self.retry_codes.contains(&resp.status);
        let mut message = format!("unexpected status code {}", resp.status);
        let details = details(resp);
        if !details.is_empty() {
            message.push_str(": ");
            message.push_str(&details);
        }
        Err(NotifyError {
            retryable: retry,
            message,
        })
    }
}

/// An integration's templated fields, compiled at config load and rendered per
/// notification.
pub struct Fields {
    ctx: NotifyContext,
    fields: BTreeMap<String, FieldTemplate>,
}

impl Fields {
    /// No fields yet; the context gives the templates and the URLs the data carries.
    pub fn new(ctx: &NotifyContext) -> Fields {
        Fields {
            ctx: ctx.clone(),
            fields: BTreeMap::new(),
        }
    }

    /// Compiles `text` as the field `name`; `path` (`receivers[0].slack_configs[1]`) and
    /// `name` name it in errors.
    pub fn add(&mut self, path: &str, name: &str, text: &str) -> Result<(), IntegrationError> {
        let t = self
            .ctx
            .templates
            .compile(&format!("{path}.{name}"), text, false)?;
        self.fields.insert(name.to_string(), t);
        Ok(())
    }

    /// Compiles each `(name, text)` as the field `{prefix}{name}` (`prefix` is empty, or
    /// names a list item: `responders[0].`).
    pub fn add_all(
        &mut self,
        path: &str,
        prefix: &str,
        texts: &[(&str, &String)],
    ) -> Result<(), IntegrationError> {
        for (name, text) in texts {
            self.add(path, &format!("{prefix}{name}"), text)?;
        }
        Ok(())
    }

    /// Compiles each value of a map of templates (`details`, `custom_fields`) as the field
    /// `{map}.{key}`.
    pub fn add_map(
        &mut self,
        path: &str,
        map: &str,
        texts: &BTreeMap<String, String>,
    ) -> Result<(), IntegrationError> {
        for (k, v) in texts {
            self.add(path, &format!("{map}.{k}"), v)?;
        }
        Ok(())
    }

    /// Renders each field of a map added with [`Fields::add_map`].
    pub fn render_map(
        &self,
        map: &str,
        keys: &BTreeMap<String, String>,
        data: &TemplateData,
    ) -> Result<BTreeMap<String, String>, NotifyError> {
        keys.keys()
            .map(|k| Ok((k.clone(), self.render(&format!("{map}.{k}"), data)?)))
            .collect()
    }

    /// The template data of one notification.
    pub fn data(&self, n: &Notification) -> TemplateData {
        TemplateData::new(n, &self.ctx)
    }

    /// Renders the field `name` (empty when it was never added). A template that fails
    /// fails the notification for good, as in Alertmanager.
    pub fn render(&self, name: &str, data: &TemplateData) -> Result<String, NotifyError> {
        match self.fields.get(name) {
            None => Ok(String::new()),
            Some(t) => t
                .render(&self.ctx.templates, data)
                .map_err(|e| fatal(format!("template {name}: {e}"))),
        }
    }

    /// redline's external URL (the data's `ExternalURL`).
    pub fn external_url(&self) -> &str {
        &self.ctx.external_url
    }
}

/// Alertmanager's `notify.Key.Hash`: the SHA-256 of the group key, in hex (PagerDuty's
/// `dedup_key`, Opsgenie's `alias`, VictorOps' `entity_id`).
pub fn group_key_hash(group_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, group_key.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Alertmanager's `notify.Truncate`: at most `n` characters, the last one `…` when cut.
pub fn truncate(s: &str, n: usize) -> (String, bool) {
    let count = s.chars().count();
    if count <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: String::new(),
            body: body.to_string(),
        }
    }

    #[test]
    fn retrier_retries_5xx_and_the_extra_codes_only() {
        let plain = Retrier {
            retry_codes: &[],
            with_body: true,
        };
        assert!(plain.check(&resp(200, "")).is_ok());
        assert!(plain.check(&resp(202, "")).is_ok());
        let e = plain.check(&resp(503, "busy")).unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.message, "unexpected status code 503: busy");
        let e = plain.check(&resp(429, "")).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.message, "unexpected status code 429");
        let pd = Retrier {
            retry_codes: &[429],
            with_body: false,
        };
        assert!(pd.check(&resp(429, "slow down")).unwrap_err().retryable);
        assert_eq!(
            pd.check(&resp(400, "bad")).unwrap_err().message,
            "unexpected status code 400"
        );
    }

    /// A loopback server answering one request with `status` and a body of `len` bytes.
    async fn answer_once(status: u16, len: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&vec![b'x'; len]).await;
        });
        format!("http://{addr}/hook/SECRET-TOKEN")
    }

    #[tokio::test]
    async fn answers_are_read_with_a_bound_and_errors_hide_the_url() {
        crate::install_crypto_provider();
        let http = HttpIntegration::new(&HttpClientSettings::default()).unwrap();
        let url = answer_once(500, 3 * MAX_RESPONSE_BODY).await;
        let resp = http.post_json(&url, &"{}", &[]).await.unwrap();
        assert_eq!(resp.status, 500);
        assert_eq!(resp.body.len(), MAX_RESPONSE_BODY);
        let e = Retrier {
            retry_codes: &[],
            with_body: true,
        }
        .check(&resp)
        .unwrap_err();
        assert!(e.retryable);
        // Nothing listens any more: a connection error, retryable, without the URL.
        let e = http.post_json(&url, &"{}", &[]).await.unwrap_err();
        assert!(e.retryable, "{e:?}");
        assert!(!e.message.contains("SECRET-TOKEN"), "{}", e.message);
    }

    #[test]
    fn group_key_hash_is_sha256_hex() {
        // sha256("") and sha256("abc"), the standard test vectors.
        assert_eq!(
            group_key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            group_key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn truncate_cuts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 5), ("héllo".to_string(), false));
        assert_eq!(truncate("héllo", 4), ("hél…".to_string(), true));
        assert_eq!(truncate("héllo", 2), ("hé".to_string(), true));
    }
}
