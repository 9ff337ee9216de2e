//! The [`Querier`] implementation of the [`Store`]: selection by matchers and time range.
//!
//! Matchers are resolved to series ids under a read lock on the postings index. Then, per
//! series, its shard's read lock is held only to copy out the handles of the chunks that
//! overlap the range (closed chunks are shared, the open head chunk is copied); decoding
//! happens after the lock is released, and chunks entirely outside the range are skipped.

use super::db::{SeriesRef, Store};
use super::series::{decode_range, ChunkCopies};
use super::symbols::Symbol;
use super::{Label, Labels, Matcher, Querier, SeriesSamples};
use std::collections::BTreeSet;

impl Store {
    fn candidate_ids(&self, matchers: &[Matcher]) -> Vec<u64> {
        self.postings_read().select(matchers, &self.symbols)
    }

    fn labels_of(&self, syms: &[Symbol]) -> Labels {
        let strs = self.symbols.resolve_many(syms);
        let mut it = strs.into_iter();
        let mut v = Vec::with_capacity(syms.len() / 2);
        while let (Some(n), Some(val)) = (it.next(), it.next()) {
            v.push(Label {
                name: n,
                value: val,
            });
        }
        Labels::from_sorted_unchecked(v)
    }

    /// Label ids of every matching series with a sample in `[mint, maxt]`, unsorted.
    fn matching_series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Box<[Symbol]>> {
        let mut out = Vec::new();
        for id in self.candidate_ids(matchers) {
            let shard = self.shard_read(SeriesRef(id).shard());
            if let Some(s) = shard.get(id) {
                if s.has_sample_in(mint, maxt) {
                    out.push(s.labels.clone());
                }
            }
        }
        out
    }

    /// The labels of the series with ref `r`, if it still exists.
    pub fn series_labels(&self, r: SeriesRef) -> Option<Labels> {
        let syms = self.shard_read(r.shard()).get(r.0)?.labels.clone();
        Some(self.labels_of(&syms))
    }
}

impl Querier for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        if mint > maxt {
            return Vec::new();
        }
        let mut out = Vec::new();
        for id in self.candidate_ids(matchers) {
            let (syms, chunks): (Box<[Symbol]>, ChunkCopies) = {
                let shard = self.shard_read(SeriesRef(id).shard());
                let Some(s) = shard.get(id) else {
                    continue;
                };
                let chunks = s.chunks_in(mint, maxt);
                if chunks.is_empty() {
                    continue;
                }
                (s.labels.clone(), chunks)
            };
            let samples = decode_range(&chunks, mint, maxt);
            if samples.is_empty() {
                continue;
            }
            out.push(SeriesSamples {
                labels: self.labels_of(&syms),
                samples,
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        if mint > maxt {
            return Vec::new();
        }
        let mut out: Vec<Labels> = self
            .matching_series(matchers, mint, maxt)
            .iter()
            .map(|s| self.labels_of(s))
            .collect();
        out.sort();
        out
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        let ids: BTreeSet<Symbol> = self
            .matching_series(matchers, mint, maxt)
            .iter()
            .flat_map(|s| s.chunks_exact(2).map(|p| p[0]).collect::<Vec<_>>())
            .collect();
        let ids: Vec<Symbol> = ids.into_iter().collect();
        let mut names: Vec<String> = self
            .symbols
            .resolve_many(&ids)
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.sort();
        names
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        let Some(name_id) = self.symbols.lookup(name) else {
            return Vec::new();
        };
        let ids: BTreeSet<Symbol> = self
            .matching_series(matchers, mint, maxt)
            .iter()
            .filter_map(|s| s.chunks_exact(2).find(|p| p[0] == name_id).map(|p| p[1]))
            .collect();
        let ids: Vec<Symbol> = ids.into_iter().collect();
        let mut values: Vec<String> = self
            .symbols
            .resolve_many(&ids)
            .iter()
            .map(|s| s.to_string())
            .collect();
        values.sort();
        values
    }
}
