//! Go's `strconv` as Prometheus and Alertmanager print and read numbers and strings: float
//! formatting (`%v`, `%g`, `%e`, `%f`, `FormatFloat`), `ParseFloat`, `Quote` (`%q`) and
//! `Unquote`, and where a quoted literal ends as Go's lexer reads it ([`literal_end`], for the
//! template and PromQL scanners). A leaf: rule annotations (Go templates), PromQL's
//! `quantile`/`le` labels, promtool's output, the rules API and Alertmanager's matchers all
//! print through it, so each prints a value the way its upstream does.

/// Decimal digits of `v` (no leading/trailing zeros) and the decimal point position, as Go's
/// `decimalSlice`: `v = 0.d1d2d3… × 10^dp`. With `sig = None` the digits are the shortest that
/// round-trip, else `v` rounded to `sig` significant digits.
fn digits(v: f64, sig: Option<usize>) -> (String, i32) {
    let a = v.abs();
    if a == 0.0 {
        return (String::new(), 0);
    }
    let s = match sig {
        None => format!("{a:e}"),
        Some(n) => format!("{a:.*e}", n.saturating_sub(1)),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// Go `%e`-style output from digits: `d.ddd` with exactly `frac` fraction digits (zero padded).
fn fmt_e(neg: bool, d: &str, dp: i32, frac: usize, upper: bool) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let first = d.chars().next().unwrap_or('0');
    s.push(first);
    if frac > 0 {
        s.push('.');
        let rest: String = d.chars().skip(1).take(frac).collect();
        s.push_str(&rest);
        for _ in rest.len()..frac {
            s.push('0');
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let ea = exp.unsigned_abs();
    if ea < 10 {
        s.push('0');
    }
    s.push_str(&ea.to_string());
    s
}

/// Go `%f`-style output from digits with exactly `frac` fraction digits.
fn fmt_f(neg: bool, d: &str, dp: i32, frac: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let digit = |i: i32| -> char {
        if i >= 0 && (i as usize) < d.len() {
            d.as_bytes()[i as usize] as char
        } else {
            '0'
        }
    };
    if dp > 0 {
        for i in 0..dp {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if frac > 0 {
        s.push('.');
        for i in 0..frac as i32 {
            s.push(digit(dp + i));
        }
    }
    s
}

/// Go's `strconv.FormatFloat(v, 'g' or 'G', prec, 64)`; `prec = None` is `-1` (shortest).
pub fn format_g(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let neg = v.is_sign_negative();
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = digits(v, prec);
    let (d, dp) = if d.is_empty() {
        ("0".to_string(), 1)
    } else {
        (d, dp)
    };
    let nd = d.len() as i32;
    let mut eprec = prec.map(|p| p as i32).unwrap_or(nd);
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        let p = prec.map(|p| p as i32).unwrap_or(nd).min(nd);
        return fmt_e(neg, &d, dp, (p - 1).max(0) as usize, upper);
    }
    let mut p = prec.map(|p| p as i32).unwrap_or(nd);
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &d, dp, (p - dp).max(0) as usize)
}

/// Go's `%e` / `%E` with `prec` fraction digits (`None` = shortest).
pub fn format_e(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let neg = v.is_sign_negative();
    let (d, dp) = digits(v, prec.map(|p| p + 1));
    let (d, dp) = if d.is_empty() {
        ("0".to_string(), 1)
    } else {
        (d, dp)
    };
    let frac = prec.unwrap_or(d.len().saturating_sub(1));
    fmt_e(neg, &d, dp, frac, upper)
}

/// Go's `%f` with `prec` fraction digits.
pub fn format_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    format!("{v:.prec$}")
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads back as `v`,
/// never an exponent; `NaN`, `+Inf`, `-Inf`.
pub fn format_f_shortest(v: f64) -> String {
    special(v).unwrap_or_else(|| format!("{v}"))
}

/// Go's `%v` (and `fmt.Sprint`) of a float64.
pub fn format_v(v: f64) -> String {
    format_g(v, None, false)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal spellings: an optional sign, digits with `.`,
/// an exponent and `_` separators, or `Inf`/`Infinity`/`NaN` in any case.
pub fn parse_float(s: &str) -> Result<f64, ParseFloatError> {
    let err = || ParseFloatError(s.to_string());
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Ok(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE_".contains(&b))
    {
        return Err(err());
    }
    s.replace('_', "").parse().map_err(|_| err())
}

/// A string [`parse_float`] does not read, with Go's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
pub struct ParseFloatError(pub String);

/// Quotes a string as Go's `strconv.Quote` (`%q`) does: `\"`, `\\`, the C escapes, `\x..` for
/// other ASCII controls, `\u....` for non-printable non-ASCII characters; printable UTF-8 is
/// kept as is.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{feff}' => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the quoted literal that opens `b` (at `"`, `'` or a backquote) ends, as Go's and
/// PromQL's lexers read it: the index of its closing quote, or `b.len()` when it is not
/// closed. A backslash escapes the next byte, except in a raw (backquoted) string.
pub fn literal_end(b: &[u8]) -> usize {
    let Some(&q) = b.first() else {
        return 0;
    };
    let mut i = 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' && q != b'`' {
            i += 1;
        }
        i += 1;
    }
    i.min(b.len())
}

/// Go's `strconv.Unquote` for a double-quoted string (the quotes included).
pub fn unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\n' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next()?;
        let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Option<u32> {
            let mut v = 0u32;
            for _ in 0..n {
                v = v * 16 + it.next()?.to_digit(16)?;
            }
            Some(v)
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'x' => out.push(char::from_u32(hex(&mut it, 2)?)?),
            'u' => out.push(char::from_u32(hex(&mut it, 4)?)?),
            'U' => out.push(char::from_u32(hex(&mut it, 8)?)?),
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + it.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_end_skips_escapes_except_in_raw_strings() {
        // Index of the closing quote, counted by hand.
        assert_eq!(literal_end(br#""a\"b" rest"#), 5);
        assert_eq!(literal_end(br"'\'' x"), 3);
        assert_eq!(literal_end(br"`a\` x"), 3);
        assert_eq!(literal_end(br#""}}""#), 3);
        // Unclosed, also with a trailing backslash: the end of the input.
        assert_eq!(literal_end(br#""abc"#), 4);
        assert_eq!(literal_end(br#""ab\"#), 4);
        assert_eq!(literal_end(b""), 0);
    }

    fn each(f: impl Fn(f64) -> String, cases: &[(f64, &str)]) {
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "{v}");
        }
    }

    #[test]
    fn go_v_formatting_of_floats() {
        each(
            format_v,
            &[
                (1.0, "1"),
                (0.5, "0.5"),
                (123456.0, "123456"),
                (1e6, "1e+06"),
                (1234567.0, "1.234567e+06"),
                (0.0001, "0.0001"),
                (0.00001, "1e-05"),
                (0.09090909090909091, "0.09090909090909091"),
                (-2.5, "-2.5"),
                (f64::NEG_INFINITY, "-Inf"),
            ],
        );
    }

    #[test]
    fn go_e_formatting() {
        assert_eq!(format_e(1.0, None, true), "1E+00");
        assert_eq!(format_e(60.0, None, true), "6E+01");
        assert_eq!(
            format_e(0.09090909090909091, None, true),
            "9.090909090909091E-02"
        );
        assert_eq!(format_e(1234.5, Some(2), false), "1.23e+03");
        assert_eq!(format_e(0.0, None, false), "0e+00");
    }

    #[test]
    fn quote_and_unquote_like_go() {
        assert_eq!(quote("\u{1}\u{85}"), r#""\x01\u0085""#);
        assert_eq!(quote("a\u{7}\"\\\n"), r#""a\a\"\\\n""#);
        assert_eq!(unquote(r#""a\x41\u00e9\101\n""#).as_deref(), Some("aAéA\n"));
        assert_eq!(unquote(r#""unterminated\""#), None);
    }

    #[test]
    fn parse_float_reads_go_spellings() {
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_float("+inf"), Ok(f64::INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1_000.5"), Ok(1000.5));
        assert_eq!(
            parse_float("0.5x").unwrap_err().to_string(),
            r#"strconv.ParseFloat: parsing "0.5x": invalid syntax"#
        );
        assert!(parse_float("").is_err());
        assert!(parse_float("+-1").is_err());
    }
}
