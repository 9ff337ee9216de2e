//! Prometheus' template functions, byte for byte.
//!
//! Rule annotations are printed by Go's `fmt`: `humanize` is `%.4g` plus an SI prefix,
//! `humanizeDuration` Prometheus' own units, `urlquery` Go's `url.QueryEscape`; the number
//! formatting itself (`%v`, `%g`, `printf`'s verbs) is [`crate::gostrconv`]'s. These helpers
//! reproduce Prometheus' output so redline's annotations equal it (promtool tests compare them
//! as strings).

use std::time::Duration;

use crate::gostrconv::{format_g, format_v};

/// `%.4g`, the base of the humanize functions.
fn g4(v: f64) -> String {
    format_g(v, Some(4), false)
}

/// Divides `v` by `base` while it is at least `base` and a larger prefix is left: the value and
/// the prefix reached (`""` when `|v| < base`).
fn scale_down(mut v: f64, base: f64, prefixes: &[&'static str]) -> (f64, &'static str) {
    let mut prefix = "";
    for p in prefixes {
        if v.abs() < base {
            break;
        }
        prefix = p;
        v /= base;
    }
    (v, prefix)
}

/// Multiplies `v` by 1000 while it is below 1 and a smaller SI prefix (m, u, n …) is left.
fn scale_up(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

/// Prometheus `humanize`: SI prefixes (k, M, G … and m, u, n …) with 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let (v, prefix) = scale_down(v, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"]);
        return format!("{}{prefix}", g4(v));
    }
    let (v, prefix) = scale_up(v);
    format!("{}{prefix}", g4(v))
}

/// Prometheus `humanize1024`: binary prefixes (ki, Mi, Gi …).
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let (v, prefix) = scale_down(v, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]);
    format!("{}{prefix}", g4(v))
}

/// Prometheus `humanizeDuration`: seconds as `1d 2h 3m 4s`, `1m 30s`, `1.5s`, `100ms`.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let (v, prefix) = scale_up(v);
    format!("{}{prefix}s", g4(v))
}

/// Prometheus `humanizePercentage`: `0.1234` → `12.34%`.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// Prometheus `humanizeTimestamp`: Go's `time.Time.String()` of the UTC time, e.g.
/// `1970-01-01 00:00:01.5 +0000 UTC`.
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    // Upstream goes through model.Time: nanoseconds truncated to milliseconds.
    let nanos = v * 1e9;
    if nanos.abs() >= 9.2e18 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_v(v)
        ));
    }
    let ms = (nanos as i64) / 1_000_000;
    Ok(go_time_string(
        ms.div_euclid(1000),
        ms.rem_euclid(1000) * 1_000_000,
    ))
}

/// Go's `time.Time.String()` for a UTC time.
pub fn go_time_string(secs: i64, nanos: i64) -> String {
    let c = crate::timefmt::civil_from_unix(secs);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    if nanos > 0 {
        let f = format!("{nanos:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Go's `time.RFC3339Nano` layout.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Go's `time.Time.Format(layout)` for a UTC time given in unix milliseconds: the layout's
/// reference-time elements (`2006`, `01`, `Jan`, `15`, `05`, `.000`, `Z07:00`, …) are
/// replaced, everything else is copied.
pub fn go_time_format(ms: i64, layout: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let secs = ms.div_euclid(1000);
    let nanos = ms.rem_euclid(1000) * 1_000_000;
    let c = crate::timefmt::civil_from_unix(secs);
    let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
    let weekday = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    let hour12 = if c.hour.is_multiple_of(12) {
        12
    } else {
        c.hour % 12
    };
    let mut out = String::new();
    let mut rest = layout;
    // Longest elements first, as Go's `nextStdChunk` recognises them.
    let elems: &[&str] = &[
        "January", "Monday", "2006", "Z07:00", "-07:00", "-0700", "Z0700", "Jan", "Mon", "MST",
        "002", "_2", "01", "02", "03", "04", "05", "06", "15", "PM", "pm", "1", "2", "3", "4", "5",
    ];
    'outer: while !rest.is_empty() {
        if let Some(frac) = fraction(rest) {
            let (len, digits, trim) = frac;
            let f = format!("{nanos:09}");
            let mut d = f[..digits].to_string();
            if trim {
                d = d.trim_end_matches('0').to_string();
            }
            if !d.is_empty() {
                out.push('.');
                out.push_str(&d);
            }
            rest = &rest[len..];
            continue;
        }
        for e in elems {
            if let Some(r) = rest.strip_prefix(e) {
                match *e {
                    "January" => out.push_str(month),
                    "Jan" => out.push_str(&month[..3]),
                    "Monday" => out.push_str(weekday),
                    "Mon" => out.push_str(&weekday[..3]),
                    "2006" => out.push_str(&format!("{:04}", c.year)),
                    "06" => out.push_str(&format!("{:02}", c.year.rem_euclid(100))),
                    "01" => out.push_str(&format!("{:02}", c.month)),
                    "1" => out.push_str(&c.month.to_string()),
                    "02" => out.push_str(&format!("{:02}", c.day)),
                    "_2" => out.push_str(&format!("{:>2}", c.day)),
                    "2" => out.push_str(&c.day.to_string()),
                    "002" => {
                        let jan1 = crate::timefmt::days_from_civil(c.year, 1, 1);
                        let doy = secs.div_euclid(86_400) - jan1 + 1;
                        out.push_str(&format!("{doy:03}"));
                    }
                    "15" => out.push_str(&format!("{:02}", c.hour)),
                    "03" => out.push_str(&format!("{hour12:02}")),
                    "3" => out.push_str(&hour12.to_string()),
                    "04" => out.push_str(&format!("{:02}", c.minute)),
                    "4" => out.push_str(&c.minute.to_string()),
                    "05" => out.push_str(&format!("{:02}", c.second)),
                    "5" => out.push_str(&c.second.to_string()),
                    "PM" => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                    "pm" => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                    "MST" => out.push_str("UTC"),
                    "Z07:00" | "Z0700" => out.push('Z'),
                    "-07:00" => out.push_str("+00:00"),
                    _ => out.push_str("+0000"),
                }
                rest = r;
                continue 'outer;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// A fractional-seconds element at the start of a layout (`.000`, `,999999999`): its
/// length, digit count and whether trailing zeros are trimmed (`9`s).
fn fraction(s: &str) -> Option<(usize, usize, bool)> {
    let b = s.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|&&c| c == d).count();
    // Go only treats it as a fraction when no digit follows.
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((1 + n, n.min(9), d == b'9'))
}

/// Go's `url.QueryEscape`: every byte but `A–Z a–z 0–9 - _ . ~` as `%XX`, a space as `+`.
/// Prometheus escapes an alert's expression in its `generatorURL` with it, and Go's
/// `urlquery` template function is the same.
pub fn query_escape(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `template.JSEscapeString` (the `js` template function): `\`, `'`, `"` backslashed,
/// `<`, `>`, `&`, `=` and control characters as `\uXXXX`, everything else as it is. Go also
/// writes non-ASCII runes that `unicode.IsPrint` rejects as `\uXXXX`; redline does so only
/// for control characters (category Cc), not for format characters such as U+200B.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if !c.is_ascii() && c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
pub fn title(s: &str) -> String {
    let is_sep = |c: char| -> bool {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_sep(prev) {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// `parseDuration` in templates: a Prometheus duration as float seconds.
pub fn parse_duration_seconds(s: &str) -> Result<f64, String> {
    crate::timefmt::parse_duration(s)
        .map(|d: Duration| d.as_secs_f64())
        .map_err(|e| e.to_string())
}

/// Go's `net.SplitHostPort` host part, or the input when it has no port (`stripPort`).
pub fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once(']') {
            if port.starts_with(':') {
                return host.to_string();
            }
        }
        return s.to_string();
    }
    match s.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h.to_string(),
        _ => s.to_string(),
    }
}

/// Prometheus `stripDomain`: drops the domain of a host name, keeping any port; IP addresses
/// are returned unchanged.
pub fn strip_domain(s: &str) -> String {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `f` on each `(input, expected)` pair; a failure names the input.
    fn each(f: impl Fn(f64) -> String, cases: &[(f64, &str)]) {
        for &(input, want) in cases {
            assert_eq!(f(input), want, "input {input:?}");
        }
    }

    #[test]
    fn humanize_matches_prometheus() {
        each(
            humanize,
            &[
                (1234567.0, "1.235M"),
                (0.0, "0"),
                (1.0, "1"),
                (999.0, "999"),
                (1000.0, "1k"),
                (12345.0, "12.35k"),
                (0.1, "100m"),
                (0.0012, "1.2m"),
                (1e-9, "1n"),
                (-1234.0, "-1.234k"),
                (1.2345e27, "1235Y"),
                (f64::INFINITY, "+Inf"),
                (f64::NAN, "NaN"),
            ],
        );
    }

    #[test]
    fn humanize1024_matches_prometheus() {
        each(
            humanize1024,
            &[
                (1024.0, "1ki"),
                (1048576.0, "1Mi"),
                (1536.0, "1.5ki"),
                (0.5, "0.5"),
                (1000.0, "1000"),
                (1.3e10, "12.11Gi"),
            ],
        );
    }

    #[test]
    fn humanize_duration_matches_prometheus() {
        each(
            humanize_duration,
            &[
                (90.0, "1m 30s"),
                (0.0, "0s"),
                (1.0, "1s"),
                (1.5, "1.5s"),
                (3600.0, "1h 0m 0s"),
                (86400.0 + 3661.0, "1d 1h 1m 1s"),
                (0.1, "100ms"),
                (0.000_001, "1us"),
                (-90.0, "-1m 30s"),
            ],
        );
    }

    #[test]
    fn humanize_percentage_matches_prometheus() {
        each(
            humanize_percentage,
            &[
                (0.1234, "12.34%"),
                (0.09090909090909091, "9.091%"),
                (1.0, "100%"),
                (0.0, "0%"),
                (0.5678912, "56.79%"),
            ],
        );
    }

    #[test]
    fn humanize_timestamp_matches_go_time_string() {
        assert_eq!(
            humanize_timestamp(1.0).unwrap(),
            "1970-01-01 00:00:01 +0000 UTC"
        );
        assert_eq!(
            humanize_timestamp(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
    }

    #[test]
    fn title_and_strip_helpers() {
        assert_eq!(title("hello world-foo bar_baz"), "Hello World-Foo Bar_baz");
        assert_eq!(strip_port("host:9090"), "host");
        assert_eq!(strip_port("[::1]:9090"), "::1");
        assert_eq!(strip_port("host"), "host");
        assert_eq!(strip_domain("node1.example.com:9100"), "node1:9100");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
    }
}
