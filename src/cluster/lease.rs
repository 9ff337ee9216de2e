//! The `coordination.k8s.io/v1` Lease that decides which replica sends, kept as client-go's
//! leader election keeps it (`leaderelection.tryAcquireOrRenew` over a `LeaseLock`).
//!
//! Every `retry_period` the elector reads the Lease (creating it on 404 with itself as holder)
//! and remembers when it last saw the record change, by its own monotonic clock. A Lease held
//! by another replica is taken only once `leaseDurationSeconds` have passed since that
//! observation with no change, or at once when its holder is empty (released). Taking or
//! renewing is a `PUT` with the `resourceVersion` read, so of two replicas writing at once one
//! gets 409 Conflict; it reads the Lease again and, finding it renewed, waits. The fields are
//! client-go's: `holderIdentity`, `leaseDurationSeconds`, `acquireTime` (kept while the same
//! holder renews), `renewTime`, and `leaseTransitions` (incremented when the holder changes).
//!
//! Fencing: a successful renewal opens the [`SendGate`] until the renewal's *start* plus
//! `renew_deadline`. A holder that cannot renew (the API server is unreachable, the request
//! hangs) closes on its own at that instant, which is before any other replica, waiting
//! `duration` (> `renew_deadline`) from a later observation, may take the Lease.
//! On shutdown the holder releases the Lease (client-go's `ReleaseOnCancel`: empty holder,
//! 1 s duration), so another replica takes it without waiting for it to expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::alerting::replica::SendGate;
use crate::config::cluster::LeaseConfig;

/// Why one round of acquiring or renewing failed (the round is retried after
/// `retry_period`).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("reading Lease {namespace}/{name}: {source}")]
    Get {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing Lease {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Lease {namespace}/{name}: no answer within {timeout:?}")]
    Timeout {
        namespace: String,
        name: String,
        timeout: Duration,
    },
}

/// The Lease's record: what client-go's `LeaderElectionRecord` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub duration_seconds: i32,
    pub acquire_time: Option<k8s_openapi::jiff::Timestamp>,
    pub renew_time: Option<k8s_openapi::jiff::Timestamp>,
    pub transitions: i32,
}

impl LeaseRecord {
    fn from_spec(spec: Option<&LeaseSpec>) -> LeaseRecord {
        let Some(s) = spec else {
            return LeaseRecord::default();
        };
        LeaseRecord {
            holder: s.holder_identity.clone().unwrap_or_default(),
            duration_seconds: s.lease_duration_seconds.unwrap_or_default(),
            acquire_time: s.acquire_time.as_ref().map(|t| t.0),
            renew_time: s.renew_time.as_ref().map(|t| t.0),
            transitions: s.lease_transitions.unwrap_or_default(),
        }
    }

    fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder.clone()),
            lease_duration_seconds: Some(self.duration_seconds),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.transitions),
            ..LeaseSpec::default()
        }
    }
}

/// The Lease as this replica sees it, for `/api/v2/status` and the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// The holder last read (empty: none).
    pub holder: String,
    /// Whether this replica may send now.
    pub is_holder: bool,
    /// The Lease's `leaseTransitions` last read.
    pub transitions: i32,
    /// The last error of a round, if the last round failed.
    pub last_error: Option<String>,
}

/// The lease's metrics.
#[derive(Clone, Debug, Default)]
pub struct LeaseMetrics {
    /// `redline_cluster_lease_holder`: 1 while this replica may send.
    pub holder: Gauge,
    /// `redline_cluster_lease_transitions`: the Lease's `leaseTransitions` last read.
    pub transitions: Gauge,
    /// `redline_cluster_lease_acquired_total`: times this replica took the Lease.
    pub acquired: Counter,
    /// `redline_cluster_lease_round_failures_total`: rounds that could not read or write it.
    pub failures: Counter,
}

impl LeaseMetrics {
    /// Registers the metrics (the registry adds the `redline_` prefix).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "cluster_lease_holder",
            "1 while this replica holds the notification Lease and may send",
            self.holder.clone(),
        );
        r.register(
            "cluster_lease_transitions",
            "The notification Lease's leaseTransitions, as last read",
            self.transitions.clone(),
        );
        r.register(
            "cluster_lease_acquired",
            "Times this replica took the notification Lease",
            self.acquired.clone(),
        );
        r.register(
            "cluster_lease_round_failures",
            "Rounds that could not read or write the notification Lease",
            self.failures.clone(),
        );
    }
}

/// What the elector saw last, with when (by this replica's monotonic clock).
struct Observed {
    record: LeaseRecord,
    at: Instant,
}

/// Keeps (or waits for) the Lease; see the module documentation.
pub struct LeaseElector {
    api: Api<Lease>,
    config: LeaseConfig,
    identity: String,
    gate: SendGate,
    observed: Mutex<Option<Observed>>,
    view: Mutex<LeaseView>,
    /// The metrics.
    pub metrics: LeaseMetrics,
}

impl LeaseElector {
    /// The elector of replica `identity` for the Lease `config` names, through `client`,
    /// opening and closing `gate`.
    pub fn new(
        client: kube::Client,
        config: LeaseConfig,
        identity: String,
        gate: SendGate,
    ) -> LeaseElector {
        LeaseElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            identity,
            gate,
            observed: Mutex::new(None),
            view: Mutex::new(LeaseView::default()),
            metrics: LeaseMetrics::default(),
        }
    }

    /// The Lease as last seen.
    pub fn view(&self) -> LeaseView {
        let mut v = self.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
        v.is_holder = self.gate.may_send();
        v
    }

    fn set_view(&self, f: impl FnOnce(&mut LeaseView)) {
        f(&mut self.view.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn get_err(&self, source: kube::Error) -> LeaseError {
        LeaseError::Get {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        }
    }

    fn write_err(&self, source: kube::Error) -> LeaseError {
        LeaseError::Write {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        }
    }

    fn our_record(
        &self,
        old: Option<&LeaseRecord>,
        now: k8s_openapi::jiff::Timestamp,
    ) -> LeaseRecord {
        let duration_seconds = self.config.duration.as_secs() as i32;
        match old {
            Some(old) if old.holder == self.identity => LeaseRecord {
                holder: self.identity.clone(),
                duration_seconds,
                acquire_time: old.acquire_time.or(Some(now)),
                renew_time: Some(now),
                transitions: old.transitions,
            },
            Some(old) => LeaseRecord {
                holder: self.identity.clone(),
                duration_seconds,
                acquire_time: Some(now),
                renew_time: Some(now),
                transitions: old.transitions + 1,
            },
            None => LeaseRecord {
                holder: self.identity.clone(),
                duration_seconds,
                acquire_time: Some(now),
                renew_time: Some(now),
                transitions: 0,
            },
        }
    }

    fn observe(&self, record: &LeaseRecord) -> Instant {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match &*observed {
            Some(o) if &o.record == record => o.at,
            _ => {
                let at = Instant::now();
                *observed = Some(Observed {
                    record: record.clone(),
                    at,
                });
                at
            }
        }
    }

    /// One round of client-go's `tryAcquireOrRenew`: `Ok(true)` when this replica holds the
    /// Lease after it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        // A 409 means another replica wrote between our read and write: read once more.
        for _ in 0..2 {
            let now = k8s_openapi::jiff::Timestamp::now();
            let lease = match self.api.get_opt(&self.config.name).await {
                Ok(l) => l,
                Err(e) => return Err(self.get_err(e)),
            };
            let Some(lease) = lease else {
                let record = self.our_record(None, now);
                let new = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(record.to_spec()),
                };
                match self.api.create(&PostParams::default(), &new).await {
                    Ok(_) => {
                        self.observe(&record);
                        self.seen(&record);
                        return Ok(true);
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => return Err(self.write_err(e)),
                }
            };
            let old = LeaseRecord::from_spec(lease.spec.as_ref());
            let observed_at = self.observe(&old);
            self.seen(&old);
            let expires = observed_at + Duration::from_secs(old.duration_seconds.max(0) as u64);
            if !old.holder.is_empty() && old.holder != self.identity && Instant::now() < expires {
                return Ok(false);
            }
            let record = self.our_record(Some(&old), now);
            let mut new = lease;
            new.spec = Some(record.to_spec());
            match self
                .api
                .replace(&self.config.name, &PostParams::default(), &new)
                .await
            {
                Ok(_) => {
                    if old.holder != self.identity {
                        self.metrics.acquired.inc();
                        tracing::info!(
                            lease = %self.config.name,
                            previous = %old.holder,
                            transitions = record.transitions,
                            "took the notification Lease: this replica sends"
                        );
                    }
                    self.observe(&record);
                    self.seen(&record);
                    return Ok(true);
                }
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(self.write_err(e)),
            }
        }
        Ok(false)
    }

    fn seen(&self, r: &LeaseRecord) {
        self.metrics.transitions.set(i64::from(r.transitions));
        self.set_view(|v| {
            v.holder = r.holder.clone();
            v.transitions = r.transitions;
        });
    }

    /// Runs rounds every `retry_period` until `stop` fires, then releases the Lease if held.
    /// A successful round opens the gate until its start plus `renew_deadline`; a failed or
    /// lost one leaves it to close at that instant.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let started = Instant::now();
            let round =
                tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew());
            match round.await {
                Ok(Ok(true)) => {
                    self.gate.open_until(started + self.config.renew_deadline);
                    self.set_view(|v| v.last_error = None);
                }
                Ok(Ok(false)) => {
                    self.gate.close();
                    self.set_view(|v| v.last_error = None);
                }
                Ok(Err(e)) => self.failed(e),
                Err(_) => self.failed(LeaseError::Timeout {
                    namespace: self.config.namespace.clone(),
                    name: self.config.name.clone(),
                    timeout: self.config.renew_deadline,
                }),
            }
            self.metrics.holder.set(i64::from(self.gate.may_send()));
            let next = started + self.config.retry_period;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        self.release().await;
    }

    fn failed(&self, e: LeaseError) {
        self.metrics.failures.inc();
        tracing::warn!(error = %e, holder = self.gate.may_send(), "notification Lease round failed");
        self.set_view(|v| v.last_error = Some(e.to_string()));
    }

    /// Closes the gate and, if this replica held the Lease, hands it back (empty holder, 1 s).
    async fn release(&self) {
        let held = self.gate.may_send();
        self.gate.close();
        self.metrics.holder.set(0);
        if !held {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let old = LeaseRecord::from_spec(lease.spec.as_ref());
        if old.holder != self.identity {
            return;
        }
        let now = k8s_openapi::jiff::Timestamp::now();
        let released = LeaseRecord {
            holder: String::new(),
            duration_seconds: 1,
            acquire_time: Some(now),
            renew_time: Some(now),
            transitions: old.transitions,
        };
        lease.spec = Some(released.to_spec());
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released the notification Lease"),
            Err(e) => tracing::warn!(error = %e, "releasing the notification Lease"),
        }
    }
}
