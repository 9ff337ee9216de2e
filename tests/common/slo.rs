//! Helpers of the SLO engine tests: a test server whose counters advance by ticks, a
//! `redline run` of one SLO file at a one-second ledger step, and polling the JSON API.

use super::{free_port, FixtureServer, ProcessGuard};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether the traffic runs, and the tick it is at.
pub type Ticks = Arc<Mutex<(bool, u64)>>;

/// A test server serving `body(tick)`; while the flag is set, one more tick every 100 ms.
pub async fn ticking_server(body: fn(u64) -> String, running: bool) -> (FixtureServer, Ticks) {
    let srv = FixtureServer::start(&body(0), "text/plain").await;
    let ticks: Ticks = Arc::new(Mutex::new((running, 0)));
    let (s, t) = (srv.clone(), ticks.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut t = t.lock().unwrap();
            if t.0 {
                t.1 += 1;
                s.set_body(&body(t.1));
            }
        }
    });
    (srv, ticks)
}

/// Writes `slo` as `dir/slo.yml` and a config scraping `target` every 200 ms with the SLO
/// engine at `ledger_step: 1s`, and starts `redline run` on a free port.
pub fn run_slo_engine(dir: &Path, slo: &str, target: SocketAddr) -> (u16, ProcessGuard) {
    std::fs::write(dir.join("slo.yml"), slo).unwrap();
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nslo_files: ['slo.yml']\nslo:\n  evaluation_interval: 1s\n  ledger_step: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = super::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
        .spawn()
        .expect("start redline run");
    (port, ProcessGuard(child))
}

/// Polls the async `check` until it returns `Some`, failing after `deadline`.
pub async fn wait_for_async<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The JSON at `url`, `None` while it cannot be fetched or parsed.
pub async fn get_json_opt(url: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(url).await.ok()?;
    serde_json::from_str(&r.text().await.ok()?).ok()
}
