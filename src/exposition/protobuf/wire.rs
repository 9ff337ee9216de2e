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

/// A cursor over one message's bytes. The common cases (a one-byte varint, a one-byte tag)
/// take the inlined fast paths; everything else, and every error, is out of line.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    /// Never past `buf.len()`.
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub(super) fn varint(&mut self) -> Result<u64> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64> {
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

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self
            .buf
            .get(self.pos..self.pos.saturating_add(N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
        {
            Some(bytes) => {
                self.pos += N;
                Ok(bytes)
            }
            None => Err(truncated(N)),
        }
    }

    #[inline]
    pub(super) fn double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.fixed::<8>()?))
    }

    /// A length-delimited field's bytes.
    #[inline]
    pub(super) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos.min(self.buf.len());
        if len > rest as u64 {
            return Err(too_long(len, rest));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The next field's number and wire type. Wire types 3 and 4 (groups, which
    /// `metrics.proto` never uses) and field number 0 are errors.
    #[inline]
    pub(super) fn tag(&mut self) -> Result<(u64, u8)> {
        let key = self.varint()?;
        let field = key >> 3;
        let wire = (key & 7) as u8;
        if field == 0 || !matches!(wire, VARINT | FIXED64 | LEN | FIXED32) {
            return Err(bad_tag(field, wire));
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

    /// A `VARINT` field's value; `name` names the field when it came with another wire
    /// type.
    #[inline]
    pub(super) fn varint_field(&mut self, name: &'static str, wire: u8) -> Result<u64> {
        expect(name, wire, VARINT)?;
        self.varint()
    }

    /// A `double` field's value.
    #[inline]
    pub(super) fn double_field(&mut self, name: &'static str, wire: u8) -> Result<f64> {
        expect(name, wire, FIXED64)?;
        self.double()
    }

    /// A length-delimited field's bytes (a string, a message, a packed field).
    #[inline]
    pub(super) fn bytes_field(&mut self, name: &'static str, wire: u8) -> Result<&'a [u8]> {
        expect(name, wire, LEN)?;
        self.bytes()
    }
}

#[cold]
fn truncated(n: usize) -> WireError {
    WireError::new(format!("unexpected end of message in a {n}-byte value"))
}

#[cold]
fn too_long(len: u64, rest: usize) -> WireError {
    WireError::new(format!(
        "length {len} exceeds the {rest} bytes left in the message"
    ))
}

#[cold]
fn bad_tag(field: u64, wire: u8) -> WireError {
    if field == 0 {
        WireError::new(format!("illegal tag 0 (wire type {wire})"))
    } else {
        WireError::new(format!("field {field}: unsupported wire type {wire}"))
    }
}

/// Reads the message `buf` field by field: `read` gets the reader at each field's value
/// with the field's number and wire type, reads the value of a field it knows and says so
/// (`Ok(true)`); the fields it leaves (`Ok(false)`) are skipped.
#[inline]
pub(super) fn fields<'a>(
    buf: &'a [u8],
    mut read: impl FnMut(&mut Reader<'a>, u64, u8) -> Result<bool>,
) -> Result<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (field, wire) = r.tag()?;
        if !read(&mut r, field, wire)? {
            r.skip(wire)?;
        }
    }
    Ok(())
}

/// Reads one element of a repeated message field `name` into `out` with `decode`; an error
/// inside it is at `name[i]`.
fn push_message<'a, T>(
    r: &mut Reader<'a>,
    name: &'static str,
    wire: u8,
    out: &mut Vec<T>,
    decode: impl FnOnce(&'a [u8]) -> Result<T>,
) -> Result<()> {
    let i = out.len();
    out.push(decode(r.bytes_field(name, wire)?).map_err(|e| e.at(format!("{name}[{i}]")))?);
    Ok(())
}

/// A `created_timestamp` field (of `Counter`, `Summary`, `Histogram`).
fn created_timestamp(r: &mut Reader<'_>, wire: u8) -> Result<Option<i64>> {
    let buf = r.bytes_field("created_timestamp", wire)?;
    Ok(Some(
        timestamp_ms(buf).map_err(|e| e.at("created_timestamp"))?,
    ))
}

/// Checks that `field` came with wire type `want`.
#[inline]
pub(super) fn expect(name: &'static str, wire: u8, want: u8) -> Result<()> {
    if wire == want {
        Ok(())
    } else {
        Err(wrong_wire(name, wire, want))
    }
}

#[cold]
fn wrong_wire(name: &'static str, wire: u8, want: u8) -> WireError {
    WireError::new(format!(
        "wrong wire type {wire} for field {name} (want {want})"
    ))
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
    fields(buf, |r, field, wire| {
        match field {
            1 => m.name = r.bytes_field("name", wire)?,
            2 => m.help = r.bytes_field("help", wire)?,
            3 => m.kind = r.varint_field("type", wire)? as i32,
            4 => metrics.push(r.bytes_field("metric", wire)?),
            5 => m.unit = r.bytes_field("unit", wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

/// `google.protobuf.Timestamp` in milliseconds (`seconds*1000 + nanos/1e6`, as Prometheus
/// converts it, wrapping where Go's int64 arithmetic wraps).
fn timestamp_ms(buf: &[u8]) -> Result<i64> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    fields(buf, |r, field, wire| {
        match field {
            1 => seconds = r.varint_field("seconds", wire)? as i64,
            2 => nanos = r.varint_field("nanos", wire)? as i32,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
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
    fields(buf, |r, field, wire| {
        match field {
            1 => {
                let pair = r.bytes_field("label", wire)?;
                label_pair(pair).map_err(|e| e.at("label"))?;
            }
            2 => m.value = r.double_field("value", wire)?,
            3 => {
                let buf = r.bytes_field("timestamp", wire)?;
                m.timestamp_ms = Some(timestamp_ms(buf).map_err(|e| e.at("timestamp"))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

/// A `LabelPair` as sent: name and value bytes, not yet checked for UTF-8
/// ([`label_strs`] checks them).
#[derive(Clone, Copy, Debug)]
pub(super) struct LabelBytes<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// Decodes a `LabelPair`'s fields.
#[inline]
fn label_bytes(buf: &[u8]) -> Result<LabelBytes<'_>> {
    // What every client library writes: the name (field 1) then the value (field 2), each
    // shorter than 128 bytes, so each with a one-byte tag and a one-byte length.
    if let [0x0a, n, rest @ ..] = buf {
        let n = usize::from(*n);
        if n < 0x80 && rest.len() >= n + 2 {
            let (name, rest) = rest.split_at(n);
            if let [0x12, v, value @ ..] = rest {
                if *v < 0x80 && usize::from(*v) == value.len() {
                    return Ok(LabelBytes { name, value });
                }
            }
        }
    }
    let mut l = LabelBytes {
        name: b"",
        value: b"",
    };
    fields(buf, |r, field, wire| {
        match field {
            1 => l.name = r.bytes_field("name", wire)?,
            2 => l.value = r.bytes_field("value", wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(l)
}

/// A label's name and value as text: both must be UTF-8, and the name not empty.
fn label_str(l: LabelBytes<'_>) -> Result<(&str, &str)> {
    let name = std::str::from_utf8(l.name)
        .map_err(|_| WireError::new(format!("invalid label name: {}", lossy(l.name))))?;
    if name.is_empty() {
        return Err(WireError::new("invalid label name: empty"));
    }
    let value = std::str::from_utf8(l.value)
        .map_err(|_| WireError::new(format!("invalid label value: {}", lossy(l.value))))?;
    Ok((name, value))
}

/// Decodes a `LabelPair` (name, value); both must be UTF-8.
pub(super) fn label_pair(buf: &[u8]) -> Result<(&str, &str)> {
    label_str(label_bytes(buf)?)
}

/// A metric's labels as text, into `out`; the first that is not UTF-8 or has an empty name
/// is an error at `label[i]`.
pub(super) fn label_strs<'a>(
    labels: &[LabelBytes<'a>],
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<()> {
    out.clear();
    for (i, &l) in labels.iter().enumerate() {
        out.push(label_str(l).map_err(|e| e.at(format!("label[{i}]")))?);
    }
    Ok(())
}

/// The `label` fields of a message whose label pairs are field 1 (`Metric`, `Exemplar`),
/// decoded into `out`.
pub(super) fn label_pairs<'a>(buf: &'a [u8], out: &mut Vec<(&'a str, &'a str)>) -> Result<()> {
    let mut i = 0;
    fields(buf, |r, field, wire| {
        if field != 1 || wire != LEN {
            return Ok(false);
        }
        out.push(label_pair(r.bytes()?).map_err(|e| e.at(format!("label[{i}]")))?);
        i += 1;
        Ok(true)
    })
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
    fields(buf, |r, field, wire| {
        match field {
            1 => s.offset = zigzag32(r.varint_field("offset", wire)?),
            2 => s.length = r.varint_field("length", wire)? as u32,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(s)
}

fn bucket(buf: &[u8]) -> Result<BucketMsg<'_>> {
    let mut b = BucketMsg::default();
    fields(buf, |r, field, wire| {
        match field {
            1 => b.cumulative_count = r.varint_field("cumulative_count", wire)?,
            2 => b.upper_bound = r.double_field("upper_bound", wire)?,
            3 => {
                let buf = r.bytes_field("exemplar", wire)?;
                b.exemplar = Some(exemplar(buf).map_err(|e| e.at("exemplar"))?);
            }
            4 => b.cumulative_count_float = r.double_field("cumulative_count_float", wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(b)
}

/// Merges a `Histogram` message into `h`.
fn histogram<'a>(buf: &'a [u8], h: &mut HistogramMsg<'a>) -> Result<()> {
    fields(buf, |r, field, wire| {
        match field {
            1 => h.sample_count = r.varint_field("sample_count", wire)?,
            2 => h.sample_sum = r.double_field("sample_sum", wire)?,
            3 => push_message(r, "bucket", wire, &mut h.buckets, bucket)?,
            4 => h.sample_count_float = r.double_field("sample_count_float", wire)?,
            5 => h.schema = zigzag32(r.varint_field("schema", wire)?),
            6 => h.zero_threshold = r.double_field("zero_threshold", wire)?,
            7 => h.zero_count = r.varint_field("zero_count", wire)?,
            8 => h.zero_count_float = r.double_field("zero_count_float", wire)?,
            9 => push_message(r, "negative_span", wire, &mut h.negative_spans, span)?,
            10 => sint64s(r, wire, "negative_delta", &mut h.negative_deltas)?,
            11 => doubles(r, wire, "negative_count", &mut h.negative_counts)?,
            12 => push_message(r, "positive_span", wire, &mut h.positive_spans, span)?,
            13 => sint64s(r, wire, "positive_delta", &mut h.positive_deltas)?,
            14 => doubles(r, wire, "positive_count", &mut h.positive_counts)?,
            15 => h.created_timestamp_ms = created_timestamp(r, wire)?,
            16 => push_message(r, "exemplars", wire, &mut h.exemplars, exemplar)?,
            _ => return Ok(false),
        }
        Ok(true)
    })
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
    fields(buf, |r, field, wire| {
        match field {
            1 => q.quantile = r.double_field("quantile", wire)?,
            2 => q.value = r.double_field("value", wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(q)
}

fn summary(buf: &[u8], s: &mut SummaryMsg) -> Result<()> {
    fields(buf, |r, field, wire| {
        match field {
            1 => s.sample_count = r.varint_field("sample_count", wire)?,
            2 => s.sample_sum = r.double_field("sample_sum", wire)?,
            3 => push_message(r, "quantile", wire, &mut s.quantiles, quantile)?,
            4 => s.created_timestamp_ms = created_timestamp(r, wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

/// `Counter`.
#[derive(Clone, Copy, Default)]
pub(super) struct CounterMsg<'a> {
    pub value: f64,
    pub exemplar: Option<ExemplarMsg<'a>>,
    pub created_timestamp_ms: Option<i64>,
}

fn counter<'a>(buf: &'a [u8], c: &mut CounterMsg<'a>) -> Result<()> {
    fields(buf, |r, field, wire| {
        match field {
            1 => c.value = r.double_field("value", wire)?,
            2 => {
                let buf = r.bytes_field("exemplar", wire)?;
                c.exemplar = Some(exemplar(buf).map_err(|e| e.at("exemplar"))?);
            }
            3 => c.created_timestamp_ms = created_timestamp(r, wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

/// `Gauge` and `Untyped`: one `double value = 1`.
fn single_value(buf: &[u8], v: &mut f64) -> Result<()> {
    fields(buf, |r, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        *v = r.double_field("value", wire)?;
        Ok(true)
    })
}

/// `Metric`: labels, one value per metric type (a reader takes the one its family's type
/// names, the others are decoded and ignored) and the timestamp. Reused from metric to
/// metric.
#[derive(Default)]
pub(super) struct MetricMsg<'a> {
    /// As sent: the reader checks them for UTF-8 ([`label_strs`]) when it writes them out,
    /// which is before it looks at anything else of the metric.
    pub labels: Vec<LabelBytes<'a>>,
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
        let read = fields(buf, |r, field, wire| {
            match field {
                1 => push_message(r, "label", wire, &mut self.labels, label_bytes)?,
                2 => {
                    let buf = r.bytes_field("gauge", wire)?;
                    single_value(buf, &mut self.gauge).map_err(|e| e.at("gauge"))?;
                }
                3 => {
                    let buf = r.bytes_field("counter", wire)?;
                    counter(buf, &mut self.counter).map_err(|e| e.at("counter"))?;
                }
                4 => {
                    let buf = r.bytes_field("summary", wire)?;
                    summary(buf, &mut self.summary).map_err(|e| e.at("summary"))?;
                }
                5 => {
                    let buf = r.bytes_field("untyped", wire)?;
                    single_value(buf, &mut self.untyped).map_err(|e| e.at("untyped"))?;
                }
                6 => self.timestamp_ms = r.varint_field("timestamp_ms", wire)? as i64,
                7 => {
                    let buf = r.bytes_field("histogram", wire)?;
                    histogram(buf, &mut self.histogram).map_err(|e| e.at("histogram"))?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        });
        if read.is_err() {
            // A label that is not UTF-8 is the first error when it comes before the one
            // that stopped the decoding.
            label_strs(&self.labels, &mut Vec::new())?;
        }
        read
    }
}
