# Sourced by the CI scripts that run tests under qemu-user. target_libs ARCH prints a
# directory holding the shared libraries camnode opens at run time (libx264-164,
# libturbojpeg0) for the Debian architecture ARCH, so that the emulated tests encode and
# decode as on a Pi with those packages. Nothing links against them (builds need no
# foreign library); they are only for running tests. The packages are downloaded with a
# private apt state and unpacked, not installed: the machine's dpkg architectures and apt
# lists stay as they are.
TARGET_LIBS_PKGS="libx264-164 libturbojpeg0"

target_libs() {
  local debarch=$1 dir stamp triplet
  dir=${CROSS_CACHE:-$HOME/.cache/camnode/cross}/$debarch
  stamp=$dir/root/.pkgs
  if [ "$(cat "$stamp" 2>/dev/null)" != "$TARGET_LIBS_PKGS" ]; then
    echo "fetching $TARGET_LIBS_PKGS for $debarch into $dir" >&2
    rm -rf "$dir"; mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs"
    local apt=(apt-get -qq -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Dir::State::status=/dev/null
      -o APT::Architecture="$debarch" -o APT::Architectures::="$debarch" -o Debug::NoLocking=1)
    "${apt[@]}" update 2>&1 | grep -v -e '^W:' -e '^N:' >&2 || true
    # shellcheck disable=SC2086
    (cd "$dir/debs" && "${apt[@]}" download $TARGET_LIBS_PKGS 2>&1 | grep -v -e 'unsandboxed' -e '^W:' >&2 || true)
    [ "$(ls "$dir"/debs/*.deb 2>/dev/null | wc -l)" -eq "$(wc -w <<<"$TARGET_LIBS_PKGS")" ] ||
      { echo "could not download $TARGET_LIBS_PKGS for $debarch (got: $(ls "$dir/debs"))" >&2; return 1; }
    for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
    rm -rf "$dir/lists" "$dir/cache" "$dir/debs"; echo "$TARGET_LIBS_PKGS" >"$stamp"
  fi
  case $debarch in arm64) triplet=aarch64-linux-gnu;; armhf) triplet=arm-linux-gnueabihf;; *) triplet=$debarch-linux-gnu;; esac
  echo "$dir/root/usr/lib/$triplet"
}
