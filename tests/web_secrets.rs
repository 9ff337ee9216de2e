//! No page, API response, error or log line of the real binary shows a secret of its
//! configuration.
//!
//! redline runs a config in which every secret field it accepts holds a distinct marker
//! string: the web users' bcrypt hash, scrape `basic_auth.password`,
//! `authorization.credentials` and `bearer_token`, remote-write and `rule_query` credentials,
//! and in the inline Alertmanager configuration the SMTP password and secret, the global
//! and per-webhook `http_config` credentials, the webhook URL (it carries a token) and the
//! email `auth_password`/`auth_secret`. The test takes every route the router declares (read
//! from `src/http`), GETs it, greps the body for the markers, then has a reload rejected and
//! greps its error and the whole log of the start and the reload.

mod common;

use common::free_port;
use redline::testdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MARKERS: &[&str] = &[
    "MARK_SCRAPE_BASIC_PASSWORD",
    "MARK_SCRAPE_AUTHZ_CREDENTIALS",
    "MARK_SCRAPE_BEARER_TOKEN",
    "MARK_RW_BASIC_PASSWORD",
    "MARK_RW_BEARER_TOKEN",
    "MARK_RULE_QUERY_BEARER",
    "MARK_AM_SMTP_PASSWORD",
    "MARK_AM_SMTP_SECRET",
    "MARK_AM_GLOBAL_HTTP_PASSWORD",
    "MARK_AM_WEBHOOK_URL_TOKEN",
    "MARK_AM_WEBHOOK_CREDENTIALS",
    "MARK_AM_WEBHOOK_BEARER",
    "MARK_AM_WEBHOOK_BASIC_PASSWORD",
    "MARK_AM_EMAIL_PASSWORD",
    "MARK_AM_EMAIL_SECRET",
];

fn config(web_hash: &str, extra: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1h
web:
  basic_auth_users:
    alice: '{web_hash}'
scrape_configs:
  - job_name: basic
    basic_auth: {{username: u, password: MARK_SCRAPE_BASIC_PASSWORD}}
    static_configs: [{{targets: ['127.0.0.1:1']}}]
  - job_name: authz
    authorization: {{type: Bearer, credentials: MARK_SCRAPE_AUTHZ_CREDENTIALS}}
    static_configs: [{{targets: ['127.0.0.1:1']}}]
  - job_name: bearer
    bearer_token: MARK_SCRAPE_BEARER_TOKEN
    static_configs: [{{targets: ['127.0.0.1:1']}}]
remote_write:
  - url: http://127.0.0.1:1/push
    basic_auth: {{username: u, password: MARK_RW_BASIC_PASSWORD}}
  - url: http://127.0.0.1:1/push2
    bearer_token: MARK_RW_BEARER_TOKEN
rule_query_url: http://127.0.0.1:1
rule_query:
  bearer_token: MARK_RULE_QUERY_BEARER
alertmanager:
  config:
    global:
      smtp_from: redline@example.org
      smtp_smarthost: 127.0.0.1:1
      smtp_auth_username: smtp
      smtp_auth_password: MARK_AM_SMTP_PASSWORD
      smtp_auth_secret: MARK_AM_SMTP_SECRET
      http_config:
        basic_auth: {{username: g, password: MARK_AM_GLOBAL_HTTP_PASSWORD}}
    route:
      receiver: hook
    receivers:
      - name: hook
        webhook_configs:
          - url: http://127.0.0.1:1/hook?token=MARK_AM_WEBHOOK_URL_TOKEN
            http_config:
              authorization: {{credentials: MARK_AM_WEBHOOK_CREDENTIALS}}
          - url: http://127.0.0.1:1/hook2
            http_config:
              bearer_token: MARK_AM_WEBHOOK_BEARER
          - url: http://127.0.0.1:1/hook3
            http_config:
              basic_auth: {{username: h, password: MARK_AM_WEBHOOK_BASIC_PASSWORD}}
      - name: mail
        email_configs:
          - to: team@example.org
            auth_username: mail
            auth_password: MARK_AM_EMAIL_PASSWORD
            auth_secret: MARK_AM_EMAIL_SECRET
{extra}"#
    )
}

/// Every path the router declares: `.route("…"` in `src/http`, parameters filled in.
fn declared_routes() -> Vec<String> {
    let mut files = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/http")];
    let mut routes = Vec::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read src/http") {
                files.push(e.expect("dir entry").path());
            }
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read source");
        for part in text.split(".route(").skip(1) {
            let Some(path) = part
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            let filled: Vec<String> = path
                .split('/')
                .map(|seg| match seg {
                    "{name}" if path.starts_with("/api/v1/label/") => "job".to_string(),
                    s if s.starts_with('{') => "x".to_string(),
                    s => s.to_string(),
                })
                .collect();
            routes.push(filled.join("/"));
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

fn assert_no_marker(what: &str, text: &str, hash: &str) {
    for m in MARKERS {
        assert!(!text.contains(m), "{what} shows {m}:\n{text}");
    }
    assert!(
        !text.contains(hash),
        "{what} shows the bcrypt hash:\n{text}"
    );
}

async fn wait_ready(c: &reqwest::Client, base: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = c.get(format!("{base}/-/ready")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < end, "redline did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn log_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_api_error_or_log_shows_a_secret() {
    redline::install_crypto_provider();
    let dir = TempDir::new("secrets");
    let hash = bcrypt::hash("pw", 4).expect("bcrypt hash");
    let cfg = dir.join("redline.yml");
    std::fs::write(&cfg, config(&hash, "")).expect("write config");
    let log = dir.join("redline.log");
    let out = std::fs::File::create(&log).expect("log file");
    let port = free_port();
    let _redline = Proc(
        common::redline_run(&cfg, port, &dir.join("state"))
            .env("RUST_LOG", "debug")
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start redline run"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    wait_ready(&c, &base).await;

    // The Alertmanager status shows the configuration, with the secrets as Alertmanager
    // shows them: `<secret>`.
    let status: serde_json::Value = c
        .get(format!("{base}/api/v2/status"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("GET /api/v2/status")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("status JSON"))
        .expect("status body");
    let original = status["config"]["original"].as_str().unwrap_or_default();
    assert!(
        original.contains("smtp_auth_password: <secret>")
            && original.contains("url: <secret>")
            && original.contains("receiver: hook"),
        "{original}"
    );

    let routes = declared_routes();
    assert!(routes.len() > 30, "routes found in src/http: {routes:?}");
    let mut paths = routes.clone();
    paths.extend(
        [
            "/api/v1/query?query=up",
            "/api/v1/query_range?query=up&start=0&end=60&step=15",
            "/api/v1/series?match[]=up",
            "/api/v1/query_exemplars?query=up",
            "/api/v1/status/config",
            "/no/such/page",
        ]
        .map(String::from),
    );
    for path in &paths {
        let r = c
            .get(format!("{base}{path}"))
            .basic_auth("alice", Some("pw"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let head = format!("{:?}", r.headers());
        let body = r.text().await.unwrap_or_default();
        assert_no_marker(&format!("GET {path}"), &format!("{head}\n{body}"), &hash);
    }

    // A rejected reload: its error and its log lines.
    std::fs::write(
        &cfg,
        config(
            &hash,
            // A secret written where a section belongs: the decoder's message would quote it.
            "          - to: other@example.org\n            tls_config: MARK_AM_EMAIL_PASSWORD\n",
        ),
    )
    .expect("write bad config");
    let r = c
        .post(format!("{base}/-/reload"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("POST /-/reload");
    assert_eq!(r.status(), 500, "the bad config is rejected");
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("email_configs[1].tls_config"), "{body}");
    assert_no_marker("the rejected reload's error", &body, &hash);

    let logs = log_text(&log);
    assert!(
        logs.contains("redline started") && logs.contains("reload rejected"),
        "{logs}"
    );
    assert_no_marker("the log", &logs, &hash);
}
