#!/usr/bin/env bash
# Checks redline's shipped rule files with Prometheus' own promtool and runs their unit tests.
# Debian's prometheus package provides promtool (2.42 on bookworm); it is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends prometheus
fi

promtool check rules rules/*.yml
promtool test rules tests/rules/*.test.yml
