#!/usr/bin/env bash
# CI: the secrets sweep. `make test` ran every test with SECRETS_SWEEP_DIR=bench/out/secrets:
# each camnode process the end-to-end tests started left its whole log there
# (*-camnode-*.log), and each Mosquitto the tests started left a mosquitto_sub -v capture of
# everything published on it (*-mqtt-*.txt): events, state, telemetry, discovery.
# Every stream key and MQTT password the tests use contains the marker "s3cr3t"; it must
# appear in none of those files. Usage: scripts/ci/secrets.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-${SECRETS_SWEEP_DIR:-bench/out/secrets}}"
marker="s3cr3t"

if [ ! -d "$dir" ]; then
  echo "secrets: $dir is missing: run the tests with SECRETS_SWEEP_DIR=$dir (make test does)" >&2
  exit 1
fi
logs=$(find "$dir" -type f -name '*-camnode-*.log' | wc -l)
captures=$(find "$dir" -type f -name '*-mqtt-*.txt' | wc -l)
if [ "$logs" -eq 0 ] || [ "$captures" -eq 0 ]; then
  echo "secrets: $dir holds $logs camnode logs and $captures MQTT captures; the sweep needs both (did the end-to-end tests run?)" >&2
  exit 1
fi
# A test that expects a secret in its output (none should) cannot hide here: every match fails.
# -a: captures hold binary payloads; -o with a little context keeps the report readable.
if hits=$(grep -rnaoE ".{0,60}${marker}.{0,20}" "$dir"); then
  echo "secrets: the marker \"$marker\" of a test secret appears in the logs or MQTT messages:" >&2
  echo "$hits" | head -n 50 >&2
  echo "secrets: $(echo "$hits" | wc -l) lines in all (file:line:text)" >&2
  exit 1
fi
echo "secrets: no test secret in $logs camnode logs and $captures MQTT captures ($(du -sh "$dir" | cut -f1))"
