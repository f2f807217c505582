#!/usr/bin/env bash
# The README's test command on a fresh Debian 12, without touching this machine: a
# debootstrap chroot with nothing in it but a minimal Debian and what a user needs to get the
# code (git, make, ca-certificates), a clean clone of this repository's HEAD inside it, and
# `make test` run there as CI runs it. Everything the run needs must come from the project's
# own scripts: a package they forget to name fails here, as it would on a user's machine.
#
#   scripts/fresh-machine.sh [ROOT]     ROOT defaults to /var/tmp/camnode-fresh (about 3 GB
#                                       after the run); needs root and Debian's mirror
#   FRESH_KEEP=1                        reuse an existing ROOT as it is, with what earlier runs
#                                       installed (a quick re-run, not a fresh machine: without
#                                       FRESH_KEEP the base is made anew)
#   FRESH_CMD='make demo'               run another command than `make test` in the clone
#
# Prints the packages the run installed and how long it took. Not part of `make test` (it
# runs the whole suite again, 20-40 minutes); run it before saying the suite works on a fresh
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
root=${1:-/var/tmp/camnode-fresh}
cmd=${FRESH_CMD:-make test}
suite=${FRESH_SUITE:-bookworm}
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "fresh: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

mounts=()
cleanup() {
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

if [ "${FRESH_KEEP:-0}" != 1 ] || [ ! -x "$root/usr/bin/git" ]; then
	rm -rf "$root"
	echo "fresh: debootstrap $suite (minbase + git make ca-certificates) into $root"
	debootstrap --variant=minbase --include=ca-certificates,git,make "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
		{ tail -n 20 "$root.debootstrap.log" >&2; exit 1; }
	chroot "$root" dpkg-query -W -f '${Package}\n' | sort >"$root.base-packages"
fi
# The same sources as the host, so the chroot's apt sees what a fresh Debian 12 sees, and the
# certificate authorities this machine's network needs (a TLS-inspecting egress proxy has
# its own CA in /usr/local/share/ca-certificates): part of the network, not of the project.
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
fi
[ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"

# The chroot's / is a mount point of its own, as on a real machine (unshare --propagation,
# used by the thermal-zone telemetry test, refuses a root that is not one).
mount --bind "$root" "$root"
mounts+=("$root")
for m in proc sys dev dev/pts; do
	mkdir -p "$root/$m"
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	sys) mount -t sysfs sys "$root/sys" ;;
	*) mount --bind "/$m" "$root/$m" ;;
	esac
	mounts+=("$root/$m")
done
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"

# A clean clone of HEAD, in an empty directory with nothing beside it.
rm -rf "$root/work"
mkdir -p "$root/work"
git clone -q --no-local "$repo" "$root/work/camnode"
git -C "$root/work/camnode" log --oneline -1

start=$(date +%s)
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 CI=true TERM=dumb /bin/bash -c "cd /work/camnode && $cmd" 2>&1 | tee "$root.log"
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)

chroot "$root" dpkg-query -W -f '${Package}\n' | sort >"$root.after-packages"
added=$(comm -13 "$root.base-packages" "$root.after-packages" | wc -l)
echo "fresh: '$cmd' in a fresh $suite chroot exited $rc after $(((end - start) / 60)) min $(((end - start) % 60)) s;" \
	"the project's scripts installed $added packages (list: $root.after-packages); log: $root.log"
exit "$rc"
