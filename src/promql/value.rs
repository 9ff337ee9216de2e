//! Query values: the public result types ([`Value`]) and the per-step values the evaluator
//! passes between nodes ([`Val`]).
//!
//! Internally every sample carries a `drop_name` flag: with `promql-delayed-name-removal`
//! Prometheus 3.x removes `__name__` only at the end of evaluation, so that `label_replace`
//! can still set it and a later function can still see it; without it (the default) the
//! evaluator drops the name right after the node that set the flag (`Evaluator::eval`). The metric's type and unit labels (`__type__`,
//! `__unit__`, attached at scrape by the `type-and-unit-labels` feature) go with the name.

use crate::histogram::FloatHistogram;
use crate::store::{HistogramSample, Labels};
use std::rc::Rc;
use std::sync::Arc;

/// One point of a range series: the store's sample type, so the samples a selector reads
/// are used as they come from [`Querier::select_flat`](crate::store::Querier::select_flat).
pub type Point = crate::store::Sample;

/// One element of an instant vector: a float `v`, or a native histogram `h` (then `v` is 0).
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
    pub h: Option<Arc<FloatHistogram>>,
}

/// One series of a range vector (a matrix): its float points and its histogram points,
/// each oldest first, never two at one timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Point>,
    pub histograms: Vec<HistogramSample>,
}

/// The result of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// An instant-vector element during evaluation.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// Shared with the selector's series and across steps, so copies are cheap and derived
    /// label sets can be memoised by pointer ([`super::memo`]).
    pub labels: Rc<Labels>,
    pub v: f64,
    /// A native histogram value (then `v` is unused).
    pub h: Option<Arc<FloatHistogram>>,
    /// The sample's own timestamp (only meaningful right after a selector).
    pub t: i64,
    pub drop_name: bool,
}

/// A range-vector series during evaluation.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub labels: Rc<Labels>,
    pub points: Vec<Point>,
    /// Histogram points, oldest first.
    pub hists: Vec<HistogramSample>,
    pub drop_name: bool,
}

/// A range vector plus the window it was selected over, as range functions need it.
#[derive(Clone, Debug)]
pub(crate) struct RangeArg {
    pub series: Vec<Series>,
    /// Exclusive start and inclusive end of the selection window, in ms.
    pub start: i64,
    pub end: i64,
}

impl RangeArg {
    pub fn range_ms(&self) -> i64 {
        self.end - self.start
    }
}

/// The value of a node at one evaluation step.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<Sample>),
    Matrix(RangeArg),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "vector",
            Val::Matrix(_) => "matrix",
        }
    }
}

/// Removes `__name__`, `__type__` and `__unit__` from a label set when the flag says so, as
/// Prometheus' `cleanupMetricLabels` does at the end of a query (whether or not the
/// `type-and-unit-labels` feature is on).
pub(crate) fn finish_labels(labels: &Labels, drop_name: bool) -> Labels {
    if drop_name {
        labels.without_metadata_labels()
    } else {
        labels.clone()
    }
}
