//! One full evaluation round of every shipped rule (`rules/*.yml`) over the real fixtures
//! scaled to ~100k series: ms per round.
//!
//! `cargo bench --bench rules`

mod support;

use criterion::Criterion;
use redline::promql::{Engine, EngineOptions};
use redline::rules::{load_rule_files, EvalContext, GroupState};
use redline::store::Labels;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 11 replicas of the four fixtures: ~100k series, 31 points 30 s apart.
const REPLICAS: usize = 11;
const SAMPLES: usize = 31;
const INTERVAL_MS: i64 = 30_000;

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = now - now % 60_000;
    let base = support::base_series();
    let store = support::scaled_store(&base, REPLICAS, SAMPLES, INTERVAL_MS, end);
    let groups = load_rule_files(&["rules/*.yml"]).expect("shipped rules load");
    let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
    println!(
        "rules bench: {} groups, {rules} rules over {} series",
        groups.len(),
        store.stats().series
    );
    let engine = Engine::new(EngineOptions::default());
    let labels = Labels::empty();
    let ctx = EvalContext {
        engine: &engine,
        store: &store,
        external_labels: &labels,
        external_url: "http://redline.example",
    };
    let mut states: Vec<GroupState> = groups
        .into_iter()
        .map(|g| GroupState::new(Arc::new(g)))
        .collect();
    // One round to create the recorded series, so the measured rounds are steady state.
    let mut produced = 0;
    for s in &mut states {
        produced += s.eval(&ctx, end).samples_appended;
    }
    println!("first round appended {produced} samples");
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut round = 0i64;
    c.bench_function("shipped_rules_full_round_100k", |b| {
        b.iter(|| {
            // Each round 100 ms after the last, so the data stays inside every rule's
            // window however many rounds criterion runs.
            round += 1;
            let t = end + round * 100;
            for s in &mut states {
                black_box(s.eval(&ctx, t));
            }
        })
    });
    c.final_summary();
}
