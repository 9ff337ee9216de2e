//! Email notifications against a real SMTP server on loopback: Debian's aiosmtpd, started by
//! the test through `tests/smtp_sink.py`, which parses each received message with Python's
//! `email` package (an independent MIME parser) and writes what it saw as JSON.
//!
//! Covers: a firing then a resolved notification (headers, both MIME parts, owner, playbook,
//! labels, dashboard link), the owner and playbook link as the real `redline run` fills them
//! (alerts posted to its Alertmanager API, routed by the `owners:` section to the owner's
//! email receiver, the link from `runbook_url` or `playbook_url_template`), AUTH with a
//! password file, STARTTLS verified against a CA made by
//! the test with `openssl`, `require_tls` against a server without STARTTLS, and how SMTP
//! failures are classified (5xx permanent, 4xx and connection errors retryable).

mod common;

use redline::testdir::TempDir;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use redline::alerting::notify::{
    integrations, Notification, NotificationReason, NotifiedAlert, Notifier, NotifyContext,
};
use redline::alerting::Alert;
use redline::config::alertmanager::AlertmanagerConfig;
use redline::store::Labels;

/// A Python interpreter that has aiosmtpd (Debian's python3-aiosmtpd lives in the system
/// interpreter, which may not be the first `python3` on PATH).
fn python() -> &'static str {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!("no python3 with aiosmtpd: install Debian's python3-aiosmtpd");
}

fn scratch(name: &str) -> TempDir {
    TempDir::new(&format!("email-{name}"))
}

/// The SMTP server process; killed when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl SmtpSink {
    fn start(dir: &Path, args: &[&str]) -> SmtpSink {
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).expect("mail dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg("--out")
            .arg(&out)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("sink stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sink's READY line");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("SMTP sink did not start: {line:?}"));
        SmtpSink { child, port, out }
    }

    /// The `n`th received message (1-based), as the sink parsed it.
    async fn message(&self, n: usize) -> serde_json::Value {
        let path = self.out.join(format!("{n}.json"));
        let text = common::wait_for(
            &format!("message {n} at the SMTP sink"),
            Duration::from_secs(20),
            || std::fs::read_to_string(&path).ok(),
        )
        .await;
        serde_json::from_str(&text).expect("sink JSON")
    }

    fn received(&self) -> usize {
        std::fs::read_dir(&self.out).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The only integration of the single receiver of an Alertmanager config.
fn email_notifier(email_config: &str) -> Arc<dyn Notifier> {
    let yaml = format!(
        "route: {{receiver: team-api}}\nreceivers:\n  - name: team-api\n    email_configs:\n{email_config}"
    );
    let cfg = AlertmanagerConfig::from_yaml_str(&yaml, "alertmanager.yml").expect("config");
    let ctx = NotifyContext::new("http://127.0.0.1:19093", "");
    let mut all = integrations(&cfg.receivers[0], &ctx).expect("integrations");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].integration(), "email[0]");
    all.remove(0)
}

/// Two `HighErrorBudgetBurn` alerts of job `api`, owned by team-api; resolved when asked.
/// Owner and playbook are filled in here as the dispatcher would: this drives the email
/// integration alone. `owner_and_playbook_come_from_the_dispatcher` goes the whole way.
fn notification(resolved: bool) -> Notification {
    let now = redline::timefmt::now_ms();
    let alert = |instance: &str, summary: &str| NotifiedAlert {
        alert: Alert {
            labels: Labels::from_pairs([
                ("alertname", "HighErrorBudgetBurn"),
                ("instance", instance),
                ("job", "api"),
                ("severity", "page"),
            ]),
            annotations: Labels::from_pairs([
                ("runbook_url", "https://runbooks.example/api"),
                ("summary", summary),
            ]),
            starts_at_ms: now - 600_000,
            ends_at_ms: if resolved { now - 1_000 } else { now + 300_000 },
            generator_url: "http://prometheus.example:9090/graph?g0.expr=x".into(),
            updated_at_ms: now,
            timeout: false,
        },
        owner: Some("team-api".into()),
        playbook_url: Some("https://runbooks.example/api".into()),
    };
    Notification {
        receiver: "team-api".into(),
        group_key: r#"{}/{severity="page"}:{alertname="HighErrorBudgetBurn"}"#.into(),
        group_labels: Labels::from_pairs([("alertname", "HighErrorBudgetBurn")]),
        alerts: vec![
            alert("10.0.0.1:8080", "api burning error budget (9.091%)"),
            alert("10.0.0.2:8080", "api burning error budget (8.000%)"),
        ],
        now_ms: now,
        reason: if resolved {
            NotificationReason::Resolved
        } else {
            NotificationReason::NewAlerts
        },
    }
}

fn part<'a>(msg: &'a serde_json::Value, content_type: &str) -> &'a str {
    msg["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["content_type"] == content_type)
        .and_then(|p| p["body"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {msg}"))
}

#[tokio::test]
async fn firing_then_resolved_email_reaches_a_real_smtp_server() {
    let dir = scratch("plain");
    let sink = SmtpSink::start(&dir, &[]);
    let notifier = email_notifier(&format!(
        "      - to: 'oncall@example.org, lead@example.org'\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n        require_tls: false\n        send_resolved: true\n        hello: redline.example.org\n",
        sink.port
    ));
    assert!(notifier.send_resolved());

    notifier
        .notify(&notification(false))
        .await
        .expect("firing email sent");
    let msg = sink.message(1).await;
    assert_eq!(msg["mail_from"], "redline@example.org");
    assert_eq!(
        msg["rcpt_tos"],
        serde_json::json!(["oncall@example.org", "lead@example.org"])
    );
    assert_eq!(msg["helo"], "redline.example.org");
    assert_eq!(msg["tls"], false);
    let h = &msg["headers"];
    assert_eq!(h["To"], "oncall@example.org, lead@example.org");
    assert_eq!(h["From"], "redline@example.org");
    assert_eq!(h["Subject"], "[FIRING:2] HighErrorBudgetBurn (api page)");
    assert!(
        h["Message-ID"]
            .as_str()
            .is_some_and(|id| id.starts_with('<') && id.ends_with("@example.org>")),
        "{h}"
    );
    assert_eq!(msg["content_type"], "multipart/alternative");
    let text = part(&msg, "text/plain");
    let html = part(&msg, "text/html");
    for body in [text, html] {
        for want in [
            "team-api",
            "https://runbooks.example/api",
            "10.0.0.1:8080",
            "10.0.0.2:8080",
            "api burning error budget (9.091%)",
            "http://127.0.0.1:19093/alerts",
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
    }
    assert!(html.contains("<a href=\"http://127.0.0.1:19093/alerts\""));
    assert!(text.contains("Firing (2)"));

    notifier
        .notify(&notification(true))
        .await
        .expect("resolved email sent");
    let msg = sink.message(2).await;
    assert_eq!(
        msg["headers"]["Subject"],
        "[RESOLVED] HighErrorBudgetBurn (api page)"
    );
    assert!(part(&msg, "text/plain").contains("Resolved (2)"));
}

/// The whole path: `redline run` receives two alerts on its Alertmanager API, owned by team
/// `api` through their `team` label only (no `owner`), routed by the root route to `triage`,
/// which has no integration. The `owners:` section sends team `api`'s alerts to `team-api`'s
/// email; the dispatcher's owner lookup fills the owner, and the playbook link is the
/// alert's `runbook_url`, or else `playbook_url_template` rendered with its labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_playbook_come_from_the_dispatcher() {
    let dir = scratch("pipeline");
    let sink = SmtpSink::start(&dir, &[]);
    let cfg = dir.join("redline.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"
alertmanager:
  config:
    route:
      receiver: triage
      group_by: [alertname]
      group_wait: 1s
      group_interval: 5m
      repeat_interval: 1h
    receivers:
      - name: triage
      - name: team-api
        email_configs:
          - to: api-oncall@example.org
            from: redline@example.org
            smarthost: 127.0.0.1:{}
            require_tls: false
    owners:
      labels: [owner, team]
      receivers: {{api: team-api}}
      playbook_url_template: 'https://playbooks.example/{{{{ .Labels.alertname }}}}'
"#,
            sink.port
        ),
    )
    .expect("write config");
    let port = common::free_port();
    let _redline = common::ProcessGuard(
        common::redline_run(&cfg, port, &dir.join("state"))
            .spawn()
            .expect("start redline run"),
    );
    redline::install_crypto_provider();
    let alerts = serde_json::json!([
        {
            "labels": {"alertname": "HighErrorBudgetBurn", "team": "api", "instance": "10.0.0.1:8080", "severity": "page"},
            "annotations": {"summary": "api burning error budget (9.091%)"}
        },
        {
            "labels": {"alertname": "HighErrorBudgetBurn", "team": "api", "instance": "10.0.0.2:8080", "severity": "page"},
            "annotations": {"summary": "api burning error budget (8.000%)", "runbook_url": "https://runbooks.example/api"}
        }
    ]);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let end = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let post = http
            .post(&url)
            .header("content-type", "application/json")
            .body(alerts.to_string());
        match post.send().await {
            Ok(r) if r.status().is_success() => break,
            other => assert!(
                std::time::Instant::now() < end,
                "redline did not accept the alerts: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let msg = sink.message(1).await;
    assert_eq!(
        msg["rcpt_tos"],
        serde_json::json!(["api-oncall@example.org"])
    );
    // Alertmanager's default subject: the group labels' values, then the common labels
    // without the group labels (severity=page, team=api) in label-name order.
    assert_eq!(
        msg["headers"]["Subject"],
        "[FIRING:2] HighErrorBudgetBurn (page api)"
    );
    // SMTP carries CRLF line ends.
    let text = part(&msg, "text/plain").replace("\r\n", "\n");
    assert!(text.contains("\nOwner: api\n"), "{text}");
    // Each alert's block: "* <alertname>: <summary>", then its Owner and Playbook lines.
    let block = |instance: &str| -> &str {
        text.split("\n* ")
            .find(|b| b.contains(&format!("instance = {instance}\n")))
            .unwrap_or_else(|| panic!("no alert of {instance} in\n{text}"))
    };
    assert!(
        block("10.0.0.1:8080")
            .contains("  Owner: api\n  Playbook: https://playbooks.example/HighErrorBudgetBurn\n"),
        "{text}"
    );
    assert!(
        block("10.0.0.2:8080").contains("  Owner: api\n  Playbook: https://runbooks.example/api\n"),
        "{text}"
    );
    let html = part(&msg, "text/html");
    for want in [
        "owner api",
        "<a href=\"https://playbooks.example/HighErrorBudgetBurn\"",
        "<a href=\"https://runbooks.example/api\"",
    ] {
        assert!(html.contains(want), "missing {want:?} in\n{html}");
    }
}

#[tokio::test]
async fn user_templates_shape_subject_and_body() {
    let dir = scratch("templated");
    let sink = SmtpSink::start(&dir, &[]);
    let notifier = email_notifier(&format!(
        "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n        require_tls: false\n        headers:\n          Subject: 'Page for {{{{ .CommonLabels.job }}}}: {{{{ len .Alerts.Firing }}}} firing'\n        text: '{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}'\n        html: '<p>{{{{ .CommonLabels.alertname }}}}</p>'\n",
        sink.port
    ));
    notifier.notify(&notification(false)).await.expect("sent");
    let msg = sink.message(1).await;
    assert_eq!(msg["headers"]["Subject"], "Page for api: 2 firing");
    assert_eq!(
        part(&msg, "text/plain").trim_end(),
        "10.0.0.1:8080 10.0.0.2:8080"
    );
    assert_eq!(
        part(&msg, "text/html").trim_end(),
        "<p>HighErrorBudgetBurn</p>"
    );
}

#[tokio::test]
async fn email_authenticates_with_a_password_file() {
    let dir = scratch("auth");
    let sink = SmtpSink::start(&dir, &["--auth", "alerts:s3cret"]);
    std::fs::write(dir.join("password"), "s3cret\n").unwrap();
    let config = |password_file: &str| {
        format!(
            "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n        require_tls: false\n        auth_username: alerts\n        auth_password_file: {}\n",
            sink.port,
            dir.join(password_file).display()
        )
    };
    let notifier = email_notifier(&config("password"));
    notifier.notify(&notification(false)).await.expect("sent");
    let msg = sink.message(1).await;
    assert_eq!(msg["auth_user"], "alerts");

    // A wrong password is rejected with 535: permanent, not retried.
    std::fs::write(dir.join("wrong"), "nope\n").unwrap();
    let err = email_notifier(&config("wrong"))
        .notify(&notification(false))
        .await
        .expect_err("wrong password");
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{}", sink.port)),
        "{err:?}"
    );
    assert_eq!(sink.received(), 1);
}

/// A CA and a server certificate for `localhost` / 127.0.0.1, made with `openssl`.
fn make_pki(dir: &Path) {
    let run = |args: &[&str]| common::openssl(dir, args);
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=redline test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.cnf",
    ]);
}

#[tokio::test]
async fn starttls_is_used_and_verified_against_the_configured_ca() {
    let dir = scratch("starttls");
    make_pki(&dir);
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    let sink = SmtpSink::start(&dir, &["--starttls", &cert, &key]);
    let notifier = email_notifier(&format!(
        "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n        tls_config:\n          ca_file: {}\n          server_name: localhost\n",
        sink.port,
        dir.join("ca.pem").display()
    ));
    notifier
        .notify(&notification(false))
        .await
        .expect("sent over STARTTLS");
    let msg = sink.message(1).await;
    assert_eq!(msg["tls"], true);
    assert_eq!(
        msg["headers"]["Subject"],
        "[FIRING:2] HighErrorBudgetBurn (api page)"
    );

    // Without the CA the server's certificate is not trusted: nothing is sent.
    let untrusted = email_notifier(&format!(
        "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n",
        sink.port
    ));
    let err = untrusted
        .notify(&notification(false))
        .await
        .expect_err("unknown CA");
    assert!(
        err.message.contains(&format!("127.0.0.1:{}", sink.port)),
        "{err:?}"
    );
    assert_eq!(sink.received(), 1);
}

#[tokio::test]
async fn require_tls_against_a_server_without_starttls_fails_clearly() {
    let dir = scratch("notls");
    let sink = SmtpSink::start(&dir, &[]);
    // require_tls defaults to true, as in Alertmanager.
    let notifier = email_notifier(&format!(
        "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{}\n",
        sink.port
    ));
    let err = notifier
        .notify(&notification(false))
        .await
        .expect_err("no STARTTLS offered");
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message.contains("require_tls")
            && err.message.contains("STARTTLS")
            && err.message.contains(&format!("127.0.0.1:{}", sink.port)),
        "{err:?}"
    );
    assert_eq!(sink.received(), 0, "nothing may be sent in the clear");
}

#[tokio::test]
async fn smtp_failures_are_classified_for_retry() {
    let dir = scratch("reject");
    let config = |port: u16| {
        format!(
            "      - to: oncall@example.org\n        from: redline@example.org\n        smarthost: 127.0.0.1:{port}\n        require_tls: false\n"
        )
    };
    {
        let sink = SmtpSink::start(&dir, &["--reject-rcpt", "550 5.1.1 no such user"]);
        let err = email_notifier(&config(sink.port))
            .notify(&notification(false))
            .await
            .expect_err("550");
        assert!(!err.retryable, "{err:?}");
        assert!(err.message.contains("no such user"), "{err:?}");
    }
    {
        let sink = SmtpSink::start(&dir, &["--reject-rcpt", "451 4.3.0 try again later"]);
        let err = email_notifier(&config(sink.port))
            .notify(&notification(false))
            .await
            .expect_err("451");
        assert!(err.retryable, "{err:?}");
    }
    // Nothing listens: a connection error is retryable and names the smarthost.
    let port = common::free_port();
    let err = email_notifier(&config(port))
        .notify(&notification(false))
        .await
        .expect_err("connection refused");
    assert!(err.retryable, "{err:?}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{err:?}"
    );
}
