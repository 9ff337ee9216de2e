//! Chunk files: closed chunks written to disk so they leave the heap.
//!
//! A chunk file (`<dir>/chunks/000001`, numbered upwards) starts with an 8-byte header
//! (`RLCK`, format version 1, three zero bytes) followed by records, one per closed chunk:
//!
//! ```text
//! series ref u64 LE | min_t i64 LE | span u32 LE (max_t - min_t) | len u32 LE | crc32 u32 LE | data (len bytes)
//! ```
//!
//! The CRC-32 (IEEE) covers the first 24 header bytes and the data. Records are only ever
//! appended; a file is cut once it passes its size limit, and removed whole once every chunk
//! in it is older than the retention cutoff. Series keep a [`DiskChunk`] handle (24 bytes)
//! per chunk; reading one is a positioned read (`pread`) of `len` bytes, served from the page
//! cache when hot, so the bytes are never part of the process' RSS.
//!
//! At start every file is scanned once (records are read in order and checked); a torn or
//! damaged record ends its file: the file is truncated there and the repair reported (the
//! write-ahead log still holds those samples, see `durable.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

const MAGIC: &[u8; 4] = b"RLCK";
const FILE_HEADER: usize = 8;
const RECORD_HEADER: usize = 28;

/// A closed chunk on disk: where its bytes are and the time span they cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DiskChunk {
    pub(crate) min_t: i64,
    span: u32,
    file: u32,
    offset: u32,
    len: u32,
}

impl DiskChunk {
    pub(crate) fn max_t(&self) -> i64 {
        self.min_t.wrapping_add(i64::from(self.span))
    }

    /// Bytes the chunk takes on disk (record header included).
    pub(crate) fn disk_bytes(&self) -> usize {
        self.len as usize + RECORD_HEADER
    }
}

/// One file: its handle (shared with readers) and the newest sample time in it.
struct FileEntry {
    file: Arc<File>,
    max_t: i64,
    size: u64,
}

struct Active {
    id: u32,
    file: File,
    size: u64,
    dirty: bool,
}

/// What a scan of the chunk files found.
#[derive(Debug, Default)]
pub(crate) struct ChunkScan {
    /// Chunks per series ref, in file order (oldest first for each series).
    pub(crate) by_series: HashMap<u64, Vec<DiskChunk>>,
    /// Files truncated at a torn or damaged record.
    pub(crate) repaired: Vec<String>,
    pub(crate) chunks: usize,
}

/// The set of chunk files of one store.
pub(crate) struct ChunkFiles {
    dir: PathBuf,
    max_file_bytes: u64,
    files: RwLock<BTreeMap<u32, FileEntry>>,
    active: Mutex<Option<Active>>,
}

static READ_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts (and logs, rarely) a chunk that could not be read back.
pub(crate) fn note_read_error(e: &std::io::Error) {
    let n = READ_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if n.is_power_of_two() || n == 0 {
        tracing::error!(error = %e, errors = n + 1, "reading a chunk from disk");
    }
}

/// Chunks that could not be read back since start.
pub(crate) fn read_errors() -> u64 {
    READ_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

fn file_name(id: u32) -> String {
    format!("{id:06}")
}

fn crc(header: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(data);
    h.finalize()
}

/// Appends one record for a chunk of series `r` to `buf`; returns the data's offset in
/// `buf`.
pub(crate) fn encode_record(buf: &mut Vec<u8>, r: u64, min_t: i64, max_t: i64, data: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(&r.to_le_bytes());
    buf.extend_from_slice(&min_t.to_le_bytes());
    let span = u32::try_from(max_t.wrapping_sub(min_t)).unwrap_or(u32::MAX);
    buf.extend_from_slice(&span.to_le_bytes());
    buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let c = crc(&buf[start..start + 24], data);
    buf.extend_from_slice(&c.to_le_bytes());
    buf.extend_from_slice(data);
}

impl ChunkFiles {
    /// Opens (creating) `dir` and scans every chunk file in it.
    pub(crate) fn open(
        dir: &Path,
        max_file_bytes: u64,
    ) -> std::io::Result<(ChunkFiles, ChunkScan)> {
        std::fs::create_dir_all(dir)?;
        let mut ids: Vec<u32> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut scan = ChunkScan::default();
        let mut files = BTreeMap::new();
        for id in ids {
            let path = dir.join(file_name(id));
            let (entry, repaired) = scan_file(&path, id, &mut scan)?;
            if repaired {
                scan.repaired.push(path.display().to_string());
            }
            files.insert(id, entry);
        }
        Ok((
            ChunkFiles {
                dir: dir.to_path_buf(),
                max_file_bytes,
                files: RwLock::new(files),
                active: Mutex::new(None),
            },
            scan,
        ))
    }

    fn next_id(&self) -> u32 {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.keys().next_back().map_or(1, |id| id + 1)
    }

    /// Appends `records` (encoded with [`encode_record`], `offsets` being each record's start
    /// in it) and returns the file id and the offset `records` starts at. The bytes are
    /// written (visible to readers) when this returns; not necessarily synced.
    pub(crate) fn append(&self, records: &[u8], newest: i64) -> std::io::Result<(u32, u64)> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let cut = match &*active {
            Some(a) => {
                a.size > FILE_HEADER as u64 && a.size + records.len() as u64 > self.max_file_bytes
            }
            None => true,
        };
        if cut {
            if let Some(old) = active.take() {
                if old.dirty {
                    old.file.sync_data()?;
                }
            }
            let id = self.next_id();
            let path = self.dir.join(file_name(id));
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)?;
            let mut header = [0u8; FILE_HEADER];
            header[..4].copy_from_slice(MAGIC);
            header[4] = 1;
            file.write_all(&header)?;
            let reader = file.try_clone()?;
            self.files
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    id,
                    FileEntry {
                        file: Arc::new(reader),
                        max_t: i64::MIN,
                        size: FILE_HEADER as u64,
                    },
                );
            *active = Some(Active {
                id,
                file,
                size: FILE_HEADER as u64,
                dirty: true,
            });
        }
        let Some(a) = active.as_mut() else {
            return Err(std::io::Error::other("no active chunk file"));
        };
        let at = a.size;
        a.file.write_all(records)?;
        a.size += records.len() as u64;
        a.dirty = true;
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = files.get_mut(&a.id) {
            e.max_t = e.max_t.max(newest);
            e.size = a.size;
        }
        Ok((a.id, at))
    }

    /// The handle of a record written by [`ChunkFiles::append`] at `record_at`.
    pub(crate) fn handle(
        file: u32,
        record_at: u64,
        min_t: i64,
        max_t: i64,
        len: usize,
    ) -> DiskChunk {
        DiskChunk {
            min_t,
            span: u32::try_from(max_t.wrapping_sub(min_t)).unwrap_or(u32::MAX),
            file,
            offset: (record_at + RECORD_HEADER as u64) as u32,
            len: len as u32,
        }
    }

    /// Bytes a record of `data_len` data bytes takes.
    pub(crate) fn record_len(data_len: usize) -> usize {
        RECORD_HEADER + data_len
    }

    /// Syncs the file being written to disk (the others were synced when cut).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = active.as_mut() {
            if a.dirty {
                a.file.sync_data()?;
                a.dirty = false;
            }
        }
        Ok(())
    }

    /// Appends the bytes of chunk `c` to `out`.
    pub(crate) fn read_into(&self, c: &DiskChunk, out: &mut Vec<u8>) -> std::io::Result<()> {
        let file = {
            let files = self.files.read().unwrap_or_else(|e| e.into_inner());
            match files.get(&c.file) {
                Some(e) => e.file.clone(),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("chunk file {} is gone", file_name(c.file)),
                    ))
                }
            }
        };
        let start = out.len();
        out.resize(start + c.len as usize, 0);
        if let Err(e) = file.read_exact_at(&mut out[start..], u64::from(c.offset)) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    /// Removes every file (but the one being written) whose newest sample is older than
    /// `before`; returns how many. The series must already have dropped their handles into
    /// them ([`super::Store::truncate`] does that first).
    pub(crate) fn remove_before(&self, before: i64) -> std::io::Result<usize> {
        let active_id = self
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|a| a.id);
        let gone: Vec<u32> = {
            let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<u32> = files
                .iter()
                .filter(|(id, e)| Some(**id) != active_id && e.max_t < before)
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                files.remove(id);
            }
            ids
        };
        for id in &gone {
            std::fs::remove_file(self.dir.join(file_name(*id)))?;
        }
        Ok(gone.len())
    }

    /// Number of files and their total size in bytes.
    pub(crate) fn usage(&self) -> (usize, u64) {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        (files.len(), files.values().map(|e| e.size).sum())
    }
}

/// Reads every record of one file into `scan`; truncates the file at the first torn or
/// damaged record. Returns the file's entry and whether it was repaired.
fn scan_file(path: &Path, id: u32, scan: &mut ChunkScan) -> std::io::Result<(FileEntry, bool)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, &file);
    let mut header = [0u8; FILE_HEADER];
    let mut valid_end = 0u64;
    let mut max_t = i64::MIN;
    let mut ok_header =
        r.read_exact(&mut header).is_ok() && &header[..4] == MAGIC && header[4] == 1;
    if ok_header {
        valid_end = FILE_HEADER as u64;
        let mut rec = [0u8; RECORD_HEADER];
        let mut data = Vec::new();
        loop {
            if r.read_exact(&mut rec).is_err() {
                break;
            }
            let field = |a: usize, b: usize| -> [u8; 8] {
                let mut x = [0u8; 8];
                x[..b - a].copy_from_slice(&rec[a..b]);
                x
            };
            let series = u64::from_le_bytes(field(0, 8));
            let min_t = i64::from_le_bytes(field(8, 16));
            let span = u64::from_le_bytes(field(16, 20)) as u32;
            let len = u64::from_le_bytes(field(20, 24)) as u32;
            let want = u64::from_le_bytes(field(24, 28)) as u32;
            if valid_end + RECORD_HEADER as u64 + u64::from(len) > size {
                break;
            }
            data.resize(len as usize, 0);
            if r.read_exact(&mut data).is_err() || crc(&rec[..24], &data) != want {
                break;
            }
            let c = ChunkFiles::handle(id, valid_end, min_t, min_t + i64::from(span), len as usize);
            max_t = max_t.max(c.max_t());
            scan.by_series.entry(series).or_default().push(c);
            scan.chunks += 1;
            valid_end += RECORD_HEADER as u64 + u64::from(len);
        }
    } else {
        ok_header = false;
    }
    drop(r);
    let repaired = valid_end < size || !ok_header;
    if repaired {
        if ok_header {
            file.set_len(valid_end)?;
        } else {
            // Not even a header: rewrite one so the file is valid and empty.
            file.set_len(0)?;
            let mut header = [0u8; FILE_HEADER];
            header[..4].copy_from_slice(MAGIC);
            header[4] = 1;
            file.write_all_at(&header, 0)?;
            valid_end = FILE_HEADER as u64;
        }
        file.sync_all()?;
    }
    Ok((
        FileEntry {
            file: Arc::new(file),
            max_t,
            size: valid_end,
        },
        repaired,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let dir = crate::testdir::TempDir::new("chunkfile");
        let (files, scan) = ChunkFiles::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(scan.chunks, 0);
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 1000, 2000, b"abc");
        let second = buf.len();
        encode_record(&mut buf, 9, 1500, 1600, b"defgh");
        let (id, at) = files.append(&buf, 2000).unwrap();
        let a = ChunkFiles::handle(id, at, 1000, 2000, 3);
        let b = ChunkFiles::handle(id, at + second as u64, 1500, 1600, 5);
        let mut out = Vec::new();
        files.read_into(&b, &mut out).unwrap();
        files.read_into(&a, &mut out).unwrap();
        assert_eq!(out, b"defghabc");
        files.sync().unwrap();
        drop(files);
        // Tear the last record: its last byte is lost.
        let path = dir.path().join(file_name(id));
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len - 1).unwrap();
        let (files, scan) = ChunkFiles::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(scan.chunks, 1);
        assert_eq!(scan.by_series[&7], vec![a]);
        assert_eq!(scan.repaired.len(), 1);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            at + second as u64,
            "cut at the torn record"
        );
        // New records go to a new file; the old one is removed once all of it is old.
        let (id2, _) = files.append(&buf, 2000).unwrap();
        assert_ne!(id2, id);
        assert_eq!(files.remove_before(2001).unwrap(), 1);
        assert!(!path.exists());
        assert!(files.read_into(&a, &mut out).is_err());
    }
}
