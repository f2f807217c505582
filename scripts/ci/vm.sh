#!/usr/bin/env bash
# CI: camnode on real kernel drivers. Boots Debian's own kernel in QEMU with the project's
# harness (scripts/vm/run.sh; KVM where usable, else TCG) and needs nothing beside the clone:
#   1. vivid: YUYV 640x480@25 with driver timestamps 40 ms apart and no sequence gaps; the
#      other raw formats agree; dropped and bad buffers are counted; a disconnect and a
#      fatal streaming error are reported and recovered from; 20 lose/reopen cycles leak
#      no goroutine or fd; `camnode probe` (text and --json) lists vivid's formats.
#   2. v4l2loopback fed with H.264 (internal/tools/h264feed): access units whose SPS says
#      1280x720, keyframes; the feeder stalls 3 s and capture resumes at full rate.
#   3. vicodec (the kernel's virtual codec, built here from linux-source-6.1) with the
#      multi-planar API, as the Pi's bcm2835-codec has it, then single-planar: the
#      memory-to-memory encoder (media/encoder/v4l2m2m) encodes, vicodec's decoder decodes,
#      the pictures match (PSNR); keyframes on request; 20 open/close cycles leak nothing;
#      errors are values; `camnode probe` lists the encoder and its coded format.
#   4. the real camnode (linked as `make release` links it) in the VM, its broker (Mosquitto)
#      and ingest (nginx-rtmp) on the host: with the loopback H.264 camera and no libx264 in
#      the guest (passthrough needs none), and with vivid's raw camera, burn-in and libx264
#      opened at run time: state, telemetry, streams on stream/set ON, and the recordings
#      decode at the camera's size (media/source/v4l2/internal/vmtest).
# Needs root: scripts/vm/run.sh installs what it needs with apt-get --no-install-recommends
# (qemu-system-x86 busybox-static kmod cpio file xz-utils gzip make gcc-12 libc6-dev libelf1
# libssl3 binutils linux-source-6.1) and unpacks Debian's kernel and headers into its cache
# (WORK, default /tmp/camnode-vm). VM_FIGURES=1 also measures the figures of the closing
# notes (frames captured vs delivered over 60 s, first keyframe with a forcing source).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$(scripts/deps.sh all | tail -n1):/usr/sbin:/sbin:$PATH"
RUN=$(pwd)/scripts/vm/run.sh
if ! command -v file >/dev/null; then # the static-link check below uses it
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends file >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CGO_ENABLED=1
# Static binaries for the checks (the guest's initramfs has no libc), and camnode linked
# dynamically as `make release` builds it: the end-to-end tests copy it into the guest with
# the glibc it needs (ldd's list), and libx264 only where a test encodes. (A static binary
# cannot dlopen libx264: static glibc and a loaded glibc do not mix, it crashed in
# x264_encoder_open.)
echo "== vm: building the binaries"
go build -tags netgo,osusergo -ldflags '-extldflags "-static"' -o "$out/vmcheck" ./media/source/v4l2/internal/vmcheck
go build -tags netgo,osusergo -ldflags '-extldflags "-static"' -o "$out/camnode" ./cmd/camnode 2> >(grep -v -e 'dlopen' -e '^# ' >&2)
go build -tags netgo,osusergo -o "$out/camnode-dynamic" ./cmd/camnode
go build -tags netgo,osusergo -ldflags '-extldflags "-static"' -o "$out/h264feed" ./internal/tools/h264feed
CGO_ENABLED=0 go test -c -tags vmtest -o "$out/v4l2m2m.test" ./media/encoder/v4l2m2m
for b in vmcheck camnode h264feed v4l2m2m.test; do
  file -b "$out/$b" | grep -q 'statically linked' || { echo "vm: $b is not statically linked: $(file -b "$out/$b")" >&2; exit 1; }
done
clip=media/source/testsrc/clip.h264 # 1280x720, 30 fps, GOP 30

# boot NAME PATTERN MIN_PASS ARGS...: one VM run; fails on a non-zero exit, a FAIL line, or
# fewer lines matching PATTERN than expected (a check that did not run).
boot() {
  local name=$1 pattern=$2 want=$3; shift 3
  echo "== vm: $name"
  local rc=0
  "$RUN" "$@" >"$out/$name.log" 2>&1 || rc=$?
  grep -E '^(PASS|FAIL|--- |vmcheck|h264feed|VM:|\[vm\])|FIGURE' "$out/$name.log" || true
  local pass; pass=$(grep -cE "$pattern" "$out/$name.log" || true)
  if [ "$rc" -ne 0 ] || grep -qE '^(FAIL|--- FAIL)' "$out/$name.log" || [ "$pass" -lt "$want" ]; then
    echo "vm: $name FAILED (exit $rc, $pass of $want checks passed); console:" >&2
    cat "$out/$name.log" >&2
    exit 1
  fi
}

boot vivid '^PASS ' 8 --add "$out/camnode:/camnode" "$out/vmcheck" -- vivid -camnode /camnode
boot loopback '^PASS ' 4 --loopback "video_nr=10 exclusive_caps=1" --add "$clip:/clip.h264" --add "$out/h264feed:/h264feed" \
  --pre '/h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 -pause-after 150 -pause 3s /clip.h264 &' \
  "$out/vmcheck" -- loopback -w 1280 -h 720 -fps 30 -pause 3s
boot vicodec-mplane '^--- PASS: TestVicodec' 6 --vicodec "multiplanar=1" --timeout 600 --add "$out/camnode:/camnode" \
  --pre 'export CAMNODE_VM_CAMNODE=/camnode' "$out/v4l2m2m.test" -- -test.v -test.run '^TestVicodec'
boot vicodec-splane '^--- PASS: TestVicodec' 1 --vicodec "multiplanar=0" --timeout 600 \
  "$out/v4l2m2m.test" -- -test.v -test.run '^TestVicodecRoundTrip$'

echo "== vm: camnode in the VM, Mosquitto and nginx-rtmp on the host"
e2e_tests='^TestVMCamnode'
if [ "${VM_FIGURES:-0}" = 1 ]; then e2e_tests='^TestVM'; fi
CAMNODE_VM_RUN="$RUN" CAMNODE_VM_CAMNODE="$out/camnode-dynamic" CAMNODE_VM_H264FEED="$out/h264feed" \
  CAMNODE_VM_CLIP="$(pwd)/$clip" PEERS_REQUIRED=1 \
  go test -tags vmtest -count=1 -v -timeout 10m -run "$e2e_tests" ./media/source/v4l2/internal/vmtest/ 2>&1 | tee "$out/e2e.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+vm_test.go)' || true
grep -q '^ok ' "$out/e2e.log" || { echo "vm: the camnode end-to-end test FAILED:" >&2; cat "$out/e2e.log" >&2; exit 1; }

if [ "${VM_FIGURES:-0}" = 1 ]; then
  boot figures '^PASS ' 1 --loopback "video_nr=10 exclusive_caps=1" --add "$clip:/clip.h264" --add "$out/h264feed:/h264feed" \
    --pre '/h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 /clip.h264 &' \
    "$out/vmcheck" -- rate -fps 30 -seconds 60
fi
echo "vm: all checks passed"
