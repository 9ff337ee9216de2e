//! Log set-up: structured lines on stderr, filtered by a `tracing` env-filter expression.

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
