//! Access to the dashboard and the APIs: authentication, read-only mode, CSRF tokens and the
//! security headers on every response.
//!
//! [`WebAccess`] is built from the config's `web:` section ([`WebConfig`]). [`guard`] is the
//! middleware in front of every route: it lets `/-/healthy` and `/-/ready` through for
//! probes, refuses with 403 any request other than GET/HEAD/OPTIONS that a browser marks as
//! coming from another origin (`Sec-Fetch-Site` other than `same-origin`/`none`, or else an
//! `Origin` that is not `http(s)://` + `Host`; clients that send neither, such as curl,
//! amtool or Prometheus, pass), asks every other request for the bearer token or a basic-auth user when any is
//! configured (401 otherwise), refuses changes in read-only mode (403), and adds
//! `Content-Security-Policy`, `X-Content-Type-Options`, `X-Frame-Options` and
//! `Referrer-Policy` to every response.
//!
//! Passwords. bcrypt is slow on purpose, so [`WebAccess::authenticate`] never runs it on a
//! runtime worker: checks go to the blocking pool behind a semaphore of
//! `web.password_check_concurrency` slots, with at most `web.password_check_queue` waiting
//! (more get 503, [`AuthOutcome::Busy`]). A verified password is remembered as a keyed hash
//! of user, password and bcrypt hash, so a signed-in browser pays bcrypt once; an unknown
//! user is checked against a stand-in hash of the users' cost, so that both take as long.
//! Refusals count in `redline_http_auth_failures_total` and are logged per client address.
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
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
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

/// Authentication settings, the process's CSRF secret and the password-check pool.
pub struct WebAccess {
    config: WebConfig,
    secret: Vec<u8>,
    /// Passwords already checked against their bcrypt hash: per user, the keyed hash of the
    /// user, the password and the bcrypt hash it matched (so a changed hash no longer
    /// matches), so bcrypt's deliberate slowness is paid once per user and password. Holds
    /// at most one entry per configured user.
    verified: Mutex<HashMap<String, u128>>,
    /// The bounded pool bcrypt runs on.
    checks: PasswordChecks,
    /// A bcrypt hash of a random password at the users' cost, checked for unknown users so
    /// that they take as long as known ones.
    dummy_hash: Option<String>,
    /// Failed attempts per client address (bounded), for the log.
    failures_by_client: Mutex<HashMap<std::net::IpAddr, u64>>,
    auth_failures: Counter,
}

/// Clients whose failures are counted for the log at most; beyond it the map starts over.
const MAX_CLIENTS_TRACKED: usize = 4096;

/// What [`WebAccess::authenticate`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are good (or none are configured).
    Granted(Identity),
    /// Missing or wrong credentials.
    Denied,
    /// Too many password checks are running and waiting: try again later.
    Busy,
}

/// Figures of the password-check pool.
#[derive(Debug, Default)]
pub struct PasswordCheckStats {
    /// bcrypt verifications run (successful or not).
    pub verifications: AtomicU64,
    /// Verifications running now.
    pub running: AtomicUsize,
    /// The most verifications that ever ran at once.
    pub peak: AtomicUsize,
    /// Checks waiting for a slot now.
    pub waiting: AtomicUsize,
}

/// The bounded pool: a semaphore of `concurrency` slots and a bound on the waiters.
struct PasswordChecks {
    slots: Arc<Semaphore>,
    queue_limit: usize,
    stats: Arc<PasswordCheckStats>,
    counter: Counter,
    /// Tests hold the write side to keep verifications from finishing.
    #[cfg(test)]
    gate: Arc<std::sync::RwLock<()>>,
}

/// Decrements the waiter count however the wait ends (a dropped request included).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordChecks {
    fn new(concurrency: usize, queue_limit: usize) -> PasswordChecks {
        PasswordChecks {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_limit,
            stats: Arc::new(PasswordCheckStats::default()),
            counter: Counter::default(),
            #[cfg(test)]
            gate: Arc::new(std::sync::RwLock::new(())),
        }
    }

    /// Verifies `password` against `hash` on the blocking pool, at most `concurrency` at
    /// once; `None` when the queue is full.
    async fn verify(&self, password: String, hash: String) -> Option<bool> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let before = self.stats.waiting.fetch_add(1, Ordering::AcqRel);
                let _waiting = Waiting(&self.stats.waiting);
                if before >= self.queue_limit {
                    return None;
                }
                self.slots.clone().acquire_owned().await.ok()?
            }
        };
        let stats = self.stats.clone();
        let counter = self.counter.clone();
        #[cfg(test)]
        let gate = self.gate.clone();
        // The permit moves into the blocking task: a request dropped meanwhile still holds
        // its slot until bcrypt returns, so the bound holds.
        let job = tokio::task::spawn_blocking(move || {
            let now = stats.running.fetch_add(1, Ordering::AcqRel) + 1;
            stats.peak.fetch_max(now, Ordering::AcqRel);
            #[cfg(test)]
            let _open = gate.read();
            let ok = bcrypt::verify(&password, &hash).unwrap_or(false);
            stats.verifications.fetch_add(1, Ordering::AcqRel);
            counter.inc();
            stats.running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
            ok
        });
        Some(job.await.unwrap_or(false))
    }
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
        // The unknown users' stand-in hash takes the highest cost of the configured hashes
        // (they normally share one cost, and then every check costs the same).
        let cost = config
            .basic_auth_users
            .values()
            .filter_map(|h| bcrypt::HashParts::from_str(h.expose()).ok())
            .map(|p| p.get_cost())
            .max();
        let dummy_hash = cost.and_then(|c| bcrypt::hash(new_nonce(), c).ok());
        WebAccess {
            checks: PasswordChecks::new(
                config.password_check_concurrency,
                config.password_check_queue,
            ),
            config,
            secret: random_bytes(192),
            verified: Mutex::new(HashMap::new()),
            dummy_hash,
            failures_by_client: Mutex::new(HashMap::new()),
            auth_failures: Counter::default(),
        }
    }

    /// Registers `redline_http_auth_failures_total` and
    /// `redline_http_password_checks_total` in `registry` (prefix `redline`).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "http_auth_failures",
            "Requests refused for missing or wrong credentials",
            self.auth_failures.clone(),
        );
        registry.register(
            "http_password_checks",
            "bcrypt password verifications run (a verified password is cached)",
            self.checks.counter.clone(),
        );
    }

    /// The password-check pool's figures.
    pub fn password_check_stats(&self) -> &PasswordCheckStats {
        &self.checks.stats
    }

    /// Counts a refused request and logs it per client: the first failure of a client and
    /// every time its count doubles, so a flood does not flood the log.
    fn record_failure(&self, client: Option<std::net::IpAddr>) {
        self.auth_failures.inc();
        let Some(ip) = client else { return };
        let Ok(mut m) = self.failures_by_client.lock() else {
            return;
        };
        if m.len() >= MAX_CLIENTS_TRACKED && !m.contains_key(&ip) {
            m.clear();
        }
        let n = m.entry(ip).or_insert(0);
        *n += 1;
        if n.is_power_of_two() {
            tracing::warn!(client = %ip, failures = *n, "authentication failed");
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

    /// Who the request's credentials identify. A basic-auth password not verified before is
    /// checked with bcrypt on the bounded pool; an unknown user is checked against a stand-in
    /// hash of the same cost, so that the answer takes as long either way.
    pub async fn authenticate(&self, headers: &HeaderMap) -> AuthOutcome {
        if !self.config.requires_auth() {
            return AuthOutcome::Granted(Identity::Anonymous);
        }
        let Some((scheme, cred)) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
        else {
            return AuthOutcome::Denied;
        };
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let Some(source) = self.config.bearer_token.as_ref() else {
                return AuthOutcome::Denied;
            };
            let expected = match source {
                SecretSource::Inline(s) => s.expose().to_string(),
                file @ SecretSource::File(_) => match file.read() {
                    Ok(s) => s.expose().to_string(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read web.bearer_token_file");
                        return AuthOutcome::Denied;
                    }
                },
            };
            return if !expected.is_empty() && constant_time_eq(expected.as_bytes(), cred.as_bytes())
            {
                AuthOutcome::Granted(Identity::Bearer)
            } else {
                AuthOutcome::Denied
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return AuthOutcome::Denied;
        }
        let Some((user, password)) = base64_decode(cred)
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|d| {
                d.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        else {
            return AuthOutcome::Denied;
        };
        let known = self.config.basic_auth_users.get(&user);
        let Some(hash) = known
            .map(|h| h.expose().to_string())
            .or_else(|| self.dummy_hash.clone())
        else {
            return AuthOutcome::Denied;
        };
        let mut key = user.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(password.as_bytes());
        key.push(0);
        key.extend_from_slice(hash.as_bytes());
        let keyed = self.keyed(&key);
        if known.is_some() {
            if let Ok(cache) = self.verified.lock() {
                if cache.get(&user) == Some(&keyed) {
                    return AuthOutcome::Granted(Identity::User(user));
                }
            }
        }
        match self.checks.verify(password, hash).await {
            None => AuthOutcome::Busy,
            Some(true) if known.is_some() => {
                if let Ok(mut cache) = self.verified.lock() {
                    cache.insert(user.clone(), keyed);
                }
                AuthOutcome::Granted(Identity::User(user))
            }
            Some(_) => AuthOutcome::Denied,
        }
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
        || path.starts_with("/api/v1/acks")
        || path.starts_with("/acks")
}

/// Why a state-changing request from a browser is refused as cross-site, if it is.
///
/// `Sec-Fetch-Site` (sent by every current browser, not forgeable by a page) decides when
/// present: only `same-origin` (redline's own pages) and `none` (typed in, bookmarks) pass;
/// `same-site` (another port or subdomain of the same site) and `cross-site` are refused.
/// Without it, an `Origin` header (older browsers) must name the request's own origin,
/// `http(s)://` + `Host`. Requests with neither header do not come from a web page (curl,
/// amtool, Prometheus' notifier, Grafana's backend) and pass.
fn cross_site_refusal(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = String::from_utf8_lossy(site.as_bytes()).to_ascii_lowercase();
        return match site.trim() {
            "same-origin" | "none" => None,
            other => Some(format!("Sec-Fetch-Site: {other}")),
        };
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes()).to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).to_ascii_lowercase())
        .unwrap_or_default();
    let own = !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    (!own).then(|| format!("Origin {origin:?} is not this server ({host:?})"))
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
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut resp = if path == "/-/healthy" || path == "/-/ready" {
        next.run(req).await
    } else if let Some(why) = changes.then(|| cross_site_refusal(req.headers())).flatten() {
        tracing::warn!(path, reason = %why, "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            format!("cross-site requests cannot change redline ({why})\n"),
        )
            .into_response()
    } else {
        let client = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        match access.authenticate(req.headers()).await {
            AuthOutcome::Busy => {
                access.record_failure(client);
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many password checks in progress; try again\n",
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            AuthOutcome::Denied => {
                access.record_failure(client);
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(access.challenge()),
                );
                r
            }
            AuthOutcome::Granted(_)
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
            AuthOutcome::Granted(identity) => {
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

    const ALICE_OK: &str = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret
    const ALICE_WRONG: &str = "Basic YWxpY2U6d3Jvbmc="; // alice:wrong
    const MALLORY: &str = "Basic bWFsbG9yeTpzM2NyZXQ="; // mallory:s3cret

    fn granted(u: &str) -> AuthOutcome {
        AuthOutcome::Granted(Identity::User(u.into()))
    }

    fn verifications(a: &WebAccess) -> u64 {
        a.password_check_stats()
            .verifications
            .load(Ordering::Acquire)
    }

    #[tokio::test]
    async fn basic_auth_checks_the_bcrypt_hash() {
        let a = with_users();
        assert_eq!(a.authenticate(&auth(ALICE_OK)).await, granted("alice"));
        assert_eq!(
            a.authenticate(&auth(ALICE_WRONG)).await,
            AuthOutcome::Denied
        );
        assert_eq!(a.authenticate(&HeaderMap::new()).await, AuthOutcome::Denied);
    }

    #[tokio::test]
    async fn signed_in_browser_pays_bcrypt_once() {
        let a = with_users();
        for _ in 0..5 {
            assert_eq!(a.authenticate(&auth(ALICE_OK)).await, granted("alice"));
        }
        assert_eq!(verifications(&a), 1, "verified once, then from the cache");
        // A wrong password is never cached: each attempt is verified.
        for _ in 0..2 {
            assert_eq!(
                a.authenticate(&auth(ALICE_WRONG)).await,
                AuthOutcome::Denied
            );
        }
        assert_eq!(verifications(&a), 3);
    }

    #[tokio::test]
    async fn unknown_user_goes_through_one_bcrypt_verification_at_the_users_cost() {
        let a = with_users();
        assert_eq!(a.authenticate(&auth(MALLORY)).await, AuthOutcome::Denied);
        assert_eq!(
            verifications(&a),
            1,
            "an unknown user costs what a known one does"
        );
        let dummy = a.dummy_hash.as_deref().expect("stand-in hash");
        let user = a.config.basic_auth_users["alice"].expose().to_string();
        assert_eq!(
            bcrypt::HashParts::from_str(dummy).unwrap().get_cost(),
            bcrypt::HashParts::from_str(&user).unwrap().get_cost()
        );
    }

    #[tokio::test]
    async fn bearer_token_must_match_exactly() {
        let a = with_users();
        assert_eq!(
            a.authenticate(&auth("Bearer tok")).await,
            AuthOutcome::Granted(Identity::Bearer)
        );
        assert_eq!(
            a.authenticate(&auth("Bearer tok2")).await,
            AuthOutcome::Denied
        );
        assert_eq!(a.authenticate(&auth("Bearer ")).await, AuthOutcome::Denied);
        assert_eq!(verifications(&a), 0);
    }

    #[tokio::test]
    async fn open_access_without_credentials_configured() {
        let a = WebAccess::default();
        assert_eq!(
            a.authenticate(&HeaderMap::new()).await,
            AuthOutcome::Granted(Identity::Anonymous)
        );
    }

    /// Serves `/-/healthy` and `/x` behind [`guard`] on a loopback port.
    async fn serve_guarded(access: Arc<WebAccess>) -> std::net::SocketAddr {
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/-/healthy", get(|| async { "Healthy\n" }))
            .route("/x", get(|| async { "x\n" }))
            .layer(axum::middleware::from_fn_with_state(access, guard));
        crate::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        addr
    }

    /// Waits (with a deadline) until `cond` holds. It polls from the test's own thread, not
    /// on the runtime's timers, so that it fails rather than hangs when the runtime's
    /// workers are blocked.
    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting: {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// `GET url` from a thread with its own runtime; `None` unless answered within 30 s.
    fn get_status_within_30s(url: String) -> Option<u16> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let status =
                rt.block_on(async { reqwest::get(url).await.map(|r| r.status().as_u16()).ok() });
            let _ = tx.send(status);
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .ok()
            .flatten()
    }

    fn pool_config(concurrency: usize, queue: usize) -> WebConfig {
        let mut cfg = WebConfig::default();
        cfg.basic_auth_users.insert(
            "alice".into(),
            Secret::new(bcrypt::hash("s3cret", 4).unwrap()),
        );
        cfg.password_check_concurrency = concurrency;
        cfg.password_check_queue = queue;
        cfg
    }

    // The held gate stands in for a slow bcrypt while requests are sent.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_passwords_queue_on_a_bounded_pool_while_health_answers() {
        let access = Arc::new(WebAccess::new(pool_config(2, 64)));
        let addr = serve_guarded(access.clone()).await;
        let client = reqwest::Client::new();
        // Hold every verification where it is, as a slow bcrypt would.
        let gate = access.checks.gate.clone();
        let held = gate.write().unwrap();
        let mut attackers = Vec::new();
        for _ in 0..32 {
            let c = client.clone();
            attackers.push(tokio::spawn(async move {
                c.get(format!("http://{addr}/x"))
                    .header("Authorization", ALICE_WRONG)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }));
        }
        let stats = access.password_check_stats();
        wait_until("2 verifications running and 30 queued", || {
            stats.running.load(Ordering::Acquire) == 2
                && stats.waiting.load(Ordering::Acquire) == 30
        });
        assert_eq!(
            get_status_within_30s(format!("http://{addr}/-/healthy")),
            Some(200),
            "/-/healthy answers while password checks are queued"
        );
        // The health check answered while the verifications were still queued.
        assert_eq!(stats.waiting.load(Ordering::Acquire), 30);
        assert_eq!(stats.verifications.load(Ordering::Acquire), 0);
        drop(held);
        for a in attackers {
            assert_eq!(a.await.unwrap().unwrap(), 401);
        }
        assert_eq!(stats.verifications.load(Ordering::Acquire), 32);
        assert_eq!(
            stats.peak.load(Ordering::Acquire),
            2,
            "never more than the pool"
        );
        let mut registry = prometheus_client::registry::Registry::with_prefix("redline");
        access.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("redline_http_auth_failures_total 32"),
            "{text}"
        );
    }

    // The held gate stands in for a slow bcrypt while requests are sent.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_beyond_the_queue_get_503() {
        let access = Arc::new(WebAccess::new(pool_config(1, 1)));
        let addr = serve_guarded(access.clone()).await;
        let client = reqwest::Client::new();
        let gate = access.checks.gate.clone();
        let held = gate.write().unwrap();
        let send = |c: reqwest::Client| async move {
            c.get(format!("http://{addr}/x"))
                .header("Authorization", ALICE_WRONG)
                .send()
                .await
                .map(|r| r.status().as_u16())
        };
        let first = tokio::spawn(send(client.clone()));
        let second = tokio::spawn(send(client.clone()));
        let stats = access.password_check_stats();
        wait_until("one running, one waiting", || {
            stats.running.load(Ordering::Acquire) == 1 && stats.waiting.load(Ordering::Acquire) == 1
        });
        let third = send(client.clone()).await.unwrap();
        assert_eq!(third, 503);
        drop(held);
        assert_eq!(first.await.unwrap().unwrap(), 401);
        assert_eq!(second.await.unwrap().unwrap(), 401);
        assert_eq!(stats.verifications.load(Ordering::Acquire), 2);
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

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cross_site_browser_requests_are_refused_and_tools_pass() {
        let host = ("host", "127.0.0.1:9093");
        // What browsers send for a page of redline itself, or a typed-in URL.
        for ok in [
            headers(&[host, ("sec-fetch-site", "same-origin")]),
            headers(&[host, ("sec-fetch-site", "none")]),
            headers(&[host, ("origin", "http://127.0.0.1:9093")]),
            headers(&[host, ("origin", "https://127.0.0.1:9093")]),
            // curl, amtool, Prometheus: neither header.
            headers(&[host]),
        ] {
            assert_eq!(cross_site_refusal(&ok), None, "{ok:?}");
        }
        for bad in [
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            // Sec-Fetch-Site decides over a matching Origin.
            headers(&[
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://127.0.0.1:9093"),
            ]),
            headers(&[host, ("origin", "http://127.0.0.1:8000")]),
            headers(&[host, ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:9093")]),
        ] {
            assert!(cross_site_refusal(&bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("YWxpY2U6czNjcmV0").unwrap(), b"alice:s3cret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }
}
