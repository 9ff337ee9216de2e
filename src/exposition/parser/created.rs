//! OpenMetrics `_created` lines as created timestamps, as Prometheus'
//! `OpenMetricsParser.CreatedTimestamp` finds them for `created-timestamp-zero-ingestion`.
//!
//! A sample of a counter, summary or histogram family has the created timestamp of the first
//! `_created` line after it, before the next `#` line, when that line is of the same series:
//! its name without `_created` is the family name and its labels are the sample's, leaving
//! out `le` (histograms) and `quantile` (summaries); the first `_created` line of another
//! series means "none" (Prometheus peeks no further). Its value is in seconds; the timestamp
//! is `value * 1000` truncated to an integer, as Prometheus converts it. Like Prometheus, a
//! timestamp found is remembered for the next samples of the same series.
//!
//! Prometheus peeks ahead line by line from every sample; here the lines after a sample are
//! read once, up to the next `#` line, and only those named `..._created` (or with a quoted
//! name) are parsed: a malformed line in between fails the whole parse anyway.

use super::{at, is_metric_start, scan_metric_name, MetricType, Parser};
use crate::exposition::{ParseOptions, Sample, SinkError};

/// A `_created` line read ahead.
struct CreatedLine {
    /// Where the line starts.
    start: usize,
    /// Its name without `_created`.
    base: String,
    labels: Vec<(String, String)>,
    /// Its value in milliseconds.
    ms: i64,
}

/// The `_created` lines read ahead of the parse, and the timestamp last found.
#[derive(Default)]
pub(super) struct CreatedLookup {
    /// Where the lines read ahead end: the start of the next `#` line (or of the input's end).
    until: usize,
    lines: Vec<CreatedLine>,
    /// The first of `lines` after the sample being read.
    next: usize,
    /// The series (its key, see [`series_key`]) and timestamp last found.
    found: Option<(String, i64)>,
}

/// Whether samples of this type have created timestamps (Prometheus' `typeRequiresCT`).
pub(super) fn has_created(kind: MetricType) -> bool {
    matches!(
        kind,
        MetricType::Counter | MetricType::Summary | MetricType::Histogram
    )
}

/// What identifies a series among its family's `_created` lines: the family name and the
/// labels in input order, without `le` for a histogram and `quantile` for a summary.
pub(super) fn series_key<'x>(
    family: &str,
    kind: MetricType,
    labels: impl Iterator<Item = (&'x str, &'x str)>,
) -> String {
    let mut key = String::new();
    for (name, value) in labels {
        if (kind == MetricType::Histogram && name == "le")
            || (kind == MetricType::Summary && name == "quantile")
        {
            continue;
        }
        key.push_str(name);
        key.push('\u{0}');
        key.push_str(value);
        key.push('\u{0}');
    }
    key.push_str(family);
    key
}

/// Captures the one sample a look-ahead line holds.
#[derive(Default)]
struct Capture {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl crate::exposition::Sink for Capture {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.name = s.name.to_string();
        self.labels = s
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.into_owned()))
            .collect();
        self.value = s.value;
        Ok(())
    }
}

impl<'i> Parser<'i> {
    /// The created timestamp of the sample on the current line, of type `kind`, in family
    /// `family`, whose [`series_key`] is `key`.
    pub(super) fn created_timestamp(
        &mut self,
        family: &str,
        kind: MetricType,
        key: String,
    ) -> Option<i64> {
        let line_start = self.cur.line_start;
        let input = self.cur.input;
        let lookup = self.created.get_or_insert_with(CreatedLookup::default);
        if !has_created(kind) {
            lookup.found = None;
            return None;
        }
        if let Some((k, ms)) = &lookup.found {
            if *k == key && *ms > 0 {
                return Some(*ms);
            }
        }
        if line_start >= lookup.until {
            let b = input.as_bytes();
            let from = memchr::memchr(b'\n', b.get(line_start..).unwrap_or_default())
                .map_or(b.len(), |i| line_start + i + 1);
            let (lines, until) = read_ahead(input, self.format, from);
            lookup.lines = lines;
            lookup.until = until;
            lookup.next = 0;
        }
        while lookup
            .lines
            .get(lookup.next)
            .is_some_and(|l| l.start <= line_start)
        {
            lookup.next += 1;
        }
        let found = lookup.lines.get(lookup.next).filter(|l| {
            l.base == family
                && series_key(
                    &l.base,
                    kind,
                    l.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                ) == key
        });
        match found {
            Some(l) => {
                let ms = l.ms;
                lookup.found = Some((key, ms));
                (ms != 0).then_some(ms)
            }
            None => {
                lookup.found = None;
                None
            }
        }
    }
}

/// The `_created` lines from `from` up to the next `#` line, and where that line starts.
fn read_ahead(
    input: &str,
    format: crate::exposition::Format,
    from: usize,
) -> (Vec<CreatedLine>, usize) {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut pos = from;
    let options = ParseOptions::default();
    while pos < b.len() {
        let end = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
        match at(b, pos, end) {
            Some(b'#') => return (out, pos),
            Some(c) if is_metric_start(c) => {
                let name_end = scan_metric_name(b, pos, end);
                if b.get(pos..name_end)
                    .is_some_and(|n| n.ends_with(b"_created"))
                {
                    parse_created(input, format, &options, pos, end, &mut out);
                }
            }
            Some(b'{') => parse_created(input, format, &options, pos, end, &mut out),
            _ => {}
        }
        pos = end + 1;
    }
    (out, b.len())
}

/// Parses the line `start..end` and keeps it when it is a `_created` sample.
fn parse_created(
    input: &str,
    format: crate::exposition::Format,
    options: &ParseOptions,
    start: usize,
    end: usize,
    out: &mut Vec<CreatedLine>,
) {
    let mut sub = Parser::new(input, format, options);
    sub.cur.line_start = start;
    let mut cap = Capture::default();
    if sub.sample_line(start, end, &mut cap).is_err() {
        return;
    }
    if let Some(base) = cap.name.strip_suffix("_created") {
        out.push(CreatedLine {
            start,
            base: base.to_string(),
            labels: cap.labels,
            ms: (cap.value * 1000.0) as i64,
        });
    }
}
