//! The bodies of `/api/v1/query` and `/api/v1/query_range`, written straight into bytes.
//!
//! A query answer is `{"data":{"result":…,"resultType":…},"status":"success"}` plus optional
//! `warnings` and `infos`. Building it as a `serde_json::Value` tree costs a map, a key string
//! and a value string per label and per sample before a single byte is written; for a small
//! query that cost more than evaluating it. [`success_body`] writes the same text directly
//! into one buffer: keys in the order `serde_json`'s sorted maps put them, sample values and
//! timestamps as Prometheus writes them ([`super::format_value`], `1435781451.050`), strings
//! escaped as `serde_json` escapes them. [`super::value_json`] stays the reference
//! rendering; the tests below compare the two byte for byte.

use crate::promql::Value;
use crate::store::Labels;
use std::io::Write;

/// The complete response body of a successful query: `value` (truncated to `limit` series or
/// samples when `limit` is not 0) with the query's warnings and infos.
pub fn success_body(value: &Value, limit: usize, warnings: &[String], infos: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimated_len(value, limit));
    out.extend_from_slice(b"{\"data\":");
    write_value(&mut out, value, limit);
    if !infos.is_empty() {
        out.extend_from_slice(b",\"infos\":");
        write_str_array(&mut out, infos);
    }
    out.extend_from_slice(b",\"status\":\"success\"");
    if !warnings.is_empty() {
        out.extend_from_slice(b",\"warnings\":");
        write_str_array(&mut out, warnings);
    }
    out.push(b'}');
    out
}

/// A guess of the body's size, so the buffer is rarely grown.
fn estimated_len(value: &Value, limit: usize) -> usize {
    let cap = |n: usize| if limit > 0 { n.min(limit) } else { n };
    let labels_len = |l: &Labels| -> usize {
        l.iter()
            .map(|l| l.name.len() + l.value.len() + 6)
            .sum::<usize>()
            + 2
    };
    let estimate = match value {
        Value::Scalar { .. } => 0,
        Value::String { s, .. } => s.len() + 8,
        Value::Vector(v) => v[..cap(v.len())]
            .iter()
            .map(|s| labels_len(&s.labels) + 64)
            .sum(),
        Value::Matrix(m) => m[..cap(m.len())]
            .iter()
            .map(|s| labels_len(&s.labels) + 32 + s.samples.len() * 32)
            .sum(),
    };
    estimate + 128
}

/// The `data` object: `{"result":…,"resultType":…}`.
fn write_value(out: &mut Vec<u8>, value: &Value, limit: usize) {
    let cap = |n: usize| if limit > 0 { n.min(limit) } else { n };
    out.extend_from_slice(b"{\"result\":");
    let kind: &[u8] = match value {
        Value::Scalar { t, v } => {
            // Unlike a sample's value, a scalar's is never written with an exponent.
            out.push(b'[');
            write_result_timestamp(out, *t);
            out.extend_from_slice(b",\"");
            out.extend_from_slice(super::format_scalar_value(*v).as_bytes());
            out.extend_from_slice(b"\"]");
            b"scalar"
        }
        Value::String { t, s } => {
            out.push(b'[');
            write_result_timestamp(out, *t);
            out.push(b',');
            write_str(out, s);
            out.push(b']');
            b"string"
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, s) in samples[..cap(samples.len())].iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(out, &s.labels);
                match &s.h {
                    Some(h) => {
                        out.extend_from_slice(b",\"histogram\":");
                        write_histogram_point(out, s.t, h);
                    }
                    None => {
                        out.extend_from_slice(b",\"value\":");
                        write_point(out, s.t, s.v);
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
            b"vector"
        }
        Value::Matrix(series) => {
            out.push(b'[');
            for (i, s) in series[..cap(series.len())].iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(out, &s.labels);
                // As Prometheus: `values` only with float points, `histograms` only with
                // histogram points (an empty series keeps `values`).
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    out.extend_from_slice(b",\"values\":[");
                    for (j, p) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_point(out, p.t, p.v);
                    }
                    out.push(b']');
                }
                if !s.histograms.is_empty() {
                    out.extend_from_slice(b",\"histograms\":[");
                    for (j, p) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_histogram_point(out, p.t, &p.h);
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
            out.push(b']');
            b"matrix"
        }
    };
    out.extend_from_slice(b",\"resultType\":\"");
    out.extend_from_slice(kind);
    out.extend_from_slice(b"\"}");
}

/// A label set as an object. Labels are sorted by name and unique, the order in which a
/// sorted JSON map writes them.
fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &l.name);
        out.push(b':');
        write_str(out, &l.value);
    }
    out.push(b'}');
}

/// `[<seconds>,"<value>"]`.
fn write_point(out: &mut Vec<u8>, t_ms: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, t_ms);
    out.extend_from_slice(b",\"");
    write_sample_value(out, v);
    out.extend_from_slice(b"\"]");
}

/// `[<seconds>,{"count":…,"sum":…,"buckets":…}]`.
fn write_histogram_point(out: &mut Vec<u8>, t_ms: i64, h: &crate::histogram::FloatHistogram) {
    out.push(b'[');
    write_timestamp(out, t_ms);
    out.push(b',');
    super::histogram_json::write_histogram(out, h);
    out.push(b']');
}

/// A sample's timestamp in seconds as Prometheus writes it (`jsonutil.MarshalTimestamp`):
/// the whole seconds, then `.` and three digits of milliseconds unless those are 0
/// (`1435781451`, `1435781451.050`, `-1.500`).
fn write_timestamp(out: &mut Vec<u8>, t_ms: i64) {
    if t_ms < 0 {
        out.push(b'-');
    }
    let t = t_ms.unsigned_abs();
    // Writing into a `Vec` cannot fail.
    let _ = write!(out, "{}", t / 1000);
    let ms = t % 1000;
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
}

/// A scalar's or string's timestamp as Prometheus writes it (`promql.Scalar.MarshalJSON`:
/// Go's `encoding/json` on the `float64` `t / 1000`): the shortest decimal, no `.0`
/// (`1435781451`, `1435781451.05`).
fn write_result_timestamp(out: &mut Vec<u8>, t_ms: i64) {
    let _ = write!(out, "{}", t_ms as f64 / 1000.0);
}

/// A sample value as Prometheus formats it ([`super::format_value`]): the shortest decimal
/// that reads back as `v`, with an exponent below 1e-6 and from 1e21 on; `NaN`, `+Inf`,
/// `-Inf`.
fn write_sample_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 && v != 0.0 {
        // Whole numbers (counts, byte sizes) are common; integer formatting is cheaper and
        // gives the same digits. Zero goes the general way to keep the sign of `-0`.
        let _ = write!(out, "{}", v as i64);
    } else if super::needs_exponent(v) {
        out.extend_from_slice(super::format_value(v).as_bytes());
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `["…","…"]`.
fn write_str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s);
    }
    out.push(b']');
}

/// A JSON string, escaped as `serde_json` escapes it: `"` and `\`, the short forms `\b`, `\f`,
/// `\n`, `\r`, `\t`, and `\u00XX` for the other control characters; everything else verbatim.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::super::value_json;
    use super::*;
    use crate::http::api::success;
    use crate::promql::{InstantSample, Point, RangeSeries};

    /// The body the `serde_json::Value` path produces for the same answer.
    fn reference(value: &Value, limit: usize, warnings: &[String], infos: &[String]) -> Vec<u8> {
        let mut body = serde_json::Map::new();
        body.insert("status".into(), "success".into());
        body.insert("data".into(), value_json(value, limit));
        if !warnings.is_empty() {
            body.insert("warnings".into(), serde_json::json!(warnings));
        }
        if !infos.is_empty() {
            body.insert("infos".into(), serde_json::json!(infos));
        }
        serde_json::to_vec(&serde_json::Value::Object(body)).unwrap()
    }

    fn assert_same(value: &Value, limit: usize, warnings: &[String], infos: &[String]) {
        let got = success_body(value, limit, warnings, infos);
        let want = reference(value, limit, warnings, infos);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    const AWKWARD_VALUES: [f64; 18] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        1.5e-7,
        123.456,
        1e15,
        999_999_999_999_999.0,
        1e21,
        -2.5e300,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4_294_967_296.0,
    ];

    /// Times whose text the serde reference (a JSON integer for whole seconds, else the
    /// `f64`) writes as Prometheus does; `timestamps_are_written_as_prometheus_writes_them`
    /// covers the ones where the two differ (`-1.500`).
    const AWKWARD_TIMES: [i64; 7] = [
        0,
        1,
        -1_501,
        1_435_781_451_781,
        1_795_362_705_000,
        999,
        4_611_686_018_427_387_000,
    ];

    fn text(f: impl Fn(&mut Vec<u8>, i64), t: i64) -> String {
        let mut out = Vec::new();
        f(&mut out, t);
        String::from_utf8(out).unwrap()
    }

    /// Expected texts from Prometheus' writers: `jsonutil.MarshalTimestamp` for samples
    /// (whole seconds, then three digits of milliseconds unless 0), Go's `encoding/json`
    /// float for scalar and string results (shortest decimal, no `.0`).
    #[test]
    fn timestamps_are_written_as_prometheus_writes_them() {
        for (t, sample, result) in [
            (0, "0", "0"),
            (1, "0.001", "0.001"),
            (50, "0.050", "0.05"),
            (1_500, "1.500", "1.5"),
            (-1_500, "-1.500", "-1.5"),
            (-1, "-0.001", "-0.001"),
            (1_435_781_451_781, "1435781451.781", "1435781451.781"),
            (1_796_592_180_000, "1796592180", "1796592180"),
            (1_796_592_180_050, "1796592180.050", "1796592180.05"),
            (i64::MAX / 2, "4611686018427387.903", "4611686018427388"),
            (i64::MIN, "-9223372036854775.808", "-9223372036854776"),
        ] {
            assert_eq!(text(write_timestamp, t), sample, "sample at {t}");
            assert_eq!(text(write_result_timestamp, t), result, "result at {t}");
        }
    }

    #[test]
    fn vector_bytes_match_the_serde_json_rendering() {
        let samples: Vec<InstantSample> = AWKWARD_VALUES
            .iter()
            .zip(AWKWARD_TIMES.iter().cycle())
            .enumerate()
            .map(|(i, (&v, &t))| InstantSample {
                labels: labels(&[
                    ("__name__", "up"),
                    ("Upper", "case sorts before __name__"),
                    ("instance", &format!("10.0.0.{i}:9100")),
                    ("quote", "say \"hi\" \\ bye"),
                    (
                        "ctl",
                        "tab\tnl\ncr\rbs\u{8}ff\u{c}nul\u{0}esc\u{1b}del\u{7f}",
                    ),
                    ("utf8", "ünïcødé ✓ 日本"),
                ]),
                t,
                v,
                h: None,
            })
            .collect();
        let value = Value::Vector(samples);
        assert_same(&value, 0, &[], &[]);
        assert_same(&value, 3, &[], &[]);
        assert_same(&Value::Vector(Vec::new()), 0, &[], &[]);
    }

    #[test]
    fn matrix_bytes_match_the_serde_json_rendering() {
        let series: Vec<RangeSeries> = (0..4)
            .map(|i| RangeSeries {
                labels: labels(&[("job", "node"), ("cpu", &i.to_string())]),
                samples: AWKWARD_TIMES
                    .iter()
                    .zip(AWKWARD_VALUES.iter().skip(i))
                    .map(|(&t, &v)| Point { t, v })
                    .collect(),
                histograms: Vec::new(),
            })
            .collect();
        let value = Value::Matrix(series);
        assert_same(&value, 0, &[], &[]);
        assert_same(&value, 2, &[], &[]);
        assert_same(
            &Value::Matrix(vec![RangeSeries {
                labels: Labels::empty(),
                samples: Vec::new(),
                histograms: Vec::new(),
            }]),
            0,
            &[],
            &[],
        );
    }

    #[test]
    fn scalar_string_and_annotations_match_the_serde_json_rendering() {
        let warnings = vec!["PromQL warning: \"x\" (1:1)".to_string()];
        let infos = vec![
            "PromQL info: metric might not be a counter".to_string(),
            "second\none".to_string(),
        ];
        for &t in &AWKWARD_TIMES {
            for &v in &AWKWARD_VALUES {
                assert_same(&Value::Scalar { t, v }, 0, &[], &[]);
            }
            assert_same(
                &Value::String {
                    t,
                    s: "a \"string\"\n".into(),
                },
                0,
                &warnings,
                &infos,
            );
        }
        assert_same(&Value::Scalar { t: 1, v: 1.0 }, 0, &warnings, &[]);
        assert_same(&Value::Scalar { t: 1, v: 1.0 }, 0, &[], &infos);
    }

    #[test]
    fn sample_values_match_format_value() {
        let mut more: Vec<f64> = AWKWARD_VALUES.to_vec();
        more.extend((0..2000).map(|i| f64::from(i) * 0.37 - 300.0));
        more.extend((0..64).map(|e| 2f64.powi(e)));
        more.extend((0..64).map(|e| -(2f64.powi(e) - 1.0)));
        for v in more {
            let mut out = Vec::new();
            write_sample_value(&mut out, v);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                super::super::format_value(v)
            );
        }
    }

    #[tokio::test]
    async fn reference_is_what_api_success_answers() {
        // `api::success` is what the other endpoints answer with; the reference rendering
        // above must be the same bytes, so the query endpoints answer as they always did.
        let value = Value::Vector(vec![InstantSample {
            labels: labels(&[("job", "a\"b")]),
            t: 1_501,
            v: 0.25,
            h: None,
        }]);
        let warnings = vec!["w".to_string()];
        let infos = vec!["i".to_string()];
        let response = success(value_json(&value, 0), &warnings, &infos);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            body.as_ref(),
            reference(&value, 0, &warnings, &infos).as_slice()
        );
        assert_eq!(
            body.as_ref(),
            success_body(&value, 0, &warnings, &infos).as_slice()
        );
    }
}
