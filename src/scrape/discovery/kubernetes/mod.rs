//! `kubernetes_sd_configs`: targets from the Kubernetes API, as Prometheus discovers them.
//!
//! A [`KubernetesDiscoverer`] lists and watches the objects its [`Role`] needs (nodes; pods;
//! services; ingresses; endpoints or endpointslices together with the services and pods they
//! refer to; the nodes too with `attach_metadata.node`), each with the entry's label and field
//! selector for that kind,
//! with `kube::runtime::watcher`, which resumes a dropped watch from the last
//! `resourceVersion`, re-lists when the server answers `410 Gone`, and backs off on errors.
//! Objects are kept in per-kind stores; after a change settles (a short debounce) every
//! object of the role is turned into a [`TargetGroup`] by [`labels`] and the complete list is
//! published, so targets appear, change and disappear as the objects do. The first list is
//! published once every watch has completed its initial listing.
//!
//! The API server is reached in-cluster with the pod's service account, through a kubeconfig
//! file (`kubeconfig_file`, the utility-cluster case) or at `api_server` with the entry's
//! HTTP client settings ([`client`]). With `namespaces.own_namespace` the pod's namespace is
//! read from the service account's `namespace` file, as Prometheus does
//! ([`DEFAULT_NAMESPACE_FILE`], or the file given to [`KubernetesDiscoverer::new`]).

pub mod client;

pub mod labels;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub use crate::config::kubernetes_sd::{ApiAccess, KubernetesSdConfig, Namespaces, Role, Selector};

use super::{BoxFuture, Discoverer};
use crate::config::discovery::TargetGroup;
use labels::{object_key, Lookup};

/// How long changes are collected before the target list is published again.
const SETTLE: Duration = Duration::from_millis(200);
/// How long the first list waits for every watch to finish its initial listing.
const INITIAL_SYNC_WAIT: Duration = Duration::from_secs(15);
/// Wait before retrying a client that could not be built (bad kubeconfig, missing token).
const CLIENT_RETRY: Duration = Duration::from_secs(10);

/// Where a pod finds the name of its namespace (the service account volume).
pub const DEFAULT_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Runs one `kubernetes_sd_configs` entry as a [`Discoverer`].
pub struct KubernetesDiscoverer {
    cfg: KubernetesSdConfig,
    namespace_file: PathBuf,
}

impl KubernetesDiscoverer {
    /// A discoverer for one validated entry; `namespace_file` holds the pod's own namespace
    /// (read only with `namespaces.own_namespace`, normally [`DEFAULT_NAMESPACE_FILE`]).
    pub fn new(cfg: KubernetesSdConfig, namespace_file: PathBuf) -> KubernetesDiscoverer {
        KubernetesDiscoverer {
            cfg,
            namespace_file,
        }
    }
}

/// Why the pod's own namespace is unknown (Prometheus' messages).
#[derive(Debug, thiserror::Error)]
pub enum OwnNamespaceError {
    #[error("could not determine the pod's namespace: {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("could not read own namespace name (empty file {path})")]
    Empty { path: String },
}

/// The pod's namespace from the service account's `namespace` file, as Prometheus reads it
/// (the file's whole contents, which must not be empty).
pub fn read_own_namespace(path: &Path) -> Result<String, OwnNamespaceError> {
    let text = std::fs::read_to_string(path).map_err(|source| OwnNamespaceError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if text.is_empty() {
        return Err(OwnNamespaceError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(text)
}

impl Discoverer for KubernetesDiscoverer {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture {
        Box::pin(run_kubernetes_sd(self.cfg, self.namespace_file, updates))
    }
}

/// One object event, tagged with the kind and the watch stream it came from.
enum Change {
    Node(usize, Box<Event<Node>>),
    Pod(usize, Box<Event<Pod>>),
    Service(usize, Box<Event<Service>>),
    Endpoints(usize, Box<Event<Endpoints>>),
    Slice(usize, Box<Event<EndpointSlice>>),
    Ingress(usize, Box<Event<Ingress>>),
    Namespace(usize, Box<Event<Namespace>>),
    /// A watch stream failed; it retries by itself.
    Failed(String),
}

/// The objects of one kind, by `namespace/name`, each with the stream that delivered it.
struct Objects<K> {
    by_key: BTreeMap<String, (usize, K)>,
    /// Objects of a re-list in progress, per stream, swapped in at `InitDone`.
    relisting: HashMap<usize, Vec<K>>,
}

impl<K> Default for Objects<K> {
    fn default() -> Self {
        Objects {
            by_key: BTreeMap::new(),
            relisting: HashMap::new(),
        }
    }
}

impl<K: Resource> Objects<K> {
    /// Applies an event; true when the store changed (or a listing completed).
    fn apply(&mut self, stream: usize, ev: Event<K>) -> bool {
        match ev {
            Event::Apply(o) => {
                self.by_key.insert(object_key(o.meta()), (stream, o));
                true
            }
            Event::Delete(o) => self.by_key.remove(&object_key(o.meta())).is_some(),
            Event::Init => {
                self.relisting.insert(stream, Vec::new());
                false
            }
            Event::InitApply(o) => {
                self.relisting.entry(stream).or_default().push(o);
                false
            }
            Event::InitDone => {
                let listed = self.relisting.remove(&stream).unwrap_or_default();
                self.by_key.retain(|_, (s, _)| *s != stream);
                for o in listed {
                    self.by_key.insert(object_key(o.meta()), (stream, o));
                }
                true
            }
        }
    }

    fn get(&self, namespace: &str, name: &str) -> Option<&K> {
        self.by_key
            .get(&format!("{namespace}/{name}"))
            .map(|(_, o)| o)
    }

    fn iter(&self) -> impl Iterator<Item = &K> {
        self.by_key.values().map(|(_, o)| o)
    }
}

/// Everything the watches have delivered.
#[derive(Default)]
struct Cluster {
    nodes: Objects<Node>,
    pods: Objects<Pod>,
    services: Objects<Service>,
    endpoints: Objects<Endpoints>,
    slices: Objects<EndpointSlice>,
    ingresses: Objects<Ingress>,
    namespaces: Objects<Namespace>,
    attach_node: bool,
    attach_namespace: bool,
}

impl Lookup for Cluster {
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.get(namespace, name)
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.get(namespace, name)
    }

    fn node(&self, name: &str) -> Option<&Node> {
        if self.attach_node {
            self.nodes.get("", name)
        } else {
            None
        }
    }
}

impl Cluster {
    fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::Node(s, e) => self.nodes.apply(s, *e),
            Change::Pod(s, e) => self.pods.apply(s, *e),
            Change::Service(s, e) => self.services.apply(s, *e),
            Change::Endpoints(s, e) => self.endpoints.apply(s, *e),
            Change::Slice(s, e) => self.slices.apply(s, *e),
            Change::Ingress(s, e) => self.ingresses.apply(s, *e),
            Change::Namespace(s, e) => self.namespaces.apply(s, *e),
            Change::Failed(_) => false,
        }
    }

    /// The groups of every object of `role`, with their namespace's metadata when attached.
    fn groups(&self, role: Role) -> Vec<TargetGroup> {
        let groups = self.role_groups(role);
        if !self.attach_namespace || role == Role::Node {
            return groups;
        }
        groups
            .into_iter()
            .map(|mut g| {
                let ns = g.labels.get(labels::NAMESPACE_LABEL).unwrap_or_default();
                if let Some(ns) = self.namespaces.get("", ns) {
                    let mut all: Vec<(String, String)> = g
                        .labels
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect();
                    all.extend(labels::namespace_metadata_labels(ns));
                    g.labels = crate::store::Labels::from_pairs(all);
                }
                g
            })
            .collect()
    }

    fn role_groups(&self, role: Role) -> Vec<TargetGroup> {
        match role {
            Role::Node => self.nodes.iter().map(labels::build_node).collect(),
            Role::Pod => self
                .pods
                .iter()
                .map(|p| {
                    let node = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .and_then(|n| self.node(n));
                    labels::build_pod(p, node)
                })
                .collect(),
            Role::Service => self.services.iter().map(labels::build_service).collect(),
            Role::Endpoints => self
                .endpoints
                .iter()
                .map(|e| labels::build_endpoints(e, self))
                .collect(),
            Role::EndpointSlice => self
                .slices
                .iter()
                .map(|e| labels::build_endpointslice(e, self))
                .collect(),
            Role::Ingress => self.ingresses.iter().map(labels::build_ingress).collect(),
        }
    }
}

/// The namespaces to watch (`getNamespaces`); empty means all. `own` is the pod's namespace
/// when `own_namespace` is set.
fn namespaces(cfg: &KubernetesSdConfig, own: Option<&str>) -> Vec<String> {
    let mut out = cfg.namespaces.names.clone();
    if let Some(own) = own.filter(|_| cfg.namespaces.own_namespace) {
        if !out.iter().any(|n| n == own) {
            out.push(own.to_string());
        }
    }
    out
}

fn watcher_config(cfg: &KubernetesSdConfig, role: Role) -> watcher::Config {
    let mut wc = watcher::Config::default();
    if let Some(sel) = cfg.selector(role) {
        if !sel.label.is_empty() {
            wc = wc.labels(&sel.label);
        }
        if !sel.field.is_empty() {
            wc = wc.fields(&sel.field);
        }
    }
    wc
}

/// A list+watch of `K` in one namespace (or all), tagged for the merge.
///
/// The watcher resumes a dropped watch from its last resourceVersion and re-lists when the
/// watch stream reports `410 Gone`. An API server may instead refuse the resumed watch
/// request itself with HTTP 410; the watcher would retry that resourceVersion forever, so
/// the stream is then started afresh, which re-lists.
fn watch_stream<K>(
    api: Api<K>,
    wc: watcher::Config,
    id: usize,
    tag: fn(usize, Box<Event<K>>) -> Change,
) -> BoxStream<'static, Change>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let start = move || {
        watcher::watcher(api.clone(), wc.clone())
            .default_backoff()
            .boxed()
    };
    let first = start();
    stream::unfold((first, start), move |(mut s, start)| async move {
        let item = s.next().await?;
        let change = match item {
            Ok(ev) => tag(id, Box::new(ev)),
            Err(watcher::Error::WatchStartFailed(kube::Error::Api(status)))
                if status.code == 410 =>
            {
                s = start();
                Change::Failed(format!(
                    "resuming the watch: {} (410 Gone); listing again",
                    status.message
                ))
            }
            Err(e) => Change::Failed(e.to_string()),
        };
        Some((change, (s, start)))
    })
    .boxed()
}

/// Namespaced `Api`s for each watched namespace, or one for all.
fn apis<K>(client: &kube::Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

/// Every watch the role needs, merged.
fn watches(
    cfg: &KubernetesSdConfig,
    client: &kube::Client,
    own_namespace: Option<&str>,
) -> Vec<BoxStream<'static, Change>> {
    let ns = namespaces(cfg, own_namespace);
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut id = || {
        next += 1;
        next - 1
    };
    let resources = cfg.watched_resources();
    let needs = |r: Role| resources.contains(&r.resource());
    if resources.contains(&"/namespaces") {
        out.push(watch_stream(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
            id(),
            Change::Namespace,
        ));
    }
    if needs(Role::Node) {
        out.push(watch_stream(
            Api::<Node>::all(client.clone()),
            watcher_config(cfg, Role::Node),
            id(),
            Change::Node,
        ));
    }
    if needs(Role::Pod) {
        for api in apis::<Pod>(client, &ns) {
            out.push(watch_stream(
                api,
                watcher_config(cfg, Role::Pod),
                id(),
                Change::Pod,
            ));
        }
    }
    if needs(Role::Service) {
        for api in apis::<Service>(client, &ns) {
            let wc = watcher_config(cfg, Role::Service);
            out.push(watch_stream(api, wc, id(), Change::Service));
        }
    }
    if needs(Role::Endpoints) {
        for api in apis::<Endpoints>(client, &ns) {
            let wc = watcher_config(cfg, Role::Endpoints);
            out.push(watch_stream(api, wc, id(), Change::Endpoints));
        }
    }
    if needs(Role::EndpointSlice) {
        for api in apis::<EndpointSlice>(client, &ns) {
            let wc = watcher_config(cfg, Role::EndpointSlice);
            out.push(watch_stream(api, wc, id(), Change::Slice));
        }
    }
    if needs(Role::Ingress) {
        for api in apis::<Ingress>(client, &ns) {
            let wc = watcher_config(cfg, Role::Ingress);
            out.push(watch_stream(api, wc, id(), Change::Ingress));
        }
    }
    out
}

impl Change {
    /// The stream whose (re-)listing this event completes, if it is an `InitDone`.
    fn listed_stream(&self) -> Option<usize> {
        let (s, done) = match self {
            Change::Node(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Pod(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Service(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Endpoints(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Slice(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Ingress(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Namespace(s, e) => (*s, matches!(**e, Event::InitDone)),
            Change::Failed(_) => (0, false),
        };
        done.then_some(s)
    }
}

impl Role {
    /// The resource objects of this role are, as [`Role::watched_resources`] names them.
    pub fn resource(self) -> &'static str {
        match self {
            Role::Node => "/nodes",
            Role::Pod => "/pods",
            Role::Service => "/services",
            Role::Endpoints => "/endpoints",
            Role::EndpointSlice => "discovery.k8s.io/endpointslices",
            Role::Ingress => "networking.k8s.io/ingresses",
        }
    }
}

/// Runs one entry, publishing its groups on `tx` until `tx` has no receiver.
pub async fn run_kubernetes_sd(
    cfg: KubernetesSdConfig,
    namespace_file: PathBuf,
    tx: watch::Sender<Vec<TargetGroup>>,
) {
    crate::install_crypto_provider();
    let (client, own_namespace) = loop {
        let attempt = async {
            let own = if cfg.namespaces.own_namespace {
                Some(read_own_namespace(&namespace_file).map_err(|e| e.to_string())?)
            } else {
                None
            };
            let client = client::build(&cfg.access)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((client, own))
        };
        match attempt.await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(role = cfg.role.as_str(), error = %e, "kubernetes_sd: cannot create the API client; retrying");
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(CLIENT_RETRY) => {}
                }
            }
        }
    };
    let streams = watches(&cfg, &client, own_namespace.as_deref());
    let mut unsynced: Vec<bool> = vec![true; streams.len()];
    let mut events = stream::select_all(streams);
    let mut cluster = Cluster {
        attach_node: cfg.attach_node,
        attach_namespace: cfg.namespace_metadata(),
        ..Cluster::default()
    };
    let started = tokio::time::Instant::now();
    let mut published = false;
    let mut dirty = false;
    let mut publish_at = started + INITIAL_SYNC_WAIT;
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            change = events.next() => {
                let Some(change) = change else {
                    // Watches end only when the runtime is shutting down.
                    tx.closed().await;
                    return;
                };
                match &change {
                    Change::Failed(e) => {
                        tracing::warn!(role = cfg.role.as_str(), error = %e, "kubernetes_sd: watch failed; retrying with backoff");
                    }
                    _ => {
                        if let Some(s) = change.listed_stream() {
                            unsynced[s] = false;
                        }
                    }
                }
                if cluster.apply(change) && !dirty {
                    dirty = true;
                    if published {
                        publish_at = tokio::time::Instant::now() + SETTLE;
                    }
                }
                if !published && unsynced.iter().all(|u| !u) {
                    publish_at = tokio::time::Instant::now();
                }
            }
            _ = tokio::time::sleep_until(publish_at), if dirty || !published => {
                tx.send_replace(cluster.groups(cfg.role));
                published = true;
                dirty = false;
            }
        }
    }
}
