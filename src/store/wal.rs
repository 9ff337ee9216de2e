//! The write-ahead log: every series created and every sample committed, in order, so a
//! restart (or `kill -9`) loses nothing that reached it.
//!
//! The log is a directory of numbered segments (`<dir>/wal/00000001`, …). A segment is a
//! sequence of records, each framed as
//!
//! ```text
//! type u8 | payload length u32 LE | crc32 (IEEE) of the payload u32 LE | payload
//! ```
//!
//! - type 1, a series: its ref (u64 LE) and labels (count, then name and value, each a
//!   uvarint length and the bytes);
//! - type 2, samples of one commit: count (uvarint), then per sample the ref and timestamp as
//!   zig-zag varint deltas from the previous sample's (the first from 0) and the value's 64 bits
//!   LE (staleness markers keep their bit pattern).
//! - type 3, a retention pass: its cutoff (i64 LE); samples older than it were dropped then.
//! - type 4, native histogram samples of one commit: count (uvarint), then per sample the ref
//!   and timestamp as in type 2 and the histogram: counter reset hint (u8: 0 unknown, 1 reset,
//!   2 not a reset, 3 gauge), schema (zig-zag varint), zero threshold, zero count, count and
//!   sum (64 bits LE each), positive then negative spans (uvarint count, then zig-zag offset
//!   and uvarint length each), positive then negative bucket counts and the custom bounds
//!   (uvarint count, then 64 bits LE each). A commit with both kinds of samples logs them as
//!   alternating type 2 and type 4 records, cut so that each series' samples replay in their
//!   commit order.
//!
//! A payload that Snappy (raw format) makes smaller is stored compressed, its type with the high
//! bit set (`0x82`), as Prometheus compresses its WAL records; the CRC covers the stored bytes.
//!
//! A series record is buffered when the series is created and written with the next commit's
//! samples (which is always before any sample that refers to it). Each commit's records
//! reach the file in one `write`, so a process killed at any moment leaves at most a torn
//! last record behind. A segment is cut once it passes its size limit; a record never spans
//! two segments. When and whether the file is synced to disk is the [`FsyncPolicy`].
//!
//! Replay ([`replay`]) reads the segments from a given one on. A torn record at the end of
//! the last segment is cut off; a damaged record anywhere (a CRC mismatch, an impossible
//! length) ends the log there as Prometheus' WAL repair does: the segment is truncated at the
//! last good record and the later segments are removed. Both are reported, never fatal.

use super::Labels;
use crate::histogram::{CounterResetHint, FloatHistogram, Span};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const REC_SERIES: u8 = 1;
const REC_SAMPLES: u8 = 2;
const REC_TRUNCATE: u8 = 3;
const REC_HISTOGRAMS: u8 = 4;
/// Set in the type of a record whose payload is Snappy-compressed.
const COMPRESSED: u8 = 0x80;
/// Payloads shorter than this are stored as they are.
const COMPRESS_FROM: usize = 256;
const FRAME: usize = 9;
/// The largest payload a record may declare; anything larger is damage.
const MAX_PAYLOAD: u32 = 256 << 20;

/// When the log is synced to disk. A write reaches the operating system at once in every
/// policy, so a killed process loses nothing; the policy bounds what a machine crash or power
/// loss can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every commit (slowest; nothing acknowledged is lost on power loss).
    Always,
    /// By the service's sync task at this interval, and whenever a segment is cut.
    Interval(Duration),
    /// Only when a segment is cut (as Prometheus' WAL does).
    Never,
}

impl Default for FsyncPolicy {
    /// Every second, which bounds a power loss to about one second of samples.
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// Figures of the log for `/metrics`.
#[derive(Default)]
pub(crate) struct WalCounters {
    pub(crate) fsyncs: AtomicU64,
    pub(crate) fsync_nanos: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

struct Writer {
    seg: u64,
    file: File,
    /// A second handle on `file`, synced by [`Wal::sync`] without holding the writer lock
    /// (so commits go on while the disk flushes).
    sync_handle: std::sync::Arc<File>,
    size: u64,
    /// Encoded records not yet written (series records wait for the next commit).
    buf: Vec<u8>,
    dirty: bool,
}

/// The log of one store.
pub(crate) struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    policy: FsyncPolicy,
    writer: Mutex<Writer>,
    pub(crate) counters: WalCounters,
}

pub(crate) fn segment_name(seg: u64) -> String {
    format!("{seg:08}")
}

/// The segments in `dir`, ascending.
pub(crate) fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let name = name.to_str()?;
            if name.len() == 8 {
                name.parse().ok()
            } else {
                None
            }
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn frame(buf: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0, 0]);
    body(buf);
    let raw_len = buf.len() - start - FRAME;
    if raw_len >= COMPRESS_FROM {
        let mut z = vec![0u8; snap::raw::max_compress_len(raw_len)];
        if let Ok(n) = snap::raw::Encoder::new().compress(&buf[start + FRAME..], &mut z) {
            if n < raw_len {
                buf.truncate(start + FRAME);
                buf.extend_from_slice(&z[..n]);
                buf[start] = kind | COMPRESSED;
            }
        }
    }
    let payload = &buf[start + FRAME..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    buf[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    buf[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
}

/// Encodes a series record onto `buf`.
pub(crate) fn encode_series(buf: &mut Vec<u8>, r: u64, labels: &Labels) {
    frame(buf, REC_SERIES, |b| {
        b.extend_from_slice(&r.to_le_bytes());
        put_uvarint(b, labels.len() as u64);
        for l in labels {
            put_uvarint(b, l.name.len() as u64);
            b.extend_from_slice(l.name.as_bytes());
            put_uvarint(b, l.value.len() as u64);
            b.extend_from_slice(l.value.as_bytes());
        }
    });
}

/// Encodes a samples record onto `buf`.
pub(crate) fn encode_samples(
    buf: &mut Vec<u8>,
    samples: impl ExactSizeIterator<Item = (u64, i64, u64)>,
) {
    frame(buf, REC_SAMPLES, |b| {
        put_uvarint(b, samples.len() as u64);
        let (mut pr, mut pt) = (0u64, 0i64);
        for (r, t, v) in samples {
            put_varint(b, r.wrapping_sub(pr) as i64);
            put_varint(b, t.wrapping_sub(pt));
            b.extend_from_slice(&v.to_le_bytes());
            pr = r;
            pt = t;
        }
    });
}

fn put_f64s(b: &mut Vec<u8>, v: &[f64]) {
    put_uvarint(b, v.len() as u64);
    for x in v {
        b.extend_from_slice(&x.to_bits().to_le_bytes());
    }
}

fn put_spans(b: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(b, spans.len() as u64);
    for s in spans {
        put_varint(b, i64::from(s.offset));
        put_uvarint(b, u64::from(s.length));
    }
}

/// Encodes a histogram samples record onto `buf`: `(ref, t, histogram)`.
pub(crate) fn encode_histograms<'h>(
    buf: &mut Vec<u8>,
    samples: impl ExactSizeIterator<Item = (u64, i64, &'h FloatHistogram)>,
) {
    frame(buf, REC_HISTOGRAMS, |b| {
        put_uvarint(b, samples.len() as u64);
        let (mut pr, mut pt) = (0u64, 0i64);
        for (r, t, h) in samples {
            put_varint(b, r.wrapping_sub(pr) as i64);
            put_varint(b, t.wrapping_sub(pt));
            b.push(match h.counter_reset_hint {
                CounterResetHint::Unknown => 0,
                CounterResetHint::CounterReset => 1,
                CounterResetHint::NotCounterReset => 2,
                CounterResetHint::Gauge => 3,
            });
            put_varint(b, i64::from(h.schema));
            for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
                b.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            put_spans(b, &h.positive_spans);
            put_spans(b, &h.negative_spans);
            put_f64s(b, &h.positive_buckets);
            put_f64s(b, &h.negative_buckets);
            put_f64s(b, &h.custom_values);
            pr = r;
            pt = t;
        }
    });
}

impl Wal {
    /// Opens the log in `dir` for appending: a new segment after the newest one.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes: u64,
        policy: FsyncPolicy,
    ) -> std::io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let seg = segments(dir)?.last().map_or(1, |s| s + 1);
        let file = create_segment(dir, seg)?;
        let sync_handle = std::sync::Arc::new(file.try_clone()?);
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment_bytes,
            policy,
            writer: Mutex::new(Writer {
                seg,
                file,
                sync_handle,
                size: 0,
                buf: Vec::new(),
                dirty: false,
            }),
            counters: WalCounters::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Buffers the record of a newly created series; it is written with the next commit.
    pub(crate) fn log_series(&self, r: u64, labels: &Labels) {
        encode_series(&mut self.lock().buf, r, labels);
    }

    /// Logs a retention pass (with any series records buffered before it), so a replay drops
    /// what the pass dropped.
    pub(crate) fn log_truncate(&self, cutoff: i64) {
        let mut w = self.lock();
        frame(&mut w.buf, REC_TRUNCATE, |b| {
            b.extend_from_slice(&cutoff.to_le_bytes())
        });
        if let Err(e) = self.write_out(&mut w) {
            self.write_failed(&e);
        }
    }

    /// Writes the samples of one commit (with any series records buffered before them).
    /// `(ref, t, value bits)`.
    pub(crate) fn log_samples(&self, samples: impl ExactSizeIterator<Item = (u64, i64, u64)>) {
        let mut w = self.lock();
        if samples.len() > 0 {
            encode_samples(&mut w.buf, samples);
        }
        if let Err(e) = self.write_out(&mut w) {
            self.write_failed(&e);
        }
    }

    /// Writes the records `encode` puts in the buffer (after any series records buffered
    /// before them) in one write: the samples of one commit.
    pub(crate) fn log_records(&self, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut w = self.lock();
        encode(&mut w.buf);
        if let Err(e) = self.write_out(&mut w) {
            self.write_failed(&e);
        }
    }

    /// Counts a failed write (a full disk fails every commit: the log says so at the 1st,
    /// 2nd, 4th, 8th... failure, not at each).
    fn write_failed(&self, e: &std::io::Error) {
        let n = self.counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::error!(error = %e, failures = n, "writing the write-ahead log; the samples stay in memory");
        }
    }

    fn write_out(&self, w: &mut Writer) -> std::io::Result<()> {
        if w.buf.is_empty() {
            return Ok(());
        }
        if w.size > 0 && w.size + w.buf.len() as u64 > self.segment_bytes {
            self.cut(w)?;
        }
        w.file.write_all(&w.buf)?;
        w.size += w.buf.len() as u64;
        self.counters
            .bytes_written
            .fetch_add(w.buf.len() as u64, Ordering::Relaxed);
        w.buf.clear();
        w.dirty = true;
        if self.policy == FsyncPolicy::Always {
            self.fsync(w)?;
        }
        Ok(())
    }

    fn fsync(&self, w: &mut Writer) -> std::io::Result<()> {
        if !w.dirty {
            return Ok(());
        }
        let start = Instant::now();
        w.file.sync_data()?;
        w.dirty = false;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.counters
            .fsync_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Syncs the current segment and starts the next.
    fn cut(&self, w: &mut Writer) -> std::io::Result<()> {
        self.fsync(w)?;
        let seg = w.seg + 1;
        w.file = create_segment(&self.dir, seg)?;
        w.sync_handle = std::sync::Arc::new(w.file.try_clone()?);
        w.seg = seg;
        w.size = 0;
        Ok(())
    }

    /// Writes what is buffered and syncs it (the service's sync task under
    /// [`FsyncPolicy::Interval`], and shutdown).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        let handle = {
            let mut w = self.lock();
            self.write_out(&mut w)?;
            if !w.dirty {
                return Ok(());
            }
            w.dirty = false;
            w.sync_handle.clone()
        };
        let start = Instant::now();
        if let Err(e) = handle.sync_data() {
            // Synced again next time.
            self.lock().dirty = true;
            return Err(e);
        }
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.counters
            .fsync_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Writes what is buffered, syncs it and starts a new segment; returns its number. Every
    /// record logged after this lands in that segment or a later one.
    pub(crate) fn rotate(&self) -> std::io::Result<u64> {
        let mut w = self.lock();
        self.write_out(&mut w)?;
        self.cut(&mut w)?;
        Ok(w.seg)
    }

    /// Removes every segment numbered below `seg`; returns how many.
    pub(crate) fn remove_before(&self, seg: u64) -> std::io::Result<usize> {
        let mut n = 0;
        for s in segments(&self.dir)? {
            if s < seg {
                std::fs::remove_file(self.dir.join(segment_name(s)))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Number of segments, their total size, and the current segment's number.
    pub(crate) fn usage(&self) -> (usize, u64, u64) {
        let current = self.lock().seg;
        let mut n = 0;
        let mut bytes = 0;
        if let Ok(segs) = segments(&self.dir) {
            for s in segs {
                n += 1;
                bytes += std::fs::metadata(self.dir.join(segment_name(s))).map_or(0, |m| m.len());
            }
        }
        (n, bytes, current)
    }
}

fn create_segment(dir: &Path, seg: u64) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(segment_name(seg)))?;
    // The new name must survive a crash as well as its contents.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// A record read back from the log.
pub(crate) enum Record<'a> {
    Series(u64, Labels),
    /// The decoded samples `(ref, t, value bits)` of one commit.
    Samples(&'a [(u64, i64, u64)]),
    /// Decoded histogram samples `(ref, t, histogram)` of one commit.
    Histograms(&'a [(u64, i64, FloatHistogram)]),
    /// A retention pass with this cutoff.
    Truncate(i64),
}

/// What replay found wrong, and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalRepair {
    /// The segment and byte offset where the log was cut.
    pub segment: u64,
    pub offset: u64,
    /// Why: a torn last record, or damage (with the reason).
    pub reason: String,
    /// Later segments removed with the damage.
    pub segments_removed: usize,
}

/// What [`replay`] read.
#[derive(Debug, Default)]
pub(crate) struct WalReplay {
    pub(crate) segments: usize,
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) repair: Option<WalRepair>,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// Reads an unsigned LEB128 varint from the bytes `next` yields; `None` when they run out or
/// the value passes 64 bits.
pub(crate) fn read_uvarint(mut next: impl FnMut() -> Option<u8>) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = next()?;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

impl Cursor<'_> {
    fn uvarint(&mut self) -> Option<u64> {
        read_uvarint(|| {
            let byte = *self.b.get(self.i)?;
            self.i += 1;
            Some(byte)
        })
    }

    fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }

    fn u64(&mut self) -> Option<u64> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }

    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }
}

fn decode_series(payload: &[u8]) -> Option<(u64, Labels)> {
    let mut c = Cursor { b: payload, i: 0 };
    let r = c.u64()?;
    let n = c.uvarint()?;
    let mut pairs = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let name = c.string()?;
        let value = c.string()?;
        pairs.push((name, value));
    }
    Some((r, Labels::from_pairs(pairs)))
}

/// Decodes a samples or histogram samples record: a count, then per sample the ref and
/// timestamp deltas and the value `value` reads.
fn decode_logged<T>(
    payload: &[u8],
    out: &mut Vec<(u64, i64, T)>,
    mut value: impl FnMut(&mut Cursor<'_>) -> Option<T>,
) -> Option<()> {
    let mut c = Cursor { b: payload, i: 0 };
    let n = c.uvarint()?;
    out.clear();
    let (mut r, mut t) = (0u64, 0i64);
    for _ in 0..n {
        r = r.wrapping_add(c.varint()? as u64);
        t = t.wrapping_add(c.varint()?);
        out.push((r, t, value(&mut c)?));
    }
    Some(())
}

impl Cursor<'_> {
    fn f64s(&mut self) -> Option<Vec<f64>> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        if n > self.b.len() / 8 {
            return None;
        }
        (0..n).map(|_| Some(f64::from_bits(self.u64()?))).collect()
    }

    fn spans(&mut self) -> Option<Vec<Span>> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        if n > self.b.len() {
            return None;
        }
        (0..n)
            .map(|_| {
                Some(Span {
                    offset: i32::try_from(self.varint()?).ok()?,
                    length: u32::try_from(self.uvarint()?).ok()?,
                })
            })
            .collect()
    }

    fn histogram(&mut self) -> Option<FloatHistogram> {
        let hint = match self.bytes(1)?[0] {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            _ => return None,
        };
        let schema = i32::try_from(self.varint()?).ok()?;
        let mut f = || Some(f64::from_bits(self.u64()?));
        let (zero_threshold, zero_count, count, sum) = (f()?, f()?, f()?, f()?);
        Some(FloatHistogram {
            counter_reset_hint: hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans: self.spans()?,
            negative_spans: self.spans()?,
            positive_buckets: self.f64s()?,
            negative_buckets: self.f64s()?,
            custom_values: self.f64s()?,
        })
    }
}

/// Reads the log in `dir` from segment `from` on, calling `visit` with each record in order.
/// Repairs a torn tail or damage as described in the module doc.
pub(crate) fn replay(
    dir: &Path,
    from: u64,
    mut visit: impl FnMut(Record<'_>),
) -> std::io::Result<WalReplay> {
    let segs: Vec<u64> = segments(dir)?.into_iter().filter(|&s| s >= from).collect();
    let mut out = WalReplay::default();
    let mut payload = Vec::new();
    let mut raw = Vec::new();
    let mut samples = Vec::new();
    let mut histograms = Vec::new();
    for (k, &seg) in segs.iter().enumerate() {
        let path = dir.join(segment_name(seg));
        let file = File::open(&path)?;
        let size = file.metadata()?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        out.segments += 1;
        let mut at = 0u64;
        let last = k + 1 == segs.len();
        let damage = loop {
            if at == size {
                break None;
            }
            let mut frame = [0u8; FRAME];
            if size - at < FRAME as u64 {
                break Some("torn record header".to_string());
            }
            r.read_exact(&mut frame)?;
            let kind = frame[0];
            let len = u32::from_le_bytes([frame[1], frame[2], frame[3], frame[4]]);
            let want = u32::from_le_bytes([frame[5], frame[6], frame[7], frame[8]]);
            let base = kind & !COMPRESSED;
            if !(REC_SERIES..=REC_HISTOGRAMS).contains(&base) || len > MAX_PAYLOAD {
                break Some(format!("bad record header (type {kind}, length {len})"));
            }
            if size - at - (FRAME as u64) < u64::from(len) {
                break Some(format!("torn record (length {len})"));
            }
            payload.resize(len as usize, 0);
            r.read_exact(&mut payload)?;
            if crc32fast::hash(&payload) != want {
                break Some("checksum mismatch".to_string());
            }
            let body: Option<&[u8]> = if kind & COMPRESSED == 0 {
                Some(&payload)
            } else {
                snap::raw::decompress_len(&payload)
                    .ok()
                    .filter(|n| *n <= MAX_PAYLOAD as usize)
                    .and_then(|n| {
                        raw.resize(n, 0);
                        snap::raw::Decoder::new()
                            .decompress(&payload, &mut raw)
                            .ok()
                    })
                    .map(|n| &raw[..n])
            };
            let ok = body.and_then(|body| match base {
                REC_SERIES => decode_series(body).map(|(r, l)| visit(Record::Series(r, l))),
                REC_TRUNCATE => <[u8; 8]>::try_from(body)
                    .ok()
                    .map(|b| visit(Record::Truncate(i64::from_le_bytes(b)))),
                REC_HISTOGRAMS => decode_logged(body, &mut histograms, |c| c.histogram())
                    .map(|()| visit(Record::Histograms(&histograms))),
                _ => decode_logged(body, &mut samples, |c| c.u64())
                    .map(|()| visit(Record::Samples(&samples))),
            });
            if ok.is_none() {
                break Some("undecodable record".to_string());
            }
            out.records += 1;
            at += FRAME as u64 + u64::from(len);
            out.bytes += FRAME as u64 + u64::from(len);
        };
        if let Some(reason) = damage {
            // A torn tail is the normal end of a killed process; anything else is damage.
            let torn = last && reason.starts_with("torn");
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(at)?;
            f.sync_all()?;
            let mut removed = 0;
            for &later in &segs[k + 1..] {
                std::fs::remove_file(dir.join(segment_name(later)))?;
                removed += 1;
            }
            out.repair = Some(WalRepair {
                segment: seg,
                offset: at,
                reason: if torn {
                    reason
                } else {
                    format!("damaged: {reason}")
                },
                segments_removed: removed,
            });
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: &str) -> Labels {
        Labels::from_pairs([("__name__", n), ("job", "x")])
    }

    type Read = (Vec<(u64, Labels)>, Vec<(u64, i64, u64)>, WalReplay);

    fn read_all(dir: &Path) -> Read {
        let mut series = Vec::new();
        let mut samples = Vec::new();
        let rep = replay(dir, 0, |rec| match rec {
            Record::Series(r, l) => series.push((r, l)),
            Record::Samples(s) => samples.extend_from_slice(s),
            Record::Truncate(_) | Record::Histograms(_) => {}
        })
        .unwrap();
        (series, samples, rep)
    }

    #[test]
    fn records_replay_in_order_across_segments() {
        let dir = crate::testdir::TempDir::new("wal");
        let wal = Wal::open(dir.path(), 64, FsyncPolicy::Never).unwrap();
        wal.log_series(5, &labels("a"));
        wal.log_samples([(5, 1000, 1.5f64.to_bits())].into_iter());
        wal.log_series(1 << 40, &labels("b"));
        wal.log_samples(
            [
                (1 << 40, 1000, crate::store::STALE_NAN_BITS),
                (5, 2000, 2.5f64.to_bits()),
            ]
            .into_iter(),
        );
        wal.sync().unwrap();
        assert!(wal.usage().0 >= 2, "64-byte segments are cut");
        let (series, samples, rep) = read_all(dir.path());
        assert_eq!(series, vec![(5, labels("a")), (1 << 40, labels("b"))]);
        assert_eq!(
            samples,
            vec![
                (5, 1000, 1.5f64.to_bits()),
                (1 << 40, 1000, crate::store::STALE_NAN_BITS),
                (5, 2000, 2.5f64.to_bits())
            ]
        );
        assert!(rep.repair.is_none());
    }

    #[test]
    fn large_commits_are_stored_compressed_and_read_back_exactly() {
        let dir = crate::testdir::TempDir::new("wal");
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Never).unwrap();
        let want: Vec<(u64, i64, u64)> = (0..500u64)
            .map(|i| {
                (
                    (i << 32) | (i % 7) << 8 | (i % 256),
                    60_000,
                    (i as f64 * 1.25).to_bits(),
                )
            })
            .collect();
        wal.log_samples(want.iter().copied());
        wal.sync().unwrap();
        let bytes = std::fs::read(dir.path().join(segment_name(1))).unwrap();
        assert_eq!(bytes[0], REC_SAMPLES | COMPRESSED);
        assert!(
            bytes.len() < 500 * 17,
            "{} bytes for 500 samples",
            bytes.len()
        );
        let (_, got, rep) = read_all(dir.path());
        assert_eq!(got, want);
        assert!(rep.repair.is_none());
    }

    #[test]
    fn a_torn_tail_is_cut_and_damage_ends_the_log() {
        let dir = crate::testdir::TempDir::new("wal");
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Never).unwrap();
        wal.log_series(1, &labels("a"));
        wal.log_samples([(1, 1, 0)].into_iter());
        wal.log_samples([(1, 2, 0)].into_iter());
        let seg = wal.rotate().unwrap();
        wal.log_samples([(1, 3, 0)].into_iter());
        wal.sync().unwrap();
        drop(wal);
        // Tear the last record.
        let last = dir.path().join(segment_name(seg));
        let len = std::fs::metadata(&last).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (_, samples, rep) = read_all(dir.path());
        assert_eq!(samples.len(), 2);
        let rep = rep.repair.unwrap();
        assert!(rep.reason.starts_with("torn"), "{rep:?}");
        assert_eq!((rep.segment, rep.offset, rep.segments_removed), (seg, 0, 0));
        // Damage in the middle of the first segment: the log ends before it, later segments go.
        let first = dir.path().join(segment_name(seg - 1));
        let mut bytes = std::fs::read(&first).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0xff;
        std::fs::write(&first, &bytes).unwrap();
        let (series, samples, rep) = read_all(dir.path());
        assert_eq!((series.len(), samples.len()), (1, 1));
        let rep = rep.repair.unwrap();
        assert!(rep.reason.contains("checksum"), "{rep:?}");
        assert_eq!(rep.segments_removed, 1);
        assert!(!last.exists());
    }
}
