#!/usr/bin/env bash
# A camnode built without libx264 (the nox264 tag) and CAMNODE_DANMAKU=burn: the node's
# burn carrier says the encoder is missing (a burn_unavailable event), testsrc plays its
# clip, chat goes to the other carriers, and raw-only cameras fail naming the encoder.
set -euo pipefail
cd "$(dirname "$0")/../.."
gobin=$(scripts/deps.sh go | tail -n1)
export PATH="$gobin:$PATH"
go vet -tags nox264 ./node
go test -count=1 -tags nox264 -run 'Burn|OpenSource|EncodeRaw' ./node
