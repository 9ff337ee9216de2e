//! Alert timelines compared with Alertmanager's: each scenario is played side by side into
//! Debian's `prometheus-alertmanager` 0.25 and redline (see `tests/timeline`), three times at
//! once so that races show; redline must send what Alertmanager sends, group by group.
//!
//! Every scenario routes with `group_wait: 2s` and `group_interval: 4s`: a group created at
//! 0 s flushes at 2, 6, 10, 14, 18 s, and steps are placed at 0, 4, 8, 12, 16 s, two seconds
//! from any flush. The expected notifications are written from Alertmanager's semantics
//! (dispatch, `DedupStage.needsUpdate`, the mute stages, `RetryStage`) and checked against
//! Alertmanager itself before redline is compared with it.
//!
//! `REDLINE_TIMELINE_KEEP=/some/dir` keeps both servers' logs of a run that differs;
//! `REDLINE_TIMELINE_REPEATS=n` plays each scenario `n` times at once instead of three.

mod common;
mod timeline;
mod webhook_sink;

use timeline::{alert, at, check, Action::*, Scenario, SINK};

const REPEATS: usize = 3;

fn repeats() -> usize {
    std::env::var("REDLINE_TIMELINE_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REPEATS)
}

/// An Alertmanager configuration: one webhook receiver, the root route with `route_extra`
/// (indented two spaces) and top-level `extra`.
fn config(route_extra: &str, webhook_extra: &str, extra: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_wait: 2s\n  group_interval: 4s\n{route_extra}\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: '{SINK}'\n{webhook_extra}\n{extra}\n"
    )
}

const BY_NAME: &str = "  group_by: [alertname]\n  repeat_interval: 1h";
const GROUP: &str = r#"{}:{alertname="Down"}"#;

fn down(instance: &'static str) -> timeline::A {
    alert(&[("alertname", "Down"), ("instance", instance)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_before_the_first_notification() {
    check(
        Scenario {
            name: "silence-before",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(
                    0.0,
                    Silence {
                        name: "a",
                        matchers: vec![("instance", "a")],
                    },
                ),
                at(0.0, Fire(vec![down("a"), down("b")])),
                at(8.0, Expire("a")),
                at(12.0, Resolve(vec![down("a"), down("b")])),
            ],
            end_s: 17.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [b] resolved []",
                    "firing [a b] resolved []",
                    "resolved [] resolved [a b]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// The issue: silencing a notified alert sent an empty "resolved" notification, and expiring
/// the silence re-paged at once instead of after `repeat_interval`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_after_a_notification() {
    check(
        Scenario {
            name: "silence-after",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a")])),
                at(
                    4.0,
                    Silence {
                        name: "a",
                        matchers: vec![("instance", "a")],
                    },
                ),
                at(12.0, Expire("a")),
                at(16.0, Resolve(vec![down("a")])),
            ],
            end_s: 21.0,
            expected: vec![(
                GROUP,
                vec!["firing [a] resolved []", "resolved [] resolved [a]"],
            )],
        },
        repeats(),
    )
    .await;
}

/// An alert resolved while silenced: the flush finds only muted alerts and sends nothing, so
/// the receiver is not told (Alertmanager's mute stages drop resolved alerts too), and the
/// silence's expiry finds nothing left to tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_resolved_while_silenced() {
    check(
        Scenario {
            name: "resolved-while-silenced",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a")])),
                at(
                    4.0,
                    Silence {
                        name: "a",
                        matchers: vec![("instance", "a")],
                    },
                ),
                at(8.0, Resolve(vec![down("a")])),
                at(12.0, Expire("a")),
                at(16.0, Fire(vec![down("b")])),
            ],
            end_s: 21.0,
            expected: vec![(
                GROUP,
                vec!["firing [a] resolved []", "firing [b] resolved []"],
            )],
        },
        repeats(),
    )
    .await;
}

/// One alert taking two routes (`continue: true`) to the same receiver: each route has its
/// own group, group key and notification log entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_taking_two_routes() {
    check(
        Scenario {
            name: "two-routes",
            config: config(
                "  group_by: [alertname]\n  repeat_interval: 1h\n  routes:\n    - matchers: ['severity=\"page\"']\n      continue: true\n    - matchers: ['team=\"db\"']",
                "",
                "",
            ),
            steps: vec![
                at(
                    0.0,
                    Fire(vec![alert(&[
                        ("alertname", "Down"),
                        ("instance", "a"),
                        ("severity", "page"),
                        ("team", "db"),
                    ])]),
                ),
                at(
                    4.0,
                    Fire(vec![alert(&[
                        ("alertname", "Down"),
                        ("instance", "b"),
                        ("team", "db"),
                    ])]),
                ),
                at(
                    8.0,
                    Resolve(vec![alert(&[
                        ("alertname", "Down"),
                        ("instance", "a"),
                        ("severity", "page"),
                        ("team", "db"),
                    ])]),
                ),
            ],
            end_s: 13.0,
            expected: vec![
                (
                    r#"{}/{severity="page"}:{alertname="Down"}"#,
                    vec!["firing [a] resolved []", "resolved [] resolved [a]"],
                ),
                (
                    r#"{}/{team="db"}:{alertname="Down"}"#,
                    vec![
                        "firing [a] resolved []",
                        "firing [a b] resolved []",
                        "firing [b] resolved [a]",
                    ],
                ),
            ],
        },
        repeats(),
    )
    .await;
}

/// A critical alert inhibits the warning of the same cluster; when it resolves, the warning
/// is notified with the critical's resolution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhibition_starts_and_ends() {
    let warning = alert(&[
        ("alertname", "Latency"),
        ("cluster", "c1"),
        ("instance", "w"),
        ("severity", "warning"),
    ]);
    let critical = alert(&[
        ("alertname", "Down"),
        ("cluster", "c1"),
        ("instance", "c"),
        ("severity", "critical"),
    ]);
    check(
        Scenario {
            name: "inhibition",
            config: config(
                "  group_by: [cluster]\n  repeat_interval: 1h",
                "",
                "inhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n    target_matchers: ['severity=\"warning\"']\n    equal: [cluster]",
            ),
            steps: vec![
                at(0.0, Fire(vec![warning.clone()])),
                at(4.0, Fire(vec![critical.clone()])),
                at(12.0, Resolve(vec![critical])),
                at(16.0, Resolve(vec![warning])),
            ],
            end_s: 21.0,
            expected: vec![(
                r#"{}:{cluster="c1"}"#,
                vec![
                    "firing [w] resolved []",
                    "firing [c] resolved []",
                    "firing [w] resolved [c]",
                    "resolved [] resolved [w]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// The issue (one run in three sent neither the uninhibited warning nor the critical's
/// resolution): the same timeline with redline's state database stalled for 3.5 s around the
/// critical's resolution. Alertmanager's dispatcher sees an alert once its API stored it;
/// redline's groups must too, whatever its database does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhibition_ends_while_the_database_stalls() {
    let warning = alert(&[
        ("alertname", "Latency"),
        ("cluster", "c1"),
        ("instance", "w"),
        ("severity", "warning"),
    ]);
    let critical = alert(&[
        ("alertname", "Down"),
        ("cluster", "c1"),
        ("instance", "c"),
        ("severity", "critical"),
    ]);
    check(
        Scenario {
            name: "inhibition-stall",
            config: config(
                "  group_by: [cluster]\n  repeat_interval: 1h",
                "",
                "inhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n    target_matchers: ['severity=\"warning\"']\n    equal: [cluster]",
            ),
            steps: vec![
                at(0.0, Fire(vec![warning.clone()])),
                at(4.0, Fire(vec![critical.clone()])),
                at(11.0, StallDatabase(3.5)),
                at(12.0, Resolve(vec![critical])),
                at(16.0, Resolve(vec![warning])),
            ],
            end_s: 21.0,
            expected: vec![(
                r#"{}:{cluster="c1"}"#,
                vec![
                    "firing [w] resolved []",
                    "firing [c] resolved []",
                    "firing [w] resolved [c]",
                    "resolved [] resolved [w]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// The issue: an alert that fired, resolved and fired again; Alertmanager notifies all four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_alert_is_notified_each_time() {
    check(
        Scenario {
            name: "flapping",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a")])),
                at(4.0, Resolve(vec![down("a")])),
                at(8.0, Fire(vec![down("a")])),
                at(12.0, Resolve(vec![down("a")])),
            ],
            end_s: 17.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [a] resolved []",
                    "resolved [] resolved [a]",
                    "firing [a] resolved []",
                    "resolved [] resolved [a]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// An alert firing again after its resolution is a new activity: its group waits
/// `group_wait` (here until 10 s), so an alert joining a second later is in the same
/// notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_firing_again_waits_like_a_new_one() {
    check(
        Scenario {
            name: "refire",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a")])),
                at(4.0, Resolve(vec![down("a")])),
                at(8.0, Fire(vec![down("a")])),
                at(9.0, Fire(vec![down("b")])),
                at(12.0, Resolve(vec![down("a"), down("b")])),
            ],
            end_s: 17.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [a] resolved []",
                    "resolved [] resolved [a]",
                    "firing [a b] resolved []",
                    "resolved [] resolved [a b]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// An alert posted without `endsAt` and never refreshed resolves `resolve_timeout` later;
/// one refreshed in time keeps firing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_timeout_ends_an_alert_not_refreshed() {
    check(
        Scenario {
            name: "resolve-timeout",
            config: config(BY_NAME, "", "global:\n  resolve_timeout: 8s"),
            steps: vec![
                at(0.0, Fire(vec![down("a"), down("b")])),
                at(4.0, Fire(vec![down("b")])),
                at(8.0, Fire(vec![down("b")])),
            ],
            // a ends at 8 s (flushed resolved at 10 s), b at 16 s (at 18 s).
            end_s: 21.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [a b] resolved []",
                    "firing [b] resolved [a]",
                    "resolved [] resolved [b]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_all_labels() {
    check(
        Scenario {
            name: "group-by-all",
            config: config("  group_by: ['...']\n  repeat_interval: 1h", "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a"), down("b")])),
                at(4.0, Resolve(vec![down("a")])),
            ],
            end_s: 9.0,
            expected: vec![
                (
                    r#"{}:{alertname="Down", instance="a"}"#,
                    vec!["firing [a] resolved []", "resolved [] resolved [a]"],
                ),
                (
                    r#"{}:{alertname="Down", instance="b"}"#,
                    vec!["firing [b] resolved []"],
                ),
            ],
        },
        repeats(),
    )
    .await;
}

/// Without `send_resolved`, resolutions are never sent; a new alert is sent without the
/// resolved ones; all resolved sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_resolved_false() {
    check(
        Scenario {
            name: "send-resolved-false",
            config: config(BY_NAME, "        send_resolved: false", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a"), down("b")])),
                at(4.0, Resolve(vec![down("a")])),
                at(8.0, Fire(vec![down("c")])),
                at(12.0, Resolve(vec![down("b"), down("c")])),
            ],
            end_s: 17.0,
            expected: vec![(
                GROUP,
                vec!["firing [a b] resolved []", "firing [b c] resolved []"],
            )],
        },
        repeats(),
    )
    .await;
}

/// With `repeat_interval: 6s` an unchanged group is notified again at the first flush more
/// than 6 s after the last notification: at 2, 10 and 18 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_interval_resends_an_unchanged_group() {
    check(
        Scenario {
            name: "repeat-interval",
            config: config("  group_by: [alertname]\n  repeat_interval: 6s", "", ""),
            steps: vec![at(0.0, Fire(vec![down("a")]))],
            end_s: 21.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [a] resolved []",
                    "firing [a] resolved []",
                    "firing [a] resolved []",
                ],
            )],
        },
        repeats(),
    )
    .await;
}

/// Alerts join and leave a group between flushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_join_and_leave_a_group() {
    check(
        Scenario {
            name: "join-leave",
            config: config(BY_NAME, "", ""),
            steps: vec![
                at(0.0, Fire(vec![down("a")])),
                at(4.0, Fire(vec![down("b")])),
                at(8.0, Fire(vec![down("c")])),
                at(8.0, Resolve(vec![down("a")])),
                at(12.0, Resolve(vec![down("b")])),
                at(16.0, Resolve(vec![down("c")])),
            ],
            end_s: 21.0,
            expected: vec![(
                GROUP,
                vec![
                    "firing [a] resolved []",
                    "firing [a b] resolved []",
                    "firing [b c] resolved [a]",
                    "firing [c] resolved [b]",
                    "resolved [] resolved [c]",
                ],
            )],
        },
        repeats(),
    )
    .await;
}
