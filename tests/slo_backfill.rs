//! A new SLO's ledger is back-filled from history, so its first round already has figures:
//! from the samples the local store held before the SLO existed, and, with `rule_query_url`,
//! from a remote query API's `query_range` (a loopback fake answering with Prometheus' JSON).
//! Expected figures are worked out by hand from the samples written.

use axum::extract::Form;
use axum::routing::post;
use axum::{Json, Router};
use redline::config::rule_query::RuleQueryConfig;
use redline::promql::Engine;
use redline::slo::engine::{SloEngine, SloEngineOptions, SloFigures};
use redline::slo::testkit;
use redline::state::ledger::LedgerMinute;
use redline::state::StateDb;
use redline::store::Store;
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const STEP: i64 = 60_000;
/// 30 days of minutes.
const PERIOD: i64 = 30 * 24 * 60;

fn append(store: &Store, code: &str, t: i64, v: f64) {
    testkit::append_requests(store, "api", code, t, v);
}

async fn first_round(dir: &TempDir, store: Arc<Store>, opts: SloEngineOptions) -> SloFigures {
    run_once(dir, store, opts, None, redline::timefmt::now_ms()).await
}

/// Whether the load and the first round fell in the same minute as the samples were
/// planned for (a test started a few ms before a minute boundary retries once).
fn now_step() -> i64 {
    redline::timefmt::now_ms() / STEP
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_slo_backfills_from_the_store_samples_written_before_it_existed() {
    for _attempt in 0..2 {
        let dir = TempDir::new("slo-backfill-store");
        let store = Arc::new(Store::new());
        let n = now_step();
        // Samples once a minute for 120 minutes: k = 0..=119 at (n − 120 + k)·60 s, the
        // last one at (n − 1)·60 s. Per minute the 2xx counter grows 98 and the 5xx one 2,
        // except that the 2xx counter restarts at k = 60: 98·59 = 5782 → 50.
        let s0 = n - 120;
        for k in 0..120i64 {
            let ok = if k < 60 { 98 * k } else { 50 + 98 * (k - 60) };
            append(&store, "200", (s0 + k) * STEP, ok as f64);
            append(&store, "500", (s0 + k) * STEP, (2 * k) as f64);
        }
        let f = first_round(&dir, store, SloEngineOptions::default()).await;
        if now_step() != n {
            continue; // a minute boundary passed: the plan's steps moved
        }
        // The oldest sample (k = 0, at s0·60 s) ends step s0 − 1: the counters' baseline.
        // Each of the 119 later samples ends one step and adds its deltas:
        //   2xx: 118 steps of 98, and 50 at the restart (a counter that went down counts
        //        its new value) = 11564 + 50 = 11614
        //   5xx: 119 × 2 = 238
        // total 11852, bad 238, attainment 11614 / 11852.
        assert_eq!(f.total_events, 11852.0, "{f:#?}");
        assert_eq!(f.bad_events, 238.0);
        assert!((f.attainment - 11614.0 / 11852.0).abs() < 1e-12);
        // Budget 0.01 × 11852 = 118.52 events; 238 spent: 238 / 118.52 consumed.
        assert!((f.error_budget.consumed_ratio - 238.0 / 118.52).abs() < 1e-9);
        let b = f.backfilled_from.as_ref().expect("backfilled_from");
        assert_eq!(b.source, "store");
        assert_eq!((b.start_ms, b.end_ms), ((s0 - 1) * STEP, n * STEP));
        assert!(b.complete);
        // Before the oldest sample the store has nothing: a gap from the window's start.
        assert_eq!(f.gaps.len(), 1, "{:?}", f.gaps);
        assert_eq!(
            (f.gaps[0].start_ms, f.gaps[0].end_ms),
            ((n - PERIOD) * STEP, (s0 - 1) * STEP)
        );
        return;
    }
    panic!("two attempts each crossed a minute boundary");
}

/// What the fake query API was asked.
#[derive(Default)]
struct Asked {
    queries: Vec<String>,
}

/// The fake remote API holds 100 minutes before `n`, steps n−100 … n−1, except n−50 … n−48.
/// At (k+1)·60 s it answers step k: total rate 2/s (120 a minute), errors 0.25/s (15).
fn fake_value(t_ms: i64, n: i64, errors: bool) -> Option<&'static str> {
    let k = t_ms / STEP - 1;
    let held = (n - 100..n).contains(&k) && !(n - 50..n - 47).contains(&k);
    held.then_some(if errors { "0.25" } else { "2" })
}

async fn serve_fake(n: i64, asked: Arc<Mutex<Asked>>) -> String {
    let app = Router::new().route(
        "/api/v1/query_range",
        post(move |Form(f): Form<HashMap<String, String>>| {
            let asked = asked.clone();
            async move {
                let q = f["query"].clone();
                let start = (f["start"].parse::<f64>().unwrap() * 1000.0).round() as i64;
                let end = (f["end"].parse::<f64>().unwrap() * 1000.0).round() as i64;
                let step = (f["step"].parse::<f64>().unwrap() * 1000.0).round() as i64;
                asked.lock().unwrap().queries.push(q.clone());
                let errors = q.contains("code=~");
                let mut values = Vec::new();
                let mut t = start;
                while t <= end {
                    if let Some(v) = fake_value(t, n, errors) {
                        // Prometheus prints sample times as seconds, a JSON number.
                        values.push(json!([t as f64 / 1000.0, v]));
                    }
                    t += step;
                }
                let result = if values.is_empty() {
                    json!([])
                } else {
                    json!([{"metric": {}, "values": values}])
                };
                Json::<Value>(json!({
                    "status": "success",
                    "data": {"resultType": "matrix", "result": result}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The gaps of a back-fill from the fake remote API: before `n − 100` and the hole.
fn assert_remote_gaps(f: &SloFigures, n: i64) {
    let gaps: Vec<(i64, i64)> = f
        .gaps
        .iter()
        .map(|g| (g.start_ms / STEP, g.end_ms / STEP))
        .collect();
    assert_eq!(gaps, [(n - PERIOD, n - 100), (n - 50, n - 47)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rule_query_url_the_backfill_reads_the_remote_query_range_api() {
    for _attempt in 0..2 {
        let dir = TempDir::new("slo-backfill-remote");
        let n = now_step();
        let asked = Arc::new(Mutex::new(Asked::default()));
        let url = serve_fake(n, asked.clone()).await;
        let opts = SloEngineOptions {
            backfill_query: Some(RuleQueryConfig {
                url: url.clone(),
                http: Default::default(),
                timeout: Some(std::time::Duration::from_secs(5)),
            }),
            ..SloEngineOptions::default()
        };
        // The local store is empty: everything comes from the remote API.
        let f = first_round(&dir, Arc::new(Store::new()), opts).await;
        if now_step() != n {
            continue;
        }
        // 100 minutes held but 3 missing: 97 × 120 = 11640 events, 97 × 15 = 1455 bad.
        assert_eq!(f.total_events, 11640.0, "{f:#?}");
        assert_eq!(f.bad_events, 1455.0);
        let b = f.backfilled_from.as_ref().expect("backfilled_from");
        assert_eq!(b.source, format!("{url}/api/v1/query_range"));
        assert_eq!((b.start_ms, b.end_ms), ((n - PERIOD) * STEP, n * STEP));
        assert!(b.complete);
        // Steps neither source has are gaps: everything before n − 100, and the hole.
        assert_remote_gaps(&f, n);
        // The SLI's event queries over one ledger step, as the live PromQL fallback reads.
        let asked = asked.lock().unwrap();
        assert!(asked
            .queries
            .iter()
            .any(|q| q == r#"sum(rate(http_requests_total{job="api"}[1m]))"#));
        assert!(asked
            .queries
            .iter()
            .any(|q| q.contains(r#"code=~"5.."}[1m]"#)));
        return;
    }
    panic!("two attempts each crossed a minute boundary");
}

/// Loads the engine on `dir`'s state database; with `stop_after`, the back-fill stops after
/// that many chunks (as a stop of the service between two chunks would) before a round at
/// `round_ms`, else it runs to its end first. The engine is dropped and the database closed,
/// as at a stop.
async fn run_once(
    dir: &TempDir,
    store: Arc<Store>,
    opts: SloEngineOptions,
    stop_after: Option<usize>,
    round_ms: i64,
) -> SloFigures {
    let spec = testkit::ratio_spec("api", "team-api", "availability", 99.0, "api");
    let specs = testkit::load_specs(dir.path(), "api.yml", &spec);
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let mut e = SloEngine::load(
        specs,
        store,
        db.clone(),
        Arc::new(Engine::default()),
        tx,
        opts,
        HashMap::new(),
    )
    .await
    .unwrap();
    match stop_after {
        Some(n) => e.stop_backfill_after(n).await,
        None => e.wait_backfill().await,
    }
    e.round(round_ms).await;
    let f = e.view().get("api/availability").expect("the SLO's figures");
    drop(e);
    db.close().await;
    f
}

/// The SLO's whole stored ledger and back-fill mark.
async fn stored(
    dir: &TempDir,
) -> (
    redline::state::ledger::StoredLedger,
    Option<redline::state::slo_reports::BackfillRow>,
) {
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let l = db.ledger_load("api/availability".into(), 0).await.unwrap();
    let m = db.backfill_get("api/availability".into()).await.unwrap();
    db.close().await;
    (l, m)
}

/// Asserts two ledgers hold the same steps, naming the first that differs.
fn same_minutes(got: &[LedgerMinute], want: &[LedgerMinute], stop_after: usize) {
    let diff = got.iter().zip(want).find(|(g, w)| g != w);
    assert!(
        diff.is_none() && got.len() == want.len(),
        "stopped after {stop_after} chunks: {} steps, {} uninterrupted; first difference {diff:?}",
        got.len(),
        want.len()
    );
}

/// 1,500 minutes of samples before step `n` with what makes a resumed counter reading go
/// wrong: the 2xx counter misses every 7th scrape and minute 719 (the step a resume after two
/// chunks starts at reads on from the sample before), and restarts at 700; the 5xx counter
/// is scraped every other minute.
fn history_store(n: i64) -> Arc<Store> {
    let store = Arc::new(Store::new());
    let s0 = n - 1500;
    for k in 0..1500i64 {
        if k % 7 != 3 && k != 719 {
            let ok = if k < 700 {
                90 * k + k % 5
            } else {
                40 + 90 * (k - 700)
            };
            append(&store, "200", (s0 + k) * STEP, ok as f64);
        }
        if k % 2 == 0 {
            append(&store, "500", (s0 + k) * STEP, (3 * k + k % 4) as f64);
        }
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_stopped_midway_resumes_to_the_uninterrupted_ledger() {
    'attempt: for _attempt in 0..2 {
        let n = now_step();
        let store = history_store(n);
        // Every round at the end of step n: the live reading has step n (no samples) and
        // stores its cursors, so the restart continues the live reading after it.
        let round_ms = (n + 1) * STEP + 1_000;
        let whole = TempDir::new("slo-backfill-whole");
        let f_whole = run_once(&whole, store.clone(), Default::default(), None, round_ms).await;
        let (ledger_whole, mark_whole) = stored(&whole).await;
        // The oldest sample (k = 0) ends step n − 1501: the back-fill reads its 1,501 steps
        // to n in chunks of 360 (five), and marks the steps before it as a gap.
        let first = n - 1501;
        assert!(mark_whole.as_ref().unwrap().complete);
        assert_eq!(ledger_whole.gaps[0].start, n - PERIOD);
        for stop_after in [0, 2] {
            let dir = TempDir::new("slo-backfill-resume");
            run_once(
                &dir,
                store.clone(),
                Default::default(),
                Some(stop_after),
                round_ms,
            )
            .await;
            // Stopped: the mark says how far it got, and the ledger holds exactly that.
            let (mid, mark) = stored(&dir).await;
            let mark = mark.expect("the plan is stored before the first chunk");
            assert!(!mark.complete);
            assert_eq!(mark.until_ms, Some(n * STEP));
            let done = if stop_after == 0 {
                n - PERIOD // the plan: nothing filled
            } else {
                first + 360 * stop_after as i64
            };
            assert_eq!(mark.end_ms, done * STEP);
            let back: Vec<i64> = mid
                .minutes
                .iter()
                .map(|m| m.minute)
                .filter(|&m| m < n)
                .collect();
            assert_eq!(
                back.len() as i64,
                (done - first).max(0),
                "steps filled before the stop"
            );
            // The restart resumes; a second restart finds it finished.
            let f = run_once(&dir, store.clone(), Default::default(), None, round_ms).await;
            if now_step() != n {
                continue 'attempt;
            }
            let (after, mark) = stored(&dir).await;
            assert_eq!(
                after.minutes, ledger_whole.minutes,
                "stopped after {stop_after}"
            );
            assert_eq!(after.gaps, ledger_whole.gaps, "stopped after {stop_after}");
            assert_eq!(mark, mark_whole);
            assert_eq!(
                (f.total_events, f.bad_events, &f.backfilled_from),
                (
                    f_whole.total_events,
                    f_whole.bad_events,
                    &f_whole.backfilled_from
                )
            );
        }
        // A finished back-fill is not redone: history that appears afterwards (a 5xx series
        // of 1,000 errors a minute over the back-filled hours) stays out of the ledger, while
        // a new SLO's back-fill (the control) reads it.
        for k in 0..600i64 {
            append(&store, "503", (n - 1400 + k) * STEP, (1000 * k) as f64);
        }
        run_once(&whole, store.clone(), Default::default(), None, round_ms).await;
        let (again, _) = stored(&whole).await;
        same_minutes(&again.minutes, &ledger_whole.minutes, 0);
        let control = TempDir::new("slo-backfill-control");
        let f = run_once(&control, store.clone(), Default::default(), None, round_ms).await;
        if now_step() != n {
            continue;
        }
        assert!(f.bad_events >= f_whole.bad_events + 599_000.0, "{f:#?}");
        return;
    }
    panic!("two attempts each crossed a minute boundary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_backfill_stopped_inside_a_gap_resumes_without_skipping_it() {
    for _attempt in 0..2 {
        let n = now_step();
        let asked = Arc::new(Mutex::new(Asked::default()));
        let url = serve_fake(n, asked).await;
        let opts = || SloEngineOptions {
            backfill_query: Some(RuleQueryConfig {
                url: url.clone(),
                http: Default::default(),
                timeout: Some(std::time::Duration::from_secs(5)),
            }),
            ..SloEngineOptions::default()
        };
        let store = Arc::new(Store::new());
        let round_ms = (n + 1) * STEP + 1_000;
        let whole = TempDir::new("slo-backfill-remote-whole");
        let f_whole = run_once(&whole, store.clone(), opts(), None, round_ms).await;
        let (ledger_whole, _) = stored(&whole).await;
        // 30 days are 120 chunks; the remote holds only the last 100 minutes, so after 60
        // chunks the gap from the period's start is still open: none of it is recorded and
        // the mark has not moved past its start.
        let dir = TempDir::new("slo-backfill-remote-resume");
        run_once(&dir, store.clone(), opts(), Some(60), round_ms).await;
        let (mid, mark) = stored(&dir).await;
        let mark = mark.unwrap();
        assert_eq!((mark.end_ms, mark.complete), ((n - PERIOD) * STEP, false));
        assert!(mid.gaps.iter().all(|g| g.start >= n), "{:?}", mid.gaps);
        let f = run_once(&dir, store.clone(), opts(), None, round_ms).await;
        if now_step() != n {
            continue;
        }
        let (after, _) = stored(&dir).await;
        same_minutes(&after.minutes, &ledger_whole.minutes, 60);
        assert_eq!(after.gaps, ledger_whole.gaps);
        // As without the stop: 97 × 120 events, the gap from the period's start and the hole.
        assert_eq!((f.total_events, f_whole.total_events), (11640.0, 11640.0));
        assert_remote_gaps(&f, n);
        return;
    }
    panic!("two attempts each crossed a minute boundary");
}
