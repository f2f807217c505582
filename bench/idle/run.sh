#!/usr/bin/env bash
# bench/idle/run.sh: camnode's resident memory while idle: connected to Mosquitto (on
# 127.0.0.1, a free port), Home Assistant discovery published, not streaming. Prints VmRSS
# after the node is online and has settled (BENCH_IDLE_SETTLE seconds, default 10), for
# each GOGC/GOMEMLIMIT setting in BENCH_IDLE_ENVS (default: the program's own).
# camnode is built without -race into bench/out/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
for program in go mosquitto mosquitto_sub; do
	command -v "$program" >/dev/null || { echo "bench: $program is missing (make deps installs it)" >&2; exit 1; }
done
out=bench/out
mkdir -p "$out"
# As a release is built (mk/release.mk): cgo on (BENCH_IDLE_CGO=0: off), trimmed, stripped.
CGO_ENABLED=${BENCH_IDLE_CGO:-1} go build -trimpath -buildvcs=false -ldflags '-s -w' -o "$out/camnode" ./cmd/camnode
settle=${BENCH_IDLE_SETTLE:-10}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tmp=$(mktemp -d)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker=$!
node=
cleanup() {
	[ -n "$node" ] && kill "$node" 2>/dev/null && wait "$node" 2>/dev/null || true
	kill "$broker" 2>/dev/null && wait "$broker" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

run=0
measure() { # $1: extra environment (e.g. "GOGC=50"), or ""
	run=$((run + 1)) # a node ID per run: the last one's retained "offline" is no answer
	env $1 CAMNODE_NODE_ID=idle$run CAMNODE_MQTT_URL="tcp://127.0.0.1:$port" CAMNODE_SOURCE=testsrc \
		CAMNODE_RTMP_URL="rtmp://127.0.0.1:1/live/idle" CAMNODE_AUTOSTART=false \
		"$out/camnode" >"$tmp/node.log" 2>&1 &
	node=$!
	mosquitto_sub -h 127.0.0.1 -p "$port" -t "camnode/idle$run/availability" -C 1 -W 60 | grep -q online
	sleep "$settle"
	# VmRSS is RssAnon (heap, stacks) plus RssFile (the program's and libc's pages, clean and
	# shared; how much of the binary is mapped depends on the kernel: 6.18 on ext4 maps whole
	# large folios, so all of .text and .rodata).
	mb() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2/1024}' "/proc/$node/status"; }
	[ -n "${BENCH_IDLE_SMAPS:-}" ] && awk '/^[0-9a-f]+-/{m=$6} /^Rss:/{r[m]+=$2} END{for(k in r) if (r[k]>100) printf "  %6d kB %s\n", r[k], k}' "/proc/$node/smaps" | sort -rn
	printf 'idle camnode %-28s VmRSS %5s MB = anon %4s MB + file %4s MB (peak %5s MB)\n' "${1:-(defaults)}" "$(mb VmRSS)" "$(mb RssAnon)" "$(mb RssFile)" "$(mb VmHWM)"
	kill "$node"; wait "$node" 2>/dev/null || true
	node=
}
IFS=';' read -r -a envs <<<"${BENCH_IDLE_ENVS:-}"
[ ${#envs[@]} -eq 0 ] && envs=("")
for e in "${envs[@]}"; do measure "$e"; done
