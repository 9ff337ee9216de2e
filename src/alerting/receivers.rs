//! The typed `global` section, receivers (webhook and email) and inhibit rules, with
//! Alertmanager's defaults: webhooks resolve by default (`send_resolved: true`) and inherit
//! the global `http_config`; email configs do not (`send_resolved: false`) and take `from`,
//! `smarthost`, `hello`, the auth fields and `require_tls` from the `smtp_*` globals.
//! Secrets (`url`, passwords) are [`SecretSource`]s that never print; `*_file` fields are
//! paths resolved against the config file's directory and read on use.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::Ctx;
use super::matchers::Matchers;
use super::raw::{RawEmailConfig, RawGlobal, RawHttpConfig, RawReceiver, RawWebhookConfig};
use crate::config::raw::{RawAuthorization, RawBasicAuth, RawTlsConfig};
use crate::config::{
    Auth, Authorization, BasicAuth, ConfigError, FieldPath, HttpClientSettings, Secret,
    SecretSource, TextSource, TlsSettings, TlsVersion,
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
}

/// A named receiver. An empty one (no configs) is valid: it drops notifications.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub email_configs: Vec<EmailConfig>,
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
    if let Some(sh) = g.smtp_smarthost.as_deref().filter(|s| !s.is_empty()) {
        host_port(ctx, &path.key("smtp_smarthost"), sh)?;
    }
    let password =
        match (
            non_empty(g.smtp_auth_password),
            non_empty(g.smtp_auth_password_file),
        ) {
            (Some(_), Some(_)) => return Err(ctx.err(
                &path.key("smtp_auth_password_file"),
                "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
            )),
            (Some(p), None) => Some(SecretSource::Inline(Secret::new(p))),
            (None, Some(f)) => Some(SecretSource::File(ctx.resolve(&f))),
            (None, None) => None,
        };
    Ok(GlobalConfig {
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
    let mut webhook_configs = Vec::new();
    for (i, w) in r
        .webhook_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        webhook_configs.push(webhook(
            ctx,
            &path.key("webhook_configs").index(i),
            w,
            global,
        )?);
    }
    let mut email_configs = Vec::new();
    for (i, e) in r.email_configs.unwrap_or_default().into_iter().enumerate() {
        email_configs.push(email(ctx, &path.key("email_configs").index(i), e, global)?);
    }
    Ok(Receiver {
        name,
        webhook_configs,
        email_configs,
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
    let auth_password = match (non_empty(e.auth_password), non_empty(e.auth_password_file)) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &path.key("auth_password_file"),
                "at most one of auth_password & auth_password_file must be configured",
            ))
        }
        (Some(p), None) => Some(SecretSource::Inline(Secret::new(p))),
        (None, Some(f)) => Some(SecretSource::File(ctx.resolve(&f))),
        (None, None) => global.smtp_auth_password.clone(),
    };
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

/// prometheus/common's `HTTPClientConfig` rules, for `http_config` sections.
pub(crate) fn http_config(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    h: RawHttpConfig,
) -> Result<HttpClientSettings, ConfigError> {
    let bearer = non_empty(h.bearer_token);
    let bearer_file = non_empty(h.bearer_token_file);
    if bearer.is_some() && bearer_file.is_some() {
        return Err(ctx.err(
            &path.key("bearer_token_file"),
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    let bearer = match (bearer, bearer_file) {
        (Some(t), _) => Some(SecretSource::Inline(Secret::new(t))),
        (None, Some(f)) => Some(SecretSource::File(ctx.resolve(&f))),
        (None, None) => None,
    };
    let mut auths = Vec::new();
    if let Some(b) = h.basic_auth {
        auths.push(Auth::Basic(basic_auth(ctx, &path.key("basic_auth"), b)?));
    }
    if let Some(a) = h.authorization {
        auths.push(Auth::Authorization(authorization(
            ctx,
            &path.key("authorization"),
            a,
        )?));
    }
    if let Some(b) = bearer {
        auths.push(Auth::Authorization(Authorization {
            kind: "Bearer".to_string(),
            credentials: Some(b),
        }));
    }
    if auths.len() > 1 {
        return Err(ctx.err(
            path,
            "at most one of basic_auth, authorization, bearer_token & bearer_token_file must be configured",
        ));
    }
    Ok(HttpClientSettings {
        auth: auths.pop(),
        tls: match h.tls_config {
            Some(t) => tls(ctx, &path.key("tls_config"), t)?,
            None => TlsSettings::default(),
        },
        follow_redirects: h.follow_redirects.unwrap_or(true),
        enable_http2: h.enable_http2.unwrap_or(true),
    })
}

fn secret_pair(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    inline: Option<String>,
    file: Option<String>,
    name: &str,
) -> Result<Option<SecretSource>, ConfigError> {
    match (non_empty(inline), non_empty(file)) {
        (Some(_), Some(_)) => Err(ctx.err(
            &path.key(&format!("{name}_file")),
            format!("at most one of {name} & {name}_file must be configured"),
        )),
        (Some(v), None) => Ok(Some(SecretSource::Inline(Secret::new(v)))),
        (None, Some(f)) => Ok(Some(SecretSource::File(ctx.resolve(&f)))),
        (None, None) => Ok(None),
    }
}

fn text_of(s: SecretSource) -> TextSource {
    match s {
        SecretSource::Inline(v) => TextSource::Inline(v.expose().to_string()),
        SecretSource::File(p) => TextSource::File(p),
    }
}

fn basic_auth(ctx: &Ctx<'_>, path: &FieldPath, b: RawBasicAuth) -> Result<BasicAuth, ConfigError> {
    let username = secret_pair(ctx, path, b.username, b.username_file, "username")?
        .map_or(TextSource::Inline(String::new()), text_of);
    let password = secret_pair(ctx, path, b.password, b.password_file, "password")?;
    Ok(BasicAuth { username, password })
}

fn authorization(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    a: RawAuthorization,
) -> Result<Authorization, ConfigError> {
    let credentials = secret_pair(ctx, path, a.credentials, a.credentials_file, "credentials")?;
    let kind = a.kind.unwrap_or_default();
    let kind = if kind.trim().is_empty() {
        "Bearer".to_string()
    } else {
        kind.trim().to_string()
    };
    if kind.eq_ignore_ascii_case("basic") {
        return Err(ctx.err(
            &path.key("type"),
            r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
        ));
    }
    Ok(Authorization { kind, credentials })
}

fn tls(ctx: &Ctx<'_>, path: &FieldPath, t: RawTlsConfig) -> Result<TlsSettings, ConfigError> {
    let ca = secret_pair(ctx, path, t.ca, t.ca_file, "ca")?.map(text_of);
    let cert = secret_pair(ctx, path, t.cert, t.cert_file, "cert")?.map(text_of);
    let key = secret_pair(ctx, path, t.key, t.key_file, "key")?;
    if cert.is_some() != key.is_some() {
        return Err(ctx.err(
            path,
            "exactly one of key or key_file and one of cert or cert_file must be configured together",
        ));
    }
    let version = |v: Option<String>, field: &str| -> Result<Option<TlsVersion>, ConfigError> {
        match v.as_deref() {
            None | Some("") => Ok(None),
            Some("TLS10") => Ok(Some(TlsVersion::Tls10)),
            Some("TLS11") => Ok(Some(TlsVersion::Tls11)),
            Some("TLS12") => Ok(Some(TlsVersion::Tls12)),
            Some("TLS13") => Ok(Some(TlsVersion::Tls13)),
            Some(other) => Err(ctx.err(
                &path.key(field),
                format!("unknown TLS version {other:?} (expected TLS10, TLS11, TLS12 or TLS13)"),
            )),
        }
    };
    Ok(TlsSettings {
        ca,
        cert,
        key,
        server_name: non_empty(t.server_name),
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
        min_version: version(t.min_version, "min_version")?,
        max_version: version(t.max_version, "max_version")?,
    })
}
