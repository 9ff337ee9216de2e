//! Fuzz target: PromQL text through redline's one parsing entry (`promql::parse`, with the
//! default length and depth limits) and, when it parses, an instant and a short range query
//! over a small in-memory store (a counter, a gauge, histogram buckets) with a small sample
//! limit and a timeout. Parsing, evaluating, printing and dropping must never panic or
//! overflow the stack; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::promql::testing::MemQuerier;
use redline::promql::{parse, Engine, EngineOptions, ParseLimits};
use redline::store::Labels;
use std::sync::OnceLock;
use std::time::Duration;

fn store() -> &'static MemQuerier {
    static STORE: OnceLock<MemQuerier> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut q = MemQuerier::new();
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        for i in 0..40i64 {
            let t = i * 15_000;
            q.append(
                &l(&[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("job", "api"),
                ]),
                t,
                10.0 * i as f64,
            );
            // A counter reset halfway.
            q.append(
                &l(&[
                    ("__name__", "http_requests_total"),
                    ("code", "500"),
                    ("job", "api"),
                ]),
                t,
                (i % 20) as f64,
            );
            q.append(
                &l(&[("__name__", "temperature"), ("room", "a")]),
                t,
                20.0 + (i % 7) as f64,
            );
            q.append(
                &l(&[("__name__", "temperature"), ("room", "b")]),
                t,
                f64::NAN,
            );
            for (le, f) in [("0.1", 1.0), ("0.5", 2.0), ("1", 3.0), ("+Inf", 4.0)] {
                q.append(
                    &l(&[
                        ("__name__", "latency_seconds_bucket"),
                        ("le", le),
                        ("job", "api"),
                    ]),
                    t,
                    f * i as f64,
                );
            }
        }
        q
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = parse(text, &ParseLimits::default()) else {
        return;
    };
    let engine = Engine::new(EngineOptions {
        max_samples: 20_000,
        timeout: Some(Duration::from_millis(200)),
        ..EngineOptions::default()
    });
    let q = store();
    for t in [0, 300_000, 600_000] {
        let _ = engine.instant_query(q, text, t);
    }
    let _ = engine.range_query(q, text, 0, 600_000, 60_000);
    let _ = engine.instant_query_expr(q, &expr, 450_000);
    let printed = expr.to_string();
    drop(expr);
    // What redline prints parses again (rules and the API show printed expressions).
    let _ = parse(&printed, &ParseLimits::default());
});
