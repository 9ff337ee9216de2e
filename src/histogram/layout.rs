//! Bucket layouts: building span lists from ascending `(index, count)` pairs, compacting
//! them (Prometheus' `Compact`), comparing layouts (`spansMatch`), merging two layouts
//! bucket by bucket (the union `Add`/`Sub` produce) and reducing the resolution of a layout.

use super::bounds::target_index;
use super::iter::IndexedCounts;
use super::{FloatHistogram, Span};

/// Collects buckets in ascending index order into spans and counts, starting a new span at
/// every gap (so consecutive indexes always share one span).
#[derive(Debug, Default)]
pub(super) struct SpanBuilder {
    pub(super) spans: Vec<Span>,
    pub(super) counts: Vec<f64>,
    /// Index of the last bucket pushed.
    last: i64,
}

impl SpanBuilder {
    pub(super) fn with_capacity(buckets: usize) -> Self {
        SpanBuilder {
            spans: Vec::new(),
            counts: Vec::with_capacity(buckets),
            last: 0,
        }
    }

    /// Appends bucket `index` (greater than the last one pushed).
    pub(super) fn push(&mut self, index: i64, count: f64) {
        match self.spans.last_mut() {
            Some(span) if index == self.last + 1 => span.length += 1,
            Some(_) => self.spans.push(Span {
                offset: clamp_offset(index - self.last - 1),
                length: 1,
            }),
            None => self.spans.push(Span {
                offset: clamp_offset(index),
                length: 1,
            }),
        }
        self.counts.push(count);
        self.last = index;
    }

    /// Appends bucket `index`, filling the gap to the previous bucket with empty buckets
    /// when it is at most `max_empty` wide.
    fn push_filling(&mut self, index: i64, count: f64, max_empty: usize) {
        if !self.spans.is_empty() {
            let gap = index - self.last - 1;
            if gap > 0 && gap as u64 <= max_empty as u64 {
                for i in self.last + 1..index {
                    self.push(i, 0.0);
                }
            }
        }
        self.push(index, count);
    }

    pub(super) fn finish(self) -> (Vec<Span>, Vec<f64>) {
        (self.spans, self.counts)
    }
}

fn clamp_offset(offset: i64) -> i32 {
    offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Drops empty buckets from a layout, keeping runs of at most `max_empty` empty buckets
/// between populated ones inside one span (and merging spans that close a gap that small).
pub(super) fn compact_side(spans: &mut Vec<Span>, counts: &mut Vec<f64>, max_empty: usize) {
    // Fast path: nothing empty, nothing to merge.
    let nothing_to_do = !counts.contains(&0.0)
        && spans
            .iter()
            .skip(1)
            .all(|s| s.length > 0 && s.offset as i64 > max_empty as i64)
        && spans.first().is_none_or(|s| s.length > 0);
    if nothing_to_do {
        return;
    }
    let mut b = SpanBuilder::with_capacity(counts.len());
    for (index, count) in IndexedCounts::new(spans, counts) {
        if count != 0.0 {
            b.push_filling(index, count, max_empty);
        }
    }
    (*spans, *counts) = b.finish();
}

/// Whether two span lists describe the same bucket indexes (ignoring how they are split
/// into spans and empty spans), as Prometheus' `spansMatch`.
pub(super) fn spans_match(a: &[Span], b: &[Span]) -> bool {
    runs(a).eq(runs(b))
}

/// Maximal runs `(first index, length)` of the indexes a span list covers.
fn runs(spans: &[Span]) -> impl Iterator<Item = (i64, u64)> + '_ {
    let mut i = 0;
    let mut index = 0i64;
    std::iter::from_fn(move || {
        let mut start = None;
        let mut len = 0u64;
        while let Some(s) = spans.get(i) {
            if s.length == 0 {
                index += i64::from(s.offset);
                i += 1;
                continue;
            }
            let first = index + i64::from(s.offset);
            match start {
                None => start = Some(first),
                Some(st) if first == st + len as i64 => {}
                Some(_) => break,
            }
            len += u64::from(s.length);
            index = first + i64::from(s.length);
            i += 1;
        }
        start.map(|s| (s, len))
    })
}

/// The buckets of one side merged from `schema` into the coarser `target` schema.
pub(super) fn reduce_side(
    spans: &[Span],
    counts: &[f64],
    schema: i32,
    target: i32,
) -> (Vec<Span>, Vec<f64>) {
    let mut b = SpanBuilder::with_capacity(counts.len());
    let mut current: Option<(i64, f64)> = None;
    for (index, count) in IndexedCounts::new(spans, counts) {
        let t = target_index(index, schema, target);
        match &mut current {
            Some((ti, c)) if *ti == t => *c += count,
            _ => {
                if let Some((ti, c)) = current.take() {
                    b.push(ti, c);
                }
                current = Some((t, count));
            }
        }
    }
    if let Some((ti, c)) = current {
        b.push(ti, c);
    }
    b.finish()
}

/// Adds (or with `negate`, subtracts) the ascending `(index, count)` pairs of `other` into
/// the layout `spans`/`counts`; buckets missing on one side are taken as empty, so the
/// result covers the union of both layouts.
pub(super) fn merge_side(
    spans: &mut Vec<Span>,
    counts: &mut Vec<f64>,
    other: impl Iterator<Item = (i64, f64)>,
    negate: bool,
) {
    let sign = if negate { -1.0 } else { 1.0 };
    let mut other = other.peekable();
    if other.peek().is_none() {
        return;
    }
    let mut b = SpanBuilder::with_capacity(counts.len());
    let mut mine = IndexedCounts::new(spans, counts).peekable();
    loop {
        let next = match (mine.peek().copied(), other.peek().copied()) {
            (None, None) => break,
            (Some(m), None) => {
                mine.next();
                m
            }
            (None, Some((i, c))) => {
                other.next();
                (i, sign * c)
            }
            (Some((mi, mc)), Some((oi, oc))) => {
                if mi < oi {
                    mine.next();
                    (mi, mc)
                } else if oi < mi {
                    other.next();
                    (oi, sign * oc)
                } else {
                    mine.next();
                    other.next();
                    (mi, if negate { mc - oc } else { mc + oc })
                }
            }
        };
        b.push(next.0, next.1);
    }
    (*spans, *counts) = b.finish();
}

impl FloatHistogram {
    /// Removes empty buckets at the ends of spans, merges spans at most `max_empty` empty
    /// buckets apart and splits spans at longer runs of empty buckets (Prometheus'
    /// `Compact`). `compact(0)` keeps only populated buckets.
    pub fn compact(&mut self, max_empty: usize) -> &mut Self {
        compact_side(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            max_empty,
        );
        compact_side(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            max_empty,
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn compact_drops_empty_buckets_and_merges_close_spans() {
        // Indexes 0..=4 with counts [0 1 0 0 2], then index 7 with 3.
        let mut spans = vec![s(0, 5), s(2, 1)];
        let mut counts = vec![0.0, 1.0, 0.0, 0.0, 2.0, 3.0];
        compact_side(&mut spans, &mut counts, 0);
        // Populated: 1, 4, 7 — each its own span.
        assert_eq!(spans, vec![s(1, 1), s(2, 1), s(2, 1)]);
        assert_eq!(counts, vec![1.0, 2.0, 3.0]);

        let mut spans = vec![s(0, 5), s(2, 1)];
        let mut counts = vec![0.0, 1.0, 0.0, 0.0, 2.0, 3.0];
        compact_side(&mut spans, &mut counts, 2);
        // Gaps of 2 are kept inside one span: indexes 1..=7.
        assert_eq!(spans, vec![s(1, 7)]);
        assert_eq!(counts, vec![1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0]);

        // Zero-length and adjacent spans fold together.
        let mut spans = vec![s(-2, 1), s(3, 0), s(0, 2)];
        let mut counts = vec![1.0, 2.0, 3.0];
        compact_side(&mut spans, &mut counts, 0);
        assert_eq!(spans, vec![s(-2, 1), s(3, 2)]);

        // All empty: nothing left.
        let mut spans = vec![s(0, 2)];
        let mut counts = vec![0.0, 0.0];
        compact_side(&mut spans, &mut counts, 0);
        assert!(spans.is_empty() && counts.is_empty());
    }

    #[test]
    fn spans_match_compares_the_covered_indexes() {
        assert!(spans_match(&[s(0, 2), s(0, 1)], &[s(0, 3)]));
        assert!(spans_match(
            &[s(1, 2), s(2, 0), s(3, 1)],
            &[s(1, 2), s(5, 1)]
        ));
        assert!(spans_match(&[], &[s(4, 0)]));
        assert!(!spans_match(&[s(0, 2)], &[s(1, 2)]));
        assert!(!spans_match(&[s(0, 2), s(1, 1)], &[s(0, 3)]));
    }

    #[test]
    fn reduce_side_merges_pairs_of_buckets() {
        // Schema 1 → 0: indexes (2k-1, 2k) merge into k. Indexes -1,0,1,2,3 → 0,0,1,1,2.
        let (spans, counts) = reduce_side(&[s(-1, 5)], &[1.0, 2.0, 3.0, 4.0, 5.0], 1, 0);
        assert_eq!(spans, vec![s(0, 3)]);
        assert_eq!(counts, vec![3.0, 7.0, 5.0]);
    }

    #[test]
    fn merge_side_takes_the_union() {
        let mut spans = vec![s(0, 2)];
        let mut counts = vec![1.0, 2.0];
        merge_side(
            &mut spans,
            &mut counts,
            [(1, 10.0), (3, 5.0), (-2, 0.5)].into_iter().take(2),
            false,
        );
        assert_eq!(spans, vec![s(0, 2), s(1, 1)]);
        assert_eq!(counts, vec![1.0, 12.0, 5.0]);
        merge_side(
            &mut spans,
            &mut counts,
            [(-1, 1.0), (0, 1.0)].into_iter(),
            true,
        );
        assert_eq!(spans, vec![s(-1, 3), s(1, 1)]);
        assert_eq!(counts, vec![-1.0, 0.0, 12.0, 5.0]);
    }
}
