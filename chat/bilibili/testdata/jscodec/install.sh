#!/bin/sh
# Installs bilibili-live-ws (pinned by package-lock.json) into node_modules here, once;
# chat/bilibili's tests call it. Needs node and npm (scripts/deps.sh all installs them).
set -eu
cd "$(dirname "$0")"
[ -f node_modules/bilibili-live-ws/package.json ] && exit 0
npm ci --no-audit --no-fund --loglevel=error >&2
