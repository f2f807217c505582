#!/usr/bin/env bash
# CI: the unit tests for linux/arm64 (Raspberry Pi 3/4/5 with a 64-bit OS), built with cgo
# and Debian's cross compiler, run under qemu-user: the Pi build is tested, not assumed.
# Every package but cmd/camnode, whose end-to-end tests run the host's binary, and bench.
# Tests that start real peers (Mosquitto, nginx-rtmp, ffmpeg) exec the host's programs
# from the emulated test binary, as on a Pi.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
# The C library of the target: only a Recommends of the cross compiler.
dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || need+=(libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  echo "arm64: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# libx264 and libturbojpeg for arm64, for the emulated tests only (see lib/target-libs.sh).
. scripts/ci/lib/target-libs.sh
libs=$(target_libs arm64)

pkgs=$(go list ./... | grep -v -e '/cmd/camnode$' -e '/bench/')
# The emulated binaries find the arm64 dynamic loader and libc in the cross sysroot, and
# the libraries camnode opens at run time in $libs: the x264 tests then check the
# structure layouts camnode declares against the real arm64 library.
# qemu_go_test (lib/qemu-test.sh): go test, with one rerun for a package whose forked
# child qemu left hanging.
. scripts/ci/lib/qemu-test.sh
# shellcheck disable=SC2086
CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
  qemu_go_test -exec "qemu-aarch64-static -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=$libs -E TEST_UNDER_QEMU=1" $pkgs

# The test binaries really were arm64, not the host's.
probe=$(mktemp)
trap 'rm -f "$probe"' EXIT
CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc go test -c -o "$probe" ./media/h264
# ELF e_machine, 2 bytes at offset 18, little-endian: 0xb7 is EM_AARCH64.
machine=$(od -An -tx1 -j18 -N2 "$probe" | tr -d ' \n')
[ "$machine" = "b700" ] || { echo "arm64: test binary has ELF machine $machine, not aarch64 (b700)"; exit 1; }
echo "arm64: $(echo "$pkgs" | wc -l) packages tested under qemu-user"
