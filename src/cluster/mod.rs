//! High availability: two or more replicas that page once (issue #20, DESIGN.md: a Kubernetes
//! `coordination.k8s.io/v1` Lease, no protocol of redline's own).
//!
//! Every replica runs the whole pipeline; [`Cluster`] keeps the Lease ([`lease`]) and opens
//! the alerting pipeline's [`SendGate`] only while this replica holds it, so one replica
//! sends, and pulls its peers' notification log, silences and pending notifications
//! ([`replication`]), so the holder honours silences set elsewhere, a new holder does not
//! resend what was delivered and sends at once what the old one left unacknowledged. It is started after the pipeline ([`Cluster::start`]: catch up from the peers,
//! then join the election) and stopped before it ([`Cluster::stop`], which releases the
//! Lease). Without a `cluster:` section there is no `Cluster` and the gate is always open.

pub mod lease;
pub mod replication;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::replica::SendGate;
use crate::alerting::Pipeline;
use crate::config::cluster::ClusterConfig;
use crate::config::kubernetes_sd::ApiAccess;
use crate::scrape::discovery::kubernetes::client::{self, KubeClientError};
use crate::telemetry::Telemetry;

pub use lease::{LeaseElector, LeaseError, LeaseView};
pub use replication::{ReplicaState, Replicator};

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.lease: {0}")]
    Client(#[from] KubeClientError),
}

/// Why a peer's request for this replica's state is refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerRefused {
    #[error("a peer call must carry the cluster's peer secret")]
    Unauthorized,
    #[error("{0}")]
    Secret(String),
}

/// What `/api/v2/status` and the dashboard show of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This replica's name.
    pub name: String,
    /// `ready` once this replica takes part in the election, else `settling`
    /// (Alertmanager's words).
    pub status: &'static str,
    /// The peers' base URLs.
    pub peers: Vec<String>,
    /// The Lease as last read.
    pub lease: LeaseView,
}

/// This replica's part in the cluster; clones share it.
#[derive(Clone)]
pub struct Cluster {
    config: Arc<ClusterConfig>,
    gate: SendGate,
    elector: Arc<LeaseElector>,
    replicator: Arc<Replicator>,
    pipeline: Arc<OnceLock<Pipeline>>,
    /// Set once the catch-up is done and the election joined.
    electing: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("replica", &self.config.replica)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The cluster of `config`: builds the Kubernetes client (the kubeconfig file, else the
    /// pod's service account). Nothing runs before [`Cluster::start`].
    pub async fn new(config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        let access = match &config.lease.kubeconfig_file {
            Some(path) => ApiAccess::Kubeconfig(path.clone()),
            None => ApiAccess::InCluster,
        };
        let kube = client::build(&access).await?;
        let gate = SendGate::replica();
        let elector = Arc::new(LeaseElector::new(
            kube,
            config.lease.clone(),
            config.replica.clone(),
            gate.clone(),
        ));
        let (stop, _) = watch::channel(false);
        let replicator = Arc::new(Replicator::new(
            config.replica.clone(),
            config.peers.clone(),
            config.peer_secret_file.clone(),
        ));
        Ok(Cluster {
            config: Arc::new(config.clone()),
            gate,
            elector,
            replicator,
            pipeline: Arc::new(OnceLock::new()),
            electing: Arc::new(AtomicBool::new(false)),
            stop,
            task: Arc::new(Mutex::new(None)),
        })
    }

    /// The gate the alerting pipeline's delivery asks before each send.
    pub fn gate(&self) -> SendGate {
        self.gate.clone()
    }

    /// Registers the cluster's metrics.
    pub fn register_metrics(&self, telemetry: &mut Telemetry) {
        self.elector.metrics.register(telemetry.registry_mut());
        self.replicator.metrics.register(telemetry.registry_mut());
    }

    /// Starts replicating with the peers of `pipeline`'s state: catches up from them (for
    /// at most one Lease duration), then joins the Lease election and keeps pulling every
    /// `replication_interval`.
    pub fn start(&self, pipeline: Pipeline) {
        let _ = self.pipeline.set(pipeline.clone());
        let elector = self.elector.clone();
        let replicator = self.replicator.clone();
        let electing = self.electing.clone();
        let config = self.config.clone();
        let mut stop = self.stop.subscribe();
        let gate = self.gate.clone();
        let task = tokio::spawn(async move {
            let interval = config.replication_interval;
            tokio::select! {
                _ = replicator.catch_up(&pipeline, config.lease.duration, interval) => {}
                _ = stop.changed() => return,
            }
            let election = tokio::spawn(elector.run(stop.clone()));
            electing.store(true, Ordering::Release);
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    // Taken over: send what the old holder left pending, then pull on.
                    _ = gate.opened() => {
                        pipeline.take_over_pending();
                        continue;
                    }
                    _ = stop.changed() => break,
                }
                replicator.pull_all(&pipeline).await;
            }
            let _ = election.await;
        });
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// This replica's state for a peer that sent `authorization`; `Ok(None)` before
    /// [`Cluster::start`], an error when the caller is not authorized.
    pub fn state_for_peer(
        &self,
        authorization: Option<&str>,
    ) -> Result<Option<ReplicaState>, PeerRefused> {
        match self.replicator.authorized(authorization) {
            Ok(true) => Ok(self.pipeline.get().map(|p| self.replicator.local_state(p))),
            Ok(false) => Err(PeerRefused::Unauthorized),
            Err(e) => Err(PeerRefused::Secret(e.to_string())),
        }
    }

    /// Stops sending and releases the Lease if held.
    pub async fn stop(&self) {
        // The elector closes the gate before it releases the Lease.
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
        self.gate.close();
    }

    /// The cluster as this replica sees it.
    pub fn status(&self) -> ClusterStatus {
        let started = self.electing.load(Ordering::Acquire);
        ClusterStatus {
            name: self.config.replica.clone(),
            status: if started { "ready" } else { "settling" },
            peers: self.config.peers.clone(),
            lease: self.elector.view(),
        }
    }
}
