//! Iterating a histogram's buckets: each populated bucket with its bounds, inclusivity,
//! count and index, in either direction, optionally merged into a coarser schema
//! (Prometheus' bucket iterators).

use std::fmt;

use super::bounds::{bucket_bound, is_exponential_schema, target_index};
use super::{FloatHistogram, Span};

/// One bucket: observations in `(lower, upper]` (or with the inclusivity the flags say) and
/// its index within its schema and side. The zero bucket has index 0 and both bounds
/// inclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
    pub index: i32,
}

impl fmt::Display for Bucket {
    /// Prometheus' `Bucket.String`: `[lower,upper):count` with `[`/`]` for inclusive bounds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.lower_inclusive { "[" } else { "(" })?;
        super::format::write_g(f, self.lower)?;
        f.write_str(",")?;
        super::format::write_g(f, self.upper)?;
        f.write_str(if self.upper_inclusive { "]:" } else { "):" })?;
        super::format::write_g(f, self.count)
    }
}

/// The `(index, count)` pairs a span list and its counts describe, ascending by index. It
/// stops early (never panics) when the spans list more buckets than there are counts.
#[derive(Clone, Debug)]
pub(super) struct IndexedCounts<'a> {
    spans: &'a [Span],
    counts: &'a [f64],
    span: usize,
    in_span: u32,
    bucket: usize,
    index: i64,
}

impl<'a> IndexedCounts<'a> {
    pub(super) fn new(spans: &'a [Span], counts: &'a [f64]) -> Self {
        IndexedCounts {
            spans,
            counts,
            span: 0,
            in_span: 0,
            bucket: 0,
            index: 0,
        }
    }
}

impl Iterator for IndexedCounts<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        loop {
            let span = self.spans.get(self.span)?;
            if self.in_span == 0 {
                self.index += i64::from(span.offset);
            }
            if self.in_span < span.length {
                let count = *self.counts.get(self.bucket)?;
                let index = self.index;
                self.in_span += 1;
                self.bucket += 1;
                self.index += 1;
                return Some((index, count));
            }
            // Span exhausted (or of length 0): on to the next one.
            self.span += 1;
            self.in_span = 0;
        }
    }
}

/// The same pairs, descending by index. Empty when the spans and counts disagree in number.
#[derive(Clone, Debug)]
pub(super) struct IndexedCountsRev<'a> {
    spans: &'a [Span],
    counts: &'a [f64],
    span: usize,
    left_in_span: u32,
    bucket: usize,
    /// One past the index of the next bucket to yield.
    end: i64,
}

impl<'a> IndexedCountsRev<'a> {
    pub(super) fn new(spans: &'a [Span], counts: &'a [f64]) -> Self {
        let total: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        if total != counts.len() as u64 {
            return IndexedCountsRev {
                spans: &[],
                counts: &[],
                span: 0,
                left_in_span: 0,
                bucket: 0,
                end: 0,
            };
        }
        let end = spans
            .iter()
            .map(|s| i64::from(s.offset) + i64::from(s.length))
            .sum();
        let left_in_span = spans.last().map_or(0, |s| s.length);
        IndexedCountsRev {
            spans,
            counts,
            span: spans.len(),
            left_in_span,
            bucket: counts.len(),
            end,
        }
    }
}

impl Iterator for IndexedCountsRev<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        while self.left_in_span == 0 {
            // Step back over the current span's offset into the previous span.
            if self.span <= 1 {
                return None;
            }
            self.end -= i64::from(self.spans[self.span - 1].offset);
            self.span -= 1;
            self.left_in_span = self.spans[self.span - 1].length;
        }
        self.left_in_span -= 1;
        self.bucket -= 1;
        self.end -= 1;
        Some((self.end, self.counts[self.bucket]))
    }
}

fn clamp_index(index: i64) -> i32 {
    index.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Builds a [`Bucket`] for `index` of one side of a histogram of `schema`.
pub(super) fn make_bucket(
    index: i64,
    count: f64,
    schema: i32,
    positive: bool,
    custom_values: &[f64],
) -> Bucket {
    let index = clamp_index(index);
    let upper = bucket_bound(index, schema, custom_values);
    let lower = bucket_bound(index.saturating_sub(1), schema, custom_values);
    let (lower, upper) = if positive {
        (lower, upper)
    } else {
        (-upper, -lower)
    };
    let (lower_inclusive, upper_inclusive) = if schema == super::CUSTOM_BUCKETS_SCHEMA {
        (index == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
        index,
    }
}

/// Buckets of one side in ascending index order (away from zero), merged into
/// `target_schema` and skipping, for exponential schemas, buckets whose absolute upper
/// bound is at most `absolute_start` (Prometheus' `floatBucketIterator`).
#[derive(Clone, Debug)]
pub struct BucketIter<'a> {
    pairs: std::iter::Peekable<IndexedCounts<'a>>,
    schema: i32,
    target_schema: i32,
    positive: bool,
    custom_values: &'a [f64],
    absolute_start: f64,
    reached_start: bool,
}

impl<'a> BucketIter<'a> {
    pub(super) fn new(
        h: &'a FloatHistogram,
        positive: bool,
        absolute_start: f64,
        target_schema: i32,
    ) -> Self {
        let (spans, counts) = if positive {
            (&h.positive_spans[..], &h.positive_buckets[..])
        } else {
            (&h.negative_spans[..], &h.negative_buckets[..])
        };
        // A coarser target only makes sense between exponential schemas.
        let target_schema =
            if is_exponential_schema(h.schema) && is_exponential_schema(target_schema) {
                target_schema.min(h.schema)
            } else {
                h.schema
            };
        BucketIter {
            pairs: IndexedCounts::new(spans, counts).peekable(),
            schema: h.schema,
            target_schema,
            positive,
            custom_values: if positive { &h.custom_values } else { &[] },
            absolute_start,
            reached_start: absolute_start == 0.0,
        }
    }

    /// The next `(index, count)` in the target schema, without bounds.
    pub(super) fn next_indexed(&mut self) -> Option<(i64, f64)> {
        loop {
            let (index, mut count) = self.pairs.next()?;
            let target = target_index(index, self.schema, self.target_schema);
            if self.schema != self.target_schema {
                while let Some((next, c)) = self.pairs.peek() {
                    if target_index(*next, self.schema, self.target_schema) != target {
                        break;
                    }
                    count += c;
                    self.pairs.next();
                }
            }
            if !self.reached_start && is_exponential_schema(self.target_schema) {
                let bound =
                    super::bounds::exponential_bound(clamp_index(target), self.target_schema);
                if bound <= self.absolute_start {
                    continue;
                }
            }
            self.reached_start = true;
            return Some((target, count));
        }
    }
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let (index, count) = self.next_indexed()?;
        Some(make_bucket(
            index,
            count,
            self.target_schema,
            self.positive,
            self.custom_values,
        ))
    }
}

/// Buckets of one side in descending index order (towards zero).
#[derive(Clone, Debug)]
pub struct ReverseBucketIter<'a> {
    pairs: IndexedCountsRev<'a>,
    schema: i32,
    positive: bool,
    custom_values: &'a [f64],
}

impl<'a> ReverseBucketIter<'a> {
    fn new(h: &'a FloatHistogram, positive: bool) -> Self {
        let (spans, counts, custom_values) = if positive {
            (
                &h.positive_spans[..],
                &h.positive_buckets[..],
                &h.custom_values[..],
            )
        } else {
            (&h.negative_spans[..], &h.negative_buckets[..], &[][..])
        };
        ReverseBucketIter {
            pairs: IndexedCountsRev::new(spans, counts),
            schema: h.schema,
            positive,
            custom_values,
        }
    }
}

impl Iterator for ReverseBucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let (index, count) = self.pairs.next()?;
        Some(make_bucket(
            index,
            count,
            self.schema,
            self.positive,
            self.custom_values,
        ))
    }
}

/// All buckets from the lowest to the highest value (or the reverse): negative buckets, the
/// zero bucket when it holds observations, positive buckets. A bucket overlapping the zero
/// bucket is cut at the zero threshold.
#[derive(Clone, Debug)]
pub struct AllBucketIter<'a> {
    first: ReverseOrForward<'a>,
    zero: Option<Bucket>,
    last: ReverseOrForward<'a>,
    zero_threshold: f64,
    state: u8,
}

#[derive(Clone, Debug)]
enum ReverseOrForward<'a> {
    Reverse(ReverseBucketIter<'a>),
    Forward(BucketIter<'a>),
}

impl Iterator for ReverseOrForward<'_> {
    type Item = Bucket;
    fn next(&mut self) -> Option<Bucket> {
        match self {
            ReverseOrForward::Reverse(it) => it.next(),
            ReverseOrForward::Forward(it) => it.next(),
        }
    }
}

impl AllBucketIter<'_> {
    fn clip(&self, mut b: Bucket) -> Bucket {
        let t = self.zero_threshold;
        if b.upper < 0.0 && b.upper > -t {
            b.upper = -t;
        }
        if b.lower > 0.0 && b.lower < t {
            b.lower = t;
        }
        b
    }
}

impl Iterator for AllBucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        loop {
            match self.state {
                0 => match self.first.next() {
                    Some(b) => return Some(self.clip(b)),
                    None => self.state = 1,
                },
                1 => {
                    self.state = 2;
                    if let Some(z) = self.zero.take() {
                        return Some(z);
                    }
                }
                _ => {
                    let b = self.last.next()?;
                    return Some(self.clip(b));
                }
            }
        }
    }
}

impl FloatHistogram {
    /// The zero bucket `[-zero_threshold, zero_threshold]`; `None` for custom buckets,
    /// which have none.
    pub fn zero_bucket(&self) -> Option<Bucket> {
        if self.uses_custom_buckets() {
            return None;
        }
        Some(Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        })
    }

    /// Positive buckets, ascending (starting next to the zero bucket).
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        BucketIter::new(self, true, 0.0, self.schema)
    }

    /// Negative buckets, descending in value (starting next to the zero bucket).
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        BucketIter::new(self, false, 0.0, self.schema)
    }

    /// Positive buckets, descending (starting at the highest bucket).
    pub fn positive_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(self, true)
    }

    /// Negative buckets, ascending in value (starting at the lowest bucket).
    pub fn negative_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(self, false)
    }

    /// One side's buckets merged into the coarser exponential `target_schema` (clamped to
    /// the histogram's own schema; custom buckets are never merged).
    pub fn bucket_iter_in_schema(&self, positive: bool, target_schema: i32) -> BucketIter<'_> {
        BucketIter::new(self, positive, 0.0, target_schema)
    }

    fn populated_zero_bucket(&self) -> Option<Bucket> {
        self.zero_bucket().filter(|z| z.count > 0.0)
    }

    /// Every bucket from the lowest value to the highest.
    pub fn all_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            first: ReverseOrForward::Reverse(self.negative_reverse_bucket_iter()),
            zero: self.populated_zero_bucket(),
            last: ReverseOrForward::Forward(self.positive_bucket_iter()),
            zero_threshold: self.zero_threshold,
            state: 0,
        }
    }

    /// Every bucket from the highest value to the lowest.
    pub fn all_reverse_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            first: ReverseOrForward::Reverse(self.positive_reverse_bucket_iter()),
            zero: self.populated_zero_bucket(),
            last: ReverseOrForward::Forward(self.negative_bucket_iter()),
            zero_threshold: self.zero_threshold,
            state: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn h() -> FloatHistogram {
        // Schema 0, zero bucket ±0.5 with 3; positive indexes 0,1 and 4; negative index 1.
        FloatHistogram {
            schema: 0,
            zero_threshold: 0.5,
            zero_count: 3.0,
            count: 10.0,
            positive_spans: vec![s(0, 2), s(2, 1)],
            positive_buckets: vec![1.0, 2.0, 3.0],
            negative_spans: vec![s(1, 1)],
            negative_buckets: vec![1.0],
            ..Default::default()
        }
    }

    fn summary(it: impl Iterator<Item = Bucket>) -> Vec<(f64, f64, i32, f64)> {
        it.map(|b| (b.lower, b.upper, b.index, b.count)).collect()
    }

    #[test]
    fn one_side_in_both_directions() {
        let h = h();
        let up = vec![(0.5, 1.0, 0, 1.0), (1.0, 2.0, 1, 2.0), (8.0, 16.0, 4, 3.0)];
        assert_eq!(summary(h.positive_bucket_iter()), up);
        let mut down = up.clone();
        down.reverse();
        assert_eq!(summary(h.positive_reverse_bucket_iter()), down);
        assert_eq!(
            summary(h.negative_bucket_iter()),
            vec![(-2.0, -1.0, 1, 1.0)]
        );
        assert_eq!(
            summary(h.negative_reverse_bucket_iter()),
            vec![(-2.0, -1.0, 1, 1.0)]
        );
        let b = h.positive_bucket_iter().next().unwrap();
        assert!(!b.lower_inclusive && b.upper_inclusive);
        let b = h.negative_bucket_iter().next().unwrap();
        assert!(b.lower_inclusive && !b.upper_inclusive);
    }

    #[test]
    fn all_buckets_with_the_zero_bucket_between() {
        let h = h();
        let all = summary(h.all_bucket_iter());
        assert_eq!(
            all,
            vec![
                (-2.0, -1.0, 1, 1.0),
                (-0.5, 0.5, 0, 3.0),
                (0.5, 1.0, 0, 1.0),
                (1.0, 2.0, 1, 2.0),
                (8.0, 16.0, 4, 3.0)
            ]
        );
        let mut rev = summary(h.all_reverse_bucket_iter());
        rev.reverse();
        assert_eq!(rev, all);
        // A bucket reaching into the zero bucket is cut at the threshold: (0.5,1] with a
        // threshold of 0.7 starts at 0.7.
        let mut h2 = h.clone();
        h2.zero_threshold = 0.7;
        assert_eq!(h2.all_bucket_iter().nth(2).unwrap().lower, 0.7);
        // An empty zero bucket is not listed.
        h2.zero_count = 0.0;
        assert_eq!(h2.all_bucket_iter().count(), 4);
    }

    #[test]
    fn merged_into_a_coarser_schema() {
        // Schema 0 → -1: (0.5,1] → (0.25,1] (index 0); (1,2] → (1,4] (index 1); (8,16] → (4,16]
        // (index 2).
        let h = h();
        let merged = summary(h.bucket_iter_in_schema(true, -1));
        assert_eq!(
            merged,
            vec![(0.25, 1.0, 0, 1.0), (1.0, 4.0, 1, 2.0), (4.0, 16.0, 2, 3.0)]
        );
        // To -2 (powers of 16): (1/16,1] has 1, (1,16] has 5.
        let merged = summary(h.bucket_iter_in_schema(true, -2));
        assert_eq!(merged, vec![(0.0625, 1.0, 0, 1.0), (1.0, 16.0, 1, 5.0)]);
        // Skipping buckets at or below a start value.
        let skipped: Vec<i32> = BucketIter::new(&h, true, 1.0, 0).map(|b| b.index).collect();
        assert_eq!(skipped, vec![1, 4]);
    }

    #[test]
    fn custom_buckets_and_broken_layouts() {
        let h = FloatHistogram {
            schema: -53,
            custom_values: vec![1.0, 10.0],
            positive_spans: vec![s(0, 1), s(1, 1)],
            positive_buckets: vec![4.0, 5.0],
            ..Default::default()
        };
        assert_eq!(
            summary(h.all_bucket_iter()),
            vec![
                (f64::NEG_INFINITY, 1.0, 0, 4.0),
                (10.0, f64::INFINITY, 2, 5.0)
            ]
        );
        assert_eq!(h.zero_bucket(), None);
        // More spans than counts: the iterators stop instead of panicking.
        let broken = FloatHistogram {
            positive_spans: vec![s(0, 5)],
            positive_buckets: vec![1.0],
            ..h
        };
        assert_eq!(broken.positive_bucket_iter().count(), 1);
        assert_eq!(broken.positive_reverse_bucket_iter().count(), 0);
    }
}
