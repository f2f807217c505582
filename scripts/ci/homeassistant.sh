#!/usr/bin/env bash
# CI: the Home Assistant templates render with Jinja2, Home Assistant's template engine:
# the discovery value/command templates (mqtt) and the example automations' chat template
# (deploy). Without Jinja2 those tests skip; here it is installed and they must run.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! /usr/bin/python3 -c 'import jinja2' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-jinja2 >/dev/null
fi
out=$(CAMNODE_REQUIRE_JINJA=1 go test -count=1 -v -run 'TestTemplatesRenderWithJinja|TestHomeAssistantAutomations' ./mqtt ./deploy 2>&1) ||
  { echo "$out"; exit 1; }
echo "$out" | grep -E '^(--- |ok|FAIL)'
for t in TestTemplatesRenderWithJinja TestHomeAssistantAutomations; do
  grep -q -- "--- PASS: $t" <<<"$out" || { echo "homeassistant: $t did not pass"; exit 1; }
done
