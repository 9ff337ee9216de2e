//! From Kubernetes objects to target groups, with exactly the addresses, group sources and
//! `__meta_kubernetes_*` labels of Prometheus' `discovery/kubernetes` package.
//!
//! Every function here is pure: it takes the object (and, for the endpoint roles, lookups of
//! the service and pods it refers to) and returns the group Prometheus would build for it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Endpoints, Namespace, Node, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config::discovery::{TargetGroup, ADDRESS_LABEL};
use crate::store::Labels;

/// The prefix of every label this provider sets.
pub const META_PREFIX: &str = "__meta_kubernetes_";
/// The namespace of a namespaced object.
pub const NAMESPACE_LABEL: &str = "__meta_kubernetes_namespace";
const PRESENT: &str = "true";

/// A label set under construction; sorted, later writes win (as `model.LabelSet`).
type LabelMap = BTreeMap<String, String>;

fn meta(name: &str) -> String {
    format!("{META_PREFIX}{name}")
}

/// Prometheus' `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
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

/// `addObjectMetaLabels`: `<role>_name`, `<role>_label_*`, `<role>_labelpresent_*`,
/// `<role>_annotation_*` and `<role>_annotationpresent_*`.
fn add_object_meta(ls: &mut LabelMap, m: &ObjectMeta, role: &str) {
    ls.insert(
        meta(&format!("{role}_name")),
        m.name.clone().unwrap_or_default(),
    );
    add_labels_and_annotations(ls, m, role);
}

/// `<kind>_label_*`, `<kind>_labelpresent_*`, `<kind>_annotation_*`, `<kind>_annotationpresent_*`.
fn add_labels_and_annotations(ls: &mut LabelMap, m: &ObjectMeta, role: &str) {
    for (k, v) in m.labels.iter().flatten() {
        let n = sanitize_label_name(k);
        ls.insert(meta(&format!("{role}_label_{n}")), v.clone());
        ls.insert(meta(&format!("{role}_labelpresent_{n}")), PRESENT.into());
    }
    for (k, v) in m.annotations.iter().flatten() {
        let n = sanitize_label_name(k);
        ls.insert(meta(&format!("{role}_annotation_{n}")), v.clone());
        ls.insert(
            meta(&format!("{role}_annotationpresent_{n}")),
            PRESENT.into(),
        );
    }
}

fn group(source: String, labels: LabelMap, targets: Vec<LabelMap>) -> TargetGroup {
    TargetGroup {
        source,
        targets: targets.into_iter().map(Labels::from_pairs).collect(),
        labels: Labels::from_pairs(labels),
    }
}

/// `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn name_of(m: &ObjectMeta) -> &str {
    m.name.as_deref().unwrap_or_default()
}

fn namespace_of(m: &ObjectMeta) -> &str {
    m.namespace.as_deref().unwrap_or_default()
}

/// The `namespace/name` key the stores index objects by.
pub fn object_key(m: &ObjectMeta) -> String {
    format!("{}/{}", namespace_of(m), name_of(m))
}

// ---------------------------------------------------------------------------------------------
// node

/// The node's labels common to its target (`node_name`, `node_provider_id`, labels and
/// annotations).
pub fn node_labels(n: &Node) -> LabelMap {
    let mut ls = LabelMap::new();
    ls.insert(
        meta("node_provider_id"),
        n.spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default(),
    );
    add_object_meta(&mut ls, &n.metadata, "node");
    ls
}

/// What `attach_metadata.node` adds to a pod or endpoint target: the node's name, labels
/// and annotations (`addNodeLabels`).
pub fn attached_node_labels(n: &Node) -> LabelMap {
    let mut ls = LabelMap::new();
    add_object_meta(&mut ls, &n.metadata, "node");
    ls
}

/// What `attach_metadata.namespace` adds to a group: the labels and annotations of its
/// namespace as `__meta_kubernetes_namespace_label_*`, `..._labelpresent_*`,
/// `..._annotation_*` and `..._annotationpresent_*` (no name label: the group has
/// `__meta_kubernetes_namespace` already).
pub fn namespace_metadata_labels(ns: &Namespace) -> LabelMap {
    let mut ls = LabelMap::new();
    add_labels_and_annotations(&mut ls, &ns.metadata, "namespace");
    ls
}

/// Role `node`: one target at the node's preferred address and kubelet port, source
/// `node/<name>`. A node without a usable address has no target.
pub fn build_node(n: &Node) -> TargetGroup {
    let name = name_of(&n.metadata).to_string();
    let labels = node_labels(n);
    let status = n.status.as_ref();
    // Addresses by type, in the order the node lists them.
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        by_type.entry(&a.type_).or_default().push(&a.address);
    }
    let preferred = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "LegacyHostIP",
        "Hostname",
    ]
    .iter()
    .find_map(|t| by_type.get(t).and_then(|v| v.first()).copied());
    let mut targets = Vec::new();
    if let Some(addr) = preferred {
        let port = status
            .and_then(|s| s.daemon_endpoints.as_ref())
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .map(|k| k.port)
            .unwrap_or(0);
        let mut t = LabelMap::new();
        t.insert(ADDRESS_LABEL.into(), join_host_port(addr, port.into()));
        t.insert("instance".into(), name.clone());
        for (ty, addrs) in &by_type {
            t.insert(
                sanitize_label_name(&meta(&format!("node_address_{ty}"))),
                addrs[0].to_string(),
            );
        }
        targets.push(t);
    } else {
        tracing::warn!(node = %name, "kubernetes_sd: node has no address; no target for it");
    }
    group(format!("node/{name}"), labels, targets)
}

// ---------------------------------------------------------------------------------------------
// pod

/// `podLabels`: what every target of a pod carries, without the namespace.
pub fn pod_labels(p: &Pod) -> LabelMap {
    let status = p.status.as_ref();
    let spec = p.spec.as_ref();
    let mut ls = LabelMap::new();
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    ls.insert(meta("pod_ip"), s(status.and_then(|s| s.pod_ip.as_ref())));
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".into());
    ls.insert(meta("pod_ready"), ready);
    ls.insert(meta("pod_phase"), s(status.and_then(|s| s.phase.as_ref())));
    ls.insert(
        meta("pod_node_name"),
        s(spec.and_then(|s| s.node_name.as_ref())),
    );
    ls.insert(
        meta("pod_host_ip"),
        s(status.and_then(|s| s.host_ip.as_ref())),
    );
    ls.insert(meta("pod_uid"), s(p.metadata.uid.as_ref()));
    // `pod_ipv4` and `pod_ipv6`: the first address of each family in `status.podIPs`, an
    // IPv4-mapped IPv6 address counting as IPv4 (Go's `To4`); unparsable entries are skipped.
    for pod_ip in status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
    {
        let family = match pod_ip.ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => "pod_ipv4",
            Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => "pod_ipv4",
            Ok(std::net::IpAddr::V6(_)) => "pod_ipv6",
            Err(_) => continue,
        };
        ls.entry(meta(family)).or_insert_with(|| pod_ip.ip.clone());
    }
    add_object_meta(&mut ls, &p.metadata, "pod");
    let controller = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(c) = controller {
        if !c.kind.is_empty() {
            ls.insert(meta("pod_controller_kind"), c.kind.clone());
        }
        if !c.name.is_empty() {
            ls.insert(meta("pod_controller_name"), c.name.clone());
        }
    }
    ls
}

/// The pod's containers followed by its init containers, each with whether it is an init one.
fn containers(p: &Pod) -> Vec<(&Container, bool)> {
    let Some(spec) = p.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .map(|c| (c, false))
        .chain(spec.init_containers.iter().flatten().map(|c| (c, true)))
        .collect()
}

fn container_id(p: &Pod, name: &str, init: bool) -> String {
    let status = p.status.as_ref();
    let statuses = if init {
        status.and_then(|s| s.init_container_statuses.as_ref())
    } else {
        status.and_then(|s| s.container_statuses.as_ref())
    };
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

fn pod_ip(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default()
}

/// Role `pod`: one target per container port, or one per container without ports (at the
/// bare pod IP), source `pod/<namespace>/<name>`. A pod without an IP yet has an empty group.
/// `node` is the pod's node when `attach_metadata.node` is on.
pub fn build_pod(p: &Pod, node: Option<&Node>) -> TargetGroup {
    let source = format!("pod/{}/{}", namespace_of(&p.metadata), name_of(&p.metadata));
    let ip = pod_ip(p);
    if ip.is_empty() {
        return group(source, LabelMap::new(), Vec::new());
    }
    let mut labels = pod_labels(p);
    labels.insert(NAMESPACE_LABEL.into(), namespace_of(&p.metadata).into());
    if let Some(n) = node {
        labels.extend(attached_node_labels(n));
    }
    let mut targets = Vec::new();
    for (c, init) in containers(p) {
        let mut base = LabelMap::new();
        base.insert(meta("pod_container_name"), c.name.clone());
        base.insert(meta("pod_container_id"), container_id(p, &c.name, init));
        base.insert(
            meta("pod_container_image"),
            c.image.clone().unwrap_or_default(),
        );
        base.insert(meta("pod_container_init"), init.to_string());
        let ports = c.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // The bare pod IP; an IPv6 one (not IPv4-mapped) in brackets and Go's canonical
            // form, as pod.go writes it (RFC 3986 forbids a trailing ":" without a port).
            let bare = match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => format!("[{v6}]"),
                _ => ip.to_string(),
            };
            base.insert(ADDRESS_LABEL.into(), bare);
            targets.push(base);
            continue;
        }
        for port in ports {
            let mut t = base.clone();
            add_container_port(&mut t, ip, port);
            targets.push(t);
        }
    }
    group(source, labels, targets)
}

// ---------------------------------------------------------------------------------------------
// service

/// The address `ip:port` of a container port, and the port's name, number and protocol.
fn add_container_port(t: &mut LabelMap, ip: &str, port: &ContainerPort) {
    t.insert(
        ADDRESS_LABEL.into(),
        join_host_port(ip, port.container_port.into()),
    );
    t.insert(
        meta("pod_container_port_name"),
        port.name.clone().unwrap_or_default(),
    );
    t.insert(
        meta("pod_container_port_number"),
        port.container_port.to_string(),
    );
    t.insert(
        meta("pod_container_port_protocol"),
        port.protocol.clone().unwrap_or_default(),
    );
}

/// `serviceLabels`: the namespace and the service's name, labels and annotations.
pub fn service_labels(s: &Service) -> LabelMap {
    let mut ls = LabelMap::new();
    ls.insert(NAMESPACE_LABEL.into(), namespace_of(&s.metadata).into());
    add_object_meta(&mut ls, &s.metadata, "service");
    ls
}

/// Role `service`: one target per port at `<name>.<namespace>.svc:<port>`, source
/// `svc/<namespace>/<name>`.
pub fn build_service(s: &Service) -> TargetGroup {
    let name = name_of(&s.metadata);
    let ns = namespace_of(&s.metadata);
    let spec = s.spec.as_ref();
    let ty = spec.and_then(|s| s.type_.clone()).unwrap_or_default();
    let mut targets = Vec::new();
    for port in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let mut t = LabelMap::new();
        t.insert(
            ADDRESS_LABEL.into(),
            join_host_port(&format!("{name}.{ns}.svc"), port.port.into()),
        );
        t.insert(
            meta("service_port_name"),
            port.name.clone().unwrap_or_default(),
        );
        t.insert(meta("service_port_number"), port.port.to_string());
        t.insert(
            meta("service_port_protocol"),
            port.protocol.clone().unwrap_or_default(),
        );
        t.insert(meta("service_type"), ty.clone());
        if ty == "ExternalName" {
            t.insert(
                meta("service_external_name"),
                spec.and_then(|s| s.external_name.clone())
                    .unwrap_or_default(),
            );
        } else {
            t.insert(
                meta("service_cluster_ip"),
                spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
            );
        }
        if ty == "LoadBalancer" {
            let ingress = s
                .status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .and_then(|i| i.first());
            if let Some(i) = ingress {
                t.insert(
                    meta("service_loadbalancer_ip"),
                    i.ip.clone().unwrap_or_default(),
                );
            }
        }
        targets.push(t);
    }
    group(format!("svc/{ns}/{name}"), service_labels(s), targets)
}

// ---------------------------------------------------------------------------------------------
// endpoints and endpointslice

/// Looks up the objects an endpoints or endpointslice group refers to.
pub trait Lookup {
    /// The service `namespace/name`, if known.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
    /// The pod `namespace/name`, if known.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// The node `name`, when `attach_metadata.node` is on and the node is known.
    fn node(&self, name: &str) -> Option<&Node>;
}

/// A pod seen among the endpoints of a group, with the ports already turned into targets.
struct SeenPod<'a> {
    pod: &'a Pod,
    ports: Vec<i32>,
}

/// Pods by `namespace/name`, in the order they were first seen.
#[derive(Default)]
struct SeenPods<'a> {
    order: Vec<String>,
    pods: BTreeMap<String, SeenPod<'a>>,
}

impl<'a> SeenPods<'a> {
    fn note(&mut self, pod: &'a Pod, port: Option<i32>) {
        let key = object_key(&pod.metadata);
        let entry = self.pods.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            SeenPod {
                pod,
                ports: Vec::new(),
            }
        });
        if let Some(p) = port {
            entry.ports.push(p);
        }
    }

    /// Targets for the container ports of seen pods that no endpoint port covered.
    fn leftover_targets(&self) -> Vec<LabelMap> {
        let mut out = Vec::new();
        for key in &self.order {
            let seen = &self.pods[key];
            let ip = pod_ip(seen.pod);
            if ip.is_empty() {
                continue;
            }
            for (c, init) in containers(seen.pod) {
                for cport in c.ports.iter().flatten() {
                    if seen.ports.contains(&cport.container_port) {
                        continue;
                    }
                    let mut t = LabelMap::new();
                    add_container_port(&mut t, ip, cport);
                    t.insert(meta("pod_container_name"), c.name.clone());
                    t.insert(
                        meta("pod_container_image"),
                        c.image.clone().unwrap_or_default(),
                    );
                    t.insert(meta("pod_container_init"), init.to_string());
                    t.extend(pod_labels(seen.pod));
                    out.push(t);
                }
            }
        }
        out
    }
}

/// Adds the pod's labels and, when one of its containers exposes `port`, that container's:
/// in each container the first port that matches, and when several containers (or init
/// containers) expose it, the last of them, as Prometheus' loops (whose `break` leaves only
/// the loop over one container's ports) do.
fn add_pod_target_labels(t: &mut LabelMap, pod: &Pod, port: i32, protocol: Option<&str>) {
    t.extend(pod_labels(pod));
    for (c, init) in containers(pod) {
        if let Some(cport) = c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.container_port == port)
        {
            t.insert(meta("pod_container_name"), c.name.clone());
            t.insert(
                meta("pod_container_image"),
                c.image.clone().unwrap_or_default(),
            );
            t.insert(
                meta("pod_container_port_name"),
                cport.name.clone().unwrap_or_default(),
            );
            t.insert(meta("pod_container_port_number"), port.to_string());
            // The endpoints role takes the protocol from the endpoint port, the
            // endpointslice role from the container port, as Prometheus does.
            let proto = match protocol {
                Some(p) => p.to_string(),
                None => cport.protocol.clone().unwrap_or_default(),
            };
            t.insert(meta("pod_container_port_protocol"), proto);
            t.insert(meta("pod_container_init"), init.to_string());
        }
    }
}

/// `<role>_address_target_kind` and `_name` of an address's target reference, when it has one.
fn add_target_ref(
    t: &mut LabelMap,
    role: &str,
    r: Option<&k8s_openapi::api::core::v1::ObjectReference>,
) {
    if let Some(r) = r {
        let kind = r.kind.clone().unwrap_or_default();
        let name = r.name.clone().unwrap_or_default();
        t.insert(meta(&format!("{role}_address_target_kind")), kind);
        t.insert(meta(&format!("{role}_address_target_name")), name);
    }
}

/// The node an address is on, under `key`, and the node's own labels when the node is known.
fn add_node(t: &mut LabelMap, key: &str, node_name: Option<&str>, lookup: &dyn Lookup) {
    if let Some(n) = node_name {
        t.insert(meta(key), n.to_string());
        if let Some(node) = lookup.node(n) {
            t.extend(attached_node_labels(node));
        }
    }
}

fn resolve_pod<'a>(
    lookup: &'a dyn Lookup,
    r: Option<&k8s_openapi::api::core::v1::ObjectReference>,
) -> Option<&'a Pod> {
    let r = r?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    lookup.pod(
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
    )
}

/// Role `endpoints`: one target per address × port of every subset (ready and not ready),
/// plus one per container port of the referenced pods that no endpoint port covered. The
/// group carries the namespace, the service's labels (when the service is known) and the
/// endpoints object's own; source `endpoints/<namespace>/<name>`.
pub fn build_endpoints(e: &Endpoints, lookup: &dyn Lookup) -> TargetGroup {
    let name = name_of(&e.metadata);
    let ns = namespace_of(&e.metadata);
    let mut labels = LabelMap::new();
    labels.insert(NAMESPACE_LABEL.into(), ns.into());
    if let Some(svc) = lookup.service(ns, name) {
        labels.extend(service_labels(svc));
    }
    add_object_meta(&mut labels, &e.metadata, "endpoints");

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in e.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let ready = subset.addresses.iter().flatten().map(|a| (a, "true"));
            let not_ready = subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let mut t = LabelMap::new();
                t.insert(
                    ADDRESS_LABEL.into(),
                    join_host_port(&addr.ip, port.port.into()),
                );
                t.insert(
                    meta("endpoint_port_name"),
                    port.name.clone().unwrap_or_default(),
                );
                t.insert(
                    meta("endpoint_port_protocol"),
                    port.protocol.clone().unwrap_or_default(),
                );
                t.insert(meta("endpoint_ready"), ready.into());
                add_target_ref(&mut t, "endpoint", addr.target_ref.as_ref());
                add_node(
                    &mut t,
                    "endpoint_node_name",
                    addr.node_name.as_deref(),
                    lookup,
                );
                if let Some(h) = addr.hostname.as_deref().filter(|h| !h.is_empty()) {
                    t.insert(meta("endpoint_hostname"), h.to_string());
                }
                if let Some(pod) = resolve_pod(lookup, addr.target_ref.as_ref()) {
                    seen.note(pod, Some(port.port));
                    let proto = port.protocol.clone().unwrap_or_default();
                    add_pod_target_labels(&mut t, pod, port.port, Some(&proto));
                }
                targets.push(t);
            }
        }
    }
    targets.extend(seen.leftover_targets());
    group(format!("endpoints/{ns}/{name}"), labels, targets)
}

/// The label naming an endpointslice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Role `endpointslice`: one target per endpoint address × port, plus one per container
/// port of the referenced pods that no port covered; source `endpointslice/<namespace>/<name>`.
pub fn build_endpointslice(e: &EndpointSlice, lookup: &dyn Lookup) -> TargetGroup {
    let name = name_of(&e.metadata);
    let ns = namespace_of(&e.metadata);
    let mut labels = LabelMap::new();
    labels.insert(NAMESPACE_LABEL.into(), ns.into());
    labels.insert(meta("endpointslice_address_type"), e.address_type.clone());
    add_object_meta(&mut labels, &e.metadata, "endpointslice");
    let svc_name = e
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL));
    if let Some(svc) = svc_name.and_then(|n| lookup.service(ns, n)) {
        labels.extend(service_labels(svc));
    }

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    let ports = e.ports.as_deref().unwrap_or_default();
    for ep in &e.endpoints {
        for port in ports {
            for addr in &ep.addresses {
                let mut t = LabelMap::new();
                let a = match port.port {
                    Some(p) => join_host_port(addr, p.into()),
                    None => addr.clone(),
                };
                t.insert(ADDRESS_LABEL.into(), a);
                if let Some(n) = &port.name {
                    t.insert(meta("endpointslice_port_name"), n.clone());
                }
                if let Some(p) = &port.protocol {
                    t.insert(meta("endpointslice_port_protocol"), p.clone());
                }
                if let Some(p) = port.port {
                    t.insert(meta("endpointslice_port"), p.to_string());
                }
                if let Some(p) = &port.app_protocol {
                    t.insert(meta("endpointslice_port_app_protocol"), p.clone());
                }
                if let Some(c) = &ep.conditions {
                    let conds = [
                        ("ready", c.ready),
                        ("serving", c.serving),
                        ("terminating", c.terminating),
                    ];
                    for (n, v) in conds {
                        if let Some(v) = v {
                            t.insert(
                                meta(&format!("endpointslice_endpoint_conditions_{n}")),
                                v.to_string(),
                            );
                        }
                    }
                }
                if let Some(h) = &ep.hostname {
                    t.insert(meta("endpointslice_endpoint_hostname"), h.clone());
                }
                add_target_ref(&mut t, "endpointslice", ep.target_ref.as_ref());
                add_node(
                    &mut t,
                    "endpointslice_endpoint_node_name",
                    ep.node_name.as_deref(),
                    lookup,
                );
                if let Some(z) = &ep.zone {
                    t.insert(meta("endpointslice_endpoint_zone"), z.clone());
                }
                for (k, v) in ep.deprecated_topology.iter().flatten() {
                    let n = sanitize_label_name(k);
                    t.insert(
                        meta(&format!("endpointslice_endpoint_topology_{n}")),
                        v.clone(),
                    );
                    t.insert(
                        meta(&format!("endpointslice_endpoint_topology_present_{n}")),
                        PRESENT.into(),
                    );
                }
                if let Some(pod) = resolve_pod(lookup, ep.target_ref.as_ref()) {
                    seen.note(pod, port.port);
                    if let Some(p) = port.port {
                        add_pod_target_labels(&mut t, pod, p, None);
                    } else {
                        t.extend(pod_labels(pod));
                    }
                }
                targets.push(t);
            }
        }
    }
    targets.extend(seen.leftover_targets());
    group(format!("endpointslice/{ns}/{name}"), labels, targets)
}

// ---------------------------------------------------------------------------------------------
// ingress

/// `matchesHostnamePattern`: a TLS host matches a rule's host when equal, or when it is a
/// wildcard (`*.example.com`) with as many dot-separated parts as the host, all but the first
/// equal.
fn tls_host_matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p[0] == "*" && p.len() == h.len() && p[1..] == h[1..]
}

/// Role `ingress` (`networking.k8s.io/v1`): one target per rule host and path at the host
/// itself, source `ingress/<namespace>/<name>`. A rule without an `http` section has the one
/// path `/`; an empty path is `/`; a rule whose `http` section lists no paths has no targets.
/// The scheme is `https` when a TLS section names the host (wildcards match one label).
pub fn build_ingress(i: &Ingress) -> TargetGroup {
    let m = &i.metadata;
    let mut labels = LabelMap::new();
    labels.insert(NAMESPACE_LABEL.into(), namespace_of(m).to_string());
    let spec = i.spec.as_ref();
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.as_ref()) {
        labels.insert(meta("ingress_class_name"), class.clone());
    }
    add_object_meta(&mut labels, m, "ingress");
    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten().map(String::as_str))
        .collect();
    let mut targets = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        let scheme = if tls_hosts.iter().any(|p| tls_host_matches(p, &host)) {
            "https"
        } else {
            "http"
        };
        let paths: Vec<String> = match &rule.http {
            None => vec!["/".to_string()],
            Some(http) => http
                .paths
                .iter()
                .map(|p| match p.path.as_deref() {
                    None | Some("") => "/".to_string(),
                    Some(p) => p.to_string(),
                })
                .collect(),
        };
        for path in paths {
            let mut t = LabelMap::new();
            t.insert(ADDRESS_LABEL.into(), host.clone());
            t.insert(meta("ingress_scheme"), scheme.into());
            t.insert(meta("ingress_host"), host.clone());
            t.insert(meta("ingress_path"), path);
            targets.push(t);
        }
    }
    group(
        format!("ingress/{}/{}", namespace_of(m), name_of(m)),
        labels,
        targets,
    )
}
