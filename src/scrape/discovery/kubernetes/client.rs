//! The Kubernetes API client of a `kubernetes_sd_configs` entry: in-cluster service-account
//! auth, a kubeconfig file's current context, or `api_server` with the entry's HTTP client
//! settings (bearer token or token file, basic auth, `tls_config`).
//!
//! A bearer token file is handed to the client as a file, so a rotated service-account token
//! is re-read; the CA of an in-cluster client is reloaded the same way.

use kube::config::{KubeConfigOptions, Kubeconfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::kubernetes_sd::ApiAccess;
use crate::config::{Auth, HttpClientSettings, SecretSource, TextSource};

/// Why a client could not be built; names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    #[error("in-cluster config (is redline running in a pod with a service account?): {0}")]
    InCluster(String),
    #[error("kubeconfig_file {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("api_server {url:?}: {message}")]
    Server { url: String, message: String },
    #[error("kubernetes client: {0}")]
    Client(String),
}

/// The `kube::Config` for an entry's access settings.
pub async fn kube_config(access: &ApiAccess) -> Result<kube::Config, KubeClientError> {
    match access {
        ApiAccess::InCluster => {
            kube::Config::incluster().map_err(|e| KubeClientError::InCluster(e.to_string()))
        }
        ApiAccess::Kubeconfig(path) => {
            let err = |message: String| KubeClientError::Kubeconfig {
                path: path.display().to_string(),
                message,
            };
            let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| err(e.to_string()))
        }
        ApiAccess::Server { url, http } => {
            server_config(url, http).map_err(|message| KubeClientError::Server {
                url: url.clone(),
                message,
            })
        }
    }
}

/// Builds the client.
pub async fn build(access: &ApiAccess) -> Result<kube::Client, KubeClientError> {
    let config = kube_config(access).await?;
    kube::Client::try_from(config).map_err(|e| KubeClientError::Client(e.to_string()))
}

fn read_text(src: &TextSource, what: &str) -> Result<String, String> {
    src.read().map_err(|e| match src {
        TextSource::File(p) => format!("reading {what} {}: {e}", p.display()),
        TextSource::Inline(_) => format!("{what}: {e}"),
    })
}

fn read_secret(src: &SecretSource, what: &str) -> Result<String, String> {
    src.read()
        .map(|s| s.expose().to_string())
        .map_err(|e| match src {
            SecretSource::File(p) => format!("reading {what} {}: {e}", p.display()),
            SecretSource::Inline(_) => format!("{what}: {e}"),
        })
}

fn server_config(url: &str, http: &HttpClientSettings) -> Result<kube::Config, String> {
    let uri = url.parse().map_err(|e| format!("not a valid URL: {e}"))?;
    let mut config = kube::Config::new(uri);
    match &http.auth {
        None => {}
        Some(Auth::OAuth2(_)) => {
            return Err("oauth2 is not supported for the Kubernetes API client yet".into())
        }
        Some(Auth::Basic(b)) => {
            config.auth_info.username = Some(
                read_text(&b.username, "basic_auth username")?
                    .trim()
                    .to_string(),
            );
            if let Some(p) = &b.password {
                config.auth_info.password = Some(read_secret(p, "basic_auth password")?.into());
            }
        }
        Some(Auth::Authorization(a)) if a.kind == "Bearer" => match &a.credentials {
            Some(SecretSource::File(p)) => {
                config.auth_info.token_file = Some(p.display().to_string());
            }
            Some(SecretSource::Inline(s)) => {
                config.auth_info.token = Some(s.expose().to_string().into());
            }
            None => {}
        },
        Some(Auth::Authorization(a)) => {
            let value = a
                .header_value()
                .map_err(|e| format!("reading authorization credentials: {e}"))?;
            let mut header =
                reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| {
                    "authorization credentials are not a valid header value".to_string()
                })?;
            header.set_sensitive(true);
            config
                .headers
                .push((reqwest::header::AUTHORIZATION, header));
        }
    }
    let tls = &http.tls;
    if let Some(ca) = &tls.ca {
        let pem = read_text(ca, "tls_config ca")?;
        let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls_config ca: not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err("tls_config ca: no certificate found".to_string());
        }
        config.root_cert = Some(certs);
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        match cert {
            TextSource::File(p) => {
                config.auth_info.client_certificate = Some(p.display().to_string())
            }
            TextSource::Inline(s) => {
                config.auth_info.client_certificate_data = Some(base64(s.as_bytes()))
            }
        }
        match key {
            SecretSource::File(p) => config.auth_info.client_key = Some(p.display().to_string()),
            SecretSource::Inline(s) => {
                config.auth_info.client_key_data = Some(base64(s.expose().as_bytes()).into())
            }
        }
    }
    config.tls_server_name = tls.server_name.clone();
    config.accept_invalid_certs = tls.insecure_skip_verify;
    Ok(config)
}

/// Standard base64 with padding, as kubeconfig `*-data` fields hold.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Authorization, Secret};

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn api_server_settings_reach_the_kube_config() {
        let http = HttpClientSettings {
            auth: Some(Auth::Authorization(Authorization {
                kind: "Bearer".into(),
                credentials: Some(SecretSource::File("/var/run/token".into())),
            })),
            tls: crate::config::TlsSettings {
                server_name: Some("kubernetes.default.svc".into()),
                insecure_skip_verify: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let c = server_config("https://10.0.0.1:6443", &http).expect("valid settings");
        assert_eq!(c.cluster_url.to_string(), "https://10.0.0.1:6443/");
        assert_eq!(c.auth_info.token_file.as_deref(), Some("/var/run/token"));
        assert_eq!(c.tls_server_name.as_deref(), Some("kubernetes.default.svc"));
        assert!(c.accept_invalid_certs);

        let inline = HttpClientSettings {
            auth: Some(Auth::Authorization(Authorization {
                kind: "Bearer".into(),
                credentials: Some(SecretSource::Inline(Secret::new("abc"))),
            })),
            ..Default::default()
        };
        let c = server_config("http://127.0.0.1:8001", &inline).expect("valid settings");
        assert!(c.auth_info.token.is_some());
        assert!(c.root_cert.is_none());
    }
}
