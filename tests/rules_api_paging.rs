//! `GET /api/v1/rules` pages its groups as Prometheus 3 does: `group_limit` groups at most,
//! a `groupNextToken` (hex SHA-1 of `file;group`, upstream's `getRuleGroupNextToken`)
//! naming the first group of the next page, and 400 `bad_data` for a token without a limit,
//! a limit that is not a positive number, or a token no group has.

mod common;

use common::get_json;
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::testdir::TempDir;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const RULES: &str = r#"
groups:
  - {name: g1, interval: 1h, rules: [{record: r1, expr: vector(1)}]}
  - {name: g2, interval: 1h, rules: [{record: r2, expr: vector(2)}]}
  - {name: g3, interval: 1h, rules: [{record: r3, expr: vector(3)}]}
  - {name: g4, interval: 1h, rules: [{record: r4, expr: vector(4)}]}
  - {name: g5, interval: 1h, rules: [{record: r5, expr: vector(5)}]}
"#;

fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("rules-page-{name}"))
}

/// The token Prometheus gives a group, computed by coreutils' `sha1sum`.
fn upstream_token(file: &str, group: &str) -> String {
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha1sum runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{file};{group}").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..40].to_string()
}

fn names(v: &Value) -> Vec<String> {
    v["data"]["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("groups in {v}"))
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect()
}

fn assert_bad_data(v: &Value, message: &str) {
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["errorType"], "bad_data", "{v}");
    assert_eq!(v["error"], message, "{v}");
}

// Before, `group_limit` and `group_next_token` were ignored: every group came back, however
// many there were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_api_pages_groups_with_group_limit_and_next_token() {
    let dir = tempdir("main");
    std::fs::write(dir.join("paged.rules.yml"), RULES).unwrap();
    let config = dir.join("redline.yml");
    std::fs::write(&config, "rule_files: ['paged.rules.yml']\n").unwrap();
    let cfg = Config::load_file(&config).unwrap();
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    opts.config_path = Some(config.clone());
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}/api/v1/rules", svc.local_addr);

    let all = get_json(&base).await;
    assert_eq!(names(&all), ["g1", "g2", "g3", "g4", "g5"]);
    assert!(all["data"].get("groupNextToken").is_none(), "{all}");
    let file = all["data"]["groups"][0]["file"]
        .as_str()
        .unwrap()
        .to_string();

    // Pages of two: g1 g2, g3 g4, g5; each token names the next page's first group.
    let p1 = get_json(&format!("{base}?group_limit=2")).await;
    assert_eq!(names(&p1), ["g1", "g2"]);
    assert_eq!(p1["data"]["groupNextToken"], upstream_token(&file, "g3"));
    let p2 = get_json(&format!(
        "{base}?group_limit=2&group_next_token={}",
        upstream_token(&file, "g3")
    ))
    .await;
    assert_eq!(names(&p2), ["g3", "g4"]);
    assert_eq!(p2["data"]["groupNextToken"], upstream_token(&file, "g5"));
    let p3 = get_json(&format!(
        "{base}?group_limit=2&group_next_token={}",
        upstream_token(&file, "g5")
    ))
    .await;
    assert_eq!(names(&p3), ["g5"]);
    assert!(p3["data"].get("groupNextToken").is_none(), "{p3}");
    // A limit the groups fit in gives no token.
    let whole = get_json(&format!("{base}?group_limit=5")).await;
    assert_eq!(names(&whole).len(), 5);
    assert!(whole["data"].get("groupNextToken").is_none(), "{whole}");

    // Filters apply before the limit: the token names the next group that passes them.
    let f = get_json(&format!(
        "{base}?group_limit=1&rule_group[]=g2&rule_group[]=g4"
    ))
    .await;
    assert_eq!(names(&f), ["g2"]);
    assert_eq!(f["data"]["groupNextToken"], upstream_token(&file, "g4"));

    assert_bad_data(
        &get_json(&format!("{base}?group_next_token=abc")).await,
        r#"invalid parameter "group_next_token": group_limit needs to be present in order to paginate over the groups"#,
    );
    assert_bad_data(
        &get_json(&format!("{base}?group_limit=0")).await,
        r#"invalid parameter "group_limit": group_limit needs to be greater than 0"#,
    );
    assert_bad_data(
        &get_json(&format!("{base}?group_limit=two")).await,
        r#"invalid parameter "group_limit": group_limit needs to be a valid number: strconv.ParseInt: parsing "two": invalid syntax"#,
    );
    assert_bad_data(
        &get_json(&format!("{base}?group_limit=2&group_next_token=abc")).await,
        r#"invalid parameter "group_next_token": invalid group_next_token 'abc'. were rule groups changed?"#,
    );
    svc.shutdown().await;
}
