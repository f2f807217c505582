#!/usr/bin/env bash
# bench/fleet/run.sh: BENCH_FLEET_NODES (default 50) camnode processes on one Mosquitto and one
# nginx-rtmp, all on 127.0.0.1: command -> live latency p50/p95/max, total RSS, recovery after
# the broker is killed. camnode is built without -race into bench/out/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
export PEERS_REQUIRED=1
out=bench/out
mkdir -p "$out"
go build -o "$out/camnode" ./cmd/camnode
go test -c -o "$out/fleet.test" ./bench/fleet
export BENCH_CAMNODE=$PWD/$out/camnode
exec "$out/fleet.test" -test.run '^$' -test.bench . -test.benchtime 1x -test.timeout 30m
