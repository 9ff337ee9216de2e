//! The `redline` command line: parses flags and calls into the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "redline",
    version,
    about = "Monitoring and alerting for SRE teams running Kubernetes"
)]
struct Cli {
    /// Log filter, e.g. `info` or `redline=debug`.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: scrape, store, serve the APIs.
    Run {
        /// The config file (Prometheus `prometheus.yml` format plus redline's sections).
        #[arg(long)]
        config: PathBuf,
        /// Address for the HTTP server.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// Directory for state that survives restarts (relative to the working directory,
        /// like Prometheus' `--storage.tsdb.path=data/`).
        #[arg(long, default_value = "data")]
        state_dir: PathBuf,
        #[command(flatten)]
        query: QueryFlags,
        /// The URL users reach redline at, for links in alerts (`$externalURL`).
        #[arg(long = "web.external-url")]
        external_url: Option<String>,
        /// Directory of your own `<AlertName>.md` playbooks, served at
        /// `/playbooks/<AlertName>` before the playbooks redline ships (which are built in).
        #[arg(long)]
        playbooks_dir: Option<PathBuf>,
        /// Replace `${VAR}` and `${VAR:-default}` in the config file with environment
        /// variables before parsing, at start-up and on every reload.
        #[arg(long = "config.expand-env")]
        expand_env: bool,
        #[command(flatten)]
        notifier: NotifierFlags,
        /// The resolver configuration `dns_sd_configs` read (nameservers, search list,
        /// ndots), in resolv.conf format.
        #[arg(long = "discovery.dns-resolv-conf", default_value = "/etc/resolv.conf")]
        dns_resolv_conf: PathBuf,
        /// The port of the nameservers in `--discovery.dns-resolv-conf` (resolv.conf cannot
        /// name one).
        #[arg(long = "discovery.dns-port", default_value_t = 53)]
        dns_port: u16,
    },
    /// Run the embedded synthetic cluster and its dashboard.
    Demo {
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// Scenario seconds per real second: the incident plays out this many times faster.
        #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
        speed: f64,
        /// Scenario time until the incident starts (a duration such as 1m or 30s); at
        /// `--speed 30`, 1m of scenario time passes in 2 real seconds.
        #[arg(long = "incident-after", default_value = "1m", value_parser = parse_duration)]
        incident_after: std::time::Duration,
        /// Scenario time the incident lasts: 15m lasts 30 real seconds at `--speed 30`.
        #[arg(long = "incident-for", default_value = "15m", value_parser = parse_duration)]
        incident_for: std::time::Duration,
    },
    /// Validate files without running anything.
    Check {
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// Run test files.
    Test {
        /// Write the results of `test rules` as JUnit XML to this file (promtool's `test --junit`).
        #[arg(long)]
        junit: Option<PathBuf>,
        #[command(subcommand)]
        what: TestCommand,
    },
    /// Dashboard definitions (`dashboards/*.yaml`) tools.
    Dashboards {
        #[command(subcommand)]
        what: DashboardsCommand,
    },
    /// SLO tools.
    Slo {
        #[command(subcommand)]
        what: SloCommand,
    },
    /// Alert routing tools.
    Routes {
        #[command(subcommand)]
        what: RoutesCommand,
    },
    /// Explain why an alert with these labels was (not) paged, asking a running redline:
    /// the route path with every matcher's verdict, receiver and owner, group and next flush,
    /// silences, inhibition, time intervals and the next notification.
    Explain {
        /// redline's URL, e.g. `http://127.0.0.1:9090` (`http://user:password@host:port` for
        /// basic auth).
        #[arg(long)]
        url: String,
        /// Print the API's JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Explain the alert with this fingerprint (16 hex digits) instead of a label set.
        #[arg(long, conflicts_with = "labels")]
        fingerprint: Option<String>,
        /// Labels of the alert, as `name=value`.
        labels: Vec<String>,
    },
    /// Acknowledge firing alert groups on a running redline, like `amtool silence`.
    Ack {
        #[command(subcommand)]
        what: AckCommand,
    },
    /// Tools for looking inside redline's pieces.
    Debug {
        #[command(subcommand)]
        what: DebugCommand,
    },
}

/// Sending rule alerts to the Alertmanagers of `alerting:`, named as Prometheus names
/// its flags.
#[derive(clap::Args)]
struct NotifierFlags {
    /// The capacity of the queue for pending Alertmanager notifications (per Alertmanager).
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = redline::notifier::DEFAULT_QUEUE_CAPACITY)]
    queue_capacity: usize,
    /// The maximum number of notifications per batch to send to the Alertmanager.
    #[arg(long = "alertmanager.notification-batch-size", default_value_t = redline::notifier::DEFAULT_MAX_BATCH_SIZE)]
    batch_size: usize,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = parse_duration)]
    resend_delay: std::time::Duration,
}

/// Query limits, named as Prometheus names its flags.
#[derive(clap::Args)]
struct QueryFlags {
    /// Most samples one query may hold in memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    max_samples: usize,
    /// Longest a query may run, e.g. `2m`.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = parse_duration)]
    timeout: std::time::Duration,
    /// Queries evaluated at once; more wait their turn.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    max_concurrency: usize,
    /// How far back an instant selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = parse_duration)]
    lookback_delta: std::time::Duration,
    /// Longest query text in bytes; longer queries are refused before parsing.
    #[arg(long = "query.max-length", default_value_t = redline::promql::DEFAULT_MAX_QUERY_LENGTH)]
    max_length: usize,
    /// Deepest query: nested brackets plus operators chained at one level (`a+b+c` is 2).
    /// Deeper queries are refused before parsing. At most 256, the depth redline's thread
    /// stacks are sized for.
    #[arg(long = "query.max-depth", default_value_t = redline::promql::MAX_QUERY_DEPTH,
          value_parser = parse_max_depth)]
    max_depth: usize,
    /// Prometheus' feature flags, comma-separated or repeated:
    /// `promql-experimental-functions` (limitk, limit_ratio, sort_by_label, …),
    /// `promql-binop-fill-modifiers` (fill, fill_left, fill_right),
    /// `promql-extended-range-selectors` (anchored, smoothed), `type-and-unit-labels`
    /// (scraped series get `__type__`/`__unit__` from their metadata),
    /// `promql-delayed-name-removal` (`__name__` removed at the end of evaluation),
    /// `created-timestamp-zero-ingestion` (a zero sample at each scraped series' created
    /// timestamp; OpenMetrics `_created` series are not stored; protobuf first for jobs
    /// without `scrape_protocols`). Other Prometheus flags (native-histograms,
    /// promql-duration-expr, …) are accepted with a warning saying why they change nothing.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    enable_feature: Vec<String>,
}

fn parse_max_depth(s: &str) -> Result<usize, String> {
    let max = redline::promql::MAX_QUERY_DEPTH;
    match s.parse::<usize>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a whole number from 1 to {max}, got {s:?}"
        )),
    }
}

impl QueryFlags {
    fn limits(&self) -> redline::http::QueryLimits {
        redline::http::QueryLimits {
            max_samples: self.max_samples,
            timeout: self.timeout,
            max_concurrency: self.max_concurrency,
            lookback_delta: self.lookback_delta,
            parse: redline::promql::ParseLimits {
                max_length: self.max_length,
                max_depth: self.max_depth,
            },
            features: features(&self.enable_feature),
        }
    }
}

/// Reads `--enable-feature` values and logs what Prometheus logs for them: the switches
/// turned on, flags that change nothing, unknown names.
fn features(values: &[String]) -> redline::features::Features {
    let (f, notes) = redline::features::Features::parse(values);
    for note in notes {
        tracing::warn!("{note}");
    }
    let on = f.enabled();
    if !on.is_empty() {
        tracing::info!(features = ?on, "experimental features enabled");
    }
    f
}

fn parse_duration(s: &str) -> Result<std::time::Duration, redline::timefmt::DurationError> {
    redline::timefmt::parse_duration(s)
}

#[derive(Subcommand)]
enum CheckCommand {
    /// Validate a config file and every file it names (rule files, SLO files, the
    /// Alertmanager config): what `redline run` would refuse, this refuses. Errors name the
    /// file and the field path.
    Config {
        file: PathBuf,
        /// Replace `${VAR}` and `${VAR:-default}` with environment variables first.
        #[arg(long = "config.expand-env")]
        expand_env: bool,
    },
    /// Validate Prometheus rule files, as `promtool check rules` does.
    Rules {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate SLO specs (redline, Sloth, OpenSLO).
    Slo {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DashboardsCommand {
    /// Write Grafana dashboard JSON (one file per dashboard) for the dashboard definitions.
    Export {
        /// Directory to write `<uid>.json` files into.
        #[arg(long)]
        grafana: PathBuf,
        /// Read the definitions from this directory instead of the built-in ones.
        #[arg(long = "dashboards-dir")]
        dashboards_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SloCommand {
    /// Write a Prometheus rule file (recording and burn-rate alert rules) for SLO specs
    /// (redline's own, Sloth `prometheus/v1`, OpenSLO v1) to stdout.
    Generate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AckCommand {
    /// Acknowledge the firing groups in which an alert matching every matcher fires: no
    /// repeat notifications until the acknowledgement ends or a new alert fires in the group.
    /// Prints the new acknowledgements' ids.
    Add {
        /// The redline to talk to, e.g. http://localhost:9090.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// How long the acknowledgement lasts.
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Matchers such as `alertname=HighLatency` or `instance=~"db.+"`; a first argument
        /// without an operator is the alert name.
        matchers: Vec<String>,
    },
    /// List the acknowledgements (ended ones within the retention too).
    Query {
        #[arg(long)]
        url: String,
    },
    /// End acknowledgements now.
    Expire {
        #[arg(long)]
        url: String,
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Print the receivers the route tree picks for a label set, like `amtool config routes test`.
    Test {
        /// An Alertmanager config file (`alertmanager.yml`), or redline's config file: its
        /// `alertmanager:` section, inline `config:` or `config_file:`, is used.
        #[arg(long)]
        config: PathBuf,
        /// Exit non-zero unless the receivers are exactly these, comma-separated.
        #[arg(long = "verify.receivers")]
        verify_receivers: Option<String>,
        /// Labels of the alert, as `name=value`.
        labels: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TestCommand {
    /// Run upstream promqltest script files.
    Promql {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run `promtool test rules` unit-test files, unchanged.
    Rules {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Prometheus' feature flags, as promtool takes them: `promql-experimental-functions`,
        /// `promql-binop-fill-modifiers`, `promql-extended-range-selectors`,
        /// `promql-delayed-name-removal` (comma-separated or repeated).
        #[arg(long = "enable-feature", value_delimiter = ',')]
        enable_feature: Vec<String>,
        /// Only run the test groups whose name matches this regular expression (repeatable:
        /// any of them).
        #[arg(long)]
        run: Vec<String>,
        /// Ignore fields of the rule files that Prometheus does not know.
        #[arg(long = "ignore-unknown-fields")]
        ignore_unknown_fields: bool,
    },
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Parse an exposition file and print its samples.
    Parse {
        file: PathBuf,
        /// Output format.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
        /// Input format; detected from a trailing `# EOF` when not given.
        #[arg(long, value_parser = ["text", "openmetrics"])]
        input_format: Option<String>,
    },
    /// Load an exposition file (timestamps kept) and serve the query API over it.
    Load {
        file: PathBuf,
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        #[command(flatten)]
        query: QueryFlags,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    redline::logging::init(&cli.log_level);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each cause once: many error types already
/// write their source's message into their own (`reading FILE: <io error>`), and printing
/// the chain after it would say the same thing twice.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run {
            config,
            listen,
            state_dir,
            query,
            external_url,
            playbooks_dir,
            expand_env,
            notifier,
            dns_resolv_conf,
            dns_port,
        } => {
            let load = redline::config::LoadOptions { expand_env };
            let cfg = load.load(&config)?;
            let discovery = redline::scrape::discovery::DiscoveryOptions {
                dns_resolver: redline::scrape::discovery::dns::ResolverConfig {
                    resolv_conf: dns_resolv_conf,
                    port: dns_port,
                },
                ..Default::default()
            };
            runtime()?.block_on(redline::service::run_discovering(
                cfg,
                redline::service::ServiceOptions {
                    listen,
                    state_dir,
                    config_path: Some(config),
                    query: query.limits(),
                    external_url,
                    playbooks_dir,
                    notifier: redline::notifier::NotifierOptions {
                        queue_capacity: notifier.queue_capacity,
                        max_batch_size: notifier.batch_size,
                    },
                    resend_delay: notifier.resend_delay,
                    ..redline::service::ServiceOptions::new(
                        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                        std::path::PathBuf::new(),
                    )
                },
                discovery,
                load,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            speed,
            incident_after,
            incident_for,
        } => {
            let opts = redline::demo::DemoOptions {
                speed,
                incident_after,
                incident_for,
                ..redline::demo::DemoOptions::new(listen)
            };
            runtime()?.block_on(redline::demo::run(opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            what: CheckCommand::Config { file, expand_env },
        } => {
            let cfg = redline::config::LoadOptions { expand_env }.load(&file)?;
            let ok = redline::service::check::write_config_report(
                &file,
                &cfg,
                &mut std::io::stdout().lock(),
            )?;
            Ok(exit(ok))
        }
        Command::Check {
            what: CheckCommand::Rules { files },
        } => {
            let ok =
                redline::rules::file::write_check_report(&files, &mut std::io::stdout().lock())?;
            Ok(exit(ok))
        }
        Command::Check {
            what: CheckCommand::Slo { files },
        } => match redline::slo::check_files(&files) {
            Ok(found) => {
                for (path, n) in found {
                    println!("{}: SUCCESS: {n} SLOs", path.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Dashboards {
            what:
                DashboardsCommand::Export {
                    grafana,
                    dashboards_dir,
                },
        } => {
            use redline::http::dashboard::defs;
            let dashboards = match dashboards_dir {
                Some(dir) => defs::load_dir(&dir)?,
                None => defs::builtin().to_vec(),
            };
            for path in defs::export_grafana(&dashboards, &grafana)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Slo {
            what: SloCommand::Generate { files },
        } => match redline::slo::generate(&files) {
            Ok(yaml) => {
                // SLOs Prometheus rules cannot express are named in the file's header.
                for note in yaml
                    .lines()
                    .filter_map(|l| l.strip_prefix("# not generated: "))
                {
                    eprintln!("warning: not generated: {note}");
                }
                print!("{yaml}");
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Test {
            junit,
            what:
                TestCommand::Rules {
                    files,
                    enable_feature,
                    run,
                    ignore_unknown_fields,
                },
        } => {
            let opts = redline::rules::promtool::TestRunOptions {
                features: features(&enable_feature),
                run,
                ignore_unknown_fields,
            };
            let mut junit_file = match &junit {
                Some(p) => Some(
                    std::fs::File::create(p).with_context(|| format!("--junit {}", p.display()))?,
                ),
                None => None,
            };
            let summary = redline::rules::promtool::run_test_files_opts(
                &files,
                &opts,
                &mut std::io::stdout().lock(),
                junit_file.as_mut().map(|f| f as &mut dyn std::io::Write),
            )?;
            Ok(exit(summary.failed == 0))
        }
        Command::Routes {
            what:
                RoutesCommand::Test {
                    config,
                    verify_receivers,
                    labels,
                },
        } => {
            let cfg = routing_config(&config)?;
            let labels = redline::config::alertmanager::matchers::parse_label_args(&labels)?;
            let verify: Option<Vec<String>> =
                verify_receivers.map(|v| v.split(',').map(|r| r.trim().to_string()).collect());
            let (output, ok) =
                redline::config::alertmanager::routes_test(&cfg, &labels, verify.as_deref());
            print!("{output}");
            Ok(exit(ok))
        }
        Command::Explain {
            url,
            json,
            fingerprint,
            labels,
        } => {
            use redline::alerting::explain::{text, Target};
            let target = match fingerprint {
                Some(fp) => Target::Fingerprint(fp),
                None => Target::Labels(
                    redline::config::alertmanager::parse_label_args(&labels).context("labels")?,
                ),
            };
            let ex = runtime()?.block_on(redline::http::explain::fetch(&url, &target))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ex)?);
            } else {
                print!("{}", text::render(&ex));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ack { what } => {
            redline::install_crypto_provider();
            use redline::http::acks_client as client;
            runtime()?.block_on(async move {
                match what {
                    AckCommand::Add {
                        url,
                        comment,
                        author,
                        duration,
                        matchers,
                    } => {
                        let matchers = client::matcher_args(&matchers)?;
                        let author = author
                            .or_else(|| std::env::var("USER").ok())
                            .unwrap_or_default();
                        for id in client::add(&url, matchers, &author, &comment, &duration).await? {
                            println!("{id}");
                        }
                    }
                    AckCommand::Query { url } => print!("{}", client::query(&url).await?),
                    AckCommand::Expire { url, ids } => {
                        for id in ids {
                            client::expire(&url, &id).await?;
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Test {
            what: TestCommand::Promql { files },
            ..
        } => {
            let mut out = std::io::stdout().lock();
            let summary = redline::promql::promqltest::run_test_files(&files, &mut out)?;
            Ok(exit(summary.failed == 0))
        }
        Command::Debug {
            what:
                DebugCommand::Load {
                    file,
                    listen,
                    query,
                },
        } => {
            let (store, samples) = redline::service::load_exposition_file(&file)?;
            eprintln!("loaded {samples} samples from {}", file.display());
            runtime()?.block_on(redline::service::serve_store(store, listen, query.limits()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Debug {
            what:
                DebugCommand::Parse {
                    file,
                    format: _,
                    input_format,
                },
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let format = match input_format.as_deref() {
                Some("openmetrics") => redline::exposition::Format::OpenMetrics,
                Some(_) => redline::exposition::Format::PrometheusText,
                None => redline::exposition::detect_format(&body),
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            redline::exposition::write_jsonl(&body, format, &mut out)
                .with_context(|| format!("{}", file.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    redline::service::runtime().context("starting the async runtime")
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000.0 => Ok(v),
        _ => Err(format!("expected a number between 0 and 10000, got {s:?}")),
    }
}

/// The routing config of `routes test --config FILE`: FILE is an Alertmanager config, or
/// redline's config whose `alertmanager:` section holds or names one (an Alertmanager config
/// has no top-level `alertmanager` key, so the key tells them apart).
fn routing_config(
    path: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<redline::config::alertmanager::AlertmanagerConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_redline = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
        .ok()
        .and_then(|v| v.as_mapping().map(|m| m.contains_key("alertmanager")))
        .unwrap_or(false);
    if !is_redline {
        return Ok(std::sync::Arc::new(
            redline::config::alertmanager::AlertmanagerConfig::load_file(path)?,
        ));
    }
    let cfg = redline::config::Config::load_file(path)?;
    cfg.alertmanager
        .map(|section| section.config)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: `alertmanager:` is empty: expected `config:` or `config_file:`",
                path.display()
            )
        })
}
