//! The Prometheus protobuf exposition format (`application/vnd.google.protobuf;
//! proto=io.prometheus.client.MetricFamily; encoding=delimited`): a sequence of
//! `MetricFamily` messages of `prometheus/client_model`'s `metrics.proto`, each preceded by
//! its length as a varint.
//!
//! The decoder is hand-written (`wire`; [`encode`] writes the format for tests and
//! benchmarks) and hands the sink what Prometheus' `protobufparse`
//! makes of each family, so a scrape stores the same series whichever format the target
//! answers in: family metadata first ([`Sink::metadata`], for families with at least one
//! metric), then per metric its samples. Counters, gauges and untyped metrics are one sample
//! each (a counter's exemplar with it); a summary is `_count`, `_sum` and one sample per
//! quantile with a `quantile` label; a classic histogram is `_count`, `_sum` and one
//! `_bucket` sample per bucket with an `le` label, up to the first `+Inf` bucket or, when the
//! target sent none, a `+Inf` bucket holding the count. `le` and `quantile` values are
//! printed as Prometheus prints them (`1.0`, `0.25`, `1e+06`, `+Inf`). Created timestamps
//! are not turned into samples (Prometheus' protobuf parser emits no `_created` series):
//! every series of a counter, summary or histogram carries its metric's `created_timestamp`
//! ([`Sample::created_timestamp_ms`]), for the scrape's `created-timestamp-zero-ingestion`.
//! A timestamp of 0 means "none", as in Prometheus (proto3 cannot tell unset from 0), and so
//! does a created timestamp of 0.
//!
//! With [`ParseOptions::classic_histograms`] (`convert_classic_histograms_to_nhcb`) each
//! histogram read as a classic one goes to [`Sink::classic_histogram`] as a whole, with every
//! bucket as sent, after its classic series when [`ParseOptions::keep_classic_histograms`]
//! is set and instead of them otherwise, as Prometheus' protobuf parser emits the converted
//! histogram.
//!
//! A histogram family whose first metric has a native part (a span, a zero threshold or a
//! zero count, Prometheus' `isNativeHistogram`) is a native histogram family when
//! [`ParseOptions::native_histograms`] is set: each metric goes to [`Sink::histogram`] as a
//! [`HistogramSample`] holding the wire histogram ([`NativeHistogram`]: integer deltas or
//! float counts as sent, spans checked against the number of counts), followed by its
//! classic series when [`ParseOptions::keep_classic_histograms`] is set and it has classic
//! buckets. Without `native_histograms` every histogram is read as a classic one, as
//! Prometheus does with `scrape_native_histograms: false`.
//!
//! Sample values keep their bits except NaN, which becomes Prometheus' canonical NaN as in
//! the text formats (so no target can send a staleness marker). Every error names the
//! family (its position and, once read, its name) and the field path, e.g.
//! `metric family 3 "rpc_seconds": metric[0].histogram.positive_span[1]: unexpected end of
//! message in a varint`. Nothing is allocated from a length the input states: every
//! repeated field is bounded by the bytes it was read from.

pub mod encode;
mod wire;

use std::borrow::Cow;

use super::scan::NORMAL_NAN_BITS;
use super::{
    Exemplar, LabelRef, MetricType, ParseError, ParseErrorKind, ParseOptions, ParseStats, Sample,
    SampleLabels, Sink, SinkError,
};
use wire::{ExemplarMsg, LabelBytes, MetricMsg, WireError};

pub use wire::BucketSpan;

/// What a native histogram's producer says about counter resets: a gauge histogram
/// (`GAUGE_HISTOGRAM`) never resets; for a counter histogram the exposition format says
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetHint {
    Unknown,
    Gauge,
}

/// A native histogram's counts as the target sent them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HistogramCounts<'a> {
    /// Integer counts; bucket counts are deltas, each to the previous bucket of the same
    /// sign (the first to 0).
    Integer {
        count: u64,
        zero_count: u64,
        positive_deltas: &'a [i64],
        negative_deltas: &'a [i64],
    },
    /// Float counts (sent when `sample_count_float` or `zero_count_float` is positive);
    /// bucket counts are absolute.
    Float {
        count: f64,
        zero_count: f64,
        positive_counts: &'a [f64],
        negative_counts: &'a [f64],
    },
}

/// One native histogram as the wire carries it. The spans of each sign cover exactly as
/// many buckets as the counts of that sign list (the decoder checks it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NativeHistogram<'a> {
    /// As sent; the reader checks the range (-4..=8 for exponential buckets).
    pub schema: i32,
    pub zero_threshold: f64,
    pub sum: f64,
    pub positive_spans: &'a [BucketSpan],
    pub negative_spans: &'a [BucketSpan],
    pub counts: HistogramCounts<'a>,
    pub reset_hint: ResetHint,
}

/// One native histogram sample, valid for the duration of one [`Sink::histogram`] call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramSample<'a> {
    /// The family name.
    pub name: &'a str,
    /// The series as text (`name{a="x"}`), unique per label set: the key a scrape loop
    /// caches per-series work by, as [`Sample::series`].
    pub series: &'a str,
    /// Labels in input order, without `__name__`.
    pub labels: SampleLabels<'a>,
    pub timestamp_ms: Option<i64>,
    /// `Histogram` or `GaugeHistogram`.
    pub metric_type: MetricType,
    /// The family's unit; empty when it has none.
    pub unit: &'a str,
    pub histogram: &'a NativeHistogram<'a>,
    /// The histogram's `created_timestamp`.
    pub created_timestamp_ms: Option<i64>,
}

/// Parses a delimited protobuf body into `sink`.
pub(super) fn parse<S: Sink>(
    input: &[u8],
    options: &ParseOptions,
    sink: &mut S,
) -> Result<ParseStats, ParseError> {
    let mut decoder = Decoder::new(options);
    let mut rest = input;
    let mut index = 0usize;
    let mut stats = ParseStats::default();
    while !rest.is_empty() {
        index += 1;
        let family = frame(rest).map_err(|m| syntax(format!("metric family {index}: {m}")))?;
        rest = &rest[family.1..];
        stats.samples += decoder.family(family.0, index, sink)?;
        stats.lines += 1;
    }
    Ok(stats)
}

/// The next length-delimited message of `rest` and the bytes it takes with its length: as
/// Prometheus' decoder, the length is a varint of at most 5 bytes.
fn frame(rest: &[u8]) -> Result<(&[u8], usize), String> {
    let mut len: u64 = 0;
    let mut used = 0;
    loop {
        let Some(&b) = rest.get(used) else {
            return Err("truncated length prefix".into());
        };
        len |= u64::from(b & 0x7f) << (7 * used);
        used += 1;
        if b < 0x80 {
            break;
        }
        if used == 5 {
            return Err("invalid varint length prefix".into());
        }
    }
    let total = used as u64 + len;
    if total > rest.len() as u64 {
        return Err(format!(
            "insufficient length of buffer, expected at least {total} bytes, got {} bytes",
            rest.len()
        ));
    }
    Ok((&rest[used..total as usize], total as usize))
}

fn syntax(message: String) -> ParseError {
    ParseError {
        line: 0,
        column: 0,
        message,
        kind: ParseErrorKind::Syntax,
    }
}

/// The decoder's buffers, reused from family to family, so a warmed-up decoder allocates
/// nothing per sample.
struct Decoder<'a, 'o> {
    options: &'o ParseOptions,
    metrics: Vec<&'a [u8]>,
    metric: MetricMsg<'a>,
    /// The sample's name (family name plus suffix).
    name: String,
    /// For a family whose name is not a legacy name: `"` and the escaped name, the way the
    /// series text starts (the suffix and the closing quote follow).
    quoted_name: String,
    series: String,
    /// Where the labels start in `series`.
    labels_at: usize,
    /// Whether `series` is the series of the metric's one sample (a counter, gauge or
    /// untyped metric), written with its labels instead of `label_text`.
    series_ready: bool,
    /// The metric's labels as the series text writes them (`a="x",b="y"`, empty without
    /// labels), written once per metric and copied into each of its samples' series.
    /// Writing it is what checks that the labels are UTF-8: the text is checked as a whole.
    label_text: String,
    /// Whether the series text holds the metric's labels plainly (legacy names, no escapes
    /// in values): then a sample's labels are read back from its series when a sink asks
    /// ([`SampleLabels::plain`], with `name_lens` and `stops`), and `labels` is not written.
    plain: bool,
    /// Plain labels: each label's name length and the position of the `,` or `}` after it,
    /// from where the labels start in the series; a sample's `le` or `quantile` label is
    /// pushed after them for its sink call and popped after.
    name_lens: Vec<usize>,
    stops: Vec<usize>,
    /// Labels that are not plain, decoded, in input order, written once per metric; a
    /// sample's `le` or `quantile` label is pushed after them as for `stops`.
    labels: Vec<LabelRef<'a>>,
    label_strs: Vec<(&'a str, &'a str)>,
    /// The buffer of the pushed `le`/`quantile` label's value, taken back after each sample.
    magic_value: String,
    /// `le`/`quantile` values as printed, by position in the metric (bucket or quantile
    /// index) with the bits they print: the metrics of a family mostly share them.
    bound_texts: Vec<(u64, String)>,
    exemplar_labels: Vec<(&'a str, &'a str)>,
    exemplar_refs: Vec<LabelRef<'a>>,
    /// The created timestamp of the metric being read.
    created: Option<i64>,
    /// A classic histogram's buckets for [`Sink::classic_histogram`].
    buckets: Vec<(f64, f64)>,
}

/// The family being read.
struct Family<'a> {
    index: usize,
    name: &'a str,
    kind: MetricType,
    unit: &'a str,
    /// Whether its histograms go to the sink as native histograms.
    native: bool,
    /// Whether the family name is a legacy name (then so is the name with any suffix).
    legacy_name: bool,
}

impl Family<'_> {
    fn error(&self, e: WireError) -> ParseError {
        syntax(format!("metric family {} {:?}: {e}", self.index, self.name))
    }

    fn sink_error(&self, e: SinkError) -> ParseError {
        ParseError {
            line: 0,
            column: 0,
            message: e.0,
            kind: ParseErrorKind::Sink,
        }
    }
}

impl<'a, 'o> Decoder<'a, 'o> {
    fn new(options: &'o ParseOptions) -> Self {
        Decoder {
            options,
            metrics: Vec::new(),
            metric: MetricMsg::default(),
            name: String::new(),
            quoted_name: String::new(),
            series: String::new(),
            labels_at: 0,
            series_ready: false,
            label_text: String::new(),
            plain: true,
            name_lens: Vec::new(),
            stops: Vec::new(),
            labels: Vec::new(),
            label_strs: Vec::new(),
            magic_value: String::new(),
            bound_texts: Vec::new(),
            exemplar_labels: Vec::new(),
            exemplar_refs: Vec::new(),
            created: None,
            buckets: Vec::new(),
        }
    }

    /// Reads one `MetricFamily` message (the `index`th of the body); returns the samples
    /// it pushed.
    fn family<S: Sink>(
        &mut self,
        buf: &'a [u8],
        index: usize,
        sink: &mut S,
    ) -> Result<usize, ParseError> {
        self.metrics.clear();
        let unnamed = |e: WireError| syntax(format!("metric family {index}: {e}"));
        let msg = wire::family(buf, &mut self.metrics).map_err(unnamed)?;
        // Prometheus skips a family without metrics before looking at anything else.
        if self.metrics.is_empty() {
            return Ok(0);
        }
        let name = match std::str::from_utf8(msg.name) {
            Ok(n) if !n.is_empty() => n,
            _ => {
                return Err(unnamed(WireError::new(format!(
                    "invalid metric name: {}",
                    wire::lossy(msg.name)
                ))))
            }
        };
        let help = std::str::from_utf8(msg.help).map_err(|_| {
            unnamed(WireError::new(format!(
                "invalid help for metric {name:?}: {}",
                wire::lossy(msg.help)
            )))
        })?;
        let kind = match msg.kind {
            0 => MetricType::Counter,
            1 => MetricType::Gauge,
            2 => MetricType::Summary,
            3 => MetricType::Unknown,
            4 => MetricType::Histogram,
            5 => MetricType::GaugeHistogram,
            other => {
                return Err(unnamed(WireError::new(format!(
                    "unknown metric type for metric {name:?}: {other}"
                ))))
            }
        };
        let unit = std::str::from_utf8(msg.unit)
            .map_err(|_| unnamed(WireError::new("invalid unit: not UTF-8")))?;
        check_unit(name, kind, unit).map_err(unnamed)?;
        sink.metadata(name, kind, Some(help), (!unit.is_empty()).then_some(unit));

        let mut family = Family {
            index,
            name,
            kind,
            unit,
            native: false,
            legacy_name: is_legacy_name(name.as_bytes()),
        };
        if !family.legacy_name {
            let mut quoted = std::mem::take(&mut self.quoted_name).into_bytes();
            quoted.clear();
            push_quoted(&mut quoted, name.as_bytes());
            quoted.pop();
            // Escaping keeps UTF-8 text UTF-8.
            self.quoted_name = String::from_utf8(quoted)
                .map_err(|_| unnamed(WireError::new(format!("invalid metric name: {name:?}"))))?;
        }
        let metrics = std::mem::take(&mut self.metrics);
        let mut samples = 0;
        let result = (|| {
            for (i, &m) in metrics.iter().enumerate() {
                self.metric
                    .decode(m)
                    .map_err(|e| family.error(e.at(format!("metric[{i}]"))))?;
                if i == 0 {
                    // As Prometheus, the family's first metric decides whether its
                    // histograms are native.
                    family.native = self.options.native_histograms
                        && matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram)
                        && self.metric.histogram.is_native();
                }
                samples += self
                    .metric_samples(&family, sink)
                    .map_err(|e| e.in_metric(&family, i))?;
            }
            Ok(samples)
        })();
        self.metrics = metrics;
        result
    }

    /// Pushes the samples of the decoded metric.
    fn metric_samples<S: Sink>(
        &mut self,
        family: &Family<'a>,
        sink: &mut S,
    ) -> Result<usize, MetricError> {
        self.metric_labels(family)?;
        check_labels(&self.metric.labels)?;
        let m = &self.metric;
        let ts = (m.timestamp_ms != 0).then_some(m.timestamp_ms);
        let created = match family.kind {
            MetricType::Counter => m.counter.created_timestamp_ms,
            MetricType::Summary => m.summary.created_timestamp_ms,
            MetricType::Histogram | MetricType::GaugeHistogram => m.histogram.created_timestamp_ms,
            _ => None,
        };
        self.created = created.filter(|&t| t != 0);
        let mut n = 0;
        match family.kind {
            MetricType::Counter => {
                let (v, ex) = (m.counter.value, m.counter.exemplar);
                self.float(family, "", None, v, ts, ex, sink)?;
                n += 1;
            }
            MetricType::Gauge => {
                self.float(family, "", None, m.gauge, ts, None, sink)?;
                n += 1;
            }
            MetricType::Unknown => {
                self.float(family, "", None, m.untyped, ts, None, sink)?;
                n += 1;
            }
            MetricType::Summary => {
                let count = m.summary.sample_count as f64;
                let sum = m.summary.sample_sum;
                self.float(family, "_count", None, count, ts, None, sink)?;
                self.float(family, "_sum", None, sum, ts, None, sink)?;
                n += 2;
                for qi in 0..self.metric.summary.quantiles.len() {
                    let q = self.metric.summary.quantiles[qi];
                    let label = Some(("quantile", qi, q.quantile));
                    self.float(family, "", label, q.value, ts, None, sink)?;
                    n += 1;
                }
            }
            _ => {
                if family.native {
                    self.native(family, ts, sink)?;
                    n += 1;
                    if self.options.keep_classic_histograms
                        && !self.metric.histogram.buckets.is_empty()
                    {
                        n += self.classic(family, ts, sink)?;
                    }
                } else if self.options.classic_histograms {
                    if self.options.keep_classic_histograms {
                        n += self.classic(family, ts, sink)?;
                    }
                    self.whole_classic(family, ts, sink)?;
                } else {
                    n += self.classic(family, ts, sink)?;
                }
            }
        }
        Ok(n)
    }

    /// A classic histogram's series: `_count`, `_sum`, then the buckets up to the first
    /// `+Inf` one, or a `+Inf` bucket with the count when there is none.
    fn classic<S: Sink>(
        &mut self,
        family: &Family<'a>,
        ts: Option<i64>,
        sink: &mut S,
    ) -> Result<usize, MetricError> {
        let h = &self.metric.histogram;
        let count = if h.sample_count_float > 0.0 {
            h.sample_count_float
        } else {
            h.sample_count as f64
        };
        let sum = h.sample_sum;
        self.float(family, "_count", None, count, ts, None, sink)?;
        self.float(family, "_sum", None, sum, ts, None, sink)?;
        let mut n = 2;
        for bi in 0..self.metric.histogram.buckets.len() {
            let b = self.metric.histogram.buckets[bi];
            let v = if b.cumulative_count_float > 0.0 {
                b.cumulative_count_float
            } else {
                b.cumulative_count as f64
            };
            let le = Some(("le", bi, b.upper_bound));
            self.float(family, "_bucket", le, v, ts, b.exemplar, sink)?;
            n += 1;
            if b.upper_bound == f64::INFINITY {
                return Ok(n);
            }
        }
        let position = self.metric.histogram.buckets.len();
        let le = Some(("le", position, f64::INFINITY));
        self.float(family, "_bucket", le, count, ts, None, sink)?;
        Ok(n + 1)
    }

    /// The metric's classic histogram as a whole, for [`Sink::classic_histogram`].
    fn whole_classic<S: Sink>(
        &mut self,
        family: &Family<'a>,
        ts: Option<i64>,
        sink: &mut S,
    ) -> Result<(), MetricError> {
        self.label_set(family, "", None);
        let h = &self.metric.histogram;
        let count = if h.sample_count_float > 0.0 {
            h.sample_count_float
        } else {
            h.sample_count as f64
        };
        self.buckets.clear();
        self.buckets.extend(h.buckets.iter().map(|b| {
            let v = if b.cumulative_count_float > 0.0 {
                b.cumulative_count_float
            } else {
                b.cumulative_count as f64
            };
            (b.upper_bound, v)
        }));
        sink.classic_histogram(&super::ClassicHistogram {
            name: &self.name,
            series: &self.series,
            labels: self.sample_labels(),
            timestamp_ms: ts,
            created_timestamp_ms: self.created,
            metric_type: family.kind,
            unit: family.unit,
            count,
            sum: h.sample_sum,
            buckets: &self.buckets,
        })
        .map_err(MetricError::Sink)
    }

    /// Writes the decoded metric's labels as series text into `self.label_text`, once for
    /// all its samples, checking that they are UTF-8 and no name is empty; and when they
    /// are not plain, as text into `self.labels`.
    ///
    /// The one sample of a counter, gauge or untyped metric takes this text as its series:
    /// it is written into `self.series` with the series' name and braces around it.
    fn metric_labels(&mut self, family: &Family<'_>) -> Result<(), WireError> {
        let single = matches!(
            family.kind,
            MetricType::Counter | MetricType::Gauge | MetricType::Unknown
        );
        let buffer = if single {
            &mut self.series
        } else {
            &mut self.label_text
        };
        let mut text = std::mem::take(buffer).into_bytes();
        text.clear();
        self.name_lens.clear();
        self.stops.clear();
        self.labels.clear();
        let bare = self.metric.labels.is_empty();
        if single {
            let head = if family.legacy_name {
                family.name
            } else {
                &self.quoted_name
            };
            series_head(
                |s| text.extend_from_slice(s.as_bytes()),
                head,
                "",
                family.legacy_name,
                bare,
            );
        }
        let at = text.len();
        let mut plain = true;
        let mut named = true;
        for l in &self.metric.labels {
            if text.len() > at {
                text.push(b',');
            }
            named &= !l.name.is_empty();
            if is_legacy_name(l.name) {
                text.extend_from_slice(l.name);
            } else {
                plain = false;
                push_quoted(&mut text, l.name);
            }
            text.push(b'=');
            plain &= !push_quoted(&mut text, l.value);
            self.name_lens.push(l.name.len());
            self.stops.push(text.len() - at);
        }
        if single && !(bare && family.legacy_name) {
            text.push(b'}');
        }
        // The text is UTF-8 exactly when every name and value is: escapes and separators
        // are ASCII, which no UTF-8 sequence holds inside itself.
        let (text, utf8) = match String::from_utf8(text) {
            Ok(t) => (t, true),
            Err(e) => {
                let mut buf = e.into_bytes();
                buf.clear();
                (String::from_utf8(buf).unwrap_or_default(), false)
            }
        };
        if single {
            self.series = text;
            self.labels_at = at;
        } else {
            self.label_text = text;
        }
        self.series_ready = single;
        self.plain = plain;
        if utf8 && named && plain {
            return Ok(());
        }
        // The first label that is not text, or the labels as text.
        wire::label_strs(&self.metric.labels, &mut self.label_strs)?;
        if !(utf8 && named) {
            return Err(WireError::new("invalid label"));
        }
        self.labels
            .extend(self.label_strs.iter().map(|&(name, value)| LabelRef {
                name,
                value: Cow::Borrowed(value),
            }));
        Ok(())
    }

    /// The labels of the sample `label_set` wrote.
    fn sample_labels(&self) -> SampleLabels<'_> {
        if self.plain {
            let line = self.series.get(self.labels_at..).unwrap_or_default();
            SampleLabels::plain(line, 0, &self.name_lens, &self.stops)
        } else {
            SampleLabels::decoded(&self.labels)
        }
    }

    /// Sets `self.name` to the family name and `suffix`, `self.series` to the series text
    /// and, when there is one, pushes the `le`/`quantile` label `magic` (its name, its
    /// position in the metric and its value) after the metric's labels;
    /// [`Decoder::pop_magic`] takes it off again.
    fn label_set(
        &mut self,
        family: &Family<'_>,
        suffix: &str,
        magic: Option<(&'static str, usize, f64)>,
    ) {
        self.name.clear();
        self.name.push_str(family.name);
        self.name.push_str(suffix);
        if self.series_ready {
            // The one sample of its metric: no suffix, no `le` or `quantile`.
            return;
        }
        let magic = magic.map(|(name, position, bound)| {
            (name, bound_text(&mut self.bound_texts, position, bound))
        });
        let head = if family.legacy_name {
            family.name
        } else {
            &self.quoted_name
        };
        self.labels_at = write_series(
            &mut self.series,
            head,
            suffix,
            family.legacy_name,
            &self.label_text,
            magic,
        );
        let Some((name, value)) = magic else {
            return;
        };
        if self.plain {
            let start = self.label_text.len() + usize::from(!self.label_text.is_empty());
            self.name_lens.push(name.len());
            self.stops.push(start + name.len() + value.len() + 3);
        } else {
            let mut owned = std::mem::take(&mut self.magic_value);
            owned.clear();
            owned.push_str(value);
            self.labels.push(LabelRef {
                name,
                value: Cow::Owned(owned),
            });
        }
    }

    /// Takes the label [`Decoder::label_set`] pushed, if any, back off, keeping its value's
    /// buffer.
    fn pop_magic(&mut self, pushed: bool) {
        if !pushed {
            return;
        }
        if self.plain {
            self.name_lens.pop();
            self.stops.pop();
        } else if let Some(LabelRef {
            value: Cow::Owned(value),
            ..
        }) = self.labels.pop()
        {
            self.magic_value = value;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn float<S: Sink>(
        &mut self,
        family: &Family<'a>,
        suffix: &str,
        magic: Option<(&'static str, usize, f64)>,
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: Option<ExemplarMsg<'a>>,
        sink: &mut S,
    ) -> Result<(), MetricError> {
        self.label_set(family, suffix, magic);
        let value = if value.is_nan() {
            f64::from_bits(NORMAL_NAN_BITS)
        } else {
            value
        };
        let ex = match exemplar {
            Some(ex) if self.options.keep_exemplars => {
                self.exemplar_labels.clear();
                wire::label_pairs(ex.labels, &mut self.exemplar_labels)
                    .map_err(|e| MetricError::Wire(e.at("exemplar")))?;
                self.exemplar_refs.clear();
                for &(name, value) in &self.exemplar_labels {
                    self.exemplar_refs.push(LabelRef {
                        name,
                        value: Cow::Borrowed(value),
                    });
                }
                Some(Exemplar {
                    labels: &self.exemplar_refs,
                    value: ex.value,
                    timestamp_ms: ex.timestamp_ms,
                })
            }
            _ => None,
        };
        let result = sink
            .sample(&Sample {
                name: &self.name,
                series: &self.series,
                labels: self.sample_labels(),
                value,
                timestamp_ms,
                exemplar: ex.as_ref(),
                metric_type: family.kind,
                unit: family.unit,
                created_timestamp_ms: self.created,
            })
            .map_err(MetricError::Sink);
        self.pop_magic(magic.is_some());
        result
    }

    /// The metric's native histogram.
    fn native<S: Sink>(
        &mut self,
        family: &Family<'a>,
        timestamp_ms: Option<i64>,
        sink: &mut S,
    ) -> Result<(), MetricError> {
        self.label_set(family, "", None);
        let h = &self.metric.histogram;
        let counts = if h.is_float() {
            check_spans(
                "positive",
                &h.positive_spans,
                "positive_count",
                h.positive_counts.len(),
            )?;
            check_spans(
                "negative",
                &h.negative_spans,
                "negative_count",
                h.negative_counts.len(),
            )?;
            HistogramCounts::Float {
                count: h.sample_count_float,
                zero_count: h.zero_count_float,
                positive_counts: &h.positive_counts,
                negative_counts: &h.negative_counts,
            }
        } else {
            check_spans(
                "positive",
                &h.positive_spans,
                "positive_delta",
                h.positive_deltas.len(),
            )?;
            check_spans(
                "negative",
                &h.negative_spans,
                "negative_delta",
                h.negative_deltas.len(),
            )?;
            HistogramCounts::Integer {
                count: h.sample_count,
                zero_count: h.zero_count,
                positive_deltas: &h.positive_deltas,
                negative_deltas: &h.negative_deltas,
            }
        };
        let native = NativeHistogram {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            sum: h.sample_sum,
            positive_spans: &h.positive_spans,
            negative_spans: &h.negative_spans,
            counts,
            reset_hint: if family.kind == MetricType::GaugeHistogram {
                ResetHint::Gauge
            } else {
                ResetHint::Unknown
            },
        };
        sink.histogram(&HistogramSample {
            name: &self.name,
            series: &self.series,
            labels: self.sample_labels(),
            timestamp_ms,
            metric_type: family.kind,
            unit: family.unit,
            histogram: &native,
            created_timestamp_ms: self.created,
        })
        .map_err(MetricError::Sink)
    }
}

/// A failure inside one metric: of the input, or the sink's refusal.
enum MetricError {
    Wire(WireError),
    Sink(SinkError),
}

impl From<WireError> for MetricError {
    fn from(e: WireError) -> Self {
        MetricError::Wire(e)
    }
}

impl MetricError {
    fn in_metric(self, family: &Family<'_>, i: usize) -> ParseError {
        match self {
            MetricError::Wire(e) => family.error(e.at(format!("metric[{i}]"))),
            MetricError::Sink(e) => family.sink_error(e),
        }
    }
}

/// The spans of one sign must cover as many buckets as that sign's counts list.
fn check_spans(
    sign: &str,
    spans: &[BucketSpan],
    counts_field: &str,
    counts: usize,
) -> Result<(), WireError> {
    let covered: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if covered != counts as u64 {
        return Err(WireError::new(format!(
            "{sign} spans cover {covered} buckets but {counts_field} has {counts}"
        ))
        .at("histogram"));
    }
    Ok(())
}

/// Label names are unique within a metric (and none is `__name__`, which the family name
/// gives).
fn check_labels(labels: &[LabelBytes<'_>]) -> Result<(), WireError> {
    // Client libraries sort their labels: names in increasing order are unique.
    // Most names differ in their first byte, which decides without a call to `memcmp`.
    let sorted = labels
        .windows(2)
        .all(|w| match (w[0].name.first(), w[1].name.first()) {
            (Some(a), Some(b)) if a != b => a < b,
            _ => w[0].name < w[1].name,
        });
    for (i, l) in labels.iter().enumerate() {
        if l.name == b"__name__" || (!sorted && labels[..i].iter().any(|p| p.name == l.name)) {
            let name = wire::lossy(l.name);
            return Err(WireError::new(format!("label name {name:?} is not unique"))
                .at(format!("label[{i}]")));
        }
    }
    Ok(())
}

/// Prometheus' check that a family's unit is the suffix of its name (before `_total` for a
/// counter).
fn check_unit(name: &str, kind: MetricType, unit: &str) -> Result<(), WireError> {
    if unit.is_empty() {
        return Ok(());
    }
    let (base, what) = match name.strip_suffix("_total") {
        Some(base) if kind == MetricType::Counter => (base, "counter"),
        _ => (name, "metric"),
    };
    let ok = base
        .strip_suffix(unit)
        .is_some_and(|head| head.ends_with('_'));
    if ok {
        Ok(())
    } else {
        Err(WireError::new(format!(
            "unit {unit:?} not a suffix of {what} {name:?}"
        )))
    }
}

/// Whether `name` is a legacy metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`; colons are
/// allowed in label names here too, which only changes quoting in the series text).
fn is_legacy_name(name: &[u8]) -> bool {
    let mut bytes = name.iter();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `s` holds a byte the series text escapes: `\`, `"` or a newline. Eight bytes at
/// a time: a byte of the word `w` equal to `b` is a zero byte of `w ^ (b × 0x0101…)`, which
/// the classic `(x - 0x0101…) & !x & 0x8080…` test finds exactly.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let has = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let (words, tail) = s.as_chunks::<8>();
    words.iter().any(|w| {
        let w = u64::from_ne_bytes(*w);
        has(w, b'\\') | has(w, b'"') | has(w, b'\n')
    }) || tail.iter().any(|b| matches!(b, b'\\' | b'"' | b'\n'))
}

/// `s` in double quotes, with `\\`, `"` and newline escaped, the runs between them copied
/// whole; returns whether anything was escaped.
fn push_quoted(out: &mut Vec<u8>, s: &[u8]) -> bool {
    out.push(b'"');
    let escaped = needs_escape(s);
    let mut rest = s;
    if escaped {
        while let Some(i) = memchr::memchr3(b'\\', b'"', b'\n', rest) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(match rest[i] {
                b'\\' => b"\\\\",
                b'"' => b"\\\"",
                _ => b"\\n",
            });
            rest = &rest[i + 1..];
        }
    }
    out.extend_from_slice(rest);
    out.push(b'"');
    escaped
}

/// Writes the series as the text format writes it into `out`: `name{a="x",b="y"}`, a name
/// that is not a legacy name (`legacy`) quoted (`{"my.metric","a.b"="x"}`), from the
/// family name (`head`: as is, or for a quoted name its opening quote and escaped text),
/// the sample's `suffix`, the metric's labels as the series text writes them,
/// comma-separated (`labels`), and a last label `magic` (a legacy name, a value without
/// escapes). Distinct label sets give distinct texts. Returns where the labels start.
fn write_series(
    out: &mut String,
    head: &str,
    suffix: &str,
    legacy: bool,
    labels: &str,
    magic: Option<(&str, &str)>,
) -> usize {
    out.clear();
    let bare = labels.is_empty() && magic.is_none();
    series_head(|s| out.push_str(s), head, suffix, legacy, bare);
    if legacy && bare {
        return out.len();
    }
    let at = out.len();
    out.push_str(labels);
    if let Some((name, value)) = magic {
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push('}');
    at
}

/// The series text up to its first label, through `push`: `name{`, or `{"name",` for a
/// name that is not a legacy name (see [`write_series`]); without labels (`bare`) `name`
/// or `{"name"` (the closing brace is the caller's).
fn series_head(mut push: impl FnMut(&str), head: &str, suffix: &str, legacy: bool, bare: bool) {
    if legacy {
        push(head);
        push(suffix);
        if !bare {
            push("{");
        }
    } else {
        push("{");
        push(head);
        push(suffix);
        push(if bare { "\"" } else { "\"," });
    }
}

/// `bound` as Prometheus prints an `le` or `quantile` value, from `texts`, the texts of the
/// previous metric by position, when the bound at `position` is the same.
fn bound_text(texts: &mut Vec<(u64, String)>, position: usize, bound: f64) -> &str {
    let bits = bound.to_bits();
    // Positions count up from 0 within a metric, each at most one past the last (the added
    // `+Inf` bucket), so this pushes at most one entry.
    while texts.len() <= position {
        texts.push((!bits, String::new()));
    }
    let (cached, text) = &mut texts[position];
    if *cached != bits {
        *cached = bits;
        text.clear();
        text.push_str(&format_openmetrics_float(bound));
    }
    text
}

/// Prometheus' `formatOpenMetricsFloat`: Go's `strconv.FormatFloat(f, 'g', -1, 64)`, with
/// `.0` appended when that has neither `.` nor `e`; `NaN`, `+Inf`, `-Inf`.
pub(super) fn format_openmetrics_float(f: f64) -> Cow<'static, str> {
    if f.is_nan() {
        return Cow::Borrowed("NaN");
    }
    if f.is_infinite() {
        return Cow::Borrowed(if f > 0.0 { "+Inf" } else { "-Inf" });
    }
    if f == 0.0 {
        return Cow::Borrowed("0.0");
    }
    // Rust's `{:e}` prints the shortest digits that read back as `f`, as Go's -1 precision
    // does: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if f < 0.0 {
        out.push('-');
    }
    // Go's 'g' with the shortest precision switches to the exponent form when the decimal
    // exponent is below -4 or at least 6.
    let nd = digits.len() as i32;
    let dp = exp + 1;
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return Cow::Owned(out);
    }
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..-dp {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..dp - nd {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    Cow::Owned(out)
}
