//! Request parameters of the Prometheus API: the query string merged with a POSTed form,
//! repeated keys (`match[]`), and Prometheus' notations for times and durations. A handler
//! takes [`Params`] as its last argument (it reads the body).

use super::api::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

/// All parameters of a request, in order, from the URL and (for form POSTs) the body.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses the query string and, when the body is a URL-encoded form, the body too.
    pub fn parse(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Params {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(v)
    }

    /// The first value of `key`, if given and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key such as `match[]`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required time parameter.
    pub fn time(&self, key: &str) -> Result<i64, ApiError> {
        let v = self
            .get(key)
            .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{key}\": missing")))?;
        parse_time(v).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}")))
    }

    /// An optional time parameter with a default.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.time(key),
        }
    }

    /// An optional duration parameter, in milliseconds.
    pub fn duration_ms(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| {
                parse_duration_ms(v)
                    .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}")))
            })
            .transpose()
    }

    /// An optional non-negative integer parameter (`limit`).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(0),
            Some(v) => v.parse::<usize>().map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter \"limit\": cannot parse \"{v}\" to a valid limit"
                ))
            }),
        }
    }
}

/// The earliest and latest times Prometheus accepts, used when `start`/`end` are absent.
pub const MIN_TIME_MS: i64 = i64::MIN / 2;
pub const MAX_TIME_MS: i64 = i64::MAX / 2;

pub use crate::timefmt::now_ms;

/// A time or duration parameter that does not parse; the texts are Prometheus' API's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("cannot parse {0:?} to a valid timestamp")]
    Timestamp(String),
    #[error("cannot parse {0:?} to a valid duration")]
    Duration(String),
}

/// A time as Prometheus' API takes it: Unix seconds with an optional fraction, or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, ParamError> {
    crate::timefmt::parse_unix_or_rfc3339(s).ok_or_else(|| ParamError::Timestamp(s.to_string()))
}

/// A duration as Prometheus' API takes it: seconds (float) or a duration string (`1m30s`).
pub fn parse_duration_ms(s: &str) -> Result<i64, ParamError> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs.abs() * 1000.0 > i64::MAX as f64 {
            return Err(ParamError::Duration(s.to_string()));
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    promql_parser::util::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| ParamError::Duration(s.to_string()))
}

/// The parameters of an API request, from its query string and form body.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_string);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Params::parse(query.as_deref(), &headers, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_notations() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations_in_both_notations() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert!(parse_duration_ms("fast").is_err());
    }
}
