#!/usr/bin/env bash
# CI: the V4L2 camera source proven on real kernel drivers. Boots Debian's kernel in QEMU
# (shared/vm/run-vivid.sh, beside the repository) three times:
#   1. vivid: YUYV 640x480@25 with driver timestamps 40 ms apart and no sequence gaps; the
#      other raw formats agree; dropped and bad buffers are counted; a disconnect and a
#      fatal streaming error are reported and recovered from; 20 lose/reopen cycles leak
#      no goroutine or fd; `camnode probe` (text and --json) lists vivid's formats.
#   2. v4l2loopback fed with H.264 (shared/vm/h264feed): access units whose SPS says
#      1280x720, keyframes; the feeder stalls 3 s and capture resumes at full rate.
#   3. the real camnode with CAMNODE_SOURCE=v4l2:///dev/video10, its broker (Mosquitto) and
#      ingest (nginx-rtmp) on the host through QEMU's guestfwd: state, telemetry, streams on
#      stream/set ON, and the recordings decode (media/source/v4l2/internal/vmtest).
# Needs root (run-vivid.sh installs qemu and friends with apt-get). VM_DIR overrides where
# run-vivid.sh is. VM_FIGURES=1 also measures the figures of the closing note: frames
# captured vs delivered over 60 s, and the first keyframe with a source that forces one.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
VM_DIR=${VM_DIR:-$top/../shared/vm}
if [ ! -x "$VM_DIR/run-vivid.sh" ] || [ ! -f "$VM_DIR/h264feed/main.go" ]; then
  echo "vm: $VM_DIR/run-vivid.sh or h264feed/ not found: the shared/ directory must sit beside the repository (or set VM_DIR)" >&2
  exit 1
fi
VM_DIR=$(cd "$VM_DIR" && pwd)
export PATH="$(scripts/deps.sh all | tail -n1):/usr/sbin:/sbin:$PATH"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CGO_ENABLED=1
# Static binaries: the guest's initramfs has no libc. libx264.a needs libm and libpthread
# after it on the link line.
static_ld='-extldflags "-static -Wl,--start-group -lx264 -lm -lpthread -ldl -Wl,--end-group"'
echo "== vm: building static binaries"
go build -tags netgo,osusergo -ldflags '-extldflags "-static"' -o "$out/vmcheck" ./media/source/v4l2/internal/vmcheck
go build -tags netgo,osusergo -ldflags "$static_ld" -o "$out/camnode" ./cmd/camnode 2> >(grep -v -e 'dlopen' -e 'x264_8_opencl' -e '^# ' >&2)
(cd "$VM_DIR/h264feed" && go build -tags netgo,osusergo -ldflags '-extldflags "-static"' -o "$out/h264feed" .)
for b in vmcheck camnode h264feed; do
  file -b "$out/$b" | grep -q 'statically linked' || { echo "vm: $b is not statically linked: $(file -b "$out/$b")" >&2; exit 1; }
done
clip=media/source/testsrc/clip.h264 # 1280x720, 30 fps, GOP 30

# boot NAME MIN_PASS ARGS...: one VM run; fails on a non-zero exit, a FAIL line, or fewer
# PASS lines than expected (a check that did not run).
boot() {
  local name=$1 want=$2; shift 2
  echo "== vm: $name"
  local rc=0
  "$VM_DIR/run-vivid.sh" "$@" >"$out/$name.log" 2>&1 || rc=$?
  grep -E '^(PASS|FAIL|vmcheck|h264feed|VIVID:|\[run-vivid\])' "$out/$name.log" || true
  local pass; pass=$(grep -c '^PASS ' "$out/$name.log" || true)
  if [ "$rc" -ne 0 ] || grep -q '^FAIL ' "$out/$name.log" || [ "$pass" -lt "$want" ]; then
    echo "vm: $name FAILED (exit $rc, $pass of $want checks passed); console:" >&2
    cat "$out/$name.log" >&2
    exit 1
  fi
}

boot vivid 8 --add "$out/camnode:/camnode" "$out/vmcheck" -- vivid -camnode /camnode
boot loopback 3 --loopback "video_nr=10 exclusive_caps=1" --add "$clip:/clip.h264" --add "$out/h264feed:/h264feed" \
  --pre '/h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 -pause-after 150 -pause 3s /clip.h264 &' \
  "$out/vmcheck" -- loopback -w 1280 -h 720 -fps 30 -pause 3s

echo "== vm: camnode in the VM, Mosquitto and nginx-rtmp on the host"
e2e_tests='^TestVMCamnode'
if [ "${VM_FIGURES:-0}" = 1 ]; then e2e_tests='^TestVM'; fi
CAMNODE_VM_RUN="$VM_DIR/run-vivid.sh" CAMNODE_VM_CAMNODE="$out/camnode" CAMNODE_VM_H264FEED="$out/h264feed" \
  CAMNODE_VM_CLIP="$(pwd)/$clip" PEERS_REQUIRED=1 \
  go test -tags vmtest -count=1 -v -timeout 10m -run "$e2e_tests" ./media/source/v4l2/internal/vmtest/ 2>&1 | tee "$out/e2e.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+vm_test.go)' || true
grep -q '^ok ' "$out/e2e.log" || { echo "vm: the camnode end-to-end test FAILED:" >&2; cat "$out/e2e.log" >&2; exit 1; }

if [ "${VM_FIGURES:-0}" = 1 ]; then
  boot figures 1 --loopback "video_nr=10 exclusive_caps=1" --add "$clip:/clip.h264" --add "$out/h264feed:/h264feed" \
    --pre '/h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 /clip.h264 &' \
    "$out/vmcheck" -- rate -fps 30 -seconds 60
fi
echo "vm: all checks passed"
