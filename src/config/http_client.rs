//! How a scrape job talks HTTP: authentication and TLS, as `prometheus/common`'s
//! `HTTPClientConfig` defines them.
//!
//! [`HttpClientSettings`] is the validated form. Secrets are [`Secret`]s, which print as
//! `<secret>` in `Debug` and `Display`; credentials kept in files stay paths and are read on use
//! with [`SecretSource::read`] (trimmed, as Prometheus does), so a rotated token file takes
//! effect without a reload. The legacy `bearer_token`/`bearer_token_file` fields become an
//! [`Authorization`] of type `Bearer`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::error::{ConfigError, FieldPath};
use super::raw::{RawAuthorization, RawBasicAuth, RawTlsConfig};
use super::validate::Ctx;

/// A secret value from the config file. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// A secret given inline or as a file to read on use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Inline(Secret),
    File(PathBuf),
}

impl SecretSource {
    /// The secret: the inline value, or the file's contents with surrounding whitespace trimmed.
    pub fn read(&self) -> io::Result<Secret> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(p) => Ok(Secret(std::fs::read_to_string(p)?.trim().to_string())),
        }
    }
}

/// A non-secret value (a username, a PEM certificate) given inline or as a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextSource {
    Inline(String),
    File(PathBuf),
}

impl TextSource {
    /// The inline value, or the file's contents (trimmed for usernames by the caller if needed).
    pub fn read(&self) -> io::Result<String> {
        match self {
            TextSource::Inline(s) => Ok(s.clone()),
            TextSource::File(p) => std::fs::read_to_string(p),
        }
    }
}

/// HTTP basic authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: TextSource,
    pub password: Option<SecretSource>,
}

/// An `Authorization: <type> <credentials>` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// `Bearer` unless configured.
    pub kind: String,
    pub credentials: Option<SecretSource>,
}

impl Authorization {
    /// The header value, reading the credentials file if there is one.
    pub fn header_value(&self) -> io::Result<Secret> {
        let creds = match &self.credentials {
            Some(c) => c.read()?.0,
            None => String::new(),
        };
        Ok(Secret(format!("{} {}", self.kind, creds)))
    }
}

/// The one way a job authenticates, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Basic(BasicAuth),
    Authorization(Authorization),
    /// A token from the OAuth 2.0 client credentials grant, as `Authorization: Bearer`.
    OAuth2(Box<super::oauth2::OAuth2>),
}

/// A TLS protocol version name (`TLS12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

/// Client TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA bundle (PEM) to verify the server with; system roots when absent.
    pub ca: Option<TextSource>,
    /// Client certificate (PEM).
    pub cert: Option<TextSource>,
    /// Client key (PEM).
    pub key: Option<SecretSource>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
}

/// Everything a scrape job needs to build its HTTP client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpClientSettings {
    pub auth: Option<Auth>,
    pub tls: TlsSettings,
    /// Default true.
    pub follow_redirects: bool,
    /// Default true; a preference only (redline may speak HTTP/1.1 regardless).
    pub enable_http2: bool,
    /// Boxed: most clients have none, and it is the largest part.
    pub proxy: Box<ProxySettings>,
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        HttpClientSettings {
            auth: None,
            tls: TlsSettings::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy: Box::default(),
        }
    }
}

/// prometheus/common's `ProxyConfig`: where requests go through, if anywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// `proxy_url`: every request goes through this HTTP proxy (`CONNECT` for https).
    pub url: Option<String>,
    /// `no_proxy`: comma-separated hosts, domains and CIDRs reached directly.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`: `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`.
    pub from_environment: bool,
    /// `proxy_connect_header`: headers sent to the proxy.
    pub connect_headers: std::collections::BTreeMap<String, Vec<Secret>>,
}

/// Declares a raw config struct (`Debug`, `Default`, `Deserialize`, unknown fields denied)
/// with prometheus/common's `HTTPClientConfig` fields inlined after its own (as Prometheus
/// inlines them in scrape configs, discovery entries and remote-write entries, and
/// Alertmanager in `http_config`), and `http_fields()`, which hands them to [`validate`]. The fields redline does not implement are [`Unsupported`]: named in
/// the error, never silently ignored.
///
/// [`Unsupported`]: crate::config::raw::Unsupported
macro_rules! with_http_client_fields {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
            pub basic_auth: Option<$crate::config::raw::RawBasicAuth>,
            pub authorization: Option<$crate::config::raw::RawAuthorization>,
            pub bearer_token: Option<String>,
            pub bearer_token_file: Option<String>,
            pub tls_config: Option<$crate::config::raw::RawTlsConfig>,
            pub follow_redirects: Option<bool>,
            pub enable_http2: Option<bool>,
            pub oauth2: Option<$crate::config::oauth2::RawOAuth2>,
            pub proxy_url: Option<String>,
            pub no_proxy: Option<String>,
            pub proxy_from_environment: Option<bool>,
            pub proxy_connect_header: Option<std::collections::BTreeMap<String, Vec<String>>>,
            pub http_headers: Option<$crate::config::raw::Unsupported>,
        }

        impl $name {
            /// The HTTP client fields, for [`crate::config::http_client::validate`].
            pub(crate) fn http_fields(&self) -> $crate::config::http_client::RawHttpFields<'_> {
                $crate::config::http_client::RawHttpFields {
                    basic_auth: self.basic_auth.as_ref(),
                    authorization: self.authorization.as_ref(),
                    bearer_token: self.bearer_token.as_deref(),
                    bearer_token_file: self.bearer_token_file.as_deref(),
                    tls_config: self.tls_config.as_ref(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                    proxy_url: self.proxy_url.as_deref(),
                    no_proxy: self.no_proxy.as_deref(),
                    proxy_from_environment: self.proxy_from_environment,
                    proxy_connect_header: self.proxy_connect_header.as_ref(),
                    oauth2: self.oauth2.as_ref(),
                }
            }
        }
    };
}
pub(crate) use with_http_client_fields;

/// prometheus/common's `HTTPClientConfig` fields, wherever they appear: inline in a scrape
/// config, or as an Alertmanager receiver's `http_config`.
pub(crate) struct RawHttpFields<'a> {
    pub basic_auth: Option<&'a RawBasicAuth>,
    pub authorization: Option<&'a RawAuthorization>,
    pub bearer_token: Option<&'a str>,
    pub bearer_token_file: Option<&'a str>,
    pub tls_config: Option<&'a RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub proxy_url: Option<&'a str>,
    pub no_proxy: Option<&'a str>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<&'a std::collections::BTreeMap<String, Vec<String>>>,
    pub oauth2: Option<&'a super::oauth2::RawOAuth2>,
}

/// `HTTPClientConfig.Validate` over the fields, with its rules and messages.
pub(crate) fn validate(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawHttpFields<'_>,
) -> Result<HttpClientSettings, ConfigError> {
    let bearer = raw.bearer_token.filter(|s| !s.is_empty());
    let bearer_file = raw.bearer_token_file.filter(|s| !s.is_empty());
    if bearer.is_some() && bearer_file.is_some() {
        return Err(ctx.err(
            &path.key("bearer_token_file"),
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    let bearer_field = if bearer.is_some() {
        "bearer_token"
    } else {
        "bearer_token_file"
    };
    let has_bearer = bearer.is_some() || bearer_file.is_some();
    if (raw.basic_auth.is_some() || raw.oauth2.is_some()) && has_bearer {
        return Err(ctx.err(
            &path.key(bearer_field),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    let basic = match raw.basic_auth {
        Some(b) => Some(basic_auth(ctx, &path.key("basic_auth"), b)?),
        None => None,
    };
    let auth = match raw.authorization {
        Some(a) => {
            let apath = path.key("authorization");
            if has_bearer {
                return Err(ctx.err(
                    &apath,
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            let authz = authorization(ctx, &apath, a)?;
            if basic.is_some() || raw.oauth2.is_some() {
                return Err(ctx.err(
                    &apath,
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            Some(Auth::Authorization(authz))
        }
        None if has_bearer => Some(Auth::Authorization(Authorization {
            kind: "Bearer".to_string(),
            credentials: Some(match bearer {
                Some(t) => SecretSource::Inline(Secret::new(t)),
                None => SecretSource::File(ctx.resolve(bearer_file.unwrap_or_default())),
            }),
        })),
        None => match raw.oauth2 {
            Some(o) => {
                let opath = path.key("oauth2");
                if basic.is_some() {
                    return Err(ctx.err(
                        &opath,
                        "at most one of basic_auth, oauth2 & authorization must be configured",
                    ));
                }
                Some(Auth::OAuth2(Box::new(super::oauth2::validate(
                    ctx, &opath, o,
                )?)))
            }
            None => basic.map(Auth::Basic),
        },
    };
    let tls = match raw.tls_config {
        Some(t) => tls(ctx, &path.key("tls_config"), t)?,
        None => TlsSettings::default(),
    };
    let proxy = Box::new(proxy(ctx, path, &raw)?);
    Ok(HttpClientSettings {
        auth,
        tls,
        follow_redirects: raw.follow_redirects.unwrap_or(true),
        enable_http2: raw.enable_http2.unwrap_or(true),
        proxy,
    })
}

/// prometheus/common's `ProxyConfig.Validate`, with its messages.
pub(crate) fn proxy(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: &RawHttpFields<'_>,
) -> Result<ProxySettings, ConfigError> {
    let url = raw.proxy_url.filter(|u| !u.is_empty());
    let no_proxy = raw.no_proxy.filter(|n| !n.is_empty());
    let from_environment = raw.proxy_from_environment.unwrap_or(false);
    let headers = raw.proxy_connect_header.cloned().unwrap_or_default();
    if let Some(u) = url {
        match reqwest::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => {
                return Err(ctx.err(
                    &path.key("proxy_url"),
                    format!("invalid proxy_url {u:?}: expected an http:// or https:// URL"),
                ))
            }
        }
    }
    if !headers.is_empty() && !from_environment && url.is_none() {
        return Err(ctx.err(
            &path.key("proxy_connect_header"),
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ));
    }
    if from_environment && url.is_some() {
        return Err(ctx.err(
            &path.key("proxy_from_environment"),
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ));
    }
    if from_environment && no_proxy.is_some() {
        return Err(ctx.err(
            &path.key("proxy_from_environment"),
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ));
    }
    if url.is_none() && no_proxy.is_some() {
        return Err(ctx.err(
            &path.key("no_proxy"),
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
    Ok(ProxySettings {
        url: url.map(str::to_string),
        no_proxy: no_proxy.map(str::to_string),
        from_environment,
        connect_headers: headers
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(Secret::new).collect()))
            .collect(),
    })
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn basic_auth(ctx: &Ctx<'_>, path: &FieldPath, b: &RawBasicAuth) -> Result<BasicAuth, ConfigError> {
    let username = match (non_empty(&b.username), non_empty(&b.username_file)) {
        (Some(_), Some(_)) => return Err(ctx.err(
            &path.key("username_file"),
            "at most one of basic_auth username, username_file & username_ref must be configured",
        )),
        (_, Some(f)) => TextSource::File(ctx.resolve(f)),
        (u, None) => TextSource::Inline(u.unwrap_or_default().to_string()),
    };
    let password = match (non_empty(&b.password), non_empty(&b.password_file)) {
        (Some(_), Some(_)) => return Err(ctx.err(
            &path.key("password_file"),
            "at most one of basic_auth password, password_file & password_ref must be configured",
        )),
        (Some(p), None) => Some(SecretSource::Inline(Secret::new(p))),
        (None, Some(f)) => Some(SecretSource::File(ctx.resolve(f))),
        (None, None) => None,
    };
    Ok(BasicAuth { username, password })
}

fn authorization(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    a: &RawAuthorization,
) -> Result<Authorization, ConfigError> {
    let credentials =
        match (non_empty(&a.credentials), non_empty(&a.credentials_file)) {
            (Some(_), Some(_)) => return Err(ctx.err(
                &path.key("credentials_file"),
                "at most one of authorization credentials & credentials_file must be configured",
            )),
            (Some(c), None) => Some(SecretSource::Inline(Secret::new(c))),
            (None, Some(f)) => Some(SecretSource::File(ctx.resolve(f))),
            (None, None) => None,
        };
    let kind = a.kind.as_deref().unwrap_or("").trim();
    let kind = if kind.is_empty() { "Bearer" } else { kind };
    if kind.eq_ignore_ascii_case("basic") {
        return Err(ctx.err(
            &path.key("type"),
            r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
        ));
    }
    Ok(Authorization {
        kind: kind.to_string(),
        credentials,
    })
}

/// A `tls_config` section, as prometheus/common's `TLSConfig.Validate` checks it.
pub(crate) fn tls(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    t: &RawTlsConfig,
) -> Result<TlsSettings, ConfigError> {
    let pair = |inline: &Option<String>,
                file: &Option<String>,
                name: &str|
     -> Result<Option<TextSource>, ConfigError> {
        match (non_empty(inline), non_empty(file)) {
            (Some(_), Some(_)) => Err(ctx.err(
                &path.key(&format!("{name}_file")),
                format!("at most one of {name} and {name}_file must be configured"),
            )),
            (Some(v), None) => Ok(Some(TextSource::Inline(v.to_string()))),
            (None, Some(f)) => Ok(Some(TextSource::File(ctx.resolve(f)))),
            (None, None) => Ok(None),
        }
    };
    let ca = pair(&t.ca, &t.ca_file, "ca")?;
    let cert = pair(&t.cert, &t.cert_file, "cert")?;
    let key = pair(&t.key, &t.key_file, "key")?.map(|k| match k {
        TextSource::Inline(s) => SecretSource::Inline(Secret::new(s)),
        TextSource::File(p) => SecretSource::File(p),
    });
    if cert.is_some() && key.is_none() {
        return Err(ctx.err(
            path,
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if key.is_some() && cert.is_none() {
        return Err(ctx.err(
            path,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    let version = |v: &Option<String>, field: &str| -> Result<Option<TlsVersion>, ConfigError> {
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
        server_name: non_empty(&t.server_name).map(str::to_string),
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
        min_version: version(&t.min_version, "min_version")?,
        max_version: version(&t.max_version, "max_version")?,
    })
}
