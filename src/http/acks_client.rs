//! `redline ack`: acknowledgements from the command line, over a running redline's
//! `/api/v1/acks` (as `amtool silence` works over Alertmanager's API).
//!
//! - `redline ack add --url URL [--comment C] [--author A] [--duration 2h] label=value...`:
//!   acknowledges the firing groups in which an alert matching every matcher fires; prints
//!   the new acknowledgements' ids, one a line. A first argument without an operator is the
//!   alert name, as amtool reads it (`redline ack add HighLatency` is
//!   `alertname="HighLatency"`).
//! - `redline ack query --url URL`: a table of the acknowledgements.
//! - `redline ack expire --url URL ID...`: ends them now.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AckClientError {
    #[error("{0}")]
    Usage(String),
    #[error("calling {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server refused: its `error` text.
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: the answer is not the API's JSON: {message}")]
    Decode { url: String, message: String },
}

/// The matcher texts of `amtool`-style arguments: `name=value`, `name!=value`,
/// `name=~regex`, `name!~regex` (values quoted or not); a first argument without an operator
/// is `alertname="<arg>"`. Each is checked here, so a typo fails before any call.
pub fn matcher_args(args: &[String]) -> Result<Vec<String>, AckClientError> {
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let text = if i == 0 && !a.contains(['=', '!', '~']) {
            format!("alertname={}", crate::gostrconv::quote(a))
        } else {
            a.clone()
        };
        crate::config::alertmanager::matchers::parse_matcher(&text)
            .map_err(|e| AckClientError::Usage(format!("matcher {a:?}: {e}")))?;
        out.push(text);
    }
    if out.is_empty() {
        return Err(AckClientError::Usage(
            "at least one matcher is required, e.g. alertname=HighLatency".into(),
        ));
    }
    Ok(out)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .build()
        .unwrap_or_default()
}

fn endpoint(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Sends a request and returns the envelope's `data`.
async fn call(url: String, req: reqwest::RequestBuilder) -> Result<Value, AckClientError> {
    let resp = req.send().await.map_err(|source| AckClientError::Request {
        url: url.clone(),
        source,
    })?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|source| AckClientError::Request {
            url: url.clone(),
            source,
        })?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| AckClientError::Decode {
        url: url.clone(),
        message: format!("{e}: {}", String::from_utf8_lossy(&body)),
    })?;
    if v["status"] != "success" {
        return Err(AckClientError::Refused {
            url,
            status,
            message: v["error"]
                .as_str()
                .unwrap_or("no error message")
                .to_string(),
        });
    }
    Ok(v["data"].clone())
}

/// `ack add`: returns the new acknowledgements' ids.
pub async fn add(
    base: &str,
    matchers: Vec<String>,
    author: &str,
    comment: &str,
    duration: &str,
) -> Result<Vec<String>, AckClientError> {
    crate::timefmt::parse_duration(duration)
        .map_err(|e| AckClientError::Usage(format!("--duration: {e}")))?;
    let url = endpoint(base, "/api/v1/acks");
    let body = json!({
        "matchers": matchers,
        "createdBy": author,
        "comment": comment,
        "duration": duration,
    });
    let req = client()
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    let data = call(url.clone(), req).await?;
    Ok(data
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|a| a["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// `ack query`: the acknowledgements as a table, newest first.
pub async fn query(base: &str) -> Result<String, AckClientError> {
    let url = endpoint(base, "/api/v1/acks");
    let data = call(url.clone(), client().get(&url)).await?;
    let rows: Vec<[String; 6]> = data
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or("").to_string();
            let state = match a["endedBy"].as_str() {
                Some(by) => format!("{} ({by})", s("state")),
                None => s("state"),
            };
            [
                s("id"),
                s("endsAt"),
                s("createdBy"),
                state,
                s("groupKey"),
                s("comment"),
            ]
        })
        .collect();
    let head = ["ID", "Ends At", "Created By", "State", "Group", "Comment"];
    let mut widths = head.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    Ok(out)
}

/// `ack expire`: ends the acknowledgement `id` now.
pub async fn expire(base: &str, id: &str) -> Result<(), AckClientError> {
    let path: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let url = endpoint(base, &format!("/api/v1/acks/{path}"));
    call(url.clone(), client().delete(&url)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amtool_style_arguments() {
        let args: Vec<String> = ["HighLatency", "job=api", r#"instance=~"a.+""#]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            matcher_args(&args).unwrap(),
            [
                r#"alertname="HighLatency""#,
                "job=api",
                r#"instance=~"a.+""#
            ]
        );
        let bad = matcher_args(&["job=~(".to_string()]).unwrap_err();
        assert!(bad.to_string().starts_with("matcher \"job=~(\""), "{bad}");
        assert!(matcher_args(&[]).is_err());
    }
}
