//! Rate and increase of delta-temporality counters, where every sample holds only the
//! increase since the sample before (OTLP "delta" sums), as the experimental functions of
//! Prometheus' delta-temporality work define them:
//!
//! - `direct_delta_increase(v[r])` is the sum of the samples in the window, and
//!   `direct_delta_rate` that sum divided by the range in seconds.
//! - `extrapolated_delta_increase(v[r])` sums the samples after the first one (the first
//!   sample's increase happened before its own timestamp, partly outside the window) and
//!   scales the sum from the span the samples cover to the window: a gap to a window edge
//!   is added when it is shorter than 1.1 times the average spacing, and nothing is added
//!   otherwise (a pushed delta series is assumed complete, so unlike `increase` there is
//!   no half-spacing guess). `extrapolated_delta_rate` divides by the range in seconds.
//!
//! The float forms serve [`super::range_functions`]; the histogram forms
//! [`super::nh_range`]. They are gated as experimental functions.

use super::value::{Point, RangeArg};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::store::HistogramSample;

pub(crate) fn is_delta_function(name: &str) -> bool {
    matches!(
        name,
        "direct_delta_increase"
            | "direct_delta_rate"
            | "extrapolated_delta_increase"
            | "extrapolated_delta_rate"
    )
}

fn is_rate(name: &str) -> bool {
    name.ends_with("_rate")
}

fn range_seconds(m: &RangeArg) -> f64 {
    m.range_ms() as f64 / 1000.0
}

/// The factor that scales a sum over the samples `first_t..=last_t` (`n` of them) to the
/// window `m`, per second when `per_second`.
fn extrapolation_factor(
    first_t: i64,
    last_t: i64,
    n: usize,
    m: &RangeArg,
    per_second: bool,
) -> f64 {
    let to_start = (first_t - m.start) as f64 / 1000.0;
    let to_end = (m.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let threshold = sampled / (n - 1) as f64 * 1.1;
    let mut covered = sampled;
    if to_start < threshold {
        covered += to_start;
    }
    if to_end < threshold {
        covered += to_end;
    }
    let mut factor = covered / sampled;
    if per_second {
        factor /= range_seconds(m);
    }
    factor
}

/// One of the four functions over a window of float samples; `sum` is `sum_over_time` of
/// the window. `None` drops the series.
pub(crate) fn apply_floats(name: &str, p: &[Point], m: &RangeArg, sum: f64) -> Option<f64> {
    if name.starts_with("direct_") {
        return Some(if is_rate(name) {
            sum / range_seconds(m)
        } else {
            sum
        });
    }
    if p.len() < 2 {
        return None;
    }
    let after_first: f64 = p[1..].iter().map(|x| x.v).sum();
    let factor = extrapolation_factor(p[0].t, p[p.len() - 1].t, p.len(), m, is_rate(name));
    Some(after_first * factor)
}

/// The extrapolated functions over a window of histogram samples (at least two): the sum
/// of the samples after the first, a gauge histogram, scaled as for floats.
pub(crate) fn extrapolated_histograms(
    name: &str,
    h: &[HistogramSample],
    m: &RangeArg,
) -> Result<Option<FloatHistogram>, HistogramError> {
    if h.len() < 2 {
        return Ok(None);
    }
    let mut sum = (*h[1].h).clone();
    for p in &h[2..] {
        sum.add(&p.h)?;
    }
    sum.counter_reset_hint = CounterResetHint::Gauge;
    sum.compact(0);
    sum.mul(extrapolation_factor(
        h[0].t,
        h[h.len() - 1].t,
        h.len(),
        m,
        is_rate(name),
    ));
    Ok(Some(sum))
}

/// `direct_delta_rate` of a histogram sum: the sum divided by the range in seconds.
pub(crate) fn direct_histogram(
    name: &str,
    mut sum: FloatHistogram,
    m: &RangeArg,
) -> FloatHistogram {
    if is_rate(name) {
        sum.div(range_seconds(m));
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: i64, end: i64) -> RangeArg {
        RangeArg {
            series: Vec::new(),
            start,
            end,
        }
    }

    fn points(ts: &[i64], v: f64) -> Vec<Point> {
        ts.iter().map(|&t| Point { t, v }).collect()
    }

    #[test]
    fn direct_forms_sum_the_window() {
        // Samples of 2 at 15s, 30s, 45s in the window (0s, 60s]: the sum is 6, per second
        // over the 60s range 0.1.
        let p = points(&[15_000, 30_000, 45_000], 2.0);
        let m = window(0, 60_000);
        assert_eq!(
            apply_floats("direct_delta_increase", &p, &m, 6.0),
            Some(6.0)
        );
        assert_eq!(apply_floats("direct_delta_rate", &p, &m, 6.0), Some(0.1));
    }

    #[test]
    fn extrapolation_adds_gaps_shorter_than_the_threshold() {
        // Samples of 2 at 15s, 30s, 45s; window (0s, 60s]. The sum after the first sample is
        // 4 over the 30s the samples span, average spacing 15s, threshold 16.5s. Both gaps
        // (15s) are below it: 4 * (30 + 15 + 15) / 30 = 8, per second 8 / 60.
        let p = points(&[15_000, 30_000, 45_000], 2.0);
        let m = window(0, 60_000);
        assert_eq!(
            apply_floats("extrapolated_delta_increase", &p, &m, 6.0),
            Some(8.0)
        );
        let r = apply_floats("extrapolated_delta_rate", &p, &m, 6.0).unwrap();
        assert!((r - 8.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn extrapolation_skips_a_gap_longer_than_the_threshold() {
        // Samples of 2 at 40s, 50s, 60s; window (0s, 60s]: the gap to the start (40s) is over
        // 1.1 * 10s, so it is not added and nothing stands in for it (increase() would add
        // half a spacing). The end gap is 0: the result is the plain sum after the first, 4.
        let p = points(&[40_000, 50_000, 60_000], 2.0);
        let m = window(0, 60_000);
        assert_eq!(
            apply_floats("extrapolated_delta_increase", &p, &m, 6.0),
            Some(4.0)
        );
    }

    #[test]
    fn extrapolation_needs_two_samples() {
        let p = points(&[30_000], 2.0);
        let m = window(0, 60_000);
        assert_eq!(
            apply_floats("extrapolated_delta_increase", &p, &m, 2.0),
            None
        );
        assert_eq!(
            apply_floats("direct_delta_increase", &p, &m, 2.0),
            Some(2.0)
        );
    }
}
