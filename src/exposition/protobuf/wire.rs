//! The protobuf wire format, as far as `metrics.proto` needs it, and the messages of
//! `io.prometheus.client` decoded from it.
//!
//! [`Reader`] reads tags, varints, fixed-width numbers and length-delimited slices, checking
//! every length against what is left of its message: nothing is allocated from a length the
//! input states, so a hostile body costs at most what it is. The message decoders below
//! follow `prometheus/client_model`'s `metrics.proto` (the field numbers are in each
//! decoder's match) and keep slices into the input; repeated fields collect into vectors the
//! caller reuses, whose length is bounded by the bytes they were read from. As protobuf
//! readers do, fields may come in any order, a singular field given twice keeps its last
//! value (a message field merges), repeated scalars are read packed or unpacked, and fields
//! of unknown number are skipped. A field with the wrong wire type is an error, as in the
//! gogo-protobuf code Prometheus generates. Errors carry the path of the field they are
//! about ([`WireError::at`] adds the outer segments on the way out).

use std::fmt;

/// A decoding failure and the field path it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WireError {
    /// Path segments, innermost first (`positive_span[0]`, `histogram`, `metric[2]`).
    path: Vec<String>,
    message: String,
}

impl WireError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        WireError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The error as seen from the message around it: `segment` is the field of that message
    /// the error happened in (`histogram`, `metric[2]`).
    pub(super) fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }

    /// The dotted field path, outermost first (`metric[2].histogram.positive_span[0]`).
    pub(super) fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.path.iter().rev() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path(), self.message)
        }
    }
}

type Result<T> = std::result::Result<T, WireError>;

/// Protobuf wire types.
pub(super) const VARINT: u8 = 0;
pub(super) const FIXED64: u8 = 1;
pub(super) const LEN: u8 = 2;
pub(super) const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(WireError::new("unexpected end of message in a varint"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError::new("varint longer than 10 bytes"))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self
            .buf
            .get(self.pos..self.pos.saturating_add(N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| {
                WireError::new(format!("unexpected end of message in a {N}-byte value"))
            })?;
        self.pos += N;
        Ok(bytes)
    }

    pub(super) fn double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.fixed::<8>()?))
    }

    /// A length-delimited field's bytes.
    pub(super) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos.min(self.buf.len());
        if len > rest as u64 {
            return Err(WireError::new(format!(
                "length {len} exceeds the {rest} bytes left in the message"
            )));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The next field's number and wire type. Wire types 3 and 4 (groups, which
    /// `metrics.proto` never uses) and field number 0 are errors.
    pub(super) fn tag(&mut self) -> Result<(u64, u8)> {
        let key = self.varint()?;
        let field = key >> 3;
        let wire = (key & 7) as u8;
        if field == 0 {
            return Err(WireError::new(format!("illegal tag 0 (wire type {wire})")));
        }
        if !matches!(wire, VARINT | FIXED64 | LEN | FIXED32) {
            return Err(WireError::new(format!(
                "field {field}: unsupported wire type {wire}"
            )));
        }
        Ok((field, wire))
    }

    /// Skips the value of a field of unknown number.
    pub(super) fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed::<8>().map(drop),
            LEN => self.bytes().map(drop),
            _ => self.fixed::<4>().map(drop),
        }
    }
}

/// Checks that `field` came with wire type `want`.
pub(super) fn expect(name: &'static str, wire: u8, want: u8) -> Result<()> {
    if wire == want {
        Ok(())
    } else {
        Err(WireError::new(format!(
            "wrong wire type {wire} for field {name} (want {want})"
        )))
    }
}

/// `sint32`/`sint64` zig-zag decoding; `sint32` truncates to 32 bits first, as Go does.
pub(super) fn zigzag32(v: u64) -> i32 {
    let n = v as u32;
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

pub(super) fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a repeated `sint64` field's value (packed or one element) into `out`.
fn sint64s(r: &mut Reader<'_>, wire: u8, name: &'static str, out: &mut Vec<i64>) -> Result<()> {
    match wire {
        VARINT => out.push(zigzag64(r.varint()?)),
        LEN => {
            let mut p = Reader::new(r.bytes()?);
            while !p.at_end() {
                out.push(zigzag64(p.varint()?));
            }
        }
        _ => return expect(name, wire, LEN),
    }
    Ok(())
}

/// Reads a repeated `double` field's value (packed or one element) into `out`.
fn doubles(r: &mut Reader<'_>, wire: u8, name: &'static str, out: &mut Vec<f64>) -> Result<()> {
    match wire {
        FIXED64 => out.push(r.double()?),
        LEN => {
            let packed = r.bytes()?;
            if packed.len() % 8 != 0 {
                return Err(WireError::new(format!(
                    "packed field {name} of {} bytes is not a whole number of doubles",
                    packed.len()
                )));
            }
            let mut p = Reader::new(packed);
            while !p.at_end() {
                out.push(p.double()?);
            }
        }
        _ => return expect(name, wire, LEN),
    }
    Ok(())
}

/// `MetricFamily`, with its metrics left undecoded.
#[derive(Default)]
pub(super) struct FamilyMsg<'a> {
    pub name: &'a [u8],
    pub help: &'a [u8],
    pub kind: i32,
    pub unit: &'a [u8],
}

/// Decodes a `MetricFamily`; the bytes of each `metric` go to `metrics`.
pub(super) fn family<'a>(buf: &'a [u8], metrics: &mut Vec<&'a [u8]>) -> Result<FamilyMsg<'a>> {
    let mut m = FamilyMsg::default();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("name", wire, LEN)?;
                m.name = r.bytes()?;
            }
            2 => {
                expect("help", wire, LEN)?;
                m.help = r.bytes()?;
            }
            3 => {
                expect("type", wire, VARINT)?;
                m.kind = r.varint()? as i32;
            }
            4 => {
                expect("metric", wire, LEN)?;
                metrics.push(r.bytes()?);
            }
            5 => {
                expect("unit", wire, LEN)?;
                m.unit = r.bytes()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(m)
}

/// `google.protobuf.Timestamp` in milliseconds (`seconds*1000 + nanos/1e6`, as Prometheus
/// converts it, wrapping where Go's int64 arithmetic wraps).
fn timestamp_ms(buf: &[u8]) -> Result<i64> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("seconds", wire, VARINT)?;
                seconds = r.varint()? as i64;
            }
            2 => {
                expect("nanos", wire, VARINT)?;
                nanos = r.varint()? as i32;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(seconds
        .wrapping_mul(1000)
        .wrapping_add(i64::from(nanos / 1_000_000)))
}

/// `Exemplar`, with its label pairs left undecoded.
#[derive(Clone, Copy, Default)]
pub(super) struct ExemplarMsg<'a> {
    pub labels: &'a [u8],
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Decodes an `Exemplar`; `labels` is the message itself, whose `label` fields
/// [`label_pairs`] reads.
pub(super) fn exemplar(buf: &[u8]) -> Result<ExemplarMsg<'_>> {
    let mut m = ExemplarMsg {
        labels: buf,
        ..ExemplarMsg::default()
    };
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("label", wire, LEN)?;
                label_pair(r.bytes()?).map_err(|e| e.at("label"))?;
            }
            2 => {
                expect("value", wire, FIXED64)?;
                m.value = r.double()?;
            }
            3 => {
                expect("timestamp", wire, LEN)?;
                m.timestamp_ms = Some(timestamp_ms(r.bytes()?).map_err(|e| e.at("timestamp"))?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(m)
}

/// Decodes a `LabelPair` (name, value); both must be UTF-8.
pub(super) fn label_pair(buf: &[u8]) -> Result<(&str, &str)> {
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("name", wire, LEN)?;
                name = r.bytes()?;
            }
            2 => {
                expect("value", wire, LEN)?;
                value = r.bytes()?;
            }
            _ => r.skip(wire)?,
        }
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| WireError::new(format!("invalid label name: {}", lossy(name))))?;
    if name.is_empty() {
        return Err(WireError::new("invalid label name: empty"));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| WireError::new(format!("invalid label value: {}", lossy(value))))?;
    Ok((name, value))
}

/// The `label` fields of a message whose label pairs are field 1 (`Metric`, `Exemplar`),
/// decoded into `out`.
pub(super) fn label_pairs<'a>(buf: &'a [u8], out: &mut Vec<(&'a str, &'a str)>) -> Result<()> {
    let mut r = Reader::new(buf);
    let mut i = 0;
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        if field == 1 && wire == LEN {
            out.push(label_pair(r.bytes()?).map_err(|e| e.at(format!("label[{i}]")))?);
            i += 1;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(())
}

pub(super) fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// A classic histogram bucket.
#[derive(Clone, Copy, Default)]
pub(super) struct BucketMsg<'a> {
    pub cumulative_count: u64,
    pub cumulative_count_float: f64,
    pub upper_bound: f64,
    pub exemplar: Option<ExemplarMsg<'a>>,
}

/// A native histogram's bucket span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketSpan {
    /// Gap to the previous span's end (for the first span: the index of its first bucket).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// `Histogram`: the classic part, the native part and the created timestamp. The repeated
/// fields live in vectors the decoder reuses from metric to metric.
#[derive(Default)]
pub(super) struct HistogramMsg<'a> {
    pub sample_count: u64,
    pub sample_count_float: f64,
    pub sample_sum: f64,
    pub buckets: Vec<BucketMsg<'a>>,
    pub created_timestamp_ms: Option<i64>,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub zero_count_float: f64,
    pub negative_spans: Vec<BucketSpan>,
    pub negative_deltas: Vec<i64>,
    pub negative_counts: Vec<f64>,
    pub positive_spans: Vec<BucketSpan>,
    pub positive_deltas: Vec<i64>,
    pub positive_counts: Vec<f64>,
    pub exemplars: Vec<ExemplarMsg<'a>>,
}

impl HistogramMsg<'_> {
    fn clear(&mut self) {
        self.sample_count = 0;
        self.sample_count_float = 0.0;
        self.sample_sum = 0.0;
        self.buckets.clear();
        self.created_timestamp_ms = None;
        self.schema = 0;
        self.zero_threshold = 0.0;
        self.zero_count = 0;
        self.zero_count_float = 0.0;
        self.negative_spans.clear();
        self.negative_deltas.clear();
        self.negative_counts.clear();
        self.positive_spans.clear();
        self.positive_deltas.clear();
        self.positive_counts.clear();
        self.exemplars.clear();
    }

    /// Prometheus' `isNativeHistogram`: any span, a zero threshold or an (integer) zero
    /// count. A native histogram without observations and threshold sends an empty span.
    pub(super) fn is_native(&self) -> bool {
        !self.positive_spans.is_empty()
            || !self.negative_spans.is_empty()
            || self.zero_threshold > 0.0
            || self.zero_count > 0
    }

    /// Whether the counts are floats: Prometheus' test, `sample_count_float > 0 ||
    /// zero_count_float > 0`.
    pub(super) fn is_float(&self) -> bool {
        self.sample_count_float > 0.0 || self.zero_count_float > 0.0
    }
}

fn span(buf: &[u8]) -> Result<BucketSpan> {
    let mut s = BucketSpan::default();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("offset", wire, VARINT)?;
                s.offset = zigzag32(r.varint()?);
            }
            2 => {
                expect("length", wire, VARINT)?;
                s.length = r.varint()? as u32;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(s)
}

fn bucket(buf: &[u8]) -> Result<BucketMsg<'_>> {
    let mut b = BucketMsg::default();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("cumulative_count", wire, VARINT)?;
                b.cumulative_count = r.varint()?;
            }
            2 => {
                expect("upper_bound", wire, FIXED64)?;
                b.upper_bound = r.double()?;
            }
            3 => {
                expect("exemplar", wire, LEN)?;
                b.exemplar = Some(exemplar(r.bytes()?).map_err(|e| e.at("exemplar"))?);
            }
            4 => {
                expect("cumulative_count_float", wire, FIXED64)?;
                b.cumulative_count_float = r.double()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(b)
}

/// Merges a `Histogram` message into `h`.
fn histogram<'a>(buf: &'a [u8], h: &mut HistogramMsg<'a>) -> Result<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("sample_count", wire, VARINT)?;
                h.sample_count = r.varint()?;
            }
            2 => {
                expect("sample_sum", wire, FIXED64)?;
                h.sample_sum = r.double()?;
            }
            3 => {
                expect("bucket", wire, LEN)?;
                let i = h.buckets.len();
                h.buckets
                    .push(bucket(r.bytes()?).map_err(|e| e.at(format!("bucket[{i}]")))?);
            }
            4 => {
                expect("sample_count_float", wire, FIXED64)?;
                h.sample_count_float = r.double()?;
            }
            5 => {
                expect("schema", wire, VARINT)?;
                h.schema = zigzag32(r.varint()?);
            }
            6 => {
                expect("zero_threshold", wire, FIXED64)?;
                h.zero_threshold = r.double()?;
            }
            7 => {
                expect("zero_count", wire, VARINT)?;
                h.zero_count = r.varint()?;
            }
            8 => {
                expect("zero_count_float", wire, FIXED64)?;
                h.zero_count_float = r.double()?;
            }
            9 | 12 => {
                let (name, spans) = if field == 9 {
                    ("negative_span", &mut h.negative_spans)
                } else {
                    ("positive_span", &mut h.positive_spans)
                };
                expect(name, wire, LEN)?;
                let i = spans.len();
                spans.push(span(r.bytes()?).map_err(|e| e.at(format!("{name}[{i}]")))?);
            }
            10 => sint64s(&mut r, wire, "negative_delta", &mut h.negative_deltas)?,
            11 => doubles(&mut r, wire, "negative_count", &mut h.negative_counts)?,
            13 => sint64s(&mut r, wire, "positive_delta", &mut h.positive_deltas)?,
            14 => doubles(&mut r, wire, "positive_count", &mut h.positive_counts)?,
            15 => {
                expect("created_timestamp", wire, LEN)?;
                h.created_timestamp_ms =
                    Some(timestamp_ms(r.bytes()?).map_err(|e| e.at("created_timestamp"))?);
            }
            16 => {
                expect("exemplars", wire, LEN)?;
                let i = h.exemplars.len();
                h.exemplars
                    .push(exemplar(r.bytes()?).map_err(|e| e.at(format!("exemplars[{i}]")))?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// A summary quantile.
#[derive(Clone, Copy, Default)]
pub(super) struct QuantileMsg {
    pub quantile: f64,
    pub value: f64,
}

/// `Summary`.
#[derive(Default)]
pub(super) struct SummaryMsg {
    pub sample_count: u64,
    pub sample_sum: f64,
    pub quantiles: Vec<QuantileMsg>,
    pub created_timestamp_ms: Option<i64>,
}

fn quantile(buf: &[u8]) -> Result<QuantileMsg> {
    let mut q = QuantileMsg::default();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("quantile", wire, FIXED64)?;
                q.quantile = r.double()?;
            }
            2 => {
                expect("value", wire, FIXED64)?;
                q.value = r.double()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(q)
}

fn summary(buf: &[u8], s: &mut SummaryMsg) -> Result<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("sample_count", wire, VARINT)?;
                s.sample_count = r.varint()?;
            }
            2 => {
                expect("sample_sum", wire, FIXED64)?;
                s.sample_sum = r.double()?;
            }
            3 => {
                expect("quantile", wire, LEN)?;
                let i = s.quantiles.len();
                s.quantiles
                    .push(quantile(r.bytes()?).map_err(|e| e.at(format!("quantile[{i}]")))?);
            }
            4 => {
                expect("created_timestamp", wire, LEN)?;
                s.created_timestamp_ms =
                    Some(timestamp_ms(r.bytes()?).map_err(|e| e.at("created_timestamp"))?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// `Counter`.
#[derive(Clone, Copy, Default)]
pub(super) struct CounterMsg<'a> {
    pub value: f64,
    pub exemplar: Option<ExemplarMsg<'a>>,
    pub created_timestamp_ms: Option<i64>,
}

fn counter<'a>(buf: &'a [u8], c: &mut CounterMsg<'a>) -> Result<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                expect("value", wire, FIXED64)?;
                c.value = r.double()?;
            }
            2 => {
                expect("exemplar", wire, LEN)?;
                c.exemplar = Some(exemplar(r.bytes()?).map_err(|e| e.at("exemplar"))?);
            }
            3 => {
                expect("created_timestamp", wire, LEN)?;
                c.created_timestamp_ms =
                    Some(timestamp_ms(r.bytes()?).map_err(|e| e.at("created_timestamp"))?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// `Gauge` and `Untyped`: one `double value = 1`.
fn single_value(buf: &[u8], v: &mut f64) -> Result<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        if field == 1 {
            expect("value", wire, FIXED64)?;
            *v = r.double()?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(())
}

/// `Metric`: labels, one value per metric type (a reader takes the one its family's type
/// names, the others are decoded and ignored) and the timestamp. Reused from metric to
/// metric.
#[derive(Default)]
pub(super) struct MetricMsg<'a> {
    pub labels: Vec<(&'a str, &'a str)>,
    pub gauge: f64,
    pub counter: CounterMsg<'a>,
    pub summary: SummaryMsg,
    pub untyped: f64,
    pub histogram: HistogramMsg<'a>,
    pub timestamp_ms: i64,
}

impl<'a> MetricMsg<'a> {
    /// Decodes `buf` into `self`, after clearing what the previous metric left.
    pub(super) fn decode(&mut self, buf: &'a [u8]) -> Result<()> {
        self.labels.clear();
        self.gauge = 0.0;
        self.counter = CounterMsg::default();
        self.summary.sample_count = 0;
        self.summary.sample_sum = 0.0;
        self.summary.quantiles.clear();
        self.summary.created_timestamp_ms = None;
        self.untyped = 0.0;
        self.histogram.clear();
        self.timestamp_ms = 0;
        let mut r = Reader::new(buf);
        while !r.at_end() {
            let (field, wire) = r.tag()?;
            match field {
                1 => {
                    expect("label", wire, LEN)?;
                    let i = self.labels.len();
                    self.labels
                        .push(label_pair(r.bytes()?).map_err(|e| e.at(format!("label[{i}]")))?);
                }
                2 => {
                    expect("gauge", wire, LEN)?;
                    single_value(r.bytes()?, &mut self.gauge).map_err(|e| e.at("gauge"))?;
                }
                3 => {
                    expect("counter", wire, LEN)?;
                    counter(r.bytes()?, &mut self.counter).map_err(|e| e.at("counter"))?;
                }
                4 => {
                    expect("summary", wire, LEN)?;
                    summary(r.bytes()?, &mut self.summary).map_err(|e| e.at("summary"))?;
                }
                5 => {
                    expect("untyped", wire, LEN)?;
                    single_value(r.bytes()?, &mut self.untyped).map_err(|e| e.at("untyped"))?;
                }
                6 => {
                    expect("timestamp_ms", wire, VARINT)?;
                    self.timestamp_ms = r.varint()? as i64;
                }
                7 => {
                    expect("histogram", wire, LEN)?;
                    histogram(r.bytes()?, &mut self.histogram).map_err(|e| e.at("histogram"))?;
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(())
    }
}
