#!/usr/bin/env bash
# Runs one of redline's fuzz targets for a given time, seeding its corpus from the project's
# own files of that kind and giving libFuzzer a dictionary of the format's keys.
#   bash fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# TARGET: parse | promql | config | alertmanager | rules | slo
# Crashes land in fuzz/artifacts/TARGET/; the corpus grows in fuzz/corpus/TARGET/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?target}
seconds=${2:?seconds}
shift 2
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
corpus=corpus/$target
mkdir -p "$corpus"
seed() { for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done; return 0; }
case $target in
  config) seed ../deploy/base/redline.yaml ../tests/data/config/*.yml ../src/demo/*.yml ;;
  alertmanager) seed ../tests/data/alerting/*.yml ../src/demo/alertmanager.yml ;;
  rules) seed ../rules/*.yml ../tests/data/rules/*.yml ../tests/rules/*.test.yml ;;
  slo) seed ../rules/slo/*.yml ../tests/data/slo/*/*.yml ../src/demo/slos.yml ;;
  promql) [ -d seeds/promql ] && cp -n seeds/promql/* "$corpus/" ;;
  parse) seed ../tests/data/exposition/* ;;
esac
dict=()
[ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- -max_total_time="$seconds" "${dict[@]}" "$@"
