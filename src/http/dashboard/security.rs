//! Access to the dashboard and the APIs: authentication, read-only mode, CSRF tokens and the
//! security headers on every response.
//!
//! [`WebAccess`] is built from the config's `web:` section ([`WebConfig`]). [`guard`] is the
//! middleware in front of every route: it lets `/-/healthy` and `/-/ready` through for
//! probes, asks every other request for the bearer token or a basic-auth user when any is
//! configured (401 otherwise), refuses changes in read-only mode (403), and adds
//! `Content-Security-Policy`, `X-Content-Type-Options`, `X-Frame-Options` and
//! `Referrer-Policy` to every response.
//!
//! CSRF scheme. The process draws a random 192-byte secret at start. A browser gets a random
//! nonce in the cookie `redline_csrf` (`HttpOnly; SameSite=Strict`). A form carries the token
//! `xxh3-128(identity ‖ 0 ‖ nonce)` keyed with the secret, where `identity` is who
//! authenticated (`user:<name>`, `bearer` or `anonymous`). A POST is accepted only when its
//! token equals the one recomputed from its own cookie and identity (compared in constant
//! time). A cross-site page can neither send the `SameSite=Strict` cookie nor read a token
//! (same-origin policy), and a token does not carry over to another user or another redline
//! process. The keyed hash is not a cryptographic MAC: the scheme relies on the secret never
//! leaving the process and on tokens being readable only by the user they were made for.

use crate::config::web::WebConfig;
use crate::config::SecretSource;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_128_with_secret;

/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "redline_csrf";

/// The `Content-Security-Policy` of every response: no scripts, styles only from redline's own
/// stylesheet, inline SVG, forms only to redline.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who made a request, as far as authentication can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// No credentials are configured.
    Anonymous,
    /// The configured bearer token.
    Bearer,
    /// A basic-auth user.
    User(String),
}

impl Identity {
    /// The identity CSRF tokens are bound to.
    pub fn key(&self) -> String {
        match self {
            Identity::Anonymous => "anonymous".into(),
            Identity::Bearer => "bearer".into(),
            Identity::User(u) => format!("user:{u}"),
        }
    }

    /// A name to show ("signed in as"), never a credential.
    pub fn display(&self) -> Option<String> {
        match self {
            Identity::Anonymous => None,
            Identity::Bearer => Some("bearer token".into()),
            Identity::User(u) => Some(u.clone()),
        }
    }
}

/// Authentication settings and the process's CSRF secret.
pub struct WebAccess {
    config: WebConfig,
    secret: Vec<u8>,
    /// Passwords already checked against their bcrypt hash, as keyed hashes per user, so
    /// bcrypt's deliberate slowness is paid once per user and password.
    verified: Mutex<HashMap<String, u128>>,
}

impl Default for WebAccess {
    fn default() -> Self {
        WebAccess::new(WebConfig::default())
    }
}

impl std::fmt::Debug for WebAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebAccess")
            .field("requires_auth", &self.config.requires_auth())
            .field("read_only", &self.config.read_only)
            .finish_non_exhaustive()
    }
}

/// `n` random bytes from the operating system; falls back to std's randomly keyed hasher.
fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return buf;
        }
    }
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    buf
}

/// A fresh random nonce for the CSRF cookie (32 hex digits).
pub fn new_nonce() -> String {
    random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl WebAccess {
    /// Access as `config` sets it, with a new random CSRF secret.
    pub fn new(config: WebConfig) -> WebAccess {
        WebAccess {
            config,
            secret: random_bytes(192),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// True in read-only mode.
    pub fn read_only(&self) -> bool {
        self.config.read_only
    }

    fn keyed(&self, data: &[u8]) -> u128 {
        xxh3_128_with_secret(data, &self.secret)
    }

    /// The CSRF token for `identity` holding the cookie `nonce`.
    pub fn csrf_token(&self, identity: &Identity, nonce: &str) -> String {
        let mut data = identity.key().into_bytes();
        data.push(0);
        data.extend_from_slice(nonce.as_bytes());
        format!("{:032x}", self.keyed(&data))
    }

    /// Whether `token` is the CSRF token for `identity` and `nonce`.
    pub fn check_csrf(&self, identity: &Identity, nonce: &str, token: &str) -> bool {
        !nonce.is_empty()
            && constant_time_eq(
                self.csrf_token(identity, nonce).as_bytes(),
                token.trim().as_bytes(),
            )
    }

    /// Who the request's credentials identify; `None` when they are missing or wrong.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<Identity> {
        if !self.config.requires_auth() {
            return Some(Identity::Anonymous);
        }
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, cred) = value.split_once(' ')?;
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let expected = match self.config.bearer_token.as_ref()? {
                SecretSource::Inline(s) => s.expose().to_string(),
                file @ SecretSource::File(_) => match file.read() {
                    Ok(s) => s.expose().to_string(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read web.bearer_token_file");
                        return None;
                    }
                },
            };
            return (!expected.is_empty()
                && constant_time_eq(expected.as_bytes(), cred.as_bytes()))
            .then_some(Identity::Bearer);
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64_decode(cred)?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, password) = decoded.split_once(':')?;
            let hash = self.config.basic_auth_users.get(user)?;
            let mut key = user.as_bytes().to_vec();
            key.push(0);
            key.extend_from_slice(password.as_bytes());
            let keyed = self.keyed(&key);
            if let Ok(cache) = self.verified.lock() {
                if cache.get(user) == Some(&keyed) {
                    return Some(Identity::User(user.to_string()));
                }
            }
            if bcrypt::verify(password, hash.expose()).unwrap_or(false) {
                if let Ok(mut cache) = self.verified.lock() {
                    cache.insert(user.to_string(), keyed);
                }
                return Some(Identity::User(user.to_string()));
            }
        }
        None
    }

    fn challenge(&self) -> &'static str {
        if self.config.basic_auth_users.is_empty() {
            "Bearer realm=\"redline\""
        } else {
            "Basic realm=\"redline\", charset=\"UTF-8\""
        }
    }
}

/// Standard base64 (with or without padding); `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Paths that change state, refused in read-only mode (for methods other than GET/HEAD).
fn is_change(path: &str) -> bool {
    path == "/-/reload"
        || path == "/-/quit"
        || path.starts_with("/api/v2/silence")
        || path.starts_with("/silences")
}

/// Adds the security headers to `r`.
pub fn add_security_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The middleware in front of every route (see the module docs).
pub async fn guard(
    State(access): State<std::sync::Arc<WebAccess>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let mut resp = if path == "/-/healthy" || path == "/-/ready" {
        next.run(req).await
    } else {
        match access.authenticate(req.headers()) {
            None => {
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(access.challenge()),
                );
                r
            }
            Some(_)
                if access.read_only()
                    && !matches!(*req.method(), Method::GET | Method::HEAD)
                    && is_change(path) =>
            {
                (
                    StatusCode::FORBIDDEN,
                    "redline is read-only (web.read_only): changes are disabled\n",
                )
                    .into_response()
            }
            Some(identity) => {
                req.extensions_mut().insert(identity);
                next.run(req).await
            }
        }
    };
    add_security_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn with_users() -> WebAccess {
        let mut cfg = WebConfig::default();
        cfg.basic_auth_users.insert(
            "alice".into(),
            Secret::new(bcrypt::hash("s3cret", 4).unwrap()),
        );
        cfg.bearer_token = Some(SecretSource::Inline(Secret::new("tok")));
        WebAccess::new(cfg)
    }

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn basic_auth_checks_the_bcrypt_hash() {
        let a = with_users();
        // alice:s3cret
        assert_eq!(
            a.authenticate(&auth("Basic YWxpY2U6czNjcmV0")),
            Some(Identity::User("alice".into()))
        );
        // again, from the cache
        assert!(a.authenticate(&auth("Basic YWxpY2U6czNjcmV0")).is_some());
        // alice:wrong
        assert_eq!(a.authenticate(&auth("Basic YWxpY2U6d3Jvbmc=")), None);
        assert_eq!(a.authenticate(&HeaderMap::new()), None);
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        let a = with_users();
        assert_eq!(a.authenticate(&auth("Bearer tok")), Some(Identity::Bearer));
        assert_eq!(a.authenticate(&auth("Bearer tok2")), None);
        assert_eq!(a.authenticate(&auth("Bearer ")), None);
    }

    #[test]
    fn open_access_without_credentials_configured() {
        let a = WebAccess::default();
        assert_eq!(a.authenticate(&HeaderMap::new()), Some(Identity::Anonymous));
    }

    #[test]
    fn csrf_token_is_bound_to_nonce_identity_and_process() {
        let a = WebAccess::default();
        let alice = Identity::User("alice".into());
        let t = a.csrf_token(&alice, "n1");
        assert!(a.check_csrf(&alice, "n1", &t));
        assert!(!a.check_csrf(&alice, "n2", &t));
        assert!(!a.check_csrf(&Identity::User("bob".into()), "n1", &t));
        assert!(!a.check_csrf(&alice, "", &a.csrf_token(&alice, "")));
        assert!(!WebAccess::default().check_csrf(&alice, "n1", &t));
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("YWxpY2U6czNjcmV0").unwrap(), b"alice:s3cret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }
}
