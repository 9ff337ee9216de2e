//! `--enable-feature` on `redline run`: Prometheus' experimental PromQL is refused with
//! upstream's error unless its flag is given, as `prometheus --enable-feature=…` does.

mod common;

use common::{free_port, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn query(client: &reqwest::Client, base: &str, q: &str) -> Option<Value> {
    let url = format!(
        "{base}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// Starts `redline run` with `flags` and answers `q` once the server is up.
async fn answer(flags: &[&str], q: &str) -> Value {
    redline::install_crypto_provider();
    let dir = TempDir::new("promql-features");
    std::fs::write(dir.join("redline.yml"), "scrape_configs: []\n").expect("write config");
    let port = free_port();
    let _redline = ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .args(flags)
            .spawn()
            .expect("start redline run"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = query(&client, &base, q).await {
            return v;
        }
        assert!(Instant::now() < end, "redline did not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experimental_functions_need_their_feature_flag() {
    let q = r#"sort_by_label(vector(1), "job")"#;
    let refused = answer(&[], q).await;
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(refused["errorType"], "bad_data", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains(r#"function "sort_by_label" is not enabled"#)),
        "{refused}"
    );

    let enabled = answer(
        &["--enable-feature=native-histograms,promql-experimental-functions"],
        q,
    )
    .await;
    assert_eq!(enabled["status"], "success", "{enabled}");
    assert_eq!(enabled["data"]["result"][0]["value"][1], "1", "{enabled}");
}
