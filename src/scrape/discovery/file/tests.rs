use super::*;

use crate::testdir::TempDir;

/// Writes `text` to `dir/name`, returning the path.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

fn addresses(groups: &[TargetGroup]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| g.targets.iter())
        .filter_map(|t| t.get(ADDRESS_LABEL).map(str::to_string))
        .collect()
}

fn cfg(files: Vec<PathBuf>) -> FileSdConfig {
    FileSdConfig {
        files,
        refresh_interval: Duration::from_secs(300),
    }
}

#[test]
fn go_filepath_match() {
    assert!(glob_match("*.json", "a.json"));
    assert!(glob_match("*.json", ".json"));
    assert!(!glob_match("*.json", "a.yml"));
    assert!(glob_match("node-?.yml", "node-1.yml"));
    assert!(!glob_match("node-?.yml", "node-12.yml"));
    assert!(glob_match("[a-c]*.json", "b1.json"));
    assert!(!glob_match("[^a-c]*.json", "b1.json"));
    assert!(glob_match("x\\*.json", "x*.json"));
    assert!(!glob_match("x\\*.json", "xy.json"));
}

#[test]
fn reads_json_and_yaml_with_meta_filepath() {
    let dir = TempDir::new("file-sd");
    let json = write(
        &dir,
        "a.json",
        r#"[{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod"}},
            {"targets": ["10.0.0.3:9100"]}]"#,
    );
    let yaml = write(
        &dir,
        "b.yml",
        "- targets: ['db:9187']\n  labels:\n    team: data\n",
    );
    write(&dir, "ignored.txt", "not a target file");
    let (groups, errors) = load_file_sd(&cfg(vec![dir.join("*.json"), yaml.clone()]));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        addresses(&groups),
        vec!["10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100", "db:9187"]
    );
    let json_name = json.to_string_lossy().into_owned();
    assert_eq!(groups[0].source, format!("{json_name}:0"));
    assert_eq!(groups[1].source, format!("{json_name}:1"));
    assert_eq!(groups[0].labels.get("env"), Some("prod"));
    assert_eq!(
        groups[0].labels.get(FILEPATH_LABEL),
        Some(json_name.as_str())
    );
    assert_eq!(groups[2].labels.get("team"), Some("data"));
    assert_eq!(
        groups[2].labels.get(FILEPATH_LABEL),
        Some(yaml.to_string_lossy().as_ref())
    );
}

#[test]
fn bad_file_is_reported() {
    let dir = TempDir::new("file-sd");
    let bad = write(&dir, "bad.json", "[{\"targets\": [\"a:1\"]");
    write(&dir, "typo.yml", "- targets: ['a:1']\n  lables: {x: y}\n");
    let (groups, errors) = load_file_sd(&cfg(vec![dir.join("*.json"), dir.join("*.yml")]));
    assert!(groups.is_empty());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].path, bad);
    assert!(
        errors[1].message.contains("unknown field `lables`"),
        "{errors:?}"
    );
}

#[test]
fn bad_file_keeps_previous_targets() {
    let dir = TempDir::new("file-sd");
    let f = write(&dir, "t.json", r#"[{"targets": ["a:1"]}]"#);
    let c = cfg(vec![f.clone()]);
    let mut state = FileSdState::default();
    assert!(state.refresh(&c).is_empty());
    assert_eq!(addresses(&state.groups()), vec!["a:1"]);

    std::fs::write(&f, "[{\"targets\": ").expect("rewrite");
    let errors = state.refresh(&c);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        addresses(&state.groups()),
        vec!["a:1"],
        "previous targets kept"
    );

    std::fs::write(&f, r#"[{"targets": ["b:2"]}]"#).expect("rewrite");
    assert!(state.refresh(&c).is_empty());
    assert_eq!(addresses(&state.groups()), vec!["b:2"]);

    std::fs::remove_file(&f).expect("remove");
    assert!(state.refresh(&c).is_empty());
    assert!(
        state.groups().is_empty(),
        "a removed file takes its targets"
    );
}

/// Waits until the published groups satisfy `pred`, failing after a deadline.
async fn wait_for(
    rx: &mut watch::Receiver<Vec<TargetGroup>>,
    what: &str,
    pred: impl Fn(&[TargetGroup]) -> bool,
) -> Vec<TargetGroup> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        {
            let now = rx.borrow_and_update();
            if pred(&now) {
                return now.clone();
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("file_sd runner stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; last: {:?}", rx.borrow()),
        }
    }
}

#[tokio::test]
async fn runner_picks_up_changes_and_keeps_targets_of_bad_files() {
    let dir = TempDir::new("file-sd");
    write(&dir, "a.json", r#"[{"targets": ["a:1"]}]"#);
    let c = cfg(vec![dir.join("*.json")]);
    let (tx, mut rx) = watch::channel(Vec::new());
    let runner = tokio::spawn(run_file_sd(c, Duration::from_millis(100), tx));

    wait_for(&mut rx, "initial targets", |g| addresses(g) == ["a:1"]).await;

    // A changed file and a new file matching the glob are both picked up.
    write(&dir, "a.json", r#"[{"targets": ["a:1", "a:2"]}]"#);
    write(&dir, "b.json", r#"[{"targets": ["b:1"]}]"#);
    wait_for(&mut rx, "changed targets", |g| {
        addresses(g) == ["a:1", "a:2", "b:1"]
    })
    .await;

    // A broken a.json keeps its targets while b.json's change still goes through.
    write(&dir, "a.json", "[{\"targets\": [\"a:9\"");
    write(&dir, "b.json", r#"[{"targets": ["b:1", "b:2"]}]"#);
    let groups = wait_for(&mut rx, "b.json's change", |g| {
        addresses(g).contains(&"b:2".to_string())
    })
    .await;
    assert_eq!(addresses(&groups), vec!["a:1", "a:2", "b:1", "b:2"]);

    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .expect("runner stops when nobody listens")
        .expect("runner did not panic");
}
