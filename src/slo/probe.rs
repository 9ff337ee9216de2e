//! redline's own HTTP prober, the source of `kind: probe` SLIs.
//!
//! A [`Prober`] sends the spec's request (method, URL, timeout) every `interval`; a probe is
//! good when it answers with the expected status within the timeout. Each outcome adds one
//! event to the SLO's accumulator, which the engine drains every ledger step, and its
//! latency goes into an `hdrhistogram` (microseconds, 3 significant digits), from which the
//! p50/p90/p99/p99.9 are read exactly to the histogram's 3 significant digits. Each probe also writes the series `probe_success`,
//! `probe_duration_seconds` and `redline_probe_latency_seconds{quantile=…}` into the store,
//! labelled with the SLO (`slo`, `service`) and the `url`.

use super::figures::Counts;
use super::spec::ProbeSpec;
use crate::store::{Labels, Store};
use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The quantiles reported.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// One probe's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeOutcome {
    pub success: bool,
    pub duration: Duration,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// Why it failed (connection error, timeout, unexpected status).
    pub error: Option<String>,
}

/// Latencies and the last outcome of one prober.
#[derive(Debug)]
pub struct ProbeStats {
    /// Latencies in microseconds.
    pub latency_us: Histogram<u64>,
    pub last: Option<ProbeOutcome>,
    pub probes: u64,
    pub failures: u64,
}

impl ProbeStats {
    fn new() -> ProbeStats {
        ProbeStats {
            // 1 µs … 1 hour with 3 significant digits (static, valid bounds).
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            last: None,
            probes: 0,
            failures: 0,
        }
    }

    /// `(quantile, seconds)` for [`QUANTILES`]; empty before the first probe.
    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        if self.latency_us.is_empty() {
            return Vec::new();
        }
        QUANTILES
            .iter()
            .map(|q| (*q, self.latency_us.value_at_quantile(*q) as f64 / 1e6))
            .collect()
    }
}

/// Sends one probe.
pub async fn probe_once(client: &reqwest::Client, spec: &ProbeSpec) -> ProbeOutcome {
    let method =
        reqwest::Method::from_bytes(spec.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let started = Instant::now();
    let result = tokio::time::timeout(spec.timeout, async {
        let resp = client.request(method, &spec.url).send().await?;
        let status = resp.status().as_u16();
        // Read the body so the latency covers the whole response.
        let _ = resp.bytes().await;
        Ok::<u16, reqwest::Error>(status)
    })
    .await;
    let duration = started.elapsed();
    match result {
        Ok(Ok(status)) if status == spec.expected_status => ProbeOutcome {
            success: true,
            duration,
            status: Some(status),
            error: None,
        },
        Ok(Ok(status)) => ProbeOutcome {
            success: false,
            duration,
            status: Some(status),
            error: Some(format!(
                "status {status}, expected {}",
                spec.expected_status
            )),
        },
        Ok(Err(e)) => ProbeOutcome {
            success: false,
            duration,
            status: None,
            error: Some(e.to_string()),
        },
        Err(_) => ProbeOutcome {
            success: false,
            duration,
            status: None,
            error: Some(format!("timed out after {:?}", spec.timeout)),
        },
    }
}

/// A running prober.
pub struct Prober {
    pub stats: Arc<Mutex<ProbeStats>>,
    pub task: JoinHandle<()>,
}

/// Records one outcome: the SLO's events, the histogram and the series.
pub fn record(
    outcome: &ProbeOutcome,
    events: &Mutex<Counts>,
    stats: &Mutex<ProbeStats>,
    store: &Store,
    base: &Labels,
    now_ms: i64,
) {
    if let Ok(mut c) = events.lock() {
        c.total += 1.0;
        if !outcome.success {
            c.bad += 1.0;
        }
    }
    let quantiles = match stats.lock() {
        Ok(mut s) => {
            let us = (outcome.duration.as_micros() as u64).max(1);
            let _ = s.latency_us.record(us);
            s.probes += 1;
            if !outcome.success {
                s.failures += 1;
            }
            s.last = Some(outcome.clone());
            s.quantiles()
        }
        Err(_) => Vec::new(),
    };
    let mut app = store.appender();
    let named = |n: &str| base.with("__name__", n);
    let _ = app.append(
        &named("probe_success"),
        now_ms,
        if outcome.success { 1.0 } else { 0.0 },
    );
    let _ = app.append(
        &named("probe_duration_seconds"),
        now_ms,
        outcome.duration.as_secs_f64(),
    );
    for (q, v) in quantiles {
        let l = named("redline_probe_latency_seconds").with("quantile", &q.to_string());
        let _ = app.append(&l, now_ms, v);
    }
    app.commit();
}

/// Starts probing `spec` every interval until `stop` turns true.
pub fn spawn(
    spec: ProbeSpec,
    labels: Labels,
    events: Arc<Mutex<Counts>>,
    store: Arc<Store>,
    mut stop: watch::Receiver<bool>,
) -> Prober {
    crate::install_crypto_provider();
    let stats = Arc::new(Mutex::new(ProbeStats::new()));
    let st = stats.clone();
    let base = labels.with("url", &spec.url);
    let task = tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(spec.timeout).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(url = %spec.url, error = %e, "cannot build the probe's HTTP client");
                return;
            }
        };
        let mut tick = tokio::time::interval(spec.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let outcome = probe_once(&client, &spec).await;
            if let Some(e) = &outcome.error {
                tracing::debug!(url = %spec.url, error = %e, "probe failed");
            }
            record(
                &outcome,
                &events,
                &st,
                &store,
                &base,
                crate::timefmt::now_ms(),
            );
        }
    });
    Prober { stats, task }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Matcher, Querier};
    use axum::http::StatusCode;
    use axum::routing::get;

    async fn server() -> std::net::SocketAddr {
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/fail",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        addr
    }

    fn spec(addr: std::net::SocketAddr, path: &str) -> ProbeSpec {
        ProbeSpec {
            method: "GET".into(),
            url: format!("http://{addr}{path}"),
            expected_status: 200,
            timeout: Duration::from_millis(300),
            interval: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn probes_count_good_and_bad_events_and_write_series() {
        crate::install_crypto_provider();
        let addr = server().await;
        let client = reqwest::Client::new();
        let store = Store::new();
        let events = Mutex::new(Counts::default());
        let stats = Mutex::new(ProbeStats::new());
        let base = Labels::from_pairs([("slo", "home"), ("service", "web")]);
        for (i, path) in ["/ok", "/ok", "/fail", "/slow"].iter().enumerate() {
            let o = probe_once(&client, &spec(addr, path)).await;
            match *path {
                "/ok" => assert!(o.success, "{o:?}"),
                "/fail" => {
                    assert!(!o.success);
                    assert_eq!(o.status, Some(503));
                }
                _ => {
                    assert!(!o.success);
                    assert!(
                        o.error.as_deref().unwrap_or("").contains("timed out"),
                        "{o:?}"
                    );
                }
            }
            record(&o, &events, &stats, &store, &base, 1_000 * (i as i64 + 1));
        }
        assert_eq!(*events.lock().unwrap(), Counts::new(2.0, 4.0));
        let s = stats.lock().unwrap();
        assert_eq!(s.probes, 4);
        assert_eq!(s.failures, 2);
        let q = s.quantiles();
        assert_eq!(q.len(), 4);
        assert!(q.windows(2).all(|w| w[0].1 <= w[1].1), "{q:?}");
        // The timed-out probe took at least the 300ms timeout: p99.9 is it.
        assert!(q[3].1 >= 0.3, "{q:?}");
        let got = store.select(&[Matcher::equal("__name__", "probe_success")], 0, 10_000);
        let vals: Vec<f64> = got[0].samples.iter().map(|p| p.v).collect();
        assert_eq!(vals, vec![1.0, 1.0, 0.0, 0.0]);
        let lat = store.select(
            &[Matcher::equal("__name__", "redline_probe_latency_seconds")],
            0,
            10_000,
        );
        assert_eq!(lat.len(), 4, "one series per quantile");
    }

    #[test]
    fn histogram_quantiles_are_exact_for_recorded_values() {
        let mut s = ProbeStats::new();
        for us in 1..=1000u64 {
            s.latency_us.record(us * 1000).unwrap();
        }
        let q = s.quantiles();
        // Exact to the histogram's 3 significant digits.
        for ((got_q, got), want) in q.iter().zip([0.5, 0.9, 0.99, 0.999]) {
            assert_eq!(*got_q, want);
            assert!((got - want).abs() <= want * 1e-3, "p{want}: {got}");
        }
    }
}
