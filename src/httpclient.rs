//! The outbound HTTP client every module that calls out uses (scrape pools, remote write,
//! the remote rule querier, webhook receivers): a leaf, it imports only the typed settings of
//! [`crate::config`] (an `http_config` section as prometheus/common defines it).
//!
//! [`http_client`] builds a reqwest client with the section's TLS and redirect behaviour;
//! [`apply_auth`] adds basic auth, an `Authorization` header or an OAuth 2.0 token (client
//! credentials grant, cached until it expires) per request, reading credential files each
//! time (rotated tokens are picked up without a reload);
//! [`error_chain`] prints an error and its causes on one line, as targets pages and
//! notification logs show them.
//!
//! Proxies follow prometheus/common: `proxy_url` (plain requests go to the proxy with the
//! absolute URL, https ones through `CONNECT`) except for `no_proxy` hosts, or the
//! environment's proxy variables with `proxy_from_environment`; without either, none.
//!
//! TLS follows Prometheus' `tls_config`: `ca_file` replaces the system roots, `cert_file` +
//! `key_file` present a client certificate, `server_name` verifies the certificate against
//! that name instead of the URL's host, and `insecure_skip_verify` turns verification off.

use crate::config::http_client::ProxySettings;
use crate::config::{Auth, HttpClientSettings, TextSource, TlsSettings, TlsVersion};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Errors building a client from its settings.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ClientError {
    #[error("tls_config: reading {path}: {message}")]
    File { path: String, message: String },
    #[error("tls_config: {0}")]
    Tls(String),
    #[error("http client: {0}")]
    Build(String),
}

/// Errors getting an OAuth 2.0 token (the `oauth2` section of an `http_config`).
#[derive(Debug, thiserror::Error)]
pub enum OAuth2Error {
    #[error("oauth2: reading client_secret_file: {0}")]
    SecretFile(#[source] std::io::Error),
    #[error("oauth2: {0}")]
    Client(#[source] ClientError),
    /// The token request failed (the message is [`error_chain`] of the request error, its
    /// URL left out: a token URL may carry credentials).
    #[error("oauth2: {0}")]
    Request(String),
    #[error("oauth2: cannot fetch token: {0}")]
    Status(reqwest::StatusCode),
    #[error("oauth2: token response is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("oauth2: server response missing access_token")]
    NoAccessToken,
}

/// A reqwest client with the TLS and redirect behaviour of `settings` (an `http_config`
/// section); authentication is added per request with [`apply_auth`], so credential files
/// are re-read on every request.
pub fn http_client(settings: &HttpClientSettings) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("redline/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(2);
    builder = with_proxy(builder, &settings.proxy)?;
    if !settings.follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if settings.tls != TlsSettings::default() {
        builder = builder.tls_backend_preconfigured(rustls_config(&settings.tls)?);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(e.to_string()))
}

/// The proxy settings: `proxy_url` (with `no_proxy` and `proxy_connect_header`), the
/// environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` with `proxy_from_environment`, or
/// no proxy at all (environment variables are ignored unless asked for, as in Prometheus).
fn with_proxy(
    builder: reqwest::ClientBuilder,
    proxy: &ProxySettings,
) -> Result<reqwest::ClientBuilder, ClientError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, values) in &proxy.connect_headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ClientError::Build(format!("proxy_connect_header {name:?}: {e}")))?;
        for v in values {
            let value = reqwest::header::HeaderValue::from_str(v.expose())
                .map_err(|e| ClientError::Build(format!("proxy_connect_header {name}: {e}")))?;
            headers.append(name.clone(), value);
        }
    }
    match &proxy.url {
        Some(url) => {
            let p = reqwest::Proxy::all(url.as_str())
                .map_err(|e| ClientError::Build(format!("proxy_url: {e}")))?
                .no_proxy(
                    proxy
                        .no_proxy
                        .as_deref()
                        .and_then(reqwest::NoProxy::from_string),
                )
                .headers(headers);
            Ok(builder.proxy(p))
        }
        None if proxy.from_environment => {
            let mut b = builder;
            for (var, https) in [("HTTP_PROXY", false), ("HTTPS_PROXY", true)] {
                let value = std::env::var(var)
                    .or_else(|_| std::env::var(var.to_ascii_lowercase()))
                    .ok()
                    .filter(|v| !v.is_empty());
                if let Some(v) = value {
                    let p = if https {
                        reqwest::Proxy::https(v.as_str())
                    } else {
                        reqwest::Proxy::http(v.as_str())
                    }
                    .map_err(|e| ClientError::Build(format!("{var}: {e}")))?
                    .no_proxy(reqwest::NoProxy::from_env())
                    .headers(headers.clone());
                    b = b.proxy(p);
                }
            }
            Ok(b)
        }
        None => Ok(builder.no_proxy()),
    }
}

/// Adds the configured authentication to a request, reading credential files now; with
/// `oauth2`, a token from the cache or, when there is none or it expires within 10 seconds
/// (the Go `oauth2` package's margin), from the token endpoint.
pub async fn apply_auth(
    mut req: reqwest::RequestBuilder,
    auth: Option<&Auth>,
) -> std::io::Result<reqwest::RequestBuilder> {
    match auth {
        None => {}
        Some(Auth::Basic(b)) => {
            let user = b.username.read()?;
            let pw = match &b.password {
                Some(p) => Some(p.read()?),
                None => None,
            };
            req = req.basic_auth(user.trim(), pw.as_ref().map(|p| p.expose().to_string()));
        }
        Some(Auth::Authorization(a)) => {
            let value = a.header_value()?;
            req = req.header(reqwest::header::AUTHORIZATION, value.expose());
        }
        Some(Auth::OAuth2(o)) => {
            let value = oauth2::header_value(o)
                .await
                .map_err(std::io::Error::other)?;
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
    }
    Ok(req)
}

/// The OAuth 2.0 client credentials grant as Go's `golang.org/x/oauth2/clientcredentials`
/// performs it for prometheus/common: a form POST of `grant_type=client_credentials`, the
/// scopes (space-separated) and the endpoint parameters, keys sorted, with the client's
/// id and secret as basic auth (each URL-query-escaped), retried once with them in the body
/// when the endpoint refuses that. Tokens are cached per settings and secret until they
/// expire.
mod oauth2 {
    use super::OAuth2Error;
    use crate::config::oauth2::OAuth2;
    use crate::config::HttpClientSettings;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::{Duration, Instant};

    /// Tokens by settings (and secret): shared by every client with the same settings, as
    /// they would fetch the same token.
    static TOKENS: LazyLock<Mutex<HashMap<u64, CachedToken>>> = LazyLock::new(Default::default);

    /// A token's `Authorization` value and when it expires (`None`: never).
    type CachedToken = (String, Option<Instant>);

    /// How long before its expiry a token is renewed.
    const EXPIRY_DELTA: Duration = Duration::from_secs(10);

    /// Go's `url.QueryEscape`.
    fn query_escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    /// Go's `url.Values.Encode` of single values: keys sorted.
    fn encode(values: &std::collections::BTreeMap<String, String>) -> String {
        values
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn request_error(e: reqwest::Error) -> OAuth2Error {
        OAuth2Error::Request(super::error_chain(&e.without_url()))
    }

    /// The `Authorization` header value for `o`'s current token.
    pub(super) async fn header_value(o: &OAuth2) -> Result<String, OAuth2Error> {
        let secret = match &o.client_secret {
            Some(s) => s
                .read()
                .map_err(OAuth2Error::SecretFile)?
                .expose()
                .to_string(),
            None => String::new(),
        };
        let key = xxhash_rust::xxh3::xxh3_64(format!("{o:?}\0{secret}").as_bytes());
        if let Some((value, expiry)) = TOKENS.lock().ok().and_then(|t| t.get(&key).cloned()) {
            if expiry.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e) {
                return Ok(value);
            }
        }
        let (value, expiry) = fetch(o, &secret).await?;
        if let Ok(mut t) = TOKENS.lock() {
            t.insert(key, (value.clone(), expiry));
        }
        Ok(value)
    }

    async fn fetch(o: &OAuth2, secret: &str) -> Result<(String, Option<Instant>), OAuth2Error> {
        let settings = HttpClientSettings {
            tls: o.tls.clone(),
            proxy: Box::new(o.proxy.clone()),
            ..Default::default()
        };
        let client = super::http_client(&settings).map_err(OAuth2Error::Client)?;
        let mut form = std::collections::BTreeMap::new();
        form.insert("grant_type".to_string(), "client_credentials".to_string());
        if !o.scopes.is_empty() {
            form.insert("scope".to_string(), o.scopes.join(" "));
        }
        for (k, v) in &o.endpoint_params {
            form.insert(k.clone(), v.clone());
        }
        let post = |body: String| {
            client
                .post(&o.token_url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        };
        let started = Instant::now();
        let header_style = post(encode(&form))
            .basic_auth(query_escape(&o.client_id), Some(query_escape(secret)))
            .send()
            .await
            .map_err(request_error)?;
        let resp = if header_style.status().is_success() {
            header_style
        } else {
            let mut in_body = form.clone();
            in_body.insert("client_id".to_string(), o.client_id.clone());
            if !secret.is_empty() {
                in_body.insert("client_secret".to_string(), secret.to_string());
            }
            post(encode(&in_body)).send().await.map_err(request_error)?
        };
        let status = resp.status();
        let body = resp.text().await.map_err(request_error)?;
        if !status.is_success() {
            return Err(OAuth2Error::Status(status));
        }
        let token: serde_json::Value = serde_json::from_str(&body).map_err(OAuth2Error::NotJson)?;
        let access = token["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or(OAuth2Error::NoAccessToken)?;
        let kind = match token["token_type"].as_str().unwrap_or("") {
            t if t.is_empty() || t.eq_ignore_ascii_case("bearer") => "Bearer",
            t if t.eq_ignore_ascii_case("mac") => "MAC",
            t if t.eq_ignore_ascii_case("basic") => "Basic",
            t => t,
        };
        let expiry = token["expires_in"]
            .as_f64()
            .filter(|s| *s > 0.0)
            .map(|s| started + Duration::from_secs_f64(s));
        Ok((format!("{kind} {access}"), expiry))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn form_encoding_is_gos() {
            let mut m = std::collections::BTreeMap::new();
            m.insert("scope".to_string(), "read write:all".to_string());
            m.insert("grant_type".to_string(), "client_credentials".to_string());
            assert_eq!(
                super::encode(&m),
                "grant_type=client_credentials&scope=read+write%3Aall"
            );
        }
    }
}

/// The error and its causes on one line, as the targets page shows it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// A PEM given inline or in a file, and a name for it in errors.
fn read_pem(src: &TextSource, field: &str) -> Result<(Vec<u8>, String), ClientError> {
    match src {
        TextSource::Inline(s) => Ok((s.as_bytes().to_vec(), field.to_string())),
        TextSource::File(p) => std::fs::read(p)
            .map(|b| (b, p.display().to_string()))
            .map_err(|e| ClientError::File {
                path: p.display().to_string(),
                message: e.to_string(),
            }),
    }
}

fn protocol_versions(
    tls: &TlsSettings,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ClientError> {
    let min = tls.min_version.unwrap_or(TlsVersion::Tls12);
    let max = tls.max_version.unwrap_or(TlsVersion::Tls13);
    let mut out = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 && min <= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(ClientError::Tls(
            "min_version/max_version allow no TLS version redline speaks (TLS 1.2 and 1.3)".into(),
        ));
    }
    Ok(out)
}

fn rustls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(tls)?)
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(CustomVerifier {
            check: CertCheck::AcceptAny,
            provider: provider.clone(),
        })
    } else {
        let inner: Arc<dyn ServerCertVerifier> = match &tls.ca {
            Some(src) => {
                let (pem, path) = read_pem(src, "ca")?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| ClientError::File {
                        path: path.clone(),
                        message: format!("invalid PEM certificate: {e}"),
                    })?;
                    roots.add(cert).map_err(|e| ClientError::File {
                        path: path.clone(),
                        message: format!("unusable CA certificate: {e}"),
                    })?;
                }
                if roots.is_empty() {
                    return Err(ClientError::File {
                        path,
                        message: "no certificate found".into(),
                    });
                }
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| ClientError::Tls(e.to_string()))?
            }
            None => Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| ClientError::Tls(e.to_string()))?,
            ),
        };
        match &tls.server_name {
            Some(name) => Arc::new(CustomVerifier {
                check: CertCheck::FixedName {
                    inner,
                    name: ServerName::try_from(name.clone())
                        .map_err(|e| ClientError::Tls(format!("server_name {name:?}: {e}")))?,
                },
                provider: provider.clone(),
            }),
            None => inner,
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let (cert_pem, cert_path) = read_pem(cert, "cert")?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| ClientError::File {
                    path: cert_path,
                    message: format!("invalid PEM certificate: {e}"),
                })?;
            let key_pem = key
                .read()
                .map_err(|e| ClientError::Tls(format!("reading key: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes())
                .map_err(|e| ClientError::Tls(format!("invalid PEM private key: {e}")))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                ClientError::Tls(format!("client certificate (cert_file, key_file): {e}"))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Tls(
                "cert_file and key_file must be given together".into(),
            ))
        }
    };
    Ok(config)
}

/// How a [`CustomVerifier`] checks the server's certificate.
#[derive(Debug)]
enum CertCheck {
    /// `insecure_skip_verify: true`: any certificate is accepted.
    AcceptAny,
    /// `server_name`: `inner` verifies the certificate against this name instead of the
    /// URL's host.
    FixedName {
        inner: Arc<dyn ServerCertVerifier>,
        name: ServerName<'static>,
    },
}

/// A verifier for `insecure_skip_verify` or `server_name`; handshake signatures are always
/// checked with the provider's algorithms.
#[derive(Debug)]
struct CustomVerifier {
    check: CertCheck,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for CustomVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            CertCheck::AcceptAny => Ok(ServerCertVerified::assertion()),
            CertCheck::FixedName { inner, name } => {
                inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
