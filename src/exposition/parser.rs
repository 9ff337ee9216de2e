//! The line-by-line parser behind [`super::parse`].
//!
//! The input (already checked to be UTF-8) is read line by line. In the text format a line
//! first goes to the fast path (`fast_line`), which reads the common sample line shape and
//! finds the line's end itself; every other line (and every line in OpenMetrics) is cut with
//! `memchr` and read here. Each line is a comment/metadata line or a sample line. A sample
//! line is scanned once, left to right: name, optional label block (into a reused
//! `Vec<LabelRef>`), value, optional timestamp, optional exemplar (OpenMetrics). Family state (current `# TYPE`, pending metadata, and in
//! OpenMetrics the families already closed) gives each sample its [`MetricType`] and catches
//! metadata that arrives too late.
//!
//! Whitespace follows the Go lexers: the text format skips runs of spaces and tabs between
//! tokens (even inside `{}`), OpenMetrics wants exactly one space where one belongs.

use std::borrow::Cow;
use std::collections::HashSet;

mod created;

use super::fast_line::text_sample;
use super::line::{Cursor, LineReuse};
use super::scan::{
    at, canonical_nan, eq_short, is_metric_start, parse_float, parse_float_timestamp,
    parse_int_timestamp, scan_metric_name, scan_quoted, scan_simple_uint, scan_token, skip_ws,
    unescape,
};
use super::{
    Exemplar, Format, LabelRef, MetricType, ParseError, ParseErrorKind, ParseOptions, ParseStats,
    Sample, SampleLabels, Sink,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetaKind {
    Help,
    Type,
    Unit,
}

impl MetaKind {
    fn word(self) -> &'static str {
        match self {
            MetaKind::Help => "HELP",
            MetaKind::Type => "TYPE",
            MetaKind::Unit => "UNIT",
        }
    }
}

/// Metadata read for a family and not yet handed to the sink.
struct PendingMeta<'i> {
    family: &'i str,
    kind: MetricType,
    help: Option<Cow<'i, str>>,
    unit: Option<&'i str>,
}

/// The family the parser is in: the last metadata name (or, in OpenMetrics, the last sample
/// name that belonged to no declared family).
struct Family<'i> {
    name: &'i str,
    kind: MetricType,
    /// The family's `# UNIT` (OpenMetrics only), empty when it has none.
    unit: &'i str,
    seen: [bool; 3],
    has_samples: bool,
}

impl<'i> Family<'i> {
    fn new(name: &'i str) -> Self {
        Family {
            name,
            kind: MetricType::Unknown,
            unit: "",
            seen: [false; 3],
            has_samples: false,
        }
    }

    /// Whether a sample named `name` belongs to this family, by the suffixes its type allows.
    fn owns(&self, name: &str) -> bool {
        let Some(suffix) = name.strip_prefix(self.name) else {
            return false;
        };
        use MetricType::*;
        match suffix {
            "" => matches!(self.kind, Counter | Gauge | Summary | StateSet | Unknown),
            "_total" => self.kind == Counter,
            "_created" => matches!(self.kind, Counter | Histogram | Summary),
            "_bucket" => matches!(self.kind, Histogram | GaugeHistogram),
            "_sum" | "_count" => matches!(self.kind, Histogram | Summary),
            "_gsum" | "_gcount" => self.kind == GaugeHistogram,
            "_info" => self.kind == Info,
            _ => false,
        }
    }
}

/// The last text-format timestamp that ended its line: where its text is, and its value. A
/// line whose rest is the same text has the same timestamp without converting it again.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastTimestamp {
    pub(super) at: usize,
    pub(super) len: usize,
    pub(super) ms: i64,
}

/// Where the labels of a sample line are, for [`Parser::emit`].
#[derive(Debug, Clone, Copy)]
enum LineLabels<'i> {
    None,
    /// Validated by `Cursor::label_block_fast`, whose positions are in the reuse state:
    /// the line from its first byte through `}`, and the position of `{` in it.
    Plain {
        line: &'i str,
        open: usize,
    },
    /// Decoded into the parser's label buffer.
    Decoded,
}

/// Reads one body; see the module docs.
pub(super) struct Parser<'i> {
    cur: Cursor<'i>,
    format: Format,
    keep_exemplars: bool,
    labels: Vec<LabelRef<'i>>,
    exemplar_labels: Vec<LabelRef<'i>>,
    family: Option<Family<'i>>,
    closed: HashSet<&'i str>,
    pending: Option<PendingMeta<'i>>,
    reuse: LineReuse,
    last_ts: Option<LastTimestamp>,
    /// Whether text-format lines try [`text_sample`] first.
    fast_text: bool,
    /// Whether label blocks are first validated by `Cursor::label_block_fast` (and handed
    /// over undecoded) rather than decoded by `Cursor::label_block`.
    fast_labels: bool,
    /// The type of the last sample, until the next metadata line: a sample with the same
    /// name belongs to the same family.
    last_type: Option<(MetricType, &'i str)>,
    samples: usize,
    /// OpenMetrics: created timestamps from `_created` lines, which are not pushed
    /// ([`ParseOptions::created_timestamps`]).
    created_timestamps: bool,
    created: Option<created::CreatedLookup>,
}

impl<'i> Parser<'i> {
    pub(super) fn new(input: &'i str, format: Format, options: &ParseOptions) -> Self {
        Parser {
            cur: Cursor {
                input,
                line_no: 0,
                line_start: 0,
                text: format == Format::PrometheusText,
            },
            format,
            keep_exemplars: options.keep_exemplars,
            labels: Vec::with_capacity(16),
            exemplar_labels: Vec::new(),
            family: None,
            closed: HashSet::new(),
            pending: None,
            reuse: LineReuse::default(),
            last_ts: None,
            fast_text: format == Format::PrometheusText,
            fast_labels: true,
            last_type: None,
            samples: 0,
            created_timestamps: options.created_timestamps && format == Format::OpenMetrics,
            created: None,
        }
    }

    /// The same parser with every line read by the general path, and every label block
    /// decoded by it: the reference the fast path's tests compare with.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn without_fast_path(mut self) -> Self {
        self.fast_text = false;
        self.fast_labels = false;
        self
    }

    pub(super) fn run<S: Sink>(mut self, sink: &mut S) -> Result<ParseStats, ParseError> {
        let input = self.cur.input;
        let b = input.as_bytes();
        let len = b.len();
        let mut pos = 0;
        let mut saw_eof = false;
        while pos < len {
            self.cur.line_no += 1;
            self.cur.line_start = pos;
            if self.fast_text {
                // Most lines: read by the fast path, which also finds where the line ends.
                let fast = text_sample(&self.cur, &mut self.reuse, &mut self.last_ts);
                if let Some(s) = fast {
                    let same = s.same_name;
                    self.emit(
                        s.name,
                        s.series,
                        match s.has_labels {
                            true => LineLabels::Plain {
                                line: s.series,
                                open: s.name.len(),
                            },
                            false => LineLabels::None,
                        },
                        s.value,
                        s.timestamp_ms,
                        None,
                        false,
                        same,
                        sink,
                    )?;
                    pos = s.next;
                    continue;
                }
            }
            let rest = b.get(pos..).unwrap_or_default();
            let end = memchr::memchr(b'\n', rest).map_or(len, |i| pos + i);
            match self.format {
                // `exposition::parse` hands protobuf bodies to `protobuf`, never here.
                Format::PrometheusText | Format::Protobuf => self.text_line(pos, end, sink)?,
                Format::OpenMetrics => {
                    if self.om_line(pos, end, sink)? {
                        saw_eof = true;
                        if end + 1 < len {
                            self.cur.line_no += 1;
                            self.cur.line_start = end + 1;
                            return Err(self.cur.err(end + 1, "unexpected data after # EOF"));
                        }
                        break;
                    }
                }
            }
            pos = end + 1;
        }
        if self.format == Format::OpenMetrics && !saw_eof {
            return Err(self.missing_eof());
        }
        self.flush_metadata(sink);
        Ok(ParseStats {
            samples: self.samples,
            lines: self.cur.line_no,
        })
    }

    fn missing_eof(&mut self) -> ParseError {
        let input = self.cur.input;
        if input.is_empty() || input.ends_with('\n') {
            self.cur.line_no += 1;
            self.cur.line_start = input.len();
        }
        self.cur.err(input.len(), "data does not end with # EOF")
    }

    fn text_line<S: Sink>(
        &mut self,
        start: usize,
        end: usize,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        let b = self.cur.input.as_bytes();
        let i = skip_ws(b, start, end);
        match at(b, i, end) {
            None => Ok(()),
            Some(b'#') => {
                let k = skip_ws(b, i + 1, end);
                if k == i + 1 {
                    return Ok(()); // "#anything" is a comment
                }
                let kind = match b.get(k..k + 4) {
                    Some(b"HELP") => MetaKind::Help,
                    Some(b"TYPE") => MetaKind::Type,
                    _ => return Ok(()),
                };
                let m = skip_ws(b, k + 4, end);
                if m == k + 4 {
                    return Ok(()); // "# HELPER", or "# HELP" alone: a comment
                }
                self.meta_line(kind, k, m, end, sink)
            }
            Some(_) => self.sample_line(i, end, sink),
        }
    }

    /// One OpenMetrics line; returns whether it was `# EOF`.
    fn om_line<S: Sink>(
        &mut self,
        start: usize,
        end: usize,
        sink: &mut S,
    ) -> Result<bool, ParseError> {
        let b = self.cur.input.as_bytes();
        match at(b, start, end) {
            None => Err(self
                .cur
                .err(start, "blank line (not allowed in OpenMetrics)")),
            Some(b'#') => {
                if b.get(start..end) == Some(b"# EOF") {
                    return Ok(true);
                }
                let kind = match b.get(start..start + 7) {
                    Some(b"# HELP ") => MetaKind::Help,
                    Some(b"# TYPE ") => MetaKind::Type,
                    Some(b"# UNIT ") => MetaKind::Unit,
                    _ => {
                        return Err(self.cur.err(
                            start,
                            "expected '# HELP ', '# TYPE ', '# UNIT ' or '# EOF' \
                             (OpenMetrics has no free comments)",
                        ))
                    }
                };
                self.meta_line(kind, start + 2, start + 7, end, sink)?;
                Ok(false)
            }
            Some(_) => {
                self.sample_line(start, end, sink)?;
                if end >= b.len() {
                    return Err(self.missing_eof());
                }
                Ok(false)
            }
        }
    }

    /// A HELP/TYPE/UNIT line; `kw` is where the keyword starts, `name_pos` where the metric
    /// name starts.
    fn meta_line<S: Sink>(
        &mut self,
        kind: MetaKind,
        kw: usize,
        name_pos: usize,
        end: usize,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        self.last_type = None;
        let cur = &self.cur;
        let b = cur.input.as_bytes();
        let (name, after) = match at(b, name_pos, end) {
            Some(b'"') => {
                let (close, _) = scan_quoted(b, name_pos + 1, end)
                    .ok_or_else(|| cur.err(name_pos, "unterminated quoted metric name"))?;
                (cur.slice(name_pos + 1, close)?, close + 1)
            }
            Some(c) if is_metric_start(c) => {
                let e = scan_metric_name(b, name_pos, end);
                (cur.slice(name_pos, e)?, e)
            }
            _ => {
                return Err(cur.err(
                    name_pos,
                    format!(
                        "expected metric name after {}, {}",
                        kind.word(),
                        cur.found(name_pos, end)
                    ),
                ))
            }
        };
        let text = match at(b, after, end) {
            Some(b' ') => cur.slice(after + 1, end)?,
            Some(b'\t') if cur.text => cur.slice(after + 1, end)?,
            None if cur.text && kind == MetaKind::Help => "",
            None if cur.text => {
                return Err(cur.err(after, "expected metric type after TYPE and metric name"))
            }
            _ => {
                return Err(cur.err(
                    after,
                    format!(
                        "expected ' ' after metric name in {}, {}",
                        kind.word(),
                        cur.found(after, end)
                    ),
                ))
            }
        };
        let mut meta_type = None;
        let mut help = None;
        let mut unit = None;
        match kind {
            MetaKind::Type => {
                let t = if cur.text {
                    text_type(text)
                } else {
                    om_type(text)
                };
                meta_type =
                    Some(t.ok_or_else(|| {
                        cur.err(after + 1, format!("invalid metric type {text:?}"))
                    })?);
            }
            MetaKind::Help => help = Some(unescape(text, !cur.text)),
            MetaKind::Unit => {
                if !text.is_empty()
                    && !name
                        .strip_suffix(text)
                        .is_some_and(|stem| stem.ends_with('_'))
                {
                    return Err(cur.err(
                        after + 1,
                        format!("unit {text:?} is not a suffix of metric {name:?}"),
                    ));
                }
                unit = Some(text);
            }
        }
        self.check_family_metadata(kind, name, kw)?;
        if let Some(fam) = self.family.as_mut() {
            if let Some(t) = meta_type {
                fam.kind = t;
            }
            if let Some(u) = unit {
                fam.unit = u;
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.family != name) {
            self.flush_metadata(sink);
        }
        let pending = self.pending.get_or_insert(PendingMeta {
            family: name,
            kind: MetricType::Unknown,
            help: None,
            unit: None,
        });
        if let Some(t) = meta_type {
            pending.kind = t;
        }
        if help.is_some() {
            pending.help = help;
        }
        if unit.is_some() {
            pending.unit = unit;
        }
        Ok(())
    }

    /// Moves to (or stays in) the family `name` for a metadata line; in OpenMetrics rejects
    /// metadata after the family's samples, repeated metadata and interleaved families.
    fn check_family_metadata(
        &mut self,
        kind: MetaKind,
        name: &'i str,
        kw: usize,
    ) -> Result<(), ParseError> {
        let idx = kind as usize;
        let om = self.format == Format::OpenMetrics;
        if let Some(fam) = self.family.as_mut().filter(|f| f.name == name) {
            if om && fam.has_samples {
                return Err(self.cur.err(
                    kw,
                    format!("{} for {name:?} after its samples", kind.word()),
                ));
            }
            if om && fam.seen[idx] {
                return Err(self
                    .cur
                    .err(kw, format!("second {} for {name:?}", kind.word())));
            }
            fam.seen[idx] = true;
            return Ok(());
        }
        if om {
            if self.closed.contains(name) {
                return Err(self.cur.err(
                    kw,
                    format!(
                        "{} for {name:?}, whose family appeared earlier: a family's lines must be together",
                        kind.word()
                    ),
                ));
            }
            if let Some(prev) = self.family.take() {
                self.closed.insert(prev.name);
            }
        }
        let mut fam = Family::new(name);
        fam.seen[idx] = true;
        self.family = Some(fam);
        Ok(())
    }

    fn flush_metadata<S: Sink>(&mut self, sink: &mut S) {
        if let Some(m) = self.pending.take() {
            let family = unescape(m.family, true);
            sink.metadata(&family, m.kind, m.help.as_deref(), m.unit);
        }
    }

    /// A sample line starting at `start` (first non-blank byte).
    fn sample_line<S: Sink>(
        &mut self,
        start: usize,
        end: usize,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        let cur = &self.cur;
        let text = cur.text;
        let b = cur.input.as_bytes();
        let mut metric: Option<&'i str> = None;
        let mut p = start;
        let line_start = cur.line_start;
        let (known_name_end, kept) = self.reuse.plan(b, line_start, end);
        match at(b, p, end) {
            Some(c) if is_metric_start(c) => {
                p = known_name_end.unwrap_or_else(|| scan_metric_name(b, p, end));
                metric = Some(cur.slice(start, p)?);
            }
            Some(b'{') => {}
            _ => {
                return Err(cur.err(
                    p,
                    format!("expected metric name, '{{' or '#', {}", cur.found(p, end)),
                ))
            }
        }
        let mut series_end = p;
        let name_end = p;
        if text {
            p = skip_ws(b, p, end);
        }
        // Labels the previous line shares are not checked again, and the rest of its labels
        // serve the fast path as guesses; see `LineReuse`.
        let mut escaped_names = false;
        let mut fast_ok = metric.is_some() && self.fast_labels;
        let has_block = at(b, p, end) == Some(b'{');
        let mut labels = LineLabels::None;
        if !has_block {
            self.reuse.no_labels();
        } else {
            let open = p;
            let resume = self
                .reuse
                .resume(kept)
                .map_or(open, |stop| line_start + stop);
            let fast = if !fast_ok {
                None
            } else if kept == self.reuse.count && b.get(resume) == Some(&b'}') {
                // The whole block is the previous line's.
                Some(resume + 1)
            } else {
                cur.label_block_fast(resume + 1, end, kept, &mut self.reuse)
            };
            let (close, esc) = match fast {
                Some(close) => (close, false),
                None => {
                    fast_ok = false;
                    self.labels.clear();
                    cur.label_block(p, end, &mut self.labels, Some(&mut metric))?
                }
            };
            series_end = close;
            escaped_names = esc;
            p = close;
            labels = match fast_ok {
                true => LineLabels::Plain {
                    line: cur.slice(line_start, close)?,
                    open: open - line_start,
                },
                false => LineLabels::Decoded,
            };
        }
        // A line with whitespace before its name keeps its labels (they are this line's) but
        // is not offered to the next line: the fast path reads names from the line's start.
        self.reuse.valid = fast_ok && start == line_start;
        if !fast_ok {
            self.reuse.invalidate();
        } else {
            self.reuse.start = line_start;
            self.reuse.name_end = name_end - line_start;
            self.reuse.len = (series_end.max(name_end + 1)).min(end) - line_start;
        }
        let Some(name) = metric else {
            return Err(cur.err(start, "metric name not set"));
        };
        let series = cur.slice(start, series_end)?;

        // Value.
        let v_start = if text {
            let v = skip_ws(b, p, end);
            if v == name_end && series_end == name_end && v < end {
                return Err(cur.err(
                    v,
                    format!(
                        "expected whitespace after metric name, {}",
                        cur.found(v, end)
                    ),
                ));
            }
            v
        } else {
            match at(b, p, end) {
                Some(b' ') => p + 1,
                _ => {
                    return Err(cur.err(
                        p,
                        format!("expected ' ' and value after metric, {}", cur.found(p, end)),
                    ))
                }
            }
        };
        let (value, v_end) = match scan_simple_uint(b, v_start, end) {
            Some((v, e)) if text => (v as f64, e),
            _ => {
                let v_end = scan_token(b, v_start, end, text);
                if v_end == v_start {
                    return Err(cur.err(v_start, "expected value after metric"));
                }
                let value_text = cur.slice(v_start, v_end)?;
                let value = parse_float(value_text).map_err(|e| {
                    cur.err(v_start, format!("{} in value {value_text:?}", e.describe()))
                })?;
                (value, v_end)
            }
        };

        // Timestamp and exemplar.
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if text {
            let t = skip_ws(b, v_end, end);
            let same_ts = self.last_ts.filter(|prev| {
                end - t == prev.len
                    && b.get(t..end)
                        .zip(b.get(prev.at..prev.at + prev.len))
                        .is_some_and(|(x, y)| eq_short(x, y))
            });
            if let Some(prev) = same_ts {
                // The timestamp text (the rest of the line) is the previous line's.
                timestamp_ms = Some(prev.ms);
            } else if t < end {
                let (ts, t_end) = match scan_simple_uint(b, t, end) {
                    Some((v, e)) => (v as i64, e),
                    None => {
                        let t_end = scan_token(b, t, end, true);
                        let ts_text = cur.slice(t, t_end)?;
                        let ts = parse_int_timestamp(ts_text).map_err(|e| {
                            cur.err(
                                t,
                                format!(
                                    "{} in timestamp {ts_text:?} (expected integer milliseconds)",
                                    e.describe()
                                ),
                            )
                        })?;
                        (ts, t_end)
                    }
                };
                timestamp_ms = Some(ts);
                if t_end == end {
                    self.last_ts = Some(LastTimestamp {
                        at: t,
                        len: end - t,
                        ms: ts,
                    });
                }
                let rest = skip_ws(b, t_end, end);
                if rest < end {
                    return Err(cur.err(
                        rest,
                        format!(
                            "expected end of line after timestamp, {}",
                            cur.found(rest, end)
                        ),
                    ));
                }
            }
        } else if v_end < end {
            // v_end is a space.
            let mut q = v_end;
            if b.get(q..q + 4) != Some(b" # {") {
                let t = q + 1;
                let t_end = scan_token(b, t, end, false);
                if t_end == t {
                    return Err(cur.err(t, "expected timestamp or exemplar after value"));
                }
                let ts_text = cur.slice(t, t_end)?;
                timestamp_ms = Some(parse_float_timestamp(ts_text).map_err(|e| {
                    cur.err(
                        t,
                        format!(
                            "{} in timestamp {ts_text:?} (expected seconds)",
                            e.describe()
                        ),
                    )
                })?);
                q = t_end;
            }
            if q < end {
                if b.get(q..q + 4) != Some(b" # {") {
                    return Err(cur.err(
                        q,
                        format!(
                            "expected end of line or ' # {{' exemplar, {}",
                            cur.found(q, end)
                        ),
                    ));
                }
                exemplar = Some(self.exemplar(q + 3, end)?);
            }
        }
        self.emit(
            name,
            series,
            labels,
            value,
            timestamp_ms,
            exemplar,
            escaped_names,
            false,
            sink,
        )
    }

    /// Reports a sample line to the sink, with its `labels` and the exemplar in
    /// `self.exemplar_labels`, after the family
    /// bookkeeping that gives it its type (the last sample's when `same_name`: its name is the
    /// last sample's, with no metadata line since).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn emit<S: Sink>(
        &mut self,
        name: &'i str,
        series: &'i str,
        labels: LineLabels<'i>,
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: Option<(f64, Option<i64>)>,
        escaped_names: bool,
        same_name: bool,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        let value = canonical_nan(value);

        // Family bookkeeping.
        let line_no = self.cur.line_no;
        let (metric_type, unit) = match self.last_type {
            Some(t) if same_name => t,
            _ => self.family_of_sample(name),
        };
        self.last_type = Some((metric_type, unit));
        if self.pending.is_some() {
            self.flush_metadata(sink);
        }
        let mut created = None;
        if self.created_timestamps && created::has_created(metric_type) {
            if name.ends_with("_created") {
                // Prometheus' parser skips `_created` series when it reads them as created
                // timestamps.
                return Ok(());
            }
            let family = self.family.as_ref().map_or("", |f| f.name);
            let key = match labels {
                LineLabels::None => created::series_key(family, metric_type, std::iter::empty()),
                LineLabels::Decoded => created::series_key(
                    family,
                    metric_type,
                    self.labels.iter().map(|l| (l.name, l.value.as_ref())),
                ),
                LineLabels::Plain { line, open } => {
                    let n = self.reuse.count;
                    let plain = SampleLabels::plain(
                        line,
                        open + 1,
                        self.reuse.name_len.get(..n).unwrap_or_default(),
                        self.reuse.stops.get(..n).unwrap_or_default(),
                    );
                    let pairs: Vec<_> = plain.iter().collect();
                    created::series_key(
                        family,
                        metric_type,
                        pairs.iter().map(|l| (l.name, l.value.as_ref())),
                    )
                }
            };
            created = self.created_timestamp(family, metric_type, key);
        }
        self.samples += 1;
        let ex = exemplar.filter(|_| self.keep_exemplars);
        let ex = ex.map(|(value, timestamp_ms)| Exemplar {
            labels: &self.exemplar_labels,
            value,
            timestamp_ms,
        });
        let labels = match labels {
            LineLabels::None => SampleLabels::none(),
            LineLabels::Plain { line, open } => {
                let n = self.reuse.count;
                SampleLabels::plain(
                    line,
                    open + 1,
                    self.reuse.name_len.get(..n).unwrap_or_default(),
                    self.reuse.stops.get(..n).unwrap_or_default(),
                )
            }
            LineLabels::Decoded => SampleLabels::decoded(&self.labels),
        };
        let result = if escaped_names {
            emit_unescaped(
                sink,
                name,
                series,
                &self.labels,
                value,
                timestamp_ms,
                ex.as_ref(),
                metric_type,
                unit,
                created,
            )
        } else {
            sink.sample(&Sample {
                name,
                series,
                labels,
                value,
                timestamp_ms,
                exemplar: ex.as_ref(),
                metric_type,
                unit,
                created_timestamp_ms: created,
            })
        };
        result.map_err(|e| ParseError {
            line: line_no,
            column: 1,
            message: e.0,
            kind: ParseErrorKind::Sink,
        })
    }

    /// The type and unit of the family a sample named `name` belongs to; in OpenMetrics a
    /// sample of no declared family opens one of its own.
    fn family_of_sample(&mut self, name: &'i str) -> (MetricType, &'i str) {
        match self.family.as_mut() {
            Some(f) if f.owns(name) => {
                f.has_samples = true;
                (f.kind, f.unit)
            }
            _ => {
                if self.format == Format::OpenMetrics {
                    if let Some(prev) = self.family.take() {
                        self.closed.insert(prev.name);
                    }
                    let mut f = Family::new(name);
                    f.has_samples = true;
                    self.family = Some(f);
                }
                (MetricType::Unknown, "")
            }
        }
    }

    /// Parses an exemplar whose `{` is at `open` into `exemplar_labels`; returns value and
    /// timestamp.
    fn exemplar(&mut self, open: usize, end: usize) -> Result<(f64, Option<i64>), ParseError> {
        let cur = &self.cur;
        let b = cur.input.as_bytes();
        self.exemplar_labels.clear();
        let (p, _) = cur.label_block(open, end, &mut self.exemplar_labels, None)?;
        if at(b, p, end) != Some(b' ') {
            return Err(cur.err(
                p,
                format!("expected ' ' and exemplar value, {}", cur.found(p, end)),
            ));
        }
        let v = p + 1;
        let v_end = scan_token(b, v, end, false);
        let v_text = cur.slice(v, v_end)?;
        if v_text.is_empty() {
            return Err(cur.err(v, "expected exemplar value"));
        }
        let value = parse_float(v_text)
            .map_err(|e| cur.err(v, format!("{} in exemplar value {v_text:?}", e.describe())))?;
        let mut ts = None;
        if v_end < end {
            let t = v_end + 1;
            let t_end = scan_token(b, t, end, false);
            let t_text = cur.slice(t, t_end)?;
            ts = Some(parse_float_timestamp(t_text).map_err(|e| {
                cur.err(
                    t,
                    format!("{} in exemplar timestamp {t_text:?}", e.describe()),
                )
            })?);
            if t_end < end {
                return Err(cur.err(t_end, "expected end of line after exemplar timestamp"));
            }
        }
        Ok((canonical_nan(value), ts))
    }
}

/// Slow path for quoted names with escapes (`{"a\"b"="x"}`): builds owned names.
#[allow(clippy::too_many_arguments)]
fn emit_unescaped<S: Sink>(
    sink: &mut S,
    name: &str,
    series: &str,
    labels: &[LabelRef<'_>],
    value: f64,
    timestamp_ms: Option<i64>,
    exemplar: Option<&Exemplar<'_>>,
    metric_type: MetricType,
    unit: &str,
    created: Option<i64>,
) -> Result<(), super::SinkError> {
    let name = unescape(name, true);
    let names: Vec<Cow<'_, str>> = labels.iter().map(|l| unescape(l.name, true)).collect();
    let owned: Vec<LabelRef<'_>> = labels
        .iter()
        .zip(&names)
        .map(|(l, n)| LabelRef {
            name: n.as_ref(),
            value: l.value.clone(),
        })
        .collect();
    sink.sample(&Sample {
        name: &name,
        series,
        labels: SampleLabels::decoded(&owned),
        value,
        timestamp_ms,
        exemplar,
        metric_type,
        unit,
        created_timestamp_ms: created,
    })
}

fn text_type(t: &str) -> Option<MetricType> {
    const TYPES: [(&str, MetricType); 5] = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Unknown),
    ];
    TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(t))
        .map(|&(_, kind)| kind)
}

fn om_type(t: &str) -> Option<MetricType> {
    Some(match t {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "unknown" => MetricType::Unknown,
        _ => return None,
    })
}
