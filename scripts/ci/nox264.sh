#!/usr/bin/env bash
# A camnode built without libx264 (the nox264 build tag, for minimal builds) still builds,
# falls back to the embedded test clip, and says clearly that burn-in needs the encoder:
# the encoder, test source and renderer tests of that build pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
gobin=$(scripts/deps.sh go | tail -n1)
export PATH="$gobin:$PATH"
go build -tags nox264 -o /dev/null ./cmd/camnode
go vet -tags nox264 ./media/encoder/... ./media/source/testsrc ./media/danmaku/render ./bench/burn
go test -count=1 -tags nox264 ./media/encoder/... ./media/source/testsrc ./media/source ./media/danmaku/render
