#!/usr/bin/env bash
# Runs redline's whole test suite on a fresh machine. Installs what the tests need beyond
# cargo (idempotently: already-installed packages are skipped), then runs the unit,
# integration and conformance tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test data is part of the repository (tests/fixtures, tests/conformance, tests/data): stop
# at once, naming the file, when any file the sources name or the SOURCES.md files list is gone.
missing_data=()
while read -r f; do
  case $f in *'*'*) compgen -G "$f" >/dev/null || missing_data+=("$f") ;; *) [ -e "$f" ] || missing_data+=("$f") ;; esac
done < <({
  grep -rhoE 'tests/(fixtures|conformance|data)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*]' src tests benches docs rules README.md \
    --exclude-dir=fixtures --exclude-dir=conformance | sort -u
  for d in tests/fixtures tests/conformance; do
    grep -oE '^\| *[A-Za-z0-9_./*-]+\.(prom|json|yml|test|md) *\|' "$d/SOURCES.md" | tr -d '| ' | sed "s#^#$d/#" | sed 's#, #\n#g'
  done
} | sort -u)
if [ ${#missing_data[@]} -gt 0 ]; then
  echo "tests/run-all.sh: test data missing from the repository:" >&2
  printf '  %s\n' "${missing_data[@]}" >&2
  exit 1
fi

# Debian packages the tests start for real.
debs=(prometheus-node-exporter prometheus prometheus-alertmanager openssl python3-aiosmtpd chromium chromium-driver)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Python reference parser for the exposition differential test.
python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q prometheus-client

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo build --locked --all-targets
# The fuzz targets (own workspace, built by cargo-fuzz on nightly) compile on stable too.
cargo check --locked --manifest-path fuzz/Cargo.toml
cargo run --locked --quiet -- check config deploy/base/redline.yaml
cargo nextest run --locked --no-fail-fast
# Doc tests are not run by nextest.
cargo test --locked --doc

# The shipped rules, checked and unit-tested by Prometheus' own promtool.
promtool check rules rules/*.yml
promtool test rules tests/rules/*.test.yml
# ... and by redline's own runner, which must agree.
cargo run --locked --quiet -- test rules tests/rules/*.test.yml
cargo run --locked --quiet -- check rules rules/*.yml

# SLO specs: the generated Prometheus rules pass promtool, and the unit tests of the rules
# generated from native, Sloth and OpenSLO specs (tests/slo/*.test.yml: hand-computed ratios,
# burn rates, budgets, latency from histogram buckets, page and ticket tiers) pass under
# promtool and under redline's runner alike.
cargo run --locked --quiet -- check slo rules/slo/*.yml
mkdir -p target
cargo run --locked --quiet -- slo generate rules/slo/*.yml > target/slo.rules.yml
promtool check rules target/slo.rules.yml
promtool test rules tests/slo/*.test.yml
cargo run --locked --quiet -- test rules tests/slo/*.test.yml
# Template golden values (humanize, printf, query, …) hold under promtool, not only redline.
promtool test rules tests/data/rules/templates_test.yml
cargo run --locked --quiet -- test rules tests/data/rules/templates_test.yml

# Upstream PromQL conformance files: the shared ones and upstream's native histogram file.
# Every eval runs; any failure fails the run.
cargo run --locked --quiet -- test promql tests/conformance/promql/*.test tests/conformance/promql-next/*.test

# Query answers against Debian's Prometheus.
# Every query shape of benches/compare_prometheus.py (the PromQL bench queries, value
# formats such as NaN/+Inf/1e+21, sorted results, the series/labels endpoints) over one
# replica of the fixtures, asked of redline and of /usr/bin/prometheus on 127.0.0.1: any
# difference in the answers fails the run.
python3 benches/compare_prometheus.py --small
