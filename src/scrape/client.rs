//! The HTTP client a scrape pool uses: [`crate::httpclient`]'s client with the job's
//! content negotiation and a body read bounded by `body_size_limit`. Credentials read from
//! files are re-read on every scrape, so rotated service-account tokens are picked up without
//! a reload.
//!
//! Content negotiation is Prometheus 3's: the `Accept` header from `scrape_protocols` and
//! `metric_name_escaping_scheme`, `Accept-Encoding: gzip` (or `identity` with
//! `enable_compression: false`), and a response format read from its `Content-Type` (text,
//! OpenMetrics or `application/vnd.google.protobuf`), where a
//! missing, unparsable or unknown one fails the scrape unless the job names a
//! `fallback_scrape_protocol`.

use crate::config::{Auth, HttpClientSettings, ScrapeProtocol};
use crate::exposition::Format;
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
    /// `Accept-Encoding`: `gzip`, or `identity` with `enable_compression: false`.
    accept_encoding: &'static str,
    /// `fallback_scrape_protocol`.
    fallback: Option<ScrapeProtocol>,
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
            accept_encoding: "gzip",
            fallback: None,
        })
    }

    /// The job's `enable_compression` and `fallback_scrape_protocol`.
    pub fn negotiating(mut self, compression: bool, fallback: Option<ScrapeProtocol>) -> Self {
        self.accept_encoding = if compression { "gzip" } else { "identity" };
        self.fallback = fallback;
        self
    }

    /// The format of a response with this `Content-Type`, as Prometheus 3 decides it: the
    /// media type's, or the fallback protocol's when the header is missing, unparsable or
    /// names an unknown type; without a fallback those fail the scrape.
    pub fn format(&self, content_type: &str) -> Result<Format, ScrapeError> {
        let fallback = self.fallback.map(|p| match p {
            ScrapeProtocol::OpenMetricsText1_0_0 | ScrapeProtocol::OpenMetricsText0_0_1 => {
                Format::OpenMetrics
            }
            ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::PrometheusText0_0_4 => {
                Format::PrometheusText
            }
            ScrapeProtocol::PrometheusProto => Format::Protobuf,
        });
        let fail = |message: String| match fallback {
            Some(f) => Ok(f),
            None => Err(ScrapeError::ContentType(message)),
        };
        if content_type.is_empty() {
            return fail("non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into());
        }
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
        };
        let valid = media
            .split_once('/')
            .is_some_and(|(t, sub)| token(t) && token(sub));
        if !valid {
            return fail(format!(
                "cannot parse Content-Type {content_type:?} and no fallback_scrape_protocol for target"
            ));
        }
        match media.as_str() {
            "application/openmetrics-text" => Ok(Format::OpenMetrics),
            "text/plain" => Ok(Format::PrometheusText),
            crate::exposition::PROTOBUF_MEDIA_TYPE => Ok(Format::Protobuf),
            _ => fail(format!("received unsupported Content-Type {content_type:?} and no fallback_scrape_protocol specified for target")),
        }
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
            .header(reqwest::header::ACCEPT_ENCODING, self.accept_encoding)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        req = apply_auth(req, self.auth.as_ref())
            .await
            .map_err(ScrapeError::Credentials)?;
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
