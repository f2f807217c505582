#!/usr/bin/env bash
# CI: the arm64 package, installed the way a user installs it on a Pi: into a Debian 12
# arm64 root (debootstrap --foreign --variant=minbase, second stage run through
# qemu-user-static and binfmt_misc), `apt install ./camnode_…_arm64.deb` with its
# Recommends, then `camnode version` runs there, the user, the settings file and the units
# are as the package promises, nothing is enabled or started, and `dpkg --purge camnode`
# leaves nothing of camnode behind but the system user (which Debian keeps).
#
# The root reaches Debian's mirror the way the host does (the host's first Debian URI and
# its apt proxy settings). CAMNODE_DEBROOT_CACHE=DIR keeps the first-stage tarball there
# between runs (debootstrap --make-tarball; it saved 35 of 71 s of the first stage here);
# unset, nothing is cached, which is what a fresh machine pays anyway.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "deb: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="/usr/sbin:/sbin:$PATH"

# phase NAME: prints how long the previous phase took, as the run goes: wall time, and the
# CPU time of the programs it ran (emulated ones included), which a loaded machine
# stretches less.
# (times runs in this shell, writing to a file: in $(…) or a pipe it would run in a
# subshell, whose children are none of these.)
phase_start=$SECONDS phase_cpu=0 phase_name=""
phase() {
  local cpu
  times >"$work/times"
  cpu=$(tail -n1 "$work/times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  [ -z "$phase_name" ] || echo "deb: $phase_name took $((SECONDS - phase_start)) s ($((cpu - phase_cpu)) s CPU)"
  phase_name=$1 phase_start=$SECONDS phase_cpu=$cpu
}

work=$(mktemp -d /tmp/camnode-deb.XXXXXX)
root=$work/root
registered="" mounted_binfmt=""
cleanup() {
  # What is mounted in the root (proc by this script; proc and sys by a second stage that
  # was interrupted), innermost first.
  awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do $SUDO umount "$m"; done
  # Nothing is mounted below $work any more; --one-file-system guards the host if it were.
  $SUDO rm -rf --one-file-system "$work"
  [ -z "$registered" ] || echo -1 | $SUDO tee /proc/sys/fs/binfmt_misc/qemu-aarch64 >/dev/null
  [ -z "$mounted_binfmt" ] || $SUDO umount /proc/sys/fs/binfmt_misc
}
trap cleanup EXIT

# Arm64 programs run through qemu-aarch64 by binfmt_misc: the handler of qemu-user-static,
# registered here when the machine has none (no systemd-binfmt in a container), and taken
# away again at the end. Its flag F: the kernel opens the interpreter at registration, so
# the root needs no copy of it.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    { echo "deb: binfmt_misc is not available here (not root, or a container without it): the arm64 root cannot run its programs"; exit 1; }
  mounted_binfmt=1
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  $SUDO tee /proc/sys/fs/binfmt_misc/register </usr/lib/binfmt.d/qemu-aarch64.conf >/dev/null
  registered=1
fi
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "deb: binfmt handler qemu-aarch64 lacks flag F: the root cannot reach its interpreter"; exit 1; }
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "deb: binfmt handler qemu-aarch64 is disabled"; exit 1; }

phase "make release-deb (arm64)"
make --no-print-directory release-deb RELEASE_PLATFORM=linux/arm64 RELEASE_DIR="$work/dist"
deb=$(ls "$work"/dist/camnode_*_arm64.deb)
# The version the build stamped (from its file name: a commit since would change git's).
version=$(basename "$(ls "$work"/dist/camnode-*-linux-arm64)"); version=${version#camnode-}; version=${version%-linux-arm64}

# The host's Debian mirror: the first URI of its Debian sources (deb822 or one-line form).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 ~ /debian\/?$/ { print $2; exit }')
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
cache=${CAMNODE_DEBROOT_CACHE:-}
tarball=$cache/debian12-arm64-minbase.tar.gz

phase "debootstrap --foreign (first stage)"
if [ -n "$cache" ] && [ -s "$tarball" ]; then
  echo "deb: first stage from $tarball"
  $SUDO debootstrap --foreign --arch=arm64 --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >/dev/null
elif [ -n "$cache" ]; then
  mkdir -p "$cache"
  $SUDO debootstrap --arch=arm64 --variant=minbase --make-tarball="$tarball.tmp" bookworm "$work/tarball" "$mirror" >/dev/null
  mv "$tarball.tmp" "$tarball"
  $SUDO debootstrap --foreign --arch=arm64 --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >/dev/null
else
  $SUDO debootstrap --foreign --arch=arm64 --variant=minbase bookworm "$root" "$mirror" >/dev/null
fi

phase "debootstrap --second-stage (emulated)"
$SUDO chroot "$root" /debootstrap/debootstrap --second-stage >/dev/null
$SUDO mount -t proc proc "$root/proc"
in_root() { $SUDO chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
[ "$(in_root dpkg --print-architecture)" = arm64 ] || { echo "deb: the root is not arm64"; exit 1; }
echo "deb http://${mirror#*://} bookworm main" | sed 's|^deb http://|deb '"${mirror%%://*}"'://|' | $SUDO tee "$root/etc/apt/sources.list" >/dev/null
apt-config dump | grep -i '::proxy' | $SUDO tee "$root/etc/apt/apt.conf.d/01proxy" >/dev/null || true
$SUDO cp /etc/resolv.conf "$root/etc/resolv.conf"

# What the root holds before the package: paths, and file contents that matter.
snapshot() {
  in_root find / -xdev \( -path /proc -o -path /tmp -o -path /run -o -path /var/cache -o -path /var/log \
    -o -path /var/lib/apt/lists -o -path /dev \) -prune -o -print | sort
}
before=$(snapshot)

phase "apt install ./camnode_…_arm64.deb (emulated)"
$SUDO cp "$deb" "$root/tmp/"
in_root apt-get update -qq
in_root apt-get install -y -qq "./tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }

phase "checks"
fail() { echo "deb: $*"; exit 1; }
# Recommends came with it, as apt installs them by default.
for p in camnode libx264-164 libturbojpeg0; do
  [ "$(in_root dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || fail "$p is not installed"
done
got=$(in_root camnode version) || fail "camnode version failed: $got"
echo "$got" | sed 's/^/  /'
case "$got" in "camnode $version"*) ;; *) fail "camnode version says '$(head -n1 <<<"$got")', want 'camnode $version …'";; esac
# The libraries it opens at run time, found: the Recommends are what makes them work.
grep -Eq '^ *x264 encoder: +libx264\.so\.164' <<<"$got" || fail "camnode version does not find libx264 (libx264-164 is a Recommends)"
grep -Eq '^ *MJPEG decoding: +libjpeg-turbo' <<<"$got" || fail "camnode version does not find libturbojpeg (libturbojpeg0 is a Recommends)"
in_root getent passwd camnode >/dev/null || fail "no user camnode"
groups=" $(in_root id -nG camnode) "
for g in video render; do [[ $groups == *" $g "* ]] || fail "user camnode is not in group $g (groups:$groups)"; done
mode=$(in_root stat -c '%a %U %G' /etc/camnode/camnode.env)
[ "$mode" = "640 root camnode" ] || fail "/etc/camnode/camnode.env is '$mode', want '640 root camnode'"
in_root grep -qx '/etc/camnode/camnode.env' /var/lib/dpkg/info/camnode.conffiles || fail "camnode.env is not a conffile"
for u in camnode.service camnode@.service; do
  in_root test -f "/usr/lib/systemd/system/$u" || fail "$u not installed"
done
# Installed, not enabled: nothing links the unit into a target until the user enables it.
if in_root find /etc/systemd/system -name 'camnode*' | grep -q .; then
  fail "the package enabled the service: $(in_root find /etc/systemd/system -name 'camnode*')"
fi
owned=$(in_root dpkg -L camnode)
# A file of the user's own beside the settings (a CA, a second instance's settings): a
# purge removes it with /etc/camnode.
in_root sh -c 'umask 077; echo CAMNODE_NODE_ID=door >/etc/camnode/door.env'

phase "dpkg --purge camnode"
in_root dpkg --purge camnode >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; exit 1; }
after=$(snapshot)
# Whatever is new since before the install must belong to a package still installed (the
# Recommends and their dependencies), never to camnode.
leftover=""
while IFS= read -r path; do
  [ -n "$path" ] || continue
  case "$path" in *camnode*) leftover+="$path"$'\n'; continue;; esac
  in_root dpkg -S "$path" >/dev/null 2>&1 && continue
  case "$path" in
    # dpkg's, ldconfig's and apt's bookkeeping (the Recommends stay installed), and the
    # backups the shadow tools keep when they add the user (which stays).
    /var/lib/dpkg/* | /etc/ld.so.cache | /var/lib/apt/extended_states | /etc/apt/apt.conf.d/01proxy) continue;;
    /etc/passwd- | /etc/group- | /etc/shadow- | /etc/gshadow-) continue;;
  esac
  leftover+="$path"$'\n'
done < <(comm -13 <(echo "$before") <(echo "$after"))
[ -z "$leftover" ] || fail "left behind after dpkg --purge camnode:"$'\n'"$leftover"
for path in /etc/camnode /var/lib/camnode /usr/bin/camnode /var/lib/dpkg/info/camnode.list; do
  in_root test ! -e "$path" || fail "$path is still there after the purge"
done
if in_root find /var/lib/systemd -name '*camnode*' 2>/dev/null | grep -q .; then
  fail "deb-systemd-helper state left: $(in_root find /var/lib/systemd -name '*camnode*')"
fi
# Where systemd-sysusers is installed (every Pi: it comes with systemd), the postinst
# creates the user with it instead of adduser: the same user and groups, from the sysusers.d
# file. systemd-standalone-sysusers is that program without systemd.
phase "again with systemd-sysusers (emulated)"
in_root userdel camnode
in_root groupdel render
in_root apt-get install -y -qq systemd-standalone-sysusers >"$work/apt2.log" 2>&1 || { cat "$work/apt2.log"; exit 1; }
in_root apt-get install -y -qq "./tmp/$(basename "$deb")" >"$work/apt2.log" 2>&1 || { cat "$work/apt2.log"; exit 1; }
grep -q "Creating user 'camnode'" "$work/apt2.log" || { cat "$work/apt2.log"; fail "systemd-sysusers did not create the user"; }
groups=" $(in_root id -nG camnode) "
for g in video render; do [[ $groups == *" $g "* ]] || fail "sysusers: user camnode is not in group $g (groups:$groups)"; done
mode=$(in_root stat -c '%a %U %G' /etc/camnode/camnode.env)
[ "$mode" = "640 root camnode" ] || fail "sysusers: /etc/camnode/camnode.env is '$mode', want '640 root camnode'"
in_root dpkg --purge camnode >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; exit 1; }
in_root test ! -e /etc/camnode || fail "/etc/camnode is still there after the second purge"

phase ""
echo "deb: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) installed with its Recommends in a Debian 12 arm64 root, ran, purged clean ($(wc -l <<<"$owned") paths owned; the system user camnode stays, as Debian keeps system users); the user made by adduser and by systemd-sysusers"
