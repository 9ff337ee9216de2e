//! Each role's targets, groups and labels against objects recorded from a real cluster
//! (`tests/data/kubernetes/`), checked label by label against what Prometheus produces.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;

use super::labels::{self, Lookup};
use super::*;
use crate::config::Config;
use crate::store::Labels;

fn items<K: DeserializeOwned>(file: &str) -> Vec<K> {
    let path = format!(
        "{}/tests/data/kubernetes/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let list: serde_json::Value = serde_json::from_str(&text).expect("recorded list is JSON");
    serde_json::from_value(list["items"].clone()).expect("items decode")
}

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Recorded {
    pods: Vec<Pod>,
    services: Vec<Service>,
    nodes: Vec<Node>,
    attach: bool,
}

impl Lookup for Recorded {
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
    }
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
    }
    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| self.attach && n.metadata.name.as_deref() == Some(name))
    }
}

fn recorded(attach: bool) -> Recorded {
    Recorded {
        pods: items("pods.json"),
        services: items("services.json"),
        nodes: items("nodes.json"),
        attach,
    }
}

const KSM_POD_LABELS: &[(&str, &str)] = &[
    (
        "__meta_kubernetes_pod_annotation_kubectl_kubernetes_io_default_container",
        "kube-state-metrics",
    ),
    (
        "__meta_kubernetes_pod_annotationpresent_kubectl_kubernetes_io_default_container",
        "true",
    ),
    ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
    (
        "__meta_kubernetes_pod_controller_name",
        "kube-state-metrics-6f8d9c7b5d",
    ),
    ("__meta_kubernetes_pod_host_ip", "10.0.1.23"),
    ("__meta_kubernetes_pod_ip", "10.244.1.17"),
    ("__meta_kubernetes_pod_ipv4", "10.244.1.17"),
    (
        "__meta_kubernetes_pod_label_app_kubernetes_io_component",
        "exporter",
    ),
    (
        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "kube-state-metrics",
    ),
    (
        "__meta_kubernetes_pod_label_app_kubernetes_io_part_of",
        "kube-prometheus",
    ),
    (
        "__meta_kubernetes_pod_label_app_kubernetes_io_version",
        "2.13.0",
    ),
    (
        "__meta_kubernetes_pod_label_pod_template_hash",
        "6f8d9c7b5d",
    ),
    (
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_component",
        "true",
    ),
    (
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name",
        "true",
    ),
    (
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_part_of",
        "true",
    ),
    (
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_version",
        "true",
    ),
    (
        "__meta_kubernetes_pod_labelpresent_pod_template_hash",
        "true",
    ),
    (
        "__meta_kubernetes_pod_name",
        "kube-state-metrics-6f8d9c7b5d-x2k9q",
    ),
    (
        "__meta_kubernetes_pod_node_name",
        "ip-10-0-1-23.eu-west-1.compute.internal",
    ),
    ("__meta_kubernetes_pod_phase", "Running"),
    ("__meta_kubernetes_pod_ready", "true"),
    (
        "__meta_kubernetes_pod_uid",
        "b7e3f0a2-1c4d-4e8f-9a6b-3d2c1e0f9a8b",
    ),
];

#[test]
fn node_target_is_internal_ip_and_kubelet_port() {
    let nodes: Vec<Node> = items("nodes.json");
    let g = labels::build_node(&nodes[0]);
    assert_eq!(g.source, "node/ip-10-0-1-23.eu-west-1.compute.internal");
    assert_eq!(g.targets.len(), 1);
    assert_eq!(
        map(&g.targets[0]),
        pairs(&[
            ("__address__", "10.0.1.23:10250"),
            ("instance", "ip-10-0-1-23.eu-west-1.compute.internal"),
            (
                "__meta_kubernetes_node_address_Hostname",
                "ip-10-0-1-23.eu-west-1.compute.internal"
            ),
            (
                "__meta_kubernetes_node_address_InternalDNS",
                "ip-10-0-1-23.eu-west-1.compute.internal"
            ),
            ("__meta_kubernetes_node_address_InternalIP", "10.0.1.23"),
        ])
    );
    let l = map(&g.labels);
    assert_eq!(
        l["__meta_kubernetes_node_name"],
        "ip-10-0-1-23.eu-west-1.compute.internal"
    );
    assert_eq!(
        l["__meta_kubernetes_node_provider_id"],
        "aws:///eu-west-1a/i-0a1b2c3d4e5f67890"
    );
    assert_eq!(
        l["__meta_kubernetes_node_label_topology_kubernetes_io_zone"],
        "eu-west-1a"
    );
    assert_eq!(
        l["__meta_kubernetes_node_labelpresent_kubernetes_io_os"],
        "true"
    );
    assert_eq!(
        l["__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl"],
        "0"
    );
    assert_eq!(
        l["__meta_kubernetes_node_annotationpresent_volumes_kubernetes_io_controller_managed_attach_detach"],
        "true"
    );
    // 9 labels, 2 annotations, each with a "present" twin, plus name and provider id.
    assert_eq!(l.len(), 9 * 2 + 2 * 2 + 2);
}

#[test]
fn node_without_internal_ip_falls_back_in_prometheus_order() {
    let mut node: Node = items::<Node>("nodes.json").remove(0);
    let status = node.status.as_mut().expect("status");
    status
        .addresses
        .as_mut()
        .expect("addresses")
        .retain(|a| a.type_ == "Hostname");
    let g = labels::build_node(&node);
    assert_eq!(
        g.targets[0].get("__address__"),
        Some("ip-10-0-1-23.eu-west-1.compute.internal:10250")
    );
    status_less_node_has_no_target();
}

fn status_less_node_has_no_target() {
    let mut node: Node = items::<Node>("nodes.json").remove(0);
    node.status = None;
    let g = labels::build_node(&node);
    assert!(g.targets.is_empty());
    assert_eq!(g.source, "node/ip-10-0-1-23.eu-west-1.compute.internal");
}

#[test]
fn pod_has_one_target_per_container_port() {
    let pods: Vec<Pod> = items("pods.json");
    let g = labels::build_pod(&pods[0], None);
    assert_eq!(
        g.source,
        "pod/monitoring/kube-state-metrics-6f8d9c7b5d-x2k9q"
    );
    let mut want = pairs(KSM_POD_LABELS);
    want.insert("__meta_kubernetes_namespace".into(), "monitoring".into());
    assert_eq!(map(&g.labels), want);
    assert_eq!(g.targets.len(), 2);
    let container = [
        ("__meta_kubernetes_pod_container_name", "kube-state-metrics"),
        (
            "__meta_kubernetes_pod_container_id",
            "containerd://8c1f9e2d3b4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",
        ),
        (
            "__meta_kubernetes_pod_container_image",
            "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
        ),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
    ];
    let mut first = pairs(&container);
    first.extend(pairs(&[
        ("__address__", "10.244.1.17:8080"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
    ]));
    assert_eq!(map(&g.targets[0]), first);
    assert_eq!(g.targets[1].get("__address__"), Some("10.244.1.17:8081"));
    assert_eq!(
        g.targets[1].get("__meta_kubernetes_pod_container_port_name"),
        Some("telemetry")
    );
}

#[test]
fn pending_pod_without_ip_has_an_empty_group() {
    let pods: Vec<Pod> = items("pods.json");
    let g = labels::build_pod(&pods[1], None);
    assert_eq!(g.source, "pod/monitoring/batch-report-29312140-h7vwd");
    assert!(g.targets.is_empty());
    assert!(g.labels.is_empty());
}

#[test]
fn container_without_ports_is_one_target_at_the_pod_ip() {
    let mut pod: Pod = items::<Pod>("pods.json").remove(1);
    let status = pod.status.as_mut().expect("status");
    status.pod_ip = Some("10.244.1.30".into());
    status.phase = Some("Running".into());
    let g = labels::build_pod(&pod, None);
    assert_eq!(g.targets.len(), 1);
    let t = map(&g.targets[0]);
    assert_eq!(t["__address__"], "10.244.1.30");
    assert_eq!(t["__meta_kubernetes_pod_container_name"], "report");
    // No status yet, so no container ID: an empty value, which a label set does not keep.
    assert!(!t.contains_key("__meta_kubernetes_pod_container_id"));
    assert!(!t.contains_key("__meta_kubernetes_pod_container_port_number"));
    let l = map(&g.labels);
    assert_eq!(l["__meta_kubernetes_pod_controller_kind"], "Job");
    assert_eq!(l["__meta_kubernetes_pod_ready"], "unknown");
}

#[test]
fn attach_metadata_node_adds_the_node_labels_to_pods() {
    let r = recorded(true);
    let g = labels::build_pod(
        &r.pods[0],
        r.node("ip-10-0-1-23.eu-west-1.compute.internal"),
    );
    let l = map(&g.labels);
    assert_eq!(
        l["__meta_kubernetes_node_name"],
        "ip-10-0-1-23.eu-west-1.compute.internal"
    );
    assert_eq!(
        l["__meta_kubernetes_node_label_topology_kubernetes_io_zone"],
        "eu-west-1a"
    );
    assert!(!l.contains_key("__meta_kubernetes_node_provider_id"));
}

#[test]
fn service_has_one_target_per_port_at_its_dns_name() {
    let svcs: Vec<Service> = items("services.json");
    let g = labels::build_service(&svcs[0]);
    assert_eq!(g.source, "svc/monitoring/kube-state-metrics");
    assert_eq!(g.targets.len(), 2);
    assert_eq!(
        map(&g.targets[0]),
        pairs(&[
            ("__address__", "kube-state-metrics.monitoring.svc:8080"),
            ("__meta_kubernetes_service_cluster_ip", "None"),
            ("__meta_kubernetes_service_port_name", "http-metrics"),
            ("__meta_kubernetes_service_port_number", "8080"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ClusterIP"),
        ])
    );
    let l = map(&g.labels);
    assert_eq!(l["__meta_kubernetes_namespace"], "monitoring");
    assert_eq!(l["__meta_kubernetes_service_name"], "kube-state-metrics");
    assert_eq!(
        l["__meta_kubernetes_service_annotation_prometheus_io_scrape"],
        "true"
    );
    assert_eq!(
        l["__meta_kubernetes_service_label_app_kubernetes_io_name"],
        "kube-state-metrics"
    );
}

#[test]
fn external_name_service_has_external_name_not_cluster_ip() {
    let mut svc: Service = items::<Service>("services.json").remove(0);
    let spec = svc.spec.as_mut().expect("spec");
    spec.type_ = Some("ExternalName".into());
    spec.external_name = Some("db.example.com".into());
    let g = labels::build_service(&svc);
    let t = map(&g.targets[0]);
    assert_eq!(
        t["__meta_kubernetes_service_external_name"],
        "db.example.com"
    );
    assert!(!t.contains_key("__meta_kubernetes_service_cluster_ip"));
}

#[test]
fn endpointslice_targets_carry_service_and_pod_labels() {
    let slices: Vec<EndpointSlice> = items("endpointslices.json");
    let r = recorded(false);
    let g = labels::build_endpointslice(&slices[0], &r);
    assert_eq!(
        g.source,
        "endpointslice/monitoring/kube-state-metrics-7hx2p"
    );
    let l = map(&g.labels);
    assert_eq!(l["__meta_kubernetes_namespace"], "monitoring");
    assert_eq!(l["__meta_kubernetes_endpointslice_address_type"], "IPv4");
    assert_eq!(
        l["__meta_kubernetes_endpointslice_name"],
        "kube-state-metrics-7hx2p"
    );
    assert_eq!(
        l["__meta_kubernetes_endpointslice_label_kubernetes_io_service_name"],
        "kube-state-metrics"
    );
    // A label with an empty value is present but, like every empty label, not kept.
    assert_eq!(
        l["__meta_kubernetes_endpointslice_labelpresent_service_kubernetes_io_headless"],
        "true"
    );
    assert!(!l.contains_key("__meta_kubernetes_endpointslice_label_service_kubernetes_io_headless"));
    assert_eq!(l["__meta_kubernetes_service_name"], "kube-state-metrics");
    // The endpoint port 8080, then the pod's telemetry port 8081 that no endpoint covers.
    assert_eq!(g.targets.len(), 2);
    let mut want = pairs(KSM_POD_LABELS);
    want.extend(pairs(&[
        ("__address__", "10.244.1.17:8080"),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        (
            "__meta_kubernetes_endpointslice_address_target_name",
            "kube-state-metrics-6f8d9c7b5d-x2k9q",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
            "false",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_node_name",
            "ip-10-0-1-23.eu-west-1.compute.internal",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_zone",
            "eu-west-1a",
        ),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http-metrics"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        (
            "__meta_kubernetes_pod_container_image",
            "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
        ),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_name", "kube-state-metrics"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
    ]));
    assert_eq!(map(&g.targets[0]), want);
    let extra = map(&g.targets[1]);
    assert_eq!(extra["__address__"], "10.244.1.17:8081");
    assert_eq!(
        extra["__meta_kubernetes_pod_container_port_name"],
        "telemetry"
    );
    assert!(!extra.contains_key("__meta_kubernetes_endpointslice_port"));
}

#[test]
fn endpointslice_without_known_pod_or_service_still_has_targets() {
    let slices: Vec<EndpointSlice> = items("endpointslices.json");
    let empty = Recorded {
        pods: Vec::new(),
        services: Vec::new(),
        nodes: Vec::new(),
        attach: false,
    };
    let g = labels::build_endpointslice(&slices[0], &empty);
    assert_eq!(g.targets.len(), 1);
    assert!(g.targets[0].get("__meta_kubernetes_pod_name").is_none());
    assert!(g.labels.get("__meta_kubernetes_service_name").is_none());
}

#[test]
fn endpoints_targets_carry_service_pod_and_node_labels() {
    let eps: Vec<Endpoints> = items("endpoints.json");
    let r = recorded(true);
    let g = labels::build_endpoints(&eps[0], &r);
    assert_eq!(g.source, "endpoints/monitoring/kube-state-metrics");
    let l = map(&g.labels);
    assert_eq!(l["__meta_kubernetes_endpoints_name"], "kube-state-metrics");
    assert_eq!(
        l["__meta_kubernetes_endpoints_label_app_kubernetes_io_name"],
        "kube-state-metrics"
    );
    assert_eq!(l["__meta_kubernetes_service_name"], "kube-state-metrics");
    assert_eq!(g.targets.len(), 2);
    let t = map(&g.targets[0]);
    assert_eq!(t["__address__"], "10.244.1.17:8080");
    assert_eq!(t["__meta_kubernetes_endpoint_ready"], "true");
    assert_eq!(t["__meta_kubernetes_endpoint_port_name"], "http-metrics");
    assert_eq!(t["__meta_kubernetes_endpoint_port_protocol"], "TCP");
    assert_eq!(t["__meta_kubernetes_endpoint_address_target_kind"], "Pod");
    assert_eq!(
        t["__meta_kubernetes_endpoint_node_name"],
        "ip-10-0-1-23.eu-west-1.compute.internal"
    );
    assert_eq!(t["__meta_kubernetes_node_label_kubernetes_io_os"], "linux");
    assert_eq!(
        t["__meta_kubernetes_pod_container_port_name"],
        "http-metrics"
    );
    assert_eq!(t["__meta_kubernetes_pod_ready"], "true");
    assert!(!t.contains_key("__meta_kubernetes_endpoint_hostname"));
    assert_eq!(g.targets[1].get("__address__"), Some("10.244.1.17:8081"));
}

#[test]
fn not_ready_endpoint_addresses_are_targets_marked_not_ready() {
    let mut ep: Endpoints = items::<Endpoints>("endpoints.json").remove(0);
    let subset = &mut ep.subsets.as_mut().expect("subsets")[0];
    subset.not_ready_addresses = subset.addresses.take();
    let g = labels::build_endpoints(&ep, &recorded(false));
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_endpoint_ready"),
        Some("false")
    );
}

#[test]
fn label_names_are_sanitized_as_prometheus_does() {
    assert_eq!(
        labels::sanitize_label_name("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(labels::sanitize_label_name("a-b c:d"), "a_b_c_d");
    assert_eq!(labels::sanitize_label_name("ok_123"), "ok_123");
}

#[test]
fn relisting_replaces_only_the_relisted_stream() {
    let pods: Vec<Pod> = items("pods.json");
    let mut objs: Objects<Pod> = Objects::default();
    assert!(objs.apply(0, Event::Apply(pods[0].clone())));
    assert!(objs.apply(1, Event::Apply(pods[1].clone())));
    assert!(!objs.apply(0, Event::Init));
    assert!(objs.apply(0, Event::InitDone));
    let names: Vec<_> = objs
        .iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["batch-report-29312140-h7vwd".to_string()]);
    assert!(objs.apply(1, Event::Delete(pods[1].clone())));
    assert_eq!(objs.iter().count(), 0);
}

fn sd(yaml_entry: &str) -> Result<KubernetesSdConfig, crate::config::ConfigError> {
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - {yaml_entry}\n"
    );
    Config::from_yaml_str(&text, "prometheus.yml")
        .map(|c| c.scrape_configs[0].kubernetes_sd_configs[0].clone())
}

fn sd_err(yaml_entry: &str) -> (String, String) {
    let e = sd(yaml_entry).expect_err("invalid entry");
    (e.field_path().unwrap_or_default().to_string(), e.message())
}

#[test]
fn config_accepts_prometheus_entries() {
    let c = sd("{role: endpointslice, namespaces: {names: [monitoring, default]}, selectors: [{role: pod, label: 'app=web'}], kubeconfig_file: /etc/redline/prod.kubeconfig}").expect("valid");
    assert_eq!(c.role, Role::EndpointSlice);
    assert_eq!(c.namespaces.names, vec!["monitoring", "default"]);
    assert_eq!(
        c.selector(Role::Pod).map(|s| s.label.as_str()),
        Some("app=web")
    );
    assert_eq!(
        c.access,
        ApiAccess::Kubeconfig("/etc/redline/prod.kubeconfig".into())
    );
    let c = sd("{role: node, api_server: 'https://10.0.0.1:6443', bearer_token_file: /var/run/token, tls_config: {insecure_skip_verify: true}}").expect("valid");
    assert!(matches!(c.access, ApiAccess::Server { .. }));
    let c = sd("{role: pod, attach_metadata: {node: true}, namespaces: {own_namespace: true}}")
        .expect("valid");
    assert_eq!(c.access, ApiAccess::InCluster);
    assert!(c.attach_node && c.namespaces.own_namespace);
}

#[test]
fn config_errors_name_the_field() {
    let base = "scrape_configs[0].kubernetes_sd_configs[0]";
    let cases = [
        ("{namespaces: {names: [a]}}", "role", "role missing"),
        (
            "{role: pods}",
            "role",
            "unknown Kubernetes SD role \"pods\"",
        ),
        (
            "{role: ingress, selectors: [{role: service, label: 'a=b'}]}",
            "selectors[0].role",
            "ingress role supports only ingress selectors",
        ),
        (
            "{role: pod, api_server: 'https://k:6443', kubeconfig_file: k.yml}",
            "kubeconfig_file",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "{role: pod, bearer_token: x}",
            "",
            "please provide the 'api_server' URL explicitly",
        ),
        (
            "{role: pod, kubeconfig_file: k.yml, bearer_token: x}",
            "kubeconfig_file",
            "custom HTTP client configuration together with 'kubeconfig_file'",
        ),
        (
            "{role: service, selectors: [{role: pod, label: 'a=b'}]}",
            "selectors[0].role",
            "service role supports only service selectors",
        ),
        (
            "{role: pod, selectors: [{role: pod}, {role: pod}]}",
            "selectors[1].role",
            "duplicated selector role: pod",
        ),
        (
            "{role: pod, selectors: [{role: pod, field: 'nonsense'}]}",
            "selectors[0].field",
            "invalid field selector",
        ),
        (
            "{role: pod, api_server: 'k8s:6443'}",
            "api_server",
            "is not a valid URL",
        ),
        (
            "{role: pod, api_server: 'https://k:6443', namespaces: {own_namespace: true}}",
            "namespaces.own_namespace",
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "{role: pod, proxy_url: 'http://p:3128'}",
            "proxy_url",
            "does not support",
        ),
        ("{role: pod, namespace: x}", "namespace", "unknown field"),
    ];
    for (entry, field, msg) in cases {
        let (path, message) = sd_err(entry);
        let want = if field.is_empty() {
            base.to_string()
        } else {
            format!("{base}.{field}")
        };
        assert_eq!(path, want, "{entry}: {message}");
        assert!(message.contains(msg), "{entry}: {message}");
    }
}

#[test]
fn roles_watch_what_prometheus_watches() {
    assert_eq!(Role::Node.watched_resources(false), vec!["/nodes"]);
    assert_eq!(Role::Pod.watched_resources(true), vec!["/pods", "/nodes"]);
    assert_eq!(
        Role::EndpointSlice.watched_resources(false),
        vec!["discovery.k8s.io/endpointslices", "/services", "/pods"]
    );
}

/// Two containers of one pod declare the endpoint's port number (one TCP, one UDP): like
/// Prometheus, whose `break` leaves only the loop over one container's ports, the target
/// carries the last such container's labels, not the first's.
#[test]
fn endpoint_port_declared_by_two_containers_takes_the_last_container() {
    let mut r = recorded(false);
    let sidecar: k8s_openapi::api::core::v1::Container =
        serde_json::from_value(serde_json::json!({
            "name": "statsd-sidecar",
            "image": "prom/statsd-exporter:v0.27.1",
            "restartPolicy": "Always",
            "ports": [{"name": "statsd-udp", "containerPort": 8080, "protocol": "UDP"}]
        }))
        .expect("container");
    r.pods[0].spec.as_mut().expect("spec").init_containers = Some(vec![sidecar]);
    let at_8080 = |g: &crate::config::discovery::TargetGroup| {
        g.targets
            .iter()
            .map(map)
            .find(|t| t["__address__"] == "10.244.1.17:8080")
            .expect("the 8080 target")
    };
    let eps: Vec<Endpoints> = items("endpoints.json");
    let t = at_8080(&labels::build_endpoints(&eps[0], &r));
    assert_eq!(t["__meta_kubernetes_pod_container_name"], "statsd-sidecar");
    assert_eq!(t["__meta_kubernetes_pod_container_port_name"], "statsd-udp");
    assert_eq!(t["__meta_kubernetes_pod_container_init"], "true");
    // The endpoints role reports the endpoint port's protocol, the endpointslice role the
    // container port's.
    assert_eq!(t["__meta_kubernetes_pod_container_port_protocol"], "TCP");
    let slices: Vec<EndpointSlice> = items("endpointslices.json");
    let t = at_8080(&labels::build_endpointslice(&slices[0], &r));
    assert_eq!(t["__meta_kubernetes_pod_container_name"], "statsd-sidecar");
    assert_eq!(t["__meta_kubernetes_pod_container_port_protocol"], "UDP");
}

/// pod.go: a container without ports on an IPv6 pod is one target at the bracketed pod IP
/// (`[addr]`, the address in Go's canonical form), not the bare address.
#[test]
fn container_without_ports_on_an_ipv6_pod_is_at_the_bracketed_ip() {
    let mut pod: Pod = items::<Pod>("pods.json").remove(1);
    let status = pod.status.as_mut().expect("status");
    status.pod_ip = Some("fd00:10:244:0:0:0:0:30".into());
    let g = labels::build_pod(&pod, None);
    assert_eq!(g.targets.len(), 1);
    assert_eq!(map(&g.targets[0])["__address__"], "[fd00:10:244::30]");
}

/// `namespaces.own_namespace`: the pod's namespace comes from the service account's
/// `namespace` file, is added to the listed names, and an unreadable or empty file is an
/// error with Prometheus' wording, not an empty namespace (which would mean "all").
#[test]
fn own_namespace_is_read_from_the_service_account_file() {
    let dir = crate::testdir::TempDir::new("own-ns");
    let file = dir.join("namespace");
    std::fs::write(&file, "payments").expect("write");
    let own = read_own_namespace(&file).expect("readable");
    assert_eq!(own, "payments");
    let c =
        sd("{role: pod, namespaces: {own_namespace: true, names: [monitoring]}}").expect("valid");
    assert_eq!(namespaces(&c, Some(&own)), vec!["monitoring", "payments"]);
    let alone = sd("{role: pod, namespaces: {own_namespace: true}}").expect("valid");
    assert_eq!(namespaces(&alone, Some(&own)), vec!["payments"]);
    let without = sd("{role: pod, namespaces: {names: [monitoring]}}").expect("valid");
    assert_eq!(namespaces(&without, Some(&own)), vec!["monitoring"]);

    std::fs::write(&file, "").expect("write");
    let e = read_own_namespace(&file).expect_err("empty file");
    assert!(
        e.to_string()
            .contains("could not read own namespace name (empty file"),
        "{e}"
    );
    let e = read_own_namespace(&dir.join("missing")).expect_err("missing file");
    assert!(
        e.to_string()
            .contains("could not determine the pod's namespace"),
        "{e}"
    );
}

/// `matchesHostnamePattern`: a wildcard TLS host covers one label, not more, not fewer.
#[test]
fn ingress_scheme_follows_tls_hosts_and_wildcards() {
    let ing: k8s_openapi::api::networking::v1::Ingress = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "tls": [{"hosts": ["*.example.com", "exact.example.org"]}],
            "rules": [
                {"host": "a.example.com"},
                {"host": "a.b.example.com"},
                {"host": "example.com"},
                {"host": "exact.example.org", "http": {"paths": [{"path": "", "pathType": "Prefix", "backend": {}}]}}
            ]
        }
    }))
    .expect("ingress");
    let g = labels::build_ingress(&ing);
    assert_eq!(g.source, "ingress/shop/web");
    let schemes: Vec<(String, String, String)> = g
        .targets
        .iter()
        .map(map)
        .map(|t| {
            (
                t["__address__"].clone(),
                t["__meta_kubernetes_ingress_scheme"].clone(),
                t["__meta_kubernetes_ingress_path"].clone(),
            )
        })
        .collect();
    let want = [
        ("a.example.com", "https", "/"),
        ("a.b.example.com", "http", "/"),
        ("example.com", "http", "/"),
        ("exact.example.org", "https", "/"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, s, p)| (a.to_string(), s.to_string(), p.to_string()))
        .collect();
    assert_eq!(schemes, want);
    assert!(!map(&g.labels).contains_key("__meta_kubernetes_ingress_class_name"));
}
