//! `rule_query_url`: evaluate rule files against a remote Prometheus-compatible query API
//! (Thanos Query, Mimir, VictoriaMetrics, Prometheus) instead of redline's own store, as
//! Thanos Ruler's `--query` does.
//!
//! ```yaml
//! rule_query_url: http://thanos-query:9090   # the API base; redline POSTs <url>/api/v1/query
//! rule_query:                                # optional client settings
//!   timeout: 30s                             # default: the group's interval, at most 2m
//!   bearer_token_file: /var/run/secrets/token
//!   tls_config: { ca_file: ca.pem }          # and basic_auth, authorization, follow_redirects
//! ```
//!
//! The client fields are prometheus/common's `HTTPClientConfig`, validated by
//! [`super::http_client`] exactly as in a scrape config. Recording-rule results and `ALERTS`
//! are still written into redline's store; the SLO engine and the dashboards read that store.

use std::time::Duration;

use super::error::{ConfigError, FieldPath};
use super::http_client::{self, HttpClientSettings};
use super::units::PromDuration;
use super::validate::Ctx;

crate::config::http_client::with_http_client_fields! {
/// The `rule_query:` block as written.
pub struct RawRuleQuery {
    pub timeout: Option<PromDuration>,
}
}

/// Where rules evaluate, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleQueryConfig {
    /// The API base as configured, without a trailing `/`.
    pub url: String,
    /// Authentication and TLS for the API.
    pub http: HttpClientSettings,
    /// The per-query timeout; `None`: the group's interval, at most
    /// [`DEFAULT_MAX_RULE_QUERY_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// The cap on the default per-query timeout (Prometheus' default `--query.timeout`).
pub const DEFAULT_MAX_RULE_QUERY_TIMEOUT: Duration = Duration::from_secs(120);

impl RuleQueryConfig {
    /// The instant-query endpoint: `<url>/api/v1/query`.
    pub fn query_endpoint(&self) -> String {
        format!("{}/api/v1/query", self.url)
    }

    /// The timeout of a query of a group evaluated every `interval`.
    pub fn timeout_for(&self, interval: Duration) -> Duration {
        match self.timeout {
            Some(t) => t,
            None if interval.is_zero() => DEFAULT_MAX_RULE_QUERY_TIMEOUT,
            None => interval.min(DEFAULT_MAX_RULE_QUERY_TIMEOUT),
        }
    }
}

/// Validates `rule_query_url` and the `rule_query` block (`root` is the file's root path).
pub(crate) fn rule_query(
    ctx: &Ctx<'_>,
    root: &FieldPath,
    url: Option<String>,
    raw: Option<RawRuleQuery>,
) -> Result<Option<RuleQueryConfig>, ConfigError> {
    let url_path = root.key("rule_query_url");
    let block_path = root.key("rule_query");
    let url = match url.map(|u| u.trim().to_string()) {
        None => {
            if raw.is_some() {
                return Err(ctx.err(
                    &block_path,
                    "rule_query settings need rule_query_url (the query API's base URL)",
                ));
            }
            return Ok(None);
        }
        Some(u) if u.is_empty() => {
            // An empty value asks for local evaluation, as if the field were absent.
            if raw.is_some() {
                return Err(ctx.err(
                    &block_path,
                    "rule_query settings need rule_query_url (the query API's base URL)",
                ));
            }
            return Ok(None);
        }
        Some(u) => u,
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| {
        ctx.err(
            &url_path,
            format!("{url:?} is not a URL ({e}); expected e.g. http://thanos-query:9090"),
        )
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(ctx.err(
            &url_path,
            format!(
                "unsupported scheme {:?} in {url:?}; expected http or https",
                parsed.scheme()
            ),
        ));
    }
    if parsed.host_str().unwrap_or("").is_empty() {
        return Err(ctx.err(&url_path, format!("{url:?} has no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ctx.err(
            &url_path,
            format!("{url:?} has a query or fragment; expected the API base URL only"),
        ));
    }
    if parsed
        .path()
        .trim_end_matches('/')
        .ends_with("/api/v1/query")
    {
        return Err(ctx.err(
            &url_path,
            format!(
                "{url:?} ends in /api/v1/query; give the API base (redline appends /api/v1/query)"
            ),
        ));
    }
    let raw = raw.unwrap_or_default();
    let timeout = match raw.timeout {
        None => None,
        Some(d) if d.0.is_zero() => {
            return Err(ctx.err(&block_path.key("timeout"), "must be greater than 0s"))
        }
        Some(d) => Some(d.0),
    };
    let http = http_client::validate(ctx, &block_path, raw.http_fields())?;
    Ok(Some(RuleQueryConfig {
        url: url.trim_end_matches('/').to_string(),
        http,
        timeout,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::{Auth, Config, ConfigError};
    use std::time::Duration;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(text, "redline.yml")
    }

    fn err(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("config accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn without_rule_query_url_rules_evaluate_locally() {
        let cfg = load("rule_files: []\n").expect("config loads");
        assert_eq!(cfg.rule_query, None);
        let cfg = load("rule_query_url: ''\n").expect("config loads");
        assert_eq!(cfg.rule_query, None);
    }

    #[test]
    fn rule_query_url_with_client_settings() {
        let cfg = load(
            "rule_query_url: http://thanos-query:9090/\nrule_query:\n  timeout: 15s\n  bearer_token: s3cr3t\n",
        )
        .expect("config loads");
        let q = cfg.rule_query.expect("rule_query set");
        assert_eq!(q.url, "http://thanos-query:9090");
        assert_eq!(q.query_endpoint(), "http://thanos-query:9090/api/v1/query");
        assert_eq!(q.timeout, Some(Duration::from_secs(15)));
        match &q.http.auth {
            Some(Auth::Authorization(a)) => assert_eq!(a.kind, "Bearer"),
            other => panic!("expected bearer authorization, got {other:?}"),
        }
        assert!(!format!("{q:?}").contains("s3cr3t"), "secret printed");
    }

    #[test]
    fn default_timeout_is_the_group_interval_capped_at_two_minutes() {
        let q = load("rule_query_url: https://mimir.example/prometheus\n")
            .expect("config loads")
            .rule_query
            .expect("rule_query set");
        assert_eq!(q.url, "https://mimir.example/prometheus");
        assert_eq!(
            q.timeout_for(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(
            q.timeout_for(Duration::from_secs(600)),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn bad_url_errors_name_the_field() {
        let e = err("rule_query_url: thanos-query:9090\n");
        assert!(e.contains("rule_query_url"), "{e}");
        assert!(e.contains("expected http or https"), "{e}");
        let e = err("rule_query_url: not a url\n");
        assert!(e.contains("rule_query_url"), "{e}");
        assert!(e.contains("is not a URL"), "{e}");
        let e = err("rule_query_url: http://q:9090/api/v1/query\n");
        assert!(e.contains("rule_query_url"), "{e}");
        assert!(e.contains("give the API base"), "{e}");
    }

    #[test]
    fn block_errors_name_the_field() {
        let e = err("rule_query:\n  timeout: 10s\n");
        assert!(e.contains("rule_query"), "{e}");
        assert!(e.contains("need rule_query_url"), "{e}");
        let e = err("rule_query_url: http://q:9090\nrule_query:\n  timeout: 0s\n");
        assert!(e.contains("rule_query.timeout"), "{e}");
        let e = err(
            "rule_query_url: http://q:9090\nrule_query:\n  bearer_token: a\n  bearer_token_file: b\n",
        );
        assert!(e.contains("rule_query.bearer_token_file"), "{e}");
        let e = err(
            "rule_query_url: http://q:9090\nrule_query:\n  tls_config:\n    cert_file: c.pem\n",
        );
        assert!(e.contains("rule_query.tls_config"), "{e}");
        let e = err("rule_query_url: http://q:9090\nrule_query:\n  url: http://other:9090\n");
        assert!(e.contains("url"), "{e}");
    }
}
