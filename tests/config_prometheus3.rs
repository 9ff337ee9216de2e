//! Prometheus 3's `prometheus.yml` breadth: `scrape_config_files`, the Prometheus 3 scrape
//! and global fields, and the sections that only tune Prometheus itself (accepted, each with
//! one notice naming the field and why it does not apply). Expected messages are Prometheus
//! 3's own, from its `config/config.go`.

use redline::testdir::TempDir;
use std::path::Path;

use redline::config::{Config, EscapingScheme};

fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("p3cfg-{name}"))
}

fn write(path: &Path, text: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).expect("dir");
    }
    std::fs::write(path, text).expect("write");
}

fn load_err(yaml: &str) -> String {
    match Config::from_yaml_str(yaml, "prometheus.yml") {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn ignored_fields(cfg: &Config) -> Vec<String> {
    cfg.ignored.iter().map(|s| s.field.clone()).collect()
}

#[test]
fn scrape_config_files_add_jobs_from_globbed_files_relative_to_the_config() {
    let dir = tempdir("files");
    write(
        &dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 15s\nscrape_config_files: ['jobs/*.yml', 'extra.yaml', 'missing/none.yml']\nscrape_configs:\n  - job_name: main\n    static_configs: [{targets: ['a:1']}]\n",
    );
    write(
        &dir.join("jobs/b.yml"),
        "scrape_configs:\n  - job_name: from-b\n    file_sd_configs: [{files: ['sd/*.json']}]\n",
    );
    write(
        &dir.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: from-a\n    scrape_interval: 5s\n    static_configs: [{targets: ['b:2']}]\n",
    );
    write(&dir.join("jobs/ignored.txt"), "not yaml: [");
    write(
        &dir.join("extra.yaml"),
        "scrape_configs:\n  - job_name: extra\n    static_configs: [{targets: ['c:3']}]\n",
    );
    let cfg = Config::load_file(&dir.join("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    // Main file's jobs first, then each pattern's files in name order.
    assert_eq!(names, ["main", "from-a", "from-b", "extra"]);
    // The main file's global section applies to them.
    assert_eq!(
        cfg.scrape_config("from-b")
            .unwrap()
            .scrape_interval
            .as_secs(),
        15
    );
    assert_eq!(
        cfg.scrape_config("from-a")
            .unwrap()
            .scrape_interval
            .as_secs(),
        5
    );
    // Relative paths in a job file resolve against that file's directory.
    assert_eq!(
        cfg.scrape_config("from-b").unwrap().file_sd_configs[0].files[0],
        dir.join("jobs").join("sd/*.json")
    );
    assert_eq!(
        cfg.scrape_config_files,
        [
            dir.join("jobs/a.yml"),
            dir.join("jobs/b.yml"),
            dir.join("extra.yaml")
        ]
    );
}

#[test]
fn scrape_config_files_errors_name_the_file_and_the_first_job() {
    let dir = tempdir("dups");
    let main = dir.join("prometheus.yml");
    write(
        &main,
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n    static_configs: [{targets: ['a:1']}]\n",
    );
    // A job name the main file already has.
    write(
        &dir.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: main\n    static_configs: [{targets: ['b:2']}]\n",
    );
    let err = Config::load_file(&main).unwrap_err().to_string();
    let a = dir.join("jobs/a.yml").display().to_string();
    assert_eq!(
        err,
        format!("{a}:2:15: scrape_configs[0].job_name: found multiple scrape configs with job name \"main\", first found in main config file")
    );

    // A job name another job file already has: named by that file's absolute path.
    write(
        &dir.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: one\n    static_configs: [{targets: ['b:2']}]\n",
    );
    write(
        &dir.join("jobs/b.yml"),
        "scrape_configs:\n  - job_name: one\n    static_configs: [{targets: ['c:3']}]\n",
    );
    let err = Config::load_file(&main).unwrap_err().to_string();
    let b = dir.join("jobs/b.yml").display().to_string();
    assert_eq!(
        err,
        format!("{b}:2:15: scrape_configs[0].job_name: found multiple scrape configs with job name \"one\", first found in {a:?}")
    );

    // An invalid field inside a job file: that file, its path, its position.
    write(
        &dir.join("jobs/b.yml"),
        "scrape_configs:\n  - job_name: two\n    scrape_timeout: 2m\n    scrape_interval: 1m\n",
    );
    let err = Config::load_file(&main).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{b}:3:21: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name \"two\"")
    );
    // Only `scrape_configs` belongs in a job file.
    write(
        &dir.join("jobs/b.yml"),
        "rule_files: ['x.yml']\nscrape_configs: []\n",
    );
    let err = Config::load_file(&main).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{b}:1:1: rule_files: unknown field `rule_files`")),
        "{err}"
    );
}

#[test]
fn scrape_config_file_pattern_with_a_wildcard_directory_is_rejected() {
    let err = load_err("scrape_config_files: ['jobs/*/x.yml']\n");
    assert_eq!(
        err,
        "prometheus.yml:1:23: scrape_config_files[0]: invalid scrape config file path \"jobs/*/x.yml\""
    );
}

#[test]
fn a_reload_reads_the_scrape_config_files_again() {
    let dir = tempdir("reread");
    let main = dir.join("prometheus.yml");
    write(&main, "scrape_config_files: ['jobs/*.yml']\n");
    write(
        &dir.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: first\n    static_configs: [{targets: ['a:1']}]\n",
    );
    let before = Config::load_file(&main).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.scrape_configs[0].job_name, "first");
    write(
        &dir.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: second\n    static_configs: [{targets: ['a:1']}]\n",
    );
    let after = redline::config::LoadOptions::default()
        .load(&main)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.scrape_configs[0].job_name, "second");
}

/// Every Prometheus 3 scrape and global field loads; the one redline does not act on
/// (`scrape_failure_log_file`) is listed as ignored, with its path.
#[test]
fn prometheus_3_scrape_fields_load() {
    let yaml = r#"
global:
  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
  scrape_native_histograms: true
  convert_classic_histograms_to_nhcb: false
  always_scrape_classic_histograms: true
  metric_name_validation_scheme: utf8
  metric_name_escaping_scheme: dots
  scrape_failure_log_file: /var/log/prometheus/failures.log
  body_size_limit: 10MB
  sample_limit: 1000
  label_limit: 30
  label_name_length_limit: 200
  label_value_length_limit: 200
  target_limit: 50
  keep_dropped_targets: 100
scrape_configs:
  - job_name: app
    scrape_native_histograms: false
    convert_classic_histograms_to_nhcb: true
    native_histogram_bucket_limit: 160
    native_histogram_min_bucket_factor: 1.1
    fallback_scrape_protocol: PrometheusText0.0.4
    enable_compression: false
    track_timestamps_staleness: true
    metric_name_escaping_scheme: underscores
    static_configs: [{targets: ['a:1']}]
  - job_name: inherits
    static_configs: [{targets: ['b:1']}]
"#;
    let cfg = Config::from_yaml_str(yaml, "prometheus.yml").unwrap_or_else(|e| panic!("{e}"));
    let app = cfg.scrape_config("app").unwrap();
    assert!(!app.enable_compression);
    assert!(app.track_timestamps_staleness);
    assert_eq!(app.metric_name_escaping_scheme, EscapingScheme::Underscores);
    assert_eq!(app.limits.sample_limit, Some(1000));
    assert_eq!(app.limits.keep_dropped_targets, Some(100));
    let inherits = cfg.scrape_config("inherits").unwrap();
    assert_eq!(inherits.metric_name_escaping_scheme, EscapingScheme::Dots);
    assert!(inherits.enable_compression);
    assert!(!inherits.track_timestamps_staleness);
    assert_eq!(ignored_fields(&cfg), ["global.scrape_failure_log_file"]);
    assert!(app.histograms.convert_classic_histograms_to_nhcb);
    assert!(!inherits.histograms.convert_classic_histograms_to_nhcb);
    // The native-histogram settings are acted on: the job's own, else global's.
    assert!(!app.histograms.scrape_native_histograms);
    assert_eq!(app.histograms.bucket_limit, Some(160));
    assert_eq!(app.histograms.min_bucket_factor, Some(1.1));
    assert!(inherits.histograms.scrape_native_histograms);
    assert!(inherits.histograms.always_scrape_classic_histograms);
    // Settings that ask for nothing are not reported.
    let quiet = Config::from_yaml_str(
        "global:\n  scrape_native_histograms: false\nscrape_configs:\n  - job_name: a\n    always_scrape_classic_histograms: false\n",
        "p.yml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(quiet.ignored.is_empty(), "{:?}", quiet.ignored);
}

#[test]
fn escaping_scheme_validation_follows_prometheus() {
    assert_eq!(
        load_err("global:\n  metric_name_escaping_scheme: slashes\n"),
        "prometheus.yml:2:32: global.metric_name_escaping_scheme: unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got \"slashes\""
    );
    assert_eq!(
        load_err("scrape_configs:\n  - job_name: a\n    metric_name_escaping_scheme: x\n"),
        "prometheus.yml:3:34: scrape_configs[0].metric_name_escaping_scheme: unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got \"x\""
    );
    assert_eq!(
        load_err("scrape_configs:\n  - job_name: a\n    metric_name_validation_scheme: legacy\n    metric_name_escaping_scheme: allow-utf-8\n"),
        "prometheus.yml:4:34: scrape_configs[0].metric_name_escaping_scheme: utf8 metric names requested but validation scheme is not set to UTF8"
    );
    // Legacy validation alone escapes with underscores, globally or per job.
    let cfg = Config::from_yaml_str(
        "global:\n  metric_name_validation_scheme: legacy\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    metric_name_validation_scheme: utf8\n",
        "p.yml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.scrape_configs[0].metric_name_escaping_scheme,
        EscapingScheme::Underscores
    );
    assert_eq!(
        cfg.scrape_configs[1].metric_name_escaping_scheme,
        EscapingScheme::AllowUtf8
    );
}

#[test]
fn prometheus_only_sections_are_accepted_with_a_notice() {
    let yaml = r#"
runtime:
  gogc: 50
storage:
  tsdb:
    out_of_order_time_window: 30m
    retention:
      time: 15d
      size: 512MB
  exemplars:
    max_exemplars: 100000
tracing:
  endpoint: otel-collector:4317
  client_type: grpc
  sampling_fraction: 0.1
  insecure: true
  compression: gzip
  timeout: 5s
  headers: {x-tenant: a}
otlp:
  promote_resource_attributes: [service.instance.id, k8s.namespace.name]
  translation_strategy: NoUTF8EscapingWithSuffixes
  keep_identifying_resource_attributes: true
"#;
    let cfg = Config::from_yaml_str(yaml, "prometheus.yml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ignored_fields(&cfg),
        [
            "storage.tsdb",
            "storage.exemplars",
            "tracing",
            "runtime.gogc",
            "otlp"
        ]
    );
    let tsdb = &cfg.ignored[0];
    assert_eq!(tsdb.source, "prometheus.yml");
    assert!(
        tsdb.to_string().starts_with(
            "prometheus.yml: storage.tsdb: accepted and ignored: it tunes Prometheus' TSDB"
        ),
        "{tsdb}"
    );
}

#[test]
fn prometheus_only_sections_are_still_checked() {
    // A typo in an ignored section is an error at its path, not silently ignored.
    let err = load_err("storage:\n  tsdb:\n    out_of_order_window: 30m\n");
    assert!(
        err.starts_with("prometheus.yml:3:5: storage.tsdb.out_of_order_window: unknown field `out_of_order_window`"),
        "{err}"
    );
    assert_eq!(
        load_err("tracing:\n  client_type: grpc\n"),
        "prometheus.yml:2:3: tracing: tracing endpoint must be set"
    );
    assert_eq!(
        load_err("tracing:\n  endpoint: x:4317\n  client_type: udp\n"),
        "prometheus.yml:3:16: tracing.client_type: expected tracing client type to be to be http or grpc, but got udp"
    );
    assert_eq!(
        load_err("otlp:\n  translation_strategy: Wrong\n"),
        "prometheus.yml:2:25: otlp.translation_strategy: unsupported OTLP translation strategy \"Wrong\""
    );
    assert_eq!(
        load_err("global:\n  metric_name_validation_scheme: legacy\notlp:\n  translation_strategy: NoTranslation\n"),
        "prometheus.yml:4:25: otlp.translation_strategy: OTLP translation strategy \"NoTranslation\" is not allowed when UTF8 is disabled"
    );
    assert_eq!(
        load_err("otlp:\n  ignore_resource_attributes: [a]\n"),
        "prometheus.yml:2:31: otlp.ignore_resource_attributes: 'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true"
    );
    assert_eq!(
        load_err("otlp:\n  promote_resource_attributes: [a, ' a']\n"),
        "prometheus.yml:2:36: otlp.promote_resource_attributes[1]: invalid 'promote_resource_attributes': duplicated promoted OTel resource attribute \"a\""
    );
    // What redline does not implement stays rejected with its path.
    let err = load_err("global:\n  query_log_file: /tmp/q.log\n");
    assert!(
        err.starts_with("prometheus.yml:2:19: global.query_log_file: redline does not support"),
        "{err}"
    );
}
