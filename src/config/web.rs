//! redline's `web` section: who may use the dashboard and the APIs.
//!
//! It takes the fields of Prometheus' web config file that concern access (`basic_auth_users`
//! with bcrypt hashes) plus a bearer token and a read-only switch:
//!
//! ```yaml
//! web:
//!   bearer_token_file: /etc/redline/token   # or bearer_token: "..."
//!   basic_auth_users:
//!     alice: $2y$10$...                      # bcrypt hash: `htpasswd -nbBC 10 alice pw | cut -d: -f2`
//!   read_only: true                          # no silence create/expire, no reload
//!   password_check_concurrency: 2            # bcrypt checks running at once (default 2)
//!   password_check_queue: 64                 # checks waiting for one at most (default 64)
//! ```
//!
//! With neither a token nor users, every page and API is open (as Prometheus without a web
//! config). `/-/healthy` and `/-/ready` always stay open for probes.
//!
//! bcrypt is slow on purpose (about 60 ms at cost 10), so password checks run off the request
//! threads on a bounded pool: at most `password_check_concurrency` at once, at most
//! `password_check_queue` more waiting; a request beyond that gets 503 at once. A password
//! once verified is remembered (as a keyed hash) until the process ends, so a signed-in
//! browser pays bcrypt once.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::http_client::{Secret, SecretSource};
use super::validate::Ctx;

/// The `web` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    pub read_only: Option<bool>,
    pub password_check_concurrency: Option<u64>,
    pub password_check_queue: Option<u64>,
}

/// The default of `web.password_check_concurrency`: bcrypt checks that run at once. Two keep
/// the rest of a small host's cores free for scrapes, rules and probes, and still verify some
/// 30 new logins a second at cost 10 (a signed-in browser is verified once, then cached).
pub const DEFAULT_PASSWORD_CHECK_CONCURRENCY: usize = 2;

/// The default of `web.password_check_queue`: password checks that may wait for a free slot.
/// With the default concurrency a full queue drains in about 2 s at cost 10, well within a
/// browser's patience; more callers get 503 at once instead of piling up.
pub const DEFAULT_PASSWORD_CHECK_QUEUE: usize = 64;

/// The validated `web` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// The bearer token a client may send (`Authorization: Bearer <token>`); a file is read
    /// on every check, so a rotated token takes effect at once.
    pub bearer_token: Option<SecretSource>,
    /// User name → bcrypt hash. Never rendered.
    pub basic_auth_users: BTreeMap<String, Secret>,
    /// Refuse every change: silence create/expire, reload.
    pub read_only: bool,
    /// bcrypt verifications that run at once (at least 1).
    pub password_check_concurrency: usize,
    /// Password checks that may wait for a verification slot; more get 503.
    pub password_check_queue: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            bearer_token: None,
            basic_auth_users: BTreeMap::new(),
            read_only: false,
            password_check_concurrency: DEFAULT_PASSWORD_CHECK_CONCURRENCY,
            password_check_queue: DEFAULT_PASSWORD_CHECK_QUEUE,
        }
    }
}

impl WebConfig {
    /// True when any credential is configured, so requests must authenticate.
    pub fn requires_auth(&self) -> bool {
        self.bearer_token.is_some() || !self.basic_auth_users.is_empty()
    }
}

/// Validates the `web` section at `path`.
pub(crate) fn web(ctx: &Ctx<'_>, path: &FieldPath, raw: RawWeb) -> Result<WebConfig, ConfigError> {
    let bearer_token = match (raw.bearer_token, raw.bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &path.key("bearer_token_file"),
                "at most one of bearer_token and bearer_token_file must be configured",
            ))
        }
        (Some(t), None) if t.is_empty() => {
            return Err(ctx.err(
                &path.key("bearer_token"),
                "expected a non-empty token (omit the field to disable token auth)",
            ))
        }
        (Some(t), None) => Some(SecretSource::Inline(Secret::new(t))),
        (None, Some(f)) if f.is_empty() => {
            return Err(ctx.err(&path.key("bearer_token_file"), "expected a file path"))
        }
        (None, Some(f)) => Some(SecretSource::File(ctx.resolve(&f))),
        (None, None) => None,
    };
    let mut basic_auth_users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        let p = path.key("basic_auth_users").key(&user);
        if user.is_empty() || user.contains(':') {
            return Err(ctx.err(&p, "expected a user name without ':'"));
        }
        if bcrypt::HashParts::from_str(&hash).is_err() {
            let pasted_line = hash
                .split_once(':')
                .is_some_and(|(_, h)| bcrypt::HashParts::from_str(h).is_ok());
            return Err(ctx.err(
                &p,
                if pasted_line {
                    "expected the bcrypt hash only: remove the `user:` prefix `htpasswd` prints"
                } else {
                    "expected a bcrypt hash ($2a$, $2b$ or $2y$, e.g. `htpasswd -nbBC 10 user pw | cut -d: -f2`, Debian package apache2-utils)"
                },
            ));
        }
        basic_auth_users.insert(user, Secret::new(hash));
    }
    let password_check_concurrency = match raw.password_check_concurrency {
        None => DEFAULT_PASSWORD_CHECK_CONCURRENCY,
        Some(0) => {
            return Err(ctx.err(
                &path.key("password_check_concurrency"),
                "must be at least 1",
            ))
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(1024),
    };
    let password_check_queue = raw
        .password_check_queue
        .map_or(DEFAULT_PASSWORD_CHECK_QUEUE, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
    Ok(WebConfig {
        bearer_token,
        basic_auth_users,
        read_only: raw.read_only.unwrap_or(false),
        password_check_concurrency,
        password_check_queue,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, SecretSource};

    #[test]
    fn web_section_with_users_token_file_and_read_only() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let cfg = Config::from_yaml_str_in(
            &format!(
                "web:\n  bearer_token_file: token\n  basic_auth_users:\n    alice: '{hash}'\n  read_only: true\n"
            ),
            "redline.yml",
            std::path::Path::new("/etc/redline"),
        )
        .unwrap();
        assert!(cfg.web.read_only);
        assert!(cfg.web.requires_auth());
        assert_eq!(
            cfg.web.bearer_token,
            Some(SecretSource::File("/etc/redline/token".into()))
        );
        assert!(cfg.web.basic_auth_users.contains_key("alice"));
    }

    #[test]
    fn no_web_section_means_open_and_writable() {
        let cfg = Config::from_yaml_str("", "redline.yml").unwrap();
        assert!(!cfg.web.requires_auth());
        assert!(!cfg.web.read_only);
    }

    #[test]
    fn plain_text_password_is_rejected_with_its_field_path() {
        let err = Config::from_yaml_str(
            "web:\n  basic_auth_users:\n    alice: hunter2\n",
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("web.basic_auth_users.alice"), "{err}");
        assert!(err.contains("bcrypt hash"), "{err}");
        assert!(
            !err.contains("hunter2"),
            "the value must not be echoed: {err}"
        );
    }

    /// The line `htpasswd -nbB` prints is `user:hash`: pasted whole, the error says what to
    /// remove, and the hash alone loads.
    #[test]
    fn an_htpasswd_line_pasted_whole_is_refused_with_what_to_remove() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let err = Config::from_yaml_str(
            &format!("web:\n  basic_auth_users:\n    alice: 'alice:{hash}'\n"),
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("web.basic_auth_users.alice"), "{err}");
        assert!(err.contains("remove the `user:` prefix"), "{err}");
        assert!(!err.contains(&hash), "the value must not be echoed: {err}");
        let cfg = Config::from_yaml_str(
            &format!("web:\n  basic_auth_users:\n    alice: '{hash}'\n"),
            "redline.yml",
        )
        .unwrap();
        assert!(cfg.web.basic_auth_users.contains_key("alice"));
    }

    #[test]
    fn token_and_token_file_together_are_rejected() {
        let err = Config::from_yaml_str(
            "web:\n  bearer_token: a\n  bearer_token_file: b\n",
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("web.bearer_token_file"), "{err}");
    }

    #[test]
    fn password_check_limits_have_defaults_and_zero_concurrency_is_rejected() {
        let cfg = Config::from_yaml_str("", "redline.yml").unwrap();
        assert_eq!(cfg.web.password_check_concurrency, 2);
        assert_eq!(cfg.web.password_check_queue, 64);
        let cfg = Config::from_yaml_str(
            "web:\n  password_check_concurrency: 4\n  password_check_queue: 0\n",
            "redline.yml",
        )
        .unwrap();
        assert_eq!(cfg.web.password_check_concurrency, 4);
        assert_eq!(cfg.web.password_check_queue, 0);
        let err = Config::from_yaml_str("web:\n  password_check_concurrency: 0\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("web.password_check_concurrency"), "{err}");
    }

    #[test]
    fn unknown_web_field_is_an_error() {
        let err = Config::from_yaml_str("web:\n  readonly: true\n", "redline.yml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("readonly"), "{err}");
    }
}
