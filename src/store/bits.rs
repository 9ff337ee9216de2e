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

    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `value` (`n` ≤ 64), most significant first.
    pub(crate) fn write_bits(&mut self, value: u64, mut n: u8) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            // The `take` bits of `value` just below bit `n`.
            let chunk = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let shift = self.free - take;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << shift;
            }
            self.free -= take;
            n -= take;
        }
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

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result.
    pub(crate) fn read_bits(&mut self, mut n: u8) -> Option<u64> {
        debug_assert!(n <= 64);
        if self.pos + usize::from(n) > self.data.len() * 8 {
            return None;
        }
        let mut out: u64 = 0;
        while n > 0 {
            let byte = self.data[self.pos / 8];
            let avail = 8 - (self.pos % 8) as u8;
            let take = n.min(avail);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = (out << take) | u64::from(bits);
            self.pos += usize::from(take);
            n -= take;
        }
        Some(out)
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
    fn reading_past_the_end_is_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bit(), None);
        assert_eq!(BitReader::new(&[0x80]).read_uvarint(), None);
    }
}
