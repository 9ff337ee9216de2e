//! Reading the query API's answers. The bodies were captured from Prometheus 2.42's
//! `/api/v1/query` (the warnings body is Thanos Query's partial-response form).

use super::*;

fn ok(status: u16, body: &str) -> QueryResponse {
    parse_query_response(status, body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn err(status: u16, body: &str) -> String {
    match parse_query_response(status, body.as_bytes()) {
        Ok(r) => panic!("accepted {body}: {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn vector_with_nan_and_infinities() {
    let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"x"},"value":[1700000000.123,"NaN"]},{"metric":{"a":"y"},"value":[1700000000.123,"+Inf"]},{"metric":{"a":"z"},"value":[1700000000.123,"-Inf"]},{"metric":{"__name__":"up","a":"w","job":"node"},"value":[1700000000.123,"2.5"]}]}}"#;
    let r = ok(200, body);
    assert_eq!(r.samples.len(), 4);
    assert_eq!(r.samples[0].labels, Labels::from_pairs([("a", "x")]));
    assert!(r.samples[0].value.is_nan());
    assert_eq!(r.samples[1].value, f64::INFINITY);
    assert_eq!(r.samples[2].value, f64::NEG_INFINITY);
    assert_eq!(
        r.samples[3].labels,
        Labels::from_pairs([("__name__", "up"), ("a", "w"), ("job", "node")])
    );
    assert_eq!(r.samples[3].value, 2.5);
    assert!(r.warnings.is_empty());
}

#[test]
fn empty_vector_is_no_samples() {
    let r = ok(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    );
    assert!(r.samples.is_empty());
}

#[test]
fn scalar_is_one_sample_without_labels() {
    let r = ok(
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"42"]}}"#,
    );
    assert_eq!(
        r.samples,
        vec![QuerySample {
            labels: Labels::empty(),
            value: 42.0,
            histogram: None,
        }]
    );
    let r = ok(
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"NaN"]}}"#,
    );
    assert!(r.samples[0].value.is_nan());
}

#[test]
fn exponent_values_parse() {
    let r = ok(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1e+06"]},{"metric":{},"value":[1,"-3.5e-07"]}]}}"#,
    );
    assert_eq!(r.samples[0].value, 1e6);
    assert_eq!(r.samples[1].value, -3.5e-7);
}

#[test]
fn matrix_and_string_are_rejected_as_prometheus_rules_do() {
    let e = err(
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
    );
    assert_eq!(e, "rule result is not a vector or scalar (got matrix)");
    let e = err(
        200,
        r#"{"status":"success","data":{"resultType":"string","result":[1700000000.123,"str"]}}"#,
    );
    assert_eq!(e, "rule result is not a vector or scalar (got string)");
}

#[test]
fn error_body_gives_type_and_message() {
    let e = err(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"}"#,
    );
    assert_eq!(
        e,
        "HTTP status 400: bad_data: invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"
    );
    let e = err(
        503,
        r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#,
    );
    assert!(
        e.contains("503") && e.contains("timeout: query timed out"),
        "{e}"
    );
}

#[test]
fn non_json_error_from_a_proxy_shows_status_and_body() {
    let e = err(502, "<html>\n<body>Bad Gateway</body>\n</html>\n");
    assert_eq!(
        e,
        "HTTP status 502: <html> <body>Bad Gateway</body> </html>"
    );
}

#[test]
fn non_json_success_is_an_error() {
    let e = err(200, "up 1\n");
    assert!(e.starts_with("response is not the query API's JSON"), "{e}");
}

#[test]
fn warnings_are_kept_and_the_result_used() {
    let r = ok(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000000,"1"]}]},"warnings":["No StoreAPIs matched for this query"]}"#,
    );
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.warnings, vec!["No StoreAPIs matched for this query"]);
}

#[test]
fn native_histograms_are_reported_not_misread() {
    let e = err(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"1","sum":"1","buckets":[]}]}]}}"#,
    );
    assert!(e.contains("native histogram"), "{e}");
}

#[test]
fn time_has_millisecond_precision() {
    assert_eq!(format_time(1_700_000_000_123), "1700000000.123");
    assert_eq!(format_time(5), "0.005");
    assert_eq!(format_time(-1500), "-1.500");
}

#[test]
fn a_refused_connection_names_the_endpoint() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A port just released: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let cfg = RuleQueryConfig {
        url: format!("http://127.0.0.1:{port}"),
        http: crate::config::HttpClientSettings::default(),
        timeout: None,
    };
    let q = rt.block_on(async { RemoteQuerier::new(&cfg) });
    let e = rt
        .block_on(q.query("up", 1_000, Duration::from_secs(5)))
        .expect_err("nothing listens");
    let want = format!("remote query http://127.0.0.1:{port}/api/v1/query: ");
    let text = e.to_string();
    assert!(text.starts_with(&want), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    // The request error itself is kept behind the text, as the error's cause.
    let request = std::error::Error::source(&e)
        .and_then(|reason| reason.source())
        .and_then(|c| c.downcast_ref::<reqwest::Error>())
        .expect("the request error is the cause");
    assert!(request.is_connect(), "{request:?}");
}

/// A loopback query API whose answer (status, body) the test sets; it keeps the form bodies
/// it received.
struct FakeApi {
    url: String,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn fake_api() -> FakeApi {
    use std::sync::{Arc, Mutex};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake query API");
    let addr = listener.local_addr().expect("fake API address");
    let answer = Arc::new(Mutex::new((200u16, String::new())));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (a, r) = (answer.clone(), received.clone());
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::post(move |body: String| {
            let (a, r) = (a.clone(), r.clone());
            async move {
                r.lock().expect("received").push(body);
                let (status, body) = a.lock().expect("answer").clone();
                (
                    axum::http::StatusCode::from_u16(status).expect("status"),
                    body,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeApi {
        url: format!("http://{addr}"),
        answer,
        received,
    }
}

#[test]
fn a_failed_remote_evaluation_keeps_the_firing_alert_and_marks_the_rule_unhealthy() {
    use super::super::file::parse_rule_file;
    use super::super::group::{EvalContext, GroupState, Health};
    use crate::rules::AlertState;
    use std::sync::Arc;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let api = rt.block_on(fake_api());
    let cfg = RuleQueryConfig {
        url: api.url.clone(),
        http: crate::config::HttpClientSettings::default(),
        timeout: None,
    };
    let remote = Arc::new(rt.block_on(async { RemoteQuerier::new(&cfg) }));
    let yaml = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n";
    let groups = parse_rule_file(std::path::Path::new("t.yml"), yaml).expect("rules");
    let mut state = GroupState::new(Arc::new(groups[0].clone()))
        .with_default_interval(Duration::from_secs(30))
        .with_remote_querier(Some(remote));
    let engine = Engine::default();
    let store = Store::new();
    let ext = Labels::empty();

    let eval_at = |state: GroupState, t_ms: i64| {
        let (engine, store, ext) = (&engine, &store, &ext);
        // Evaluate off the runtime's threads, as the rule manager does on its blocking pool.
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut state = state;
                let ctx = EvalContext {
                    engine,
                    store,
                    external_labels: ext,
                    external_url: "",
                };
                let out = state.eval(&ctx, t_ms);
                (state, out)
            })
            .join()
            .expect("evaluation thread")
        })
    };

    *api.answer.lock().expect("answer") = (
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a:9100","job":"node"},"value":[60,"0"]}]}}"#.to_string(),
    );
    let (s, out) = eval_at(state, 60_000);
    state = s;
    let sent: Vec<_> = out.alerts_to_notify().collect();
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].state, AlertState::Firing);
    assert_eq!(sent[0].labels.get("instance"), Some("a:9100"));
    assert_eq!(state.rules_health()[0].health, Health::Ok);
    let alerts_series = local_query(
        &engine,
        &store,
        &Engine::parse("ALERTS{alertname=\"Down\"}").expect("expr"),
        60_000,
    )
    .expect("local query");
    assert_eq!(alerts_series.len(), 1, "ALERTS written to the local store");
    {
        let got = api.received.lock().expect("received");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], "query=up+%3D%3D+0&time=60.000&timeout=30");
    }

    *api.answer.lock().expect("answer") = (
        503,
        r#"{"status":"error","errorType":"unavailable","error":"no store matched"}"#.to_string(),
    );
    let (s, out) = eval_at(state, 90_000);
    state = s;
    let health = &state.rules_health()[0];
    assert_eq!(health.health, Health::Err);
    let err = health.last_error.clone().unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "remote query {}/api/v1/query: HTTP status 503: unavailable: no store matched",
            api.url
        )
    );
    assert_eq!(out.rule_errors.len(), 1);
    let alerts = state.alerts();
    assert_eq!(alerts.len(), 1, "the alert is kept across the failed query");
    assert_eq!(alerts[0].1.state, AlertState::Firing);
}
