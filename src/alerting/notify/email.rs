//! The email integration: one message per notification over SMTP, as Alertmanager's email
//! notifier sends it.
//!
//! Connection: `smarthost` is `host:port`; port 465 speaks TLS from the first byte (SMTPS);
//! any other port starts in plain text and upgrades with STARTTLS when the server offers
//! it; with `require_tls` (the default) a server that does not offer STARTTLS is an error
//! and nothing is sent in the clear. The client greets with `hello`, and authenticates with
//! AUTH PLAIN or LOGIN when `auth_username` is set (the password, inline or from
//! `auth_password_file`, is read on every send). TLS verification follows the config's
//! `tls_config` (`ca_file` replaces the system roots, `server_name`, `insecure_skip_verify`,
//! client certificate, minimum version).
//!
//! Message: `To`, `From` and `Subject` default as in Alertmanager (the config's `to`,
//! `from`, and the default subject) and every `headers` value is a template; the body is
//! `multipart/alternative` with the text part (the config's `text`, else redline's default
//! text) and the HTML part (`html`, by default redline's HTML). The envelope goes from
//! `from` to every address of `to` (comma-separated).
//!
//! Failures: connection errors, timeouts and 4xx replies are retryable; 5xx replies, a
//! missing STARTTLS under `require_tls` and template or address errors are not. Every
//! message names the smarthost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    Certificate, CertificateStore, Identity, Tls, TlsParameters, TlsVersion as SmtpTlsVersion,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::data::TemplateData;
use super::http::impl_notifier;
use super::templates::{FieldTemplate, NotificationTemplates, TemplateLoadError};
use super::{Notification, NotifyError};
use crate::config::alertmanager::EmailConfig;
use crate::config::{TlsSettings, TlsVersion};

/// How long one SMTP exchange (connect, each command) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One `email_configs` entry of a receiver, with its templates compiled.
pub struct EmailNotifier {
    integration: String,
    config: EmailConfig,
    host: String,
    port: u16,
    templates: Arc<NotificationTemplates>,
    to: FieldTemplate,
    from: FieldTemplate,
    /// Header name → template, with `To`, `From` and `Subject` always present.
    headers: BTreeMap<String, FieldTemplate>,
    html: FieldTemplate,
    /// The config's `text`, or redline's default text.
    text: FieldTemplate,
    external_url: String,
    dashboard_url: String,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("integration", &self.integration)
            .field("smarthost", &self.config.smarthost)
            .field("to", &self.config.to)
            .finish_non_exhaustive()
    }
}

/// Splits `host:port` (`[v6]:port` too).
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p)
    } else {
        s.rsplit_once(':')?
    };
    Some((host.to_string(), port.parse().ok()?))
}

impl EmailNotifier {
    /// The integration `email[index]`; `field` is the config path of the entry
    /// (`receivers[2].email_configs[0]`) for errors. Every template is compiled and tried
    /// now, so a template that cannot render is an error here.
    pub fn new(
        index: usize,
        field: &str,
        config: &EmailConfig,
        templates: Arc<NotificationTemplates>,
        external_url: &str,
        dashboard_url: &str,
    ) -> Result<EmailNotifier, TemplateLoadError> {
        let (host, port) = split_host_port(&config.smarthost).ok_or_else(|| {
            TemplateLoadError::Field(format!(
                "{field}.smarthost: {:?} is not host:port",
                config.smarthost
            ))
        })?;
        let t = &templates;
        let mut headers = BTreeMap::new();
        let mut header_text: BTreeMap<String, String> = config.headers.clone();
        header_text
            .entry("To".into())
            .or_insert_with(|| config.to.clone());
        header_text
            .entry("From".into())
            .or_insert_with(|| config.from.clone());
        header_text
            .entry("Subject".into())
            .or_insert_with(|| r#"{{ template "email.default.subject" . }}"#.into());
        for (name, text) in &header_text {
            HeaderName::new_from_ascii(name.clone()).map_err(|_| {
                TemplateLoadError::Field(format!("{field}.headers.{name}: not a valid header name"))
            })?;
            headers.insert(
                name.clone(),
                t.compile(&format!("{field}.headers.{name}"), text, false)?,
            );
        }
        let text = match &config.text {
            Some(text) => t.compile(&format!("{field}.text"), text, false)?,
            None => t.compile(
                &format!("{field}.text"),
                r#"{{ template "email.default.text" . }}"#,
                false,
            )?,
        };
        Ok(EmailNotifier {
            integration: format!("email[{index}]"),
            to: t.compile(&format!("{field}.to"), &config.to, false)?,
            from: t.compile(&format!("{field}.from"), &config.from, false)?,
            html: t.compile(&format!("{field}.html"), &config.html, true)?,
            text,
            headers,
            host,
            port,
            config: config.clone(),
            templates,
            external_url: external_url.to_string(),
            dashboard_url: dashboard_url.to_string(),
        })
    }

    fn fatal(&self, what: impl std::fmt::Display) -> NotifyError {
        NotifyError {
            retryable: false,
            message: format!("email to smarthost {}: {what}", self.config.smarthost),
        }
    }

    /// The message for a notification (also used by tests and previews).
    pub fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let data = TemplateData::with_urls(n, &self.external_url, &self.dashboard_url);
        let render = |what: &str, t: &FieldTemplate| {
            t.render(&self.templates, &data)
                .map_err(|e| self.fatal(format!("rendering {what}: {e}")))
        };
        let envelope_from: Mailbox = render("from", &self.from)?
            .trim()
            .parse()
            .map_err(|e| self.fatal(format!("parsing from address: {e}")))?;
        let envelope_to: Mailboxes = render("to", &self.to)?
            .trim()
            .parse()
            .map_err(|e| self.fatal(format!("parsing to addresses: {e}")))?;
        let to_addrs: Vec<Address> = envelope_to.iter().map(|m| m.email.clone()).collect();
        if to_addrs.is_empty() {
            return Err(self.fatal("no to address"));
        }
        let envelope = lettre::address::Envelope::new(Some(envelope_from.email.clone()), to_addrs)
            .map_err(|e| self.fatal(format!("envelope: {e}")))?;
        let mut b = Message::builder().envelope(envelope);
        for (name, t) in &self.headers {
            let value = render(&format!("header {name}"), t)?;
            b = match name.as_str() {
                "To" => {
                    let list: Mailboxes = value
                        .trim()
                        .parse()
                        .map_err(|e| self.fatal(format!("parsing To header: {e}")))?;
                    b.mailbox(lettre::message::header::To::from(list))
                }
                "From" => b.from(
                    value
                        .trim()
                        .parse()
                        .map_err(|e| self.fatal(format!("parsing From header: {e}")))?,
                ),
                "Subject" => b.subject(value.trim()),
                _ => match HeaderName::new_from_ascii(name.clone()) {
                    Ok(h) => b.raw_header(HeaderValue::new(h, value)),
                    Err(_) => return Err(self.fatal(format!("invalid header name {name:?}"))),
                },
            };
        }
        let domain = envelope_from.email.domain().to_string();
        let domain = if domain.is_empty() {
            "redline"
        } else {
            &domain
        };
        // With the notification's idempotency key (the same on every replica, and on every
        // retry of one notification), the Message-ID is derived from it and the key is sent as
        // a header, so a mail system that drops repeated Message-IDs drops a failover's repeat.
        let id = match crate::alerting::replica::current_idempotency_key() {
            Some(key) => {
                b = b.raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str(crate::alerting::replica::IDEMPOTENCY_HEADER),
                    key.clone(),
                ));
                format!("<{key}@{domain}>")
            }
            None => format!(
                "<{}.{:016x}@{domain}>",
                crate::timefmt::now_ms(),
                xxhash_rust::xxh3::xxh3_64(format!("{}{}", n.group_key, n.now_ms).as_bytes()),
            ),
        };
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(render("text", &self.text)?),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(render("html", &self.html)?),
            );
        b.message_id(Some(id))
            .multipart(body)
            .map_err(|e| self.fatal(format!("building the message: {e}")))
    }

    fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        tls_parameters(&self.config.tls, &self.host).map_err(|e| self.fatal(e))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let tls = if self.port == 465 {
            Tls::Wrapper(self.tls_parameters()?)
        } else if self.config.require_tls {
            Tls::Required(self.tls_parameters()?)
        } else {
            Tls::Opportunistic(self.tls_parameters()?)
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .hello_name(ClientId::Domain(self.config.hello.clone()))
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &self.config.auth_username {
            let password = match &self.config.auth_password {
                Some(p) => p
                    .read()
                    .map_err(|e| self.fatal(format!("reading auth_password_file: {e}")))?
                    .expose()
                    .to_string(),
                None => String::new(),
            };
            b = b
                .credentials(Credentials::new(user.clone(), password))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(b.build())
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let msg = self.message(n)?;
        let transport = self.transport()?;
        match transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.classify(&e)),
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> NotifyError {
        let chain = crate::httpclient::error_chain(e);
        if chain.contains("STARTTLS is not supported") {
            return self.fatal(format!(
                "require_tls is true but the server does not advertise the STARTTLS extension ({chain})"
            ));
        }
        let retryable = !e.is_permanent();
        let kind = if e.is_permanent() {
            "permanent SMTP error"
        } else if e.is_transient() {
            "transient SMTP error"
        } else if e.is_timeout() {
            "timeout"
        } else {
            "error"
        };
        NotifyError {
            retryable,
            message: format!(
                "email to smarthost {}: {kind}: {chain}",
                self.config.smarthost
            ),
        }
    }
}

/// Why a `tls_config` cannot be used for SMTP; the text names the setting.
#[derive(Debug, thiserror::Error)]
pub enum SmtpTlsError {
    /// `ca_file`, `cert_file` or `key_file` could not be read.
    #[error("tls_config: reading {file}: {source}")]
    Read {
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("tls_config: ca_file: {0}")]
    CaFile(#[source] lettre::transport::smtp::Error),
    #[error("tls_config: client certificate: {0}")]
    ClientCertificate(#[source] lettre::transport::smtp::Error),
    #[error("tls_config: {0}")]
    Build(#[source] lettre::transport::smtp::Error),
}

/// lettre's TLS parameters from a `tls_config` (the same settings the HTTP clients use:
/// `ca_file` replaces the system roots).
pub fn tls_parameters(tls: &TlsSettings, host: &str) -> Result<TlsParameters, SmtpTlsError> {
    let read = |file: &'static str| move |source| SmtpTlsError::Read { file, source };
    let domain = tls.server_name.clone().unwrap_or_else(|| host.to_string());
    let mut b = TlsParameters::builder(domain)
        .dangerous_accept_invalid_certs(tls.insecure_skip_verify)
        .set_min_tls_version(match tls.min_version {
            Some(TlsVersion::Tls13) => SmtpTlsVersion::Tlsv13,
            _ => SmtpTlsVersion::Tlsv12,
        });
    if let Some(ca) = &tls.ca {
        let pem = ca.read().map_err(read("ca_file"))?;
        let cert = Certificate::from_pem(pem.as_bytes()).map_err(SmtpTlsError::CaFile)?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        let cert = cert.read().map_err(read("cert_file"))?;
        let key = key.read().map_err(read("key_file"))?;
        let id = Identity::from_pem(cert.as_bytes(), key.expose().as_bytes())
            .map_err(SmtpTlsError::ClientCertificate)?;
        b = b.identify_with(id);
    }
    b.build_rustls().map_err(SmtpTlsError::Build)
}

impl_notifier!(EmailNotifier);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::data::tests::fixture_notification;
    use crate::alerting::notify::Notifier;
    use crate::config::alertmanager::AlertmanagerConfig;

    fn config(extra: &str) -> EmailConfig {
        let cfg = AlertmanagerConfig::from_yaml_str(
            &format!(
                r#"
route: {{receiver: mail}}
receivers:
  - name: mail
    email_configs:
      - to: 'oncall@example.org, lead@example.org'
        from: redline@example.org
        smarthost: 127.0.0.1:2525
{extra}
"#
            ),
            "am.yml",
        )
        .unwrap();
        cfg.receivers[0].email_configs[0].clone()
    }

    fn notifier(c: &EmailConfig) -> EmailNotifier {
        EmailNotifier::new(
            0,
            "receivers[0].email_configs[0]",
            c,
            Arc::new(NotificationTemplates::new()),
            "http://127.0.0.1:19093",
            "",
        )
        .unwrap()
    }

    #[test]
    fn message_has_alertmanagers_default_headers_and_both_parts() {
        let n = notifier(&config(""));
        assert_eq!(n.integration(), "email[0]");
        assert!(!n.send_resolved());
        let msg = n.message(&fixture_notification(false)).unwrap();
        let to: Vec<String> = msg.envelope().to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, ["oncall@example.org", "lead@example.org"]);
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(
            raw.contains("To: oncall@example.org, lead@example.org"),
            "{raw}"
        );
        assert!(raw.contains("From: redline@example.org"));
        assert!(raw.contains("Subject: [FIRING:2] HighErrorBudgetBurn api (page)"));
        assert!(raw.contains("Message-ID: <") && raw.contains("@example.org>"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(!raw.contains("Idempotency-Key"), "{raw}");
    }

    /// Sent with an idempotency key (every delivery; the same on every replica), the message
    /// carries it as a header and its Message-ID is made of it, so one notification sent
    /// twice (a retry, a failover) has one Message-ID.
    #[tokio::test]
    async fn the_idempotency_key_makes_the_message_id() {
        let n = notifier(&config(""));
        let raw = |key: &'static str| {
            let n = &n;
            crate::alerting::replica::with_idempotency_key(key.to_string(), async move {
                String::from_utf8(n.message(&fixture_notification(false)).unwrap().formatted())
                    .unwrap()
            })
        };
        let one = raw("0123abcd").await;
        assert!(one.contains("Message-ID: <0123abcd@example.org>"), "{one}");
        assert!(one.contains("Idempotency-Key: 0123abcd"), "{one}");
        let again = raw("0123abcd").await;
        assert_eq!(
            one.lines().find(|l| l.starts_with("Message-ID")),
            again.lines().find(|l| l.starts_with("Message-ID"))
        );
        let other = raw("ffff0000").await;
        assert!(
            other.contains("Message-ID: <ffff0000@example.org>"),
            "{other}"
        );
    }

    #[test]
    fn configured_headers_are_templates_and_override_defaults() {
        let n = notifier(&config(
            "        headers: {subject: 'Page {{ .CommonLabels.job }}', x-team: '{{ .Owner }}'}",
        ));
        let raw = String::from_utf8(n.message(&fixture_notification(false)).unwrap().formatted())
            .unwrap();
        assert!(raw.contains("Subject: Page api"), "{raw}");
        assert!(raw.contains("X-Team: team-api"), "{raw}");
    }

    #[test]
    fn bad_field_template_fails_at_construction_naming_the_field() {
        let c = config("        text: '{{ .Nope }}'");
        let e = EmailNotifier::new(
            0,
            "receivers[3].email_configs[0]",
            &c,
            Arc::new(NotificationTemplates::new()),
            "",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("receivers[3].email_configs[0].text:"), "{e}");
    }

    #[test]
    fn smarthost_forms() {
        assert_eq!(
            split_host_port("mail.example.org:587"),
            Some(("mail.example.org".into(), 587))
        );
        assert_eq!(split_host_port("[::1]:25"), Some(("::1".into(), 25)));
        assert_eq!(split_host_port("nohost"), None);
    }
}
