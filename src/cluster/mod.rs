//! High availability: two or more replicas that page once (issue #20, DESIGN.md: a Kubernetes
//! `coordination.k8s.io/v1` Lease, no protocol of redline's own).
//!
//! Every replica runs the whole pipeline; [`Cluster`] keeps the Lease ([`lease`]) and opens
//! the alerting pipeline's [`SendGate`] only while this replica holds it, so one replica
//! sends. It is started after the pipeline ([`Cluster::start`]) and stopped before it
//! ([`Cluster::stop`], which releases the Lease). Without a `cluster:` section there is no
//! `Cluster` and the gate is always open.

pub mod lease;

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::replica::SendGate;
use crate::config::cluster::ClusterConfig;
use crate::config::kubernetes_sd::ApiAccess;
use crate::scrape::discovery::kubernetes::client::{self, KubeClientError};
use crate::telemetry::Telemetry;

pub use lease::{LeaseElector, LeaseError, LeaseView};

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.lease: {0}")]
    Client(#[from] KubeClientError),
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
        Ok(Cluster {
            config: Arc::new(config.clone()),
            gate,
            elector,
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
    }

    /// Starts taking part in the Lease election.
    pub fn start(&self) {
        let task = tokio::spawn(self.elector.clone().run(self.stop.subscribe()));
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Stops sending and releases the Lease if held.
    pub async fn stop(&self) {
        self.gate.close();
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// The cluster as this replica sees it.
    pub fn status(&self) -> ClusterStatus {
        let started = self
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        ClusterStatus {
            name: self.config.replica.clone(),
            status: if started { "ready" } else { "settling" },
            peers: self.config.peers.clone(),
            lease: self.elector.view(),
        }
    }
}
