//! The alerting pipeline at the scale of issue #5: 10,000 active alerts, a 100-route tree,
//! 50 inhibit rules and 100 silences. Prints route decision time, inhibition and silence
//! checks, alerts ingested and routed per second through `Pipeline::put_alerts` on one core,
//! and memory per active alert (live heap bytes, counted by a wrapping global allocator).
//!
//! `cargo bench --bench alerting -- --warm-up-time 1 --measurement-time 3`

mod heap;

use criterion::{Criterion, Throughput};
use redline::alerting::alert_status;
use redline::alerting::{
    standard_integrations, Alert, Inhibitor, Pipeline, PipelineOptions, Silence, Silences,
};
use redline::config::alertmanager::AlertmanagerConfig;
use redline::config::alertmanager::{parse_matchers, Matchers};
use redline::store::Labels;
use std::hint::black_box;
use std::sync::Arc;

const ALERTS: usize = 10_000;
const TEAMS: usize = 10;
const ROUTES_PER_TEAM: usize = 9;
const INHIBIT_RULES: usize = 50;
const SILENCES: usize = 100;

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

/// A 100-route tree (10 team routes with 9 children each), 50 inhibit rules, one receiver
/// per route. Receivers have no integrations, and `group_wait` is long, so nothing is sent.
fn config_text() -> String {
    let mut s = String::from(
        "route:\n  receiver: default\n  group_by: [alertname, namespace]\n  group_wait: 1h\n  routes:\n",
    );
    let mut receivers = vec!["default".to_string()];
    for t in 0..TEAMS {
        s.push_str(&format!(
            "    - matchers: ['team=\"team{t}\"']\n      receiver: team{t}\n      routes:\n"
        ));
        receivers.push(format!("team{t}"));
        for r in 0..ROUTES_PER_TEAM {
            let m = match r % 3 {
                0 => format!("severity=\"critical\", alertname=~\"Alert{r}.*\""),
                1 => format!("severity=~\"warning|info\", namespace=\"ns{r}\""),
                _ => format!("alertname=\"Alert{r}\""),
            };
            s.push_str(&format!(
                "        - matchers: ['{}']\n          receiver: team{t}-r{r}\n{}",
                m.replace('\'', "''"),
                if r == 0 {
                    "          continue: true\n"
                } else {
                    ""
                }
            ));
            receivers.push(format!("team{t}-r{r}"));
        }
    }
    s.push_str("inhibit_rules:\n");
    for i in 0..INHIBIT_RULES {
        s.push_str(&format!(
            "  - source_matchers: ['severity=\"critical\"', 'alertname=\"Alert{i}\"']\n    \
             target_matchers: ['severity=~\"warning|info\"']\n    equal: [namespace, team]\n"
        ));
    }
    s.push_str("receivers:\n");
    for r in receivers {
        s.push_str(&format!("  - name: {r}\n"));
    }
    s
}

fn alerts(now: i64) -> Vec<Alert> {
    let sev = ["critical", "warning", "info"];
    (0..ALERTS)
        .map(|i| Alert {
            labels: Labels::from_pairs([
                ("alertname", format!("Alert{}", i % 200)),
                ("team", format!("team{}", i % TEAMS)),
                ("namespace", format!("ns{}", i % 50)),
                ("severity", sev[i % 3].to_string()),
                ("instance", format!("10.0.{}.{}:8080", i / 256, i % 256)),
                ("job", "api".to_string()),
            ]),
            annotations: Labels::from_pairs([("summary", format!("alert number {i}"))]),
            starts_at_ms: now - 60_000,
            ends_at_ms: 0,
            generator_url: "http://prometheus.example:9090/graph?g0.expr=up".to_string(),
            updated_at_ms: 0,
            timeout: false,
        })
        .collect()
}

fn main() {
    let now = redline::timefmt::now_ms();
    let text = config_text();
    let cfg = Arc::new(
        AlertmanagerConfig::from_yaml_str(&text, "bench.yml").expect("generated config is valid"),
    );
    let routes = count_routes(&cfg.route.root);
    let alerts = alerts(now);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    // Memory per active alert: live heap bytes the pipeline holds after taking 10k alerts.
    let pipeline = rt.block_on(async {
        Pipeline::start(
            cfg.clone(),
            PipelineOptions::default(),
            None,
            standard_integrations(String::new(), String::new()),
        )
        .await
        .expect("pipeline starts")
    });
    let batch = alerts.clone();
    let before = heap::live();
    rt.block_on(pipeline.put_alerts(batch)).expect("put");
    let after = heap::live();
    let per_alert = (after - before) as f64 / ALERTS as f64;
    let held = pipeline.alerts().len();
    println!(
        "alerting bench: {routes} routes, {} inhibit rules, {SILENCES} silences, {held} active alerts, {} groups",
        cfg.inhibit_rules.len(),
        pipeline.groups().len()
    );
    println!(
        "memory per active alert (pipeline: store, groups, inhibitor; posted alert copies excluded): {per_alert:.0} bytes"
    );

    let inhibitor = Inhibitor::new(&cfg.inhibit_rules);
    for a in &alerts {
        let mut a = a.clone();
        a.ends_at_ms = now + 300_000;
        inhibitor.observe(&a, now);
    }
    let silences = Silences::in_memory();
    rt.block_on(async {
        for k in 0..SILENCES {
            let m = if k % 2 == 0 {
                format!("instance=\"10.0.{}.{}:8080\"", k / 4, k)
            } else {
                format!("alertname=\"Alert{k}\", severity=~\"info|warning\"")
            };
            silences
                .upsert(
                    Silence {
                        id: String::new(),
                        matchers: Matchers(parse_matchers(&m).expect("matcher")),
                        starts_at_ms: now,
                        ends_at_ms: now + 3_600_000,
                        updated_at_ms: 0,
                        created_by: "bench".into(),
                        comment: "bench".into(),
                    },
                    now,
                )
                .await
                .expect("silence");
        }
    });
    let inhibited = alerts
        .iter()
        .filter(|a| !inhibitor.inhibited_by(&a.labels, now).is_empty())
        .count();
    let silenced = alerts
        .iter()
        .filter(|a| !silences.silenced_by(&a.labels, now).is_empty())
        .count();
    println!("{inhibited} of {ALERTS} alerts inhibited, {silenced} silenced");

    let mut c = Criterion::default().configure_from_args();
    let mut i = 0usize;
    c.bench_function("route_decision_100_routes", |b| {
        b.iter(|| {
            i = (i + 1) % ALERTS;
            black_box(cfg.destinations(&alerts[i].labels).len())
        })
    });
    c.bench_function("inhibition_check_50_rules_10k_alerts", |b| {
        b.iter(|| {
            i = (i + 1) % ALERTS;
            black_box(inhibitor.inhibited_by(&alerts[i].labels, now))
        })
    });
    c.bench_function("silence_check_100_silences", |b| {
        b.iter(|| {
            i = (i + 1) % ALERTS;
            black_box(silences.silenced_by(&alerts[i].labels, now))
        })
    });
    c.bench_function("alert_status_route_inhibit_silence", |b| {
        b.iter(|| {
            i = (i + 1) % ALERTS;
            black_box(alert_status(&alerts[i], &cfg, &silences, &inhibitor, now))
        })
    });

    // Ingest + route: re-posting batches of the 10k active alerts (as a Prometheus server
    // resends them) through the whole put path on one core: normalise, merge into the
    // store, observe for inhibition, route and put into aggregation groups.
    const BATCH: usize = 1_000;
    let mut g = c.benchmark_group("pipeline_put");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut start = 0usize;
    g.bench_function("put_alerts_batch_1000_into_10k_active", |b| {
        b.iter(|| {
            let batch: Vec<Alert> = alerts[start..start + BATCH].to_vec();
            start = (start + BATCH) % ALERTS;
            rt.block_on(pipeline.put_alerts(batch)).expect("put");
        })
    });
    g.finish();
    rt.block_on(pipeline.shutdown());
    c.final_summary();
}

/// Routes below the root.
fn count_routes(r: &redline::config::alertmanager::Route) -> usize {
    r.routes.len() + r.routes.iter().map(count_routes).sum::<usize>()
}
