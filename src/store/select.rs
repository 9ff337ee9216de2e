//! The [`Querier`] implementation of the [`Store`]: selection by matchers and time range.
//!
//! Matchers are resolved to series ids under a read lock on the postings index; a matcher
//! that would merge many postings lists (`container!=""` beside a metric name) is instead
//! checked against each candidate's label ids (see [`Postings::select_deferring`]). Then, per
//! series, its shard's read lock is held only to copy out the bytes of the chunks that
//! overlap the range (chunks entirely outside it are skipped); decoding happens after the
//! lock is released, straight into the selection's one sample buffer. Label ids are
//! gathered into one flat buffer and resolved to strings, and the result sorted, under a
//! single read lock on the symbol table at the end.
//!
//! [`Querier::select_flat`] keeps to its [`SelectLimits`]: the copied chunk bytes hold at
//! most the sample budget's worth of samples (later series are copied one at a time when
//! decoded), the sample buffer never holds more than the budget, and the deadline and
//! cancel flag are polled while copying and decoding.
//!
//! [`Postings::select_deferring`]: super::postings::Postings::select_deferring

use super::chunk::{header_count, is_histogram_chunk, ChunkIter};
use super::db::{SeriesRef, Store};
use super::histchunk::HistIter;
use super::querier::histogram_size;
use super::series::{decode_chunks_into, ChunkCopies};
use super::shard::MixBuild;
use super::symbols::{Resolver, Symbol};
use super::{
    HistogramSample, Label, Labels, Matcher, Querier, SelectError, SelectLimits, Selection,
    SeriesSamples,
};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

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
                if s.has_sample_in(mint, maxt, self.chunk_files())
                    && residual.accepts(self, &s.labels)
                {
                    let start = syms.len();
                    syms.extend_from_slice(&s.labels);
                    ranges.push(start..syms.len());
                }
            }
        }
        (syms, ranges)
    }

    /// Series matching `matchers` whose newest sample lies in `[mint, maxt]` and is not a
    /// staleness marker: series still "live" as far as the data says. A scrape loop that
    /// starts on a restored store treats its target's as exposed by the last scrape, so the
    /// ones the target no longer exposes get their staleness markers.
    pub fn unfinished_series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesRef> {
        let (ids, mut residual) = self.candidates(matchers);
        let mut out = Vec::new();
        for id in ids {
            let shard = self.shard_read(SeriesRef(id).shard());
            let Some(s) = shard.get(id) else { continue };
            let open = s
                .last
                .is_some_and(|l| l.t >= mint && l.t <= maxt && !l.is_stale_marker());
            if open && residual.accepts(self, &s.labels) {
                out.push(SeriesRef(id));
            }
        }
        out
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

/// How many chunks (or, while copying, series) are handled between two checks of the
/// deadline and cancel flag: a check costs about a clock read, a chunk ~120 samples' decoding.
const CHECK_EVERY: usize = 16;

/// The sample count in a chunk's 2-byte header: how many samples it can add, at most (a
/// histogram sample adds its [`HistogramSample::size`]).
fn chunk_count(chunk: &[u8]) -> usize {
    usize::from(header_count(chunk))
}

/// One selected series before decoding: its label ids in the flat label buffer, and either
/// its chunks' indices among the copies or, copied only when decoded, its id.
struct Hit {
    labels: Range<usize>,
    chunks: Result<Range<usize>, u64>,
}

/// Where [`decode_counted`] puts what it decodes: the float samples, the histogram samples
/// and the budget the histograms used so far.
struct Decoded<'o> {
    floats: &'o mut Vec<super::Sample>,
    histograms: Vec<HistogramSample>,
    histogram_size: usize,
}

impl Decoded<'_> {
    /// Samples held so far, against the budget.
    fn used(&self) -> usize {
        self.floats.len() + self.histogram_size
    }
}

/// Decodes the samples of `chunks` (one series, oldest first) in `[mint, maxt]` onto `out`,
/// which may hold at most `limits.max_samples` samples: the one past that is refused before
/// it is pushed. `work` counts chunks for the periodic [`SelectLimits::check`].
fn decode_counted<'c>(
    chunks: impl Iterator<Item = &'c [u8]>,
    mint: i64,
    maxt: i64,
    out: &mut Decoded<'_>,
    limits: &SelectLimits<'_>,
    work: &mut usize,
) -> Result<(), SelectError> {
    let budget = limits.max_samples;
    for c in chunks {
        *work += 1;
        if (*work).is_multiple_of(CHECK_EVERY) {
            limits.check()?;
        }
        if is_histogram_chunk(c) {
            decode_histograms(c, mint, maxt, out, budget)?;
            continue;
        }
        if out.used().saturating_add(chunk_count(c)) <= budget {
            // The whole chunk fits: the plain loop.
            decode_chunks_into(std::iter::once(c), mint, maxt, out.floats);
            continue;
        }
        for (t, v) in ChunkIter::new(c) {
            if t > maxt {
                return Ok(());
            }
            if t >= mint {
                if out.used() >= budget {
                    return Err(SelectError::TooManySamples);
                }
                out.floats.push(super::Sample { t, v });
            }
        }
    }
    Ok(())
}

/// Decodes the histogram samples of the histogram chunk `c` in `[mint, maxt]` onto `out`,
/// refusing the one that would take it past `budget`.
fn decode_histograms(
    c: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Decoded<'_>,
    budget: usize,
) -> Result<(), SelectError> {
    let mut it = HistIter::new(c);
    while let Some(t) = it.next_t() {
        if t > maxt {
            break;
        }
        if t < mint {
            continue;
        }
        let h = it.histogram();
        let size = histogram_size(&h);
        if out.used().saturating_add(size) > budget {
            return Err(SelectError::TooManySamples);
        }
        out.histogram_size += size;
        out.histograms.push(HistogramSample { t, h: Arc::new(h) });
    }
    Ok(())
}

impl Querier for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        // Without limits nothing can stop the selection.
        self.select_flat(matchers, mint, maxt, &SelectLimits::UNLIMITED)
            .map(Selection::into_series)
            .unwrap_or_default()
    }

    /// Three passes: under each series' shard lock, its label ids and the bytes of its
    /// chunks overlapping the range are copied into two flat buffers; the series are sorted
    /// by label (one symbol lock); their chunks are decoded in that order straight into the
    /// selection's one sample buffer (no lock); the label sets of the series with samples
    /// are resolved (one symbol lock).
    ///
    /// The sample budget is kept in both buffers. Chunks are copied only while the samples
    /// they hold (their headers' counts) fit in the budget; the chunks of later series are
    /// copied one series at a time, into a scratch buffer, when they are decoded. The samples
    /// certainly inside the range (the chunks between a series' first and last) are counted
    /// while copying, and the selection refused once they pass the budget; decoding counts
    /// every sample and refuses the one past the budget before it is stored. The deadline
    /// and cancel flag are checked every `CHECK_EVERY` series and chunks.
    fn select_flat(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: &SelectLimits<'_>,
    ) -> Result<Selection, SelectError> {
        if mint > maxt {
            return Ok(Selection::default());
        }
        limits.check()?;
        let budget = limits.max_samples;
        let (ids, mut residual) = self.candidates(matchers);
        let mut syms: Vec<Symbol> = Vec::new();
        let mut hits: Vec<Hit> = Vec::new();
        let mut copies = ChunkCopies::default();
        // Samples the copied chunks hold (some maybe outside the range), and of these the
        // ones certainly inside it.
        let mut copied = 0usize;
        let mut certain = 0usize;
        for (n, id) in ids.into_iter().enumerate() {
            if n % CHECK_EVERY == CHECK_EVERY - 1 {
                limits.check()?;
            }
            let shard = self.shard_read(SeriesRef(id).shard());
            let Some(s) = shard.get(id) else {
                continue;
            };
            if copied > budget {
                if s.has_sample_in(mint, maxt, self.chunk_files())
                    && residual.accepts(self, &s.labels)
                {
                    let start = syms.len();
                    syms.extend_from_slice(&s.labels);
                    hits.push(Hit {
                        labels: start..syms.len(),
                        chunks: Err(id),
                    });
                }
                continue;
            }
            let first = copies.len();
            s.copy_chunks_in(mint, maxt, &mut copies, self.chunk_files());
            if copies.len() == first {
                continue;
            }
            if !residual.accepts(self, &s.labels) {
                copies.truncate(first);
                continue;
            }
            let k = copies.len() - first;
            let (mut all, mut outer) = (0usize, 0usize);
            for (i, c) in copies.chunks(first..copies.len()).enumerate() {
                let n = chunk_count(c);
                all += n;
                if i == 0 || i == k - 1 {
                    outer += n;
                }
            }
            copied = copied.saturating_add(all);
            if k >= 2 {
                // Chunks are ordered and disjoint in time, so every chunk between the first
                // and the last lies inside the range, and so do the first one's newest
                // sample and the last one's oldest.
                certain = certain.saturating_add(all - outer + 2);
                if certain > budget {
                    return Err(SelectError::TooManySamples);
                }
            }
            let start = syms.len();
            syms.extend_from_slice(&s.labels);
            hits.push(Hit {
                labels: start..syms.len(),
                chunks: Ok(first..copies.len()),
            });
        }
        self.symbols.with_resolver(|r| {
            hits.sort_unstable_by(|a, b| {
                cmp_syms(r, &syms[a.labels.clone()], &syms[b.labels.clone()])
            })
        });
        let mut out = Selection::with_capacity(hits.len(), copied.min(budget));
        let mut kept: Vec<Range<usize>> = Vec::with_capacity(hits.len());
        let mut ends: Vec<usize> = Vec::with_capacity(hits.len());
        let mut hist_ends: Vec<usize> = Vec::new();
        let mut scratch = ChunkCopies::default();
        let mut work = 0usize;
        let mut decoded = Decoded {
            floats: out.samples_mut(),
            histograms: Vec::new(),
            histogram_size: 0,
        };
        for hit in hits {
            let before = (decoded.floats.len(), decoded.histograms.len());
            match hit.chunks {
                Ok(chunks) => decode_counted(
                    copies.chunks(chunks),
                    mint,
                    maxt,
                    &mut decoded,
                    limits,
                    &mut work,
                )?,
                Err(id) => {
                    scratch.truncate(0);
                    if let Some(s) = self.shard_read(SeriesRef(id).shard()).get(id) {
                        s.copy_chunks_in(mint, maxt, &mut scratch, self.chunk_files());
                    }
                    decode_counted(
                        scratch.chunks(0..scratch.len()),
                        mint,
                        maxt,
                        &mut decoded,
                        limits,
                        &mut work,
                    )?
                }
            }
            if (decoded.floats.len(), decoded.histograms.len()) != before {
                kept.push(hit.labels);
                ends.push(decoded.floats.len());
                hist_ends.push(decoded.histograms.len());
            }
        }
        let mut histograms = std::mem::take(&mut decoded.histograms).into_iter();
        let mut hist_start = 0;
        self.symbols.with_resolver(|r| {
            for ((labels, end), hist_end) in kept.into_iter().zip(ends).zip(hist_ends) {
                out.extend_histograms(histograms.by_ref().take(hist_end - hist_start));
                hist_start = hist_end;
                out.add_series(Self::label_of(r, &syms[labels]), end);
            }
        });
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::super::{MatchOp, SAMPLES_PER_CHUNK};
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// `series` series of metric `m`, each with a sample every second from t=1s to
    /// t=`samples` s.
    fn store(series: usize, samples: i64) -> Store {
        let store = Store::new();
        let mut app = store.appender();
        for i in 0..series {
            let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:03}"))]);
            for t in 1..=samples {
                app.append(&l, t * 1000, t as f64).unwrap();
            }
        }
        app.commit();
        store
    }

    fn m() -> Vec<Matcher> {
        vec![Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()]
    }

    fn limit(max_samples: usize) -> SelectLimits<'static> {
        SelectLimits {
            max_samples,
            ..SelectLimits::UNLIMITED
        }
    }

    #[test]
    fn selection_of_exactly_the_budget_is_answered_and_one_more_refused() {
        // 10 series × 600 samples (5 chunks each): 6,000 samples in [1s, 600s].
        let store = store(10, 600);
        let all = store.select_flat(&m(), 0, 600_000, &limit(6_000)).unwrap();
        assert_eq!(all.samples().len(), 6_000);
        assert_eq!(all.len(), 10);
        assert_eq!(
            store.select_flat(&m(), 0, 600_000, &limit(5_999)),
            Err(SelectError::TooManySamples)
        );
        // [100s, 400s] holds 301 samples per series, 3,010 in all.
        assert_eq!(
            store
                .select_flat(&m(), 100_000, 400_000, &limit(3_010))
                .unwrap()
                .samples()
                .len(),
            3_010
        );
        assert_eq!(
            store.select_flat(&m(), 100_000, 400_000, &limit(3_009)),
            Err(SelectError::TooManySamples)
        );
    }

    #[test]
    fn series_past_the_copy_budget_are_copied_when_decoded_and_answer_the_same() {
        // Each series' one chunk holds 120 samples, the range [1s, 60s] 60 of them: with a
        // budget of 60 × 20 the copies' headers pass the budget after 10 series, and the
        // other 10 are copied one by one while decoding.
        let store = store(20, i64::from(SAMPLES_PER_CHUNK));
        let budget = 60 * 20;
        let got = store.select_flat(&m(), 0, 60_000, &limit(budget)).unwrap();
        let want = store
            .select_flat(&m(), 0, 60_000, &SelectLimits::UNLIMITED)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(got.samples().len(), budget);
        for i in 0..got.len() {
            let ts: Vec<i64> = got.samples()[got.range(i)].iter().map(|s| s.t).collect();
            assert_eq!(ts, (1..=60).map(|t| t * 1000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn canceled_or_past_deadline_selection_stops() {
        let store = store(3, 10);
        let flag = AtomicBool::new(true);
        let canceled = SelectLimits {
            cancel: Some(&flag),
            ..SelectLimits::UNLIMITED
        };
        assert_eq!(
            store.select_flat(&m(), 0, 10_000, &canceled),
            Err(SelectError::Canceled)
        );
        let late = SelectLimits {
            deadline: std::time::Instant::now().checked_sub(std::time::Duration::from_secs(1)),
            ..SelectLimits::UNLIMITED
        };
        assert_eq!(
            store.select_flat(&m(), 0, 10_000, &late),
            Err(SelectError::Timeout)
        );
        // Control: the flag cleared, the same selection is answered.
        flag.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            store
                .select_flat(&m(), 0, 10_000, &canceled)
                .unwrap()
                .samples()
                .len(),
            30
        );
    }
}
