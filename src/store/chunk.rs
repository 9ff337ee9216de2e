//! XOR ("Gorilla") compressed chunks of float samples, bit-compatible with the layout of
//! Prometheus' `chunkenc.XORChunk`.
//!
//! A chunk starts with a 2-byte big-endian sample count. The first sample stores its timestamp
//! as a zig-zag varint and its value as 64 raw bits; the second stores the timestamp delta as a
//! varint; every later timestamp stores the delta of deltas in a `0` / `10`+14 / `110`+17 /
//! `1110`+20 / `1111`+64 bit bucket. Values are XOR'd with the previous value's bits and the
//! meaningful bits written with a leading/trailing-zero window, so every bit pattern (each NaN
//! payload, the staleness marker, `-0.0`) round-trips exactly.
//!
//! [`HeadChunk`] is the open chunk a series appends to; once it holds [`SAMPLES_PER_CHUNK`]
//! samples it is cut into an immutable [`ClosedChunk`] with an exactly sized buffer.
//! [`ChunkIter`] decodes either.

use super::bits::{BitReader, BitWriter};

/// Samples per chunk before a new one is cut, as in Prometheus.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// `leading` value meaning "no window chosen yet".
pub(super) const NO_WINDOW: u8 = 0xff;

/// The open chunk of a series.
#[derive(Clone, Debug)]
pub(crate) struct HeadChunk {
    w: BitWriter,
    num: u16,
    min_t: i64,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
}

/// An immutable, fully written chunk in one exactly sized allocation: the chunk's time span
/// (newest minus oldest timestamp, as an unsigned varint: 3 bytes for a 30-minute chunk)
/// followed by the chunk's bytes. The oldest timestamp is the chunk's first varint. 16 bytes
/// of handle per chunk, so the per-chunk overhead stays small next to ~60–900 bytes of
/// samples.
#[derive(Clone, Debug)]
pub(crate) struct ClosedChunk {
    buf: Box<[u8]>,
}

impl ClosedChunk {
    /// Length of the leading span varint.
    fn span_len(&self) -> usize {
        self.buf
            .iter()
            .position(|b| b & 0x80 == 0)
            .map_or(self.buf.len(), |i| i + 1)
    }

    /// A chunk from the bytes [`ClosedChunk::raw`] gave (a snapshot's copy).
    pub(crate) fn from_raw(buf: Box<[u8]>) -> Self {
        ClosedChunk { buf }
    }

    /// A chunk of the bytes `data` spanning `span` milliseconds, in an exactly sized buffer.
    pub(crate) fn from_parts(span: u64, data: &[u8]) -> Self {
        let mut head = BitWriter::with_capacity(10);
        head.write_uvarint(span);
        let mut buf = Vec::with_capacity(head.bytes().len() + data.len());
        buf.extend_from_slice(head.bytes());
        buf.extend_from_slice(data);
        ClosedChunk {
            buf: buf.into_boxed_slice(),
        }
    }

    /// The span varint and the encoded chunk, as kept in memory.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded chunk.
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.get(self.span_len()..).unwrap_or(&[])
    }

    /// Heap bytes of the allocation.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn max_t(&self) -> i64 {
        let span = BitReader::new(&self.buf).read_uvarint().unwrap_or(0);
        self.min_t().wrapping_add(span as i64)
    }

    pub(crate) fn min_t(&self) -> i64 {
        BitReader::new(self.data().get(2..).unwrap_or(&[]))
            .read_varint()
            .unwrap_or(i64::MIN)
    }

    #[cfg(test)]
    pub(crate) fn num_samples(&self) -> u16 {
        header_count(self.data())
    }
}

/// The top bit of a chunk's 2-byte sample count marks a chunk of histogram samples
/// (`histchunk.rs`); a float chunk holds at most [`SAMPLES_PER_CHUNK`] samples, so the bit is
/// clear in every float chunk, also in those written before histograms existed.
pub(crate) const HISTOGRAM_CHUNK_FLAG: u16 = 0x8000;

/// The number of samples in the chunk `data`, of either kind.
pub(crate) fn header_count(data: &[u8]) -> u16 {
    match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]) & !HISTOGRAM_CHUNK_FLAG,
        _ => 0,
    }
}

/// Whether the chunk `data` holds histogram samples rather than floats.
pub(crate) fn is_histogram_chunk(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0x80 != 0)
}

/// Whether `x` fits the `nbits` bucket of the delta-of-delta encoding (Prometheus' `bitRange`).
fn bit_range(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

impl HeadChunk {
    /// An empty chunk holding the first sample.
    pub(crate) fn new(t: i64, v: f64) -> Self {
        let mut w = BitWriter::with_capacity(32);
        w.write_bits(0, 16);
        w.write_varint(t);
        w.write_bits(v.to_bits(), 64);
        let mut c = HeadChunk {
            w,
            num: 1,
            min_t: t,
            t,
            t_delta: 0,
            v: v.to_bits(),
            leading: NO_WINDOW,
            trailing: 0,
        };
        c.write_count();
        c
    }

    fn write_count(&mut self) {
        let [a, b] = self.num.to_be_bytes();
        if let [x, y, ..] = self.w.bytes_mut() {
            *x = a;
            *y = b;
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.num >= SAMPLES_PER_CHUNK
    }

    #[cfg(test)]
    pub(crate) fn num_samples(&self) -> u16 {
        self.num
    }

    pub(crate) fn min_t(&self) -> i64 {
        self.min_t
    }

    pub(crate) fn max_t(&self) -> i64 {
        self.t
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Heap bytes held by the buffer (capacity, not length).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.capacity()
    }

    /// Appends a sample. The caller guarantees `t` is after the previous sample's timestamp
    /// (the store rejects out-of-order and duplicate samples before they reach a chunk).
    pub(crate) fn append(&mut self, t: i64, v: f64) {
        let vb = v.to_bits();
        if self.num == 1 {
            let delta = t.wrapping_sub(self.t) as u64;
            self.w.write_uvarint(delta);
            self.t_delta = delta;
        } else {
            let delta = t.wrapping_sub(self.t) as u64;
            write_dod(
                &mut self.w,
                (delta as i64).wrapping_sub(self.t_delta as i64),
            );
            self.t_delta = delta;
        }
        self.write_xor(vb);
        self.t = t;
        self.v = vb;
        self.num += 1;
        self.write_count();
    }

    fn write_xor(&mut self, vb: u64) {
        write_xor(
            &mut self.w,
            vb ^ self.v,
            &mut self.leading,
            &mut self.trailing,
        );
    }

    /// Freezes the chunk into its immutable form with an exactly sized buffer.
    pub(crate) fn close(self) -> ClosedChunk {
        ClosedChunk::from_parts(self.t.wrapping_sub(self.min_t) as u64, self.w.bytes())
    }
}

/// Writes a timestamp's delta of deltas in its `0` / `10`+14 / `110`+17 / `1110`+20 /
/// `1111`+64 bit bucket, prefix and bucket in one write where they fit.
#[inline(always)]
pub(super) fn write_dod(w: &mut BitWriter, dod: i64) {
    // `write_bits` keeps the low bits only.
    let d = dod as u64;
    if dod == 0 {
        w.write_bits(0, 1);
    } else if bit_range(dod, 14) {
        w.write_bits((0b10 << 14) | (d & 0x3fff), 16);
    } else if bit_range(dod, 17) {
        w.write_bits((0b110 << 17) | (d & 0x1_ffff), 20);
    } else if bit_range(dod, 20) {
        w.write_bits((0b1110 << 20) | (d & 0xf_ffff), 24);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(d, 64);
    }
}

/// Writes the XOR `delta` of a value with the previous one's bits, in the previous
/// leading/trailing-zero window (`leading`/`trailing`, [`NO_WINDOW`] before the first) when
/// it fits, else in a new window it records.
#[inline(always)]
pub(super) fn write_xor(w: &mut BitWriter, delta: u64, leading_w: &mut u8, trailing_w: &mut u8) {
    if delta == 0 {
        w.write_bits(0, 1);
        return;
    }
    // Clamped so the count fits 5 bits.
    let leading = (delta.leading_zeros() as u8).min(31);
    let trailing = delta.trailing_zeros() as u8;
    if *leading_w != NO_WINDOW && leading >= *leading_w && trailing >= *trailing_w {
        // `10`, then the bits inside the previous window.
        let sig = 64 - *leading_w - *trailing_w;
        let bits = delta >> *trailing_w;
        if sig <= 62 {
            w.write_bits((0b10 << sig) | bits, sig + 2);
        } else {
            w.write_bits(0b10, 2);
            w.write_bits(bits, sig);
        }
        return;
    }
    *leading_w = leading;
    *trailing_w = trailing;
    let sig = 64 - leading - trailing;
    // `11`, the leading-zero count in 5 bits and the significant-bit count in 6 (64 is
    // written as 0; the reader maps it back), then the significant bits.
    let head = (0b11 << 11) | (u64::from(leading) << 6) | u64::from(sig & 0x3f);
    w.write_bits(head, 13);
    w.write_bits(delta >> trailing, sig);
}

/// Reads what [`write_dod`] wrote.
#[inline(always)]
pub(super) fn read_dod(r: &mut BitBuffer<'_>) -> Option<i64> {
    Some(match r.read_ones(4)? {
        0 => 0,
        1 => read_signed(r, 14)?,
        2 => read_signed(r, 17)?,
        3 => read_signed(r, 20)?,
        _ => r.read_bits(64)? as i64,
    })
}

/// Reads an `n`-bit two's-complement bucket, mirroring [`bit_range`].
#[inline(always)]
fn read_signed(r: &mut BitBuffer<'_>, n: u32) -> Option<i64> {
    let bits = r.read_bits(n)? as i64;
    Some(if bits > (1i64 << (n - 1)) {
        bits - (1i64 << n)
    } else {
        bits
    })
}

/// Reads what [`write_xor`] wrote, applying it to the previous value's bits `v`.
#[inline(always)]
pub(super) fn read_xor(
    r: &mut BitBuffer<'_>,
    v: &mut u64,
    leading_w: &mut u32,
    trailing_w: &mut u32,
) -> Option<()> {
    // `0`: same value; `10`: the previous window; `11`: a new window follows.
    let control = r.read_ones(2)?;
    if control == 0 {
        return Some(());
    }
    if control == 2 {
        let leading = r.read_bits(5)? as u32;
        let mut sig = r.read_bits(6)? as u32;
        if sig == 0 {
            sig = 64;
        }
        *leading_w = leading;
        *trailing_w = 64u32.checked_sub(leading + sig)?;
    }
    let sig = 64 - *leading_w - *trailing_w;
    let bits = r.read_bits(sig)?;
    *v ^= bits << *trailing_w;
    Some(())
}

/// The bit reader [`ChunkIter`] decodes with: the next up to 64 bits of the stream are kept
/// in a register, refilled a whole word at a time, so most reads are a shift and a mask
/// instead of a bounds-checked load per field (decoding is the hot path of every query).
///
/// Invariant: the top `len` bits of `acc` are the next bits of the stream. The bits below
/// them are zero or, after a word refill that took only part of a byte, the following bits
/// of the stream (that byte is loaded again, to the same position, by the next refill), so
/// they never disagree with the data. Reading past the end yields `None`.
#[derive(Clone, Debug)]
pub(super) struct BitBuffer<'a> {
    data: &'a [u8],
    /// Index of the next byte of `data` to load.
    next: usize,
    acc: u64,
    len: u32,
}

impl<'a> BitBuffer<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        BitBuffer {
            data,
            next: 0,
            acc: 0,
            len: 0,
        }
    }

    /// Loads whole bytes until more than 56 bits are buffered or the data ends.
    fn refill(&mut self) {
        debug_assert!(self.len <= 56);
        if let Some(&[a, b, c, d, e, f, g, h]) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
            self.acc |= word >> self.len;
            let bytes = (64 - self.len) / 8;
            self.next += bytes as usize;
            self.len += bytes * 8;
            return;
        }
        while self.len <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                return;
            };
            self.acc |= u64::from(b) << (56 - self.len);
            self.next += 1;
            self.len += 8;
        }
    }

    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result.
    pub(super) fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n > 56 {
            let hi = self.read_bits(n - 32)?;
            let lo = self.read_bits(32)?;
            return Some(hi << 32 | lo);
        }
        if n == 0 {
            return Some(0);
        }
        if self.len < n {
            self.refill();
            if self.len < n {
                return None;
            }
        }
        let v = self.acc >> (64 - n);
        self.acc <<= n;
        self.len -= n;
        Some(v)
    }

    /// The number of leading one bits among the next `max` (≤ 8) bits, consuming them and
    /// the zero that ends them (unless `max` ones were read): the delta-of-delta prefix
    /// `0`/`10`/`110`/`1110`/`1111`.
    pub(super) fn read_ones(&mut self, max: u32) -> Option<u32> {
        if self.len < max + 1 {
            self.refill();
        }
        // Past the end of the data the low bits are zero, so this never counts beyond it.
        let ones = self.acc.leading_ones().min(max);
        let used = if ones == max { ones } else { ones + 1 };
        if used > self.len {
            return None;
        }
        self.acc <<= used;
        self.len -= used;
        Some(ones)
    }

    pub(super) fn read_uvarint(&mut self) -> Option<u64> {
        let mut out: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.read_bits(8)?;
            if shift >= 64 {
                return None;
            }
            out |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Some(out);
            }
            shift += 7;
        }
    }

    pub(super) fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// Decodes the samples of a chunk's bytes, oldest first. A truncated or damaged buffer ends
/// the iteration early.
#[derive(Clone, Debug)]
pub(crate) struct ChunkIter<'a> {
    r: BitBuffer<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u32,
    trailing: u32,
}

impl<'a> ChunkIter<'a> {
    /// An iterator over a float chunk's samples; a histogram chunk yields none.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let total = if is_histogram_chunk(data) {
            0
        } else {
            header_count(data)
        };
        let r = BitBuffer::new(data.get(2..).unwrap_or(&[]));
        ChunkIter {
            r,
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn next_sample(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = self.r.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_xor()?;
            }
            _ => {
                let dod = read_dod(&mut self.r)?;
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_xor()?;
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v)))
    }

    fn read_xor(&mut self) -> Option<()> {
        read_xor(
            &mut self.r,
            &mut self.v,
            &mut self.leading,
            &mut self.trailing,
        )
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total {
            return None;
        }
        let s = self.next_sample();
        if s.is_none() {
            // Damaged data: stop for good rather than yield garbage.
            self.read = self.total;
        }
        s
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::{is_stale_nan, STALE_NAN};

    fn encode(samples: &[(i64, f64)]) -> HeadChunk {
        let mut c = HeadChunk::new(samples[0].0, samples[0].1);
        for &(t, v) in &samples[1..] {
            c.append(t, v);
        }
        c
    }

    fn assert_round_trip(samples: &[(i64, f64)]) {
        let c = encode(samples);
        assert_eq!(usize::from(c.num_samples()), samples.len());
        let closed = c.clone().close();
        assert_eq!(closed.min_t(), samples[0].0);
        assert_eq!(closed.max_t(), samples[samples.len() - 1].0);
        for data in [c.bytes(), closed.data()] {
            let got: Vec<(i64, f64)> = ChunkIter::new(data).collect();
            assert_eq!(got.len(), samples.len());
            for (g, w) in got.iter().zip(samples) {
                assert_eq!(g.0, w.0);
                assert_eq!(g.1.to_bits(), w.1.to_bits(), "value at t={}", w.0);
            }
        }
    }

    /// A small deterministic generator (xorshift64*), so the tests need no dependency.
    pub(in crate::store) struct Rng(pub(in crate::store) u64);
    impl Rng {
        pub(in crate::store) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn regular_scrapes_compress_to_about_a_bit_per_constant_sample() {
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, 1.0))
            .collect();
        let c = encode(&s);
        assert_round_trip(&s);
        // Header + first sample (~17 bytes) + 2 bits per later sample.
        assert!(c.bytes().len() < 60, "{} bytes", c.bytes().len());
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let odd_nan = f64::from_bits(0x7ff8_0000_dead_beef);
        let neg_nan = f64::from_bits(0xfff8_0000_0000_0001);
        let vals = [
            0.0,
            -0.0,
            STALE_NAN,
            f64::NAN,
            odd_nan,
            neg_nan,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::from_bits(1), // smallest subnormal
            f64::MAX,
            f64::MIN,
            -0.0,
            STALE_NAN,
            STALE_NAN,
            1.0,
        ];
        let s: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 1000, v))
            .collect();
        assert_round_trip(&s);
        let got: Vec<_> = ChunkIter::new(encode(&s).bytes()).collect();
        assert!(is_stale_nan(got[2].1));
        assert!(!is_stale_nan(got[3].1));
        assert!(got[1].1.is_sign_negative() && got[1].1 == 0.0);
    }

    #[test]
    fn every_delta_of_delta_bucket_and_huge_gaps_round_trip() {
        let mut t = -5_000_000i64; // negative timestamps (before 1970) are legal
        let mut s = vec![(t, 1.0)];
        let gaps = [
            15_000i64,
            15_000,
            15_001,
            14_990,
            15_000 + 8191,
            15_000,
            15_000 + 8192,
            70_000,
            15_000 + 65_536,
            15_000,
            600_000,
            1,
            1,
            86_400_000 * 365,
            2,
            1 << 40,
            3,
        ];
        for (i, g) in gaps.iter().enumerate() {
            t += g;
            s.push((t, i as f64 * 0.5));
        }
        assert_round_trip(&s);
        // Extreme span: from i64::MIN + 1 to i64::MAX.
        assert_round_trip(&[
            (i64::MIN + 1, 1.0),
            (0, 2.0),
            (i64::MAX - 1, 3.0),
            (i64::MAX, 4.0),
        ]);
    }

    #[test]
    fn random_values_and_jittered_timestamps_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let n = 1 + (rng.next() % 120) as usize;
            let mut t = (rng.next() % (1 << 41)) as i64;
            let mut s = Vec::with_capacity(n);
            for _ in 0..n {
                let v = match round % 4 {
                    0 => f64::from_bits(rng.next()), // any bit pattern, NaNs included
                    1 => (rng.next() % 1000) as f64, // small integers
                    2 => (rng.next() % 1_000_000) as f64 / 1000.0, // decimals
                    _ => s.last().map_or(0.0, |p: &(i64, f64)| p.1) + (rng.next() % 3) as f64,
                };
                s.push((t, v));
                t += 1 + (rng.next() % 100_000) as i64;
            }
            assert_round_trip(&s);
        }
    }

    #[test]
    fn truncated_chunk_ends_iteration_without_panic() {
        let s: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 1.37)).collect();
        let c = encode(&s);
        let bytes = c.bytes();
        for cut in 0..bytes.len() {
            let got: Vec<_> = ChunkIter::new(&bytes[..cut]).collect();
            assert!(got.len() < s.len());
            for (g, w) in got.iter().zip(&s) {
                assert_eq!(g.0, w.0);
            }
        }
    }

    #[test]
    fn bit_buffer_reads_what_the_reference_reader_reads() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for round in 0..500 {
            let len = (rng.next() % 40) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut fast = BitBuffer::new(&data);
            let mut reference = BitReader::new(&data);
            for step in 0..200 {
                let (a, b) = match rng.next() % 4 {
                    0 => {
                        let max = 1 + (rng.next() % 4) as u8;
                        (
                            fast.read_ones(u32::from(max)).map(u64::from),
                            reference.read_ones(max).map(u64::from),
                        )
                    }
                    1 => (fast.read_uvarint(), reference.read_uvarint()),
                    _ => {
                        let n = (rng.next() % 65) as u8;
                        (fast.read_bits(u32::from(n)), reference.read_bits(n))
                    }
                };
                assert_eq!(a, b, "round {round}, read {step}");
                if a.is_none() {
                    break;
                }
            }
        }
    }

    #[test]
    fn chunk_is_full_at_120_samples() {
        let mut c = HeadChunk::new(0, 0.0);
        for i in 1..119 {
            c.append(i, 0.0);
            assert!(!c.is_full());
        }
        c.append(119, 0.0);
        assert!(c.is_full());
        assert_eq!(c.clone().close().num_samples(), 120);
    }
}
