//! Rendering tests: view models into templates, without a server.

use super::chart::Unit;
use super::defs::{self, Severity};
use super::pages::{self, BurnRow, SloView, WINDOW_PAIRS};
use super::*;
use crate::promql::InstantSample;
use crate::store::Labels;

fn slo(name: &str, remaining: f64, burn_1h: f64) -> SloView {
    let period = Duration::from_secs(30 * 86400);
    SloView {
        name: name.into(),
        service: "checkout".into(),
        owner: "team-payments".into(),
        objective: 0.999,
        error_budget: 0.001,
        attainment: 1.0 - (1.0 - remaining) * 0.001,
        budget_remaining: remaining,
        window: "30d".into(),
        period,
        burns: WINDOW_PAIRS
            .iter()
            .map(|p| BurnRow::new(p, Some(burn_1h), Some(burn_1h)))
            .collect(),
        exhaustion: pages::exhaustion(remaining, Some(burn_1h), period),
        burn_down: Vec::new(),
        sli_hourly: Vec::new(),
        window_start_ms: None,
        calendar: None,
        parts: Vec::new(),
    }
}

fn layout() -> Json {
    json!({"title": "t", "nav": [], "tz": "UTC", "csrf": "tok"})
}

fn with(mut base: Json, extra: Json) -> Json {
    if let (Some(a), Json::Object(b)) = (base.as_object_mut(), extra) {
        a.extend(b);
    }
    base
}

#[test]
fn every_template_compiles() {
    for (name, _) in TEMPLATES {
        assert!(
            registry().get_template(name).is_some(),
            "template {name} failed to compile"
        );
    }
}

#[test]
fn overview_lists_slos_with_budget_bars_and_escapes_names() {
    let slos = vec![
        slo("checkout-<availability>", 0.4, 20.0),
        slo("b", 0.9, 0.5),
    ];
    let model = pages::overview_model(&slos, &[]);
    let html = render("overview", &with(layout(), model)).unwrap();
    assert!(html.contains("checkout-&lt;availability&gt;"), "escaped");
    assert!(!html.contains("checkout-<availability>"));
    assert!(html.contains("40%"), "remaining budget");
    assert!(html.contains("20.00×"), "worst burn");
    assert!(html.contains("class=\"tier page\""), "tier of a 20× burn");
    assert!(html.contains("<svg class=\"bar\""));
    assert!(html.contains("No alerts are firing."));
    assert!(!html.contains("No SLOs configured"));
}

#[test]
fn overview_without_slos_says_so() {
    let html = render("overview", &with(layout(), pages::overview_model(&[], &[]))).unwrap();
    assert!(html.contains("No SLOs configured"));
}

#[test]
fn time_to_exhaustion_follows_the_burn_rate() {
    // Half the budget left, burning at 2× over a 30-day period: 7.5 days.
    let v = slo("x", 0.5, 2.0);
    assert_eq!(v.exhaustion, Some(Duration::from_secs(30 * 86400 / 4)));
    assert_eq!(pages::human_duration(v.exhaustion.unwrap()), "7d 12h");
    assert_eq!(slo("y", 0.5, 0.0).exhaustion, None);
}

#[test]
fn an_overspent_budget_shows_as_exhausted() {
    let html = render(
        "overview",
        &with(
            layout(),
            pages::overview_model(&[slo("spent", -2.5, 30.0)], &[]),
        ),
    )
    .unwrap();
    let row = html.split("<tr class=\"slo ").nth(1).expect("the SLO row");
    assert!(row.contains("<td>exhausted</td>"), "{row}");
}

#[test]
fn burn_pair_fires_only_when_both_windows_exceed_the_factor() {
    let p = &WINDOW_PAIRS[0];
    assert!(BurnRow::new(p, Some(15.0), Some(15.0)).firing);
    let b = BurnRow::new(p, Some(15.0), Some(3.0));
    assert!(!b.firing);
    assert_eq!(b.burn(), Some(3.0));
}

fn sample(pairs: &[(&str, &str)], v: f64) -> InstantSample {
    InstantSample {
        labels: Labels::from_pairs(pairs.iter().copied()),
        t: 0,
        v,
        h: None,
    }
}

#[test]
fn use_table_joins_panels_by_node_colours_and_sorts() {
    let d = defs::builtin_dashboard("redline-use-node").unwrap();
    let n_tables = d
        .panels
        .iter()
        .filter(|p| p.kind == defs::PanelKind::Table)
        .count();
    let mut results = vec![Ok(Vec::new()); n_tables];
    // CPU utilisation is the first table panel.
    results[0] = Ok(vec![
        sample(&[("node", "node-a"), ("instance", "a:9100")], 0.95),
        sample(&[("node", "node-b"), ("instance", "b:9100")], 0.10),
    ]);
    let table = pages::signal_table(d, &results);
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.columns[0].1, "CPU utilisation");
    let m = table.model("n", Some(0), false, "");
    assert_eq!(m["rows"][0]["key"][0], "node-b", "ascending");
    let m = table.model("n", None, true, "");
    assert_eq!(m["rows"][0]["key"][0], "node-a", "worst first by default");
    assert_eq!(m["rows"][0]["cells"][0]["class"], "critical");
    assert_eq!(m["rows"][0]["cells"][0]["value"], "95%");
    assert_eq!(m["rows"][0]["cells"][1]["value"], "–", "no memory data");
    let html = render(
        "use",
        &with(
            layout(),
            json!({"nodes": m, "containers": {"empty": true}, "charts": []}),
        ),
    )
    .unwrap();
    assert!(html.contains("node-a") && html.contains("utilisation"));
    assert!(html.contains("href=\"?nsort=0&amp;ndir=desc\""), "{html}");
}

#[test]
fn severity_classes_follow_thresholds() {
    let t = defs::Thresholds {
        warning: Some(0.8),
        critical: Some(0.9),
        lower_is_worse: false,
    };
    assert_eq!(t.severity(0.85).class(), "warning");
    assert_eq!(Severity::Critical.class(), "critical");
    assert_eq!(Unit::Percent.format(0.85), "85%");
}

#[test]
fn layout_marks_read_only_and_the_signed_in_user() {
    let data = with(
        layout(),
        json!({"user": "alice", "read_only": true, "heading": "h", "text": "x"}),
    );
    let html = render("message", &data).unwrap();
    assert!(html.contains("signed in: alice"));
    assert!(html.contains("read-only"));
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/redline.css\">"));
    assert!(!html.contains("<script"), "pages carry no script");
}

#[test]
fn cookies_and_time_zones_are_read() {
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        HeaderValue::from_static("a=1; tz=Europe%2FParis; redline_csrf=abc"),
    );
    assert_eq!(cookie(&h, "tz"), Some("Europe%2FParis"));
    assert_eq!(cookie(&h, "redline_csrf"), Some("abc"));
    assert_eq!(cookie(&h, "x"), None);
    assert!(resolve_tz("Europe/Paris").is_some());
    assert!(resolve_tz("local").is_some());
    assert!(resolve_tz("Mars/Olympus").is_none());
}

#[test]
fn page_ctx_issues_a_csrf_cookie_and_keeps_the_tz_choice() {
    let web = WebAccess::default();
    let q: HashMap<String, String> = [("tz".to_string(), "Asia/Tokyo".to_string())].into();
    let ctx = PageCtx::new(&web, &HeaderMap::new(), Identity::Anonymous, q);
    assert_eq!(ctx.tz_name, "Asia/Tokyo");
    assert!(web.check_csrf(&Identity::Anonymous, &ctx.nonce, &ctx.csrf));
    let r = ctx.respond(
        "message",
        &with(ctx.layout("x", "/", None), json!({"text": "hi"})),
    );
    let cookies: Vec<_> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(cookies.iter().any(|c| c.starts_with("tz=Asia%2FTokyo")));
    assert!(cookies.iter().any(|c| c.starts_with("redline_csrf=")
        && c.contains("SameSite=Strict")
        && c.contains("HttpOnly")));
}

#[test]
fn alerts_page_offers_a_prefilled_silence_form_with_the_csrf_token() {
    let a = super::ops::AlertView {
        name: "KubePodCrashLooping".into(),
        labels: Labels::from_pairs([
            ("alertname", "KubePodCrashLooping"),
            ("namespace", "payments"),
            ("owner", "team-payments"),
        ]),
        state: "firing",
        owner: "team-payments".into(),
        severity: "warning".into(),
        summary: "pod restarts".into(),
        playbook: Some("/playbooks/KubePodCrashLooping".into()),
        since: "2026-11-22 10:00:00 UTC".into(),
        value: 1.0,
    };
    let data = with(
        layout(),
        json!({"alerts": [a.row()], "states": [{"state": "firing", "count": 1, "href": "/alerts?state=firing"}], "can_silence": true}),
    );
    let html = render("alerts", &data).unwrap();
    assert!(html.contains("href=\"/playbooks/KubePodCrashLooping\""));
    assert!(html.contains("name=\"csrf_token\" value=\"tok\""));
    assert!(
        html.contains("namespace&#x3D;&quot;payments&quot;"),
        "matchers prefilled: {html}"
    );
    assert!(html.contains("team-payments"));
    assert!(html.contains("firing (<span class=\"count\">1</span>)"));
}

#[test]
fn explain_page_shows_the_route_tree_with_verdicts_and_escapes_labels() {
    let cfg = crate::config::alertmanager::AlertmanagerConfig::from_yaml_str(
        "route:\n  receiver: triage\n  routes:\n    - matchers: ['team=\"db\"']\n      receiver: db\n      routes:\n        - matchers: ['severity=\"page\"']\n          receiver: db-pager\n    - matchers: ['team=~\"db|web\"']\n      receiver: never\nreceivers: [{name: triage}, {name: db}, {name: db-pager}, {name: never}]\n",
        "am.yml",
    )
    .unwrap();
    let labels = Labels::from_pairs([("team", "db"), ("summary", "<b>x</b>")]);
    let ex = crate::alerting::explain::explain_config(&cfg, &labels, 1_800_000_000_000);
    let ctx = PageCtx::new(
        &WebAccess::default(),
        &HeaderMap::new(),
        Identity::Anonymous,
        HashMap::new(),
    );
    let mut data = ctx.layout("Explain", "/explain", None);
    data["ex"] = explain_page::explanation_model(&ex, &ctx);
    let html = render("explain", &data).unwrap();
    assert!(html.contains(r#"<li class="route destination">"#), "{html}");
    assert!(html.contains(r#"<li class="route not-matched">"#), "{html}");
    assert!(html.contains(r#"<li class="route not-tried">"#), "{html}");
    assert!(
        html.contains("severity is missing (matched as &quot;&quot;), not &quot;page&quot;"),
        "{html}"
    );
    assert!(
        html.contains(r#"<strong class="receivers">db</strong>"#),
        "{html}"
    );
    assert!(!html.contains("<b>x</b>"), "label values are escaped");
}

#[test]
fn alerts_page_offers_an_acknowledge_form_and_shows_the_acknowledgement() {
    let rows = [
        json!({"name": "Down", "state": "firing", "labels": [], "fingerprint": "00000000000000ff"}),
        json!({"name": "Slow", "state": "firing", "labels": [],
               "ack": {"created_by": "alice", "comment": "on it", "until": "2026-11-22 11:00:00 UTC"}}),
    ];
    let data = with(
        layout(),
        json!({"alerts": rows, "states": [], "can_ack": true, "acked": "1"}),
    );
    let html = render("alerts", &data).unwrap();
    assert!(
        html.contains("<form class=\"ack\" method=\"post\" action=\"/acks\">"),
        "{html}"
    );
    assert!(html.contains("name=\"fingerprint\" value=\"00000000000000ff\""));
    assert!(html.contains("name=\"csrf_token\" value=\"tok\""));
    assert!(html.contains("acknowledged by alice until 2026-11-22 11:00:00 UTC: on it"));
    assert!(html.contains("Acknowledged 1 group(s)"));
    assert_eq!(
        html.matches("<form class=\"ack\"").count(),
        1,
        "no form on the acknowledged row"
    );
    // Read-only (can_ack false): neither the column nor a form.
    let data = with(
        layout(),
        json!({"alerts": rows, "states": [], "can_ack": false}),
    );
    let html = render("alerts", &data).unwrap();
    assert!(!html.contains("action=\"/acks\"") && !html.contains("<th>Acknowledged</th>"));
}
