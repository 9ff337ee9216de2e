//! From a receiver's config to its integrations: `webhook[i]` for each `webhook_configs`
//! entry, `email[i]` for each `email_configs` entry, `slack[i]`, `pagerduty[i]`,
//! `opsgenie[i]`, `victorops[i]`, …, named as Alertmanager names them in its logs and
//! notification log; then the chat and push integrations ([`super::chat`]).
//!
//! Building is part of loading a config: an email template that cannot render, or a TLS or
//! HTTP client setting that cannot be used, is an [`IntegrationError`] naming the field
//! (`receivers[2].email_configs[0].html: …`), so a bad config is rejected at load or reload,
//! not when the first alert fires.

use std::sync::Arc;

use super::email::{EmailNotifier, SmtpTlsError};
use super::opsgenie::OpsGenieNotifier;
use super::pagerduty::PagerdutyNotifier;
use super::slack::SlackNotifier;
use super::templates::{NotificationTemplates, TemplateLoadError};
use super::victorops::VictorOpsNotifier;
use super::webhook::WebhookNotifier;
use super::Notifier;
use crate::config::alertmanager::{AlertmanagerConfig, Receiver};
use crate::httpclient::ClientError;

/// What notifications need to know about where redline runs, and the templates.
#[derive(Clone, Debug)]
pub struct NotifyContext {
    /// redline's external URL (Alertmanager's `ExternalURL` / `externalURL`).
    pub external_url: String,
    /// The dashboard's base address; empty means the external URL. Emails link to
    /// `{dashboard_url}/alerts`.
    pub dashboard_url: String,
    /// The default templates and the config's `templates:` files.
    pub templates: Arc<NotificationTemplates>,
}

impl NotifyContext {
    /// A context with the default templates only.
    pub fn new(external_url: &str, dashboard_url: &str) -> NotifyContext {
        NotifyContext {
            external_url: external_url.to_string(),
            dashboard_url: dashboard_url.to_string(),
            templates: Arc::new(NotificationTemplates::new()),
        }
    }

    /// A context with the templates a config's `templates:` globs name.
    pub fn for_config(
        cfg: &AlertmanagerConfig,
        external_url: &str,
        dashboard_url: &str,
    ) -> Result<NotifyContext, IntegrationError> {
        let templates = NotificationTemplates::load(&cfg.templates)?;
        Ok(NotifyContext {
            external_url: external_url.to_string(),
            dashboard_url: dashboard_url.to_string(),
            templates: Arc::new(templates),
        })
    }
}

/// A receiver integration that cannot be built; the message names the config field.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The notification templates (or an email field's template) do not load.
    #[error(transparent)]
    Templates(#[from] TemplateLoadError),
    /// A webhook's `http_config` cannot be used.
    #[error("{field}.http_config: {source}")]
    WebhookClient {
        field: String,
        #[source]
        source: ClientError,
    },
    /// An HTTP integration's `http_config` cannot be used.
    #[error("{field}.http_config: {source}")]
    Client {
        field: String,
        #[source]
        source: ClientError,
    },
    /// An email's `tls_config` cannot be used.
    #[error("{field}.tls_config: {source}")]
    EmailTls {
        field: String,
        #[source]
        source: SmtpTlsError,
    },
}

/// A receiver's name and its integrations.
pub type ReceiverIntegrations = (String, Vec<Arc<dyn Notifier>>);

/// The integrations of one receiver; errors name fields under `receiver "NAME"`.
pub fn integrations(
    receiver: &Receiver,
    ctx: &NotifyContext,
) -> Result<Vec<Arc<dyn Notifier>>, IntegrationError> {
    build(receiver, &format!("receiver {:?}", receiver.name), ctx)
}

/// The integrations of every receiver of a config, in config order; errors name fields by
/// their path (`receivers[2].email_configs[0].html`).
pub fn all_integrations(
    cfg: &AlertmanagerConfig,
    ctx: &NotifyContext,
) -> Result<Vec<ReceiverIntegrations>, IntegrationError> {
    cfg.receivers
        .iter()
        .enumerate()
        .map(|(i, r)| Ok((r.name.clone(), build(r, &format!("receivers[{i}]"), ctx)?)))
        .collect()
}

fn build(
    receiver: &Receiver,
    path: &str,
    ctx: &NotifyContext,
) -> Result<Vec<Arc<dyn Notifier>>, IntegrationError> {
    // The HTTP clients need the process-wide rustls provider; installing it twice is a no-op.
    crate::install_crypto_provider();
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    for (i, w) in receiver.webhook_configs.iter().enumerate() {
        let n = WebhookNotifier::new(i, w, &ctx.external_url).map_err(|source| {
            IntegrationError::WebhookClient {
                field: format!("{path}.webhook_configs[{i}]"),
                source,
            }
        })?;
        out.push(Arc::new(n));
    }
    for (i, e) in receiver.email_configs.iter().enumerate() {
        let field = format!("{path}.email_configs[{i}]");
        let n = EmailNotifier::new(
            i,
            &field,
            e,
            ctx.templates.clone(),
            &ctx.external_url,
            &ctx.dashboard_url,
        )?;
        if e.tls != crate::config::TlsSettings::default() {
            // Fail on TLS files that cannot be read now, not on the first send.
            super::email::tls_parameters(&e.tls, "localhost").map_err(|source| {
                IntegrationError::EmailTls {
                    field: field.clone(),
                    source,
                }
            })?;
        }
        out.push(Arc::new(n));
    }
    // The other HTTP integrations, each built by its own module.
    let r = receiver;
    entries(
        &mut out,
        path,
        "slack_configs",
        &r.slack_configs,
        ctx,
        SlackNotifier::new,
    )?;
    let pd = &r.pagerduty_configs;
    entries(
        &mut out,
        path,
        "pagerduty_configs",
        pd,
        ctx,
        PagerdutyNotifier::new,
    )?;
    let og = &r.opsgenie_configs;
    entries(
        &mut out,
        path,
        "opsgenie_configs",
        og,
        ctx,
        OpsGenieNotifier::new,
    )?;
    let vo = &r.victorops_configs;
    entries(
        &mut out,
        path,
        "victorops_configs",
        vo,
        ctx,
        VictorOpsNotifier::new,
    )?;
    super::chat::build(&receiver.chat, path, ctx, &mut out)?;
    Ok(out)
}

/// One notifier per entry of the list `field` of the receiver at `path`, into `out`; `new`
/// gets the entry's index and path (`receivers[2].discord_configs[1]`).
pub(crate) fn entries<C, N: Notifier + 'static>(
    out: &mut Vec<Arc<dyn Notifier>>,
    path: &str,
    field: &str,
    list: &[C],
    ctx: &NotifyContext,
    new: fn(usize, &str, &C, &NotifyContext) -> Result<N, IntegrationError>,
) -> Result<(), IntegrationError> {
    for (i, c) in list.iter().enumerate() {
        out.push(Arc::new(new(i, &format!("{path}.{field}[{i}]"), c, ctx)?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
route: {receiver: team}
receivers:
  - name: blackhole
  - name: team
    webhook_configs:
      - url: http://127.0.0.1:9/hook
      - url: http://127.0.0.1:9/other
    email_configs:
      - to: team@example.org
        from: redline@example.org
        smarthost: 127.0.0.1:2525
        require_tls: false
  - name: broken
    email_configs:
      - to: x@example.org
        from: redline@example.org
        smarthost: 127.0.0.1:2525
        html: '{{ template "email.custom" . }}'
"#;

    #[test]
    fn integrations_are_named_as_alertmanager_names_them() {
        let cfg = AlertmanagerConfig::from_yaml_str(CONFIG, "am.yml").unwrap();
        let ctx = NotifyContext::new("http://127.0.0.1:9093", "");
        let team = integrations(cfg.receiver("team").unwrap(), &ctx).unwrap();
        let names: Vec<&str> = team.iter().map(|n| n.integration()).collect();
        assert_eq!(names, ["webhook[0]", "webhook[1]", "email[0]"]);
        assert!(team[0].send_resolved());
        assert!(!team[2].send_resolved());
        assert!(integrations(cfg.receiver("blackhole").unwrap(), &ctx)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn undefined_template_is_a_load_error_naming_the_field() {
        let cfg = AlertmanagerConfig::from_yaml_str(CONFIG, "am.yml").unwrap();
        let ctx = NotifyContext::new("http://127.0.0.1:9093", "");
        let e = all_integrations(&cfg, &ctx)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("receivers[2].email_configs[0].html: ")
                && e.contains("\"email.custom\" is not defined"),
            "{e}"
        );
        let e = integrations(cfg.receiver("broken").unwrap(), &ctx)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("receiver \"broken\".email_configs[0].html: "),
            "{e}"
        );
    }

    /// An email `ca_file` that cannot be read rejects the config with the field named, and
    /// the error keeps the read error as its cause (it was flattened to text).
    #[test]
    fn unreadable_email_ca_file_keeps_the_read_error_as_source() {
        let missing = std::env::temp_dir().join(format!(
            "redline-build-missing-ca-{}/ca.pem",
            std::process::id()
        ));
        let text = format!(
            r#"
route: {{receiver: mail}}
receivers:
  - name: mail
    email_configs:
      - to: x@example.org
        from: redline@example.org
        smarthost: 127.0.0.1:2525
        tls_config: {{ca_file: '{}'}}
"#,
            missing.display()
        );
        let cfg = AlertmanagerConfig::from_yaml_str(&text, "am.yml").unwrap();
        let ctx = NotifyContext::new("http://127.0.0.1:9093", "");
        let e = all_integrations(&cfg, &ctx).map(|_| ()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(
                "receivers[0].email_configs[0].tls_config: tls_config: reading ca_file: "
            ),
            "{text}"
        );
        let tls = std::error::Error::source(&e).expect("the TLS error is the source");
        let io = tls
            .source()
            .and_then(|c| c.downcast_ref::<std::io::Error>())
            .expect("the read error is kept");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn templates_from_config_files_are_used() {
        let dir = crate::testdir::TempDir::new("build");
        std::fs::write(
            dir.join("custom.tmpl"),
            r#"{{ define "email.custom" }}<p>{{ .CommonLabels.alertname }}</p>{{ end }}"#,
        )
        .unwrap();
        let text = CONFIG.replace("route:", "templates: ['*.tmpl']\nroute:");
        let cfg = AlertmanagerConfig::from_yaml_str_in(&text, "am.yml", &dir).unwrap();
        let ctx = NotifyContext::for_config(&cfg, "http://127.0.0.1:9093", "").unwrap();
        let all = all_integrations(&cfg, &ctx).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].0, "broken");
    }
}
