//! The `oauth2` section of prometheus/common's `HTTPClientConfig`: the OAuth 2.0 client
//! credentials grant. [`RawOAuth2`] is what the user wrote; `validate` checks it with
//! prometheus/common's rules and messages and builds the [`OAuth2`] settings
//! [`crate::httpclient`] fetches tokens with (through the section's own `tls_config` and
//! proxy).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::http_client::{self, ProxySettings, RawHttpFields, Secret, SecretSource, TlsSettings};
use super::raw::{RawTlsConfig, Unsupported};
use super::validate::Ctx;

/// An `oauth2` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    pub client_secret_ref: Option<Unsupported>,
    pub scopes: Option<Vec<String>>,
    pub token_url: Option<String>,
    pub endpoint_params: Option<BTreeMap<String, String>>,
    pub tls_config: Option<RawTlsConfig>,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
}

/// Validated `oauth2` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2 {
    pub client_id: String,
    /// Read on every token request, so a rotated secret file takes effect.
    pub client_secret: Option<SecretSource>,
    pub scopes: Vec<String>,
    pub token_url: String,
    pub endpoint_params: BTreeMap<String, String>,
    /// How the token endpoint is reached.
    pub tls: TlsSettings,
    pub proxy: ProxySettings,
}

/// prometheus/common's checks of an `oauth2` section.
pub(crate) fn validate(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: &RawOAuth2,
) -> Result<OAuth2, ConfigError> {
    let nz = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let client_id = nz(&raw.client_id).ok_or_else(|| {
        ctx.err(
            &path.key("client_id"),
            "oauth2 client_id must be configured",
        )
    })?;
    let token_url = nz(&raw.token_url).ok_or_else(|| {
        ctx.err(
            &path.key("token_url"),
            "oauth2 token_url must be configured",
        )
    })?;
    let client_secret = match (nz(&raw.client_secret), nz(&raw.client_secret_file)) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &path.key("client_secret_file"),
                "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
            ))
        }
        (Some(s), None) => Some(SecretSource::Inline(Secret::new(s))),
        (None, Some(f)) => Some(SecretSource::File(ctx.resolve(&f))),
        (None, None) => None,
    };
    let tls = match &raw.tls_config {
        Some(t) => http_client::tls(ctx, &path.key("tls_config"), t)?,
        None => TlsSettings::default(),
    };
    let fields = RawHttpFields {
        basic_auth: None,
        authorization: None,
        bearer_token: None,
        bearer_token_file: None,
        tls_config: None,
        follow_redirects: None,
        enable_http2: None,
        proxy_url: raw.proxy_url.as_deref(),
        no_proxy: raw.no_proxy.as_deref(),
        proxy_from_environment: raw.proxy_from_environment,
        proxy_connect_header: raw.proxy_connect_header.as_ref(),
        oauth2: None,
    };
    let proxy = http_client::proxy(ctx, path, &fields)?;
    Ok(OAuth2 {
        client_id,
        client_secret,
        scopes: raw.scopes.clone().unwrap_or_default(),
        token_url,
        endpoint_params: raw.endpoint_params.clone().unwrap_or_default(),
        tls,
        proxy,
    })
}
