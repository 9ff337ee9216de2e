//! `kubernetes_sd_configs` end to end: the real `redline` binary watches a fake Kubernetes
//! API server on loopback that serves recorded objects (`tests/data/kubernetes/`; the
//! ingresses and namespaces there are written by hand in the same form) in the real wire
//! format — JSON lists with `metadata.resourceVersion`, `labelSelector`/`fieldSelector`
//! applied to lists and watches, chunked watch streams with one
//! `{"type": ..., "object": ...}` event per line kept open, and `410 Gone` for a
//! resourceVersion that has expired — and the test reads `/api/v1/targets` as a user would.
//!
//! Targets appear with Prometheus' `__meta_kubernetes_*` labels, change on MODIFIED, disappear
//! on DELETED, and after a dropped watch whose resourceVersion has expired, redline re-lists
//! and catches up with what happened while it was disconnected.

mod common;

use redline::testdir::TempDir;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::hourly_job_labels as job_labels;
use common::{free_port, get_json, ProcessGuard};
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// What a watch stream receives: an event for a resource, or the order to drop the connection.
#[derive(Clone, Debug)]
enum Push {
    Event {
        resource: String,
        kind: &'static str,
        object: Value,
    },
    Disconnect,
}

/// The fake API server's state: objects by resource, a resourceVersion counter, the
/// resourceVersion below which watches are answered `410 Gone`, and every request path seen.
struct Cluster {
    objects: BTreeMap<String, Vec<Value>>,
    rv: u64,
    expired_below: u64,
    events: broadcast::Sender<Push>,
    /// Every announced event with its resourceVersion, replayed to watches that start behind.
    log: Vec<(u64, Push)>,
    /// How an expired watch is refused: an `ERROR` event on a 200 stream (what API servers
    /// send) or an HTTP `410 Gone` status response.
    gone_as_http_status: bool,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Cluster>>;

fn recorded(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kubernetes")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn list_kind(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "nodes" => ("NodeList", "v1"),
        "pods" => ("PodList", "v1"),
        "services" => ("ServiceList", "v1"),
        "endpoints" => ("EndpointsList", "v1"),
        "ingresses" => ("IngressList", "networking.k8s.io/v1"),
        "namespaces" => ("NamespaceList", "v1"),
        _ => ("EndpointSliceList", "discovery.k8s.io/v1"),
    }
}

fn item_kind(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "nodes" => ("Node", "v1"),
        "pods" => ("Pod", "v1"),
        "services" => ("Service", "v1"),
        "endpoints" => ("Endpoints", "v1"),
        "ingresses" => ("Ingress", "networking.k8s.io/v1"),
        "namespaces" => ("Namespace", "v1"),
        _ => ("EndpointSlice", "discovery.k8s.io/v1"),
    }
}

/// `/api/v1/pods`, `/api/v1/namespaces/monitoring/pods`, `/apis/discovery.k8s.io/v1/...`:
/// the resource and the namespace, if any.
fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", "discovery.k8s.io" | "networking.k8s.io", "v1", rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        [resource] => Some((resource.to_string(), None)),
        ["namespaces", ns, resource] => Some((resource.to_string(), Some(ns.to_string()))),
        _ => None,
    }
}

fn in_namespace(o: &Value, ns: &Option<String>) -> bool {
    match ns {
        None => true,
        Some(ns) => o["metadata"]["namespace"].as_str() == Some(ns),
    }
}

/// The object's value at a dotted field path (`metadata.name`, `spec.nodeName`).
fn field_value<'a>(o: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(o, |v, k| v.get(k))?.as_str()
}

/// Whether `o` satisfies a label or field selector as the API server evaluates the forms the
/// tests use: comma-separated `key=value`, `key==value`, `key!=value` and (labels) `key`.
fn selected(o: &Value, selector: Option<&String>, labels: bool) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let value = |key: &str| {
        if labels {
            o["metadata"]["labels"][key].as_str()
        } else {
            field_value(o, key)
        }
    };
    selector.split(',').all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            value(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            value(k.trim()) == Some(v.trim())
        } else {
            value(term.trim()).is_some()
        }
    })
}

/// The label and field selectors of a request, as the fake records them.
#[derive(Clone, Debug, Default)]
struct Selectors {
    label: Option<String>,
    field: Option<String>,
}

impl Selectors {
    fn admit(&self, o: &Value) -> bool {
        selected(o, self.label.as_ref(), true) && selected(o, self.field.as_ref(), false)
    }
}

fn status_410(rv: u64, oldest: u64) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("too old resource version: {rv} ({oldest})"),
        "reason": "Expired",
        "code": 410
    })
}

async fn api(
    State(cluster): State<Shared>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some((resource, ns)) = parse_path(uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let sel = Selectors {
        label: q.get("labelSelector").cloned(),
        field: q.get("fieldSelector").cloned(),
    };
    let mut c = cluster.lock().expect("lock");
    let mut request = format!("{} {}", if watch { "WATCH" } else { "LIST" }, uri.path());
    for (name, value) in [("labelSelector", &sel.label), ("fieldSelector", &sel.field)] {
        if let Some(v) = value {
            request.push_str(&format!(" {name}={v}"));
        }
    }
    c.requests.push(request);
    let items: Vec<Value> = c
        .objects
        .get(&resource)
        .into_iter()
        .flatten()
        .filter(|o| in_namespace(o, &ns) && sel.admit(o))
        .cloned()
        .collect();
    if !watch {
        let (kind, api_version) = list_kind(&resource);
        let body = json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": c.rv.to_string()},
            "items": items,
        });
        return (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if from < c.expired_below {
        let body = status_410(from, c.expired_below);
        if !c.gone_as_http_status {
            let event = json!({"type": "ERROR", "object": body});
            return (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                format!("{event}\n"),
            )
                .into_response();
        }
        return (
            StatusCode::GONE,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    // A bookmark at the current resourceVersion, then live events, one JSON object per line.
    let (kind, api_version) = item_kind(&resource);
    let bookmark = json!({
        "type": "BOOKMARK",
        "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": c.rv.to_string()}}
    });
    let rx = c.events.subscribe();
    let mut first_lines = Vec::new();
    for (rv, push) in &c.log {
        if let Push::Event {
            resource: r,
            kind,
            object,
        } = push
        {
            if *rv > from && *r == resource && in_namespace(object, &ns) && sel.admit(object) {
                let line = format!("{}\n", json!({"type": kind, "object": object}));
                first_lines.push(Ok::<_, std::io::Error>(line));
            }
        }
    }
    first_lines.push(Ok(format!("{bookmark}\n")));
    drop(c);
    let first = futures_util::stream::iter(first_lines);
    let live = futures_util::stream::unfold(rx, move |mut rx| {
        let resource = resource.clone();
        let ns = ns.clone();
        let sel = sel.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(Push::Event {
                        resource: r,
                        kind,
                        object,
                    }) if r == resource && in_namespace(&object, &ns) && sel.admit(&object) => {
                        let line = format!("{}\n", json!({"type": kind, "object": object}));
                        return Some((Ok(line), rx));
                    }
                    Ok(Push::Disconnect) | Err(broadcast::error::RecvError::Closed) => return None,
                    _ => continue,
                }
            }
        }
    });
    use futures_util::StreamExt;
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(first.chain(live)))
        .expect("response")
}

/// The fake API server and how the test drives it.
struct FakeApi {
    cluster: Shared,
    url: String,
}

impl FakeApi {
    async fn start() -> FakeApi {
        let mut objects = BTreeMap::new();
        for (resource, file) in [
            ("nodes", "nodes.json"),
            ("pods", "pods.json"),
            ("services", "services.json"),
            ("endpoints", "endpoints.json"),
            ("endpointslices", "endpointslices.json"),
            ("ingresses", "ingresses.json"),
            ("namespaces", "namespaces.json"),
        ] {
            let list = recorded(file);
            let items = list["items"].as_array().expect("items").clone();
            objects.insert(resource.to_string(), items);
        }
        let (events, _) = broadcast::channel(256);
        let cluster = Arc::new(Mutex::new(Cluster {
            objects,
            rv: 48211,
            expired_below: 0,
            events,
            log: Vec::new(),
            gone_as_http_status: false,
            requests: Vec::new(),
        }));
        let app = Router::new().fallback(api).with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake API server");
        });
        FakeApi {
            cluster,
            url: format!("http://{addr}"),
        }
    }

    /// Applies a change as the API server would: a new resourceVersion on the object, the
    /// object stored (or removed), and the event sent to open watches when `announce`.
    fn change(&self, resource: &str, kind: &'static str, mut object: Value, announce: bool) {
        let mut c = self.cluster.lock().expect("lock");
        c.rv += 1;
        object["metadata"]["resourceVersion"] = json!(c.rv.to_string());
        let key = |o: &Value| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        };
        let k = key(&object);
        let list = c.objects.entry(resource.to_string()).or_default();
        list.retain(|o| key(o) != k);
        if kind != "DELETED" {
            list.push(object.clone());
        }
        if announce {
            // Watch events carry the object's kind and apiVersion, as the API server sends them.
            let (k, v) = item_kind(resource);
            object["kind"] = json!(k);
            object["apiVersion"] = json!(v);
            let push = Push::Event {
                resource: resource.to_string(),
                kind,
                object,
            };
            let rv = c.rv;
            c.log.push((rv, push.clone()));
            let _ = c.events.send(push);
        }
    }

    /// Drops every open watch and expires all resourceVersions seen so far, as an API server
    /// does after a restart with compacted etcd history: resuming watches get `410 Gone`.
    fn expire_and_disconnect(&self, gone_as_http_status: bool) {
        let mut c = self.cluster.lock().expect("lock");
        c.gone_as_http_status = gone_as_http_status;
        c.rv += 1;
        c.expired_below = c.rv;
        c.log.clear();
        let _ = c.events.send(Push::Disconnect);
    }

    fn object(&self, resource: &str, name: &str) -> Value {
        let c = self.cluster.lock().expect("lock");
        c.objects[resource]
            .iter()
            .find(|o| o["metadata"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {resource} {name}"))
    }

    fn requests(&self) -> Vec<String> {
        self.cluster.lock().expect("lock").requests.clone()
    }
}

fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("k8s-{name}"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
}

/// The running binary and its HTTP address.
struct Redline {
    _process: ProcessGuard,
    base: String,
}

fn start_redline(dir: &Path, api_url: &str) -> Redline {
    let endpoints =
        format!("{{role: endpoints, api_server: '{api_url}', bearer_token: recorded-token}}");
    start_redline_jobs(
        dir,
        api_url,
        &[
            ("k8s-nodes", "{role: node, kubeconfig_file: kubeconfig}"),
            ("k8s-pods", "{role: pod, kubeconfig_file: kubeconfig}"),
            (
                "k8s-services",
                "{role: service, kubeconfig_file: kubeconfig, namespaces: {names: [monitoring]}}",
            ),
            (
                "k8s-slices",
                "{role: endpointslice, kubeconfig_file: kubeconfig, namespaces: {names: [monitoring]}}",
            ),
            ("k8s-endpoints", &endpoints),
        ],
    )
}

/// Starts redline with one scrape job per `(job name, kubernetes_sd_configs entry)`; the
/// entries may use `kubeconfig_file: kubeconfig`, written here for the fake API server.
fn start_redline_jobs(dir: &Path, api_url: &str, jobs: &[(&str, &str)]) -> Redline {
    write(
        &dir.join("kubeconfig"),
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {api_url}\n\
             users:\n- name: redline\n  user:\n    token: recorded-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: redline\n    namespace: monitoring\n\
             current-context: fake\n"
        ),
    );
    // Targets are real cluster addresses: every scrape goes to a closed loopback port instead,
    // and `instance` keeps the discovered address (and an ingress target's path) so the
    // targets stay distinct.
    let sink = format!("127.0.0.1:{}", free_port());
    let job = |name: &str, sd: &str| {
        format!(
            "  - job_name: {name}\n    scrape_interval: 1h\n    kubernetes_sd_configs:\n      - {sd}\n    \
             relabel_configs:\n      - source_labels: [__address__]\n        target_label: instance\n      \
             - source_labels: [__address__, __meta_kubernetes_ingress_path]\n        regex: '(.+);(.+)'\n        \
             target_label: instance\n        replacement: '$1$2'\n      \
             - target_label: __address__\n        replacement: '{sink}'\n"
        )
    };
    let mut config = "scrape_configs:\n".to_string();
    for (name, sd) in jobs {
        config.push_str(&job(name, sd));
    }
    let config_path = dir.join("redline.yml");
    write(&config_path, &config);
    let port = free_port();
    let child = common::redline_run(&config_path, port, &dir.join("state"))
        .arg("--log-level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redline run");
    Redline {
        _process: ProcessGuard(child),
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// The discovered labels of the active targets of `job`.
async fn discovered(redline: &Redline, job: &str) -> Option<Vec<BTreeMap<String, String>>> {
    let url = format!("{}/api/v1/targets", redline.base);
    let resp = reqwest::get(&url).await.ok()?;
    let v: Value = serde_json::from_str(&resp.text().await.ok()?).ok()?;
    let targets = v["data"]["activeTargets"].as_array()?;
    Some(
        targets
            .iter()
            .filter(|t| t["scrapePool"] == job)
            .map(|t| serde_json::from_value(t["discoveredLabels"].clone()).expect("label map"))
            .collect(),
    )
}

/// Waits until the targets of `job` satisfy `check`, returning them.
async fn wait_targets(
    redline: &Redline,
    api: &FakeApi,
    job: &str,
    what: &str,
    check: impl Fn(&[BTreeMap<String, String>]) -> bool,
) -> Vec<BTreeMap<String, String>> {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        if let Some(t) = discovered(redline, job).await {
            if check(&t) {
                return t;
            }
            last = Some(t);
        }
        if std::time::Instant::now() > end {
            panic!(
                "timed out waiting for {job}: {what}; last targets: {last:#?}; API requests: {:#?}",
                api.requests()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn addresses(t: &[BTreeMap<String, String>]) -> Vec<&str> {
    let mut a: Vec<&str> = t.iter().map(|l| l["__address__"].as_str()).collect();
    a.sort();
    a
}

const KSM_POD: &str = "kube-state-metrics-6f8d9c7b5d-x2k9q";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_follow_the_cluster_through_watches_and_a_410_relist() {
    redline::install_crypto_provider();
    let api = FakeApi::start().await;
    let dir = temp_dir("watch");
    let redline = start_redline(&dir, &api.url);

    // Every role lists its recorded objects.
    let nodes = wait_targets(&redline, &api, "k8s-nodes", "the recorded node", |t| {
        t.len() == 1
    })
    .await;
    assert_eq!(nodes[0]["__address__"], "10.0.1.23:10250");
    assert_eq!(
        nodes[0]["instance"],
        "ip-10-0-1-23.eu-west-1.compute.internal"
    );
    assert_eq!(
        nodes[0]["__meta_kubernetes_node_address_InternalIP"],
        "10.0.1.23"
    );
    assert_eq!(
        nodes[0]["__meta_kubernetes_node_label_kubernetes_io_os"],
        "linux"
    );
    assert_eq!(nodes[0]["job"], "k8s-nodes");

    let pods = wait_targets(
        &redline,
        &api,
        "k8s-pods",
        "the two ports of kube-state-metrics",
        |t| t.len() == 2,
    )
    .await;
    assert_eq!(addresses(&pods), ["10.244.1.17:8080", "10.244.1.17:8081"]);
    let p = &pods[0];
    assert_eq!(p["__meta_kubernetes_namespace"], "monitoring");
    assert_eq!(p["__meta_kubernetes_pod_name"], KSM_POD);
    assert_eq!(p["__meta_kubernetes_pod_ready"], "true");
    assert_eq!(p["__meta_kubernetes_pod_controller_kind"], "ReplicaSet");
    assert_eq!(
        p["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "kube-state-metrics"
    );

    let svcs = wait_targets(&redline, &api, "k8s-services", "the service ports", |t| {
        t.len() == 2
    })
    .await;
    assert_eq!(
        addresses(&svcs),
        [
            "kube-state-metrics.monitoring.svc:8080",
            "kube-state-metrics.monitoring.svc:8081"
        ]
    );

    let slices = wait_targets(
        &redline,
        &api,
        "k8s-slices",
        "the endpoint and the extra pod port",
        |t| t.len() == 2,
    )
    .await;
    let ep = slices
        .iter()
        .find(|l| l["__address__"] == "10.244.1.17:8080")
        .expect("endpoint target");
    assert_eq!(
        ep["__meta_kubernetes_endpointslice_port_name"],
        "http-metrics"
    );
    assert_eq!(
        ep["__meta_kubernetes_endpointslice_endpoint_conditions_ready"],
        "true"
    );
    assert_eq!(ep["__meta_kubernetes_service_name"], "kube-state-metrics");
    assert_eq!(ep["__meta_kubernetes_pod_name"], KSM_POD);

    let eps = wait_targets(
        &redline,
        &api,
        "k8s-endpoints",
        "the endpoints targets",
        |t| t.len() == 2,
    )
    .await;
    assert!(eps.iter().any(
        |l| l["__meta_kubernetes_endpoint_port_name"] == "http-metrics"
            && l["__meta_kubernetes_pod_container_name"] == "kube-state-metrics"
    ));

    // MODIFIED: the pod becomes unready and gains a team label.
    let mut pod = api.object("pods", KSM_POD);
    pod["metadata"]["labels"]["team"] = json!("platform");
    for c in pod["status"]["conditions"]
        .as_array_mut()
        .expect("conditions")
    {
        if c["type"] == "Ready" {
            c["status"] = json!("False");
        }
    }
    api.change("pods", "MODIFIED", pod.clone(), true);
    let pods = wait_targets(&redline, &api, "k8s-pods", "the pod modification", |t| {
        t.len() == 2
            && t.iter()
                .all(|l| l.get("__meta_kubernetes_pod_ready").map(String::as_str) == Some("false"))
    })
    .await;
    assert_eq!(pods[0]["__meta_kubernetes_pod_label_team"], "platform");
    assert_eq!(pods[0]["__meta_kubernetes_pod_labelpresent_team"], "true");
    // The endpointslice role sees the pod change too.
    wait_targets(
        &redline,
        &api,
        "k8s-slices",
        "pod labels on endpoint targets",
        |t| {
            t.iter().any(|l| {
                l.get("__meta_kubernetes_pod_label_team")
                    .map(String::as_str)
                    == Some("platform")
            })
        },
    )
    .await;

    // ADDED: a node joins.
    let mut node2 = api.object("nodes", "ip-10-0-1-23.eu-west-1.compute.internal");
    node2["metadata"]["name"] = json!("ip-10-0-2-41.eu-west-1.compute.internal");
    node2["status"]["addresses"] = json!([
        {"type": "InternalIP", "address": "10.0.2.41"},
        {"type": "Hostname", "address": "ip-10-0-2-41.eu-west-1.compute.internal"}
    ]);
    api.change("nodes", "ADDED", node2.clone(), true);
    let nodes = wait_targets(&redline, &api, "k8s-nodes", "the new node", |t| {
        t.len() == 2
    })
    .await;
    assert_eq!(addresses(&nodes), ["10.0.1.23:10250", "10.0.2.41:10250"]);

    // DELETED: the pod goes away, its targets with it.
    api.change("pods", "DELETED", pod, true);
    wait_targets(&redline, &api, "k8s-pods", "the pod deletion", |t| {
        t.is_empty()
    })
    .await;

    // The watches drop and, while redline is away, a node leaves and a pod starts. The
    // resumed watches get 410 Gone; redline re-lists and catches up.
    api.expire_and_disconnect(false);
    api.change("nodes", "DELETED", node2, false);
    let mut new_pod = recorded("pods.json")["items"][0].clone();
    new_pod["metadata"]["name"] = json!("kube-state-metrics-6f8d9c7b5d-pl4mz");
    new_pod["status"]["podIP"] = json!("10.244.1.52");
    api.change("pods", "ADDED", new_pod, false);
    let pods = wait_targets(&redline, &api, "k8s-pods", "the re-listed pod", |t| {
        t.len() == 2
    })
    .await;
    assert_eq!(addresses(&pods), ["10.244.1.52:8080", "10.244.1.52:8081"]);
    assert_eq!(
        pods[0]["__meta_kubernetes_pod_name"],
        "kube-state-metrics-6f8d9c7b5d-pl4mz"
    );
    let nodes = wait_targets(&redline, &api, "k8s-nodes", "the re-listed nodes", |t| {
        t.len() == 1
    })
    .await;
    assert_eq!(nodes[0]["__address__"], "10.0.1.23:10250");

    // Again, with the resumed watch refused by an HTTP 410 status instead of an ERROR event:
    // the node that left comes back.
    api.expire_and_disconnect(true);
    let node2 = {
        let mut n = api.object("nodes", "ip-10-0-1-23.eu-west-1.compute.internal");
        n["metadata"]["name"] = json!("ip-10-0-2-41.eu-west-1.compute.internal");
        n["status"]["addresses"] = json!([{"type": "InternalIP", "address": "10.0.2.41"}]);
        n
    };
    api.change("nodes", "ADDED", node2, false);
    let nodes = wait_targets(
        &redline,
        &api,
        "k8s-nodes",
        "the node after an HTTP 410",
        |t| t.len() == 2,
    )
    .await;
    assert_eq!(addresses(&nodes), ["10.0.1.23:10250", "10.0.2.41:10250"]);

    // The client listed, watched, was refused and listed again; namespaced roles used
    // namespaced paths.
    let requests = api.requests();
    let pod_lists = requests
        .iter()
        .filter(|r| *r == "LIST /api/v1/pods")
        .count();
    assert!(
        pod_lists >= 2,
        "pods were re-listed after 410: {requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r == "WATCH /api/v1/pods"),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r == "LIST /apis/discovery.k8s.io/v1/namespaces/monitoring/endpointslices"),
        "{requests:#?}"
    );
    // The targets API is also what a dashboard or promtool-style check reads.
    let all = get_json(&format!("{}/api/v1/targets", redline.base)).await;
    assert_eq!(all["status"], "success");
}

/// Prometheus' `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Prometheus 3's `addObjectMetaLabels`: `<role>_name`, and for every label and annotation
/// its value and a `*present` label.
fn object_meta_labels(out: &mut BTreeMap<String, String>, meta: &Value, role: &str) {
    let p = format!("__meta_kubernetes_{role}");
    out.insert(
        format!("{p}_name"),
        meta["name"].as_str().unwrap_or("").into(),
    );
    for (kind, present) in [
        ("label", "labelpresent"),
        ("annotation", "annotationpresent"),
    ] {
        let field = if kind == "label" {
            "labels"
        } else {
            "annotations"
        };
        for (k, v) in meta[field].as_object().into_iter().flatten() {
            let k = sanitize(k);
            out.insert(format!("{p}_{kind}_{k}"), v.as_str().unwrap_or("").into());
            out.insert(format!("{p}_{present}_{k}"), "true".into());
        }
    }
}

/// Debian's prometheus (2.42+ds) is built without Kubernetes discovery, so it cannot be run
/// against the fake API server. Instead every label of the node and service targets is
/// derived from the recorded objects by the rules of Prometheus 3's `discovery/kubernetes`
/// (node.go `nodeLabels`/`buildNode`, service.go `serviceLabels`/`buildService`,
/// kubernetes.go `addObjectMetaLabels`), and redline's targets must carry exactly those:
/// none missing, none added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_service_targets_carry_exactly_prometheus_3_labels() {
    redline::install_crypto_provider();
    let api = FakeApi::start().await;
    let dir = temp_dir("exact-labels");
    let redline = start_redline(&dir, &api.url);

    // node.go: provider ID, object meta, one target at the first InternalIP (then
    // ExternalIP, legacy host IP, Hostname) and the kubelet port, `instance` the node name,
    // and one `node_address_<type>` label per address type (its first address).
    let node = &recorded("nodes.json")["items"][0];
    let mut want = BTreeMap::new();
    job_labels(&mut want, "k8s-nodes");
    want.insert(
        "__meta_kubernetes_node_provider_id".to_string(),
        node["spec"]["providerID"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    );
    object_meta_labels(&mut want, &node["metadata"], "node");
    let addresses = node["status"]["addresses"].as_array().expect("addresses");
    for a in addresses.iter().rev() {
        want.insert(
            format!(
                "__meta_kubernetes_node_address_{}",
                sanitize(a["type"].as_str().unwrap())
            ),
            a["address"].as_str().unwrap().to_string(),
        );
    }
    let ip = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .expect("an InternalIP")["address"]
        .as_str()
        .unwrap();
    let port = &node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"];
    want.insert("__address__".into(), format!("{ip}:{port}"));
    want.insert(
        "instance".into(),
        node["metadata"]["name"].as_str().unwrap().into(),
    );
    let nodes = wait_targets(&redline, &api, "k8s-nodes", "the node", |t| t.len() == 1).await;
    assert_eq!(nodes[0], want, "node target");

    // service.go: namespace and object meta for the service, then per port its address
    // `<name>.<namespace>.svc:<port>`, port name, number and protocol, the service type and
    // the cluster IP (external name for ExternalName, load balancer IP for LoadBalancer).
    let svc = &recorded("services.json")["items"][0];
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP", "the recorded service's type");
    let name = svc["metadata"]["name"].as_str().unwrap();
    let ns = svc["metadata"]["namespace"].as_str().unwrap();
    let mut common = BTreeMap::new();
    job_labels(&mut common, "k8s-services");
    common.insert("__meta_kubernetes_namespace".to_string(), ns.to_string());
    object_meta_labels(&mut common, &svc["metadata"], "service");
    let mut want: Vec<BTreeMap<String, String>> = spec["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            let mut t = common.clone();
            let number = p["port"].as_i64().expect("port").to_string();
            for (k, v) in [
                ("__address__", format!("{name}.{ns}.svc:{number}")),
                (
                    "__meta_kubernetes_service_port_name",
                    p["name"].as_str().unwrap().into(),
                ),
                ("__meta_kubernetes_service_port_number", number.clone()),
                (
                    "__meta_kubernetes_service_port_protocol",
                    p["protocol"].as_str().unwrap().into(),
                ),
                ("__meta_kubernetes_service_type", "ClusterIP".into()),
                (
                    "__meta_kubernetes_service_cluster_ip",
                    spec["clusterIP"].as_str().unwrap().into(),
                ),
            ] {
                t.insert(k.to_string(), v);
            }
            t
        })
        .collect();
    want.sort();
    let mut svcs = wait_targets(&redline, &api, "k8s-services", "the service ports", |t| {
        t.len() == 2
    })
    .await;
    svcs.sort();
    assert_eq!(svcs, want, "service targets");
}

/// Polls the targets of `job` until they equal `want` (both sorted), then asserts equality,
/// so a mismatch fails with the difference rather than a timeout. Labels with an empty value
/// are dropped from `want` first, as Prometheus' label builder drops them from every target.
async fn assert_targets_exactly(
    redline: &Redline,
    job: &str,
    mut want: Vec<BTreeMap<String, String>>,
) {
    for t in &mut want {
        t.retain(|_, v| !v.is_empty());
    }
    want.sort();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut got = discovered(redline, job).await.unwrap_or_default();
        got.sort();
        if got == want || std::time::Instant::now() > end {
            assert_eq!(got, want, "targets of {job}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn meta_label(name: &str) -> String {
    format!("__meta_kubernetes_{name}")
}

/// pod.go `podLabels`: IP, ready (the `Ready` condition lowercased, else `unknown`), phase,
/// node, host IP, UID, the first IPv4 and IPv6 address of `status.podIPs`, object meta, and
/// the controller's kind and name.
fn pod_labels(pod: &Value) -> BTreeMap<String, String> {
    let status = &pod["status"];
    let mut ls = BTreeMap::new();
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| s(&c["status"]).to_lowercase())
        .unwrap_or_else(|| "unknown".into());
    for (k, v) in [
        ("pod_ip", s(&status["podIP"])),
        ("pod_ready", ready),
        ("pod_phase", s(&status["phase"])),
        ("pod_node_name", s(&pod["spec"]["nodeName"])),
        ("pod_host_ip", s(&status["hostIP"])),
        ("pod_uid", s(&pod["metadata"]["uid"])),
    ] {
        ls.insert(meta_label(k), v);
    }
    for ip in status["podIPs"].as_array().into_iter().flatten() {
        let ip = s(&ip["ip"]);
        let family = match ip.parse::<std::net::IpAddr>() {
            // Go's `To4` takes an IPv4-mapped IPv6 address for IPv4.
            Ok(std::net::IpAddr::V4(_)) => "pod_ipv4",
            Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => "pod_ipv4",
            Ok(std::net::IpAddr::V6(_)) => "pod_ipv6",
            Err(_) => continue,
        };
        ls.entry(meta_label(family)).or_insert(ip);
    }
    object_meta_labels(&mut ls, &pod["metadata"], "pod");
    let controller = pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["controller"] == true);
    if let Some(c) = controller {
        for (k, v) in [("kind", &c["kind"]), ("name", &c["name"])] {
            if !s(v).is_empty() {
                ls.insert(meta_label(&format!("pod_controller_{k}")), s(v));
            }
        }
    }
    ls
}

/// The pod's containers, then its init containers, each with whether it is an init container.
fn pod_containers(pod: &Value) -> Vec<(&Value, bool)> {
    let spec = &pod["spec"];
    let main = spec["containers"].as_array().into_iter().flatten();
    let init = spec["initContainers"].as_array().into_iter().flatten();
    main.map(|c| (c, false))
        .chain(init.map(|c| (c, true)))
        .collect()
}

fn ports(c: &Value) -> Vec<&Value> {
    c["ports"].as_array().into_iter().flatten().collect()
}

/// The labels of a container port target the endpoint roles add for a pod port that no
/// endpoint port covered (endpoints.go / endpointslice.go, after the endpoint loop).
fn uncovered_pod_ports(
    pod: &Value,
    covered: &[i64],
    group: &BTreeMap<String, String>,
) -> Vec<BTreeMap<String, String>> {
    let ip = s(&pod["status"]["podIP"]);
    let mut out = Vec::new();
    if ip.is_empty() {
        return out;
    }
    for (c, init) in pod_containers(pod) {
        for p in ports(c) {
            let number = p["containerPort"].as_i64().expect("containerPort");
            if covered.contains(&number) {
                continue;
            }
            let mut t = group.clone();
            t.insert("__address__".into(), format!("{ip}:{number}"));
            for (k, v) in [
                ("pod_container_name", s(&c["name"])),
                ("pod_container_image", s(&c["image"])),
                ("pod_container_port_name", s(&p["name"])),
                ("pod_container_port_number", number.to_string()),
                ("pod_container_port_protocol", s(&p["protocol"])),
                ("pod_container_init", init.to_string()),
            ] {
                t.insert(meta_label(k), v);
            }
            t.extend(pod_labels(pod));
            out.push(t);
        }
    }
    out
}

/// The container labels an endpoint target gets for the pod container exposing `port`.
/// Prometheus' `break` leaves only the inner loop over one container's ports, so when several
/// containers expose the port, the last one wins; `protocol` is the endpoint port's for the
/// endpoints role and the container port's (None) for the endpointslice role.
fn matching_container(
    t: &mut BTreeMap<String, String>,
    pod: &Value,
    port: i64,
    protocol: Option<String>,
) {
    for (c, init) in pod_containers(pod) {
        if let Some(p) = ports(c)
            .into_iter()
            .find(|p| p["containerPort"].as_i64() == Some(port))
        {
            for (k, v) in [
                ("pod_container_name", s(&c["name"])),
                ("pod_container_image", s(&c["image"])),
                ("pod_container_port_name", s(&p["name"])),
                ("pod_container_port_number", port.to_string()),
                (
                    "pod_container_port_protocol",
                    protocol.clone().unwrap_or_else(|| s(&p["protocol"])),
                ),
                ("pod_container_init", init.to_string()),
            ] {
                t.insert(meta_label(k), v);
            }
        }
    }
}

/// service.go `serviceLabels`: the namespace and the service's object meta.
fn service_group_labels(svc: &Value) -> BTreeMap<String, String> {
    let mut ls = BTreeMap::new();
    ls.insert(meta_label("namespace"), s(&svc["metadata"]["namespace"]));
    object_meta_labels(&mut ls, &svc["metadata"], "service");
    ls
}

fn find<'a>(objects: &'a [Value], ns: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
}

/// Debian's prometheus is built without Kubernetes discovery, so, as for nodes and services
/// above, every label of the pod, endpoints and endpointslice targets is derived from the
/// objects the fake API server serves by the rules of Prometheus 3's `discovery/kubernetes`
/// (pod.go `podLabels`/`buildPod`, endpoints.go `buildEndpoints`, endpointslice.go
/// `buildEndpointSlice`), and redline's targets must carry exactly those. The recorded
/// objects are extended first with what the recording lacks: an init container with a port
/// and its status, a container without ports, a dual-stack pod, an endpoint address without
/// a target, one whose pod is gone, a not-ready address, and a port no container exposes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_and_endpoint_targets_carry_exactly_prometheus_3_labels() {
    redline::install_crypto_provider();
    let api = FakeApi::start().await;

    let mut pod = api.object("pods", KSM_POD);
    pod["spec"]["initContainers"] = json!([{
        "name": "config-reloader",
        "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
        "restartPolicy": "Always",
        "ports": [{"name": "reloader-web", "containerPort": 8085, "protocol": "TCP"}]
    }]);
    pod["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({"name": "log-shipper", "image": "fluent/fluent-bit:3.1"}));
    pod["status"]["initContainerStatuses"] = json!([{
        "name": "config-reloader",
        "containerID": "containerd://5d4c3b2a19f8e7d6c5b4a3928170f6e5d4c3b2a19f8e7d6c5b4a3928170f6e5d",
        "ready": true, "restartCount": 0, "image": "", "imageID": ""
    }]);
    pod["status"]["podIPs"] = json!([
        {"ip": "10.244.1.17"}, {"ip": "fd00:10:244:1::17"}, {"ip": "10.244.1.99"}
    ]);
    api.change("pods", "MODIFIED", pod, false);

    let mut eps = api.object("endpoints", "kube-state-metrics");
    let subset = &mut eps["subsets"][0];
    subset["addresses"]
        .as_array_mut()
        .expect("addresses")
        .push(json!({"ip": "10.0.7.5", "hostname": "ksm-external"}));
    subset["notReadyAddresses"] = json!([{
        "ip": "10.244.2.40",
        "nodeName": "ip-10-0-2-41.eu-west-1.compute.internal",
        "targetRef": {"kind": "Pod", "namespace": "monitoring", "name": "kube-state-metrics-6f8d9c7b5d-gone1"}
    }]);
    subset["ports"].as_array_mut().expect("ports").extend([
        json!({"name": "reloader-web", "port": 8085, "protocol": "TCP"}),
        json!({"name": "debug", "port": 6060, "protocol": "TCP"}),
    ]);
    api.change("endpoints", "MODIFIED", eps, false);

    let mut slice = api.object("endpointslices", "kube-state-metrics-7hx2p");
    slice["endpoints"].as_array_mut().expect("endpoints").extend([
        json!({
            "addresses": ["10.244.2.40"],
            "conditions": {"ready": false, "serving": true, "terminating": true},
            "hostname": "ksm-1",
            "targetRef": {"kind": "Pod", "namespace": "monitoring", "name": "kube-state-metrics-6f8d9c7b5d-gone1"},
            "deprecatedTopology": {"topology.kubernetes.io/region": "eu-west-1"}
        }),
        json!({"addresses": ["10.0.7.5"], "conditions": {}}),
    ]);
    slice["ports"].as_array_mut().expect("ports").extend([
        json!({"name": "reloader-web", "protocol": "TCP", "port": 8085, "appProtocol": "http"}),
        json!({"name": "debug", "protocol": "TCP", "port": 6060}),
    ]);
    api.change("endpointslices", "MODIFIED", slice, false);

    let (pods, services, endpoints, slices) = {
        let c = api.cluster.lock().expect("lock");
        (
            c.objects["pods"].clone(),
            c.objects["services"].clone(),
            c.objects["endpoints"].clone(),
            c.objects["endpointslices"].clone(),
        )
    };
    let dir = temp_dir("exact-pod-labels");
    let redline = start_redline(&dir, &api.url);

    // pod.go `buildPod`: nothing for a pod without an IP; otherwise the pod's labels and
    // namespace on the group, and per container (then init container) one target per port,
    // or one at the bare pod IP for a container without ports, with the container's name,
    // ID (from the matching container status), image and whether it is an init container.
    let mut want = Vec::new();
    for pod in &pods {
        let ip = s(&pod["status"]["podIP"]);
        if ip.is_empty() {
            continue;
        }
        let mut group = BTreeMap::new();
        job_labels(&mut group, "k8s-pods");
        group.extend(pod_labels(pod));
        group.insert(meta_label("namespace"), s(&pod["metadata"]["namespace"]));
        for (c, init) in pod_containers(pod) {
            let statuses = if init {
                "initContainerStatuses"
            } else {
                "containerStatuses"
            };
            let id = pod["status"][statuses]
                .as_array()
                .into_iter()
                .flatten()
                .find(|st| st["name"] == c["name"])
                .map(|st| s(&st["containerID"]))
                .unwrap_or_default();
            let mut base = group.clone();
            for (k, v) in [
                ("pod_container_name", s(&c["name"])),
                ("pod_container_id", id),
                ("pod_container_image", s(&c["image"])),
                ("pod_container_init", init.to_string()),
            ] {
                base.insert(meta_label(k), v);
            }
            if ports(c).is_empty() {
                base.insert("__address__".into(), ip.clone());
                want.push(base);
                continue;
            }
            for p in ports(c) {
                let mut t = base.clone();
                let number = p["containerPort"].as_i64().expect("containerPort");
                t.insert("__address__".into(), format!("{ip}:{number}"));
                t.insert(meta_label("pod_container_port_name"), s(&p["name"]));
                t.insert(meta_label("pod_container_port_number"), number.to_string());
                t.insert(meta_label("pod_container_port_protocol"), s(&p["protocol"]));
                want.push(t);
            }
        }
    }
    assert!(
        want.iter()
            .any(|t| t[&meta_label("pod_container_init")] == "true"),
        "the init container is a target"
    );
    assert_targets_exactly(&redline, "k8s-pods", want).await;

    // endpoints.go `buildEndpoints`: the namespace, the same-named service's labels and the
    // endpoints object's meta on the group; per subset, port and address (ready, then not
    // ready) the port's name and protocol, readiness, the address's target, node and
    // hostname, and for an address whose target is a known pod, the pod's labels and those
    // of the container exposing the port. Then the seen pods' uncovered container ports.
    let mut want = Vec::new();
    for e in &endpoints {
        let ns = s(&e["metadata"]["namespace"]);
        let name = s(&e["metadata"]["name"]);
        let mut group = BTreeMap::new();
        job_labels(&mut group, "k8s-endpoints");
        group.insert(meta_label("namespace"), ns.clone());
        if let Some(svc) = find(&services, &ns, &name) {
            group.extend(service_group_labels(svc));
        }
        object_meta_labels(&mut group, &e["metadata"], "endpoints");
        let mut seen: Vec<(&Value, Vec<i64>)> = Vec::new();
        for subset in e["subsets"].as_array().into_iter().flatten() {
            for port in subset["ports"].as_array().into_iter().flatten() {
                let number = port["port"].as_i64().expect("port");
                let ready = subset["addresses"].as_array().into_iter().flatten();
                let not_ready = subset["notReadyAddresses"].as_array().into_iter().flatten();
                let all = ready
                    .map(|a| (a, "true"))
                    .chain(not_ready.map(|a| (a, "false")));
                for (addr, ready) in all {
                    let mut t = group.clone();
                    t.insert("__address__".into(), format!("{}:{number}", s(&addr["ip"])));
                    t.insert(meta_label("endpoint_port_name"), s(&port["name"]));
                    t.insert(meta_label("endpoint_port_protocol"), s(&port["protocol"]));
                    t.insert(meta_label("endpoint_ready"), ready.into());
                    let r = &addr["targetRef"];
                    if r.is_object() {
                        t.insert(meta_label("endpoint_address_target_kind"), s(&r["kind"]));
                        t.insert(meta_label("endpoint_address_target_name"), s(&r["name"]));
                    }
                    if addr["nodeName"].is_string() {
                        t.insert(meta_label("endpoint_node_name"), s(&addr["nodeName"]));
                    }
                    if !s(&addr["hostname"]).is_empty() {
                        t.insert(meta_label("endpoint_hostname"), s(&addr["hostname"]));
                    }
                    let pod = (r["kind"] == "Pod")
                        .then(|| find(&pods, &s(&r["namespace"]), &s(&r["name"])))
                        .flatten();
                    if let Some(pod) = pod {
                        t.extend(pod_labels(pod));
                        matching_container(&mut t, pod, number, Some(s(&port["protocol"])));
                        match seen.iter_mut().find(|(p, _)| std::ptr::eq(*p, pod)) {
                            Some((_, covered)) => covered.push(number),
                            None => seen.push((pod, vec![number])),
                        }
                    }
                    want.push(t);
                }
            }
        }
        for (pod, covered) in &seen {
            want.extend(uncovered_pod_ports(pod, covered, &group));
        }
    }
    assert!(want.iter().any(|t| {
        t.get(&meta_label("endpoint_address_target_name"))
            .map(String::as_str)
            == Some("kube-state-metrics-6f8d9c7b5d-gone1")
            && !t.contains_key(&meta_label("pod_name"))
    }));
    assert_targets_exactly(&redline, "k8s-endpoints", want).await;

    // endpointslice.go `buildEndpointSlice`: the namespace, address type and slice meta on
    // the group, with the labels of the service named by `kubernetes.io/service-name`; per
    // endpoint, port and address the port's name, protocol, number and app protocol (each
    // when set), the endpoint's conditions, hostname, target, node, zone and deprecated
    // topology (each when set), then pod and container labels as for endpoints, the
    // container port's protocol; then the seen pods' uncovered container ports.
    let mut want = Vec::new();
    for e in &slices {
        let ns = s(&e["metadata"]["namespace"]);
        let mut group = BTreeMap::new();
        job_labels(&mut group, "k8s-slices");
        group.insert(meta_label("namespace"), ns.clone());
        group.insert(
            meta_label("endpointslice_address_type"),
            s(&e["addressType"]),
        );
        object_meta_labels(&mut group, &e["metadata"], "endpointslice");
        let svc_name = s(&e["metadata"]["labels"]["kubernetes.io/service-name"]);
        if let Some(svc) = find(&services, &ns, &svc_name) {
            group.extend(service_group_labels(svc));
        }
        let mut seen: Vec<(&Value, Vec<i64>)> = Vec::new();
        for ep in e["endpoints"].as_array().into_iter().flatten() {
            for port in e["ports"].as_array().into_iter().flatten() {
                for addr in ep["addresses"].as_array().into_iter().flatten() {
                    let number = port["port"].as_i64();
                    let mut t = group.clone();
                    let address = match number {
                        Some(n) => format!("{}:{n}", s(addr)),
                        None => s(addr),
                    };
                    t.insert("__address__".into(), address);
                    for (k, field) in [
                        ("endpointslice_port_name", "name"),
                        ("endpointslice_port_protocol", "protocol"),
                        ("endpointslice_port_app_protocol", "appProtocol"),
                    ] {
                        if port[field].is_string() {
                            t.insert(meta_label(k), s(&port[field]));
                        }
                    }
                    if let Some(n) = number {
                        t.insert(meta_label("endpointslice_port"), n.to_string());
                    }
                    for c in ["ready", "serving", "terminating"] {
                        if let Some(b) = ep["conditions"][c].as_bool() {
                            let k = format!("endpointslice_endpoint_conditions_{c}");
                            t.insert(meta_label(&k), b.to_string());
                        }
                    }
                    if ep["hostname"].is_string() {
                        t.insert(
                            meta_label("endpointslice_endpoint_hostname"),
                            s(&ep["hostname"]),
                        );
                    }
                    let r = &ep["targetRef"];
                    if r.is_object() {
                        t.insert(
                            meta_label("endpointslice_address_target_kind"),
                            s(&r["kind"]),
                        );
                        t.insert(
                            meta_label("endpointslice_address_target_name"),
                            s(&r["name"]),
                        );
                    }
                    if ep["nodeName"].is_string() {
                        t.insert(
                            meta_label("endpointslice_endpoint_node_name"),
                            s(&ep["nodeName"]),
                        );
                    }
                    if ep["zone"].is_string() {
                        t.insert(meta_label("endpointslice_endpoint_zone"), s(&ep["zone"]));
                    }
                    for (k, v) in ep["deprecatedTopology"].as_object().into_iter().flatten() {
                        let k = sanitize(k);
                        t.insert(
                            meta_label(&format!("endpointslice_endpoint_topology_{k}")),
                            s(v),
                        );
                        t.insert(
                            meta_label(&format!("endpointslice_endpoint_topology_present_{k}")),
                            "true".into(),
                        );
                    }
                    let pod = (r["kind"] == "Pod")
                        .then(|| find(&pods, &s(&r["namespace"]), &s(&r["name"])))
                        .flatten();
                    if let Some(pod) = pod {
                        t.extend(pod_labels(pod));
                        if let Some(n) = number {
                            matching_container(&mut t, pod, n, None);
                        }
                        let entry = match seen.iter_mut().position(|(p, _)| std::ptr::eq(*p, pod)) {
                            Some(i) => &mut seen[i].1,
                            None => {
                                seen.push((pod, Vec::new()));
                                &mut seen.last_mut().expect("just pushed").1
                            }
                        };
                        entry.extend(number);
                    }
                    want.push(t);
                }
            }
        }
        for (pod, covered) in &seen {
            want.extend(uncovered_pod_ports(pod, covered, &group));
        }
    }
    assert_targets_exactly(&redline, "k8s-slices", want).await;
}

fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The discovered labels of one ingress target as Prometheus 3's `ingress.go` builds them,
/// written out by hand: the group's labels (namespace, name, class, labels and annotations
/// with their `present` twins) and the target's (address = host, scheme, host, path), plus
/// what the scrape config adds.
fn ingress_target(
    job: &str,
    group: &[(&str, &str)],
    host: &str,
    scheme: &str,
    path: &str,
) -> BTreeMap<String, String> {
    let mut t = labels_of(group);
    t.extend(labels_of(&[
        ("__address__", host),
        ("__meta_kubernetes_ingress_host", host),
        ("__meta_kubernetes_ingress_scheme", scheme),
        ("__meta_kubernetes_ingress_path", path),
    ]));
    job_labels(&mut t, job);
    t
}

fn sorted(mut t: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
    t.sort_by(|a, b| {
        (&a["__address__"], &a["__meta_kubernetes_ingress_path"])
            .cmp(&(&b["__address__"], &b["__meta_kubernetes_ingress_path"]))
    });
    t
}

/// `role: ingress` with an ingress selector: one target per rule host and path, `https` for
/// hosts in a TLS section (wildcards too), `/` for a rule without paths, nothing for a rule
/// whose `http` lists no paths; the selectors reach the API server as `labelSelector` and
/// `fieldSelector` on every list and watch, so an ingress they exclude never becomes a target,
/// before or after a watch event. `attach_metadata.node` with pod and node selectors gives pod
/// targets their node's labels, and a node's change reaches them through the node watch;
/// `attach_metadata.namespace` does the same with a service's namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_targets_selectors_and_attached_metadata() {
    redline::install_crypto_provider();
    let api = FakeApi::start().await;
    let dir = temp_dir("ingress");
    const NODE: &str = "ip-10-0-1-23.eu-west-1.compute.internal";
    let pods_entry = format!(
        "{{role: pod, kubeconfig_file: kubeconfig, attach_metadata: {{node: true}}, \
         selectors: [{{role: pod, field: 'spec.nodeName={NODE}'}}, \
         {{role: node, label: 'kubernetes.io/os=linux'}}]}}"
    );
    let redline = start_redline_jobs(
        &dir,
        &api.url,
        &[
            (
                "k8s-ingresses",
                "{role: ingress, kubeconfig_file: kubeconfig, selectors: [{role: ingress, \
                 label: 'team=observability', field: 'metadata.namespace=monitoring'}]}",
            ),
            ("k8s-pods-on-node", &pods_entry),
            (
                "k8s-services-ns",
                "{role: service, kubeconfig_file: kubeconfig, attach_metadata: {namespace: true}}",
            ),
        ],
    );

    let grafana: &[(&str, &str)] = &[
        ("__meta_kubernetes_namespace", "monitoring"),
        ("__meta_kubernetes_ingress_name", "grafana"),
        ("__meta_kubernetes_ingress_class_name", "nginx"),
        (
            "__meta_kubernetes_ingress_label_app_kubernetes_io_name",
            "grafana",
        ),
        (
            "__meta_kubernetes_ingress_labelpresent_app_kubernetes_io_name",
            "true",
        ),
        ("__meta_kubernetes_ingress_label_team", "observability"),
        ("__meta_kubernetes_ingress_labelpresent_team", "true"),
        (
            "__meta_kubernetes_ingress_annotation_nginx_ingress_kubernetes_io_backend_protocol",
            "HTTP",
        ),
        (
            "__meta_kubernetes_ingress_annotationpresent_nginx_ingress_kubernetes_io_backend_protocol",
            "true",
        ),
    ];
    let alertmanager: &[(&str, &str)] = &[
        ("__meta_kubernetes_namespace", "monitoring"),
        ("__meta_kubernetes_ingress_name", "alertmanager"),
        ("__meta_kubernetes_ingress_label_team", "observability"),
        ("__meta_kubernetes_ingress_labelpresent_team", "true"),
    ];
    let job = "k8s-ingresses";
    let want = sorted(vec![
        ingress_target(job, alertmanager, "alerts.example.com", "https", "/"),
        ingress_target(job, grafana, "grafana.example.com", "https", "/"),
        ingress_target(job, grafana, "grafana.example.com", "https", "/api/health"),
        ingress_target(job, grafana, "grafana.internal.example.com", "http", "/"),
    ]);
    let got = wait_targets(&redline, &api, job, "the selected ingresses", |t| {
        t.len() == want.len()
    })
    .await;
    assert_eq!(sorted(got), want);

    // Watch events: the selected ingress gains a TLS host and a path; a new ingress the
    // label selector excludes is added at the same time and never shows up.
    let mut changed = api.object("ingresses", "grafana");
    changed["spec"]["tls"][0]["hosts"] = json!(["grafana.example.com", "*.internal.example.com"]);
    changed["spec"]["rules"][1]["http"]["paths"]
        .as_array_mut()
        .expect("paths")
        .push(json!({"path": "/metrics", "pathType": "Exact",
                     "backend": {"service": {"name": "grafana", "port": {"number": 3000}}}}));
    api.change("ingresses", "MODIFIED", changed, true);
    let mut other_team = api.object("ingresses", "alertmanager");
    other_team["metadata"]["name"] = json!("billing");
    other_team["metadata"]["labels"] = json!({"team": "billing"});
    api.change("ingresses", "ADDED", other_team, true);
    let want = sorted(vec![
        ingress_target(job, alertmanager, "alerts.example.com", "https", "/"),
        ingress_target(job, grafana, "grafana.example.com", "https", "/"),
        ingress_target(job, grafana, "grafana.example.com", "https", "/api/health"),
        ingress_target(job, grafana, "grafana.internal.example.com", "https", "/"),
        ingress_target(
            job,
            grafana,
            "grafana.internal.example.com",
            "https",
            "/metrics",
        ),
    ]);
    let got = wait_targets(&redline, &api, job, "the modified ingress", |t| {
        t.len() == want.len()
    })
    .await;
    assert_eq!(sorted(got), want);
    // Deleting the selected ingress removes its targets.
    api.change(
        "ingresses",
        "DELETED",
        api.object("ingresses", "alertmanager"),
        true,
    );
    let got = wait_targets(&redline, &api, job, "alertmanager deleted", |t| {
        t.len() == 4
    })
    .await;
    assert!(got
        .iter()
        .all(|t| t["__meta_kubernetes_ingress_name"] == "grafana"));

    // Pods on the selected node, with the node's labels attached.
    let pods = wait_targets(
        &redline,
        &api,
        "k8s-pods-on-node",
        "pods with node labels",
        |t| !t.is_empty(),
    )
    .await;
    assert!(pods.iter().all(|t| {
        t["__meta_kubernetes_pod_node_name"] == NODE
            && t["__meta_kubernetes_node_name"] == NODE
            && t["__meta_kubernetes_node_label_topology_kubernetes_io_zone"] == "eu-west-1a"
            && t["__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone"] == "true"
    }));
    assert!(
        pods.iter()
            .all(|t| t["__meta_kubernetes_pod_name"] == KSM_POD),
        "the field selector keeps only the pod scheduled on {NODE}: {pods:#?}"
    );
    let mut node = api.object("nodes", NODE);
    node["metadata"]["labels"]["node.kubernetes.io/pool"] = json!("monitoring");
    api.change("nodes", "MODIFIED", node, true);
    wait_targets(
        &redline,
        &api,
        "k8s-pods-on-node",
        "the node's new label on its pods",
        |t| {
            !t.is_empty()
                && t.iter().all(|t| {
                    t.get("__meta_kubernetes_node_label_node_kubernetes_io_pool")
                        .map(String::as_str)
                        == Some("monitoring")
                })
        },
    )
    .await;

    // attach_metadata.namespace: the service's group carries its namespace's labels and
    // annotations (no name label beyond __meta_kubernetes_namespace), and a namespace's
    // change reaches it through the namespace watch.
    let services = wait_targets(&redline, &api, "k8s-services-ns", "services", |t| {
        !t.is_empty()
    })
    .await;
    let ns_labels: Vec<(String, String)> = services[0]
        .iter()
        .filter(|(k, _)| k.starts_with("__meta_kubernetes_namespace"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("__meta_kubernetes_namespace", "monitoring"),
        (
            "__meta_kubernetes_namespace_annotation_owner_example_com_slack",
            "#observability",
        ),
        (
            "__meta_kubernetes_namespace_annotationpresent_owner_example_com_slack",
            "true",
        ),
        (
            "__meta_kubernetes_namespace_label_kubernetes_io_metadata_name",
            "monitoring",
        ),
        (
            "__meta_kubernetes_namespace_labelpresent_kubernetes_io_metadata_name",
            "true",
        ),
        ("__meta_kubernetes_namespace_label_team", "observability"),
        ("__meta_kubernetes_namespace_labelpresent_team", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect::<BTreeMap<_, _>>()
    .into_iter()
    .collect();
    assert_eq!(ns_labels, want);
    let mut ns = api.object("namespaces", "monitoring");
    ns["metadata"]["labels"]["team"] = json!("platform");
    api.change("namespaces", "MODIFIED", ns, true);
    wait_targets(
        &redline,
        &api,
        "k8s-services-ns",
        "the namespace's new label",
        |t| {
            !t.is_empty()
                && t.iter().all(|t| {
                    t.get("__meta_kubernetes_namespace_label_team")
                        .map(String::as_str)
                        == Some("platform")
                })
        },
    )
    .await;

    // Every list and watch carried the configured selectors for its kind.
    let requests = api.requests();
    let with = |prefix: &str, path: &str, params: &str| {
        let hits: Vec<&String> = requests
            .iter()
            .filter(|r| r.starts_with(prefix) && r.split(' ').nth(1) == Some(path))
            .collect();
        assert!(!hits.is_empty(), "no {prefix} {path}: {requests:#?}");
        for r in hits {
            assert!(r.ends_with(params), "{r} lacks {params}");
        }
    };
    let ingress_sel =
        "labelSelector=team=observability fieldSelector=metadata.namespace=monitoring";
    with("LIST", "/apis/networking.k8s.io/v1/ingresses", ingress_sel);
    with("WATCH", "/apis/networking.k8s.io/v1/ingresses", ingress_sel);
    let pod_sel = format!("fieldSelector=spec.nodeName={NODE}");
    with("LIST", "/api/v1/pods", &pod_sel);
    with("WATCH", "/api/v1/pods", &pod_sel);
    with(
        "LIST",
        "/api/v1/nodes",
        "labelSelector=kubernetes.io/os=linux",
    );
    with(
        "WATCH",
        "/api/v1/nodes",
        "labelSelector=kubernetes.io/os=linux",
    );
}
