//! Queries that used to take the process down or hold it (issue 16): deep nesting and long
//! operator chains are refused with `bad_data` before they are parsed, the deepest queries the
//! limits accept run on a thread with the stack redline gives its runtime threads, and a
//! timeout or a client that goes away ends the evaluation and frees its concurrency permit.

mod common;

use common::{wait_for, ServiceInDir};
use redline::config::Config;
use redline::promql::testing::MemQuerier;
use redline::promql::{Engine, EngineOptions, Expr, ParseLimits, EVAL_STACK_SIZE};
use redline::service::{Service, ServiceOptions};
use redline::store::Labels;
use redline::testdir::TempDir;
use serde_json::Value;
use std::time::Duration;

/// The four queries of issue 16 that overflowed a runtime thread's stack.
fn attack_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "abs( nested 2,000 deep",
            format!("{}up{}", "abs(".repeat(2000), ")".repeat(2000)),
        ),
        ("1+1+… of 5,000 terms", vec!["1"; 5000].join("+")),
        ("up or up or … × 5,000", vec!["up"; 5000].join(" or ")),
        (
            "40,000 nested parentheses",
            format!("{}1{}", "(".repeat(40_000), ")".repeat(40_000)),
        ),
    ]
}

/// An expression of one shape, `n` levels deep.
type Shape = fn(usize) -> String;

/// Expressions of each shape that nests, `n` levels deep. Their innermost parts raise
/// annotations (a gauge under `rate`), so the pass that finds source positions runs too.
fn shapes() -> Vec<(&'static str, Shape)> {
    fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }
    vec![
        ("call", |n| nest("abs(", "rate(temperature[5m])", ")", n)),
        ("aggregation", |n| {
            nest("sum(", "rate(temperature[5m])", ")", n)
        }),
        ("aggregation by", |n| {
            nest("sum by (room) (", "rate(temperature[5m])", ")", n)
        }),
        ("parameter aggregation", |n| {
            nest("topk(1, ", "rate(temperature[5m])", ")", n)
        }),
        ("count_values", |n| {
            nest("count_values(\"v\", ", "temperature", ")", n)
        }),
        ("parentheses", |n| {
            nest("(", "rate(temperature[5m])", ")", n)
        }),
        ("unary minus", |n| format!("{}temperature", "-".repeat(n))),
        ("or chain", |n| vec!["temperature"; n + 1].join(" or ")),
        ("plus chain", |n| vec!["temperature"; n + 1].join(" + ")),
        ("power chain (right associative)", |n| {
            vec!["temperature"; n + 1].join(" ^ ")
        }),
        ("matching chain", |n| {
            vec!["temperature"; n + 1].join(" * on(room) group_left ")
        }),
        ("scalar chain", |n| vec!["1"; n + 1].join(" + ")),
        ("label_replace", |n| {
            nest(
                "label_replace(",
                "temperature",
                ", \"a\", \"$1\", \"room\", \"(.*)\")",
                n,
            )
        }),
        ("histogram_quantile", |n| {
            nest(
                "histogram_quantile(0.9, ",
                "rate(latency_bucket[5m])",
                ")",
                n,
            )
        }),
        ("subquery", |n| {
            nest("max_over_time(", "temperature", "[30s:30s])", n)
        }),
        ("mixed", |n| {
            let mut q = "rate(req_total[5m])".to_string();
            for i in 0..n {
                q = match i % 4 {
                    0 => format!("sum by (code) ({q})"),
                    1 => format!("-{q}"),
                    2 => format!("{q} / 2"),
                    _ => format!("abs({q})"),
                };
            }
            q
        }),
    ]
}

/// The largest `n` whose expression the default limits accept.
fn deepest_accepted(shape: Shape) -> usize {
    let limits = ParseLimits::default();
    let (mut lo, mut hi) = (0, 4096);
    assert!(limits.check(&shape(hi)).is_err());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if limits.check(&shape(mid)).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Inner nodes on the deepest path of `e` (a leaf is 0).
fn ast_depth(e: &Expr) -> usize {
    let kids: Vec<&Expr> = match e {
        Expr::Aggregate(a) => a.param.iter().map(|p| &**p).chain([&*a.expr]).collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| &**a).collect(),
        Expr::MatrixSelector(_) => return 1,
        _ => return 0,
    };
    1 + kids.into_iter().map(ast_depth).max().unwrap_or(0)
}

fn small_store() -> MemQuerier {
    let mut q = MemQuerier::new();
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
    for i in 0..=20i64 {
        let t = i * 15_000;
        q.append(
            &l(&[("__name__", "temperature"), ("room", "a")]),
            t,
            20.0 + i as f64,
        );
        q.append(&l(&[("__name__", "temperature"), ("room", "b")]), t, 18.0);
        q.append(
            &l(&[("__name__", "req_total"), ("code", "200")]),
            t,
            10.0 * i as f64,
        );
        for (le, f) in [("0.1", 1.0), ("1", 3.0), ("+Inf", 4.0)] {
            q.append(
                &l(&[("__name__", "latency_bucket"), ("le", le)]),
                t,
                f * i as f64,
            );
        }
    }
    q
}

/// The proof behind the depth limit: the deepest query of every shape the default limits
/// accept is parsed, evaluated (instant and range), printed, cloned and dropped on a thread
/// with the stack of redline's runtime threads. A stack overflow aborts this test binary.
#[test]
fn deepest_accepted_queries_fit_the_runtime_thread_stack() {
    let store = small_store();
    let work = move || {
        let engine = Engine::new(EngineOptions::default());
        for (name, shape) in shapes() {
            let n = deepest_accepted(shape);
            let text = shape(n);
            let expr = Engine::parse(&text)
                .unwrap_or_else(|e| panic!("{name} at {n} levels does not parse: {e}"));
            // The limit is what stops the shape, and the tree is as deep as the limit allows.
            assert!(Engine::parse(&shape(n + 1))
                .unwrap_err()
                .to_string()
                .contains("query nests deeper than the limit of 256"));
            let depth = ast_depth(&expr);
            assert!(
                (200..=256).contains(&depth),
                "{name}: {n} levels make a tree {depth} deep"
            );
            let t = 300_000;
            let instant = engine.instant_query(&store, &text, t);
            let range = engine.range_query(&store, &text, t - 60_000, t, 30_000);
            let again = engine.instant_query_expr(&store, &expr, t);
            assert_eq!(instant.is_ok(), again.is_ok(), "{name}");
            if name != "count_values" {
                // Every shape but count_values (labels from values) evaluates without error.
                instant.unwrap_or_else(|e| panic!("{name}: {e}"));
                range.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            let printed = expr.to_string();
            let copy = expr.clone();
            drop(expr);
            drop(copy);
            assert!(printed.len() >= n, "{name}");
        }
    };
    std::thread::Builder::new()
        .stack_size(EVAL_STACK_SIZE)
        .spawn(work)
        .expect("spawn")
        .join()
        .expect("the deepest queries ran");
}

fn runtime() -> tokio::runtime::Runtime {
    redline::service::runtime().expect("runtime")
}

async fn start_service() -> ServiceInDir {
    let cfg = Config::from_yaml_str("global:\n  scrape_interval: 1m\n", "test.yml").unwrap();
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
    ServiceInDir::start(cfg, "query-limits", at, Default::default()).await
}

/// `application/x-www-form-urlencoded` text of `pairs`, for a URL's query or a POST body.
fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn post_form(
    client: &reqwest::Client,
    url: String,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn assert_bad_data(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}");
    assert_eq!(body["errorType"], "bad_data", "{what}");
    let msg = body["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("query nests deeper than the limit of 256"),
        "{what}: {msg}"
    );
}

#[test]
fn deep_queries_get_bad_data_and_the_server_stays_up() {
    runtime().block_on(async {
        redline::install_crypto_provider();
        let svc = start_service().await;
        let base = format!("http://{}", svc.local_addr);
        let client = reqwest::Client::new();
        for (what, q) in attack_queries() {
            let pairs = [("query", q.as_str())];
            // GET with the query in the URL, where it fits in a URI (64 KiB; not the
            // 40,000 parentheses, which only a POST body can carry).
            let url = format!("{base}/api/v1/query?{}", form(&pairs));
            if url.len() < 60_000 {
                assert_bad_data(&format!("GET {what}"), send(client.get(url)).await);
            }
            let post = post_form(&client, format!("{base}/api/v1/query"), &pairs);
            assert_bad_data(&format!("POST {what}"), send(post).await);
            let range = post_form(
                &client,
                format!("{base}/api/v1/query_range"),
                &[
                    ("query", q.as_str()),
                    ("start", "0"),
                    ("end", "60"),
                    ("step", "15"),
                ],
            );
            assert_bad_data(&format!("query_range {what}"), send(range).await);
        }
        let health = client
            .get(format!("{base}/-/healthy"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);

        // The deepest accepted query is answered over HTTP too (evaluated on a runtime thread).
        let deepest = vec!["1"; 257].join("+");
        let url = format!(
            "{base}/api/v1/query?{}",
            form(&[("query", deepest.as_str()), ("time", "100")])
        );
        let (status, body) = send(client.get(url)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["result"][1], "257");
        svc.shutdown().await;
    });
}

#[test]
fn rule_file_with_a_too_deep_expression_is_rejected_naming_file_and_rule() {
    let deep = format!("{}up{}", "abs(".repeat(2000), ")".repeat(2000));
    let text = format!(
        "groups:\n  - name: g\n    rules:\n      - record: ok:up\n        expr: up\n      - alert: TooDeep\n        expr: {deep}\n"
    );
    let path = std::path::Path::new("deep.rules.yml");
    let errs = redline::rules::file::parse_rule_file(path, &text).expect_err("rejected");
    let msg = errs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(errs.len(), 1, "{msg}");
    for part in [
        "deep.rules.yml",
        "TooDeep",
        "query nests deeper than the limit",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[test]
fn lowered_depth_limit_applies_to_the_api() {
    runtime().block_on(async {
        redline::install_crypto_provider();
        let cfg = Config::from_yaml_str("global:\n  scrape_interval: 1m\n", "test.yml").unwrap();
        let dir = TempDir::new("query-depth");
        let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf());
        opts.query.parse = ParseLimits {
            max_depth: 3,
            max_length: 40,
        };
        let svc = Service::start(cfg, opts).await.unwrap();
        let base = format!("http://{}/api/v1/query", svc.local_addr);
        let client = reqwest::Client::new();
        let ask = |q: &str| client.get(format!("{base}?{}", form(&[("query", q), ("time", "1")])));
        // `1+1+1+1` chains 3 operators: the limit; one more is refused.
        assert_eq!(send(ask("1+1+1+1")).await.0, 200);
        let (status, body) = send(ask("1+1+1+1+1")).await;
        assert_eq!(status, 400);
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("query nests deeper than the limit of 3"));
        let long = format!("{}1", " ".repeat(40));
        let (status, body) = send(ask(&long)).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["error"],
            "parse error: query is 41 bytes long, more than the limit of 40 (query.max-length)"
        );
        svc.shutdown().await;
    });
}

/// A query that evaluates for minutes without producing a sample: 86,400,000 steps of a
/// selector that matches nothing.
const SLOW_QUERY: &str = "count_over_time(nothing[1d:1ms])";

async fn start_single_permit(tag: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str("global:\n  scrape_interval: 1m\n", "test.yml").unwrap();
    let at = |dir| {
        let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
        opts.query.max_concurrency = 1;
        opts.query.timeout = Duration::from_secs(600);
        opts
    };
    ServiceInDir::start(cfg, tag, at, Default::default()).await
}

#[test]
fn client_disconnect_stops_the_query_and_frees_its_permit() {
    use tokio::io::AsyncWriteExt;
    runtime().block_on(async {
        let svc = start_single_permit("query-disconnect").await;
        assert_eq!(svc.query.free_permits(), 1);
        let mut conn = tokio::net::TcpStream::connect(svc.local_addr)
            .await
            .unwrap();
        let req = format!(
            "GET /api/v1/query?{} HTTP/1.1\r\nHost: x\r\n\r\n",
            form(&[("query", SLOW_QUERY), ("time", "86400")])
        );
        conn.write_all(req.as_bytes()).await.unwrap();
        wait_for(
            "the slow query to take the permit",
            Duration::from_secs(20),
            || (svc.query.free_permits() == 0).then_some(()),
        )
        .await;
        drop(conn);
        // The evaluation would run for minutes (timeout 10 min); the disconnect ends it.
        wait_for(
            "the permit to be free again",
            Duration::from_secs(20),
            || (svc.query.free_permits() == 1).then_some(()),
        )
        .await;
        svc.shutdown().await;
    });
}

#[test]
fn timeout_stops_the_query_and_frees_its_permit() {
    runtime().block_on(async {
        redline::install_crypto_provider();
        let svc = start_single_permit("query-timeout").await;
        let url = format!(
            "http://{}/api/v1/query?{}",
            svc.local_addr,
            form(&[
                ("query", SLOW_QUERY),
                ("time", "86400"),
                ("timeout", "300ms")
            ])
        );
        let (status, body) = send(reqwest::Client::new().get(url)).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["errorType"], "timeout");
        // The permit went with the evaluation: free once the answer is out.
        assert_eq!(svc.query.free_permits(), 1);
        svc.shutdown().await;
    });
}
