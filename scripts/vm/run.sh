#!/usr/bin/env bash
# scripts/vm/run.sh - run a statically linked program against real V4L2 kernel drivers inside a
# throw-away QEMU guest that boots Debian 12's stock kernel (KVM where usable, else TCG).
#
# usage: scripts/vm/run.sh [options] PROGRAM [-- ARGS...]
#   PROGRAM  a static executable; it runs in the guest as root after the drivers are loaded, its
#            output goes to the serial console (this script's stdout), and its exit code becomes
#            this script's exit code (125: the guest gave no result, e.g. it hung until --timeout).
# drivers (vivid is always loaded: the kernel's virtual camera):
#   --vivid-opts "k=v ..."  vivid's module parameters (default "n_devs=1")
#   --loopback "k=v ..."    also load v4l2loopback (built here from Debian's v4l2loopback-dkms)
#   --vicodec "k=v ..."     also load vicodec, the kernel's virtual memory-to-memory codec (FWHT
#                           encoder and stateful decoder). Debian's amd64 kernel builds neither it
#                           (# CONFIG_VIDEO_VICODEC is not set) nor the m2m framework it needs
#                           (CONFIG_V4L2_MEM2MEM_DEV): both are built here out of tree from
#                           linux-source-6.1 against the headers of the very kernel the guest boots,
#                           and their version magic is checked against that kernel's modules.
# guest I/O:
#   --net                   virtio-net on QEMU user networking, guest 10.0.2.15/24, gateway 10.0.2.2
#   --hostfwd H:G           host 127.0.0.1:H -> guest :G (tcp), repeatable (implies --net)
#   --netopt 'OPT'          an extra -netdev user option, e.g.
#                           'guestfwd=tcp:10.0.2.100:1883-cmd:busybox nc 127.0.0.1 18830' (one relay per connection)
#   --share DIR             host DIR mounted read-write at /mnt/host (virtio-9p)
#   --add SRC[:DST]         a file copied into the guest (DST default /basename), repeatable
#   --pre 'CMD'             guest shell lines run before PROGRAM
#   --mem MB (1024)  --smp N (2)  --timeout S (300)
# env: WORK (cache, default /tmp/camnode-vm), ACCEL=auto|kvm|tcg, RESTRICT=on|off (slirp restrict,
#      default on: the guest reaches nothing but the forwards; off: also 10.0.2.2 = host loopback),
#      CONSOLE_LOG (where the console is kept, default $WORK/console.log).
# Needs root: the host packages are installed with apt-get --no-install-recommends; the kernel and
# header packages are downloaded and unpacked into $WORK, never installed.
set -euo pipefail

WORK=${WORK:-/tmp/camnode-vm}
VIVID_OPTS=n_devs=1; LOOPBACK_OPTS=; VICODEC=0; VICODEC_OPTS=
NET=0; MEM=1024; SMP=2; TIMEOUT=300; SHARE=; PRE=
NETOPTS=(); HOSTFWD=(); ADD=()
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --vivid-opts) VIVID_OPTS=$2; shift 2;;
    --loopback)   LOOPBACK_OPTS=${2:-exclusive_caps=1}; shift 2;;
    --vicodec)    VICODEC=1; VICODEC_OPTS=$2; shift 2;;
    --net)        NET=1; shift;;
    --hostfwd)    NET=1; HOSTFWD+=("$2"); shift 2;;
    --netopt)     NET=1; NETOPTS+=("$2"); shift 2;;
    --share)      SHARE=$(realpath "$2"); shift 2;;
    --add)        ADD+=("$2"); shift 2;;
    --pre)        PRE=$2; shift 2;;
    --mem)        MEM=$2; shift 2;;
    --smp)        SMP=$2; shift 2;;
    --timeout)    TIMEOUT=$2; shift 2;;
    -h|--help)    usage; exit 0;;
    -*)           echo "run.sh: unknown option $1" >&2; usage >&2; exit 2;;
    *) break;;
  esac
done
[ $# -ge 1 ] || { usage >&2; exit 2; }
PROG=$(realpath "$1"); shift
[ "${1:-}" = "--" ] && shift
[ -x "$PROG" ] || { echo "run.sh: not executable: $PROG" >&2; exit 2; }

now() { date +%s.%N; }
lap() { awk -v a="$2" -v b="$(now)" -v n="$1" 'BEGIN{printf "[vm] %-36s %7.2fs\n", n, b-a}' >&2; }
say() { echo "[vm] $*" >&2; }
mkdir -p "$WORK"

# ------------------------------------------------------------ host packages
T=$(now)
need=(qemu-system-x86 busybox-static kmod cpio file xz-utils gzip)
if [ -n "$LOOPBACK_OPTS" ] || [ "$VICODEC" = 1 ]; then need+=(make gcc-12 libc6-dev libelf1 libssl3 binutils); fi
if [ "$VICODEC" = 1 ]; then need+=(linux-source-6.1); fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install --no-install-recommends ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
lap "host packages" "$T"

# ------------------------------------------------------------ Debian's kernel, unpacked
T=$(now)
if [ ! -s "$WORK/kver" ]; then
  apt-get update -qq
  apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{sub("linux-image-","",$2); print $2; exit}' > "$WORK/kver.tmp"
  [ -s "$WORK/kver.tmp" ] || { say "cannot tell which kernel linux-image-amd64 depends on"; exit 1; }
  mv "$WORK/kver.tmp" "$WORK/kver"
fi
KVER=$(cat "$WORK/kver")
KROOT=$WORK/kernel-$KVER
if [ ! -f "$KROOT/.done" ]; then
  say "downloading and unpacking linux-image-$KVER"
  rm -rf "$KROOT" "$WORK/debs"; mkdir -p "$WORK/debs" "$KROOT"
  (cd "$WORK/debs" && apt-get download -q "linux-image-$KVER" 2>&1 | grep -v unsandboxed || true)
  deb=$(ls "$WORK"/debs/linux-image-"$KVER"_*.deb)
  dpkg-deb -f "$deb" Version > "$KROOT/version"
  dpkg-deb -x "$deb" "$KROOT"
  depmod -b "$KROOT" "$KVER"
  # The uncompressed ELF vmlinux has a PVH entry: QEMU boots it directly, without the
  # real-mode setup and the xz decompressor (seconds under TCG).
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$KROOT/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1) || true
  if [ -n "$off" ]; then tail -c +$((off + 1)) "$KROOT/boot/vmlinuz-$KVER" | xz -dcq > "$KROOT/vmlinux" 2>/dev/null || true; fi
  rm -rf "$WORK/debs"
  touch "$KROOT/.done"
fi
KERNEL=$KROOT/boot/vmlinuz-$KVER
if [ "$(head -c 4 "$KROOT/vmlinux" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then KERNEL=$KROOT/vmlinux; fi
MODDIR=$KROOT/lib/modules/$KVER
lap "kernel $KVER ($(cat "$KROOT/version"))" "$T"

# ------------------------------------------------------------ out-of-tree modules for that kernel
# Built against the unpacked linux-headers/linux-kbuild packages of $KVER (nothing goes into the
# host's /usr/src or /lib/modules).
HDR=$WORK/headers-$KVER
headers() {
  [ -f "$HDR/.done" ] && return
  say "downloading and unpacking linux-headers-$KVER"
  rm -rf "$HDR"; mkdir -p "$HDR/debs"
  local deps; deps=$(apt-cache depends "linux-headers-$KVER" | awk '/Depends: linux-(headers|kbuild)-/{print $2}')
  (cd "$HDR/debs" && apt-get download -q "linux-headers-$KVER" $deps 2>&1 | grep -v unsandboxed || true)
  for d in "$HDR"/debs/*.deb; do dpkg-deb -x "$d" "$HDR/root"; done
  rm -rf "$HDR/debs"
  # The arch Makefile includes the -common one by its absolute path: point it into this tree.
  sed -i "s|^include /usr/src/|include $HDR/root/usr/src/|" "$HDR/root/usr/src/linux-headers-$KVER/Makefile"
  touch "$HDR/.done"
}
# vermagic_ok KO: the module's version magic equals the one of the kernel's own modules.
vermagic_ok() {
  local want got
  want=$(modinfo -F vermagic "$(find "$MODDIR/kernel/drivers/media" -name 'videodev.ko*' | head -1)")
  got=$(modinfo -F vermagic "$1")
  if [ "$want" != "$got" ]; then say "$(basename "$1"): vermagic '$got', kernel $KVER wants '$want'"; return 1; fi
  say "$(basename "$1"): vermagic '$got' matches kernel $KVER"
}
build_modules() { # DIR NAME...: make NAME.ko ... in DIR against the headers
  local dir=$1; shift
  make -C "$HDR/root/usr/src/linux-headers-$KVER" M="$dir" modules >"$dir/build.log" 2>&1 \
    || { cat "$dir/build.log" >&2; exit 1; }
  for m in "$@"; do
    strip --strip-debug "$dir/$m.ko"
    vermagic_ok "$dir/$m.ko" || { rm -f "$dir/$m.ko"; exit 1; }
  done
}
EXTRA=()
if [ -n "$LOOPBACK_OPTS" ]; then
  T=$(now)
  LB=$WORK/v4l2loopback-$KVER
  if [ ! -f "$LB/v4l2loopback.ko" ]; then
    headers
    rm -rf "$LB" "$WORK/lbdeb"; mkdir -p "$WORK/lbdeb"
    (cd "$WORK/lbdeb" && apt-get download -q v4l2loopback-dkms 2>&1 | grep -v unsandboxed || true)
    dpkg-deb -x "$WORK"/lbdeb/v4l2loopback-dkms_*.deb "$WORK/lbdeb/root"
    cp -r "$WORK"/lbdeb/root/usr/src/v4l2loopback-* "$LB"; rm -rf "$WORK/lbdeb"
    build_modules "$LB" v4l2loopback
  fi
  EXTRA+=("$LB/v4l2loopback.ko")
  lap "v4l2loopback.ko" "$T"
fi
if [ "$VICODEC" = 1 ]; then
  T=$(now)
  VC=$WORK/vicodec-$KVER
  if [ ! -f "$VC/vicodec.ko" ]; then
    # Debian's linux-source-6.1 must be the source of the very kernel the guest boots.
    src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
    if [ "$src_ver" != "$(cat "$KROOT/version")" ]; then
      say "linux-source-6.1 is $src_ver but linux-image-$KVER is $(cat "$KROOT/version"): apt-get upgrade one of them"
      exit 1
    fi
    headers
    rm -rf "$VC"; mkdir -p "$VC"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$VC" --transform='s|.*/||' \
      --wildcards 'linux-source-6.1/drivers/media/test-drivers/vicodec/*.[ch]' \
      'linux-source-6.1/drivers/media/v4l2-core/v4l2-mem2mem.c'
    printf 'obj-m := v4l2-mem2mem.o vicodec.o\nvicodec-objs := vicodec-core.o codec-fwht.o codec-v4l2-fwht.o\n' > "$VC/Makefile"
    build_modules "$VC" v4l2-mem2mem vicodec
  fi
  EXTRA+=("$VC/v4l2-mem2mem.ko" "$VC/vicodec.ko")
  lap "vicodec.ko" "$T"
fi

# ------------------------------------------------------------ initramfs
T=$(now)
RUN=$(mktemp -d "$WORK/run.XXXXXX") # per run: runs side by side do not collide
QPID=; TPID=
cleanup() { for p in $QPID $TPID; do kill "$p" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
IRD=$RUN/root; mkdir -p "$IRD"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,mnt/host,lib/modules/$KVER/extra}
cp /bin/busybox "$IRD/bin/busybox"
mods=(vivid)
[ "$NET" = 1 ] && mods+=(virtio_pci virtio_net)
[ -n "$SHARE" ] && mods+=(virtio_pci 9pnet_virtio 9p)
# module names compare with - and _ alike
built=" "; for ko in "${EXTRA[@]}"; do built+="$(modinfo -F name "$ko" | tr - _) "; done
for ko in "${EXTRA[@]}"; do
  cp "$ko" "$IRD/lib/modules/$KVER/extra/"
  IFS=, read -ra deps <<<"$(modinfo -F depends "$ko")"
  for d in "${deps[@]}"; do [[ "$built" == *" ${d//-/_} "* ]] || mods+=("$d"); done
done
for m in "${mods[@]}"; do
  [ -n "$m" ] && modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | sort -u | while read -r ko; do
  rel=${ko#"$MODDIR"/}; mkdir -p "$IRD/lib/modules/$KVER/$(dirname "$rel")"; cp "$ko" "$IRD/lib/modules/$KVER/$rel"
done
cp "$MODDIR"/modules.{order,builtin,builtin.modinfo} "$IRD/lib/modules/$KVER/"
depmod -b "$IRD" "$KVER"
cp "$PROG" "$IRD/test"
: > "$IRD/test.args"; for a in "$@"; do printf '%s\n' "$a" >> "$IRD/test.args"; done
for a in "${ADD[@]}"; do
  src=${a%%:*}; dst=${a#*:}; [ "$dst" = "$a" ] && dst=/$(basename "$src")
  mkdir -p "$IRD/$(dirname "$dst")"; cp -L "$src" "$IRD/$dst"
done
{
  printf "VIVID_OPTS='%s'\nLOOPBACK_OPTS='%s'\nVICODEC=%s\nVICODEC_OPTS='%s'\nNET=%s\nSHARE='%s'\n" \
    "$VIVID_OPTS" "$LOOPBACK_OPTS" "$VICODEC" "$VICODEC_OPTS" "$NET" "${SHARE:+1}"
} > "$IRD/etc/cfg"
printf '%s\n' "$PRE" > "$IRD/etc/pre.sh"
cat > "$IRD/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmp /tmp
. /etc/cfg
up() { cut -d' ' -f1 /proc/uptime; }
echo "VM: init at uptime $(up)s, kernel $(uname -r)"
modprobe vivid $VIVID_OPTS || echo "VM: modprobe vivid failed"
[ -n "$LOOPBACK_OPTS" ] && { modprobe v4l2loopback $LOOPBACK_OPTS || echo "VM: modprobe v4l2loopback failed"; }
[ "$VICODEC" = 1 ] && { modprobe vicodec $VICODEC_OPTS || echo "VM: modprobe vicodec failed"; }
echo "VM: drivers loaded at uptime $(up)s: $(ls /dev | grep -E '^(video|media)' | tr '\n' ' ')"
if [ "$NET" = 1 ]; then
  modprobe virtio_pci; modprobe virtio_net; sleep 0.2
  ip link set lo up; ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" > /etc/resolv.conf
fi
if [ -n "$SHARE" ]; then
  modprobe virtio_pci; modprobe 9pnet_virtio; modprobe 9p
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostshare /mnt/host
fi
[ -s /etc/pre.sh ] && . /etc/pre.sh
set --; while IFS= read -r a; do set -- "$@" "$a"; done < /test.args
echo "VM: running /test $* at uptime $(up)s"
/test "$@"; rc=$?
echo "VM-RESULT rc=$rc"
sync; poweroff -f
INIT
chmod +x "$IRD/init"
(cd "$IRD" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$RUN/initramfs.gz"
lap "initramfs ($(du -h "$RUN/initramfs.gz" | cut -f1))" "$T"

# ------------------------------------------------------------ boot
T=$(now)
# KVM only where /dev/kvm is hardware-assisted: on hosts whose /dev/kvm is kvm_pvm (software
# virtualization for PVM guest kernels) a stock kernel crawls, and TCG is far faster.
ACCEL=${ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case "$ACCEL" in
  kvm) accel=(-accel kvm -cpu host);;
  *)   accel=(-accel tcg,thread=multi -cpu max);;
esac
QEMU=(qemu-system-x86_64 "${accel[@]}" -machine q35 -smp "$SMP" -m "$MEM" -nographic -no-reboot
      -kernel "$KERNEL" -initrd "$RUN/initramfs.gz"
      -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init")
if [ "$NET" = 1 ]; then
  nd="user,id=n0,restrict=${RESTRICT:-on}"
  for f in "${HOSTFWD[@]}"; do nd+=",hostfwd=tcp:127.0.0.1:${f%%:*}-:${f#*:}"; done
  for f in "${NETOPTS[@]}"; do nd+=",${f//,/,,}"; done
  QEMU+=(-netdev "$nd" -device virtio-net-pci,netdev=n0)
else
  QEMU+=(-nic none)
fi
[ -n "$SHARE" ] && QEMU+=(-virtfs "local,path=$SHARE,mount_tag=hostshare,security_model=none,id=hs")
LOG=${CONSOLE_LOG:-$WORK/console.log}
say "boot ($ACCEL)"
: > "$RUN/console"
# timeout forwards TERM to QEMU and kills it after $TIMEOUT s (exit 124).
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$RUN/console" 2>&1 & QPID=$!
tail -n +1 --pid="$QPID" -f "$RUN/console" | tr -d '\r' & TPID=$!
set +e; wait "$QPID"; qrc=$?; set -e
wait "$TPID" 2>/dev/null; QPID=; TPID=
[ "$qrc" = 124 ] && say "timeout after ${TIMEOUT}s"
tr -d '\r' < "$RUN/console" > "$LOG"
lap "qemu (boot, program, halt)" "$T"
rc=$(sed -n 's/^VM-RESULT rc=\([0-9]*\).*/\1/p' "$LOG" | tail -1)
if [ -z "$rc" ]; then say "no result from the guest (qemu exit $qrc); console in $LOG"; exit 125; fi
exit "$rc"
