//! One series in memory: labels, chunks and the last sample.
//!
//! A [`Series`] holds its labels as interned symbol ids, its closed chunks, its open head
//! chunk and the last sample (for out-of-order and duplicate checks); shards (`shard.rs`) own
//! them. A series holds float samples, native histogram samples, or both in turn: the head
//! is a float chunk or a histogram chunk ([`Head`]), and a sample of the other kind closes it
//! and starts one of its own kind, so chunks stay ordered in time whatever their kind.

use super::chunk::{ChunkIter, ClosedChunk, HeadChunk};
use super::chunkfile::{ChunkFiles, DiskChunk};
use super::histchunk::{chunk_times, histogram_digest, HistHeadChunk, Placement, ResetHeader};
use super::symbols::{Symbol, SymbolTable};
use super::{Labels, Sample};
use crate::histogram::FloatHistogram;
use std::ops::Range;

/// What happened to one sample offered to a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Appended,
    OutOfOrder,
    /// Same timestamp, different value.
    Duplicate,
    /// Same timestamp and bit-identical value: silently dropped, as Prometheus does.
    Identical,
}

/// The open chunk of a series: floats or histograms.
#[derive(Clone, Debug)]
pub(crate) enum Head {
    Float(HeadChunk),
    Histogram(Box<HistHeadChunk>),
}

impl Head {
    pub(crate) fn min_t(&self) -> i64 {
        match self {
            Head::Float(h) => h.min_t(),
            Head::Histogram(h) => h.min_t(),
        }
    }

    pub(crate) fn max_t(&self) -> i64 {
        match self {
            Head::Float(h) => h.max_t(),
            Head::Histogram(h) => h.max_t(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Head::Float(h) => h.bytes(),
            Head::Histogram(h) => h.bytes(),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Head::Float(h) => h.heap_bytes(),
            Head::Histogram(h) => h.heap_bytes(),
        }
    }

    fn close(self) -> ClosedChunk {
        match self {
            Head::Float(h) => h.close(),
            Head::Histogram(h) => h.close(),
        }
    }
}

/// The newest sample a series was given: its timestamp and, to tell a repeat from a
/// different sample at that timestamp, a float's bits or a histogram's digest
/// ([`histogram_digest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Last {
    pub(crate) t: i64,
    pub(crate) value: u64,
    pub(crate) histogram: bool,
}

impl Last {
    pub(crate) fn float(t: i64, bits: u64) -> Self {
        Last {
            t,
            value: bits,
            histogram: false,
        }
    }

    /// Whether the sample is a float staleness marker.
    pub(crate) fn is_stale_marker(&self) -> bool {
        !self.histogram && self.value == super::STALE_NAN_BITS
    }
}

pub(crate) struct Series {
    /// `[name, value, name, value, ...]`, ordered by name.
    pub(crate) labels: Box<[Symbol]>,
    pub(crate) fingerprint: u64,
    /// Closed chunks written to disk (durable stores), oldest first; all older than `chunks`.
    pub(crate) disk: Vec<DiskChunk>,
    /// Closed chunks still in memory, oldest first.
    pub(crate) chunks: Vec<ClosedChunk>,
    pub(crate) head: Option<Head>,
    /// The newest sample ever appended (kept even when retention removes its chunk, so a
    /// late sample is still recognised as out of order).
    pub(crate) last: Option<Last>,
}

/// Chunk bytes a query copies out of the shard lock, to decode after releasing it.
#[derive(Default)]
pub(crate) struct ChunkCopies {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl ChunkCopies {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
    }

    /// Reads a chunk from disk. A chunk that cannot be read is left out and counted: the
    /// query answers with the rest rather than failing on one unreadable chunk.
    fn push_disk(&mut self, files: Option<&ChunkFiles>, c: &DiskChunk) {
        match files.map(|f| f.read_into(c, &mut self.buf)) {
            Some(Ok(())) => self.ends.push(self.buf.len()),
            Some(Err(e)) => {
                super::chunkfile::note_read_error(&e);
            }
            None => {}
        }
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks(0..self.ends.len())
    }

    /// Number of chunks held.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Drops the chunks from index `n` on.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.ends.truncate(n);
        self.buf.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// The bytes of the chunks with indices in `range`.
    pub(crate) fn chunks(&self, range: Range<usize>) -> impl Iterator<Item = &[u8]> {
        let ends = self.ends.get(range.clone()).unwrap_or(&[]);
        let first = match range.start {
            0 => 0,
            i => self.ends.get(i - 1).copied().unwrap_or(0),
        };
        std::iter::once(first)
            .chain(ends.iter().copied())
            .zip(ends.iter().copied())
            .map(|(a, b)| &self.buf[a..b])
    }
}

/// Heap bytes a closed chunk costs: its data and its entry in the series' chunk vector.
pub(crate) fn closed_chunk_bytes(c: &ClosedChunk) -> usize {
    c.heap_bytes() + std::mem::size_of::<ClosedChunk>()
}

impl Series {
    pub(crate) fn new(labels: Box<[Symbol]>, fingerprint: u64) -> Self {
        Series {
            labels,
            fingerprint,
            disk: Vec::new(),
            chunks: Vec::new(),
            head: None,
            last: None,
        }
    }

    pub(crate) fn has_samples(&self) -> bool {
        self.head.is_some() || !self.chunks.is_empty() || !self.disk.is_empty()
    }

    /// Appends a sample after the out-of-order and duplicate checks, cutting a new chunk when
    /// the head is full or holds histograms. Updates the shard's chunk counters.
    pub(crate) fn append(&mut self, t: i64, v: f64, acct: &mut ShardAccounts) -> Outcome {
        let bits = v.to_bits();
        if let Some(last) = self.last {
            if t < last.t {
                return Outcome::OutOfOrder;
            }
            if t == last.t {
                return if bits == last.value && !last.histogram {
                    Outcome::Identical
                } else {
                    Outcome::Duplicate
                };
            }
        }
        if let Some(Head::Float(h)) = &mut self.head {
            let before = h.heap_bytes();
            h.append(t, v);
            acct.head_bytes = acct.head_bytes + h.heap_bytes() - before;
            // A full head is closed at once rather than when the next sample arrives, so its
            // growth slack is given back as soon as it can no longer grow.
            if h.is_full() {
                self.close_head(acct);
            }
        } else {
            self.close_head(acct);
            acct.chunks += 1;
            let h = HeadChunk::new(t, v);
            acct.head_bytes += h.heap_bytes();
            self.head = Some(Head::Float(h));
        }
        self.last = Some(Last::float(t, bits));
        Outcome::Appended
    }

    /// Appends a histogram sample after the same checks as [`Series::append`] (a histogram
    /// at the newest sample's timestamp is a duplicate unless it equals that sample, which
    /// must be a histogram). A new chunk is cut when the head holds floats, or when the
    /// histogram chunk says (a counter reset, a new layout, full). A full histogram chunk
    /// stays open until the next sample, so the next chunk's header records whether that
    /// sample was a counter reset.
    pub(crate) fn append_histogram(
        &mut self,
        t: i64,
        h: &FloatHistogram,
        acct: &mut ShardAccounts,
    ) -> Outcome {
        let digest = histogram_digest(h);
        if let Some(last) = self.last {
            if t < last.t {
                return Outcome::OutOfOrder;
            }
            if t == last.t {
                return if digest == last.value && last.histogram {
                    Outcome::Identical
                } else {
                    Outcome::Duplicate
                };
            }
        }
        let placement = match &self.head {
            Some(Head::Histogram(c)) => c.placement(h),
            _ => Placement::Cut(ResetHeader::for_first(h)),
        };
        match &mut self.head {
            Some(Head::Histogram(c)) if placement == Placement::Append => {
                let before = c.heap_bytes();
                c.append(t, h);
                acct.head_bytes = acct.head_bytes + c.heap_bytes() - before;
            }
            _ => {
                let header = match placement {
                    Placement::Cut(header) => header,
                    Placement::Append => ResetHeader::for_first(h),
                };
                self.close_head(acct);
                acct.chunks += 1;
                let c = Box::new(HistHeadChunk::new(t, h, header));
                acct.head_bytes += c.heap_bytes();
                self.head = Some(Head::Histogram(c));
            }
        }
        self.last = Some(Last {
            t,
            value: digest,
            histogram: true,
        });
        Outcome::Appended
    }

    /// Closes the open chunk early (it becomes a closed chunk with fewer samples); the next
    /// sample starts a new one.
    pub(crate) fn close_head(&mut self, acct: &mut ShardAccounts) {
        if let Some(h) = self.head.take() {
            acct.head_bytes -= h.heap_bytes();
            let closed = h.close();
            acct.closed_bytes += closed_chunk_bytes(&closed);
            self.chunks.push(closed);
        }
    }

    /// Drops chunks whose newest sample is older than `before`; returns how many.
    pub(crate) fn truncate(&mut self, before: i64, acct: &mut ShardAccounts) -> usize {
        let disk_from = self.disk.partition_point(|c| c.max_t() < before);
        for c in self.disk.drain(..disk_from) {
            acct.forget_disk(&c);
        }
        if disk_from > 0 && self.disk.capacity() > 2 * self.disk.len() + 2 {
            self.disk.shrink_to_fit();
        }
        let keep_from = self.chunks.partition_point(|c| c.max_t() < before);
        for c in self.chunks.drain(..keep_from) {
            acct.closed_bytes -= closed_chunk_bytes(&c);
        }
        let mut removed = keep_from + disk_from;
        if self.head.as_ref().is_some_and(|h| h.max_t() < before) {
            if let Some(h) = self.head.take() {
                acct.head_bytes -= h.heap_bytes();
            }
            removed += 1;
        }
        if removed > 0 && self.chunks.capacity() > 2 * self.chunks.len() + 2 {
            self.chunks.shrink_to_fit();
        }
        acct.chunks -= removed;
        removed
    }

    /// Drops every chunk (the series is being removed).
    pub(crate) fn drop_chunks(&mut self, acct: &mut ShardAccounts) {
        for c in self.disk.drain(..) {
            acct.forget_disk(&c);
            acct.chunks -= 1;
        }
        for c in self.chunks.drain(..) {
            acct.closed_bytes -= closed_chunk_bytes(&c);
            acct.chunks -= 1;
        }
        if let Some(h) = self.head.take() {
            acct.head_bytes -= h.heap_bytes();
            acct.chunks -= 1;
        }
    }

    /// The timestamps of the oldest and the newest sample held; `None` without samples.
    pub(crate) fn bounds(&self) -> Option<(i64, i64)> {
        let min = self
            .disk
            .first()
            .map(|c| c.min_t)
            .or(self.chunks.first().map(|c| c.min_t()))
            .or(self.head.as_ref().map(|h| h.min_t()))?;
        let max = self
            .head
            .as_ref()
            .map(|h| h.max_t())
            .or(self.chunks.last().map(|c| c.max_t()))
            .or(self.disk.last().map(|c| c.max_t()))?;
        Some((min, max))
    }

    /// Copies of the bytes of every chunk overlapping `[mint, maxt]`, oldest first.
    #[cfg(test)]
    pub(crate) fn chunks_in(&self, mint: i64, maxt: i64) -> ChunkCopies {
        let mut out = ChunkCopies::default();
        self.copy_chunks_in(mint, maxt, &mut out, None);
        out
    }

    /// Appends to `out` copies of the bytes of every chunk overlapping `[mint, maxt]`,
    /// oldest first. Closed chunks are ordered by time, so the ones that end before `mint`
    /// are skipped with a binary search. Chunks on disk are read from `files`.
    pub(crate) fn copy_chunks_in(
        &self,
        mint: i64,
        maxt: i64,
        out: &mut ChunkCopies,
        files: Option<&ChunkFiles>,
    ) {
        match self.bounds() {
            Some((lo, hi)) if lo <= maxt && hi >= mint => {}
            _ => return,
        }
        let first = self.disk.partition_point(|c| c.max_t() < mint);
        for c in &self.disk[first..] {
            if c.min_t > maxt {
                return;
            }
            out.push_disk(files, c);
        }
        let first = self.chunks.partition_point(|c| c.max_t() < mint);
        for c in &self.chunks[first..] {
            if c.min_t() > maxt {
                return;
            }
            out.push(c.data());
        }
        if let Some(h) = &self.head {
            if h.min_t() <= maxt && h.max_t() >= mint {
                out.push(h.bytes());
            }
        }
    }

    /// Whether any sample lies in `[mint, maxt]`, decoding only a chunk that spans the range.
    pub(crate) fn has_sample_in(&self, mint: i64, maxt: i64, files: Option<&ChunkFiles>) -> bool {
        let spans = |lo: i64, hi: i64| lo <= maxt && hi >= mint;
        let certain = |lo: i64, hi: i64| (mint..=maxt).contains(&lo) || (mint..=maxt).contains(&hi);
        let check = |lo: i64, hi: i64, data: &[u8]| {
            spans(lo, hi) && (certain(lo, hi) || chunk_times(data).any(|t| t >= mint && t <= maxt))
        };
        let on_disk = |c: &DiskChunk| {
            spans(c.min_t, c.max_t())
                && (certain(c.min_t, c.max_t()) || {
                    let mut buf = ChunkCopies::default();
                    buf.push_disk(files, c);
                    let found = buf
                        .chunks(0..buf.len())
                        .any(|d| chunk_times(d).any(|t| t >= mint && t <= maxt));
                    found
                })
        };
        self.disk.iter().any(on_disk)
            || self
                .chunks
                .iter()
                .any(|c| check(c.min_t(), c.max_t(), c.data()))
            || self
                .head
                .as_ref()
                .is_some_and(|h| check(h.min_t(), h.max_t(), h.bytes()))
    }

    /// Whether this series' labels are exactly `labels`.
    pub(crate) fn labels_equal(&self, labels: &Labels, symbols: &SymbolTable) -> bool {
        if self.labels.len() != labels.len() * 2 {
            return false;
        }
        symbols.with_resolver(|resolve| {
            self.labels
                .chunks_exact(2)
                .zip(labels)
                .all(|(p, l)| resolve.get(p[0]) == &*l.name && resolve.get(p[1]) == &*l.value)
        })
    }
}

/// Decodes the samples of `chunks` that fall in `[mint, maxt]`, oldest first.
#[cfg(test)]
pub(crate) fn decode_range(chunks: &ChunkCopies, mint: i64, maxt: i64) -> Vec<Sample> {
    let mut out = Vec::new();
    decode_chunks_into(chunks.iter(), mint, maxt, &mut out);
    out
}

/// Appends to `out` the samples of the chunks `chunks` (oldest first) that fall in
/// `[mint, maxt]`.
pub(crate) fn decode_chunks_into<'c>(
    chunks: impl Iterator<Item = &'c [u8]>,
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) {
    for c in chunks {
        for (t, v) in ChunkIter::new(c) {
            if t > maxt {
                return;
            }
            if t >= mint {
                out.push(Sample { t, v });
            }
        }
    }
}

/// Running byte and chunk counts of one shard, kept under the shard lock so stats are cheap.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct ShardAccounts {
    pub(crate) chunks: usize,
    /// Bytes of closed chunks (see [`closed_chunk_bytes`]).
    pub(crate) closed_bytes: usize,
    /// Capacity of the head chunks' buffers.
    pub(crate) head_bytes: usize,
    /// Bytes of the series' label-id arrays.
    pub(crate) label_bytes: usize,
    /// Chunks on disk, and the bytes they take there.
    pub(crate) disk_chunks: usize,
    pub(crate) disk_bytes: usize,
}

impl ShardAccounts {
    pub(crate) fn merge(&mut self, o: &ShardAccounts) {
        self.chunks += o.chunks;
        self.closed_bytes += o.closed_bytes;
        self.head_bytes += o.head_bytes;
        self.label_bytes += o.label_bytes;
        self.disk_chunks += o.disk_chunks;
        self.disk_bytes += o.disk_bytes;
    }

    /// Counts a chunk handed to disk (its handle stays in memory).
    pub(crate) fn add_disk(&mut self, c: &DiskChunk) {
        self.disk_chunks += 1;
        self.disk_bytes += c.disk_bytes();
        self.closed_bytes += std::mem::size_of::<DiskChunk>();
    }

    fn forget_disk(&mut self, c: &DiskChunk) {
        self.disk_chunks -= 1;
        self.disk_bytes -= c.disk_bytes();
        self.closed_bytes -= std::mem::size_of::<DiskChunk>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(symbols: &SymbolTable, l: &Labels) -> Series {
        Series::new(symbols.intern_labels(l), l.fingerprint())
    }

    #[test]
    fn chunks_are_cut_every_120_samples_and_truncated_whole() {
        let symbols = SymbolTable::default();
        let mut acct = ShardAccounts::default();
        let mut s = series(&symbols, &Labels::from_pairs([("__name__", "x")]));
        for i in 0..300 {
            assert_eq!(s.append(i * 1000, i as f64, &mut acct), Outcome::Appended);
        }
        assert_eq!(s.chunks.len(), 2);
        assert_eq!(acct.chunks, 3);
        assert_eq!(s.chunks[0].num_samples(), 120);
        // Cutoff inside the second chunk keeps it whole.
        assert_eq!(s.truncate(150_000, &mut acct), 1);
        assert_eq!(
            decode_range(&s.chunks_in(0, i64::MAX), 0, i64::MAX)[0].t,
            120_000
        );
        assert!(s.has_sample_in(299_000, 400_000, None));
        assert!(!s.has_sample_in(300_000, 400_000, None));
        assert!(s.has_sample_in(150_500, 151_000, None));
        assert!(!s.has_sample_in(150_500, 150_900, None));
        assert_eq!(s.truncate(300_000, &mut acct), 2);
        assert!(!s.has_samples());
        assert_eq!((acct.chunks, acct.closed_bytes, acct.head_bytes), (0, 0, 0));
        // The last sample is remembered for ordering checks even with no chunks left.
        assert_eq!(s.append(10, 1.0, &mut acct), Outcome::OutOfOrder);
    }
}
