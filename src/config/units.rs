//! Prometheus' value syntaxes for durations and byte sizes.
//!
//! [`parse_duration`] and [`format_duration`] follow `model.ParseDuration` and
//! `model.Duration.String` from `prometheus/common` (`1m30s`, `5m`, `1d`, `2w`, `1y`, `500ms`;
//! units from largest to smallest, integers only, `0` allowed). [`parse_base2_bytes`] follows
//! `units.ParseBase2Bytes`, which Prometheus uses for `body_size_limit`: `KB` and `KiB` both
//! mean 1024 bytes there. [`PromDuration`] and [`ByteSize`] are the serde forms of these.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

const MS: u64 = 1;
const SECOND: u64 = 1000 * MS;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const YEAR: u64 = 365 * DAY;

/// Units in the order they must appear, with their length in milliseconds.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", YEAR),
    ("w", WEEK),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", MS),
];

/// Why a duration does not parse; the texts are `model.ParseDuration`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration string")]
    Empty,
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
    #[error("duration out of range")]
    OutOfRange,
}

/// Why a byte size does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error("invalid byte size {0:?}")]
    Invalid(String),
    #[error("byte size {0:?} must not be negative")]
    Negative(String),
    #[error("unknown unit {unit:?} in byte size {input:?}")]
    UnknownUnit { unit: String, input: String },
    #[error("byte size {0:?} is too large")]
    TooLarge(String),
}

/// Parses a Prometheus duration such as `1h30m`. `0` is the zero duration.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err(DurationError::Empty),
        _ => {}
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let mut rest = s;
    let mut total_ms: u64 = 0;
    let mut last_unit_pos: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
                input: s.to_string(),
            });
        };
        if last_unit_pos.is_some_and(|last| pos <= last) {
            return Err(invalid());
        }
        last_unit_pos = Some(pos);
        total_ms = value
            .checked_mul(DURATION_UNITS[pos].1)
            .and_then(|v| total_ms.checked_add(v))
            .filter(|v| *v <= i64::MAX as u64 / 1_000_000)
            .ok_or(DurationError::OutOfRange)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way Prometheus prints one (`1m30s`, `90d`, `0s`); sub-millisecond
/// parts are dropped. Years and weeks are used only when they divide the duration exactly.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, mult) in DURATION_UNITS {
        let exact_only = mult == YEAR || mult == WEEK;
        if exact_only && !ms.is_multiple_of(mult) {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(unit);
            ms -= v * mult;
        }
    }
    out
}

/// Parses a byte size as Prometheus' `units.ParseBase2Bytes` does: a sequence of
/// `<number><unit>` with units `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`,
/// `PB`/`PiB`, `EB`/`EiB`, all powers of 1024. `0` alone needs no unit.
pub fn parse_base2_bytes(s: &str) -> Result<u64, ByteSizeError> {
    let invalid = || ByteSizeError::Invalid(s.to_string());
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(ByteSizeError::Negative(s.to_string()));
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let power = match unit {
            "B" => 0,
            "KB" | "KiB" => 1,
            "MB" | "MiB" => 2,
            "GB" | "GiB" => 3,
            "TB" | "TiB" => 4,
            "PB" | "PiB" => 5,
            "EB" | "EiB" => 6,
            _ => {
                return Err(ByteSizeError::UnknownUnit {
                    unit: unit.to_string(),
                    input: s.to_string(),
                })
            }
        };
        total += value * 1024f64.powi(power);
    }
    if total > i64::MAX as f64 {
        return Err(ByteSizeError::TooLarge(s.to_string()));
    }
    Ok(total as u64)
}

/// A duration written in Prometheus syntax in a config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PromDuration(pub Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ScalarVisitor {
            expecting: "a duration such as 30s, 1m or 1h30m",
            parse: |s| parse_duration(s).map(PromDuration),
        })
    }
}

/// A byte size written in Prometheus syntax (`10MB` is 10 MiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ScalarVisitor {
            expecting: "a byte size such as 0, 512KB or 10MB",
            parse: |s| parse_base2_bytes(s).map(ByteSize),
        })
    }
}

/// Reads a YAML scalar as text (Go's YAML decoder hands `5` to a string field as "5") and
/// parses it, so the error carries the scalar's position.
struct ScalarVisitor<T, E> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
}

impl<'de, T, PE: fmt::Display> Visitor<'de> for ScalarVisitor<T, PE> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_prometheus() {
        let ok = [
            ("0", 0),
            ("0s", 0),
            ("500ms", 500),
            ("15s", 15_000),
            ("1m30s", 90_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("1h1m1s1ms", 3_661_001),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for bad in ["", "1", "1.5s", "-1s", "1m1h", "1s1s", "1x", "s", "1 m"] {
            assert!(parse_duration(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(
            parse_duration("3fortnights").unwrap_err().to_string(),
            r#"unknown unit "fortnights" in duration "3fortnights""#
        );
    }

    #[test]
    fn durations_format_like_prometheus() {
        let cases = [
            (0, "0s"),
            (15_000, "15s"),
            (90_000, "1m30s"),
            (3_600_000, "1h"),
            (90 * 86_400_000, "90d"),
            (14 * 86_400_000, "2w"),
            (365 * 86_400_000, "1y"),
            (8 * 86_400_000, "8d"),
            (1_500, "1s500ms"),
        ];
        for (ms, s) in cases {
            assert_eq!(format_duration(Duration::from_millis(ms)), s);
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)));
        }
    }

    #[test]
    fn byte_sizes_are_base_two_for_both_spellings() {
        assert_eq!(parse_base2_bytes("0"), Ok(0));
        assert_eq!(parse_base2_bytes("100B"), Ok(100));
        assert_eq!(parse_base2_bytes("10MB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_base2_bytes("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_base2_bytes("1KB"), Ok(1024));
        assert_eq!(parse_base2_bytes("1.5KiB"), Ok(1536));
        assert_eq!(parse_base2_bytes("1GB512MB"), Ok(1536 * 1024 * 1024));
        for bad in ["", "10", "10mb", "MB", "-1MB", "1..5MB", "10 MB"] {
            assert!(parse_base2_bytes(bad).is_err(), "{bad} should not parse");
        }
    }
}
