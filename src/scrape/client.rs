//! The HTTP client a scrape pool uses: [`crate::httpclient`]'s client with the job's
//! content negotiation and a body read bounded by `body_size_limit`. Credentials read from
//! files are re-read on every scrape, so rotated service-account tokens are picked up without
//! a reload.

use crate::config::{Auth, HttpClientSettings};
use crate::httpclient::{apply_auth, http_client, ClientError};
use crate::scrape::scrape_loop::ScrapeError;
use std::time::Duration;

/// The HTTP client of one scrape pool.
#[derive(Clone)]
pub struct JobClient {
    client: reqwest::Client,
    auth: Option<Auth>,
    /// The job's `Accept` header, from its `scrape_protocols` preference.
    accept: String,
}

impl JobClient {
    /// A client for a job; `accept` is the `Accept` header built from its scrape protocols
    /// ([`crate::config::ScrapeProtocol::accept_header`]).
    pub fn new(settings: &HttpClientSettings, accept: String) -> Result<Self, ClientError> {
        let client = http_client(settings)?;
        Ok(JobClient {
            client,
            auth: settings.auth.clone(),
            accept,
        })
    }

    /// GETs `url` and returns the body and its content type. The body is read chunk by
    /// chunk (decompressed, when the target sends gzip) and the read stops, failing with
    /// [`ScrapeError::BodyTooLarge`], as soon as it reaches `body_limit` (0 = unlimited).
    pub async fn fetch(
        &self,
        url: &str,
        timeout: Duration,
        body_limit: u64,
        size_hint: usize,
    ) -> Result<(Vec<u8>, String), ScrapeError> {
        let mut req = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, &self.accept)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        req = apply_auth(req, self.auth.as_ref()).map_err(ScrapeError::Credentials)?;
        let mut resp = req.send().await.map_err(ScrapeError::Fetch)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ScrapeError::Status(status.to_string()));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = Vec::with_capacity(size_hint.min(64 << 20));
        while let Some(chunk) = resp.chunk().await.map_err(ScrapeError::Fetch)? {
            // As Prometheus (`n >= bodySizeLimit` after an `io.LimitReader` of the limit), a
            // body that reaches the limit fails. The chunks are decoded bytes when the
            // target answers gzip, so the limit bounds the decompressed size.
            if body_limit > 0 && (body.len() + chunk.len()) as u64 >= body_limit {
                return Err(ScrapeError::BodyTooLarge(body_limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, content_type))
    }
}
