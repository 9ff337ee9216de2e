//! Behaviour tests of the store as a whole: appending, selection semantics, retention,
//! statistics and concurrency.
//!
//! Each test runs twice (see [`on_both_stores`]): `name::in_memory` on an in-memory store and
//! `name::on_disk` on a durable store in a temporary directory, where [`TestStore::settle`]
//! moves every sample written so far to the chunk files and reopens the store from its files
//! before the test reads, so reads go through the chunk files and the restore. Counters in
//! [`StoreStats`] count since the store was opened, so they are read after
//! [`TestStore::persist`] (to disk, no reopen). One test runs in memory only; it says why.

use super::*;
use crate::testdir::TempDir;
use std::sync::Arc;
use std::time::Duration;

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backing {
    Memory,
    Disk,
}

/// The store under test: in memory, or durable in a temporary directory. It dereferences to
/// the [`Store`].
struct TestStore {
    store: Arc<Store>,
    opts: StoreOptions,
    dir: Option<TempDir>,
}

impl TestStore {
    fn new(backing: Backing) -> TestStore {
        TestStore::with_options(backing, StoreOptions::default())
    }

    fn with_options(backing: Backing, opts: StoreOptions) -> TestStore {
        match backing {
            Backing::Memory => TestStore {
                store: Arc::new(Store::with_options(opts.clone())),
                opts,
                dir: None,
            },
            Backing::Disk => {
                let dir = TempDir::new("store-tests");
                let store = Arc::new(open(&opts, &dir));
                TestStore {
                    store,
                    opts,
                    dir: Some(dir),
                }
            }
        }
    }

    /// Before a read (a no-op in memory): every sample written so far goes to the chunk
    /// files, and the store is dropped and reopened from its files.
    fn settle(&mut self) {
        let Some(dir) = &self.dir else { return };
        self.persist();
        // One store holds the files at a time: the old one is gone before the reopen.
        let old = std::mem::replace(&mut self.store, Arc::new(Store::new()));
        drop(Arc::into_inner(old).expect("no clone of the store outlives settle()"));
        self.store = Arc::new(open(&self.opts, dir));
    }

    /// [`TestStore::settle`] without the reopen, for a read of the counters in
    /// [`StoreStats`]: they count since the store was opened, so a reopen zeroes them.
    fn persist(&self) {
        if self.dir.is_some() {
            self.store
                .flush_heads_to_disk()
                .expect("flush heads to disk");
            self.store.sync().expect("sync the store");
        }
    }

    /// The store behind its `Arc`, for [`Store::shared_appender`] and threads.
    fn shared(&self) -> &Arc<Store> {
        &self.store
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// Opens the durable store in `dir`; a restore that had to repair anything fails the test.
fn open(opts: &StoreOptions, dir: &TempDir) -> Store {
    let (store, report) = Store::open(opts.clone(), DurableOptions::new(dir.path()))
        .unwrap_or_else(|e| panic!("open the store in {}: {e}", dir.display()));
    assert_eq!(report.repairs(), 0, "{report:?}");
    store
}

/// Runs the test body `fn $name(Backing)` twice: as `$name::in_memory` and `$name::on_disk`.
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[test]
            fn in_memory() {
                super::$name(super::Backing::Memory);
            }

            #[test]
            fn on_disk() {
                super::$name(super::Backing::Disk);
            }
        }
    };
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

/// A store with six series of two metrics, one sample each at t=1000, settled.
fn fixture(backing: Backing) -> TestStore {
    let mut store = TestStore::new(backing);
    let mut app = store.appender();
    for labels in [
        l(&[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "200"),
        ]),
        l(&[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "500"),
        ]),
        l(&[
            ("__name__", "http_requests_total"),
            ("job", "web"),
            ("code", "200"),
        ]),
        l(&[("__name__", "http_requests_total"), ("job", "web")]),
        l(&[("__name__", "up"), ("job", "api")]),
        l(&[("__name__", "up"), ("job", "web"), ("env", "prod")]),
    ] {
        app.append(&labels, 1000, 1.0).unwrap();
    }
    assert_eq!(app.commit().appended, 6);
    store.settle();
    store
}

/// The selected series as `name{...}` strings, in the order returned.
fn names(store: &Store, matchers: &[Matcher]) -> Vec<String> {
    store
        .select(matchers, 0, 10_000)
        .iter()
        .map(|s| s.labels.to_string())
        .collect()
}

fn count(store: &Store, matchers: &[Matcher]) -> usize {
    names(store, matchers).len()
}

/// Checks how many series each matcher set selects; a failure names the matchers.
fn counts(store: &Store, cases: &[(&[Matcher], usize)]) {
    for (matchers, want) in cases {
        assert_eq!(count(store, matchers), *want, "{matchers:?}");
    }
}

fn append_commit_then_select_returns_samples_sorted_by_labels(backing: Backing) {
    let mut store = TestStore::new(backing);
    let mut app = store.appender();
    let b = l(&[("__name__", "m"), ("i", "b")]);
    let a = l(&[("__name__", "m"), ("i", "a")]);
    let rb = app.append(&b, 1000, 2.0).unwrap();
    let ra = app.append(&a, 1000, 1.0).unwrap();
    app.append_ref(rb, 2000, 3.0).unwrap();
    app.append_ref(ra, 2000, STALE_NAN).unwrap();
    let st = app.commit();
    assert_eq!(
        st,
        AppendStats {
            appended: 4,
            series_created: 2,
            ..Default::default()
        }
    );
    store.settle();
    let got = store.select(&[Matcher::equal("__name__", "m")], 0, 5000);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].labels, a);
    assert_eq!(got[1].labels, b);
    assert_eq!(
        got[1].samples,
        vec![Sample { t: 1000, v: 2.0 }, Sample { t: 2000, v: 3.0 }]
    );
    assert!(is_stale_nan(got[0].samples[1].v));
    assert_eq!(store.series_labels(ra), Some(a));
}
on_both_stores!(append_commit_then_select_returns_samples_sorted_by_labels);

fn appending_an_existing_label_set_returns_the_same_ref(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x"), ("a", "1")]);
    let mut app = store.appender();
    let r1 = app.append(&x, 1, 1.0).unwrap();
    app.commit();
    store.settle();
    let mut app = store.appender();
    let r2 = app
        .append(&l(&[("a", "1"), ("__name__", "x")]), 2, 1.0)
        .unwrap();
    let st = app.commit();
    assert_eq!(r1, r2);
    assert_eq!(st.series_created, 0);
    store.settle();
    assert_eq!(store.stats().series, 1);
}
on_both_stores!(appending_an_existing_label_set_returns_the_same_ref);

fn empty_label_set_is_rejected(backing: Backing) {
    let store = TestStore::new(backing);
    let mut app = store.appender();
    assert_eq!(
        app.append(&Labels::empty(), 1, 1.0),
        Err(AppendError::EmptyLabels)
    );
}
on_both_stores!(empty_label_set_is_rejected);

fn rollback_adds_nothing(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    let r = app.append(&x, 1000, 1.0).unwrap();
    app.commit();

    let mut app = store.appender();
    app.append_ref(r, 2000, 2.0).unwrap();
    app.append(&l(&[("__name__", "new")]), 2000, 1.0).unwrap();
    app.rollback();
    store.persist();
    assert_eq!(store.stats().samples_appended_total, 1);
    store.settle();
    let got = store.select(&[], 0, 10_000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![Sample { t: 1000, v: 1.0 }]);
    // The series created by the rolled-back appender is gone from the index too.
    assert_eq!(store.stats().series, 1);
    assert!(store
        .series(&[Matcher::equal("__name__", "new")], i64::MIN, i64::MAX)
        .is_empty());

    // Dropping an appender without commit is a rollback as well.
    {
        let mut app = store.appender();
        app.append_ref(r, 3000, 3.0).unwrap();
    }
    store.settle();
    assert_eq!(store.select(&[], 0, 10_000)[0].samples.len(), 1);
}
on_both_stores!(rollback_adds_nothing);

fn out_of_order_and_duplicates_are_rejected_and_counted(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    let r = app.append(&x, 10_000, 1.0).unwrap();
    app.commit();

    let mut app = store.appender();
    app.append_ref(r, 5_000, 9.0).unwrap(); // out of order
    app.append_ref(r, 10_000, 1.0).unwrap(); // identical duplicate: silently dropped
    app.append_ref(r, 10_000, 2.0).unwrap(); // duplicate with another value
    app.append_ref(r, 20_000, 3.0).unwrap(); // fine
    app.append_ref(r, 15_000, 4.0).unwrap(); // out of order within the same batch
    app.append_ref(r, 20_000, f64::NAN).unwrap(); // different bits at the same time
    let st = app.commit();
    assert_eq!(
        (st.appended, st.out_of_order, st.duplicates),
        (1, 2, 2),
        "{st:?}"
    );
    store.persist();
    let s = store.stats();
    assert_eq!(
        (
            s.out_of_order_total,
            s.duplicates_total,
            s.samples_appended_total
        ),
        (2, 2, 2)
    );
    store.settle();
    let got = store.select(&[], 0, 100_000);
    assert_eq!(
        got[0].samples,
        vec![Sample { t: 10_000, v: 1.0 }, Sample { t: 20_000, v: 3.0 }]
    );
}
on_both_stores!(out_of_order_and_duplicates_are_rejected_and_counted);

fn identical_stale_marker_repeat_is_not_a_duplicate(backing: Backing) {
    let store = TestStore::new(backing);
    let mut app = store.appender();
    let r = app
        .append(&l(&[("__name__", "x")]), 1000, STALE_NAN)
        .unwrap();
    app.append_ref(r, 1000, STALE_NAN).unwrap();
    let st = app.commit();
    assert_eq!((st.appended, st.duplicates), (1, 0));
}
on_both_stores!(identical_stale_marker_repeat_is_not_a_duplicate);

fn equal_and_not_equal_matchers(backing: Backing) {
    let s = fixture(backing);
    assert_eq!(count(&s, &[Matcher::equal("__name__", "up")]), 2);
    assert_eq!(
        count(
            &s,
            &[
                Matcher::equal("__name__", "http_requests_total"),
                Matcher::equal("job", "api")
            ]
        ),
        2
    );
    assert_eq!(
        names(
            &s,
            &[
                Matcher::equal("__name__", "http_requests_total"),
                m(MatchOp::NotEqual, "code", "200")
            ]
        ),
        vec![
            r#"http_requests_total{code="500", job="api"}"#,
            r#"http_requests_total{job="web"}"#
        ]
    );
    assert_eq!(count(&s, &[Matcher::equal("__name__", "nope")]), 0);
    assert_eq!(count(&s, &[Matcher::equal("job", "nope")]), 0);
}
on_both_stores!(equal_and_not_equal_matchers);

fn empty_value_matchers_select_by_label_absence(backing: Backing) {
    let s = fixture(backing);
    // {code=""}: series without `code`.
    assert_eq!(
        names(&s, &[m(MatchOp::Equal, "code", "")]),
        vec![
            r#"http_requests_total{job="web"}"#,
            r#"up{env="prod", job="web"}"#,
            r#"up{job="api"}"#
        ]
    );
    // {code!=""}: series with `code`.
    counts(
        &s,
        &[
            (&[m(MatchOp::NotEqual, "code", "")], 3),
            // A label no series has: `=""` matches all, `!=""` none.
            (&[m(MatchOp::Equal, "missing", "")], 6),
            (&[m(MatchOp::NotEqual, "missing", "")], 0),
            (
                &[
                    Matcher::equal("__name__", "up"),
                    m(MatchOp::Equal, "missing", ""),
                ],
                2,
            ),
            // `!=` on a missing label matches (the empty value differs).
            (&[m(MatchOp::NotEqual, "missing", "x")], 6),
        ],
    );
}
on_both_stores!(empty_value_matchers_select_by_label_absence);

fn regex_matchers_follow_prometheus_semantics(backing: Backing) {
    let s = fixture(backing);
    // `.*` matches everything, including series without the label.
    counts(
        &s,
        &[
            (&[m(MatchOp::Regex, "code", ".*")], 6),
            // `.+` requires the label.
            (&[m(MatchOp::Regex, "code", ".+")], 3),
            (&[m(MatchOp::NotRegex, "code", ".+")], 3),
            (&[m(MatchOp::NotRegex, "code", ".*")], 0),
            // Alternations, literal and not.
            (&[m(MatchOp::Regex, "code", "200|500")], 3),
            (&[m(MatchOp::Regex, "code", "5..|404")], 1),
            // An alternation with an empty branch also matches series without the label.
            (&[m(MatchOp::Regex, "code", "500|")], 4),
            (&[m(MatchOp::Regex, "code", "5.*|")], 4),
            // Anchored: "20" does not match "200".
            (&[m(MatchOp::Regex, "code", "20")], 0),
        ],
    );
    // Negative regex keeps series without the label.
    assert_eq!(
        names(
            &s,
            &[
                Matcher::equal("__name__", "http_requests_total"),
                m(MatchOp::NotRegex, "code", "2..")
            ]
        ),
        vec![
            r#"http_requests_total{code="500", job="api"}"#,
            r#"http_requests_total{job="web"}"#
        ]
    );
    counts(
        &s,
        &[
            (&[m(MatchOp::NotRegex, "job", "api|web")], 0),
            // Regex over the metric name, and a regex on a label nobody has.
            (&[m(MatchOp::Regex, "__name__", "http_.*")], 4),
            (&[m(MatchOp::Regex, "missing", "x.*")], 0),
            (&[m(MatchOp::NotRegex, "missing", "x.*")], 6),
        ],
    );
}
on_both_stores!(regex_matchers_follow_prometheus_semantics);

fn selectors_where_every_matcher_matches_empty_still_work(backing: Backing) {
    let s = fixture(backing);
    counts(
        &s,
        &[
            (&[], 6),
            (&[m(MatchOp::Regex, "__name__", ".*")], 6),
            (
                &[
                    m(MatchOp::Regex, "job", ".*"),
                    m(MatchOp::NotEqual, "env", "prod"),
                ],
                5,
            ),
        ],
    );
}
on_both_stores!(selectors_where_every_matcher_matches_empty_still_work);

fn time_range_limits_series_and_samples(backing: Backing) {
    let mut store = TestStore::new(backing);
    let mut app = store.appender();
    let a = l(&[("__name__", "a")]);
    let b = l(&[("__name__", "b")]);
    for i in 0..1000i64 {
        app.append(&a, i * 15_000, i as f64).unwrap();
    }
    app.append(&b, 0, 1.0).unwrap();
    app.append(&b, 14_000_000, 2.0).unwrap();
    app.commit();
    store.settle();
    let got = store.select(&[], 30_000, 60_000);
    assert_eq!(got.len(), 1, "b has no sample in range");
    assert_eq!(
        got[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![30_000, 45_000, 60_000]
    );
    // Range falling in the middle of several chunks.
    let got = store.select(&[Matcher::equal("__name__", "a")], 1_800_000, 5_400_000);
    assert_eq!(got[0].samples.len(), 241);
    assert_eq!(
        got[0].samples[0],
        Sample {
            t: 1_800_000,
            v: 120.0
        }
    );
    assert_eq!(store.series(&[], 1, 14_000_000).len(), 2);
    assert_eq!(store.series(&[], 14_985_001, 20_000_000).len(), 0);
    assert!(store.select(&[], 10, 5).is_empty());
}
on_both_stores!(time_range_limits_series_and_samples);

fn label_names_and_values_respect_matchers_and_range(backing: Backing) {
    let s = fixture(backing);
    assert_eq!(
        s.label_names(&[], 0, 10_000),
        vec!["__name__", "code", "env", "job"]
    );
    assert_eq!(
        s.label_names(&[Matcher::equal("__name__", "up")], 0, 10_000),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(s.label_values("code", &[], 0, 10_000), vec!["200", "500"]);
    assert_eq!(
        s.label_values("job", &[Matcher::equal("env", "prod")], 0, 10_000),
        vec!["web"]
    );
    assert!(s.label_values("nope", &[], 0, 10_000).is_empty());
    assert!(s.label_values("job", &[], 2000, 10_000).is_empty());
}
on_both_stores!(label_names_and_values_respect_matchers_and_range);

fn retention_drops_old_chunks_and_empty_series(backing: Backing) {
    let mut store = TestStore::with_options(
        backing,
        StoreOptions {
            retention: Duration::from_secs(3600),
        },
    );
    let old = l(&[("__name__", "old"), ("pod", "gone-1")]);
    let live = l(&[("__name__", "live")]);
    let mut app = store.appender();
    // `old` has samples 0..30 min; `live` 0..3 h at 15 s (720 samples, 6 chunks).
    for i in 0..120i64 {
        app.append(&old, i * 15_000, 1.0).unwrap();
    }
    let r_old = app.append(&old, 120 * 15_000, 1.0).unwrap();
    let mut r_live = None;
    for i in 0..720i64 {
        r_live = Some(app.append(&live, i * 15_000, i as f64).unwrap());
    }
    app.commit();
    store.settle();
    let before = store.stats();
    assert_eq!(before.series, 2);
    assert_eq!(before.chunks, 2 + 6);

    // now = 3 h: cutoff 2 h. `old` vanishes, `live` keeps its chunks touching [2 h, 3 h].
    let gc = store.gc(3 * 3_600_000);
    assert_eq!(gc.series_removed, 1);
    store.persist();
    let after = store.stats();
    assert_eq!(after.series, 1);
    assert_eq!(after.series_removed_total, 1);
    assert!(after.chunk_bytes < before.chunk_bytes);
    assert_eq!(after.chunks, 2);
    assert_eq!(gc.chunks_removed, 2 + 4);
    store.settle();
    let got = store.select(&[], i64::MIN, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples.len(), 240);
    assert!(got[0].samples[0].t <= 2 * 3_600_000);
    assert!(store
        .label_values("pod", &[], i64::MIN, i64::MAX)
        .is_empty());
    assert!(store
        .select(&[Matcher::equal("pod", "gone-1")], i64::MIN, i64::MAX)
        .is_empty());

    // The collected series' ref fails; resolving by labels creates a new series.
    let mut app = store.appender();
    assert_eq!(
        app.append_ref(r_old, 3 * 3_600_000, 1.0),
        Err(AppendError::UnknownSeries(r_old.as_u64()))
    );
    let r_new = app.append(&old, 3 * 3_600_000, 1.0).unwrap();
    assert_ne!(r_new, r_old);
    // Samples older than the cutoff are out of bounds.
    app.append_ref(r_live.unwrap(), 3_600_000, 1.0).unwrap();
    let st = app.commit();
    assert_eq!(
        (st.appended, st.out_of_bounds, st.series_created),
        (1, 1, 1)
    );
    store.persist();
    assert_eq!(store.stats().out_of_bounds_total, 1);
}
on_both_stores!(retention_drops_old_chunks_and_empty_series);

fn gc_never_removes_a_series_an_open_appender_holds_samples_for(backing: Backing) {
    let mut store = TestStore::new(backing);
    let x = l(&[("__name__", "x")]);
    let mut app = store.appender();
    let r = app.append(&x, 100_000_000, 1.0).unwrap();
    // A retention pass runs before the commit; the brand-new series has no samples yet.
    store.truncate(0);
    assert_eq!(app.commit().appended, 1);
    store.settle();
    assert_eq!(store.select(&[], i64::MIN, i64::MAX).len(), 1);
    let mut app = store.appender();
    app.append_ref(r, 100_015_000, 2.0).unwrap();
    assert_eq!(app.commit().appended, 1);
}
on_both_stores!(gc_never_removes_a_series_an_open_appender_holds_samples_for);

/// In memory only: `chunk_bytes` measures the chunks on the heap, where the encoding's few
/// bits per sample show; once chunks are on disk (the durable store) only their handles are
/// on the heap, by design.
#[test]
fn stats_count_series_chunks_and_bytes() {
    let store = Store::new();
    let mut app = store.appender();
    for i in 0..10 {
        let labels = l(&[("__name__", "m"), ("i", &i.to_string())]);
        for t in 0..240 {
            app.append(&labels, t * 15_000, 1.0).unwrap();
        }
    }
    app.commit();
    let s = store.stats();
    assert_eq!(s.series, 10);
    assert_eq!(s.chunks, 20);
    assert_eq!(s.samples_appended_total, 2400);
    assert_eq!(s.series_created_total, 10);
    assert_eq!(s.symbols, 13); // __name__, m, i, 0..9
                               // Constant values at a fixed interval: a few bits per sample.
    assert!(s.chunk_bytes > 0 && s.chunk_bytes < 2400, "{s:?}");
    assert!(s.index_bytes > 0, "{s:?}");
}

fn shared_appender_can_move_into_a_thread(backing: Backing) {
    let mut store = TestStore::new(backing);
    let mut app = store.shared().shared_appender();
    let h = std::thread::spawn(move || {
        app.append(&l(&[("__name__", "t")]), 1, 1.0).unwrap();
        app.commit()
    });
    assert_eq!(h.join().unwrap().appended, 1);
    store.settle();
    assert_eq!(store.stats().series, 1);
}
on_both_stores!(shared_appender_can_move_into_a_thread);

fn concurrent_appenders_produce_exactly_the_expected_samples(backing: Backing) {
    let mut store = TestStore::new(backing);
    const THREADS: usize = 4;
    const SERIES: usize = 200;
    const SCRAPES: i64 = 150;
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let store = store.shared().clone();
            std::thread::spawn(move || {
                // Each thread owns its targets, plus one series all threads share.
                let own: Vec<Labels> = (0..SERIES)
                    .map(|i| {
                        l(&[
                            ("__name__", "m"),
                            ("th", &th.to_string()),
                            ("i", &i.to_string()),
                        ])
                    })
                    .collect();
                let shared = l(&[("__name__", "shared")]);
                let mut refs: Vec<Option<SeriesRef>> = vec![None; SERIES];
                let mut shared_appended = 0;
                for k in 0..SCRAPES {
                    let t = k * 15_000;
                    let mut app = store.appender();
                    for (i, labels) in own.iter().enumerate() {
                        let v = (k * 1000 + i as i64) as f64;
                        match refs[i] {
                            Some(r) => app.append_ref(r, t, v).unwrap(),
                            None => refs[i] = Some(app.append(labels, t, v).unwrap()),
                        }
                    }
                    // Everyone writes the shared series at the same time with the same value.
                    app.append(&shared, t, 1.0).unwrap();
                    let st = app.commit();
                    // Only the shared series can lose a race (one out-of-order sample).
                    assert_eq!(st.duplicates, 0);
                    assert!(st.out_of_order <= 1);
                    shared_appended += st.appended - SERIES;
                    if k % 50 == 0 {
                        // Readers run concurrently with writers.
                        let _ = store.select(&[Matcher::equal("th", "0")], 0, i64::MAX);
                    }
                }
                shared_appended
            })
        })
        .collect();
    let shared_total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    store.persist();
    let st = store.stats();
    assert_eq!(st.series, THREADS * SERIES + 1);
    assert_eq!(
        st.samples_appended_total as usize,
        THREADS * SERIES * SCRAPES as usize + shared_total
    );
    store.settle();
    // The shared series got each timestamp exactly once; the rest were identical repeats
    // or (when a thread fell behind) out of order, never corrupting data.
    let shared = store.select(&[Matcher::equal("__name__", "shared")], 0, i64::MAX);
    assert_eq!(shared[0].samples.len(), shared_total);
    assert!(shared[0].samples.windows(2).all(|w| w[0].t < w[1].t));

    let got = store.select(&[Matcher::equal("__name__", "m")], 0, i64::MAX);
    assert_eq!(got.len(), THREADS * SERIES);
    for s in &got {
        let i: i64 = s.labels.get("i").unwrap().parse().unwrap();
        let want: Vec<Sample> = (0..SCRAPES)
            .map(|k| Sample {
                t: k * 15_000,
                v: (k * 1000 + i) as f64,
            })
            .collect();
        assert_eq!(s.samples, want, "{}", s.labels);
    }
}
on_both_stores!(concurrent_appenders_produce_exactly_the_expected_samples);

fn many_label_values_regex_selection(backing: Backing) {
    let mut store = TestStore::new(backing);
    let mut app = store.appender();
    for i in 0..2000 {
        let pod = format!("api-{i}");
        let ns = format!("ns-{}", i % 7);
        app.append(
            &l(&[("__name__", "up"), ("pod", &pod), ("namespace", &ns)]),
            1,
            1.0,
        )
        .unwrap();
    }
    app.commit();
    store.settle();
    counts(
        &store,
        &[
            (&[m(MatchOp::Regex, "pod", "api-1.*")], 1111),
            (
                &[
                    m(MatchOp::Regex, "pod", "api-1.*"),
                    Matcher::equal("namespace", "ns-0"),
                ],
                (0..2000)
                    .filter(|i| i.to_string().starts_with('1') && i % 7 == 0)
                    .count(),
            ),
            (&[m(MatchOp::NotRegex, "namespace", "ns-[0-5]")], 285),
        ],
    );
}
on_both_stores!(many_label_values_regex_selection);

/// Every matcher combination gives what checking each series' labels one by one gives, on
/// a store large enough that wide matchers (`container!=""`, `pod=~".+"`) are checked per
/// candidate instead of merging every value's postings list.
fn wide_matchers_beside_a_selective_one_select_exactly_the_brute_force_set(backing: Backing) {
    let mut store = TestStore::new(backing);
    let mut all = Vec::new();
    let mut app = store.appender();
    for i in 0..600 {
        let mut pairs = vec![
            ("__name__".to_string(), format!("metric_{}", i % 6)),
            ("pod".to_string(), format!("pod-{}", i % 150)),
            ("namespace".to_string(), format!("ns-{}", i % 7)),
        ];
        if i % 3 != 0 {
            pairs.push(("container".to_string(), format!("c{}", i % 11)));
        }
        let labels = Labels::from_pairs(pairs);
        app.append(&labels, 1000, i as f64).unwrap();
        all.push(labels);
    }
    app.commit();
    store.settle();
    use MatchOp::*;
    let cases: Vec<Vec<Matcher>> = vec![
        vec![
            m(Equal, "__name__", "metric_1"),
            m(NotEqual, "container", ""),
        ],
        vec![m(Equal, "__name__", "metric_2"), m(Regex, "pod", ".+")],
        vec![m(Equal, "__name__", "metric_2"), m(Regex, "pod", "pod-1.*")],
        vec![
            m(Equal, "__name__", "metric_3"),
            m(NotRegex, "pod", "pod-1.*"),
        ],
        vec![
            m(Equal, "__name__", "metric_3"),
            m(NotRegex, "container", "c1|c2"),
        ],
        vec![m(Equal, "__name__", "metric_4"), m(Equal, "container", "")],
        vec![m(Equal, "pod", "pod-7"), m(Regex, "container", "c.*")],
        vec![m(Equal, "pod", "pod-7"), m(Regex, "container", ".*")],
        vec![
            m(Equal, "pod", "pod-8"),
            m(NotEqual, "namespace", "ns-1"),
            m(NotEqual, "container", ""),
        ],
        vec![
            m(Regex, "__name__", "metric_[12]"),
            m(NotEqual, "container", "c3"),
        ],
        vec![m(NotEqual, "container", "")],
        vec![m(Equal, "__name__", "metric_5"), m(Regex, "missing", ".*")],
        vec![m(Equal, "__name__", "metric_5"), m(NotEqual, "missing", "")],
    ];
    for ms in &cases {
        let mut want: Vec<Labels> = all
            .iter()
            .filter(|l| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            .cloned()
            .collect();
        want.sort();
        let got: Vec<Labels> = store
            .select(ms, 0, 10_000)
            .into_iter()
            .map(|s| s.labels)
            .collect();
        assert_eq!(got, want, "select() for {ms:?}");
        assert_eq!(store.series(ms, 0, 10_000), want, "series() for {ms:?}");
    }
}
on_both_stores!(wide_matchers_beside_a_selective_one_select_exactly_the_brute_force_set);

mod histograms;
