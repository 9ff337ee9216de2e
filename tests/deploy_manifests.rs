//! CI validation of `deploy/`: every manifest of the base (`deploy/base/`) and of the sharding
//! overlay beside it parses and has what a cluster and a reviewer require, the kustomization
//! lists every file, the StatefulSet is locked down, and the ClusterRole grants what the
//! `kubernetes_sd_configs` of `deploy/base/redline.yaml` list and watch; the HA overlay
//! (`deploy/ha/`) runs two replicas with the Lease RBAC, a headless Service and a config whose
//! `cluster:` section names them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use redline::config::{Config, Scheme};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// `deploy/`: the Dockerfile, the base and its overlays.
fn deploy_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The kustomize base, `deploy/base/`.
fn deploy_dir() -> PathBuf {
    deploy_root().join("base")
}

/// The YAML files of `deploy/base/`, by file name.
fn yaml_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(deploy_dir())
        .expect("deploy/ exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .to_string()
        })
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    out.sort();
    out
}

/// Every document of a multi-document YAML file.
fn documents(file: &str) -> Vec<Value> {
    let path = deploy_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// Kubernetes manifests: everything but the kustomization and redline's own config.
fn manifests() -> Vec<(String, Value)> {
    yaml_files()
        .into_iter()
        .filter(|f| f != "kustomization.yaml" && f != "redline.yaml")
        .flat_map(|f| documents(&f).into_iter().map(move |d| (f.clone(), d)))
        .collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn find<'a>(all: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|(_, d)| str_at(d, &["kind"]) == Some(kind))
        .map(|(_, d)| d)
        .collect()
}

#[test]
fn every_manifest_has_api_version_kind_and_name() {
    let all = manifests();
    assert!(
        all.len() >= 8,
        "expected the whole kustomize base, found {}",
        all.len()
    );
    for (file, doc) in &all {
        for field in [&["apiVersion"][..], &["kind"], &["metadata", "name"]] {
            assert!(
                str_at(doc, field).is_some_and(|s| !s.is_empty()),
                "{file}: missing {}",
                field.join(".")
            );
        }
    }
    let kinds: BTreeSet<&str> = all
        .iter()
        .filter_map(|(_, d)| str_at(d, &["kind"]))
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(kind), "deploy/ has no {kind}: {kinds:?}");
    }
}

#[test]
fn kustomization_lists_every_file() {
    let k = documents("kustomization.yaml").remove(0);
    assert_eq!(str_at(&k, &["kind"]), Some("Kustomization"));
    let mut listed: BTreeSet<String> = strings(k.get("resources")).into_iter().collect();
    for generator in k
        .get("configMapGenerator")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        listed.extend(strings(generator.get("files")));
    }
    let on_disk: BTreeSet<String> = yaml_files()
        .into_iter()
        .filter(|f| f != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml vs the files in deploy/"
    );
}

#[test]
fn statefulset_is_locked_down_probed_and_bounded() {
    let all = manifests();
    let sts = find(&all, "StatefulSet");
    assert_eq!(sts.len(), 1);
    let sts = sts[0];
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(1));
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(str_at(pod, &["serviceAccountName"]), Some("redline"));
    let containers = pod["containers"].as_sequence().expect("containers");
    assert!(!containers.is_empty());
    let pod_non_root = pod["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
    for c in containers {
        let name = str_at(c, &["name"]).unwrap_or("?");
        assert!(
            str_at(c, &["image"]).is_some_and(|i| !i.is_empty()),
            "{name}: image"
        );
        assert_eq!(
            str_at(c, &["livenessProbe", "httpGet", "path"]),
            Some("/-/healthy"),
            "{name}: liveness probe"
        );
        assert_eq!(
            str_at(c, &["readinessProbe", "httpGet", "path"]),
            Some("/-/ready"),
            "{name}: readiness probe"
        );
        let sc = &c["securityContext"];
        assert!(
            pod_non_root || sc["runAsNonRoot"].as_bool() == Some(true),
            "{name}: runAsNonRoot"
        );
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{name}");
        assert_eq!(
            sc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
        for kind in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                assert!(
                    !c["resources"][kind][res].is_null(),
                    "{name}: resources.{kind}.{res}"
                );
            }
        }
        // The config is mounted as a directory (no subPath), so ConfigMap updates reach it,
        // and --config points into that directory.
        let args = strings(c.get("args"));
        let config_arg = args
            .iter()
            .find_map(|a| a.strip_prefix("--config="))
            .expect("--config=... argument");
        let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
        let config_mount = mounts
            .iter()
            .find(|m| str_at(m, &["name"]) == Some("config"))
            .expect("config mount");
        assert!(
            config_mount.get("subPath").is_none(),
            "config must not use subPath"
        );
        let dir = str_at(config_mount, &["mountPath"]).expect("mountPath");
        assert!(
            config_arg.starts_with(&format!("{dir}/")),
            "{config_arg} not in {dir}"
        );
        let state = args
            .iter()
            .find_map(|a| a.strip_prefix("--state-dir="))
            .expect("--state-dir=... argument");
        assert!(
            mounts
                .iter()
                .any(|m| str_at(m, &["mountPath"]) == Some(state)),
            "the state directory {state} is a mounted volume"
        );
    }
    let claims = sts["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .expect("a PVC template for the state directory");
    assert_eq!(str_at(&claims[0], &["metadata", "name"]), Some("state"));
}

/// Whether a ClusterRole rule grants `verb` on `resource` of API group `group`.
fn grants(rules: &[Value], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        let groups = strings(r.get("apiGroups"));
        let resources = strings(r.get("resources"));
        let verbs = strings(r.get("verbs"));
        groups.iter().any(|g| g == group || g == "*")
            && resources.iter().any(|x| x == resource || x == "*")
            && verbs.iter().any(|v| v == verb || v == "*")
    })
}

#[test]
fn cluster_role_covers_what_the_shipped_config_discovers_and_scrapes() {
    let cfg = Config::load_file(&deploy_dir().join("redline.yaml"))
        .unwrap_or_else(|e| panic!("deploy/base/redline.yaml: {e}"));
    let all = manifests();
    let roles = find(&all, "ClusterRole");
    assert_eq!(roles.len(), 1);
    let rules: Vec<Value> = roles[0]["rules"].as_sequence().expect("rules").clone();

    let mut needed = BTreeSet::new();
    let mut scrapes_kubelet = false;
    for sc in &cfg.scrape_configs {
        for k in &sc.kubernetes_sd_configs {
            needed.extend(k.role.watched_resources(k.attach_node));
            if k.role == redline::scrape::discovery::kubernetes::Role::Node
                && sc.scheme == Scheme::Https
            {
                scrapes_kubelet = true;
            }
        }
    }
    assert!(
        needed.len() >= 4,
        "the shipped config discovers nodes, pods, services and endpointslices: {needed:?}"
    );
    for r in &needed {
        let (group, resource) = r.split_once('/').expect("group/resource");
        for verb in ["get", "list", "watch"] {
            assert!(
                grants(&rules, group, resource, verb),
                "ClusterRole does not grant {verb} on {r}"
            );
        }
    }
    if scrapes_kubelet {
        assert!(
            grants(&rules, "", "nodes/metrics", "get"),
            "kubelet /metrics needs nodes/metrics"
        );
    }
    let metrics_url = rules.iter().any(|r| {
        strings(r.get("nonResourceURLs"))
            .iter()
            .any(|u| u == "/metrics")
            && strings(r.get("verbs")).iter().any(|v| v == "get")
    });
    assert!(
        metrics_url,
        "the apiserver job needs get on the /metrics non-resource URL"
    );

    // The binding gives the role to the StatefulSet's service account.
    let binding = find(&all, "ClusterRoleBinding")[0];
    assert_eq!(
        str_at(binding, &["roleRef", "name"]),
        str_at(roles[0], &["metadata", "name"])
    );
    let subject = &binding["subjects"][0];
    assert_eq!(str_at(subject, &["kind"]), Some("ServiceAccount"));
    assert_eq!(str_at(subject, &["name"]), Some("redline"));
}

#[test]
fn shipped_config_scrapes_with_kube_prometheus_job_names() {
    let cfg = Config::load_file(&deploy_dir().join("redline.yaml"))
        .unwrap_or_else(|e| panic!("deploy/base/redline.yaml: {e}"));
    let text = std::fs::read_to_string(deploy_dir().join("redline.yaml")).expect("config");
    for job in [
        "kubelet",
        "node-exporter",
        "kube-state-metrics",
        "apiserver",
    ] {
        assert!(cfg.scrape_config(job).is_some(), "no job {job}");
    }
    // The cAdvisor and resource scrapes carry the job label `kubelet` and their path.
    for (name, path) in [
        ("kubelet", "/metrics"),
        ("kubelet-cadvisor", "/metrics/cadvisor"),
        ("kubelet-resource", "/metrics/resource"),
    ] {
        let sc = cfg
            .scrape_config(name)
            .unwrap_or_else(|| panic!("no job {name}"));
        assert_eq!(sc.metrics_path, path);
        assert_eq!(sc.scheme, Scheme::Https);
    }
    assert!(text.contains("replacement: kubelet"));
    assert!(text.contains("target_label: metrics_path"));
    assert_eq!(
        cfg.rule_files,
        vec!["/usr/share/redline/rules/*.yml".to_string()]
    );
}

#[test]
fn dockerfile_builds_static_and_runs_as_non_root() {
    let text =
        std::fs::read_to_string(deploy_root().join("Dockerfile")).expect("deploy/Dockerfile");
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage build");
    assert!(text.contains("unknown-linux-musl"), "static musl build");
    let user = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "non-root user: {user}"
    );
    assert!(
        text.contains("/usr/share/redline/rules"),
        "the image carries the shipped rules"
    );
}

/// Every document of a YAML file of the sharding overlay.
fn sharding_documents(file: &str) -> Vec<Value> {
    documents(&format!("../sharding/{file}"))
}

/// Follows a JSON pointer (RFC 6901) into a YAML value; `-` (append) needs a sequence.
fn pointer<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Sequence(_) if part == "-" => return Some(cur),
            Value::Sequence(s) => s.get(part.parse::<usize>().ok()?)?,
            Value::Mapping(_) => cur.get(part.as_str())?,
            _ => return None,
        };
    }
    Some(cur)
}

#[test]
fn sharding_overlay_patches_the_base_statefulset() {
    let k = sharding_documents("kustomization.yaml").remove(0);
    assert_eq!(str_at(&k, &["kind"]), Some("Kustomization"));
    assert_eq!(
        strings(k.get("resources")),
        ["../base"],
        "the overlay builds on deploy/base/"
    );
    let generators = k["configMapGenerator"].as_sequence().expect("generator");
    assert_eq!(str_at(&generators[0], &["name"]), Some("redline-config"));
    assert_eq!(str_at(&generators[0], &["behavior"]), Some("replace"));
    assert_eq!(strings(generators[0].get("files")), ["redline.yaml"]);

    let patches = k["patches"].as_sequence().expect("patches");
    assert_eq!(patches.len(), 1);
    let target = &patches[0]["target"];
    let base_sets = find(&manifests(), "StatefulSet")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let base = base_sets
        .iter()
        .find(|s| str_at(s, &["metadata", "name"]) == str_at(target, &["name"]))
        .expect("the patch targets the base StatefulSet by name");
    assert_eq!(str_at(target, &["kind"]), Some("StatefulSet"));
    let ops = sharding_documents(str_at(&patches[0], &["path"]).expect("patch path")).remove(0);
    let ops = ops
        .as_sequence()
        .expect("a JSON patch is a list of operations");
    let mut replicas = None;
    let mut args_added = Vec::new();
    let mut env = None;
    for op in ops {
        let path = str_at(op, &["path"]).expect("op path");
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        match str_at(op, &["op"]) {
            Some("replace") => assert!(pointer(base, path).is_some(), "{path} not in the base"),
            Some("add") => assert!(
                pointer(base, if parent.is_empty() { "/" } else { parent }).is_some(),
                "parent of {path} not in the base"
            ),
            other => panic!("unexpected op {other:?}"),
        }
        match path {
            "/spec/replicas" => replicas = op["value"].as_u64(),
            "/spec/template/spec/containers/0/args/-" => {
                args_added.push(op["value"].as_str().unwrap_or("").to_string())
            }
            "/spec/template/spec/containers/0/env" => env = Some(op["value"].clone()),
            _ => {}
        }
    }
    let container = pointer(base, "/spec/template/spec/containers/0").expect("container");
    assert_eq!(str_at(container, &["name"]), Some("redline"));
    assert!(strings(container.get("args"))
        .iter()
        .any(|a| a.starts_with("--config=")));
    assert_eq!(args_added, ["--config.expand-env"]);
    assert_eq!(replicas, Some(3));
    let env = env.expect("the patch sets env");
    let shard = env
        .as_sequence()
        .expect("env list")
        .iter()
        .find(|e| str_at(e, &["name"]) == Some("SHARD"))
        .expect("SHARD in env");
    assert_eq!(
        str_at(shard, &["valueFrom", "fieldRef", "fieldPath"]),
        Some("metadata.labels['apps.kubernetes.io/pod-index']")
    );
}

#[test]
fn sharded_config_keeps_one_hashmod_bucket_per_replica_in_every_job() {
    let ops = sharding_documents("statefulset-shards.yaml").remove(0);
    let replicas = ops
        .as_sequence()
        .expect("ops")
        .iter()
        .find(|o| str_at(o, &["path"]) == Some("/spec/replicas"))
        .and_then(|o| o["value"].as_u64())
        .expect("replicas");
    let path = deploy_root().join("sharding/redline.yaml");
    for shard in 0..replicas {
        let env = |name: &str| match name {
            "SHARD" => Some(shard.to_string()),
            "POD_NAME" => Some(format!("redline-{shard}")),
            _ => None,
        };
        let cfg = Config::load_file_expanding(&path, &env)
            .unwrap_or_else(|e| panic!("sharded config with SHARD={shard}: {e}"));
        assert_eq!(
            cfg.global.external_labels.get("shard"),
            Some(shard.to_string().as_str())
        );
        assert_eq!(
            cfg.global.external_labels.get("replica"),
            Some(format!("redline-{shard}").as_str())
        );
        assert!(cfg.scrape_configs.len() >= 5);
        for job in &cfg.scrape_configs {
            let rules = &job.relabel_configs;
            let hashmod = rules
                .iter()
                .position(|r| r.action == redline::relabel::Action::HashMod)
                .unwrap_or_else(|| panic!("job {} has no hashmod", job.job_name));
            let h = &rules[hashmod];
            assert_eq!(h.source_labels, ["__address__"], "job {}", job.job_name);
            assert_eq!(
                h.modulus, replicas,
                "job {}: modulus vs replicas",
                job.job_name
            );
            let keep = rules.get(hashmod + 1).expect("keep after hashmod");
            assert_eq!(keep.action, redline::relabel::Action::Keep);
            assert_eq!(keep.source_labels, std::slice::from_ref(&h.target_label));
            assert_eq!(
                keep.regex.as_str(),
                shard.to_string(),
                "job {}",
                job.job_name
            );
        }
    }
    let unset = Config::load_file_expanding(&path, &|_| None).expect_err("SHARD unset");
    assert!(
        unset.to_string().contains("POD_NAME is not set")
            || unset.to_string().contains("SHARD is not set"),
        "{unset}"
    );
}

fn ha_documents(file: &str) -> Vec<Value> {
    documents(&format!("../ha/{file}"))
}

#[test]
fn ha_overlay_runs_two_replicas_that_share_one_lease() {
    let k = ha_documents("kustomization.yaml").remove(0);
    assert_eq!(strings(k.get("resources"))[0], "../base");
    let mut files: Vec<String> = std::fs::read_dir(deploy_root().join("ha"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    let mut listed: Vec<String> = strings(k.get("resources"))[1..].to_vec();
    let patch_path = str_at(&k["patches"][0], &["path"]).unwrap().to_string();
    listed.push(patch_path.clone());
    listed.push("redline.yaml".into());
    listed.sort();
    assert_eq!(
        listed, files,
        "kustomization.yaml vs the files in deploy/ha/"
    );

    // The patch: 2 replicas, named through the headless Service, POD_NAME, expand-env.
    let base = find(&manifests(), "StatefulSet")[0].clone();
    let mut replicas = None;
    let mut service_name = None;
    let mut args = Vec::new();
    let mut pod_name_env = None;
    for op in ha_documents(&patch_path).remove(0).as_sequence().unwrap() {
        let path = str_at(op, &["path"]).unwrap();
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
        match str_at(op, &["op"]) {
            Some("replace") => assert!(pointer(&base, path).is_some(), "{path} not in the base"),
            Some("add") => assert!(pointer(&base, parent).is_some(), "{parent} not in the base"),
            other => panic!("unexpected op {other:?}"),
        }
        match path {
            "/spec/replicas" => replicas = op["value"].as_u64(),
            "/spec/serviceName" => service_name = str_at(op, &["value"]).map(String::from),
            "/spec/template/spec/containers/0/args/-" => {
                args.push(str_at(op, &["value"]).unwrap().to_string())
            }
            "/spec/template/spec/containers/0/env" => {
                pod_name_env = op["value"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|e| str_at(e, &["name"]) == Some("POD_NAME"))
                    .and_then(|e| str_at(e, &["valueFrom", "fieldRef", "fieldPath"]))
                    .map(String::from)
            }
            _ => {}
        }
    }
    let replicas = replicas.expect("the patch sets replicas");
    assert_eq!(replicas, 2);
    assert_eq!(args, ["--config.expand-env"]);
    assert_eq!(pod_name_env.as_deref(), Some("metadata.name"));
    let headless = ha_documents("headless-service.yaml").remove(0);
    assert_eq!(
        str_at(&headless, &["metadata", "name"]),
        service_name.as_deref()
    );
    assert_eq!(str_at(&headless, &["spec", "clusterIP"]), Some("None"));

    // The config, expanded as in pod redline-1: every pod is a peer, by its headless name.
    let text = std::fs::read_to_string(deploy_root().join("ha/redline.yaml")).unwrap();
    let env = |v: &str| (v == "POD_NAME").then(|| "redline-1".to_string());
    let expanded =
        redline::config::expand::expand_env(&text, "deploy/ha/redline.yaml", &env).unwrap();
    let cfg = Config::from_yaml_str(&expanded, "deploy/ha/redline.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = cfg.cluster.clone().expect("a cluster: section");
    assert_eq!(cluster.replica, "redline-1");
    let ns = str_at(&base, &["metadata", "namespace"]).unwrap();
    let expected_peers: Vec<String> = (0..replicas)
        .map(|i| {
            format!(
                "http://redline-{i}.{}.{ns}.svc:9090",
                service_name.as_deref().unwrap()
            )
        })
        .collect();
    assert_eq!(cluster.peers, expected_peers);
    // The rest is the base config: the same jobs.
    let base_cfg = Config::from_yaml_str(
        &std::fs::read_to_string(deploy_dir().join("redline.yaml")).unwrap(),
        "deploy/base/redline.yaml",
    )
    .unwrap();
    let jobs = |c: &Config| -> Vec<String> {
        c.scrape_configs
            .iter()
            .map(|j| j.job_name.clone())
            .collect()
    };
    assert_eq!(jobs(&cfg), jobs(&base_cfg));
    assert_eq!(cfg.rule_files, base_cfg.rule_files);

    // The Role grants exactly what the elector does on that Lease, in its namespace, to the
    // StatefulSet's service account.
    let role = ha_documents("lease-role.yaml").remove(0);
    assert_eq!(
        str_at(&role, &["metadata", "namespace"]),
        Some(cluster.lease.namespace.as_str())
    );
    let rules = role["rules"].as_sequence().unwrap();
    let allows = |verb: &str| {
        rules.iter().any(|r| {
            strings(r.get("apiGroups")) == ["coordination.k8s.io"]
                && strings(r.get("resources")) == ["leases"]
                && strings(r.get("verbs")).iter().any(|v| v == verb)
                && r.get("resourceNames")
                    .is_none_or(|n| strings(Some(n)).contains(&cluster.lease.name))
        })
    };
    for verb in ["get", "create", "update"] {
        assert!(allows(verb), "the Role must allow {verb} on the Lease");
    }
    let binding = ha_documents("lease-rolebinding.yaml").remove(0);
    assert_eq!(
        str_at(&binding, &["roleRef", "name"]),
        str_at(&role, &["metadata", "name"])
    );
    let sa = str_at(&base, &["spec", "template", "spec", "serviceAccountName"]).unwrap();
    assert_eq!(str_at(&binding["subjects"][0], &["name"]), Some(sa));

    // A drain takes at most one replica: the other keeps the Lease or takes it.
    let pdb = find(&manifests(), "PodDisruptionBudget")[0].clone();
    let max_unavailable = pdb["spec"]["maxUnavailable"].as_u64().unwrap();
    assert!(max_unavailable < replicas);
}
