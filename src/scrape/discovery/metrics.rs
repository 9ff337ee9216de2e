//! What discovery reports about itself on `/metrics`, as Prometheus' `prometheus_sd_*`
//! counters: HTTP SD refresh failures, DNS SD lookups and lookup failures.
//!
//! Each failure is an event ([`HttpSdFailed`], [`DnsLookup`]) whose `emit()` logs it and bumps
//! the matching counter, so the log and `/metrics` agree. The counters are process-wide (a
//! provider runs without a handle to the service's registry); [`SdCollector`] reads them when
//! `/metrics` is encoded.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

static HTTP_FAILURES: AtomicU64 = AtomicU64::new(0);
static DNS_LOOKUPS: AtomicU64 = AtomicU64::new(0);
static DNS_LOOKUP_FAILURES: AtomicU64 = AtomicU64::new(0);

/// An http_sd refresh that failed; the previous targets stay.
pub struct HttpSdFailed<'a> {
    pub url: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl HttpSdFailed<'_> {
    pub fn emit(&self) {
        HTTP_FAILURES.fetch_add(1, Ordering::Relaxed);
        tracing::error!(url = %self.url, error = %self.error, "http_sd: unable to refresh target groups; keeping the previous ones");
    }
}

/// One dns_sd lookup of a configured name, and its error if it failed (the name then keeps
/// its previous targets).
pub struct DnsLookup<'a> {
    pub name: &'a str,
    pub error: Option<&'a dyn std::fmt::Display>,
}

impl DnsLookup<'_> {
    pub fn emit(&self) {
        DNS_LOOKUPS.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = self.error {
            DNS_LOOKUP_FAILURES.fetch_add(1, Ordering::Relaxed);
            tracing::error!(name = %self.name, error = %e, "dns_sd: error refreshing DNS targets; keeping the previous ones");
        }
    }
}

/// Encodes the discovery counters (`redline_sd_http_failures_total`,
/// `redline_sd_dns_lookups_total`, `redline_sd_dns_lookup_failures_total`).
#[derive(Debug)]
pub struct SdCollector;

impl Collector for SdCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        for (name, help, v) in [
            (
                "sd_http_failures",
                "http_sd refreshes that failed",
                &HTTP_FAILURES,
            ),
            (
                "sd_dns_lookups",
                "dns_sd lookups of configured names",
                &DNS_LOOKUPS,
            ),
            (
                "sd_dns_lookup_failures",
                "dns_sd lookups that failed",
                &DNS_LOOKUP_FAILURES,
            ),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            let m = e.encode_descriptor(name, help, None, c.metric_type())?;
            c.encode(m)?;
        }
        Ok(())
    }
}
