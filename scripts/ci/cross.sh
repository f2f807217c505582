#!/usr/bin/env bash
# CI: `make cross` — camnode for linux/arm64 and linux/arm GOARM=7 with cgo and Debian's
# cross compilers (installed with apt-get when missing), go vet for both targets; then
# the binaries are checked to be what they claim (ELF machine, hard-float ABI), run under
# qemu-user (`camnode version`, `camnode probe` on a machine without cameras), and the
# V4L2 package's tests run as 32-bit ARM (the 64-bit ones run in arm64.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$(scripts/deps.sh go | tail -n1):$PATH"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf)
# The targets' C libraries: only Recommends of the cross compilers.
for a in arm64 armhf; do dpkg -s libc6-dev-$a-cross >/dev/null 2>&1 || need+=(libc6-dev-$a-cross); done
command -v qemu-arm-static >/dev/null && command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "cross: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make --no-print-directory cross CROSS_DIR="$out"

# ELF header: EI_CLASS at byte 4 (1 = 32-bit, 2 = 64-bit), e_machine at 18 (little-endian,
# 0xb7 AArch64, 0x28 ARM); a 32-bit ARM e_flags word at 36 has EF_ARM_ABI_FLOAT_HARD (0x400).
elf() { od -An -tx1 -j"$2" -N"$3" "$1" | tr -d ' \n'; }
a64=$out/camnode-linux-arm64 a32=$out/camnode-linux-armv7
[ "$(elf "$a64" 4 1)" = 02 ] && [ "$(elf "$a64" 18 2)" = b700 ] || { echo "cross: $a64 is not a 64-bit AArch64 ELF: $(file -b "$a64")"; exit 1; }
[ "$(elf "$a32" 4 1)" = 01 ] && [ "$(elf "$a32" 18 2)" = 2800 ] || { echo "cross: $a32 is not a 32-bit ARM ELF: $(file -b "$a32")"; exit 1; }
flags=$(od -An -tu4 -j36 -N4 "$a32" | tr -d ' ')
(( flags & 0x400 )) || { echo "cross: $a32 is not hard-float (e_flags $flags), Raspberry Pi OS armhf cannot run it"; exit 1; }
# Nothing but the C library is linked: libx264 and libturbojpeg are opened at run time.
for bin in "$a64" "$a32"; do
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  case "$needed" in *x264*|*jpeg*) echo "cross: $bin links $needed; want libx264 and libturbojpeg opened at run time"; exit 1;; esac
done
# Under qemu-user: the target's loader and libc from the cross toolchain, and no libx264:
# the binaries start all the same.
for t in "qemu-aarch64-static aarch64-linux-gnu $a64" "qemu-arm-static arm-linux-gnueabihf $a32"; do
  read -r qemu triplet bin <<<"$t"
  run=("$qemu" -L "/usr/$triplet")
  v=$("${run[@]}" "$bin" version)
  case "$v" in "camnode "*) ;; *) echo "cross: $bin version says '$v'"; exit 1;; esac
  rc=0; msg=$("${run[@]}" "$bin" probe /dev/video99 2>&1) || rc=$?
  [ "$rc" -eq 1 ] && [[ "$msg" == *"/dev/video99"* ]] || { echo "cross: $bin probe /dev/video99: exit $rc: $msg"; exit 1; }
  echo "cross: $(basename "$bin"): $v; probe of a missing camera: $msg"
done
# The 32-bit tests of the V4L2 source, the raw-picture work and the x264 encoder, with
# armhf libx264 and libturbojpeg (lib/target-libs.sh): the encoder's structure layouts
# checked against the real 32-bit library.
. scripts/ci/lib/target-libs.sh
libs=$(target_libs armhf)
. scripts/ci/lib/qemu-test.sh # qemu_go_test: see there
CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
  qemu_go_test -exec "qemu-arm-static -L /usr/arm-linux-gnueabihf -E LD_LIBRARY_PATH=$libs" \
  ./media/source/v4l2/ ./media/h264/ ./media/encoder/... ./media/picture/
