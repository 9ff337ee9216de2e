//! The routing tree, matched exactly as Alertmanager's `dispatch/route.go` matches it.
//!
//! A [`Route`] holds its own matchers (legacy `match` and `match_re` turned into `=` and `=~`
//! matchers, then the `matchers:` list, all sorted in Alertmanager's order), its `continue`
//! flag, its children and its *effective* [`RouteOpts`]: each option not set on a route is
//! inherited from its parent, and the root inherits Alertmanager's defaults (`group_wait`
//! 30s, `group_interval` 5m, `repeat_interval` 4h, no grouping). `mute_time_intervals` and
//! `active_time_intervals` are *not* inherited, as in Alertmanager 0.25.
//!
//! [`RouteTree::matches`] walks depth-first: a route that matches tries its children in
//! order; a matching child without `continue` stops the search among its siblings; when no
//! child matches, the route itself is the result. The root has no matchers, so every alert
//! gets at least one route.
//!
//! Routes are identified like Alertmanager identifies them: [`Route::key`] is the chain of
//! matcher lists from the root (`{}/{severity="page"}`), [`Route::id`] adds the position
//! among siblings (`{}/{severity="page"}/0`), and [`group_key`] is what the dispatcher and the
//! webhook payload's `groupKey` use: `route key + ":" + group labels`.

use std::time::Duration;

use super::matchers::Matchers;
use super::owners::LabelTemplate;
use crate::gostrconv::quote as go_quote;
use crate::store::{Label, Labels};

/// Alertmanager's defaults for the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// How alerts are grouped on a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label of the alert.
    All,
    /// These label names; none (the default) puts all alerts of the route in one group.
    Labels(Vec<String>),
}

/// A route's effective options, after inheritance.
#[derive(Clone, Debug)]
pub struct RouteOpts {
    /// The receiver name as written; it may be a template ([`RouteOpts::receiver_template`]).
    pub receiver: String,
    /// Set when `receiver` contains `{{`: a redline extension rendered per alert.
    pub receiver_template: Option<LabelTemplate>,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Names of time intervals during which the route's notifications are muted.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which the route's notifications are muted.
    pub active_time_intervals: Vec<String>,
}

impl Default for RouteOpts {
    fn default() -> Self {
        RouteOpts {
            receiver: String::new(),
            receiver_template: None,
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        }
    }
}

/// One node of the routing tree.
#[derive(Clone, Debug)]
pub struct Route {
    pub opts: RouteOpts,
    /// This route's own matchers, sorted as Alertmanager sorts them.
    pub matchers: Matchers,
    /// `continue: true`: siblings after this route are tried even when it matches.
    pub continue_matching: bool,
    pub routes: Vec<Route>,
    key: String,
    id: String,
    /// The field path of the route in the config (`route.routes[0]`), for messages.
    path: String,
}

impl Route {
    /// Builds a route; `parent` is `None` for the root. Options not given in `own` come
    /// from the parent's effective options (or the defaults at the root).
    pub(crate) fn new(
        parent: Option<(&RouteOpts, &str)>,
        position: Option<usize>,
        own: RouteSettings,
        matchers: Matchers,
        continue_matching: bool,
        path: String,
    ) -> Route {
        let mut opts = parent.map(|(o, _)| o.clone()).unwrap_or_default();
        if let Some((r, t)) = own.receiver {
            opts.receiver = r;
            opts.receiver_template = t;
        }
        if let Some(g) = own.group_by {
            opts.group_by = g;
        }
        if let Some(d) = own.group_wait {
            opts.group_wait = d;
        }
        if let Some(d) = own.group_interval {
            opts.group_interval = d;
        }
        if let Some(d) = own.repeat_interval {
            opts.repeat_interval = d;
        }
        opts.mute_time_intervals = own.mute_time_intervals;
        opts.active_time_intervals = own.active_time_intervals;
        let key = match parent {
            Some((_, parent_key)) => format!("{parent_key}/{matchers}"),
            None => matchers.to_string(),
        };
        let id = match position {
            Some(p) => format!("{key}/{p}"),
            None => key.clone(),
        };
        Route {
            opts,
            matchers,
            continue_matching,
            routes: Vec::new(),
            key,
            id,
            path,
        }
    }

    /// Alertmanager's `Route.Key()`: the matcher lists from the root down, joined by `/`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Alertmanager's `Route.ID()`: the key plus the position among its siblings.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the route is in the config file (`route.routes[1].routes[0]`).
    pub fn config_path(&self) -> &str {
        &self.path
    }

    /// The routes that take an alert with these labels, in order (Alertmanager's
    /// `Route.Match`). Empty only when this route's own matchers reject the labels.
    pub fn matches<'a>(&'a self, labels: &Labels) -> Vec<&'a Route> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect<'a>(&'a self, labels: &Labels, out: &mut Vec<&'a Route>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for child in &self.routes {
            if child.collect(labels, out) && !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// The labels of an alert that form its group on this route (`getGroupLabels`).
    pub fn group_labels(&self, alert: &Labels) -> Labels {
        match &self.opts.group_by {
            GroupBy::All => alert.clone(),
            GroupBy::Labels(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                alert.only(&names)
            }
        }
    }

    /// This route and all routes below it, depth-first in config order.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }
}

/// The options a route sets itself (before inheritance).
#[derive(Clone, Debug, Default)]
pub(crate) struct RouteSettings {
    pub receiver: Option<(String, Option<LabelTemplate>)>,
    pub group_by: Option<GroupBy>,
    pub group_wait: Option<Duration>,
    pub group_interval: Option<Duration>,
    pub repeat_interval: Option<Duration>,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// The validated `route:` tree.
#[derive(Clone, Debug)]
pub struct RouteTree {
    pub root: Route,
}

impl RouteTree {
    /// The routes that take an alert with these labels, in order; never empty, since the
    /// root matches everything.
    pub fn matches(&self, labels: &Labels) -> Vec<&Route> {
        self.root.matches(labels)
    }

    /// Every route, depth-first in config order.
    pub fn walk(&self) -> Vec<&Route> {
        self.root.walk()
    }

    /// The route with this [`Route::id`].
    pub fn by_id(&self, id: &str) -> Option<&Route> {
        self.walk().into_iter().find(|r| r.id() == id)
    }
}

/// Prints a label set as Go's `model.LabelSet.String()`: `{a="1", b="2"}`, names sorted,
/// values quoted with `%q`.
pub fn labelset_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|Label { name, value }| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The group key Alertmanager gives a group of alerts on `route` with `group_labels`
/// (`{}/{severity="page"}:{alertname="X", job="api"}`), as in the webhook's `groupKey`.
pub fn group_key(route: &Route, group_labels: &Labels) -> String {
    format!("{}:{}", route.key(), labelset_string(group_labels))
}
