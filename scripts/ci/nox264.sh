#!/usr/bin/env bash
# The ordinary build links no libx264 and starts where it is not installed; a camnode
# built without x264 support (the nox264 build tag, for minimal builds) still builds,
# falls back to the embedded test clip, and says clearly that burn-in needs the encoder:
# the encoder, test source and renderer tests of that build pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
gobin=$(scripts/deps.sh go | tail -n1)
export PATH="$gobin:$PATH"
go build -tags nox264 -o /dev/null ./cmd/camnode
# The ordinary build links no libx264 or libturbojpeg (they are opened at run time), so
# it starts on a machine without them; here the library is hidden by name.
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./cmd/camnode
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in *x264*|*jpeg*) echo "nox264: camnode links $needed; want libx264 and libturbojpeg opened at run time"; exit 1;; esac
X264_LIBRARY=libx264-hidden.so.164 TURBOJPEG_LIBRARY=libturbojpeg-hidden.so.0 "$bin" version >/dev/null
go vet -tags nox264 ./media/encoder/... ./media/source/testsrc ./media/danmaku/render ./bench/burn
go test -count=1 -tags nox264 ./media/encoder/... ./media/source/testsrc ./media/source ./media/danmaku/render
