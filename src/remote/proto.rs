//! Hand-written protobuf encoding of Prometheus' remote-write 1.0 `prometheus.WriteRequest`
//! (upstream `prompb/remote.proto` and `prompb/types.proto`):
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//!                        repeated Histogram histograms = 4; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! message Histogram    { oneof count { uint64 count_int = 1; double count_float = 2; }
//!                        double sum = 3; sint32 schema = 4; double zero_threshold = 5;
//!                        oneof zero_count { uint64 zero_count_int = 6;
//!                                           double zero_count_float = 7; }
//!                        repeated BucketSpan negative_spans = 8;
//!                        repeated sint64 negative_deltas = 9; repeated double negative_counts = 10;
//!                        repeated BucketSpan positive_spans = 11;
//!                        repeated sint64 positive_deltas = 12; repeated double positive_counts = 13;
//!                        ResetHint reset_hint = 14; int64 timestamp = 15;
//!                        repeated double custom_values = 16; }
//! message BucketSpan   { sint32 offset = 1; uint32 length = 2; }
//! ```
//!
//! A native histogram whose counts are all whole numbers is sent in the integer form
//! (`count_int`, delta-encoded buckets), as Prometheus sends the integer histograms it scrapes
//! and as receivers that predate float histograms (Prometheus before 2.44) read; any other in
//! the float form. The `oneof` fields are always written (their presence says which form).
//!
//! Fields holding their proto3 default (empty string, `+0.0`, timestamp 0) are left out, as
//! Prometheus' generated code does. A series' labels are encoded once into
//! [`EncodedLabels`] and reused for every request that carries the series; a request body
//! is then built by [`WriteRequest`] and compressed with snappy's block format by
//! [`compress`].

use crate::histogram::{CounterResetHint, FloatHistogram, Span};
use std::sync::Arc;

/// Wire type 2 (length-delimited) for field 1: `labels`, `timeseries`, `Label.name`.
const TAG_1_LEN: u8 = 0x0a;
/// Wire type 2 for field 2: `samples`, `Label.value`.
const TAG_2_LEN: u8 = 0x12;
/// Wire type 1 (64-bit) for field 1: `Sample.value`.
const TAG_1_FIXED64: u8 = 0x09;
/// Wire type 0 (varint) for field 2: `Sample.timestamp`.
const TAG_2_VARINT: u8 = 0x10;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A series' `labels` fields (`TimeSeries` field 1, repeated), encoded once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedLabels(Arc<[u8]>);

impl EncodedLabels {
    /// Encodes `(name, value)` pairs, which must be sorted by name (remote write requires it;
    /// `store::Labels` always is).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> EncodedLabels {
        let mut out = Vec::new();
        let mut label = Vec::new();
        for (name, value) in pairs {
            label.clear();
            if !name.is_empty() {
                put_bytes_field(&mut label, TAG_1_LEN, name.as_bytes());
            }
            if !value.is_empty() {
                put_bytes_field(&mut label, TAG_2_LEN, value.as_bytes());
            }
            put_bytes_field(&mut out, TAG_1_LEN, &label);
        }
        EncodedLabels(out.into())
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn sample_body_len(t_ms: i64, v: f64) -> usize {
    let mut n = 0;
    if v.to_bits() != 0 {
        n += 9;
    }
    if t_ms != 0 {
        n += 1 + varint_len(t_ms as u64);
    }
    n
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, u64::from(field << 3) | u64::from(wire_type));
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_tag(out, field, 1);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, 0);
    put_varint(out, v);
}

fn put_packed_doubles(out: &mut Vec<u8>, field: u32, vs: &[f64]) {
    if vs.is_empty() {
        return;
    }
    put_tag(out, field, 2);
    put_varint(out, vs.len() as u64 * 8);
    for v in vs {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

fn put_spans(out: &mut Vec<u8>, field: u32, spans: &[Span]) {
    for s in spans {
        let mut body = Vec::with_capacity(8);
        if s.offset != 0 {
            put_uint(&mut body, 1, zigzag(i64::from(s.offset)));
        }
        if s.length != 0 {
            put_uint(&mut body, 2, u64::from(s.length));
        }
        put_tag(out, field, 2);
        put_varint(out, body.len() as u64);
        out.extend_from_slice(&body);
    }
}

/// Delta-encoded bucket counts (`sint64`, packed): the first bucket's count, then each
/// bucket's difference from the one before. `counts` are whole numbers.
fn put_deltas(out: &mut Vec<u8>, field: u32, counts: &[f64]) {
    if counts.is_empty() {
        return;
    }
    let mut body = Vec::with_capacity(counts.len());
    let mut prev = 0i64;
    for &c in counts {
        let c = c as i64;
        put_varint(&mut body, zigzag(c - prev));
        prev = c;
    }
    put_tag(out, field, 2);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// Whether a count can go in the integer form: a whole number a `uint64` and a float both
/// hold exactly.
fn whole(c: f64) -> bool {
    (0.0..=9_007_199_254_740_992.0).contains(&c) && c.fract() == 0.0
}

/// Whether `h` goes in the integer form: every count is a whole number.
fn is_integer_histogram(h: &FloatHistogram) -> bool {
    whole(h.count)
        && whole(h.zero_count)
        && h.positive_buckets.iter().all(|&c| whole(c))
        && h.negative_buckets.iter().all(|&c| whole(c))
}

/// Encodes one `Histogram` message body (without its tag and length).
fn encode_histogram(out: &mut Vec<u8>, t_ms: i64, h: &FloatHistogram) {
    let integer = is_integer_histogram(h);
    if integer {
        put_uint(out, 1, h.count as u64);
    } else {
        put_double(out, 2, h.count);
    }
    if h.sum.to_bits() != 0 {
        put_double(out, 3, h.sum);
    }
    if h.schema != 0 {
        put_uint(out, 4, zigzag(i64::from(h.schema)));
    }
    if h.zero_threshold.to_bits() != 0 {
        put_double(out, 5, h.zero_threshold);
    }
    if integer {
        put_uint(out, 6, h.zero_count as u64);
    } else {
        put_double(out, 7, h.zero_count);
    }
    put_spans(out, 8, &h.negative_spans);
    if integer {
        put_deltas(out, 9, &h.negative_buckets);
    } else {
        put_packed_doubles(out, 10, &h.negative_buckets);
    }
    put_spans(out, 11, &h.positive_spans);
    if integer {
        put_deltas(out, 12, &h.positive_buckets);
    } else {
        put_packed_doubles(out, 13, &h.positive_buckets);
    }
    let hint = match h.counter_reset_hint {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    };
    if hint != 0 {
        put_uint(out, 14, hint);
    }
    if t_ms != 0 {
        put_uint(out, 15, t_ms as u64);
    }
    put_packed_doubles(out, 16, &h.custom_values);
}

/// A `WriteRequest` being built: one `TimeSeries` per [`WriteRequest::series`] call.
#[derive(Debug, Default)]
pub struct WriteRequest {
    buf: Vec<u8>,
    samples: usize,
}

impl WriteRequest {
    /// An empty request.
    pub fn new() -> WriteRequest {
        WriteRequest::default()
    }

    /// Empties the request, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.samples = 0;
    }

    /// Appends a `TimeSeries` with `labels` and `samples` (`(timestamp ms, value)`, in order).
    pub fn series(&mut self, labels: &EncodedLabels, samples: &[(i64, f64)]) {
        let mut body = labels.0.len();
        for &(t, v) in samples {
            let s = sample_body_len(t, v);
            body += 1 + varint_len(s as u64) + s;
        }
        self.buf.reserve(body + 11);
        self.buf.push(TAG_1_LEN);
        put_varint(&mut self.buf, body as u64);
        self.buf.extend_from_slice(&labels.0);
        for &(t, v) in samples {
            self.buf.push(TAG_2_LEN);
            put_varint(&mut self.buf, sample_body_len(t, v) as u64);
            if v.to_bits() != 0 {
                self.buf.push(TAG_1_FIXED64);
                self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            if t != 0 {
                self.buf.push(TAG_2_VARINT);
                // int64 is encoded as its two's-complement u64 (negative: 10 bytes).
                put_varint(&mut self.buf, t as u64);
            }
        }
        self.samples += samples.len();
    }

    /// Appends a `TimeSeries` with `labels` and native histogram samples (`(timestamp ms,
    /// histogram)`, in order).
    pub fn histogram_series(
        &mut self,
        labels: &EncodedLabels,
        histograms: &[(i64, &FloatHistogram)],
    ) {
        let mut body = labels.0.to_vec();
        let mut one = Vec::new();
        for &(t, h) in histograms {
            one.clear();
            encode_histogram(&mut one, t, h);
            put_tag(&mut body, 4, 2);
            put_varint(&mut body, one.len() as u64);
            body.extend_from_slice(&one);
        }
        put_bytes_field(&mut self.buf, TAG_1_LEN, &body);
        self.samples += histograms.len();
    }

    /// Samples added since the last clear.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The encoded (uncompressed) request.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Snappy block-format compression of a request body (what `Content-Encoding: snappy`
/// means in remote write), reusing `encoder`'s state.
pub fn compress(encoder: &mut snap::raw::Encoder, body: &[u8]) -> Vec<u8> {
    // Compression of an in-memory buffer fails only if the input exceeds snappy's maximum
    // (about 4 GiB); a request is far smaller, so an empty body would never be sent.
    encoder.compress_vec(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_request_matches_hand_encoded_bytes() {
        let labels = EncodedLabels::new([("__name__", "up")]);
        let mut req = WriteRequest::new();
        req.series(&labels, &[(1000, 1.0)]);
        let mut want: Vec<u8> = vec![0x0a, 0x1e]; // timeseries, 30 bytes
        want.extend([0x0a, 0x0e]); // labels, 14 bytes
        want.extend([0x0a, 0x08]); // name, 8 bytes
        want.extend(b"__name__");
        want.extend([0x12, 0x02]); // value, 2 bytes
        want.extend(b"up");
        want.extend([0x12, 0x0c]); // samples, 12 bytes
        want.extend([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]); // value 1.0, little-endian double
        want.extend([0x10, 0xe8, 0x07]); // timestamp 1000 as varint
        assert_eq!(req.as_bytes(), &want[..]);
        assert_eq!(req.samples(), 1);
    }

    #[test]
    fn defaults_are_left_out_and_negative_timestamps_take_ten_bytes() {
        let labels = EncodedLabels::new([("a", "")]);
        assert_eq!(labels.as_bytes(), &[0x0a, 0x03, 0x0a, 0x01, b'a']);
        let mut req = WriteRequest::new();
        req.series(&labels, &[(0, 0.0), (-1, 0.0)]);
        let b = req.as_bytes();
        // timeseries(len) + labels(5) + empty sample (0x12 0x00) + sample with timestamp -1.
        assert_eq!(&b[2..7], labels.as_bytes());
        assert_eq!(&b[7..9], &[0x12, 0x00]);
        assert_eq!(b[9], 0x12);
        assert_eq!(b[10], 11);
        assert_eq!(b[11], 0x10);
        assert_eq!(&b[12..21], &[0xff; 9]);
        assert_eq!(b[21], 0x01);
        assert_eq!(b[1] as usize, b.len() - 2);
    }

    #[test]
    fn staleness_markers_keep_their_bits() {
        let labels = EncodedLabels::new([("__name__", "up")]);
        let mut req = WriteRequest::new();
        req.series(&labels, &[(5, crate::store::STALE_NAN)]);
        let b = req.as_bytes();
        let at = b.len() - 2 - 8;
        let bits = u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        assert_eq!(bits, crate::store::STALE_NAN_BITS);
    }

    /// A histogram with whole counts, encoded by hand from `prompb/types.proto`: the integer
    /// form with delta-encoded buckets.
    #[test]
    fn integer_histogram_matches_hand_encoded_bytes() {
        let h = FloatHistogram {
            schema: -1,
            zero_threshold: 0.0,
            zero_count: 1.0,
            count: 6.0,
            sum: 2.5,
            positive_spans: vec![Span {
                offset: -2,
                length: 2,
            }],
            positive_buckets: vec![3.0, 2.0],
            ..FloatHistogram::default()
        };
        let mut got = Vec::new();
        encode_histogram(&mut got, 1000, &h);
        let mut want: Vec<u8> = vec![0x08, 6]; // count_int 6
        want.push(0x19); // sum (field 3, 64-bit)
        want.extend(2.5f64.to_le_bytes());
        want.extend([0x20, 0x01]); // schema -1, zigzag 1
        want.extend([0x30, 0x01]); // zero_count_int 1
        want.extend([0x5a, 0x04, 0x08, 0x03, 0x10, 0x02]); // positive span {offset -2, length 2}
        want.extend([0x62, 0x02, 0x06, 0x01]); // positive_deltas [3, -1] zigzag [6, 1]
        want.extend([0x78, 0xe8, 0x07]); // timestamp 1000
        assert_eq!(got, want);
    }

    /// Fractional counts (e.g. a rate) take the float form with absolute counts, and the
    /// oneof fields are written even when zero.
    #[test]
    fn float_histogram_takes_the_float_form() {
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            count: 0.5,
            zero_count: 0.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![0.5],
            ..FloatHistogram::default()
        };
        let mut got = Vec::new();
        encode_histogram(&mut got, 0, &h);
        let mut want: Vec<u8> = vec![0x11]; // count_float
        want.extend(0.5f64.to_le_bytes());
        want.push(0x39); // zero_count_float 0.0, present
        want.extend(0.0f64.to_le_bytes());
        want.extend([0x5a, 0x02, 0x10, 0x01]); // positive span {length 1}
        want.extend([0x6a, 0x08]); // positive_counts, 8 bytes
        want.extend(0.5f64.to_le_bytes());
        want.extend([0x70, 0x03]); // reset_hint GAUGE
        assert_eq!(got, want);
    }

    #[test]
    fn snappy_round_trips() {
        let labels = EncodedLabels::new([("__name__", "up"), ("job", "node")]);
        let mut req = WriteRequest::new();
        for i in 0..100 {
            req.series(&labels, &[(i * 15_000, 1.0)]);
        }
        let mut enc = snap::raw::Encoder::new();
        let compressed = compress(&mut enc, req.as_bytes());
        assert!(compressed.len() < req.as_bytes().len());
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .expect("valid snappy");
        assert_eq!(back, req.as_bytes());
    }
}
