//! The input side of a promtool test file: series descriptions (`parser.ParseMetric`) and
//! promqltest's expanding value notation (`1+2x3`, `_`, `stale`, native histograms `{{…}}`),
//! as promtool hands `input_series` to promqltest's loader and reads `exp_samples`.

use crate::histogram::FloatHistogram;
use crate::promql::series_notation::{combine_histograms, expand_histogram, HistogramDesc};
use crate::promql::Engine;
use crate::store::{Labels, METRIC_NAME};

/// Parses a series/labels string as `parser.ParseMetric` does (`name{a="b"}`, `{a="b"}`).
pub(super) fn parse_metric(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    if s.is_empty() || s == "{}" {
        return Ok(Labels::empty());
    }
    match Engine::parse(s).map_err(|e| e.to_string())? {
        crate::promql::Expr::VectorSelector(vs) => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            if let Some(n) = &vs.name {
                pairs.push((METRIC_NAME.to_string(), n.clone()));
            }
            for m in &vs.matchers.matchers {
                if m.op != promql_parser::label::MatchOp::Equal {
                    return Err(format!(
                        "{s}: only equality matchers are allowed in a metric"
                    ));
                }
                pairs.push((m.name.clone(), m.value.clone()));
            }
            Ok(Labels::from_pairs(pairs))
        }
        _ => Err(format!("{s}: not a series description")),
    }
}

#[derive(Clone)]
pub(super) enum Seq {
    Value(f64),
    Histogram(Box<FloatHistogram>),
    Omitted,
    Stale,
}

fn parse_num(s: &str) -> Result<f64, String> {
    crate::gostrconv::parse_float(s).map_err(|_| format!("invalid number {s:?}"))
}

/// Expands a `values` string of promqltest's series notation: float tokens
/// ([`expand_values`]) and native histograms (`{{…}}`, `{{…}}xN`, `{{…}}+{{…}}xN`), in any
/// mix, as promtool hands the string to promqltest's loader.
pub(super) fn expand_series_values(text: &str) -> Result<Vec<Seq>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        if rest.starts_with("{{") {
            let mut hs: Vec<HistogramDesc> = Vec::new();
            rest = expand_histogram(rest, &combine_histograms, &mut hs)?;
            out.extend(hs.into_iter().map(|d| Seq::Histogram(Box::new(d.h))));
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.extend(expand_values(&rest[..end])?);
        rest = &rest[end..];
    }
}

/// The histogram of an expected sample's `histogram:` string, which must be exactly one
/// native histogram (promtool's errors otherwise).
pub(super) fn expected_histogram(text: &str) -> Result<FloatHistogram, String> {
    let mut values = expand_series_values(text)?;
    if values.len() != 1 {
        return Err(format!("expected 1 value, got {}", values.len()));
    }
    // The value as upstream's `SequenceValue.String()` prints it (`%f`, `_`).
    let got = match values.pop() {
        Some(Seq::Histogram(h)) => return Ok(*h),
        Some(Seq::Value(v)) if v.is_infinite() => if v > 0.0 { "+Inf" } else { "-Inf" }.into(),
        Some(Seq::Value(v)) => format!("{v:.6}"),
        Some(Seq::Stale) => "NaN".to_string(),
        Some(Seq::Omitted) | None => "_".to_string(),
    };
    Err(format!("expected histogram, got {got}"))
}
/// Expands promqltest's series notation for floats.
pub(super) fn expand_values(text: &str) -> Result<Vec<Seq>, String> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        match tok {
            "_" => out.push(Seq::Omitted),
            "stale" => out.push(Seq::Stale),
            _ => {
                let (head, times) = match tok.rsplit_once('x') {
                    Some((h, n))
                        if !h.is_empty()
                            && n.bytes().all(|b| b.is_ascii_digit())
                            && !n.is_empty() =>
                    {
                        (h, Some(n.parse::<u64>().map_err(|e| e.to_string())?))
                    }
                    _ => (tok, None),
                };
                let Some(n) = times else {
                    out.push(Seq::Value(parse_num(tok)?));
                    continue;
                };
                if head == "_" {
                    out.extend((0..n).map(|_| Seq::Omitted));
                    continue;
                }
                // `a+b` / `a-b`: split at the last sign that is not part of an exponent or
                // the leading sign.
                let bytes = head.as_bytes();
                let split = (1..bytes.len()).rev().find(|&i| {
                    (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
                });
                let (mut start, step) = match split {
                    Some(i) => (parse_num(&head[..i])?, parse_num(&head[i..])?),
                    None => (parse_num(head)?, 0.0),
                };
                for _ in 0..=n {
                    out.push(Seq::Value(start));
                    start += step;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::series_notation::test_expression;

    fn vals(s: &str) -> Vec<String> {
        expand_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Seq::Value(v) => v.to_string(),
                Seq::Histogram(h) => test_expression(&h),
                Seq::Omitted => "_".into(),
                Seq::Stale => "stale".into(),
            })
            .collect()
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(vals("1+1x2"), ["1", "2", "3"]);
        assert_eq!(vals("1x2"), ["1", "1", "1"]);
        assert_eq!(vals("10-2x2"), ["10", "8", "6"]);
        assert_eq!(vals("-1+1x2"), ["-1", "0", "1"]);
        assert_eq!(vals("0 _x2 stale 5"), ["0", "_", "_", "stale", "5"]);
        assert_eq!(vals("1e3+1e3x1"), ["1000", "2000"]);
    }

    #[test]
    fn metric_strings_parse_like_parse_metric() {
        let l = parse_metric(r#"up{job="a", instance="b"}"#).unwrap();
        assert_eq!(
            super::super::labels_string(&l),
            r#"{__name__="up", instance="b", job="a"}"#
        );
        assert_eq!(parse_metric("").unwrap(), Labels::empty());
        assert!(parse_metric(r#"up{job=~"a"}"#).is_err());
    }
}
