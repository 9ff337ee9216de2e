//! Bit-level writing and reading for the XOR chunk encoding.
//!
//! [`BitWriter`] appends bits most-significant first into a growing byte buffer and keeps how
//! many bits of the last byte are still free, so a chunk can be appended to sample by sample.
//! [`BitReader`] reads them back in the same order. Reading past the end yields `None`, never a
//! panic, so a damaged buffer ends iteration instead of crashing a query.

/// Appends bits, most significant first, to a byte buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Free low bits in the last byte of `buf` (0 when `buf` is empty or the last byte is full).
    free: u8,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            buf: Vec::with_capacity(bytes),
            free: 0,
        }
    }

    /// The bytes written so far; a partial last byte has its unused low bits zero.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    #[cfg(test)]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `value` (`n` ≤ 64), most significant first.
    ///
    /// The free low bits of the last byte are filled in one step, then whole bytes are
    /// pushed: a sample's value costs a handful of byte stores, not a loop per bit run.
    pub(crate) fn write_bits(&mut self, value: u64, n: u8) {
        debug_assert!(n <= 64);
        let mut n = u32::from(n);
        if n == 0 {
            return;
        }
        let value = if n == 64 {
            value
        } else {
            value & ((1u64 << n) - 1)
        };
        if self.free > 0 {
            let free = u32::from(self.free);
            let take = n.min(free);
            // The top `take` of the `n` bits, placed just below the used bits of the byte.
            let chunk = ((value >> (n - take)) << (free - take)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk;
            }
            self.free -= take as u8;
            n -= take;
        }
        while n >= 8 {
            n -= 8;
            self.push_byte((value >> n) as u8);
        }
        if n > 0 {
            self.push_byte((value << (8 - n)) as u8);
            self.free = (8 - n) as u8;
        }
    }

    /// Appends a byte, growing the buffer by a quarter (at least 16 bytes) when full rather
    /// than doubling: a chunk being written is held for its whole life, so slack is memory
    /// per series, and a reallocation every ~20 % of growth is cheap.
    fn push_byte(&mut self, b: u8) {
        if self.buf.len() == self.buf.capacity() {
            let more = (self.buf.len() / 4).max(16);
            self.buf.reserve_exact(more);
        }
        self.buf.push(b);
    }

    pub(crate) fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }

    /// Writes `v` as a protobuf-style unsigned varint (as Go's `binary.PutUvarint`).
    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.write_byte(v as u8);
    }

    /// Writes `v` zig-zag encoded as a varint (as Go's `binary.PutVarint`).
    pub(crate) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits, most significant first, from a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next bit to read, counted from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// (Chunks are decoded with `chunk::BitBuffer`; this one is its reference in tests.)
    #[cfg(test)]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result.
    ///
    /// One big-endian word load (plus one byte when the bits straddle nine bytes) instead of
    /// a loop per byte: decoding chunks is the hot path of every query.
    pub(crate) fn read_bits(&mut self, n: u8) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        if self.pos + usize::from(n) > self.data.len() * 8 {
            return None;
        }
        let idx = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let word = self.word_at(idx) << off;
        let word = if off + u32::from(n) > 64 {
            // `off` > 0 here, so the shift below is at most 7.
            word | u64::from(self.data.get(idx + 8).copied().unwrap_or(0) >> (8 - off))
        } else {
            word
        };
        self.pos += usize::from(n);
        Some(word >> (64 - u32::from(n)))
    }

    /// The eight bytes from `idx` as a big-endian word, zero-padded past the end.
    fn word_at(&self, idx: usize) -> u64 {
        match self.data.get(idx..idx + 8) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_be_bytes(a)
            }
            None => {
                let mut a = [0u8; 8];
                let rest = self.data.get(idx..).unwrap_or(&[]);
                a[..rest.len()].copy_from_slice(rest);
                u64::from_be_bytes(a)
            }
        }
    }

    /// The number of leading one bits among the next `max` bits (stopping at the first zero,
    /// which is consumed), as the delta-of-delta prefix `0`/`10`/`110`/`1110`/`1111` is read.
    #[cfg(test)]
    pub(crate) fn read_ones(&mut self, max: u8) -> Option<u8> {
        let avail = self.data.len() * 8 - self.pos.min(self.data.len() * 8);
        let idx = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let word = self.word_at(idx) << off;
        let ones = (word.leading_ones() as u8).min(max);
        // The prefix consumes the ones and the terminating zero, unless `max` ones were read.
        let used = if ones == max { ones } else { ones + 1 };
        if usize::from(used) > avail {
            return None;
        }
        self.pos += usize::from(used);
        Some(ones)
    }

    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut out: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.read_byte()?;
            if shift >= 64 {
                return None;
            }
            out |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(out);
            }
            shift += 7;
        }
    }

    pub(crate) fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let mut w = BitWriter::default();
        let items: Vec<(u64, u8)> = vec![
            (1, 1),
            (0b101, 3),
            (0x3fff, 14),
            (u64::MAX, 64),
            (0, 5),
            (0x1_2345, 17),
            (0xdead_beef_cafe_f00d, 64),
            (1, 1),
        ];
        for &(v, n) in &items {
            w.write_bits(v, n);
        }
        let mut r = BitReader::new(w.bytes());
        for &(v, n) in &items {
            assert_eq!(r.read_bits(n), Some(v), "{n} bits");
        }
    }

    #[test]
    fn varints_round_trip() {
        let vals = [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX];
        let mut w = BitWriter::default();
        w.write_bit(true); // misalign on purpose
        for v in vals {
            w.write_varint(v);
            w.write_uvarint(v as u64);
        }
        let mut r = BitReader::new(w.bytes());
        assert_eq!(r.read_bit(), Some(true));
        for v in vals {
            assert_eq!(r.read_varint(), Some(v));
            assert_eq!(r.read_uvarint(), Some(v as u64));
        }
    }

    #[test]
    fn prefixes_of_ones_stop_at_a_zero_or_the_maximum() {
        let mut w = BitWriter::default();
        // 0, 10, 110, 1110, 1111, then a 1111 prefix that straddles a byte boundary.
        for (v, n) in [
            (0, 1),
            (0b10, 2),
            (0b110, 3),
            (0b1110, 4),
            (0b1111, 4),
            (0b1111, 4),
        ] {
            w.write_bits(v, n);
        }
        let mut r = BitReader::new(w.bytes());
        for want in [0, 1, 2, 3, 4, 4] {
            assert_eq!(r.read_ones(4), Some(want));
        }
        // 18 bits used; the padding zeros of the last byte still read as a `0` prefix, but
        // nothing past the buffer does.
        assert_eq!(r.read_bits(6), Some(0));
        assert_eq!(r.read_ones(4), None);
        let mut r = BitReader::new(&[0b1110_0000]);
        assert_eq!(r.read_bits(5), Some(0b11100));
        assert_eq!(r.read_ones(4), Some(0));
        assert_eq!(BitReader::new(&[0xff]).read_ones(9), None);
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bit(), None);
        assert_eq!(BitReader::new(&[0x80]).read_uvarint(), None);
    }
}
