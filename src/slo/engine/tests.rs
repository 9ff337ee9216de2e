use super::*;
use crate::state::test_dir::TempDir;

fn spec_text() -> String {
    crate::slo::testkit::ratio_spec("api", "team-api", "availability", 99.9, "api")
}

const STEP: i64 = 60_000;

fn spec(dir: &TempDir) -> Vec<SloSpec> {
    crate::slo::testkit::load_specs(dir.path(), "api.yml", &spec_text())
}

/// A block-aligned step a while ago, so the test's minutes lie in the store's retention.
fn base_step() -> i64 {
    (crate::timefmt::now_ms() / STEP - 200).div_euclid(BLOCK) * BLOCK
}

fn append(store: &Store, code: &str, t: i64, v: f64) {
    crate::slo::testkit::append_requests(store, "api", code, t, v);
}

async fn engine(
    specs: Vec<SloSpec>,
    store: Arc<Store>,
    db: StateDb,
) -> (SloEngine, mpsc::Receiver<Vec<Alert>>) {
    let (tx, rx) = mpsc::channel(64);
    let e = SloEngine::load(
        specs,
        store,
        db,
        Arc::new(Engine::default()),
        tx,
        SloEngineOptions {
            external_url: "http://redline.test".into(),
            // These tests drive rounds at times before the load; a new SLO then counts from
            // its first round, as without history (the back-fill is tested on its own).
            backfill: false,
            ..SloEngineOptions::default()
        },
        HashMap::new(),
    )
    .await
    .unwrap();
    (e, rx)
}

// 2xx counter with a restart (300 → 50) and two minutes without traffic; 5xx +10 once.
const OK: [f64; 11] = [
    0.0, 100.0, 200.0, 300.0, 50.0, 150.0, 150.0, 150.0, 250.0, 350.0, 450.0,
];
const ERR: [f64; 11] = [
    0.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0,
];

async fn run_minutes(e: &mut SloEngine, store: &Store, s0: i64) {
    for k in 0..11 {
        let t = (s0 + k) * STEP;
        append(store, "200", t, OK[k as usize]);
        append(store, "500", t, ERR[k as usize]);
        if k > 0 {
            e.round(t + 1_000).await;
        }
    }
}

/// A first life of redline that records [`run_minutes`] and stops; returns its base step.
async fn first_life(dir: &TempDir, db: &StateDb) -> i64 {
    let s0 = base_step();
    let store = Arc::new(Store::new());
    let (mut e, _rx) = engine(spec(dir), store.clone(), db.clone()).await;
    run_minutes(&mut e, &store, s0).await;
    s0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[tokio::test]
async fn figures_and_alerts_by_hand_with_reset_zero_traffic_and_restart() {
    let dir = TempDir::new("slo-engine");
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let store = Arc::new(Store::new());
    let s0 = base_step();
    let (mut e, mut rx) = engine(spec(&dir), store.clone(), db.clone()).await;
    run_minutes(&mut e, &store, s0).await;

    // Step s0 only sees each series for the first time (no increase). Steps s0+1 … s0+9 by
    // hand: 2xx +100 +100 +50 (the restart 300 → 50 counts the new 50) +100 0 0 +100 +100
    // +100 = 650, 5xx +10 once: total 660, bad 10.
    let f = e.view().get("api/availability").unwrap();
    assert_eq!(f.total_events, 660.0);
    assert_eq!(f.bad_events, 10.0);
    assert!(close(f.attainment, 650.0 / 660.0));
    // Budget 0.1 % of 660 = 0.66 events; 10 bad = 1515 % spent.
    assert!(close(f.error_budget.total_events, 0.66));
    assert!(close(f.error_budget.consumed_ratio, 10.0 / 0.66));
    assert!(f.budget_exhausted);
    assert_eq!(f.time_to_exhaustion_seconds, Some(0.0));
    // Error ratio 10/660 over every window containing the 5xx minute: burn 15.15.
    let burn = (10.0 / 660.0) / 0.001;
    assert!(close(f.window_burn_rates["1h"], burn));
    assert!(close(f.window_burn_rates["30m"], burn));
    // The last 5 minutes (s0+5 … s0+9) had 300 requests, no error.
    assert_eq!(f.window_burn_rates["5m"], 0.0);
    let rows: Vec<(&str, bool, bool, bool)> = f
        .burn_rates
        .iter()
        .map(|r| {
            (
                r.long_window.as_str(),
                r.above_threshold,
                r.firing,
                r.held_back,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("1h", false, false, false), // 5m is clean
            ("6h", true, true, false),   // fastest pair above 6x fires
            ("1d", true, false, true),   // held back
            ("3d", true, false, true),
        ]
    );
    // The alerts sent in the last round.
    let mut last = Vec::new();
    while let Ok(b) = rx.try_recv() {
        last = b;
    }
    let names: Vec<(String, String)> = last
        .iter()
        .map(|a| {
            (
                a.name().to_string(),
                a.labels.get("tier").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        names.contains(&("SLOBurnRate".into(), "6h/30m".into())),
        "{names:?}"
    );
    assert!(names.contains(&("SLOBudgetExhausted".into(), "budget".into())));
    let burn_alert = last.iter().find(|a| a.name() == "SLOBurnRate").unwrap();
    assert_eq!(burn_alert.labels.get("severity"), Some("page"));
    assert_eq!(burn_alert.labels.get("owner"), Some("team-api"));
    assert_eq!(burn_alert.labels.get("slo"), Some("availability"));
    assert_eq!(
        burn_alert.annotations.get("runbook_url"),
        Some("http://redline.test/playbooks/SLOBurnRate")
    );
    assert!(burn_alert.ends_at_ms > burn_alert.updated_at_ms);

    // Series in the store.
    use crate::store::{Matcher, Querier};
    let got = store.select(
        &[Matcher::equal("__name__", "slo:attainment:ratio")],
        0,
        i64::MAX,
    );
    assert_eq!(got.len(), 1);
    assert!(close(got[0].samples.last().unwrap().v, 650.0 / 660.0));

    // Restart: a new engine over the same database has the same figures.
    drop(e);
    let (e2, _rx2) = engine(spec(&dir), store.clone(), db.clone()).await;
    let rt = &e2.slos[0];
    let again = compute_figures(rt, s0 + 11, STEP);
    assert_eq!(again.total_events, 660.0);
    assert_eq!(again.bad_events, 10.0);
}

#[tokio::test]
async fn gap_after_restart_is_backfilled_from_counters_or_marked() {
    let dir = TempDir::new("slo-gap");
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let s0 = first_life(&dir, &db).await;
    // redline was down for steps s0+10 … s0+12; the counters went on: 450 → 550, no reset.
    let store = Arc::new(Store::new());
    append(&store, "200", (s0 + 13) * STEP, 550.0);
    append(&store, "500", (s0 + 13) * STEP, 10.0);
    let (mut e, _rx) = engine(spec(&dir), store.clone(), db.clone()).await;
    e.round((s0 + 13) * STEP + 1_000).await;
    let l = &e.slos[0].ledger;
    for s in s0 + 10..s0 + 13 {
        assert!(close(l.sum(s, s + 1).total, 100.0 / 3.0), "step {s}");
    }
    assert!(l.gaps().is_empty());
    let f = e.view().get("availability").unwrap();
    assert!(close(f.total_events, 760.0));

    // Down again for s0+13 … s0+15, and the exporter restarted: 550 → 20. The increase is
    // unknown: a gap, no events, no budget.
    let store = Arc::new(Store::new());
    append(&store, "200", (s0 + 16) * STEP, 20.0);
    append(&store, "500", (s0 + 16) * STEP, 0.0);
    let (mut e, _rx) = engine(spec(&dir), store.clone(), db.clone()).await;
    e.round((s0 + 16) * STEP + 1_000).await;
    let f = e.view().get("api/availability").unwrap();
    assert!(close(f.total_events, 760.0), "{}", f.total_events);
    assert_eq!(
        f.gaps,
        vec![GapRange {
            start_ms: (s0 + 13) * STEP,
            end_ms: (s0 + 15) * STEP
        }]
    );
    // The gap is stored: a third start still shows it.
    let (e, _rx) = engine(spec(&dir), Arc::new(Store::new()), db.clone()).await;
    assert_eq!(e.slos[0].ledger.gaps().len(), 1);
}

#[tokio::test]
async fn backfill_after_restart_waits_for_the_first_scrape() {
    let dir = TempDir::new("slo-restart-wait");
    let db = StateDb::open_in_dir(&dir.path().join("state")).unwrap();
    let s0 = first_life(&dir, &db).await;
    // redline restarts; its store is empty and the first round comes before the first scrape.
    let store = Arc::new(Store::new());
    let (mut e, _rx) = engine(spec(&dir), store.clone(), db.clone()).await;
    e.round((s0 + 13) * STEP + 1_000).await;
    assert!(
        e.slos[0].ledger.gaps().is_empty(),
        "no data yet is not a gap"
    );
    assert_eq!(e.slos[0].ledger.last_step(), Some(s0 + 9));
    // The scrape lands; the next round back-fills the whole stretch from the counters.
    append(&store, "200", (s0 + 14) * STEP, 550.0);
    append(&store, "500", (s0 + 14) * STEP, 10.0);
    e.round((s0 + 14) * STEP + 1_000).await;
    let l = &e.slos[0].ledger;
    assert!(l.gaps().is_empty());
    for s in s0 + 10..s0 + 14 {
        assert!(close(l.sum(s, s + 1).total, 25.0), "step {s}");
    }
    let f = e.view().get("availability").unwrap();
    assert!(close(f.total_events, 760.0), "{}", f.total_events);

    // A source that stays silent through the grace steps: the stretch becomes a gap.
    let store = Arc::new(Store::new());
    let (mut e, _rx) = engine(spec(&dir), store.clone(), db.clone()).await;
    for k in 0..=RESTART_GRACE_STEPS {
        e.round((s0 + 20 + k) * STEP + 1_000).await;
    }
    let gaps = e.view().get("availability").unwrap().gaps.clone();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].start_ms, (s0 + 14) * STEP);
}

#[test]
fn calendar_month_window_starts_on_the_first() {
    // 2026-03-15T12:00Z in minutes; the window starts 2026-03-01T00:00Z and March has 31 days.
    let mid_march = 1_773_576_000 / 60;
    let (from, to, len) = window_steps(
        &SloWindow::Calendar(crate::slo::calendar::CalendarWindow::month_utc()),
        mid_march,
        STEP,
    );
    assert_eq!(from * 60, 1_772_323_200);
    assert_eq!(to, mid_march);
    assert_eq!(len, 31.0 * 86_400.0);
}

#[test]
fn zero_traffic_slo_has_full_budget_and_no_alerts() {
    let dir = TempDir::new("slo-zero");
    let s = spec(&dir).remove(0);
    let src = SliSource::Probe(Arc::default());
    let rt = SloRuntime::new(s.clone(), src);
    let f = compute_figures(&rt, 1_000_000, STEP);
    assert_eq!(f.attainment, 1.0);
    assert_eq!(f.error_budget.remaining_ratio, 1.0);
    assert_eq!(f.time_to_exhaustion_seconds, None);
    assert!(f
        .burn_rates
        .iter()
        .all(|r| !r.firing && r.long_burn_rate == 0.0));
    assert!(decide_alerts(&s, &f, "").is_empty());
    assert!(series_of(&f).iter().all(|(_, v)| !v.is_nan()));
}

/// A night with three requests, all failed, in the last five minutes: the error ratio is
/// 100 % over every window, a burn rate of 1 / 0.001 = 1000, above every factor (14.4, 6, 3,
/// 1), so today's engine pages. With `min_events: 10` no pair's short window (5m, 30m, 2h,
/// 6h) holds 10 events, so nothing fires; with 50 failed requests the page fires again.
#[test]
fn the_low_traffic_guard_holds_back_a_page_on_three_requests() {
    let dir = TempDir::new("slo-guard");
    let plain = spec(&dir).remove(0);
    let mut guarded = plain.clone();
    guarded.alerting.min_traffic.events = Some(10.0);
    let night = |s: &SloSpec, failed: f64| {
        let mut rt = SloRuntime::new(s.clone(), SliSource::Probe(Arc::default()));
        // Quiet, then the failures in the minute before `to`.
        for step in 1_000..1_119 {
            rt.ledger.record(step, Counts::new(0.0, 0.0));
        }
        rt.ledger.record(1_119, Counts::new(failed, failed));
        compute_figures(&rt, 1_120, STEP)
    };

    // Three failures also spend the whole budget of three requests: the budget alert fires
    // either way; the guard is about the burn-rate page.
    let burning = |f: &SloFigures| f.firing_alerts.iter().any(|a| a == BURN_RATE_ALERT);
    let f = night(&plain, 3.0);
    assert!(burning(&f), "{:?}", f.firing_alerts);
    assert!(f.burn_rates[0].firing && f.burn_rates[0].long_burn_rate == 1000.0);

    let f = night(&guarded, 3.0);
    assert!(!burning(&f), "{:?}", f.firing_alerts);
    assert!(f
        .burn_rates
        .iter()
        .all(|r| r.held_low_traffic && !r.firing && r.short_window_events == 3.0));
    assert!(decide_alerts(&guarded, &f, "")
        .iter()
        .all(|a| a.labels.get("alertname") != Some(BURN_RATE_ALERT)));

    let f = night(&guarded, 50.0);
    assert!(burning(&f), "{:?}", f.firing_alerts);
    assert!(f.burn_rates[0].firing && !f.burn_rates[0].held_low_traffic);
}

/// `min_rate` bounds events per second over the short window: 3 events in 5m are 0.01/s.
#[test]
fn min_rate_is_events_per_second_of_the_short_window() {
    let m = crate::config::slo::MinTraffic {
        events: None,
        rate: Some(0.01),
    };
    assert!(m.met(3.0, 300.0));
    assert!(!m.met(2.0, 300.0));
    let both = crate::config::slo::MinTraffic {
        events: Some(5.0),
        ..m
    };
    assert!(!both.met(3.0, 300.0));
    assert!(both.met(5.0, 300.0));
}

/// A probe SLO (its ledger is filled by hand here) with the given window and budgeting.
fn probe_runtime(dir: &TempDir, window: &str, budgeting: &str) -> SloRuntime {
    let f = dir.path().join("cal.yml");
    let text = format!(
        "version: redline/v1\nservice: shop\nowner: team-shop\nslos:\n  - name: cal\n    objective: 99\n    window: {window}\n{budgeting}    sli:\n      probe: {{url: 'http://127.0.0.1:9/'}}\n"
    );
    std::fs::write(&f, text).unwrap();
    let spec = crate::slo::load_file(&f).unwrap().remove(0);
    SloRuntime::new(spec, SliSource::Probe(Arc::default()))
}

/// Minutes since the epoch of a UTC date and hour.
fn minute(y: i64, m: u32, d: u32, h: i64) -> i64 {
    (crate::timefmt::days_from_civil(y, m, d) * 86_400 + h * 3600) / 60
}

#[test]
fn calendar_month_budget_resets_at_midnight_in_its_zone() {
    let dir = TempDir::new("slo-cal-reset");
    let mut rt = probe_runtime(&dir, "{calendar: month, time_zone: Europe/Berlin}", "");
    // March starts in Berlin at 1 March 00:00 CET = 28 February 23:00 UTC.
    let march = minute(2025, 2, 28, 23);
    // The last hour of February: 100 events a minute, 2 bad in each of its last 10 minutes.
    for s in march - 60..march {
        let bad = if s >= march - 10 { 2.0 } else { 0.0 };
        rt.ledger.record(s, Counts::new(bad, 100.0));
    }
    let feb = compute_figures(&rt, march, STEP);
    // February: 6000 events, 20 bad; budget 1 % of 6000 = 60 events, a third spent.
    assert_eq!(feb.total_events, 6000.0);
    assert_eq!(feb.bad_events, 20.0);
    assert!((feb.error_budget.remaining_ratio - 2.0 / 3.0).abs() < 1e-12);
    // February 2025 has 28 days: 1 % of them is 24,192 s of budget.
    assert!((feb.error_budget.total_seconds - 24_192.0).abs() < 1e-6);
    assert_eq!(feb.period.start, "2025-01-31T23:00:00Z");
    assert_eq!(feb.period.end, "2025-02-28T23:00:00Z");
    // The first minute of March: the budget is full again.
    rt.ledger.record(march, Counts::new(0.0, 100.0));
    let mar = compute_figures(&rt, march + 1, STEP);
    assert_eq!(mar.total_events, 100.0);
    assert_eq!(mar.error_budget.remaining_ratio, 1.0);
    assert_eq!(mar.window_start_ms, march * STEP);
    // March ends at 1 April 00:00 CEST = 31 March 22:00 UTC: 31 days less the DST hour,
    // 2,674,800 s; 1 % of it is the budget.
    assert!((mar.error_budget.total_seconds - 26_748.0).abs() < 1e-6);
    let api = serde_json::to_value(&mar).unwrap();
    assert_eq!(api["period"]["kind"], "calendar");
    assert_eq!(api["period"]["start"], "2025-02-28T23:00:00Z");
    assert_eq!(api["period"]["end"], "2025-03-31T22:00:00Z");
    assert_eq!(api["period"]["time_zone"], "Europe/Berlin");
    assert_eq!(api["window"], "calendar month");
    // Burn-rate windows stay rolling: the 1h window [march − 59, march + 1) still holds
    // February's 20 bad of 6000 events: (20 / 6000) / 0.01 = 1/3.
    assert!((mar.current_burn_rate - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn time_slice_budget_is_counted_in_minutes_of_the_week() {
    let dir = TempDir::new("slo-cal-slices");
    let mut rt = probe_runtime(
        &dir,
        "{calendar: week, start_day: monday}",
        "    budgeting: {method: timeslices, slice: 1m, slice_target: 0.9}\n",
    );
    // Monday 6 January 2025 00:00 UTC; 10 events a minute for two hours, 2 of them bad in
    // 30 minutes (good 80 % < 90 %: a bad slice).
    let week = minute(2025, 1, 6, 0);
    for s in week..week + 120 {
        let bad = if (week + 10..week + 40).contains(&s) {
            2.0
        } else {
            0.0
        };
        rt.ledger.record(s, Counts::new(bad, 10.0));
    }
    let f = compute_figures(&rt, week + 120, STEP);
    assert_eq!(f.budgeting, "Timeslices");
    assert_eq!(f.time_slice.as_deref(), Some("1m"));
    // 120 slices so far, 30 bad: attainment 90 / 120.
    assert_eq!((f.bad_events, f.total_events), (30.0, 120.0));
    assert_eq!(f.attainment, 0.75);
    // The budget is 1 % of the week's 10,080 minutes: 100.8 slices = 6048 s; 30 spent.
    assert!((f.error_budget.total_events - 100.8).abs() < 1e-9);
    assert!((f.error_budget.total_seconds - 6048.0).abs() < 1e-9);
    assert!((f.error_budget.consumed_seconds - 1800.0).abs() < 1e-9);
    assert!((f.error_budget.remaining_seconds - 4248.0).abs() < 1e-9);
    // The last hour had no bad slice.
    assert_eq!(f.window_burn_rates["1h"], 0.0);
    // Forty minutes in, the 1h window holds 60 slices (20 before the week), 30 bad:
    // (30 / 60) / 0.01 = 50.
    let f = compute_figures(&rt, week + 40, STEP);
    assert!((f.window_burn_rates["1h"] - 50.0).abs() < 1e-9);
    assert_eq!(f.period.start, "2025-01-06T00:00:00Z");
    assert_eq!(f.period.end, "2025-01-13T00:00:00Z");
}

#[test]
fn forecast_alert_carries_owner_playbook_and_exhaustion_time() {
    let dir = TempDir::new("slo-forecast");
    let f = dir.path().join("api.yml");
    let text = spec_text().replace(
        "    window: {rolling: 30d}\n",
        "    window: {rolling: 30d}\n    alerting:\n      forecast: {within: 7d, lookback: 6h}\n",
    );
    std::fs::write(&f, text).unwrap();
    let s = crate::slo::load_file(&f).unwrap().remove(0);
    let mut rt = SloRuntime::new(s.clone(), SliSource::Probe(Arc::default()));
    // 29 clean days at 1000 events/min, then a day at 5 bad/min: remaining 5/6 of the
    // budget, burn 5 over 6h → 5/6 × 30d / 5 = 5 days = 432,000 s, within 7 days.
    let day = 1440;
    for s in 0..30 * day {
        let bad = if s >= 29 * day { 5.0 } else { 0.0 };
        rt.ledger.record(s, Counts::new(bad, 1000.0));
    }
    let to = 30 * day;
    let fig = compute_figures(&rt, to, STEP);
    let fc = fig.exhaustion_forecast.clone().unwrap();
    assert!((fc.seconds.unwrap() - 432_000.0).abs() < 1e-6);
    assert!(fig.firing_alerts.contains(&EXHAUSTION_ALERT.to_string()));
    let alerts = decide_alerts(&s, &fig, "http://redline:9090");
    let a = alerts
        .iter()
        .find(|a| a.labels.get("alertname") == Some(EXHAUSTION_ALERT))
        .unwrap();
    assert_eq!(a.labels.get("owner"), Some("team-api"));
    assert_eq!(a.labels.get("tier"), Some("forecast"));
    // 30 days after the epoch + 5 days = 1970-02-05.
    assert_eq!(
        a.annotations.get("exhaustion_time"),
        Some("1970-02-05T00:00:00Z")
    );
    assert_eq!(
        a.annotations.get("runbook_url"),
        Some("http://redline:9090/playbooks/SLOErrorBudgetExhaustion")
    );
    // Without `forecast` in the spec: no forecast.
    let plain = spec(&dir).remove(0);
    let rt = SloRuntime { spec: plain, ..rt };
    assert_eq!(compute_figures(&rt, to, STEP).exhaustion_forecast, None);
}

/// The hourly SLI is each hour's good ÷ total events from the ledger: an hour with 30 bad of
/// 600 events reads 95%, its neighbours with none 100%, and an hour without events has no
/// point.
#[test]
fn hourly_sli_shows_each_hours_share_of_good_events() {
    let dir = TempDir::new("slo-hourly");
    let mut rt = probe_runtime(&dir, "{rolling: 1d}", "");
    let h0 = 1_000 * 60; // a step at the start of an hour (60-step blocks)
    for m in 0..60 {
        rt.ledger.record(h0 + m, Counts::new(0.0, 10.0));
        rt.ledger.record(h0 + 60 + m, Counts::new(0.5, 10.0));
        rt.ledger.record(h0 + 180 + m, Counts::new(0.0, 10.0));
    }
    let f = compute_figures(&rt, h0 + 240, STEP);
    let hour = |s: i64| s * STEP;
    let tail: Vec<_> = f.sli_hourly.iter().rev().take(3).rev().copied().collect();
    assert_eq!(
        tail,
        [
            (hour(h0 + 60), 1.0),
            (hour(h0 + 120), 0.95),
            (hour(h0 + 240), 1.0)
        ],
        "the hour h0+120..h0+180 had no events"
    );
}
