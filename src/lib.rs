//! redline: monitoring and alerting for SRE teams running Kubernetes.
//!
//! One binary scrapes Prometheus-format endpoints, keeps recent samples in an embedded store,
//! evaluates PromQL rules over them and serves Prometheus-compatible APIs. The modules follow
//! the data flow: [`exposition`] parses a scrape into a sink, [`store`] keeps the samples,
//! [`scrape`] runs the targets, [`http`] serves the APIs.

#![forbid(unsafe_code)]

pub mod config;
pub mod exposition;
pub mod http;
pub mod promql;
pub mod scrape;
pub mod store;
