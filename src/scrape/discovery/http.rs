//! `http_sd_configs`: target groups served as JSON by an HTTP endpoint, as Prometheus'
//! `discovery/http` fetches them.
//!
//! Every `refresh_interval` (and once at start) [`HttpDiscoverer`] GETs the URL with the
//! entry's HTTP client settings, `Accept: application/json` and
//! `X-Prometheus-Refresh-Interval-Seconds`, with the refresh interval as the request timeout.
//! The answer must be `200` with `Content-Type: application/json` (optionally
//! `; charset=utf-8`) and a JSON list of `{"targets": [...], "labels": {...}}`; each group gets
//! `__meta_url` and the source `<url>:<index>`. A failed refresh (connection, status, content
//! type, JSON) is logged and the previous targets stay, as Prometheus keeps them.

use std::time::Duration;

use tokio::sync::watch;

use super::file::{build_groups, RawGroup};
use super::{BoxFuture, Discoverer};
use crate::config::discovery::{HttpSdConfig, TargetGroup};
use crate::httpclient::{apply_auth, error_chain, http_client};

/// The label naming the URL a group came from.
pub const URL_LABEL: &str = "__meta_url";

/// Why one refresh gave no groups.
#[derive(Debug, thiserror::Error)]
pub enum HttpSdError {
    #[error("building the HTTP client: {0}")]
    Client(#[source] crate::httpclient::ClientError),
    #[error("reading credentials: {0}")]
    Credentials(std::io::Error),
    #[error("{0}")]
    Request(String),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    #[error("decoding the response: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("decoding the response: {0}")]
    Groups(#[from] super::file::GroupsError),
}

/// Prometheus' `^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$`, after trimming.
fn json_content_type(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    let Some(rest) = v.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(params) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        params.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

/// Fetches and decodes the groups once.
pub async fn fetch(
    client: &reqwest::Client,
    cfg: &HttpSdConfig,
) -> Result<Vec<TargetGroup>, HttpSdError> {
    let req = client
        .get(&cfg.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            format_seconds(cfg.refresh_interval),
        )
        .timeout(cfg.refresh_interval);
    let req = apply_auth(req, cfg.http.auth.as_ref())
        .await
        .map_err(HttpSdError::Credentials)?;
    let resp = req
        .send()
        .await
        .map_err(|e| HttpSdError::Request(error_chain(&e)))?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(HttpSdError::Status(status.to_string()));
    }
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !json_content_type(&ctype) {
        return Err(HttpSdError::ContentType(ctype));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| HttpSdError::Request(error_chain(&e)))?;
    let raw: Vec<Option<RawGroup>> = serde_json::from_slice(&body).map_err(HttpSdError::Decode)?;
    Ok(build_groups(raw, &cfg.url, URL_LABEL)?)
}

/// Go's `strconv.FormatFloat(seconds, 'f', -1, 64)`: `60`, `0.5`.
fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// Runs one entry, publishing its groups on `tx` until `tx` has no receiver.
pub async fn run_http_sd(cfg: HttpSdConfig, tx: watch::Sender<Vec<TargetGroup>>) {
    crate::install_crypto_provider();
    let client = http_client(&cfg.http);
    let mut first = true;
    loop {
        let result = match &client {
            Ok(c) => fetch(c, &cfg).await,
            Err(e) => Err(HttpSdError::Client(e.clone())),
        };
        match result {
            Ok(groups) => {
                if first || *tx.borrow() != groups {
                    tx.send_replace(groups);
                }
                first = false;
            }
            Err(e) => super::metrics::HttpSdFailed {
                url: &cfg.url,
                error: &e,
            }
            .emit(),
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(cfg.refresh_interval) => {}
        }
    }
}

/// [`run_http_sd`] as a [`Discoverer`].
pub struct HttpDiscoverer {
    cfg: HttpSdConfig,
}

impl HttpDiscoverer {
    pub fn new(cfg: HttpSdConfig) -> HttpDiscoverer {
        HttpDiscoverer { cfg }
    }
}

impl Discoverer for HttpDiscoverer {
    fn name(&self) -> &'static str {
        "http"
    }

    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture {
        Box::pin(run_http_sd(self.cfg, updates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_matched_like_prometheus() {
        for ok in [
            "application/json",
            "Application/JSON",
            " application/json; charset=utf-8 ",
            "application/json;charset=\"utf-8\"",
        ] {
            assert!(json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
        ] {
            assert!(!json_content_type(bad), "{bad}");
        }
        assert_eq!(format_seconds(Duration::from_secs(60)), "60");
        assert_eq!(format_seconds(Duration::from_millis(1500)), "1.5");
    }
}
