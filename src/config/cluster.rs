//! redline's `cluster` section: run as one of several replicas that page once (high
//! availability, see `crate::cluster`).
//!
//! ```yaml
//! cluster:
//!   replica: ${POD_NAME}                  # unique per replica (`--config.expand-env`)
//!   peers: ['http://redline-1.redline-headless:9090']
//!   peer_secret_file: /etc/redline/peer-secret   # optional: peers authenticate with it
//!   replication_interval: 500ms           # how often state is pulled from each peer
//!   lease:
//!     namespace: monitoring
//!     name: redline-notifications
//!     duration: 15s                       # leaseDurationSeconds: whole seconds
//!     renew_deadline: 10s                 # the holder stops sending after this without a renewal
//!     retry_period: 2s                    # how often the lease is renewed or tried
//!     # kubeconfig_file: /path            # outside the cluster; in-cluster credentials otherwise
//! ```
//!
//! Without the section redline runs alone and sends every notification itself. The timing
//! rules are client-go's leader election's (`NewLeaderElector`): `duration` greater than
//! `renew_deadline`, and `renew_deadline` greater than 1.2 × `retry_period` (its jitter
//! factor); the defaults are the values client-go's documentation recommends (15s, 10s, 2s).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, FieldPath};
use super::units::PromDuration;
use super::validate::Ctx;

/// The default `cluster.lease.duration` (client-go's recommended `LeaseDuration`).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// The default `cluster.lease.renew_deadline` (client-go's recommended `RenewDeadline`).
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// The default `cluster.lease.retry_period` (client-go's recommended `RetryPeriod`).
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// The default `cluster.replication_interval`: a silence set on one replica is in force on
/// the others within about this long.
pub const DEFAULT_REPLICATION_INTERVAL: Duration = Duration::from_millis(500);
/// client-go's `JitterFactor`: `renew_deadline` must exceed `retry_period` times this.
pub const JITTER_FACTOR: f64 = 1.2;

/// The `cluster` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub replica: Option<String>,
    pub peers: Option<Vec<String>>,
    pub peer_secret_file: Option<String>,
    pub replication_interval: Option<PromDuration>,
    pub lease: Option<RawLease>,
}

/// `cluster.lease` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLease {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub duration: Option<PromDuration>,
    pub renew_deadline: Option<PromDuration>,
    pub retry_period: Option<PromDuration>,
    pub kubeconfig_file: Option<String>,
}

/// The validated `cluster` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This replica's name: the Lease's `holderIdentity` while it holds it.
    pub replica: String,
    /// The other replicas' base URLs (`http://host:port`, no trailing `/`).
    pub peers: Vec<String>,
    /// The shared secret peers send as a bearer token; `None`: peer calls are not
    /// authenticated (trust the network: loopback or the cluster's pod network).
    pub peer_secret_file: Option<PathBuf>,
    /// How often each peer's state is pulled.
    pub replication_interval: Duration,
    pub lease: LeaseConfig,
}

/// The validated `cluster.lease`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// `leaseDurationSeconds`: whole seconds.
    pub duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// A kubeconfig file; `None`: the pod's service account.
    pub kubeconfig_file: Option<PathBuf>,
}

/// A Kubernetes object name (RFC 1123 subdomain): what the API server accepts as a Lease's
/// or namespace's name.
fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Validates the `cluster` section at `path`.
pub(crate) fn cluster(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawCluster,
) -> Result<ClusterConfig, ConfigError> {
    let replica =
        match raw.replica {
            Some(r) if !r.trim().is_empty() => r,
            _ => return Err(ctx.err(
                &path.key("replica"),
                "expected this replica's unique name (e.g. ${POD_NAME} with --config.expand-env)",
            )),
        };
    let mut peers = Vec::new();
    for (i, p) in raw.peers.unwrap_or_default().into_iter().enumerate() {
        let ok = (p.starts_with("http://") || p.starts_with("https://"))
            && reqwest::Url::parse(&p).is_ok_and(|u| u.host_str().is_some());
        if !ok {
            return Err(ctx.err(
                &path.key("peers").index(i),
                format!("{p:?} is not a valid URL (expected http://host:port)"),
            ));
        }
        peers.push(p.trim_end_matches('/').to_string());
    }
    let peer_secret_file = match raw.peer_secret_file {
        Some(f) if f.is_empty() => {
            return Err(ctx.err(&path.key("peer_secret_file"), "expected a file path"))
        }
        Some(f) => Some(ctx.resolve(&f)),
        None => None,
    };
    let replication_interval = match raw.replication_interval {
        Some(d) if d.0.is_zero() => {
            return Err(ctx.err(
                &path.key("replication_interval"),
                "expected a duration greater than 0",
            ))
        }
        Some(d) => d.0,
        None => DEFAULT_REPLICATION_INTERVAL,
    };
    let lease = lease(ctx, &path.key("lease"), raw.lease)?;
    Ok(ClusterConfig {
        replica,
        peers,
        peer_secret_file,
        replication_interval,
        lease,
    })
}

fn lease(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: Option<RawLease>,
) -> Result<LeaseConfig, ConfigError> {
    let Some(raw) = raw else {
        return Err(ctx.err(
            path,
            "expected the Lease that decides which replica sends (namespace and name)",
        ));
    };
    let name_of = |field: &str, v: Option<String>, max: usize| match v {
        Some(v) if valid_name(&v, max) => Ok(v),
        Some(v) => Err(ctx.err(
            &path.key(field),
            format!(
                "{v:?} is not a Kubernetes object name (lower-case letters, digits, '-' and '.')"
            ),
        )),
        None => Err(ctx.err(&path.key(field), "expected a Kubernetes object name")),
    };
    let namespace = name_of("namespace", raw.namespace, 63)?;
    let name = name_of("name", raw.name, 253)?;
    let duration = raw.duration.map_or(DEFAULT_LEASE_DURATION, |d| d.0);
    if duration.is_zero() || duration.subsec_nanos() != 0 {
        return Err(ctx.err(
            &path.key("duration"),
            "expected whole seconds, at least 1s (the Lease stores leaseDurationSeconds)",
        ));
    }
    let renew_deadline = raw.renew_deadline.map_or(DEFAULT_RENEW_DEADLINE, |d| d.0);
    if renew_deadline >= duration {
        return Err(ctx.err(
            &path.key("renew_deadline"),
            format!(
                "must be less than duration ({}s): the holder stops sending before another \
                 replica may take the Lease",
                duration.as_secs()
            ),
        ));
    }
    let retry_period = raw.retry_period.map_or(DEFAULT_RETRY_PERIOD, |d| d.0);
    if retry_period.is_zero()
        || renew_deadline.as_secs_f64() <= JITTER_FACTOR * retry_period.as_secs_f64()
    {
        return Err(ctx.err(
            &path.key("retry_period"),
            format!(
                "must be greater than 0 and renew_deadline must exceed {JITTER_FACTOR} x retry_period \
                 (client-go's leader election rule)"
            ),
        ));
    }
    let kubeconfig_file = match raw.kubeconfig_file {
        Some(f) if f.is_empty() => {
            return Err(ctx.err(&path.key("kubeconfig_file"), "expected a file path"))
        }
        Some(f) => Some(ctx.resolve(&f)),
        None => None,
    };
    Ok(LeaseConfig {
        namespace,
        name,
        duration,
        renew_deadline,
        retry_period,
        kubeconfig_file,
    })
}

#[cfg(test)]
mod tests;
