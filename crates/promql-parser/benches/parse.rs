//! Parse time of a realistic query set: the 106 expressions of redline's shipped rule files
//! (`benches/queries.txt`, taken from `rules/*.yml` with
//! `python3 -c 'import yaml,glob; [print(" ".join(str(r["expr"]).split())) for f in sorted(glob.glob("rules/*.yml")) for g in yaml.safe_load(open(f))["groups"] for r in g["rules"]]'`),
//! and the same set with every literal range written as a duration expression.
//!
//! `cargo bench -p promql-parser --bench parse` prints the mean µs per query of each set.

use criterion::Criterion;
use std::hint::black_box;
use std::time::Duration;

fn queries() -> Vec<String> {
    include_str!("queries.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn per_query_us(qs: &[String]) -> f64 {
    let rounds = 200;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for q in qs {
            black_box(promql_parser::parser::parse(q).expect("query parses"));
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / (rounds * qs.len()) as f64
}

fn main() {
    let qs = queries();
    for q in &qs {
        if let Err(e) = promql_parser::parser::parse(q) {
            panic!("{q}: {e}");
        }
    }
    println!(
        "shipped rules: {} queries, {:.2} µs per query (mean of 200 rounds)",
        qs.len(),
        per_query_us(&qs)
    );
    // The same expressions with every literal range written as a duration expression
    // (`[5m]` becomes `[5m + step()]`).
    let ranges = regex::Regex::new(r"\[(\d+[smhdwy])\]").expect("pattern");
    let with_exprs: Vec<String> = qs
        .iter()
        .map(|q| ranges.replace_all(q, "[$1 + step()]").into_owned())
        .collect();
    let changed = with_exprs.iter().zip(&qs).filter(|(a, b)| a != b).count();
    println!(
        "shipped rules, ranges as duration expressions ({changed} queries changed): {:.2} µs per query",
        per_query_us(&with_exprs)
    );
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    c.bench_function("parse_shipped_rules", |b| {
        b.iter(|| {
            for q in &qs {
                black_box(promql_parser::parser::parse(q).unwrap());
            }
        })
    });
    c.bench_function("parse_shipped_rules_duration_exprs", |b| {
        b.iter(|| {
            for q in &with_exprs {
                black_box(promql_parser::parser::parse(q).unwrap());
            }
        })
    });
    c.final_summary();
}
