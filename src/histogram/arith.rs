//! Arithmetic on histograms as Prometheus 3 does it: scaling (`mul`, `div`, `negate`),
//! adding and subtracting histograms of different schemas (reduced to the coarser one) and
//! zero thresholds (widened to cover both), custom-bucket histograms with different bounds
//! (reconciled to the bounds both have), the counter-reset hint of the result, resolution
//! reduction, counter-reset detection and exact equality.

use super::bounds::{exponential_bound, is_exponential_schema};
use super::iter::{BucketIter, IndexedCounts};
use super::layout::{merge_side, reduce_side, spans_match, SpanBuilder};
use super::{CounterResetHint, FloatHistogram, HistogramError};

/// What an addition or subtraction noticed, for the annotations PromQL returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArithOutcome {
    /// One operand said `CounterReset`, the other `NotCounterReset`: the result's hint is
    /// `Unknown` (Prometheus warns "conflicting counter resets").
    pub counter_reset_collision: bool,
    /// Custom-bucket operands with different bounds were mapped onto the bounds both have
    /// (Prometheus informs "mismatched custom buckets were reconciled").
    pub nhcb_bounds_reconciled: bool,
}

impl FloatHistogram {
    /// Scales every count and the sum by `factor`. A negative factor makes the result a
    /// gauge histogram.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|c| *c *= factor);
        self.negative_buckets.iter_mut().for_each(|c| *c *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides every count and the sum by `divisor`. Dividing by zero leaves count, sum and
    /// zero count ±Inf or NaN and removes all buckets (as Prometheus does, without touching
    /// the hint); a negative divisor makes the result a gauge histogram.
    pub fn div(&mut self, divisor: f64) -> &mut Self {
        self.zero_count /= divisor;
        self.count /= divisor;
        self.sum /= divisor;
        if divisor == 0.0 {
            self.positive_spans.clear();
            self.positive_buckets.clear();
            self.negative_spans.clear();
            self.negative_buckets.clear();
            return self;
        }
        self.positive_buckets.iter_mut().for_each(|c| *c /= divisor);
        self.negative_buckets.iter_mut().for_each(|c| *c /= divisor);
        if divisor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Unary minus: `mul(-1)` (the result is a gauge histogram).
    pub fn negate(&mut self) -> &mut Self {
        self.mul(-1.0)
    }

    /// Adds `other` into `self`: count, sum, zero bucket and buckets, inserting buckets
    /// `self` lacks. The result has the coarser schema and the wider zero threshold of the
    /// two (buckets inside it move into the zero bucket); custom-bucket histograms with
    /// different bounds are mapped onto the bounds both have. Mixing exponential and custom
    /// buckets is an error (and leaves `self` unchanged). The result may hold empty buckets;
    /// [`compact`](Self::compact) removes them.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<ArithOutcome, HistogramError> {
        self.add_or_sub(other, false)
    }

    /// Subtracts `other` from `self`, as [`add`](Self::add) adds. The counter-reset hint is
    /// reconciled as for an addition; PromQL's `-` operator makes the result a gauge
    /// afterwards.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<ArithOutcome, HistogramError> {
        self.add_or_sub(other, true)
    }

    fn add_or_sub(
        &mut self,
        other: &FloatHistogram,
        negate: bool,
    ) -> Result<ArithOutcome, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let mut outcome = ArithOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            ..Default::default()
        };
        let sign = if negate { -1.0 } else { 1.0 };
        if !self.uses_custom_buckets() {
            let other_zero = self.reconcile_zero_buckets(other);
            self.zero_count += sign * other_zero;
        }
        self.count += sign * other.count;
        self.sum += sign * other.sum;

        if self.uses_custom_buckets() {
            if self.custom_values == other.custom_values {
                if !self.add_same_layout(other, negate) {
                    let theirs = other.positive_bucket_iter_indexed();
                    merge_side(
                        &mut self.positive_spans,
                        &mut self.positive_buckets,
                        theirs,
                        negate,
                    );
                }
            } else {
                outcome.nhcb_bounds_reconciled = true;
                self.add_mismatched_custom(other, negate);
            }
            return Ok(outcome);
        }

        if other.schema < self.schema {
            self.reduce_layout(other.schema);
        }
        if self.add_same_layout(other, negate) {
            return Ok(outcome);
        }
        let threshold = self.zero_threshold;
        let schema = self.schema;
        // Other's buckets in self's schema, without those inside the (new) zero bucket.
        let pos = BucketIter::new(other, true, threshold, schema);
        merge_side(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            IndexedIter(pos),
            negate,
        );
        let neg = BucketIter::new(other, false, threshold, schema);
        merge_side(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            IndexedIter(neg),
            negate,
        );
        Ok(outcome)
    }

    fn positive_bucket_iter_indexed(&self) -> IndexedCounts<'_> {
        IndexedCounts::new(&self.positive_spans, &self.positive_buckets)
    }

    /// Adds `other`'s buckets element by element when both have the same layout, none of
    /// other's buckets lies inside the zero bucket and the schemas agree (the common case
    /// of summing series of one histogram); returns false, changing nothing, otherwise.
    fn add_same_layout(&mut self, other: &FloatHistogram, negate: bool) -> bool {
        let inside_zero = |h: &FloatHistogram| {
            self.zero_threshold > 0.0
                && [&h.positive_spans, &h.negative_spans].iter().any(|spans| {
                    spans.first().is_some_and(|s| {
                        exponential_bound(s.offset, h.schema) <= self.zero_threshold
                    })
                })
        };
        let same = self.schema == other.schema
            && self.positive_spans == other.positive_spans
            && self.negative_spans == other.negative_spans
            && self.positive_buckets.len() == other.positive_buckets.len()
            && self.negative_buckets.len() == other.negative_buckets.len()
            && (self.uses_custom_buckets()
                || (self.zero_threshold == other.zero_threshold && !inside_zero(other)));
        if !same {
            return false;
        }
        let sign = if negate { -1.0 } else { 1.0 };
        for (a, b) in self
            .positive_buckets
            .iter_mut()
            .zip(&other.positive_buckets)
        {
            *a += sign * b;
        }
        for (a, b) in self
            .negative_buckets
            .iter_mut()
            .zip(&other.negative_buckets)
        {
            *a += sign * b;
        }
        true
    }

    /// Maps both histograms' buckets onto the custom bounds they share and adds them; empty
    /// buckets of the result are dropped (Prometheus' `addCustomBucketsWithMismatches`).
    fn add_mismatched_custom(&mut self, other: &FloatHistogram, negate: bool) {
        let shared = intersect_bounds(&self.custom_values, &other.custom_values);
        let mut target = vec![0.0; shared.len() + 1];
        map_custom(
            &mut target,
            &shared,
            self.positive_bucket_iter_indexed(),
            &self.custom_values,
            1.0,
        );
        map_custom(
            &mut target,
            &shared,
            other.positive_bucket_iter_indexed(),
            &other.custom_values,
            if negate { -1.0 } else { 1.0 },
        );
        let mut b = SpanBuilder::with_capacity(target.len());
        for (i, c) in target.iter().enumerate() {
            if *c != 0.0 {
                b.push(i as i64, *c);
            }
        }
        (self.positive_spans, self.positive_buckets) = b.finish();
        self.custom_values = shared;
    }

    /// Sets the hint of a sum or difference: equal hints stay, a gauge wins, unknown wins
    /// next; `CounterReset` against `NotCounterReset` becomes `Unknown` and is reported.
    pub(super) fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => false,
            (Gauge, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (Unknown, _) => false,
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// What the zero count would be with the given threshold (≥ the current one): buckets
    /// inside it join the zero bucket, and a threshold inside a populated bucket is raised to
    /// that bucket's far bound. Returns the count and the (possibly raised) threshold.
    pub(super) fn zero_count_for_larger_threshold(&self, larger: f64) -> (f64, f64) {
        let mut larger = larger;
        if larger.partial_cmp(&self.zero_threshold) != Some(std::cmp::Ordering::Greater) {
            return (self.zero_count, self.zero_threshold.max(larger));
        }
        'outer: loop {
            let mut count = self.zero_count;
            for b in self.positive_bucket_iter() {
                if b.lower >= larger {
                    break;
                }
                count += b.count;
                if b.upper > larger {
                    if b.count != 0.0 {
                        larger = b.upper;
                    }
                    break;
                }
            }
            for b in self.negative_bucket_iter() {
                if b.upper <= -larger {
                    break;
                }
                count += b.count;
                if b.lower < -larger {
                    if b.count != 0.0 {
                        // The positive side has to be redone with the raised threshold.
                        larger = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, larger);
        }
    }

    /// Removes the buckets inside the zero bucket (their counts are already in the zero
    /// count), then drops all empty buckets, as Prometheus does.
    fn trim_buckets_in_zero_bucket(&mut self) {
        let t = self.zero_threshold;
        let n = self
            .positive_bucket_iter()
            .take_while(|b| b.lower < t)
            .count();
        self.positive_buckets
            .iter_mut()
            .take(n)
            .for_each(|c| *c = 0.0);
        let n = self
            .negative_bucket_iter()
            .take_while(|b| b.upper > -t)
            .count();
        self.negative_buckets
            .iter_mut()
            .take(n)
            .for_each(|c| *c = 0.0);
        self.compact(0);
    }

    /// Widens the zero buckets of `self` and (virtually) `other` to a threshold that covers
    /// both and lies in no populated bucket of either; updates `self` and returns the zero
    /// count `other` would have.
    pub(super) fn reconcile_zero_buckets(&mut self, other: &FloatHistogram) -> f64 {
        let mut other_count = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        // Each round only raises thresholds to bucket bounds, so this ends; NaN thresholds
        // (never valid) end it at once.
        while other_threshold != self.zero_threshold
            && !other_threshold.is_nan()
            && !self.zero_threshold.is_nan()
        {
            if self.zero_threshold > other_threshold {
                (other_count, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                (self.zero_count, self.zero_threshold) =
                    self.zero_count_for_larger_threshold(other_threshold);
                self.trim_buckets_in_zero_bucket();
            }
        }
        other_count
    }

    fn reduce_layout(&mut self, target: i32) {
        (self.positive_spans, self.positive_buckets) = reduce_side(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            target,
        );
        (self.negative_spans, self.negative_buckets) = reduce_side(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            target,
        );
        self.schema = target;
    }

    /// Merges buckets into the coarser exponential `target_schema` (each bucket of schema
    /// `s-1` covers two of schema `s`). Errors for custom buckets and for a target that is
    /// not an exponential schema below the current one.
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramError> {
        if !is_exponential_schema(self.schema)
            || !is_exponential_schema(target_schema)
            || target_schema >= self.schema
        {
            return Err(HistogramError::CannotReduceResolution {
                from: self.schema,
                to: target_schema,
            });
        }
        self.reduce_layout(target_schema);
        Ok(())
    }

    /// A copy in the coarser (or same) exponential `target_schema` (Prometheus'
    /// `CopyToSchema`).
    pub fn to_schema(&self, target_schema: i32) -> Result<FloatHistogram, HistogramError> {
        let mut c = self.clone();
        if target_schema != self.schema {
            c.reduce_resolution(target_schema)?;
            c.counter_reset_hint = CounterResetHint::Unknown;
        }
        Ok(c)
    }

    /// Whether `self`, following `previous` in a counter series, shows a counter reset: the
    /// hint says so, or any count (total, zero bucket, a bucket) went down, or a populated
    /// bucket vanished, or the resolution rose or the zero threshold shrank (Prometheus'
    /// `DetectReset`; `NotCounterReset` short-cuts to false, gauges are compared like
    /// counters).
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if self.custom_values != previous.custom_values {
                return self.reset_with_mismatched_custom_bounds(previous);
            }
        }
        if self.schema > previous.schema {
            return true;
        }
        if self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero, threshold) =
            previous.zero_count_for_larger_threshold(self.zero_threshold);
        if threshold != self.zero_threshold {
            // The threshold lies inside a populated bucket of the previous histogram.
            return true;
        }
        if self.zero_count < previous_zero {
            return true;
        }
        for positive in [true, false] {
            let current = BucketIter::new(self, positive, self.zero_threshold, self.schema);
            let prev = BucketIter::new(previous, positive, self.zero_threshold, self.schema);
            if bucket_decreased(IndexedIter(current), IndexedIter(prev)) {
                return true;
            }
        }
        false
    }

    fn reset_with_mismatched_custom_bounds(&self, previous: &FloatHistogram) -> bool {
        let shared = intersect_bounds(&self.custom_values, &previous.custom_values);
        let mut now = vec![0.0; shared.len() + 1];
        let mut before = vec![0.0; shared.len() + 1];
        map_custom(
            &mut now,
            &shared,
            self.positive_bucket_iter_indexed(),
            &self.custom_values,
            1.0,
        );
        map_custom(
            &mut before,
            &shared,
            previous.positive_bucket_iter_indexed(),
            &previous.custom_values,
            1.0,
        );
        now.iter().zip(&before).any(|(n, b)| n < b)
    }

    /// Exact equality as Prometheus' `Equals`: same schema, zero threshold, custom bounds
    /// and bucket layout (however split into spans), and bit-identical count, sum, zero count
    /// and bucket counts (so NaN equals NaN when the bits agree). The hint is not compared.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        let same_bits = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let same_counts = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_bits(*x, *y))
        };
        self.schema == other.schema
            && same_bits(self.count, other.count)
            && same_bits(self.sum, other.sum)
            && (!self.uses_custom_buckets() || self.custom_values == other.custom_values)
            && self.zero_threshold == other.zero_threshold
            && same_bits(self.zero_count, other.zero_count)
            && spans_match(&self.negative_spans, &other.negative_spans)
            && same_counts(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && same_counts(&self.positive_buckets, &other.positive_buckets)
    }

    /// Bytes the histogram occupies: the struct and its vectors' elements (Prometheus'
    /// `Size`, for memory accounting).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&self.positive_spans[..])
            + std::mem::size_of_val(&self.negative_spans[..])
            + 8 * (self.positive_buckets.len()
                + self.negative_buckets.len()
                + self.custom_values.len())
    }
}

/// Adapts a [`BucketIter`] to `(index, count)` pairs.
struct IndexedIter<'a>(BucketIter<'a>);

impl Iterator for IndexedIter<'_> {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        self.0.next_indexed()
    }
}

/// Whether any bucket of `previous` holds more than the same bucket of `current` (a missing
/// bucket holds nothing).
fn bucket_decreased(
    current: impl Iterator<Item = (i64, f64)>,
    previous: impl Iterator<Item = (i64, f64)>,
) -> bool {
    let mut current = current.peekable();
    for (index, count) in previous {
        while current.peek().is_some_and(|(i, _)| *i < index) {
            current.next();
        }
        let now = match current.peek() {
            Some((i, c)) if *i == index => *c,
            _ => 0.0,
        };
        if now < count {
            return true;
        }
    }
    false
}

/// The custom bounds both lists have, ascending.
pub(super) fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Adds `sign ×` each bucket to the bucket of `shared` bounds that contains it: the first
/// shared bound at or above the bucket's upper bound, else the +Inf bucket.
fn map_custom(
    target: &mut [f64],
    shared: &[f64],
    buckets: IndexedCounts<'_>,
    bounds: &[f64],
    sign: f64,
) {
    let last = target.len() - 1;
    let mut j = 0;
    for (index, count) in buckets {
        let mut t = last;
        if let Some(upper) = usize::try_from(index).ok().and_then(|i| bounds.get(i)) {
            while j < shared.len() {
                if shared[j] >= *upper {
                    t = j;
                    break;
                }
                j += 1;
            }
        }
        target[t] += sign * count;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn exp(schema: i32, spans: Vec<Span>, buckets: Vec<f64>) -> FloatHistogram {
        let count = buckets.iter().sum();
        FloatHistogram {
            schema,
            count,
            sum: count,
            positive_spans: spans,
            positive_buckets: buckets,
            ..Default::default()
        }
    }

    fn custom(bounds: &[f64], buckets: &[f64]) -> FloatHistogram {
        let count = buckets.iter().sum();
        FloatHistogram {
            schema: -53,
            count,
            sum: count,
            custom_values: bounds.to_vec(),
            positive_spans: vec![s(0, buckets.len() as u32)],
            positive_buckets: buckets.to_vec(),
            ..Default::default()
        }
    }

    fn pairs(h: &FloatHistogram) -> Vec<(i64, f64)> {
        IndexedCounts::new(&h.positive_spans, &h.positive_buckets).collect()
    }

    #[test]
    fn mul_and_div_scale_everything() {
        let mut h = exp(0, vec![s(0, 2)], vec![1.0, 3.0]);
        h.zero_count = 2.0;
        h.mul(2.5);
        assert_eq!(
            (h.count, h.sum, h.zero_count, h.positive_buckets.clone()),
            (10.0, 10.0, 5.0, vec![2.5, 7.5])
        );
        assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
        h.div(-5.0);
        assert_eq!(
            (h.count, h.positive_buckets.clone()),
            (-2.0, vec![-0.5, -1.5])
        );
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        let mut h = exp(0, vec![s(0, 2)], vec![1.0, 3.0]);
        h.div(0.0);
        assert_eq!(h.count, f64::INFINITY);
        assert!(h.positive_spans.is_empty() && h.positive_buckets.is_empty());
        let mut h = exp(0, vec![s(0, 1)], vec![1.0]);
        h.negate();
        assert_eq!(
            (h.count, h.positive_buckets[0], h.counter_reset_hint),
            (-1.0, -1.0, CounterResetHint::Gauge)
        );
    }

    #[test]
    fn add_takes_the_union_of_buckets() {
        // Buckets 0,1 plus buckets 1,2: bucket 1 adds up, 0 and 2 are taken as they are.
        let mut a = exp(0, vec![s(0, 2)], vec![1.0, 2.0]);
        let b = exp(0, vec![s(1, 2)], vec![3.0, 4.0]);
        assert_eq!(a.add(&b), Ok(ArithOutcome::default()));
        assert_eq!(pairs(&a), vec![(0, 1.0), (1, 5.0), (2, 4.0)]);
        assert_eq!((a.count, a.sum), (10.0, 10.0));
        a.sub(&b).unwrap();
        assert_eq!(pairs(&a), vec![(0, 1.0), (1, 2.0), (2, 0.0)]);
        a.compact(0);
        assert_eq!(a.positive_spans, vec![s(0, 2)]);
        // Same layout, element by element.
        let mut a = exp(0, vec![s(0, 2)], vec![1.0, 2.0]);
        a.add(&exp(0, vec![s(0, 2)], vec![1.0, 1.0])).unwrap();
        assert_eq!(pairs(&a), vec![(0, 2.0), (1, 3.0)]);
    }

    #[test]
    fn add_reduces_to_the_coarser_schema() {
        // Schema 1 buckets 1 and 2 are (1,√2] and (√2,2]; schema 0 bucket 1 is (1,2].
        let fine = exp(1, vec![s(1, 2)], vec![1.0, 2.0]);
        let coarse = exp(0, vec![s(1, 1)], vec![3.0]);
        let mut a = fine.clone();
        a.add(&coarse).unwrap();
        assert_eq!((a.schema, pairs(&a)), (0, vec![(1, 6.0)]));
        let mut b = coarse.clone();
        b.add(&fine).unwrap();
        assert_eq!((b.schema, pairs(&b)), (0, vec![(1, 6.0)]));
    }

    #[test]
    fn add_widens_the_zero_bucket() {
        // a: zero bucket ±0.001 with 1; buckets (0.5,1]:4 and (1,2]:5 (schema 0, indexes 0, 1).
        let mut a = exp(0, vec![s(0, 2)], vec![4.0, 5.0]);
        a.zero_threshold = 0.001;
        a.zero_count = 1.0;
        // b: zero bucket ±0.7 with 2 and nothing else. 0.7 lies in a's populated (0.5,1], so
        // the common threshold becomes 1 and (0.5,1] joins the zero bucket: 1 + 4 + 2.
        let mut b = exp(0, vec![], vec![]);
        b.zero_threshold = 0.7;
        b.zero_count = 2.0;
        a.add(&b).unwrap();
        assert_eq!((a.zero_threshold, a.zero_count), (1.0, 7.0));
        assert_eq!(pairs(&a), vec![(1, 5.0)]);
        // The other way round: b's threshold rises to 1 and a's (0.5,1] is counted into it;
        // a bucket entirely inside the zero bucket is not added as a bucket.
        let mut a = exp(0, vec![s(0, 2)], vec![4.0, 5.0]);
        a.zero_threshold = 0.001;
        a.zero_count = 1.0;
        b.add(&a).unwrap();
        assert_eq!((b.zero_threshold, b.zero_count), (1.0, 7.0));
        assert_eq!(pairs(&b), vec![(1, 5.0)]);
    }

    #[test]
    fn custom_buckets_with_different_bounds_meet_on_the_shared_bounds() {
        // upstream native_histograms.test: {custom_values:[10] buckets:[1]} + {custom_values:
        // [5 10] buckets:[1]} = {custom_values:[10] buckets:[2]}.
        let mut a = custom(&[10.0], &[1.0]);
        let out = a.add(&custom(&[5.0, 10.0], &[1.0])).unwrap();
        assert!(out.nhcb_bounds_reconciled);
        assert_eq!(
            (a.custom_values.clone(), pairs(&a)),
            (vec![10.0], vec![(0, 2.0)])
        );
        // Subtraction leaves empty buckets out entirely.
        let mut a = custom(&[10.0], &[1.0]);
        a.sub(&custom(&[5.0, 10.0], &[1.0])).unwrap();
        assert!(a.positive_spans.is_empty() && a.positive_buckets.is_empty());
        // Buckets above the last shared bound go to +Inf: (5,10] of [5 10] under bounds [5].
        let mut a = custom(&[5.0], &[1.0, 1.0]);
        a.add(&custom(&[5.0, 10.0], &[1.0, 2.0, 4.0])).unwrap();
        assert_eq!(pairs(&a), vec![(0, 2.0), (1, 7.0)]);
        // Same bounds: a plain union.
        let mut a = custom(&[5.0, 10.0], &[1.0, 2.0]);
        assert!(
            !a.add(&custom(&[5.0, 10.0], &[1.0, 2.0, 3.0]))
                .unwrap()
                .nhcb_bounds_reconciled
        );
        assert_eq!(pairs(&a), vec![(0, 2.0), (1, 4.0), (2, 3.0)]);
    }

    #[test]
    fn mixing_exponential_and_custom_buckets_is_an_error() {
        let mut a = exp(0, vec![s(0, 1)], vec![1.0]);
        let before = a.clone();
        assert_eq!(
            a.add(&custom(&[1.0], &[1.0])),
            Err(HistogramError::IncompatibleSchema)
        );
        assert_eq!(a, before);
    }

    #[test]
    fn counter_reset_hint_of_a_sum() {
        use CounterResetHint::*;
        for (a, b, want, collision) in [
            (CounterReset, CounterReset, CounterReset, false),
            (Gauge, CounterReset, Gauge, false),
            (NotCounterReset, Gauge, Gauge, false),
            (Unknown, NotCounterReset, Unknown, false),
            (NotCounterReset, Unknown, Unknown, false),
            (CounterReset, NotCounterReset, Unknown, true),
            (NotCounterReset, CounterReset, Unknown, true),
        ] {
            let mut x = FloatHistogram {
                counter_reset_hint: a,
                ..Default::default()
            };
            let y = FloatHistogram {
                counter_reset_hint: b,
                ..Default::default()
            };
            let out = x.add(&y).unwrap();
            assert_eq!(
                (x.counter_reset_hint, out.counter_reset_collision),
                (want, collision),
                "{a:?}+{b:?}"
            );
        }
    }

    #[test]
    fn reduce_resolution_merges_and_refuses_what_it_cannot() {
        let mut h = exp(2, vec![s(-2, 6)], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        h.reduce_resolution(0).unwrap();
        // Schema 2 → 0: indexes -2..=3 map to ((i-1)>>2)+1 = 0,0,0,1,1,1.
        assert_eq!((h.schema, pairs(&h)), (0, vec![(0, 6.0), (1, 15.0)]));
        assert!(h.reduce_resolution(0).is_err());
        assert!(h.reduce_resolution(-5).is_err());
        assert!(custom(&[1.0], &[1.0]).reduce_resolution(0).is_err());
        // Schema -1 buckets 0 and 1 are (1/4,1] and (1,4]: the same two buckets.
        let coarse = h.to_schema(-1).unwrap();
        assert_eq!(
            (coarse.schema, pairs(&coarse)),
            (-1, vec![(0, 6.0), (1, 15.0)])
        );
        let h = exp(0, vec![s(1, 2)], vec![1.0, 2.0]);
        // (1,2] and (2,4] of schema 0 are both inside (1,4] of schema -1.
        assert_eq!(pairs(&h.to_schema(-1).unwrap()), vec![(1, 3.0)]);
    }

    #[test]
    fn detect_reset_cases() {
        let prev = exp(0, vec![s(0, 2)], vec![2.0, 3.0]);
        let mut grown = exp(0, vec![s(0, 3)], vec![2.0, 4.0, 1.0]);
        assert!(!grown.detect_reset(&prev));
        // One bucket went down although the total went up.
        let dropped = exp(0, vec![s(0, 3)], vec![1.0, 5.0, 5.0]);
        assert!(dropped.detect_reset(&prev));
        // A populated bucket vanished.
        let vanished = exp(0, vec![s(1, 1)], vec![9.0]);
        assert!(vanished.detect_reset(&prev));
        // Higher resolution: always a reset; lower: compare merged buckets.
        assert!(exp(1, vec![s(1, 1)], vec![9.0]).detect_reset(&prev));
        assert!(!exp(-1, vec![s(0, 2)], vec![2.0, 3.0]).detect_reset(&prev));
        assert!(exp(-1, vec![s(0, 1)], vec![9.0]).detect_reset(&prev));
        // The hint short-cuts.
        grown.counter_reset_hint = CounterResetHint::CounterReset;
        assert!(grown.detect_reset(&prev));
        let mut dropped = dropped;
        dropped.counter_reset_hint = CounterResetHint::NotCounterReset;
        assert!(!dropped.detect_reset(&prev));
        // Zero threshold shrinking is a reset; widening moves buckets into the zero count.
        let mut wide_prev = prev.clone();
        wide_prev.zero_threshold = 1.0;
        assert!(exp(0, vec![s(1, 1)], vec![9.0]).detect_reset(&wide_prev));
        let mut wide = exp(0, vec![s(1, 1)], vec![3.0]);
        wide.zero_threshold = 1.0;
        wide.zero_count = 2.0;
        wide.count = 5.0;
        assert!(!wide.detect_reset(&prev));
        wide.zero_count = 1.0;
        assert!(wide.detect_reset(&prev));
        // Custom buckets with different bounds: compared on the shared bounds.
        let prev = custom(&[5.0, 10.0], &[1.0, 1.0]);
        assert!(!custom(&[10.0], &[2.0]).detect_reset(&prev));
        assert!(custom(&[10.0], &[1.0, 5.0]).detect_reset(&prev));
        assert!(custom(&[1.0], &[1.0]).detect_reset(&exp(0, vec![], vec![])));
    }

    #[test]
    fn equals_compares_layout_and_bits() {
        let mut a = exp(0, vec![s(0, 2)], vec![1.0, 2.0]);
        let mut b = exp(0, vec![s(0, 1), s(0, 1)], vec![1.0, 2.0]);
        assert!(a.equals(&b));
        a.sum = f64::NAN;
        b.sum = f64::NAN;
        assert!(a.equals(&b));
        b.sum = -f64::NAN;
        assert!(!a.equals(&b));
        b.sum = f64::NAN;
        b.positive_buckets[1] = 2.5;
        assert!(!a.equals(&b));
        assert!(!custom(&[1.0], &[1.0]).equals(&custom(&[2.0], &[1.0])));
        assert!(a.size() > std::mem::size_of::<FloatHistogram>());
    }
}
