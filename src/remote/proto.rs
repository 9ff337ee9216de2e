//! Hand-written protobuf encoding of Prometheus' remote-write 1.0 `prometheus.WriteRequest`
//! (upstream `prompb/remote.proto` and `prompb/types.proto`):
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Fields holding their proto3 default (empty string, `+0.0`, timestamp 0) are left out, as
//! Prometheus' generated code does. A series' labels are encoded once into
//! [`EncodedLabels`] and reused for every request that carries the series; a request body
//! is then built by [`WriteRequest`] and compressed with snappy's block format by
//! [`compress`].

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
