//! `redline demo`: redline scraping an embedded synthetic exporter and itself.
//!
//! The synthetic exporter serves a node_exporter-like host and an application with
//! `http_requests_total` and an `http_request_duration_seconds` histogram, with values that
//! move over time, on a loopback port. redline runs with a generated config that scrapes it
//! and redline's own `/metrics`.

use crate::config::Config;
use crate::service::{self, ServiceOptions};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

/// Serves the synthetic exporter on `127.0.0.1:0`; returns its address.
pub async fn start_exporter() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                synthetic_exposition(started.elapsed().as_secs_f64()),
            )
                .into_response()
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The exposition the synthetic exporter serves `secs` seconds after it started.
pub fn synthetic_exposition(secs: f64) -> String {
    let mut s = String::with_capacity(4096);
    let wave = |period: f64, phase: f64| (((secs / period) + phase) * std::f64::consts::TAU).sin();
    s.push_str("# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n");
    s.push_str("# TYPE node_cpu_seconds_total counter\n");
    for cpu in 0..2 {
        let busy = 0.35 + 0.25 * wave(300.0, cpu as f64 * 0.3);
        for (mode, share) in [
            ("idle", 1.0 - busy),
            ("user", busy * 0.7),
            ("system", busy * 0.25),
            ("iowait", busy * 0.05),
        ] {
            let _ = writeln!(
                s,
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {:.3}",
                10_000.0 + secs * share
            );
        }
    }
    s.push_str("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n");
    let _ = writeln!(s, "node_load1 {:.2}", 1.2 + 0.8 * wave(600.0, 0.0));
    s.push_str("# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n# TYPE node_memory_MemTotal_bytes gauge\n");
    s.push_str("node_memory_MemTotal_bytes 8.253235e+09\n");
    s.push_str("# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.\n# TYPE node_memory_MemAvailable_bytes gauge\n");
    let _ = writeln!(
        s,
        "node_memory_MemAvailable_bytes {:.0}",
        4.0e9 + 1.5e9 * wave(900.0, 0.1)
    );
    s.push_str("# HELP http_requests_total Requests handled, by status code.\n# TYPE http_requests_total counter\n");
    let rps = 40.0;
    for (code, share) in [("200", 0.985), ("404", 0.01), ("500", 0.005)] {
        let _ = writeln!(
            s,
            "http_requests_total{{handler=\"/api/orders\",method=\"GET\",code=\"{code}\"}} {:.0}",
            (secs * rps * share).floor()
        );
    }
    s.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n");
    let total = (secs * rps).floor();
    let mut cumulative = 0.0;
    for (le, share) in [
        ("0.05", 0.55),
        ("0.1", 0.25),
        ("0.25", 0.12),
        ("0.5", 0.05),
        ("1", 0.02),
        ("+Inf", 0.01),
    ] {
        cumulative += share;
        let _ = writeln!(
            s,
            "http_request_duration_seconds_bucket{{handler=\"/api/orders\",le=\"{le}\"}} {:.0}",
            (total * cumulative).floor()
        );
    }
    let _ = writeln!(
        s,
        "http_request_duration_seconds_sum{{handler=\"/api/orders\"}} {:.3}",
        total * 0.09
    );
    let _ = writeln!(
        s,
        "http_request_duration_seconds_count{{handler=\"/api/orders\"}} {total:.0}"
    );
    s
}

/// The config the demo runs: the synthetic exporter and redline itself.
pub fn demo_config(exporter: SocketAddr, listen: SocketAddr) -> String {
    format!(
        "
global:
  scrape_interval: 5s
  scrape_timeout: 4s
scrape_configs:
  - job_name: demo-app
    static_configs:
      - targets: ['{exporter}']
        labels:
          namespace: shop
          team: payments
  - job_name: redline
    static_configs:
      - targets: ['{listen}']
"
    )
}

/// Runs the demo until Ctrl-C.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let exporter = start_exporter().await?;
    let mut yaml = demo_config(exporter, listen);
    // From a checkout, the shipped rules and their playbooks run too.
    let rules_dir = std::path::Path::new("rules");
    let shipped = rules_dir.join("node.yml").is_file();
    if shipped {
        let abs = std::fs::canonicalize(rules_dir)?;
        yaml.push_str(&format!("rule_files: ['{}/*.yml']\n", abs.display()));
    }
    let cfg = Config::from_yaml_str(&yaml, "demo config")?;
    let state_dir = std::env::temp_dir().join(format!("redline-demo-{}", std::process::id()));
    println!("redline demo: synthetic exporter on http://{exporter}/metrics");
    println!("redline demo: targets   http://{listen}/api/v1/targets");
    println!("redline demo: rules     http://{listen}/api/v1/rules");
    println!("redline demo: alerts    http://{listen}/api/v1/alerts");
    println!("redline demo: query     http://{listen}/api/v1/query?query=sum(rate(http_requests_total[1m]))");
    println!("redline demo: Ctrl-C stops");
    let mut opts = ServiceOptions::new(listen, state_dir);
    if shipped {
        opts.playbooks_dir = Some(rules_dir.join("playbooks"));
    }
    service::run(cfg, opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid() {
        let cfg = Config::from_yaml_str(
            &demo_config(
                "127.0.0.1:9100".parse().unwrap(),
                "127.0.0.1:9090".parse().unwrap(),
            ),
            "demo",
        )
        .expect("demo config parses");
        assert_eq!(cfg.scrape_configs.len(), 2);
    }

    #[test]
    fn synthetic_counters_never_decrease() {
        let a = synthetic_exposition(100.0);
        let b = synthetic_exposition(160.0);
        let value = |s: &str, prefix: &str| -> f64 {
            s.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        for series in [
            "http_requests_total{handler=\"/api/orders\",method=\"GET\",code=\"200\"}",
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}",
        ] {
            assert!(
                value(&b, series) > value(&a, series),
                "{series} did not grow"
            );
        }
    }
}
