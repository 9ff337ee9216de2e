//! Helpers shared by the integration tests: loopback servers, real processes, deadlines.
#![allow(dead_code)]

pub mod am_differential;
pub mod discovery;
pub mod fake_http;
pub mod fake_lease;
pub mod ha;
pub mod recorded;
pub mod slo;

pub use redline::testdir::TempDir;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An in-process service and the temp dir that holds its state, removed after the service
/// has stopped. It dereferences to the [`Service`](redline::service::Service).
pub struct ServiceInDir {
    svc: redline::service::Service,
    _dir: TempDir,
}

impl ServiceInDir {
    /// Starts the service with `opts`' state dir set to a fresh `TempDir` tagged `tag`.
    pub async fn start(
        cfg: redline::config::Config,
        tag: &str,
        opts: impl FnOnce(std::path::PathBuf) -> redline::service::ServiceOptions,
        discovery: redline::scrape::discovery::DiscoveryOptions,
    ) -> ServiceInDir {
        let dir = TempDir::new(tag);
        let svc = redline::service::Service::start_with(cfg, opts(dir.to_path_buf()), discovery)
            .await
            .expect("service starts");
        ServiceInDir { svc, _dir: dir }
    }

    /// Stops the service, then removes its dir.
    pub async fn shutdown(self) {
        self.svc.shutdown().await;
    }
}

impl std::ops::Deref for ServiceInDir {
    type Target = redline::service::Service;

    fn deref(&self) -> &redline::service::Service {
        &self.svc
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `deadline`.
pub async fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first target of `job` once it has been scraped: its health (`up`, `down`) and last
/// error.
pub async fn target_health(svc: &redline::service::Service, job: &str) -> (String, String) {
    let targets = svc.targets.clone();
    wait_for(
        &format!("a scrape of {job}"),
        Duration::from_secs(10),
        || {
            targets
                .snapshot()
                .get(job)
                .and_then(|p| p.active.first().cloned())
                .and_then(|t| {
                    let s = t.status();
                    s.last_scrape
                        .map(|_| (s.health.as_str().to_string(), s.last_error.clone()))
                })
        },
    )
    .await
}

/// A free loopback port (bound and released; good enough for a test's own processes).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An exposition endpoint on loopback whose body and content type the test can change.
#[derive(Clone)]
pub struct FixtureServer {
    pub addr: SocketAddr,
    body: Arc<Mutex<(String, String)>>,
}

impl FixtureServer {
    pub async fn start(body: &str, content_type: &str) -> FixtureServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fixture server");
        let addr = listener.local_addr().expect("fixture server address");
        let state = Arc::new(Mutex::new((body.to_string(), content_type.to_string())));
        let shared = state.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let shared = shared.clone();
                async move {
                    let (body, ct) = shared.lock().expect("fixture body").clone();
                    ([(header::CONTENT_TYPE, ct)], body).into_response()
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FixtureServer { addr, body: state }
    }

    pub fn set_body(&self, body: &str) {
        self.body.lock().expect("fixture body").0 = body.to_string();
    }
}

/// A child process killed when the guard drops.
pub struct ProcessGuard(pub Child);

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Debian's `prometheus` on `127.0.0.1:port` with `dir/prometheus.yml` (written by the
/// caller), its TSDB in `dir/tsdb`, and `extra` flags.
pub fn start_prometheus(dir: &std::path::Path, port: u16, extra: &[&str]) -> ProcessGuard {
    const PROMETHEUS: &str = "/usr/bin/prometheus";
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "Debian's prometheus is not installed: run `bash tests/run-all.sh`, which installs it"
    );
    ProcessGuard(
        std::process::Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus"),
    )
}

/// Starts Debian's `prometheus-node-exporter` on a free loopback port.
pub fn start_node_exporter() -> (ProcessGuard, SocketAddr) {
    let bin = [
        "/usr/bin/prometheus-node-exporter",
        "/usr/sbin/prometheus-node-exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect(
        "prometheus-node-exporter is not installed: run `bash tests/run-all.sh`, which installs it",
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let child = Command::new(bin)
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-node-exporter");
    (ProcessGuard(child), addr)
}

/// Waits until the redline on `127.0.0.1:port` answers `/-/ready` with a 2xx, for at most
/// 30 seconds.
pub async fn wait_ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/-/ready");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < end, "redline did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `redline run` in `dir` (its state in `dir/state`) on a free loopback port with
/// `alertmanager_yml` as its Alertmanager config, no scrape jobs and the `extra` flags, and
/// waits until it is ready.
pub async fn run_with_alertmanager(
    dir: &std::path::Path,
    alertmanager_yml: &str,
    extra: &[&str],
) -> (ProcessGuard, u16) {
    std::fs::write(dir.join("alertmanager.yml"), alertmanager_yml).expect("write alertmanager.yml");
    std::fs::write(
        dir.join("redline.yml"),
        "scrape_configs: []\nalertmanager:\n  config_file: alertmanager.yml\n",
    )
    .expect("write redline.yml");
    let port = free_port();
    let guard = ProcessGuard(
        redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .args(extra)
            .spawn()
            .expect("start redline"),
    );
    wait_ready(port).await;
    (guard, port)
}

/// GETs a loopback URL and parses JSON.
pub async fn get_json(url: &str) -> serde_json::Value {
    redline::install_crypto_provider();
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON: {e}: {text}"))
}

/// Runs `openssl ARGS` in `dir` (test PKI), failing the test with openssl's stderr.
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `redline run --config CONFIG --listen 127.0.0.1:PORT --state-dir STATE` with its output
/// discarded; a test adds `.stderr(log)`, `.env(..)` or more flags before `.spawn()`.
pub fn redline_run(config: &std::path::Path, port: u16, state_dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_redline"));
    c.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(state_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// What Prometheus adds to every discovered target of a job with the default metrics path and
/// scheme, `scrape_interval: 1h` and the default timeout (the discovery tests' jobs).
pub fn hourly_job_labels(out: &mut std::collections::BTreeMap<String, String>, job: &str) {
    for (k, v) in [
        ("job", job),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("__scrape_interval__", "1h"),
        ("__scrape_timeout__", "10s"),
    ] {
        out.insert(k.into(), v.into());
    }
}
