//! The validated `kubernetes_sd_configs` entry and Prometheus' rules for it
//! (`kubernetes.SDConfig.UnmarshalYAML`), with field-path errors like the rest of the config.

use std::path::PathBuf;

use crate::config::http_client::{self, HttpClientSettings};
use crate::config::raw::RawKubernetesSdConfig;
use crate::config::validate::Ctx;
use crate::config::{ConfigError, FieldPath};

/// The kind of object a `kubernetes_sd_configs` entry turns into targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Node,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl Role {
    /// The name in the config file and in `__meta_kubernetes_<role>_*` labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    /// The role named `s`, if redline supports it.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "node" => Role::Node,
            "pod" => Role::Pod,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "ingress" => Role::Ingress,
            _ => return None,
        })
    }

    /// The selector roles a discovery role accepts (Prometheus' `allowedSelectors`).
    pub fn allowed_selectors(self) -> &'static [Role] {
        match self {
            Role::Node => &[Role::Node],
            Role::Pod => &[Role::Pod, Role::Node],
            Role::Service => &[Role::Service],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Ingress => &[Role::Ingress],
        }
    }

    /// The API resources (`group/resource`, core group empty) a role lists and watches,
    /// which is what the service account's ClusterRole must grant get/list/watch on.
    pub fn watched_resources(self, attach_node: bool) -> Vec<&'static str> {
        let mut out = match self {
            Role::Node => vec!["/nodes"],
            Role::Pod => vec!["/pods"],
            Role::Service => vec!["/services"],
            Role::Endpoints => vec!["/endpoints", "/services", "/pods"],
            Role::EndpointSlice => {
                vec!["discovery.k8s.io/endpointslices", "/services", "/pods"]
            }
            Role::Ingress => vec!["networking.k8s.io/ingresses"],
        };
        if attach_node && matches!(self, Role::Pod | Role::Endpoints | Role::EndpointSlice) {
            out.push("/nodes");
        }
        out
    }
}

/// Label and field selectors for one kind of object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub role: Option<Role>,
    /// A Kubernetes label selector (`app=x,tier!=db`), empty for none.
    pub label: String,
    /// A Kubernetes field selector (`spec.nodeName=n1`), empty for none.
    pub field: String,
}

/// Which namespaces to watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// Add the namespace redline runs in (in-cluster only).
    pub own_namespace: bool,
    /// Explicit namespaces; empty with `own_namespace` false means all.
    pub names: Vec<String>,
}

/// How to reach the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per discovery entry, built once per load
pub enum ApiAccess {
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token and CA).
    InCluster,
    /// A kubeconfig file (its current context).
    Kubeconfig(PathBuf),
    /// An explicit URL with the entry's HTTP client settings.
    Server {
        url: String,
        http: HttpClientSettings,
    },
}

/// A validated `kubernetes_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSdConfig {
    pub role: Role,
    pub access: ApiAccess,
    pub namespaces: Namespaces,
    /// At most one per role.
    pub selectors: Vec<Selector>,
    /// `attach_metadata.node`: add the node's labels to pod (and endpoint) targets.
    pub attach_node: bool,
    /// `attach_metadata.namespace` (Prometheus 3.6): add the labels and annotations of the
    /// object's namespace to pod, service, endpoints, endpointslice and ingress groups.
    pub attach_namespace: bool,
}

impl KubernetesSdConfig {
    /// The selector configured for objects of `role`, if any.
    pub fn selector(&self, role: Role) -> Option<&Selector> {
        self.selectors.iter().find(|s| s.role == Some(role))
    }

    /// Whether groups get their namespace's metadata (`attach_metadata.namespace` on a role
    /// whose objects are namespaced).
    pub fn namespace_metadata(&self) -> bool {
        self.attach_namespace && self.role != Role::Node
    }

    /// Every API resource this entry lists and watches: the role's
    /// ([`Role::watched_resources`]) and `/namespaces` for namespace metadata.
    pub fn watched_resources(&self) -> Vec<&'static str> {
        let mut out = self.role.watched_resources(self.attach_node);
        if self.namespace_metadata() {
            out.push("/namespaces");
        }
        out
    }
}

const ROLES: &str = "one of: pod, service, endpoints, endpointslice, node, ingress";

/// Validates one entry at `path`.
pub(crate) fn validate(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawKubernetesSdConfig,
) -> Result<KubernetesSdConfig, ConfigError> {
    let role = match raw.role.as_deref() {
        None | Some("") => {
            return Err(ctx.err(&path.key("role"), format!("role missing ({ROLES})")))
        }
        Some(r) => Role::parse(r).ok_or_else(|| {
            ctx.err(
                &path.key("role"),
                format!("unknown Kubernetes SD role {r:?} ({ROLES})"),
            )
        })?,
    };
    let http = http_client::validate(ctx, path, raw.http_fields())?;
    // The Kubernetes API client has no proxy or OAuth 2.0 support yet: say so rather than
    // ignore it.
    for (field, set) in [
        ("proxy_url", http.proxy.url.is_some()),
        ("proxy_from_environment", http.proxy.from_environment),
        (
            "oauth2",
            matches!(http.auth, Some(crate::config::Auth::OAuth2(_))),
        ),
    ] {
        if set {
            return Err(ctx.err(&path.key(field), crate::config::raw::UNSUPPORTED));
        }
    }
    let custom_http = http != HttpClientSettings::default();
    let api_server = raw.api_server.filter(|s| !s.is_empty());
    let kubeconfig = raw.kubeconfig_file.filter(|s| !s.is_empty());
    let namespaces = raw.namespaces.unwrap_or_default();
    let own_namespace = namespaces.own_namespace.unwrap_or(false);
    let access = match (api_server, kubeconfig) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &path.key("kubeconfig_file"),
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ))
        }
        (None, Some(file)) => {
            if custom_http {
                return Err(ctx.err(
                    &path.key("kubeconfig_file"),
                    "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
                ));
            }
            if own_namespace {
                return Err(ctx.err(
                    &path.key("namespaces").key("own_namespace"),
                    "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
                ));
            }
            ApiAccess::Kubeconfig(ctx.resolve(&file))
        }
        (Some(url), None) => {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some());
            if !ok {
                return Err(ctx.err(
                    &path.key("api_server"),
                    format!("{url:?} is not a valid URL (expected http://host:port or https://host:port)"),
                ));
            }
            if own_namespace {
                return Err(ctx.err(
                    &path.key("namespaces").key("own_namespace"),
                    "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
                ));
            }
            ApiAccess::Server { url, http }
        }
        (None, None) => {
            if custom_http {
                return Err(ctx.err(
                    path,
                    "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
                ));
            }
            ApiAccess::InCluster
        }
    };

    let mut selectors: Vec<Selector> = Vec::new();
    for (i, s) in raw.selectors.unwrap_or_default().into_iter().enumerate() {
        let spath = path.key("selectors").index(i);
        let srole = match s.role.as_deref() {
            None | Some("") => {
                return Err(ctx.err(&spath.key("role"), format!("role missing ({ROLES})")))
            }
            Some(r) => Role::parse(r).ok_or_else(|| {
                ctx.err(
                    &spath.key("role"),
                    format!("unknown Kubernetes SD role {r:?} ({ROLES})"),
                )
            })?,
        };
        let allowed = role.allowed_selectors();
        if !allowed.contains(&srole) {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            return Err(ctx.err(
                &spath.key("role"),
                format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    names.join(", ")
                ),
            ));
        }
        if selectors.iter().any(|x| x.role == Some(srole)) {
            return Err(ctx.err(
                &spath.key("role"),
                format!("duplicated selector role: {}", srole.as_str()),
            ));
        }
        let label = s.label.unwrap_or_default();
        let field = s.field.unwrap_or_default();
        if let Err(m) = check_selector(&label, true) {
            return Err(ctx.err(&spath.key("label"), m));
        }
        if let Err(m) = check_selector(&field, false) {
            return Err(ctx.err(&spath.key("field"), m));
        }
        selectors.push(Selector {
            role: Some(srole),
            label,
            field,
        });
    }
    let attach = raw.attach_metadata.unwrap_or_default();
    let attach_node = attach.node.unwrap_or(false);
    let attach_namespace = attach.namespace.unwrap_or(false);
    Ok(KubernetesSdConfig {
        role,
        access,
        namespaces: Namespaces {
            own_namespace,
            names: namespaces.names.unwrap_or_default(),
        },
        selectors,
        attach_node,
        attach_namespace,
    })
}

/// A syntax check of a label or field selector: comma-separated requirements
/// `key`, `!key`, `key=v`, `key==v`, `key!=v`, and for labels `key in (a,b)`, `key notin (a)`.
fn check_selector(sel: &str, label: bool) -> Result<(), String> {
    if sel.trim().is_empty() {
        return Ok(());
    }
    let set_re = regex::Regex::new(r"^\s*[A-Za-z0-9_./-]+\s+(in|notin)\s+\(\s*[^()]*\)\s*$")
        .map_err(|e| e.to_string())?;
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&sel[start..]);
    let key_ok = |k: &str| {
        let k = k.trim();
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
    };
    for p in parts {
        let p = p.trim();
        let ok = if label && set_re.is_match(p) {
            true
        } else if let Some((k, _)) = p.split_once("!=") {
            key_ok(k)
        } else if let Some((k, _)) = p.split_once("==") {
            key_ok(k)
        } else if let Some((k, _)) = p.split_once('=') {
            key_ok(k)
        } else if let Some(k) = p.strip_prefix('!') {
            label && key_ok(k)
        } else {
            label && key_ok(p)
        };
        if !ok {
            return Err(format!(
                "invalid {} selector {sel:?}: cannot parse requirement {p:?}",
                if label { "label" } else { "field" }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_selector;

    #[test]
    fn selectors_are_checked_like_kubernetes() {
        assert!(check_selector("app=web,tier!=db", true).is_ok());
        assert!(check_selector("environment in (production, qa),!canary", true).is_ok());
        assert!(check_selector("spec.nodeName=node-1", false).is_ok());
        assert!(check_selector("app=web,", true).is_err());
        assert!(check_selector("exists", false).is_err());
    }
}
