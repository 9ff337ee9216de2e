use super::*;
use crate::slo::engine::{compute_figures, SloRuntime};
use crate::slo::ledger::BLOCK;
use crate::slo::sli::SliSource;
use std::path::Path;

fn ledger() -> Ledger {
    Ledger::new(30 * BLOCK, 40 * BLOCK)
}

/// Part A (weight 3): 100 events a step, 10 of them bad in step 1, no traffic in step 8.
/// Part B (weight 1): 50 events a step, 25 bad in step 5, no traffic in steps 7 and 8.
fn two_parts() -> (Ledger, Ledger) {
    let (mut a, mut b) = (ledger(), ledger());
    for s in 0..10 {
        if s != 8 {
            a.record(s, Counts::new(if s == 1 { 10.0 } else { 0.0 }, 100.0));
        }
        if s != 7 && s != 8 {
            b.record(s, Counts::new(if s == 5 { 25.0 } else { 0.0 }, 50.0));
        }
    }
    (a, b)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn parts_burning_at_different_times_by_hand() {
    let (a, b) = two_parts();
    let parts = [
        PartLedger {
            weight: 3.0,
            ledger: &a,
        },
        PartLedger {
            weight: 1.0,
            ledger: &b,
        },
    ];
    let (minutes, gaps) = compose_steps(&parts, 0, 10);
    assert!(gaps.is_empty());
    let step = |s: i64| {
        let m = minutes.iter().find(|m| m.minute == s).unwrap();
        (m.bad, m.total)
    };
    // Step 1: A's ratio 10/100 = 0.1 weighs 3, B's 0 weighs 1: bad 0.3 of 4.
    assert!(close(step(1).0, 0.3) && step(1).1 == 4.0, "{:?}", step(1));
    // Step 5: A 0, B 25/50 = 0.5: bad 0.5 of 4.
    assert_eq!(step(5), (0.5, 4.0));
    // Step 7: only A has traffic (ratio 0): bad 0 of 3.
    assert_eq!(step(7), (0.0, 3.0));
    // Step 8: no part has traffic: no events.
    assert_eq!(step(8), (0.0, 0.0));
    assert_eq!(step(0), (0.0, 4.0));
    // The composite's ledger over the ten steps: 8 steps of weight 4, one of 3, one of 0 =
    // 35; bad 0.3 + 0.5 = 0.8; error ratio 0.8 / 35.
    let mut c = ledger();
    for m in &minutes {
        c.record(m.minute, Counts::new(m.bad, m.total));
    }
    let sum = c.sum(0, 10);
    assert!(close(sum.bad, 0.8) && sum.total == 35.0, "{sum:?}");
    assert!(close(figures::error_ratio(sum), 0.8 / 35.0));

    // The parts' figures over the ten steps: A brought 0.3 of the 0.8 bad, B 0.5.
    let spec_parts = [
        CompositePart {
            slo: "a".into(),
            key: "shop/a".into(),
            weight: 3.0,
            field: String::new(),
        },
        CompositePart {
            slo: "b".into(),
            key: "shop/b".into(),
            weight: 1.0,
            field: String::new(),
        },
    ];
    let pf = part_figures(&spec_parts, &[Some(&a), Some(&b)], 0, 10, "10m");
    assert!(close(pf[0].burn_share, 0.375) && close(pf[1].burn_share, 0.625));
    assert_eq!((pf[0].weight_share, pf[1].weight_share), (0.75, 0.25));
    // A: 10 bad of 9 × 100; B: 25 bad of 8 × 50.
    assert!(close(pf[0].error_ratio, 10.0 / 900.0));
    assert!(close(pf[1].error_ratio, 25.0 / 400.0));
    assert_eq!((pf[1].service.as_str(), pf[1].name.as_str()), ("shop", "b"));
}

#[test]
fn a_step_every_part_lost_is_a_gap() {
    // A lost steps 20 and 21, B 21 and 22: nothing is recorded for them.
    let (mut a, mut b) = (ledger(), ledger());
    for s in 0..30 {
        if !(20..22).contains(&s) {
            a.record(s, Counts::new(0.0, 10.0));
        }
        if !(21..23).contains(&s) {
            b.record(s, Counts::new(5.0, 10.0));
        }
    }
    a.record_gap(LedgerGap { start: 20, end: 22 });
    b.record_gap(LedgerGap { start: 21, end: 23 });
    let parts = [
        PartLedger {
            weight: 1.0,
            ledger: &a,
        },
        PartLedger {
            weight: 1.0,
            ledger: &b,
        },
    ];
    let (minutes, gaps) = compose_steps(&parts, 19, 24);
    // Step 21 is in both gaps: a gap of the composite; 20 is B's ratio 0.5 alone (bad 0.5
    // of 1), 22 A's ratio 0 alone (0 of 1), 19 and 23 both parts (0 + 0.5 of 2).
    assert_eq!(gaps, vec![LedgerGap { start: 21, end: 22 }]);
    let got: Vec<(i64, f64, f64)> = minutes.iter().map(|m| (m.minute, m.bad, m.total)).collect();
    assert_eq!(
        got,
        vec![
            (19, 0.5, 2.0),
            (20, 0.5, 1.0),
            (22, 0.0, 1.0),
            (23, 0.5, 2.0)
        ]
    );
}

#[test]
fn stored_parts_compose_as_the_ledgers_do() {
    let (a, b) = two_parts();
    let stored = |l: &Ledger, w: f64| {
        let minutes = (0..10)
            .map(|s| {
                let c = l.sum(s, s + 1);
                crate::state::ledger::LedgerMinute {
                    minute: s,
                    bad: c.bad,
                    total: c.total,
                }
            })
            .collect();
        StoredPart::new(
            w,
            &crate::state::ledger::StoredLedger {
                minutes,
                gaps: Vec::new(),
                cursor: None,
            },
        )
    };
    let from_db = compose_steps(&[stored(&a, 3.0), stored(&b, 1.0)], 0, 10);
    let live = compose_steps(
        &[
            PartLedger {
                weight: 3.0,
                ledger: &a,
            },
            PartLedger {
                weight: 1.0,
                ledger: &b,
            },
        ],
        0,
        10,
    );
    assert_eq!(from_db, live);
}

const SHOP: &str = r#"
version: redline/v1
service: shop
owner: team-shop
slos:
  - name: checkout
    objective: 99.5
    window: {rolling: 30d}
    sli: {availability: {query: 'up{job="checkout"}'}}
  - name: search
    objective: 99.5
    window: {rolling: 30d}
    sli: {availability: {query: 'up{job="search"}'}}
  - name: journey
    objective: 99
    window: {rolling: 30d}
    sli:
      composite:
        - {slo: checkout, weight: 3}
        - {slo: search}
"#;

fn load(text: &str) -> Result<Vec<SloSpec>, Vec<SloError>> {
    let mut specs = crate::slo::parse_text(Path::new("shop.yml"), text)?;
    let errors = resolve(&mut specs);
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

/// A day of clean traffic (100 events a step in both parts), then an hour in which one part
/// fails 30 % of its events; the composite's figures at the end.
fn burn_one_part(heavy: bool) -> crate::slo::engine::SloFigures {
    let specs = load(SHOP).unwrap();
    let journey = specs.iter().find(|s| s.name == "journey").unwrap().clone();
    let (mut checkout, mut search) = (ledger(), ledger());
    let end = 25 * 60;
    for s in 0..end {
        let bad = if s >= 24 * 60 { 30.0 } else { 0.0 };
        let (cb, sb) = if heavy { (bad, 0.0) } else { (0.0, bad) };
        checkout.record(s, Counts::new(cb, 100.0));
        search.record(s, Counts::new(sb, 100.0));
    }
    let Sli::Composite(parts) = &journey.sli else {
        panic!("{:?}", journey.sli)
    };
    let ledgers: Vec<PartLedger> = parts
        .iter()
        .map(|p| PartLedger {
            weight: p.weight,
            ledger: if p.key == "shop/checkout" {
                &checkout
            } else {
                &search
            },
        })
        .collect();
    let (minutes, _) = compose_steps(&ledgers, 0, end);
    let mut rt = SloRuntime::new(journey, SliSource::Composite);
    for m in &minutes {
        rt.ledger.record(m.minute, Counts::new(m.bad, m.total));
    }
    compute_figures(&rt, end, 60_000)
}

#[test]
fn the_heavy_part_burning_pages_and_the_light_one_does_not() {
    // Budget 1 % (objective 99 %); the page pair 1h/5m fires above 14.4 × 0.01 = 0.144.
    // Checkout (weight 3) failing 30 %: each step 3 × 0.3 / 4 = 0.225 over the last hour,
    // burn 22.5 over 1h and 5m: the page fires.
    let heavy = burn_one_part(true);
    let page = &heavy.burn_rates[0];
    assert_eq!(
        (page.long_window.as_str(), page.short_window.as_str()),
        ("1h", "5m")
    );
    assert!(close(page.long_burn_rate, 22.5) && close(page.short_burn_rate, 22.5));
    assert!(page.firing, "{:?}", heavy.burn_rates);
    assert!(heavy.firing_alerts.contains(&"SLOBurnRate".to_string()));
    // Search (weight 1) failing the same 30 %: 0.3 / 4 = 0.075 a step, burn 7.5 over 1h and
    // 5m, under 14.4; over 6h (60 of 360 steps) 1.25, under 6; over 1d 60 × 0.075 / 1440 /
    // 0.01 = 0.3125, under 3; over 3d (the ledger holds 1500 steps) 0.3, under 1: nothing
    // fires.
    let light = burn_one_part(false);
    assert!(close(light.burn_rates[0].long_burn_rate, 7.5));
    assert!(close(light.window_burn_rates["6h"], 1.25));
    assert!(close(light.window_burn_rates["1d"], 0.3125));
    assert!(close(light.window_burn_rates["3d"], 0.3));
    assert!(
        light.burn_rates.iter().all(|r| !r.firing),
        "{:?}",
        light.burn_rates
    );
    assert!(!light.firing_alerts.contains(&"SLOBurnRate".to_string()));
}

fn errors(text: &str) -> Vec<(String, String)> {
    match load(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

#[test]
fn composite_spec_errors_name_the_part() {
    assert!(errors(SHOP).is_empty());
    let with = |parts: &str| {
        SHOP.replace(
            "        - {slo: checkout, weight: 3}\n        - {slo: search}\n",
            parts,
        )
    };
    let cases = [
        (
            "        - {slo: cart}\n",
            "slos[2].sli.composite[0].slo",
            "no SLO named \"cart\"",
        ),
        (
            "        - {slo: journey}\n",
            "slos[2].sli.composite[0].slo",
            "composites do not nest",
        ),
        (
            "        - {slo: checkout, weight: 0}\n",
            "slos[2].sli.composite[0].weight",
            "> 0",
        ),
        (
            "        - {slo: checkout}\n        - {slo: shop/checkout}\n",
            "slos[2].sli.composite[1].slo",
            "listed twice",
        ),
        (
            "        - {slo: checkout, objective: 99}\n",
            "slos[2].sli.composite[0].objective",
            "takes its name and objective",
        ),
        (
            "        - {name: inline}\n",
            "slos[2].sli.composite[0]",
            "exactly one of",
        ),
        (
            "        - name: nested\n          sli: {composite: [{slo: checkout}]}\n",
            "slos[2].sli.composite[0].sli.composite",
            "composites do not nest",
        ),
    ];
    for (parts, field, message) in cases {
        let e = errors(&with(parts));
        assert_eq!(e.len(), 1, "{parts}: {e:?}");
        assert_eq!(e[0].0, field, "{e:?}");
        assert!(e[0].1.contains(message), "{e:?}");
    }
    // A part measured over another window.
    let e = errors(&SHOP.replacen("window: {rolling: 30d}", "window: {rolling: 28d}", 1));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "slos[2].sli.composite[0].slo");
    assert!(e[0].1.contains("28d, the composite over 30d"), "{e:?}");
}

#[test]
fn inline_parts_are_slos_of_their_own() {
    let text = SHOP.replace(
        "        - {slo: search}\n",
        "        - name: cart\n          weight: 2\n          objective: 99.9\n          sli: {availability: {query: 'up{job=\"cart\"}'}}\n",
    );
    let specs = load(&text).unwrap();
    let cart = specs.iter().find(|s| s.name == "journey-cart").unwrap();
    assert_eq!(cart.objective.0, 99.9);
    assert_eq!(cart.owner, "team-shop");
    assert_eq!(cart.field, "slos[2].sli.composite[1]");
    let journey = specs.iter().find(|s| s.name == "journey").unwrap();
    let Sli::Composite(parts) = &journey.sli else {
        panic!()
    };
    let keys: Vec<(&str, f64)> = parts.iter().map(|p| (p.key.as_str(), p.weight)).collect();
    assert_eq!(
        keys,
        vec![("shop/checkout", 3.0), ("shop/journey-cart", 2.0)]
    );
    // An inline part's own errors carry its path.
    let bad = text.replace("objective: 99.9", "objective: 120");
    let e = errors(&bad);
    assert_eq!(e[0].0, "slos[2].sli.composite[1].objective", "{e:?}");
}

/// The OpenSLO v1 composite form, written from the spec's SLO object (objectives that carry
/// their own `indicator` or `indicatorRef` and a `compositeWeight`).
const OPENSLO: &str = r#"
apiVersion: openslo/v1
kind: SLI
metadata:
  name: search-availability
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        type: Prometheus
        spec:
          query: search_requests_total{code!~"5.."}
    total:
      metricSource:
        type: Prometheus
        spec:
          query: search_requests_total
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-journey
  displayName: Checkout journey
  labels:
    team: payments
spec:
  description: Search, then pay
  service: shop
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Payments
      target: 0.999
      compositeWeight: 3
      indicator:
        metadata:
          name: payment-errors
        spec:
          ratioMetric:
            counter: true
            bad:
              metricSource:
                type: Prometheus
                spec:
                  query: payments_total{code=~"5.."}
            total:
              metricSource:
                type: Prometheus
                spec:
                  query: payments_total
    - displayName: Search
      target: 0.99
      indicatorRef: search-availability
"#;

#[test]
fn openslo_composite_form_loads() {
    let specs = load(OPENSLO).unwrap();
    let names: Vec<(&str, f64)> = specs
        .iter()
        .map(|s| (s.name.as_str(), s.objective.0))
        .collect();
    // Each objective is an SLO with its target; the composite's objective is the weighted
    // mean of theirs: (3 × 99.9 + 1 × 99) / 4 = 99.675.
    assert_eq!(
        names,
        vec![
            ("checkout-journey-payments", 99.9),
            ("checkout-journey-search", 99.0),
            ("checkout-journey", 99.675)
        ]
    );
    let c = &specs[2];
    assert_eq!(c.owner, "payments");
    assert_eq!(c.field, "document[1].spec.objectives");
    let Sli::Composite(parts) = &c.sli else {
        panic!("{:?}", c.sli)
    };
    let keys: Vec<(&str, f64)> = parts.iter().map(|p| (p.key.as_str(), p.weight)).collect();
    assert_eq!(
        keys,
        vec![
            ("shop/checkout-journey-payments", 3.0),
            ("shop/checkout-journey-search", 1.0)
        ]
    );
    // `slo generate` refuses the composite with its field path and writes the parts' rules.
    let rules = crate::slo::generate_specs(&specs).unwrap();
    assert!(rules.contains(
        "# not generated: shop.yml: document[1].spec.objectives: Prometheus rules cannot express a composite SLO"
    ), "{rules}");
    assert!(rules.contains("slo_name: checkout-journey-payments"));
    let native = load(SHOP).unwrap();
    let e = crate::slo::generate::not_expressible(&native[2]).unwrap();
    assert_eq!(e.field, "slos[2].sli.composite");
}

#[test]
fn openslo_composite_errors_name_the_field() {
    let cases = [
        (
            OPENSLO.replace("compositeWeight: 3", "compositeWeight: 0"),
            "document[1].spec.objectives[0].compositeWeight",
        ),
        (
            OPENSLO.replace("      indicatorRef: search-availability\n", ""),
            "document[1].spec.objectives[1]",
        ),
        (
            OPENSLO.replace("indicatorRef: search-availability", "indicatorRef: search"),
            "document[1].spec.objectives[1].indicatorRef",
        ),
        (
            OPENSLO.replace(
                "  budgetingMethod: Occurrences\n",
                "  indicatorRef: search-availability\n  budgetingMethod: Occurrences\n",
            ),
            "document[1].spec.objectives[0].indicator",
        ),
        (
            OPENSLO
                .replace(
                    "budgetingMethod: Occurrences",
                    "budgetingMethod: RatioTimeslices",
                )
                .replace("target: 0.999", "target: 0.999\n      timeSliceWindow: 1m")
                .replace(
                    "target: 0.99\n",
                    "target: 0.99\n      timeSliceWindow: 5m\n",
                ),
            "document[1].spec.objectives[1]",
        ),
    ];
    for (text, field) in cases {
        let e = errors(&text);
        assert!(e.iter().any(|(f, _)| f == field), "{field}: {e:?}");
    }
    // compositeWeight on an SLO with one indicator.
    let standard = r#"
apiVersion: openslo/v1
kind: SLO
metadata: {name: api}
spec:
  service: api
  indicator:
    metadata: {name: api-errors}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
        total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives:
    - {target: 0.99, compositeWeight: 2}
"#;
    let e = errors(standard);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "spec.objectives[0].compositeWeight");
}
