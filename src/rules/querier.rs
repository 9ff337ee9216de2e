//! Where a rule group's expressions run: redline's own PromQL engine over the local store, or
//! a remote Prometheus-compatible query API (`rule_query_url`, like Thanos Ruler's `--query`).
//!
//! [`RuleQuerier`] is what [`super::group::GroupState::eval`] calls for every rule and for the
//! `query` template function. [`RemoteQuerier`] is the remote side: it `POST`s
//! `<url>/api/v1/query` (form fields `query`, `time` in seconds with millisecond precision,
//! `timeout`) and reads Prometheus' JSON answer with [`parse_query_response`]. A vector or a
//! scalar is a result, as in Prometheus' rule manager; a matrix or a string is an error, as
//! are a refused connection, a timeout, a non-2xx status and `"status":"error"`. Every error
//! names the endpoint, so `/api/v1/rules` shows which API failed and why.
//!
//! Group evaluation runs on tokio's blocking pool: the HTTP request is spawned onto the
//! runtime whose [`tokio::runtime::Handle`] the querier was built in, and the evaluating
//! thread waits for its answer (bounded by the query timeout).

use crate::config::rule_query::RuleQueryConfig;
use crate::config::Auth;
use crate::gotemplate::QuerySample;
use crate::httpclient::ClientError;
use crate::promql::{Engine, Expr, QueryError, Value};
use crate::store::{Labels, Store};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The message Prometheus' rule manager gives for a result that is neither a vector nor a
/// scalar.
const NOT_VECTOR_OR_SCALAR: &str = "rule result is not a vector or scalar";

/// Why a rule's query failed; the text is the rule's `lastError`.
#[derive(Debug, thiserror::Error)]
pub enum RuleQueryError {
    /// The local engine failed (parse, evaluation, limits).
    #[error(transparent)]
    Local(#[from] QueryError),
    /// The result is a matrix or a string.
    #[error("rule result is not a vector or scalar")]
    NotVectorOrScalar,
    /// The remote query API failed; the text names the endpoint.
    #[error("remote query {endpoint}: {reason}")]
    Remote {
        endpoint: String,
        #[source]
        reason: RemoteQueryError,
    },
}

/// Why a query to the remote API failed (without the endpoint; [`RuleQueryError::Remote`]
/// adds it).
#[derive(Debug, thiserror::Error)]
pub enum RemoteQueryError {
    /// The HTTP client could not be built from the `rule_query` settings.
    #[error("rule_query: {0}")]
    Client(#[source] Arc<ClientError>),
    #[error("reading credentials: {0}")]
    Credentials(#[source] std::io::Error),
    #[error("timed out after {}", crate::timefmt::format_duration(*.0))]
    Timeout(Duration),
    /// The request failed (connect, TLS, reading the answer); the text is the error with its
    /// causes on one line, without the URL.
    #[error("{}", crate::httpclient::error_chain(.0))]
    Request(#[source] reqwest::Error),
    /// The answer is not a usable query result ([`parse_query_response`]'s message).
    #[error("{0}")]
    Response(String),
    #[error("no async runtime to send the request on")]
    NoRuntime,
}

/// Runs a rule's expression at a timestamp, locally or remotely.
#[derive(Clone, Copy)]
pub enum RuleQuerier<'a> {
    /// redline's engine over the local store.
    Local {
        engine: &'a Engine,
        store: &'a Store,
    },
    /// A remote query API, with the timeout for this group's queries.
    Remote {
        querier: &'a RemoteQuerier,
        timeout: Duration,
    },
}

impl RuleQuerier<'_> {
    /// Runs `expr` (whose text is `text`) at `t_ms`: an instant vector, or a scalar as one
    /// sample without labels (upstream `EngineQueryFunc`).
    pub fn query(
        &self,
        expr: &Expr,
        text: &str,
        t_ms: i64,
    ) -> Result<Vec<QuerySample>, RuleQueryError> {
        match self {
            RuleQuerier::Local { engine, store } => local_query(engine, store, expr, t_ms),
            RuleQuerier::Remote { querier, timeout } => {
                querier.query_blocking(text, t_ms, *timeout)
            }
        }
    }

    /// Runs the query text `q` at `t_ms` (the `query` template function).
    pub fn query_text(&self, q: &str, t_ms: i64) -> Result<Vec<QuerySample>, RuleQueryError> {
        match self {
            RuleQuerier::Local { engine, store } => {
                let expr = Engine::parse(q)?;
                local_query(engine, store, &expr, t_ms)
            }
            RuleQuerier::Remote { querier, timeout } => querier.query_blocking(q, t_ms, *timeout),
        }
    }
}

/// Runs `expr` at `t_ms` with the local engine as a rule query.
pub(crate) fn local_query(
    engine: &Engine,
    store: &Store,
    expr: &Expr,
    t_ms: i64,
) -> Result<Vec<QuerySample>, RuleQueryError> {
    let res = engine.instant_query_expr(store, expr, t_ms)?;
    match res.value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| QuerySample {
                labels: s.labels,
                value: if s.h.is_some() { 0.0 } else { s.v },
                histogram: s.h,
            })
            .collect()),
        Value::Scalar { v, .. } => Ok(vec![QuerySample {
            labels: Labels::empty(),
            value: v,
            histogram: None,
        }]),
        _ => Err(RuleQueryError::NotVectorOrScalar),
    }
}

/// A successful answer of the query API.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResponse {
    /// The vector's samples, or the scalar as one sample without labels.
    pub samples: Vec<QuerySample>,
    /// The API's `warnings` (the result is used; they are logged).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct ApiBody {
    status: String,
    data: Option<ApiData>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct ApiData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct ApiVectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Option<(serde_json::Value, String)>,
    histogram: Option<serde_json::Value>,
}

/// A sample value as the API prints it: a Go float (`"1.5"`, `"1e+06"`, `"NaN"`, `"+Inf"`,
/// `"-Inf"`).
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|_| format!("sample value {s:?} is not a number")),
    }
}

/// A short, single-line excerpt of a body for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// The `data` and `warnings` of a successful answer of the query API, or what was wrong.
fn api_data(status: u16, body: &[u8]) -> Result<(ApiData, Vec<String>), String> {
    let parsed: Result<ApiBody, _> = serde_json::from_slice(body);
    let api = match parsed {
        Ok(api) => api,
        Err(e) if (200..300).contains(&status) => {
            return Err(format!(
                "response is not the query API's JSON ({e}): {}",
                excerpt(body)
            ))
        }
        Err(_) => return Err(format!("HTTP status {status}: {}", excerpt(body))),
    };
    if api.status != "success" {
        let kind = api.error_type.as_deref().unwrap_or("error");
        let msg = api.error.as_deref().unwrap_or("no error message");
        return Err(if (200..300).contains(&status) {
            format!("{kind}: {msg}")
        } else {
            format!("HTTP status {status}: {kind}: {msg}")
        });
    }
    if !(200..300).contains(&status) {
        return Err(format!("HTTP status {status}: {}", excerpt(body)));
    }
    let data = api
        .data
        .ok_or_else(|| "a successful response without \"data\"".to_string())?;
    Ok((data, api.warnings))
}

/// Reads the answer of `/api/v1/query`: HTTP `status` and `body`. Errors say what was wrong
/// (without the endpoint; [`RemoteQuerier`] adds it).
pub fn parse_query_response(status: u16, body: &[u8]) -> Result<QueryResponse, String> {
    let (data, warnings) = api_data(status, body)?;
    let samples = match data.result_type.as_str() {
        "vector" => {
            let raw: Vec<ApiVectorSample> = serde_json::from_value(data.result)
                .map_err(|e| format!("vector result does not parse: {e}"))?;
            let mut out = Vec::with_capacity(raw.len());
            for s in raw {
                let value = match (s.value, s.histogram) {
                    (Some((_, v)), _) => parse_value(&v)?,
                    (None, Some(_)) => {
                        return Err("native histogram samples are not supported in rule results"
                            .to_string())
                    }
                    (None, None) => return Err("vector sample without a value".to_string()),
                };
                out.push(QuerySample {
                    labels: Labels::from_pairs(s.metric),
                    value,
                    histogram: None,
                });
            }
            out
        }
        "scalar" => {
            let (_, v): (serde_json::Value, String) = serde_json::from_value(data.result)
                .map_err(|e| format!("scalar result does not parse: {e}"))?;
            vec![QuerySample {
                labels: Labels::empty(),
                value: parse_value(&v)?,
                histogram: None,
            }]
        }
        other => return Err(format!("{NOT_VECTOR_OR_SCALAR} (got {other})")),
    };
    Ok(QueryResponse { samples, warnings })
}

/// The `time` form field: seconds since the epoch with millisecond precision.
pub fn format_time(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let abs = t_ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// A client of one remote query API. Clones share the connection pool.
#[derive(Clone)]
pub struct RemoteQuerier {
    endpoint: String,
    /// The client, or why it could not be built (every query then fails with it).
    client: Result<reqwest::Client, Arc<ClientError>>,
    auth: Option<Auth>,
    config: RuleQueryConfig,
    runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RemoteQuerier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteQuerier")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.config.timeout)
            .finish_non_exhaustive()
    }
}

impl RemoteQuerier {
    /// A querier for `config`. Call it within the tokio runtime that should carry the
    /// requests. A client that cannot be built (an unreadable `tls_config` file) is logged and
    /// makes every evaluation fail with that reason, so `/api/v1/rules` shows it.
    pub fn new(config: &RuleQueryConfig) -> Self {
        let endpoint = config.query_endpoint();
        crate::install_crypto_provider();
        let client = crate::httpclient::http_client(&config.http).map_err(Arc::new);
        if let Err(e) = &client {
            tracing::error!(url = %endpoint, error = %format!("rule_query: {e}"), "building the rule query client; rules will fail until the config is fixed");
        }
        RemoteQuerier {
            endpoint,
            client,
            auth: config.http.auth.clone(),
            config: config.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// `<rule_query_url>/api/v1/query`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The query timeout for a group evaluated every `interval`.
    pub fn timeout_for(&self, interval: Duration) -> Duration {
        self.config.timeout_for(interval)
    }

    /// Runs `query` at `t_ms` on the remote API. Errors name the endpoint and the reason.
    pub async fn query(
        &self,
        query: &str,
        t_ms: i64,
        timeout: Duration,
    ) -> Result<QueryResponse, RuleQueryError> {
        self.query_inner(query, t_ms, timeout)
            .await
            .map_err(|reason| RuleQueryError::Remote {
                endpoint: self.endpoint.clone(),
                reason,
            })
    }

    async fn query_inner(
        &self,
        query: &str,
        t_ms: i64,
        timeout: Duration,
    ) -> Result<QueryResponse, RemoteQueryError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .append_pair("time", &format_time(t_ms))
            .append_pair("timeout", &format!("{}", timeout.as_secs_f64()))
            .finish();
        let (status, body) = self.post_form(&self.endpoint, form, timeout).await?;
        parse_query_response(status, &body).map_err(RemoteQueryError::Response)
    }

    /// POSTs `form` to `url` with the querier's client and credentials; the status and body.
    async fn post_form(
        &self,
        url: &str,
        form: String,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), RemoteQueryError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| RemoteQueryError::Client(e.clone()))?;
        let req = client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .body(form);
        let req = crate::httpclient::apply_auth(req, self.auth.as_ref())
            .await
            .map_err(RemoteQueryError::Credentials)?;
        let describe = |e: reqwest::Error| {
            if e.is_timeout() {
                RemoteQueryError::Timeout(timeout)
            } else {
                RemoteQueryError::Request(e.without_url())
            }
        };
        let resp = req.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(describe)?;
        Ok((status, body.to_vec()))
    }

    /// [`Self::query`] from a thread outside the runtime (the blocking pool the groups
    /// evaluate on): the request runs on the runtime and this thread waits for the samples.
    /// Warnings are logged.
    pub fn query_blocking(
        &self,
        query: &str,
        t_ms: i64,
        timeout: Duration,
    ) -> Result<Vec<QuerySample>, RuleQueryError> {
        let fail = |reason: RemoteQueryError| RuleQueryError::Remote {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let runtime = match &self.runtime {
            Some(h) => h.clone(),
            None => match tokio::runtime::Handle::try_current() {
                Ok(h) => h,
                Err(_) => return Err(fail(RemoteQueryError::NoRuntime)),
            },
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let this = self.clone();
        let q = query.to_string();
        runtime.spawn(async move {
            let _ = tx.send(this.query(&q, t_ms, timeout).await);
        });
        // The request carries its own timeout; the margin covers scheduling only.
        match rx.recv_timeout(timeout + Duration::from_secs(5)) {
            Ok(Ok(resp)) => {
                for w in &resp.warnings {
                    tracing::warn!(url = %self.endpoint, query, warning = %w, "remote query warning");
                }
                Ok(resp.samples)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(fail(RemoteQueryError::Timeout(timeout))),
        }
    }
}

pub mod range;

#[cfg(test)]
mod tests;
