//! The dashboard, end to end: the real `redline` binary, and Debian's headless Chromium driven
//! over WebDriver (chromedriver on loopback).
//!
//! `dashboard_in_a_real_browser` runs `redline demo`, first checks that every page has data at
//! the first request and that its charts read at 1280 px ([`first_load`], which also takes the
//! README's screenshots), then opens every page in Chromium, checks that they show the synthetic cluster's nodes, containers and services with SVG charts that carry
//! data, follows an alert's playbook link, creates a silence through the alerts page's form and
//! finds it in `/api/v2/silences`, and prints a page to PDF. Screenshots of each page are kept
//! in `target/dashboard-screenshots/` as test artifacts.
//!
//! The HTTP-level tests run `redline run` with a `web:` section: authentication on every page
//! and API (probes stay open), CSRF on form posts, read-only mode and the security headers.

mod browser;
mod common;
mod first_load;

use browser::{client, wait_ready, Browser};
use common::{free_port, ProcessGuard as Proc};
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let dir = crate_dir().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// Waits until the instant query `q` returns at least one series.
async fn wait_series(base: &str, q: &str, deadline: Duration) {
    let c = client();
    let end = Instant::now() + deadline;
    loop {
        let url = format!("{base}/api/v1/query?query={}", urlenc(q));
        if let Ok(r) = c.get(&url).send().await {
            if let Ok(v) = r
                .text()
                .await
                .map(|t| serde_json::from_str::<Value>(&t).unwrap_or(Value::Null))
            {
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    return;
                }
            }
        }
        assert!(Instant::now() < end, "timed out waiting for series of {q}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `redline demo` on `port`, logging to `logs`; it keeps its state under `tmp` (its TMPDIR).
fn start_demo(port: u16, logs: &Path, tmp: &Path) -> Proc {
    let out = std::fs::File::create(logs).expect("demo log file");
    let err = out.try_clone().expect("demo log file");
    Proc(
        Command::new(env!("CARGO_BIN_EXE_redline"))
            .args([
                "demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                // Scenario time: at speed 30 the incident starts after 10 real seconds and
                // lasts two real minutes.
                "--incident-after",
                "5m",
                "--incident-for",
                "60m",
                "--speed",
                "30",
            ])
            .current_dir(crate_dir())
            .env("TMPDIR", tmp)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start redline demo"),
    )
}

/// Charts that carry data: at least one drawn line or point.
fn charts_with_data(html: &str) -> usize {
    html.split("<svg class=\"chart\"")
        .skip(1)
        .filter(|c| {
            let c = c.split("</svg>").next().unwrap_or("");
            c.contains("class=\"line\"") || c.contains("<circle")
        })
        .count()
}

/// One overview row: SLO name → (owner, attainment, budget left), as the page shows them.
fn overview_rows(html: &str) -> Vec<(String, String, String, String)> {
    let cell = |row: &str, i: usize| -> String {
        let td = row.split("<td").nth(i + 1).expect("cell");
        let text = &td[td.find('>').expect("td") + 1..td.find("</td>").expect("/td")];
        // Strip the link around the name.
        let text = match text.find("\">") {
            Some(k) => text[k + 2..].trim_end_matches("</a>"),
            None => text,
        };
        text.to_string()
    };
    html.split("<tr class=\"slo ")
        .skip(1)
        .map(|row| (cell(row, 0), cell(row, 2), cell(row, 4), cell(row, 5)))
        .collect()
}

/// `v` (a percentage as the page prints it: "87.7%") equals `ratio` (from the API) to the
/// three significant digits the page shows.
fn shown_as_percent(shown: &str, ratio: f64) -> bool {
    let Some(p) = shown.strip_suffix('%').and_then(|x| x.parse::<f64>().ok()) else {
        return false;
    };
    let want = ratio * 100.0;
    if want == 0.0 {
        return p == 0.0;
    }
    // Half a unit of the third significant digit, and a little for the float printing.
    let half_unit = 0.5 * 10f64.powi(want.abs().log10().floor() as i32 - 2);
    (p - want).abs() <= half_unit * 1.001
}

/// The overview's budget and attainment per SLO are `/api/v1/slos`'s figures for the same
/// SLO. The engine recomputes every few seconds, so the page is compared with API answers
/// taken just before and after it that agree with each other.
async fn overview_budget_matches_the_slo_api(base: &str) {
    let http = reqwest::Client::new();
    let figures = || async {
        let v = common::get_json(&format!("{base}/api/v1/slos")).await;
        v["data"].as_array().expect("SLO list").clone()
    };
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let before = figures().await;
        let html = http
            .get(format!("{base}/"))
            .send()
            .await
            .expect("overview")
            .text()
            .await
            .expect("overview body");
        let after = figures().await;
        if before == after {
            let rows = overview_rows(&html);
            assert_eq!(rows.len(), after.len(), "{rows:?}\n{after:?}");
            for f in &after {
                let name = f["name"].as_str().unwrap();
                let row = rows
                    .iter()
                    .find(|r| r.0 == name)
                    .unwrap_or_else(|| panic!("SLO {name} not on the overview: {rows:?}"));
                assert_eq!(
                    row.1,
                    f["owner"].as_str().unwrap_or_default(),
                    "{name}: {row:?}"
                );
                let remaining = f["error_budget"]["remaining_ratio"].as_f64().unwrap();
                assert!(
                    shown_as_percent(&row.3, remaining),
                    "{name}: the overview shows {} of the budget left, the API {remaining}",
                    row.3
                );
                let attainment = f["attainment"].as_f64().unwrap();
                assert!(
                    shown_as_percent(&row.2, attainment),
                    "{name}: the overview shows attainment {}, the API {attainment}",
                    row.2
                );
            }
            return;
        }
        assert!(
            Instant::now() < end,
            "the SLO figures never held still across one page load"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let logs = artifacts().join("demo.log");
    let demo_tmp = TempDir::new("dashboard-demo");
    let _demo = start_demo(port, &logs, &demo_tmp);
    wait_ready(&format!("{base}/-/ready"), Duration::from_secs(180)).await;
    let b = Browser::start().await;
    // Data on every page at the first request, from the demo's back-filled history.
    // `REDLINE_UPDATE_SCREENSHOTS=1` also writes the README's screenshots.
    let docs = crate_dir().join("docs/screenshots");
    let update = std::env::var_os("REDLINE_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1");
    first_load::every_page_has_data_at_first_load(
        &b,
        &base,
        // One ledger step is a scenario minute: 2 s at speed 30.
        2_000.0,
        &artifacts(),
        update.then_some(docs.as_path()),
    )
    .await;
    wait_series(
        &base,
        "instance:node_cpu_utilisation:rate5m",
        Duration::from_secs(120),
    )
    .await;
    // Both demo services (checkout and catalog), not only the first one recorded.
    wait_series(
        &base,
        "count(count by (service) (service:http_requests:rate5m)) >= 2",
        Duration::from_secs(120),
    )
    .await;
    wait_series(
        &base,
        "namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m",
        Duration::from_secs(120),
    )
    .await;

    // Overview: the demo's four SLOs, each with a budget bar, and the alerts by owner.
    b.goto(&format!("{base}/")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "overview").await;
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(html.contains("Firing alerts by owner"));
    let slo_rows = html.matches("<tr class=\"slo ").count();
    assert_eq!(slo_rows, 4, "the demo's four SLOs are listed:\n{html}");
    for slo in [
        "checkout-availability",
        "checkout-latency",
        "catalog-latency",
        "catalog-availability",
    ] {
        assert!(html.contains(slo), "overview lists SLO {slo}");
    }
    assert_eq!(
        html.matches("<svg class=\"bar\"").count(),
        slo_rows,
        "a budget bar per SLO"
    );
    overview_budget_matches_the_slo_api(&base).await;
    let link = b.find("tr.slo td a").await;
    b.click(&link).await;
    let detail = b.source().await;
    b.screenshot(&artifacts(), "slo").await;
    assert!(detail.contains("Burn rates"), "SLO detail page");
    assert!(charts_with_data(&detail) >= 1, "SLO charts carry data");

    // USE: every node and container, utilisation/saturation/errors side by side, sortable.
    b.goto(&format!("{base}/use")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "use").await;
    for node in ["demo-node-1", "demo-node-2", "demo-node-3"] {
        assert!(html.contains(node), "USE lists {node}");
    }
    for c in ["checkout", "catalog", "coredns"] {
        assert!(html.contains(c), "USE lists container {c}");
    }
    for sig in ["utilisation", "saturation", "errors"] {
        assert!(
            html.contains(&format!("class=\"signal {sig}\"")),
            "{sig} column group"
        );
    }
    assert!(html.contains("class=\"axis y\"") && html.contains("class=\"axis x\""));
    assert!(charts_with_data(&html) >= 1, "node charts carry data");
    let sort = b.find("table.use th.sig-utilisation a").await;
    b.click(&sort).await;
    assert!(
        b.current_url().await.contains("nsort=0"),
        "sorting is a plain link"
    );

    // RED: both services with rate, errors and latency charts that carry data.
    b.goto(&format!("{base}/red")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "red").await;
    assert!(html.contains("<h2>checkout") && html.contains("<h2>catalog"));
    assert!(
        charts_with_data(&html) >= 4,
        "request rate and latency charts of both services carry data"
    );
    assert!(
        html.contains("req/s") && html.contains("ms"),
        "units on axes"
    );

    // Targets and rules.
    b.goto(&format!("{base}/targets")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "targets").await;
    assert!(html.contains("node-exporter") && html.contains("health up"));
    b.goto(&format!("{base}/rules")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "rules").await;
    assert!(html.contains("instance:node_cpu_utilisation:rate5m"));
    b.goto(&format!("{base}/playbooks")).await;
    assert!(b.source().await.contains("KubePodCrashLooping"));
    b.screenshot(&artifacts(), "playbooks").await;

    // Alerts: wait for one with a playbook link, follow it.
    let end = Instant::now() + Duration::from_secs(240);
    loop {
        b.goto(&format!("{base}/alerts")).await;
        if b.source().await.contains("class=\"playbook\"") {
            break;
        }
        assert!(
            Instant::now() < end,
            "no alert with a playbook link appeared"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    b.screenshot(&artifacts(), "alerts").await;
    let link = b.find("table.alerts a.playbook").await;
    b.click(&link).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "playbook").await;
    assert!(
        html.contains("<article class=\"playbook\">") && html.contains("<h1>"),
        "the playbook link shows the rendered playbook: {html}"
    );

    // Silence the first alert through its form.
    b.goto(&format!("{base}/alerts")).await;
    let row = b.find("table.alerts tr.alert").await;
    let summary = b.find_in(&row, "details.silence-form summary").await;
    b.click(&summary).await;
    let form = b.find_in(&row, "form.silence").await;
    let comment = b.find_in(&form, "input[name=comment]").await;
    b.type_text(&comment, "silenced from the browser test")
        .await;
    let who = b.find_in(&form, "input[name=created_by]").await;
    b.type_text(&who, "browser").await;
    let submit = b.find_in(&form, "button[type=submit]").await;
    b.click(&submit).await;
    // The click returns once the form is submitted; the redirect's page loads after it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.current_url().await.contains("/silences?created=") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let html = b.source().await;
    b.screenshot(&artifacts(), "silences").await;
    assert!(
        b.current_url().await.contains("/silences?created="),
        "redirected to the silences page: {html}"
    );
    assert!(html.contains("silenced from the browser test"));
    let silences = common::get_json(&format!("{base}/api/v2/silences")).await;
    let found = silences.as_array().is_some_and(|a| {
        a.iter().any(|s| {
            s["comment"] == "silenced from the browser test"
                && s["createdBy"] == "browser"
                && s["status"]["state"] == "active"
        })
    });
    assert!(found, "the silence is in /api/v2/silences: {silences}");

    // Reports: the index links each owner's report of the current period; the report page
    // shows each of the owner's SLOs, and its CSV holds the API's JSON figures.
    b.goto(&format!("{base}/reports")).await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "reports").await;
    assert!(html.contains("<tr class=\"report\">"), "{html}");
    let link = b.find("table.reports tr.report a").await;
    b.click(&link).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.current_url().await.contains("/reports/") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = b.current_url().await;
    let html = b.source().await;
    b.screenshot(&artifacts(), "report").await;
    assert!(html.contains("<section class=\"slo\""), "{html}");
    let rest = url
        .split("/reports/")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let (owner, period) = rest.split_once('/').expect("owner/period in the URL");
    let api = format!("{base}/api/v1/reports?owner={owner}&period={period}");
    let json = common::get_json(&api).await;
    let csv = reqwest::get(format!("{api}&format=csv"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let head: Vec<&str> = lines[0].split(',').collect();
    let col =
        |row: &[&str], name: &str| row[head.iter().position(|h| *h == name).unwrap()].to_string();
    for line in &lines[1..] {
        let row: Vec<&str> = line.split(',').collect();
        let slo = format!("{}/{}", col(&row, "service"), col(&row, "slo"));
        assert!(
            html.contains(&format!("data-slo=\"{slo}\"")),
            "the page shows {slo}"
        );
        // An SLO may have several periods in the month (a weekly one): matched by both.
        let j = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["slo"] == slo.as_str() && r["period"] == col(&row, "period").as_str())
            .expect("the CSV's SLO period is in the JSON");
        // The current period moves on between the two requests: both counts only grow, and
        // the objective is the same.
        assert_eq!(
            col(&row, "objective_percent").parse::<f64>().unwrap(),
            j["objective"].as_f64().unwrap()
        );
        assert!(
            col(&row, "total_events").parse::<f64>().unwrap()
                >= j["total_events"].as_f64().unwrap()
        );
    }
    assert_eq!(lines.len() - 1, json["data"].as_array().unwrap().len());
    b.close().await;
    // The owner's report printed (print CSS: no navigation, a page per SLO).
    print_pdf(
        &format!("{base}/reports/{owner}/{period}"),
        "report.pdf",
        demo_tmp.path(),
    );

    // Print: the RED page as PDF.
    let bytes = print_pdf(&format!("{base}/red"), "red.pdf", demo_tmp.path());
    assert!(bytes.len() > 10_000, "the PDF has content");
}

/// `url` printed to PDF by headless chromium into the artifacts as `name`; its bytes.
fn print_pdf(url: &str, name: &str, tmp: &Path) -> Vec<u8> {
    let pdf = artifacts().join(name);
    let _ = std::fs::remove_file(&pdf);
    let status = Command::new("/usr/bin/chromium")
        .env("TMPDIR", tmp)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run chromium --print-to-pdf");
    assert!(status.success());
    let bytes = std::fs::read(&pdf).expect("the PDF was written");
    assert!(bytes.starts_with(b"%PDF"), "a PDF");
    bytes
}

/// `redline run` with a `web:` section; returns the temp dir, the process and its base URL
/// (in that order, so the process is stopped before its dir is removed).
async fn start_with_web(web: &str, name: &str) -> (TempDir, Proc, String) {
    let dir = TempDir::new(&format!("dashboard-{name}"));
    let cfg = dir.join("redline.yml");
    std::fs::write(&cfg, format!("web:\n{web}")).expect("write config");
    let port = free_port();
    let child = common::redline_run(&cfg, port, &dir.join("state"))
        .arg("--playbooks-dir")
        .arg(crate_dir().join("rules/playbooks"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redline run");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/-/healthy"), Duration::from_secs(60)).await;
    (dir, Proc(child), base)
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{what}"
    );
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{what}");
    assert!(
        h.get("referrer-policy").is_some(),
        "{what}: Referrer-Policy"
    );
}

const TOKEN: &str = "t0ken-that-must-never-show";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_guards_every_page_and_api_but_not_the_probes() {
    let hash = bcrypt::hash("pw", 4).expect("bcrypt hash");
    let (_dir, _p, base) = start_with_web(
        &format!("  bearer_token: {TOKEN}\n  basic_auth_users:\n    alice: '{hash}'\n"),
        "auth",
    )
    .await;
    let c = client();
    for path in [
        "/",
        "/use",
        "/alerts",
        "/silences",
        "/api/v1/query?query=up",
        "/api/v2/silences",
        "/metrics",
        "/playbooks/KubePodCrashLooping",
        "/static/redline.css",
    ] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without credentials");
        assert!(
            r.headers().get("www-authenticate").is_some(),
            "{path}: challenge"
        );
        assert_security_headers(&r, path);
        let r = c
            .get(format!("{base}{path}"))
            .basic_auth("alice", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong password");
        let r = c
            .get(format!("{base}{path}"))
            .basic_auth("alice", Some("pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with basic auth");
        assert_security_headers(&r, path);
        let body = r.text().await.unwrap();
        assert!(
            !body.contains(TOKEN) && !body.contains(&hash),
            "{path} renders no secret"
        );
        let r = c
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with the bearer token");
    }
    for probe in ["/-/healthy", "/-/ready"] {
        let r = c.get(format!("{base}{probe}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{probe} stays open");
        assert_security_headers(&r, probe);
    }
}

/// The CSRF cookie and the token of the silence form on `/silences`.
async fn csrf_of(c: &reqwest::Client, base: &str) -> (String, String) {
    let r = c.get(format!("{base}/silences")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("redline_csrf="))
        .expect("a CSRF cookie")
        .to_string();
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a csrf_token field in the form")
        .to_string();
    (cookie, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_form_requires_its_csrf_token() {
    let (_dir, _p, base) = start_with_web("  read_only: false\n", "csrf").await;
    let c = client();
    let (cookie, token) = csrf_of(&c, &base).await;
    let form = |token: &str| {
        vec![
            ("matchers", "alertname=\"CsrfTest\"".to_string()),
            ("duration", "1h".to_string()),
            ("created_by", "tester".to_string()),
            ("comment", "csrf test".to_string()),
            ("csrf_token", token.to_string()),
        ]
    };
    // Without a token, with a wrong one, and with a token but another browser's cookie.
    for (what, cookie, token) in [
        ("no token", cookie.as_str(), ""),
        (
            "wrong token",
            cookie.as_str(),
            "00000000000000000000000000000000",
        ),
        (
            "other cookie",
            "redline_csrf=0123456789abcdef0123456789abcdef",
            token.as_str(),
        ),
    ] {
        let r = c
            .post(format!("{base}/silences"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&form(token)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{what} is refused");
    }
    let none = common::get_json(&format!("{base}/api/v2/silences")).await;
    assert_eq!(none, json!([]), "nothing was created");
    // With the page's token and cookie.
    let r = c
        .post(format!("{base}/silences"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "created and redirected");
    let location = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.starts_with("/silences?created="), "{location}");
    let id = location
        .trim_start_matches("/silences?created=")
        .to_string();
    let list = common::get_json(&format!("{base}/api/v2/silences")).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str() && s["comment"] == "csrf test"),
        "{list}"
    );
    // Expire it through the expire form, which needs the token too.
    let r = c
        .post(format!("{base}/silences/{id}/expire"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf_token", "")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{base}/silences/{id}/expire"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf_token", token.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let list = common::get_json(&format!("{base}/api/v2/silences")).await;
    let s = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned();
    assert_eq!(s.unwrap()["status"]["state"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_refuses_silences_and_reload() {
    let (_dir, _p, base) = start_with_web("  read_only: true\n", "ro").await;
    let c = client();
    let r = c.get(format!("{base}/silences")).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("read-only"), "the page says so");
    assert!(
        !html.contains("<form class=\"silence\""),
        "no create form in read-only mode"
    );
    let (cookie, token) = {
        let r = c.get(format!("{base}/alerts")).send().await.unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap().to_string())
            .unwrap_or_default();
        (cookie, String::new())
    };
    let r = c
        .post(format!("{base}/silences"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("matchers", "a=\"b\""),
            ("comment", "x"),
            ("csrf_token", token.as_str()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{base}/api/v2/silences"))
        .header("content-type", "application/json")
        .body(json!({"matchers": [{"name": "a", "value": "b", "isRegex": false}], "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2036-01-01T00:00:00Z", "createdBy": "x", "comment": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the API is read-only too");
    let r = c.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!("{base}/api/v2/silences"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "reads still work");
}
