//! Samples are counted before they are materialised (issue 16): a query that must exceed
//! `max_samples` is refused before it allocates memory in proportion to its samples, a
//! selector's samples are counted while the store decodes them, and a query's memory is
//! given back when it ends.

use redline::promql::testing::MemQuerier;
use redline::promql::{Engine, EngineOptions, QueryError, Value};
use redline::store::{Labels, Store};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

/// Counts the bytes this thread has allocated and not freed, and their peak.
struct ThreadCounting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: the thread's slots may be gone while it exits.
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are plain
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for ThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: ThreadCounting = ThreadCounting;

/// Runs `f` and returns its result and the most bytes it held allocated at once.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base).max(0) as usize)
}

#[test]
fn subquery_that_must_exceed_max_samples_is_refused_before_allocating() {
    // 1 day at a 10 ms step: 8,640,000 steps of one sample each, over a limit of 1,000,000.
    // Before, the engine evaluated a million steps and held their points (16 MB and more)
    // before it noticed.
    let engine = Engine::new(EngineOptions {
        max_samples: 1_000_000,
        ..EngineOptions::default()
    });
    let store = MemQuerier::new();
    for q in [
        "max_over_time(vector(1)[1d:10ms])",
        "count_over_time((-(vector(time()) * 2))[1d:10ms])",
        "sum_over_time(sum(vector(1))[1d:10ms])",
    ] {
        let (res, peak) = peak_bytes(|| engine.instant_query(&store, q, 86_400_000));
        assert_eq!(res.unwrap_err(), QueryError::TooManySamples, "{q}");
        // Less than one byte per sample of the limit (the parser's first use sets up ~100 KB
        // of tables): no sample was materialised.
        assert!(peak < 1_000_000, "{q}: {peak} bytes held at the peak");
    }
    // Control: the same query within the limit is answered (100,000 steps of 10 ms).
    let (res, peak) = peak_bytes(|| {
        engine.instant_query(&store, "count_over_time(vector(1)[1000s:10ms])", 1_000_000)
    });
    let res = res.expect("within the limit");
    match res.value {
        redline::promql::Value::Vector(v) => assert_eq!(v[0].v, 100_000.0),
        other => panic!("{other:?}"),
    }
    // 100,000 points of 16 bytes (time and value) were held, at most twice that while the
    // point vector grows, plus a little for the query's own structures.
    assert!((1_600_000..=3_200_000 + 200_000).contains(&peak), "{peak}");
}

#[test]
fn subquery_memory_does_not_grow_per_step_with_fresh_label_sets() {
    // `vector()`, `absent()`, `label_replace()` and friends made a new label set at every
    // step, and the subquery's label memo kept one entry (about 170 bytes) per step.
    let engine = Engine::new(EngineOptions::default());
    let store = MemQuerier::new();
    // The parser's and regex engine's one-time set-up, outside the measurement.
    let _ = engine.instant_query(
        &store,
        "label_replace(vector(1), \"a\", \"b\", \"\", \"\")",
        0,
    );
    for q in [
        "count_over_time(vector(1)[200s:10ms])",
        "count_over_time(absent(nothing)[200s:10ms])",
        "count_over_time(label_replace(vector(1), \"a\", \"b\", \"\", \"\")[200s:10ms])",
    ] {
        let (res, peak) = peak_bytes(|| engine.instant_query(&store, q, 1_000_000));
        res.expect("answered");
        // 20,000 points: 16 bytes each, twice that while the vector grows, plus 100 KB.
        assert!(peak <= 2 * 16 * 20_000 + 100_000, "{q}: {peak} bytes");
    }
}

#[test]
fn subquery_over_data_dependent_inner_is_still_counted_as_it_goes() {
    // An empty selector yields nothing per step: no samples, no error (as upstream), though
    // its 600 steps are more than the limit.
    let engine = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let store = MemQuerier::new();
    let res = engine.instant_query(&store, "count_over_time(nothing[10m:1s])", 600_000);
    assert!(res.is_ok(), "{res:?}");
}

/// `series` counters `m{i="…"}`, each with `samples` samples 10 s apart from t=10 s.
fn counters(series: usize, samples: i64) -> Store {
    let store = Store::new();
    let mut app = store.appender();
    for i in 0..series {
        let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
        for n in 1..=samples {
            app.append(&l, n * 10_000, (n * 3) as f64).unwrap();
        }
    }
    app.commit();
    store
}

/// The one value of each series in an instant vector.
fn values(v: Value) -> Vec<f64> {
    match v {
        Value::Vector(v) => v.into_iter().map(|s| s.v).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn selection_over_max_samples_is_refused_while_decoding() {
    // 40 series × 5,000 samples, 10 s apart: 200,000 samples in [10 s, 50,000 s].
    let store = counters(40, 5_000);
    let end = 50_000_000;
    let max = 10_000;
    let engine = Engine::new(EngineOptions {
        max_samples: max,
        ..EngineOptions::default()
    });
    // The parser's one-time set-up, outside the measurement.
    let _ = engine.instant_query(&store, "count_over_time(m[1m])", end);
    // Before, the store decoded all 200,000 samples (3.2 MB) before the engine counted them.
    // The range query's steps hold at most 40 samples each (84 steps, 3,360 in the result),
    // but its selector loads every sample in [-5m, end] for the whole query.
    for range in [false, true] {
        let (res, peak) = peak_bytes(|| {
            if range {
                engine.range_query(&store, "m", 0, end, 600_000)
            } else {
                engine.instant_query(&store, "count_over_time(m[1d])", end)
            }
        });
        assert_eq!(
            res.unwrap_err(),
            QueryError::TooManySamples,
            "range: {range}"
        );
        // At most the budget's 16-byte samples, as much again for the chunk bytes copied
        // out of the store, and 256 KiB for the query's own structures.
        assert!(
            peak < 2 * 16 * max + 256 * 1024,
            "range: {range}: {peak} bytes held at the peak"
        );
    }
    // Many short series: 2,000 × 100 samples, one chunk each, so nothing is known to be in
    // range before it is decoded; decoding stops at the budget.
    let wide = counters(2_000, 100);
    let (res, peak) =
        peak_bytes(|| engine.instant_query(&wide, "count_over_time(m[1d])", 1_000_000));
    assert_eq!(res.unwrap_err(), QueryError::TooManySamples);
    // As above, and 100 bytes per series for its label ids and its place in the order.
    assert!(
        peak < 2 * 16 * max + 256 * 1024 + 2_000 * 100,
        "many series: {peak} bytes held at the peak"
    );
    // Control: with room for them, all 200,000 samples are loaded (16 bytes each) and
    // counted: 5,000 per series.
    let roomy = Engine::new(EngineOptions {
        max_samples: 1_000_000,
        ..EngineOptions::default()
    });
    let (res, peak) = peak_bytes(|| roomy.instant_query(&store, "count_over_time(m[1d])", end));
    assert_eq!(values(res.unwrap().value), vec![5_000.0; 40]);
    assert!(peak >= 16 * 200_000, "{peak}");
}

#[test]
fn deadline_inside_a_long_selection_stops_it() {
    // 200 series × 5,000 samples: most of the query's time is the store decoding them.
    let store = counters(200, 5_000);
    let end = 50_000_000;
    let q = "count_over_time(m[1d])";
    let unlimited = Engine::new(EngineOptions {
        timeout: None,
        ..EngineOptions::default()
    });
    let _ = unlimited.instant_query(&store, "count_over_time(m[1m])", end);
    let t0 = Instant::now();
    let res = unlimited
        .instant_query(&store, q, end)
        .expect("no deadline");
    let full = t0.elapsed();
    assert_eq!(values(res.value), vec![5_000.0; 200]);
    // A twentieth of that as the timeout: it passes while the selection is loading. Before,
    // the selection ran to its end and the query was answered after the deadline.
    let engine = Engine::new(EngineOptions {
        timeout: Some(full / 20),
        ..EngineOptions::default()
    });
    let t0 = Instant::now();
    let res = engine.instant_query(&store, q, end);
    let took = t0.elapsed();
    assert_eq!(res.unwrap_err(), QueryError::Timeout);
    assert!(
        took < full / 2,
        "stopped after {took:?}; the whole query takes {full:?}"
    );
}

#[test]
fn query_memory_is_given_back_after_a_refused_or_answered_query() {
    let store = counters(40, 1_000);
    let end = 10_000_000;
    let small = Engine::new(EngineOptions {
        max_samples: 1_000,
        timeout: None,
        ..EngineOptions::default()
    });
    let roomy = Engine::new(EngineOptions {
        timeout: None,
        ..EngineOptions::default()
    });
    let queries = [
        (&small, "count_over_time(m[1d])"),
        (&small, "max_over_time(vector(1)[1d:1s])"),
        (&roomy, "count_over_time(m[1d])"),
        (
            &roomy,
            "sum by (i) (rate(m[5m])) / on (i) group_left count_over_time(m[1h])",
        ),
        (&roomy, "max_over_time(sum(m)[1h:10s])"),
    ];
    // One-time set-up (parser tables, regex caches) outside the measurement.
    for (e, q) in queries {
        let _ = e.instant_query(&store, q, end);
        let _ = e.range_query(&store, q, end - 3_600_000, end, 60_000);
    }
    for (e, q) in queries {
        let before = LIVE.with(Cell::get);
        let (res, peak) = peak_bytes(|| e.instant_query(&store, q, end));
        let range = e.range_query(&store, q, end - 3_600_000, end, 60_000);
        drop((res, range));
        assert!(peak > 0, "{q}");
        assert_eq!(
            LIVE.with(Cell::get),
            before,
            "{q}: bytes kept after the query"
        );
    }
}
