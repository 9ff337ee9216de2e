//! Samples are counted before they are materialised (issue 16): a query that must exceed
//! `max_samples` is refused before it allocates memory in proportion to its samples.

use redline::promql::testing::MemQuerier;
use redline::promql::{Engine, EngineOptions, QueryError};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
