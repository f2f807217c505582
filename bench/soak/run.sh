#!/usr/bin/env bash
# bench/soak/run.sh: the full soak of camnode. A node (in-process, built without the race
# detector, as users run it) pushes SOAK_STREAM (default 24h) of stream time of a tiny clip
# as fast as nginx-rtmp takes it, while the ingest goes away SOAK_RECONNECTS times (default
# 100: the path cut, every fifth time nginx killed and restarted). It prints goroutines,
# open files, heap and RSS after warm-up and at the end, frames pushed, stream hours and
# reconnects, and fails when any of them did not stay flat. `make test` runs the short
# version (2h, 20 reconnects, with -race) as part of go test ./...
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
export PEERS_REQUIRED=1
for program in go ffmpeg ffprobe nginx mosquitto mosquitto_sub; do
	command -v "$program" >/dev/null || { echo "soak: $program is missing (make deps installs the peers)" >&2; exit 1; }
done
export SOAK_STREAM="${SOAK_STREAM:-24h}" SOAK_RECONNECTS="${SOAK_RECONNECTS:-100}"
mkdir -p bench/out
log=bench/out/soak.txt
echo "soak: ${SOAK_STREAM} of stream time, ${SOAK_RECONNECTS} reconnects; log in $log"
go test -count=1 -timeout 3h -run '^TestSoak$' -v ./bench/soak 2>&1 | tee "$log" | grep -E 'soak_test.go|^(--- |ok|FAIL|PASS)'
