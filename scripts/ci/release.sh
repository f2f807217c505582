#!/usr/bin/env bash
# CI: `make release` — camnode for linux/amd64, arm64 and arm/v7 with cgo and Debian's cross
# compilers, each binary run under qemu-user to print its version, each also as a Debian
# package. These are the builds deploy/container/Dockerfile makes (it runs the same
# release-bin target per platform). The packages: one per architecture in SHA256SUMS, the
# same bytes when packaged again (reproducible), and no lintian error.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/sbin:/sbin:$PATH"
command -v lintian >/dev/null || { echo "release: lintian is missing (scripts/deps.sh all installs it)"; exit 1; }
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
make --no-print-directory release RELEASE_DIR="$dist"
n=$(grep -c ' camnode-' "$dist/SHA256SUMS")
[ "$n" -eq 3 ] || { echo "release: $n binaries in SHA256SUMS, want 3"; exit 1; }
(cd "$dist" && sha256sum -c --quiet SHA256SUMS)

# The version the build stamped (from a binary's name: a commit since would change git's).
version=$(basename "$(ls "$dist"/camnode-*-linux-amd64)"); version=${version#camnode-}; version=${version%-linux-amd64}
for arch in amd64:amd64 arm64:arm64 armhf:armv7; do
  debarch=${arch%%:*} suffix=${arch#*:}
  deb=$(ls "$dist"/camnode_*_"$debarch".deb)
  grep -q " $(basename "$deb")\$" "$dist/SHA256SUMS" || { echo "release: $deb is not in SHA256SUMS"; exit 1; }
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$debarch" ] || { echo "release: $deb is not for $debarch"; exit 1; }
  # Packaged again from the same binary with the same SOURCE_DATE_EPOCH (the stamp of the
  # package's first ar member: bytes 24-35, decimal): the same bytes.
  epoch=$(head -c 36 "$deb" | tail -c 12 | tr -d ' ')
  again=$(SOURCE_DATE_EPOCH=$epoch scripts/deb.sh "$dist/camnode-$version-linux-$suffix" "$debarch" "$version" "$dist/again")
  cmp "$deb" "$again" || { echo "release: packaging $debarch twice gave different bytes"; exit 1; }
  echo "release: $(basename "$deb") $(du -k "$deb" | cut -f1) KiB, reproducible"
done

# lintian: errors fail; warnings are printed (the accepted ones are overridden in
# deploy/debian/lintian-overrides, each with its reason).
out=$(lintian --fail-on error "$dist"/camnode_*.deb 2>&1 | grep -v 'running with root privileges' || true)
[ -z "$out" ] || echo "$out"
if grep -q '^E:' <<<"$out"; then echo "release: lintian reports errors"; exit 1; fi
echo "release: lintian: no errors ($(grep -c '^W:' <<<"$out" || true) warnings)"
