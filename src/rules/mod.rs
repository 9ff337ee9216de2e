//! Prometheus rule files: loading, evaluation, alert state, templates and promtool tests.
//!
//! [`mod@file`] reads rule files as Prometheus does into [`RuleGroup`]s (errors name file and
//! line). [`group::GroupState`] evaluates one group at a time stamp over the store: recording
//! rules append their results, alerting rules drive [`alerting`]'s state machine and append
//! `ALERTS`/`ALERTS_FOR_STATE`, and the alerts due for notification come back in a
//! [`GroupEval`]. Queries run on the local engine or, with `rule_query_url`, on a remote
//! Prometheus-compatible API ([`querier`]). Annotations and alert labels are Go templates
//! ([`crate::gotemplate`]). [`promtool`] runs `promtool test rules` files unchanged. Scheduling,
//! reload, persistence and the HTTP endpoints are built on these types elsewhere
//! (`rules::manager`, `rules::api`, `state`).
//!
//! ```
//! use redline::promql::Engine;
//! use redline::rules::{parse_rule_file, EvalContext, GroupState};
//! use redline::store::{Labels, Store};
//! use std::sync::Arc;
//!
//! let yaml = "groups:\n- name: g\n  rules:\n  - alert: Always\n    expr: vector(1)\n";
//! let groups = parse_rule_file("r.yml".as_ref(), yaml).unwrap();
//! let mut state = GroupState::new(Arc::new(groups[0].clone()));
//! let (engine, store, ext) = (Engine::default(), Store::new(), Labels::empty());
//! let ctx = EvalContext { engine: &engine, store: &store, external_labels: &ext, external_url: "" };
//! let out = state.eval(&ctx, 60_000);
//! assert_eq!(out.to_notify.len(), 1);
//! assert_eq!(out.to_notify[0].expr, "vector(1)");
//! assert_eq!(out.to_notify[0].alerts[0].labels.get("alertname"), Some("Always"));
//! ```

pub mod alerting;
pub mod api;
pub mod file;
pub mod group;
pub mod manager;
pub mod promtool;
pub mod querier;

pub use crate::gotemplate::{QuerySample, Template, TemplateData, TemplateError};
pub use alerting::{Alert, AlertState, RuleAlerts, DEFAULT_RESEND_DELAY, RESOLVED_RETENTION};
pub use file::{
    check_rule_files, expand_rule_patterns, load_rule_file, load_rule_file_with, load_rule_files,
    parse_rule_file, parse_rule_file_with, write_check_report, Rule, RuleFileError, RuleGroup,
    RuleKind,
};
pub use group::{EvalContext, GroupEval, GroupState, Health, RuleHealth};
