//! redline: monitoring and alerting for SRE teams running Kubernetes.
//!
//! One binary scrapes Prometheus-format endpoints, keeps recent samples in an embedded store,
//! evaluates PromQL and Prometheus rule files over them, computes SLO budgets and burn rates,
//! routes alerts to their owners and serves Prometheus- and Alertmanager-compatible APIs and
//! a dashboard. The modules form one-way layers (docs/ARCHITECTURE.md keeps the table and
//! `tests/architecture.rs` enforces it); from the bottom:
//!
//! - leaves: [`exposition`] parses a scrape into a sink; [`timefmt`] (durations, timestamps,
//!   calendar), [`gostrconv`] (Go's number and string printing), [`clock`], [`backoff`],
//!   [`logging`] and [`testdir`] (the tests' self-removing temporary directory);
//! - [`store`] keeps the samples; [`promql`] evaluates queries over it; [`relabel`],
//!   [`gotemplate`] (Go templates for rules and notifications), [`telemetry`] (redline's own
//!   metrics) and [`state`] (the SQLite database) are machinery the subsystems share;
//! - [`config`] is the typed configuration of every subsystem, [`httpclient`] the outbound
//!   HTTP client built from it;
//! - the subsystems: [`scrape`] runs discovery and targets, [`remote`] sends to remote-write
//!   receivers, [`rules`] evaluates rule groups, [`alerting`] routes, groups, deduplicates
//!   and delivers notifications, [`notifier`] sends rule alerts to the Alertmanagers of
//!   `alerting:` as Prometheus does; [`slo`] turns SLO specs into budgets, burn rates and alerts;
//! - [`http`] serves the APIs and the dashboard, [`service`] wires the tasks of `redline run`
//!   together, and [`demo`] runs it against a synthetic cluster.
//!
//! The main path, from an exposition body to a query answer:
//!
//! ```
//! use redline::exposition::{self, Format, ParseOptions, Sample, Sink, SinkError};
//! use redline::store::{Labels, Querier, Matcher, Store, StoreOptions};
//!
//! struct Append<'a>(redline::store::Appender<'a>);
//! impl Sink for Append<'_> {
//!     fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
//!         let mut pairs = vec![("__name__".to_string(), s.name.to_string())];
//!         pairs.extend(s.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())));
//!         self.0
//!             .append(&Labels::from_pairs(pairs), 1_000, s.value)
//!             .map(|_| ())
//!             .map_err(|e| SinkError(e.to_string()))
//!     }
//! }
//!
//! let store = Store::with_options(StoreOptions::default());
//! let body = b"# TYPE up gauge\nup{job=\"node\"} 1\n";
//! let mut sink = Append(store.appender());
//! exposition::parse(body, Format::PrometheusText, &ParseOptions::default(), &mut sink).unwrap();
//! sink.0.commit();
//!
//! let found = store.select(&[Matcher::equal("__name__", "up")], 0, 2_000);
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].labels.get("job"), Some("node"));
//! assert_eq!(found[0].samples[0].v, 1.0);
//! ```

#![forbid(unsafe_code)]

pub mod alerting;
pub mod backoff;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod exposition;
pub mod features;
pub mod gostrconv;
pub mod gotemplate;
pub mod histogram;
pub mod http;
pub mod httpclient;
pub mod logging;
pub mod notifier;
pub mod promql;
pub mod relabel;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod service;
pub mod slo;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod testdir;
pub mod timefmt;

/// Installs the process-wide rustls crypto provider (ring) once; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
