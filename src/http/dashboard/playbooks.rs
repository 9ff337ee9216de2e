//! Where playbooks come from: the `--playbooks-dir` directory (`<AlertName>.md` files), then the
//! playbooks redline ships (`rules/playbooks/`, compiled in), so the links in notifications
//! work wherever redline starts and a team's own directory only adds or replaces playbooks.

use super::super::AppState;

/// The shipped playbooks, by alert name (a test keeps this list equal to `rules/playbooks/`).
const SHIPPED: [(&str, &str); 39] = [
    (
        "ContainerCPUAboveRequests",
        include_str!("../../../rules/playbooks/ContainerCPUAboveRequests.md"),
    ),
    (
        "ContainerCPUNearLimit",
        include_str!("../../../rules/playbooks/ContainerCPUNearLimit.md"),
    ),
    (
        "ContainerCPUThrottlingHigh",
        include_str!("../../../rules/playbooks/ContainerCPUThrottlingHigh.md"),
    ),
    (
        "ContainerMemoryNearLimit",
        include_str!("../../../rules/playbooks/ContainerMemoryNearLimit.md"),
    ),
    (
        "ContainerOOMKilled",
        include_str!("../../../rules/playbooks/ContainerOOMKilled.md"),
    ),
    (
        "ContainerRestartingFrequently",
        include_str!("../../../rules/playbooks/ContainerRestartingFrequently.md"),
    ),
    (
        "IngressHighErrorRatio",
        include_str!("../../../rules/playbooks/IngressHighErrorRatio.md"),
    ),
    (
        "IngressHighLatency",
        include_str!("../../../rules/playbooks/IngressHighLatency.md"),
    ),
    (
        "IstioServiceHighErrorRatio",
        include_str!("../../../rules/playbooks/IstioServiceHighErrorRatio.md"),
    ),
    (
        "IstioServiceHighLatency",
        include_str!("../../../rules/playbooks/IstioServiceHighLatency.md"),
    ),
    (
        "KubeCPUOvercommit",
        include_str!("../../../rules/playbooks/KubeCPUOvercommit.md"),
    ),
    (
        "KubeClientErrors",
        include_str!("../../../rules/playbooks/KubeClientErrors.md"),
    ),
    (
        "KubeDeploymentReplicasMismatch",
        include_str!("../../../rules/playbooks/KubeDeploymentReplicasMismatch.md"),
    ),
    (
        "KubeJobFailed",
        include_str!("../../../rules/playbooks/KubeJobFailed.md"),
    ),
    (
        "KubeMemoryOvercommit",
        include_str!("../../../rules/playbooks/KubeMemoryOvercommit.md"),
    ),
    (
        "KubeNodeNotReady",
        include_str!("../../../rules/playbooks/KubeNodeNotReady.md"),
    ),
    (
        "KubeNodePressure",
        include_str!("../../../rules/playbooks/KubeNodePressure.md"),
    ),
    (
        "KubePersistentVolumeFillingUp",
        include_str!("../../../rules/playbooks/KubePersistentVolumeFillingUp.md"),
    ),
    (
        "KubePodCrashLooping",
        include_str!("../../../rules/playbooks/KubePodCrashLooping.md"),
    ),
    (
        "KubePodNotReady",
        include_str!("../../../rules/playbooks/KubePodNotReady.md"),
    ),
    (
        "KubeStatefulSetReplicasMismatch",
        include_str!("../../../rules/playbooks/KubeStatefulSetReplicasMismatch.md"),
    ),
    (
        "NodeCPUHighUtilisation",
        include_str!("../../../rules/playbooks/NodeCPUHighUtilisation.md"),
    ),
    (
        "NodeCPUSaturated",
        include_str!("../../../rules/playbooks/NodeCPUSaturated.md"),
    ),
    (
        "NodeDiskHighUtilisation",
        include_str!("../../../rules/playbooks/NodeDiskHighUtilisation.md"),
    ),
    (
        "NodeDiskIOSaturated",
        include_str!("../../../rules/playbooks/NodeDiskIOSaturated.md"),
    ),
    (
        "NodeFilesystemAlmostOutOfFiles",
        include_str!("../../../rules/playbooks/NodeFilesystemAlmostOutOfFiles.md"),
    ),
    (
        "NodeFilesystemAlmostOutOfSpace",
        include_str!("../../../rules/playbooks/NodeFilesystemAlmostOutOfSpace.md"),
    ),
    (
        "NodeFilesystemSpaceFillingUp",
        include_str!("../../../rules/playbooks/NodeFilesystemSpaceFillingUp.md"),
    ),
    (
        "NodeMemoryHighUtilisation",
        include_str!("../../../rules/playbooks/NodeMemoryHighUtilisation.md"),
    ),
    (
        "NodeMemoryMajorPageFaults",
        include_str!("../../../rules/playbooks/NodeMemoryMajorPageFaults.md"),
    ),
    (
        "NodeNetworkDrops",
        include_str!("../../../rules/playbooks/NodeNetworkDrops.md"),
    ),
    (
        "NodeNetworkErrors",
        include_str!("../../../rules/playbooks/NodeNetworkErrors.md"),
    ),
    (
        "NodeNetworkHighUtilisation",
        include_str!("../../../rules/playbooks/NodeNetworkHighUtilisation.md"),
    ),
    (
        "SLOBudgetExhausted",
        include_str!("../../../rules/playbooks/SLOBudgetExhausted.md"),
    ),
    (
        "SLOBurnRate",
        include_str!("../../../rules/playbooks/SLOBurnRate.md"),
    ),
    (
        "SLODataAbsent",
        include_str!("../../../rules/playbooks/SLODataAbsent.md"),
    ),
    (
        "SLOErrorBudgetExhaustion",
        include_str!("../../../rules/playbooks/SLOErrorBudgetExhaustion.md"),
    ),
    (
        "ServiceHighErrorRatio",
        include_str!("../../../rules/playbooks/ServiceHighErrorRatio.md"),
    ),
    (
        "ServiceHighLatency",
        include_str!("../../../rules/playbooks/ServiceHighLatency.md"),
    ),
];

/// A playbook name: letters, digits, `_`, `-`, `:`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':')
}

fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The Markdown of the playbook `name`: the directory's, else the shipped one.
pub async fn read(s: &AppState, name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    if let Some(dir) = s.playbooks_dir.as_ref() {
        if let Ok(text) = tokio::fs::read_to_string(dir.join(format!("{name}.md"))).await {
            return Some(text);
        }
    }
    shipped(name).map(str::to_string)
}

/// Whether a playbook `name` exists (without reading it).
pub fn exists(s: &AppState, name: &str) -> bool {
    valid_name(name)
        && (shipped(name).is_some()
            || s.playbooks_dir
                .as_ref()
                .is_some_and(|d| d.join(format!("{name}.md")).is_file()))
}

/// Every playbook's name and title (its first `# ` heading), sorted by name.
pub fn list(s: &AppState) -> Vec<(String, String)> {
    let title = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("# ").map(|x| x.trim().to_string()))
            .unwrap_or_default()
    };
    let mut out: std::collections::BTreeMap<String, String> = SHIPPED
        .iter()
        .map(|(n, t)| (n.to_string(), title(t)))
        .collect();
    if let Some(Ok(entries)) = s.playbooks_dir.as_ref().map(std::fs::read_dir) {
        for e in entries.flatten() {
            let p = e.path();
            let Some(name) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".md"))
                .filter(|n| valid_name(n))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.insert(name.to_string(), title(&text));
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    /// Every file of `rules/playbooks/` is compiled in, and nothing else.
    #[test]
    fn shipped_playbooks_are_the_files_of_rules_playbooks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/playbooks");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("rules/playbooks")
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".md")
                    .map(str::to_string)
            })
            .collect();
        files.sort();
        let shipped: Vec<String> = super::SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(shipped, files);
        for (name, text) in super::SHIPPED {
            let on_disk = std::fs::read_to_string(dir.join(format!("{name}.md"))).expect("read");
            assert_eq!(text, on_disk, "{name}");
        }
    }
}
