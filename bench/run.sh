#!/usr/bin/env bash
# bench/run.sh: the benchmark figures of camnode, measured against real peers that it starts
# itself on 127.0.0.1 only (nginx-rtmp, Mosquitto), and a summary at the end:
#   1. push throughput: a 60 s 1080p30 8 Mb/s clip pushed into nginx-rtmp as fast as possible
#      by camnode and by `ffmpeg -c copy -f flv`: CPU seconds, max RSS, ratios (bench/push);
#      and the same clip in real time with a silent AAC track: camnode's pipeline with its
#      silent track (bench/push/avpush) vs `ffmpeg -re -c:v copy` + anullsrc AAC; and
#      avpush to two nginx-rtmp at once against one (the cost of simulcasting);
#   2. start latency: mosquitto_pub stream/set ON -> first keyframe complete in the ingest's
#      recording, p50/p95 over 20 runs (bench/latency); the node's CPU with RTSP readers
#      against none, and its RSS with 16 (bench/rtsp); glass-to-viewer latency of a raw camera
#      that shows its clock, through camnode (RTMP and RTSP) and through ffmpeg (bench/glass);
#   3. the per-frame path: go test -bench ./media/... (ns/frame, allocs/frame).
# BENCH_GO=0 skips 3 (for a caller that has just run those benchmarks itself).
# Inputs are cached in bench/out/ (git-ignored): the clip is made once with ffmpeg.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
export PEERS_REQUIRED=1 # a missing peer fails the benchmark instead of skipping it
out=bench/out
mkdir -p "$out"

for program in go ffmpeg ffprobe nginx mosquitto mosquitto_pub mosquitto_sub setsid; do
	command -v "$program" >/dev/null || { echo "bench: $program is missing (make deps installs the peers)" >&2; exit 1; }
done
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || { echo "bench: the nginx RTMP module is missing (apt-get install libnginx-mod-rtmp)" >&2; exit 1; }

# Each step runs in a session of its own (setsid), so that stopping it reaches the go tool and
# the test binary it started; the benchmarks catch SIGTERM and stop their peers themselves.
step_pid=
stop_step() {
	if [ -n "$step_pid" ] && kill -0 "$step_pid" 2>/dev/null; then
		kill -TERM -- "-$step_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$step_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$step_pid" 2>/dev/null || true
	fi
	step_pid=
}
trap stop_step EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# step runs a command in its own session and waits for it; the trap can stop it meanwhile.
step() {
	setsid "$@" &
	step_pid=$!
	local rc=0
	wait "$step_pid" || rc=$?
	step_pid=
	return "$rc"
}

clip=$out/clip-1080p30-8Mbps-60s.h264
if [ ! -s "$clip" ]; then
	echo "== making $clip (once; about a minute)"
	# testsrc2 with temporal noise: a plain test pattern compresses to ~1.5 Mb/s, far below the
	# 8 Mb/s a busy camera picture takes. Baseline (no B-frames), one keyframe every 2 s.
	step ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 -vf noise=alls=6:allf=t \
		-frames:v 1800 -c:v libx264 -preset veryfast -pix_fmt yuv420p -profile:v baseline \
		-b:v 8M -maxrate 8M -bufsize 16M -g 60 -keyint_min 60 -sc_threshold 0 -f h264 "$clip.tmp"
	mv "$clip.tmp" "$clip"
fi

echo "== building camnode (no -race) and the benchmark binaries into $out"
go build -o "$out/camnode" ./cmd/camnode
go build -o "$out/avpush" ./bench/push/avpush
go test -c -o "$out/push.test" ./bench/push
go test -c -o "$out/latency.test" ./bench/latency
go test -c -o "$out/rtsp.test" ./bench/rtsp
go test -c -o "$out/glass.test" ./bench/glass

report=$out/report.txt
: >"$report"
export BENCH_CAMNODE=$PWD/$out/camnode BENCH_AVPUSH=$PWD/$out/avpush BENCH_CLIP=$PWD/$clip BENCH_REPORT=$PWD/$report
bench_args=(-test.run '^$' -test.bench . -test.benchtime 1x -test.timeout 15m)

echo "== push throughput: camnode vs ffmpeg -c copy; then with silent AAC in real time, and to two destinations (5 min)"
step "$out/push.test" "${bench_args[@]}"
echo "== start latency: stream/set ON -> first keyframe at the ingest"
step "$out/latency.test" "${bench_args[@]}"
echo "== RTSP: the node's CPU with no reader, one and 16, and its RSS with 16 (2 min)"
(cd bench/rtsp && step "../../$out/rtsp.test" "${bench_args[@]}")
echo "== glass-to-viewer latency: camnode -> nginx-rtmp, camnode RTSP, without audio, ffmpeg with and without AAC (2 min)"
(cd bench/glass && step "../../$out/glass.test" "${bench_args[@]}")

media_log=$out/media-bench.txt
if [ "${BENCH_GO:-1}" != 0 ]; then
	echo "== per-frame path: go test -bench ./media/..."
	step go test -run '^$' -bench . -benchmem ./media/... >"$media_log" 2>&1 || { cat "$media_log"; exit 1; }
	cat "$media_log"
fi

echo
echo "================ camnode benchmarks ================"
echo "$(date -u '+%Y-%m-%d %H:%M UTC')  camnode $(git describe --tags --always --dirty 2>/dev/null || echo '?')  $(go version | cut -d' ' -f3)"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(ffmpeg -version | head -n1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3)"
echo
cat "$report"
if [ "${BENCH_GO:-1}" != 0 ]; then
	echo "Per-frame path (go test -bench -benchmem ./media/...; BenchmarkFramePath and BenchmarkWriteVideo do one frame per op):"
	awk '/^pkg:/ { pkg = $2; sub(/.*camnode\/camnode\//, "", pkg) }
		/^Benchmark/ {
			line = sprintf("  %-20s %-26s", pkg, $1)
			for (i = 3; i < NF; i++) if ($(i+1) ~ /^(ns\/op|ns\/frame|B\/op|allocs\/op)$/) line = line sprintf("  %10s %s", $i, $(i+1))
			print line
		}' "$media_log"
fi
