//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and the status endpoints Grafana asks for.
//!
//! Queries run under a concurrency limit ([`QueryLimits`]), with the engine's sample limit and
//! a timeout, so a pathological query gets an error instead of starving the scrape loops or
//! exhausting memory. A query is evaluated on the blocking pool; its concurrency permit goes
//! with it and is released only when the evaluation has ended. When the client goes away, the
//! request's future is dropped, which sets the engine's cancel flag: the evaluation stops at
//! its next step instead of running to the timeout while holding a permit. (Evaluating in
//! place with `block_in_place` answered small queries a few microseconds sooner, but its
//! request future cannot be dropped while it evaluates, so a disconnect cancelled nothing.)
//! The answer is encoded straight into bytes ([`json`]) on the same thread.

mod histogram_json;
mod json;

use super::api::{labels_json, success, ApiError, ApiErrorKind};
use super::params::{now_ms, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::AppState;
use crate::promql::{
    parse_selector, Engine, EngineOptions, ParseLimits, QueryError, QueryResult, Value,
};
use crate::store::{Labels, Matcher, Querier};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The most points a range query may return per series, as upstream.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Limits on queries; runtime flags, not config.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    /// Samples a query may hold at once (`--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run (`--query.timeout`).
    pub timeout: Duration,
    /// Queries evaluated at once (`--query.max-concurrency`); more wait.
    pub max_concurrency: usize,
    /// The lookback of instant selectors (`--query.lookback-delta`).
    pub lookback_delta: Duration,
    /// Longest and deepest query text (`--query.max-length`, `--query.max-depth`).
    pub parse: ParseLimits,
    /// `--enable-feature`: the engine's switches.
    pub features: crate::features::Features,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_concurrency: 20,
            lookback_delta: Duration::from_secs(300),
            parse: ParseLimits::default(),
            features: crate::features::Features::default(),
        }
    }
}

/// The query side of the server: limits and the permits enforcing concurrency.
pub struct QueryService {
    limits: QueryLimits,
    permits: Arc<Semaphore>,
}

impl QueryService {
    pub fn new(limits: QueryLimits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_concurrency.max(1)));
        QueryService { limits, permits }
    }

    fn engine(&self, timeout: Duration, cancel: Arc<AtomicBool>) -> Engine {
        Engine::new(EngineOptions {
            lookback_delta: self.limits.lookback_delta,
            max_samples: self.limits.max_samples,
            timeout: Some(timeout),
            parse_limits: self.limits.parse,
            cancel: Some(cancel),
            features: self.limits.features,
            ..EngineOptions::default()
        })
    }

    /// The limits and `--enable-feature` switches queries run with.
    pub(crate) fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// The longest a query may run (`--query.timeout`).
    pub(crate) fn max_timeout(&self) -> Duration {
        self.limits.timeout
    }

    /// Concurrency permits free now (for tests and self-metrics).
    pub fn free_permits(&self) -> usize {
        self.permits.available_permits()
    }

    fn timeout(&self, p: &Params) -> Result<Duration, ApiError> {
        let configured = self.limits.timeout;
        Ok(match p.duration_ms("timeout")? {
            Some(ms) if ms > 0 => configured.min(Duration::from_millis(ms as u64)),
            _ => configured,
        })
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
}

fn query_error(e: QueryError) -> ApiError {
    let kind = match e {
        QueryError::Parse(_) => ApiErrorKind::BadData,
        QueryError::Execution(_) | QueryError::TooManySamples => ApiErrorKind::Execution,
        QueryError::Timeout => ApiErrorKind::Timeout,
        QueryError::Canceled => ApiErrorKind::Canceled,
    };
    ApiError {
        kind,
        message: e.to_string(),
    }
}

/// Sets the cancel flag when dropped: when the request's future is dropped (the client went
/// away) before the evaluation finished.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` with an engine of `timeout` on the blocking pool once a query permit is free.
/// The permit is held until the evaluation has ended, and dropping the returned future (the
/// client went away) cancels the evaluation. Every query a user writes goes through here: the
/// API's and the dashboard's `/graph` page.
pub(crate) async fn run_query<T: Send + 'static>(
    s: &AppState,
    timeout: Duration,
    f: impl FnOnce(&Engine, &dyn Querier) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = s
        .query
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError {
            kind: ApiErrorKind::Unavailable,
            message: "query service is shutting down".into(),
        })?;
    let cancel = Arc::new(AtomicBool::new(false));
    let engine = s.query.engine(timeout, cancel.clone());
    let _cancel_on_drop = CancelOnDrop(cancel);
    let store = s.store.clone();
    let run = move || -> Result<T, QueryError> {
        // Held until the evaluation has really ended, even if nobody waits for it any more.
        let _permit = permit;
        f(&engine, store.as_ref())
    };
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| ApiError {
            kind: ApiErrorKind::Internal,
            message: format!("query evaluation failed: {e}"),
        })?
        .map_err(query_error)
}

/// Evaluates `f` as [`run_query`] does and encodes its answer (truncated to `limit`).
async fn evaluate(
    s: &AppState,
    limit: usize,
    timeout: Duration,
    f: impl FnOnce(&Engine, &dyn Querier) -> Result<QueryResult, QueryError> + Send + 'static,
) -> Result<Response, ApiError> {
    let body = run_query(s, timeout, move |engine, q| {
        let r = f(engine, q)?;
        Ok(json::success_body(&r.value, limit, &r.warnings, &r.infos))
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

fn expr_param(p: &Params) -> Result<String, ApiError> {
    p.get("query")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query must not be empty"))
}

async fn query(State(s): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let expr = expr_param(&p)?;
    let t = p.time_or("time", now_ms())?;
    let limit = p.limit()?;
    let timeout = s.query.timeout(&p)?;
    evaluate(&s, limit, timeout, move |engine, q| {
        engine.instant_query(q, &expr, t)
    })
    .await
}

async fn query_range(State(s): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let expr = expr_param(&p)?;
    let start = p.time("start")?;
    let end = p.time("end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = p
        .duration_ms("step")?
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"step\": missing"))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let limit = p.limit()?;
    let timeout = s.query.timeout(&p)?;
    evaluate(&s, limit, timeout, move |engine, q| {
        engine.range_query(q, &expr, start, end, step)
    })
    .await
}

/// `match[]` selectors as matcher groups; each group selects independently.
fn match_groups(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut groups = Vec::new();
    for sel in p.all("match[]") {
        groups.extend(
            parse_selector(sel)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?,
        );
    }
    Ok(groups)
}

fn time_range(p: &Params) -> Result<(i64, i64), ApiError> {
    Ok((
        p.time_or("start", MIN_TIME_MS)?,
        p.time_or("end", MAX_TIME_MS)?,
    ))
}

async fn series(State(s): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let groups = match_groups(&p)?;
    if groups.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start, end) = time_range(&p)?;
    let limit = p.limit()?;
    let mut found: BTreeSet<Labels> = BTreeSet::new();
    for g in &groups {
        found.extend(s.store.series(g, start, end));
    }
    let mut warnings = Vec::new();
    let mut out: Vec<Json> = Vec::with_capacity(found.len());
    for l in found {
        if limit > 0 && out.len() >= limit {
            warnings.push("results truncated due to limit".to_string());
            break;
        }
        out.push(labels_json(&l));
    }
    Ok(success(Json::Array(out), &warnings, &[]))
}

fn limited(values: BTreeSet<String>, limit: usize) -> (Json, Vec<String>) {
    let truncated = limit > 0 && values.len() > limit;
    let v: Vec<String> = if truncated {
        values.into_iter().take(limit).collect()
    } else {
        values.into_iter().collect()
    };
    let warnings = if truncated {
        vec!["results truncated due to limit".to_string()]
    } else {
        Vec::new()
    };
    (json!(v), warnings)
}

async fn labels(State(s): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let groups = match_groups(&p)?;
    let (start, end) = time_range(&p)?;
    let mut names: BTreeSet<String> = BTreeSet::new();
    if groups.is_empty() {
        names.extend(s.store.label_names(&[], start, end));
    }
    for g in &groups {
        names.extend(s.store.label_names(g, start, end));
    }
    let (data, warnings) = limited(names, p.limit()?);
    Ok(success(data, &warnings, &[]))
}

async fn label_values(
    State(s): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &HeaderMap::new(), &Bytes::new());
    // Prometheus 3 reads a `U__` name as escaped with the `values` scheme (`U__a_2e_b` is
    // `a.b`), so clients can ask for any UTF-8 name in the path; one that does not decode
    // is taken as it is.
    let name = if name.starts_with("U__") {
        crate::config::EscapingScheme::Values.unescape(&name)
    } else {
        name
    };
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let groups = match_groups(&p)?;
    let (start, end) = time_range(&p)?;
    let mut values: BTreeSet<String> = BTreeSet::new();
    if groups.is_empty() {
        values.extend(s.store.label_values(&name, &[], start, end));
    }
    for g in &groups {
        values.extend(s.store.label_values(&name, g, start, end));
    }
    let (data, warnings) = limited(values, p.limit()?);
    Ok(success(data, &warnings, &[]))
}

async fn buildinfo() -> Response {
    success(
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
            "application": "redline",
        }),
        &[],
        &[],
    )
}

async fn metadata() -> Response {
    success(json!({}), &[], &[])
}

async fn exemplars() -> Response {
    success(json!([]), &[], &[])
}

/// A sample value as Prometheus' JSON writer (`jsonutil.MarshalFloat`) writes it: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, the shortest decimal that reads back as `v`, when
/// `v` is 0 or 1e-6 <= |v| < 1e21; otherwise the same digits with an exponent (`'e'`:
/// `1e+21`, `1.5e-07`); `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_finite() && needs_exponent(v) {
        crate::gostrconv::format_e(v, None, false)
    } else {
        crate::gostrconv::format_f_shortest(v)
    }
}

/// A scalar result's value as Prometheus writes it (`promql.Scalar.MarshalJSON`): Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)` always, never an exponent (`1e21` is
/// `"1000000000000000000000"`, unlike the same value in a vector); `NaN`, `+Inf`, `-Inf`.
pub fn format_scalar_value(v: f64) -> String {
    crate::gostrconv::format_f_shortest(v)
}

/// Whether Prometheus writes `v` with an exponent (see [`format_value`]).
pub(crate) fn needs_exponent(v: f64) -> bool {
    let a = v.abs();
    a != 0.0 && !(1e-6..1e21).contains(&a)
}

fn point(t: i64, v: f64) -> Json {
    json!([timestamp_json(t), format_value(v)])
}

/// A timestamp in seconds as the JSON number Prometheus writes: an integer for whole
/// seconds (`1435781451`, not `1435781451.0`), else the fraction.
fn timestamp_json(t: i64) -> Json {
    let secs = t as f64 / 1000.0;
    if secs.fract() == 0.0 && secs.abs() < 9e15 {
        json!(secs as i64)
    } else {
        json!(secs)
    }
}

/// The `data` object of a query response; `limit` (if not 0) truncates vectors and matrices.
/// The query endpoints write the same text without building the tree ([`json`]).
pub fn value_json(v: &Value, limit: usize) -> Json {
    let cap = |n: usize| if limit > 0 { n.min(limit) } else { n };
    match v {
        Value::Scalar { t, v } => json!({
            "resultType": "scalar",
            "result": [timestamp_json(*t), format_scalar_value(*v)]
        }),
        Value::String { t, s } => {
            json!({"resultType": "string", "result": [timestamp_json(*t), s]})
        }
        Value::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples[..cap(samples.len())]
                .iter()
                .map(|s| match &s.h {
                    Some(h) => json!({
                        "metric": labels_json(&s.labels),
                        "histogram": [timestamp_json(s.t), histogram_json::histogram_json(h)],
                    }),
                    None => json!({"metric": labels_json(&s.labels), "value": point(s.t, s.v)}),
                })
                .collect::<Vec<_>>(),
        }),
        Value::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series[..cap(series.len())]
                .iter()
                .map(|s| {
                    let mut o = serde_json::Map::new();
                    o.insert("metric".into(), labels_json(&s.labels));
                    if !s.samples.is_empty() || s.histograms.is_empty() {
                        let values = s.samples.iter().map(|p| point(p.t, p.v)).collect();
                        o.insert("values".into(), Json::Array(values));
                    }
                    if !s.histograms.is_empty() {
                        let hs = s
                            .histograms
                            .iter()
                            .map(|p| json!([timestamp_json(p.t), histogram_json::histogram_json(&p.h)]))
                            .collect();
                        o.insert("histograms".into(), Json::Array(hs));
                    }
                    Json::Object(o)
                })
                .collect::<Vec<_>>(),
        }),
    }
}

/// The query service as the router's state holds it.
pub type SharedQueryService = Arc<QueryService>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_formatted_as_prometheus_does() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        // Prometheus' MarshalFloat switches to Go's 'e' format below 1e-6 and from 1e21 on
        // (the text Debian's prometheus writes for `vector(1e21)` is "1e+21").
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(
            format_value(999_999_999_999_999_900_000.0),
            "999999999999999900000"
        );
        assert_eq!(format_value(1e-6), "0.000001");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(-2.5e300), "-2.5e+300");
        assert_eq!(format_value(5e-324), "5e-324");
        assert_eq!(format_value(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        // A scalar result is written by promql.Scalar.MarshalJSON, 'f' format throughout
        // (Debian's prometheus answers `1e21` with "1000000000000000000000").
        assert_eq!(format_scalar_value(1e21), "1000000000000000000000");
        assert_eq!(format_scalar_value(1.5e-7), "0.00000015");
        assert_eq!(format_scalar_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_scalar_value(f64::INFINITY), "+Inf");
    }
}
