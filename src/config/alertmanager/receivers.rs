//! The typed `global` section, receivers (webhook and email) and inhibit rules, with
//! Alertmanager's defaults: webhooks resolve by default (`send_resolved: true`) and inherit
//! the global `http_config`; email configs do not (`send_resolved: false`) and take `from`,
//! `smarthost`, `hello`, the auth fields and `require_tls` from the `smtp_*` globals.
//! Secrets (`url`, passwords) are [`SecretSource`]s that never print; `*_file` fields are
//! paths resolved against the config file's directory and read on use.

use std::collections::BTreeMap;
use std::time::Duration;

use super::build::Ctx;
use super::integrations::opsgenie::{opsgenie, OpsGenieConfig};
use super::integrations::pagerduty::{pagerduty, PagerdutyConfig};
use super::integrations::slack::{slack, SlackConfig};
use super::integrations::victorops::{victorops, VictorOpsConfig};
use super::integrations::{
    self as chat, globals, secret_or_file, ChatConfigs, ChatGlobals, IntegrationGlobals,
    RawChatConfigs,
};
use super::matchers::Matchers;
use super::raw::{RawEmailConfig, RawGlobal, RawHttpConfig, RawReceiver, RawWebhookConfig};
use crate::config::http_client::validate as validate_http;
use crate::config::raw::RawTlsConfig;
use crate::config::{
    ConfigError, FieldPath, HttpClientSettings, Secret, SecretSource, TlsSettings,
};

/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Alertmanager's default email body.
pub const DEFAULT_EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;

/// The `global` section with defaults applied.
#[derive(Clone, Debug)]
pub struct GlobalConfig {
    /// Default 5m.
    pub resolve_timeout: Duration,
    pub http: HttpClientSettings,
    pub smtp_from: Option<String>,
    /// Default `localhost`.
    pub smtp_hello: String,
    /// `host:port`.
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<SecretSource>,
    pub smtp_auth_secret: Option<Secret>,
    pub smtp_auth_identity: Option<String>,
    /// Default true.
    pub smtp_require_tls: bool,
    pub smtp_tls: TlsSettings,
    /// The integrations' settings (`slack_api_url`, `pagerduty_url`, …).
    pub integrations: IntegrationGlobals,
    /// The chat integrations' settings (`telegram_api_url`, `rocketchat_token`, …).
    pub chat: ChatGlobals,
}

/// A named receiver. An empty one (no configs) is valid: it drops notifications.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub email_configs: Vec<EmailConfig>,
    pub slack_configs: Vec<SlackConfig>,
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    pub opsgenie_configs: Vec<OpsGenieConfig>,
    pub victorops_configs: Vec<VictorOpsConfig>,
    /// `telegram_configs`, `discord_configs`, … ([`super::integrations`]).
    pub chat: ChatConfigs,
}

/// One `webhook_configs` entry.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Default true.
    pub send_resolved: bool,
    /// The URL, inline (a secret: it may carry a token) or from `url_file`.
    pub url: SecretSource,
    /// 0 means all alerts of the group.
    pub max_alerts: u64,
    /// `None`: no timeout beyond the group's notification deadline.
    pub timeout: Option<Duration>,
    /// The entry's `http_config`, or the global one.
    pub http: HttpClientSettings,
}

/// One `email_configs` entry, with the `smtp_*` globals applied.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    /// Default false.
    pub send_resolved: bool,
    pub to: String,
    pub from: String,
    pub hello: String,
    /// `host:port`.
    pub smarthost: String,
    pub auth_username: Option<String>,
    pub auth_password: Option<SecretSource>,
    pub auth_secret: Option<Secret>,
    pub auth_identity: Option<String>,
    /// Header names normalised as Alertmanager does (`strings.Title`).
    pub headers: BTreeMap<String, String>,
    /// Template text; default [`DEFAULT_EMAIL_HTML`].
    pub html: String,
    pub text: Option<String>,
    pub require_tls: bool,
    pub tls: TlsSettings,
}

/// One inhibit rule: alerts matching `target_matchers` are muted while an alert matching
/// `source_matchers` fires with the same values of the `equal` labels.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub source_matchers: Matchers,
    pub target_matchers: Matchers,
    pub equal: Vec<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// `host:port` with a non-empty port, as Alertmanager's `HostPort`.
fn host_port(ctx: &Ctx<'_>, path: &FieldPath, s: &str) -> Result<(), ConfigError> {
    let port = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:").map(|(_, p)| p)
    } else {
        s.rsplit_once(':').map(|(_, p)| p)
    };
    match port {
        None => Err(ctx.err(path, format!("address {s}: missing port in address"))),
        Some("") => Err(ctx.err(path, format!("address {s:?}: port cannot be empty"))),
        Some(_) => Ok(()),
    }
}

pub(crate) fn global(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    g: RawGlobal,
) -> Result<GlobalConfig, ConfigError> {
    let integrations = globals(ctx, path, &g)?;
    if let Some(sh) = g.smtp_smarthost.as_deref().filter(|s| !s.is_empty()) {
        host_port(ctx, &path.key("smtp_smarthost"), sh)?;
    }
    let password = secret_or_file(
        ctx,
        path,
        "smtp_auth_password",
        g.smtp_auth_password.clone(),
        g.smtp_auth_password_file.clone(),
    )?;
    let chat = chat::chat_globals(ctx, path, &g)?;
    Ok(GlobalConfig {
        chat,
        resolve_timeout: g.resolve_timeout.map_or(DEFAULT_RESOLVE_TIMEOUT, |d| d.0),
        http: match g.http_config {
            Some(h) => http_config(ctx, &path.key("http_config"), h)?,
            None => HttpClientSettings::default(),
        },
        smtp_from: non_empty(g.smtp_from),
        smtp_hello: non_empty(g.smtp_hello).unwrap_or_else(|| "localhost".to_string()),
        smtp_smarthost: non_empty(g.smtp_smarthost),
        smtp_auth_username: non_empty(g.smtp_auth_username),
        smtp_auth_password: password,
        smtp_auth_secret: non_empty(g.smtp_auth_secret).map(Secret::new),
        smtp_auth_identity: non_empty(g.smtp_auth_identity),
        smtp_require_tls: g.smtp_require_tls.unwrap_or(true),
        smtp_tls: match g.smtp_tls_config {
            Some(t) => tls(ctx, &path.key("smtp_tls_config"), t)?,
            None => TlsSettings::default(),
        },
        integrations,
    })
}

pub(crate) fn receiver(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    r: RawReceiver,
    global: &GlobalConfig,
) -> Result<Receiver, ConfigError> {
    let name = r.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ctx.err(path, "missing name in receiver"));
    }
    let entries = chat::Entries { ctx, path, global };
    let raw_chat = RawChatConfigs {
        telegram_configs: r.telegram_configs,
        discord_configs: r.discord_configs,
        webex_configs: r.webex_configs,
        msteams_configs: r.msteams_configs,
        msteamsv2_configs: r.msteamsv2_configs,
        pushover_configs: r.pushover_configs,
        rocketchat_configs: r.rocketchat_configs,
        mattermost_configs: r.mattermost_configs,
    };
    // Webhook and email here; the other integrations, each entry built by its own module.
    Ok(Receiver {
        name,
        webhook_configs: entries.build("webhook_configs", r.webhook_configs, webhook)?,
        email_configs: entries.build("email_configs", r.email_configs, email)?,
        slack_configs: entries.build("slack_configs", r.slack_configs, slack)?,
        pagerduty_configs: entries.build("pagerduty_configs", r.pagerduty_configs, pagerduty)?,
        opsgenie_configs: entries.build("opsgenie_configs", r.opsgenie_configs, opsgenie)?,
        victorops_configs: entries.build("victorops_configs", r.victorops_configs, victorops)?,
        chat: chat::configs(&entries, raw_chat)?,
    })
}

fn webhook(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    w: RawWebhookConfig,
    global: &GlobalConfig,
) -> Result<WebhookConfig, ConfigError> {
    let url = match (non_empty(w.url), non_empty(w.url_file)) {
        (None, None) => return Err(ctx.err(path, "one of url or url_file must be configured")),
        (Some(_), Some(_)) => {
            return Err(ctx.err(path, "at most one of url & url_file must be configured"))
        }
        (Some(u), None) => {
            let p = path.key("url");
            let rest = u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"))
                .ok_or_else(|| {
                    let scheme = u.split_once("://").map_or("", |(s, _)| s);
                    ctx.err(&p, format!("unsupported scheme {scheme:?} for URL"))
                })?;
            if rest.is_empty() || rest.starts_with('/') {
                return Err(ctx.err(&p, "URL has no host"));
            }
            SecretSource::Inline(Secret::new(u))
        }
        (None, Some(f)) => SecretSource::File(ctx.resolve(&f)),
    };
    Ok(WebhookConfig {
        send_resolved: w.send_resolved.unwrap_or(true),
        url,
        max_alerts: w.max_alerts.unwrap_or(0),
        timeout: w.timeout.map(|d| d.0).filter(|d| !d.is_zero()),
        http: match w.http_config {
            Some(h) => http_config(ctx, &path.key("http_config"), h)?,
            None => global.http.clone(),
        },
    })
}

/// Go's `strings.Title`: the first letter of each word upper-cased, the rest kept.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        out.extend(if prev_sep {
            c.to_uppercase().collect::<Vec<_>>()
        } else {
            vec![c]
        });
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn email(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    e: RawEmailConfig,
    global: &GlobalConfig,
) -> Result<EmailConfig, ConfigError> {
    let to = non_empty(e.to).ok_or_else(|| ctx.err(path, "missing to address in email config"))?;
    let mut headers = BTreeMap::new();
    for (h, v) in e.headers.unwrap_or_default() {
        let normalized = title(&h);
        if headers.insert(normalized.clone(), v).is_some() {
            return Err(ctx.err(
                &path.key("headers").key(&h),
                format!("duplicate header {normalized:?} in email config"),
            ));
        }
    }
    let smarthost = match non_empty(e.smarthost) {
        Some(s) => {
            host_port(ctx, &path.key("smarthost"), &s)?;
            s
        }
        None => global
            .smtp_smarthost
            .clone()
            .ok_or_else(|| ctx.err(path, "no global SMTP smarthost set"))?,
    };
    let from = match non_empty(e.from) {
        Some(f) => f,
        None => global
            .smtp_from
            .clone()
            .ok_or_else(|| ctx.err(path, "no global SMTP from set"))?,
    };
    let auth_password = secret_or_file(
        ctx,
        path,
        "auth_password",
        e.auth_password,
        e.auth_password_file,
    )?
    .or_else(|| global.smtp_auth_password.clone());
    Ok(EmailConfig {
        send_resolved: e.send_resolved.unwrap_or(false),
        to,
        from,
        hello: non_empty(e.hello).unwrap_or_else(|| global.smtp_hello.clone()),
        smarthost,
        auth_username: non_empty(e.auth_username).or_else(|| global.smtp_auth_username.clone()),
        auth_password,
        auth_secret: non_empty(e.auth_secret)
            .map(Secret::new)
            .or_else(|| global.smtp_auth_secret.clone()),
        auth_identity: non_empty(e.auth_identity).or_else(|| global.smtp_auth_identity.clone()),
        headers,
        html: e.html.unwrap_or_else(|| DEFAULT_EMAIL_HTML.to_string()),
        text: non_empty(e.text),
        require_tls: e.require_tls.unwrap_or(global.smtp_require_tls),
        tls: match e.tls_config {
            Some(t) => tls(ctx, &path.key("tls_config"), t)?,
            None => global.smtp_tls.clone(),
        },
    })
}

/// prometheus/common's `HTTPClientConfig` rules, for `http_config` sections: the same
/// validation scrape configs get.
pub(crate) fn http_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    h: RawHttpConfig,
) -> Result<HttpClientSettings, ConfigError> {
    validate_http(ctx, path, h.http_fields())
}

fn tls(ctx: &Ctx<'_>, path: &FieldPath, t: RawTlsConfig) -> Result<TlsSettings, ConfigError> {
    crate::config::http_client::tls(ctx, path, &t)
}
