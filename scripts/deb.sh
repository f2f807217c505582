#!/usr/bin/env bash
# Builds the Debian package of one release binary with dpkg-deb:
#
#   scripts/deb.sh BINARY DEBARCH VERSION OUTDIR   ->  OUTDIR/camnode_<debversion>_<DEBARCH>.deb
#
# BINARY is a camnode built for DEBARCH (amd64, arm64, armhf); VERSION what `camnode version`
# prints (git describe: v1.2.3, v1.2.3-4-gabc1234, abc1234, with -dirty). The package holds
# /usr/bin/camnode, camnode.service and camnode@.service, the sysusers.d file, and
# /etc/camnode/camnode.env as a conffile; the maintainer scripts are in deploy/debian.
#
# Reproducible: every mtime is SOURCE_DATE_EPOCH (default: the last commit's time), owners
# are root, modes are set here, dpkg-deb sorts the members and stamps the ar archive with
# SOURCE_DATE_EPOCH, and xz runs single-threaded (its multi-threaded output depends on the
# thread count, so on the machine). The same binary gives the same bytes.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BINARY DEBARCH VERSION OUTDIR" >&2; exit 2; }
bin=$1 debarch=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")/.." && pwd)
deb=$here/deploy/debian

# Debian's version: v1.2.3 -> 1.2.3; a pre-release tag sorts before its release,
# v1.3.0-rc1 -> 1.3.0~rc1; commits after a tag sort after it, v1.2.3-4-gabc1234(-dirty) ->
# 1.2.3+4.gabc1234(.dirty); a build without a tag sorts before every release: abc1234 ->
# 0~gabc1234.
debversion() {
  local v=$1 extra=""
  if [[ $v =~ ^v([0-9].*)$ ]]; then
    v=${BASH_REMATCH[1]}
    [[ $v == *-dirty ]] && { v=${v%-dirty}; extra=dirty; }
    if [[ $v =~ ^(.*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
      v=${BASH_REMATCH[1]} extra=${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}${extra:+.$extra}
    fi
    v=${v//-/\~}
    v=${v//[^0-9A-Za-z.+~]/.}
    printf '%s%s\n' "$v" "${extra:++$extra}"
  else
    v=${v//[^0-9A-Za-z.+~]/.}
    printf '0~g%s\n' "$v"
  fi
}
pkgversion=$(debversion "$version")

# The oldest C library the binary runs with: the highest GLIBC_x.y symbol version it needs
# (dpkg-shlibdeps would need the target's libc6 installed; readelf reads any architecture).
glibc=$(LC_ALL=C readelf --version-info --wide "$bin" | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/.*GLIBC_//' | sort -uV | tail -n1)
[ -n "$glibc" ] || { echo "deb: $bin names no GLIBC_ symbol version (not a cgo build?)" >&2; exit 1; }
depends="libc6 (>= $glibc)"
# The user is created by systemd-sysusers (systemd, or systemd-standalone-sysusers where
# systemd is not the init), else by adduser.
depends="$depends, systemd | systemd-standalone-sysusers | adduser"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct)}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/camnode
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" \
  "$root/usr/lib/sysusers.d" "$root/etc/camnode" "$root/usr/share/doc/camnode" \
  "$root/usr/share/lintian/overrides" "$root/usr/share/man/man1"
install -m 0755 "$bin" "$root/usr/bin/camnode"
install -m 0644 "$here/deploy/systemd/camnode.service" "$root/usr/lib/systemd/system/camnode.service"
# The instance unit as documented for installs by hand, with the package's binary.
sed 's|/usr/local/bin/camnode|/usr/bin/camnode|g' "$here/deploy/systemd/camnode@.service" >"$root/usr/lib/systemd/system/camnode@.service"
chmod 0644 "$root/usr/lib/systemd/system/camnode@.service"
install -m 0644 "$here/deploy/systemd/camnode.sysusers" "$root/usr/lib/sysusers.d/camnode.conf"
# 0640: secrets. The postinst gives it group camnode once the group exists.
install -m 0640 "$deb/camnode.env" "$root/etc/camnode/camnode.env"
install -m 0644 "$deb/lintian-overrides" "$root/usr/share/lintian/overrides/camnode"
gzip -9n <"$deb/camnode.1" >"$root/usr/share/man/man1/camnode.1.gz"
chmod 0644 "$root/usr/share/man/man1/camnode.1.gz"
{
  cat "$deb/copyright"
  echo
  echo "The binary includes these Go modules (go version -m):"
  go version -m "$bin" | awk '$1 == "dep" { print " " $2 " " $3 }'
} >"$root/usr/share/doc/camnode/copyright"
chmod 0644 "$root/usr/share/doc/camnode/copyright"
# A native package's changelog: this version, dated SOURCE_DATE_EPOCH.
printf 'camnode (%s) unstable; urgency=medium\n\n  * Release %s, built by make release.\n\n -- %s  %s\n' \
  "$pkgversion" "$version" "$(sed -n 's/^Maintainer: //p' "$deb/control.in")" \
  "$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" -R)" | gzip -9n >"$root/usr/share/doc/camnode/changelog.gz"
chmod 0644 "$root/usr/share/doc/camnode/changelog.gz"

for s in postinst prerm postrm; do install -m 0755 "$deb/$s" "$root/DEBIAN/$s"; done
echo /etc/camnode/camnode.env >"$root/DEBIAN/conffiles"
# Installed-Size in KiB, as dpkg-gencontrol counts it: each file's size rounded up, 1 for
# each directory.
size=$(find "$root" -path "$root/DEBIAN" -prune -o -mindepth 1 -printf '%y %s\n' |
  awk '$1 == "d" { k += 1; next } { k += int(($2 + 1023) / 1024) } END { print k }')
sed -e "s/@VERSION@/$pkgversion/" -e "s/@ARCH@/$debarch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  "$deb/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
file=$out/camnode_${pkgversion}_$debarch.deb
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$root" "$file" >/dev/null
echo "$file"
