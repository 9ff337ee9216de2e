//! The exposition parser: Prometheus text format 0.0.4, OpenMetrics 1.0 text and the
//! Prometheus protobuf format ([`protobuf`]).
//!
//! [`parse`] reads one scrape body and pushes every sample, one at a time, into a
//! caller-supplied [`Sink`]; nothing is collected in between. A [`Sample`] borrows from the
//! input (zero-copy): names, the exact `series` text (`foo_bucket{le="1"}`, the key a scrape
//! loop caches per-series work by) and label values, which are only copied when they contain
//! escapes. Plain label blocks are validated but decoded only when the sink iterates them
//! ([`SampleLabels`]), so a scrape loop that finds the series in its cache pays nothing for
//! them. Family metadata (`# HELP`, `# TYPE`, `# UNIT`) goes to [`Sink::metadata`] before the
//! family's first sample.
//!
//! Validation follows Prometheus 3.x's `textparse`: a malformed line fails the whole parse
//! with a [`ParseError`] naming line and column, as a scrape with a bad line fails as a whole.
//! [`detect_format`] and [`Format::from_content_type`] pick the format; [`write_jsonl`] is
//! `redline debug parse --format jsonl`. The protobuf format ([`Format::Protobuf`]) goes
//! through the same [`Sink`], with native histograms pushed to [`Sink::histogram`]; its errors
//! name the metric family and the field instead of a line.
//!
//! ```
//! use redline::exposition::{parse, Format, ParseOptions, Sample, SinkError};
//!
//! let body = b"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 7 1700000000000\n";
//! let mut seen = Vec::new();
//! let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
//!     seen.push((s.series.to_string(), s.value, s.timestamp_ms));
//!     Ok(())
//! };
//! let stats = parse(body, Format::PrometheusText, &ParseOptions::default(), &mut sink).unwrap();
//! assert_eq!(stats.samples, 1);
//! assert_eq!(seen, [("http_requests_total{code=\"200\"}".to_string(), 7.0, Some(1700000000000))]);
//! ```

mod fast_line;
mod jsonl;
mod line;
mod parser;
pub mod protobuf;
mod scan;

use std::borrow::Cow;

pub use jsonl::{write_jsonl, JsonlError};
pub use protobuf::{BucketSpan, HistogramCounts, HistogramSample, NativeHistogram, ResetHint};
pub use scan::NORMAL_NAN_BITS;

/// Which exposition format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// The Prometheus protobuf format, delimited `MetricFamily` messages
    /// (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
    /// encoding=delimited`).
    Protobuf,
}

/// The media type of the protobuf format, without its parameters.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.google.protobuf";

impl Format {
    /// The format a scrape response's `Content-Type` announces: OpenMetrics for
    /// `application/openmetrics-text`, protobuf for `application/vnd.google.protobuf` (any
    /// parameters, as Prometheus reads it), the Prometheus text format otherwise, as
    /// Prometheus falls back to it.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else if media.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
            Format::Protobuf
        } else {
            Format::PrometheusText
        }
    }
}

/// Guesses the format of a body without a content type (files on disk): OpenMetrics when the
/// last non-empty line is `# EOF`, the Prometheus text format otherwise.
pub fn detect_format(input: &[u8]) -> Format {
    let trimmed = input.trim_ascii_end();
    let last_line = match trimmed.iter().rposition(|&b| b == b'\n') {
        Some(i) => trimmed.get(i + 1..).unwrap_or_default(),
        None => trimmed,
    };
    if last_line == b"# EOF" {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// The type a family declared in `# TYPE` (`Unknown` when there was none, or `untyped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The name Prometheus' metadata API uses for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One label of a sample or exemplar. The value is unescaped; it borrows from the input
/// unless it contained escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

/// An OpenMetrics exemplar (`# {trace_id="abc"} 0.5 1700000000.123`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    pub labels: &'a [LabelRef<'a>],
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// One sample line, valid for the duration of one [`Sink::sample`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name of the line, e.g. `foo_bucket`.
    pub name: &'a str,
    /// The exact input text of the name and label block, e.g. `foo_bucket{le="1"}`.
    pub series: &'a str,
    /// Labels in input order, without `__name__`, decoded when iterated.
    pub labels: SampleLabels<'a>,
    /// The value; NaN is Prometheus' canonical NaN ([`NORMAL_NAN_BITS`]).
    pub value: f64,
    /// The explicit timestamp in milliseconds, if the line had one.
    pub timestamp_ms: Option<i64>,
    /// The exemplar, only when [`ParseOptions::keep_exemplars`] is set.
    pub exemplar: Option<&'a Exemplar<'a>>,
    /// The type of the family the line belongs to (`Unknown` when no TYPE applies).
    pub metric_type: MetricType,
    /// The unit of the family the line belongs to (OpenMetrics `# UNIT`, the protobuf
    /// family's `unit`); empty when it has none.
    pub unit: &'a str,
    /// The series' created (start) timestamp in milliseconds, when the exposition gives one:
    /// the protobuf `created_timestamp` of a counter, summary or histogram (every series of
    /// it), or with [`ParseOptions::created_timestamps`] an OpenMetrics `_created` line.
    pub created_timestamp_ms: Option<i64>,
}

/// The labels of a sample line.
///
/// Most label blocks have the plain shape `{a="x",b="y"}`: unquoted names, no escapes, no
/// whitespace. For those the parser only validates the block (names, quotes, separators,
/// duplicates) and hands over its text; [`SampleLabels::iter`] splits it when asked. A scrape
/// loop that knows the series by [`Sample::series`] never asks, as Prometheus' scrape cache
/// reads a line's labels only for a series it has not seen. Other blocks (escapes,
/// whitespace, quoted names) are decoded by the parser.
#[derive(Clone, Copy)]
pub struct SampleLabels<'a>(LabelsRepr<'a>);

#[derive(Clone, Copy)]
enum LabelsRepr<'a> {
    /// Labels the parser decoded.
    Decoded(&'a [LabelRef<'a>]),
    /// A validated plain block, by the positions the parser found: the line (from its
    /// first byte), where the first name starts, and for each label the length of its name
    /// and the position of the `,` or `}` after it.
    Plain {
        line: &'a str,
        first: usize,
        name_len: &'a [usize],
        stops: &'a [usize],
    },
}

impl<'a> SampleLabels<'a> {
    /// Labels the parser has decoded.
    pub fn decoded(labels: &'a [LabelRef<'a>]) -> Self {
        SampleLabels(LabelsRepr::Decoded(labels))
    }

    /// No labels.
    pub fn none() -> Self {
        SampleLabels(LabelsRepr::Decoded(&[]))
    }

    /// A plain block validated by `line::Cursor::label_block_fast`, or the labels of a
    /// protobuf series text the decoder wrote plainly (see [`LabelsRepr`]).
    pub(crate) fn plain(
        line: &'a str,
        first: usize,
        name_len: &'a [usize],
        stops: &'a [usize],
    ) -> Self {
        SampleLabels(LabelsRepr::Plain {
            line,
            first,
            name_len,
            stops,
        })
    }

    pub fn len(&self) -> usize {
        match self.0 {
            LabelsRepr::Decoded(l) => l.len(),
            LabelsRepr::Plain { stops, .. } => stops.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels in input order. Values are unescaped and borrow from the input or the
    /// parser.
    pub fn iter(&self) -> SampleLabelsIter<'a> {
        match self.0 {
            LabelsRepr::Decoded(l) => SampleLabelsIter(IterRepr::Decoded(l.iter())),
            LabelsRepr::Plain {
                line,
                first,
                name_len,
                stops,
            } => SampleLabelsIter(IterRepr::Plain {
                line,
                next: first,
                labels: name_len.iter().zip(stops),
            }),
        }
    }

    /// The value of the label `name`, if the line has it.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

impl<'a> IntoIterator for SampleLabels<'a> {
    type Item = LabelRef<'a>;
    type IntoIter = SampleLabelsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for SampleLabels<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for SampleLabels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The iterator of [`SampleLabels::iter`].
#[derive(Clone)]
pub struct SampleLabelsIter<'a>(IterRepr<'a>);

#[derive(Clone)]
enum IterRepr<'a> {
    Decoded(std::slice::Iter<'a, LabelRef<'a>>),
    /// A plain block: where the next name starts, and the rest of its labels.
    Plain {
        line: &'a str,
        next: usize,
        labels: std::iter::Zip<std::slice::Iter<'a, usize>, std::slice::Iter<'a, usize>>,
    },
}

impl<'a> Iterator for SampleLabelsIter<'a> {
    type Item = LabelRef<'a>;

    fn next(&mut self) -> Option<LabelRef<'a>> {
        match &mut self.0 {
            IterRepr::Decoded(it) => it.next().map(|l| LabelRef {
                name: l.name,
                value: Cow::Borrowed(match &l.value {
                    Cow::Borrowed(v) => v,
                    Cow::Owned(v) => v.as_str(),
                }),
            }),
            IterRepr::Plain { line, next, labels } => {
                // `name="value"` then `,` or `}` at `stop`.
                let (&len, &stop) = labels.next()?;
                let name = line.get(*next..*next + len)?;
                let value = line.get(*next + len + 2..stop.checked_sub(1)?)?;
                *next = stop + 1;
                Some(LabelRef {
                    name,
                    value: Cow::Borrowed(value),
                })
            }
        }
    }
}

/// A sink's refusal of a sample (e.g. a sample limit); stops the parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Receives what [`parse`] reads, in input order.
pub trait Sink {
    /// Called once per family's metadata block, before the family's first sample.
    fn metadata(
        &mut self,
        _family: &str,
        _kind: MetricType,
        _help: Option<&str>,
        _unit: Option<&str>,
    ) {
    }

    /// Called for every sample; an error stops the parse and is returned as a
    /// [`ParseError`] of kind [`ParseErrorKind::Sink`].
    fn sample(&mut self, sample: &Sample<'_>) -> Result<(), SinkError>;

    /// Called for every native histogram (only the protobuf format carries them, and only
    /// with [`ParseOptions::native_histograms`]). A sink that does not take them refuses,
    /// which stops the parse.
    fn histogram(&mut self, histogram: &HistogramSample<'_>) -> Result<(), SinkError> {
        Err(SinkError(format!(
            "native histogram {}: this reader takes float samples only",
            histogram.series
        )))
    }

    /// Called, with [`ParseOptions::classic_histograms`], for every classic histogram of a
    /// protobuf body as a whole (after its classic series, if those are pushed too). Ignored
    /// unless implemented.
    fn classic_histogram(&mut self, _histogram: &ClassicHistogram<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// One classic histogram of a protobuf body as a whole, valid for the duration of one
/// [`Sink::classic_histogram`] call: what Prometheus' protobuf parser converts into a native
/// histogram with custom buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassicHistogram<'a> {
    /// The family name (no suffix).
    pub name: &'a str,
    /// The series as text under the family name (`name{a="x"}`), as
    /// [`HistogramSample::series`] would be.
    pub series: &'a str,
    /// Labels in input order, without `__name__`.
    pub labels: SampleLabels<'a>,
    pub timestamp_ms: Option<i64>,
    pub created_timestamp_ms: Option<i64>,
    /// `Histogram` or `GaugeHistogram`.
    pub metric_type: MetricType,
    /// The family's unit, empty for none.
    pub unit: &'a str,
    /// `sample_count_float` when positive, else `sample_count`.
    pub count: f64,
    pub sum: f64,
    /// Every bucket as sent: upper bound and cumulative count (`cumulative_count_float`
    /// when positive, else `cumulative_count`).
    pub buckets: &'a [(f64, f64)],
}

/// Any `FnMut(&Sample) -> Result<(), SinkError>` is a sink that ignores metadata.
impl<F> Sink for F
where
    F: FnMut(&Sample<'_>) -> Result<(), SinkError>,
{
    fn sample(&mut self, sample: &Sample<'_>) -> Result<(), SinkError> {
        self(sample)
    }
}

/// Parser switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Pass exemplars to the sink (they are always parsed and validated).
    pub keep_exemplars: bool,
    /// Protobuf: push native histograms to [`Sink::histogram`] (`scrape_native_histograms`);
    /// without it every histogram is read as a classic one.
    pub native_histograms: bool,
    /// Protobuf: with `native_histograms`, also push the classic series of a histogram that
    /// has both (`always_scrape_classic_histograms`); with `classic_histograms`, also push
    /// the classic series of a histogram handed to [`Sink::classic_histogram`].
    pub keep_classic_histograms: bool,
    /// Protobuf: hand every classic histogram to [`Sink::classic_histogram`] as a whole,
    /// instead of its series (`convert_classic_histograms_to_nhcb`; see
    /// `keep_classic_histograms`).
    pub classic_histograms: bool,
    /// OpenMetrics: give each sample of a counter, summary or histogram family the
    /// created timestamp of its `_created` line ([`Sample::created_timestamp_ms`]), and push
    /// no `_created` series (Prometheus' `created-timestamp-zero-ingestion`).
    pub created_timestamps: bool,
}

/// What a successful parse read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub samples: usize,
    pub lines: usize,
}

/// Whether a parse failed on the input or because the sink refused a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    Syntax,
    Sink,
}

/// Where and why a parse failed. `line` and `column` are 1-based; the column counts
/// characters. The protobuf format has no lines: there both are 0 and the message names the
/// metric family and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_parse_error(*.line, *.column, .message))]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub kind: ParseErrorKind,
}

fn render_parse_error(line: usize, column: usize, message: &str) -> String {
    if line == 0 {
        message.to_string()
    } else {
        format!("line {line}, column {column}: {message}")
    }
}

/// Parses `input` in `format`, pushing each sample into `sink`. Stops at the first malformed
/// line or message (or sink error); samples pushed before it are the caller's to roll back.
/// For the protobuf format [`ParseStats::lines`] counts metric families.
pub fn parse<S: Sink>(
    input: &[u8],
    format: Format,
    options: &ParseOptions,
    sink: &mut S,
) -> Result<ParseStats, ParseError> {
    if format == Format::Protobuf {
        return protobuf::parse(input, options, sink);
    }
    parser_for(input, format, options)?.run(sink)
}

/// The parser over `input`, once it is known to be UTF-8.
fn parser_for<'i>(
    input: &'i [u8],
    format: Format,
    options: &ParseOptions,
) -> Result<parser::Parser<'i>, ParseError> {
    // The SIMD check first; std's names the position of an error.
    match simdutf8::basic::from_utf8(input) {
        Ok(text) => Ok(parser::Parser::new(text, format, options)),
        Err(_) => match std::str::from_utf8(input) {
            Ok(text) => Ok(parser::Parser::new(text, format, options)),
            Err(e) => Err(utf8_error(input, e.valid_up_to())),
        },
    }
}

/// [`parse`] with the text format's fast path switched off (see `fast_line`): the reference
/// the fast path is compared with by the unit tests and by the fuzz target (feature
/// `fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
pub fn parse_general<S: Sink>(
    input: &[u8],
    format: Format,
    options: &ParseOptions,
    sink: &mut S,
) -> Result<ParseStats, ParseError> {
    if format == Format::Protobuf {
        return protobuf::parse(input, options, sink);
    }
    parser_for(input, format, options)?
        .without_fast_path()
        .run(sink)
}

fn utf8_error(input: &[u8], valid_up_to: usize) -> ParseError {
    let valid = input.get(..valid_up_to).unwrap_or_default();
    let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let prefix = valid.get(line_start..).unwrap_or_default();
    let column = std::str::from_utf8(prefix).map_or(prefix.len(), |s| s.chars().count()) + 1;
    ParseError {
        line,
        column,
        message: "invalid UTF-8".to_string(),
        kind: ParseErrorKind::Syntax,
    }
}

#[cfg(test)]
mod tests;
