# Cross builds for the Raspberry Pi: camnode for linux/arm64 (Pi 3/4/5, 64-bit OS) and
# linux/arm GOARM=7 (Raspberry Pi OS 32-bit), with cgo (go4vl's V4L2 layer and libx264
# are C) through Debian's cross compilers, plus `go vet` of every package for each target.
#
#   make cross         both, into $(CROSS_DIR)/camnode-linux-arm64 and camnode-linux-armv7
#   make cross-deps    gcc-aarch64-linux-gnu and gcc-arm-linux-gnueabihf (apt-get), and the
#                      target's CROSS_DEV_PKGS unpacked into $(CROSS_CACHE)/<arch>/root
#
# CROSS_DEV_PKGS are the Debian packages the cgo parts link against (libx264 while the x264
# encoder is built in). They are downloaded for arm64/armhf with a private apt state and
# unpacked, not installed: the machine's dpkg architectures and apt lists stay as they
# are (a foreign architecture added to apt makes every later `apt-get update` depend on
# its indexes). The binaries need the same libraries (libx264-164) on the Pi.

CROSS_DIR      ?= bin
CROSS_CACHE    ?= $(HOME)/.cache/camnode/cross
CROSS_DEV_PKGS ?= $(if $(wildcard media/encoder/x264/x264.go),libx264-dev libx264-164)
# goarch:gcc triplet:GOARM:file suffix:Debian architecture
CROSS_TARGETS  ?= arm64:aarch64-linux-gnu:::arm64 arm:arm-linux-gnueabihf:7:v7:armhf

.PHONY: cross cross-deps

## cross: camnode for linux/arm64 and linux/arm/v7 with cgo, and go vet for both
cross: cross-deps
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; set -e; mkdir -p '$(CROSS_DIR)'; \
	for t in $(CROSS_TARGETS); do \
	  IFS=: read -r goarch triplet goarm suffix debarch <<< "$$t"; \
	  out='$(CROSS_DIR)'/camnode-linux-$$goarch$$suffix; root='$(CROSS_CACHE)'/$$debarch/root; \
	  echo "cross: linux/$$goarch$${goarm:+ GOARM=$$goarm} ($$triplet-gcc) -> $$out"; \
	  export CGO_ENABLED=1 GOOS=linux GOARCH=$$goarch GOARM=$$goarm CC=$$triplet-gcc \
	    PKG_CONFIG_LIBDIR=$$root/usr/lib/$$triplet/pkgconfig PKG_CONFIG_SYSROOT_DIR=$$root \
	    CGO_LDFLAGS=-L$$root/usr/lib/$$triplet; \
	  go build -trimpath -ldflags '$(LDFLAGS)' -o "$$out" ./cmd/camnode; \
	  go vet ./...; \
	done

cross-deps:
	@set -e; SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; need=""; \
	for t in $(CROSS_TARGETS); do \
	  IFS=: read -r goarch triplet goarm suffix debarch <<< "$$t"; \
	  command -v $$triplet-gcc >/dev/null || need="$$need gcc-$$triplet"; \
	done; \
	if [ -n "$$need" ]; then echo "cross: installing$$need" >&2; $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null; fi; \
	[ -n "$(strip $(CROSS_DEV_PKGS))" ] || exit 0; \
	for t in $(CROSS_TARGETS); do \
	  IFS=: read -r goarch triplet goarm suffix debarch <<< "$$t"; \
	  dir='$(CROSS_CACHE)'/$$debarch; stamp="$$dir/root/.pkgs"; \
	  [ "$$(cat "$$stamp" 2>/dev/null)" = "$(CROSS_DEV_PKGS)" ] && continue; \
	  echo "cross: fetching $(CROSS_DEV_PKGS) for $$debarch into $$dir" >&2; \
	  rm -rf "$$dir"; mkdir -p "$$dir/lists/partial" "$$dir/cache/archives/partial" "$$dir/debs"; \
	  apt=(apt-get -qq -o Dir::State::Lists="$$dir/lists" -o Dir::Cache="$$dir/cache" -o Dir::State::status=/dev/null \
	    -o APT::Architecture=$$debarch -o APT::Architectures::=$$debarch -o Debug::NoLocking=1); \
	  "$${apt[@]}" update 2>&1 | grep -v -e '^W:' -e '^N:' >&2 || true; \
	  (cd "$$dir/debs" && "$${apt[@]}" download $(CROSS_DEV_PKGS) 2>&1 | grep -v -e 'unsandboxed' -e '^W:' >&2 || true); \
	  [ "$$(ls "$$dir"/debs/*.deb 2>/dev/null | wc -l)" -eq $(words $(CROSS_DEV_PKGS)) ] || \
	    { echo "cross: could not download $(CROSS_DEV_PKGS) for $$debarch (got: $$(ls "$$dir/debs"))" >&2; exit 1; }; \
	  for d in "$$dir"/debs/*.deb; do dpkg-deb -x "$$d" "$$dir/root"; done; \
	  rm -rf "$$dir/lists" "$$dir/cache" "$$dir/debs"; echo "$(CROSS_DEV_PKGS)" > "$$stamp"; \
	done
