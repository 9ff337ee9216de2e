//! Native histogram values in the series notation of promqltest scripts and promtool rule
//! tests: `{{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 1] offset:-1
//! n_buckets:[1] n_offset:2 counter_reset_hint:gauge custom_values:[1 5]}}` (every field
//! optional, `{{}}` is an empty schema-0 histogram), repeated with `{{…}}x3` (four copies) or
//! grown with `{{a}}+{{b}}x3` / `{{a}}-{{b}}x3` (`a`, `a+b`, `a+2b`, `a+3b`), as upstream's
//! series-description grammar (`promql/parser/generated_parser.y`, `parse.go`) reads them.
//!
//! [`test_expression`] prints a histogram back in that notation (upstream's
//! `FloatHistogram.TestExpression`), for failure messages.

use crate::histogram::{CounterResetHint, FloatHistogram, Span};
use std::fmt::Write as _;

/// One parsed histogram value: the histogram and whether the description set
/// `counter_reset_hint` explicitly (then a test compares the hint too).
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramDesc {
    pub h: FloatHistogram,
    pub hint_set: bool,
}

/// How `{{a}}+{{b}}xN` combines: `add` true for `+`, false for `-`. The histogram math lives
/// in [`crate::histogram`]; the caller passes it so this module only reads text.
pub type Combine<'a> =
    &'a dyn Fn(&FloatHistogram, &FloatHistogram, bool) -> Result<FloatHistogram, String>;

/// Whether `s` (one value token or more) starts with histogram notation.
pub fn starts_histogram(s: &str) -> bool {
    s.trim_start().starts_with("{{")
}

/// Parses one `{{…}}` at the start of `s`; returns it and the rest of `s` after `}}`.
pub fn parse_histogram(s: &str) -> Result<(HistogramDesc, &str), String> {
    let s = s.trim_start();
    let body_start = s
        .strip_prefix("{{")
        .ok_or_else(|| format!("expected {{{{ at {s:?}"))?;
    let end = body_start
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram description {s:?}"))?;
    let body = &body_start[..end];
    let rest = &body_start[end + 2..];
    let mut h = FloatHistogram::default();
    let mut hint_set = false;
    let mut buckets: Option<Vec<f64>> = None;
    let mut n_buckets: Option<Vec<f64>> = None;
    let mut offset = 0i32;
    let mut n_offset = 0i32;
    let mut seen: Vec<&str> = Vec::new();
    let mut b = body.trim_start();
    while !b.is_empty() {
        let colon = b
            .find(':')
            .ok_or_else(|| format!("expected key:value in histogram description at {b:?}"))?;
        let key = b[..colon].trim();
        if seen.contains(&key) {
            return Err(format!("duplicate key {key:?} in histogram description"));
        }
        let after = b[colon + 1..].trim_start();
        let (value, next) = if let Some(list) = after.strip_prefix('[') {
            let close = list
                .find(']')
                .ok_or_else(|| format!("unterminated list for {key:?}"))?;
            (&after[..close + 2], &list[close + 1..])
        } else {
            let e = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..e], &after[e..])
        };
        let bad = |what: &str| format!("invalid {key} {value:?}: expected {what}");
        match key {
            "schema" => h.schema = value.parse::<i32>().map_err(|_| bad("an integer"))?,
            "sum" => h.sum = number(value).map_err(|_| bad("a number"))?,
            "count" => h.count = number(value).map_err(|_| bad("a number"))?,
            "z_bucket" => h.zero_count = number(value).map_err(|_| bad("a number"))?,
            "z_bucket_w" => h.zero_threshold = number(value).map_err(|_| bad("a number"))?,
            "offset" => offset = value.parse::<i32>().map_err(|_| bad("an integer"))?,
            "n_offset" => n_offset = value.parse::<i32>().map_err(|_| bad("an integer"))?,
            "buckets" => buckets = Some(list(value).map_err(|_| bad("a list of numbers"))?),
            "n_buckets" => n_buckets = Some(list(value).map_err(|_| bad("a list of numbers"))?),
            "custom_values" => {
                h.custom_values = list(value).map_err(|_| bad("a list of numbers"))?
            }
            "counter_reset_hint" => {
                hint_set = true;
                h.counter_reset_hint = match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => return Err(bad("unknown, reset, not_reset or gauge")),
                }
            }
            _ => return Err(format!("unknown key {key:?} in histogram description")),
        }
        seen.push(key);
        b = next.trim_start();
    }
    let spans = |bs: &[f64], off: i32| {
        if bs.is_empty() {
            Vec::new()
        } else {
            vec![Span {
                offset: off,
                length: bs.len() as u32,
            }]
        }
    };
    if let Some(bs) = buckets {
        h.positive_spans = spans(&bs, offset);
        h.positive_buckets = bs;
    }
    if let Some(bs) = n_buckets {
        h.negative_spans = spans(&bs, n_offset);
        h.negative_buckets = bs;
    }
    Ok((HistogramDesc { h, hint_set }, rest))
}

/// A number as upstream's series lexer reads one: an integer in Go's base-prefix syntax or a
/// float, with `Inf`/`NaN` spellings.
fn number(s: &str) -> Result<f64, String> {
    super::promqltest_parse::parse_number(s)
}

fn list(s: &str) -> Result<Vec<f64>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| format!("expected [..] at {s:?}"))?;
    inner.split_whitespace().map(number).collect()
}

/// `{{a}}+{{b}}` and `{{a}}-{{b}}` of the series notation: the histogram sum or difference,
/// as promqltest's loader and promtool combine them.
pub fn combine_histograms(
    a: &FloatHistogram,
    b: &FloatHistogram,
    add: bool,
) -> Result<FloatHistogram, String> {
    let mut h = a.clone();
    let r = if add { h.add(b) } else { h.sub(b) };
    r.map_err(|e| format!("error combining histograms: {e}"))?;
    Ok(h)
}

/// Expands one histogram token group at the start of `s` (`{{a}}`, `{{a}}xN`,
/// `{{a}}+{{b}}xN`, `{{a}}-{{b}}xN`) into `out`; returns the rest of `s`.
pub fn expand_histogram<'s>(
    s: &'s str,
    combine: Combine<'_>,
    out: &mut Vec<HistogramDesc>,
) -> Result<&'s str, String> {
    let (base, rest) = parse_histogram(s)?;
    if let Some(r) = rest.strip_prefix('x') {
        let (n, rest) = times(r)?;
        for _ in 0..=n {
            out.push(base.clone());
        }
        return Ok(rest);
    }
    let add = match rest.as_bytes().first() {
        Some(b'+') if rest[1..].starts_with("{{") => true,
        Some(b'-') if rest[1..].starts_with("{{") => false,
        _ => {
            out.push(base);
            return Ok(rest);
        }
    };
    let (inc, rest) = parse_histogram(&rest[1..])?;
    let r = rest
        .strip_prefix('x')
        .ok_or("expected xN after a histogram increment")?;
    let (n, rest) = times(r)?;
    let hint_set = base.hint_set;
    let mut cur = base.h;
    out.push(HistogramDesc {
        h: cur.clone(),
        hint_set,
    });
    for _ in 0..n {
        if cur.schema > inc.h.schema {
            return Err(format!(
                "error combining histograms: cannot merge from schema {} to {}",
                inc.h.schema, cur.schema
            ));
        }
        cur = combine(&cur, &inc.h, add)?;
        out.push(HistogramDesc {
            h: cur.clone(),
            hint_set,
        });
    }
    Ok(rest)
}

fn times(s: &str) -> Result<(u64, &str), String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end]
        .parse::<u64>()
        .map_err(|_| format!("invalid repetition count at {s:?}"))?;
    Ok((n, &s[end..]))
}

/// A histogram in series notation, as upstream's `TestExpression` prints it: only the fields
/// that are not zero, each sign's buckets compacted as `Compact(math.MaxInt)` does (empty
/// buckets at either end dropped, the offset moved past the leading ones, the spans merged
/// into one bucket list with the gaps filled with 0).
pub fn test_expression(h: &FloatHistogram) -> String {
    let mut parts: Vec<String> = Vec::new();
    if h.schema != 0 {
        parts.push(format!("schema:{}", h.schema));
    }
    if h.count != 0.0 {
        parts.push(format!("count:{}", go_g(h.count)));
    }
    if h.sum != 0.0 {
        parts.push(format!("sum:{}", go_g(h.sum)));
    }
    if h.zero_count != 0.0 {
        parts.push(format!("z_bucket:{}", go_g(h.zero_count)));
    }
    if h.zero_threshold != 0.0 {
        parts.push(format!("z_bucket_w:{}", go_g(h.zero_threshold)));
    }
    match h.counter_reset_hint {
        CounterResetHint::Unknown => {}
        CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".into()),
        CounterResetHint::NotCounterReset => parts.push("counter_reset_hint:not_reset".into()),
        CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
    }
    if !h.custom_values.is_empty() {
        parts.push(format!("custom_values:{}", fmt_list(&h.custom_values)));
    }
    let flat = |spans: &[Span], buckets: &[f64]| -> (i32, Vec<f64>) {
        let mut out = Vec::new();
        let mut first = 0;
        let mut bi = 0;
        for (si, sp) in spans.iter().enumerate() {
            if si == 0 {
                first = sp.offset;
            } else {
                out.extend(std::iter::repeat_n(0.0, sp.offset.max(0) as usize));
            }
            for _ in 0..sp.length {
                out.push(buckets.get(bi).copied().unwrap_or(0.0));
                bi += 1;
            }
        }
        let Some(lead) = out.iter().position(|&c| c != 0.0) else {
            return (0, Vec::new());
        };
        let end = out
            .iter()
            .rposition(|&c| c != 0.0)
            .map_or(out.len(), |i| i + 1);
        (first + lead as i32, out[lead..end].to_vec())
    };
    let (off, bs) = flat(&h.positive_spans, &h.positive_buckets);
    if off != 0 {
        parts.push(format!("offset:{off}"));
    }
    if !bs.is_empty() {
        parts.push(format!("buckets:{}", fmt_list(&bs)));
    }
    let (off, bs) = flat(&h.negative_spans, &h.negative_buckets);
    if off != 0 {
        parts.push(format!("n_offset:{off}"));
    }
    if !bs.is_empty() {
        parts.push(format!("n_buckets:{}", fmt_list(&bs)));
    }
    format!("{{{{{}}}}}", parts.join(" "))
}

fn fmt_list(v: &[f64]) -> String {
    let mut s = String::from("[");
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{}", go_g(*x));
    }
    s.push(']');
    s
}

fn go_g(v: f64) -> String {
    crate::gostrconv::format_v(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_math(_: &FloatHistogram, _: &FloatHistogram, _: bool) -> Result<FloatHistogram, String> {
        Err("no math here".into())
    }

    #[test]
    fn every_field_is_read() {
        let (d, rest) = parse_histogram(
            "{{schema:1 sum:-0.5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:-1 \
             n_buckets:[0.5] n_offset:2 counter_reset_hint:gauge}} 3",
        )
        .unwrap();
        assert_eq!(rest, " 3");
        let h = d.h;
        assert!(d.hint_set);
        assert_eq!((h.schema, h.sum, h.count), (1, -0.5, 4.0));
        assert_eq!((h.zero_count, h.zero_threshold), (1.0, 0.001));
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: -1,
                length: 2
            }]
        );
        assert_eq!(h.positive_buckets, vec![1.0, 2.0]);
        assert_eq!(
            h.negative_spans,
            vec![Span {
                offset: 2,
                length: 1
            }]
        );
        assert_eq!(h.negative_buckets, vec![0.5]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    }

    #[test]
    fn empty_and_custom_bucket_histograms() {
        let (d, _) = parse_histogram("{{}}").unwrap();
        assert_eq!(d.h, FloatHistogram::default());
        assert!(!d.hint_set);
        let (d, _) = parse_histogram("{{schema:-53 custom_values:[-2 3]}}").unwrap();
        assert!(d.h.uses_custom_buckets());
        assert_eq!(d.h.custom_values, vec![-2.0, 3.0]);
    }

    #[test]
    fn bad_descriptions_are_errors() {
        for bad in [
            "{{schema:x}}",
            "{{sum:1",
            "{{foo:1}}",
            "{{buckets:[1 2}}",
            "{{counter_reset_hint:maybe}}",
            "{{sum:1 sum:2}}",
        ] {
            assert!(parse_histogram(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repetition_gives_n_plus_one_copies() {
        let mut out = Vec::new();
        let rest = expand_histogram("{{count:1}}x3 5", &no_math, &mut out).unwrap();
        assert_eq!(rest, " 5");
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|d| d.h.count == 1.0));
    }

    #[test]
    fn increments_call_the_math_and_check_schemas() {
        let add = |a: &FloatHistogram, b: &FloatHistogram, plus: bool| {
            let mut h = a.clone();
            h.count += if plus { b.count } else { -b.count };
            Ok(h)
        };
        let mut out = Vec::new();
        expand_histogram("{{count:10}}-{{count:2}}x2", &add, &mut out).unwrap();
        let counts: Vec<f64> = out.iter().map(|d| d.h.count).collect();
        assert_eq!(counts, vec![10.0, 8.0, 6.0]);
        let e = expand_histogram("{{schema:1}}+{{schema:0}}x1", &add, &mut Vec::new());
        assert_eq!(
            e.unwrap_err(),
            "error combining histograms: cannot merge from schema 0 to 1"
        );
    }

    #[test]
    fn test_expression_prints_the_notation() {
        let (d, _) = parse_histogram(
            "{{schema:1 count:4 sum:5 z_bucket:1 z_bucket_w:0.5 offset:-1 buckets:[1 2]}}",
        )
        .unwrap();
        assert_eq!(
            test_expression(&d.h),
            "{{schema:1 count:4 sum:5 z_bucket:1 z_bucket_w:0.5 offset:-1 buckets:[1 2]}}"
        );
        assert_eq!(test_expression(&FloatHistogram::default()), "{{}}");
    }

    /// Upstream compacts before printing: `{{buckets:[0 1 0 0 2 0] offset:3}}` holds the
    /// buckets 3..=8; the non-empty ones are 4 and 7, so it prints as offset 4, buckets
    /// [1 0 0 2]; a histogram whose buckets are all empty prints none.
    #[test]
    fn test_expression_drops_empty_buckets_at_either_end() {
        let (d, _) = parse_histogram("{{count:3 offset:3 buckets:[0 1 0 0 2 0]}}").unwrap();
        assert_eq!(
            test_expression(&d.h),
            "{{count:3 offset:4 buckets:[1 0 0 2]}}"
        );
        let (d, _) = parse_histogram("{{buckets:[0 0 0] n_buckets:[0 3]}}").unwrap();
        assert_eq!(test_expression(&d.h), "{{n_offset:1 n_buckets:[3]}}");
    }
}
