//! Evaluating one rule group, as Prometheus 3.x `rules/group.go` does.
//!
//! [`GroupState`] owns a loaded [`RuleGroup`] plus everything that changes between
//! evaluations: each alerting rule's [`ActiveAlerts`], the series each rule wrote last time
//! (to write staleness markers for the ones it stops producing) and each rule's health.
//! [`GroupState::eval`] runs every rule in order at one timestamp, appending results (and
//! `ALERTS` / `ALERTS_FOR_STATE`) into the store and committing per rule so that later rules
//! see earlier rules' output; it returns a [`GroupEval`] with the alerts to hand to the
//! notifier. The scheduling (when to call `eval`), persistence and HTTP live elsewhere
//! (`rules::manager`, `state`, `http`); this module has no clock and no I/O besides the store.

use super::alerting::{
    ActiveAlerts, Alert, AlertState, Candidate, RuleAlerts, DEFAULT_RESEND_DELAY,
};
use super::file::{Rule, RuleGroup, RuleKind};
use super::querier::{RemoteQuerier, RuleQuerier};
use crate::gotemplate::{QuerySample, TemplateData};
use crate::promql::Engine;
use crate::store::{Labels, Store, METRIC_NAME, STALE_NAN};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an evaluation needs from the outside world.
pub struct EvalContext<'a> {
    /// Runs the rules' queries, unless the group has a remote querier
    /// ([`GroupState::with_remote_querier`]).
    pub engine: &'a Engine,
    /// Queried by the rules and their templates; results are appended into it.
    pub store: &'a Store,
    /// The config's `external_labels`: visible to templates as `$externalLabels`, never
    /// attached to the stored series (the notifier adds them to alerts it sends).
    pub external_labels: &'a Labels,
    /// `--web.external-url`: `$externalURL` in templates.
    pub external_url: &'a str,
}

/// The result of one group evaluation.
#[derive(Clone, Debug, Default)]
pub struct GroupEval {
    /// Alerts to send now (firing ones due for (re)sending and resolved ones within their
    /// retention), with `last_sent_ms` and `valid_until_ms` already updated, one entry per
    /// alerting rule that has any, with the rule's expression. Send a resolved alert with
    /// `endsAt` = [`Alert::ends_at_ms`]. External labels are not included.
    pub to_notify: Vec<RuleAlerts>,
    /// Wall-clock time the evaluation took.
    pub duration: Duration,
    /// Samples appended to the store (results, `ALERTS*` and staleness markers).
    pub samples_appended: usize,
    /// `(rule name, error)` for each rule that failed this time.
    pub rule_errors: Vec<(String, String)>,
}

impl GroupEval {
    /// Every alert to send, over all rules.
    pub fn alerts_to_notify(&self) -> impl Iterator<Item = &Alert> {
        self.to_notify.iter().flat_map(|r| &r.alerts)
    }
}

/// A rule's health as `/api/v1/rules` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    Ok,
    Err,
}

impl Health {
    /// `"unknown"`, `"ok"` or `"err"`, as the API prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// One rule's status after its last evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleHealth {
    /// Position of the rule in [`RuleGroup::rules`].
    pub index: usize,
    pub name: String,
    /// `"recording"` or `"alerting"`.
    pub kind: &'static str,
    pub health: Health,
    pub last_error: Option<String>,
    /// When the rule was last evaluated (the group's evaluation time, ms).
    pub last_evaluation_ms: Option<i64>,
    /// How long the rule's last evaluation took.
    pub evaluation_time: Duration,
}

#[derive(Clone, Debug)]
struct RuleState {
    active: ActiveAlerts,
    health: Health,
    last_error: Option<String>,
    last_eval_ms: Option<i64>,
    eval_time: Duration,
    /// Series written by the last successful evaluation.
    prev_series: BTreeSet<Labels>,
}

impl RuleState {
    fn new() -> Self {
        RuleState {
            active: ActiveAlerts::default(),
            health: Health::Unknown,
            last_error: None,
            last_eval_ms: None,
            eval_time: Duration::ZERO,
            prev_series: BTreeSet::new(),
        }
    }
}

/// One group and its evaluation state.
#[derive(Clone, Debug)]
pub struct GroupState {
    group: Arc<RuleGroup>,
    rules: Vec<RuleState>,
    default_interval: Duration,
    default_query_offset: Duration,
    resend_delay: Duration,
    last_eval_ms: Option<i64>,
    last_duration: Duration,
    /// Series of rules removed by a reload, to mark stale at the next evaluation.
    stale_series: Vec<Labels>,
    /// `rule_query_url`: when set, queries run there instead of on the local engine.
    remote: Option<Arc<RemoteQuerier>>,
}

impl GroupState {
    /// A fresh state: no alerts, every rule's health unknown. The global evaluation interval
    /// defaults to 1m, the global query offset to 0 and the resend delay to 1m; see the
    /// `with_*` methods.
    pub fn new(group: Arc<RuleGroup>) -> Self {
        let rules = group.rules.iter().map(|_| RuleState::new()).collect();
        GroupState {
            group,
            rules,
            default_interval: Duration::from_secs(60),
            default_query_offset: Duration::ZERO,
            resend_delay: DEFAULT_RESEND_DELAY,
            last_eval_ms: None,
            last_duration: Duration::ZERO,
            stale_series: Vec::new(),
            remote: None,
        }
    }

    /// Evaluates the group's expressions (and template `query` calls) on a remote query API
    /// instead of the local engine; results and `ALERTS` are still written to the local store.
    /// `None`: locally.
    pub fn with_remote_querier(mut self, remote: Option<Arc<RemoteQuerier>>) -> Self {
        self.remote = remote;
        self
    }

    /// The global `evaluation_interval`, used when the group has no `interval`.
    pub fn with_default_interval(mut self, d: Duration) -> Self {
        self.default_interval = d;
        self
    }

    /// The global `rule_query_offset`, used when the group has no `query_offset`.
    pub fn with_default_query_offset(mut self, d: Duration) -> Self {
        self.default_query_offset = d;
        self
    }

    /// `--rules.alert.resend-delay` (default 1m).
    pub fn with_resend_delay(mut self, d: Duration) -> Self {
        self.resend_delay = d;
        self
    }

    pub fn group(&self) -> &Arc<RuleGroup> {
        &self.group
    }

    /// The effective evaluation interval.
    pub fn interval(&self) -> Duration {
        self.group.interval.unwrap_or(self.default_interval)
    }

    /// The effective query offset.
    pub fn query_offset(&self) -> Duration {
        self.group.query_offset.unwrap_or(self.default_query_offset)
    }

    /// When the group was last evaluated (ms) and how long that took.
    pub fn last_evaluation(&self) -> (Option<i64>, Duration) {
        (self.last_eval_ms, self.last_duration)
    }

    /// Evaluates every rule in order at `t_ms`: queries run at `t_ms - query_offset` and
    /// results are written at that time; alert timestamps (`active_at`, `fired_at`, sends)
    /// use `t_ms`. Each rule's output is committed before the next rule runs. A series a rule
    /// wrote last time and not this time gets a staleness marker. A failing rule keeps its
    /// previous series (no markers), is marked unhealthy and sends nothing.
    pub fn eval(&mut self, ctx: &EvalContext, t_ms: i64) -> GroupEval {
        let started = Instant::now();
        let offset_ms = self.query_offset().as_millis() as i64;
        let ts = t_ms - offset_ms;
        let interval = self.interval();
        let mut out = GroupEval::default();

        if !self.stale_series.is_empty() {
            let mut app = ctx.store.appender();
            for l in self.stale_series.drain(..) {
                if app.append(&l, ts, STALE_NAN).is_ok() {
                    out.samples_appended += 1;
                }
            }
            app.commit();
        }

        let group = self.group.clone();
        let remote = self.remote.clone();
        let querier = match &remote {
            Some(r) => RuleQuerier::Remote {
                querier: r,
                timeout: r.timeout_for(interval),
            },
            None => RuleQuerier::Local {
                engine: ctx.engine,
                store: ctx.store,
            },
        };
        for (i, rule) in group.rules.iter().enumerate() {
            let rule_start = Instant::now();
            let st = &mut self.rules[i];
            st.last_eval_ms = Some(t_ms);
            let result = match &rule.kind {
                RuleKind::Recording { record } => {
                    eval_recording(&querier, rule, record, ts, group.limit)
                }
                RuleKind::Alerting {
                    for_,
                    keep_firing_for,
                    ..
                } => eval_alerting(
                    ctx,
                    &querier,
                    rule,
                    &mut st.active,
                    t_ms,
                    ts,
                    *for_,
                    *keep_firing_for,
                    group.limit,
                )
                .map(|samples| samples.into_iter().map(|(l, v)| (l, v, None)).collect()),
            };
            match result {
                Err(e) => {
                    st.health = Health::Err;
                    st.last_error = Some(e.clone());
                    out.rule_errors.push((rule.name().to_string(), e));
                }
                Ok(samples) => {
                    st.health = Health::Ok;
                    st.last_error = None;
                    if rule.is_alerting() {
                        let alerts = st.active.take_to_send(t_ms, self.resend_delay, interval);
                        if !alerts.is_empty() {
                            out.to_notify.push(RuleAlerts {
                                expr: rule.expr.clone(),
                                alerts,
                            });
                        }
                    }
                    let mut app = ctx.store.appender();
                    let mut now_series = BTreeSet::new();
                    for (labels, v, h) in samples {
                        let appended = match h {
                            Some(h) => app.append_histogram(&labels, ts, (*h).clone()).is_ok(),
                            None => app.append(&labels, ts, v).is_ok(),
                        };
                        if appended {
                            out.samples_appended += 1;
                        }
                        now_series.insert(labels);
                    }
                    for gone in st.prev_series.difference(&now_series) {
                        if app.append(gone, ts, STALE_NAN).is_ok() {
                            out.samples_appended += 1;
                        }
                    }
                    app.commit();
                    st.prev_series = now_series;
                }
            }
            st.eval_time = rule_start.elapsed();
        }
        out.duration = started.elapsed();
        self.last_eval_ms = Some(t_ms);
        self.last_duration = out.duration;
        out
    }

    /// Active (pending and firing) alerts of every alerting rule: `(rule name, alert)`.
    pub fn alerts(&self) -> Vec<(String, Alert)> {
        self.all_alerts()
            .into_iter()
            .filter(|(_, a)| a.state != AlertState::Inactive)
            .collect()
    }

    /// Every alert including resolved ones still retained (what to persist).
    pub fn all_alerts(&self) -> Vec<(String, Alert)> {
        let mut out = Vec::new();
        for (rule, st) in self.group.rules.iter().zip(&self.rules) {
            for a in st.active.iter() {
                out.push((rule.name().to_string(), a.clone()));
            }
        }
        out
    }

    /// Per-rule health, in rule order.
    pub fn rules_health(&self) -> Vec<RuleHealth> {
        self.group
            .rules
            .iter()
            .zip(&self.rules)
            .enumerate()
            .map(|(index, (r, st))| RuleHealth {
                index,
                name: r.name().to_string(),
                kind: if r.is_alerting() {
                    "alerting"
                } else {
                    "recording"
                },
                health: st.health,
                last_error: st.last_error.clone(),
                last_evaluation_ms: st.last_eval_ms,
                evaluation_time: st.eval_time,
            })
            .collect()
    }

    /// Puts persisted alerts back into the first alerting rule named `rule` (pending `for`
    /// clocks, firing state, `keep_firing_for`, resolved alerts still to re-send). Unknown
    /// rule names are ignored.
    pub fn restore(&mut self, rule: &str, alerts: Vec<Alert>) {
        if let Some(i) = self
            .group
            .rules
            .iter()
            .position(|r| r.is_alerting() && r.name() == rule)
        {
            self.rules[i].active.restore(alerts);
        }
    }

    /// Carries state over from the group's previous version after a reload (upstream
    /// `CopyState`): rules matched by name and labels keep their alerts and previous series;
    /// series of rules that disappeared get staleness markers at the next evaluation.
    pub fn copy_state_from(&mut self, old: &GroupState) {
        self.last_eval_ms = old.last_eval_ms;
        self.last_duration = old.last_duration;
        let key = |r: &Rule| (r.name().to_string(), r.labels.clone());
        let mut used = vec![false; old.group.rules.len()];
        for (i, r) in self.group.rules.iter().enumerate() {
            let k = key(r);
            let found = old
                .group
                .rules
                .iter()
                .enumerate()
                .position(|(fi, fr)| !used[fi] && key(fr) == k);
            if let Some(fi) = found {
                used[fi] = true;
                let from = &old.rules[fi];
                self.rules[i].prev_series = from.prev_series.clone();
                if r.is_alerting() && old.group.rules[fi].is_alerting() {
                    self.rules[i].active = from.active.clone();
                }
                self.rules[i].health = from.health;
                self.rules[i].last_error = from.last_error.clone();
                self.rules[i].last_eval_ms = from.last_eval_ms;
            }
        }
        self.stale_series = old.stale_series.clone();
        for (fi, u) in used.iter().enumerate() {
            if !u {
                self.stale_series
                    .extend(old.rules[fi].prev_series.iter().cloned());
            }
        }
    }

    /// Writes staleness markers at `t_ms` for every series the group's rules wrote last, for
    /// a group removed by a reload (upstream `markStale` on stop). Returns the markers written.
    pub fn mark_stale(&self, store: &Store, t_ms: i64) -> usize {
        let mut app = store.appender();
        let mut n = 0;
        for st in &self.rules {
            for l in st.prev_series.iter().chain(&self.stale_series) {
                if app.append(l, t_ms, STALE_NAN).is_ok() {
                    n += 1;
                }
            }
        }
        app.commit();
        n
    }
}

/// A query function for templates (`{{ query "..." }}`) evaluating at `t_ms`; the
/// template engine takes the error's text.
fn template_query<'a>(
    querier: &'a RuleQuerier<'a>,
    t_ms: i64,
) -> impl Fn(&str) -> Result<Vec<QuerySample>, String> + 'a {
    move |q: &str| querier.query_text(q, t_ms).map_err(|e| e.to_string())
}

/// A sample a rule writes: labels, float value, and for a recording rule whose result is a
/// native histogram, the histogram (recorded as a histogram sample, as Prometheus does).
type RuleSample = (Labels, f64, Option<Arc<crate::histogram::FloatHistogram>>);

fn eval_recording(
    querier: &RuleQuerier,
    rule: &Rule,
    record: &str,
    ts: i64,
    limit: usize,
) -> Result<Vec<RuleSample>, String> {
    // The rule's health text (`lastError`) is the error's text.
    let res = querier
        .query(&rule.query, &rule.expr, ts)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(res.len());
    let mut seen = BTreeSet::new();
    for s in res {
        let mut l = s.labels.with(METRIC_NAME, record);
        for rl in rule.labels.iter() {
            l = l.with(&rl.name, &rl.value);
        }
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels"
                    .to_string(),
            );
        }
        out.push((l, s.value, s.histogram));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn eval_alerting(
    ctx: &EvalContext,
    querier: &RuleQuerier,
    rule: &Rule,
    active: &mut ActiveAlerts,
    t_ms: i64,
    ts: i64,
    for_: Duration,
    keep_firing_for: Duration,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let RuleKind::Alerting {
        alert, annotations, ..
    } = &rule.kind
    else {
        return Ok(Vec::new());
    };
    // The rule's health text (`lastError`) is the error's text.
    let res = querier
        .query(&rule.query, &rule.expr, ts)
        .map_err(|e| e.to_string())?;
    let query = template_query(querier, t_ms);
    let mut seen = BTreeSet::new();
    let mut candidates = Vec::with_capacity(res.len());
    for s in res {
        let data = TemplateData {
            labels: &s.labels,
            external_labels: ctx.external_labels,
            external_url: ctx.external_url,
            value: s.value,
        };
        let mut l = s.labels.without(&[METRIC_NAME]);
        for (name, t) in &rule.label_templates {
            l = l.with(name, &t.expand(&data, &query));
        }
        l = l.with("alertname", alert);
        let anns = Labels::from_pairs(
            annotations
                .iter()
                .map(|(k, t)| (k.clone(), t.expand(&data, &query))),
        );
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels"
                    .to_string(),
            );
        }
        candidates.push(Candidate {
            labels: l,
            annotations: anns,
            value: s.value,
        });
    }
    let n = active.update(candidates, t_ms, for_, keep_firing_for);
    if limit > 0 && n > limit {
        active.clear();
        return Err(format!("exceeded limit of {limit} with {n} alerts"));
    }
    let mut out = Vec::new();
    for a in active.iter().filter(|a| a.state != AlertState::Inactive) {
        let mut base = rule.labels.clone();
        for l in a.labels.iter() {
            base = base.with(&l.name, &l.value);
        }
        base = base.with("alertname", alert);
        out.push((
            base.with(METRIC_NAME, "ALERTS")
                .with("alertstate", a.state.as_str()),
            1.0,
        ));
        out.push((
            base.with(METRIC_NAME, "ALERTS_FOR_STATE"),
            a.active_at_ms.div_euclid(1000) as f64,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
