//! Cross-site requests cannot change redline, driven from real pages in Debian's headless
//! Chromium (chromedriver on loopback).
//!
//! redline runs with basic auth; the browser signs in (credentials in the URL of a first
//! same-origin navigation, which Chromium then sends to that origin on its own). An attacker
//! page served by a second loopback server, once from another port of the same host
//! (`Sec-Fetch-Site: same-site`) and once from `localhost` (`cross-site`), auto-submits a
//! `text/plain` form whose body is a silence in JSON, an urlencoded form, a form POST to
//! `/-/reload`, and `fetch(…, {mode: 'no-cors', credentials: 'include'})` to both. redline's
//! log shows that each request arrived and was refused; the API shows that no silence was
//! made and `/metrics` that no reload ran. Controls: the same-origin dashboard form still
//! makes a silence in the same browser, and a plain client (no browser headers) still
//! reloads.

mod browser;
mod common;

use browser::{client, wait_ready, Browser};
use common::{free_port, ProcessGuard as Proc};
use redline::testdir::TempDir;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The attacker's page: every way a page of another origin can POST to `target`.
fn attack_page(target: &str) -> String {
    let silence = json!({
        "matchers": [{"name": "severity", "value": "critical", "isRegex": false}],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2036-01-01T00:00:00Z",
        "createdBy": "attacker",
        "comment": "cross-site",
    })
    .to_string();
    // A text/plain form sends `name=value`: the name holds the JSON up to a padding field
    // whose value closes it.
    let name = format!("{},\"pad\":\"", &silence[..silence.len() - 1]);
    let attr = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        r#"<!doctype html><html><head><title>attack</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="plain" method="post" enctype="text/plain" action="{target}/api/v2/silences" target="f1">
<input name="{name}" value='"}}'></form>
<form id="urlenc" method="post" action="{target}/api/v2/silences" target="f2">
<input name="matchers" value='severity="critical"'><input name="comment" value="cross-site"></form>
<form id="reload" method="post" action="{target}/-/reload" target="f3"></form>
<script>
document.getElementById('plain').submit();
document.getElementById('urlenc').submit();
document.getElementById('reload').submit();
Promise.allSettled([
  fetch('{target}/api/v2/silences', {{method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: {{'Content-Type': 'text/plain'}}, body: '{silence_js}'}}),
  fetch('{target}/-/reload', {{method: 'POST', mode: 'no-cors', credentials: 'include'}}),
]).then(() => {{ document.title = 'fetched'; }});
</script></body></html>"#,
        name = attr(&name),
        silence_js = silence.replace('\'', "\\'"),
    )
}

/// Serves `page` at `/attack.html` on a loopback port of its own.
async fn serve_attacker(page: String) -> u16 {
    let app = axum::Router::new().route(
        "/attack.html",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([("content-type", "text/html; charset=utf-8")], page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the attacker's server");
    let port = listener.local_addr().expect("attacker address").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn temp_dir(name: &str) -> TempDir {
    TempDir::new(name)
}

/// `redline_config_last_reload_success_timestamp_seconds` from `/metrics`.
async fn last_reload(c: &reqwest::Client, base: &str) -> String {
    let text = c
        .get(format!("{base}/metrics"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("redline_config_last_reload_success_timestamp_seconds "))
        .unwrap_or_else(|| panic!("no reload timestamp in {text}"))
        .to_string()
}

async fn silences(c: &reqwest::Client, base: &str) -> Vec<Value> {
    c.get(format!("{base}/api/v2/silences"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("GET /api/v2/silences")
        .text()
        .await
        .map(|t| serde_json::from_str::<Value>(&t).expect("silences JSON"))
        .expect("silences response")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn refusals(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("cross-site request refused")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_pages_cannot_silence_or_reload_a_signed_in_browser() {
    let dir = temp_dir("cross-site");
    let hash = bcrypt::hash("pw", 4).expect("bcrypt hash");
    let cfg = dir.join("redline.yml");
    std::fs::write(
        &cfg,
        format!("web:\n  basic_auth_users:\n    alice: '{hash}'\n"),
    )
    .expect("write config");
    let port = free_port();
    let log = dir.join("redline.log");
    let out = std::fs::File::create(&log).expect("log file");
    let _redline = Proc(
        common::redline_run(&cfg, port, &dir.join("state"))
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start redline run"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/-/healthy"), Duration::from_secs(60)).await;
    let c = client();
    let reloaded_at = last_reload(&c, &base).await;

    let b = Browser::start().await;
    // Sign in: the credentials in the URL of a first same-origin navigation.
    b.goto(&format!("http://alice:pw@127.0.0.1:{port}/silences"))
        .await;
    assert!(
        b.source().await.contains("name=\"csrf_token\""),
        "signed in: the silence form shows"
    );

    let attacker = serve_attacker(attack_page(&base)).await;
    let mut expected_refusals = 0;
    // Another port of the same host (same-site), then another site (cross-site).
    for page in [
        format!("http://127.0.0.1:{attacker}/attack.html"),
        format!("http://localhost:{attacker}/attack.html"),
    ] {
        b.goto(&page).await;
        expected_refusals += 5;
        let end = Instant::now() + Duration::from_secs(30);
        while refusals(&log) < expected_refusals {
            assert!(
                Instant::now() < end,
                "{page}: {} of {expected_refusals} requests refused; log:\n{}",
                refusals(&log),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(silences(&c, &base).await, Vec::<Value>::new(), "no silence");
    assert_eq!(last_reload(&c, &base).await, reloaded_at, "no reload");

    // Control: the same browser, on redline's own page, still makes a silence.
    b.goto(&format!("{base}/silences")).await;
    let matchers = b.find("form textarea[name=matchers]").await;
    b.type_text(&matchers, "severity=\"critical\"").await;
    let comment = b.find("form input[name=comment]").await;
    b.type_text(&comment, "from redline's own page").await;
    b.execute("document.querySelector('form.silence').requestSubmit()")
        .await;
    let end = Instant::now() + Duration::from_secs(20);
    while !b.current_url().await.contains("/silences?created=") {
        assert!(
            Instant::now() < end,
            "the form's redirect: {}: {}",
            b.current_url().await,
            b.source().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = silences(&c, &base).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["comment"], "from redline's own page");
    b.close().await;

    // Control: a client that is not a browser (as curl or a deploy script) still reloads.
    let r = c
        .post(format!("{base}/-/reload"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("POST /-/reload");
    assert_eq!(r.status(), 200);
    assert_ne!(last_reload(&c, &base).await, reloaded_at, "reloaded");
}

/// The CSRF cookie and token of the silence form on `/silences`, signed in as alice.
async fn csrf_of(c: &reqwest::Client, base: &str) -> (String, String) {
    let r = c
        .get(format!("{base}/silences"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .expect("GET /silences");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("redline_csrf="))
        .expect("a CSRF cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let html = r.text().await.expect("page");
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a csrf_token field")
        .to_string();
    (cookie, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_form_creates_in_the_signed_in_users_name() {
    let dir = temp_dir("created-by");
    let hash = bcrypt::hash("pw", 4).expect("bcrypt hash");
    let cfg = dir.join("redline.yml");
    std::fs::write(
        &cfg,
        format!("web:\n  basic_auth_users:\n    alice: '{hash}'\n"),
    )
    .expect("write config");
    let port = free_port();
    let _redline = Proc(
        common::redline_run(&cfg, port, &dir.join("state"))
            .spawn()
            .expect("start redline run"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/-/healthy"), Duration::from_secs(60)).await;
    let c = client();
    let (cookie, token) = csrf_of(&c, &base).await;
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("matchers", "alertname=\"Disk\""),
            ("duration", "1h"),
            ("created_by", "bob"),
            ("comment", "in someone else's name"),
            ("csrf_token", token.as_str()),
        ])
        .finish();
    let r = c
        .post(format!("{base}/silences"))
        .basic_auth("alice", Some("pw"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST /silences");
    assert_eq!(r.status(), 303, "created");
    let made = silences(&c, &base).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        made[0]["createdBy"], "alice",
        "the signed-in user, not the form's"
    );

    // The API keeps Alertmanager's behaviour: createdBy as sent (amtool sets it itself).
    let r = c
        .post(format!("{base}/api/v2/silences"))
        .basic_auth("alice", Some("pw"))
        .header("content-type", "application/json")
        .body(
            json!({"matchers": [{"name": "a", "value": "b", "isRegex": false}],
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2036-01-01T00:00:00Z",
                "createdBy": "amtool-user", "comment": "api"})
            .to_string(),
        )
        .send()
        .await
        .expect("POST /api/v2/silences");
    assert_eq!(r.status(), 200);
    let made = silences(&c, &base).await;
    assert!(
        made.iter().any(|s| s["createdBy"] == "amtool-user"),
        "{made:?}"
    );
}
