//! A fake Kubernetes API server on loopback that serves `coordination.k8s.io/v1` Leases as
//! the real one does for a leader election: `GET` (404 with a `Status` when absent), `POST`
//! (201, 409 `AlreadyExists` when present), `PUT` (200 with a new `resourceVersion` when the
//! request's `metadata.resourceVersion` is the current one, else 409 `Conflict`).
//!
//! It listens on several ports that share one store, one per replica (each replica's
//! kubeconfig names its own), so a test can cut one replica off the API server
//! ([`FakeLeaseApi::set_reachable`]: its requests get 503) while the others still reach it.
//! Every successful write is recorded ([`FakeLeaseApi::writes`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One successful write of a Lease.
#[derive(Clone, Debug)]
pub struct LeaseWrite {
    /// Which listener (replica) wrote it.
    pub listener: usize,
    pub holder: String,
    pub transitions: i64,
    pub resource_version: u64,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Store {
    /// (namespace, name) → the object.
    leases: BTreeMap<(String, String), Value>,
    next_rv: u64,
    writes: Vec<LeaseWrite>,
}

#[derive(Clone)]
struct Listener {
    index: usize,
    store: Arc<Mutex<Store>>,
    reachable: Arc<AtomicBool>,
}

/// The fake API server (see the module documentation).
pub struct FakeLeaseApi {
    store: Arc<Mutex<Store>>,
    reachable: Vec<Arc<AtomicBool>>,
    urls: Vec<String>,
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

async fn lease(
    State(l): State<Listener>,
    Path(rest): Path<String>,
    method: Method,
    body: Bytes,
) -> Response {
    if !l.reachable.load(Ordering::SeqCst) {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "partitioned by the test".into(),
        );
    }
    // rest: namespaces/{ns}/leases[/{name}]
    let parts: Vec<&str> = rest.split('/').collect();
    let (ns, name) = match parts.as_slice() {
        ["namespaces", ns, "leases"] => (ns.to_string(), None),
        ["namespaces", ns, "leases", name] => (ns.to_string(), Some(name.to_string())),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no route {rest}"),
            )
        }
    };
    let mut store = l.store.lock().unwrap();
    let parsed = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    match (method, name) {
        (Method::GET, Some(name)) => match store.leases.get(&(ns, name.clone())) {
            Some(o) => axum::Json(o.clone()).into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("leases.coordination.k8s.io \"{name}\" not found"),
            ),
        },
        (Method::POST, None) => {
            let mut o = parsed();
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if store.leases.contains_key(&(ns.clone(), name.clone())) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("leases.coordination.k8s.io \"{name}\" already exists"),
                );
            }
            store.next_rv += 1;
            let rv = store.next_rv;
            o["metadata"]["resourceVersion"] = json!(rv.to_string());
            o["metadata"]["namespace"] = json!(ns);
            o["kind"] = json!("Lease");
            o["apiVersion"] = json!("coordination.k8s.io/v1");
            record(&mut store, l.index, &o, rv);
            store.leases.insert((ns, name), o.clone());
            (StatusCode::CREATED, axum::Json(o)).into_response()
        }
        (Method::PUT, Some(name)) => {
            let mut o = parsed();
            let key = (ns, name.clone());
            let Some(current) = store.leases.get(&key) else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("leases.coordination.k8s.io \"{name}\" not found"),
                );
            };
            if o["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                return status(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": \
                         the object has been modified; please apply your changes to the latest \
                         version and try again"
                    ),
                );
            }
            store.next_rv += 1;
            let rv = store.next_rv;
            o["metadata"]["resourceVersion"] = json!(rv.to_string());
            record(&mut store, l.index, &o, rv);
            store.leases.insert(key, o.clone());
            axum::Json(o).into_response()
        }
        (m, _) => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{m} {rest}"),
        ),
    }
}

fn record(store: &mut Store, listener: usize, o: &Value, rv: u64) {
    store.writes.push(LeaseWrite {
        listener,
        holder: o["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        transitions: o["spec"]["leaseTransitions"].as_i64().unwrap_or_default(),
        resource_version: rv,
        at: std::time::Instant::now(),
    });
}

impl FakeLeaseApi {
    /// Starts the server with `listeners` loopback ports sharing one store.
    pub async fn start(listeners: usize) -> FakeLeaseApi {
        let store = Arc::new(Mutex::new(Store::default()));
        let mut urls = Vec::new();
        let mut reachable = Vec::new();
        for index in 0..listeners {
            let r = Arc::new(AtomicBool::new(true));
            let app = Router::new()
                .route("/apis/coordination.k8s.io/v1/{*rest}", any(lease))
                .with_state(Listener {
                    index,
                    store: store.clone(),
                    reachable: r.clone(),
                });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", l.local_addr().unwrap()));
            tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            });
            reachable.push(r);
        }
        FakeLeaseApi {
            store,
            reachable,
            urls,
        }
    }

    /// How many listeners (replicas) the server has.
    pub fn listeners(&self) -> usize {
        self.urls.len()
    }

    /// The base URL of listener `i`.
    pub fn url(&self, i: usize) -> &str {
        &self.urls[i]
    }

    /// A kubeconfig whose current context points at listener `i`.
    pub fn kubeconfig(&self, i: usize) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.urls[i]
        )
    }

    /// Cuts listener `i` off (503 to every request) or reconnects it.
    pub fn set_reachable(&self, i: usize, reachable: bool) {
        self.reachable[i].store(reachable, Ordering::SeqCst);
    }

    /// Every successful write, in order.
    pub fn writes(&self) -> Vec<LeaseWrite> {
        self.store.lock().unwrap().writes.clone()
    }

    /// The stored Lease `namespace/name`.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.store
            .lock()
            .unwrap()
            .leases
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}
