//! A shard: a slab of series with a fingerprint index, one of [`SHARDS`](super::SHARDS).
//!
//! Series live in slots addressed directly by their [`SeriesRef`](super::SeriesRef), which
//! packs `seq << 32 | slot << 8 | shard`: `seq` is a store-wide creation counter (so refs, and
//! the postings lists sorted by them, grow in creation order, and a freed slot's next tenant
//! gets a different ref), `slot` the index in this shard's slab. Resolving a ref is an index
//! and a `seq` comparison, no hashing. Per-slot metadata (`seq`, pending count) sits in its own
//! compact vector so that pinning a series for an appender touches 8 bytes, not the series.
//!
//! The fingerprint map resolves label sets to slots; a fingerprint shared by two different
//! label sets (an xxh3 collision) is kept in a side map and told apart by comparing labels.

use super::series::{Outcome, Series, ShardAccounts};
use super::symbols::{Symbol, SymbolTable};
use super::Labels;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for keys that are already integers (refs, fingerprints, symbol ids): one 128-bit
/// multiply folded to 64 bits, far cheaper than SipHash and well mixed in every bit.
#[derive(Default, Clone, Copy)]
pub(crate) struct MixHasher(u64);

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }

    fn write_u64(&mut self, x: u64) {
        let m = u128::from(x ^ self.0) * u128::from(MIX);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type MixBuild = BuildHasherDefault<MixHasher>;

/// Slots per shard are addressed with 24 bits.
pub(crate) const MAX_SLOTS: usize = 1 << 24;

/// A removed series' ref and labels, for the postings index.
pub(crate) type Removed = (u64, Box<[Symbol]>);

pub(crate) fn ref_parts(id: u64) -> (u32, usize) {
    ((id >> 32) as u32, ((id >> 8) & 0xff_ffff) as usize)
}

#[derive(Clone, Copy, Default)]
struct Meta {
    /// The `seq` of the live series in the slot; 0 when the slot is free.
    seq: u32,
    /// Samples buffered in open appenders for this series; a pinned series is never removed.
    pending: u32,
}

#[derive(Default)]
pub(crate) struct Shard {
    meta: Vec<Meta>,
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    live: usize,
    /// Fingerprint → the ref of the first series with it.
    by_fp: HashMap<u64, u64, MixBuild>,
    /// Fingerprint → refs of further series with the same fingerprint (collisions; rare).
    collisions: HashMap<u64, Vec<u64>, MixBuild>,
    pub(crate) acct: ShardAccounts,
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn slot_of(&self, id: u64) -> Option<usize> {
        let (seq, slot) = ref_parts(id);
        match self.meta.get(slot) {
            Some(m) if m.seq == seq && seq != 0 => Some(slot),
            _ => None,
        }
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Series> {
        self.slots[self.slot_of(id)?].as_ref()
    }

    /// Offers a sample to series `id`; `None` when it does not exist.
    pub(crate) fn append(&mut self, id: u64, t: i64, v: f64) -> Option<Outcome> {
        let slot = self.slot_of(id)?;
        let s = self.slots[slot].as_mut()?;
        Some(s.append(t, v, &mut self.acct))
    }

    /// Offers a histogram sample to series `id`; `None` when it does not exist.
    pub(crate) fn append_histogram(
        &mut self,
        id: u64,
        t: i64,
        h: &crate::histogram::FloatHistogram,
    ) -> Option<Outcome> {
        let slot = self.slot_of(id)?;
        let s = self.slots[slot].as_mut()?;
        Some(s.append_histogram(t, h, &mut self.acct))
    }

    /// Adds one pending sample to series `id`; false when it does not exist.
    pub(crate) fn pin(&mut self, id: u64) -> bool {
        match self.slot_of(id) {
            Some(slot) => {
                self.meta[slot].pending += 1;
                true
            }
            None => false,
        }
    }

    /// Removes one pending sample from series `id`. When nothing pins the series any more
    /// and it holds no sample, removes it and returns its labels.
    pub(crate) fn unpin(&mut self, id: u64) -> Option<Box<[Symbol]>> {
        let slot = self.slot_of(id)?;
        let m = &mut self.meta[slot];
        m.pending = m.pending.saturating_sub(1);
        let empty = m.pending == 0 && self.slots[slot].as_ref().is_some_and(|s| !s.has_samples());
        if empty {
            self.remove(id)
        } else {
            None
        }
    }

    /// The ref of the series with exactly `labels`, if present.
    pub(crate) fn find(&self, fp: u64, labels: &Labels, symbols: &SymbolTable) -> Option<u64> {
        let first = *self.by_fp.get(&fp)?;
        let mut candidates = std::iter::once(first).chain(
            self.collisions
                .get(&fp)
                .into_iter()
                .flat_map(|v| v.iter().copied()),
        );
        candidates.find(|id| {
            self.get(*id)
                .is_some_and(|s| s.labels_equal(labels, symbols))
        })
    }

    /// Stores a new series with one pending sample; returns its ref, or `None` when the shard
    /// is full. `seq` must not be 0.
    pub(crate) fn insert(&mut self, shard: usize, seq: u32, series: Series) -> Option<u64> {
        let slot = match self.free.pop() {
            Some(s) => s as usize,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(None);
                self.meta.push(Meta::default());
                self.slots.len() - 1
            }
            None => return None,
        };
        let id = (u64::from(seq) << 32) | ((slot as u64) << 8) | shard as u64;
        self.place(id, slot, Meta { seq, pending: 1 }, series);
        Some(id)
    }

    /// Puts `series` in the free `slot` under `id` and indexes its fingerprint.
    fn place(&mut self, id: u64, slot: usize, meta: Meta, series: Series) {
        let fp = series.fingerprint;
        self.acct.label_bytes += series.labels.len() * std::mem::size_of::<Symbol>();
        match self.by_fp.entry(fp) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(fp).or_default().push(id);
            }
        }
        self.meta[slot] = meta;
        self.slots[slot] = Some(series);
        self.live += 1;
    }

    /// Stores a replayed series under its own ref (`seq << 32 | slot << 8 | shard`), growing
    /// the slab to reach its slot; nothing pins it. Returns false when the ref's slot is
    /// taken or out of range. Call [`Shard::rebuild_free`] once replay is done.
    pub(crate) fn insert_at(&mut self, id: u64, series: Series) -> bool {
        let (seq, slot) = ref_parts(id);
        if seq == 0 || slot >= MAX_SLOTS {
            return false;
        }
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
            self.meta.resize(slot + 1, Meta::default());
        }
        if self.slots[slot].is_some() {
            return false;
        }
        self.place(id, slot, Meta { seq, pending: 0 }, series);
        true
    }

    /// Closes every series' open chunk early.
    pub(crate) fn close_heads(&mut self) {
        for s in self.slots.iter_mut().flatten() {
            s.close_head(&mut self.acct);
        }
    }

    /// The ref of the live series in the slot `id` names, if any (whatever its `seq`).
    pub(crate) fn occupant(&self, id: u64) -> Option<u64> {
        let (_, slot) = ref_parts(id);
        let seq = self.meta.get(slot)?.seq;
        self.slots.get(slot)?.as_ref()?;
        Some((u64::from(seq) << 32) | (id & 0xffff_ffff))
    }

    /// The free list after replay: every empty slot.
    pub(crate) fn rebuild_free(&mut self) {
        self.free = (0..self.slots.len() as u32)
            .rev()
            .filter(|&i| self.slots[i as usize].is_none())
            .collect();
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<(&mut Series, &mut ShardAccounts)> {
        let slot = self.slot_of(id)?;
        Some((self.slots[slot].as_mut()?, &mut self.acct))
    }

    /// Every live series with its ref.
    pub(crate) fn iter(&self, shard: usize) -> impl Iterator<Item = (u64, &Series)> + '_ {
        self.slots.iter().enumerate().filter_map(move |(slot, s)| {
            let s = s.as_ref()?;
            let seq = self.meta[slot].seq;
            Some((
                (u64::from(seq) << 32) | ((slot as u64) << 8) | shard as u64,
                s,
            ))
        })
    }

    /// Writes every closed chunk still in memory to `files` in one append and swaps it for
    /// its disk handle; returns how many chunks moved.
    pub(crate) fn persist(
        &mut self,
        shard: usize,
        files: &super::chunkfile::ChunkFiles,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<usize> {
        buf.clear();
        let mut newest = i64::MIN;
        for (slot, s) in self.slots.iter().enumerate() {
            let Some(s) = s else { continue };
            let id = (u64::from(self.meta[slot].seq) << 32) | ((slot as u64) << 8) | shard as u64;
            for c in &s.chunks {
                super::chunkfile::encode_record(buf, id, c.min_t(), c.max_t(), c.data());
                newest = newest.max(c.max_t());
            }
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let (file, mut at) = files.append(buf, newest)?;
        let mut moved = 0;
        for s in self.slots.iter_mut().flatten() {
            for c in s.chunks.drain(..) {
                let d = super::chunkfile::ChunkFiles::handle(
                    file,
                    at,
                    c.min_t(),
                    c.max_t(),
                    c.data().len(),
                );
                at += super::chunkfile::ChunkFiles::record_len(c.data().len()) as u64;
                self.acct.closed_bytes -= super::series::closed_chunk_bytes(&c);
                self.acct.add_disk(&d);
                s.disk.push(d);
                moved += 1;
            }
            if s.chunks.capacity() > 0 {
                s.chunks = Vec::new();
            }
        }
        Ok(moved)
    }

    /// Removes series `id`, returning its labels for the postings index.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Box<[Symbol]>> {
        let slot = self.slot_of(id)?;
        let mut s = self.slots[slot].take()?;
        self.meta[slot] = Meta::default();
        self.free.push(slot as u32);
        self.live -= 1;
        self.acct.label_bytes -= s.labels.len() * std::mem::size_of::<Symbol>();
        s.drop_chunks(&mut self.acct);
        let fp = s.fingerprint;
        if self.by_fp.get(&fp) == Some(&id) {
            self.by_fp.remove(&fp);
            if let Some(more) = self.collisions.get_mut(&fp) {
                if let Some(next) = more.pop() {
                    self.by_fp.insert(fp, next);
                }
                if more.is_empty() {
                    self.collisions.remove(&fp);
                }
            }
        } else if let Some(more) = self.collisions.get_mut(&fp) {
            more.retain(|&x| x != id);
            if more.is_empty() {
                self.collisions.remove(&fp);
            }
        }
        Some(s.labels)
    }

    /// Drops chunks older than `before` from every series and removes the unpinned series
    /// left empty. Returns the chunks dropped and the removed series (ref and labels).
    pub(crate) fn truncate(&mut self, shard: usize, before: i64) -> (usize, Vec<Removed>) {
        let mut chunks = 0;
        let mut empty = Vec::new();
        for (slot, s) in self.slots.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            chunks += s.truncate(before, &mut self.acct);
            let m = self.meta[slot];
            if !s.has_samples() && m.pending == 0 {
                empty.push((u64::from(m.seq) << 32) | ((slot as u64) << 8) | shard as u64);
            }
        }
        let removed = empty
            .into_iter()
            .filter_map(|id| self.remove(id).map(|l| (id, l)))
            .collect();
        (chunks, removed)
    }

    /// Approximate heap bytes of the slab and maps (excluding chunk data): each map slot
    /// holds its key and value plus one control byte.
    pub(crate) fn map_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Series>>()
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + self.free.capacity() * 4
            + self.by_fp.capacity() * 17
            + self.collisions.len() * 48
            + self.acct.label_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(symbols: &SymbolTable, l: &Labels, fp: u64) -> Series {
        Series::new(symbols.intern_labels(l), fp)
    }

    #[test]
    fn fingerprint_collisions_are_resolved_by_labels() {
        let symbols = SymbolTable::default();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let mut shard = Shard::default();
        // Both series under one fingerprint, as a real collision would put them.
        let ra = shard.insert(3, 1, series(&symbols, &a, 42)).unwrap();
        let rb = shard.insert(3, 2, series(&symbols, &b, 42)).unwrap();
        assert_eq!(shard.find(42, &a, &symbols), Some(ra));
        assert_eq!(shard.find(42, &b, &symbols), Some(rb));
        assert_eq!(
            shard.find(42, &Labels::from_pairs([("__name__", "c")]), &symbols),
            None
        );
        assert!(shard.remove(ra).is_some());
        assert_eq!(shard.find(42, &a, &symbols), None);
        assert_eq!(shard.find(42, &b, &symbols), Some(rb));
        assert!(shard.remove(rb).is_some());
        assert_eq!(shard.find(42, &b, &symbols), None);
        assert!(shard.collisions.is_empty() && shard.by_fp.is_empty());
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn a_reused_slot_gets_a_new_ref_and_the_old_one_stays_invalid() {
        let symbols = SymbolTable::default();
        let a = Labels::from_pairs([("__name__", "a")]);
        let mut shard = Shard::default();
        let r1 = shard.insert(0, 1, series(&symbols, &a, 1)).unwrap();
        // Pinned once by insert; unpinning an empty series removes it.
        assert!(shard.unpin(r1).is_some());
        assert!(shard.get(r1).is_none());
        assert!(!shard.pin(r1));
        let r2 = shard.insert(0, 2, series(&symbols, &a, 1)).unwrap();
        assert_ne!(r1, r2);
        assert_eq!(ref_parts(r1).1, ref_parts(r2).1, "same slot");
        assert!(shard.get(r1).is_none());
        assert!(shard.pin(r2));
    }
}
