//! An [`Explanation`] as readable text, as `redline explain` prints it: the route tree in
//! amtool's tree style with each matcher's verdict under its route, then each destination
//! (receiver, owner, group, time intervals, what the notification log says), the silences
//! and the inhibition, and the summary.

use std::fmt::Write;

use super::{Explanation, RouteVerdict, RouteVisit, Time};

fn time(t: Time) -> String {
    t.rfc3339()
}

fn labels(map: &std::collections::BTreeMap<String, String>) -> String {
    crate::config::alertmanager::labelset_string(&crate::store::Labels::from_pairs(map.clone()))
}

/// Renders `ex` (see the module documentation).
pub fn render(ex: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Labels: {}  fingerprint {}",
        labels(&ex.labels),
        ex.fingerprint
    );
    let _ = writeln!(out, "At: {}", time(ex.at));
    if let Some(a) = &ex.alert {
        let _ = writeln!(
            out,
            "Alert: {} (starts {}, ends {})",
            a.state,
            time(a.starts_at),
            time(a.ends_at)
        );
    }
    let _ = writeln!(out, "\nRoute path:\n.");
    route_tree(&mut out, &ex.route, "", true);
    let _ = writeln!(out, "\nReceivers: {}", ex.receivers.join(","));
    for d in &ex.destinations {
        let _ = writeln!(out, "\nDestination {} -> {}", d.route, d.receiver);
        let _ = writeln!(out, "  receiver: {} ({})", d.receiver, d.chosen_because);
        let _ = writeln!(out, "  owner: {} (from {})", d.owner, d.owner_from);
        let _ = writeln!(
            out,
            "  group_by: [{}]  group labels: {}",
            d.group_by.join(", "),
            labels(&d.group_labels)
        );
        let _ = writeln!(out, "  group key: {}", d.group_key);
        let _ = writeln!(
            out,
            "  group_wait {}, group_interval {}, repeat_interval {}",
            d.group_wait, d.group_interval, d.repeat_interval
        );
        match &d.group {
            Some(g) => {
                let _ = writeln!(
                    out,
                    "  group: {} alert(s){}, next flush {}",
                    g.alerts,
                    if g.holds_alert {
                        ", this one included"
                    } else {
                        ""
                    },
                    time(g.next_flush)
                );
            }
            None => {
                let _ = writeln!(out, "  group: does not exist yet");
            }
        }
        if d.muted_by_time {
            let _ = writeln!(out, "  muted now by the route's time intervals");
        }
        if d.integrations.is_empty() {
            let _ = writeln!(out, "  no integrations: nothing is sent");
        }
        for i in &d.integrations {
            let last = match i.last_sent {
                Some(t) => format!(
                    "last sent {} (firing [{}], resolved [{}]{}), repeat due {}",
                    time(t),
                    i.last_firing.join(" "),
                    i.last_resolved.join(" "),
                    i.alert_last_notified
                        .as_ref()
                        .map(|s| format!("; this alert {s}"))
                        .unwrap_or_default(),
                    i.repeat_due.map(time).unwrap_or_default()
                ),
                None => "never sent for this group".to_string(),
            };
            let _ = writeln!(out, "  {}: {last}", i.integration);
            let next = match (i.next_send, &i.next_send_reason) {
                (Some(t), Some(r)) => format!("next send {} ({r}): ", time(t)),
                _ => String::new(),
            };
            let _ = writeln!(out, "    {next}{}", i.next_send_note);
        }
    }
    let _ = writeln!(out);
    if ex.silences.is_empty() {
        let _ = writeln!(out, "Silences: none active");
    }
    for s in &ex.silences {
        let _ = writeln!(
            out,
            "Silence {} by {}: {:?} {} until {}",
            s.id,
            s.created_by,
            s.comment,
            s.matchers,
            time(s.ends_at)
        );
    }
    match &ex.inhibition {
        Some(i) => {
            let _ = writeln!(
                out,
                "Inhibited by {} {} (inhibit_rules[{}]: source {} target {} equal [{}])",
                i.source_fingerprint,
                labels(&i.source_labels),
                i.rule,
                i.source_matchers,
                i.target_matchers,
                i.equal.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "Inhibition: none");
        }
    }
    let _ = writeln!(out, "\nSummary:");
    for s in &ex.summary {
        let _ = writeln!(out, "  {s}");
    }
    out
}

/// One route and its children in amtool's tree style (`├──`, `└──`, `│`), its matchers'
/// verdicts on the lines under it.
fn route_tree(out: &mut String, r: &RouteVisit, prefix: &str, last: bool) {
    let (branch, inner) = if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    };
    let name = if r.selector == "{}" {
        "default-route"
    } else {
        r.selector.as_str()
    };
    let verdict = match r.verdict {
        RouteVerdict::Matched if r.destination => "MATCHED, destination".to_string(),
        RouteVerdict::Matched => "matched".to_string(),
        RouteVerdict::NotMatched => "not matched".to_string(),
        RouteVerdict::NotTried => format!(
            "not tried: {} matched without continue",
            r.stopped_by.as_deref().unwrap_or("an earlier route")
        ),
    };
    let _ = writeln!(
        out,
        "{prefix}{branch}{name}{}  receiver: {}  [{verdict}]",
        if r.continue_matching {
            "  continue: true"
        } else {
            ""
        },
        r.receiver
    );
    let child_prefix = format!("{prefix}{inner}");
    let bar = if r.routes.is_empty() { " " } else { "│" };
    for m in &r.matchers {
        let _ = writeln!(
            out,
            "{child_prefix}{bar}   {} {}: {}",
            if m.matched { "ok  " } else { "FAIL" },
            m.matcher,
            m.reason
        );
    }
    for t in &r.time_intervals {
        let _ = writeln!(
            out,
            "{child_prefix}{bar}   {} time interval {}: {}",
            t.kind,
            t.name,
            if t.contains_now {
                "contains now"
            } else {
                "not now"
            }
        );
    }
    if !r.time_intervals.is_empty() {
        let _ = writeln!(
            out,
            "{child_prefix}{bar}   {}",
            if r.muted_now {
                "muted now"
            } else {
                "not muted now"
            }
        );
    }
    for (i, c) in r.routes.iter().enumerate() {
        route_tree(out, c, &child_prefix, i + 1 == r.routes.len());
    }
}
