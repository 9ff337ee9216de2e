use super::*;
use crate::config::Config;

fn job(yaml: &str) -> ScrapeConfig {
    let cfg = Config::from_yaml_str(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    cfg.scrape_configs.into_iter().next().expect("one job")
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn active(cfg: &ScrapeConfig, group: &Labels, target: &Labels) -> PopulatedTarget {
    match populate_target(cfg, group, target) {
        Ok(Some(t)) => t,
        other => panic!("expected an active target, got {other:?}"),
    }
}

#[test]
fn defaults_instance_and_reserved_labels() {
    let cfg =
        job("scrape_configs: [{job_name: node, scrape_interval: 15s, params: {module: [a, b]}}]");
    let t = active(
        &cfg,
        &ls(&[("env", "prod"), ("__meta_x", "m"), ("dc", "group")]),
        &ls(&[("__address__", "10.0.0.1:9100"), ("dc", "target")]),
    );
    assert_eq!(
        t.discovered_labels,
        ls(&[
            ("__address__", "10.0.0.1:9100"),
            ("__meta_x", "m"),
            ("__metrics_path__", "/metrics"),
            ("__param_module", "a"),
            ("__scheme__", "http"),
            ("__scrape_interval__", "15s"),
            ("__scrape_timeout__", "10s"),
            ("dc", "target"),
            ("env", "prod"),
            ("job", "node"),
        ])
    );
    assert_eq!(
        t.labels,
        ls(&[
            ("dc", "target"),
            ("env", "prod"),
            ("instance", "10.0.0.1:9100"),
            ("job", "node"),
        ])
    );
    assert!(t.internal_labels.get("__meta_x").is_none());
    assert_eq!(t.internal_labels.get("__address__"), Some("10.0.0.1:9100"));
    assert_eq!(t.url, "http://10.0.0.1:9100/metrics?module=a&module=b");
    assert_eq!(t.interval, Duration::from_secs(15));
    assert_eq!(t.timeout, Duration::from_secs(10));
}

#[test]
fn relabeling_rewrites_scrape_parameters() {
    let cfg = job(r#"
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {module: [http_2xx]}
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:9115"}
      - {target_label: __scheme__, replacement: https}
      - {target_label: __scrape_interval__, replacement: 30s}
      - {target_label: __scrape_timeout__, replacement: 20s}
"#);
    let t = active(
        &cfg,
        &Labels::empty(),
        &ls(&[("__address__", "https://example.com/a b")]),
    );
    assert_eq!(
        t.url,
        "https://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com%2Fa+b"
    );
    assert_eq!(t.labels.get("instance"), Some("https://example.com/a b"));
    assert_eq!(t.interval, Duration::from_secs(30));
    assert_eq!(t.timeout, Duration::from_secs(20));
    assert_eq!(t.scheme, "https");
    assert_eq!(t.address, "127.0.0.1:9115");
}

#[test]
fn dropped_by_relabeling_is_none() {
    let cfg = job(
        "scrape_configs: [{job_name: a, relabel_configs: [{source_labels: [env], regex: prod, action: keep}]}]",
    );
    let target = ls(&[("__address__", "x:1")]);
    assert_eq!(
        populate_target(&cfg, &ls(&[("env", "dev")]), &target),
        Ok(None)
    );
    assert!(matches!(
        populate_target(&cfg, &ls(&[("env", "prod")]), &target),
        Ok(Some(_))
    ));
}

#[test]
fn invalid_targets_keep_discovered_labels() {
    let cfg = job("scrape_configs: [{job_name: a, relabel_configs: [{target_label: __address__, replacement: ''}]}]");
    let e = populate_target(&cfg, &Labels::empty(), &ls(&[("__address__", "x:1")])).unwrap_err();
    assert_eq!(e.reason, "no address");
    assert_eq!(e.discovered_labels.get("__address__"), Some("x:1"));
    assert_eq!(e.discovered_labels.get("job"), Some("a"));

    let cfg = job("scrape_configs: [{job_name: a, relabel_configs: [{target_label: __scrape_timeout__, replacement: 2m}]}]");
    let e = populate_target(&cfg, &Labels::empty(), &ls(&[("__address__", "x:1")])).unwrap_err();
    assert_eq!(
        e.reason,
        r#"scrape timeout cannot be greater than scrape interval ("2m" > "1m")"#
    );

    let cfg = job("scrape_configs: [{job_name: a}]");
    let e = populate_target(
        &cfg,
        &Labels::empty(),
        &ls(&[("__address__", "http://x:1")]),
    )
    .unwrap_err();
    assert_eq!(e.reason, r#""http://x:1" is not a valid hostname"#);
}

#[test]
fn explicit_instance_and_job_are_kept() {
    let cfg = job("scrape_configs: [{job_name: a}]");
    let t = active(
        &cfg,
        &Labels::empty(),
        &ls(&[
            ("__address__", "x:1"),
            ("instance", "mine"),
            ("job", "other"),
        ]),
    );
    assert_eq!(t.labels, ls(&[("instance", "mine"), ("job", "other")]));
}

#[test]
fn hashmod_sharding_drops_other_shards() {
    let cfg = job(r#"
scrape_configs:
  - job_name: sharded
    relabel_configs:
      - {source_labels: [__address__], modulus: 1000, target_label: __tmp_hash, action: hashmod}
      - {source_labels: [__tmp_hash], regex: "976", action: keep}
"#);
    // md5("baz") mod 1000 = 976 (as Prometheus computes it); md5("foo") mod 1000 = 696.
    assert!(matches!(
        populate_target(&cfg, &Labels::empty(), &ls(&[("__address__", "baz")])),
        Ok(Some(_))
    ));
    assert_eq!(
        populate_target(&cfg, &Labels::empty(), &ls(&[("__address__", "foo")])),
        Ok(None)
    );
}
