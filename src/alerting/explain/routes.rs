//! The route path of a label set with every matcher's verdict: Alertmanager's `Route.Match`
//! (`dispatch/route.go`) walked the same way, recording what it looked at.
//!
//! A route whose matchers all accept the labels tries its children in order; a matching
//! child without `continue` ends the search among its siblings (the siblings after it are
//! reported as not tried, naming the child that stopped them); a route none of whose children
//! matched is a destination. A route that does not match shows every matcher's verdict, not
//! only the first that failed, and its children are not visited. The destinations of
//! [`route_path`] are exactly [`crate::config::alertmanager::RouteTree::matches`], in order.

use serde::{Deserialize, Serialize};

use super::timestamp;
use crate::config::alertmanager::{AlertmanagerConfig, Matcher, Route, RouteOpts};
use crate::gostrconv::quote as go_quote;
use crate::store::{Labels, MatchOp};

/// One matcher of a route and what it said about the label set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatcherVerdict {
    /// As Alertmanager prints it: `env=~"prod.*"`.
    pub matcher: String,
    /// The alert's value of the matcher's label; `None` when the alert lacks it (it is then
    /// matched as the empty string).
    pub value: Option<String>,
    pub matched: bool,
    /// Why, in words: `env is "dev", not "prod"`.
    pub reason: String,
}

/// Whether a route took the alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteVerdict {
    /// Every matcher accepted the labels.
    Matched,
    /// Some matcher rejected them (see the verdicts); the children were not visited.
    NotMatched,
    /// Not tried: an earlier sibling matched without `continue`.
    NotTried,
}

/// A time interval a route names and whether it contains the time of the explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalVerdict {
    pub name: String,
    /// `mute` (`mute_time_intervals`: muted inside) or `active` (`active_time_intervals`:
    /// muted outside all of them).
    pub kind: String,
    /// Whether the interval contains now (false for a name the config does not define).
    pub contains_now: bool,
}

/// One route the walk looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteVisit {
    /// Where the route is in the config: `route.routes[1].routes[0]`.
    pub path: String,
    /// Alertmanager's route id (its key and position among siblings).
    pub id: String,
    /// The route's matchers as Alertmanager prints them (`{env=~"prod.*",team="db"}`;
    /// `{}` for none).
    pub selector: String,
    /// The route's receiver after inheritance, as Alertmanager chooses it.
    pub receiver: String,
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    pub verdict: RouteVerdict,
    /// For [`RouteVerdict::NotTried`]: the path of the sibling that matched without
    /// `continue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Every matcher's verdict (none for the root, and none for a route not tried).
    pub matchers: Vec<MatcherVerdict>,
    /// The route's own time intervals (they are not inherited) and whether they mute it now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<IntervalVerdict>,
    /// Whether the route's time intervals mute its notifications now.
    pub muted_now: bool,
    /// The alert lands here: it matched and none of its children did.
    pub destination: bool,
    /// The children visited (only for a matching route).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteVisit>,
}

impl RouteVisit {
    /// The destinations below and at this node, in Alertmanager's match order.
    pub fn destinations(&self) -> Vec<&RouteVisit> {
        let mut out = Vec::new();
        self.collect_destinations(&mut out);
        out
    }

    fn collect_destinations<'a>(&'a self, out: &mut Vec<&'a RouteVisit>) {
        if self.destination {
            out.push(self);
        }
        for c in &self.routes {
            c.collect_destinations(out);
        }
    }
}

/// Walks the route tree for `labels` at `now_ms` (see the module documentation).
pub fn route_path(config: &AlertmanagerConfig, labels: &Labels, now_ms: i64) -> RouteVisit {
    visit(config, &config.route.root, labels, now_ms)
}

fn visit(config: &AlertmanagerConfig, route: &Route, labels: &Labels, now_ms: i64) -> RouteVisit {
    let matchers: Vec<MatcherVerdict> = route
        .matchers
        .iter()
        .map(|m| matcher_verdict(m, labels))
        .collect();
    let matched = matchers.iter().all(|v| v.matched);
    let mut node = RouteVisit {
        path: route.config_path().to_string(),
        id: route.id().to_string(),
        selector: route.matchers.to_string(),
        receiver: route.opts.receiver.clone(),
        continue_matching: route.continue_matching,
        verdict: if matched {
            RouteVerdict::Matched
        } else {
            RouteVerdict::NotMatched
        },
        stopped_by: None,
        matchers,
        time_intervals: interval_verdicts(config, &route.opts, now_ms),
        muted_now: crate::alerting::dispatch::muted_by_time(config, &route.opts, now_ms).is_some(),
        destination: false,
        routes: Vec::new(),
    };
    if !matched {
        return node;
    }
    let mut stopped_by: Option<String> = None;
    let mut any_child = false;
    for child in &route.routes {
        if let Some(by) = &stopped_by {
            node.routes.push(not_tried(config, child, by, now_ms));
            continue;
        }
        let v = visit(config, child, labels, now_ms);
        if v.verdict == RouteVerdict::Matched {
            any_child = true;
            if !child.continue_matching {
                stopped_by = Some(v.path.clone());
            }
        }
        node.routes.push(v);
    }
    node.destination = !any_child;
    node
}

fn not_tried(config: &AlertmanagerConfig, route: &Route, by: &str, now_ms: i64) -> RouteVisit {
    RouteVisit {
        path: route.config_path().to_string(),
        id: route.id().to_string(),
        selector: route.matchers.to_string(),
        receiver: route.opts.receiver.clone(),
        continue_matching: route.continue_matching,
        verdict: RouteVerdict::NotTried,
        stopped_by: Some(by.to_string()),
        matchers: Vec::new(),
        time_intervals: interval_verdicts(config, &route.opts, now_ms),
        muted_now: crate::alerting::dispatch::muted_by_time(config, &route.opts, now_ms).is_some(),
        destination: false,
        routes: Vec::new(),
    }
}

fn interval_verdicts(
    config: &AlertmanagerConfig,
    opts: &RouteOpts,
    now_ms: i64,
) -> Vec<IntervalVerdict> {
    let t = timestamp::system_time(now_ms);
    let verdicts = |names: &[String], kind: &str| -> Vec<IntervalVerdict> {
        names
            .iter()
            .map(|n| IntervalVerdict {
                name: n.clone(),
                kind: kind.to_string(),
                contains_now: config.time_intervals.get(n).is_some_and(|i| i.contains(t)),
            })
            .collect()
    };
    let mut out = verdicts(&opts.mute_time_intervals, "mute");
    out.extend(verdicts(&opts.active_time_intervals, "active"));
    out
}

/// One matcher's verdict on a label set, with the reason in words.
pub fn matcher_verdict(m: &Matcher, labels: &Labels) -> MatcherVerdict {
    let value = labels.get(&m.name).map(str::to_string);
    let matched = m.matches_labels(labels);
    let shown = match &value {
        Some(v) => format!("{} is {}", m.name, go_quote(v)),
        None => format!("{} is missing (matched as \"\")", m.name),
    };
    let want = go_quote(&m.value);
    // Alertmanager anchors a regex; a legacy `match_re` value is anchored already.
    let pattern = if m.value.starts_with("^(?:") && m.value.ends_with(")$") {
        m.value.clone()
    } else {
        format!("^(?:{})$", m.value)
    };
    let reason = match (m.op, matched) {
        (MatchOp::Equal, true) => shown,
        (MatchOp::Equal, false) => format!("{shown}, not {want}"),
        (MatchOp::NotEqual, true) => format!("{shown}, not {want}"),
        (MatchOp::NotEqual, false) => format!("{shown}, which != excludes"),
        (MatchOp::Regex, true) => format!("{shown}, which matches {pattern}"),
        (MatchOp::Regex, false) => format!("{shown}, which does not match {pattern}"),
        (MatchOp::NotRegex, true) => format!("{shown}, which does not match {pattern}"),
        (MatchOp::NotRegex, false) => format!("{shown}, which matches {pattern} (excluded by !~)"),
    };
    MatcherVerdict {
        matcher: m.to_string(),
        value,
        matched,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
route:
  receiver: default
  routes:
    - matchers: ['severity=~"critical|page"']
      receiver: audit
      continue: true
    - matchers: ['team="db"', 'env!="dev"']
      receiver: db
      routes:
        - matchers: ['instance!~"canary-.*"']
          receiver: db-pager
    - matchers: ['team="db"']
      receiver: never
receivers: [{name: default}, {name: audit}, {name: db}, {name: db-pager}, {name: never}]
"#;

    fn cfg() -> AlertmanagerConfig {
        AlertmanagerConfig::from_yaml_str(CFG, "am.yml").unwrap()
    }

    fn receivers(v: &RouteVisit) -> Vec<&str> {
        v.destinations()
            .iter()
            .map(|d| d.receiver.as_str())
            .collect()
    }

    #[test]
    fn continue_and_stop_are_recorded_as_alertmanager_walks() {
        let cfg = cfg();
        let l = Labels::from_pairs([("severity", "page"), ("team", "db"), ("env", "prod")]);
        let p = route_path(&cfg, &l, 0);
        assert_eq!(receivers(&p), ["audit", "db-pager"]);
        assert!(!p.destination, "the root is left for its children");
        let [audit, db, never] = &p.routes[..] else {
            panic!("three children: {p:?}")
        };
        assert_eq!(audit.verdict, RouteVerdict::Matched);
        assert!(audit.destination);
        assert_eq!(db.verdict, RouteVerdict::Matched);
        assert!(!db.destination, "its child took the alert");
        assert_eq!(never.verdict, RouteVerdict::NotTried);
        assert_eq!(never.stopped_by.as_deref(), Some("route.routes[1]"));
        // Hand-written expectations for each matcher kind.
        assert_eq!(
            db.matchers
                .iter()
                .map(|m| (m.matcher.as_str(), m.matched, m.reason.as_str()))
                .collect::<Vec<_>>(),
            [
                ("env!=\"dev\"", true, "env is \"prod\", not \"dev\""),
                ("team=\"db\"", true, "team is \"db\""),
            ]
        );
        let child = &db.routes[0];
        assert_eq!(
            child.matchers[0].reason,
            "instance is missing (matched as \"\"), which does not match ^(?:canary-.*)$"
        );
    }

    #[test]
    fn a_failed_route_shows_every_matcher_and_the_root_catches() {
        let cfg = cfg();
        let l = Labels::from_pairs([("team", "web"), ("env", "dev")]);
        let p = route_path(&cfg, &l, 0);
        assert_eq!(receivers(&p), ["default"]);
        assert!(p.destination);
        let db = &p.routes[1];
        assert_eq!(db.verdict, RouteVerdict::NotMatched);
        assert!(
            db.routes.is_empty(),
            "children of a failed route are not visited"
        );
        assert_eq!(
            db.matchers
                .iter()
                .map(|m| (m.matched, m.reason.as_str()))
                .collect::<Vec<_>>(),
            [
                (false, "env is \"dev\", which != excludes"),
                (false, "team is \"web\", not \"db\""),
            ]
        );
        let audit = &p.routes[0];
        assert_eq!(
            audit.matchers[0].reason,
            "severity is missing (matched as \"\"), which does not match ^(?:critical|page)$"
        );
    }

    #[test]
    fn destinations_are_the_route_trees_matches() {
        let cfg = cfg();
        for pairs in [
            vec![("team", "db"), ("instance", "canary-1")],
            vec![("severity", "critical")],
            vec![("team", "db"), ("env", "dev"), ("severity", "page")],
            vec![],
        ] {
            let l = Labels::from_pairs(pairs.clone());
            let want: Vec<&str> = cfg
                .route
                .matches(&l)
                .iter()
                .map(|r| r.opts.receiver.as_str())
                .collect();
            assert_eq!(receivers(&route_path(&cfg, &l, 0)), want, "{pairs:?}");
        }
    }
}
