//! Range queries on the remote query API: `POST <url>/api/v1/query_range` (form fields
//! `query`, `start`, `end`, `step`, `timeout`) read into one `(t_ms, value)` list per series.
//! The SLO back-fill reads a new SLO's past events this way when `rule_query_url` is set.

use super::{api_data, parse_value, RemoteQuerier, RemoteQueryError, RuleQueryError};
use crate::store::Labels;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One series of a range query's matrix; float samples only, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

#[derive(Deserialize)]
struct ApiMatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(serde_json::Value, String)>,
}

/// A sample time as the API prints it: seconds since the epoch, a JSON number.
fn time_ms(v: &serde_json::Value) -> Result<i64, String> {
    v.as_f64()
        .filter(|t| t.is_finite())
        .map(|t| (t * 1000.0).round() as i64)
        .ok_or_else(|| format!("sample time {v} is not a number"))
}

/// Reads the answer of `/api/v1/query_range`: a `matrix` (native histogram samples, the
/// `histograms` field, are skipped: no SLI reads them as floats).
pub fn parse_range_response(status: u16, body: &[u8]) -> Result<Vec<RangeSeries>, String> {
    let (data, _warnings) = api_data(status, body)?;
    if data.result_type != "matrix" {
        return Err(format!(
            "range query result is not a matrix (got {})",
            data.result_type
        ));
    }
    let raw: Vec<ApiMatrixSeries> = serde_json::from_value(data.result)
        .map_err(|e| format!("matrix result does not parse: {e}"))?;
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let mut samples = Vec::with_capacity(s.values.len());
        for (t, v) in &s.values {
            samples.push((time_ms(t)?, parse_value(v)?));
        }
        out.push(RangeSeries {
            labels: Labels::from_pairs(s.metric),
            samples,
        });
    }
    Ok(out)
}

impl RemoteQuerier {
    /// `<rule_query_url>/api/v1/query_range`.
    pub fn range_endpoint(&self) -> String {
        format!("{}/api/v1/query_range", self.config.url)
    }

    /// Runs `query` from `start_ms` to `end_ms` every `step` on the remote API.
    pub async fn query_range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step: Duration,
        timeout: Duration,
    ) -> Result<Vec<RangeSeries>, RuleQueryError> {
        let endpoint = self.range_endpoint();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .append_pair("start", &super::format_time(start_ms))
            .append_pair("end", &super::format_time(end_ms))
            .append_pair("step", &format!("{}", step.as_secs_f64()))
            .append_pair("timeout", &format!("{}", timeout.as_secs_f64()))
            .finish();
        let fail = |reason: RemoteQueryError| RuleQueryError::Remote {
            endpoint: endpoint.clone(),
            reason,
        };
        let (status, body) = self
            .post_form(&endpoint, form, timeout)
            .await
            .map_err(fail)?;
        parse_range_response(status, &body).map_err(|m| fail(RemoteQueryError::Response(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_with_go_floats_reads_per_series() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"job":"a"},"values":[[1700000060,"1.5"],[1700000120.5,"NaN"]]},
            {"metric":{},"values":[[1700000060,"+Inf"]]}]}}"#;
        let got = parse_range_response(200, body).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels, Labels::from_pairs([("job", "a")]));
        assert_eq!(got[0].samples[0], (1_700_000_060_000, 1.5));
        assert_eq!(got[0].samples[1].0, 1_700_000_120_500);
        assert!(got[0].samples[1].1.is_nan());
        assert_eq!(got[1].samples, vec![(1_700_000_060_000, f64::INFINITY)]);
    }

    #[test]
    fn vector_and_error_answers_are_refused() {
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_range_response(200, v)
            .unwrap_err()
            .contains("not a matrix (got vector)"));
        let e = br#"{"status":"error","errorType":"bad_data","error":"invalid step"}"#;
        assert_eq!(
            parse_range_response(400, e).unwrap_err(),
            "HTTP status 400: bad_data: invalid step"
        );
    }
}
