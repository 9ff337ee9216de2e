//! `GET /api/cluster/v1/state`: this replica's notification log and silences for its peers
//! (high availability, [`crate::cluster::replication`]). The route sits outside the `web:`
//! guard: peers authenticate with the cluster's peer secret instead, when one is configured.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::cluster::{Cluster, PeerRefused};

/// The peer route; none without a cluster.
pub fn routes(cluster: Option<Cluster>) -> Router {
    let Some(cluster) = cluster else {
        return Router::new();
    };
    Router::new()
        .route(crate::cluster::replication::STATE_PATH, get(state))
        .with_state(cluster)
}

async fn state(State(cluster): State<Cluster>, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match cluster.state_for_peer(auth) {
        Ok(Some(s)) => Json(s).into_response(),
        Ok(None) => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
        Err(e @ PeerRefused::Unauthorized) => {
            (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response()
        }
        Err(e @ PeerRefused::Secret(_)) => {
            tracing::error!(error = %e, "answering a peer");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
    }
}
