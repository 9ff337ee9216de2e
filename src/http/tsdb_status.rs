//! `GET /api/v1/status/tsdb`: the store's cardinality figures in Prometheus' shape.
//!
//! The answer is Prometheus 3's: `headStats` (`numSeries`, `numLabelPairs`, `chunkCount`,
//! `minTime`, `maxTime`) and four top lists of `{name, value}` (`seriesCountByMetricName`,
//! `labelValueCountByLabelName`, `memoryInBytesByLabelName`,
//! `seriesCountByLabelValuePair`), each cut to `limit` entries (default 10; anything but a
//! whole number of at least 1 is `bad_data`: "limit must be a positive number"). redline
//! keeps every sample in memory, so its head is the whole store: `minTime` and `maxTime` are
//! the oldest and newest sample held (`i64::MAX` and `i64::MIN` when there is none, as an
//! empty Prometheus head). The figures are computed by
//! [`Store::cardinality`](crate::store::Store::cardinality) on the blocking pool at every
//! call, one call at a time; Prometheus caches its lists for 30 seconds.

use super::api::{ApiError, ApiErrorKind};
use super::AppState;
use crate::store::{Cardinality, CardinalityStat, Store};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;

/// Entries per list when the request names no `limit`, as Prometheus.
const DEFAULT_LIMIT: usize = 10;

/// One computation at a time: each copies the postings' pairs and ids (16 bytes a pair, 8 a
/// series), so concurrent callers wait their turn instead of multiplying that.
static COMPUTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/status/tsdb", get(tsdb_status))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

#[derive(Serialize)]
struct Stat<'a> {
    name: &'a str,
    value: u64,
}

/// The success envelope, fields in Prometheus' order.
#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    data: TsdbStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus<'a> {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat<'a>>,
    label_value_count_by_label_name: Vec<Stat<'a>>,
    memory_in_bytes_by_label_name: Vec<Stat<'a>>,
    series_count_by_label_value_pair: Vec<Stat<'a>>,
}

fn list(stats: &[CardinalityStat]) -> Vec<Stat<'_>> {
    stats
        .iter()
        .map(|s| Stat {
            name: &s.name,
            value: s.value,
        })
        .collect()
}

/// The `limit` parameter as Prometheus reads it: the first `limit` of the query string; empty
/// or absent means the default; otherwise a decimal integer (optional sign) of at least 1.
fn parse_limit(query: Option<&str>) -> Result<usize, ApiError> {
    let first = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.into_owned());
    match first.as_deref() {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(ApiError::bad_data("limit must be a positive number")),
        },
    }
}

fn status(c: &Cardinality) -> TsdbStatus<'_> {
    TsdbStatus {
        head_stats: HeadStats {
            num_series: c.num_series,
            num_label_pairs: c.num_label_pairs,
            chunk_count: c.chunk_count,
            min_time: c.min_time,
            max_time: c.max_time,
        },
        series_count_by_metric_name: list(&c.series_count_by_metric_name),
        label_value_count_by_label_name: list(&c.label_value_count_by_label_name),
        memory_in_bytes_by_label_name: list(&c.memory_in_bytes_by_label_name),
        series_count_by_label_value_pair: list(&c.series_count_by_label_value_pair),
    }
}

/// Computes the figures on the blocking pool once it is this call's turn.
async fn figures(store: Arc<Store>, limit: usize) -> Result<Cardinality, ApiError> {
    let turn = COMPUTING.acquire().await.map_err(|_| ApiError {
        kind: ApiErrorKind::Unavailable,
        message: "the TSDB status is not available".into(),
    })?;
    // The turn ends with the computation, even when the client has gone away.
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        store.cardinality(limit)
    })
    .await
    .map_err(|e| ApiError {
        kind: ApiErrorKind::Internal,
        message: format!("computing the TSDB status failed: {e}"),
    })
}

async fn tsdb_status(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let limit = parse_limit(q.as_deref())?;
    let figures = figures(s.store.clone(), limit).await?;
    Ok(Json(Envelope {
        status: "success",
        data: status(&figures),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_read_as_prometheus_reads_it() {
        assert_eq!(parse_limit(None).unwrap(), 10);
        assert_eq!(parse_limit(Some("limit=")).unwrap(), 10);
        assert_eq!(parse_limit(Some("limit=3")).unwrap(), 3);
        assert_eq!(parse_limit(Some("limit=%2B7")).unwrap(), 7);
        // The first value counts, as Go's FormValue.
        assert_eq!(parse_limit(Some("limit=&limit=5")).unwrap(), 10);
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999", "%201"] {
            let e = parse_limit(Some(&format!("limit={bad}"))).unwrap_err();
            assert_eq!(e.kind, ApiErrorKind::BadData, "{bad}");
            assert_eq!(e.message, "limit must be a positive number", "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_computation_at_a_time() {
        let store = Arc::new(Store::new());
        let held = COMPUTING.acquire().await.expect("the turn");
        let mut waiting = tokio::spawn(figures(store, 10));
        // While another computation has the turn, this one waits...
        let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut waiting);
        assert!(early.await.is_err(), "computed while another had the turn");
        // ...and runs once the turn is free.
        drop(held);
        let done = tokio::time::timeout(std::time::Duration::from_secs(30), waiting)
            .await
            .expect("computed once the turn was free")
            .expect("the task ends")
            .expect("figures");
        assert_eq!(done.num_series, 0);
    }
}
