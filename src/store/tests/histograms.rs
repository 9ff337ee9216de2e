//! Native histogram samples in the store: append rules, type changes, selection, the sample
//! budget, counter reset hints, retention; in memory and through the chunk files, snapshot
//! and log of the durable store. Expected histograms are written out by hand.

use super::*;
use crate::histogram::{CounterResetHint, FloatHistogram, Span};

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
on_both_stores!(histogram_samples_are_selected_in_order_with_their_hints);

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
on_both_stores!(histogram_duplicates_and_out_of_order_follow_the_float_rules);

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
on_both_stores!(a_series_changes_from_floats_to_histograms_and_back);

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
    assert_eq!(
        hists(&got[0]),
        vec![
            (1_000, hist(&[5.0, 5.0])),
            // Each reset starts a chunk whose first sample reads back `Unknown`, as
            // Prometheus 3's `counterResetHint` has it: the chunk before may be gone.
            (2_000, hist(&[6.0, 4.0])),
            (3_000, hist(&[6.0, 4.0, 1.0])),
            (4_000, hist(&[7.0, 4.0, 1.0])),
            (5_000, gauge(&[3.0])),
            (6_000, gauge(&[1.0])),
        ]
    );
}
on_both_stores!(counter_resets_layout_changes_and_gauges_start_chunks_with_their_hints);

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
on_both_stores!(histogram_samples_count_against_the_budget_by_their_size);

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
on_both_stores!(retention_drops_histogram_chunks);

/// The durable store in `dir`, with a long retention.
fn durable(dir: &TempDir) -> (Store, ReplayReport) {
    let opts = DurableOptions {
        fsync: FsyncPolicy::Never,
        ..DurableOptions::new(dir.path())
    };
    Store::open(StoreOptions::default(), opts).expect("open the store")
}

#[test]
fn the_log_replays_a_commit_mixing_kinds_in_each_series_order() {
    let dir = TempDir::new("hist-wal");
    let x = l(&[("__name__", "x")]);
    let y = l(&[("__name__", "y")]);
    let want = {
        let (store, _) = durable(&dir);
        let mut app = store.appender();
        // One commit: x changes kind twice, y holds histograms only.
        let rx = app.append(&x, 1_000, 1.0).unwrap();
        app.append_histogram(&y, 1_000, hist(&[1.0])).unwrap();
        app.append_histogram_ref(rx, 2_000, hist(&[2.0])).unwrap();
        app.append_ref(rx, 3_000, STALE_NAN).unwrap();
        app.append_histogram_ref(rx, 4_000, hist(&[3.0])).unwrap();
        assert_eq!(app.commit().appended, 5);
        // Dropped without a checkpoint or chunk files: only the log has the samples.
        store.select(&[], 0, 10_000)
    };
    let (store, rep) = durable(&dir);
    assert_eq!(rep.samples_replayed, 5, "{rep:?}");
    let got = store.select(&[], 0, 10_000);
    // Float values by their bits: the staleness marker is a NaN.
    type Bits = (Labels, Vec<(i64, u64)>, Vec<HistogramSample>);
    let bits = |s: &[SeriesSamples]| -> Vec<Bits> {
        s.iter()
            .map(|s| {
                let f = s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
                (s.labels.clone(), f, s.histograms.clone())
            })
            .collect()
    };
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(
        hists(&got[0]),
        vec![(2_000, hist(&[2.0])), (4_000, hist(&[3.0]))]
    );
    assert_eq!(
        bits(&got)[0].1,
        vec![(1_000, 1f64.to_bits()), (3_000, STALE_NAN_BITS)]
    );
    assert_eq!(hists(&got[1]), vec![(1_000, hist(&[1.0]))]);
}

#[test]
fn a_snapshot_keeps_the_open_histogram_chunk_and_the_newest_histogram() {
    let dir = TempDir::new("hist-snap");
    let x = l(&[("__name__", "x")]);
    let want = {
        let (store, _) = durable(&dir);
        let mut app = store.appender();
        let r = app.append_histogram(&x, 1_000, hist(&[5.0])).unwrap();
        // A reset starts the open chunk: its header must survive the snapshot.
        app.append_histogram_ref(r, 2_000, hist(&[1.0])).unwrap();
        app.append_histogram_ref(r, 3_000, hist(&[2.0])).unwrap();
        app.commit();
        store.close(true).unwrap();
        store.select(&[], 0, 10_000)
    };
    let (store, rep) = durable(&dir);
    assert!(rep.snapshot.is_some());
    assert_eq!(rep.samples_replayed, 0, "{rep:?}");
    let got = store.select(&[], 0, 10_000);
    assert_eq!(got, want);
    // The reset at 2_000 started the open chunk: its first sample reads `Unknown` (as every
    // chunk's first does), the next one `NotCounterReset`, so the chunk boundary survived.
    let hints: Vec<_> = got[0]
        .histograms
        .iter()
        .map(|h| h.h.counter_reset_hint)
        .collect();
    use CounterResetHint::*;
    assert_eq!(hints, vec![Unknown, Unknown, NotCounterReset]);
    // The newest sample is known to be that histogram: an equal repeat is no duplicate, a
    // different one, or a float, is.
    let r = store.appender().append(&x, 9_000, 1.0).unwrap();
    let mut app = store.appender();
    app.append_histogram_ref(r, 3_000, hist(&[2.0])).unwrap();
    app.append_histogram_ref(r, 3_000, hist(&[3.0])).unwrap();
    app.append_ref(r, 3_000, 2.0).unwrap();
    let st = app.commit();
    assert_eq!((st.appended, st.duplicates), (0, 2), "{st:?}");
}

#[test]
fn a_snapshot_of_the_float_only_version_is_still_read() {
    let dir = TempDir::new("hist-snap-v2");
    let x = l(&[("__name__", "x")]);
    let want = {
        let (store, _) = durable(&dir);
        let mut app = store.appender();
        for t in 1..=5 {
            app.append(&x, t * 1_000, t as f64).unwrap();
        }
        app.commit();
        store.close(true).unwrap();
        store.select(&[], 0, 10_000)
    };
    // A float-only snapshot is byte for byte what version 2 wrote but for the version byte:
    // make it version 2, with its checksum.
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("snapshot.")
        })
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snap).unwrap();
    assert_eq!(&bytes[..5], b"RLSN\x03");
    bytes[4] = 2;
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&snap, &bytes).unwrap();
    let (store, rep) = durable(&dir);
    assert!(rep.snapshots_skipped.is_empty(), "{rep:?}");
    assert!(rep.snapshot.is_some());
    assert_eq!(store.select(&[], 0, 10_000), want);
}
