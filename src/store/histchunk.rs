//! Compressed chunks of native histogram samples, after Prometheus' float-histogram chunk.
//!
//! A histogram chunk is told from a float chunk by the top bit of its 2-byte sample count
//! ([`HISTOGRAM_CHUNK_FLAG`]), so every path that moves chunk bytes (queries, chunk files,
//! snapshots) carries the encoding with the bytes. After the count come, byte-aligned:
//!
//! ```text
//! first timestamp (zig-zag varint) | reset header (1 byte: 0 unknown, 1 counter reset,
//! 2 not a counter reset, 3 gauge) | schema (varint) | zero threshold (64 bits) |
//! positive spans, negative spans (uvarint count, then varint offset + uvarint length each) |
//! custom values (uvarint count, then 64 bits each)
//! ```
//!
//! The layout (schema, zero threshold, spans, custom values) is written once per chunk; a
//! histogram whose layout differs starts a new chunk (Prometheus recodes the chunk to insert
//! a new bucket instead; here the cost is a chunk header, and real histograms settle their
//! buckets early). Then per sample: the timestamp as the float chunk writes it (raw varint,
//! delta, then delta of deltas), and the values count, zero count, sum, positive buckets,
//! negative buckets, each XOR'd with the same value of the previous sample in its own
//! leading/trailing-zero window (the first sample's raw). Bucket counts are absolute, so a
//! steadily growing histogram costs a few bits per bucket.
//!
//! Counter resets (a counter histogram whose count, zero count or any bucket went down, or
//! a used bucket disappeared, or the producer's [`CounterResetHint::CounterReset`]) start a
//! new chunk whose header says so; gauge histograms live in gauge chunks. Reading back, as
//! Prometheus 3 does, a chunk's first sample is hinted [`CounterResetHint::Gauge`] in a gauge
//! chunk and [`CounterResetHint::Unknown`] otherwise, even after a reset (the previous chunk
//! may be gone, or have come in later); later samples are `NotCounterReset` (or `Gauge`).
//! A chunk is cut at [`SAMPLES_PER_CHUNK`] samples, or once it passes [`TARGET_BYTES`] with
//! at least [`MIN_SAMPLES`] samples (Prometheus' `TargetBytesPerHistogramChunk` and
//! `MinSamplesPerHistogramChunk`).

use super::bits::BitWriter;
use super::chunk::{
    header_count, is_histogram_chunk, read_dod, read_xor, write_dod, write_xor, BitBuffer,
    ClosedChunk, HISTOGRAM_CHUNK_FLAG, NO_WINDOW, SAMPLES_PER_CHUNK,
};
use crate::histogram::{CounterResetHint, FloatHistogram, Span};

/// A histogram chunk is cut once it holds this many bytes (and [`MIN_SAMPLES`] samples).
pub(crate) const TARGET_BYTES: usize = 1024;
/// The fewest samples a chunk cut for its size holds.
pub(crate) const MIN_SAMPLES: u16 = 10;

/// What a chunk's header says about counter resets (Prometheus' `CounterResetHeader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetHeader {
    Unknown = 0,
    CounterReset = 1,
    NotCounterReset = 2,
    Gauge = 3,
}

impl ResetHeader {
    fn from_byte(b: u64) -> Option<Self> {
        Some(match b {
            0 => ResetHeader::Unknown,
            1 => ResetHeader::CounterReset,
            2 => ResetHeader::NotCounterReset,
            3 => ResetHeader::Gauge,
            _ => return None,
        })
    }

    /// The header of a chunk that `h` starts with no histogram chunk before it to compare.
    pub(crate) fn for_first(h: &FloatHistogram) -> Self {
        match h.counter_reset_hint {
            CounterResetHint::Gauge => ResetHeader::Gauge,
            CounterResetHint::CounterReset => ResetHeader::CounterReset,
            _ => ResetHeader::Unknown,
        }
    }
}

/// One value's XOR state: the previous bits and the current window.
#[derive(Clone, Copy, Debug)]
struct XorValue {
    bits: u64,
    leading: u8,
    trailing: u8,
}

/// What to do with a histogram offered to an open histogram chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    Append,
    /// Start a new chunk with this header.
    Cut(ResetHeader),
}

/// The open histogram chunk of a series.
#[derive(Clone, Debug)]
pub(crate) struct HistHeadChunk {
    w: BitWriter,
    num: u16,
    min_t: i64,
    t: i64,
    t_delta: u64,
    header: ResetHeader,
    schema: i32,
    zero_threshold: u64,
    positive_spans: Vec<Span>,
    negative_spans: Vec<Span>,
    custom_values: Vec<f64>,
    /// Count, zero count, sum, then the positive and the negative buckets.
    values: Vec<XorValue>,
}

/// The values of `h` in chunk order.
fn values_of(h: &FloatHistogram) -> impl Iterator<Item = f64> + '_ {
    [h.count, h.zero_count, h.sum]
        .into_iter()
        .chain(h.positive_buckets.iter().copied())
        .chain(h.negative_buckets.iter().copied())
}

fn write_spans(w: &mut BitWriter, spans: &[Span]) {
    w.write_uvarint(spans.len() as u64);
    for s in spans {
        w.write_varint(i64::from(s.offset));
        w.write_uvarint(u64::from(s.length));
    }
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The absolute bucket indexes of `spans`, in order.
fn bucket_indexes(spans: &[Span]) -> impl Iterator<Item = i64> + '_ {
    let mut next = 0i64;
    spans.iter().flat_map(move |s| {
        let start = next + i64::from(s.offset);
        next = start + i64::from(s.length);
        start..next
    })
}

/// Whether going from buckets `prev` (laid out by `prev_spans`) to `new` is a counter reset:
/// a bucket's count went down, or a bucket in use before is missing now (a missing empty
/// bucket is not a reset), as Prometheus' `expandFloatSpansAndBuckets` decides.
fn buckets_reset(
    prev_spans: &[Span],
    prev: impl Iterator<Item = f64>,
    new_spans: &[Span],
    new: &[f64],
) -> bool {
    let mut new_it = bucket_indexes(new_spans)
        .zip(new.iter().copied())
        .peekable();
    for (i, pv) in bucket_indexes(prev_spans).zip(prev) {
        while new_it.next_if(|(j, _)| *j < i).is_some() {}
        let reset = match new_it.peek() {
            Some(&(j, nv)) if j == i => nv < pv,
            _ => pv != 0.0,
        };
        if reset {
            return true;
        }
    }
    false
}

impl HistHeadChunk {
    /// A chunk holding `h` at `t` as its first sample, with reset header `header`.
    pub(crate) fn new(t: i64, h: &FloatHistogram, header: ResetHeader) -> Self {
        let mut w = BitWriter::with_capacity(64 + 9 * (3 + h.positive_buckets.len()));
        w.write_bits(u64::from(HISTOGRAM_CHUNK_FLAG | 1), 16);
        w.write_varint(t);
        w.write_byte(header as u8);
        w.write_varint(i64::from(h.schema));
        w.write_bits(h.zero_threshold.to_bits(), 64);
        write_spans(&mut w, &h.positive_spans);
        write_spans(&mut w, &h.negative_spans);
        w.write_uvarint(h.custom_values.len() as u64);
        for v in &h.custom_values {
            w.write_bits(v.to_bits(), 64);
        }
        let values = values_of(h)
            .map(|v| {
                w.write_bits(v.to_bits(), 64);
                XorValue {
                    bits: v.to_bits(),
                    leading: NO_WINDOW,
                    trailing: 0,
                }
            })
            .collect();
        HistHeadChunk {
            w,
            num: 1,
            min_t: t,
            t,
            t_delta: 0,
            header,
            schema: h.schema,
            zero_threshold: h.zero_threshold.to_bits(),
            positive_spans: h.positive_spans.clone(),
            negative_spans: h.negative_spans.clone(),
            custom_values: h.custom_values.clone(),
            values,
        }
    }

    /// Whether `h` has this chunk's bucket layout.
    fn layout_matches(&self, h: &FloatHistogram) -> bool {
        h.schema == self.schema
            && h.zero_threshold.to_bits() == self.zero_threshold
            && h.positive_spans == self.positive_spans
            && h.negative_spans == self.negative_spans
            && same_bits(&h.custom_values, &self.custom_values)
    }

    fn prev(&self, i: usize) -> f64 {
        f64::from_bits(self.values[i].bits)
    }

    /// Whether `h`, a counter histogram, comes after a counter reset, comparing it with the
    /// previous sample in the order Prometheus' float-histogram appender does.
    fn is_counter_reset(&self, h: &FloatHistogram) -> bool {
        if h.counter_reset_hint == CounterResetHint::CounterReset || h.count < self.prev(0) {
            return true;
        }
        if h.schema != self.schema || h.zero_threshold.to_bits() != self.zero_threshold {
            // A new layout, not by itself a reset.
            return false;
        }
        if h.uses_custom_buckets() && !same_bits(&h.custom_values, &self.custom_values) {
            return true;
        }
        let npos: usize = self.positive_spans.iter().map(|s| s.length as usize).sum();
        let pos = self.values[3..3 + npos]
            .iter()
            .map(|v| f64::from_bits(v.bits));
        let neg = self.values[3 + npos..]
            .iter()
            .map(|v| f64::from_bits(v.bits));
        h.zero_count < self.prev(1)
            || buckets_reset(
                &self.positive_spans,
                pos,
                &h.positive_spans,
                &h.positive_buckets,
            )
            || buckets_reset(
                &self.negative_spans,
                neg,
                &h.negative_spans,
                &h.negative_buckets,
            )
    }

    /// Where `h` goes: appended to this chunk, or into a new one with the header it needs.
    pub(crate) fn placement(&self, h: &FloatHistogram) -> Placement {
        let gauge = h.counter_reset_hint == CounterResetHint::Gauge;
        if gauge != (self.header == ResetHeader::Gauge) {
            // From a gauge to a counter histogram or back: nothing to compare with.
            return Placement::Cut(ResetHeader::for_first(h));
        }
        let header = if gauge {
            ResetHeader::Gauge
        } else if self.is_counter_reset(h) {
            return Placement::Cut(ResetHeader::CounterReset);
        } else {
            ResetHeader::NotCounterReset
        };
        if self.layout_matches(h) && !self.is_full() {
            return Placement::Append;
        }
        let new_schema =
            h.schema != self.schema || h.zero_threshold.to_bits() != self.zero_threshold;
        Placement::Cut(match header {
            // As Prometheus: a chunk started for a new schema or zero threshold says nothing.
            ResetHeader::NotCounterReset if new_schema => ResetHeader::Unknown,
            header => header,
        })
    }

    /// Appends `h` at `t`. The caller checked [`HistHeadChunk::placement`] says
    /// [`Placement::Append`] and that `t` is after the previous sample's timestamp.
    pub(crate) fn append(&mut self, t: i64, h: &FloatHistogram) {
        let delta = t.wrapping_sub(self.t) as u64;
        if self.num == 1 {
            self.w.write_uvarint(delta);
        } else {
            write_dod(
                &mut self.w,
                (delta as i64).wrapping_sub(self.t_delta as i64),
            );
        }
        self.t_delta = delta;
        for (x, v) in self.values.iter_mut().zip(values_of(h)) {
            let bits = v.to_bits();
            write_xor(&mut self.w, bits ^ x.bits, &mut x.leading, &mut x.trailing);
            x.bits = bits;
        }
        self.t = t;
        self.num += 1;
        let [a, b] = (HISTOGRAM_CHUNK_FLAG | self.num).to_be_bytes();
        if let [x, y, ..] = self.w.bytes_mut() {
            *x = a;
            *y = b;
        }
    }

    /// Whether the chunk is complete: [`SAMPLES_PER_CHUNK`] samples, or [`TARGET_BYTES`]
    /// with at least [`MIN_SAMPLES`].
    pub(crate) fn is_full(&self) -> bool {
        self.num >= SAMPLES_PER_CHUNK
            || (self.w.bytes().len() >= TARGET_BYTES && self.num >= MIN_SAMPLES)
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

    /// Heap bytes: the buffer's capacity and the layout and state kept for appending.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.capacity()
            + std::mem::size_of::<Self>()
            + (self.positive_spans.capacity() + self.negative_spans.capacity())
                * std::mem::size_of::<Span>()
            + self.custom_values.capacity() * 8
            + self.values.capacity() * std::mem::size_of::<XorValue>()
    }

    /// Freezes the chunk into a [`ClosedChunk`].
    pub(crate) fn close(self) -> ClosedChunk {
        ClosedChunk::from_parts(self.t.wrapping_sub(self.min_t) as u64, self.w.bytes())
    }

    #[cfg(test)]
    pub(crate) fn num_samples(&self) -> u16 {
        self.num
    }
}

/// Decodes the histogram samples of a histogram chunk, oldest first. Anything else, or a
/// truncated or damaged chunk, ends the iteration early (never a panic).
#[derive(Clone, Debug)]
pub(crate) struct HistIter<'a> {
    r: BitBuffer<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: u64,
    header: ResetHeader,
    schema: i32,
    zero_threshold: f64,
    positive_spans: Vec<Span>,
    negative_spans: Vec<Span>,
    custom_values: Vec<f64>,
    npos: usize,
    values: Vec<u64>,
    windows: Vec<(u32, u32)>,
}

fn read_spans(r: &mut BitBuffer<'_>, room: usize) -> Option<Vec<Span>> {
    let n = usize::try_from(r.read_uvarint()?).ok()?;
    if n > room {
        return None;
    }
    (0..n)
        .map(|_| {
            Some(Span {
                offset: i32::try_from(r.read_varint()?).ok()?,
                length: u32::try_from(r.read_uvarint()?).ok()?,
            })
        })
        .collect()
}

impl<'a> HistIter<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let mut it = HistIter {
            r: BitBuffer::new(data.get(2..).unwrap_or(&[])),
            total: 0,
            read: 0,
            t: 0,
            t_delta: 0,
            header: ResetHeader::Unknown,
            schema: 0,
            zero_threshold: 0.0,
            positive_spans: Vec::new(),
            negative_spans: Vec::new(),
            custom_values: Vec::new(),
            npos: 0,
            values: Vec::new(),
            windows: Vec::new(),
        };
        if is_histogram_chunk(data) && it.read_layout(data.len()).is_some() {
            it.total = header_count(data);
        }
        it
    }

    /// Reads the first timestamp and the layout; `len` bounds every count read.
    fn read_layout(&mut self, len: usize) -> Option<()> {
        self.t = self.r.read_varint()?;
        self.header = ResetHeader::from_byte(self.r.read_bits(8)?)?;
        self.schema = i32::try_from(self.r.read_varint()?).ok()?;
        self.zero_threshold = f64::from_bits(self.r.read_bits(64)?);
        self.positive_spans = read_spans(&mut self.r, len)?;
        self.negative_spans = read_spans(&mut self.r, len)?;
        let ncustom = usize::try_from(self.r.read_uvarint()?).ok()?;
        if ncustom > len / 8 {
            return None;
        }
        self.custom_values = (0..ncustom)
            .map(|_| Some(f64::from_bits(self.r.read_bits(64)?)))
            .collect::<Option<_>>()?;
        let count = |spans: &[Span]| {
            spans
                .iter()
                .try_fold(0usize, |n, s| n.checked_add(s.length as usize))
        };
        self.npos = count(&self.positive_spans)?;
        // The first sample stores every value in 64 bits: more values than that cannot fit.
        let n = 3usize
            .checked_add(self.npos)?
            .checked_add(count(&self.negative_spans)?)?;
        if n > len / 8 {
            return None;
        }
        self.values = vec![0; n];
        self.windows = vec![(0, 0); n];
        Some(())
    }

    /// Decodes the next sample's timestamp and values into the iterator's state.
    fn advance(&mut self) -> Option<()> {
        match self.read {
            0 => {
                for v in &mut self.values {
                    *v = self.r.read_bits(64)?;
                }
            }
            n => {
                if n == 1 {
                    self.t_delta = self.r.read_uvarint()?;
                } else {
                    let dod = read_dod(&mut self.r)?;
                    self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                }
                self.t = self.t.wrapping_add(self.t_delta as i64);
                for (v, (l, tr)) in self.values.iter_mut().zip(&mut self.windows) {
                    read_xor(&mut self.r, v, l, tr)?;
                }
            }
        }
        self.read += 1;
        Some(())
    }

    /// The next sample's timestamp without building its histogram; `None` at the end.
    pub(crate) fn next_t(&mut self) -> Option<i64> {
        if self.read >= self.total {
            return None;
        }
        if self.advance().is_none() {
            // Damaged data: stop for good rather than yield garbage.
            self.total = self.read;
            return None;
        }
        Some(self.t)
    }

    /// The histogram of the sample [`HistIter::next_t`] just decoded.
    pub(crate) fn histogram(&self) -> FloatHistogram {
        // As Prometheus 3's `counterResetHint`: a chunk's first sample is `Unknown` even after
        // a reset, since the chunk before it may be gone or have come in later.
        let hint = match (self.header, self.read) {
            (ResetHeader::Gauge, _) => CounterResetHint::Gauge,
            (_, 1) => CounterResetHint::Unknown,
            _ => CounterResetHint::NotCounterReset,
        };
        let f = |i: usize| f64::from_bits(self.values[i]);
        let bucket = |v: &u64| f64::from_bits(*v);
        FloatHistogram {
            counter_reset_hint: hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: f(1),
            count: f(0),
            sum: f(2),
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: self.values[3..3 + self.npos].iter().map(bucket).collect(),
            negative_buckets: self.values[3 + self.npos..].iter().map(bucket).collect(),
            custom_values: self.custom_values.clone(),
        }
    }
}

impl Iterator for HistIter<'_> {
    type Item = (i64, FloatHistogram);

    fn next(&mut self) -> Option<(i64, FloatHistogram)> {
        let t = self.next_t()?;
        Some((t, self.histogram()))
    }
}

/// The timestamps of a chunk of either kind, oldest first.
pub(crate) fn chunk_times(data: &[u8]) -> Box<dyn Iterator<Item = i64> + '_> {
    if is_histogram_chunk(data) {
        let mut it = HistIter::new(data);
        Box::new(std::iter::from_fn(move || it.next_t()))
    } else {
        Box::new(super::chunk::ChunkIter::new(data).map(|(t, _)| t))
    }
}

/// A 64-bit digest of what Prometheus' `FloatHistogram.Equals` compares (everything but the
/// counter reset hint; spans compared after dropping empty spans and joining adjacent
/// ones), to tell a repeated histogram from a different one at the same timestamp.
pub(crate) fn histogram_digest(h: &FloatHistogram) -> u64 {
    let mut x = xxhash_rust::xxh3::Xxh3::new();
    let mut put = |v: u64| x.update(&v.to_le_bytes());
    // Equal floats digest equally (0.0 and -0.0 are equal counts); the sum is compared by
    // its bits, as upstream does.
    let num = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
    put(h.schema as u32 as u64);
    put(num(h.count));
    put(h.sum.to_bits());
    put(num(h.zero_threshold));
    put(num(h.zero_count));
    for (spans, buckets) in [
        (&h.positive_spans, &h.positive_buckets),
        (&h.negative_spans, &h.negative_buckets),
    ] {
        put(u64::MAX);
        let mut pending = 0i64;
        let mut last: Option<(i64, u32)> = None;
        let mut out: Vec<(i64, u32)> = Vec::with_capacity(spans.len());
        for s in spans.iter() {
            pending += i64::from(s.offset);
            if s.length == 0 {
                continue;
            }
            match last.as_mut() {
                Some(l) if pending == 0 => l.1 += s.length,
                _ => {
                    if let Some(l) = last.take() {
                        out.push(l);
                    }
                    last = Some((pending, s.length));
                }
            }
            pending = 0;
        }
        out.extend(last);
        for (o, l) in out {
            put(o as u64);
            put(u64::from(l));
        }
        put(u64::MAX - 1);
        for b in buckets.iter() {
            put(b.to_bits());
        }
    }
    if h.uses_custom_buckets() {
        for c in &h.custom_values {
            put(c.to_bits());
        }
    }
    x.digest()
}

#[cfg(test)]
mod tests {
    use super::super::chunk::tests::Rng;
    use super::*;

    /// A request-latency histogram as a server exposes it over time: schema 3, 30 populated
    /// positive buckets in two spans, counts growing by a few observations a scrape.
    fn latency(step: u64, rng: &mut Rng, prev: Option<&FloatHistogram>) -> FloatHistogram {
        let mut h = prev.cloned().unwrap_or(FloatHistogram {
            schema: 3,
            zero_threshold: 2f64.powi(-128),
            positive_spans: vec![
                Span {
                    offset: -20,
                    length: 18,
                },
                Span {
                    offset: 2,
                    length: 12,
                },
            ],
            positive_buckets: vec![0.0; 30],
            ..FloatHistogram::default()
        });
        h.counter_reset_hint = CounterResetHint::NotCounterReset;
        let mut added = 0.0;
        for b in h.positive_buckets.iter_mut() {
            let n = (rng.next() % 4) as f64;
            *b += n;
            added += n;
        }
        h.count += added;
        h.sum += added * 0.042 + step as f64 * 1e-3;
        h
    }

    /// One chunk of `samples` whatever its size (the encoding holds any number up to
    /// [`SAMPLES_PER_CHUNK`]); each has the layout of the first.
    fn encode(samples: &[(i64, FloatHistogram)]) -> HistHeadChunk {
        let mut c = HistHeadChunk::new(samples[0].0, &samples[0].1, ResetHeader::Unknown);
        for (t, h) in &samples[1..] {
            assert!(c.layout_matches(h));
            c.append(*t, h);
        }
        c
    }

    fn same(a: &FloatHistogram, b: &FloatHistogram) -> bool {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        a.schema == b.schema
            && a.count.to_bits() == b.count.to_bits()
            && a.sum.to_bits() == b.sum.to_bits()
            && a.zero_count.to_bits() == b.zero_count.to_bits()
            && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
            && a.positive_spans == b.positive_spans
            && a.negative_spans == b.negative_spans
            && bits(&a.positive_buckets) == bits(&b.positive_buckets)
            && bits(&a.negative_buckets) == bits(&b.negative_buckets)
            && bits(&a.custom_values) == bits(&b.custom_values)
    }

    #[test]
    fn histograms_round_trip_bit_exactly_open_and_closed() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut samples: Vec<(i64, FloatHistogram)> = Vec::new();
        let mut t = 1_700_000_000_000i64;
        for step in 0..60 {
            let h = latency(step, &mut rng, samples.last().map(|s| &s.1));
            samples.push((t, h));
            t += 15_000 + (rng.next() % 50) as i64;
        }
        let c = encode(&samples);
        assert_eq!(usize::from(c.num_samples()), samples.len());
        let closed = c.clone().close();
        assert_eq!(closed.min_t(), samples[0].0);
        assert_eq!(closed.max_t(), samples[59].0);
        for data in [c.bytes(), closed.data()] {
            assert!(is_histogram_chunk(data));
            let got: Vec<_> = HistIter::new(data).collect();
            assert_eq!(got.len(), samples.len());
            for (i, ((gt, gh), (wt, wh))) in got.iter().zip(&samples).enumerate() {
                assert_eq!(gt, wt);
                assert!(same(gh, wh), "sample {i}: {gh:?} != {wh:?}");
            }
            // A float reader sees no samples in a histogram chunk.
            assert_eq!(super::super::chunk::ChunkIter::new(data).count(), 0);
            let times: Vec<i64> = chunk_times(data).collect();
            assert_eq!(times, samples.iter().map(|s| s.0).collect::<Vec<_>>());
        }
    }

    /// What Prometheus 3's reader gives back: the first sample of a chunk is `Unknown`, also
    /// in a chunk cut by a reset, and `Gauge` in a gauge chunk; the later ones are
    /// `NotCounterReset`, or `Gauge` in a gauge chunk.
    #[test]
    fn hints_read_back_from_the_chunk_header() {
        let mut rng = Rng(7);
        let first = latency(0, &mut rng, None);
        let second = latency(1, &mut rng, Some(&first));
        let cases = [
            (
                ResetHeader::CounterReset,
                [CounterResetHint::Unknown, CounterResetHint::NotCounterReset],
            ),
            (
                ResetHeader::Unknown,
                [CounterResetHint::Unknown, CounterResetHint::NotCounterReset],
            ),
            (
                ResetHeader::Gauge,
                [CounterResetHint::Gauge, CounterResetHint::Gauge],
            ),
        ];
        for (header, want) in cases {
            let mut c = HistHeadChunk::new(0, &first, header);
            c.append(15_000, &second);
            let got: Vec<_> = HistIter::new(c.bytes())
                .map(|(_, h)| h.counter_reset_hint)
                .collect();
            assert_eq!(got, want, "{header:?}");
        }
    }

    #[test]
    fn special_values_negative_buckets_and_custom_buckets_round_trip() {
        let nhcb = FloatHistogram {
            schema: crate::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: f64::NAN,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 0.0, 2.0],
            custom_values: vec![0.1, 0.5],
            ..FloatHistogram::default()
        };
        let neg = FloatHistogram {
            schema: -4,
            zero_threshold: 0.0,
            zero_count: -0.0,
            count: f64::INFINITY,
            sum: -1e308,
            negative_spans: vec![
                Span {
                    offset: i32::MIN,
                    length: 1,
                },
                Span {
                    offset: 7,
                    length: 2,
                },
            ],
            negative_buckets: vec![f64::MIN_POSITIVE, 1.5, f64::from_bits(1)],
            ..FloatHistogram::default()
        };
        for h in [nhcb, neg] {
            let mut next = h.clone();
            next.sum = 4.25;
            let c = encode(&[(-5, h.clone()), (i64::MAX, next.clone())]);
            let got: Vec<_> = HistIter::new(c.bytes()).collect();
            assert_eq!(got.len(), 2);
            assert!(same(&got[0].1, &h) && same(&got[1].1, &next), "{got:?}");
            assert_eq!((got[0].0, got[1].0), (-5, i64::MAX));
        }
    }

    #[test]
    fn damaged_or_truncated_chunks_end_iteration_without_panic() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut samples: Vec<(i64, FloatHistogram)> = Vec::new();
        for step in 0..20 {
            let h = latency(step, &mut rng, samples.last().map(|s| &s.1));
            samples.push((step as i64 * 1000, h));
        }
        let bytes = encode(&samples).bytes().to_vec();
        for cut in 0..bytes.len() {
            let got: Vec<_> = HistIter::new(&bytes[..cut]).collect();
            assert!(got.len() < samples.len());
            for (g, w) in got.iter().zip(&samples) {
                assert_eq!(g.0, w.0);
            }
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= (rng.next() as u8) | 1;
            // Anything may come out of damaged bytes, but never a panic or a hang.
            assert!(HistIter::new(&bad).count() <= 0x7fff);
        }
    }

    #[test]
    fn a_realistic_latency_histogram_costs_a_few_bits_per_bucket() {
        let mut rng = Rng(7);
        let mut samples: Vec<(i64, FloatHistogram)> = Vec::new();
        for step in 0..120 {
            let h = latency(step, &mut rng, samples.last().map(|s| &s.1));
            samples.push((step as i64 * 15_000, h));
        }
        let mut c = HistHeadChunk::new(samples[0].0, &samples[0].1, ResetHeader::Unknown);
        let mut chunks = Vec::new();
        for (t, h) in &samples[1..] {
            if c.placement(h) != Placement::Append {
                chunks.push(std::mem::replace(
                    &mut c,
                    HistHeadChunk::new(*t, h, ResetHeader::NotCounterReset),
                ));
            } else {
                c.append(*t, h);
            }
        }
        chunks.push(c);
        let bytes: usize = chunks.iter().map(|c| c.bytes().len()).sum();
        let per_sample = bytes as f64 / samples.len() as f64;
        println!(
            "{per_sample:.1} bytes per histogram sample of 33 values in {} chunks",
            chunks.len()
        );
        // 33 values a sample: 64-bit raw values would be 264 bytes; the XOR of counts that
        // grow by 0..3 takes about 8 to 20 bits each.
        assert!(per_sample < 90.0, "{per_sample} bytes per sample");
        // Chunks are cut by size, each but the open one with at least MIN_SAMPLES samples
        // and about TARGET_BYTES.
        assert!(chunks.len() > 1);
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.num_samples() >= MIN_SAMPLES);
            assert!(c.bytes().len() >= TARGET_BYTES && c.bytes().len() < TARGET_BYTES + 200);
        }
    }

    #[test]
    fn the_digest_ignores_the_hint_and_how_spans_are_split() {
        let one = FloatHistogram {
            count: 3.0,
            positive_spans: vec![Span {
                offset: 2,
                length: 2,
            }],
            positive_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        let split = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            positive_spans: vec![
                Span {
                    offset: 1,
                    length: 0,
                },
                Span {
                    offset: 1,
                    length: 1,
                },
                Span {
                    offset: 0,
                    length: 1,
                },
            ],
            ..one.clone()
        };
        assert_eq!(histogram_digest(&one), histogram_digest(&split));
        let moved = FloatHistogram {
            positive_spans: vec![Span {
                offset: 3,
                length: 2,
            }],
            ..one.clone()
        };
        assert_ne!(histogram_digest(&one), histogram_digest(&moved));
        let more = FloatHistogram {
            positive_buckets: vec![1.0, 2.5],
            ..one.clone()
        };
        assert_ne!(histogram_digest(&one), histogram_digest(&more));
    }
}
