#!/usr/bin/env bash
# CI: deploy/systemd/camnode@.service and camnode.service (the Debian package's unit) are
# units systemd accepts without a single complaint, with the real camnode binary in place
# (/usr/local/bin for the instance unit installed by hand, /usr/bin for the package's), the
# sysusers.d file creates the user in groups video and render, and their hardening keeps
# systemd-analyze's exposure score at "OK" or better.
# Offline, in a scratch root: nothing is installed on the machine itself but systemd.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v systemd-analyze >/dev/null || ! command -v systemd-sysusers >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/lib/sysusers.d"
# The targets and slices the unit is ordered against, and the users and groups it names.
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /etc/passwd /etc/group "$root/etc/"
grep -q '^video:' "$root/etc/group" || echo 'video:x:44:' >>"$root/etc/group"
grep -q '^render:' "$root/etc/group" || echo 'render:x:105:' >>"$root/etc/group"

go build -o "$root/usr/local/bin/camnode" ./cmd/camnode
cp "$root/usr/local/bin/camnode" "$root/usr/bin/camnode"
install -m 0644 deploy/systemd/camnode@.service deploy/systemd/camnode.service "$root/etc/systemd/system/"
install -m 0644 deploy/systemd/camnode.sysusers "$root/usr/lib/sysusers.d/camnode.conf"
# camnode.service names man:camnode(1), which the package ships; verify runs man for it
# (where man is installed: a minimal Debian has none, and then the check is left out).
install -D -m 0644 deploy/debian/camnode.1 "$root/usr/share/man/man1/camnode.1"
export MANPATH="$root/usr/share/man:"
man_check=--man=yes
command -v man >/dev/null || man_check=--man=no

out=$(systemd-sysusers --root="$root" 2>&1) || { echo "$out"; exit 1; }
grep -q '^camnode:' "$root/etc/passwd" || { echo "systemd-sysusers created no user camnode"; exit 1; }
for g in video render; do
  grep -Eq "^$g:.*[:,]camnode(,|\$)" "$root/etc/group" || { echo "user camnode is not in group $g"; exit 1; }
done

# verify exits 0 on unknown keys and bad values, which it only prints: any output fails.
for unit in camnode@garden.service camnode.service; do
  out=$(systemd-analyze verify "$man_check" --root="$root" "$unit" 2>&1) || { echo "$out"; exit 1; }
  if [ -n "$out" ]; then
    echo "systemd-analyze verify $unit complains:"
    echo "$out"
    exit 1
  fi

  score=$(systemd-analyze security --offline=yes --root="$root" "$unit" 2>&1 |
    sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
  [ -n "$score" ] || { echo "systemd-analyze security printed no exposure level for $unit"; exit 1; }
  if awk -v s="$score" 'BEGIN { exit !(s > 2.5) }'; then
    echo "$unit exposure level $score: hardening got weaker (was 1.9)"
    exit 1
  fi
  echo "$unit: verify clean, exposure level $score"
done
echo "sysusers: user camnode in video and render"
