//! Compensated (Kahan–Neumaier) summation of histograms, as Prometheus 3 sums native
//! histograms in `sum`, `avg` and `sum_over_time`: every count, the sum and every bucket
//! carry a compensation term for the low-order bits lost when adding numbers of very
//! different magnitudes, so `1 + 1e100 + 1 - 1e100` comes out as 2.

use super::iter::{BucketIter, IndexedCounts};
use super::layout::{reduce_side, SpanBuilder};
use super::{ArithOutcome, FloatHistogram, HistogramError};

/// Adds `inc` to the compensated sum `(sum, c)` (Neumaier's variant, as Prometheus'
/// `kahansum.Inc`); an infinite sum drops the compensation.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A running compensated sum of histograms. The compensation is a histogram of the same
/// layout as the running sum; [`value`](Self::value) adds the two.
#[derive(Clone, Debug)]
pub struct KahanSum {
    sum: FloatHistogram,
    comp: FloatHistogram,
}

impl KahanSum {
    /// Starts the sum with its first histogram.
    pub fn new(first: FloatHistogram) -> Self {
        let comp = FloatHistogram {
            positive_buckets: vec![0.0; first.positive_buckets.len()],
            negative_buckets: vec![0.0; first.negative_buckets.len()],
            positive_spans: first.positive_spans.clone(),
            negative_spans: first.negative_spans.clone(),
            schema: first.schema,
            zero_threshold: first.zero_threshold,
            custom_values: first.custom_values.clone(),
            ..Default::default()
        };
        KahanSum { sum: first, comp }
    }

    /// Adds a histogram, reconciling schemas, zero thresholds and custom bounds as
    /// [`FloatHistogram::add`] does.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<ArithOutcome, HistogramError> {
        if self.sum.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        if self.sum.uses_custom_buckets() && self.sum.custom_values != other.custom_values {
            // Reconciling custom bounds maps buckets onto fewer ones: fold the
            // compensation in first and continue from the plain sum.
            let mut plain = self.value();
            let outcome = plain.add(other)?;
            *self = KahanSum::new(plain);
            return Ok(outcome);
        }
        // Counter-reset hint, zero threshold and schema exactly as a plain addition does,
        // carrying the compensation histogram along with every change of layout.
        let outcome = ArithOutcome {
            counter_reset_collision: self.sum.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };

        let mut other_zero = other.zero_count;
        if !self.sum.uses_custom_buckets() {
            let before = self.sum.zero_threshold;
            other_zero = self.sum.reconcile_zero_buckets(other);
            if self.sum.zero_threshold != before {
                self.widen_comp_zero_bucket();
            }
            if other.schema < self.sum.schema {
                let target = other.schema;
                (self.comp.positive_spans, self.comp.positive_buckets) = reduce_side(
                    &self.comp.positive_spans,
                    &self.comp.positive_buckets,
                    self.comp.schema,
                    target,
                );
                (self.comp.negative_spans, self.comp.negative_buckets) = reduce_side(
                    &self.comp.negative_spans,
                    &self.comp.negative_buckets,
                    self.comp.schema,
                    target,
                );
                self.comp.schema = target;
                self.sum.reduce_resolution(target)?;
            }
        }
        (self.sum.zero_count, self.comp.zero_count) =
            kahan_inc(other_zero, self.sum.zero_count, self.comp.zero_count);
        (self.sum.count, self.comp.count) = kahan_inc(other.count, self.sum.count, self.comp.count);
        (self.sum.sum, self.comp.sum) = kahan_inc(other.sum, self.sum.sum, self.comp.sum);

        let (threshold, schema) = (self.sum.zero_threshold, self.sum.schema);
        for positive in [true, false] {
            let theirs = BucketIter::new(other, positive, threshold, schema);
            let (sum, comp) = if positive {
                (
                    (&mut self.sum.positive_spans, &mut self.sum.positive_buckets),
                    (
                        &mut self.comp.positive_spans,
                        &mut self.comp.positive_buckets,
                    ),
                )
            } else {
                (
                    (&mut self.sum.negative_spans, &mut self.sum.negative_buckets),
                    (
                        &mut self.comp.negative_spans,
                        &mut self.comp.negative_buckets,
                    ),
                )
            };
            merge_compensated(sum.0, sum.1, comp.1, theirs);
            comp.0.clone_from(sum.0);
        }
        Ok(outcome)
    }

    /// After the running sum's zero threshold grew (and its buckets inside it were moved
    /// into the zero count and empty buckets dropped), moves the compensation of those
    /// buckets into the zero count's and lays the compensation out like the sum again.
    fn widen_comp_zero_bucket(&mut self) {
        let t = self.sum.zero_threshold;
        self.comp.zero_threshold = t;
        let inside: f64 = self
            .comp
            .positive_bucket_iter()
            .filter(|b| b.lower < t)
            .map(|b| b.count)
            .sum::<f64>()
            + self
                .comp
                .negative_bucket_iter()
                .filter(|b| b.upper > -t)
                .map(|b| b.count)
                .sum::<f64>();
        self.comp.zero_count += inside;
        for positive in [true, false] {
            let (spans, comp_spans, comp_counts) = if positive {
                (
                    &self.sum.positive_spans,
                    &mut self.comp.positive_spans,
                    &mut self.comp.positive_buckets,
                )
            } else {
                (
                    &self.sum.negative_spans,
                    &mut self.comp.negative_spans,
                    &mut self.comp.negative_buckets,
                )
            };
            *comp_counts = realign(comp_spans, comp_counts, spans);
            comp_spans.clone_from(spans);
        }
    }

    /// Scales the running sum and its compensation by `factor` (upstream scales both
    /// histograms for the incremental mean of `avg`).
    pub fn mul(&mut self, factor: f64) {
        self.sum.mul(factor);
        self.comp.mul(factor);
    }

    /// Divides the running sum and its compensation by `divisor`.
    pub fn div(&mut self, divisor: f64) {
        self.sum.div(divisor);
        self.comp.div(divisor);
    }

    /// Whether the running sum (not its compensation) holds an infinite count, sum, zero
    /// count or bucket: upstream's `HasOverflow`, the signal for `avg` and `avg_over_time`
    /// to continue with an incremental mean.
    pub fn has_overflow(&self) -> bool {
        let h = &self.sum;
        [h.count, h.sum, h.zero_count]
            .iter()
            .chain(&h.positive_buckets)
            .chain(&h.negative_buckets)
            .any(|v| v.is_infinite())
    }

    /// The compensated total.
    pub fn value(&self) -> FloatHistogram {
        let mut v = self.sum.clone();
        v.count += self.comp.count;
        v.sum += self.comp.sum;
        v.zero_count += self.comp.zero_count;
        for (a, c) in v
            .positive_buckets
            .iter_mut()
            .zip(&self.comp.positive_buckets)
        {
            *a += c;
        }
        for (a, c) in v
            .negative_buckets
            .iter_mut()
            .zip(&self.comp.negative_buckets)
        {
            *a += c;
        }
        v
    }
}

/// The counts of the layout `from_spans`/`counts` laid out as `to_spans` (indexes missing
/// from `to_spans` are dropped, new ones are 0).
fn realign(from_spans: &[super::Span], counts: &[f64], to_spans: &[super::Span]) -> Vec<f64> {
    let mut from = IndexedCounts::new(from_spans, counts).peekable();
    let zeros = vec![0.0; to_spans.iter().map(|s| s.length as usize).sum()];
    IndexedCounts::new(to_spans, &zeros)
        .map(|(index, _)| {
            while from.peek().is_some_and(|(i, _)| *i < index) {
                from.next();
            }
            match from.peek() {
                Some((i, c)) if *i == index => *c,
                _ => 0.0,
            }
        })
        .collect()
}

/// Adds other's `(index, count)` buckets into the sum layout with compensation, taking the
/// union of both layouts; the compensation counts follow the sum's new layout.
fn merge_compensated(
    spans: &mut Vec<super::Span>,
    counts: &mut Vec<f64>,
    comp: &mut Vec<f64>,
    mut theirs: BucketIter<'_>,
) {
    let mut other = std::iter::from_fn(|| theirs.next_indexed()).peekable();
    if other.peek().is_none() {
        return;
    }
    let mut b = SpanBuilder::with_capacity(counts.len());
    let mut new_comp = Vec::with_capacity(comp.len());
    let mut mine = IndexedCounts::new(spans, counts)
        .zip(comp.iter().copied())
        .peekable();
    loop {
        let (index, sum, c, inc) = match (mine.peek().copied(), other.peek().copied()) {
            (None, None) => break,
            (Some(((i, s), c)), None) => {
                mine.next();
                (i, s, c, None)
            }
            (None, Some((i, o))) => {
                other.next();
                (i, 0.0, 0.0, Some(o))
            }
            (Some(((mi, s), c)), Some((oi, o))) => {
                if mi < oi {
                    mine.next();
                    (mi, s, c, None)
                } else if oi < mi {
                    other.next();
                    (oi, 0.0, 0.0, Some(o))
                } else {
                    mine.next();
                    other.next();
                    (mi, s, c, Some(o))
                }
            }
        };
        let (sum, c) = match inc {
            Some(o) => kahan_inc(o, sum, c),
            None => (sum, c),
        };
        b.push(index, sum);
        new_comp.push(c);
    }
    (*spans, *counts) = b.finish();
    *comp = new_comp;
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    fn h(count: f64, sum: f64, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            count,
            sum,
            positive_spans: if buckets.is_empty() {
                vec![]
            } else {
                vec![Span {
                    offset: 0,
                    length: buckets.len() as u32,
                }]
            },
            positive_buckets: buckets.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn kahan_inc_keeps_the_low_bits() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
        assert_eq!(kahan_inc(f64::INFINITY, 1.0, 0.5), (f64::INFINITY, 0.0));
    }

    #[test]
    fn sum_over_time_of_huge_sums() {
        // upstream native_histograms.test histogram_sum_over_time_3: sums 1, 1e100, 1,
        // -1e100 add up to 2 with compensation (0 without); counts 1+2+3+4.
        let mut k = KahanSum::new(h(1.0, 1.0, &[]));
        for (count, sum) in [(2.0, 1e100), (3.0, 1.0), (4.0, -1e100)] {
            k.add(&h(count, sum, &[])).unwrap();
        }
        let v = k.value();
        assert_eq!((v.count, v.sum), (10.0, 2.0));
        let mut plain = h(1.0, 1.0, &[]);
        for (count, sum) in [(2.0, 1e100), (3.0, 1.0), (4.0, -1e100)] {
            plain.add(&h(count, sum, &[])).unwrap();
        }
        assert_eq!(plain.sum, 0.0, "the plain sum loses the small values");
    }

    #[test]
    fn buckets_are_compensated_across_layout_changes() {
        // Bucket 0 gets 1, 1e100, 1, -1e100 (a compensated 2); bucket 1 only appears later.
        let mut k = KahanSum::new(h(1.0, 0.0, &[1.0]));
        k.add(&h(1.0, 0.0, &[1e100])).unwrap();
        k.add(&h(1.0, 0.0, &[1.0, 5.0])).unwrap();
        k.add(&h(1.0, 0.0, &[-1e100])).unwrap();
        let v = k.value();
        assert_eq!(v.positive_buckets, vec![2.0, 5.0]);
        assert_eq!(
            v.positive_spans,
            vec![Span {
                offset: 0,
                length: 2
            }]
        );
        // A coarser schema arrives: schema 1 buckets 1,2 merge into schema 0 bucket 1.
        let mut fine = h(3.0, 0.0, &[]);
        fine.schema = 1;
        fine.positive_spans = vec![Span {
            offset: 1,
            length: 2,
        }];
        fine.positive_buckets = vec![1.0, 2.0];
        let mut k = KahanSum::new(fine);
        let mut coarse = h(1.0, 0.0, &[0.0, 1.0]);
        coarse.zero_threshold = 0.0;
        k.add(&coarse).unwrap();
        let v = k.value();
        assert_eq!(v.schema, 0);
        assert_eq!(
            IndexedCounts::new(&v.positive_spans, &v.positive_buckets).collect::<Vec<_>>(),
            vec![(0, 0.0), (1, 4.0)]
        );
        // Mixed custom and exponential buckets: an error.
        let nhcb = FloatHistogram {
            schema: -53,
            ..Default::default()
        };
        assert_eq!(k.add(&nhcb), Err(HistogramError::IncompatibleSchema));
    }
}
