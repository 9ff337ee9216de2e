//! The durable store: a [`Store`] whose samples survive a restart.
//!
//! [`Store::open`] keeps three things under its directory (`redline run` uses
//! `<state-dir>/tsdb`):
//! - `wal/`: the write-ahead log (`wal.rs`) of series creations and committed samples;
//! - `chunks/`: chunk files (`chunkfile.rs`) holding every closed chunk, so closed chunks do
//!   not stay on the heap: [`Store::persist_chunks`] moves them there (the service calls it
//!   every few seconds);
//! - `snapshot.NNNNNNNN`: a checkpoint of the head (each series' labels, newest sample, open
//!   chunk and closed chunks not yet on disk) covering the log before segment `NNNNNNNN`.
//!
//! [`Store::checkpoint`] cuts the log, moves closed chunks to disk, writes a snapshot and
//! removes what it made redundant: the log segments before the previous snapshot (two are
//! kept, so a damaged newest one falls back to the one before and a longer stretch of log).
//! Series that retention removed are in no later snapshot, which is how the log forgets them.
//! A clean shutdown ([`Store::close`]) writes one, so the next start replays almost no log.
//!
//! Start ([`Store::open`]): the chunk files are scanned (handles per series ref), the newest
//! readable snapshot restores the series under their own refs, then the log from the
//! snapshot's segment on is replayed. Chunks on disk win over a snapshot's copy of the same
//! samples; a logged sample not newer than its series' newest is skipped (it is already
//! there), so replay is idempotent and a snapshot taken while commits go on is consistent.
//! A torn or damaged log, chunk file or snapshot is repaired and reported
//! ([`ReplayReport`]), never fatal.

use super::appender::WrittenHistogram;
use super::chunk::is_histogram_chunk;
use super::chunk::{ChunkIter, ClosedChunk};
use super::chunkfile::{ChunkFiles, DiskChunk};
use super::db::{SeriesRef, Store, StoreOptions, SHARDS};
use super::histchunk::{histogram_digest, HistIter};
use super::series::{Head, Last, Series};
use super::shard::ref_parts;
use super::wal::{self, put_uvarint, FsyncPolicy, Record, Wal, WalRepair};
use super::{Label, Labels};
use crate::histogram::FloatHistogram;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SNAP_MAGIC: &[u8; 4] = b"RLSN";
/// Version 3 marks a series' newest sample as a float (1) or a histogram (2); version 2,
/// floats only, is still read.
const SNAP_VERSION: u8 = 3;

/// Where and how a store keeps its data on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableOptions {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// A log segment is cut once it passes this size.
    pub segment_bytes: u64,
    /// A chunk file is cut once it passes this size.
    pub chunk_file_bytes: u64,
}

impl DurableOptions {
    /// 128 MiB log segments and chunk files (Prometheus' sizes), fsync every second.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DurableOptions {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            segment_bytes: 128 << 20,
            chunk_file_bytes: 128 << 20,
        }
    }
}

/// Why a durable store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// Another process (or another store in this one) has the directory open.
    #[error("{path} is locked by another redline using the same --state-dir")]
    Locked { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DurableError + '_ {
    move |source| DurableError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a start found on disk and did with it.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    /// The snapshot restored, if any (its file name).
    pub snapshot: Option<String>,
    /// Snapshots that could not be read (name and why), newest first.
    pub snapshots_skipped: Vec<String>,
    pub series: usize,
    pub wal_segments: usize,
    pub wal_records: u64,
    pub wal_bytes: u64,
    /// Logged samples applied, and those skipped because the store already had them.
    pub samples_replayed: u64,
    pub samples_skipped: u64,
    pub chunk_files_chunks: usize,
    /// Chunks on disk whose series no longer exists (removed by retention before the crash).
    pub orphan_chunks: usize,
    pub wal_repair: Option<WalRepair>,
    /// Chunk files cut at a torn or damaged record.
    pub chunk_files_repaired: Vec<String>,
    pub duration: Duration,
}

impl ReplayReport {
    /// Repairs made: a cut log, cut chunk files, unreadable snapshots.
    pub fn repairs(&self) -> usize {
        usize::from(self.wal_repair.is_some())
            + self.chunk_files_repaired.len()
            + self.snapshots_skipped.len()
    }
}

/// Running figures of the durable parts, for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DurableStats {
    pub wal_segments: usize,
    pub wal_bytes: u64,
    pub wal_current_segment: u64,
    pub wal_fsyncs_total: u64,
    pub wal_fsync_seconds_total: f64,
    pub wal_write_errors_total: u64,
    pub chunk_files: usize,
    pub chunk_file_bytes: u64,
    pub chunks_on_disk: usize,
    pub chunk_read_errors_total: u64,
    pub checkpoints_total: u64,
    pub checkpoint_failures_total: u64,
    pub last_checkpoint_seconds: f64,
    pub replay_seconds: f64,
    pub repairs_total: u64,
}

pub(crate) struct Durable {
    dir: PathBuf,
    /// Held (an exclusive `flock`) while the store is open.
    _lock: std::fs::File,
    pub(crate) wal: Wal,
    pub(crate) chunks: ChunkFiles,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    last_checkpoint_nanos: AtomicU64,
    replay_nanos: u64,
    repairs: u64,
    /// Serialises checkpoints and chunk persistence.
    maintenance: std::sync::Mutex<Vec<u8>>,
}

fn snapshot_name(seg: u64) -> String {
    format!("snapshot.{seg:08}")
}

/// The snapshots in `dir`, newest first.
fn snapshots(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.strip_prefix("snapshot.")?.parse().ok()
        })
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    Ok(v)
}

impl Store {
    /// Opens (creating) the durable store in `durable.dir` and restores what is there.
    pub fn open(
        opts: StoreOptions,
        durable: DurableOptions,
    ) -> Result<(Store, ReplayReport), DurableError> {
        let start = Instant::now();
        let dir = durable.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(DurableError::Locked {
                    path: dir.display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let chunk_dir = dir.join("chunks");
        let wal_dir = dir.join("wal");
        let (chunks, scan) =
            ChunkFiles::open(&chunk_dir, durable.chunk_file_bytes).map_err(io_err(&chunk_dir))?;
        let mut report = ReplayReport {
            chunk_files_chunks: scan.chunks,
            chunk_files_repaired: scan.repaired,
            ..ReplayReport::default()
        };
        for f in &report.chunk_files_repaired {
            tracing::warn!(file = %f, "chunk file cut at a torn or damaged record");
        }
        let mut on_disk = scan.by_series;
        let mut store = Store::with_options(opts);
        let mut max_seq = 0u32;
        let mut from_seg = 0u64;
        // Earlier incarnations of re-created series, removed from the index once it is sorted.
        let mut evicted = Vec::new();
        std::fs::create_dir_all(&wal_dir).map_err(io_err(&wal_dir))?;
        for seg in snapshots(&dir).map_err(io_err(&dir))? {
            let path = dir.join(snapshot_name(seg));
            match restore_snapshot(&store, &path, &mut on_disk, &mut max_seq, &mut evicted) {
                Ok(n) => {
                    report.snapshot = Some(snapshot_name(seg));
                    report.series = n;
                    from_seg = seg;
                    break;
                }
                Err(why) => {
                    tracing::warn!(file = %path.display(), error = %why, "skipping an unreadable snapshot");
                    report
                        .snapshots_skipped
                        .push(format!("{}: {why}", snapshot_name(seg)));
                    // Start again from an empty store for the next candidate.
                    store = Store::with_options(StoreOptions {
                        retention: Duration::from_millis(store.retention_ms() as u64),
                    });
                    max_seq = 0;
                    evicted.clear();
                }
            }
        }
        let (mut applied, mut skipped) = (0u64, 0u64);
        let mut cutoff = i64::MIN;
        let rep = wal::replay(&wal_dir, from_seg, |rec| match rec {
            Record::Series(r, labels) => {
                if restore_series(&store, r, &labels, &mut on_disk, &mut evicted) {
                    report.series += 1;
                    max_seq = max_seq.max(ref_parts(r).0);
                }
            }
            Record::Samples(samples) => {
                let (a, k) = apply_logged(&store, samples, |s, acct, t, v| {
                    s.append(t, f64::from_bits(*v), acct);
                });
                (applied, skipped) = (applied + a, skipped + k);
            }
            Record::Histograms(samples) => {
                let (a, k) = apply_logged(&store, samples, |s, acct, t, h| {
                    s.append_histogram(t, h, acct);
                });
                (applied, skipped) = (applied + a, skipped + k);
            }
            Record::Truncate(c) => cutoff = cutoff.max(c),
        })
        .map_err(io_err(&wal_dir))?;
        report.wal_segments = rep.segments;
        report.wal_records = rep.records;
        report.wal_bytes = rep.bytes;
        report.samples_replayed = applied;
        report.samples_skipped = skipped;
        if let Some(r) = &rep.repair {
            tracing::warn!(segment = r.segment, offset = r.offset, reason = %r.reason, removed = r.segments_removed, "write-ahead log cut");
        }
        report.wal_repair = rep.repair;
        // The index was filled unsorted; sort it, then drop the evicted incarnations.
        store.postings_sort();
        store.unindex(&evicted);
        // Retention passes since the snapshot: samples appended after a pass are never older
        // than its cutoff, so applying the last one at the end drops what they dropped.
        if cutoff > i64::MIN {
            store.truncate(cutoff);
        }
        report.orphan_chunks = on_disk.values().map(Vec::len).sum();
        for refs in on_disk.keys() {
            max_seq = max_seq.max(ref_parts(*refs).0);
        }
        store.finish_replay(max_seq, &chunks);
        let wal =
            Wal::open(&wal_dir, durable.segment_bytes, durable.fsync).map_err(io_err(&wal_dir))?;
        report.duration = start.elapsed();
        store.durable = Some(Durable {
            dir,
            _lock: lock,
            wal,
            chunks,
            checkpoints: AtomicU64::new(0),
            checkpoint_failures: AtomicU64::new(0),
            last_checkpoint_nanos: AtomicU64::new(0),
            replay_nanos: report.duration.as_nanos() as u64,
            repairs: report.repairs() as u64,
            maintenance: std::sync::Mutex::new(Vec::new()),
        });
        Ok((store, report))
    }

    /// After replay: the free slots, the creation counter past every ref seen, the newest
    /// sample of each series restored from disk where only a chunk file had it, and no series
    /// left without samples.
    fn finish_replay(&self, max_seq: u32, files: &ChunkFiles) {
        let mut removed = Vec::new();
        for si in 0..SHARDS {
            let mut shard = self.shard_write(si);
            shard.rebuild_free();
            let ids: Vec<u64> = shard.iter(si).map(|(id, _)| id).collect();
            for id in ids {
                let Some((s, _)) = shard.get_mut(id) else {
                    continue;
                };
                if !s.has_samples() {
                    if let Some(l) = shard.remove(id) {
                        removed.push((id, l));
                    }
                    continue;
                }
                // A series whose newest sample is only in a chunk file: read its value.
                let from_disk = s.head.is_none()
                    && s.chunks.is_empty()
                    && s.last.is_some_and(|l| {
                        l.value == 0 && Some(l.t) == s.disk.last().map(DiskChunk::max_t)
                    });
                if let (true, Some(files), Some(c)) = (from_disk, Some(files), s.disk.last()) {
                    let mut buf = Vec::new();
                    if files.read_into(c, &mut buf).is_ok() {
                        s.last = last_of_chunk(&buf).or(s.last);
                    }
                }
            }
        }
        self.unindex(&removed);
        self.set_next_seq(u64::from(max_seq) + 1);
    }

    pub(crate) fn chunk_files(&self) -> Option<&ChunkFiles> {
        self.durable.as_ref().map(|d| &d.chunks)
    }

    /// Moves every closed chunk still in memory to the chunk files (a no-op for an in-memory
    /// store); returns how many moved.
    pub fn persist_chunks(&self) -> Result<usize, DurableError> {
        let Some(d) = &self.durable else { return Ok(0) };
        let mut buf = d.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        self.persist_locked(d, &mut buf)
    }

    fn persist_locked(&self, d: &Durable, buf: &mut Vec<u8>) -> Result<usize, DurableError> {
        let mut moved = 0;
        for si in 0..SHARDS {
            moved += self
                .shard_write(si)
                .persist(si, &d.chunks, buf)
                .map_err(io_err(&d.dir.join("chunks")))?;
        }
        if buf.capacity() > 4 << 20 {
            *buf = Vec::new();
        }
        Ok(moved)
    }

    /// Closes every open chunk early and moves all closed chunks to disk, so every sample
    /// stored so far is read back from the chunk files. For tests and benchmarks that must
    /// read through the disk path; the service never calls it.
    pub fn flush_heads_to_disk(&self) -> Result<usize, DurableError> {
        for si in 0..SHARDS {
            self.shard_write(si).close_heads();
        }
        self.persist_chunks()
    }

    /// Writes buffered log records and syncs the log and the chunk file being written.
    pub fn sync(&self) -> Result<(), DurableError> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        d.wal.sync().map_err(io_err(&d.dir.join("wal")))?;
        d.chunks.sync().map_err(io_err(&d.dir.join("chunks")))
    }

    /// Cuts the log, moves closed chunks to disk, writes a snapshot of the head and removes
    /// the log segments and snapshots it made redundant (see the module doc).
    pub fn checkpoint(&self) -> Result<(), DurableError> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        let start = Instant::now();
        let r = self.checkpoint_inner(d);
        match &r {
            Ok(()) => {
                d.checkpoints.fetch_add(1, Ordering::Relaxed);
                d.last_checkpoint_nanos
                    .store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                d.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "store checkpoint failed");
            }
        }
        r
    }

    fn checkpoint_inner(&self, d: &Durable) -> Result<(), DurableError> {
        let mut buf = d.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let wal_dir = d.dir.join("wal");
        let seg = d.wal.rotate().map_err(io_err(&wal_dir))?;
        self.persist_locked(d, &mut buf)?;
        d.chunks.sync().map_err(io_err(&d.dir.join("chunks")))?;
        let path = d.dir.join(snapshot_name(seg));
        let tmp = d.dir.join("snapshot.tmp");
        self.write_snapshot(&tmp, seg).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        std::fs::File::open(&d.dir)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&d.dir))?;
        // Keep this snapshot and the one before it, and the log since the older one.
        let snaps = snapshots(&d.dir).map_err(io_err(&d.dir))?;
        let keep_from = snaps.get(1).copied().unwrap_or(seg);
        for old in snaps.iter().skip(2) {
            let p = d.dir.join(snapshot_name(*old));
            std::fs::remove_file(&p).map_err(io_err(&p))?;
        }
        d.wal.remove_before(keep_from).map_err(io_err(&wal_dir))?;
        Ok(())
    }

    /// Writes the snapshot (format in [`restore_snapshot`]): the symbol table as it is now,
    /// then each series, preceded by any symbol it uses that was interned since.
    fn write_snapshot(&self, path: &Path, seg: u64) -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut crc = crc32fast::Hasher::new();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(SNAP_MAGIC);
        buf.extend_from_slice(&[SNAP_VERSION, 0, 0, 0]);
        buf.extend_from_slice(&seg.to_le_bytes());
        buf.extend_from_slice(&self.min_valid_time().to_le_bytes());
        let table_len = self.symbols.with_resolver(|r| -> std::io::Result<u32> {
            let n = r.len();
            put_uvarint(&mut buf, n as u64);
            for id in 0..n {
                let s = r.get(id as u32);
                put_uvarint(&mut buf, s.len() as u64);
                buf.extend_from_slice(s.as_bytes());
                if buf.len() >= 1 << 16 {
                    crc.update(&buf);
                    w.write_all(&buf)?;
                    buf.clear();
                }
            }
            Ok(n as u32)
        })?;
        let mut later: std::collections::HashSet<u32> = Default::default();
        for si in 0..SHARDS {
            {
                let shard = self.shard_read(si);
                for (id, s) in shard.iter(si) {
                    for &sym in s.labels.iter().filter(|&&y| y >= table_len) {
                        if later.insert(sym) {
                            buf.push(2);
                            put_uvarint(&mut buf, u64::from(sym));
                            self.symbols.with_resolver(|r| {
                                let text = r.get(sym);
                                put_uvarint(&mut buf, text.len() as u64);
                                buf.extend_from_slice(text.as_bytes());
                            });
                        }
                    }
                    buf.push(1);
                    buf.extend_from_slice(&id.to_le_bytes());
                    put_uvarint(&mut buf, s.labels.len() as u64);
                    for sym in s.labels.iter() {
                        put_uvarint(&mut buf, u64::from(*sym));
                    }
                    match s.last {
                        Some(l) => {
                            buf.push(if l.histogram { 2 } else { 1 });
                            buf.extend_from_slice(&l.t.to_le_bytes());
                            buf.extend_from_slice(&l.value.to_le_bytes());
                        }
                        None => buf.push(0),
                    }
                    put_uvarint(&mut buf, s.chunks.len() as u64);
                    for c in &s.chunks {
                        put_uvarint(&mut buf, c.raw().len() as u64);
                        buf.extend_from_slice(c.raw());
                    }
                    let head = s.head.as_ref().map_or(&[][..], Head::bytes);
                    put_uvarint(&mut buf, head.len() as u64);
                    buf.extend_from_slice(head);
                }
            }
            if buf.len() >= 1 << 16 {
                crc.update(&buf);
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        buf.push(0);
        crc.update(&buf);
        w.write_all(&buf)?;
        w.write_all(&crc.finalize().to_le_bytes())?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }

    /// Flushes the log and, with `snapshot`, writes a shutdown checkpoint so the next start
    /// replays almost no log.
    pub fn close(&self, snapshot: bool) -> Result<(), DurableError> {
        if snapshot {
            self.checkpoint()?;
        }
        self.sync()
    }

    /// Figures of the durable parts; `None` for an in-memory store.
    pub fn durable_stats(&self) -> Option<DurableStats> {
        let d = self.durable.as_ref()?;
        let (wal_segments, wal_bytes, wal_current_segment) = d.wal.usage();
        let (chunk_files, chunk_file_bytes) = d.chunks.usage();
        let mut chunks_on_disk = 0;
        for si in 0..SHARDS {
            chunks_on_disk += self.shard_read(si).acct.disk_chunks;
        }
        let c = &d.wal.counters;
        Some(DurableStats {
            wal_segments,
            wal_bytes,
            wal_current_segment,
            wal_fsyncs_total: c.fsyncs.load(Ordering::Relaxed),
            wal_fsync_seconds_total: c.fsync_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            wal_write_errors_total: c.write_errors.load(Ordering::Relaxed),
            chunk_files,
            chunk_file_bytes,
            chunks_on_disk,
            chunk_read_errors_total: super::chunkfile::read_errors(),
            checkpoints_total: d.checkpoints.load(Ordering::Relaxed),
            checkpoint_failures_total: d.checkpoint_failures.load(Ordering::Relaxed),
            last_checkpoint_seconds: d.last_checkpoint_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            replay_seconds: d.replay_nanos as f64 / 1e9,
            repairs_total: d.repairs,
        })
    }

    /// Removes the chunk files retention emptied (after [`Store::truncate`] dropped their
    /// handles).
    pub(crate) fn remove_chunk_files_before(&self, before: i64) {
        if let Some(d) = &self.durable {
            if let Err(e) = d.chunks.remove_before(before) {
                tracing::error!(error = %e, "removing chunk files past retention");
            }
        }
    }

    /// Logs the record of a series just created.
    pub(crate) fn log_series(&self, r: u64, labels: &Labels) {
        if let Some(d) = &self.durable {
            d.wal.log_series(r, labels);
        }
    }

    /// Logs a retention pass.
    pub(crate) fn log_truncate(&self, cutoff: i64) {
        if let Some(d) = &self.durable {
            d.wal.log_truncate(cutoff);
        }
    }

    /// Logs the samples of one commit.
    pub(crate) fn log_samples(&self, samples: &[super::CommittedSample]) {
        if let Some(d) = &self.durable {
            d.wal.log_samples(
                samples
                    .iter()
                    .map(|s| (s.series.as_u64(), s.t_ms, s.v.to_bits())),
            );
        }
    }

    /// Logs the samples of a commit that wrote histograms: alternating float and histogram
    /// records, a new pair started before a float whose series has a histogram in the
    /// current pair, so replay applies each series' samples in commit order.
    pub(crate) fn log_commit(
        &self,
        floats: &[super::CommittedSample],
        histograms: &[WrittenHistogram],
        values: &[FloatHistogram],
    ) {
        let Some(d) = &self.durable else { return };
        let pair = |buf: &mut Vec<u8>, f: &[super::CommittedSample], h: &[WrittenHistogram]| {
            if !f.is_empty() {
                wal::encode_samples(
                    buf,
                    f.iter().map(|s| (s.series.as_u64(), s.t_ms, s.v.to_bits())),
                );
            }
            if !h.is_empty() {
                wal::encode_histograms(
                    buf,
                    h.iter()
                        .map(|w| (w.series.as_u64(), w.t_ms, &values[w.index])),
                );
            }
        };
        d.wal.log_records(|buf| {
            let mut in_pair: std::collections::HashSet<SeriesRef> = Default::default();
            let (mut f0, mut h0, mut hi) = (0, 0, 0);
            for (fi, f) in floats.iter().enumerate() {
                while let Some(h) = histograms.get(hi).filter(|h| h.after <= fi) {
                    in_pair.insert(h.series);
                    hi += 1;
                }
                if in_pair.contains(&f.series) {
                    pair(buf, &floats[f0..fi], &histograms[h0..hi]);
                    (f0, h0) = (fi, hi);
                    in_pair.clear();
                }
            }
            pair(buf, &floats[f0..], &histograms[h0..]);
        });
    }

    pub(crate) fn is_durable(&self) -> bool {
        self.durable.is_some()
    }
}

/// Applies logged samples `(ref, t, value)` with `append`, skipping those not newer than
/// their series' newest (already there); one lock per run of one shard (a commit logs its
/// samples grouped by shard). Returns the samples applied and skipped.
fn apply_logged<T>(
    store: &Store,
    samples: &[(u64, i64, T)],
    mut append: impl FnMut(&mut Series, &mut super::series::ShardAccounts, i64, &T),
) -> (u64, u64) {
    let (mut applied, mut skipped) = (0, 0);
    for run in samples.chunk_by(|a, b| SeriesRef(a.0).shard() == SeriesRef(b.0).shard()) {
        let mut shard = store.shard_write(SeriesRef(run[0].0).shard());
        for (r, t, v) in run {
            match shard.get_mut(*r) {
                Some((s, acct)) if s.last.is_none_or(|l| *t > l.t) => {
                    append(s, acct, *t, v);
                    applied += 1;
                }
                _ => skipped += 1,
            }
        }
    }
    (applied, skipped)
}

/// Creates the series `r` with `labels` (unless it exists) and gives it its chunks on disk.
fn restore_series(
    store: &Store,
    r: u64,
    labels: &Labels,
    on_disk: &mut HashMap<u64, Vec<DiskChunk>>,
    evicted: &mut Vec<(u64, Box<[super::symbols::Symbol]>)>,
) -> bool {
    let syms = store.symbols.intern_labels(labels);
    let fp = labels.fingerprint();
    let mut series = Series::new(syms.clone(), fp);
    let mut shard = store.shard_write(SeriesRef(r).shard());
    if shard.get_mut(r).is_some() {
        return false;
    }
    // A later record wins over what the store already holds under the same labels or in the
    // same slot: that series was removed (by retention) before this one was created, as two
    // live series never share labels and a slot is reused only once free.
    let mut gone = Vec::new();
    if let Some(old) = shard.find(fp, labels, &store.symbols) {
        gone.extend(shard.remove(old).map(|l| (old, l)));
    }
    if let Some(old) = shard.occupant(r) {
        gone.extend(shard.remove(old).map(|l| (old, l)));
    }
    let disk = on_disk.remove(&r).unwrap_or_default();
    let mut acct = super::series::ShardAccounts::default();
    attach_disk(&mut series, disk, &mut acct);
    let inserted = shard.insert_at(r, series);
    if inserted {
        shard.acct.merge(&acct);
    }
    drop(shard);
    evicted.extend(gone);
    if inserted {
        store.postings_push_unsorted(r, &syms);
    }
    inserted
}

fn attach_disk(series: &mut Series, disk: Vec<DiskChunk>, acct: &mut super::series::ShardAccounts) {
    for c in &disk {
        acct.add_disk(c);
        acct.chunks += 1;
    }
    if let Some(last) = disk.last() {
        // The value is read back in `finish_replay` if nothing newer turns up.
        series.last = Some(Last::float(last.max_t(), 0));
    }
    series.disk = disk;
}

/// The newest sample of the chunk `data`, of either kind.
fn last_of_chunk(data: &[u8]) -> Option<Last> {
    if is_histogram_chunk(data) {
        HistIter::new(data).last().map(|(t, h)| Last {
            t,
            value: histogram_digest(&h),
            histogram: true,
        })
    } else {
        ChunkIter::new(data)
            .last()
            .map(|(t, v)| Last::float(t, v.to_bits()))
    }
}

/// Reads a snapshot file as a stream, never past `left` bytes (the CRC at its end).
struct SnapReader {
    r: std::io::BufReader<std::fs::File>,
    left: u64,
}

impl SnapReader {
    fn fill(&mut self, out: &mut [u8]) -> Option<()> {
        use std::io::Read;
        if (out.len() as u64) > self.left {
            return None;
        }
        self.r.read_exact(out).ok()?;
        self.left -= out.len() as u64;
        Some(())
    }
    fn u8(&mut self) -> Option<u8> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Some(b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Some(u64::from_le_bytes(b))
    }
    fn uvarint(&mut self) -> Option<u64> {
        wal::read_uvarint(|| self.u8())
    }
    /// A length-prefixed byte string into `out` (replacing its contents).
    fn bytes_into(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        if n as u64 > self.left {
            return None;
        }
        out.clear();
        out.resize(n, 0);
        self.fill(out)
    }
    fn string(&mut self, scratch: &mut Vec<u8>) -> Option<Arc<str>> {
        self.bytes_into(scratch)?;
        std::str::from_utf8(scratch).ok().map(Arc::from)
    }
}

/// Checks a snapshot's CRC in one streaming pass.
fn snapshot_crc_ok(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    if size < 28 {
        return Err("not a redline snapshot (too short)".into());
    }
    let mut crc = crc32fast::Hasher::new();
    let mut left = size - 4;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = (left as usize).min(buf.len());
        f.read_exact(&mut buf[..n]).map_err(|e| e.to_string())?;
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    let mut tail = [0u8; 4];
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    if crc.finalize() != u32::from_le_bytes(tail) {
        return Err("checksum mismatch".into());
    }
    Ok(())
}

/// Restores the series of the snapshot at `path`; returns how many. The file is checked
/// whole (its CRC) before anything is restored, then read as a stream, so restoring holds one
/// series' bytes at a time. Any damage is an error (the caller falls back to an older
/// snapshot).
///
/// Format: `RLSN`, version 2, three zero bytes; the log segment it covers up to (u64 LE);
/// retention's last cutoff (i64 LE); the symbol table (count, then each string as a uvarint
/// length and bytes); entries, each led by a type byte: 1 a series (ref u64 LE, label symbol
/// count and ids, a newest-sample flag [+ t i64 + value bits u64], closed chunks still in
/// memory (count, then each length-prefixed: span varint and chunk bytes), the open chunk
/// (length-prefixed)), 2 a symbol interned after the table was written (id, string), 0 the
/// end; then the CRC-32 of all before.
fn restore_snapshot(
    store: &Store,
    path: &Path,
    on_disk: &mut HashMap<u64, Vec<DiskChunk>>,
    max_seq: &mut u32,
    evicted: &mut Vec<(u64, Box<[super::symbols::Symbol]>)>,
) -> Result<usize, String> {
    snapshot_crc_ok(path)?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut rd = SnapReader {
        r: std::io::BufReader::with_capacity(1 << 20, file),
        left: size - 4,
    };
    let bad = || "truncated or malformed".to_string();
    let mut header = [0u8; 8];
    rd.fill(&mut header).ok_or_else(bad)?;
    if &header[..4] != SNAP_MAGIC || !(2..=SNAP_VERSION).contains(&header[4]) {
        return Err("not a redline snapshot of this version (bad header)".into());
    }
    let _seg = rd.u64().ok_or_else(bad)?;
    // Retention's last cutoff: chunks on disk older than it were dropped before the snapshot
    // (their file may live on for younger chunks in it).
    let cutoff = rd.u64().ok_or_else(bad)? as i64;
    store.truncate_bound(cutoff);
    for chunks in on_disk.values_mut() {
        chunks.retain(|c| c.max_t() >= cutoff);
    }
    let mut scratch = Vec::new();
    let nsym = rd.uvarint().ok_or_else(bad)?;
    let mut strs: Vec<Arc<str>> = Vec::with_capacity(nsym.min(1 << 24) as usize);
    for _ in 0..nsym {
        strs.push(rd.string(&mut scratch).ok_or_else(bad)?);
    }
    let mut restored = 0;
    let mut syms: Vec<u32> = Vec::new();
    let mut mem: Vec<Vec<u8>> = Vec::new();
    let mut head: Vec<u8> = Vec::new();
    loop {
        match rd.u8().ok_or_else(bad)? {
            0 => break,
            1 => {}
            2 => {
                let id = usize::try_from(rd.uvarint().ok_or_else(bad)?).map_err(|_| bad())?;
                let text = rd.string(&mut scratch).ok_or_else(bad)?;
                if id > u32::MAX as usize {
                    return Err(bad());
                }
                if strs.len() <= id {
                    strs.resize(id + 1, Arc::from(""));
                }
                strs[id] = text;
                continue;
            }
            _ => return Err(bad()),
        }
        let r = rd.u64().ok_or_else(bad)?;
        let n = rd.uvarint().ok_or_else(bad)?;
        syms.clear();
        for _ in 0..n {
            syms.push(rd.uvarint().ok_or_else(bad)? as u32);
        }
        let last = match rd.u8().ok_or_else(bad)? {
            0 => None,
            tag @ (1 | 2) => Some(Last {
                t: rd.u64().ok_or_else(bad)? as i64,
                value: rd.u64().ok_or_else(bad)?,
                histogram: tag == 2,
            }),
            _ => return Err(bad()),
        };
        let nmem = rd.uvarint().ok_or_else(bad)? as usize;
        if nmem > 1 << 16 {
            return Err(bad());
        }
        if mem.len() < nmem {
            mem.resize_with(nmem, Vec::new);
        }
        for m in mem.iter_mut().take(nmem) {
            rd.bytes_into(m).ok_or_else(bad)?;
        }
        rd.bytes_into(&mut head).ok_or_else(bad)?;
        let pairs: Option<Vec<Label>> = syms
            .chunks_exact(2)
            .map(|p| {
                Some(Label {
                    name: strs.get(p[0] as usize)?.clone(),
                    value: strs.get(p[1] as usize)?.clone(),
                })
            })
            .collect();
        let labels = Labels::from_sorted_unchecked(pairs.ok_or_else(bad)?);
        if !restore_series(store, r, &labels, on_disk, evicted) {
            continue;
        }
        restored += 1;
        *max_seq = (*max_seq).max(ref_parts(r).0);
        let mut shard = store.shard_write(SeriesRef(r).shard());
        let Some((s, acct)) = shard.get_mut(r) else {
            continue;
        };
        let disk_max = s.disk.last().map_or(i64::MIN, DiskChunk::max_t);
        for raw in mem.iter().take(nmem) {
            let c = ClosedChunk::from_raw(raw.clone().into_boxed_slice());
            if c.min_t() > disk_max && s.chunks.last().is_none_or(|p| c.min_t() > p.max_t()) {
                acct.closed_bytes += super::series::closed_chunk_bytes(&c);
                acct.chunks += 1;
                s.last = Some(Last::float(c.max_t(), 0));
                s.chunks.push(c);
            }
        }
        // The open chunk is rebuilt sample by sample (the encoding is deterministic; a
        // histogram chunk's first sample keeps its reset header through its hint).
        let fresh = |s: &Series, t: i64| s.last.is_none_or(|l| t > l.t) && t > disk_max;
        if is_histogram_chunk(&head) {
            for (t, h) in HistIter::new(&head) {
                if fresh(s, t) {
                    s.append_histogram(t, &h, acct);
                }
            }
        } else {
            for (t, v) in ChunkIter::new(&head) {
                if fresh(s, t) {
                    s.append(t, v, acct);
                }
            }
        }
        if let Some(l) = last {
            if s.last.is_none_or(|sl| l.t >= sl.t) {
                s.last = Some(l);
            }
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Matcher, Querier, SeriesSamples};
    use crate::testdir::TempDir;

    fn small(dir: &Path) -> DurableOptions {
        DurableOptions {
            segment_bytes: 4 << 10,
            chunk_file_bytes: 8 << 10,
            fsync: FsyncPolicy::Never,
            ..DurableOptions::new(dir)
        }
    }

    fn open(dir: &Path) -> (Store, ReplayReport) {
        Store::open(
            StoreOptions {
                retention: Duration::from_secs(365 * 86_400),
            },
            small(dir),
        )
        .unwrap()
    }

    fn labels(i: usize) -> Labels {
        Labels::from_pairs([("__name__", "x".to_string()), ("i", i.to_string())])
    }

    /// Scrapes of `series` series at `t`, values varying with both.
    fn scrape(store: &Store, series: usize, t: i64) {
        let mut app = store.appender();
        for i in 0..series {
            app.append(&labels(i), t, (t / 1000) as f64 * 1.5 + i as f64)
                .unwrap();
        }
        app.commit();
    }

    fn all(store: &Store) -> Vec<SeriesSamples> {
        store.select(&[Matcher::equal("__name__", "x")], i64::MIN, i64::MAX)
    }

    #[test]
    fn a_store_dropped_without_shutdown_comes_back_whole() {
        let dir = TempDir::new("durable");
        let want = {
            let (store, rep) = open(dir.path());
            assert!(rep.snapshot.is_none() && rep.series == 0);
            for k in 0..300 {
                scrape(&store, 20, k * 15_000);
                if k == 130 {
                    assert!(store.persist_chunks().unwrap() > 0);
                }
            }
            let all = all(&store);
            assert_eq!(all.len(), 20);
            assert_eq!(all[0].samples.len(), 300);
            all
        };
        let (store, rep) = open(dir.path());
        assert!(all(&store) == want, "every sample, value and timestamp");
        assert_eq!(rep.series, 20);
        assert_eq!(
            rep.samples_replayed as usize,
            20 * 300 - 20 * 120,
            "the first chunk came from disk"
        );
        assert!(rep.wal_repair.is_none());
        // Appending goes on after the newest sample, and a repeat of it is not stored twice.
        scrape(&store, 20, 299 * 15_000);
        scrape(&store, 20, 300 * 15_000);
        assert_eq!(all(&store)[0].samples.len(), 301);
    }

    #[test]
    fn checkpoints_cut_the_log_and_a_clean_close_needs_no_replay() {
        let dir = TempDir::new("durable");
        let want = {
            let (store, _) = open(dir.path());
            for k in 0..400 {
                scrape(&store, 10, k * 15_000);
                if k % 100 == 99 {
                    store.checkpoint().unwrap();
                }
            }
            let segs = wal::segments(&dir.path().join("wal")).unwrap();
            let snaps = snapshots(dir.path()).unwrap();
            assert_eq!(snaps.len(), 2, "two snapshots kept");
            assert!(
                segs[0] >= snaps[1],
                "log before the older snapshot removed: {segs:?} {snaps:?}"
            );
            store.close(true).unwrap();
            all(&store)
        };
        let (store, rep) = open(dir.path());
        assert!(all(&store) == want, "the same samples after the restart");
        assert_eq!(rep.samples_replayed, 0, "{rep:?}");
        assert!(rep.snapshot.is_some());
        assert_eq!(
            store.stats().chunks,
            want.len() * 4,
            "3 closed chunks and a head each"
        );
        assert!(store.durable_stats().unwrap().chunks_on_disk >= want.len() * 3);
    }

    #[test]
    fn a_damaged_snapshot_falls_back_to_the_one_before() {
        let dir = TempDir::new("durable");
        let want = {
            let (store, _) = open(dir.path());
            for k in 0..250 {
                scrape(&store, 5, k * 15_000);
                if k == 100 || k == 200 {
                    store.checkpoint().unwrap();
                }
            }
            all(&store)
        };
        let newest = snapshots(dir.path()).unwrap()[0];
        let path = dir.path().join(snapshot_name(newest));
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
        let (store, rep) = open(dir.path());
        assert_eq!(rep.snapshots_skipped.len(), 1, "{rep:?}");
        assert!(rep.snapshots_skipped[0].contains("checksum"));
        assert!(all(&store) == want, "the same samples after the restart");
    }

    #[test]
    fn retention_removes_whole_chunk_files_and_segments_over_a_day() {
        let dir = TempDir::new("durable");
        let (store, _) = Store::open(
            StoreOptions {
                retention: Duration::from_secs(3600),
            },
            small(dir.path()),
        )
        .unwrap();
        let du = |d: &Path| -> u64 {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum()
        };
        let mut peak_after_first_hours = 0;
        // A day at a 60 s interval; every 10 minutes a checkpoint and a retention pass.
        for k in 0..1440i64 {
            let t = k * 60_000;
            scrape(&store, 8, t);
            if k % 10 == 9 {
                store.checkpoint().unwrap();
                store.gc(t);
                let used = du(&dir.path().join("chunks")) + du(&dir.path().join("wal"));
                // Steady state once retention (1 h) plus a chunk's span (2 h) have passed.
                if k < 360 {
                    peak_after_first_hours = peak_after_first_hours.max(used);
                } else {
                    assert!(
                        used <= peak_after_first_hours * 3 / 2,
                        "disk use grows: {used} at minute {k}, {peak_after_first_hours} in the first six hours"
                    );
                }
            }
        }
        let got = all(&store);
        let oldest = got[0].samples[0].t;
        assert!(
            oldest >= 1439 * 60_000 - 3_600_000 - 120 * 60_000,
            "{oldest}"
        );
        assert!(store.durable_stats().unwrap().chunk_files < 20);
        drop(store);
        let (store, _) = open(dir.path());
        // The service applies retention at start, as the last pass before the stop did.
        store.gc(1439 * 60_000);
        assert!(
            all(&store) == got,
            "the reopened store holds what retention left"
        );
    }

    #[test]
    fn damage_in_a_middle_segment_keeps_everything_before_it() {
        let dir = TempDir::new("durable");
        {
            let (store, _) = open(dir.path());
            for k in 0..400 {
                scrape(&store, 4, k * 15_000);
            }
        }
        let wal_dir = dir.path().join("wal");
        let segs = wal::segments(&wal_dir).unwrap();
        assert!(segs.len() >= 3, "{segs:?}");
        let middle = segs[segs.len() / 2];
        // What the segments before the damaged one hold, read before the damage.
        let mut before = 0;
        wal::replay(&wal_dir, 0, |rec| {
            if let Record::Samples(s) = rec {
                before += s.len();
            }
        })
        .unwrap();
        let path = wal_dir.join(wal::segment_name(middle));
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let (store, rep) = open(dir.path());
        let repair = rep.wal_repair.clone().unwrap();
        assert!(repair.reason.starts_with("damaged"), "{repair:?}");
        assert_eq!(repair.segment, middle);
        assert_eq!(repair.segments_removed, segs.len() - segs.len() / 2 - 1);
        let got = all(&store);
        let kept: usize = got.iter().map(|s| s.samples.len()).sum();
        assert!(kept > 0 && kept < before, "{kept} of {before}");
        assert_eq!(kept as u64, rep.samples_replayed);
        // What is kept is the start of each series, unchanged.
        for s in &got {
            for (k, smp) in s.samples.iter().enumerate() {
                assert_eq!(smp.t, k as i64 * 15_000);
            }
        }
    }

    #[test]
    fn a_series_removed_by_retention_and_created_again_comes_back_once() {
        let dir = TempDir::new("durable");
        let want = {
            let (store, _) = open(dir.path());
            for k in 0..10 {
                scrape(&store, 3, k * 15_000);
            }
            // Retention removes every series; the same label sets come back later (new refs,
            // the freed slots reused).
            store.truncate(1_000_000);
            assert_eq!(store.stats().series, 0);
            for k in 100..110 {
                scrape(&store, 3, k * 15_000);
            }
            all(&store)
        };
        assert_eq!(want.len(), 3);
        let (store, _) = open(dir.path());
        let got = all(&store);
        assert!(
            got == want,
            "one series per label set, with its later samples only"
        );
        assert_eq!(store.stats().series, 3);
    }

    #[test]
    fn a_directory_is_open_in_one_store_at_a_time() {
        let dir = TempDir::new("durable");
        let (first, _) = open(dir.path());
        match Store::open(StoreOptions::default(), small(dir.path())) {
            Err(DurableError::Locked { path }) => {
                assert_eq!(path, dir.path().display().to_string())
            }
            other => panic!("a second open must be refused: {:?}", other.map(|_| ())),
        }
        drop(first);
        let (_again, _) = open(dir.path());
    }

    #[test]
    fn a_torn_log_tail_is_cut_and_reported() {
        let dir = TempDir::new("durable");
        {
            let (store, _) = open(dir.path());
            for k in 0..10 {
                scrape(&store, 3, k * 15_000);
            }
        }
        let wal_dir = dir.path().join("wal");
        let last = *wal::segments(&wal_dir).unwrap().last().unwrap();
        let path = wal_dir.join(wal::segment_name(last));
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let (store, rep) = open(dir.path());
        let repair = rep.wal_repair.clone().unwrap();
        assert!(repair.reason.starts_with("torn"), "{repair:?}");
        let got = all(&store);
        assert_eq!(got.len(), 3);
        assert!(
            got.iter().all(|s| s.samples.len() == 9),
            "the last commit is lost, no more"
        );
        assert_eq!(store.durable_stats().unwrap().repairs_total, 1);
    }
}
