//! The [`Querier`] implementation of the [`Store`]: selection by matchers and time range.
//!
//! Matchers are resolved to series ids under a read lock on the postings index; a matcher
//! that would merge many postings lists (`container!=""` beside a metric name) is instead
//! checked against each candidate's label ids (see [`Postings::select_deferring`]). Then, per
//! series, its shard's read lock is held only to copy out the bytes of the chunks that
//! overlap the range (chunks entirely outside it are skipped); decoding happens after the
//! lock is released, into a scratch buffer reused from series to series. Label ids are
//! gathered into one flat buffer and resolved to strings, and the result sorted, under a
//! single read lock on the symbol table at the end.
//!
//! [`Postings::select_deferring`]: super::postings::Postings::select_deferring

use super::db::{SeriesRef, Store};
use super::series::{decode_chunks_into, ChunkCopies};
use super::shard::MixBuild;
use super::symbols::{Resolver, Symbol};
use super::{Label, Labels, Matcher, Querier, Selection, SeriesSamples};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// One matcher left to check per series: the matcher, its label-name id, and its verdict per
/// label-value id (values repeat across series, so each is resolved and matched once).
type ResidualCheck<'m> = (&'m Matcher, Option<Symbol>, HashMap<Symbol, bool, MixBuild>);

/// The matchers left to check per series.
struct Residual<'m> {
    checks: Vec<ResidualCheck<'m>>,
}

impl<'m> Residual<'m> {
    fn new(store: &Store, matchers: Vec<&'m Matcher>) -> Self {
        Residual {
            checks: matchers
                .into_iter()
                .map(|m| (m, store.symbols.lookup(&m.name), HashMap::default()))
                .collect(),
        }
    }

    /// Whether a series with label ids `syms` passes every residual matcher. Called with
    /// the series' shard lock held (the symbol lock is taken after it, the store's order).
    fn accepts(&mut self, store: &Store, syms: &[Symbol]) -> bool {
        for (m, name, cache) in &mut self.checks {
            let value = name.and_then(|n| syms.chunks_exact(2).find(|p| p[0] == n).map(|p| p[1]));
            let ok = match value {
                None => m.matches(""),
                Some(v) => match cache.get(&v) {
                    Some(&ok) => ok,
                    None => {
                        let ok = store.symbols.with_resolver(|r| m.matches(r.get(v)));
                        cache.insert(v, ok);
                        ok
                    }
                },
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// Orders two series' label-id arrays as their [`Labels`] would order: label by label, name
/// then value, a prefix first. Equal ids are equal strings (ids are interned), so only
/// differing ids are resolved and compared as strings.
fn cmp_syms(r: &Resolver<'_>, a: &[Symbol], b: &[Symbol]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return r.get(*x).cmp(r.get(*y));
        }
    }
    a.len().cmp(&b.len())
}

impl Store {
    /// Candidate ids for `matchers` and the matchers still to check per series.
    fn candidates<'m>(&self, matchers: &'m [Matcher]) -> (Vec<u64>, Residual<'m>) {
        let sel = self
            .postings_read()
            .select_deferring(matchers, &self.symbols, true);
        (sel.ids, Residual::new(self, sel.residual))
    }

    fn label_of(r: &Resolver<'_>, syms: &[Symbol]) -> Labels {
        let v = syms
            .chunks_exact(2)
            .map(|p| Label {
                name: r.get_shared(p[0]),
                value: r.get_shared(p[1]),
            })
            .collect();
        Labels::from_sorted_unchecked(v)
    }

    /// Label ids of every matching series with a sample in `[mint, maxt]`, unsorted, in one
    /// flat buffer with each series' range in it.
    fn matching_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> (Vec<Symbol>, Vec<Range<usize>>) {
        let (ids, mut residual) = self.candidates(matchers);
        let mut syms = Vec::new();
        let mut ranges = Vec::new();
        for id in ids {
            let shard = self.shard_read(SeriesRef(id).shard());
            if let Some(s) = shard.get(id) {
                if s.has_sample_in(mint, maxt) && residual.accepts(self, &s.labels) {
                    let start = syms.len();
                    syms.extend_from_slice(&s.labels);
                    ranges.push(start..syms.len());
                }
            }
        }
        (syms, ranges)
    }

    /// The labels of the series with ref `r`, if it still exists.
    pub fn series_labels(&self, r: SeriesRef) -> Option<Labels> {
        let syms = self.shard_read(r.shard()).get(r.0)?.labels.clone();
        Some(self.symbols.with_resolver(|res| Self::label_of(res, &syms)))
    }

    /// Distinct ids at label-pair position `pick` (0 for names, 1 for values) of the
    /// matching series, filtered by `keep` on the name id, resolved and sorted.
    fn distinct_strings(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        pick: usize,
        keep: impl Fn(Symbol) -> bool,
    ) -> Vec<String> {
        let (syms, ranges) = self.matching_series(matchers, mint, maxt);
        let ids: BTreeSet<Symbol> = ranges
            .into_iter()
            .flat_map(|r| {
                syms[r]
                    .chunks_exact(2)
                    .filter(|p| keep(p[0]))
                    .map(|p| p[pick])
            })
            .collect();
        let mut out: Vec<String> = self
            .symbols
            .with_resolver(|r| ids.iter().map(|&id| r.get(id).to_string()).collect());
        out.sort();
        out
    }
}

impl Querier for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        self.select_flat(matchers, mint, maxt).into_series()
    }

    /// Three passes: under each series' shard lock, its label ids and the bytes of its
    /// chunks overlapping the range are copied into two flat buffers; the series are sorted
    /// by label (one symbol lock); their chunks are decoded in that order straight into the
    /// selection's one sample buffer (no lock); the label sets of the series with samples
    /// are resolved (one symbol lock).
    fn select_flat(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Selection {
        if mint > maxt {
            return Selection::default();
        }
        let (ids, mut residual) = self.candidates(matchers);
        let mut syms: Vec<Symbol> = Vec::new();
        // Per candidate: its label ids and its chunks' indices in `copies`.
        let mut hits: Vec<(Range<usize>, Range<usize>)> = Vec::new();
        let mut copies = ChunkCopies::default();
        for id in ids {
            let shard = self.shard_read(SeriesRef(id).shard());
            let Some(s) = shard.get(id) else {
                continue;
            };
            let first = copies.len();
            s.copy_chunks_in(mint, maxt, &mut copies);
            if copies.len() == first {
                continue;
            }
            if !residual.accepts(self, &s.labels) {
                copies.truncate(first);
                continue;
            }
            let start = syms.len();
            syms.extend_from_slice(&s.labels);
            hits.push((start..syms.len(), first..copies.len()));
        }
        self.symbols.with_resolver(|r| {
            hits.sort_unstable_by(|a, b| cmp_syms(r, &syms[a.0.clone()], &syms[b.0.clone()]))
        });
        let mut out = Selection::with_capacity(hits.len(), copies.sample_count());
        let mut kept: Vec<Range<usize>> = Vec::with_capacity(hits.len());
        let mut ends: Vec<usize> = Vec::with_capacity(hits.len());
        let samples = out.samples_mut();
        for (labels, chunks) in hits {
            let before = samples.len();
            decode_chunks_into(copies.chunks(chunks), mint, maxt, samples);
            if samples.len() > before {
                kept.push(labels);
                ends.push(samples.len());
            }
        }
        self.symbols.with_resolver(|r| {
            for (labels, end) in kept.into_iter().zip(ends) {
                out.add_series(Self::label_of(r, &syms[labels]), end);
            }
        });
        out
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        if mint > maxt {
            return Vec::new();
        }
        let (syms, mut ranges) = self.matching_series(matchers, mint, maxt);
        self.symbols.with_resolver(|r| {
            ranges.sort_unstable_by(|a, b| cmp_syms(r, &syms[a.clone()], &syms[b.clone()]));
            ranges
                .into_iter()
                .map(|range| Self::label_of(r, &syms[range]))
                .collect()
        })
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        self.distinct_strings(matchers, mint, maxt, 0, |_| true)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        let Some(name_id) = self.symbols.lookup(name) else {
            return Vec::new();
        };
        self.distinct_strings(matchers, mint, maxt, 1, |n| n == name_id)
    }
}
