//! Route matching against the oracle: Alertmanager 0.25's `amtool config routes test` (the
//! Debian package `prometheus-alertmanager`) and redline's `routes_test` must print the same
//! receivers for the same config and labels, and `amtool check-config` must accept the
//! example configs in tests/data/alerting/ (all but the redline-only owners example). The
//! explanation of each label set (`redline explain`) must show amtool's matching routes
//! (`--tree`) and receivers.

use redline::testdir::TempDir;
use std::path::Path;
use std::process::Command;

use redline::alerting::explain::{explain_config, RouteVerdict, RouteVisit};
use redline::config::alertmanager::{parse_label_args, routes_test, AlertmanagerConfig};

const AMTOOL: &str = "/usr/bin/amtool";
const FIXTURE: &str = "tests/fixtures/alertmanager_example.yml";
const NESTED: &str = "tests/data/alerting/nested.yml";
const TEAMS: &str = "tests/data/alerting/teams.yml";
const OWNERS: &str = "tests/data/alerting/redline_owners.yml";
const DISAGREEMENT: &str = "tests/data/alerting/matcher_disagreement.yml";
const UTF8_NAMES: &str = "tests/data/alerting/utf8_names.yml";

fn amtool() -> &'static str {
    assert!(
        Path::new(AMTOOL).exists(),
        "{AMTOOL} is missing: install the Debian package prometheus-alertmanager (tests/run-all.sh)"
    );
    AMTOOL
}

/// amtool's stdout and exit status for a routing test.
fn amtool_routes(config: &str, args: &[String], verify: Option<&str>) -> (String, bool) {
    let mut cmd = Command::new(amtool());
    cmd.args([
        "config",
        "routes",
        "test",
        &format!("--config.file={config}"),
    ]);
    if let Some(v) = verify {
        cmd.arg(format!("--verify.receivers={v}"));
    }
    let out = cmd.args(args).output().expect("run amtool");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

fn load(path: &str) -> AlertmanagerConfig {
    AlertmanagerConfig::load_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Label sets: the hand-picked ones, then a deterministic sample of the cartesian product of
/// `dims` (an empty value means the label is absent).
fn label_sets(
    dims: &[(&str, &[&str])],
    picked: &[&[(&str, &str)]],
    samples: usize,
) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = picked
        .iter()
        .map(|set| set.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..samples {
        let mut args = Vec::new();
        for (name, values) in dims {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = values[((seed >> 33) as usize) % values.len()];
            if !v.is_empty() {
                args.push(format!("{name}={v}"));
            }
        }
        out.push(args);
    }
    out
}

/// One line of amtool's `--tree` output (`Matching routes:`): the depth below the root
/// line `.`, the route's matchers (`default-route` for none) and, for a route the alert
/// lands on, its receiver.
type TreeLine = (usize, String, Option<String>);

/// amtool's `config routes test --tree`: the matching routes tree and the receivers line.
fn amtool_tree(config: &str, args: &[String]) -> (Vec<TreeLine>, String) {
    let mut cmd = Command::new(amtool());
    cmd.args([
        "config",
        "routes",
        "test",
        "--tree",
        &format!("--config.file={config}"),
    ]);
    let out = cmd.args(args).output().expect("run amtool");
    assert!(out.status.success(), "amtool failed on {config} {args:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("Matching routes:"), "{stdout}");
    assert_eq!(lines.next(), Some("."), "{stdout}");
    let mut tree = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (prefix, rest) = line
            .split_once("── ")
            .unwrap_or_else(|| panic!("a tree line: {line:?}"));
        // Each level is four characters (`│   ` or `    `), then `├` or `└`.
        let depth = (prefix.chars().count() - 1) / 4;
        // amtool appends the route's group_by in Go map order; routing does not depend on it.
        let rest = rest.split("  grouping: [").next().unwrap_or(rest);
        let (slug, receiver) = match rest.split_once("  receiver: ") {
            Some((m, r)) => (m.to_string(), Some(r.to_string())),
            None => (rest.to_string(), None),
        };
        tree.push((depth, slug, receiver));
    }
    let receivers = lines.find(|l| !l.is_empty()).unwrap_or("").to_string();
    (tree, receivers)
}

/// The same tree from redline's explanation: the routes that matched, depth-first.
fn explained_tree(v: &RouteVisit, depth: usize, out: &mut Vec<TreeLine>) {
    if v.verdict != RouteVerdict::Matched {
        return;
    }
    let slug = if v.selector == "{}" {
        "default-route".to_string()
    } else {
        v.selector.clone()
    };
    out.push((depth, slug, v.destination.then(|| v.receiver.clone())));
    for c in &v.routes {
        explained_tree(c, depth + 1, out);
    }
}

/// Asserts amtool and redline agree on every label set: `routes test`'s output, and the
/// explanation's matching routes and receivers (`redline explain`); returns how many were
/// compared.
fn assert_same_receivers(config: &str, sets: &[Vec<String>]) -> usize {
    let cfg = load(config);
    for args in sets {
        let labels = parse_label_args(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let (tree, want) = amtool_tree(config, args);
        let (got, ok) = routes_test(&cfg, &labels, None);
        assert!(ok);
        assert_eq!(got, format!("{want}\n"), "{config} with labels {args:?}");
        let ex = explain_config(&cfg, &labels, 1_800_000_000_000);
        assert_eq!(ex.receivers.join(","), want, "explain: {config} {args:?}");
        let mut explained = Vec::new();
        explained_tree(&ex.route, 0, &mut explained);
        assert_eq!(explained, tree, "explain's route path: {config} {args:?}");
        // Every route visited shows each of its matchers' verdicts, and a route matched
        // exactly when they all accept the labels.
        check_verdicts(&ex.route);
    }
    sets.len()
}

fn check_verdicts(v: &RouteVisit) {
    if v.verdict == RouteVerdict::NotTried {
        return;
    }
    assert!(
        v.matchers.iter().all(|m| !m.reason.is_empty()),
        "every matcher says why: {v:?}"
    );
    let all = v.matchers.iter().all(|m| m.matched);
    assert_eq!(v.verdict == RouteVerdict::Matched, all, "{v:?}");
    for c in &v.routes {
        check_verdicts(c);
    }
}

#[test]
fn example_configs_pass_amtool_check_config() {
    for config in [FIXTURE, NESTED, TEAMS, DISAGREEMENT] {
        let out = Command::new(amtool())
            .args(["check-config", config])
            .output()
            .expect("run amtool");
        assert!(
            out.status.success(),
            "amtool check-config {config}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        load(config);
    }
    // The owners example is redline-only: Alertmanager rejects the `owners` section (line 11)
    // and, once that is gone, the templated receiver, and nothing else.
    let check = |path: &Path| {
        let out = Command::new(amtool())
            .arg("check-config")
            .arg(path)
            .output()
            .expect("run amtool");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = check(Path::new(OWNERS));
    assert!(
        said.contains(
            "FAILED: yaml: unmarshal errors:\n  line 11: field owners not found in type config.plain\n"
        ),
        "{said}"
    );
    let text = std::fs::read_to_string(OWNERS).expect("read the owners example");
    let (head, rest) = text.split_once("owners:\n").expect("an owners section");
    let tail = &rest[rest.find("\nreceivers:").expect("receivers after owners") + 1..];
    let dir = TempDir::new("routes-without-owners");
    let without = dir.join("alertmanager.yml");
    std::fs::write(&without, format!("{head}{tail}")).expect("write the example without owners");
    let said = check(&without);
    assert!(
        said.contains(r#"FAILED: undefined receiver "pager-{{ .Labels.team }}" used in route"#),
        "{said}"
    );
    load(OWNERS);
}

#[test]
fn shared_fixture_routes_like_amtool() {
    let dims: &[(&str, &[&str])] = &[
        ("severity", &["", "page", "ticket", "Page"]),
        ("team", &["", "db", "storage", "api", "dbx"]),
        ("job", &["", "api"]),
    ];
    let picked: &[&[(&str, &str)]] = &[
        &[],
        &[("severity", "page"), ("team", "db")],
        &[
            ("alertname", "HighErrorBudgetBurn"),
            ("job", "api"),
            ("severity", "page"),
        ],
    ];
    let n = assert_same_receivers(FIXTURE, &label_sets(dims, picked, 24));
    assert_eq!(n, 27);
}

#[test]
fn nested_continue_and_legacy_match_route_like_amtool() {
    let dims: &[(&str, &[&str])] = &[
        ("severity", &["", "critical", "page", "warning", "ticket"]),
        ("service", &["", "database", "web"]),
        (
            "env",
            &["", "prod", "production", "prod-eu", "staging", "dev"],
        ),
        ("team", &["", "frontend"]),
        (
            "namespace",
            &["", "kube-system", "kube-public", "monitoring", "default"],
        ),
        (
            "alertname",
            &["", "SSLCertExpiring", "sslExpiry", "HighLatency"],
        ),
        ("instance", &["", "canary-1", "web-1"]),
    ];
    let picked: &[&[(&str, &str)]] = &[
        &[
            ("service", "database"),
            ("env", "prod"),
            ("severity", "critical"),
        ],
        &[("service", "database"), ("env", "production")],
        &[("service", "database"), ("env", "prod-eu")],
        &[("service", "database"), ("env", "staging")],
        &[("service", "database")],
        &[("team", "frontend"), ("alertname", "SSLCertExpiring")],
        &[
            ("team", "frontend"),
            ("alertname", "SSLCertExpiring"),
            ("instance", "canary-1"),
        ],
        &[("team", "frontend"), ("env", "dev")],
        &[("namespace", "kube-system")],
        &[("namespace", "monitoring")],
        &[("namespace", "kube-public"), ("severity", "ticket")],
        &[("severity", "ticket")],
    ];
    assert_same_receivers(NESTED, &label_sets(dims, picked, 60));
}

#[test]
fn team_regexes_utf8_and_empty_matchers_route_like_amtool() {
    let dims: &[(&str, &[&str])] = &[
        ("team", &["", "payments", "payroll", "storage", "web"]),
        ("owner", &["", "équipe-paiements", "equipe"]),
        ("severity", &["", "page", "critical", "info", "debug"]),
        ("region", &["", "eu-west-1", "us-east-1", "ap-south-1"]),
        ("alertname", &["", "Watchdog", "DiskFull"]),
    ];
    let picked: &[&[(&str, &str)]] = &[
        &[("owner", "équipe-paiements"), ("team", "payments")],
        &[("team", "payments"), ("severity", "info")],
        &[
            ("team", "storage"),
            ("severity", "page"),
            ("region", "eu-west-1"),
        ],
        &[("team", "storage"), ("severity", "page")],
        &[("team", "storage"), ("severity", "critical")],
        &[("team", "storage")],
        &[("alertname", "Watchdog")],
        &[
            ("alertname", "Watchdog"),
            ("team", "web"),
            ("severity", "page"),
        ],
    ];
    assert_same_receivers(TEAMS, &label_sets(dims, picked, 60));
}

#[test]
fn verify_receivers_behaves_like_amtool() {
    let cfg = load(NESTED);
    let args: Vec<String> = ["service=database", "env=prod", "severity=critical"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let labels = parse_label_args(&args).unwrap_or_else(|e| panic!("{e}"));
    for verify in [
        "audit-log,dba-pager,dba-prod-mail",
        "dba-pager",
        "audit-log,dba-pager",
    ] {
        let want = amtool_routes(NESTED, &args, Some(verify));
        let list: Vec<String> = verify.split(',').map(str::to_string).collect();
        assert_eq!(
            routes_test(&cfg, &labels, Some(&list)),
            want,
            "verify {verify}"
        );
    }
}

#[test]
fn owners_example_routes_unowned_alerts_to_owner_or_fallback() {
    let cfg = load(OWNERS);
    let receivers = |args: &[&str]| {
        let labels = parse_label_args(args).unwrap_or_else(|e| panic!("{e}"));
        routes_test(&cfg, &labels, None).0
    };
    assert_eq!(receivers(&["team=payments"]), "team-payments\n");
    assert_eq!(
        receivers(&["owner=storage", "team=payments"]),
        "team-storage\n"
    );
    assert_eq!(receivers(&["team=search"]), "sre-triage\n");
    assert_eq!(receivers(&[]), "sre-triage\n");
    assert_eq!(
        receivers(&["team=payments", "severity=page"]),
        "pager-payments\n"
    );
    // The templated receiver does not exist for this team: fallback, never nowhere.
    assert_eq!(receivers(&["team=search", "severity=page"]), "sre-triage\n");
    assert_eq!(
        receivers(&["alertname=Watchdog", "team=payments"]),
        "deadman\n"
    );
}

/// Where Alertmanager's two matcher parsers read a matcher differently, 0.27's default
/// (fallback) mode takes the classic reading, which is the only one 0.25 has: amtool 0.25 is
/// the oracle for these.
#[test]
fn matchers_the_parsers_disagree_on_route_like_amtool() {
    let picked: &[&[(&str, &str)]] = &[
        &[("path", r"C:\temp")],
        &[("path", "C:\temp")],
        &[("name", r"caf\u00e9")],
        &[("name", "café")],
        &[("code", "503")],
        &[("code", r"5\d\d")],
    ];
    let sets = label_sets(&[], picked, 0);
    assert_eq!(assert_same_receivers(DISAGREEMENT, &sets), 6);
    // The classic readings, spelt out: backslashes kept.
    let cfg = load(DISAGREEMENT);
    let route = |args: &[&str]| {
        let labels = parse_label_args(args).unwrap_or_else(|e| panic!("{e}"));
        routes_test(&cfg, &labels, None).0
    };
    assert_eq!(route(&[r"path=C:\temp"]), "windows-path\n");
    assert_eq!(route(&[r"name=caf\u00e9"]), "escaped-name\n");
    assert_eq!(route(&["code=503"]), "server-errors\n");
}

/// UTF-8 label names in routes, `group_by` and inhibit rules' `equal` (Alertmanager 0.27+;
/// 0.25 rejects this config, so the expected receivers are read off the config by hand).
#[test]
fn utf8_label_names_route_and_group() {
    let cfg = load(UTF8_NAMES);
    let route = |args: &[&str]| {
        let labels = parse_label_args(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        routes_test(&cfg, &labels, None).0
    };
    // "service.name" api|web with severity page: the first route.
    assert_eq!(
        route(&[r#""service.name"=api"#, "severity=page"]),
        "frontend-pager\n"
    );
    assert_eq!(
        route(&["service.name=web", "severity=page"]),
        "frontend-pager\n"
    );
    assert_eq!(route(&["service.name=web", "severity=info"]), "default\n");
    // The braced list with a second dotted name: db outside namespace test.
    assert_eq!(route(&["service.name=db"]), "dba\n");
    assert_eq!(
        route(&["service.name=db", "k8s.namespace=test"]),
        "default\n"
    );
    // A name with a space, quoted.
    assert_eq!(route(&[r#""deployment environment"=prod"#]), "prod\n");
    assert_eq!(route(&["deployment=prod"]), "default\n");

    let labels = parse_label_args(&["service.name=api", "severity=page"]).unwrap();
    let dest = cfg.destinations(&labels);
    assert_eq!(dest.len(), 1);
    // The route inherits the root's group_by, and prints its matchers so that they parse
    // back (the quoted name of Alertmanager 0.27's `Matcher.String`).
    let group_by = format!("{:?}", dest[0].route.opts.group_by);
    assert_eq!(group_by, r#"Labels(["service.name", "alertname"])"#);
    let prod = cfg
        .destinations(&parse_label_args(&[r#""deployment environment"=prod"#]).unwrap())
        .remove(0);
    assert_eq!(
        prod.route.matchers.to_string(),
        r#"{"deployment environment"="prod"}"#
    );
    assert_eq!(cfg.inhibit_rules[0].equal, ["service.name"]);
}
