//! `/alerts` and the overview with many active alerts (issue #16: 208k alerts rendered 188 MB
//! of HTML in 17 s at 8.5 GB RSS): a service started in-process with its state database, N
//! alerts put through `Pipeline::put_alerts`, then each page fetched over loopback HTTP.
//! Prints, per page, the time to answer, the HTML size and the peak RSS of the process
//! while rendering (VmHWM, reset through `/proc/self/clear_refs` before each request); and
//! the memory per active alert: resident memory (RSS) and live heap bytes (counted by a
//! wrapping global allocator) added by putting the alerts, divided by N.
//!
//! `DASHBOARD_ALERTS=208000 cargo bench --bench dashboard_alerts`

mod heap;

use redline::alerting::Alert;
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::{Service, ServiceOptions};
use redline::store::Labels;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Alerts shaped like a noisy Kubernetes cluster's: 6 labels, a summary and a description.
fn alerts(n: usize) -> Vec<Alert> {
    let sev = ["critical", "warning", "info"];
    (0..n)
        .map(|i| Alert {
            labels: Labels::from_pairs([
                ("alertname", format!("KubePodNotReady{}", i % 40)),
                ("namespace", format!("ns-{}", i % 300)),
                ("pod", format!("app-{}-7d9f8c6b5-{i:05x}", i % 1000)),
                ("severity", sev[i % 3].to_string()),
                ("team", format!("team-{}", i % 12)),
                ("cluster", "prod-eu-1".to_string()),
            ]),
            annotations: Labels::from_pairs([
                ("summary", format!("Pod app-{i} has been in a non-ready state")),
                (
                    "description",
                    format!("Pod ns-{}/app-{i} has been in a non-ready state for longer than 15 minutes.", i % 300),
                ),
            ]),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: "http://prometheus.example:9090/graph?g0.expr=kube_pod_status_ready".into(),
            updated_at_ms: 0,
            timeout: false,
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("DASHBOARD_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("redline-bench-dash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("state dir");
        let cfg = Config::from_yaml_str(
            "alertmanager:\n  max_alerts: 0\n  config:\n    route: {receiver: r, group_by: [alertname, namespace], group_wait: 1h}\n    receivers: [{name: r}]\n",
            "bench.yml",
        )
        .expect("config");
        let svc = Service::start_with(
            cfg,
            ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.clone()),
            DiscoveryOptions {
                file_poll_interval: Duration::from_secs(5),
                ..DiscoveryOptions::default()
            },
        )
        .await
        .expect("service starts");
        let all = alerts(n);
        let (rss0, heap0) = (status_kib("VmRSS:"), heap::live());
        let posted: usize = all.iter().map(|_| 1).sum();
        for chunk in all.chunks(10_000) {
            svc.pipeline()
                .put_alerts(chunk.to_vec())
                .await
                .expect("alerts taken");
        }
        let (rss1, heap1) = (status_kib("VmRSS:"), heap::live());
        drop(all);
        println!(
            "{posted} active alerts: {:.0} bytes of RSS and {:.0} bytes of live heap per alert (pipeline, state database, in-process)",
            (rss1 - rss0) as f64 * 1024.0 / n as f64,
            (heap1 - heap0) as f64 / n as f64
        );
        let client = reqwest::Client::new();
        for path in ["/alerts", "/"] {
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let base = status_kib("VmHWM:");
            let start = Instant::now();
            let body = client
                .get(format!("http://{}{path}", svc.local_addr))
                .send()
                .await
                .expect("page answers")
                .text()
                .await
                .expect("page body");
            let took = start.elapsed();
            println!(
                "GET {path} with {n} alerts: {:.2} s, {:.1} MiB of HTML, peak RSS {:.0} MiB (at start of the request {:.0} MiB)",
                took.as_secs_f64(),
                body.len() as f64 / (1 << 20) as f64,
                status_kib("VmHWM:") as f64 / 1024.0,
                base as f64 / 1024.0
            );
        }
        svc.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
