//! The fast path for the common text-format sample line.
//!
//! Nearly every line of a real scrape has one shape: `name{a="x",b="y"} value[ timestamp]`
//! with an unquoted name, no whitespace but the single spaces before the value and the
//! timestamp, no escapes, an integer or plain decimal value and an integer timestamp.
//! [`text_sample`] reads exactly that shape in one forward pass from the line's first byte,
//! and finds the line's end on the way (the newline after the value or timestamp), so the
//! line needs no separate newline search. Label blocks are validated, not decoded, by
//! [`Cursor::label_block_fast`] with the previous line's shared prefix, names and sort order
//! ([`LineReuse`]); values and timestamps are converted eight digits at a time.
//!
//! Anything else — comments, metadata, blank lines, whitespace, quoted names, escapes, `NaN`
//! written oddly, a timestamp of 19 digits, and every malformed line — makes it return `None`
//! before anything is reported: the caller then parses the line with the general path, which
//! holds all the format's rules and errors. So the fast path never decides that a line is
//! wrong; it only accepts lines the general path reads the same way.

use super::line::{Cursor, LineReuse};
use super::parser::LastTimestamp;
use super::scan::{
    eq_at, is_metric_start, parse_float, scan_digits, scan_metric_name, scan_plain_decimal,
};

/// A sample line read by the fast path.
#[derive(Debug)]
pub(super) struct FastSample<'i> {
    pub(super) name: &'i str,
    pub(super) series: &'i str,
    /// Whether the series has a label block (validated; its labels are in the reuse state).
    pub(super) has_labels: bool,
    pub(super) value: f64,
    pub(super) timestamp_ms: Option<i64>,
    /// Whether the metric name is the previous sample line's.
    pub(super) same_name: bool,
    /// Where the next line starts (the input's length after the last line).
    pub(super) next: usize,
}

/// Reads the text-format sample line starting at `cur.line_start` if it has the common
/// shape (see the module docs); `None` otherwise, with `reuse` marked invalid so that the
/// general path starts afresh.
#[inline(always)]
pub(super) fn text_sample<'i>(
    cur: &Cursor<'i>,
    reuse: &mut LineReuse,
    last_ts: &mut Option<LastTimestamp>,
) -> Option<FastSample<'i>> {
    let read = read_line(cur, reuse, last_ts);
    if read.is_none() {
        reuse.invalidate();
    }
    read
}

#[inline(always)]
fn read_line<'i>(
    cur: &Cursor<'i>,
    reuse: &mut LineReuse,
    last_ts: &mut Option<LastTimestamp>,
) -> Option<FastSample<'i>> {
    let input = cur.input;
    let b = input.as_bytes();
    let len = b.len();
    let start = cur.line_start;

    // Metric name: the previous line's (which starts the line: see `LineReuse::valid`), or
    // scanned.
    let (known_name_end, kept) = reuse.plan(b, start, len);
    let name_end = match known_name_end {
        Some(e) => e,
        None => {
            if !is_metric_start(*b.get(start)?) {
                return None;
            }
            scan_metric_name(b, start + 1, len)
        }
    };
    let name = input.get(start..name_end)?;

    // Label block.
    let series_end = match *b.get(name_end)? {
        b'{' => {
            let resume = reuse.resume(kept).map_or(name_end, |stop| start + stop);
            if kept == reuse.count && b.get(resume) == Some(&b'}') {
                // The whole block is the previous line's.
                resume + 1
            } else {
                cur.label_block_fast(resume + 1, len, kept, reuse)?
            }
        }
        b' ' => {
            reuse.no_labels();
            name_end
        }
        _ => return None,
    };
    if b.get(series_end) != Some(&b' ') {
        return None;
    }
    let series = input.get(start..series_end)?;

    // Value: digits, a plain decimal, or a token up to the next space or newline for
    // `parse_float`.
    let v = series_end + 1;
    let (value, v_end) = match scan_digits(b, v) {
        Some((x, n @ 1..=15)) if matches!(b.get(v + n), None | Some(b' ' | b'\n')) => {
            (x as f64, v + n)
        }
        Some((x, n @ 1..=15)) => match scan_plain_decimal(b, v, x, n) {
            Some(read) => read,
            None => token_value(input, v)?,
        },
        _ => token_value(input, v)?,
    };

    // Timestamp: the previous line's text again, or integer milliseconds.
    let (timestamp_ms, line_end) = match b.get(v_end) {
        None => (None, len),
        Some(b'\n') => (None, v_end),
        Some(_) => {
            let t = v_end + 1;
            match *last_ts {
                // The same text and newline as the last timestamp (which a newline ended, or
                // there would be no line after it).
                Some(prev) if eq_at(b, t, prev.at, prev.len + 1) => (Some(prev.ms), t + prev.len),
                _ => {
                    let neg = b.get(t) == Some(&b'-');
                    let d = t + usize::from(neg);
                    let (x, n) = scan_digits(b, d)?;
                    let t_end = d + n;
                    if n == 0 || !matches!(b.get(t_end), None | Some(b'\n')) {
                        return None;
                    }
                    // At most 15 digits: fits an i64 either way.
                    let ms = i64::try_from(x).ok()?;
                    let ms = if neg { -ms } else { ms };
                    *last_ts = Some(LastTimestamp {
                        at: t,
                        len: t_end - t,
                        ms,
                    });
                    (Some(ms), t_end)
                }
            }
        }
    };

    reuse.valid = true;
    reuse.start = start;
    reuse.name_end = name_end - start;
    reuse.len = series_end.max(name_end + 1).min(line_end) - start;
    Some(FastSample {
        name,
        series,
        has_labels: series_end > name_end,
        value,
        timestamp_ms,
        same_name: known_name_end.is_some(),
        next: (line_end + 1).min(len),
    })
}

/// The value token at `v` (up to a space or newline) read by `parse_float`, and its end.
#[inline(never)]
fn token_value(input: &str, v: usize) -> Option<(f64, usize)> {
    let rest = input.as_bytes().get(v..)?;
    let n = rest.iter().position(|&c| c <= b' ').unwrap_or(rest.len());
    let v_end = v + n;
    if n == 0 || !matches!(rest.get(n), None | Some(b' ' | b'\n')) {
        return None;
    }
    Some((parse_float(input.get(v..v_end)?).ok()?, v_end))
}
