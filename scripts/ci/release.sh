#!/usr/bin/env bash
# CI: `make release` — camnode for linux/amd64, arm64 and arm/v7 with cgo and Debian's cross
# compilers, each binary run under qemu-user to print its version. These are the builds
# deploy/container/Dockerfile makes (it runs the same release-bin target per platform).
set -euo pipefail
cd "$(dirname "$0")/../.."
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
make --no-print-directory release RELEASE_DIR="$dist"
n=$(grep -c ' camnode-' "$dist/SHA256SUMS")
[ "$n" -eq 3 ] || { echo "release: $n binaries in SHA256SUMS, want 3"; exit 1; }
(cd "$dist" && sha256sum -c --quiet SHA256SUMS)
