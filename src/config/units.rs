//! Prometheus' value syntaxes for durations and byte sizes.
//!
//! Durations are parsed and printed by [`crate::timefmt::parse_duration`] and
//! [`crate::timefmt::format_duration`]. [`parse_base2_bytes`] follows
//! `units.ParseBase2Bytes`, which Prometheus uses for `body_size_limit`: `KB` and `KiB` both
//! mean 1024 bytes there. [`PromDuration`] and [`ByteSize`] are the serde forms of these.

use std::fmt;
use std::time::Duration;

use crate::timefmt::parse_duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

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
