#!/usr/bin/env bash
# Installs what building and testing camnode needs on Debian/Ubuntu, and only what is
# missing: the Go toolchain (>= the go.mod version); a C compiler for cgo (V4L2); the
# libraries camnode opens at run time (libx264-164 for the H.264 encoder, libturbojpeg0 for
# MJPEG); the fonts of burned-in danmaku (fonts-noto-cjk, 91 MB, fonts-symbola,
# fonts-unifont) only where it is drawn; and the real peers the tests run against
# (Mosquitto and its clients, nginx with the RTMP module, ffmpeg/ffprobe, headless Chromium
# and Firefox ESR, GStreamer's RTSP player, zeep and node-onvif, the ONVIF clients).
#   scripts/deps.sh go      Go and the build packages
#   scripts/deps.sh demo    the same, plus mosquitto-clients for the lines `camnode demo`
#                           prints, plus the burn-in fonts when CAMNODE_DANMAKU has burn
#   scripts/deps.sh all     Go, the build packages, the burn-in fonts (the burn-in tests
#                           draw CJK text and emoji) and the test peers
# Prints the directory of the go binary to use on its last line.
set -euo pipefail
what=${1:-all}
cd "$(dirname "$0")/.."
want=$(awk '/^go [0-9]/{print $2; exit}' go.mod)   # e.g. 1.26

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { $SUDO apt-get update -qq >&2; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}

# version_ge A B: is Go version A (1.26.8) at least B (1.26)?
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

go_dir=""
for cand in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$HOME/.cache/camnode/go/bin/go"; do
  [ -n "$cand" ] && [ -x "$cand" ] || continue
  v=$("$cand" env GOVERSION 2>/dev/null | sed 's/^go//') || continue
  if version_ge "$v" "$want"; then go_dir=$(dirname "$cand"); break; fi
done
if [ -z "$go_dir" ]; then
  # No recent Go: take the official toolchain module (what `go` itself downloads with
  # GOTOOLCHAIN) from the Go module proxy, into the user's cache.
  command -v curl >/dev/null && command -v unzip >/dev/null || apt_install curl unzip ca-certificates
  arch=$(dpkg --print-architecture); case "$arch" in armhf) arch=armv6l;; esac
  proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%,*}
  latest=$(curl -fsSL "$proxy/golang.org/toolchain/@v/list" | grep -E "^v0\.0\.1-go${want//./\\.}(\.[0-9]+)?\.linux-$arch$" | sort -V | tail -n1)
  [ -n "$latest" ] || { echo "deps: no Go $want toolchain found on $proxy" >&2; exit 1; }
  tmp=$(mktemp -d)
  curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/$latest.zip"
  rm -rf "$HOME/.cache/camnode/go"; mkdir -p "$HOME/.cache/camnode"
  unzip -q "$tmp/go.zip" -d "$tmp/x"
  mv "$tmp/x/golang.org/toolchain@$latest" "$HOME/.cache/camnode/go"
  chmod +x "$HOME/.cache/camnode/go/bin/"* "$HOME/.cache/camnode/go/pkg/tool/"*/* 2>/dev/null || true
  rm -rf "$tmp"
  go_dir="$HOME/.cache/camnode/go/bin"
fi

# cgo (go4vl's V4L2 layer, the dlopen of libx264 and libturbojpeg), and those libraries.
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libx264-164 >/dev/null 2>&1 || missing+=(libx264-164) # opened at run time: no -dev needed
dpkg -s libturbojpeg0 >/dev/null 2>&1 || missing+=(libturbojpeg0) # MJPEG decoding, opened at run time
# The fonts of the danmaku renderer (CJK, emoji): only where burn-in is drawn.
needs_cjk=""
case "$what" in
  all) needs_cjk=1 ;;
  demo) case "${CAMNODE_DANMAKU:-}" in *[Bb][Uu][Rr][Nn]*) needs_cjk=1 ;; esac ;;
esac
if [ -n "$needs_cjk" ]; then
  [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing+=(fonts-noto-cjk)
  [ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || missing+=(fonts-symbola)   # emoji to Unicode 9
  [ -f /usr/share/fonts/opentype/unifont/unifont_upper.otf ] || missing+=(fonts-unifont)          # later emoji
fi
if [ "$what" = demo ]; then
  command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
fi

if [ "$what" = all ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
  command -v chromium >/dev/null || missing+=(chromium) # the local player's page, headless (media/httpflv)
  # The player's page in Firefox too (media/httpflv, WebDriver BiDi: no geckodriver); its H.264
  # decoder is libavcodec (one of firefox-esr's Recommends), which ffmpeg above brings.
  command -v firefox-esr >/dev/null || missing+=(firefox-esr)
  # media/onvif: zeep is the SOAP client Home Assistant's ONVIF integration drives; node-onvif
  # (npm, below) probes WS-Discovery inside a network namespace made with unshare and ip.
  /usr/bin/python3 -c 'import zeep' 2>/dev/null || missing+=(python3-zeep)
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm) # node-onvif; bilibili-live-ws cross-checks chat/bilibili
  command -v ip >/dev/null || missing+=(iproute2)
  command -v curl >/dev/null || missing+=(curl) # media/onvif: the snapshot's Digest/Basic
  # GStreamer as an RTSP player (media/rtsp): gst-launch-1.0; rtspsrc, the RTP
  # depayloaders and aacparse (plugins-good); h264parse (plugins-bad); avdec_* (libav).
  command -v gst-launch-1.0 >/dev/null || missing+=(gstreamer1.0-tools)
  gst_has() { compgen -G "/usr/lib/*/gstreamer-1.0/$1" >/dev/null; }
  gst_has libgstrtsp.so || missing+=(gstreamer1.0-plugins-good)
  gst_has libgstvideoparsersbad.so || missing+=(gstreamer1.0-plugins-bad)
  gst_has libgstlibav.so || missing+=(gstreamer1.0-libav)
  command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || missing+=(ngircd) # an IRC server standing in for Twitch chat (chat/twitch)
  # The Debian packages of make release: lintian checks them, debootstrap makes the arm64
  # root they are installed into (scripts/ci/release.sh, scripts/ci/deb.sh).
  command -v lintian >/dev/null || missing+=(lintian)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi
if [ "$what" = all ] && [ ! -d media/onvif/testdata/node/node_modules/node-onvif ]; then
  echo "deps: npm ci in media/onvif/testdata/node" >&2
  (cd media/onvif/testdata/node && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$go_dir"
