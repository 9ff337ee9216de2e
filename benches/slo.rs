//! The SLO engine at scale: 1,000 SLOs with full 30-day ledgers.
//!
//! - `slo_full_round_1000`: one full round of figures (attainment, error budget, every
//!   burn-rate window, time to exhaustion, burn-down) and burn-rate alert decisions for every
//!   SLO, from the in-memory window sums. Target: under 100 ms.
//! - `slo_full_round_1000_mixed`: the same round over 1,000 SLOs of which a quarter each are
//!   rolling 30d with occurrences (as above), calendar months in Europe/Berlin, rolling 30d
//!   counted in 1m time slices (`Timeslices`, target 0.95) and calendar weeks counted in 5m
//!   `RatioTimeslices`; the first benchmark is its baseline from the same run.
//! - The ledger's size on disk per SLO: 30 days of one-minute rows written to SQLite as the
//!   engine writes them, for a handful of SLOs with realistic counts. Target: under 1 MiB.
//!
//! `cargo bench --bench slo`

use criterion::Criterion;
use redline::slo::calendar::{CalendarUnit, CalendarWindow, Zone};
use redline::slo::engine::{compute_figures, decide_alerts, SloRuntime};
use redline::slo::figures::Counts;
use redline::slo::ledger::BLOCK;
use redline::slo::sli::SliSource;
use redline::slo::{Budgeting, SloSpec, SloWindow};
use redline::state::ledger::{register_sync, write_sync, LedgerMinute, LedgerWrite};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

const SLOS: usize = 1_000;
const DAYS: i64 = 30;
const STEPS: i64 = DAYS * 24 * 60;
const STEP_MS: i64 = 60_000;
const DISK_SLOS: usize = 5;

/// Deterministic per-minute traffic: 200–5,000 requests, a few errors, an incident per day.
fn minute(slo: usize, s: i64) -> (f64, f64) {
    let x = (s as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(slo as u64 * 1_442_695_040_888_963_407);
    let total = 200 + (x >> 33) % 4_800;
    let bad = if s % 1440 < 20 {
        total / 20
    } else {
        ((x >> 17) % 1000 < 30) as u64 * ((x >> 7) % 5)
    };
    (bad as f64, total as f64)
}

/// SLO `i` with 30 days of traffic up to `to`; in the mixed set, every fourth SLO keeps the
/// base's rolling window and occurrences, the others are a Berlin calendar month, 1m time
/// slices, and a calendar week in 5m ratio slices.
fn runtime(base: &SloSpec, i: usize, mixed: bool, from: i64, to: i64) -> SloRuntime {
    let mut spec = base.clone();
    spec.name = format!("slo-{i}");
    if mixed {
        let berlin = Zone::named("Europe/Berlin").expect("Europe/Berlin");
        match i % 4 {
            1 => {
                spec.window = SloWindow::Calendar(CalendarWindow {
                    unit: CalendarUnit::Month { start_day: 1 },
                    zone: berlin,
                })
            }
            2 => {
                spec.budgeting = Budgeting::Timeslices {
                    slice: std::time::Duration::from_secs(60),
                    target: 0.95,
                }
            }
            3 => {
                spec.window = SloWindow::Calendar(CalendarWindow {
                    unit: CalendarUnit::Week {
                        start_day: jiff::civil::Weekday::Monday,
                    },
                    zone: berlin,
                });
                spec.budgeting = Budgeting::RatioTimeslices {
                    slice: std::time::Duration::from_secs(300),
                }
            }
            _ => {}
        }
    }
    let mut rt = SloRuntime::new(spec, SliSource::Probe(Arc::default()));
    for s in from..to {
        let (bad, total) = minute(i, s);
        rt.ledger.record(s, Counts::new(bad, total));
    }
    let (wfrom, _, _) = redline::slo::engine::window_steps(&rt.spec.window, to, STEP_MS);
    if let Some(b) = rt.ledger.edge_needed(wfrom) {
        let edge: Vec<LedgerMinute> = (b * BLOCK..(b + 1) * BLOCK)
            .map(|s| {
                let (bad, total) = minute(i, s);
                LedgerMinute {
                    minute: s,
                    bad,
                    total,
                }
            })
            .collect();
        rt.ledger.set_edge(b, &edge);
    }
    rt
}

fn main() {
    let specs = redline::slo::load_files(&[PathBuf::from("rules/slo/checkout.yml")])
        .expect("rules/slo/checkout.yml loads");
    let base = specs[0].clone();
    let now = redline::timefmt::now_ms() / STEP_MS;
    let to = now - now % BLOCK;
    let from = to - STEPS;

    let mut c = Criterion::default().configure_from_args().sample_size(20);
    for (name, mixed) in [
        ("slo_full_round_1000", false),
        ("slo_full_round_1000_mixed", true),
    ] {
        // In memory: 1,000 runtimes with 30 full days each.
        let started = std::time::Instant::now();
        let slos: Vec<SloRuntime> = (0..SLOS)
            .map(|i| runtime(&base, i, mixed, from, to))
            .collect();
        println!(
            "slo bench: {name}: {SLOS} SLOs × {STEPS} minutes loaded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut alerts = 0;
                for rt in &slos {
                    let f = compute_figures(rt, to, STEP_MS);
                    alerts += decide_alerts(&rt.spec, &f, "http://redline").len();
                    black_box(&f);
                }
                black_box(alerts)
            })
        });
        for rt in slos.iter().take(4) {
            let f = compute_figures(rt, to, STEP_MS);
            println!(
                "slo bench: {name}: {} ({}, {}): attainment {:.5}, budget remaining {:.3}, burn 1h {:.2}",
                rt.spec.name,
                f.window,
                f.budgeting,
                f.attainment,
                f.error_budget.remaining_ratio,
                f.window_burn_rates["1h"]
            );
        }
    }

    // On disk: DISK_SLOS SLOs × 30 days, written as the engine writes them: one transaction
    // per round holding one new minute of every SLO (WAL; fsync off only to keep the bench
    // short, it does not change the file's layout).
    let dir = std::env::temp_dir().join(format!("redline-slo-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ledger.db");
    let mut conn = rusqlite::Connection::open(&path).expect("open sqlite");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("synchronous");
    redline::state::schema::migrate(&mut conn, 0).expect("migrate");
    let shown = path.display().to_string();
    let keys: Vec<String> = (0..DISK_SLOS)
        .map(|i| format!("checkout/slo-{i}"))
        .collect();
    register_sync(&mut conn, &shown, &keys, STEP_MS).expect("register");
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .expect("checkpoint");
    let empty_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    for s in from..to {
        let writes: Vec<LedgerWrite> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let (bad, total) = minute(i, s);
                LedgerWrite {
                    slo: k.clone(),
                    minutes: vec![LedgerMinute {
                        minute: s,
                        bad,
                        total,
                    }],
                    gaps: Vec::new(),
                    cursor: Some((s, "[]".into())),
                    backfill: None,
                }
            })
            .collect();
        write_sync(&mut conn, &shown, &writes).expect("write");
    }
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .expect("checkpoint");
    drop(conn);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let per_slo = (size - empty_size.min(size)) as f64 / DISK_SLOS as f64;
    println!(
        "slo bench: ledger on disk: {DISK_SLOS} SLOs × {DAYS} days = {size} bytes, {:.0} KiB per SLO ({:.2} bytes per minute)",
        per_slo / 1024.0,
        per_slo / STEPS as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    c.final_summary();
}
