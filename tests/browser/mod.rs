//! Headless Chromium for the integration tests: a WebDriver session on Debian's chromedriver
//! (loopback only), with the few commands the tests use, and the HTTP helpers it needs.
#![allow(dead_code)]

use super::common::{free_port, ProcessGuard, TempDir};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An HTTP client that does not follow redirects.
pub fn client() -> reqwest::Client {
    redline::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Waits until `GET url` answers 200.
pub async fn wait_ready(url: &str, deadline: Duration) {
    let c = client();
    let end = Instant::now() + deadline;
    loop {
        if let Ok(r) = c.get(url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < end, "timed out waiting for {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn element_id(v: &Value, css: &str) -> String {
    v[ELEMENT]
        .as_str()
        .or(v["ELEMENT"].as_str())
        .unwrap_or_else(|| panic!("no element for {css:?}: {v}"))
        .to_string()
}

/// A WebDriver session on chromedriver, driving headless Chromium.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: ProcessGuard,
    /// The driver's and the browser's TMPDIR, removed after the driver has stopped.
    _tmp: TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is not installed: run `bash tests/run-all.sh`, which installs chromium-driver");
        assert!(
            Path::new("/usr/bin/chromium").exists(),
            "chromium is not installed: run `bash tests/run-all.sh`, which installs it"
        );
        let port = free_port();
        let tmp = TempDir::new("browser");
        let driver = ProcessGuard(
            Command::new(driver_bin)
                .env("TMPDIR", tmp.path())
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{base}/status"), Duration::from_secs(30)).await;
        let http = client();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,1000"]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .expect("create a WebDriver session")
            .text()
            .await
            .map(|t| serde_json::from_str(&t).expect("session JSON"))
            .expect("session response");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id: {r}"))
            .to_string();
        Browser {
            http,
            base,
            session,
            _driver: driver,
            _tmp: tmp,
        }
    }

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let text = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        element_id(&v, css)
    }

    pub async fn find_in(&self, parent: &str, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{parent}/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        element_id(&v, css)
    }

    pub async fn click(&self, el: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_text(&self, el: &str, text: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Saves a PNG of the page as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64_decode(b64.as_str().unwrap_or_default());
        assert!(png.starts_with(b"\x89PNG"), "screenshot of {name} is a PNG");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save screenshot");
    }

    /// Runs `script` in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn close(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}
