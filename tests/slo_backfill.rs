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
use redline::state::StateDb;
use redline::store::{Labels, Store};
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SPEC: &str = r#"
version: redline/v1
service: api
owner: team-api
slos:
  - name: availability
    objective: 99
    window: {rolling: 30d}
    sli:
      ratio:
        errors: sum(rate(http_requests_total{job="api",code=~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total{job="api"}[{{.window}}]))
"#;

const STEP: i64 = 60_000;
/// 30 days of minutes.
const PERIOD: i64 = 30 * 24 * 60;

fn append(store: &Store, code: &str, t: i64, v: f64) {
    let mut app = store.appender();
    let l = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("job", "api"),
        ("code", code),
    ]);
    app.append(&l, t, v).unwrap();
    app.commit();
}

async fn first_round(dir: &TempDir, store: Arc<Store>, opts: SloEngineOptions) -> SloFigures {
    let spec_file = dir.path().join("api.yml");
    std::fs::write(&spec_file, SPEC).unwrap();
    let specs = redline::slo::load_file(&spec_file).unwrap();
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let mut e = SloEngine::load(
        specs,
        store,
        db,
        Arc::new(Engine::default()),
        tx,
        opts,
        HashMap::new(),
    )
    .await
    .unwrap();
    e.wait_backfill().await;
    e.round(redline::timefmt::now_ms()).await;
    e.view().get("api/availability").expect("the SLO's figures")
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
        let gaps: Vec<(i64, i64)> = f
            .gaps
            .iter()
            .map(|g| (g.start_ms / STEP, g.end_ms / STEP))
            .collect();
        assert_eq!(gaps, [(n - PERIOD, n - 100), (n - 50, n - 47)]);
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
