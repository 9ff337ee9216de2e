//! Replication between replicas over HTTP: each replica pulls every peer's notification log,
//! silences, acknowledgements and pending notifications (`GET <peer>/api/cluster/v1/state`) every
//! `replication_interval`. Log entries and silences are merged, the newer entry winning
//! (Alertmanager's merge rules: a log entry sent later, a silence written later; an
//! acknowledgement like a silence). So a
//! silence created or expired on any replica is in force on the others within about one
//! interval, and a new Lease holder does not send again what the old one delivered and
//! logged. A peer's pending notifications (decided, not yet acknowledged) replace what it
//! reported before; a replica that takes the Lease sends them at once
//! ([`crate::alerting::Pipeline::take_over_pending`]). At start a replica pulls once from
//! every peer before it may take the Lease ([`Replicator::catch_up`]).
//!
//! With `peer_secret_file`, calls carry `Authorization: Bearer <secret>` and the state is
//! served only to callers that send it; without, the state is served to anyone who can reach
//! the port (trust the network: loopback, or the pod network behind a NetworkPolicy).

use std::path::PathBuf;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::alerting::delivery::PendingNotification;
use crate::alerting::Pipeline;
use crate::state::acks::AckRow;
use crate::state::pipeline::NflogRow;
use crate::state::silences::SilenceRow;

/// The path peers serve their state at.
pub const STATE_PATH: &str = "/api/cluster/v1/state";

/// How long one call to a peer may take. Peers are in the same cluster; a call that takes
/// longer than this is as good as failed, and the next interval tries again.
pub const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// What one replica serves its peers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaState {
    /// The serving replica's name.
    pub replica: String,
    pub silences: Vec<SilenceRow>,
    pub nflog: Vec<NflogRow>,
    /// What the serving replica decided to send and has not had acknowledged.
    #[serde(default)]
    pub pending: Vec<PendingNotification>,
    /// Acknowledgements of aggregation groups, merged as silences are.
    #[serde(default)]
    pub acks: Vec<AckRow>,
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer {peer}: {message}")]
    Call { peer: String, message: String },
    #[error("reading cluster.peer_secret_file {path}: {source}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type PeerLabels = Vec<(&'static str, String)>;

/// The replication's metrics.
#[derive(Clone, Debug, Default)]
pub struct ReplicationMetrics {
    /// `redline_cluster_peer_calls_failed_total{peer}`.
    pub failed: Family<PeerLabels, Counter>,
    /// `redline_cluster_peer_calls_total{peer}`.
    pub calls: Family<PeerLabels, Counter>,
    /// `redline_cluster_peer_last_pull_timestamp_seconds{peer}`: when the peer's state was
    /// last merged (the replication lag is `time()` minus this).
    pub last_pull: Family<PeerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// `redline_cluster_replicated_silences_total`: silences taken from peers.
    pub silences: Counter,
    /// `redline_cluster_replicated_nflog_entries_total`: log entries taken from peers.
    pub nflog: Counter,
    /// `redline_cluster_replicated_acks_total`: acknowledgements new here taken from peers.
    pub acks: Counter,
}

impl ReplicationMetrics {
    /// Registers the metrics (the registry adds the `redline_` prefix).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "cluster_peer_calls",
            "Calls to peers for their state",
            self.calls.clone(),
        );
        r.register(
            "cluster_peer_calls_failed",
            "Calls to peers for their state that failed",
            self.failed.clone(),
        );
        r.register(
            "cluster_peer_last_pull_timestamp_seconds",
            "When each peer's state was last pulled and merged, unix seconds",
            self.last_pull.clone(),
        );
        r.register(
            "cluster_replicated_silences",
            "Silences taken from peers (new, or written later than ours)",
            self.silences.clone(),
        );
        r.register(
            "cluster_replicated_nflog_entries",
            "Notification log entries taken from peers (sent later than ours)",
            self.nflog.clone(),
        );
        r.register(
            "cluster_replicated_acks",
            "Acknowledgements taken from peers that were new here",
            self.acks.clone(),
        );
    }
}

/// Reads the shared secret (trailing whitespace dropped).
pub fn read_secret(path: &std::path::Path) -> Result<String, PeerError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end().to_string())
        .map_err(|source| PeerError::Secret {
            path: path.display().to_string(),
            source,
        })
}

/// Pulls and merges peers' state.
pub struct Replicator {
    replica: String,
    peers: Vec<String>,
    secret_file: Option<PathBuf>,
    client: reqwest::Client,
    /// The metrics.
    pub metrics: ReplicationMetrics,
}

impl Replicator {
    /// The replicator of replica `replica` over `peers`.
    pub fn new(replica: String, peers: Vec<String>, secret_file: Option<PathBuf>) -> Replicator {
        Replicator {
            replica,
            peers,
            secret_file,
            client: reqwest::Client::builder()
                .timeout(PEER_CALL_TIMEOUT)
                .build()
                .unwrap_or_default(),
            metrics: ReplicationMetrics::default(),
        }
    }

    /// This replica's state, as served to peers.
    pub fn local_state(&self, pipeline: &Pipeline) -> ReplicaState {
        ReplicaState {
            replica: self.replica.clone(),
            silences: pipeline.silences().rows(),
            nflog: pipeline.nflog_rows(),
            pending: pipeline.pending_notifications(),
            acks: pipeline.acks().rows(),
        }
    }

    /// Whether a caller that sent `authorization` may read the state.
    pub fn authorized(&self, authorization: Option<&str>) -> Result<bool, PeerError> {
        let Some(path) = &self.secret_file else {
            return Ok(true);
        };
        let secret = read_secret(path)?;
        let sent = authorization.and_then(|a| a.strip_prefix("Bearer "));
        // Compared in constant time: the secret is the only thing guarding the state.
        Ok(sent.is_some_and(|s| {
            s.len() == secret.len()
                && s.bytes()
                    .zip(secret.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        }))
    }

    async fn fetch(&self, peer: &str) -> Result<ReplicaState, PeerError> {
        let err = |message: String| PeerError::Call {
            peer: peer.to_string(),
            message,
        };
        let mut req = self.client.get(format!("{peer}{STATE_PATH}"));
        if let Some(path) = &self.secret_file {
            req = req.bearer_auth(read_secret(path)?);
        }
        let resp = req.send().await.map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!("answered {status}")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| err(format!("reading its state: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| err(format!("decoding its state: {e}")))
    }

    /// Pulls every peer once and merges what it holds; returns how many peers answered.
    pub async fn pull_all(&self, pipeline: &Pipeline) -> usize {
        let mut answered = 0;
        for peer in &self.peers {
            let labels: PeerLabels = vec![("peer", peer.clone())];
            self.metrics.calls.get_or_create(&labels).inc();
            match self.fetch(peer).await {
                Ok(state) => {
                    answered += 1;
                    self.merge(pipeline, state).await;
                    let now = pipeline.now_ms() as f64 / 1000.0;
                    self.metrics.last_pull.get_or_create(&labels).set(now);
                }
                Err(e) => {
                    self.metrics.failed.get_or_create(&labels).inc();
                    tracing::debug!(error = %e, "pulling a peer's state");
                }
            }
        }
        answered
    }

    async fn merge(&self, pipeline: &Pipeline, state: ReplicaState) {
        match pipeline
            .silences()
            .merge(state.silences, pipeline.now_ms())
            .await
        {
            Ok(n) => {
                self.metrics.silences.inc_by(n as u64);
            }
            Err(e) => {
                tracing::warn!(peer = %state.replica, error = %e, "merging a peer's silences");
            }
        };
        let n = pipeline.merge_nflog(state.nflog).await;
        self.metrics.nflog.inc_by(n as u64);
        let n = pipeline.merge_acks(state.acks).await;
        self.metrics.acks.inc_by(n as u64);
        // After the log of the same snapshot, so a notification acknowledged meanwhile is
        // not taken for pending.
        pipeline.set_peer_pending(&state.replica, state.pending);
    }

    /// Before taking part in the election: pulls every peer, retrying those that do not
    /// answer until `within` has passed (a peer that is down does not hold the start up for
    /// longer).
    pub async fn catch_up(&self, pipeline: &Pipeline, within: Duration, interval: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let answered = self.pull_all(pipeline).await;
            if answered == self.peers.len() || tokio::time::Instant::now() + interval > deadline {
                tracing::info!(
                    peers = self.peers.len(),
                    answered,
                    "caught up from peers before joining the Lease election"
                );
                return;
            }
            tokio::time::sleep(interval).await;
        }
    }
}
