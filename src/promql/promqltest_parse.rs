//! Parsing of upstream's promqltest script language (see
//! `tests/conformance/promql/FORMAT.md`): `load`, `clear` and `eval` commands, series
//! descriptions with the expanding notation (`1+2x3`, `_x2`, `stale`), and `expect` lines.

use super::series_notation::{combine_histograms, expand_histogram, HistogramDesc};
use crate::store::{Labels, METRIC_NAME};

/// One value of a series description.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SeqValue {
    Value(f64),
    Omitted,
    Stale,
    Histogram(Box<HistogramDesc>),
}

#[derive(Clone, Debug)]
pub(crate) struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

#[derive(Clone, Debug)]
pub(crate) enum MsgMatch {
    Any,
    Exact(String),
    Regex(String),
}

#[derive(Clone, Debug)]
pub(crate) enum EvalKind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Clone, Debug)]
pub(crate) struct EvalCmd {
    pub line: usize,
    pub expr: String,
    pub kind: EvalKind,
    pub fail: Option<MsgMatch>,
    pub warn: Vec<MsgMatch>,
    pub info: Vec<MsgMatch>,
    pub no_warn: bool,
    pub no_info: bool,
    pub ordered: bool,
    pub string: Option<String>,
    pub range_vector: Option<(i64, i64, i64)>,
    /// A scalar result, when the expectation is a bare number.
    pub scalar: Option<f64>,
    pub series: Vec<SeriesDesc>,
}

#[derive(Clone, Debug)]
pub(crate) enum Command {
    Load {
        interval: i64,
        series: Vec<SeriesDesc>,
        nhcb: bool,
    },
    Clear,
    Eval(Box<EvalCmd>),
}

pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return parse_time(rest).map(|v| -v);
    }
    if let Some(ms) = parse_duration_ms(s) {
        return Ok(ms);
    }
    s.parse::<f64>()
        .map(|f| (f * 1000.0).round() as i64)
        .map_err(|_| format!("invalid time or duration {s:?}"))
}

/// A Prometheus duration such as `1h30m`, `10s53ms` or `0m`.
fn parse_duration_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Parses a whole script into commands with their (1-based) line numbers.
pub(crate) fn parse_script(input: &str) -> Result<Vec<(usize, Command)>, String> {
    let lines: Vec<String> = input
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let lineno = i + 1;
        if l.is_empty() {
            i += 1;
            continue;
        }
        let (word, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let mut block = Vec::new();
        let mut j = i + 1;
        while j < lines.len() && !lines[j].is_empty() {
            block.push((j + 1, lines[j].as_str()));
            j += 1;
        }
        let err = |m: String| format!("line {lineno}: {m}");
        match word {
            "clear" => {
                out.push((lineno, Command::Clear));
                i += 1;
                continue;
            }
            "load" | "load_with_nhcb" => {
                let interval = parse_time(rest).map_err(err)?;
                let mut series = Vec::new();
                for (n, b) in &block {
                    series.push(parse_series(b).map_err(|e| format!("line {n}: {e}"))?);
                }
                out.push((
                    lineno,
                    Command::Load {
                        interval,
                        series,
                        nhcb: word == "load_with_nhcb",
                    },
                ));
            }
            w if w.starts_with("eval") => {
                let cmd = parse_eval(lineno, w, rest, &block)?;
                out.push((lineno, Command::Eval(Box::new(cmd))));
            }
            _ => return Err(err(format!("unknown command {word:?}"))),
        }
        i = j;
    }
    Ok(out)
}

fn parse_eval(
    lineno: usize,
    word: &str,
    rest: &str,
    block: &[(usize, &str)],
) -> Result<EvalCmd, String> {
    let err = |m: &str| format!("line {lineno}: {m}");
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (kind, consumed) = match words.first() {
        Some(&"instant") if words.get(1) == Some(&"at") && words.len() > 2 => (
            EvalKind::Instant(parse_time(words[2]).map_err(|e| err(&e))?),
            3,
        ),
        Some(&"range")
            if words.len() > 6 && words[1] == "from" && words[3] == "to" && words[5] == "step" =>
        {
            (
                EvalKind::Range {
                    start: parse_time(words[2]).map_err(|e| err(&e))?,
                    end: parse_time(words[4]).map_err(|e| err(&e))?,
                    step: parse_time(words[6]).map_err(|e| err(&e))?,
                },
                7,
            )
        }
        _ => return Err(err("invalid eval command")),
    };
    // The expression is the rest of the line after the consumed words.
    let mut expr = rest;
    for _ in 0..consumed {
        expr = expr.trim_start();
        let end = expr.find(char::is_whitespace).unwrap_or(expr.len());
        expr = &expr[end..];
    }
    let mut cmd = EvalCmd {
        line: lineno,
        expr: expr.trim().to_string(),
        kind,
        fail: None,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        ordered: false,
        string: None,
        range_vector: None,
        scalar: None,
        series: Vec::new(),
    };
    match word {
        "eval" => {}
        "eval_fail" => cmd.fail = Some(MsgMatch::Any),
        "eval_warn" => cmd.warn.push(MsgMatch::Any),
        "eval_info" => cmd.info.push(MsgMatch::Any),
        "eval_ordered" => cmd.ordered = true,
        _ => return Err(err(&format!("unknown command {word:?}"))),
    }
    for (n, l) in block {
        let lerr = |m: &str| format!("line {n}: {m}");
        if let Some(e) = l.strip_prefix("expect ") {
            parse_expect(&mut cmd, e.trim()).map_err(|m| lerr(&m))?;
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            cmd.fail = Some(MsgMatch::Exact(m.trim().to_string()));
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            cmd.fail = Some(MsgMatch::Regex(m.trim().to_string()));
            continue;
        }
        if let Ok(v) = parse_number(l) {
            cmd.scalar = Some(v);
            continue;
        }
        if let Some(s) = bare_string_literal(l) {
            cmd.string = Some(s);
            continue;
        }
        cmd.series.push(parse_series(l).map_err(|m| lerr(&m))?);
    }
    Ok(cmd)
}

/// A result line that is one quoted string literal and nothing else: the earlier spelling of
/// `expect string` (`"Foo"` under `eval instant at 50m "Foo"`), which some script files still
/// use. No series description starts with a quote, so the two cannot be confused.
fn bare_string_literal(line: &str) -> Option<String> {
    let l = line.trim();
    if !(l.starts_with('"') || l.starts_with('`')) {
        return None;
    }
    promql_parser::util::unquote_string(l).ok()
}

fn parse_msg(rest: &str) -> Result<MsgMatch, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(MsgMatch::Any);
    }
    let (kind, msg) = rest
        .split_once(':')
        .ok_or_else(|| format!("invalid expectation {rest:?}"))?;
    let msg = msg.trim().to_string();
    match kind.trim() {
        "msg" => Ok(MsgMatch::Exact(msg)),
        "regex" => Ok(MsgMatch::Regex(msg)),
        k => Err(format!("invalid match type {k:?}")),
    }
}

fn parse_expect(cmd: &mut EvalCmd, e: &str) -> Result<(), String> {
    let (what, rest) = e.split_once(char::is_whitespace).unwrap_or((e, ""));
    match what {
        "fail" => cmd.fail = Some(parse_msg(rest)?),
        "warn" => cmd.warn.push(parse_msg(rest)?),
        "info" => cmd.info.push(parse_msg(rest)?),
        "no_warn" => cmd.no_warn = true,
        "no_info" => cmd.no_info = true,
        "ordered" => cmd.ordered = true,
        "string" => {
            let s = rest.trim();
            let unq = promql_parser::util::unquote_string(s)
                .map_err(|e| format!("invalid expected string {s}: {e}"))?;
            cmd.string = Some(unq);
        }
        "range" => {
            let w: Vec<&str> = rest.split_whitespace().collect();
            if w.len() != 7 || w[0] != "vector" || w[1] != "from" || w[3] != "to" || w[5] != "step"
            {
                return Err(format!("invalid range vector expectation {rest:?}"));
            }
            cmd.range_vector = Some((parse_time(w[2])?, parse_time(w[4])?, parse_time(w[6])?));
        }
        _ => return Err(format!("unknown expectation {what:?}")),
    }
    Ok(())
}

/// Go's `strconv.ParseFloat` plus the PromQL spellings of infinities and NaN.
pub(crate) fn parse_number(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).map_err(|e| e.to_string())? as f64
    } else if body
        .bytes()
        .all(|b| b.is_ascii_digit() || b".eE+-_".contains(&b))
        && body
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
    {
        body.replace('_', "")
            .parse::<f64>()
            .map_err(|e| format!("{e}: {s:?}"))?
    } else {
        return Err(format!("invalid number {s:?}"));
    };
    Ok(if neg { -v } else { v })
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.'
}

/// Splits `metric{labels} values…` into labels and values.
pub(crate) fn parse_series(line: &str) -> Result<SeriesDesc, String> {
    let line = line.trim();
    let name_end = line.find(|c: char| !ident_char(c)).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
    }
    let mut rest = &line[name_end..];
    if rest.starts_with('{') {
        let close = find_close_brace(rest).ok_or("unterminated label set")?;
        parse_label_list(&rest[1..close], &mut pairs)?;
        rest = &rest[close + 1..];
    } else if name.is_empty() {
        return Err(format!("invalid series description {line:?}"));
    }
    let labels = Labels::from_pairs(pairs);
    let rest = rest.trim();
    let mut values = Vec::new();
    let mut r = rest;
    loop {
        r = r.trim_start();
        if r.is_empty() {
            break;
        }
        if r.starts_with("{{") {
            let mut hs = Vec::new();
            r = expand_histogram(r, &combine_histograms, &mut hs)?;
            values.extend(hs.into_iter().map(|h| SeqValue::Histogram(Box::new(h))));
            continue;
        }
        let end = r.find(char::is_whitespace).unwrap_or(r.len());
        expand_token(&r[..end], &mut values)?;
        r = &r[end..];
    }
    Ok(SeriesDesc { labels, values })
}

fn find_close_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i += crate::gostrconv::literal_end(&b[i..]),
            b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_label_list(s: &str, pairs: &mut Vec<(String, String)>) -> Result<(), String> {
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (lname, after) = take_name_or_string(rest)?;
        let after = after.trim_start();
        if let Some(v) = after.strip_prefix('=') {
            let (val, after) = take_string(v.trim_start())?;
            pairs.push((lname, val));
            rest = after.trim_start();
        } else {
            // A bare quoted string is the metric name.
            pairs.push((METRIC_NAME.to_string(), lname));
            rest = after;
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("unexpected {rest:?} in label set"));
        }
    }
    Ok(())
}

fn take_name_or_string(s: &str) -> Result<(String, &str), String> {
    if s.starts_with(['"', '\'', '`']) {
        return take_string(s);
    }
    let end = s.find(|c: char| !ident_char(c)).unwrap_or(s.len());
    if end == 0 {
        return Err(format!("expected label name at {s:?}"));
    }
    Ok((s[..end].to_string(), &s[end..]))
}

fn take_string(s: &str) -> Result<(String, &str), String> {
    let b = s.as_bytes();
    let q = *b.first().ok_or("expected string")?;
    if !matches!(q, b'"' | b'\'' | b'`') {
        return Err(format!("expected quoted string at {s:?}"));
    }
    let i = crate::gostrconv::literal_end(b);
    if i >= b.len() {
        return Err("unterminated string".into());
    }
    let raw = &s[..=i];
    let v = promql_parser::util::unquote_string(raw).map_err(|e| e.to_string())?;
    Ok((v, &s[i + 1..]))
}

fn expand_token(tok: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if tok == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if tok == "stale" {
        out.push(SeqValue::Stale);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("invalid token {tok:?}"))?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Ok(());
    }
    if let Some(xi) = tok.rfind('x') {
        let times = &tok[xi + 1..];
        if !times.is_empty() && times.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = times
                .parse()
                .map_err(|_| format!("invalid token {tok:?}"))?;
            let body = &tok[..xi];
            let bytes = body.as_bytes();
            let split = (1..bytes.len()).find(|&i| {
                (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
            });
            let (a, d) = match split {
                Some(i) => (parse_number(&body[..i])?, parse_number(&body[i..])?),
                None => (parse_number(body)?, 0.0),
            };
            for i in 0..=n {
                out.push(SeqValue::Value(a + d * i as f64));
            }
            return Ok(());
        }
    }
    out.push(SeqValue::Value(parse_number(tok)?));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation() {
        let s = parse_series(r#"m{a="x y}"} 1+2x2 _ stale _x2 -1-1x1 3x1"#).unwrap();
        assert_eq!(s.labels.get("a"), Some("x y}"));
        use SeqValue::*;
        assert_eq!(
            s.values,
            vec![
                Value(1.0),
                Value(3.0),
                Value(5.0),
                Omitted,
                Stale,
                Omitted,
                Omitted,
                Value(-1.0),
                Value(-2.0),
                Value(3.0),
                Value(3.0)
            ]
        );
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1m30s").unwrap(), 90_000);
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("10s53ms").unwrap(), 10_053);
    }
}
