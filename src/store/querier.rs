//! The read side of the store, as the PromQL engine sees it.
//!
//! [`Querier`] is the only way query code reads samples, so the engine can run over the
//! in-memory store, over a test fixture, or over a remote API without knowing which.
//!
//! [`Querier::select_flat`] loads samples under [`SelectLimits`]: a sample budget and a way
//! to stop (deadline, cancel flag), checked while the samples are loaded, so a selection
//! that would pass the budget is refused ([`SelectError`]) before it holds more than the
//! budget.

use super::{Labels, Matcher};
use crate::histogram::FloatHistogram;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What one [`Querier::select_flat`] may load, and when it must stop.
#[derive(Clone, Copy, Debug)]
pub struct SelectLimits<'a> {
    /// The most samples the selection may hold; one more and it is refused with
    /// [`SelectError::TooManySamples`]. A histogram sample counts as
    /// [`HistogramSample::size`] samples.
    pub max_samples: usize,
    /// Past this instant the selection stops with [`SelectError::Timeout`].
    pub deadline: Option<Instant>,
    /// Once set (from another thread), the selection stops with [`SelectError::Canceled`].
    pub cancel: Option<&'a AtomicBool>,
}

impl SelectLimits<'_> {
    /// No budget, no deadline, no cancel flag.
    pub const UNLIMITED: SelectLimits<'static> = SelectLimits {
        max_samples: usize::MAX,
        deadline: None,
        cancel: None,
    };

    /// Whether the selection must stop now: the cancel flag is set or the deadline passed.
    pub fn check(&self) -> Result<(), SelectError> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(SelectError::Canceled);
        }
        match self.deadline {
            Some(d) if Instant::now() > d => Err(SelectError::Timeout),
            _ => Ok(()),
        }
    }
}

/// Why [`Querier::select_flat`] stopped before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("the selection would hold more samples than its limit")]
    TooManySamples,
    #[error("the selection passed its deadline")]
    Timeout,
    #[error("the selection was canceled")]
    Canceled,
}

/// A float sample: milliseconds since the epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// A native histogram sample: milliseconds since the epoch and a histogram, shared so that
/// a selection, the evaluator's steps and a result can hold it without copying its buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSample {
    pub t: i64,
    pub h: Arc<FloatHistogram>,
}

impl HistogramSample {
    /// How many float samples this sample counts as against a sample budget
    /// ([`SelectLimits::max_samples`]): its size in bytes over a float sample's 16, as
    /// Prometheus' `HPoint.size()` computes it from `FloatHistogram.Size()` (168 bytes of
    /// struct, 8 per span, bucket and custom bound, plus 8 of timestamp). At least 11.
    pub fn size(&self) -> usize {
        histogram_size(&self.h)
    }
}

/// [`HistogramSample::size`] of a histogram.
pub(crate) fn histogram_size(h: &FloatHistogram) -> usize {
    let items = h.positive_spans.len()
        + h.negative_spans.len()
        + h.positive_buckets.len()
        + h.negative_buckets.len()
        + h.custom_values.len();
    (168 + 8 * items + 8) / 16
}

/// One series and its samples in a requested time range, oldest first. A series may hold
/// float samples, histogram samples or both (a series that changed type): `samples` are the
/// floats and `histograms` the histograms, each oldest first, never two at one timestamp.
/// Staleness markers are float samples whose value is [`STALE_NAN`](super::STALE_NAN) (test
/// with [`is_stale_nan`](super::is_stale_nan)), also for histogram series; the query engine
/// interprets them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
}

/// What [`Querier::select_flat`] returns: the series of [`Querier::select`] with all their
/// samples back to back in one buffer, in series order. A caller that keeps every selected
/// sample for a while (the query engine keeps them for the whole query) then holds one
/// allocation instead of one per series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    labels: Vec<Labels>,
    /// `ends[i]` is where series `i`'s samples end in `samples`; they start where series
    /// `i - 1`'s end (or at 0).
    ends: Vec<usize>,
    samples: Vec<Sample>,
    /// `hist_ends[i]` is where series `i`'s histogram samples end in `histograms`; empty
    /// while no series of the selection has histogram samples.
    hist_ends: Vec<usize>,
    histograms: Vec<HistogramSample>,
}

impl Selection {
    /// An empty selection with room for `samples` samples.
    pub fn with_capacity(series: usize, samples: usize) -> Self {
        Selection {
            labels: Vec::with_capacity(series),
            ends: Vec::with_capacity(series),
            samples: Vec::with_capacity(samples),
            hist_ends: Vec::new(),
            histograms: Vec::new(),
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The position in [`Selection::samples`] of series `i`'s samples.
    pub fn range(&self, i: usize) -> Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    /// The label sets, one per series.
    pub fn labels(&self) -> &[Labels] {
        &self.labels
    }

    /// Every series' samples, back to back.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Adds a series and its samples.
    pub fn push(&mut self, labels: Labels, samples: &[Sample]) {
        self.samples.extend_from_slice(samples);
        self.ends.push(self.samples.len());
        self.labels.push(labels);
        self.note_histograms_end();
    }

    /// Adds a series with its float and histogram samples.
    pub fn push_with_histograms(
        &mut self,
        labels: Labels,
        samples: &[Sample],
        histograms: &[HistogramSample],
    ) {
        if !histograms.is_empty() && self.hist_ends.len() < self.labels.len() {
            // The first histogram: earlier series had none.
            self.hist_ends
                .resize(self.labels.len(), self.histograms.len());
        }
        self.histograms.extend_from_slice(histograms);
        self.push(labels, samples);
    }

    /// Keeps `hist_ends` one per series once any series has histograms.
    fn note_histograms_end(&mut self) {
        if !self.hist_ends.is_empty() || !self.histograms.is_empty() {
            self.hist_ends
                .resize(self.labels.len() - 1, self.histograms.len());
            self.hist_ends.push(self.histograms.len());
        }
    }

    /// Whether any series of the selection has histogram samples.
    pub fn has_histograms(&self) -> bool {
        !self.histograms.is_empty()
    }

    /// Series `i`'s histogram samples, oldest first (empty for a float series).
    pub fn histograms_of(&self, i: usize) -> &[HistogramSample] {
        if self.hist_ends.is_empty() {
            return &[];
        }
        let start = if i == 0 { 0 } else { self.hist_ends[i - 1] };
        &self.histograms[start..self.hist_ends[i]]
    }

    /// The sample buffer, for a producer that decodes every series' samples into it first
    /// and then names the series with [`Selection::add_series`].
    pub fn samples_mut(&mut self) -> &mut Vec<Sample> {
        &mut self.samples
    }

    /// Adds a series whose samples end at `end` in the sample buffer and start where the
    /// previous series' end. Panics if `end` is before the previous end or past the buffer.
    pub fn add_series(&mut self, labels: Labels, end: usize) {
        let prev = self.ends.last().copied().unwrap_or(0);
        assert!(
            prev <= end && end <= self.samples.len(),
            "series end out of order"
        );
        self.ends.push(end);
        self.labels.push(labels);
        self.note_histograms_end();
    }

    /// Adds histogram samples for the next series before [`Selection::add_series`] names
    /// it (a producer that decodes into [`Selection::samples_mut`]).
    pub fn extend_histograms(&mut self, histograms: impl IntoIterator<Item = HistogramSample>) {
        let before = self.histograms.len();
        self.histograms.extend(histograms);
        if self.histograms.len() > before && self.hist_ends.len() < self.labels.len() {
            self.hist_ends.resize(self.labels.len(), before);
        }
    }

    /// The parts: label sets, series ends in the sample buffer, and the sample buffer.
    pub fn into_parts(self) -> (Vec<Labels>, Vec<usize>, Vec<Sample>) {
        (self.labels, self.ends, self.samples)
    }

    /// One [`SeriesSamples`] per series.
    pub fn into_series(self) -> Vec<SeriesSamples> {
        let mut start = 0;
        let hists: Vec<Vec<HistogramSample>> = (0..self.labels.len())
            .map(|i| self.histograms_of(i).to_vec())
            .collect();
        self.labels
            .into_iter()
            .zip(self.ends)
            .zip(hists)
            .map(|((labels, end), histograms)| {
                let samples = self.samples[start..end].to_vec();
                start = end;
                SeriesSamples {
                    labels,
                    samples,
                    histograms,
                }
            })
            .collect()
    }
}

/// Read access to series and samples. Time ranges are inclusive milliseconds.
pub trait Querier: Send + Sync {
    /// Every series matching all `matchers` that has at least one sample in
    /// `[mint, maxt]`, with those samples, sorted by label set.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples>;

    /// What [`Querier::select`] returns, as one [`Selection`], or an error once it would
    /// hold more than `limits.max_samples` samples or `limits` says to stop. An
    /// implementation counts samples as it loads them, so a refused selection has held at
    /// most the budget. The default implementation copies `select`'s answer, so only the
    /// copy is bounded; the store decodes its chunks straight into the selection.
    fn select_flat(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: &SelectLimits<'_>,
    ) -> Result<Selection, SelectError> {
        limits.check()?;
        let series = self.select(matchers, mint, maxt);
        let total: usize = series
            .iter()
            .map(|s| {
                s.samples.len()
                    + s.histograms
                        .iter()
                        .map(HistogramSample::size)
                        .sum::<usize>()
            })
            .sum();
        if total > limits.max_samples {
            return Err(SelectError::TooManySamples);
        }
        let mut out = Selection::with_capacity(series.len(), total);
        for s in series {
            out.push_with_histograms(s.labels, &s.samples, &s.histograms);
        }
        Ok(out)
    }

    /// Label sets of the series matching all `matchers` with samples in `[mint, maxt]`,
    /// sorted. An empty `matchers` slice selects every series.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels>;

    /// Sorted, unique label names of the series selected as by [`Querier::series`].
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;

    /// Sorted, unique values of label `name` over the series selected as by
    /// [`Querier::series`].
    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;
}
