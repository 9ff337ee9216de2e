//! Native histogram samples in the store: append rules, type changes, selection, the sample
//! budget, counter reset hints, retention. Expected histograms are written out by hand.

use super::*;
use crate::histogram::{CounterResetHint, FloatHistogram, Span};

/// Runs the test body in memory only (until the durable store keeps histograms).
macro_rules! on_memory_store {
    ($name:ident) => {
        mod $name {
            #[test]
            fn in_memory() {
                super::$name(super::Backing::Memory);
            }
        }
    };
}

/// A schema-0 counter histogram with buckets at indexes 0.. (one span) and zero count 1;
/// its count is the buckets' sum plus the zero count, its sum `10 * count`.
fn hist(buckets: &[f64]) -> FloatHistogram {
    let count = buckets.iter().sum::<f64>() + 1.0;
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count,
        sum: 10.0 * count,
        positive_spans: vec![Span {
            offset: 0,
            length: buckets.len() as u32,
        }],
        negative_spans: Vec::new(),
        positive_buckets: buckets.to_vec(),
        negative_buckets: Vec::new(),
        custom_values: Vec::new(),
    }
}

/// `h` with the hint a reader gives it.
fn hinted(mut h: FloatHistogram, hint: CounterResetHint) -> FloatHistogram {
    h.counter_reset_hint = hint;
    h
}

fn hists(s: &SeriesSamples) -> Vec<(i64, FloatHistogram)> {
    s.histograms.iter().map(|h| (h.t, (*h.h).clone())).collect()
}

fn histogram_samples_are_selected_in_order_with_their_hints(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "latency"), ("job", "api")]);
    let mut app = store.appender();
    let r = app.append_histogram(&x, 1_000, hist(&[1.0, 2.0])).unwrap();
    app.append_histogram_ref(r, 2_000, hist(&[2.0, 3.0]))
        .unwrap();
    app.append_histogram_ref(r, 3_000, hist(&[2.0, 5.0]))
        .unwrap();
    assert_eq!(app.commit().appended, 3);
    store.settle();
    let got = store.select(&[Matcher::equal("job", "api")], 0, 10_000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, x);
    assert!(got[0].samples.is_empty());
    // As Prometheus reads a chunk: its first sample's hint is unknown, the later ones are
    // no counter reset.
    assert_eq!(
        hists(&got[0]),
        vec![
            (1_000, hist(&[1.0, 2.0])),
            (
                2_000,
                hinted(hist(&[2.0, 3.0]), CounterResetHint::NotCounterReset)
            ),
            (
                3_000,
                hinted(hist(&[2.0, 5.0]), CounterResetHint::NotCounterReset)
            ),
        ]
    );
    // A range inside: only the middle sample; select_flat says the same.
    let mid = store.select(&[], 1_500, 2_500);
    assert_eq!(mid[0].histograms.len(), 1);
    assert_eq!(mid[0].histograms[0].t, 2_000);
    let flat = store
        .select_flat(&[], 0, 10_000, &SelectLimits::UNLIMITED)
        .unwrap();
    assert!(flat.has_histograms());
    assert_eq!(flat.histograms_of(0), &got[0].histograms[..]);
    // Series and label APIs see the histogram series.
    assert_eq!(store.series(&[], 0, 10_000), vec![x.clone()]);
    assert_eq!(
        store.label_values("job", &[], 0, 10_000),
        vec!["api".to_string()]
    );
    assert!(store.series(&[], 4_000, 10_000).is_empty());
}
on_memory_store!(histogram_samples_are_selected_in_order_with_their_hints);

fn histogram_duplicates_and_out_of_order_follow_the_float_rules(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    let r = app.append_histogram(&x, 10_000, hist(&[1.0])).unwrap();
    app.commit();

    let mut app = store.appender();
    app.append_histogram_ref(r, 5_000, hist(&[1.0])).unwrap(); // out of order
    app.append_histogram_ref(r, 10_000, hist(&[1.0])).unwrap(); // equal: dropped silently
                                                                // Equal but for the hint, which equality ignores (as Prometheus' `Equals`).
    app.append_histogram_ref(r, 10_000, hinted(hist(&[1.0]), CounterResetHint::Gauge))
        .unwrap();
    app.append_histogram_ref(r, 10_000, hist(&[2.0])).unwrap(); // duplicate
    app.append_ref(r, 10_000, 2.0).unwrap(); // a float at a histogram's time: duplicate
    app.append_ref(r, 20_000, 3.0).unwrap(); // a float after it: fine
    app.append_histogram_ref(r, 20_000, hist(&[3.0])).unwrap(); // a histogram at a float's
    app.append_ref(r, 20_000, 3.0).unwrap(); // the same float again: dropped silently
    let st = app.commit();
    assert_eq!(
        (st.appended, st.out_of_order, st.duplicates),
        (1, 1, 3),
        "{st:?}"
    );
    store.settle();
    let got = store.select(&[], 0, 100_000);
    assert_eq!(hists(&got[0]), vec![(10_000, hist(&[1.0]))]);
    assert_eq!(got[0].samples, vec![Sample { t: 20_000, v: 3.0 }]);
}
on_memory_store!(histogram_duplicates_and_out_of_order_follow_the_float_rules);

fn a_series_changes_from_floats_to_histograms_and_back(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    let r = app.append(&x, 1_000, 1.0).unwrap();
    app.append_ref(r, 2_000, 2.0).unwrap();
    app.append_histogram_ref(r, 3_000, hist(&[1.0])).unwrap();
    app.append_histogram_ref(r, 4_000, hist(&[2.0])).unwrap();
    // The staleness marker of a histogram series is a float.
    app.append_ref(r, 5_000, STALE_NAN).unwrap();
    app.append_histogram_ref(r, 6_000, hist(&[1.0])).unwrap();
    app.append_ref(r, 7_000, 7.0).unwrap();
    assert_eq!(app.commit().appended, 7);
    // Every change of kind starts a chunk: floats, histograms, the marker, a histogram, a
    // float.
    assert_eq!(store.stats().chunks, 5);
    store.settle();
    let got = store.select(&[], 0, 10_000);
    let floats: Vec<i64> = got[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(floats, [1_000, 2_000, 5_000, 7_000]);
    assert!(is_stale_nan(got[0].samples[2].v));
    assert_eq!(
        hists(&got[0]),
        vec![
            (3_000, hist(&[1.0])),
            (
                4_000,
                hinted(hist(&[2.0]), CounterResetHint::NotCounterReset)
            ),
            (6_000, hist(&[1.0])),
        ]
    );
}
on_memory_store!(a_series_changes_from_floats_to_histograms_and_back);

fn counter_resets_layout_changes_and_gauges_start_chunks_with_their_hints(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let gauge = |b: &[f64]| hinted(hist(b), CounterResetHint::Gauge);
    let mut app = store.appender();
    let r = app.append_histogram(&x, 1_000, hist(&[5.0, 5.0])).unwrap();
    // A bucket went down: a counter reset.
    app.append_histogram_ref(r, 2_000, hist(&[6.0, 4.0]))
        .unwrap();
    // A new bucket, nothing went down: a new layout, no reset.
    app.append_histogram_ref(r, 3_000, hist(&[6.0, 4.0, 1.0]))
        .unwrap();
    // The producer says reset although the counts grew.
    app.append_histogram_ref(
        r,
        4_000,
        hinted(hist(&[7.0, 4.0, 1.0]), CounterResetHint::CounterReset),
    )
    .unwrap();
    // Gauges go up and down in one chunk.
    app.append_histogram_ref(r, 5_000, gauge(&[3.0])).unwrap();
    app.append_histogram_ref(r, 6_000, gauge(&[1.0])).unwrap();
    assert_eq!(app.commit().appended, 6);
    assert_eq!(store.stats().chunks, 5);
    store.settle();
    let got = store.select(&[], 0, 10_000);
    use CounterResetHint::*;
    assert_eq!(
        hists(&got[0]),
        vec![
            (1_000, hist(&[5.0, 5.0])),
            (2_000, hinted(hist(&[6.0, 4.0]), CounterReset)),
            (3_000, hist(&[6.0, 4.0, 1.0])),
            (4_000, hinted(hist(&[7.0, 4.0, 1.0]), CounterReset)),
            (5_000, gauge(&[3.0])),
            (6_000, gauge(&[1.0])),
        ]
    );
}
on_memory_store!(counter_resets_layout_changes_and_gauges_start_chunks_with_their_hints);

fn histogram_samples_count_against_the_budget_by_their_size(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    // One span and eleven buckets: Prometheus' `FloatHistogram.Size()` is 168 + 8 * 12 =
    // 264 bytes, and with the timestamp's 8 the sample counts as 272 / 16 = 17 floats.
    for k in 0..5 {
        let b: Vec<f64> = (0..11).map(|i| f64::from(i + k)).collect();
        app.append_histogram(&x, 1_000 * i64::from(k + 1), hist(&b))
            .unwrap();
    }
    // Three floats of another series.
    let y = l(&[("__name__", "y")]);
    for t in 1..=3 {
        app.append(&y, t * 1_000, 1.0).unwrap();
    }
    app.commit();
    store.settle();
    let limit = |max_samples| SelectLimits {
        max_samples,
        ..SelectLimits::UNLIMITED
    };
    let all = store
        .select_flat(&[], 0, 10_000, &limit(5 * 17 + 3))
        .unwrap();
    assert_eq!(all.histograms_of(0).len(), 5);
    assert_eq!(all.histograms_of(0)[0].size(), 17);
    assert_eq!(all.samples().len(), 3);
    assert_eq!(
        store.select_flat(&[], 0, 10_000, &limit(5 * 17 + 2)),
        Err(SelectError::TooManySamples)
    );
}
on_memory_store!(histogram_samples_count_against_the_budget_by_their_size);

fn retention_drops_histogram_chunks(backing: Backing) {
    let mut store = TestStore::with_options(
        backing,
        StoreOptions {
            retention: Duration::from_secs(3600),
        },
    );
    let old = l(&[("__name__", "old")]);
    let live = l(&[("__name__", "live")]);
    let mut app = store.appender();
    for i in 0..10i64 {
        app.append_histogram(&old, i * 15_000, hist(&[i as f64]))
            .unwrap();
    }
    // 3 h at 60 s: 180 samples; the count grows, so chunks are cut by size and count.
    for i in 0..180i64 {
        app.append_histogram(&live, i * 60_000, hist(&[i as f64, 2.0 * i as f64]))
            .unwrap();
    }
    app.commit();
    store.settle();
    let gc = store.gc(3 * 3_600_000);
    assert_eq!(gc.series_removed, 1);
    store.settle();
    let got = store.select(&[], i64::MIN, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, live);
    let first = got[0].histograms[0].t;
    // Whole chunks go: what is left starts at or before the cutoff, and nothing older than
    // the chunk holding it.
    assert!(first <= 2 * 3_600_000 && first > 0, "{first}");
    assert_eq!(got[0].histograms.last().map(|h| h.t), Some(179 * 60_000));
}
on_memory_store!(retention_drops_histogram_chunks);
