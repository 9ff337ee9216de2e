//! Prometheus' name escaping schemes (prometheus/common `model.EscapeName` and
//! `model.UnescapeName`): how a name outside the legacy character set `[a-zA-Z0-9_:]` is
//! written for a consumer that only reads legacy names.
//!
//! A target asked for `escaping=underscores|dots|values` (the scrape's `Accept` header,
//! [`super::ScrapeProtocol::accept_header_escaping`]) escapes its names before redline reads
//! them, and Prometheus 3's `/api/v1/label/<name>/values` reads a `U__` name as escaped with
//! `values`. [`EscapingScheme::escape`] and [`EscapingScheme::unescape`] are those two
//! functions; `underscores` cannot be undone, `dots` only partly.

use super::EscapingScheme;

/// Whether `c`, at character index `i`, may stand in a legacy metric name.
fn legacy_char(c: char, i: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && i > 0)
}

fn is_legacy_metric_name(name: &str) -> bool {
    !name.is_empty() && name.chars().enumerate().all(|(i, c)| legacy_char(c, i))
}

impl EscapingScheme {
    /// `name` escaped with this scheme, as prometheus/common's current `model.EscapeName`
    /// writes it (`dots` turns a character outside the legacy set into `__`; `values`
    /// writes the code point in lower-case hex of any width). Legacy names stay as they
    /// are, except under `dots`, which doubles every underscore.
    pub fn escape(self, name: &str) -> String {
        if name.is_empty() {
            return String::new();
        }
        let mut out = String::with_capacity(name.len() + 8);
        match self {
            EscapingScheme::AllowUtf8 => return name.to_string(),
            EscapingScheme::Underscores => {
                if is_legacy_metric_name(name) {
                    return name.to_string();
                }
                for (i, c) in name.chars().enumerate() {
                    out.push(if legacy_char(c, i) { c } else { '_' });
                }
            }
            EscapingScheme::Dots => {
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        '.' => out.push_str("_dot_"),
                        c if legacy_char(c, i) => out.push(c),
                        _ => out.push_str("__"),
                    }
                }
            }
            EscapingScheme::Values => {
                if is_legacy_metric_name(name) {
                    return name.to_string();
                }
                out.push_str("U__");
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        c if legacy_char(c, i) => out.push(c),
                        c => {
                            out.push('_');
                            out.push_str(&format!("{:x}", u32::from(c)));
                            out.push('_');
                        }
                    }
                }
            }
        }
        out
    }

    /// Undoes [`EscapingScheme::escape`] where that is possible: `dots` turns `_dot_` back
    /// into `.` and `__` into `_`; `values` decodes a `U__` name (`_2e_` is `.`, `__` is `_`).
    /// A `values` name that does not decode (no `U__` prefix, a code point that is not hex,
    /// of six digits or more, unterminated, or not a Unicode scalar value) is returned as it
    /// is, as upstream does.
    pub fn unescape(self, name: &str) -> String {
        match self {
            EscapingScheme::AllowUtf8 | EscapingScheme::Underscores => name.to_string(),
            EscapingScheme::Dots => name.replace("_dot_", ".").replace("__", "_"),
            EscapingScheme::Values => unescape_values(name).unwrap_or_else(|| name.to_string()),
        }
    }
}

/// The `values` decoding; `None` where upstream gives the input back.
fn unescape_values(name: &str) -> Option<String> {
    let escaped = name.strip_prefix("U__")?;
    let b = escaped.as_bytes();
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'_' {
            // Copy the whole character (escaped names are legacy, but be exact on any input).
            let ch = escaped.get(i..)?.chars().next()?;
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        i += 1;
        match b.get(i)? {
            b'_' => {
                out.push('_');
                i += 1;
            }
            _ => {
                let mut code: u32 = 0;
                let mut digits = 0;
                loop {
                    // Upstream gives up at a seventh byte before looking at it, so a code
                    // point of six hex digits (U+100000 and above) does not decode.
                    if digits >= 6 {
                        return None;
                    }
                    let c = *b.get(i)?;
                    if c == b'_' {
                        out.push(char::from_u32(code)?);
                        i += 1;
                        break;
                    }
                    code = code * 16 + char::from(c).to_digit(16)?;
                    digits += 1;
                    i += 1;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::EscapingScheme::{AllowUtf8, Dots, Underscores, Values};

    // Expected values worked out by hand from the rules in prometheus/docs
    // `instrumenting/escaping_schemes.md` and prometheus/common `model.EscapeName`.
    #[test]
    fn escape_follows_each_scheme() {
        let name = "http.server_duration";
        assert_eq!(AllowUtf8.escape(name), "http.server_duration");
        // '.' is not legacy: '_'.
        assert_eq!(Underscores.escape(name), "http_server_duration");
        // '.' -> "_dot_", '_' -> "__".
        assert_eq!(Dots.escape(name), "http_dot_server__duration");
        // "U__", '.' (U+2E) -> "_2e_", '_' -> "__".
        assert_eq!(Values.escape(name), "U__http_2e_server__duration");
        // A leading digit is not legacy; 'é' is U+E9, '🙂' U+1F642.
        assert_eq!(Underscores.escape("0é"), "__");
        assert_eq!(Values.escape("0é🙂"), "U___30__e9__1f642_");
        // Legacy names stay, except that dots doubles their underscores.
        assert_eq!(Underscores.escape("a_b:c"), "a_b:c");
        assert_eq!(Values.escape("a_b:c"), "a_b:c");
        assert_eq!(Dots.escape("a_b:c"), "a__b:c");
    }

    #[test]
    fn unescape_reverses_dots_and_values() {
        assert_eq!(
            Values.unescape("U__http_2e_server__duration"),
            "http.server_duration"
        );
        assert_eq!(Values.unescape("U___30__e9__1f642_"), "0é🙂");
        assert_eq!(
            Values.unescape("U__a_2E_b"),
            "a.b",
            "hex digits in either case"
        );
        assert_eq!(
            Dots.unescape("http_dot_server__duration"),
            "http.server_duration"
        );
        assert_eq!(Underscores.unescape("http_server"), "http_server");
        for s in [
            "http.server_duration",
            "0é🙂",
            "service.name",
            "a b",
            "\u{fffff}",
        ] {
            assert_eq!(Values.unescape(&Values.escape(s)), s);
        }
    }

    #[test]
    fn undecodable_values_names_are_kept() {
        for bad in [
            "no_prefix",
            "U__a_",         // ends inside an escape
            "U__a_2e",       // no closing underscore
            "U__a_zz_",      // not hex
            "U__a_1234567_", // more than six digits
            "U__a_100000_",  // six digits: upstream stops before the closing underscore
            "U__a_d800_",    // a surrogate is not a character
            "U__a_110000_",  // beyond U+10FFFF
        ] {
            assert_eq!(Values.unescape(bad), bad);
        }
    }
}
